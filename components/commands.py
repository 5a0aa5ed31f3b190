"""Command lines botstack runs on a host: built here from data, quoted here and nowhere else.

A `Target` is where commands run: the Pulumi machine (dev: the local engine) or the VDS over SSH
(prod). `host_command()` declares the matching pulumi-command resource, so a component says what
to run and not how to reach the host.
"""

from __future__ import annotations

import base64
import hashlib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_command as command

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVER_DIR = REPO_ROOT / "server"


@dataclass(frozen=True)
class Target:
    """Where host commands run. `connection` None means the Pulumi machine itself."""

    scripts_dir: str
    secrets_dir: str
    connection: command.remote.ConnectionArgs | None = None
    sudo: bool = False


def script_command(target: Target, script: str, *args: str | int) -> str:
    """`[sudo] bash <scripts_dir>/<script> <args...>`, every word quoted."""
    words = ["sudo"] if target.sudo else []
    words += ["bash", f"{target.scripts_dir}/{script}", *(str(a) for a in args)]
    return shlex.join(words)


def docker_exec_command(container: str, argv: Sequence[str]) -> str:
    """`docker exec -i <container> <argv...>` on the target host (the deploy user is in the docker group)."""
    return shlex.join(["docker", "exec", "-i", container, *argv])


def stdin_script_command(script: str, args: Sequence[str], *, sudo: bool) -> str:
    """Run a script that arrives on stdin (`shipped_script`), from a private temp file (`bash -s` would let the
    script's own commands, apt-get for one, read the rest of it as their input)."""
    runner = "sudo -n bash" if sudo else "bash"  # -n: fail at once where sudo would ask for a password
    body = f'f=$(mktemp) && cat >"$f" && {runner} "$f" "$@"; rc=$?; rm -f "$f"; exit $rc'
    return shlex.join(["sh", "-c", body, script, *args])


# What a script sent on stdin carries in front of itself: the shared functions, then the shared facts. A script
# installed on the host finds both beside itself instead (server/lib.sh says how each script loads them).
STDIN_PRELUDE = ("lib.sh", "contract.sh")


def shipped_files(script: str) -> list[Path]:
    """The files that make up `script` as it is sent on stdin, in order (for its trigger's digest too)."""
    return [SERVER_DIR / name for name in (*STDIN_PRELUDE, script)]


def shipped_script(script: str) -> str:
    """`script` as it is sent on stdin: server/lib.sh and server/contract.sh, then the script itself."""
    parts = [path.read_text() for path in shipped_files(script)]
    return "".join(part if part.endswith("\n") else part + "\n" for part in parts)


def file_digest(*paths: Path) -> str:
    """sha256 over files' names and contents: a trigger that changes exactly when a script changes."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def secrets_payload(values: Mapping[str, str]) -> str:
    """The stdin of server/write-secrets.sh: `name<TAB>base64(value)` lines, sorted by name."""
    return "".join(f"{name}\t{base64.b64encode(values[name].encode()).decode()}\n" for name in sorted(values))


# Options of a command whose stdin carries a secret: its output is neither streamed to the log
# (`logging`) nor kept in plain state (`additional_secret_outputs`). On failure the provider's error
# still shows the output, so the scripts never print what they read.
SECRET_OUTPUTS = ["stdout", "stderr"]


def host_command(
    name: str,
    target: Target,
    create: pulumi.Input[str],
    *,
    stdin: pulumi.Input[str] | None = None,
    triggers: Sequence[pulumi.Input[object]] | None = None,
    opts: pulumi.ResourceOptions,
) -> pulumi.CustomResource:
    """A command on the target: local.Command on the Pulumi machine, remote.Command over SSH on the VDS.

    stdin is how secrets reach a host (never a command line), so a command with stdin is treated as
    carrying one: quiet and with secret outputs."""
    quiet = stdin is not None
    if quiet:
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS))
    if target.connection is not None:
        return command.remote.Command(
            name,
            connection=target.connection,
            create=create,
            stdin=stdin,
            triggers=list(triggers) if triggers else None,
            add_previous_output_in_env=False,
            logging=command.remote.Logging.NONE if quiet else None,
            opts=opts,
        )
    return command.local.Command(
        name,
        create=create,
        stdin=stdin,
        triggers=list(triggers) if triggers else None,
        dir=str(REPO_ROOT),
        add_previous_output_in_env=False,
        logging=command.local.Logging.NONE if quiet else None,
        opts=opts,
    )
