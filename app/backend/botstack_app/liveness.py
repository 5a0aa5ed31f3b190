"""Liveness files under LIVENESS_DIR (/tmp, a tmpfs in the containers) read by botstack-healthcheck.

`os` and `time` only (no pathlib, no typing): Docker runs the healthcheck, which imports this, every few seconds
inside the service's CPU limit, and each import a probe skips is CPU that a starting service keeps.
"""

from __future__ import annotations

import os
import time


def liveness_path(liveness_dir: str, component: str) -> str:
    return os.path.join(liveness_dir, f"botstack-{component}.alive")


def touch(liveness_dir: str, component: str) -> None:
    path = liveness_path(liveness_dir, component)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="ascii") as handle:
        handle.write(str(time.time()))
    os.replace(tmp, path)


def remove(liveness_dir: str, component: str) -> None:
    try:  # noqa: SIM105 - contextlib would be one more module for every probe to import
        os.unlink(liveness_path(liveness_dir, component))
    except FileNotFoundError:
        pass


def age(liveness_dir: str, component: str) -> float | None:
    try:
        return time.time() - os.stat(liveness_path(liveness_dir, component)).st_mtime
    except FileNotFoundError:
        return None
