"""Migrations: `alembic upgrade head` as a one-off container of the backend image, before the API and worker start.

It runs on the host that runs the containers (server/run-migrations.sh), on the backend network, with
the database URL as a mounted secret file. `triggers` holds the image ID: a new image migrates once;
an unchanged one runs nothing. A failing migration fails `up` with its output, before the API and
worker are replaced (they depend on this resource; the bot reads no table and is replaced beside it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi

from components.commands import Target, host_command, script_command
from components.config import ServiceResources
from components.container import NPROC_LIMIT


@dataclass(frozen=True)
class MigrationsArgs:
    target: Target
    image: pulumi.Input[str]
    backend_network: pulumi.Input[str]
    # the stack passes the backend image's limits (the API's), so the one-off container is limited like the services
    resources: ServiceResources | None = None
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)


class Migrations(pulumi.ComponentResource):
    run: pulumi.CustomResource

    def __init__(self, name: str, args: MigrationsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("botstack:components:Migrations", name, None, opts)
        target = args.target
        limits = migration_limits(args.resources)
        create = pulumi.Output.all(args.image, args.backend_network).apply(
            lambda v: script_command(target, "run-migrations.sh", *limits, v[0], v[1], target.secrets_dir)
        )
        self.run = host_command(
            f"{name}-run",
            target,
            create,
            triggers=[args.image],
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({})


def migration_limits(resources: ServiceResources | None) -> list[str]:
    """run-migrations.sh options: the same memory, CPU and process limits as the service containers."""
    return ["--nproc", str(NPROC_LIMIT), *(resources.run_flags() if resources is not None else [])]
