"""A VDS-like test host: a systemd Debian container with sshd, reached only via 127.0.0.1.

Reusable outside this package (the prod-stack e2e test): `start_vds_host()` returns a `VdsHost`
with the SSH parameters, the pinned host key line and `run()`; `VdsHost.stop()` removes the
container and its /var/lib/docker volume. The image is built from tests/images/vds and cached under
a tag derived from the Dockerfile directory's content and the base image id.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
IMAGE_DIR = REPO / "tests" / "images" / "vds"
BASE_IMAGE = "botstack-test/debian:bookworm"
IMAGE_REPO = "botstack-test/vds"
RUN_FLAGS = [
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--security-opt", "seccomp=unconfined",
    "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
]


def _docker(*args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=check, capture_output=True, input=input)


def _ensure_base_image() -> None:
    try:
        from tests.setup import ensure_image
    except ImportError:  # tests/setup not there: only check
        pass
    else:
        ensure_image(BASE_IMAGE)
        return
    if _docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        raise RuntimeError(f"base image {BASE_IMAGE} is missing: run `python -m tests.setup all` first")


def image_tag() -> str:
    """Tag of the test host image: hash of tests/images/vds/* and the base image id."""
    _ensure_base_image()
    digest = hashlib.sha256()
    base_id = _docker("image", "inspect", "-f", "{{.Id}}", BASE_IMAGE).stdout.strip()
    digest.update(base_id)
    for path in sorted(IMAGE_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(IMAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{IMAGE_REPO}:{digest.hexdigest()[:16]}"


def ensure_vds_image() -> str:
    tag = image_tag()
    if _docker("image", "inspect", tag, check=False).returncode != 0:
        _docker("build", "-q", "-t", tag, str(IMAGE_DIR))
        # drop tags of older recipes (an image still used by a container stays: rmi refuses)
        old = _docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPO).stdout.decode().split()
        for name in old:
            if name != tag:
                _docker("rmi", name, check=False)
    return tag


@dataclass
class VdsHost:
    """SSH parameters of a running test host plus helpers (`run`, `put`, `testinfra`)."""

    container: str
    volume: str
    port: int  # sshd on 127.0.0.1:<port>
    key_path: Path  # client private key (ed25519), accepted for root and, after provisioning, deploy
    public_key: str
    host_key: str  # "ssh-ed25519 AAAA..." as pulumi-command's ConnectionArgs.host_key wants it
    known_hosts: Path  # "[127.0.0.1]:<port> ssh-ed25519 AAAA..." for ssh's UserKnownHostsFile
    workdir: Path
    published: dict[int, int] = field(default_factory=dict)  # container port -> 127.0.0.1 port
    host: str = "127.0.0.1"
    user: str = "root"

    def ssh_options(self, known_hosts: Path | None = None) -> list[str]:
        return [
            "-i", str(self.key_path), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={known_hosts or self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", "-p", str(self.port),
        ]

    def ssh_argv(self, user: str | None = None, known_hosts: Path | None = None) -> list[str]:
        return ["ssh", *self.ssh_options(known_hosts), f"{user or self.user}@{self.host}"]

    def run(self, cmd: str, *, user: str | None = None, input: str | bytes | None = None,
            check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        """Run a shell command on the host over SSH; text in/out."""
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run([*self.ssh_argv(user), cmd], input=data, capture_output=True, timeout=timeout)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(errors="replace"),
                                             proc.stderr.decode(errors="replace"))
        if check and proc.returncode != 0:
            raise AssertionError(f"ssh {user or self.user}: {cmd!r} exited {proc.returncode}\n"
                                 f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result

    def put(self, local: Path | str, remote: str, *, user: str | None = None, mode: str = "0755") -> None:
        """Copy a file over SSH (stdin of `cat`), like CopyToRemote does over SFTP."""
        self.run(f"umask 077; cat > {shlex.quote(remote)} && chmod {mode} {shlex.quote(remote)}",
                 user=user, input=Path(local).read_bytes())

    @property
    def docker_host(self) -> str:
        return f"ssh://{self.user}@{self.host}:{self.port}"

    def ssh_config(self, user: str | None = None) -> Path:
        """An ssh_config file (for `ssh -F`, testinfra, or an ssh wrapper) pinned to this host's key."""
        path = self.workdir / f"ssh_config_{user or self.user}"
        path.write_text(
            f"Host {self.host}\n  Port {self.port}\n  User {user or self.user}\n  IdentityFile {self.key_path}\n"
            f"  IdentitiesOnly yes\n  BatchMode yes\n  UserKnownHostsFile {self.known_hosts}\n"
            f"  StrictHostKeyChecking yes\n  LogLevel ERROR\n")
        return path

    def testinfra(self, user: str | None = None):
        import testinfra

        return testinfra.get_host(f"ssh://{user or self.user}@{self.host}:{self.port}",
                                  ssh_config=str(self.ssh_config(user)))

    def reboot(self, timeout: float = 120) -> None:
        """Restart the container (systemd shuts down and boots again), like rebooting the VDS.

        Docker may map new 127.0.0.1 ports; `port`, `published` and `known_hosts` follow them."""
        _docker("restart", "-t", "30", self.container)
        _wait_booted(self.container, timeout)
        self.port = _mapped(self.container, 22)
        self.published = {p: _mapped(self.container, p) for p in self.published}
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {self.host_key}\n")
        _wait_ssh(self)

    def stop(self) -> None:
        _docker("rm", "-f", "-v", self.container, check=False)
        _docker("volume", "rm", "-f", self.volume, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)  # the session's private key


def _wait(what: str, probe, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        ok, last = probe()
        if ok:
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s: {last}")


def _mapped(container: str, port: int) -> int:
    out = _docker("port", container, f"{port}/tcp").stdout.decode().split("\n")[0]
    return int(out.rsplit(":", 1)[1])


def _wait_booted(container: str, timeout: float) -> None:
    def booted():
        r = _docker("exec", container, "systemctl", "is-system-running", check=False)
        state = r.stdout.decode().strip()
        return state in ("running", "degraded"), state

    _wait("systemd", booted, timeout)


def _wait_ssh(host: VdsHost) -> None:
    def ssh_ok():
        r = host.run("true", check=False, timeout=15)
        return r.returncode == 0, r.stderr

    _wait("ssh login", ssh_ok, 30)


def authorize_root_and_read_host_key(container: str, public_key: str) -> str:
    """Authorise the test key for root in a booted test host; wait for sshd's host key and return it (`type key`)."""
    _docker("exec", "-i", container, "sh", "-c", "umask 077; mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys",
            input=(public_key + "\n").encode())

    def host_key_ready():
        r = _docker("exec", container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub", check=False)
        return r.returncode == 0 and r.stdout.startswith(b"ssh-ed25519"), r.stderr.decode()

    _wait("sshd host key", host_key_ready, 30)
    return " ".join(_docker("exec", container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.decode().split()[:2])


def start_vds_host(publish: tuple[int, ...] = (), name: str | None = None, boot_timeout: float = 90) -> VdsHost:
    """Start a test host; `publish` lists extra container ports to map on 127.0.0.1 (random ports)."""
    image = ensure_vds_image()
    suffix = uuid.uuid4().hex[:8]
    container = name or f"botstack-test-vds-{suffix}"
    volume = f"{container}-docker"
    workdir = Path(tempfile.mkdtemp(prefix="botstack-vds-"))
    key_path = workdir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "botstack-test", "-f", str(key_path)],
                   check=True)
    public_key = (workdir / "id_ed25519.pub").read_text().strip()
    _docker("volume", "create", volume)
    ports: list[str] = ["-p", "127.0.0.1::22"]
    for p in publish:
        ports += ["-p", f"127.0.0.1::{p}"]
    try:
        _docker("run", "-d", "--name", container, "--hostname", "vds", *RUN_FLAGS,
                "-v", f"{volume}:/var/lib/docker", "--label", "botstack.test=vds", *ports, image)
        _wait_booted(container, boot_timeout)
        host_key = authorize_root_and_read_host_key(container, public_key)

        ssh_port = _mapped(container, 22)
        known_hosts = workdir / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{ssh_port} {host_key}\n")
        host = VdsHost(container=container, volume=volume, port=ssh_port, key_path=key_path,
                       public_key=public_key, host_key=host_key, known_hosts=known_hosts, workdir=workdir,
                       published={p: _mapped(container, p) for p in publish})

        _wait_ssh(host)
        return host
    except BaseException:
        _docker("rm", "-f", "-v", container, check=False)
        _docker("volume", "rm", "-f", volume, check=False)
        shutil.rmtree(workdir, ignore_errors=True)
        raise


if __name__ == "__main__":  # manual use: python -m tests.e2e.vds.host -> prints how to connect
    h = start_vds_host(publish=(80, 8080))
    print(" ".join(h.ssh_argv()), "# container", h.container, "published", h.published)
    print("stop with: docker rm -f -v", h.container, "&& docker volume rm", h.volume, file=sys.stderr)
