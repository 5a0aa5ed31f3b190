"""The product's own database container on the VDS test host, for the suites that test scripts against it.

Not a hand-made `docker run`: the program's Network, Secrets and Database components are declared under
the provider test double, against the host's engine (`ssh://` as the deploy user, host key pinned) and
its sshd (pulumi-command over SSH), exactly as `build_stack` wires them for stack prod. So the scripts
meet what they meet in prod: uid 999, a read-only root with a 64 MB /tmp tmpfs, the memory and CPU
limits, the password as a file under /run/secrets, the backend network, and a role password set from a
SCRAM verifier by the component's own command.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker

from tests.double import RealMocks, run_program
from tests.e2e.vds.host import REPO, VdsHost

STACK = "prod"
SCRIPTS_HOME = "botstack"  # under the deploy user's home, like the Server component's CopyToRemote
DB_PASSWORD = "vds-suite-db-password-0123"  # the stack's dbPassword here; tests check it never leaks


@dataclass
class StackDatabase:
    container: str
    volume: str
    network: str
    mocks: RealMocks


def stack_config(host: VdsHost, deploy_user: str, image: str, extra: dict[str, Any] | None = None) -> dict[str, str]:
    config: dict[str, Any] = {
        "vds": {"host": host.host, "port": host.port, "user": deploy_user, "bootstrapUser": "root", "hostKey": host.host_key},
        "sshPrivateKey": host.key_path.read_text(),
        "dbPassword": DB_PASSWORD,
        "images": {"postgres": image},
        # point-in-time recovery is on by default on a VDS; the scripts' suites run the plain stand-in without
        # pgBackRest, so it stays off unless a suite configures it (test_pitr)
        "backup": {"pitr": {"enabled": False}},
        **(extra or {}),
    }
    return {f"botstack:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def _declare(host: VdsHost, deploy_user: str, image: str, stack: str) -> None:
    from components.commands import Target
    from components.config_loading import load_config
    from components.database import Database
    from components.naming import Naming
    from components.network import StackNetwork, StackNetworkArgs
    from components.secrets import Secrets
    from components.server import SECRETS_DIR, connection
    from components.stack import database_args, secrets_args

    config = load_config()
    assert config.vds is not None and config.ssh_private_key is not None
    naming = Naming("botstack", stack)
    # the ssh options the program's vds_docker_provider gives, with the test host's files
    provider = docker.Provider(
        "vds-docker",
        host=f"ssh://{deploy_user}@{host.host}:{host.port}",
        ssh_opts=["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={host.known_hosts}",
                  "-o", "IdentitiesOnly=yes", "-i", str(host.key_path)],
    )
    on_vds = pulumi.ResourceOptions(providers={"docker": provider})
    target = Target(
        scripts_dir=f"/home/{deploy_user}/{SCRIPTS_HOME}/server",
        secrets_dir=SECRETS_DIR if stack == STACK else f"{SECRETS_DIR}-{stack}",  # a second stack keeps its own files
        connection=connection(config.vds, deploy_user, pulumi.Output.secret(config.ssh_private_key.get_secret_value())),
        sudo=True,
    )
    network = StackNetwork("network", StackNetworkArgs(naming), opts=on_vds)
    secrets = Secrets("secrets", secrets_args(config, target))
    Database(
        "database",
        database_args(config, naming, image, network.backend, secrets, target, config.pitr),
        opts=pulumi.ResourceOptions.merge(on_vds, pulumi.ResourceOptions(depends_on=[secrets])),
    )


def start_stack_database(
    host: VdsHost, deploy_user: str, image: str, stack: str = STACK, extra: dict[str, Any] | None = None
) -> StackDatabase:
    """Copy server/*.sh to the deploy user's ~/botstack/server, then declare network, secrets and database
    of `stack` with the stack config plus `extra` (e.g. {"backup": {"pitr": {"enabled": True}}})."""
    host.run(f"mkdir -p {SCRIPTS_HOME}/server", user=deploy_user)
    for script in sorted((REPO / "server").glob("*.sh")):
        host.put(script, f"{SCRIPTS_HOME}/server/{script.name}", user=deploy_user)
    mocks = RealMocks(REPO)
    run_program(lambda: _declare(host, deploy_user, image, stack), stack_config(host, deploy_user, image, extra),
                stack=stack, mocks=mocks, secret_keys=["botstack:sshPrivateKey", "botstack:dbPassword"])
    return StackDatabase(container=f"botstack-{stack}-database", volume=f"botstack-{stack}-database-data",
                         network=f"botstack-{stack}-backend", mocks=mocks)
