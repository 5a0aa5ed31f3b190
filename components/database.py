"""Database: PostgreSQL on the backend network with its data on a named volume that outlives the container."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_docker as docker

from components.config import StackConfig
from components.container import (
    DEFAULT_TMPFS,
    ContainerSpec,
    Healthcheck,
    NetworkAttachment,
    PublishedPort,
    data_volume,
    hardened_container,
    secret_path,
)
from components.naming import Naming
from components.secrets import DB_PORT

POSTGRES_USER = "999:999"  # the postgres user of the official image: no root entrypoint, no capabilities needed
DATA_PATH = "/var/lib/postgresql/data"  # PostgreSQL <= 17 images
GRACE_SECONDS = 60  # a clean shutdown checkpoints; the provider kills at once without a grace period


@dataclass(frozen=True)
class DatabaseArgs:
    config: StackConfig
    naming: Naming
    image: pulumi.Input[str]
    backend_network: pulumi.Input[str]
    password_file: pulumi.Input[str]
    database_url: pulumi.Input[str]
    secrets_revision: pulumi.Input[str]


class Database(pulumi.ComponentResource):
    container_name: pulumi.Output[str]
    volume_name: pulumi.Output[str]
    internal_url: pulumi.Output[str]
    container: docker.Container

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("botstack:components:Database", name, None, opts)
        config, naming = args.config, args.naming
        volume = data_volume(name, "database", naming, self, protect=config.is_remote)
        db = config.database
        spec = ContainerSpec(
            service="database",
            role="database",
            image=args.image,
            user=POSTGRES_USER,
            envs={
                "POSTGRES_USER": db.user,
                "POSTGRES_DB": db.name,
                "POSTGRES_PASSWORD_FILE": secret_path("db_password"),
                "PGDATA": DATA_PATH,
            },
            secret_files={"db_password": args.password_file},
            volumes={DATA_PATH: volume.name},
            tmpfs={**DEFAULT_TMPFS, "/var/run/postgresql": "rw,nosuid,size=8m"},
            # -h 127.0.0.1: the init-time server listens on the socket only, so TCP readiness means really ready.
            healthcheck=Healthcheck(["CMD", "pg_isready", "-h", "127.0.0.1", "-U", db.user, "-d", db.name]),
            networks=[NetworkAttachment(args.backend_network, ["db"])],
            ports=[PublishedPort(DB_PORT, config.ports.database)] if config.ports.database else (),
            resources=config.resources_for("database"),
            logging=config.logging,
            grace_seconds=GRACE_SECONDS,
            secrets_revision=args.secrets_revision,
        )
        self.container = hardened_container(name, spec, naming, self, [volume])
        self.container_name = cast(pulumi.Output[str], self.container.name)
        self.volume_name = cast(pulumi.Output[str], volume.name)
        self.internal_url = pulumi.Output.secret(args.database_url)
        self.register_outputs(
            {"containerName": self.container_name, "volumeName": self.volume_name, "internalUrl": self.internal_url}
        )
