"""scripts/pulumi-stack.sh and scripts/logs.sh: prerequisite messages, dry runs, and real runs
against recording stand-ins for `pulumi`, `docker` and `ssh` (no Pulumi CLI exists on these machines).
Then server/lib.sh and the server scripts that run without root here: write-secrets.sh (as in dev),
deploy-check.sh, run-migrations.sh (against the docker stand-in), each with its --dry-run."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import time
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
  "pulumi stack output -s swarm backupCommand") echo "sudo /usr/local/lib/botstack/backup.sh" ;;
  "pulumi stack output -s swarm sshPort") echo "22" ;;
  "pulumi stack output -s swarm sshTarget") echo "deploy@203.0.113.11" ;;
  "pulumi config get -s swarm --path botstack:vds.host") exit 1 ;;
  "pulumi config get -s swarm --path botstack:cluster.databaseNode") [[ -z ${FAKE_NO_NODE:-} ]] || exit 1; echo "node1" ;;
  "pulumi config get -s swarm --path botstack:cluster.nodes.node1.host") echo "203.0.113.11" ;;
  "pulumi config get -s swarm --path botstack:cluster.nodes.node1.port") exit 1 ;;
  "pulumi config get -s swarm --path botstack:cluster.nodes.node1.hostKey") echo "$FAKE_HOST_KEY" ;;
  "pulumi up"*|"pulumi preview"*) env | grep -E '^PULUMI_(BACKEND_URL|CONFIG_PASSPHRASE_FILE)=' | sed 's/^/  env /' >>"$CALLS"
    exit "${PREVIEW_RC:-0}" ;;
  "docker info") exit "${DOCKER_INFO_RC:-0}" ;;
  "docker ps --filter label=botstack.writer=true --format {{.Names}}") printf '%s\n' ${FAKE_WRITERS:-} ;;
  "docker ps --filter label=botstack.stack=dev --filter label=botstack.service=api --format {{.Names}}")
    echo "api-container-1a2b3c4" ;;
  "docker ps --filter label=botstack.writer=true --filter label=botstack.stack=prod --format {{.Names}}")
    printf '%s\n' ${FAKE_WRITERS:-} ;;
  # the database container of the backup scripts (read-only queries only)
  "docker inspect -f {{.State.Running}} "*) echo "${FAKE_RUNNING:-true}" ;;
  'docker inspect -f {{index .Config.Labels "botstack.stack"}} '*) echo prod ;;
  "docker inspect -f {{.Image}} "*) echo sha256:5e1f ;;
  "docker inspect -f {{.Config.User}} "*) echo postgres ;;
  "docker inspect -f {{range .Config.Env}}{{println .}}{{end}} "*)
    printf '%s\n' PATH=/usr/bin PGBACKREST_STANZA=botstack PGBACKREST_REPO1_PATH=/var/lib/pgbackrest ;;
  'docker inspect -f {{range .Mounts}}{{if eq .Type "volume"}}'*) echo "botstack-prod-pgdata /var/lib/postgresql/data" ;;
  'docker inspect -f {{range .Mounts}}{{if eq .Type "bind"}}'*)
    echo "/etc/botstack/secrets/pgbackrest.conf /run/secrets/pgbackrest.conf" ;;
  "docker exec "*" pgbackrest info") [[ -z ${FAKE_BACKUP_END:-} ]] \
    || echo "  timestamp start/stop: 2026-01-01 00:00:00+00 / $FAKE_BACKUP_END+00" ;;
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


def checkout_with_stack_file(tmp_path: Path, stack: str, text: str) -> Path:
    """A copy of the scripts (and the contract they read) in a checkout whose Pulumi.<stack>.yaml is `text`; the
    scripts' directory."""
    scripts = tmp_path / "repo" / "scripts"
    shutil.copytree(REPO / "scripts", scripts)
    (tmp_path / "repo" / "server").mkdir()
    shutil.copy(REPO / "server" / "contract.sh", tmp_path / "repo" / "server")
    (tmp_path / "repo" / f"Pulumi.{stack}.yaml").write_text(text)
    return scripts


def test_prod_without_vds_config_points_to_first_deploy(fakes: dict[str, str], tmp_path: Path) -> None:
    # A checkout whose Pulumi.prod.yaml has no botstack:vds yet.
    scripts = checkout_with_stack_file(tmp_path, "prod", "config:\n  botstack:profile: full\n")
    result = _run([scripts / "pulumi-stack.sh", "up", "prod"], fakes)
    assert result.returncode == 1
    assert "docs/first-deploy.md" in result.stderr


def test_a_cluster_stack_is_remote_and_its_logs_point_to_the_manager(fakes: dict[str, str], tmp_path: Path) -> None:
    # A copy of the scripts in a checkout with a cluster stack: deployed over SSH (no local engine needed), destroyed
    # only after Pulumi asks, and its logs are swarm's, on a manager.
    scripts = checkout_with_stack_file(tmp_path, "swarm", "config:\n  botstack:cluster:\n    databaseNode: node1\n")
    destroy = _run([scripts / "pulumi-stack.sh", "destroy", "swarm"], {**fakes, "DOCKER_INFO_RC": "1"})
    assert destroy.returncode == 0, destroy.stderr
    assert "pulumi destroy --stack swarm --exclude-protected" in _calls(fakes), "no --yes: Pulumi shows the plan and asks"
    assert "docker info" not in _calls(fakes), "a cluster is reached over SSH, not through a local engine"
    logs = _run([scripts / "logs.sh", "swarm", "api"], fakes)
    assert logs.returncode == 1 and "docker service logs --follow --tail 100 botstack-swarm-api" in logs.stderr


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


def test_backup_now_on_a_cluster_runs_on_the_database_node_with_its_pinned_host_key(fakes: dict[str, str]) -> None:
    result = _run([STACK_SH, "backup-now", "swarm"], fakes)
    assert result.returncode == 0, result.stderr
    calls = _calls(fakes)
    ssh = [c for c in calls if c.startswith("ssh ")]
    assert len(ssh) == 1 and "-o StrictHostKeyChecking=yes" in ssh[0]
    assert ssh[0].endswith("-p 22 -- deploy@203.0.113.11 sudo /usr/local/lib/botstack/backup.sh")
    assert f"  known_hosts 203.0.113.11 {HOST_KEY}" in calls


def test_backup_now_names_what_is_missing_when_a_stack_has_no_server(fakes: dict[str, str]) -> None:
    result = _run([STACK_SH, "backup-now", "swarm"], {**fakes, "FAKE_NO_NODE": "1"})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "stack 'swarm' has no botstack:vds.host (nor botstack:cluster.databaseNode)" in result.stderr
    assert not any(c.startswith("ssh ") for c in _calls(fakes)), "no connection to a guessed host"


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


# ---- server/lib.sh and the server scripts ------------------------------------------------------------------------

SERVER = REPO / "server"


def _lib(snippet: str, env: dict[str, str] | None = None, stdin: str | bytes = "") -> subprocess.CompletedProcess[str]:
    """Run `snippet` in bash after sourcing server/lib.sh, as a script does."""
    script = f"set -euo pipefail\nsource {SERVER / 'lib.sh'}\n{snippet}"
    data = stdin.encode() if isinstance(stdin, str) else stdin
    proc = subprocess.run(
        ["bash", "-c", script],
        env=env or dict(os.environ),
        input=data,
        capture_output=True,
        timeout=60,
        cwd=REPO,
        start_new_session=True,
    )  # a new session: no terminal to confirm on
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def _me() -> str:
    return f"{os.getuid()}:{os.getgid()}"


def test_lib_put_file_writes_any_bytes_atomically_and_only_what_differs(tmp_path: Path) -> None:
    dest = tmp_path / "etc" / "app.conf"
    content = b"a\0b\n\n"  # a NUL byte and trailing newlines survive (the content never sits in a variable)
    put = f"put_file {dest} 640 {_me()}; summary"
    first = _lib(put, stdin=content)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [f"changed: {dest} written", "botstack-provision: 1 changed"]
    assert dest.read_bytes() == content and stat.S_IMODE(dest.stat().st_mode) == 0o640
    assert _lib(put, stdin=content).stdout.splitlines() == [f"ok: {dest}", "botstack-provision: 0 changed"]
    dest.chmod(0o644)  # a drifted mode is repaired like drifted content
    assert _lib(put, stdin=content).stdout.startswith(f"changed: {dest} written")
    inode = dest.stat().st_ino
    dry = _lib(f"DRY_RUN=1; {put}", stdin=b"other")
    assert dry.stdout.splitlines() == [f"changed: (dry run) {dest} would be written", "botstack-provision: 1 changed (dry run)"]
    assert _lib(f"DRY_RUN=1; {put}", stdin=content).stdout.startswith(f"ok: {dest}")
    assert dest.read_bytes() == content and dest.stat().st_ino == inode
    assert _lib(put, stdin=b"new").returncode == 0
    assert dest.read_bytes() == b"new" and dest.stat().st_ino != inode, "replaced by a rename, not rewritten in place"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["app.conf"], "no temp file is left beside it"


def test_lib_ensure_dir_creates_repairs_and_dry_runs(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    ensure = f"ensure_dir {target} 700 {_me()}; summary"
    dry = _lib(f"DRY_RUN=1; {ensure}")
    assert dry.stdout.splitlines() == [
        f"changed: (dry run) {target} (mode 700, {_me()})",
        "botstack-provision: 1 changed (dry run)",
    ]
    assert not target.exists()
    assert _lib(ensure).stdout.startswith(f"changed: {target} (mode 700, {_me()})")
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert _lib(ensure).stdout.startswith(f"ok: {target}")
    target.chmod(0o755)
    assert _lib(ensure).stdout.startswith("changed:") and stat.S_IMODE(target.stat().st_mode) == 0o700


def test_lib_die_log_run_and_the_contract(tmp_path: Path) -> None:
    default = _lib('die "it broke"')
    assert (default.returncode, default.stderr) == (1, "error: it broke\n")
    tagged = _lib(
        'trap \'echo "trap saw: $DIE_MESSAGE"\' EXIT; LOG_TAG=botstack-x DIE_PREFIX="botstack-x: FAILED:" '
        'DIE_STATUS=3; log "starting"; die "it broke"'
    )
    assert tagged.returncode == 3 and tagged.stderr == "botstack-x: FAILED: it broke\n"
    assert tagged.stdout == "botstack-x: starting\ntrap saw: it broke\n"
    marker = tmp_path / "ran"
    assert _lib(f"DRY_RUN=1; run touch '{marker} x'").stdout == f"would run: touch {marker}\\ x\n"
    assert not marker.exists()
    assert _lib(f"run touch {marker}").returncode == 0 and marker.exists()
    # contract.sh, loaded from beside lib.sh: the facts the program spells in components/contract.py
    from components import contract

    assert _lib('echo "$BOTSTACK_ETC_DIR $BOTSTACK_WRITER_LABEL"').stdout.split() == [contract.ETC_DIR, contract.WRITER_LABEL]


def test_lib_source_config_names_the_missing_file(tmp_path: Path) -> None:
    config = tmp_path / "backup.env"
    missing = _lib(f'source_config {config} "install-backups.sh writes it"')
    assert missing.returncode == 1 and missing.stderr == f"error: config {config} missing (install-backups.sh writes it)\n"
    config.write_text("PG_DB=botstack\n")
    assert _lib(f'source_config {config}; echo "$PG_DB"').stdout == "botstack\n"


def test_lib_writers_are_stopped_and_started_by_their_label(fakes: dict[str, str]) -> None:
    both = _lib("LOG_TAG=botstack-restore; stop_writers; start_writers", {**os.environ, **fakes, "FAKE_WRITERS": "api worker"})
    assert both.returncode == 0, both.stderr
    assert both.stdout.splitlines() == [
        "botstack-restore: stopping writers: api worker",
        "botstack-restore: started writers again: api worker",
    ]
    assert [c for c in _calls(fakes) if not c.startswith("docker ps")] == ["docker stop api worker", "docker start api worker"]
    none = _lib("LOG_TAG=botstack-restore; stop_writers; start_writers", {**os.environ, **fakes})
    assert none.stdout == "botstack-restore: no running writers (label botstack.writer=true)\n"


def test_lib_confirmation_needs_a_terminal() -> None:
    refused = _lib('confirm_by_typing botstack "Type the database name: "')
    assert refused.returncode == 1 and refused.stderr == "error: no terminal to confirm on; pass --yes\n"


def _help(script: str) -> str:
    text = (SERVER / script).read_text()
    header = text.split("\nset -euo pipefail\n", 1)[0].splitlines()[1:]
    return "".join(line[2:] + "\n" if line.startswith("# ") else line[1:] + "\n" for line in header)


@pytest.mark.parametrize("script", ["provision.sh", "write-secrets.sh", "deploy-check.sh", "run-migrations.sh"])
def test_each_script_prints_its_own_header_as_help_also_when_shipped_on_stdin(script: str, tmp_path: Path) -> None:
    from components.commands import shipped_script

    assert "--dry-run" in _help(script)
    beside = subprocess.run(["bash", str(SERVER / script), "--help"], capture_output=True, text=True, timeout=30)
    assert (beside.returncode, beside.stdout) == (0, _help(script))
    shipped = tmp_path / "shipped"  # alone in its directory: lib.sh and contract.sh come inside it
    shipped.write_text(shipped_script(script))
    alone = subprocess.run(["bash", str(shipped), "--help"], capture_output=True, text=True, timeout=30)
    assert (alone.returncode, alone.stdout) == (0, _help(script))


def test_a_script_copied_without_lib_sh_fails_naming_it(tmp_path: Path) -> None:
    lone = tmp_path / "write-secrets.sh"
    shutil.copy(SERVER / "write-secrets.sh", lone)
    result = subprocess.run(["bash", str(lone), str(tmp_path / "s")], input="", capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "lib.sh" in result.stderr
    assert not (tmp_path / "s").exists()


def _write_secrets(argv: list[str], values: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    from components.commands import secrets_payload, shipped_script

    shipped = cwd / "write-secrets"
    shipped.write_text(shipped_script("write-secrets.sh"))  # the stack runs the copy beside lib.sh; this proves both
    return subprocess.run(
        ["bash", str(shipped), *argv], input=secrets_payload(values), capture_output=True, text=True, timeout=30
    )


def test_write_secrets_dry_run_reports_and_changes_nothing(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    dry = _write_secrets(["--dry-run", str(secrets)], {"jwt_secret": "s3cret"}, tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        f"changed: (dry run) {secrets} (mode 700, {_me()})",
        f"changed: (dry run) {secrets}/jwt_secret would be written",
        "botstack-provision: 2 changed (dry run)",
    ]
    assert not secrets.exists()
    first = _write_secrets([str(secrets)], {"jwt_secret": "s3cret", "bot_token": "1:a"}, tmp_path)
    assert first.stdout.endswith("botstack-provision: 3 changed\n"), first.stdout + first.stderr
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700 and stat.S_IMODE((secrets / "jwt_secret").stat().st_mode) == 0o444
    changed = _write_secrets(["--dry-run", str(secrets)], {"jwt_secret": "n3w", "bot_token": "1:a"}, tmp_path)
    assert changed.stdout.splitlines() == [
        f"ok: {secrets}",
        f"ok: {secrets}/bot_token",
        f"changed: (dry run) {secrets}/jwt_secret would be written",
        "botstack-provision: 1 changed (dry run)",
    ]
    assert (secrets / "jwt_secret").read_text() == "s3cret"
    assert "s3cret" not in first.stdout + changed.stdout and "n3w" not in changed.stdout + changed.stderr
    bad = subprocess.run(
        ["bash", str(SERVER / "write-secrets.sh"), "--dry-run", str(secrets)],
        input="jwt_secret\t%%%\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 1 and "secret jwt_secret: value is not valid base64" in bad.stderr


def test_deploy_check_dry_run_sends_no_request(tmp_path: Path) -> None:
    import http.server
    import threading

    hits: list[str] = []

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/api/health"
    try:
        dry = subprocess.run(
            ["bash", str(SERVER / "deploy-check.sh"), "--dry-run", url, "30", "1"], capture_output=True, text=True, timeout=30
        )
        assert (dry.returncode, dry.stdout) == (
            0,
            f"deploy-check: (dry run) would poll {url} every 1s for up to 30s until it answers 200\n",
        )
        assert hits == []
        real = subprocess.run(
            ["bash", str(SERVER / "deploy-check.sh"), url, "30", "1"], capture_output=True, text=True, timeout=60
        )
        assert real.returncode == 0 and "answered 200 after 1 attempt(s)" in real.stdout, real.stderr
        assert hits == ["/api/health"]
    finally:
        server.shutdown()
    wrong = subprocess.run(
        ["bash", str(SERVER / "deploy-check.sh"), "--dry-run", url, "soon"], capture_output=True, text=True, timeout=30
    )
    assert (wrong.returncode, wrong.stderr) == (2, "deploy-check: TIMEOUT and INTERVAL are seconds\n")


def test_run_migrations_dry_run_checks_then_prints_the_container_it_would_run(fakes: dict[str, str], tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "database_url").write_text("postgresql://u:p@db/botstack")
    argv = ["bash", str(SERVER / "run-migrations.sh"), "--memory", "256m", "img:1", "backend", str(secrets)]
    env = {**os.environ, **fakes}
    dry = subprocess.run([*argv[:2], "--dry-run", *argv[2:]], env=env, capture_output=True, text=True, timeout=30)
    assert dry.returncode == 0, dry.stderr
    run = (
        f"docker run --rm --network backend --user 10001:10001 --read-only --tmpfs /tmp --memory 256m "
        f"--ulimit nproc=1024:1024 --pids-limit 1024 --cap-drop ALL --security-opt no-new-privileges:true "
        f"-v {secrets}/database_url:/run/secrets/database_url:ro -e DATABASE_URL_FILE=/run/secrets/database_url "
        f"img:1 alembic upgrade head"
    )
    assert dry.stdout.splitlines() == [
        "run-migrations: alembic upgrade head with img:1 on backend",
        f"would run: {run}",
        "run-migrations: (dry run) nothing was run",
    ]
    assert _calls(fakes) == ["docker network inspect backend"], "the dry run checks the network and runs nothing"
    real = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert real.returncode == 0 and real.stdout.endswith("run-migrations: ok\n"), real.stderr
    assert _calls(fakes)[1:] == ["docker network inspect backend", run]
    missing = subprocess.run(
        [*argv[:2], "--dry-run", *argv[2:-1], str(tmp_path / "none")], env=env, capture_output=True, text=True, timeout=30
    )
    assert missing.returncode == 1 and "database_url" in missing.stderr


# ---- provision.sh's cluster mode (a node of a Docker Swarm) ------------------------------------------------------

# A recording `ufw` that answers `ufw show added` from $UFW_ADDED, and `dpkg-query` answering from $INSTALLED.
FAKE_UFW = r"""#!/usr/bin/env bash
{ printf 'ufw'; printf ' %s' "$@"; printf '\n'; } >>"$CALLS"
if [[ "$1 $2" == "show added" ]]; then echo "Added user rules (see 'ufw status' for running firewall):"; cat "$UFW_ADDED"; fi
"""
FAKE_DPKG_QUERY = r"""#!/usr/bin/env bash
[[ " $INSTALLED " == *" ${!#} "* ]] && printf 'install ok installed'
"""
SWARM_PEERS = ("10.0.0.12", "10.0.0.13")


def _provision(snippet: str, tmp_path: Path, argv: str = "", added: str = "", installed: str = "") -> list[str]:
    """Source server/provision.sh (its functions only), parse `argv` and the swarm inputs, then run `snippet`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("ufw", FAKE_UFW), ("dpkg-query", FAKE_DPKG_QUERY)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "added").write_text(added)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "CALLS": str(tmp_path / "calls"),
        "UFW_ADDED": str(tmp_path / "added"),
        "INSTALLED": installed,
    }
    script = f"source {SERVER / 'provision.sh'}\nparse_args {argv}\nload_swarm_inputs\n{snippet}"
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def _swarm_args(role: str) -> str:
    return f"--swarm-role {role} " + " ".join(f"--swarm-peer {peer}" for peer in SWARM_PEERS)


def test_cluster_mode_daemon_json_has_no_live_restore(tmp_path: Path) -> None:
    import json

    single = json.loads("\n".join(_provision("daemon_json", tmp_path)))
    node = json.loads("\n".join(_provision("daemon_json", tmp_path, _swarm_args("worker"))))
    assert single["live-restore"] is True  # one VDS: containers survive a dockerd restart
    assert "live-restore" not in node  # swarm refuses to start with it
    assert {k: v for k, v in single.items() if k != "live-restore"} == node
    assert node["no-new-privileges"] is True  # the daemon's default covers swarm tasks (no service input has it)


def test_cluster_mode_opens_the_swarm_ports_to_the_peers_only(tmp_path: Path) -> None:
    manager = _provision("swarm_rules", tmp_path, _swarm_args("manager"))
    assert manager == [
        f"from {peer} to any port {port} proto {proto}"
        for peer in SWARM_PEERS
        for port, proto in ((2377, "tcp"), (7946, "tcp"), (7946, "udp"), (4789, "udp"))
    ]
    worker = _provision("swarm_rules", tmp_path, _swarm_args("worker"))
    assert worker == [rule for rule in manager if "port 2377 " not in rule]  # cluster management: managers only
    assert _provision("swarm_rules", tmp_path) == []  # one VDS: none


def test_cluster_mode_ufw_rules_are_added_kept_and_a_departed_peer_s_removed(tmp_path: Path) -> None:
    owned = " comment 'botstack'"
    base = [f"ufw allow {r}{owned}" for r in ("22/tcp", "80/tcp", "443/tcp")]
    first = _provision("SSH_PORT=22; ensure_ufw_allow_rules; summary", tmp_path, _swarm_args("worker"), "\n".join(base))
    assert first[-1] == "botstack-provision: 6 changed"
    calls = Path(tmp_path / "calls").read_text().splitlines()
    assert "ufw allow from 10.0.0.12 to any port 4789 proto udp comment botstack" in calls
    assert len([c for c in calls if c.startswith("ufw allow ")]) == 6
    # provisioned: ufw lists them the way it printed them on a test host; an old peer's rule goes, a user's stays
    swarm = [f"ufw allow {line.removeprefix('ok: ufw allow ').removeprefix('changed: ufw allow ')}{owned}"
             for line in first if "ufw allow from" in line]  # fmt: skip
    gone, mine = f"ufw allow from 10.0.0.99 to any port 7946 proto udp{owned}", "ufw allow 5000/tcp"
    (tmp_path / "calls").unlink()
    again = _provision("SSH_PORT=22; ensure_ufw_allow_rules; summary", tmp_path, _swarm_args("worker"),
                       "\n".join([*base, *swarm, gone, mine]))  # fmt: skip
    assert again[-2:] == [
        "changed: ufw rule of an earlier provisioning removed: allow from 10.0.0.99 to any port 7946 proto udp",
        "botstack-provision: 1 changed",
    ]
    assert Path(tmp_path / "calls").read_text().splitlines()[-1] == (
        "ufw --force delete allow from 10.0.0.99 to any port 7946 proto udp"
    )
    # one VDS: the same three rules as ever, and nothing of the swarm
    (tmp_path / "calls").unlink()
    single = _provision("SSH_PORT=22; ensure_ufw_allow_rules; summary", tmp_path, "", "\n".join(base))
    assert single == ["ok: ufw allow 22/tcp", "ok: ufw allow 80/tcp", "ok: ufw allow 443/tcp", "botstack-provision: 0 changed"]


def test_cluster_mode_installs_curl_and_lets_tasks_out(tmp_path: Path) -> None:
    installed = "docker.io ufw unattended-upgrades sudo cron fail2ban python3-systemd"
    node = _provision("DRY_RUN=1; ensure_packages", tmp_path, _swarm_args("worker"), installed=installed)
    assert node == ["ok: Docker Engine installed", "changed: (dry run) installed curl"]
    assert _provision("DRY_RUN=1; ensure_packages", tmp_path, installed=installed)[-1] == "ok: packages installed"
    gwbridge = "-A DOCKER-USER -i docker_gwbridge -j RETURN"
    node_rules = _provision("after_rules_block", tmp_path, _swarm_args("worker"))
    single_rules = _provision("after_rules_block", tmp_path)
    assert gwbridge in node_rules and gwbridge not in single_rules
    assert [line for line in node_rules if line != gwbridge] == single_rules
    assert node_rules.index(gwbridge) < node_rules.index("-A DOCKER-USER -j DROP")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ("--swarm-peer 10.0.0.12", "--swarm-peer needs --swarm-role manager|worker (cluster mode)"),
        ("--swarm-role leader", "--swarm-role must be manager or worker"),
        ("--swarm-role worker --swarm-peer node2.example.com", "invalid swarm peer address: node2.example.com"),
        ("--swarm-role worker --swarm-peer '10.0.0.1;reboot'", "invalid swarm peer address"),
    ],
)
def test_cluster_mode_refuses_bad_swarm_inputs(argv: str, message: str, tmp_path: Path) -> None:
    script = f"source {SERVER / 'provision.sh'}\nparse_args {argv}\nload_swarm_inputs\necho loaded"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode != 0 and message in result.stderr and "loaded" not in result.stdout, result.stderr


# ---- --dry-run of the backup scripts (against the docker stand-in) -----------------------------------------------

BACKUP_SCRIPTS = ("backup.sh", "verify-backup.sh", "restore.sh", "pitr.sh", "backup-alert.sh", "backup-status.sh")
SECRET_TOKEN = "123456:SECRET-token-never-printed"  # noqa: S105 - a stand-in, checked to stay out of the output


@pytest.mark.parametrize("script", sorted(p.name for p in SERVER.glob("*.sh") if p.name not in ("lib.sh", "contract.sh")))
def test_every_server_script_documents_and_accepts_dry_run(script: str) -> None:
    assert "--dry-run" in _help(script)
    bad = subprocess.run(
        ["bash", str(SERVER / script), "--dry-run", "--no-such-option"], capture_output=True, text=True, timeout=30
    )
    error = bad.stderr.splitlines()[-1]
    assert bad.returncode != 0 and "--dry-run" not in error, "the next argument is refused, not --dry-run"


@pytest.fixture()
def backup_host(fakes: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A backup config (mode 0600) and BACKUP_DIR with one fresh and one expired dump; `curl` records too."""
    backups = tmp_path / "backups"
    backups.mkdir()
    for name, age_days in (("botstack-new.dump", 0), ("botstack-old.dump", 9)):
        dump = backups / name
        dump.write_bytes(b"PGDMP fake archive")
        (backups / f"{name}.sha256").write_text(f"{hashlib.sha256(dump.read_bytes()).hexdigest()}  {name}\n")
        (backups / f"{name}.tables").write_text("public.users\t3\nalembic\t0001\n")
        stamp = time.time() - age_days * 86400
        for path in backups.glob(f"{name}*"):
            os.utime(path, (stamp, stamp))
    (backups / "latest").symlink_to("botstack-new.dump")
    token = tmp_path / "bot_token"
    token.write_text(SECRET_TOKEN)
    config = tmp_path / "backup.env"
    config.write_text(
        f"PG_CONTAINER=botstack-prod-db\nPG_USER=botstack\nPG_DB=botstack\nBACKUP_DIR={backups}\nRETENTION_DAYS=7\n"
        f"RCLONE_REMOTE=\nALERT_CHAT_ID=-100123\nBOT_TOKEN_FILE={token}\nHEALTHCHECK_URL=https://hc.example/ping-uuid-secret\n"
    )
    config.chmod(0o600)
    curl = Path(fakes["PATH"].split(os.pathsep)[0]) / "curl"
    curl.write_text(FAKE)
    curl.chmod(0o755)
    return {**os.environ, **fakes, "BOTSTACK_BACKUP_CONFIG": str(config), "BACKUPS": str(backups)}


def _tree(directory: str) -> dict[str, tuple[float, int]]:
    return {p.name: (p.lstat().st_mtime, p.lstat().st_size) for p in Path(directory).iterdir()}


def _server(script: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SERVER / script), *args], env=env, capture_output=True, text=True, timeout=30, start_new_session=True
    )


def test_backup_dry_run_checks_then_prints_its_steps_and_writes_nothing(backup_host: dict[str, str]) -> None:
    before = _tree(backup_host["BACKUPS"])
    dry = _server("backup.sh", ["--dry-run"], backup_host)
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0] == f"botstack-backup: (dry run) would lock {backup_host['BACKUPS']}/.lock"
    assert "would dump botstack from container botstack-prod-db (pg_dump -Fc as botstack" in lines[1]
    assert "verify-backup.sh restores it into the scratch database botstack_verify" in lines[2]
    deleted = [line for line in lines if "retention would delete" in line]
    assert sorted(deleted) == [
        f"botstack-backup: (dry run) retention would delete botstack-old.dump{suffix} (older than 7 days)"
        for suffix in ("", ".sha256", ".tables")
    ]
    assert lines[-2:] == [
        "botstack-alert: (dry run) would ping the healthcheck URL with: backup ok",
        "botstack-backup: (dry run) nothing was written, deleted or sent",
    ]
    assert _tree(backup_host["BACKUPS"]) == before, "no lock, no dump, nothing deleted, `latest` unchanged"
    assert _calls(backup_host) == ["docker inspect -f {{.State.Running}} botstack-prod-db"], "no exec, no alert"
    stopped = _server("backup.sh", ["--dry-run", "--no-verify"], {**backup_host, "FAKE_RUNNING": "false"})
    assert stopped.returncode == 1 and "container botstack-prod-db is not running" in stopped.stderr
    assert not any(c.startswith("curl") for c in _calls(backup_host)), "a failed dry run alerts nobody"
    assert _tree(backup_host["BACKUPS"]) == before


def test_verify_dry_run_checks_the_dump_and_prints_the_scratch_steps(backup_host: dict[str, str]) -> None:
    backups = backup_host["BACKUPS"]
    dry = _server("verify-backup.sh", ["--dry-run"], backup_host)
    assert dry.returncode == 0, dry.stderr
    psql = "docker exec -i botstack-prod-db psql -XAtq -v ON_ERROR_STOP=1 -U botstack -d postgres -c"
    drop = f'would run: {psql} DROP\\ DATABASE\\ IF\\ EXISTS\\ \\"botstack_verify\\"'
    assert dry.stdout.splitlines() == [
        drop,
        f'would run: {psql} CREATE\\ DATABASE\\ \\"botstack_verify\\"',
        "would run: docker exec -i botstack-prod-db pg_restore -U botstack -d botstack_verify --exit-on-error --no-owner"
        f" < {backups}/botstack-new.dump",
        "botstack-verify: (dry run) would compare the tables, row counts (exact) and alembic version of botstack_verify"
        f" with {backups}/botstack-new.dump.tables",
        drop,
        "botstack-verify: (dry run) nothing was created, restored or dropped",
    ]
    assert _calls(backup_host) == ["docker inspect -f {{.State.Running}} botstack-prod-db"]
    Path(backups, "botstack-new.dump").write_bytes(b"PGDMP changed")
    bad = _server("verify-backup.sh", ["--dry-run", "botstack-new.dump"], backup_host)
    assert bad.returncode == 1 and "checksum mismatch" in bad.stderr, "the dry run checks the dump as a real run does"


def test_restore_dry_run_asks_nothing_and_names_the_writers_and_the_command(backup_host: dict[str, str]) -> None:
    dump = f"{backup_host['BACKUPS']}/botstack-new.dump"
    dry = _server("restore.sh", ["--dry-run", "botstack-new.dump"], {**backup_host, "FAKE_WRITERS": "api worker"})
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        "botstack-restore: would stop writers: api worker",
        "would run: docker exec -i botstack-prod-db pg_restore -U botstack -d botstack --clean --if-exists"
        f" --exit-on-error --single-transaction < {dump}",
        "botstack-restore: (dry run) would start the writers again; nothing was stopped or restored",
    ]
    assert _calls(backup_host) == [
        "docker inspect -f {{.State.Running}} botstack-prod-db",
        "docker ps --filter label=botstack.writer=true --format {{.Names}}",
    ], "no docker stop, exec or start"
    missing = _server("restore.sh", ["--dry-run", "none.dump"], backup_host)
    assert missing.returncode == 1 and "dump" in missing.stderr and "none.dump not found" in missing.stderr


def test_pitr_dry_run_makes_the_restore_checks_then_prints_the_plan(backup_host: dict[str, str]) -> None:
    env = {**backup_host, "FAKE_BACKUP_END": "2026-01-01 00:10:00", "FAKE_WRITERS": "api"}
    early = _server("pitr.sh", ["--dry-run", "restore", "--at", "2026-01-01 00:05:00"], env)
    assert early.returncode == 1 and "before the oldest base backup" in early.stderr
    future = _server("pitr.sh", ["--dry-run", "restore", "--at", "2999-01-01 00:00:00"], env)
    assert future.returncode == 1 and "in the future" in future.stderr
    Path(env["CALLS"]).unlink()
    dry = _server("pitr.sh", ["--dry-run", "restore", "--at", "2026-01-01 00:20:00"], env)
    assert dry.returncode == 0, dry.stderr
    one_off = (
        "docker run --rm --network none --user postgres --read-only --tmpfs /tmp --tmpfs /var/run/postgresql --cap-drop ALL"
        " --security-opt no-new-privileges -v botstack-prod-pgdata:/var/lib/postgresql/data"
        " -v /etc/botstack/secrets/pgbackrest.conf:/run/secrets/pgbackrest.conf:ro"
        " -e PGBACKREST_STANZA=botstack -e PGBACKREST_REPO1_PATH=/var/lib/pgbackrest"
    )
    lines = dry.stdout.splitlines()
    assert lines[:2] == ["botstack-pitr: would stop writers: api", "would run: docker stop -t 60 botstack-prod-db"]
    assert lines[3] == (
        f"would run: {one_off} --entrypoint pgbackrest sha256:5e1f restore --log-level-console=info --type=time"
        " --target=2026-01-01\\ 00:20:00+00 --target-action=promote"
    )
    assert lines[4] == "would run: docker start botstack-prod-db"
    assert lines[-1] == "botstack-pitr: (dry run) nothing was stopped or restored"
    changing = [c for c in _calls(env) if c.split()[1] in ("stop", "start", "run", "exec") and not c.endswith("pgbackrest info")]
    assert changing == [], "only `pgbackrest info` ran in the container"
    backup = _server("pitr.sh", ["--dry-run", "backup", "diff"], env)
    setup = _server("pitr.sh", ["--dry-run", "setup"], env)
    assert backup.stdout.splitlines() == [
        "would run: docker exec botstack-prod-db pgbackrest --repo=1 backup --type=diff --log-level-console=info"
    ]
    assert setup.stdout.splitlines() == [
        "would run: docker exec botstack-prod-db pgbackrest stanza-create",
        "would run: docker exec botstack-prod-db pgbackrest check",
    ]
    assert not [c for c in _calls(env) if c.startswith("docker exec") and not c.endswith("pgbackrest info")]


def test_alert_dry_run_prints_the_message_without_sending_or_showing_secrets(backup_host: dict[str, str]) -> None:
    dry = _server("backup-alert.sh", ["--dry-run", "failure", "backup of botstack FAILED: disk full"], backup_host)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        "botstack-alert: (dry run) would send to Telegram chat -100123 through https://api.telegram.org"
        f" (token from {Path(backup_host['HOME']) / 'bot_token'}): botstack on {os.uname().nodename}:"
        " backup of botstack FAILED: disk full",
        "botstack-alert: (dry run) would ping the healthcheck URL's /fail (failure) with: backup of botstack FAILED: disk full",
    ]
    assert SECRET_TOKEN not in dry.stdout + dry.stderr and "ping-uuid-secret" not in dry.stdout + dry.stderr
    assert _calls(backup_host) == [], "no curl"
    Path(backup_host["HOME"], "bot_token").unlink()
    unreadable = _server("backup-alert.sh", ["--dry-run", "stale", "old"], backup_host)
    assert unreadable.returncode == 1 and "not readable" in unreadable.stderr, "the dry run checks the token file"


def test_status_dry_run_reports_the_same_and_neither_alerts_nor_moves_the_marker(backup_host: dict[str, str]) -> None:
    backups = Path(backup_host["BACKUPS"])
    (backups / ".last-success").write_text(f"{int(time.time()) - 86400}\tbotstack-new.dump\t18\t2\n")
    stale = _server("backup-status.sh", ["--dry-run", "--alert"], backup_host)
    assert stale.returncode == 1 and "status: STALE: the last good backup of botstack is 24 h 0 min old" in stale.stdout
    assert "botstack-alert: (dry run) would send to Telegram chat -100123" in stale.stdout
    assert f"would run: touch {backups}/.stale-alerted" in stale.stdout
    assert not (backups / ".stale-alerted").exists() and _calls(backup_host) == []
    (backups / ".last-success").write_text(f"{int(time.time())}\tbotstack-new.dump\t18\t2\n")
    (backups / ".stale-alerted").touch()
    fresh = _server("backup-status.sh", ["--dry-run"], backup_host)
    lines = fresh.stdout.splitlines()
    assert fresh.returncode == 0 and (lines[0], lines[-1]) == (f"would run: rm -f {backups}/.stale-alerted", "status: OK")
    assert (backups / ".stale-alerted").exists()
    real = _server("backup-status.sh", [], backup_host)
    assert real.returncode == 0 and "would run" not in real.stdout and not (backups / ".stale-alerted").exists()


@pytest.mark.parametrize("script, args", [("restore.sh", ["--yes", "botstack-new.dump"]), ("pitr.sh", ["restore", "--latest"])])
def test_restores_refuse_a_cluster_s_backup_config_and_touch_nothing(
    backup_host: dict[str, str], script: str, args: list[str]
) -> None:
    config = Path(backup_host["BOTSTACK_BACKUP_CONFIG"])
    config.write_text(config.read_text().replace("PG_CONTAINER=botstack-prod-db\n", "PG_SERVICE=botstack-cluster-database\n"))
    refused = _server(script, args, backup_host)
    assert refused.returncode == 1, refused.stdout
    assert f"{script} does not work on a cluster's database yet (service botstack-cluster-database)" in refused.stderr
    assert "docs/cluster.md" in refused.stderr and "Traceback" not in refused.stderr
    assert not Path(backup_host["CALLS"]).exists() or _calls(backup_host) == [], "no docker call at all"
