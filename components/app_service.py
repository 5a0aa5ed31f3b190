"""AppService: a long-running service of the backend image (api, worker or bot), built from its catalogue entry.

Each secret `x` of the entry reaches the container as the file in `X_FILE`, never as a value. The entry's
`overlaps` decides how the container is replaced:
- api and worker start their replacement, and wait until it is healthy, while the old container still serves; the
  old one gets SIGTERM after the rest of the update and drains (docs/rollout.md). Two workers may take jobs at once,
  which the reliable queue allows (a job is in exactly one worker's processing list; a post is published once).
- the bot's replacement starts beside it too, but only as a standby: Telegram allows one getUpdates poller per token
  and answers a second one 409 Conflict, so a bot polls only while it holds an exclusive lock on a directory in a small
  volume that both containers mount (the entry's `lock_dir`). The kernel drops the old bot's lock when it stops
  polling or dies, and the standby, already imported and healthy, polls from then on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import pulumi
import pulumi_docker as docker

from components.catalogue import Service
from components.config import LoggingConfig, ServiceResources
from components.container import (
    ContainerSpec,
    Healthcheck,
    NetworkAttachment,
    container_options,
    hardened_container,
    hardened_container_args,
    secret_path,
)
from components.naming import Naming

# Probed every 2 s (the shared default is 5 s): `wait` sees a new container healthy about 3 s sooner, which is
# what an update and a rollback wait for. 25 failures in a row (50 s, as before) make it unhealthy.
HEALTH_INTERVAL = "2s"
HEALTH_RETRIES = 25
LOCK_DIR_ENV = "POLLER_LOCK_DIR"  # the app's setting that names the lock directory (app/backend: the bot)


@dataclass(frozen=True)
class AppServiceArgs:
    """What one app service uses: its entry, its image, the networks it joins, its own secret files, its limits."""

    service: Service
    naming: Naming
    image: pulumi.Input[str]
    networks: Mapping[str, pulumi.Input[str]]  # catalogue network (backend, edge) -> Docker network name
    secret_files: Mapping[str, pulumi.Input[str]]  # the entry's secrets -> file on the Docker host
    secrets_revision: pulumi.Input[str]
    resources: ServiceResources
    logging: LoggingConfig
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # Must exist (and be healthy) before the service starts: database, cache, migrations.
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)


class AppService(pulumi.ComponentResource):
    container_name: pulumi.Output[str]
    container: docker.Container

    def __init__(self, name: str, args: AppServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        service = args.service
        super().__init__(service.component_type, name, None, opts)
        lock = lock_volume(name, service, args.naming, self) if service.lock_dir else None
        spec = app_container_spec(args, lock.name if lock is not None else None)
        if service.overlaps:
            self.container = overlapping_container(name, spec, args.naming, self, args.depends_on)
        else:
            self.container = hardened_container(name, spec, args.naming, self, args.depends_on)
        self.container_name = cast(pulumi.Output[str], self.container.name)
        outputs: dict[str, pulumi.Input[str]] = {"containerName": self.container_name}
        if service.port is not None:
            outputs["internalUrl"] = f"http://{service.address}"
        self.register_outputs(outputs)


def app_container_spec(args: AppServiceArgs, lock_volume_name: pulumi.Input[str] | None = None) -> ContainerSpec:
    """The container of an app service, from its catalogue entry; with the volume of its `lock_dir` when given."""
    service = args.service
    envs: dict[str, pulumi.Input[str]] = {f"{name.upper()}_FILE": secret_path(name) for name in service.secrets}
    envs["LOG_LEVEL"] = "INFO"
    volumes: dict[str, pulumi.Input[str]] = {}
    if service.lock_dir and lock_volume_name is not None:
        envs[LOCK_DIR_ENV] = service.lock_dir
        volumes[service.lock_dir] = lock_volume_name
    envs.update(args.environment)
    return ContainerSpec.of(
        service,
        image=args.image,
        command=service.command,
        envs=envs,
        secret_files={name: args.secret_files[name] for name in service.secrets},
        volumes=volumes,
        healthcheck=Healthcheck(service.healthcheck, interval=HEALTH_INTERVAL, retries=HEALTH_RETRIES),
        networks=[
            NetworkAttachment(args.networks[network], service.aliases_on(network)) for network in service.networks
        ],
        resources=args.resources,
        logging=args.logging,
        secrets_revision=args.secrets_revision,
    )


def overlapping_container(
    name: str, spec: ContainerSpec, naming: Naming, parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] = ()
) -> docker.Container:
    """A service container whose replacement starts (and is healthy, `wait`) before the old one is stopped.

    pulumi-docker replaces a container delete-then-create; `delete_before_replace=False` makes the engine
    create the replacement first and delete the old one only after every other step of the update (docs/rollout.md).
    Two containers of the service then exist at once, so it has no fixed name (a fixed one would collide):
    the provider names it `<resource name>-<7 hex>`; its labels say stack and service. It publishes no host port,
    and its peers reach it by its network alias, which Docker's DNS answers with every container that has it.
    """
    args = hardened_container_args(spec, naming)
    args.name = None
    opts = pulumi.ResourceOptions.merge(
        container_options(parent, depends_on), pulumi.ResourceOptions(delete_before_replace=False)
    )
    return docker.Container(f"{name}-container", args, opts=opts)


def lock_volume(name: str, service: Service, naming: Naming, parent: pulumi.Resource) -> docker.Volume:
    """The volume behind a service's `lock_dir`: both containers of an overlapping replacement mount it on the one
    engine, so a lock one takes on the directory holds against the other. It keeps no data; `destroy` removes it."""
    return docker.Volume(
        f"{name}-lock",
        name=naming.volume(service.name, "lock"),
        labels=[docker.VolumeLabelArgs(label=key, value=value) for key, value in naming.stack_label().items()],
        opts=pulumi.ResourceOptions(parent=parent),
    )
