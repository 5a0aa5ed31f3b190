"""The deploy side of the benchmark: botstack's dev stack (through the provider test double) and the seeds'
docker compose baseline, each applied, then updated to a new API image under the same steady load; botstack is
then rolled back (`make rollback`'s plan, scripts/rollback.py) under the same load."""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx

from scripts.rollback import previous_images
from tests.bench.load import LoadResult, SteadyLoad
from tests.e2e.devstack import DevStack, free_port, remove_stack_leftovers, stack_config
from tests.setup import BACKEND_IMAGE, CADDY_IMAGE, POSTGRES_IMAGE, REDIS_IMAGE

HERE = Path(__file__).resolve().parent
COMPOSE_FILE = HERE / "compose.yml"
COMPOSE_PROJECT = "botstack-bench-compose"
BENCH_REPO = "botstack-bench/backend"
BENCH_STACK = "bench"
LOAD = {"threads": 2, "pause": 0.02, "max_requests": 20_000, "max_seconds": 240}
SETTLE_SECONDS = 2.0  # load before the update (the latency baseline) and after it


class BenchError(RuntimeError):
    pass


@dataclass
class UpdateRun:
    """One system's numbers: apply, apply again, and an API image update under load (botstack: and a rollback)."""

    apply_seconds: float = 0.0  # command start -> every container healthy (the best of the applies measured)
    apply_samples: list[float] = field(default_factory=list)
    again_seconds: float | None = None
    again_changes: list[str] = field(default_factory=list)
    update_seconds: float = 0.0  # the update command's own duration
    load: LoadResult | None = None
    api_ready_seconds: float | None = None  # update start -> the new API healthy (botstack)
    bot_gap_seconds: float | None = None  # the longest time without a getUpdates poll during the update (botstack)
    rollback_seconds: float | None = None
    rollback_load: LoadResult | None = None
    rollback_api_ready_seconds: float | None = None  # rollback start -> the previous API healthy (botstack)
    rollback_bot_gap_seconds: float | None = None
    # the same load for as long as the update took, with no change at all: how slow requests get on this machine anyway
    quiet_load: LoadResult | None = None
    notes: list[str] = field(default_factory=list)


def backend_revisions(client: docker.DockerClient, repo: str = BENCH_REPO) -> tuple[str, str]:
    """Two tags of the backend image that differ only by a label: revision 1 and revision 2 of the 'release'."""
    v1, v2 = f"{repo}:v1", f"{repo}:v2"
    client.images.get(BACKEND_IMAGE).tag(repo, "v1")
    dockerfile = f"FROM {v1}\nLABEL botstack.bench.revision=2\n".encode()
    client.images.build(fileobj=io.BytesIO(dockerfile), tag=v2, rm=True, pull=False)
    return v1, v2


def remove_backend_revisions(client: docker.DockerClient, repo: str = BENCH_REPO) -> None:
    for tag in ("v2", "v1"):
        # still used by a container of an interrupted run: the next run retags it
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(f"{repo}:{tag}", noprune=False)


def wait_healthy(client: docker.DockerClient, label: str, expected: int, timeout: float = 300) -> None:
    """Until `expected` running containers with `label` exist and every one with a healthcheck is healthy."""
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        containers = client.containers.list(filters={"label": label})
        states = {c.name: (c.attrs["State"].get("Health") or {}).get("Status", "running") for c in containers}
        if len(states) >= expected and all(s in ("healthy", "running") for s in states.values()):
            return
        time.sleep(0.25)
    raise BenchError(f"not all healthy within {timeout} s: {states}")


def timeline(stack: DevStack, since: int, started: float) -> str:
    """The steps of one `up` that changed something: start and end in seconds after `started`, and the name."""
    lines = [line for line in stack.mocks.log[since:] if line.action != "unchanged"]
    return "; ".join(f"{line.action} {line.name} {line.started - started:.1f}-{line.finished - started:.1f}" for line in lines)


def measured_update(url: str, update: Any) -> tuple[float, LoadResult]:
    """Steady load on `url`; after SETTLE_SECONDS run `update()`; SETTLE_SECONDS more; the update's duration."""
    with SteadyLoad(url, **LOAD) as load:
        time.sleep(SETTLE_SECONDS)
        load.mark()
        started = time.monotonic()
        update()
        seconds = time.monotonic() - started
        time.sleep(SETTLE_SECONDS)
    return seconds, load.result


# ---- botstack ------------------------------------------------------------------------------------------------


def history_entry(images: dict[str, Any]) -> dict[str, Any]:
    """What `pulumi stack history --json` records of a successful `up` with this images config."""
    return {
        "kind": "update",
        "result": "succeeded",
        "config": {"botstack:images": {"value": json.dumps(images), "secret": False}},
    }


def bot_gap(stack: DevStack, since: float, until: float) -> float:
    """The longest stretch between two getUpdates polls (wall clock) that overlaps [since, until]."""
    assert stack.bot_api is not None
    polls = httpx.get(f"http://127.0.0.1:{stack.bot_api.port}/_polls", timeout=10).json()["polls"]
    done = sorted((p for p in polls if p["finished"] is not None), key=lambda p: p["started"])
    gaps = [
        b["started"] - a["finished"]
        for a, b in zip(done, done[1:], strict=False)
        if b["started"] >= since and a["finished"] <= until
    ]
    return max(gaps, default=0.0)


def api_ready(stack: DevStack, since: int) -> float:
    """When the replacement API container of the `up` whose log starts at `since` was created and healthy."""
    (api,) = [line for line in stack.mocks.log[since:] if line.action == "replaced" and line.name == "api-container"]
    return api.finished


def apply_botstack(client: docker.DockerClient) -> float:
    """One more apply of a fresh stack until every container is healthy, then destroy it: a sample taken between
    two of the baseline's, so that both see about the same load on a shared machine."""
    stack = DevStack(client, BENCH_STACK, "full")
    remove_stack_leftovers(client, BENCH_STACK)
    stack.start_bot_api()
    try:
        started = time.monotonic()
        stack.up()
        wait_healthy(client, f"botstack.stack={BENCH_STACK}", expected=6)
        return time.monotonic() - started
    finally:
        stack.teardown()


def run_botstack(client: docker.DockerClient, new_image: str, apply_samples: list[float]) -> UpdateRun:
    run = UpdateRun(apply_samples=list(apply_samples))
    stack = DevStack(client, BENCH_STACK, "full")
    remove_stack_leftovers(client, BENCH_STACK)
    stack.start_bot_api()
    label = f"botstack.stack={BENCH_STACK}"
    base_images = json.loads(stack_config("full", stack.web_port)["botstack:images"])
    history = [history_entry(base_images)]  # newest first, as the engine records it
    try:
        started = time.monotonic()
        stack.up()
        wait_healthy(client, label, expected=6)
        run.apply_samples.append(time.monotonic() - started)
        run.apply_seconds = min(run.apply_samples)
        run.notes.append(f"botstack apply: {timeline(stack, 0, started)}")

        before = len(stack.mocks.log)
        started = time.monotonic()
        stack.up()
        wait_healthy(client, label, expected=6)
        run.again_seconds = time.monotonic() - started
        run.again_changes = [f"{a} {n}" for a, _, n in stack.actions()[before:] if a != "unchanged"]

        images = {**base_images, "backend": new_image}
        before = len(stack.mocks.log)
        wall = time.time()
        run.update_seconds, run.load = measured_update(stack.url, lambda: stack.up(images=images))
        history.insert(0, history_entry(images))
        replaced = sorted({n for a, _, n in stack.actions()[before:] if a == "replaced" and n.endswith("-container")})
        run.notes.append(f"botstack replaced: {', '.join(replaced)}")
        assert run.load.marked is not None
        run.api_ready_seconds = api_ready(stack, before) - run.load.marked
        run.bot_gap_seconds = bot_gap(stack, wall, wall + SETTLE_SECONDS + run.update_seconds)
        run.notes.append(f"botstack update: {timeline(stack, before, run.load.marked)}")

        # `make rollback`: the previous images from the history, then `up` (scripts/rollback.py).
        _, previous = previous_images(history)
        rolled_back = {key: value for key, value in images.items() if key not in ("tag", "backend", "web")} | previous
        before = len(stack.mocks.log)
        wall = time.time()
        run.rollback_seconds, run.rollback_load = measured_update(stack.url, lambda: stack.up(images=rolled_back))
        assert run.rollback_load.marked is not None
        run.rollback_api_ready_seconds = api_ready(stack, before) - run.rollback_load.marked
        run.rollback_bot_gap_seconds = bot_gap(stack, wall, wall + SETTLE_SECONDS + run.rollback_seconds)
        run.notes.append(f"botstack rollback: {timeline(stack, before, run.rollback_load.marked)}")

        # The control: the same load, as long as the update took, while nothing changes.
        _, run.quiet_load = measured_update(stack.url, lambda: time.sleep(run.update_seconds))
        return run
    finally:
        stack.teardown()


# ---- docker compose (the seeds' baseline) --------------------------------------------------------------------


def compose_binary() -> str:
    found = shutil.which("docker-compose")
    if not found:
        raise BenchError(
            "docker-compose is not installed; the baseline needs it: apt-get install -y docker-compose (Debian's 1.29)"
        )
    return found


class ComposeBaseline:
    def __init__(self, client: docker.DockerClient, workdir: Path) -> None:
        self.client, self.workdir = client, workdir
        self.binary = compose_binary()
        self.port = free_port()
        self.env_file = workdir / "compose.env"
        self.values = {
            "POSTGRES_IMAGE": POSTGRES_IMAGE,
            "REDIS_IMAGE": REDIS_IMAGE,
            "CADDY_IMAGE": CADDY_IMAGE,
            "WEB_PORT": str(self.port),
            "DB_PASSWORD": secrets.token_hex(16),
            "JWT_SECRET": secrets.token_hex(32),
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def compose(self, *args: str, timeout: float = 300) -> None:
        self.env_file.touch(mode=0o600)
        command = [self.binary, "-p", COMPOSE_PROJECT, "-f", str(COMPOSE_FILE), "--env-file", str(self.env_file), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise BenchError(f"docker-compose {' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    def set_tag(self, tag: str) -> None:
        values = {**self.values, "API_TAG": tag}
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        self.env_file.chmod(0o600)

    def down(self) -> None:
        if self.env_file.exists():
            self.compose("down", "-v", "--remove-orphans", "--timeout", "10")

    def wait_api(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise BenchError(f"the compose baseline's API did not answer within {timeout} s")


def applied(client: docker.DockerClient, baseline: ComposeBaseline) -> float:
    """The baseline's apply: migrate, then `up -d`, until every container is healthy and the API answers."""
    started = time.monotonic()
    baseline.compose("run", "--rm", "migrate")
    baseline.compose("up", "-d")
    wait_healthy(client, f"com.docker.compose.project={COMPOSE_PROJECT}", expected=4)
    baseline.wait_api()
    return time.monotonic() - started


def apply_compose(client: docker.DockerClient) -> float:
    """One more apply of the baseline from nothing, then `down -v` (see apply_botstack)."""
    with tempfile.TemporaryDirectory(prefix="botstack-bench-compose-") as tmp:
        baseline = ComposeBaseline(client, Path(tmp))
        baseline.set_tag("v1")
        baseline.down()
        try:
            return applied(client, baseline)
        finally:
            baseline.down()


def run_compose(client: docker.DockerClient, apply_samples: list[float]) -> UpdateRun:
    run = UpdateRun(apply_samples=list(apply_samples))
    with tempfile.TemporaryDirectory(prefix="botstack-bench-compose-") as tmp:
        baseline = ComposeBaseline(client, Path(tmp))
        baseline.set_tag("v1")
        baseline.down()  # leftovers of an interrupted run
        try:
            run.apply_samples.append(applied(client, baseline))
            run.apply_seconds = min(run.apply_samples)

            def update() -> None:
                baseline.set_tag("v2")
                baseline.compose("up", "-d")

            run.update_seconds, run.load = measured_update(baseline.url, update)
            return run
        finally:
            baseline.down()
