"""Session fixtures for the VDS suite: one test host, provisioned twice over real SSH."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from components.commands import shipped_files
from tests.e2e.vds.host import REPO, VdsHost, start_vds_host
from tests.e2e.vds.stackdb import start_stack_database

SERVER = REPO / "server"
DEPLOY_USER = "deploy"
PG_CONTAINER = "botstack-prod-database"
PG_IMAGE = "botstack-test/postgres:15"
# what provision.sh puts into DOCKER-USER (Docker may append its own `-j RETURN` behind the DROP)
DOCKER_USER_RULES = [
    "-N DOCKER-USER",
    "-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
    "-A DOCKER-USER -i docker0 -j RETURN",
    "-A DOCKER-USER -i br-+ -j RETURN",
    "-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 80 -j RETURN",
    "-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 443 -j RETURN",
    "-A DOCKER-USER -j DROP",
]
SUMMARY = re.compile(r"^botstack-provision: (\d+) changed$", re.M)


def changes(output: str) -> int:
    found = SUMMARY.findall(output)
    assert found, f"no summary line in:\n{output}"
    return int(found[-1])


@dataclass
class Provisioned:
    host: VdsHost
    first: subprocess.CompletedProcess
    second: subprocess.CompletedProcess
    first_seconds: float
    shipping: tuple[subprocess.Popen, subprocess.Popen] | None = None

    def wait_for_image(self) -> None:
        """Wait for the background `docker save PG_IMAGE | ssh docker load` started after provisioning."""
        if self.shipping is None:
            return
        save, load = self.shipping
        self.shipping = None
        _, err = load.communicate(timeout=600)
        assert save.wait(timeout=60) == 0 and load.returncode == 0, err.decode(errors="replace")


def ship_image(host: VdsHost, image: str) -> tuple[subprocess.Popen, subprocess.Popen] | None:
    """Start `docker save image | ssh host docker load` in the background (None: image not built)."""
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0:
        return None
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    load = subprocess.Popen([*host.ssh_argv(DEPLOY_USER), "docker load"], stdin=save.stdout,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert save.stdout is not None
    save.stdout.close()
    return save, load


@pytest.fixture(scope="session")
def vds_host() -> Iterator[VdsHost]:
    """A fresh VDS-like host: sshd on 127.0.0.1:<port>, root login with a per-session ed25519 key.

    Container ports 80 and 8080 are published on 127.0.0.1 too (`vds_host.published`)."""
    host = start_vds_host(publish=(80, 8080))
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture(scope="session")
def provisioned(vds_host: VdsHost) -> Iterator[Provisioned]:
    """server/provision.sh twice: as root (the bootstrap), then as the deploy user through sudo.

    The script travels as a file (like CopyToRemote), the public key on stdin; afterwards
    `vds_host.user` is the deploy user, as for every later connection in prod."""
    for path in shipped_files("provision.sh"):  # provision.sh loads lib.sh and contract.sh from beside it
        vds_host.put(path, f"/root/{path.name}", user="root")
    started = time.monotonic()
    first = vds_host.run(f"bash /root/provision.sh --deploy-user {DEPLOY_USER} --authorized-key-file -",
                         user="root", input=vds_host.public_key + "\n")
    first_seconds = time.monotonic() - started
    # Docker runs now: ship the database image in the background while the provisioning tests run
    shipping = ship_image(vds_host, PG_IMAGE)
    for path in shipped_files("provision.sh"):
        vds_host.put(path, path.name, user=DEPLOY_USER)
    second = vds_host.run(f"sudo bash provision.sh --deploy-user {DEPLOY_USER}", user=DEPLOY_USER)
    vds_host.user = DEPLOY_USER
    result = Provisioned(vds_host, first, second, first_seconds, shipping)
    yield result
    for proc in result.shipping or ():
        proc.kill()
        proc.wait()


@dataclass
class Database:
    host: VdsHost
    container: str = PG_CONTAINER
    db: str = "botstack"
    user: str = "botstack"

    def sql(self, query: str, db: str | None = None) -> str:
        return self.host.run(
            f"docker exec -i {self.container} psql -XAtq -v ON_ERROR_STOP=1 -U {self.user} -d {db or self.db}",
            input=query).stdout.strip()


@pytest.fixture(scope="session")
def database(provisioned: Provisioned) -> Database:
    """The stack's database container (the stand-in image, shipped with `docker save | ssh docker load`) on
    the host's own Docker, with an alembic_version table and rows, plus a labelled writer container."""
    host = provisioned.host
    provisioned.wait_for_image()
    if host.run(f"docker image inspect {PG_IMAGE}", check=False).returncode != 0:
        from tests.setup import SetupError, ensure_image

        try:
            ensure_image(PG_IMAGE)
        except SetupError as exc:  # an error of every test that needs the database, never a skip
            pytest.fail(f"{PG_IMAGE} could not be built ({exc}); see `python -m tests.setup all`", pytrace=False)
        provisioned.shipping = ship_image(host, PG_IMAGE)
        provisioned.wait_for_image()
    # the program's own database container (its components, under the double), never a hand-made `docker run`
    db = Database(host, container=start_stack_database(host, DEPLOY_USER, PG_IMAGE).container)
    db.sql("""
        CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
        INSERT INTO alembic_version VALUES ('0001_initial');
        CREATE TABLE posts (id serial PRIMARY KEY, body text NOT NULL, due timestamptz);
        INSERT INTO posts (body, due) SELECT 'post ' || g, now() + g * interval '1 minute'
          FROM generate_series(1, 1000) g;
        CREATE TABLE users (id bigint PRIMARY KEY, name text);
        INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 50) g;
    """)
    # a writer like api/worker/bot: the restore stops and restarts containers with this label
    host.run(f"docker run -d --init --name botstack-prod-worker --label botstack.writer=true --entrypoint sleep "
             f"{PG_IMAGE} infinity")
    return db


@pytest.fixture(scope="session")
def backups(database: Database) -> Database:
    """server/install-backups.sh run from a scripts directory like the one CopyToRemote makes."""
    host = database.host
    # server/*.sh are in botstack/server already (start_stack_database copies them like the Server component)
    out = host.run(f"sudo bash botstack/server/install-backups.sh --container {database.container} "
                   f"--db {database.db} --db-user {database.user} --retention-days 7").stdout
    assert changes(out) > 0, out
    return database
