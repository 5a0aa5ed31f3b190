"""By hand, not in CI: the cluster's database paths on three node test hosts, with stand-ins for the app.

1. The migrations' path: on the node that runs the database task, the backend overlay (internal, attachable) is
   found by id and a one-off container with run-migrations.sh's flags reaches the database by its alias; on a node
   with no task on that network the network is not found (so the migrations run on the database node).
2. Moving a prod stack's data (docs/cluster.md): a `pg_dump -Fc` of another PostgreSQL restored into the database
   task with the documented commands: api scaled to 0, `pg_restore` into the task's container found by its service
   label, api scaled back.

    .venv/bin/python -m tests.e2e.cluster.move_check

Prints what it saw; exits non-zero if a step fails. About 40 s on a quiet machine.
"""

from __future__ import annotations

import subprocess
import time
import uuid

from components import cluster_swarm
from tests.e2e.cluster.nodes import Cluster, Node, start_cluster
from tests.e2e.vds.host import _wait

POSTGRES_IMAGE = "botstack-test/postgres:15"
PROBE_IMAGE = "botstack-test/python:3.11"
DATABASE, API = "botstack-cluster-database", "botstack-cluster-api"
PG_ENV = ["-e", "POSTGRES_USER=botstack", "-e", "POSTGRES_PASSWORD=not-a-secret", "-e", "POSTGRES_DB=botstack"]
IN_TASK = f'c=$(docker ps -q --filter label=com.docker.swarm.service.name={DATABASE}) && docker exec -i "$c"'
MIGRATION_FLAGS = ["--user", "10001:10001", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
                   "--security-opt", "no-new-privileges:true"]  # fmt: skip


def form_swarm(cluster: Cluster) -> Node:
    manager, *workers = cluster.nodes
    manager.host.run(cluster_swarm.init_script(manager.address, 1))
    token = manager.host.run(cluster_swarm.join_token_script("worker")).stdout.strip()
    for worker in workers:
        worker.host.run(cluster_swarm.join_script(worker.address, manager.address), input=token + "\n")
    return manager


def source_dump() -> bytes:
    """A database of 5,000 users and an alembic version, dumped as backup.sh dumps (pg_dump -Fc)."""
    name = f"botstack-move-source-{uuid.uuid4().hex[:6]}"
    subprocess.run(["docker", "run", "-d", "--name", name, *PG_ENV, POSTGRES_IMAGE], check=True, capture_output=True)
    try:
        def ready() -> tuple[bool, str]:
            probe = ["docker", "exec", name, "psql", "-U", "botstack", "-d", "botstack", "-c", "select 1"]
            return subprocess.run(probe, capture_output=True).returncode == 0, ""

        _wait("source database", ready, 60)
        sql = ("create table users(id int primary key, name text); insert into users select g, 'u' || g "
               "from generate_series(1, 5000) g; create table alembic_version(version_num text); "
               "insert into alembic_version values ('abc123');")
        subprocess.run(["docker", "exec", name, "psql", "-U", "botstack", "-d", "botstack", "-v", "ON_ERROR_STOP=1",
                        "-c", sql], check=True, capture_output=True)  # fmt: skip
        dump = ["docker", "exec", name, "pg_dump", "-Fc", "-Z", "1", "-U", "botstack", "botstack"]
        return subprocess.run(dump, check=True, capture_output=True).stdout
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)


def main() -> None:
    started = time.monotonic()
    dump = source_dump()
    cluster = start_cluster()
    try:
        manager = form_swarm(cluster)
        database_node, other = cluster.nodes[1], cluster.nodes[2]
        cluster.load_images({node.name: (POSTGRES_IMAGE, PROBE_IMAGE) for node in cluster.nodes})
        manager.docker("node", "update", "--label-add", "botstack.database=true", database_node.name)
        network = manager.docker("network", "create", "-d", "overlay", "--internal", "--attachable", "backend").strip()
        # dnsrr as the stack's services (this machine's kernel has no IPVS for a virtual IP)
        manager.docker("service", "create", "-d", "--name", DATABASE, "--network", f"name={network},alias=db",
                       "--endpoint-mode", "dnsrr",
                       "--constraint", "node.labels.botstack.database==true", *PG_ENV, POSTGRES_IMAGE)  # fmt: skip
        # the api's tasks keep off one node, which then has no task on the backend network
        manager.docker("service", "create", "-d", "--name", API, "--replicas", "2", "--network", network,
                       "--endpoint-mode", "dnsrr", "--constraint", f"node.hostname!={other.name}",
                       PROBE_IMAGE, "python3", "-m", "http.server")  # fmt: skip

        def database_ready() -> tuple[bool, str]:
            result = database_node.host.run(f"{IN_TASK} psql -U botstack -d botstack -c 'select 1'", check=False)
            return result.returncode == 0, result.stderr

        _wait("the database task", database_ready, 120)

        # 1. the migrations' path
        found = database_node.docker("network", "inspect", "--format", "{{.Name}} {{.Attachable}}", network).split()
        assert found == ["backend", "true"], found
        probe = "import socket; socket.create_connection(('db', 5432), timeout=5).close(); print('db:5432 answers')"
        print("on the database node:", database_node.docker("run", "--rm", "--network", network, *MIGRATION_FLAGS,
                                                            PROBE_IMAGE, "python3", "-c", probe).strip())  # fmt: skip
        elsewhere = other.host.run(f"docker network inspect {network}", check=False)
        assert elsewhere.returncode != 0 and "No such network" in elsewhere.stderr, elsewhere.stderr
        print("on a node with no task on the network: not found")

        # 2. the data move, with the commands of docs/cluster.md
        database_node.host.run(f"{IN_TASK} psql -U botstack -d botstack -c "
                               "'create table users(id int primary key, name text); "
                               "create table alembic_version(version_num text);'")  # fmt: skip
        moved = time.monotonic()
        manager.docker("service", "scale", "--detach", f"{API}=0")
        _wait("api stopped", lambda: (manager.docker("service", "ps", API, "-q", "--filter",
                                                     "desired-state=running").strip() == "", ""), 60)  # fmt: skip
        restore = "pg_restore -U botstack -d botstack --clean --if-exists --exit-on-error --single-transaction"
        database_node.host.run(f"{IN_TASK} {restore}", input=dump)
        manager.docker("service", "scale", "--detach", f"{API}=2")
        took = time.monotonic() - moved
        query = "select count(*) from users; select version_num from alembic_version"
        rows = database_node.host.run(f'{IN_TASK} psql -U botstack -d botstack -tAc "{query}"').stdout.split()
        assert rows == ["5000", "abc123"], rows
        print(f"{len(dump)} byte dump restored, writers off and back on in {took:.1f} s: {rows[0]} users, "
              f"alembic version {rows[1]}")
        print(f"done in {time.monotonic() - started:.1f} s")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
