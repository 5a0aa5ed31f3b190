"""The whole stack: config in, components wired in dependency order, outputs out.

Where it runs (the local engine, or a VDS provisioned over SSH) is decided once, by components/placement.py.
Each component gets only the settings it uses; the services' names, aliases, ports and secrets come from the
catalogue (components/catalogue.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from components.app_service import AppService, AppServiceArgs
from components.backups import Backups, BackupsArgs
from components.cache import Cache, CacheArgs
from components.catalogue import API, APP_SERVICES, BACKEND, BOT, CACHE, DATABASE, DB_PASSWORD, EDGE, WEB, Service
from components.commands import Target
from components.config import PitrConfig, StackConfig
from components.database import Database, DatabaseArgs
from components.deploy_check import DeployCheck, DeployCheckArgs
from components.images import Images, ImagesArgs
from components.migrations import Migrations, MigrationsArgs
from components.naming import Naming
from components.network import StackNetwork, StackNetworkArgs
from components.placement import local_target, place
from components.secrets import Secrets, SecretsArgs
from components.web import Entrypoint, WebFrontend, WebFrontendArgs

HEALTH_PATH = "/api/health"


def build_stack(config: StackConfig, project: str, stack: str) -> dict[str, Any]:
    """Declare every resource of the stack; return the stack outputs."""
    if config.cluster is not None:  # a Docker Swarm of several VDS instead of one engine (docs/cluster.md)
        from components.cluster import build_cluster

        return build_cluster(config, project, stack)
    naming = Naming(project, stack)
    placement = place(config, naming)
    opts = placement.container_opts

    images = Images("images", ImagesArgs(config.images, naming, with_pgbackrest=config.pitr is not None), opts=opts)
    network = StackNetwork(
        "network",
        StackNetworkArgs(naming, backend_internal=config.ports.database is None and config.ports.cache is None),
        opts=opts,
    )
    networks = {BACKEND: network.backend, EDGE: network.edge}
    secrets = Secrets(
        "secrets", secrets_args(config, placement.target), opts=pulumi.ResourceOptions(depends_on=placement.after_server())
    )
    after_secrets = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[secrets]))
    database = Database(
        "database",
        database_args(config, naming, images.postgres, network.backend, secrets, placement.target, config.pitr),
        opts=after_secrets,
    )
    cache = Cache("cache", cache_args(config, naming, images.redis, network.backend, secrets), opts=after_secrets)
    migrations = Migrations(
        "migrations",
        MigrationsArgs(
            placement.target, images.backend, network.backend, config.resources_for(API.name), depends_on=[database, secrets]
        ),
        opts=pulumi.ResourceOptions(depends_on=placement.after_server()),
    )
    # The bot reads neither the database nor Redis (it talks to the Bot API, and to the API over HTTP), so it waits
    # for none of them: a release starts its standby beside the migrations (it polls once the old bot has stopped).
    schema_ready: list[pulumi.Resource] = [database, cache, migrations]
    apps = {
        service.name: AppService(
            service.name,
            app_service_args(config, service, naming, images.backend, networks, secrets, [] if service is BOT else schema_ready),
            opts=opts,
        )
        for service in APP_SERVICES
        if service.name in config.services()
    }
    entrypoint = Entrypoint.of(config)
    # Caddy finds the API by its alias on each request and holds requests until one answers: web starts beside the API
    web = WebFrontend("web", web_args(config, naming, images.web, network.edge, entrypoint), opts=opts)
    if placement.server is not None:
        Backups(
            "backups",
            backups_args(config, naming, placement.server.target),
            opts=pulumi.ResourceOptions(depends_on=[placement.server, database]),
        )
    containers = {DATABASE.name: database.container, CACHE.name: cache.container}
    containers |= {name: app.container for name, app in apps.items()} | {WEB.name: web.container}
    check_url = config.deploy_check.url or f"{entrypoint.url}{HEALTH_PATH}"
    DeployCheck(
        "deploy-check",
        DeployCheckArgs(
            check_url,
            config.deploy_check.timeout_seconds,
            local_target(stack),
            [container.id for container in containers.values()],
            depends_on=[web],
        ),
    )

    outputs: dict[str, Any] = {
        "profile": config.profile,
        "url": entrypoint.url,
        "healthUrl": check_url,
        "containers": {name: container.name for name, container in containers.items()},
        "networks": {"backend": network.backend, "edge": network.edge},
        "volumes": {"database": database.volume_name, "cache": cache.volume_name},
        "databaseUrl": secrets.database_url,
    }
    if placement.server is not None:
        outputs.update(placement.server.outputs())
    return outputs


# ---- the config, mapped onto each component's args --------------------------------------------------------------


def cache_args(
    config: StackConfig, naming: Naming, image: pulumi.Input[str], network: pulumi.Input[str], secrets: Secrets
) -> CacheArgs:
    return CacheArgs(
        naming,
        image,
        network,
        secrets.files_for(CACHE),
        secrets.revision,
        config.resources_for(CACHE.name),
        config.logging,
        published_port=config.ports.cache,
        protect_data=config.on_vds,
    )


def app_service_args(
    config: StackConfig,
    service: Service,
    naming: Naming,
    image: pulumi.Input[str],
    networks: Mapping[str, pulumi.Input[str]],
    secrets: Secrets,
    depends_on: list[pulumi.Resource],
) -> AppServiceArgs:
    # The bot's own settings; the others need none beyond their entry.
    environment = {"TELEGRAM_API_URL": config.telegram_api_url, "API_URL": f"http://{API.address}"} if service is BOT else {}
    return AppServiceArgs(
        service,
        naming,
        image,
        networks,
        secrets.files_for(service),
        secrets.revision,
        config.resources_for(service.name),
        config.logging,
        environment=environment,
        depends_on=depends_on,
    )


def web_args(
    config: StackConfig,
    naming: Naming,
    image: pulumi.Input[str],
    network: pulumi.Input[str],
    entrypoint: Entrypoint,
) -> WebFrontendArgs:
    return WebFrontendArgs(naming, image, network, entrypoint, config.proxy, config.resources_for(WEB.name), config.logging)


def secrets_args(config: StackConfig, target: Target) -> SecretsArgs:
    """The secrets the user set; Secrets generates the others."""
    return SecretsArgs(
        target,
        config.database,
        db_password=config.db_password,
        redis_password=config.redis_password,
        jwt_secret=config.jwt_secret,
        bot_token=config.bot_token,
    )


def backups_args(config: StackConfig, naming: Naming, target: Target) -> BackupsArgs:
    return BackupsArgs(naming, target, config.backup, config.database, config.telegram_api_url, pitr=config.pitr)


def database_args(
    config: StackConfig,
    naming: Naming,
    image: pulumi.Input[str],
    network: pulumi.Input[str],
    secrets: Secrets,
    target: Target,
    pitr: PitrConfig | None,
) -> DatabaseArgs:
    return DatabaseArgs(
        naming,
        image,
        network,
        config.database,
        secrets.values[DB_PASSWORD],
        secrets.paths[DB_PASSWORD],
        secrets.revision,
        target,
        config.resources_for(DATABASE.name),
        config.logging,
        pitr=pitr,
        published_port=config.ports.database,
        protect_data=config.on_vds,
    )
