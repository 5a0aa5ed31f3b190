"""scripts/install-pulumi.sh's release path against a local mirror: checksum-verified, cached by version."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engine import INSTALLER, pinned_version

VERSION = pinned_version()
# The platform name the script derives from uname, as in the official release's file names.
PLATFORM = {"Linux": "linux", "Darwin": "darwin"}[os.uname().sysname] + "-" + (
    "arm64" if os.uname().machine in ("aarch64", "arm64") else "x64"
)
TARBALL = f"pulumi-v{VERSION}-{PLATFORM}.tar.gz"
SUMS = f"pulumi-{VERSION}-checksums.txt"


def fake_release(version_printed: str) -> bytes:
    """A release tarball laid out like the official one: pulumi/pulumi and a language host beside it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in (
            ("pulumi/pulumi", f"#!/bin/sh\necho {version_printed}\n"),
            ("pulumi/pulumi-language-python", "#!/bin/sh\nexit 0\n"),
        ):
            data = body.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class Mirror:
    root: Path
    url: str


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    root = tmp_path / "mirror"
    root.mkdir()
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None  # type: ignore[method-assign]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Mirror(root, f"http://127.0.0.1:{server.server_address[1]}")
    server.shutdown()


def install(mirror: Mirror, cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "BOTSTACK_ENGINE_CACHE": str(cache),
        "BOTSTACK_PULUMI_SOURCE": "release",
        "BOTSTACK_PULUMI_RELEASE_URL": mirror.url,
        "BOTSTACK_PULUMI_CHECKSUMS_URL": mirror.url,
    }
    return subprocess.run([str(INSTALLER), *args], env=env, capture_output=True, text=True, timeout=60)


def publish(mirror: Mirror, tarball: bytes, listed_sha256: str) -> None:
    (mirror.root / TARBALL).write_bytes(tarball)
    (mirror.root / SUMS).write_text(f"{'0' * 64}  pulumi-v{VERSION}-darwin-x64.tar.gz\n{listed_sha256}  {TARBALL}\n")


def test_a_verified_release_is_installed_once_and_reused(mirror: Mirror, tmp_path: Path) -> None:
    tarball = fake_release(f"v{VERSION}")
    publish(mirror, tarball, hashlib.sha256(tarball).hexdigest())
    cache = tmp_path / "cache"
    first = install(mirror, cache, "bin-dir")
    assert first.returncode == 0, first.stderr
    bin_dir = Path(first.stdout.strip())
    assert bin_dir == cache / f"pulumi-v{VERSION}" / "bin"
    assert (bin_dir / "pulumi-language-python").exists()
    # Cached: a second run downloads nothing (the mirror is gone) and answers at once.
    for path in mirror.root.iterdir():
        path.unlink()
    second = install(mirror, cache, "bin-dir")
    assert second.returncode == 0 and Path(second.stdout.strip()) == bin_dir
    assert "downloading" not in second.stderr
    assert install(mirror, cache, "check").returncode == 0


def test_a_tarball_that_does_not_match_its_checksum_is_refused(mirror: Mirror, tmp_path: Path) -> None:
    publish(mirror, fake_release(f"v{VERSION}"), hashlib.sha256(b"something else").hexdigest())
    cache = tmp_path / "cache"
    result = install(mirror, cache)
    assert result.returncode == 1
    assert f"checksum mismatch for {TARBALL}: not installed" in result.stderr
    assert not (cache / f"pulumi-v{VERSION}" / "bin").exists()
    assert install(mirror, cache, "check").returncode == 1


def test_a_cli_that_reports_another_version_is_not_accepted(mirror: Mirror, tmp_path: Path) -> None:
    tarball = fake_release("v0.0.1")
    publish(mirror, tarball, hashlib.sha256(tarball).hexdigest())
    result = install(mirror, tmp_path / "cache")
    assert result.returncode == 1
    assert f"does not report v{VERSION}" in result.stderr


def test_without_release_or_go_the_user_gets_the_commands(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",  # no go here (it lives in /usr/local/go/bin)
        "HOME": str(tmp_path),
        "BOTSTACK_ENGINE_CACHE": str(tmp_path / "cache"),
        "BOTSTACK_PULUMI_RELEASE_URL": "http://127.0.0.1:9",  # nothing listens on the discard port
        "BOTSTACK_PULUMI_CHECKSUMS_URL": "http://127.0.0.1:9",
    }
    if Path("/usr/bin/go").exists():
        env["BOTSTACK_PULUMI_SOURCE"] = "release"
    result = subprocess.run([str(INSTALLER)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"the Pulumi CLI v{VERSION} could not be installed" in result.stderr
    assert f"curl -fsSL https://get.pulumi.com | sh -s -- --version {VERSION}" in result.stderr
