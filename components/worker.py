"""WorkerService: background jobs from Redis into PostgreSQL; backend network only (no way out, none needed).

The new worker starts before the old one stops (docs/rollout.md): two workers may take jobs at once, which the
reliable queue allows (a job is in exactly one worker's processing list; a post is published once).
"""

from __future__ import annotations

from typing import cast

import pulumi
import pulumi_docker as docker

from components.app_service import AppServiceArgs, app_container_spec, overlapping_container
from components.container import NetworkAttachment

# On SIGTERM the worker finishes the job in hand; unfinished jobs go back to the queue.
GRACE_SECONDS = 60


class WorkerService(pulumi.ComponentResource):
    container_name: pulumi.Output[str]
    container: docker.Container

    def __init__(self, name: str, args: AppServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("botstack:components:WorkerService", name, None, opts)
        spec = app_container_spec(
            "worker",
            args,
            command=["botstack-worker"],
            secrets=["database_url", "redis_url"],
            networks=[NetworkAttachment(args.backend_network, ["worker"])],
            grace_seconds=GRACE_SECONDS,
        )
        self.container = overlapping_container(name, spec, args.naming, self, args.depends_on)
        self.container_name = cast(pulumi.Output[str], self.container.name)
        self.register_outputs({"containerName": self.container_name})
