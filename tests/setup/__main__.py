"""python -m tests.setup <engine|images|all|IMAGE ...> [--sizes]

  engine   make a Docker engine answer `docker info` (start Debian's dockerd if none does)
  images   the base image, the stand-ins, the app wheelhouse and the app images (cached by hash)
  all      engine, then images
  IMAGE    one image by name (e.g. botstack-test/postgres:15) and what it is built from
  --sizes  print the size of every image afterwards

Exit status 1 with a message on the first failure. Idempotent; safe to run again and again.
"""

from __future__ import annotations

import sys
import time

from .common import SetupError, say
from .engine import ensure_engine
from .images import ALL_IMAGES, ensure_all, ensure_image, report_sizes


def main(argv: list[str]) -> int:
    sizes = "--sizes" in argv
    targets = [a for a in argv if a != "--sizes"]
    if not targets or any(t in ("-h", "--help") for t in targets):
        print(__doc__)
        return 0 if targets else 2
    start = time.monotonic()
    try:
        for target in targets:
            if target == "engine":
                ensure_engine()
            elif target in ("images", "all"):
                ensure_all()  # the images need the engine, so `images` makes sure of it too
            elif target in ALL_IMAGES:
                ensure_image(target)
            else:
                print(f"setup: unknown target {target!r}\n{__doc__}", file=sys.stderr)
                return 2
        if sizes:
            report_sizes()
    except SetupError as exc:
        print(f"setup: FAILED: {exc}", file=sys.stderr)
        return 1
    say(f"done ({time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
