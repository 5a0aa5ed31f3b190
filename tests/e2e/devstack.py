"""A dev stack run for real through the provider test double: config, the Bot API stand-in container,
and helpers to talk to the running stack. Shared by the e2e tests and the benchmark (tests/bench)."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
import pulumi

from tests.double import DoubleError, RealMocks, run_program
from tests.setup import APP_BUILD_ARGS, CADDY_IMAGE, POSTGRES_IMAGE, PYTHON_IMAGE, REDIS_IMAGE

REPO = Path(__file__).resolve().parents[2]
PROGRAM = REPO / "__main__.py"
STANDIN_SCRIPT = REPO / "tests" / "botapi_standin.py"
BOT_TOKEN = "123456789:AAStandInStandInStandInStandInStand"
# The reference bot's answer to /start (app/backend/botstack_app/bot.py).
START_REPLY = "Hello! I am the botstack demo bot.\n/posts shows the latest posts published to the channels."
MIGRATIONS = REPO / "app" / "backend" / "botstack_app" / "migrations"
APP_SERVICES = ("api", "worker", "bot")


def alembic_head() -> str:
    """The head revision of the app's migration scripts, as `alembic upgrade head` computes it."""
    from alembic.script import ScriptDirectory

    (head,) = ScriptDirectory(str(MIGRATIONS)).get_heads()
    return head


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_config(profile: str, web_port: int, **extra: Any) -> dict[str, str]:
    """The test stack's config: stand-in images, offline builds, a local Bot API stand-in."""
    config: dict[str, Any] = {
        "profile": profile,
        "ports": {"web": web_port},
        "images": {
            "postgres": POSTGRES_IMAGE,
            "redis": REDIS_IMAGE,
            "python": PYTHON_IMAGE,
            "proxy": CADDY_IMAGE,
            "buildArgs": {k: v for k, v in APP_BUILD_ARGS.items() if k not in ("PYTHON_IMAGE", "CADDY_IMAGE")},
        },
        "deployCheck": {"timeoutSeconds": 60},
    }
    if profile == "full":
        config["botToken"] = BOT_TOKEN
        config["telegramApiUrl"] = "http://telegram:8081"
    config.update(extra)
    return {f"botstack:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def wait_for_network(client: docker.DockerClient, network: str, seconds: float = 300) -> None:
    """Wait until the double has created the stack's network (a sidecar joins it before the app needs it)."""
    deadline = time.monotonic() + seconds
    while not client.networks.list(names=[network]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"network {network} never appeared")
        time.sleep(0.2)


class NetworkSidecar:
    """A helper container that joins the stack's network under `aliases` as soon as the double creates that
    network, from a thread, so it answers before the app containers that need it start. Subclasses say
    what to run in `create()`; `raise_if_failed()` reports a start that went wrong."""

    aliases: list[str] = []

    def __init__(self, client: docker.DockerClient, network: str, name: str) -> None:
        self.client, self.network, self.name = client, network, name
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._start_when_ready, daemon=True)
        self.thread.start()

    def create(self) -> docker.models.containers.Container:
        raise NotImplementedError

    def _start_when_ready(self) -> None:
        try:
            wait_for_network(self.client, self.network)
            container = self.create()
            self.client.networks.get(self.network).connect(container, aliases=self.aliases)
            container.start()
        except Exception as exc:  # reported by raise_if_failed()
            self.error = exc

    def raise_if_failed(self) -> None:
        if self.error:
            raise self.error

    def remove(self) -> None:
        self.thread.join(timeout=5)
        with contextlib.suppress(docker.errors.NotFound):
            self.client.containers.get(self.name).remove(force=True)


class BotApiContainer(NetworkSidecar):
    """The Bot API stand-in as a container on the stack's edge network (alias `telegram`), so the bot finds it
    when the double creates the bot container."""

    aliases = ["telegram"]

    def __init__(self, client: docker.DockerClient, network: str, name: str) -> None:
        self.port = free_port()
        super().__init__(client, network, name)

    def create(self) -> docker.models.containers.Container:
        return self.client.containers.create(
            PYTHON_IMAGE,
            ["python3", "/standin.py", "0.0.0.0", "8081"],
            name=self.name,
            volumes={str(STANDIN_SCRIPT): {"bind": "/standin.py", "mode": "ro"}},
            ports={"8081/tcp": ("127.0.0.1", self.port)},
            labels={"botstack.e2e": "1"},
            user="65534:65534",
            environment={"STANDIN_BOT_TOKEN": BOT_TOKEN},  # any other token gets Telegram's 401
        )

    def sent(self) -> list[dict[str, Any]]:
        self.raise_if_failed()
        return httpx.get(f"http://127.0.0.1:{self.port}/_sent", timeout=5).json()["sent"]


def remove_stack_leftovers(client: docker.DockerClient, stack: str) -> None:
    """Remove what an earlier, interrupted run of this test stack may have left (containers, networks, volumes)."""
    for container in client.containers.list(all=True, filters={"label": f"botstack.stack={stack}"}):
        container.remove(force=True)
    for network in client.networks.list(names=[f"botstack-{stack}-backend", f"botstack-{stack}-edge"]):
        network.remove()
    for volume in client.volumes.list(filters={"label": f"botstack.stack={stack}"}):
        volume.remove(force=True)


class DevStack:
    """One test stack: its config, the double's state across runs, and helpers to talk to it."""

    def __init__(self, client: docker.DockerClient, stack: str, profile: str) -> None:
        self.client, self.stack, self.profile = client, stack, profile
        self.web_port = free_port()
        self.mocks = RealMocks(REPO)
        self.outputs: dict[str, Any] = {}
        self.apply_seconds = 0.0
        self.bot_api: BotApiContainer | None = None

    def start_bot_api(self) -> BotApiContainer:
        """The Bot API stand-in for profile full, started once the stack's edge network exists."""
        self.bot_api = BotApiContainer(self.client, f"botstack-{self.stack}-edge", f"botstack-e2e-{self.stack}-telegram")
        return self.bot_api

    def teardown(self) -> None:
        """Destroy like `pulumi destroy` (retained volumes stay), then remove every leftover of this test stack."""
        if self.bot_api is not None:
            self.bot_api.remove()
        try:
            self.mocks.destroy_all()
        except DoubleError as exc:
            # After a failed `up` the double has forgotten the replaced containers it had not deleted yet (the engine
            # keeps them as pending deletes), so their networks can't go: say so, and clean up below anyway.
            warnings.warn(f"destroying test stack {self.stack} left resources behind: {exc}", stacklevel=2)
        finally:
            remove_stack_leftovers(self.client, self.stack)

    def up(self, **extra: Any) -> dict[str, Any]:
        started = time.monotonic()
        self.outputs = run_program(
            PROGRAM, stack_config(self.profile, self.web_port, **extra), stack=self.stack, mocks=self.mocks
        )
        self.apply_seconds = time.monotonic() - started
        return self.outputs

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def container(self, service: str) -> Any:
        """The service's running container, found by its labels (api and worker have provider-generated names);
        while an update overlaps two of them, the newest."""
        found = self.client.containers.list(filters={"label": [f"botstack.stack={self.stack}", f"botstack.service={service}"]})
        if not found:
            raise docker.errors.NotFound(f"no running container of service {service} in stack {self.stack}")
        return max(found, key=lambda c: c.attrs["Created"])

    def token(self) -> str:
        """An API token, minted inside the API container from its mounted secret (the test never sees the secret)."""
        result = self.container("api").exec_run(["botstack-token", "e2e"], user="10001:10001")
        assert result.exit_code == 0, result.output.decode()
        return result.output.decode().strip()

    def create_post(self, text: str) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/api/posts", json={"text": text}, headers={"Authorization": f"Bearer {self.token()}"}, timeout=30
        )
        assert response.status_code == 201, response.text
        return response.json()

    def post(self, post_id: int) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/api/posts/{post_id}", timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def actions(self) -> list[tuple[str, str, str]]:
        return [tuple(line) for line in self.mocks.log]  # type: ignore[misc]


def wait_until(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (httpx.HTTPError, AssertionError, KeyError) as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout} s; last: {last!r}")


def secret_forms(value: str) -> set[str]:
    """A secret as it could leak: itself, base64 (how the secrets payload carries it), each line of a PEM key."""
    lines = {line for line in value.splitlines() if len(line) >= 16 and not line.startswith("-----")}
    return {value, base64.b64encode(value.encode()).decode(), *lines}


def leaked(text: str, secrets: dict[str, str]) -> list[str]:
    """The names of the secrets found in text (never their values, so a failure doesn't print them)."""
    return [name for name, value in secrets.items() if any(form in text for form in secret_forms(value))]


def plain_state(value: Any) -> str:
    """What a state file would keep readable: everything but secret outputs (the double keeps those as Output.secret)."""
    if isinstance(value, pulumi.Output):
        return ""
    if isinstance(value, dict):
        return "\n".join(f"{k}={plain_state(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "\n".join(plain_state(v) for v in value)
    return str(value)


def assert_no_secret_in_plain_state(mocks: RealMocks, secrets: dict[str, str]) -> None:
    """No secret in the plain-text part of the double's state (inputs and outputs not marked secret) or its log;
    and every secret is found in the secret part, so the search reaches where they are."""
    registry = list(mocks.registry.values())
    assert registry
    found_as_secret: set[str] = set()
    for entry in registry:
        plain_inputs = {k: v for k, v in entry.inputs.items() if k not in entry.secret_keys}
        plain_outputs = {k: v for k, v in entry.outputs.items() if k not in entry.secret_keys}
        assert not leaked(plain_state(plain_inputs), secrets), f"{entry.name}: inputs kept in plain text"
        assert not leaked(plain_state(plain_outputs), secrets), f"{entry.name}: outputs kept in plain text"
        secret_inputs = {k: v for k, v in entry.inputs.items() if k in entry.secret_keys}
        found_as_secret.update(leaked(json.dumps(secret_inputs, default=str), secrets))
    assert found_as_secret == set(secrets)
    assert not leaked(json.dumps([list(line) for line in mocks.log]), secrets), "the double's log"
