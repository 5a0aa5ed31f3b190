"""Defaults that the settings (config.py, pydantic) and `botstack-healthcheck` (standard library only) share."""

API_PORT = 8000
LIVENESS_DIR = "/tmp"  # noqa: S108 - /tmp is the only writable path (tmpfs) in the image
LIVENESS_MAX_AGE = 60  # seconds without a sign of life before a worker or bot counts as unhealthy
