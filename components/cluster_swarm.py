"""The swarm's remote commands, built here from data and quoted here and nowhere else.

Every script is idempotent: it reads the node's swarm state first and does nothing when the node is already
where it should be, so `pulumi up` can run them again (a replaced command resource, a node that rebooted).
The join token never appears on a command line, in a log or in the state in plain text: the join script reads
it from stdin (a secret input) and hands it to the Engine API on the node's own socket, so it is not in any
process's argv either (`docker swarm join --token` would put it there, readable by every local user).
"""

from __future__ import annotations

import ipaddress
import shlex
from typing import Literal

SWARM_PORT = 2377  # the managers' raft and join port (TCP)
DOCKER_SOCKET = "/var/run/docker.sock"
ENGINE_API = "v1.41"  # Docker 20.10, Debian bookworm's docker.io; newer engines serve it too

Role = Literal["manager", "worker"]

# The node's state as `docker info` reports it: inactive, pending, active, error or locked.
_STATE = "state=$(docker info --format '{{.Swarm.LocalNodeState}}')"
# Every membership script ends by printing the node's swarm id: labels are set on the node by id (host names
# of VDS may repeat), and a changed id (the node left and joined again) shows up as a diff.
_PRINT_NODE_ID = "docker info --format '{{.Swarm.NodeID}}'"


def _script(*lines: str) -> str:
    """A POSIX shell script that stops at the first failing command."""
    return "\n".join(("set -eu", *lines)) + "\n"


def _addr(value: str) -> str:
    """An address the scripts may embed unquoted in JSON: an IPv4 address (config checks it before; this is the
    last line of defence of the one place that builds the scripts)."""
    return str(ipaddress.IPv4Address(value))


def init_script(advertise_addr: str, heartbeat_seconds: int = 5) -> str:
    """On the first manager: create the swarm unless this node is already in one (then check it is a manager),
    set the heartbeat; print the node's id.

    The heartbeat decides how soon a lost node's tasks start elsewhere: a node is marked down after about three
    missed heartbeats (Docker's default of 5 s: about 15 s)."""
    addr = _addr(advertise_addr)
    if not 1 <= heartbeat_seconds <= 60:
        raise ValueError(f"heartbeat_seconds must be 1..60, not {heartbeat_seconds}")
    init = ["docker", "swarm", "init", "--advertise-addr", addr, "--listen-addr", f"{addr}:{SWARM_PORT}"]
    update = ["docker", "swarm", "update", "--dispatcher-heartbeat", f"{heartbeat_seconds}s"]
    return _script(
        _STATE,
        f'[ "$state" = active ] || {shlex.join(init)} >/dev/null',
        "if [ \"$(docker info --format '{{.Swarm.ControlAvailable}}')\" != true ]; then",
        '  echo "this node is in a swarm already, as a worker: run docker swarm leave on it first" >&2; exit 1',
        "fi",
        f"{shlex.join(update)} >/dev/null",
        _PRINT_NODE_ID,
    )


def join_token_script(role: Role) -> str:
    """On the first manager: print the token that joins a node as `role` (a secret: the command's stdout)."""
    return _script(shlex.join(["docker", "swarm", "join-token", "--quiet", role]))


def join_script(advertise_addr: str, manager_addr: str) -> str:
    """On a joining node: join the swarm of `manager_addr` with the token on stdin, unless already in a swarm;
    print the node's id. The token's role decides whether the node joins as a manager or a worker."""
    addr, manager = _addr(advertise_addr), _addr(manager_addr)
    body = (
        f'{{"ListenAddr":"{addr}:{SWARM_PORT}","AdvertiseAddr":"{addr}",'
        f'"RemoteAddrs":["{manager}:{SWARM_PORT}"],"JoinToken":"%s"}}'
    )
    url = f"http://localhost/{ENGINE_API}/swarm/join"
    return _script(
        _STATE,
        'if [ "$state" != active ]; then',
        '  token=""; IFS= read -r token || true',  # a last line without newline is read too; none is refused below
        # a token is SWMTKN-1-<base36>-<base36>: nothing to escape in JSON, and anything else is refused
        '  case "$token" in SWMTKN-1-*) ;; *) echo "stdin is not a swarm join token" >&2; exit 1;; esac',
        '  case "$token" in *[!A-Za-z0-9-]*) echo "stdin is not a swarm join token" >&2; exit 1;; esac',
        # printf is a shell builtin: the token goes to curl's stdin, never into an argv
        f'  printf {shlex.quote(body)} "$token" | '
        + shlex.join(
            [
                "curl",
                "--silent",
                "--show-error",
                "--fail-with-body",
                "--unix-socket",
                DOCKER_SOCKET,
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                "@-",
                url,
            ]
        )
        + " >/dev/null",
        "fi",
        _PRINT_NODE_ID,
    )


def label_script(node_id: str, labels: dict[str, str]) -> str:
    """On a manager: set the node labels placement constraints use (idempotent: `--label-add` overwrites)."""
    words = ["docker", "node", "update"]
    for key, value in sorted(labels.items()):
        words += ["--label-add", f"{key}={value}"]
    return _script(shlex.join([*words, node_id]))
