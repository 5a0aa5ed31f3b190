"""12-factor configuration: environment variables only; every secret `X` may come from `X_FILE`."""

from __future__ import annotations

import gc
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import probe_defaults

SECRET_FIELDS = ("database_url", "redis_url", "jwt_secret", "bot_token")


class ConfigError(RuntimeError):
    """A required setting is missing or ambiguous (the message names the variable, never its value)."""


def _read_secret_file(var: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"{var}: cannot read the file it names ({exc.strerror})") from None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", hide_input_in_errors=True)

    database_url: SecretStr | None = None
    redis_url: SecretStr | None = None
    jwt_secret: SecretStr | None = None
    bot_token: SecretStr | None = None

    telegram_api_url: str = "https://api.telegram.org"
    api_url: str = "http://api:8000"
    log_level: str = "INFO"

    # API server
    host: str = "0.0.0.0"  # noqa: S104 - the API listens on all interfaces inside its container
    port: int = probe_defaults.API_PORT
    graceful_timeout: int = 25  # seconds uvicorn waits for in-flight requests after SIGTERM

    # worker
    worker_poll_seconds: float = 1.0  # how often due posts are looked for
    worker_lease_seconds: int = 15  # a worker whose lease is older than this is dead; its jobs are re-queued
    publish_delay_seconds: float = 0.0  # simulated channel latency per publication (demo/tests)

    # bot: poll only while holding a lock on this directory, shared by every bot container of the stack (empty: no lock)
    poller_lock_dir: str = ""

    # liveness files read by `botstack-healthcheck worker|bot`
    liveness_dir: str = probe_defaults.LIVENESS_DIR
    liveness_max_age: int = probe_defaults.LIVENESS_MAX_AGE

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: Any) -> Any:
        data = dict(data or {})
        for field in SECRET_FIELDS:
            var = field.upper()
            file_path = os.environ.get(f"{var}_FILE")
            if not file_path:
                continue
            if os.environ.get(var):
                raise ConfigError(f"both {var} and {var}_FILE are set; use one")
            data[field] = _read_secret_file(f"{var}_FILE", file_path)
        return data

    def require(self, field: str) -> str:
        value = getattr(self, field)
        if value is None or (isinstance(value, SecretStr) and not value.get_secret_value()):
            var = field.upper()
            raise ConfigError(f"{var} (or {var}_FILE) is required")
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

    def sqlalchemy_url(self) -> str:
        """DATABASE_URL is `postgresql://...`; the app picks its driver (psycopg 3)."""
        url = self.require("database_url")
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix):]
        return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def freeze_startup_objects() -> None:
    """Exempt everything that exists after startup (the imported modules' classes, functions and schemas) from
    garbage collection. A process that imported aiogram or FastAPI otherwise spends seconds of its CPU limit
    walking those objects again when it exits (1.3 s at 0.5 CPU for the bot), and an update waits for the old
    container to exit; collections while it runs skip them too."""
    gc.freeze()
