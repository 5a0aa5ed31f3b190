"""The Bot API stand-in allows one getUpdates poller at a time, like Telegram (in-process, loopback only)."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator

import pytest

from tests.botapi_standin import CONFLICT, BotApiStandIn


@pytest.fixture
def standin() -> Iterator[BotApiStandIn]:
    server = BotApiStandIn([], token=None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def get_updates(server: BotApiStandIn, source: str) -> tuple[int, dict]:
    """A getUpdates from the loopback address `source` (a second bot container, as the stand-in sees it)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5, source_address=(source, 0))
    try:
        conn.request(
            "POST", "/bot1:x/getUpdates", body=b"offset=0", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_one_poller_after_another_is_no_conflict(standin):
    assert get_updates(standin, "127.0.0.1")[0] == 200
    assert get_updates(standin, "127.0.0.2")[0] == 200
    assert get_updates(standin, "127.0.0.1")[0] == 200
    polls = standin.polls
    assert [(p["client"], p["status"]) for p in polls] == [("127.0.0.1", 200), ("127.0.0.2", 200), ("127.0.0.1", 200)]
    assert all(p["started"] <= p["finished"] for p in polls)


def test_a_second_poller_ends_the_held_poll_with_409(standin):
    first: dict[str, tuple[int, dict]] = {}
    holder = threading.Thread(target=lambda: first.setdefault("answer", get_updates(standin, "127.0.0.1")))
    holder.start()
    while not standin.held:  # the first poll is being held (nothing pending)
        threading.Event().wait(0.01)
    assert get_updates(standin, "127.0.0.2")[0] == 200
    holder.join(timeout=5)
    status, body = first["answer"]
    assert status == 409 and body["description"] == CONFLICT
    assert sorted((p["client"], p["status"]) for p in standin.polls) == [("127.0.0.1", 409), ("127.0.0.2", 200)]
