"""Idempotent setup of the real parts the e2e tests need (run: `python -m tests.setup all`).

API for fixtures and other tools:
- `ensure_engine()`: a Docker engine that answers `docker info` (started from Debian's dockerd if needed);
- `ensure_image(name) -> image id`: one image of `STANDIN_IMAGES` / `APP_IMAGES` and what it is built from;
- `ensure_all() -> {name: id}`: everything, app images skipped while their Dockerfiles don't exist;
- `STANDIN_IMAGES`, `APP_IMAGES`, `APP_BUILD_ARGS`, `HASH_LABEL` and the single image-name constants.
"""

from .common import NotAvailable, SetupError
from .engine import ensure_engine
from .images import (
    APP_BUILD_ARGS,
    APP_IMAGES,
    BACKEND_IMAGE,
    CADDY_IMAGE,
    DEBIAN_IMAGE,
    HASH_LABEL,
    PIP_INSTALL_ARGS,
    POSTGRES_IMAGE,
    PYTHON_IMAGE,
    REDIS_IMAGE,
    STANDIN_IMAGES,
    WEB_IMAGE,
    ensure_all,
    ensure_image,
    ensure_wheelhouse,
    image_sizes,
)

__all__ = [
    "APP_BUILD_ARGS",
    "APP_IMAGES",
    "BACKEND_IMAGE",
    "CADDY_IMAGE",
    "DEBIAN_IMAGE",
    "HASH_LABEL",
    "PIP_INSTALL_ARGS",
    "POSTGRES_IMAGE",
    "PYTHON_IMAGE",
    "REDIS_IMAGE",
    "STANDIN_IMAGES",
    "WEB_IMAGE",
    "NotAvailable",
    "SetupError",
    "ensure_all",
    "ensure_engine",
    "ensure_image",
    "ensure_wheelhouse",
    "image_sizes",
]
