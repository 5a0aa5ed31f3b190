"""The service catalogue: one entry per service of the stack, with everything the other parts agree on.

A service's network alias is also the host of its URL (the database URL names `db:5432` because the
database container answers to `db`), its secrets are the files mounted into it, its grace period is how long it
gets between SIGTERM and the kill, and `overlaps` says how it is replaced: started beside the old container and
healthy before the old one stops (api, worker, bot), or stopped first. The bot overlaps only as a standby: Telegram
allows one poller, so a bot polls only while it holds the lock on `lock_dir`, which every bot container mounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Networks: `backend` is internal (database, cache and the app services), `edge` reaches out (web, api, the bot).
BACKEND = "backend"
EDGE = "edge"

# Secret files (names in the host's secrets directory and under /run/secrets in a container).
DB_PASSWORD = "db_password"  # noqa: S105 - a file name, as are the next ones
DATABASE_URL = "database_url"
REDIS_PASSWORD = "redis_password"  # noqa: S105
REDIS_CONF = "redis.conf"
REDIS_URL = "redis_url"
JWT_SECRET = "jwt_secret"  # noqa: S105
BOT_TOKEN = "bot_token"  # noqa: S105

APP_USER = "10001:10001"  # the `app` user of app/backend/Dockerfile and app/web/Dockerfile
OFFICIAL_IMAGE_USER = "999:999"  # the postgres and redis users of the official images


@dataclass(frozen=True)
class Service:
    """One service: how it is named, reached, run and replaced."""

    name: str  # the container's `botstack.service` label, its name suffix and its `resources.<name>` key
    user: str
    grace_seconds: int  # SIGTERM to kill: the provider kills at once without it
    alias: str  # its DNS name on the networks it is aliased on, and the host of its URL
    port: int | None = None
    networks: Sequence[str] = (BACKEND,)
    aliased_on: Sequence[str] = (BACKEND,)
    secrets: Sequence[str] = ()
    full_only: bool = False  # runs in profile `full` only
    writes_database: bool = False  # a restore stops it first
    overlaps: bool = False  # the replacement starts, and is healthy, before the old container stops
    # A directory in a volume that every container of the service mounts: only the container holding a lock on it
    # works (the bot polls), so a replacement that overlaps waits as a standby until the old container has exited.
    lock_dir: str | None = None
    command: Sequence[str] | None = None
    component_type: str = ""  # the Pulumi type of its component (part of every child's URN: never rename)

    @property
    def listening_port(self) -> int:
        if self.port is None:
            raise ValueError(f"service {self.name} listens on no port")
        return self.port

    @property
    def address(self) -> str:
        """`alias:port`, as the other containers reach it."""
        return f"{self.alias}:{self.listening_port}"

    def aliases_on(self, network: str) -> list[str]:
        return [self.alias] if network in self.aliased_on else []

    @property
    def healthcheck(self) -> list[str]:
        """The backend image's healthcheck of an app service (app/backend: `botstack-healthcheck <service>`)."""
        return ["CMD", "botstack-healthcheck", self.name]


# grace_seconds: PostgreSQL checkpoints on a clean shutdown; Redis flushes its append-only file; uvicorn stops
# accepting and finishes its in-flight requests; the worker finishes the job in hand (unfinished jobs go back to the
# queue); the bot stops once its long poll in flight returns (2 s at most). The bot joins edge because the Bot API
# is on the internet.
# fmt: off
DATABASE = Service("database", OFFICIAL_IMAGE_USER, grace_seconds=60, alias="db", port=5432, secrets=(DB_PASSWORD,),
                   component_type="botstack:components:Database")
CACHE = Service("cache", OFFICIAL_IMAGE_USER, grace_seconds=30, alias="cache", port=6379, secrets=(REDIS_CONF, REDIS_PASSWORD),
                component_type="botstack:components:Cache")
API = Service("api", APP_USER, grace_seconds=30, alias="api", port=8000, networks=(BACKEND, EDGE), aliased_on=(BACKEND, EDGE),
              secrets=(DATABASE_URL, REDIS_URL, JWT_SECRET), writes_database=True, overlaps=True, command=("botstack-api",),
              component_type="botstack:components:ApiService")
WORKER = Service("worker", APP_USER, grace_seconds=60, alias="worker", secrets=(DATABASE_URL, REDIS_URL), full_only=True,
                 writes_database=True, overlaps=True, command=("botstack-worker",),
                 component_type="botstack:components:WorkerService")
BOT = Service("bot", APP_USER, grace_seconds=15, alias="bot", networks=(BACKEND, EDGE), aliased_on=(BACKEND,),
              secrets=(BOT_TOKEN,), full_only=True, overlaps=True, lock_dir="/run/poller-lock", command=("botstack-bot",),
              component_type="botstack:components:BotService")
WEB = Service("web", APP_USER, grace_seconds=10, alias="web", port=80, networks=(EDGE,), aliased_on=(EDGE,),
              component_type="botstack:components:WebFrontend")
# fmt: on

CATALOGUE = (DATABASE, CACHE, API, WORKER, BOT, WEB)
APP_SERVICES = (API, WORKER, BOT)  # the backend image's long-running services
SERVICE_NAMES = tuple(service.name for service in CATALOGUE)
FULL_ONLY_SERVICE_NAMES = tuple(service.name for service in CATALOGUE if service.full_only)
