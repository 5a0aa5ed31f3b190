"""Liveness files under LIVENESS_DIR (/tmp, a tmpfs in the containers) read by botstack-healthcheck."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Protocol


class LivenessSettings(Protocol):
    """What these functions read: the app's Settings, or the healthcheck's standard-library stand-in for them."""

    liveness_dir: str


def liveness_path(settings: LivenessSettings, component: str) -> Path:
    return Path(settings.liveness_dir) / f"botstack-{component}.alive"


def touch(settings: LivenessSettings, component: str) -> None:
    path = liveness_path(settings, component)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(time.time()), encoding="ascii")
    os.replace(tmp, path)


def remove(settings: LivenessSettings, component: str) -> None:
    liveness_path(settings, component).unlink(missing_ok=True)


def age(settings: LivenessSettings, component: str) -> float | None:
    try:
        return time.time() - liveness_path(settings, component).stat().st_mtime
    except FileNotFoundError:
        return None
