"""`botstack-healthcheck api|worker|bot`: exit 0 when healthy (Docker HEALTHCHECK, no curl needed)."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from .config import Settings
from .liveness import age


def check_api(settings: Settings) -> tuple[bool, str]:
    url = f"http://127.0.0.1:{settings.port}/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - fixed http://127.0.0.1 URL
            return resp.status == 200, f"{url}: {resp.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url}: {exc.code} {exc.read(500).decode('utf-8', 'replace')}"
    except OSError as exc:
        return False, f"{url}: {exc}"


def check_file(settings: Settings, component: str) -> tuple[bool, str]:
    seconds = age(settings, component)
    if seconds is None:
        return False, f"{component}: no liveness file yet"
    ok = seconds <= settings.liveness_max_age
    return ok, f"{component}: liveness file {seconds:.0f}s old (limit {settings.liveness_max_age}s)"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in ("api", "worker", "bot"):
        print("usage: botstack-healthcheck api|worker|bot", file=sys.stderr)
        return 2
    settings = Settings()  # needs no secret
    ok, message = check_api(settings) if args[0] == "api" else check_file(settings, args[0])
    print(("healthy: " if ok else "unhealthy: ") + message)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
