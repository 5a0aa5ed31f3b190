"""The whole stack: config in, components wired in dependency order, outputs out.

dev: containers on the local engine, host commands on the Pulumi machine.
prod: the VDS is provisioned over SSH first; containers run on its engine through an `ssh://` docker
provider with the host key pinned; host commands run over SSH as the deploy user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.api import ApiService
from components.app_service import AppServiceArgs
from components.backups import Backups, BackupsArgs
from components.bot import BotService
from components.cache import Cache, CacheArgs
from components.commands import REPO_ROOT, SERVER_DIR, Target
from components.config import StackConfig
from components.database import Database, DatabaseArgs
from components.deploy_check import DeployCheck, DeployCheckArgs
from components.images import Images, ImagesArgs
from components.migrations import Migrations, MigrationsArgs
from components.naming import Naming
from components.network import StackNetwork, StackNetworkArgs
from components.secrets import Secrets, SecretsArgs
from components.server import Server, ServerArgs, local_ssh_dir, vds_docker_provider
from components.web import WebFrontend, WebFrontendArgs
from components.worker import WorkerService

HEALTH_PATH = "/api/health"


@dataclass(frozen=True)
class Deployment:
    """Where the stack runs: the docker provider option, the host-command target, and the VDS provisioning."""

    container_opts: pulumi.ResourceOptions
    target: Target
    server: Server | None


def local_target(stack: str) -> Target:
    """dev: scripts from the repo, secret files under .botstack/<stack>/ (git-ignored, 0700)."""
    return Target(scripts_dir=str(SERVER_DIR), secrets_dir=str(REPO_ROOT / ".botstack" / stack / "secrets"))


def deployment(config: StackConfig, naming: Naming) -> Deployment:
    if config.vds is None:
        return Deployment(pulumi.ResourceOptions(), local_target(naming.stack), None)
    server = Server("server", ServerArgs(config=config, naming=naming))
    provider = vds_docker_provider("vds-docker", config, local_ssh_dir(REPO_ROOT, naming.stack), server)
    return Deployment(pulumi.ResourceOptions(providers={"docker": provider}, depends_on=[server]), server.target, server)


def build_stack(config: StackConfig, project: str, stack: str) -> dict[str, Any]:
    """Declare every resource of the stack; return the stack outputs."""
    naming = Naming(project, stack)
    where = deployment(config, naming)
    opts = where.container_opts
    services = config.services()

    images = Images("images", ImagesArgs(config, naming), opts=opts)
    network = StackNetwork(
        "network",
        StackNetworkArgs(naming, backend_internal=config.ports.database is None and config.ports.cache is None),
        opts=opts,
    )
    secrets = Secrets("secrets", SecretsArgs(config, where.target), opts=pulumi.ResourceOptions(depends_on=_server(where)))
    paths = secrets.paths

    database = Database(
        "database",
        DatabaseArgs(
            config,
            naming,
            images.postgres,
            network.backend,
            paths["db_password"],
            secrets.database_url,
            secrets.revision,
            secrets.values["db_password"],
            where.target,
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[secrets])),
    )
    cache = Cache(
        "cache",
        CacheArgs(config, naming, images.redis, network.backend, paths["redis.conf"], paths["redis_password"], secrets.revision),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[secrets])),
    )
    migrations = Migrations(
        "migrations",
        MigrationsArgs(
            where.target, images.backend, network.backend, config.resources_for("api"), depends_on=[database, secrets]
        ),
        opts=pulumi.ResourceOptions(depends_on=_server(where)),
    )

    def app_args() -> AppServiceArgs:
        return AppServiceArgs(
            config,
            naming,
            images.backend,
            network.backend,
            network.edge,
            paths,
            secrets.revision,
            depends_on=[database, cache, migrations],
        )

    api = ApiService("api", app_args(), opts=opts)
    containers: dict[str, pulumi.Output[str]] = {
        "database": database.container_name,
        "cache": cache.container_name,
        "api": api.container_name,
    }
    watched = [database.container.id, cache.container.id, api.container.id]
    if "worker" in services:
        worker = WorkerService("worker", app_args(), opts=opts)
        containers["worker"] = worker.container_name
        watched.append(worker.container.id)
    if "bot" in services:
        bot = BotService("bot", app_args(), opts=opts)
        containers["bot"] = bot.container_name
        watched.append(bot.container.id)
    web = WebFrontend("web", WebFrontendArgs(config, naming, images.web, network.edge, depends_on=[api]), opts=opts)
    containers["web"] = web.container_name
    watched.append(web.container.id)

    if where.server is not None:
        Backups(
            "backups",
            BackupsArgs(config, naming, where.server.target),
            opts=pulumi.ResourceOptions(depends_on=[where.server, database]),
        )

    check_url = config.deploy_check.url or f"{web.public_url}{HEALTH_PATH}"
    DeployCheck(
        "deploy-check",
        DeployCheckArgs(check_url, config.deploy_check.timeout_seconds, local_target(stack), watched, depends_on=[web]),
    )

    outputs: dict[str, Any] = {
        "profile": config.profile,
        "url": web.public_url,
        "healthUrl": check_url,
        "containers": containers,
        "networks": {"backend": network.backend, "edge": network.edge},
        "volumes": {"database": database.volume_name, "cache": cache.volume_name},
        "databaseUrl": database.internal_url,
    }
    if where.server is not None:
        outputs.update(where.server.outputs())
    return outputs


def _server(where: Deployment) -> list[pulumi.Resource]:
    return [where.server] if where.server is not None else []
