"""A service's container, as a swarm service: the same `ContainerSpec` every container is declared from, plus how
many tasks run where and how they are replaced.

What carries over from the hardened container: image, command, environment, user, memory and CPU limits and
reservation, log rotation, healthcheck, all capabilities dropped, read-only root, tmpfs mounts (size and mode),
data volumes, grace period, labels, network aliases. Secrets become swarm secrets, mounted as files where the
containers read them today (/run/secrets/<name>).

What does not carry over, because pulumi-docker 5.2's Service has no input for it (the Engine API's service spec
of Docker 20.10 has none either): `no-new-privileges`, the nproc ulimit, and tmpfs mount flags (noexec, nosuid).

Services answer by DNS round robin (`dnsrr`): the virtual IP and the routing mesh need IPVS in the node's kernel,
which not every VDS kernel has (docs/cluster.md); web publishes its ports in host mode on the nodes named for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import pulumi
import pulumi_docker as docker

from components.container import ContainerSpec
from components.naming import Naming

ENDPOINT_MODE = "dnsrr"
RESTART_DELAY = "1s"  # a lost node's task starts elsewhere this soon after the node is marked down
UPDATE_MONITOR = "30s"  # a new task that fails within this is a failed update (then: rollback)
# `pulumi up` returns once every task runs (healthy) and swarm calls an update completed (after the monitor
# period of the last task), and fails if the update rolled back. The provider waits `delay` after a create (7 s
# after an update, whatever this says), then polls every 5-10 s.
CONVERGE_DELAY = "1s"
CONVERGE_TIMEOUT = "5m"  # a first database start, or several replicas each healthy in turn plus the monitor period
SECRET_FILE_MODE = 0o400
SECRET_FILE_OWNER = {"999:999": "999", "10001:10001": "10001"}  # the uid that reads the files (the image's user)
DATABASE_LABEL = "botstack.database"
CACHE_LABEL = "botstack.cache"
WEB_LABEL = "botstack.web"

UpdateOrder = Literal["start-first", "stop-first"]


@dataclass(frozen=True)
class HostPort:
    """A port published in host mode: on the node that runs the task, on every address of that node."""

    target: int
    published: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class Scheduling:
    """How many tasks run, where, and how one is replaced."""

    replicas: int
    update_order: UpdateOrder
    constraints: Sequence[str] = ()
    max_per_node: int = 0  # 0: no limit
    ports: Sequence[HostPort] = ()
    restart_delay: str = RESTART_DELAY
    update_monitor: str = UPDATE_MONITOR


@dataclass(frozen=True)
class SwarmSecretRef:
    """A swarm secret as a task mounts it: the resource's id and name."""

    secret_id: pulumi.Input[str]
    secret_name: pulumi.Input[str]


def label_constraint(label: str) -> str:
    """The constraint that pins tasks to the nodes carrying `label=true`."""
    return f"node.labels.{label}==true"


def nano_cpus(cpus: str) -> int:
    """Docker's `--cpus 0.5` as the service spec's NanoCPUs."""
    return int(Decimal(cpus) * 1_000_000_000)


def tmpfs_size_bytes(options: str) -> int | None:
    """The size of a tmpfs option string such as `rw,noexec,nosuid,size=64m`, in bytes."""
    match = re.search(r"(?:^|,)size=([0-9]+)([kmg]?)(?:,|$)", options)
    if match is None:
        return None
    return int(match.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2)]


def service_args(
    spec: ContainerSpec,
    naming: Naming,
    scheduling: Scheduling,
    secrets: Mapping[str, SwarmSecretRef],
) -> docker.ServiceArgs:
    """The ServiceArgs of a service: its container spec, its scheduling, and its secrets as swarm secrets."""
    missing = sorted(set(spec.secret_files) - set(secrets))
    if missing:
        raise ValueError(f"service {spec.service}: no swarm secret for {', '.join(missing)}")
    labels = naming.labels(spec.service, spec.role, writes_database=spec.writes_database)
    resources, check = spec.resources, spec.healthcheck
    owner = SECRET_FILE_OWNER.get(spec.user, "0")
    mounts = [
        docker.ServiceTaskSpecContainerSpecMountArgs(type="volume", source=volume, target=path)
        for path, volume in sorted(spec.volumes.items())
    ]
    mounts += [
        docker.ServiceTaskSpecContainerSpecMountArgs(
            type="tmpfs",
            target=path,
            tmpfs_options=docker.ServiceTaskSpecContainerSpecMountTmpfsOptionsArgs(
                size_bytes=tmpfs_size_bytes(options), mode=0o1777
            ),
        )
        for path, options in sorted(spec.tmpfs.items())
    ]
    container = docker.ServiceTaskSpecContainerSpecArgs(
        image=spec.image,
        args=list(spec.command) if spec.command else None,
        env=dict(spec.envs) or None,
        user=spec.user,
        cap_drops=["ALL"],
        cap_adds=list(spec.capabilities_added) or None,
        read_only=spec.read_only,
        mounts=mounts or None,
        healthcheck=docker.ServiceTaskSpecContainerSpecHealthcheckArgs(
            tests=list(check.test), interval=check.interval, timeout=check.timeout, start_period=check.start_period,
            retries=check.retries,
        ),  # fmt: skip
        secrets=[
            docker.ServiceTaskSpecContainerSpecSecretArgs(
                secret_id=secrets[name].secret_id,
                secret_name=secrets[name].secret_name,
                file_name=name,
                file_uid=owner,
                file_gid=owner,
                file_mode=SECRET_FILE_MODE,
            )
            for name in sorted(spec.secret_files)
        ]
        or None,
        stop_grace_period=f"{spec.grace_seconds}s",
        labels=[docker.ServiceTaskSpecContainerSpecLabelArgs(label=k, value=v) for k, v in sorted(labels.items())],
    )
    task = docker.ServiceTaskSpecArgs(
        container_spec=container,
        networks_advanceds=[
            # `NetworkAttachment.name` carries the network's id here (see components/cluster.py)
            docker.ServiceTaskSpecNetworksAdvancedArgs(id=net.name, aliases=list(net.aliases) or None) for net in spec.networks
        ],
        resources=docker.ServiceTaskSpecResourcesArgs(
            limits=docker.ServiceTaskSpecResourcesLimitsArgs(
                memory_bytes=resources.memory * 1024**2 if resources.memory else None,
                nano_cpus=nano_cpus(resources.cpus) if resources.cpus else None,
            ),
            reservation=docker.ServiceTaskSpecResourcesReservationArgs(
                memory_bytes=resources.memory_reservation * 1024**2 if resources.memory_reservation else None
            ),
        ),
        log_driver=docker.ServiceTaskSpecLogDriverArgs(name=spec.logging.driver, options=spec.logging.log_options()),
        restart_policy=docker.ServiceTaskSpecRestartPolicyArgs(condition="any", delay=scheduling.restart_delay),
        placement=docker.ServiceTaskSpecPlacementArgs(
            constraints=list(scheduling.constraints) or None, max_replicas=scheduling.max_per_node or None
        ),
    )
    return docker.ServiceArgs(
        name=naming.container(spec.service),
        task_spec=task,
        mode=docker.ServiceModeArgs(replicated=docker.ServiceModeReplicatedArgs(replicas=scheduling.replicas)),
        endpoint_spec=docker.ServiceEndpointSpecArgs(
            mode=ENDPOINT_MODE,
            ports=[
                docker.ServiceEndpointSpecPortArgs(
                    target_port=port.target, published_port=port.published, protocol=port.protocol, publish_mode="host"
                )
                for port in scheduling.ports
            ]
            or None,
        ),
        update_config=docker.ServiceUpdateConfigArgs(
            parallelism=1, order=scheduling.update_order, monitor=scheduling.update_monitor, failure_action="rollback"
        ),
        rollback_config=docker.ServiceRollbackConfigArgs(
            parallelism=1, order=scheduling.update_order, monitor=scheduling.update_monitor, failure_action="pause"
        ),
        converge_config=docker.ServiceConvergeConfigArgs(delay=CONVERGE_DELAY, timeout=CONVERGE_TIMEOUT),
        labels=[docker.ServiceLabelArgs(label=k, value=v) for k, v in sorted(labels.items())],
    )
