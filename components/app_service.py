"""What the backend image's services (api, worker, bot) share: user, secret files, environment, healthcheck."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi

from components.config import StackConfig
from components.container import ContainerSpec, Healthcheck, NetworkAttachment, secret_path
from components.naming import Naming

APP_USER = "10001:10001"  # the `app` user of app/backend/Dockerfile
API_PORT = 8000


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
        healthcheck=Healthcheck(["CMD", "botstack-healthcheck", service]),
        networks=networks,
        resources=args.config.resources_for(service),
        logging=args.config.logging,
        grace_seconds=grace_seconds,
        writer=True,
        secrets_revision=args.secrets_revision,
    )
