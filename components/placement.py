"""Placement: where the stack runs, decided once. Every other part asks it, never the config.

- local (dev): containers on the local engine, host commands on the Pulumi machine with scripts from the repo and
  secret files under `.botstack/<stack>/secrets` (git-ignored, 0700).
- VDS (prod): the VDS is provisioned over SSH first; containers run on its engine through an `ssh://` docker
  provider with the host key pinned; host commands run over SSH as the deploy user; data volumes are protected.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.commands import REPO_ROOT, SERVER_DIR, Target
from components.config import StackConfig
from components.naming import Naming
from components.server import Server, ServerArgs, local_ssh_dir, vds_docker_provider


@dataclass(frozen=True)
class Placement:
    """The docker provider option, the host that runs the stack's commands, and the VDS's Server (None locally)."""

    container_opts: pulumi.ResourceOptions
    target: Target
    server: Server | None

    def after_server(self) -> list[pulumi.Resource]:
        """What host commands wait for: the provisioned VDS, or nothing locally."""
        return [self.server] if self.server is not None else []


def local_target(stack: str) -> Target:
    """The Pulumi machine: scripts from the repo, secret files under .botstack/<stack>/secrets."""
    return Target(scripts_dir=str(SERVER_DIR), secrets_dir=str(REPO_ROOT / ".botstack" / stack / "secrets"))


def server_args(config: StackConfig) -> ServerArgs:
    """The VDS and the key that logs in to it (the config requires both together)."""
    if config.vds is None or config.ssh_private_key is None:
        raise ValueError("a VDS stack needs botstack:vds and botstack:sshPrivateKey")
    return ServerArgs(config.vds, config.ssh_private_key)


def place(config: StackConfig, naming: Naming) -> Placement:
    """Local engine, or the VDS (declaring its Server and docker provider)."""
    if not config.on_vds:
        return Placement(pulumi.ResourceOptions(), local_target(naming.stack), None)
    args = server_args(config)
    server = Server("server", args)
    provider = vds_docker_provider("vds-docker", args, local_ssh_dir(REPO_ROOT, naming.stack), server)
    return Placement(pulumi.ResourceOptions(providers={"docker": provider}, depends_on=[server]), server.target, server)
