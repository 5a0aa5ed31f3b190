"""A user's first day, statically: what each documented command and workflow relies on is really there.

Each test names the first-run failure it guards against; the commands themselves run in
tests/e2e/vds/test_first_day.py and tests/unit/test_install_pulumi.py.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
SHARED_SECRETS = ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN", "AWS_ACCESS_KEY_ID",
                  "AWS_SECRET_ACCESS_KEY")


def workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def run_lines(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_the_policy_pack_runs_in_the_venv_make_creates() -> None:
    """1: `virtualenv: venv` named a directory nothing created; the pack now uses the project's .venv."""
    pack = yaml.safe_load((REPO / "policy" / "PulumiPolicy.yaml").read_text())
    venv = (REPO / "policy" / pack["runtime"]["options"]["virtualenv"]).resolve()
    assert venv == REPO / ".venv"
    assert re.search(r"^pulumi-policy==", (REPO / "requirements.lock").read_text(), re.M)
    assert "$(VENV)/.installed: requirements.lock" in (REPO / "Makefile").read_text()


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml", "drift.yml"])
def test_ci_jobs_get_the_backend_credentials_and_run_pulumi_through_the_scripts(name: str) -> None:
    """3, 4, 9: backend logins reach the jobs; the deploy key goes where the program reads it; no second path."""
    jobs = workflow(name)["jobs"]
    job = jobs[name.removesuffix(".yml")]
    for secret in SHARED_SECRETS:
        assert job["env"][secret] == f"${{{{ secrets.{secret} }}}}", secret
    text = (WORKFLOWS / name).read_text()
    assert "~/.ssh/botstack_deploy" not in text  # nothing read that file
    assert "BOTSTACK_SSH_PRIVATE_KEY" in text and "secrets.SSH_PRIVATE_KEY" in text
    assert "pulumi/actions" not in text
    # Every pulumi call goes through make or scripts/pulumi.sh (the pinned CLI, the same env as a laptop).
    for line in run_lines(job).splitlines():
        assert not re.match(r"\s*pulumi\s", line), line
    assert re.search(r"make (preview|up|drift) STACK=", run_lines(job))


def test_the_deploy_key_variable_is_the_one_the_config_reads() -> None:
    """4: BOTSTACK_SSH_PRIVATE_KEY is botstack:sshPrivateKey's override."""
    from components.config import StackConfig

    assert "ssh_private_key" in StackConfig.model_fields
    assert StackConfig.model_config.get("env_prefix") == "BOTSTACK_"


def test_the_stack_commands_create_the_stack_when_the_backend_has_none() -> None:
    """3: `stack select` without --create failed on a fresh shared backend."""
    env = {**os.environ, "PULUMI_CONFIG_PASSPHRASE": "x"}
    for action in ("up", "preview"):
        out = subprocess.run([str(REPO / "scripts" / "pulumi-stack.sh"), "--dry-run", action, "dev"],
                             capture_output=True, text=True, env=env, check=False)
        assert "+ pulumi stack select --create dev" in out.stdout, out.stdout + out.stderr


def test_readme_and_first_deploy_run_pulumi_through_the_project_script() -> None:
    """5: bare `pulumi config set` went to Pulumi Cloud or another backend than make's."""
    for doc in ("README.md", "docs/first-deploy.md"):
        for line in (REPO / doc).read_text().splitlines():
            assert not re.match(r"\s*(\$ )?pulumi (config|stack) ", line), f"{doc}: {line}"


def test_prod_commands_need_no_docker_on_the_laptop(tmp_path: Path) -> None:
    """6: creating prod's state needed Docker; scripts/pulumi.sh and a remote stack's checks don't call it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "grep", "sed", "mkdir", "head", "base64", "cat", "env"):
        found = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        (bin_dir / tool).symlink_to(found)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "BOTSTACK_HOME": str(tmp_path / "home"),
           "BOTSTACK_ENGINE_CACHE": str(tmp_path / "cache")}
    out = subprocess.run([str(REPO / "scripts" / "pulumi.sh"), "--dry-run", "stack", "select", "--create", "prod"],
                         capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr
    assert "docker" not in (out.stdout + out.stderr).lower()
    assert "+ pulumi stack select --create prod" in out.stdout
    doc = (REPO / "docs" / "first-deploy.md").read_text()
    assert "Docker is not needed on your machine for prod" in doc


def test_pull_requests_from_forks_and_bots_get_no_secrets_and_no_preview() -> None:
    """7: no environment meant empty environment secrets; fork PRs ran with prod's key or failed."""
    job = workflow("preview.yml")["jobs"]["preview"]
    assert job["environment"] == "preview-${{ matrix.stack }}"
    assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]
    assert "dependabot[bot]" in job["if"]
    ci = (REPO / "docs" / "ci.md").read_text()
    assert "fork" in ci.lower() and "preview-prod" in ci


def test_the_deploy_workflow_offers_only_stacks_it_can_deploy() -> None:
    """8: stack=dev failed validation (images.tag without images.repository); a runner's engine is gone after."""
    on = workflow("deploy.yml")[True]  # YAML 1.1 reads the key `on` as True
    options = on["workflow_dispatch"]["inputs"]["stack"]["options"]
    assert options == ["prod"]
    from components.config_loading import validate

    stack_file = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())["config"]
    config = dict(stack_file)
    config["botstack:images"] = {**config["botstack:images"], "tag": "sha-0123abc"}
    config["botstack:vds"] = {**config["botstack:vds"], "hostKey": TEST_HOST_KEY}
    validate("prod", {**config, "botstack:sshPrivateKey": TEST_PRIVATE_KEY, "botstack:botToken": TEST_BOT_TOKEN})


def test_make_test_installs_the_engine_it_tests() -> None:
    """9: test.yml never installed the CLI; now .ci/run is make test, and make test installs it."""
    assert "bash .ci/run" in (WORKFLOWS / "test.yml").read_text()
    assert re.search(r"^make test$", (REPO / ".ci" / "run").read_text(), re.M)
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test: setup\b", makefile, re.M)
    assert re.search(r"^setup: venv engine\b", makefile, re.M)
    assert "scripts/install-pulumi.sh install" in makefile


LAPTOP_SCRIPTS = sorted(str(p.relative_to(REPO)) for p in (REPO / "scripts").glob("*.sh"))


@pytest.mark.parametrize("path", LAPTOP_SCRIPTS)
def test_no_bare_array_expansion_for_bash_3_2(path: str) -> None:
    """10: macOS's bash 3.2 aborts on an empty "${a[@]}" under set -u; ${a[@]+"${a[@]}"} is safe."""
    text = (REPO / path).read_text()
    bare = re.findall(r'(?<!\+)"\$\{[A-Za-z_][A-Za-z0-9_]*\[@\]\}"', text)
    assert not bare, f"{path}: {bare}"


# Valid test values for the validation above, from the unit tests' fixtures.
from tests.unit.conftest import BOT_TOKEN as TEST_BOT_TOKEN  # noqa: E402
from tests.unit.conftest import HOST_KEY as TEST_HOST_KEY  # noqa: E402
from tests.unit.conftest import new_private_key  # noqa: E402

TEST_PRIVATE_KEY = new_private_key()
