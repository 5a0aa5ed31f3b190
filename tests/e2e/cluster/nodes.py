"""Swarm node test hosts: VDS-like hosts (systemd, sshd, Docker) on one Docker network of their own.

Each node is reached from the machine only through its sshd on 127.0.0.1 (like the single VDS test host);
the nodes reach each other through their addresses on the private network, which is what a swarm
advertises (raft and joins on TCP 2377, gossip on 7946, overlay traffic as VXLAN on UDP 4789).
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
import subprocess
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.vds.host import (
    RUN_FLAGS,
    VdsHost,
    _mapped,
    _wait,
    _wait_booted,
    _wait_ssh,
    authorize_root_and_read_host_key,
    ensure_vds_image,
)

REPO = Path(__file__).resolve().parents[3]
IMAGE_DIR = REPO / "tests" / "images" / "cluster-node"
IMAGE_REPO = "botstack-test/cluster-node"


def _docker(*args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=check, capture_output=True, input=input)


def ensure_node_image() -> str:
    """The node image, built on the current VDS test host image and cached by both recipes' content."""
    vds = ensure_vds_image()
    digest = hashlib.sha256(vds.encode())
    for path in sorted(IMAGE_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(IMAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    tag = f"{IMAGE_REPO}:{digest.hexdigest()[:16]}"
    if _docker("image", "inspect", tag, check=False).returncode != 0:
        _docker("build", "-q", "--build-arg", f"VDS_IMAGE={vds}", "-t", tag, str(IMAGE_DIR))
        for name in _docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPO).stdout.decode().split():
            if name != tag:
                _docker("rmi", name, check=False)  # an older recipe's image; refused while a container uses it
    return tag


@dataclass
class Node:
    """A node: its SSH access (`host.run` runs a shell command as root) and its address on the private network."""

    name: str
    host: VdsHost
    address: str

    def docker(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        """A docker CLI command on the node, through its sshd like every other command."""
        return self.host.run(shlex.join(["docker", *args]), check=check, timeout=timeout).stdout

    def kill(self) -> None:
        """Pull the plug: the node's container is killed at once, no shutdown."""
        _docker("kill", self.host.container)


@dataclass
class Cluster:
    network: str
    nodes: list[Node]

    def load_images(self, images: dict[str, tuple[str, ...]]) -> None:
        """Each node gets its images (`docker save | docker load` in place of the pull from a registry a real node
        would do, which there is none of here), the nodes side by side."""

        def load(node: Node) -> None:
            save = subprocess.Popen(["docker", "save", *images[node.name]], stdout=subprocess.PIPE)
            loaded = subprocess.run(["docker", "exec", "-i", node.host.container, "docker", "load", "-q"],
                                    stdin=save.stdout, capture_output=True)
            assert save.stdout is not None
            save.stdout.close()
            assert save.wait() == 0 and loaded.returncode == 0, loaded.stderr.decode()

        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(load, (node for node in self.nodes if images.get(node.name))))

    def stop(self) -> None:
        if self.nodes:
            with ThreadPoolExecutor(len(self.nodes)) as pool:
                list(pool.map(lambda node: node.host.stop(), self.nodes))
        _docker("network", "rm", self.network, check=False)
        if self.nodes:
            shutil.rmtree(self.nodes[0].host.workdir, ignore_errors=True)  # the nodes' shared key


def _start_node(image: str, network: str, name: str, key_path: Path, publish: tuple[int, ...] = ()) -> Node:
    container = f"{network}-{name}"
    volume = f"{container}-docker"
    workdir = key_path.parent
    public_key = key_path.with_suffix(".pub").read_text().strip()
    _docker("volume", "create", volume)
    try:
        published = [arg for port in publish for arg in ("-p", f"127.0.0.1::{port}")]
        _docker("run", "-d", "--name", container, "--hostname", name, "--network", network, *RUN_FLAGS,
                "-v", f"{volume}:/var/lib/docker", "--label", "botstack.test=cluster-node",
                "-p", "127.0.0.1::22", *published, image)
        _wait_booted(container, 90)
        host_key = authorize_root_and_read_host_key(container, public_key)
        port = _mapped(container, 22)
        known_hosts = workdir / f"known_hosts_{name}"
        known_hosts.write_text(f"[127.0.0.1]:{port} {host_key}\n")
        host = VdsHost(container=container, volume=volume, port=port, key_path=key_path, public_key=public_key,
                       host_key=host_key, known_hosts=known_hosts, workdir=workdir,
                       published={p: _mapped(container, p) for p in publish})
        _wait_ssh(host)

        def engine_up():
            r = host.run("docker info --format '{{.ServerVersion}}'", check=False, timeout=15)
            return r.returncode == 0, r.stderr

        _wait("dockerd", engine_up, 60)
        template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
        address = _docker("inspect", "-f", template, container).stdout.decode().strip()
        return Node(name, host, address)
    except BaseException:
        _docker("rm", "-f", "-v", container, check=False)
        _docker("volume", "rm", "-f", volume, check=False)
        raise


def start_cluster(names: tuple[str, ...] = ("node1", "node2", "node3"),
                  publish: dict[str, tuple[int, ...]] | None = None) -> Cluster:
    """Start the nodes side by side on a new private network, root reachable with one new key (`key_path` of every
    node's host); `publish` maps container ports of a node on 127.0.0.1. Nothing is provisioned or swarm yet."""
    image = ensure_node_image()
    network = f"botstack-test-swarm-{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="botstack-cluster-"))
    key_path = workdir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "botstack-test", "-f", str(key_path)],
                   check=True)
    _docker("network", "create", network)
    cluster = Cluster(network, [])
    try:
        with ThreadPoolExecutor(len(names)) as pool:
            futures = [pool.submit(_start_node, image, network, name, key_path, (publish or {}).get(name, ()))
                       for name in names]
            for future in futures:
                cluster.nodes.append(future.result())
    except BaseException:
        for future in futures:
            if future.done() and future.exception() is None and future.result() not in cluster.nodes:
                cluster.nodes.append(future.result())
        cluster.stop()
        raise
    return cluster
