"""The Docker engine for the real-parts tests: use the one that answers, else start Debian's dockerd.

Never stops or restarts an engine; a dockerd started here keeps running after this process exits
(its pid is in tests/.cache/dockerd.pid, its log in tests/.cache/dockerd.log).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from .common import CACHE_DIR, SetupError, log_tail, step

DOCKERD_LOG = CACHE_DIR / "dockerd.log"
DOCKERD_PID = CACHE_DIR / "dockerd.pid"
LOCAL_SOCKET = "unix:///var/run/docker.sock"
INSTALL_HINT = "install Debian's Docker engine: apt-get install docker.io"


def engine_answers(timeout: float = 20) -> bool:
    """True when `docker info` gets an answer from the engine DOCKER_HOST points at."""
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


def _timeout() -> float:
    return float(os.environ.get("BOTSTACK_DOCKERD_TIMEOUT", "90"))


def ensure_engine() -> None:
    """Make `docker info` answer: nothing to do if it does, else start dockerd and wait for it."""
    with step("docker engine") as s:
        if engine_answers():
            s.result = "running"
            return
        docker_host = os.environ.get("DOCKER_HOST", LOCAL_SOCKET)
        if docker_host != LOCAL_SOCKET:
            raise SetupError(
                f"the Docker engine at DOCKER_HOST={docker_host} does not answer `docker info`; "
                "start it, or unset DOCKER_HOST to let the setup start a local dockerd"
            )
        dockerd = shutil.which("dockerd")
        if dockerd is None or shutil.which("docker") is None:
            raise SetupError(f"no Docker engine answers and dockerd/docker are not installed: {INSTALL_HINT}")
        _start_dockerd(dockerd)
        s.result = f"started dockerd (log {DOCKERD_LOG.relative_to(CACHE_DIR.parent.parent)})"


def _start_dockerd(dockerd: str) -> None:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(DOCKERD_LOG, "ab") as log:
        log.write(f"\n--- tests.setup starting dockerd at {time.ctime()} ---\n".encode())
        log.flush()
        # A session of its own: the engine outlives this process and the test run.
        proc = subprocess.Popen(
            [dockerd],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd="/",
        )
    DOCKERD_PID.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + _timeout()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SetupError(
                f"dockerd exited with status {proc.returncode} while starting; "
                f"last lines of {DOCKERD_LOG}:\n{log_tail(DOCKERD_LOG)}"
            )
        if engine_answers(timeout=5):
            return
        time.sleep(0.5)
    raise SetupError(
        f"dockerd (pid {proc.pid}) did not answer `docker info` within {_timeout():.0f} s "
        f"(BOTSTACK_DOCKERD_TIMEOUT); it is left running; last lines of {DOCKERD_LOG}:\n"
        f"{log_tail(DOCKERD_LOG)}"
    )


def dockerd_log() -> Path:
    return DOCKERD_LOG
