"""The stand-in images honour the official images' contracts, checked on the real engine.

Each server runs the way botstack runs it (non-root uid 999, read-only root, tmpfs, named volume,
a user network) and is reached from another container over that network, never from the host.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
import pytest
from docker.models.containers import Container

from tests.e2e.devstack import BOT_TOKEN, STANDIN_SCRIPT, free_port
from tests.setup import CADDY_IMAGE, POSTGRES_IMAGE, PYTHON_IMAGE, REDIS_IMAGE

pytestmark = pytest.mark.e2e

PG_DATA = "/var/lib/postgresql/data"
PG_PASSWORD = "fake-pg-password-1"
PG_TMPFS = {"/var/run/postgresql": "", "/tmp": ""}


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Call `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def run(container: Container, *cmd: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = container.exec_run(list(cmd), environment=env or {})
    return result.exit_code, result.output.decode(errors="replace").strip()


def ok(container: Container, *cmd: str, env: dict[str, str] | None = None) -> str:
    code, out = run(container, *cmd, env=env)
    assert code == 0, f"{' '.join(cmd)} -> {code}: {out}"
    return out


def logs(container: Container) -> str:
    return container.logs().decode(errors="replace")


def secret_file(tmp_path_factory: pytest.TempPathFactory, name: str, value: str) -> str:
    path = Path(tmp_path_factory.mktemp("secrets")) / name
    path.write_text(value + "\n")  # trailing newline: _FILE readers must strip it
    os.chmod(path, 0o444)  # as botstack writes them: the containers' non-root users read them
    return str(path)


@pytest.fixture(scope="module")
def net(real_parts: dict[str, str], docker_scratch) -> str:
    return docker_scratch.network("net").name


@pytest.fixture(scope="module")
def pg_client(docker_scratch, net: str) -> Container:
    """A container with psql/pg_isready on the network, for connecting over TCP like the app does."""
    return docker_scratch.run(POSTGRES_IMAGE, "pgclient", entrypoint=["sleep", "infinity"], network=net)


def start_postgres(scratch, net: str, short: str, volume: str, env: dict[str, str], **kwargs: object) -> Container:
    return scratch.run(
        POSTGRES_IMAGE,
        short,
        environment=env,
        volumes={volume: {"bind": PG_DATA, "mode": "rw"}, **kwargs.pop("volumes", {})},  # type: ignore[dict-item]
        network=net,
        **kwargs,
    )


def wait_tcp_ready(client: Container, host: str, server: Container) -> None:
    def ready() -> bool:
        server.reload()
        assert server.status != "exited", f"{server.name} exited:\n{logs(server)[-3000:]}"
        return run(client, "pg_isready", "-h", host, "-p", "5432")[0] == 0

    wait_until(ready, 60, f"{host} to accept TCP connections")


def psql(client: Container, url: str, sql: str, password: str | None) -> tuple[int, str]:
    env = {"PGPASSWORD": password} if password is not None else {}
    return run(client, "psql", url, "-w", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql, env=env)


@pytest.fixture(scope="module")
def pg(docker_scratch, net: str, pg_client: Container, tmp_path_factory) -> Container:
    """postgres as botstack runs it: --user 999:999, read-only root, tmpfs, _FILE password."""
    password_file = secret_file(tmp_path_factory, "db_password", PG_PASSWORD)
    volume = docker_scratch.volume("pgdata").name
    server = start_postgres(
        docker_scratch,
        net,
        "db",
        volume,
        {"POSTGRES_USER": "botstack", "POSTGRES_DB": "botstack", "POSTGRES_PASSWORD_FILE": "/run/secrets/db"},
        volumes={password_file: {"bind": "/run/secrets/db", "mode": "ro"}},
        user="999:999",
        read_only=True,
        tmpfs=PG_TMPFS,
    )
    wait_tcp_ready(pg_client, server.name, server)
    return server


def test_postgres_creates_db_named_like_user_and_needs_password_over_tcp(pg: Container, pg_client: Container):
    url = f"postgresql://botstack@{pg.name}:5432/botstack"
    code, out = psql(pg_client, url, "select current_database() || ',' || current_user", PG_PASSWORD)
    assert (code, out) == (0, "botstack,botstack")

    code, out = psql(pg_client, url, "select 1", None)
    assert code != 0 and "no password supplied" in out
    code, out = psql(pg_client, url, "select 1", "wrong-password")
    assert code != 0 and "password authentication failed" in out

    stored = psql(pg_client, url, "select rolpassword from pg_authid where rolname = 'botstack'", PG_PASSWORD)[1]
    assert stored.startswith("SCRAM-SHA-256$")
    assert psql(pg_client, url, "show server_encoding", PG_PASSWORD)[1] == "UTF8"
    # Inside the container the local socket is trusted, as in the official image.
    assert ok(pg, "psql", "-U", "botstack", "-w", "-Atc", "select 42") == "42"
    # The password came from the file and is not in the container's environment.
    assert PG_PASSWORD not in str(pg.attrs["Config"]["Env"])


def test_postgres_runs_as_999_on_a_read_only_root_with_its_tools(pg: Container):
    assert pg.attrs["HostConfig"]["ReadonlyRootfs"] is True
    assert re.search(r"^Uid:\s+999\s", ok(pg, "cat", "/proc/1/status"), re.M)
    assert ok(pg, "stat", "-c", "%u:%g %a", PG_DATA) == "999:999 700"
    code, out = run(pg, "touch", "/etc/botstack-probe")
    assert code != 0 and "Read-only file system" in out
    for tool in ("pg_isready", "psql", "pg_dump", "pg_restore"):
        assert "15." in ok(pg, tool, "--version"), tool
    image = pg.client.images.get(POSTGRES_IMAGE)
    assert image.attrs["Config"]["StopSignal"] == "SIGINT"
    assert "5432/tcp" in image.attrs["Config"]["ExposedPorts"]
    assert f"PGDATA={PG_DATA}" in image.attrs["Config"]["Env"]


def test_postgres_restart_on_existing_volume_keeps_data_and_does_not_reinit(
    docker_scratch, net: str, pg_client: Container, tmp_path_factory
):
    volume = docker_scratch.volume("pgkeep").name
    first_pw = secret_file(tmp_path_factory, "first", "fake-first-password")
    opts = {"user": "999:999", "read_only": True, "tmpfs": PG_TMPFS}
    env = {"POSTGRES_USER": "keeper", "POSTGRES_DB": "keepdb", "POSTGRES_PASSWORD_FILE": "/run/secrets/db"}
    first = start_postgres(
        docker_scratch, net, "keep1", volume, env, volumes={first_pw: {"bind": "/run/secrets/db", "mode": "ro"}}, **opts
    )
    wait_tcp_ready(pg_client, first.name, first)
    url1 = f"postgresql://keeper@{first.name}:5432/keepdb"
    assert psql(pg_client, url1, "create table t (v text); insert into t values ('kept')", "fake-first-password")[0] == 0
    docker_scratch.remove_container(first)  # SIGINT: fast shutdown with a checkpoint

    second_pw = secret_file(tmp_path_factory, "second", "fake-second-password")
    second = start_postgres(
        docker_scratch, net, "keep2", volume, env, volumes={second_pw: {"bind": "/run/secrets/db", "mode": "ro"}}, **opts
    )
    wait_tcp_ready(pg_client, second.name, second)
    url2 = f"postgresql://keeper@{second.name}:5432/keepdb"
    assert psql(pg_client, url2, "select v from t", "fake-first-password") == (0, "kept")
    # No new initdb: the password of the first start still holds, the new one was ignored.
    assert psql(pg_client, url2, "select 1", "fake-second-password")[0] != 0
    assert "Skipping initialization" in logs(second)
    assert "init process complete" not in logs(second)


def test_postgres_as_root_drops_to_postgres_and_runs_initdb_scripts(
    docker_scratch, net: str, pg_client: Container, tmp_path_factory
):
    initdb = Path(tmp_path_factory.mktemp("initdb"))
    (initdb / "10-schema.sql").write_text("create table seeded (v text); insert into seeded values ('from-sql');\n")
    (initdb / "20-more.sh").write_text(
        '#!/bin/sh\npsql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "insert into seeded values (\'from-sh\')"\n'
    )
    for entry in (initdb, *initdb.iterdir()):
        entry.chmod(0o755)  # the scripts run as postgres (999), as in the official image
    server = start_postgres(
        docker_scratch,
        net,
        "rootstart",
        docker_scratch.volume("pgroot").name,
        {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "fake-env-password", "POSTGRES_DB": "appdb"},
        volumes={str(initdb): {"bind": "/docker-entrypoint-initdb.d", "mode": "ro"}},
    )
    wait_tcp_ready(pg_client, server.name, server)
    url = f"postgresql://app@{server.name}:5432/appdb"
    assert psql(pg_client, url, "select string_agg(v, ',' order by v) from seeded", "fake-env-password") == (
        0,
        "from-sh,from-sql",
    )
    assert re.search(r"^Uid:\s+999\s", ok(server, "cat", "/proc/1/status"), re.M)


def test_postgres_refuses_to_initialise_without_a_password(docker_scratch, net: str):
    server = start_postgres(docker_scratch, net, "nopw", docker_scratch.volume("pgnopw").name, {}, user="999:999")
    status = server.wait(timeout=60)
    assert status["StatusCode"] != 0
    assert "superuser password is not specified" in logs(server)


@pytest.fixture(scope="module")
def redis_client(docker_scratch, net: str) -> Container:
    return docker_scratch.run(REDIS_IMAGE, "redisclient", entrypoint=["sleep", "infinity"], network=net)


def test_redis_answers_other_containers_without_password_as_999_read_only(docker_scratch, net: str, redis_client: Container):
    server = docker_scratch.run(
        REDIS_IMAGE,
        "cache",
        network=net,
        user="999:999",
        read_only=True,
        volumes={docker_scratch.volume("redisdata").name: {"bind": "/data", "mode": "rw"}},
    )
    host = server.name
    wait_until(lambda: run(redis_client, "redis-cli", "-h", host, "ping") == (0, "PONG"), 30, "redis PING")
    assert ok(redis_client, "redis-cli", "-h", host, "config", "get", "protected-mode") == "protected-mode\nno"
    assert ok(redis_client, "redis-cli", "-h", host, "config", "get", "dir") == "dir\n/data"
    assert ok(redis_client, "redis-cli", "-h", host, "set", "k", "v") == "OK"
    assert ok(redis_client, "redis-cli", "-h", host, "save") == "OK"  # writes /data on a read-only root
    assert ok(server, "stat", "-c", "%u:%g %a", "/data/dump.rdb") == "999:999 600"
    assert re.search(r"^Uid:\s+999\s", ok(server, "cat", "/proc/1/status"), re.M)


def test_redis_takes_a_config_file_argument(docker_scratch, net: str, redis_client: Container, tmp_path_factory):
    conf = Path(tmp_path_factory.mktemp("redisconf")) / "redis.conf"
    conf.write_text("port 6380\nrequirepass fake-redis-password\nappendonly yes\n")
    conf.chmod(0o444)
    server = docker_scratch.run(
        REDIS_IMAGE,
        "cacheconf",
        command=["redis-server", "/usr/local/etc/redis/redis.conf"],
        network=net,
        user="999:999",
        read_only=True,
        volumes={str(conf): {"bind": "/usr/local/etc/redis/redis.conf", "mode": "ro"}},
    )
    host = server.name
    auth = {"REDISCLI_AUTH": "fake-redis-password"}
    cli = ("redis-cli", "-h", host, "-p", "6380")
    wait_until(lambda: run(redis_client, *cli, "ping", env=auth) == (0, "PONG"), 30, "redis PING on 6380")
    assert "NOAUTH" in run(redis_client, *cli, "ping")[1]
    assert ok(redis_client, *cli, "config", "get", "appendonly", env=auth) == "appendonly\nyes"
    assert ok(redis_client, *cli, "config", "get", "protected-mode", env=auth) == "protected-mode\nno"


def test_caddy_serves_a_caddyfile(docker_scratch, net: str, tmp_path_factory):
    caddyfile = Path(tmp_path_factory.mktemp("caddy")) / "Caddyfile"
    caddyfile.write_text('{\n\tadmin off\n}\n:80 {\n\trespond /healthz 200\n\trespond /hello "hello from {$GREETING}" 200\n}\n')
    caddyfile.chmod(0o444)
    server = docker_scratch.run(
        CADDY_IMAGE,
        "web",
        network=net,
        environment={"GREETING": "the stand-in"},
        volumes={str(caddyfile): {"bind": "/etc/caddy/Caddyfile", "mode": "ro"}},
    )
    client = docker_scratch.run(CADDY_IMAGE, "webclient", command=["sleep", "infinity"], network=net)
    url = f"http://{server.name}:80"
    wait_until(lambda: run(client, "wget", "-q", "-O", "-", f"{url}/hello")[0] == 0, 30, "caddy on :80")
    assert ok(client, "wget", "-q", "-O", "-", f"{url}/hello") == "hello from the stand-in"
    assert run(server, "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/healthz")[0] == 0  # web healthcheck
    config = server.client.images.get(CADDY_IMAGE).attrs["Config"]
    assert {"XDG_DATA_HOME=/data", "XDG_CONFIG_HOME=/config"} <= set(config["Env"])
    assert config["Cmd"] == ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
    assert re.match(r"v?2\.", ok(server, "caddy", "version"))


def test_caddy_keeps_the_official_file_capability(docker_client: docker.DockerClient, real_parts):
    """Like caddy:2, /usr/bin/caddy carries cap_net_bind_service: dropping ALL needs NET_BIND_SERVICE back."""
    common = {"user": "10001:10001", "cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"]}
    with pytest.raises(docker.errors.ContainerError, match="operation not permitted"):
        docker_client.containers.run(CADDY_IMAGE, ["caddy", "version"], remove=True, **common)
    out = docker_client.containers.run(CADDY_IMAGE, ["caddy", "version"], remove=True, cap_add=["NET_BIND_SERVICE"], **common)
    assert re.match(rb"v?2\.", out)


def test_python_standin_is_debian_python_3_11_with_venv_and_pip(docker_client: docker.DockerClient, real_parts):
    script = (
        "python -c 'import sys; print(\"%d.%d.%d\" % sys.version_info[:3])' && python3 --version"
        " && pip --version && python -m venv /tmp/venv && /tmp/venv/bin/python -c 'print(\"venv-ok\")'"
    )
    out = docker_client.containers.run(PYTHON_IMAGE, ["sh", "-c", script], remove=True, labels={"botstack.e2e": "1"}).decode()
    lines = out.splitlines()
    assert lines[0] == "3.11.2"
    assert lines[-1] == "venv-ok"
    assert "python 3.11" in out


def test_bot_api_standin_container_answers_only_its_token(docker_scratch, real_parts):
    """The Bot API stand-in as the dev stack runs it: Telegram's 401 for any other token, nothing recorded for it."""
    port = free_port()
    docker_scratch.run(
        PYTHON_IMAGE,
        "telegram",
        command=["python3", "/standin.py", "0.0.0.0", "8081"],
        volumes={str(STANDIN_SCRIPT): {"bind": "/standin.py", "mode": "ro"}},
        ports={"8081/tcp": ("127.0.0.1", port)},
        environment={"STANDIN_BOT_TOKEN": BOT_TOKEN},
        user="65534:65534",
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(f"{base}/_sent"), 30, "the stand-in answers")
    wrong = httpx.post(f"{base}/bot123456789:AAWrongWrongWrongWrongWrongWrongWron/getUpdates", timeout=5)
    assert wrong.status_code == 401
    assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert httpx.get(f"{base}/_sent", timeout=5).json() == {"sent": [], "calls": []}
    right = httpx.post(f"{base}/bot{BOT_TOKEN}/getUpdates", timeout=5).json()
    assert right["ok"] is True and right["result"][0]["message"]["text"] == "/start"
    assert httpx.get(f"{base}/_sent", timeout=5).json()["calls"] == ["getUpdates"]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
