"""Stack dev for real: botstack's own __main__.py under the provider test double, on the local Docker engine.

The double creates every declared network, volume, image and container through the Engine API and
runs every command, so these tests see what `pulumi up -s dev` would leave running (not the engine's
diff or ordering: see tests/double/README.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.double import DoubleError, run_program
from tests.e2e.devstack import (
    APP_SERVICES,
    BOT_TOKEN,
    PROGRAM,
    DevStack,
    remove_stack_leftovers,
    stack_config,
    wait_until,
)
from tests.setup import POSTGRES_IMAGE

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
    tables = full_stack.container("database").exec_run(
        ["psql", "-U", "botstack", "-d", "botstack", "-Atc", "select version_num from alembic_version"], user="999:999"
    )
    assert tables.exit_code == 0 and tables.output.strip(), tables.output


def test_the_worker_completes_a_job_created_through_the_api(full_stack):
    post = full_stack.create_post("published by the worker")

    def published() -> dict[str, Any] | None:
        current = full_stack.post(post["id"])
        return current if current["status"] == "published" else None

    done = wait_until(published, 60, "the worker published the post")
    assert done["publish_count"] == 1


def test_the_bot_answers_start(full_stack):
    sent = wait_until(lambda: full_stack.bot_api.sent(), 60, "the bot answered /start")
    assert any(int(message["chat_id"]) == 4242 for message in sent)


def test_docker_inspect_shows_what_was_declared(full_stack):
    for service in ("database", "cache", *APP_SERVICES, "web"):
        attrs = full_stack.container(service).attrs
        host, config = attrs["HostConfig"], attrs["Config"]
        assert host["Memory"] >= 64 * 1024 * 1024 and host["MemoryReservation"] < host["Memory"], service
        assert host["NanoCpus"] > 0, service
        assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}, service
        assert host["RestartPolicy"]["Name"] == "unless-stopped", service
        assert config["User"] and not config["User"].startswith("0"), service
        assert host["CapDrop"] == ["ALL"] and not host["CapAdd"], service
        assert host["SecurityOpt"] == ["no-new-privileges:true"], service
        assert host["ReadonlyRootfs"] is True, service
        assert not host["Privileged"], service
        assert config["Healthcheck"]["Test"][0] in ("CMD", "CMD-SHELL"), service
        env = "\n".join(config.get("Env") or [])
        assert BOT_TOKEN not in env and "postgresql://" not in env and "redis://" not in env, f"{service}: a secret in Env"


def test_nothing_listens_on_every_address(full_stack):
    for container in full_stack.client.containers.list(filters={"label": f"botstack.stack={full_stack.stack}"}):
        for bindings in (container.attrs["HostConfig"]["PortBindings"] or {}).values():
            for binding in bindings or []:
                assert binding["HostIp"] == "127.0.0.1", container.name


@pytest.mark.parametrize(("network", "reachable"), [("backend", True), ("edge", False)])
def test_the_database_is_reachable_only_from_the_backend_network(full_stack, network, reachable):
    probe = full_stack.client.containers.run(
        POSTGRES_IMAGE,
        ["pg_isready", "-h", "db", "-p", "5432", "-t", "3"],
        network=f"botstack-{full_stack.stack}-{network}",
        remove=True,
        detach=True,
        user="999:999",
        labels={"botstack.e2e": "1"},
    )
    status = probe.wait(timeout=30)["StatusCode"]
    assert (status == 0) is reachable, f"pg_isready from {network}: exit {status}"


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
