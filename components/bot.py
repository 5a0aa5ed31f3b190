"""BotService: the Telegram bot. Backend network for the API and database; edge network to reach the Bot API.

Replaced stop-then-start (pulumi-docker's default), never overlapping: Telegram allows one getUpdates poller per
token and answers a second one 409 Conflict (docs/rollout.md).
"""

from __future__ import annotations

from typing import cast

import pulumi
import pulumi_docker as docker

from components.app_service import API_PORT, AppServiceArgs, app_container_spec
from components.container import NetworkAttachment, hardened_container

GRACE_SECONDS = 15  # long polling returns within seconds of SIGTERM


class BotService(pulumi.ComponentResource):
    container_name: pulumi.Output[str]
    container: docker.Container

    def __init__(self, name: str, args: AppServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("botstack:components:BotService", name, None, opts)
        spec = app_container_spec(
            "bot",
            args,
            command=["botstack-bot"],
            secrets=["database_url", "redis_url", "bot_token"],
            # backend is internal (no route out); the Bot API is on the internet, so the bot also joins edge.
            networks=[NetworkAttachment(args.backend_network, ["bot"]), NetworkAttachment(args.edge_network)],
            grace_seconds=GRACE_SECONDS,
            extra_envs={"TELEGRAM_API_URL": args.config.telegram_api_url, "API_URL": f"http://api:{API_PORT}"},
        )
        self.container = hardened_container(name, spec, args.naming, self, args.depends_on)
        self.container_name = cast(pulumi.Output[str], self.container.name)
        self.register_outputs({"containerName": self.container_name})
