"""What the backend image's services (api, worker, bot) share: user, secret files, environment, healthcheck."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from components.config import StackConfig
from components.container import (
    ContainerSpec,
    Healthcheck,
    NetworkAttachment,
    container_options,
    hardened_container_args,
    secret_path,
)
from components.naming import Naming

APP_USER = "10001:10001"  # the `app` user of app/backend/Dockerfile
API_PORT = 8000
# Probed every 2 s (the shared default is 5 s): `wait` sees a new container healthy about 3 s sooner, which is
# what an update and a rollback wait for. 25 failures in a row (50 s, as before) make it unhealthy.
HEALTH_INTERVAL = "2s"
HEALTH_RETRIES = 25


@dataclass(frozen=True)
class AppServiceArgs:
    """Inputs of an app service component (ApiService, WorkerService, BotService)."""

    config: StackConfig
    naming: Naming
    image: pulumi.Input[str]
    backend_network: pulumi.Input[str]
    edge_network: pulumi.Input[str]
    secret_paths: Mapping[str, str]
    secrets_revision: pulumi.Input[str]
    # Must exist (and be healthy) before the service starts: database, cache, migrations.
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)


def app_container_spec(
    service: str,
    args: AppServiceArgs,
    *,
    command: Sequence[str],
    secrets: Sequence[str],
    networks: Sequence[NetworkAttachment],
    grace_seconds: int,
    extra_envs: Mapping[str, str] | None = None,
) -> ContainerSpec:
    """A backend-image container: each secret `x` reaches it as the file in `X_FILE`, never as a value."""
    envs: dict[str, pulumi.Input[str]] = {f"{name.upper()}_FILE": secret_path(name) for name in secrets}
    envs["LOG_LEVEL"] = "INFO"
    envs.update(extra_envs or {})
    return ContainerSpec(
        service=service,
        role=service,
        image=args.image,
        user=APP_USER,
        command=command,
        envs=envs,
        secret_files={name: args.secret_paths[name] for name in secrets},
        healthcheck=Healthcheck(["CMD", "botstack-healthcheck", service], interval=HEALTH_INTERVAL, retries=HEALTH_RETRIES),
        networks=networks,
        resources=args.config.resources_for(service),
        logging=args.config.logging,
        grace_seconds=grace_seconds,
        writer=True,
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
