"""The bot's handlers against a local Bot API stand-in (HTTP on 127.0.0.1, records sendMessage)."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from tests.botapi_standin import CHAT, BotApiStandIn, command_update

from .conftest import App, log_of, wait_for

pytestmark = pytest.mark.app

TOKEN = "123456:TEST-token-for-the-stand-in"
START_REPLY = "Hello! I am the botstack demo bot.\n/posts shows the latest posts published to the channels."


@pytest.fixture
def bot_api() -> BotApiStandIn:
    server = BotApiStandIn([command_update(1, "/start"), command_update(2, "/posts")], token=TOKEN)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_bot_answers_start_and_posts(app: App, api: str, auth: dict[str, str], bot_api: BotApiStandIn,
                                     tmp_path) -> None:
    created = httpx.post(f"{api}/posts", json={"channel": "news", "text": "hello from the channel"}, headers=auth)
    httpx.post(f"{api}/posts/{created.json()['id']}/publish", headers=auth).raise_for_status()
    token_file = tmp_path / "bot_token"
    token_file.write_text(TOKEN + "\n")
    bot = app.start("botstack_app.bot:main", "bot", BOT_TOKEN_FILE=str(token_file),
                    TELEGRAM_API_URL=bot_api.url, API_URL=api)
    wait_for(lambda: len(bot_api.sent) >= 2, 20, f"two replies\n{log_of(bot)}")
    start, posts = bot_api.sent[:2]
    assert int(start["chat_id"]) == CHAT and start["text"] == START_REPLY
    assert int(posts["chat_id"]) == CHAT
    assert f"#{created.json()['id']} [news] hello from the channel" in posts["text"]
    assert "getUpdates" in bot_api.calls
    check = app.run(["-m", "botstack_app.healthcheck", "bot"])
    assert check.returncode == 0, check.stdout
    bot.send_signal(signal.SIGTERM)
    assert bot.wait(15) == 0, log_of(bot)
    assert TOKEN not in log_of(bot)
    assert app.run(["-m", "botstack_app.healthcheck", "bot"]).returncode == 1


def test_bot_reports_an_unavailable_api(app: App, bot_api: BotApiStandIn, tmp_path) -> None:
    bot_api.updates[:] = [command_update(1, "/posts")]
    bot = app.start("botstack_app.bot:main", "bot", BOT_TOKEN=TOKEN, TELEGRAM_API_URL=bot_api.url,
                    API_URL="http://127.0.0.1:9")
    wait_for(lambda: bot_api.sent, 20, f"a reply\n{log_of(bot)}")
    assert "unavailable" in bot_api.sent[0]["text"]


def test_bot_without_token_fails_naming_the_variable(app: App) -> None:
    result = app.run(["-c", "from botstack_app.bot import main; main()"], timeout=30)
    assert result.returncode == 2
    assert "BOT_TOKEN (or BOT_TOKEN_FILE) is required" in result.stderr


def test_bot_with_a_missing_poller_lock_dir_fails_naming_the_variable(app: App, tmp_path) -> None:
    result = app.run(["-c", "from botstack_app.bot import main; main()"], timeout=30, BOT_TOKEN=TOKEN,
                     POLLER_LOCK_DIR=str(tmp_path / "not-mounted"))
    assert result.returncode == 2
    assert "POLLER_LOCK_DIR=" in result.stderr and "is not a directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_bot_with_a_wrong_token_is_refused_and_sends_nothing(app: App, bot_api: BotApiStandIn, tmp_path) -> None:
    wrong = "654321:WRONG-token-for-the-stand-in"
    refused = httpx.post(f"{bot_api.url}/bot{wrong}/getMe", timeout=5)
    assert refused.status_code == 401
    assert refused.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert httpx.post(f"{bot_api.url}/bot{TOKEN}/getMe", timeout=5).json()["ok"] is True
    bot = app.start("botstack_app.bot:main", "bot", BOT_TOKEN=wrong, TELEGRAM_API_URL=bot_api.url,
                    API_URL="http://127.0.0.1:9")
    assert bot.wait(20) != 0, f"the bot must stop on Unauthorized\n{log_of(bot)}"
    assert "Unauthorized" in log_of(bot)
    assert bot_api.calls == ["getMe"], "only the test's own call with the right token may get through"
    assert bot_api.sent == []
    assert wrong not in log_of(bot)


def overlapping_polls(polls: list[dict]) -> list[tuple[dict, dict]]:
    """Pairs of getUpdates calls that were held at the same time (a poll still held counts as not finished)."""
    ordered = sorted(polls, key=lambda p: p["started"])
    return [(a, b) for a, b in zip(ordered, ordered[1:], strict=False) if a["finished"] is None or b["started"] < a["finished"]]


def test_overlapping_polls_are_found() -> None:
    polls = [{"started": 1.0, "finished": 1.3}, {"started": 1.4, "finished": 1.7}, {"started": 1.6, "finished": 1.9}]
    assert overlapping_polls(polls) == [(polls[1], polls[2])]
    assert overlapping_polls(polls[:2]) == []
    assert overlapping_polls([{"started": 1.0, "finished": None}, {"started": 2.0, "finished": 2.3}])


def test_a_standby_bot_is_healthy_but_polls_only_after_the_poller_exits(app: App, api: str, bot_api: BotApiStandIn,
                                                                         tmp_path) -> None:
    """Two bots on one poller lock (the directory both bot containers mount during an update): the second imports,
    reports healthy and waits; it polls only once the first has stopped, and never at the same time."""
    lock = tmp_path / "poller-lock"
    lock.mkdir()
    common = {"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": bot_api.url, "API_URL": api, "POLLER_LOCK_DIR": str(lock)}
    alive = {name: tmp_path / name for name in ("old", "new", "spare")}
    for directory in alive.values():
        directory.mkdir()

    def healthy(name: str) -> bool:
        return app.run(["-m", "botstack_app.healthcheck", "bot"], LIVENESS_DIR=str(alive[name])).returncode == 0

    old = app.start("botstack_app.bot:main", "bot-old", LIVENESS_DIR=str(alive["old"]), **common)
    wait_for(lambda: len(bot_api.sent) >= 2, 20, f"the first bot answers\n{log_of(old)}")
    new, spare = (app.start("botstack_app.bot:main", f"bot-{name}", LIVENESS_DIR=str(alive[name]), **common)
                  for name in ("new", "spare"))
    wait_for(lambda: healthy("new") and healthy("spare"), 30, f"two healthy standbys\n{log_of(new)}\n{log_of(spare)}")
    time.sleep(1)  # a standby that polled anyway would be held beside the first bot's polls now
    assert not overlapping_polls(bot_api.polls), "a standby polled while the first bot did"
    assert "standby: another bot polls" in log_of(new)

    # A standby stopped before it ever polls (an update that failed) exits at once and cleanly.
    spare.send_signal(signal.SIGTERM)
    assert spare.wait(10) == 0, log_of(spare)
    assert "stopped before polling" in log_of(spare)

    stopping = time.time()
    old.send_signal(signal.SIGTERM)
    assert old.wait(15) == 0, log_of(old)
    assert "stopping: the last poll has returned" in log_of(old)  # not cancelled: nothing left for the server to hold
    bot_api.updates.append(command_update(3, "/start"))
    wait_for(lambda: len(bot_api.sent) >= 3, 20, f"the second bot took over and answered\n{log_of(new)}")
    assert "took the poller lock" in log_of(new)
    assert not overlapping_polls(bot_api.polls), "two bots polled at the same time"
    ordered = sorted(bot_api.polls, key=lambda p: p["started"])
    handover = max(b["started"] - a["finished"] for a, b in zip(ordered, ordered[1:], strict=False) if b["started"] > stopping)
    assert handover < 2, f"no poll for {handover:.1f} s at the handover"
    assert not [p for p in bot_api.polls if p["status"] == 409]
    new.send_signal(signal.SIGTERM)
    assert new.wait(15) == 0, log_of(new)
