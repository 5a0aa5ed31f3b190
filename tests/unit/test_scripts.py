"""scripts/pulumi-stack.sh and scripts/logs.sh: prerequisite messages, dry runs, and real runs
against recording stand-ins for `pulumi`, `docker` and `ssh` (no Pulumi CLI exists on these machines)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STACK_SH = REPO / "scripts" / "pulumi-stack.sh"
LOGS_SH = REPO / "scripts" / "logs.sh"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmJ0Rzm6iYl2K3w1p1vYdB0q6v7cZ8m9b2Kq3sQ7xYz"

# A recording stand-in: appends its argv (and the env it cares about) to $CALLS, answers a few queries.
FAKE = r"""#!/usr/bin/env bash
{ printf '%s' "$(basename "$0")"; printf ' %s' "$@"; printf '\n'; } >>"$CALLS"
case "$(basename "$0") $*" in
  "pulumi stack output -s prod backupCommand") echo "sudo /opt/botstack/bin/backup.sh" ;;
  "pulumi stack output -s prod sshPort") echo "2222" ;;
  "pulumi stack output -s prod sshTarget") echo "deploy@203.0.113.10" ;;
  "pulumi stack output -s prod dockerHost") echo "ssh://deploy@203.0.113.10:2222" ;;
  "pulumi config get -s prod --path botstack:vds.host") echo "203.0.113.10" ;;
  "pulumi config get -s prod --path botstack:vds.port") echo "2222" ;;
  "pulumi config get -s prod --path botstack:vds.hostKey") echo "$FAKE_HOST_KEY" ;;
  "pulumi up"*|"pulumi preview"*) env | grep -E '^PULUMI_(BACKEND_URL|CONFIG_PASSPHRASE_FILE)=' | sed 's/^/  env /' >>"$CALLS"
    exit "${PREVIEW_RC:-0}" ;;
  "docker info") exit "${DOCKER_INFO_RC:-0}" ;;
  "docker ps --filter label=botstack.stack=dev --filter label=botstack.service=api --format {{.Names}}")
    echo "api-container-1a2b3c4" ;;
  "ssh "*) for a in "$@"; do case "$a" in UserKnownHostsFile=*) sed 's/^/  known_hosts /' "${a#*=}" >>"$CALLS" ;; esac; done ;;
esac
"""


def _base_path_without(*tools: str) -> str:
    """PATH with every directory that holds one of `tools` left out."""
    keep = [d for d in os.environ["PATH"].split(os.pathsep) if not any((Path(d) / t).exists() for t in tools)]
    return os.pathsep.join(keep)


@pytest.fixture()
def fakes(tmp_path: Path) -> dict[str, str]:
    """A bin dir with recording pulumi, docker and ssh first on PATH; state under tmp_path, not the repo."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("pulumi", "pulumi-language-python", "docker", "ssh"):
        path = bin_dir / tool
        path.write_text(FAKE)
        path.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{_base_path_without('pulumi')}",
        "HOME": str(tmp_path),
        "BOTSTACK_PULUMI_BIN": str(bin_dir),  # the stand-ins, not the pinned CLI
        "CALLS": str(tmp_path / "calls"),
        "BOTSTACK_HOME": str(tmp_path / "botstack"),
        "FAKE_HOST_KEY": HOST_KEY,
    }
    return env


def _run(argv: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", *map(str, argv)], env=env, input=stdin, capture_output=True, text=True, timeout=60, cwd=REPO)


def _calls(env: dict[str, str]) -> list[str]:
    path = Path(env["CALLS"])
    return path.read_text().splitlines() if path.exists() else []


def test_without_the_cli_its_release_or_go_the_user_gets_the_commands(tmp_path: Path) -> None:
    env = {
        "PATH": os.pathsep.join(p for p in _base_path_without("pulumi").split(os.pathsep) if "go" not in p),
        "HOME": str(tmp_path),
        "BOTSTACK_HOME": str(tmp_path / "b"),
        "BOTSTACK_ENGINE_CACHE": str(tmp_path / "engine"),
        "BOTSTACK_PULUMI_RELEASE_URL": "http://127.0.0.1:9",  # nothing listens on the discard port
        "BOTSTACK_PULUMI_CHECKSUMS_URL": "http://127.0.0.1:9",
    }
    result = _run([STACK_SH, "up", "dev"], env)
    assert result.returncode == 1
    assert "the Pulumi CLI v" in result.stderr and "could not be installed" in result.stderr
    assert "curl -fsSL https://get.pulumi.com | sh -s -- --version" in result.stderr
    assert not (tmp_path / "b").exists(), "nothing is created before the prerequisites are there"


def test_docker_not_answering_is_named(fakes: dict[str, str]) -> None:
    result = _run([STACK_SH, "up", "dev"], {**fakes, "DOCKER_INFO_RC": "1"})
    assert result.returncode == 1
    assert "does not answer 'docker info'" in result.stderr
    assert not any(c.startswith("pulumi") for c in _calls(fakes))


def test_prod_without_vds_config_points_to_first_deploy(fakes: dict[str, str], tmp_path: Path) -> None:
    # A copy of the scripts in a checkout whose Pulumi.prod.yaml has no botstack:vds yet.
    scripts = tmp_path / "repo" / "scripts"
    shutil.copytree(REPO / "scripts", scripts)
    (tmp_path / "repo" / "Pulumi.prod.yaml").write_text("config:\n  botstack:profile: full\n")
    result = _run([scripts / "pulumi-stack.sh", "up", "prod"], fakes)
    assert result.returncode == 1
    assert "docs/first-deploy.md" in result.stderr


def test_up_dev_uses_local_backend_and_generated_passphrase(fakes: dict[str, str], tmp_path: Path) -> None:
    result = _run([STACK_SH, "up", "dev", "--refresh"], fakes)
    assert result.returncode == 0, result.stderr
    home = tmp_path / "botstack"
    passphrase = home / "passphrase"
    assert stat.S_IMODE(passphrase.stat().st_mode) == 0o600
    assert len(passphrase.read_text().strip()) >= 40
    assert (home / "state").is_dir()
    calls = _calls(fakes)
    assert "docker info" in calls
    assert "pulumi stack select --create dev" in calls
    assert f"pulumi up --stack dev --yes --policy-pack {REPO}/policy --refresh" in calls
    assert f"  env PULUMI_BACKEND_URL=file://{home}/state" in calls
    assert f"  env PULUMI_CONFIG_PASSPHRASE_FILE={passphrase}" in calls
    # A second run keeps the same passphrase (it encrypts the stack's secrets).
    before = passphrase.read_text()
    assert _run([STACK_SH, "preview", "dev"], fakes).returncode == 0
    assert passphrase.read_text() == before


def test_dry_run_prints_the_commands_and_changes_nothing(fakes: dict[str, str], tmp_path: Path) -> None:
    result = _run([STACK_SH, "--dry-run", "destroy", "dev"], fakes)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"+ mkdir -p {tmp_path}/botstack/state",
        f"+ generate {tmp_path}/botstack/passphrase (0600, 32 random bytes, base64)",
        "+ pulumi stack select dev",
        "+ pulumi destroy --stack dev --exclude-protected --yes",
    ]
    assert not (tmp_path / "botstack").exists()
    assert not any(c.startswith("pulumi") for c in _calls(fakes))


def test_backup_now_runs_the_output_command_with_the_pinned_host_key(fakes: dict[str, str]) -> None:
    result = _run([STACK_SH, "backup-now", "prod"], fakes)
    assert result.returncode == 0, result.stderr
    calls = _calls(fakes)
    ssh = [c for c in calls if c.startswith("ssh ")]
    assert len(ssh) == 1
    assert "-o StrictHostKeyChecking=yes" in ssh[0]
    assert ssh[0].endswith("-p 2222 -- deploy@203.0.113.10 sudo /opt/botstack/bin/backup.sh")
    assert f"  known_hosts [203.0.113.10]:2222 {HOST_KEY}" in calls
    assert not any("--show-secrets" in c for c in calls)


def test_restore_needs_a_dump_and_a_confirmation(fakes: dict[str, str]) -> None:
    missing = _run([STACK_SH, "restore", "prod"], fakes)
    assert missing.returncode == 1 and "DUMP=" in missing.stderr
    refused = _run([STACK_SH, "restore", "prod", "botstack-2024.dump"], fakes, stdin="dev\n")
    assert refused.returncode == 1 and "not confirmed" in refused.stderr
    assert not any(c.startswith("ssh") for c in _calls(fakes))
    done = _run([STACK_SH, "restore", "prod", "botstack-2024.dump"], fakes, stdin="prod\n")
    assert done.returncode == 0, done.stderr
    assert any(c.endswith("sudo /opt/botstack/bin/restore.sh --yes botstack-2024.dump") for c in _calls(fakes))
    injected = _run([STACK_SH, "restore", "prod", "x;reboot", "--yes"], fakes)
    assert injected.returncode == 1 and "must be a file name" in injected.stderr


def test_logs_one_service_and_prod_through_docker_host(fakes: dict[str, str]) -> None:
    assert _run([LOGS_SH, "dev", "api"], fakes).returncode == 0
    assert "docker logs --follow --tail 100 api-container-1a2b3c4" in _calls(fakes)  # found by its labels
    missing = _run([LOGS_SH, "dev", "worker"], fakes)
    assert missing.returncode == 1 and "no running container of service 'worker' in stack 'dev'" in missing.stderr
    result = _run([LOGS_SH, "--dry-run", "prod", "web"], fakes)
    assert result.returncode == 0, result.stderr
    assert "+ export DOCKER_HOST=<dockerHost>" in result.stdout
    assert "+ docker ps --filter label=botstack.stack=prod --filter label=botstack.service=web --format" in result.stdout


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI and engine")
def test_logs_of_all_services_are_prefixed(tmp_path: Path) -> None:
    """Against the real engine: two labelled containers, every line prefixed with its container's name."""
    image = "botstack-test/debian:bookworm"
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0:
        pytest.skip(f"{image} is not built yet (python -m tests.setup)")
    stack = f"logstest{os.getpid()}"
    names = [f"botstack-{stack}-a", f"botstack-{stack}-b"]
    try:
        for name in names:
            subprocess.run(
                [
                    "docker",
                    "run",
                    "-d",
                    "--name",
                    name,
                    "--label",
                    f"botstack.stack={stack}",
                    image,
                    "sh",
                    "-c",
                    f"echo hello-from-{name}; sleep 30",
                ],
                check=True,
                capture_output=True,
            )
        env = {**os.environ, "TAIL": "10"}
        proc = subprocess.Popen(["bash", str(LOGS_SH), stack], stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
        seen: set[str] = set()
        assert proc.stdout is not None
        for line in proc.stdout:
            for name in names:
                if line.startswith(name) and f"hello-from-{name}" in line:
                    seen.add(name)
            if len(seen) == 2:
                break
        os.killpg(proc.pid, 15)
        proc.wait(timeout=10)
        assert seen == set(names)
    finally:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True)


def test_drift_previews_against_the_refreshed_state_and_names_the_way_back(fakes: dict[str, str]) -> None:
    clean = _run([STACK_SH, "drift", "dev"], fakes)
    assert clean.returncode == 0, clean.stderr
    assert "pulumi preview --stack dev --refresh --expect-no-changes --diff" in "\n".join(_calls(fakes))
    drifted = _run([STACK_SH, "drift", "dev"], {**fakes, "PREVIEW_RC": "255"})
    assert drifted.returncode == 1
    assert "stack 'dev' drifted from its last deploy" in drifted.stderr
    assert "make up STACK=dev" in drifted.stderr
