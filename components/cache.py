"""Cache: Redis with a password (from a secret config file) and append-only persistence on a named volume."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_docker as docker

from components import container
from components.catalogue import BACKEND, CACHE, REDIS_CONF, REDIS_PASSWORD
from components.config import LoggingConfig, ServiceResources
from components.naming import Naming

DATA_PATH = "/data"


@dataclass(frozen=True)
class CacheArgs:
    naming: Naming
    image: pulumi.Input[str]
    backend_network: pulumi.Input[str]
    secret_files: Mapping[str, pulumi.Input[str]]  # redis.conf (with the password) and redis_password
    secrets_revision: pulumi.Input[str]
    resources: ServiceResources
    logging: LoggingConfig
    published_port: int | None = None  # dev only: Redis on 127.0.0.1:<port>
    protect_data: bool = False  # prod: `destroy` may not delete the volume


class Cache(pulumi.ComponentResource):
    container_name: pulumi.Output[str]
    volume_name: pulumi.Output[str]
    container: docker.Container

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("botstack:components:Cache", name, None, opts)
        naming = args.naming
        volume = container.data_volume(name, CACHE.name, naming, self, protect=args.protect_data)
        ping = f'REDISCLI_AUTH="$(cat {container.secret_path(REDIS_PASSWORD)})" redis-cli -h 127.0.0.1 ping | grep -q PONG'
        spec = container.ContainerSpec.of(
            CACHE,
            image=args.image,
            command=["redis-server", container.secret_path(REDIS_CONF)],
            secret_files={name: args.secret_files[name] for name in CACHE.secrets},
            volumes={DATA_PATH: volume.name},
            # probed every second (a ping costs next to nothing): what waits for the cache sees it ready sooner
            healthcheck=container.Healthcheck(["CMD-SHELL", ping], interval="1s", retries=50),
            networks=[container.NetworkAttachment(args.backend_network, CACHE.aliases_on(BACKEND))],
            ports=[container.PublishedPort(CACHE.listening_port, args.published_port)] if args.published_port else (),
            resources=args.resources,
            logging=args.logging,
            secrets_revision=args.secrets_revision,
        )
        self.container = container.hardened_container(name, spec, naming, self, [volume])
        self.container_name = cast(pulumi.Output[str], self.container.name)
        self.volume_name = cast(pulumi.Output[str], volume.name)
        self.register_outputs({"containerName": self.container_name, "volumeName": self.volume_name})
