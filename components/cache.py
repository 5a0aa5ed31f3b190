"""Cache: Redis with a password (from a secret config file) and append-only persistence on a named volume."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_docker as docker

from components.config import StackConfig
from components.container import (
    ContainerSpec,
    Healthcheck,
    NetworkAttachment,
    PublishedPort,
    data_volume,
    hardened_container,
    secret_path,
)
from components.naming import Naming
from components.secrets import CACHE_PORT

REDIS_USER = "999:999"  # the redis user of the official image
DATA_PATH = "/data"
GRACE_SECONDS = 30  # lets Redis flush the append-only file


@dataclass(frozen=True)
class CacheArgs:
    config: StackConfig
    naming: Naming
    image: pulumi.Input[str]
    backend_network: pulumi.Input[str]
    config_file: pulumi.Input[str]
    password_file: pulumi.Input[str]
    secrets_revision: pulumi.Input[str]


class Cache(pulumi.ComponentResource):
    container_name: pulumi.Output[str]
    volume_name: pulumi.Output[str]
    container: docker.Container

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("botstack:components:Cache", name, None, opts)
        config, naming = args.config, args.naming
        volume = data_volume(name, "cache", naming, self, protect=config.on_vds)
        ping = f'REDISCLI_AUTH="$(cat {secret_path("redis_password")})" redis-cli -h 127.0.0.1 ping | grep -q PONG'
        spec = ContainerSpec(
            service="cache",
            role="cache",
            image=args.image,
            user=REDIS_USER,
            command=["redis-server", secret_path("redis.conf")],
            secret_files={"redis.conf": args.config_file, "redis_password": args.password_file},
            volumes={DATA_PATH: volume.name},
            healthcheck=Healthcheck(["CMD-SHELL", ping]),
            networks=[NetworkAttachment(args.backend_network, ["cache"])],
            ports=[PublishedPort(CACHE_PORT, config.ports.cache)] if config.ports.cache else (),
            resources=config.resources_for("cache"),
            logging=config.logging,
            grace_seconds=GRACE_SECONDS,
            secrets_revision=args.secrets_revision,
        )
        self.container = hardened_container(name, spec, naming, self, [volume])
        self.container_name = cast(pulumi.Output[str], self.container.name)
        self.volume_name = cast(pulumi.Output[str], volume.name)
        self.register_outputs({"containerName": self.container_name, "volumeName": self.volume_name})
