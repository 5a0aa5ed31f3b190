"""Stack dev for real: botstack's own __main__.py under the provider test double, on the local Docker engine.

The double creates every declared network, volume, image and container through the Engine API and
runs every command, so these tests see what `pulumi up -s dev` would leave running (not the engine's
diff or ordering: see tests/double/README.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.double import DoubleError, run_program
from tests.e2e.cis import container_checks, run_checks
from tests.e2e.devstack import (
    APP_SERVICES,
    BOT_TOKEN,
    PROGRAM,
    REPO,
    START_REPLY,
    DevStack,
    alembic_head,
    assert_no_secret_in_plain_state,
    leaked,
    remove_stack_leftovers,
    stack_config,
    wait_until,
)
from tests.setup import POSTGRES_IMAGE, PYTHON_IMAGE

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def full_stack(real_parts, docker_client) -> Iterator[DevStack]:
    stack = DevStack(docker_client, "e2efull", "full")
    remove_stack_leftovers(docker_client, stack.stack)
    stack.start_bot_api()
    try:
        stack.up()
        print(f"\ne2e: dev stack 'full' applied and healthy in {stack.apply_seconds:.1f} s")
        yield stack
    finally:
        stack.teardown()


def test_every_container_is_healthy(full_stack):
    for service in ("database", "cache", *APP_SERVICES, "web"):
        state = full_stack.container(service).attrs["State"]
        assert state["Running"] and state["Health"]["Status"] == "healthy", service


def test_health_through_the_web_entrypoint(full_stack):
    response = httpx.get(f"{full_stack.url}/api/health", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["database"] == "ok" and response.json()["redis"] == "ok"
    assert httpx.get(f"{full_stack.url}/", timeout=10).status_code == 200


def test_migrations_ran_before_the_api_started(full_stack):
    created = [name for action, _, name in full_stack.actions() if action == "created"]
    assert created.index("migrations-run") < created.index("api-container")
    version = full_stack.container("database").exec_run(
        ["psql", "-U", "botstack", "-d", "botstack", "-Atc", "select version_num from alembic_version"], user="999:999"
    )
    assert version.exit_code == 0, version.output
    assert version.output.decode().split() == [alembic_head()]


def test_the_worker_completes_a_job_created_through_the_api(full_stack):
    post = full_stack.create_post("published by the worker")

    def published() -> dict[str, Any] | None:
        current = full_stack.post(post["id"])
        return current if current["status"] == "published" else None

    done = wait_until(published, 60, "the worker published the post")
    assert done["publish_count"] == 1


def test_the_bot_answers_start(full_stack):
    # The stand-in answers only the stack's token (any other gets 401 and is not recorded).
    sent = wait_until(lambda: full_stack.bot_api.sent(), 60, "the bot answered /start")
    assert [(int(message["chat_id"]), message["text"]) for message in sent] == [(4242, START_REPLY)]


MB = 1024 * 1024
# service -> (memory, reservation, NanoCpus, uid:gid): the stack's defaults (tests/unit/test_stack.py) on the engine
EXPECTED_ON_THE_ENGINE = {
    "database": (1024 * MB, 512 * MB, 1_000_000_000, "999:999"),
    "cache": (256 * MB, 64 * MB, 500_000_000, "999:999"),
    "api": (384 * MB, 128 * MB, 500_000_000, "10001:10001"),
    "worker": (384 * MB, 128 * MB, 500_000_000, "10001:10001"),
    "bot": (512 * MB, 256 * MB, 1_000_000_000, "10001:10001"),
    "web": (128 * MB, 32 * MB, 250_000_000, "10001:10001"),
}


def process_ids(container: Any) -> dict[str, tuple[str, str]]:
    """Every process of a running container (host pids, from `docker top`) -> its (Uid, Gid) lines of /proc/<pid>/status:
    real, effective, saved and filesystem ids."""
    top = container.top(ps_args="-o pid,args")
    found = {}
    for pid, _ in top["Processes"]:
        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
        found[pid] = (status["Uid"].split(), status["Gid"].split())
    return found


def test_every_process_runs_as_its_service_user(full_stack):
    for service, (_, _, _, user) in EXPECTED_ON_THE_ENGINE.items():
        container = full_stack.container(service)
        uid, gid = user.split(":")
        processes = process_ids(container)
        assert processes, f"{service}: no process"
        for pid, (uids, gids) in processes.items():
            assert uids == [uid] * 4 and gids == [gid] * 4, f"{service}: pid {pid} runs as uid {uids} gid {gids}"


def test_docker_inspect_shows_what_was_declared(full_stack):
    for service, (memory, reservation, nano_cpus, user) in EXPECTED_ON_THE_ENGINE.items():
        attrs = full_stack.container(service).attrs
        host, config = attrs["HostConfig"], attrs["Config"]
        assert (host["Memory"], host["MemoryReservation"], host["NanoCpus"]) == (memory, reservation, nano_cpus), service
        assert config["User"] == user, service
        assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}, service
        assert host["RestartPolicy"]["Name"] == "unless-stopped", service
        assert host["CapDrop"] == ["ALL"] and not host["CapAdd"], service
        assert host["SecurityOpt"] == ["no-new-privileges:true"], service
        assert host["ReadonlyRootfs"] is True, service
        assert not host["Privileged"], service
        assert config["Healthcheck"]["Test"][0] in ("CMD", "CMD-SHELL"), service
        env = "\n".join(config.get("Env") or [])
        assert "postgresql://" not in env and "redis://" not in env, f"{service}: a URL with a password in Env"


def test_cis_docker_benchmark_over_every_container(full_stack):
    """CIS Docker 4.x/5.x over `docker inspect` of every container: each check PASS or WAIVED with its reason."""
    containers = full_stack.client.containers.list(filters={"label": f"botstack.stack={full_stack.stack}"})
    services = {c.labels["botstack.service"] for c in containers}
    assert services == {"database", "cache", *APP_SERVICES, "web"}, services
    print(f"\n# CIS Docker Benchmark 4.x/5.x over the dev 'full' stack's {len(containers)} containers")
    checks = [check for c in containers for check in container_checks(c.labels["botstack.service"], c.attrs)]
    passed, waived, failed = run_checks(checks)
    assert not failed, failed
    assert waived == len(containers)  # 5.14 (restart policy) only


def test_nothing_listens_on_every_address(full_stack):
    for container in full_stack.client.containers.list(filters={"label": f"botstack.stack={full_stack.stack}"}):
        for bindings in (container.attrs["HostConfig"]["PortBindings"] or {}).values():
            for binding in bindings or []:
                assert binding["HostIp"] == "127.0.0.1", container.name


# Connects to host:port and prints what happened: connected, refused, timeout, or the errno's name.
TCP_PROBE = """
import errno, socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
    print("connected")
except ConnectionRefusedError:
    print("refused")
except (TimeoutError, socket.timeout):
    print("timeout")
except OSError as exc:
    print(errno.errorcode.get(exc.errno, str(exc)))
"""


def tcp_probe(full_stack: DevStack, network: str, address: str, port: int) -> str:
    probe = full_stack.client.containers.run(
        PYTHON_IMAGE,
        ["python3", "-c", TCP_PROBE, address, str(port)],
        network=f"botstack-{full_stack.stack}-{network}",
        detach=True,
        user="65534:65534",
        labels={"botstack.e2e": "1"},
    )
    try:
        assert probe.wait(timeout=30)["StatusCode"] == 0, probe.logs().decode()
        return probe.logs().decode().strip()
    finally:
        probe.remove(force=True)


def test_the_database_is_on_the_backend_network_only(full_stack):
    networks = full_stack.container("database").attrs["NetworkSettings"]["Networks"]
    assert set(networks) == {f"botstack-{full_stack.stack}-backend"}


@pytest.mark.parametrize(("network", "expected"), [("backend", {"connected"}), ("edge", {"refused", "timeout"})])
def test_the_database_port_answers_only_from_the_backend_network(full_stack, network, expected):
    # By address, not by name: from edge the name `db` doesn't resolve, which would prove nothing about the route.
    address = full_stack.container("database").attrs["NetworkSettings"]["Networks"][f"botstack-{full_stack.stack}-backend"][
        "IPAddress"
    ]
    assert address
    assert tcp_probe(full_stack, network, address, 5432) in expected


def test_pg_isready_answers_by_name_from_the_backend_network(full_stack):
    probe = full_stack.client.containers.run(
        POSTGRES_IMAGE,
        ["pg_isready", "-h", "db", "-p", "5432", "-t", "3"],
        network=f"botstack-{full_stack.stack}-backend",
        detach=True,
        user="999:999",
        labels={"botstack.e2e": "1"},
    )
    try:
        assert probe.wait(timeout=30)["StatusCode"] == 0, probe.logs().decode()
    finally:
        probe.remove(force=True)


def stack_secrets(full_stack: DevStack) -> dict[str, str]:
    """The stack's secret values, read from the files write-secrets.sh made (what the containers mount)."""
    directory = REPO / ".botstack" / full_stack.stack / "secrets"
    values = {name: (directory / name).read_text() for name in ("db_password", "redis_password", "jwt_secret", "bot_token")}
    assert values["bot_token"] == BOT_TOKEN
    assert all(len(value) >= 12 for value in values.values()), "a secret file is (nearly) empty"
    return values


def test_no_secret_in_docker_inspect_or_any_container_process(full_stack):
    secrets = stack_secrets(full_stack)
    containers = full_stack.client.containers.list(filters={"label": f"botstack.stack={full_stack.stack}"})
    assert {c.labels["botstack.service"] for c in containers} == {"database", "cache", *APP_SERVICES, "web"}
    for container in containers:
        assert not leaked(json.dumps(container.attrs), secrets), f"{container.name}: docker inspect"
        for pid in process_ids(container):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = Path(f"/proc/{pid}/environ").read_bytes().replace(b"\0", b"\n").decode(errors="replace")
            assert not leaked(argv, secrets), f"{container.name}: pid {pid}'s command line"
            assert not leaked(environ, secrets), f"{container.name}: pid {pid}'s environment"
        assert not leaked(container.logs().decode(errors="replace"), secrets), f"{container.name}: its log"


def test_no_secret_in_plain_text_in_the_state_the_double_keeps(full_stack):
    assert_no_secret_in_plain_state(full_stack.mocks, stack_secrets(full_stack))


def test_nothing_changed_means_nothing_happens(full_stack):
    before = len(full_stack.mocks.log)
    full_stack.up()
    again = full_stack.actions()[before:]
    assert again and all(action == "unchanged" for action, _, _ in again), [a for a in again if a[0] != "unchanged"]


def test_data_survives_replacing_the_database_container(full_stack):
    post = full_stack.create_post("kept across a replacement")
    old_id = full_stack.container("database").id
    before = len(full_stack.mocks.log)
    # cpus forces replacement (pulumi-docker: ForceNew); the data volume is a resource of its own.
    full_stack.up(resources={"database": {"cpus": "0.9"}})
    replaced = [name for action, _, name in full_stack.actions()[before:] if action == "replaced"]
    assert "database-container" in replaced
    assert full_stack.container("database").id != old_id
    assert wait_until(lambda: full_stack.post(post["id"]), 60, "the post is still there")["text"] == "kept across a replacement"


def test_teardown_removes_containers_and_networks_and_keeps_data_volumes(real_parts, docker_client):
    stack = DevStack(docker_client, "e2emin", "minimal")
    remove_stack_leftovers(docker_client, stack.stack)
    try:
        stack.up()
        print(f"\ne2e: dev stack 'minimal' applied and healthy in {stack.apply_seconds:.1f} s")
        assert httpx.get(f"{stack.url}/api/health", timeout=10).status_code == 200
        running = {
            c.labels["botstack.service"] for c in docker_client.containers.list(filters={"label": "botstack.stack=e2emin"})
        }
        assert running == {"database", "cache", "api", "web"}
        stack.mocks.destroy_all()
        assert not docker_client.containers.list(all=True, filters={"label": f"botstack.stack={stack.stack}"})
        assert not docker_client.networks.list(names=[f"botstack-{stack.stack}-backend", f"botstack-{stack.stack}-edge"])
        kept = {v.name for v in docker_client.volumes.list(filters={"label": f"botstack.stack={stack.stack}"})}
        assert kept == {f"botstack-{stack.stack}-{s}-data" for s in ("database", "cache", "web")}
    finally:
        stack.teardown()


def test_bad_config_fails_before_any_container_exists(real_parts, docker_client):
    stack = DevStack(docker_client, "e2ebad", "full")
    config = stack_config("full", stack.web_port)
    del config["botstack:botToken"]
    with pytest.raises(Exception, match="botstack:botToken: is required") as error:
        run_program(PROGRAM, config, stack="e2ebad", mocks=stack.mocks)
    assert not isinstance(error.value, DoubleError)
    assert not docker_client.containers.list(all=True, filters={"label": "botstack.stack=e2ebad"})
    assert not docker_client.networks.list(names=["botstack-e2ebad-backend"])


def test_a_rotated_database_password_keeps_the_app_working(full_stack):
    post = full_stack.create_post("kept across a password rotation")
    before = len(full_stack.mocks.log)
    full_stack.up(dbPassword="rotated-password-0123456789")
    changed = {name for action, _, name in full_stack.actions()[before:] if action in ("replaced", "updated")}
    # The new secret files restart every service on them, and the role gets the new password first.
    assert {"secrets-files", "database-role-password", "database-container", "api-container", "worker-container"} <= changed
    health = wait_until(lambda: httpx.get(f"{full_stack.url}/api/health", timeout=10).json(), 60, "health answers")
    assert health["database"] == "ok", health
    assert full_stack.post(post["id"])["text"] == "kept across a password rotation"
    assert full_stack.create_post("written with the new password")["id"] > post["id"]
