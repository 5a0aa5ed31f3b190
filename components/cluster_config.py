"""The `cluster` section of the stack config: the VDS nodes of a Docker Swarm and how the stack is spread on them.

A stack whose config sets `cluster` (instead of `vds`) runs as swarm services on those nodes. Nodes are a mapping
by name, so every message names the node (`cluster.nodes.node2.role`), and names are unique by construction.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from components import config_values as values
from components.config_errors import Invalid, Problems
from components.config_values import FullMatch

NODE_NAME = r"[a-z][a-z0-9-]{0,30}"
LABEL_KEY = r"[a-z0-9]+(?:[.-][a-z0-9]+)*"
LABEL_VALUE = r"[A-Za-z0-9._-]{0,63}"
RESERVED_LABEL_PREFIX = "botstack."  # the labels the program sets itself (where the database and cache live)
MANAGER_COUNTS = (1, 3)
DeployUser = Annotated[
    str,
    FullMatch(values.UNIX_USER, "must be a Linux user name: lowercase letters, digits, '_' and '-', at most 32"),
    AfterValidator(values.deploy_user),
]


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise Invalid("is not an IPv4 address (expected e.g. 10.0.0.2, the node's address on the private network)") from None


def _labels(value: dict[str, str]) -> dict[str, str]:
    problems = []
    for key, label in value.items():
        if not re.fullmatch(LABEL_KEY, key, re.ASCII) or len(key) > 63:
            problems.append(Invalid("is not a label name: lowercase letters and digits, separated by '.' or '-'", key=key))
        elif key.startswith(RESERVED_LABEL_PREFIX):
            problems.append(Invalid("starts with 'botstack.', which the program sets itself (use cluster.databaseNode)", key=key))
        elif not re.fullmatch(LABEL_VALUE, label, re.ASCII):
            problems.append(Invalid("must be at most 63 letters, digits, '.', '_' or '-'", key=key))
    if problems:
        raise Problems(problems)
    return value


def _node_names(value: dict[str, ClusterNode]) -> dict[str, ClusterNode]:
    bad = [name for name in value if not re.fullmatch(NODE_NAME, name, re.ASCII)]
    if bad:
        raise Problems(
            [
                Invalid(
                    "is not a node name: a lowercase letter, then lowercase letters, digits or '-' (at most 31)",
                    key=name,
                    fix=f"pulumi config rm -s {{stack}} --path 'botstack:cluster.nodes.{name}', then set the node again "
                    "under a name such as node4",
                )
                for name in bad
            ]
        )
    return value


class _Section(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", hide_input_in_errors=True, frozen=True
    )


class ClusterNode(_Section):
    """One VDS of the swarm, reached over SSH like the single VDS of `prod` (same keys, same checks)."""

    host: Annotated[str, AfterValidator(values.host)] = Field(
        description="Where Pulumi reaches the node's sshd: an IPv4 address or a lowercase DNS name.",
        examples=["203.0.113.11"],
    )
    port: int = Field(22, ge=1, le=65535, description="SSH port.")
    user: DeployUser = Field("deploy", description="Deploy user (in the docker group), as vds.user.")
    host_key: Annotated[str, AfterValidator(values.host_key)] = Field(
        description="The node's SSH host public key, pinned: `ssh-keyscan -t ed25519 HOST | cut -d' ' -f2-`.",
        examples=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI..."],
    )
    swarm_address: Annotated[str, AfterValidator(_ipv4)] | None = Field(
        None,
        description="The IPv4 address the other nodes reach this one at (a private network between the VDS); "
        "default: host, when host is an IPv4 address.",
        examples=["10.0.0.2"],
    )
    role: Literal["manager", "worker"] = Field("worker", description="Swarm role; a cluster has 1 or 3 managers.")
    labels: Annotated[dict[str, str], AfterValidator(_labels)] = Field(
        default_factory=dict, description="Node labels for your own placement rules.", examples=[{"zone": "fra1"}]
    )

    @model_validator(mode="after")
    def _needs_an_address(self) -> ClusterNode:
        if self.swarm_address is None:
            try:
                ipaddress.IPv4Address(self.host)
            except ValueError:
                raise Invalid(
                    "is required when host is a DNS name: the swarm advertises an IPv4 address",
                    key="swarmAddress",
                    example="10.0.0.2",
                ) from None
        return self

    @property
    def address(self) -> str:
        """The swarm address: the one given, or the host's IPv4 address."""
        return self.swarm_address or self.host


class ClusterConfig(_Section):
    """The swarm: its nodes, where the stateful services live, where web listens, how many app replicas run."""

    nodes: Annotated[dict[str, ClusterNode], AfterValidator(_node_names)] = Field(
        description="The nodes by name. The first manager by name creates the swarm; the others join it.",
        min_length=1,
    )
    database_node: str = Field(
        description="The node that holds the PostgreSQL volume; the database runs only there.", examples=["node1"]
    )
    cache_node: str | None = Field(None, description="The node that holds the Redis volume; default: databaseNode.")
    publish_on: list[str] = Field(
        description="The nodes where web publishes its ports (host mode, one web task on each); point DNS at them.",
        min_length=1,
        examples=[["node1"]],
    )
    api_replicas: int = Field(2, ge=1, le=50, description="Number of api tasks.")
    worker_replicas: int = Field(1, ge=1, le=50, description="Number of worker tasks (profile full).")
    heartbeat_seconds: int = Field(
        5, ge=1, le=60, description="Swarm heartbeat: a lost node is marked down after about 3 heartbeats."
    )

    @model_validator(mode="after")
    def _check(self) -> ClusterConfig:
        problems: list[Invalid] = []
        managers = self.managers
        if len(managers) not in MANAGER_COUNTS:
            problems.append(
                Invalid(
                    f"has {len(managers)} managers; a swarm here has 1 or 3 (with 2 the loss of either stops the "
                    "control plane, and more than 3 only costs raft traffic on small VDS)",
                    key="nodes",
                    fix="pulumi config set -s {stack} --path 'botstack:cluster.nodes.<name>.role' manager "
                    "(or worker), until 1 or 3 nodes are managers",
                )
            )
        for key, name in (("databaseNode", self.database_node), ("cacheNode", self.cache_node)):
            if name is not None and name not in self.nodes:
                problems.append(self._unknown_node(key, name))
        for name in self.publish_on:
            if name not in self.nodes:
                problems.append(self._unknown_node("publishOn", name))
        if len(set(self.publish_on)) != len(self.publish_on):
            problems.append(Invalid("names a node twice", key="publishOn"))
        seen: dict[tuple[str, int] | str, str] = {}
        for name, node in self.nodes.items():
            for what, ident in (("host and port", (node.host, node.port)), ("swarm address", node.address)):
                if ident in seen:
                    problems.append(Invalid(f"has the same {what} as node {seen[ident]}", key=f"nodes.{name}"))
                seen.setdefault(ident, name)
        if problems:
            raise Problems(problems)
        return self

    def _unknown_node(self, key: str, name: str) -> Invalid:
        # the name comes from the user's own config and is no secret; it shows which entry is wrong
        return Invalid(f"names node '{name}', which is not in cluster.nodes ({', '.join(sorted(self.nodes))})", key=key)

    @property
    def managers(self) -> list[str]:
        """The managers' names, sorted: the first creates the swarm."""
        return sorted(name for name, node in self.nodes.items() if node.role == "manager")

    @property
    def first_manager(self) -> str:
        return self.managers[0]

    @property
    def cache_home(self) -> str:
        return self.cache_node or self.database_node
