"""A swarm of three Docker-in-Docker VDS test hosts, formed by the program's own scripts (components/cluster_swarm.py).

What it proves on this machine: the nodes form a swarm (1 manager, 2 workers) over their private network and
doing it again changes nothing; a 2-replica service on an overlay network answers from both worker nodes to a
client on the manager (VXLAN across nodes); when a worker is killed its task starts on the other worker.
What this machine cannot do is in docs/cluster.md (no IPVS in the kernel: no routing mesh, no service VIP, so
services use DNS round robin, `endpoint_mode: dnsrr`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from components import cluster_swarm
from tests.e2e.cluster.nodes import Cluster, Node, start_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

PROBE_IMAGE = "botstack-test/python:3.11"
OVERLAY = "app"
# Answers with the task container's host name; SIGINT stops Python's http.server at once (SIGTERM would wait
# out the stop grace period: Python as PID 1 has no handler for it).
WHOAMI = ["sh", "-c", "cd /tmp && hostname > index.html && exec python3 -m http.server 8000"]


@pytest.fixture(scope="module")
def cluster(real_parts: dict[str, str]) -> Iterator[Cluster]:
    started = time.monotonic()
    cluster = start_cluster()
    booted = time.monotonic()
    try:
        cluster.load_image(PROBE_IMAGE)
        print(f"\nnodes up in {booted - started:.1f} s, {PROBE_IMAGE} loaded on 3 nodes in {time.monotonic() - booted:.1f} s")
        yield cluster
    finally:
        cluster.stop()


def form_swarm(cluster: Cluster) -> dict[str, str]:
    """Run the program's scripts: init on the manager, a worker token from it, join on the others; node ids."""
    manager, *workers = cluster.nodes
    # a 1 s heartbeat: a killed node is marked down after about 3 s instead of 15 s
    ids = {manager.name: manager.host.run(cluster_swarm.init_script(manager.address, 1)).stdout.strip()}
    token = manager.host.run(cluster_swarm.join_token_script("worker")).stdout.strip()
    for worker in workers:
        script = cluster_swarm.join_script(worker.address, manager.address)
        ids[worker.name] = worker.host.run(script, input=token + "\n").stdout.strip()
    return ids


def nodes_by_id(manager: Node) -> dict[str, dict]:
    out = manager.docker("node", "ls", "--format", "{{json .}}")
    return {row["ID"]: row for row in map(json.loads, out.splitlines())}


def running_tasks(manager: Node, service: str) -> list[str]:
    """The host names of the nodes where the service's tasks are running."""
    out = manager.docker("service", "ps", service, "--filter", "desired-state=running",
                         "--format", "{{.Node}} {{.CurrentState}}")
    return sorted(line.split()[0] for line in out.splitlines() if line.split()[1:2] == ["Running"])


def wait_for(what: str, probe, timeout: float) -> float:
    started = time.monotonic()
    last = None
    while time.monotonic() - started < timeout:
        ok, last = probe()
        if ok:
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {timeout:.0f} s; last seen: {last}")


def ask_by_name(manager: Node, name: str, requests: int) -> list[str]:
    """From a container on the manager, on the overlay network: GET http://<name>:8000/ `requests` times."""
    client = (
        "import urllib.request\n"
        f"for _ in range({requests}):\n"
        f"    print(urllib.request.urlopen('http://{name}:8000/', timeout=5).read().decode().strip())\n"
    )
    out = manager.docker("run", "--rm", "--network", OVERLAY, PROBE_IMAGE, "python3", "-c", client)
    return out.split()


def every_task_answers(manager: Node, name: str, tasks: set[str], timeout: float = 20) -> None:
    """Ask by name until each of `tasks` has answered: DNS round robin spreads requests at random, and a task that
    just started may take a moment to be in the service's DNS answer."""
    answered: set[str] = set()

    def all_answered() -> tuple[bool, list[str]]:
        answered.update(ask_by_name(manager, name, 6))
        return answered == tasks, sorted(answered)

    wait_for(f"every {name} task answering by name ({sorted(tasks)})", all_answered, timeout)


def test_nodes_form_a_swarm_and_forming_it_again_changes_nothing(cluster: Cluster) -> None:
    manager = cluster.nodes[0]
    ids = form_swarm(cluster)
    nodes = nodes_by_id(manager)
    assert set(nodes) == set(ids.values())
    assert {row["Hostname"]: (row["Status"], row["ManagerStatus"]) for row in nodes.values()} == {
        "node1": ("Ready", "Leader"), "node2": ("Ready", ""), "node3": ("Ready", ""),
    }

    assert form_swarm(cluster) == ids  # the same nodes, nobody left or joined again
    assert set(nodes_by_id(manager)) == set(ids.values())
    # a node already in the swarm ignores its stdin: no token is read, so nothing can be misread as one
    worker = cluster.nodes[1]
    assert worker.host.run(cluster_swarm.join_script(worker.address, manager.address), input="junk\n").stdout.strip() \
        == ids["node2"]


def test_a_service_on_an_overlay_network_answers_from_both_workers(cluster: Cluster) -> None:
    manager = cluster.nodes[0]
    manager.docker("network", "create", "--driver", "overlay", "--attachable", OVERLAY)
    manager.docker(
        "service", "create", "--detach", "--name", "api", "--network", OVERLAY, "--endpoint-mode", "dnsrr",
        "--replicas", "2", "--constraint", "node.role==worker",
        "--stop-signal", "SIGINT", "--restart-delay", "1s", PROBE_IMAGE, *WHOAMI,
    )
    wait_for("2 api tasks running on the workers", lambda: (running_tasks(manager, "api") == ["node2", "node3"],
                                                           running_tasks(manager, "api")), 60)
    task_hosts = {
        manager.docker("inspect", "--format", "{{.Status.ContainerStatus.ContainerID}}", task).strip()[:12]
        for task in manager.docker("service", "ps", "api", "-q", "--filter", "desired-state=running").split()
    }

    # the client runs on node1, the tasks on node2 and node3 (swarm spreads a service's tasks over the nodes)
    every_task_answers(manager, "api", task_hosts)


# A client by a service's name through a node loss or an update: one request every 0.1 s for `seconds`, each with a 2 s
# timeout; Python's http.client tries the name's addresses in turn, so a dead task's address costs a connect
# timeout before the next one. Prints a JSON summary.
# Asks one request every 0.1 s for `seconds`, or until /tmp/stop exists (the test stops it when the change is done).
LOAD_CLIENT = """
import json, os, time, urllib.request
end, failed, slowest, answers, last_ok = time.monotonic() + {seconds}, 0, 0.0, 0, 0.0
while time.monotonic() < end and not os.path.exists("/tmp/stop"):
    start = time.monotonic()
    try:
        urllib.request.urlopen("http://{name}:8000/", timeout=2).read()
        answers += 1
        last_ok = start
    except Exception:
        failed += 1
    slowest = max(slowest, time.monotonic() - start)
    time.sleep(0.1)
end = min(end, time.monotonic())
print(json.dumps({{"answers": answers, "failed": failed, "slowest": round(slowest, 2), "ok_until_end": end - last_ok < 3}}))
"""


SECRET_VALUE = "swarm-secret-0123456789"  # noqa: S105 - a test value


def whoami_program(manager: Node, replicas: int, release: str = "1"):
    """A Pulumi program declaring one service exactly as the cluster stack does (components/cluster_services.py),
    with a swarm secret, on an overlay network, through a docker provider on the manager over pinned ssh."""
    import pulumi_docker as docker

    from components.cluster import secret_data
    from components.cluster_services import Scheduling, SwarmSecretRef, service_args
    from components.config import LoggingConfig, ServiceResources
    from components.container import ContainerSpec, Healthcheck, NetworkAttachment
    from components.naming import Naming

    def program() -> None:
        import pulumi

        host = manager.host
        provider = docker.Provider("manager", host=f"ssh://root@127.0.0.1:{host.port}", ssh_opts=[
            "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={host.known_hosts}",
            "-o", "IdentitiesOnly=yes", "-i", str(host.key_path),
        ])  # fmt: skip
        opts = pulumi.ResourceOptions(provider=provider)
        network = docker.Network("whoami-net", name="whoami-net", driver="overlay", attachable=True, opts=opts)
        token = docker.Secret("token", data=secret_data(SECRET_VALUE), opts=opts)
        probe = ["CMD", "python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/')"]
        spec = ContainerSpec(
            service="whoami", role="whoami", image=PROBE_IMAGE, user="10001:10001", command=WHOAMI,
            healthcheck=Healthcheck(probe, interval="1s", start_period="5s"),
            networks=[NetworkAttachment(network.id, ["whoami"])], resources=ServiceResources(memory=64, cpus="0.5"),
            logging=LoggingConfig(), secret_files={"token": "token"}, grace_seconds=5, envs={"RELEASE": release},
        )  # fmt: skip
        refs = {"token": SwarmSecretRef(token.id, token.name)}
        # a 2 s monitor period (the stack's is 30 s): swarm completes the update, and the program returns, that much
        # after the last new task is healthy
        scheduling = Scheduling(replicas, "start-first", update_monitor="2s")
        docker.Service("whoami", service_args(spec, Naming("botstack", "e2e"), scheduling, refs), opts=opts)

    return program


def test_the_program_s_service_runs_on_the_swarm_through_the_double(cluster: Cluster) -> None:
    from tests.double import RealMocks, run_program

    manager = cluster.nodes[0]
    mocks = RealMocks()
    try:
        started = time.monotonic()
        run_program(whoami_program(manager, 2), stack="e2e", mocks=mocks)
        # convergeConfig: the program returns only once both tasks run (healthy)
        assert len(running_tasks(manager, "botstack-e2e-whoami")) == 2
        print(f"\ncreated and converged in {time.monotonic() - started:.1f} s")
        client = ["run", "--rm", "--network", "whoami-net", PROBE_IMAGE, "python3", "-c",
                  "import urllib.request\nfor _ in range(8): print(urllib.request.urlopen('http://whoami:8000/', "
                  "timeout=5).read().decode().strip())"]  # fmt: skip
        answers = set(manager.docker(*client).split())
        assert answers == set(_task_containers(manager, "botstack-e2e-whoami"))

        # the secret is a file only the service's user reads, with the value; the service spec shows no value
        task = manager.docker("service", "ps", "botstack-e2e-whoami", "-q", "--filter", "desired-state=running").split()[0]
        node_id, container = manager.docker("inspect", "--format",
                                            "{{.NodeID}} {{.Status.ContainerStatus.ContainerID}}", task).split()
        node_name = manager.docker("node", "inspect", "--format", "{{.Description.Hostname}}", node_id).strip()
        node = next(n for n in cluster.nodes if n.name == node_name)
        assert node.docker("exec", container, "cat", "/run/secrets/token") == SECRET_VALUE
        assert node.docker("exec", container, "stat", "-c", "%a %u", "/run/secrets/token").strip() == "400 10001"
        assert SECRET_VALUE not in manager.docker("service", "inspect", "botstack-e2e-whoami")

        # replicas 2 -> 3 by the program: the service is updated in place, not replaced
        run_program(whoami_program(manager, 3), stack="e2e", mocks=mocks)
        assert ("updated", "docker:index/service:Service", "whoami") in mocks.actions()
        assert len(running_tasks(manager, "botstack-e2e-whoami")) == 3

        # a new release under load: start-first, one task at a time, each new task healthy before an old one stops
        client = manager.docker("run", "-d", "--network", "whoami-net", PROBE_IMAGE, "python3", "-c",
                                LOAD_CLIENT.format(seconds=60, name="whoami")).strip()
        time.sleep(1)
        started = time.monotonic()
        run_program(whoami_program(manager, 3, release="2"), stack="e2e", mocks=mocks)
        # the program returns once swarm calls the update completed: every task on the new release
        took = time.monotonic() - started
        assert _releases(manager) == ["2", "2", "2"]
        manager.docker("exec", client, "touch", "/tmp/stop")
        load = _client_result(manager, client)
        print(f"\nrelease 2 on all 3 tasks, the program returned after {took:.1f} s; client by name meanwhile: {load}")
        assert load["answers"] > 0 and load["ok_until_end"], load
    finally:
        mocks.destroy_all()
    assert manager.docker("service", "ls", "--filter", "name=botstack-e2e-whoami", "-q").strip() == ""


def test_a_killed_worker_s_task_starts_on_the_other_worker(cluster: Cluster) -> None:
    manager = cluster.nodes[0]
    victim = next(node for node in cluster.nodes if node.name == "node3")
    client = manager.docker("run", "-d", "--network", OVERLAY, PROBE_IMAGE, "python3", "-c",
                            LOAD_CLIENT.format(seconds=15, name="api")).strip()
    time.sleep(1)
    killed = time.monotonic()
    victim.kill()

    down = wait_for("node3 marked down", lambda: (_status(manager, "node3") == "Down", _status(manager, "node3")), 30)
    moved = wait_for("2 api tasks running without node3",
                     lambda: (running_tasks(manager, "api") == ["node2", "node2"], running_tasks(manager, "api")), 60)
    print(f"\nnode3 killed: marked down after {down:.1f} s, its task running on node2 {time.monotonic() - killed:.1f} s "
          f"after the kill (+{moved:.1f} s)")
    every_task_answers(manager, "api", set(_task_containers(manager, "api")))

    load = _client_result(manager, client)
    print(f"client by name through the loss: {load}")
    assert load["answers"] > 0 and load["ok_until_end"], load  # it is served again once the task has moved


def _client_result(manager: Node, container: str) -> dict:
    manager.docker("wait", container, timeout=60)
    result = json.loads(manager.docker("logs", container).strip().splitlines()[-1])
    manager.docker("rm", container)
    return result


def _releases(manager: Node) -> list[str]:
    """RELEASE of each running whoami task (running: its container is up and healthy)."""
    out = manager.docker("service", "ps", "botstack-e2e-whoami", "--filter", "desired-state=running",
                         "--format", "{{.ID}} {{.CurrentState}}")
    tasks = [line.split()[0] for line in out.splitlines() if line.split()[1:2] == ["Running"]]
    envs = [manager.docker("inspect", "--format", "{{range .Spec.ContainerSpec.Env}}{{println .}}{{end}}", task)
            for task in tasks]
    return sorted(line.split("=", 1)[1] for env in envs for line in env.splitlines() if line.startswith("RELEASE="))


def _status(manager: Node, hostname: str) -> str:
    out = manager.docker("node", "ls", "--filter", f"name={hostname}", "--format", "{{.Hostname}} {{.Status}}")
    return dict(line.split() for line in out.splitlines()).get(hostname, "")


def _task_containers(manager: Node, service: str) -> list[str]:
    tasks = manager.docker("service", "ps", service, "-q", "--filter", "desired-state=running").split()
    return [manager.docker("inspect", "--format", "{{.Status.ContainerStatus.ContainerID}}", t).strip()[:12]
            for t in tasks]

