"""Server: turns a fresh VDS into a botstack host over SSH, then installs the scripts the stack runs there.

Order on the first `up`:
1. `bootstrap`: as `vds.bootstrapUser` (root on a fresh VDS; another user through `sudo -n`) run
   server/provision.sh, which installs Docker, creates the deploy user with the key and hardens sshd
   (no root login, no passwords, AllowUsers: the deploy user plus the bootstrap user).
2. `provision`: as the deploy user through sudo, the same script again: it re-runs whenever the script
   changes, and since it connects as the deploy user, hardening can never lock the next `up` out.
   From then on sshd admits only the deploy user.
3. `scripts`: server/ copied to the deploy user's home; later steps run them from there with sudo.
Every connection pins `vds.hostKey`. Scripts travel on stdin or as files, never secrets on a command line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_command as command
import pulumi_docker as docker
from pydantic import SecretStr

from components.backups import installed_command
from components.commands import SERVER_DIR, Target, file_digest, shipped_files, shipped_script, stdin_script_command
from components.config import VdsConfig
from components.contract import SECRETS_DIR, deploy_home


@dataclass(frozen=True)
class ServerArgs:
    vds: VdsConfig
    ssh_private_key: SecretStr  # of the deploy (and bootstrap) user
    # more provision.sh options: a swarm node's role and peers (components/cluster.py); none on one VDS
    provision_options: tuple[str, ...] = ()


class Server(pulumi.ComponentResource):
    target: Target

    def __init__(self, name: str, args: ServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("botstack:components:Server", name, None, opts)
        vds = args.vds
        private_key = pulumi.Output.secret(args.ssh_private_key.get_secret_value())
        public_key = public_key_of(args.ssh_private_key.get_secret_value())
        provision = shipped_script("provision.sh")  # with server/lib.sh and server/contract.sh in front

        bootstrap = command.remote.Command(
            f"{name}-bootstrap",
            connection=connection(vds, vds.bootstrap_user, private_key),
            create=bootstrap_command(vds, public_key, args.provision_options),
            stdin=provision,
            # Runs once per host and deploy user: afterwards the bootstrap user may no longer log in, so script
            # changes and a rotated key (docs/secrets.md) go through `provision`, as the deploy user, instead.
            triggers=[vds.host, vds.user],
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["stdin", "create", "connection"]),
        )
        deploy = connection(vds, vds.user, private_key)
        provisioned = command.remote.Command(
            f"{name}-provision",
            connection=deploy,
            create=provision_command(vds, public_key, args.provision_options),
            stdin=provision,
            triggers=[file_digest(*shipped_files("provision.sh"))],
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bootstrap]),
        )
        scripts_home = deploy_home(vds.user)
        # Later steps depend on the whole Server component, so on this copy too.
        command.remote.CopyToRemote(
            f"{name}-scripts",
            connection=deploy,
            source=pulumi.FileArchive(str(SERVER_DIR)),
            remote_path=scripts_home,
            triggers=[file_digest(*sorted(SERVER_DIR.glob("*.sh")))],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[provisioned]),
        )
        self.target = Target(scripts_dir=f"{scripts_home}/server", secrets_dir=SECRETS_DIR, connection=deploy, sudo=True)
        self._vds = vds
        self.register_outputs({"sshTarget": self.ssh_target()})

    def ssh_target(self) -> str:
        return f"{self._vds.user}@{self._vds.host}"

    def outputs(self) -> dict[str, Any]:
        """Plain (secret-free) stack outputs for the daily commands: make logs / backup-now / restore."""
        vds = self._vds
        return {
            "sshTarget": self.ssh_target(),
            "sshPort": vds.port,
            "dockerHost": docker_host(vds),
            "backupCommand": installed_command("backup.sh"),
            "verifyCommand": installed_command("verify-backup.sh"),
            "restoreCommand": installed_command("restore.sh"),
        }


def provision_args(vds: VdsConfig, public_key: str, options: tuple[str, ...] = ()) -> list[str]:
    # No --ssh-port: the script keeps open the port sshd listens on, which behind NAT is not vds.port.
    return ["--deploy-user", vds.user, "--authorized-key", public_key, *options]


def bootstrap_command(vds: VdsConfig, public_key: str, options: tuple[str, ...] = ()) -> str:
    """provision.sh as the bootstrap user: root runs it directly, anyone else through `sudo -n` (passwordless
    sudo, as cloud images' default users have). sshd keeps admitting that user until `provision_command`."""
    args = [*provision_args(vds, public_key, options), "--allow-ssh-user", vds.bootstrap_user]
    return stdin_script_command("provision.sh", args, sudo=vds.bootstrap_user != "root")


def provision_command(vds: VdsConfig, public_key: str, options: tuple[str, ...] = ()) -> str:
    """provision.sh as the deploy user through sudo; afterwards sshd admits the deploy user only."""
    return stdin_script_command("provision.sh", provision_args(vds, public_key, options), sudo=True)


def connection(vds: VdsConfig, user: str, private_key: pulumi.Input[str]) -> command.remote.ConnectionArgs:
    """An SSH connection that checks the pinned host key (without host_key, pulumi-command checks nothing)."""
    return command.remote.ConnectionArgs(
        host=vds.host, port=vds.port, user=user, private_key=private_key, host_key=vds.host_key, dial_error_limit=5
    )


def docker_host(vds: VdsConfig) -> str:
    return f"ssh://{vds.user}@{vds.host}:{vds.port}"


def known_hosts_line(vds: VdsConfig) -> str:
    host = vds.host if vds.port == 22 else f"[{vds.host}]:{vds.port}"
    return f"{host} {vds.host_key}\n"


def local_ssh_dir(repo_root: Path, stack: str) -> Path:
    return repo_root / ".botstack" / stack / "ssh"


def write_ssh_files(vds: VdsConfig, ssh_dir: Path) -> None:
    """The pinned known_hosts for the docker provider's `ssh` (it runs the ssh binary, which needs files)."""
    ssh_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (ssh_dir / "known_hosts").write_text(known_hosts_line(vds))


def write_identity(private_key: str, ssh_dir: Path) -> Path:
    """The deploy key as a 0600 file, for the docker provider's ssh (`-i`). Never logged, never in state."""
    ssh_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = ssh_dir / "id"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(private_key if private_key.endswith("\n") else private_key + "\n")
    return path


def ssh_options(ssh_dir: Path) -> list[str]:
    """ssh options of the docker provider: the pinned host key, our identity only, never StrictHostKeyChecking=no."""
    return [
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={ssh_dir / 'known_hosts'}",
        "-o", "IdentitiesOnly=yes",
        "-i", str(ssh_dir / "id"),
    ]  # fmt: skip


def vds_docker_provider(name: str, args: ServerArgs, ssh_dir: Path, server: Server) -> docker.Provider:
    """The docker provider for the VDS engine, over `ssh://` as the deploy user, after provisioning.

    pulumi-docker runs the `ssh` binary, which takes the pinned host key and the identity from files:
    this writes them under `ssh_dir` (.botstack/<stack>/ssh, git-ignored; the key 0600) before declaring it.
    """
    vds = args.vds
    write_ssh_files(vds, ssh_dir)
    write_identity(args.ssh_private_key.get_secret_value(), ssh_dir)
    return docker.Provider(
        name,
        docker.ProviderArgs(host=docker_host(vds), ssh_opts=ssh_options(ssh_dir)),
        opts=pulumi.ResourceOptions(depends_on=[server]),
    )


def public_key_of(private_key: str) -> str:
    """The OpenSSH public key line of a private key (what provisioning authorises for the deploy user)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_ssh_private_key(private_key.encode(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
