"""The double's `ssh` wrapper adds a provider's sshOpts to the Docker connections of that provider's host, in the
two forms they come in: the docker SDK (containers, volumes) and the docker CLI (image builds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.double.docker_ops import _WRAPPER_SCRIPT

OPTS = ["-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=/k"]


@pytest.fixture
def wrapper(tmp_path: Path) -> Path:
    registry = tmp_path / "hosts.json"
    registry.write_text(json.dumps({"deploy@vds:2222": OPTS}))
    script = tmp_path / "ssh"
    script.write_text(_WRAPPER_SCRIPT.format(python=sys.executable, registry=str(registry), real="/bin/echo"))
    script.chmod(0o755)
    return script


def ssh(wrapper: Path, *args: str) -> list[str]:
    return subprocess.run([str(wrapper), *args], capture_output=True, text=True, check=True).stdout.split()


@pytest.mark.parametrize("remote", [["docker system dial-stdio"], ["docker", "system", "dial-stdio"]], ids=["sdk", "cli"])
def test_docker_connections_to_the_host_get_its_ssh_options(wrapper: Path, remote: list[str]) -> None:
    words = ssh(wrapper, "-l", "deploy", "-p", "2222", "--", "vds", *remote)
    assert words[: len(OPTS)] == OPTS and "StrictHostKeyChecking=yes" in words


def test_other_hosts_and_commands_pass_through(wrapper: Path) -> None:
    assert ssh(wrapper, "-l", "deploy", "-p", "22", "--", "other", "docker", "system", "dial-stdio")[0] == "-l"
    assert ssh(wrapper, "-l", "deploy", "-p", "2222", "--", "vds", "uptime")[0] == "-l"
