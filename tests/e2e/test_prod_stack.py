"""Stack prod for real: botstack's __main__.py through the provider test double against a VDS-like test host.

The host (systemd, sshd, no Docker) is reached only on 127.0.0.1. The program provisions it over SSH as
root, then as the deploy user, runs the containers on its engine through the `ssh://` docker provider
with the host key pinned, migrates, installs backups and checks the deploy through the proxy.

No registry is reachable here, so the apply is staged like `pulumi up --target`: first the Server
component alone (provisioning installs Docker), then the app images are shipped with
`docker save | ssh docker load` (what a registry pull would do), then the whole program with the same
state, where the provisioning steps must be unchanged.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.double import RealMocks, run_program
from tests.e2e.cis import container_checks, run_checks
from tests.e2e.devstack import PROGRAM, REPO, alembic_head, assert_no_secret_in_plain_state, leaked
from tests.e2e.vds.host import VdsHost, start_vds_host
from tests.setup import BACKEND_IMAGE, POSTGRES_IMAGE, REDIS_IMAGE, WEB_IMAGE

pytestmark = pytest.mark.e2e

STACK = "e2eprod"
DEPLOY_USER = "deploy"
ALEMBIC_VERSION = "select version_num from alembic_version"
IMAGES = (POSTGRES_IMAGE, REDIS_IMAGE, BACKEND_IMAGE, WEB_IMAGE)


def prod_config(host: VdsHost, host_key: str | None = None) -> dict[str, str]:
    config: dict[str, Any] = {
        "profile": "minimal",
        "vds": {
            "host": host.host,
            "port": host.port,
            "user": DEPLOY_USER,
            "bootstrapUser": "root",
            "hostKey": host_key or host.host_key,
        },
        "sshPrivateKey": host.key_path.read_text(),
        "images": {"backend": BACKEND_IMAGE, "web": WEB_IMAGE, "postgres": POSTGRES_IMAGE, "redis": REDIS_IMAGE},
        "deployCheck": {"url": f"http://127.0.0.1:{host.published[80]}/api/health", "timeoutSeconds": 90},
    }
    return {f"botstack:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def provision_only() -> None:
    """The Server component alone, as `pulumi up --target` of the server resources would run it."""
    from components.config_loading import load_config
    from components.placement import server_args
    from components.server import Server

    Server("server", server_args(load_config()))


def ship_images(host: VdsHost) -> None:
    save = subprocess.Popen(["docker", "save", *IMAGES], stdout=subprocess.PIPE)
    load = subprocess.run([*host.ssh_argv(DEPLOY_USER), "docker load"], stdin=save.stdout, capture_output=True)
    assert save.stdout is not None
    save.stdout.close()
    assert save.wait() == 0 and load.returncode == 0, load.stderr.decode()


class ProdStack:
    def __init__(self, host: VdsHost) -> None:
        self.host = host
        self.mocks = RealMocks(REPO)
        self.outputs: dict[str, Any] = {}

    def up(self, **overrides: Any) -> dict[str, Any]:
        self.outputs = run_program(PROGRAM, prod_config(self.host, **overrides), stack=STACK, mocks=self.mocks)
        return self.outputs

    def vds(self, command: str) -> str:
        return self.host.run(command, user=DEPLOY_USER).stdout

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.host.published[80]}"


@pytest.fixture(scope="module")
def prod(real_parts) -> Iterator[ProdStack]:
    host = start_vds_host(publish=(80,))
    stack = ProdStack(host)
    try:
        run_program(provision_only, prod_config(host), stack=STACK, mocks=stack.mocks)
        ship_images(host)
        stack.up()
        yield stack
    finally:
        host.stop()  # the whole VDS goes, its engine and volumes with it


def test_the_app_answers_through_the_proxy(prod):
    response = httpx.get(f"{prod.url}/api/health", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["database"] == "ok"


def test_provisioning_ran_once_and_was_unchanged_on_the_full_apply(prod):
    actions = {(action, name) for action, _, name in prod.mocks.actions()}
    assert ("created", "server-bootstrap") in actions and ("created", "server-provision") in actions
    assert ("unchanged", "server-bootstrap") in actions and ("unchanged", "server-provision") in actions
    assert not any(action in ("replaced", "updated") and name.startswith("server-") for action, name in actions)


def test_containers_run_on_the_vds_engine_hardened(prod):
    # by label: api and worker have provider-generated names (create-before-delete replacement)
    lines = prod.vds(
        f"docker ps --filter label=botstack.stack={STACK} --format '{{{{.Label \"botstack.service\"}}}} {{{{.Status}}}}'"
    ).splitlines()
    running = {line.split()[0]: line for line in lines}
    assert set(running) == {"database", "cache", "api", "web"}, lines
    for service, line in running.items():
        assert "(healthy)" in line, (service, line)
    inspect = json.loads(prod.vds(f"docker inspect botstack-{STACK}-database"))[0]
    assert inspect["HostConfig"]["PortBindings"] in ({}, None), "the database never publishes in prod"
    assert inspect["HostConfig"]["ReadonlyRootfs"] and inspect["Config"]["User"] == "999:999"
    env = "\n".join(inspect["Config"]["Env"])
    assert "POSTGRES_PASSWORD_FILE=/run/secrets/db_password" in env and "POSTGRES_PASSWORD=" not in env


def test_cis_docker_benchmark_over_every_container_on_the_vds(prod):
    """CIS Docker 4.x/5.x over `docker inspect` of every container on the VDS: PASS, or WAIVED with the reason."""
    ids = prod.vds(f"docker ps -q --filter label=botstack.stack={STACK}").split()
    inspected = json.loads(prod.vds("docker inspect " + " ".join(ids)))
    print(f"\n# CIS Docker Benchmark 4.x/5.x over the prod stack's {len(inspected)} containers on the VDS")
    checks = []
    for attrs in inspected:
        service = attrs["Config"]["Labels"]["botstack.service"]
        checks += container_checks(service, attrs, public=service == "web")
    passed, waived, failed = run_checks(checks)
    assert not failed, failed
    assert waived == len(inspected) + 2  # 5.14 everywhere; 5.7 and 5.13 for the public web entrypoint


def test_secrets_are_files_only_root_can_list(prod):
    listing = prod.host.run("sudo stat -c '%a %U %n' /etc/botstack/secrets /etc/botstack/secrets/db_password", user=DEPLOY_USER)
    assert listing.stdout.splitlines() == ["700 root /etc/botstack/secrets", "444 root /etc/botstack/secrets/db_password"]
    assert prod.host.run("ls /etc/botstack/secrets", user=DEPLOY_USER, check=False).returncode != 0


def test_migrations_ran_once(prod):
    version = prod.vds(
        f"docker exec botstack-{STACK}-database psql -U botstack -d botstack -Atc {shlex.quote(ALEMBIC_VERSION)}"
    )
    assert version.split() == [alembic_head()]
    created = [name for action, _, name in prod.mocks.actions() if action == "created"]
    assert created.count("migrations-run") == 1


def test_backups_are_installed_and_produce_a_verified_dump(prod):
    cron = prod.vds("cat /etc/cron.d/botstack-backup")
    assert "0 */6 * * *" in cron
    out = prod.host.run("sudo /usr/local/lib/botstack/backup.sh", user=DEPLOY_USER, timeout=300)
    assert out.returncode == 0, out.stderr
    listing = prod.vds("sudo ls /var/backups/botstack")
    assert any(name.endswith(".dump") for name in listing.split()), listing


def test_a_second_up_with_nothing_changed_does_nothing(prod):
    before = len(prod.mocks.log)
    prod.up()
    again = prod.mocks.actions()[before:]
    assert again and all(action == "unchanged" for action, _, _ in again), [a for a in again if a[0] != "unchanged"]


# On the VDS, for each container of the stack: `docker inspect`, then each process's service, pid, uid/gid lines,
# command line and environment (pids from `docker top`, read from the VDS's /proc as root).
CONTAINER_DUMP = f"""
for c in $(docker ps -q --filter label=botstack.stack={STACK}); do
  docker inspect "$c"
  service=$(docker inspect -f '{{{{index .Config.Labels "botstack.service"}}}}' "$c")
  for p in $(docker top "$c" -o pid | tail -n +2); do
    echo "== process $service $p $(grep -E '^(Uid|Gid):' /proc/$p/status | tr -s '[:space:]' ' ')"
    tr '\\0' ' ' < /proc/$p/cmdline; echo
    tr '\\0' '\\n' < /proc/$p/environ; echo
  done
done
"""
USERS = {"database": "999", "cache": "999", "api": "10001", "web": "10001"}


def test_no_secret_on_the_vds_engine_or_in_the_state_and_every_process_runs_as_its_user(prod):
    values = {
        name: prod.host.run(f"sudo cat /etc/botstack/secrets/{name}", user=DEPLOY_USER).stdout
        for name in ("db_password", "redis_password", "jwt_secret")
    }
    assert all(len(value) >= 12 for value in values.values())
    secrets = {**values, "ssh_private_key": prod.host.key_path.read_text()}
    dump = prod.host.run(f"sudo sh -c {shlex.quote(CONTAINER_DUMP)}", user=DEPLOY_USER).stdout
    assert not leaked(dump, secrets), "docker inspect, a command line or an environment on the VDS"
    processes = [line.split() for line in dump.splitlines() if line.startswith("== process ")]
    assert {p[2] for p in processes} == set(USERS), processes
    for _, _, service, pid, *ids in processes:
        uid = gid = USERS[service]
        assert ids == ["Uid:", uid, uid, uid, uid, "Gid:", gid, gid, gid, gid], f"{service} pid {pid}: {ids}"
    assert_no_secret_in_plain_state(prod.mocks, secrets)


# Everything an `up` could change on the VDS: containers (by id), volumes, networks, and the files provisioning,
# secrets, scripts and backups put there (by content).
HOST_SNAPSHOT = (
    "docker ps -a --no-trunc --format '{{.ID}} {{.Names}} {{.State}}' | sort; "
    "docker volume ls -q | sort; docker network ls -q | sort; "
    "find /etc/botstack /usr/local/lib/botstack /etc/cron.d /etc/ssh /etc/sudoers.d /etc/docker "
    f"/home/{DEPLOY_USER}/.ssh /home/{DEPLOY_USER}/botstack -type f -exec sha256sum {{}} + | sort"
)


def host_snapshot(prod: ProdStack) -> str:
    return prod.host.run(f"sudo sh -c {shlex.quote(HOST_SNAPSHOT)}", user=DEPLOY_USER).stdout


def test_a_changed_host_key_fails_the_deploy_instead_of_connecting(prod, tmp_path):
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    wrong = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    before = host_snapshot(prod)
    assert "botstack-e2eprod-database" in before and "/etc/botstack/secrets/db_password" in before
    # pulumi-command's error for a pinned key that doesn't match (Go's ssh.FixedHostKey)
    with pytest.raises(Exception, match=r"ssh: handshake failed: ssh: host key mismatch"):
        prod.up(host_key=wrong)
    assert host_snapshot(prod) == before, "the refused deploy changed something on the host"
    assert httpx.get(f"{prod.url}/api/health", timeout=10).status_code == 200
