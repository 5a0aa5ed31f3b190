"""The real Pulumi engine, as far as it runs here: the pinned CLI through the Automation API.

The CLI is built from Go modules by `make engine`; its Python language host and the docker, command
and random provider plugins can't be built here (docs/engine.md). So these tests run inline programs
(the Automation API serves the program itself, no language host needed) that declare no provider
resource: what they prove is the engine's own part (stack state on the file backend, passphrase
secrets encryption, a converging preview, how a program error reaches the user), with the project's
own config loading where it runs before any resource.
"""

from __future__ import annotations

import json
import runpy
import subprocess
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


@pytest.fixture
def workspace(cli_dir: Path, tmp_path: Path):
    """A fresh file backend and passphrase, and a function that makes an inline-program stack on it."""
    from pulumi import automation as auto

    state = tmp_path / "state"
    state.mkdir()
    env = engine_env(cli_dir, state, passphrase=uuid.uuid4().hex)
    work = tmp_path / "work"
    work.mkdir()
    command = auto.PulumiCommand(root=str(cli_dir.parent), skip_version_check=True)

    def make_stack(program, name: str = "e2e"):
        opts = auto.LocalWorkspaceOptions(work_dir=str(work), env_vars=env, pulumi_command=command)
        return auto.create_stack(stack_name=name, project_name="botstack", program=program, opts=opts)

    make_stack.state = state  # type: ignore[attr-defined]
    make_stack.work = work  # type: ignore[attr-defined]
    make_stack.env = env  # type: ignore[attr-defined]
    return make_stack


def pulumi_cli(workspace, *args: str) -> str:
    cli = Path(workspace.env["PATH"].split(":", 1)[0]) / "pulumi"
    result = subprocess.run([str(cli), *args], cwd=workspace.work, env=workspace.env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_pinned_cli_reports_its_version(cli_dir: Path) -> None:
    result = subprocess.run([str(cli_dir / "pulumi"), "version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"v{pinned_version()}"


def test_secrets_are_encrypted_in_state_and_config_and_a_second_run_converges(workspace) -> None:
    import pulumi
    from pulumi import automation as auto

    def program() -> None:
        config = pulumi.Config("botstack")
        pulumi.export("fromConfig", config.require_secret("botToken"))
        pulumi.export("generated", pulumi.Output.secret(SECRET_OUTPUT))
        pulumi.export("plain", "visible")

    stack = workspace(program)
    stack.set_config("botstack:botToken", auto.ConfigValue(value=SECRET_CONFIG, secret=True))
    up = stack.up()
    assert up.summary.result == "succeeded"
    assert up.outputs["fromConfig"].secret and up.outputs["fromConfig"].value == SECRET_CONFIG
    assert up.outputs["generated"].secret and up.outputs["generated"].value == SECRET_OUTPUT
    assert up.outputs["plain"].value == "visible" and not up.outputs["plain"].secret

    preview = stack.preview(expect_no_changes=True)
    assert preview.change_summary == {auto.OpType.SAME: 1}

    exported = pulumi_cli(workspace, "stack", "export", "--stack", "e2e")  # the CLI's export, without --show-secrets
    on_disk = "\n".join(p.read_text(errors="replace") for p in workspace.state.rglob("*") if p.is_file())
    stack_yaml = (workspace.work / "Pulumi.e2e.yaml").read_text()
    for sentinel in (SECRET_CONFIG, SECRET_OUTPUT):
        assert sentinel not in exported
        assert sentinel not in on_disk
        assert sentinel not in stack_yaml
    assert "ciphertext" in exported and "encryptionsalt" in stack_yaml and "secure:" in stack_yaml

    assert stack.destroy().summary.result == "succeeded"


def test_a_bad_config_stops_the_engine_with_the_fix_and_no_traceback(workspace) -> None:
    from pulumi import automation as auto

    def program() -> None:
        runpy.run_path(str(REPO / "__main__.py"))

    stack = workspace(program, name="dev")
    stack.set_config("botstack:profile", auto.ConfigValue(value="full"))  # full needs botstack:botToken
    with pytest.raises(auto.CommandError) as failure:
        stack.up()
    text = str(failure.value)
    assert "botstack:botToken" in text
    assert "pulumi config set -s dev --secret 'botstack:botToken'" in text
    assert "Traceback" not in text
    # Nothing was declared: the state holds the stack resource at most.
    resources = json.loads(pulumi_cli(workspace, "stack", "export", "--stack", "dev"))["deployment"].get("resources") or []
    assert {r["type"] for r in resources} <= {"pulumi:pulumi:Stack"}
