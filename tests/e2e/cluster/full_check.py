"""By hand, not in CI (about 3 minutes; CI's cluster suite, tests/e2e/cluster/test_stack.py, runs the minimal
profile within its time budget): the full profile on three node test hosts, __main__.py through the provider double.

What it shows beyond the CI suite: the worker, a swarm service, completes a job created through the public API (a
post published), and the bot, one stop-first task, answers /start through a Telegram stand-in; an update of the bot
(a new image reference) stops the old task before the new one polls, so the stand-in never answers 409 Conflict
(Telegram allows one poller per bot token).

The stand-in (tests/botapi_standin.py, run by the backend image's Python) is a swarm service on the stack's backend
overlay, created from outside the program as soon as that network exists, so the bot reaches it by name as
`http://telegram:8081`. What this does not show: the bot's way out of the swarm to api.telegram.org (through
docker_gwbridge and the DOCKER-USER rule); this machine has no internet access.

    .venv/bin/python -m tests.e2e.cluster.full_check
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from tests.double import RealMocks, run_program
from tests.e2e.cluster.nodes import Cluster, Node, _docker, start_cluster
from tests.e2e.cluster.test_stack import NODE_IMAGES, RELEASE_2, WEB_NODE, stack_config, under_load
from tests.e2e.devstack import BOT_TOKEN, PROGRAM, REPO, START_REPLY
from tests.e2e.vds.host import _wait
from tests.setup import BACKEND_IMAGE

STACK = "e2ecfull"
STANDIN = REPO / "tests" / "botapi_standin.py"
STANDIN_SERVICE = "telegram"
STARTED = time.monotonic()


def log(*parts: object) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f} s]", *parts, flush=True)


def on_manager(manager: Node, *args: str) -> str:
    """A docker command on the manager's engine from outside the program (the test's own access, as root)."""
    return _docker("exec", manager.host.container, "docker", *args).stdout.decode()


def start_standin_when_the_network_exists(manager: Node, network: str) -> threading.Thread:
    """The Bot API stand-in as a swarm service on `network`, created as soon as the program has made it."""

    def run() -> None:
        deadline = time.monotonic() + 600
        while not on_manager(manager, "network", "ls", "-q", "--filter", f"name={network}").strip():
            if time.monotonic() > deadline:
                raise TimeoutError(f"network {network} never appeared")
            time.sleep(0.5)
        on_manager(manager, "service", "create", "--detach", "--name", STANDIN_SERVICE, "--endpoint-mode", "dnsrr",
                   "--network", network, "--constraint", f"node.hostname=={manager.name}", "--no-healthcheck",
                   "--env", f"STANDIN_BOT_TOKEN={BOT_TOKEN}", BACKEND_IMAGE,
                   "python3", "-c", STANDIN.read_text(), "0.0.0.0", "8081")  # fmt: skip

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def standin_state(manager: Node, path: str) -> dict[str, Any]:
    """GET the stand-in's /_sent or /_polls from inside its task (it is reachable on the overlay only)."""
    container = on_manager(manager, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STANDIN_SERVICE}").split()[0]
    read = f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8081{path}').read().decode())"
    return json.loads(on_manager(manager, "exec", container, "python3", "-c", read))


def api_token(cluster: Cluster) -> str:
    """An API token minted inside an api task from its mounted secret (the check never sees the secret)."""
    for node in cluster.nodes:
        found = node.docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name=botstack-{STACK}-api").split()
        if found:
            return node.docker("exec", found[0], "botstack-token", "e2e").strip()
    raise AssertionError("no running api task on any node")


def main() -> None:
    cluster = start_cluster(publish={WEB_NODE: (80,)})
    manager = cluster.nodes[0]
    try:
        cluster.load_images(NODE_IMAGES)
        log("nodes up, images loaded")
        standin = start_standin_when_the_network_exists(manager, f"botstack-{STACK}-backend")
        mocks = RealMocks(REPO)
        full = {"profile": "full", "botToken": BOT_TOKEN, "telegramApiUrl": f"http://{STANDIN_SERVICE}:8081"}

        def up(**settings: Any) -> dict[str, Any]:
            return run_program(PROGRAM, stack_config(cluster, **full, **settings), stack=STACK, mocks=mocks)

        outputs = up()
        standin.join(timeout=5)
        for node in cluster.nodes:
            node.host.user = "deploy"
        log("up:", outputs["services"])
        assert set(outputs["services"]) == {"database", "cache", "api", "worker", "bot", "web"}
        health = httpx.get(outputs["healthUrl"], timeout=10)
        assert health.status_code == 200 and health.json()["database"] == "ok", health.text

        url = outputs["healthUrl"].removesuffix("/api/health")
        created = httpx.post(f"{url}/api/posts", json={"text": "published by the worker on the cluster"},
                             headers={"Authorization": f"Bearer {api_token(cluster)}"}, timeout=30)  # fmt: skip
        assert created.status_code == 201, created.text
        post_id = created.json()["id"]

        def published() -> tuple[bool, Any]:
            post = httpx.get(f"{url}/api/posts/{post_id}", timeout=30).json()
            return post["status"] == "published", post

        _wait("the worker published the post", published, 60)
        post = httpx.get(f"{url}/api/posts/{post_id}", timeout=30).json()
        worker_nodes = manager.docker("service", "ps", f"botstack-{STACK}-worker", "--filter", "desired-state=running",
                                      "--format", "{{.Node}}").split()  # fmt: skip
        log(f"the worker (a task on {worker_nodes}) published post {post_id}: publish_count {post['publish_count']}")
        assert post["publish_count"] == 1

        def answered() -> tuple[bool, Any]:
            sent = standin_state(manager, "/_sent")["sent"]
            return bool(sent), sent

        _wait("the bot answered /start", answered, 60)
        sent = standin_state(manager, "/_sent")["sent"]
        assert [(int(m["chat_id"]), m["text"]) for m in sent] == [(4242, START_REPLY)], sent
        spec = json.loads(manager.docker("service", "inspect", f"botstack-{STACK}-bot"))[0]["Spec"]
        assert spec["Mode"]["Replicated"]["Replicas"] == 1 and spec["UpdateConfig"]["Order"] == "stop-first"
        log("the bot (1 task, stop-first) answered /start")

        for node in cluster.nodes:
            node.docker("tag", BACKEND_IMAGE, RELEASE_2)
        before = len(standin_state(manager, "/_polls")["polls"])

        def release() -> str:
            up(backend=RELEASE_2)
            images = manager.docker("service", "ps", f"botstack-{STACK}-bot", "--filter", "desired-state=running",
                                    "--format", "{{.Image}}").split()  # fmt: skip
            assert images == [RELEASE_2], images
            return "the bot's one task on the new image"

        load = under_load("a release of every app service (api, worker, bot)", outputs["healthUrl"], release)
        assert load["failed"] == 0, load
        time.sleep(2)  # the new bot's first polls
        polls = standin_state(manager, "/_polls")["polls"][before:]
        conflicts = [p for p in polls if p["status"] == 409]
        clients = sorted({p["client"] for p in polls})
        log(f"polls during and after the bot's update: {len(polls)} from {clients}, {len(conflicts)} answered 409")
        assert polls and not conflicts, polls
        log("done")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
