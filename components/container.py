"""The one way botstack declares a container: hardened defaults every service shares.

`ContainerSpec` says what is particular to a service; `hardened_container()` adds what every
container gets (limits, log rotation, restart policy, healthcheck + wait, non-root user, no new
privileges, all capabilities dropped, read-only root with tmpfs, labels, secret files mounted
read-only) and the resource options pulumi-docker needs to apply changes it would otherwise only
record (pulumi-docker never applies a changed healthcheck, tmpfs or init to a running container).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_docker as docker

from components.catalogue import Service
from components.config import LoggingConfig, ServiceResources
from components.contract import SECRETS_REVISION_LABEL
from components.naming import Naming

SECRETS_MOUNT = "/run/secrets"
NO_NEW_PRIVILEGES = "no-new-privileges:true"
DEFAULT_TMPFS = {"/tmp": "rw,noexec,nosuid,size=64m"}  # noqa: S108 - a tmpfs mount, not a temp file

# The pids limit. pulumi-docker's Container has no pids_limit (HostConfig.PidsLimit), so every container
# gets RLIMIT_NPROC: forks and threads fail past it. The kernel counts it per uid across the host (the app
# containers share uid 10001, PostgreSQL and Redis 999), so it caps a runaway or fork bomb for that uid,
# far below the host's pid_max; docs/server.md says why not a cgroup parent.
NPROC_LIMIT = 1024

# Inputs pulumi-docker records but never applies to a running container: a change must replace it.
REPLACE_ON_CHANGES = ["healthcheck", "tmpfs", "init"]


@dataclass(frozen=True)
class Healthcheck:
    """A Docker healthcheck. Durations are Go strings, written canonically (as the provider reads them back)."""

    test: Sequence[str]
    interval: str = "5s"
    timeout: str = "5s"
    start_period: str = "10s"
    retries: int = 10


@dataclass(frozen=True)
class NetworkAttachment:
    name: pulumi.Input[str]
    aliases: Sequence[str] = ()


@dataclass(frozen=True)
class PublishedPort:
    internal: int
    external: int
    ip: str = "127.0.0.1"
    protocol: str = "tcp"


@dataclass(frozen=True)
class ContainerSpec:
    """What is particular to one service's container."""

    service: str
    role: str
    image: pulumi.Input[str]
    user: str
    healthcheck: Healthcheck
    networks: Sequence[NetworkAttachment]
    resources: ServiceResources
    logging: LoggingConfig
    command: Sequence[str] | None = None
    envs: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    secret_files: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # name in /run/secrets -> host path
    volumes: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # container path -> volume name
    tmpfs: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TMPFS))
    ports: Sequence[PublishedPort] = ()
    read_only: bool = True
    capabilities_added: Sequence[str] = ()
    grace_seconds: int = 10
    wait_timeout: int = 120
    writes_database: bool = False  # a restore stops it first
    secrets_revision: pulumi.Input[str] | None = None

    @classmethod
    def of(cls, service: Service, **particular: Any) -> ContainerSpec:
        """The spec of a catalogue service: its name (also its role), user, grace period and whether it writes."""
        return cls(
            service=service.name,
            role=service.name,
            user=service.user,
            grace_seconds=service.grace_seconds,
            writes_database=service.writes_database,
            **particular,
        )


def secret_path(name: str) -> str:
    """Where a secret file is mounted inside a container."""
    return f"{SECRETS_MOUNT}/{name}"


def env_list(envs: Mapping[str, pulumi.Input[str]]) -> list[pulumi.Input[str]]:
    """{"K": v} -> ["K=v"], sorted so the input is stable from run to run."""
    return [pulumi.Output.concat(key, "=", envs[key]) for key in sorted(envs)]


def hardened_container_args(spec: ContainerSpec, naming: Naming) -> docker.ContainerArgs:
    """The full ContainerArgs of a service: its spec plus the defaults every container shares."""
    labels = naming.labels(spec.service, spec.role, writes_database=spec.writes_database)
    if spec.secrets_revision is not None:
        # A new revision of the secret files must restart the container on the new values.
        labels_input: dict[str, pulumi.Input[str]] = {**labels, SECRETS_REVISION_LABEL: spec.secrets_revision}
    else:
        labels_input = dict(labels)
    mounts: list[docker.ContainerVolumeArgs] = [
        docker.ContainerVolumeArgs(volume_name=volume, container_path=path) for path, volume in sorted(spec.volumes.items())
    ]
    mounts += [
        docker.ContainerVolumeArgs(host_path=host_path, container_path=secret_path(name), read_only=True)
        for name, host_path in sorted(spec.secret_files.items())
    ]
    resources = spec.resources
    return docker.ContainerArgs(
        name=naming.container(spec.service),
        image=spec.image,
        command=list(spec.command) if spec.command else None,
        envs=env_list(spec.envs) or None,
        user=spec.user,
        restart="unless-stopped",
        memory=resources.memory,
        memory_reservation=resources.memory_reservation,
        cpus=resources.cpus,
        ulimits=[docker.ContainerUlimitArgs(name="nproc", soft=NPROC_LIMIT, hard=NPROC_LIMIT)],
        log_driver=spec.logging.driver,
        log_opts=spec.logging.log_options(),
        healthcheck=docker.ContainerHealthcheckArgs(
            tests=list(spec.healthcheck.test),
            interval=spec.healthcheck.interval,
            timeout=spec.healthcheck.timeout,
            start_period=spec.healthcheck.start_period,
            retries=spec.healthcheck.retries,
        ),
        wait=True,
        wait_timeout=spec.wait_timeout,
        destroy_grace_seconds=spec.grace_seconds,
        security_opts=[NO_NEW_PRIVILEGES],
        capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"], adds=list(spec.capabilities_added) or None),
        read_only=spec.read_only,
        tmpfs=dict(spec.tmpfs) or None,
        privileged=False,
        volumes=mounts or None,
        networks_advanced=[
            docker.ContainerNetworksAdvancedArgs(name=net.name, aliases=list(net.aliases) or None) for net in spec.networks
        ],
        ports=[
            docker.ContainerPortArgs(internal=p.internal, external=p.external, ip=p.ip, protocol=p.protocol) for p in spec.ports
        ]
        or None,
        labels=[docker.ContainerLabelArgs(label=key, value=value) for key, value in sorted(labels_input.items())],
    )


def container_options(parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
    """Options of every service container: parented, replaced when a recorded-only input changes."""
    return pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on), replace_on_changes=list(REPLACE_ON_CHANGES))


def hardened_container(
    name: str, spec: ContainerSpec, naming: Naming, parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] = ()
) -> docker.Container:
    """A component's service container, `<component>-container`, with the shared defaults and options."""
    return docker.Container(
        f"{name}-container", hardened_container_args(spec, naming), opts=container_options(parent, depends_on)
    )


def data_volume(name: str, service: str, naming: Naming, parent: pulumi.Resource, protect: bool) -> docker.Volume:
    """A service's named data volume, `<component>-data`. It outlives `destroy` everywhere (retain_on_delete)
    and, with `protect` (prod), cannot be deleted by it at all."""
    return docker.Volume(
        f"{name}-data",
        name=naming.volume(service),
        labels=[docker.VolumeLabelArgs(label=key, value=value) for key, value in naming.stack_label().items()],
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=True, protect=protect),
    )
