"""The stack's two networks: `backend` (internal: database, cache, api, worker, bot) and `edge` (web, api)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_docker as docker

from components.naming import Naming


@dataclass(frozen=True)
class StackNetworkArgs:
    naming: Naming
    # Docker can't publish ports of a container that is only on an internal network; dev may ask for that.
    backend_internal: bool = True


class StackNetwork(pulumi.ComponentResource):
    backend: pulumi.Output[str]
    edge: pulumi.Output[str]

    def __init__(self, name: str, args: StackNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("botstack:components:StackNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = [docker.NetworkLabelArgs(label=key, value=value) for key, value in args.naming.stack_label().items()]
        backend = docker.Network(
            f"{name}-backend",
            name=args.naming.network("backend"),
            internal=args.backend_internal,
            labels=labels,
            opts=child,
        )
        edge = docker.Network(f"{name}-edge", name=args.naming.network("edge"), labels=labels, opts=child)
        self.backend = cast(pulumi.Output[str], backend.name)
        self.edge = cast(pulumi.Output[str], edge.name)
        self.register_outputs({"backend": self.backend, "edge": self.edge})
