"""Rotating the Redis password and the JWT secret on a running dev stack (docs/secrets.md), like
test_dev_stack.py's database password rotation: the new value takes effect, the old one stops working,
and the app keeps working and keeps its data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.devstack import REPO, DevStack, remove_stack_leftovers, wait_until

pytestmark = pytest.mark.e2e

ROTATED_REDIS_PASSWORD = "rotated-redis-password-0123456789"
ROTATED_JWT_SECRET = "rotated-jwt-secret-0123456789abcdefghijklmnopqrstuv"


class RotationStack(DevStack):
    """A minimal dev stack whose `up` keeps the secrets set by earlier rotations (as `pulumi config set` would)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.config: dict[str, Any] = {}

    def rotate(self, **secrets: str) -> set[str]:
        """Set secrets in the config, `up`, and return the resources that were replaced or updated."""
        self.config.update(secrets)
        before = len(self.mocks.log)
        self.up(**self.config)
        return {name for action, _, name in self.actions()[before:] if action in ("replaced", "updated")}

    def secret_file(self, name: str) -> str:
        return (REPO / ".botstack" / self.stack / "secrets" / name).read_text()

    def redis_cli(self, password: str, *argv: str) -> str:
        """redis-cli inside the cache container with this password (REDISCLI_AUTH, not on the command line)."""
        result = self.container("cache").exec_run(
            ["redis-cli", "-h", "127.0.0.1", "--no-auth-warning", *argv], environment={"REDISCLI_AUTH": password}, user="999:999"
        )
        return result.output.decode().strip()

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/api/health", timeout=10).json()


@pytest.fixture(scope="module")
def stack(real_parts, docker_client) -> Iterator[RotationStack]:
    stack = RotationStack(docker_client, "e2erot", "minimal")
    remove_stack_leftovers(docker_client, stack.stack)
    try:
        stack.up()
        yield stack
    finally:
        stack.teardown()


def test_a_rotated_jwt_secret_invalidates_issued_tokens(stack):
    old_token = stack.token()
    created = stack.create_post("written before the JWT rotation")
    assert stack.secret_file("jwt_secret") != ROTATED_JWT_SECRET

    changed = stack.rotate(jwtSecret=ROTATED_JWT_SECRET)

    assert {"secrets-files", "api-container"} <= changed, changed
    assert stack.secret_file("jwt_secret") == ROTATED_JWT_SECRET
    wait_until(lambda: stack.health()["status"] == "ok", 60, "the API answers")
    stale = {"Authorization": f"Bearer {old_token}"}
    refused = httpx.post(f"{stack.url}/api/posts", json={"text": "with a token of the old secret"}, headers=stale, timeout=30)
    assert refused.status_code == 401, refused.text
    assert stack.create_post("written with a token of the new secret")["id"] > created["id"]
    assert stack.post(created["id"])["text"] == "written before the JWT rotation"


def test_a_rotated_redis_password_takes_effect_and_keeps_the_data(stack):
    old = stack.secret_file("redis_password")
    assert old != ROTATED_REDIS_PASSWORD
    assert stack.redis_cli(old, "SET", "botstack:e2e:kept", "across a rotation") == "OK"
    old_cache = stack.container("cache").id

    changed = stack.rotate(redisPassword=ROTATED_REDIS_PASSWORD)

    # The files are rewritten and the services that read the password restart on them.
    assert {"secrets-files", "cache-container", "api-container"} <= changed, changed
    assert stack.container("cache").id != old_cache
    assert stack.secret_file("redis_password") == ROTATED_REDIS_PASSWORD
    assert stack.redis_cli(ROTATED_REDIS_PASSWORD, "PING") == "PONG"
    refused = stack.redis_cli(old, "PING")
    assert refused.startswith(("WRONGPASS", "NOAUTH", "AUTH failed")), refused
    assert stack.redis_cli(ROTATED_REDIS_PASSWORD, "GET", "botstack:e2e:kept") == "across a rotation"
    health = wait_until(stack.health, 60, "health answers")
    assert health["redis"] == "ok" and health["database"] == "ok", health
