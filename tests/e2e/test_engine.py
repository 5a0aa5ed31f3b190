"""The real Pulumi engine, as far as it runs here: the pinned CLI through the Automation API.

The CLI is built from Go modules by `make engine`; its Python language host and the docker, command
and random provider plugins can't be built here (docs/engine.md). So these tests run inline programs
(the Automation API serves the program itself, no language host needed) that declare no provider
resource: what they prove is the engine's own part (stack state on the file backend, passphrase
secrets encryption, a converging preview, how a program error reaches the user), with the project's
own config loading where it runs before any resource. Each scenario runs in a child process
(tests/e2e/engine_programs.py says why).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.engine import REPO, engine_env, pinned_cli_dir, pinned_version

pytestmark = pytest.mark.e2e

SECRET_CONFIG = "config-sentinel-" + uuid.uuid4().hex
SECRET_OUTPUT = "output-sentinel-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def cli_dir() -> Path:
    return pinned_cli_dir()


def run_scenario(name: str, cli_dir: Path, tmp_path: Path) -> tuple[dict, Path, Path]:
    """Run one scenario of tests/e2e/engine_programs.py on a fresh file backend; (its result, state dir, work dir)."""
    state, work = tmp_path / "state", tmp_path / "work"
    state.mkdir()
    work.mkdir()
    env = engine_env(cli_dir, state, passphrase=uuid.uuid4().hex)
    child_env = {
        **os.environ,
        "BOTSTACK_ENGINE_TEST_CLI_DIR": str(cli_dir),
        "BOTSTACK_ENGINE_TEST_WORK": str(work),
        "BOTSTACK_ENGINE_TEST_ENV": json.dumps({k: env[k] for k in env if k.startswith("PULUMI_") or k == "PATH"}),
        "BOTSTACK_ENGINE_TEST_CONFIG_SECRET": SECRET_CONFIG,
        "BOTSTACK_ENGINE_TEST_OUTPUT_SECRET": SECRET_OUTPUT,
    }
    done = subprocess.run([sys.executable, "-m", "tests.e2e.engine_programs", name], cwd=REPO, env=child_env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"scenario {name} failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1]), state, work


def test_the_pinned_cli_reports_its_version(cli_dir: Path) -> None:
    result = subprocess.run([str(cli_dir / "pulumi"), "version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"v{pinned_version()}"


def test_secrets_are_encrypted_in_state_and_config_and_a_second_run_converges(cli_dir: Path, tmp_path: Path) -> None:
    result, state, work = run_scenario("secrets", cli_dir, tmp_path)
    assert result["up"] == "succeeded" and result["destroy"] == "succeeded"
    outputs = result["outputs"]
    assert outputs["fromConfig"] == {"value": SECRET_CONFIG, "secret": True}  # decrypts with the passphrase
    assert outputs["generated"] == {"value": SECRET_OUTPUT, "secret": True}
    assert outputs["plain"] == {"value": "visible", "secret": False}
    assert result["preview"] == {"same": 1}  # --expect-no-changes right after up

    on_disk = "\n".join(p.read_text(errors="replace") for p in state.rglob("*") if p.is_file())
    stack_yaml = (work / "Pulumi.e2e.yaml").read_text()
    for sentinel in (SECRET_CONFIG, SECRET_OUTPUT):
        assert sentinel not in result["exported"]
        assert sentinel not in on_disk
        assert sentinel not in stack_yaml
    assert "ciphertext" in result["exported"] and "encryptionsalt" in stack_yaml and "secure:" in stack_yaml


def test_a_bad_config_stops_the_engine_with_the_fix_and_no_traceback(cli_dir: Path, tmp_path: Path) -> None:
    result, _, _ = run_scenario("bad-config", cli_dir, tmp_path)
    text = result["error"]
    assert "botstack:botToken" in text
    assert "pulumi config set -s dev --secret 'botstack:botToken'" in text
    assert "Traceback" not in text
    assert set(result["types"]) <= {"pulumi:pulumi:Stack"}  # nothing was declared
