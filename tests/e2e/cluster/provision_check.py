"""By hand, not in CI (the cluster suite's nodes come with Docker preinstalled to keep CI's time): three fresh VDS
test hosts provisioned by server/provision.sh's cluster mode with the command lines the cluster stack's Servers
run, then the swarm formed by the program's scripts as the deploy user, a service answering across nodes through
ufw with no-new-privileges from daemon.json, and a machine on the same network that is not a node refused on the
swarm's ports.

    .venv/bin/python -m tests.e2e.cluster.provision_check

Prints what it saw; exits non-zero if a step fails. About a minute on a quiet machine.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from components import cluster_swarm
from components.commands import shipped_script
from components.config import VdsConfig
from components.server import bootstrap_command, provision_command
from tests.e2e.cluster.nodes import Cluster, Node, _docker
from tests.e2e.vds.host import RUN_FLAGS, VdsHost, _mapped, _wait, _wait_booted, _wait_ssh, ensure_vds_image

ROLES = {"node1": "manager", "node2": "worker", "node3": "worker"}
PROBE_IMAGE = "botstack-test/python:3.11"
WHOAMI = "cd /tmp && hostname > index.html && exec python3 -m http.server 8000"


def start_fresh_host(image: str, network: str, name: str) -> Node:
    """A VDS test host (no Docker yet) on the private network, root reachable with a new key."""
    container, workdir = f"{network}-{name}", Path(tempfile.mkdtemp(prefix="botstack-node-"))
    volume, key = f"{container}-docker", workdir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    public_key = (workdir / "id_ed25519.pub").read_text().strip()
    _docker("volume", "create", volume)
    _docker("run", "-d", "--name", container, "--hostname", name, "--network", network, *RUN_FLAGS,
            "-v", f"{volume}:/var/lib/docker", "--label", "botstack.test=cluster-node", "-p", "127.0.0.1::22", image)
    _wait_booted(container, 90)
    _docker("exec", "-i", container, "sh", "-c", "umask 077; mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys",
            input=(public_key + "\n").encode())
    _wait("sshd host key", lambda: (_docker("exec", container, "test", "-s", "/etc/ssh/ssh_host_ed25519_key.pub",
                                            check=False).returncode == 0, ""), 30)
    host_key = " ".join(_docker("exec", container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.decode().split()[:2])
    port = _mapped(container, 22)
    known_hosts = workdir / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_key}\n")
    host = VdsHost(container=container, volume=volume, port=port, key_path=key, public_key=public_key,
                   host_key=host_key, known_hosts=known_hosts, workdir=workdir)
    _wait_ssh(host)
    template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    return Node(name, host, _docker("inspect", "-f", template, container).stdout.decode().strip())


def provision(node: Node, nodes: list[Node]) -> str:
    """The Server's two steps (bootstrap as root, provision as deploy), then once more: it must change nothing."""
    peers = sorted(other.address for other in nodes if other is not node)
    options = ("--swarm-role", ROLES[node.name], *(arg for peer in peers for arg in ("--swarm-peer", peer)))
    vds = VdsConfig(host="127.0.0.1", port=node.host.port, host_key=node.host.host_key)
    script = shipped_script("provision.sh")
    started = time.monotonic()
    node.host.run(bootstrap_command(vds, node.host.public_key, options), input=script, timeout=900)
    took = time.monotonic() - started
    node.host.user = "deploy"  # root login is off from here on
    node.host.run(provision_command(vds, node.host.public_key, options), input=script, timeout=900)
    last = node.host.run(provision_command(vds, node.host.public_key, options), input=script, timeout=900)
    summary = last.stdout.splitlines()[-1]
    assert summary == "botstack-provision: 0 changed", last.stdout
    return f"{node.name}: first run {took:.1f} s; third run: {summary}"


def main() -> None:
    started = time.monotonic()
    network = f"botstack-test-swarm-{uuid.uuid4().hex[:8]}"
    image = ensure_vds_image()
    _docker("network", "create", network)
    cluster = Cluster(network, [])
    try:
        with ThreadPoolExecutor(3) as pool:
            cluster.nodes = list(pool.map(lambda name: start_fresh_host(image, network, name), ROLES))
            for line in pool.map(lambda node: provision(node, cluster.nodes), cluster.nodes):
                print(line)
        manager, *workers = cluster.nodes
        daemon = manager.host.run("sudo cat /etc/docker/daemon.json").stdout
        assert "live-restore" not in daemon, daemon
        for node in cluster.nodes:
            print(f"{node.name} ({node.address}) ufw:", *node.host.run("sudo ufw show added").stdout.splitlines()[1:],
                  sep="\n  ")
        ids = {manager.name: manager.host.run(cluster_swarm.init_script(manager.address, 1)).stdout.strip()}
        token = manager.host.run(cluster_swarm.join_token_script("worker")).stdout.strip()
        for worker in workers:
            script = cluster_swarm.join_script(worker.address, manager.address)
            ids[worker.name] = worker.host.run(script, input=token + "\n").stdout.strip()
        print(manager.docker("node", "ls"))
        cluster.load_images({node.name: (PROBE_IMAGE,) for node in cluster.nodes})
        manager.docker("network", "create", "-d", "overlay", "--attachable", "app")
        manager.docker("service", "create", "-d", "--name", "api", "--network", "app", "--endpoint-mode", "dnsrr",
                       "--replicas", "2", "--constraint", "node.role==worker", PROBE_IMAGE, "sh", "-c", WHOAMI)

        def both_running() -> tuple[bool, str]:
            out = manager.docker("service", "ps", "api", "--filter", "desired-state=running", "--format", "{{.CurrentState}}")
            return out.count("Running") == 2, out

        _wait("2 api tasks running", both_running, 120)
        client = ("import urllib.request\n"
                  "for _ in range(8): print(urllib.request.urlopen('http://api:8000/', timeout=5).read().decode().strip())")
        answers = sorted(set(manager.docker("run", "--rm", "--network", "app", PROBE_IMAGE, "python3", "-c", client).split()))
        assert len(answers) == 2, answers
        print("a client on the manager, by name: answers from", answers, "(overlay traffic between nodes passes ufw)")
        # a service has no no-new-privileges input; the daemon.json default covers its tasks
        task = workers[0].docker("ps", "-q", "--filter", "label=com.docker.swarm.service.name=api").split()[0]
        flags = workers[0].docker("exec", task, "grep", "NoNewPrivs", "/proc/1/status").split()
        print("a task's process on a worker:", " ".join(flags))
        assert flags == ["NoNewPrivs:", "1"], flags
        probe = ("import socket\nfor port in (2377, 7946, 22):\n    try:\n"
                 f"        socket.create_connection(('{manager.address}', port), timeout=3).close(); print(port, 'open')\n"
                 "    except OSError as error: print(port, type(error).__name__)")
        seen = subprocess.run(["docker", "run", "--rm", "--network", network, PROBE_IMAGE, "python3", "-c", probe],
                              capture_output=True, text=True, check=True).stdout.split("\n")
        print("from a machine on the network that is not a node:", "; ".join(line for line in seen if line))
        assert seen[:3] == ["2377 TimeoutError", "7946 TimeoutError", "22 open"], seen
        print(f"done in {time.monotonic() - started:.1f} s")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
