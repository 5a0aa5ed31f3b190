"""DeployCheck: after the containers change, the public health endpoint must answer 200 in time, or `up` fails."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi

from components.commands import Target, host_command, script_command


@dataclass(frozen=True)
class DeployCheckArgs:
    url: str
    timeout_seconds: int
    target: Target  # where the check runs: the Pulumi machine, as a user would reach the site
    # IDs of the containers behind the URL: the check re-runs exactly when one of them changed.
    watched: Sequence[pulumi.Input[str]] = field(default_factory=list)
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)


class DeployCheck(pulumi.ComponentResource):
    def __init__(self, name: str, args: DeployCheckArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("botstack:components:DeployCheck", name, None, opts)
        host_command(
            f"{name}-http",
            args.target,
            script_command(args.target, "deploy-check.sh", args.url, args.timeout_seconds),
            triggers=list(args.watched),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"url": args.url})
