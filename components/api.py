"""ApiService: the HTTP API, on the backend network (database, cache) and the edge network (web).

An update starts the new API container and waits until it is healthy while the old one still serves; the old
one is stopped after the rest of the update and drains its in-flight requests (docs/rollout.md).
"""

from __future__ import annotations

from typing import cast

import pulumi
import pulumi_docker as docker

from components.app_service import API_PORT, AppServiceArgs, app_container_spec, overlapping_container
from components.container import NetworkAttachment

# uvicorn stops accepting, then finishes in-flight requests on SIGTERM; the provider would kill it at once without a grace period.
GRACE_SECONDS = 30


class ApiService(pulumi.ComponentResource):
    container_name: pulumi.Output[str]
    internal_url: str
    container: docker.Container

    def __init__(self, name: str, args: AppServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("botstack:components:ApiService", name, None, opts)
        spec = app_container_spec(
            "api",
            args,
            command=["botstack-api"],
            secrets=["database_url", "redis_url", "jwt_secret"],
            networks=[NetworkAttachment(args.backend_network, ["api"]), NetworkAttachment(args.edge_network, ["api"])],
            grace_seconds=GRACE_SECONDS,
        )
        self.container = overlapping_container(name, spec, args.naming, self, args.depends_on)
        self.container_name = cast(pulumi.Output[str], self.container.name)
        self.internal_url = f"http://api:{API_PORT}"
        self.register_outputs({"containerName": self.container_name, "internalUrl": self.internal_url})
