"""A user's first day, scripted from the README on the real (pinned) Pulumi CLI and the VDS test host.

A fresh clone runs `make up`, then the README's "Deploying prod" commands exactly as written (the
documentation address and port replaced by the test host's), commits Pulumi.prod.yaml, and runs
`make up STACK=prod`. A second clone of that commit, on the same shared state backend, is stopped
without the passphrase and with a wrong one, and decrypts the config with the right one, as
docs/state.md says. Where this machine can't go on (no Python language host for the CLI built from
Go modules: docs/engine.md), `make` must stop with that message, after the config checks, having
created nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.vds.host import REPO, VdsHost
from tests.engine import engine_cache, pinned_cli_dir

pytestmark = pytest.mark.e2e

DOC_HOST = "203.0.113.10"
BOT_TOKEN = "123456789:AAFirstDayFirstDayFirstDayFirstDay12"
NO_LANGUAGE_HOST = "has no Python language host (pulumi-language-python)"


def readme_block(heading: str) -> list[str]:
    """The command lines of the first ```sh block under a README heading."""
    text = (REPO / "README.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, f"no sh block under '{heading}'"
    return [line for line in block.group(1).splitlines() if line.strip()]


class Clone:
    def __init__(self, path: Path, env: dict[str, str]):
        self.path, self.env = path, env

    def sh(self, line: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", line], cwd=self.path, env=self.env,
                                capture_output=True, text=True, timeout=900)
        if check:
            assert result.returncode == 0, f"{line}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    def make(self, target: str) -> subprocess.CompletedProcess:
        # The shared, already installed .venv: `-o` keeps make from reinstalling it for this clone.
        venv = REPO / ".venv"
        return self.sh(f"make -o {venv}/.installed VENV={venv} {target}", check=False)


def clone(source: Path, dest: Path, env: dict[str, str]) -> Clone:
    subprocess.run(["git", "clone", "-q", str(source), str(dest)], check=True, env=env)
    return Clone(dest, env)


@pytest.fixture
def user_env(tmp_path: Path, vds_host: VdsHost) -> dict[str, str]:
    """A user's shell: HOME with the deploy key, a shared state backend, ssh-keyscan reaching the test host."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    shutil.copy(vds_host.key_path, home / ".ssh" / "botstack_deploy")
    (home / ".ssh" / "botstack_deploy").chmod(0o600)
    shims = tmp_path / "shims"
    shims.mkdir()
    # The test host's sshd is published on a random 127.0.0.1 port, which the README's keyscan can't know.
    (shims / "ssh-keyscan").write_text(f'#!/bin/sh\nexec {shutil.which("ssh-keyscan")} -p {vds_host.port} "$@"\n')
    (shims / "ssh-keyscan").chmod(0o755)
    (tmp_path / "shared-state").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "BOTSTACK_"))}
    env.update(
        HOME=str(home),
        BOTSTACK_ENGINE_CACHE=str(engine_cache()),  # the user's CLI cache, not one under the new HOME
        PATH=f"{shims}{os.pathsep}{env['PATH']}",
        PULUMI_BACKEND_URL=f"file://{tmp_path / 'shared-state'}",  # stands for the team's s3://... backend
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        GIT_AUTHOR_NAME="first day", GIT_AUTHOR_EMAIL="user@example.com",
        GIT_COMMITTER_NAME="first day", GIT_COMMITTER_EMAIL="user@example.com",
    )
    return env


def test_first_day_from_the_readme(tmp_path: Path, user_env: dict[str, str], vds_host: VdsHost) -> None:
    has_language_host = (pinned_cli_dir() / "pulumi-language-python").exists()
    laptop = clone(REPO, tmp_path / "laptop", user_env)

    # `make up` on a fresh clone: the dev stack (here it stops, cleanly, at the missing language host).
    up = laptop.make("up")
    if not has_language_host:
        assert up.returncode != 0 and NO_LANGUAGE_HOST in up.stderr, up.stderr
        assert "Traceback" not in up.stdout + up.stderr

    # The README's prod steps, as written.
    (laptop.path / "bot-token.txt").write_text(BOT_TOKEN)
    for line in readme_block("Deploying prod"):
        line = line.replace(DOC_HOST, vds_host.host).replace("'botstack:vds.port' 22", f"'botstack:vds.port' {vds_host.port}")
        if line.startswith("make "):
            result = laptop.make(line.split(" ", 1)[1].split("#")[0].strip())
            if not has_language_host:
                assert result.returncode != 0 and NO_LANGUAGE_HOST in result.stderr, result.stderr
            continue
        laptop.sh(line)
    stack_file = (laptop.path / "Pulumi.prod.yaml").read_text()
    assert "encryptionsalt:" in stack_file and "secure:" in stack_file
    assert BOT_TOKEN not in stack_file and "PRIVATE KEY" not in stack_file
    assert vds_host.host_key in stack_file  # the scanned host key, pinned
    passphrase = (laptop.path / ".botstack" / "passphrase").read_text()
    assert passphrase.strip() not in laptop.sh("git log -p --all").stdout  # never committed

    # A second machine: a clone of that commit, on the same backend.
    desktop = clone(laptop.path, tmp_path / "desktop", user_env)
    get = "scripts/pulumi.sh config get -s prod botstack:botToken"
    without = desktop.sh(get, check=False)
    assert without.returncode == 1
    assert "Pulumi.prod.yaml is encrypted with a passphrase this clone doesn't have" in without.stderr
    assert not (desktop.path / ".botstack" / "passphrase").exists()  # no random passphrase was made up

    (desktop.path / ".botstack").mkdir(exist_ok=True)
    (desktop.path / ".botstack" / "passphrase").write_text("not the team's passphrase\n")
    wrong = desktop.sh(get, check=False)
    assert wrong.returncode == 1 and "the passphrase does not decrypt Pulumi.prod.yaml" in wrong.stderr

    (desktop.path / ".botstack" / "passphrase").write_text(passphrase)
    assert desktop.sh(get).stdout.strip() == BOT_TOKEN
    # An empty PULUMI_CONFIG_PASSPHRASE counts as set, as it does for Pulumi: it is used, not replaced.
    empty = desktop.sh(f"PULUMI_CONFIG_PASSPHRASE= {get}", check=False)
    assert empty.returncode == 1 and "does not decrypt" in empty.stderr

    preview = desktop.make("preview STACK=prod")
    if not has_language_host:
        assert preview.returncode != 0 and NO_LANGUAGE_HOST in preview.stderr, preview.stderr
        assert "passphrase" not in preview.stderr  # the passphrase check passed first
