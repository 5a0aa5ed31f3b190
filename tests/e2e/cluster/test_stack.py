"""The whole cluster stack: botstack's __main__.py through the provider double on three VDS test hosts, and the
issue's proofs under load.

The nodes are fresh VDS test hosts with provision.sh's packages preinstalled (tests/images/cluster-node: the
downloads and unpacking, 30-50 s per node, are done once in the image); the program's `up` does everything else
of a first `up`: provisioning as root and again as the deploy user, the server scripts, the swarm, secrets, services,
migrations, verified backups on the database node and the
deploy check. The images are loaded on the nodes in place of a registry's pull. Then, each while a client asks the
public health URL every 0.1 s (in its own process): an api image update, `apiReplicas` 2 -> 4, and a worker node
killed; every request must answer.

What only other checks show: provisioning from a fresh host (`python -m tests.e2e.cluster.provision_check`) and
moving a dump into the database task (`python -m tests.e2e.cluster.move_check`); what this machine cannot do (no
IPVS: no routing mesh, no service VIP) is in docs/cluster.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from components import cluster_swarm
from components.backups import installed_command
from components.contract import BACKUP_CONFIG, BACKUP_DIR, INSTALLED_SCRIPTS_DIR
from tests.double import RealMocks, run_program
from tests.e2e.cluster.nodes import Cluster, Node, start_cluster
from tests.e2e.devstack import PROGRAM, REPO
from tests.e2e.vds.host import _wait
from tests.setup import BACKEND_IMAGE, POSTGRES_IMAGE, REDIS_IMAGE, WEB_IMAGE

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

STACK = "e2ecluster"
DATABASE_NODE, WEB_NODE, VICTIM = "node2", "node1", "node3"
RELEASE_2 = "botstack/backend:release2"  # the same image under a new reference: swarm rolls every api task onto it
# What each node pulls: the backend everywhere (api runs anywhere), the database's and cache's images on their node,
# web's on the node it is published on.
NODE_IMAGES = {
    "node1": (BACKEND_IMAGE, WEB_IMAGE),
    "node2": (BACKEND_IMAGE, POSTGRES_IMAGE, REDIS_IMAGE),
    "node3": (BACKEND_IMAGE,),
}
# One request every 0.1 s to the URL until the stop file exists; prints a JSON summary.
LOAD_CLIENT = """
import json, os, sys, time, urllib.request
url, stop = sys.argv[1], sys.argv[2]
failed, answers, slowest, errors, started = 0, 0, 0.0, [], time.monotonic()
while not os.path.exists(stop):
    begin = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            response.read()
            answers += 1
    except Exception as error:
        failed += 1
        errors.append(f"{begin - started:.1f} s: {error}"[:120])
    slowest = max(slowest, time.monotonic() - begin)
    time.sleep(0.1)
print(json.dumps({"answers": answers, "failed": failed, "slowest": round(slowest, 2), "errors": errors[:5]}))
"""


@dataclass
class Deployed:
    cluster: Cluster
    mocks: RealMocks
    outputs: dict[str, Any]

    @property
    def manager(self) -> Node:
        return self.node("node1")

    def node(self, name: str) -> Node:
        return next(node for node in self.cluster.nodes if node.name == name)

    def up(self, **settings: Any) -> dict[str, Any]:
        return run_program(PROGRAM, stack_config(self.cluster, **settings), stack=STACK, mocks=self.mocks)

    def api_tasks(self, template: str) -> list[str]:
        return self.manager.docker("service", "ps", f"botstack-{STACK}-api", "--filter", "desired-state=running",
                                   "--format", template).split()  # fmt: skip

    def api_running_on(self) -> list[str]:
        lines = self.api_tasks("{{.Node}}/{{.CurrentState}}")  # "node1/Running", "5", "seconds", "ago", ...
        return sorted(word.split("/")[0] for word in lines if word.endswith("/Running"))


def stack_config(cluster: Cluster, api_replicas: int = 2, backend: str = BACKEND_IMAGE, **extra: Any) -> dict[str, str]:
    nodes: dict[str, dict[str, Any]] = {
        node.name: {"host": "127.0.0.1", "port": node.host.port, "swarmAddress": node.address, "hostKey": node.host.host_key}
        for node in cluster.nodes
    }
    nodes["node1"]["role"] = "manager"
    web = next(node for node in cluster.nodes if node.name == WEB_NODE)
    config = {
        "profile": "minimal",
        "cluster": {"nodes": nodes, "databaseNode": DATABASE_NODE, "publishOn": [WEB_NODE], "apiReplicas": api_replicas,
                    "heartbeatSeconds": 1},
        "sshPrivateKey": cluster.nodes[0].host.key_path.read_text(),
        "images": {"backend": backend, "web": WEB_IMAGE, "postgres": POSTGRES_IMAGE, "redis": REDIS_IMAGE},
        "deployCheck": {"url": f"http://127.0.0.1:{web.host.published[80]}/api/health", "timeoutSeconds": 120},
    } | extra  # fmt: skip
    return {f"botstack:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


@pytest.fixture(scope="module")
def deployed(real_parts: dict[str, str]) -> Iterator[Deployed]:
    started = time.monotonic()
    cluster = start_cluster(publish={WEB_NODE: (80,)})
    try:
        booted = time.monotonic()
        cluster.load_images(NODE_IMAGES)
        loaded = time.monotonic()
        mocks = RealMocks(REPO)
        outputs = run_program(PROGRAM, stack_config(cluster), stack=STACK, mocks=mocks)
        print(f"\nnodes up in {booted - started:.1f} s, images loaded in {loaded - booted:.1f} s, "
              f"the first up took {time.monotonic() - loaded:.1f} s; its slowest steps:")
        for line in sorted(mocks.log, key=lambda line: line.started - line.finished)[:6]:
            print(f"  {line.finished - line.started:5.1f} s  {line.action} {line.name}")
        for node in cluster.nodes:
            node.host.user = "deploy"  # root login is off after the program's provision step
        yield Deployed(cluster, mocks, dict(outputs))
    finally:
        cluster.stop()  # the double's resources go with the nodes


def under_load(what: str, url: str, change: Callable[[], str]) -> dict[str, Any]:
    """`change()` while a client asks `url` every 0.1 s (from 0.5 s before until 0.5 s after); its summary."""
    stop = Path(tempfile.mkdtemp()) / "stop"
    client = subprocess.Popen([sys.executable, "-c", LOAD_CLIENT, url, str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        started = time.monotonic()
        seen = change()
        took = time.monotonic() - started
        time.sleep(0.5)
    finally:
        stop.touch()
    load = json.loads(client.communicate(timeout=30)[0])
    print(f"\n{what}: {took:.1f} s; {seen}; requests: {load}")
    return load


def test_three_nodes_form_a_swarm_and_the_stack_comes_up_healthy(deployed: Deployed) -> None:
    manager = deployed.manager
    nodes = [json.loads(line) for line in manager.docker("node", "ls", "--format", "{{json .}}").splitlines()]
    assert sorted((row["Hostname"], row["Status"], row["ManagerStatus"]) for row in nodes) == [
        ("node1", "Ready", "Leader"), ("node2", "Ready", ""), ("node3", "Ready", ""),
    ]
    health = httpx.get(deployed.outputs["healthUrl"], timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "ok", "database": "ok", "redis": "ok"}
    database = manager.docker("service", "ps", f"botstack-{STACK}-database", "--filter", "desired-state=running",
                              "--format", "{{.Node}}").split()  # fmt: skip
    assert database == [DATABASE_NODE]
    print(f"\napi tasks running on {deployed.api_running_on()}")

    # a secret is a file only the service's user reads; the service spec holds no value
    node = deployed.node(DATABASE_NODE)
    container = node.docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name=botstack-{STACK}-database").split()[0]
    assert node.docker("exec", container, "stat", "-c", "%a", "/run/secrets/db_password").strip() == "400"
    password = node.docker("exec", container, "cat", "/run/secrets/db_password")
    assert password and password not in manager.docker("service", "inspect", f"botstack-{STACK}-database")


def test_a_second_up_changes_nothing_and_the_membership_scripts_are_idempotent(deployed: Deployed) -> None:
    before = len(deployed.mocks.actions())
    deployed.up()
    assert [action for action in deployed.mocks.actions()[before:] if action[0] != "unchanged"] == []

    # the swarm's commands do not run again on a second up; run by hand, they change nothing either
    manager, worker = deployed.manager, deployed.node("node2")
    rows = manager.docker("node", "ls", "--format", "{{.Hostname}} {{.ID}}").splitlines()
    ids = dict(row.split() for row in rows)
    assert manager.host.run(cluster_swarm.init_script(manager.address, 1)).stdout.strip() == ids["node1"]
    # a node already in the swarm ignores its stdin: no token is read, so nothing can be misread as one
    assert worker.host.run(cluster_swarm.join_script(worker.address, manager.address), input="junk\n").stdout.strip() \
        == ids["node2"]
    assert len(manager.docker("node", "ls", "-q").split()) == 3


def test_an_api_image_update_under_load_fails_no_request(deployed: Deployed) -> None:
    for node in deployed.cluster.nodes:
        node.docker("tag", BACKEND_IMAGE, RELEASE_2)

    def release() -> str:
        deployed.up(backend=RELEASE_2)
        images = deployed.api_tasks("{{.Image}}")
        assert images == [RELEASE_2] * 2, images
        return "every api task on the new image when the program returned"

    load = under_load("an api image update", deployed.outputs["healthUrl"], release)
    assert load["failed"] == 0 and load["answers"] > 0, load


def test_api_replicas_2_to_4_serve_with_no_failed_request(deployed: Deployed) -> None:
    def scale() -> str:
        deployed.up(api_replicas=4, backend=RELEASE_2)
        return f"api tasks running on {deployed.api_running_on()}"

    load = under_load("apiReplicas 2 -> 4", deployed.outputs["healthUrl"], scale)
    assert load["failed"] == 0 and load["answers"] > 0, load
    assert len(deployed.api_running_on()) == 4


def test_a_verified_backup_runs_on_the_database_node(deployed: Deployed) -> None:
    node = deployed.node(DATABASE_NODE)
    # installed by the program's up, which took the first backup at once; cron runs backup.sh on its schedule
    assert f"root {INSTALLED_SCRIPTS_DIR}/backup.sh" in node.host.run("cat /etc/cron.d/botstack-backup").stdout
    config = node.host.run(f"sudo cat {BACKUP_CONFIG}").stdout.splitlines()
    # the service by name, no container name: a task's container is found at each run by its swarm label
    assert f"PG_SERVICE=botstack-{STACK}-database" in config and not any(line.startswith("PG_CONTAINER=") for line in config)
    first = node.host.run(f"sudo readlink {BACKUP_DIR}/latest").stdout.strip()

    run = node.host.run(installed_command("backup.sh"))  # as cron runs it
    output = run.stdout + run.stderr
    latest = node.host.run(f"sudo readlink {BACKUP_DIR}/latest").stdout.strip()
    assert first and latest != first, output
    assert f"ok: .{latest}.partial restores;" in output and "alembic" in output, output  # verified by a restore
    tables = node.host.run(f"sudo cat {BACKUP_DIR}/{latest}.tables").stdout
    alembic = [line.split("\t") for line in tables.splitlines() if line.startswith("alembic")]
    assert alembic and alembic[0][-1].strip(), tables  # the migrated schema of the swarm's database
    print(f"\nbackup on {DATABASE_NODE}: " + next(line for line in output.splitlines() if "restores;" in line))


def test_a_killed_worker_node_s_api_tasks_move_with_no_failed_request(deployed: Deployed) -> None:
    victim = deployed.node(VICTIM)

    def kill() -> str:
        lost = deployed.api_running_on().count(VICTIM)
        assert lost > 0, "no api task on the node to kill: swarm spreads a service's tasks over the nodes"
        killed = time.monotonic()
        victim.kill()

        def moved() -> tuple[bool, list[str]]:
            nodes = deployed.api_running_on()
            return len(nodes) == 4 and VICTIM not in nodes, nodes

        _wait(f"4 api tasks without {VICTIM}", moved, 90)
        return f"{lost} api tasks were on {VICTIM}, 4 run elsewhere {time.monotonic() - killed:.1f} s after the kill"

    load = under_load(f"worker {VICTIM} killed", deployed.outputs["healthUrl"], kill)
    assert load["failed"] == 0 and load["answers"] > 0, load
