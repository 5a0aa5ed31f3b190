"""By hand, not in CI (about 4 minutes): the whole cluster stack, botstack's __main__.py through the provider
double, on three fresh VDS test hosts on one private network, and the issue's proofs under load.

Staged like the prod e2e (no registry here): the nodes' Servers alone first (provisioning installs Docker), then
the images shipped with `docker save | ssh docker load` (what a registry pull would do), then the whole program.
Then: the app answers through web with its database and Redis; a second `up` changes nothing; `apiReplicas`
2 -> 4, an api image update and the loss of a worker node (killed), each while a client asks the public health URL
every 0.1 s (in its own process); the failed requests are printed and must be none.

    .venv/bin/python -m tests.e2e.cluster.stack_check
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.double import RealMocks, run_program
from tests.e2e.cluster.nodes import Cluster, Node, _docker
from tests.e2e.devstack import PROGRAM, REPO
from tests.e2e.vds.host import RUN_FLAGS, VdsHost, _mapped, _wait, _wait_booted, _wait_ssh, ensure_vds_image
from tests.setup import BACKEND_IMAGE, POSTGRES_IMAGE, REDIS_IMAGE, WEB_IMAGE

STACK = "e2ecluster"
IMAGES = (POSTGRES_IMAGE, REDIS_IMAGE, BACKEND_IMAGE, WEB_IMAGE)
RELEASE_2 = "botstack/backend:release2"  # the same image under a new reference: swarm rolls every api task
# no registry: the engine starts tasks from the loaded images without trying a pull first
OFFLINE_IMAGES = REPO / "tests" / "images" / "cluster-node" / "offline-images.conf"
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
STARTED = time.monotonic()


def log(*parts: object) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f} s]", *parts, flush=True)


def start_node(image: str, network: str, name: str, key: Path) -> Node:
    """A fresh VDS test host (no Docker yet) on the private network, its port 80 mapped on 127.0.0.1."""
    container, volume = f"{network}-{name}", f"{network}-{name}-docker"
    public_key = key.with_suffix(".pub").read_text().strip()
    _docker("volume", "create", volume)
    _docker("run", "-d", "--name", container, "--hostname", name, "--network", network, *RUN_FLAGS,
            "-v", f"{volume}:/var/lib/docker", "--label", "botstack.test=cluster-node",
            "-p", "127.0.0.1::22", "-p", "127.0.0.1::80", image)  # fmt: skip
    _wait_booted(container, 90)
    _docker("exec", "-i", container, "sh", "-c", "umask 077; mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys",
            input=(public_key + "\n").encode())
    _docker("exec", "-i", container, "sh", "-c", "mkdir -p /etc/systemd/system/docker.service.d && "
            "cat > /etc/systemd/system/docker.service.d/offline-images.conf", input=OFFLINE_IMAGES.read_bytes())
    _wait("sshd host key", lambda: (_docker("exec", container, "test", "-s", "/etc/ssh/ssh_host_ed25519_key.pub",
                                            check=False).returncode == 0, ""), 30)  # fmt: skip
    host_key = " ".join(_docker("exec", container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.decode().split()[:2])
    port = _mapped(container, 22)
    workdir = Path(tempfile.mkdtemp(prefix="botstack-node-"))
    known_hosts = workdir / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_key}\n")
    host = VdsHost(container=container, volume=volume, port=port, key_path=key, public_key=public_key,
                   host_key=host_key, known_hosts=known_hosts, workdir=workdir, published={80: _mapped(container, 80)})
    _wait_ssh(host)
    template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    return Node(name, host, _docker("inspect", "-f", template, container).stdout.decode().strip())


def stack_config(cluster: Cluster, api_replicas: int = 2, backend: str = BACKEND_IMAGE) -> dict[str, str]:
    nodes: dict[str, dict[str, Any]] = {
        node.name: {"host": "127.0.0.1", "port": node.host.port, "swarmAddress": node.address, "hostKey": node.host.host_key}
        for node in cluster.nodes
    }
    nodes["node1"]["role"] = "manager"
    config = {
        "profile": "minimal",
        "cluster": {"nodes": nodes, "databaseNode": "node2", "publishOn": ["node1"], "apiReplicas": api_replicas,
                    "heartbeatSeconds": 1},
        "sshPrivateKey": cluster.nodes[0].host.key_path.read_text(),
        "images": {"backend": backend, "web": WEB_IMAGE, "postgres": POSTGRES_IMAGE, "redis": REDIS_IMAGE},
        "deployCheck": {"url": f"http://127.0.0.1:{cluster.nodes[0].host.published[80]}/api/health", "timeoutSeconds": 120},
    }  # fmt: skip
    return {f"botstack:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def servers_only() -> None:
    """The nodes' Servers alone, as `pulumi up --target` of the server resources would run them."""
    from components.cluster import node_provision_options, node_vds
    from components.config_loading import load_config
    from components.server import Server, ServerArgs

    config = load_config()
    assert config.cluster is not None and config.ssh_private_key is not None
    for name, node in sorted(config.cluster.nodes.items()):
        options = node_provision_options(config.cluster, name)
        Server(f"server-{name}", ServerArgs(node_vds(node), config.ssh_private_key, options))


def ship_images(node: Node) -> None:
    save = subprocess.Popen(["docker", "save", *IMAGES], stdout=subprocess.PIPE)
    load = subprocess.run([*node.host.ssh_argv("deploy"), "docker load"], stdin=save.stdout, capture_output=True)
    assert save.stdout is not None
    save.stdout.close()
    assert save.wait() == 0 and load.returncode == 0, load.stderr.decode()


def under_load(what: str, url: str, change: Callable[[], str]) -> None:
    stop = Path(tempfile.mkdtemp()) / "stop"
    client = subprocess.Popen([sys.executable, "-c", LOAD_CLIENT, url, str(stop)], stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    started = time.monotonic()
    seen = change()
    took = time.monotonic() - started
    time.sleep(1)
    stop.touch()
    load = json.loads(client.communicate(timeout=30)[0])
    log(f"{what}: {took:.1f} s; {seen}; requests: {load}")
    assert load["failed"] == 0 and load["answers"] > 0, load


def main() -> None:
    network = f"botstack-test-swarm-{uuid.uuid4().hex[:8]}"
    key = Path(tempfile.mkdtemp(prefix="botstack-cluster-")) / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    image = ensure_vds_image()
    _docker("network", "create", network)
    cluster, mocks = Cluster(network, []), RealMocks(REPO)
    try:
        with ThreadPoolExecutor(3) as pool:
            cluster.nodes = list(pool.map(lambda name: start_node(image, network, name, key), ("node1", "node2", "node3")))
            log("three fresh hosts up")
            run_program(servers_only, stack_config(cluster), stack=STACK, mocks=mocks)
            log("provisioned")
            list(pool.map(ship_images, cluster.nodes))
        log("images loaded on the nodes")
        outputs = run_program(PROGRAM, stack_config(cluster), stack=STACK, mocks=mocks)
        log("up:", outputs["services"])
        health = httpx.get(outputs["healthUrl"], timeout=10)
        log("health:", health.status_code, health.text)
        assert health.status_code == 200 and health.json()["database"] == "ok" and health.json()["redis"] == "ok"
        manager = cluster.nodes[0]
        manager.host.user = "deploy"

        def api_tasks(template: str) -> list[str]:
            return manager.docker("service", "ps", f"botstack-{STACK}-api", "--filter", "desired-state=running",
                                  "--format", template).split()  # fmt: skip

        def api_running_on() -> list[str]:
            lines = api_tasks("{{.Node}}/{{.CurrentState}}")  # "node1/Running", "5", "seconds", "ago", ...
            return sorted(word.split("/")[0] for word in lines if word.endswith("/Running"))

        log("api tasks running on", api_running_on())
        before = len(mocks.actions())
        run_program(PROGRAM, stack_config(cluster), stack=STACK, mocks=mocks)
        changes = [action for action in mocks.actions()[before:] if action[0] != "unchanged"]
        log("a second up changes:", changes)
        assert changes == []

        def scale() -> str:
            run_program(PROGRAM, stack_config(cluster, api_replicas=4), stack=STACK, mocks=mocks)
            return f"api tasks running on {api_running_on()}"

        under_load("apiReplicas 2 -> 4", outputs["healthUrl"], scale)
        for node in cluster.nodes:
            node.host.run(f"docker tag {BACKEND_IMAGE} {RELEASE_2}", user="deploy")

        def release() -> str:
            run_program(PROGRAM, stack_config(cluster, api_replicas=4, backend=RELEASE_2), stack=STACK, mocks=mocks)
            images = api_tasks("{{.Image}}")
            assert images == [RELEASE_2] * 4, images
            return "every api task on the new image when the program returned"

        under_load("an api image update", outputs["healthUrl"], release)

        def kill_worker() -> str:
            lost = api_running_on().count("node3")
            _docker("kill", cluster.nodes[2].host.container)

            def moved() -> tuple[bool, list[str]]:
                nodes = api_running_on()
                return len(nodes) == 4 and "node3" not in nodes, nodes

            _wait("4 api tasks without node3", moved, 90)
            return f"{lost} api tasks were on node3, 4 run elsewhere"

        under_load("worker node3 killed", outputs["healthUrl"], kill_worker)
        log("done")
    finally:
        try:
            mocks.destroy_all()
        except Exception as error:  # a killed node's resources cannot be deleted; the nodes go anyway
            print(f"destroy: {error}")
        cluster.stop()


if __name__ == "__main__":
    main()
