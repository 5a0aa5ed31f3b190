"""The bot's handlers against a local Bot API stand-in (HTTP on 127.0.0.1, records sendMessage)."""

from __future__ import annotations

import email.parser
import email.policy
import json
import signal
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from .conftest import App, log_of, wait_for

pytestmark = pytest.mark.app

TOKEN = "123456:TEST-token-for-the-stand-in"
CHAT = 4242


def command_update(update_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": CHAT, "type": "private", "first_name": "Tester"},
            "from": {"id": CHAT, "is_bot": False, "first_name": "Tester"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


class BotApiStandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, updates: list[dict[str, Any]]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.updates = updates
        self.sent: list[dict[str, str]] = []
        self.calls: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: BotApiStandIn

    def log_message(self, *args: object) -> None:
        pass

    def _params(self) -> dict[str, str]:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {ctype}\r\n\r\n".encode() + body
            )
            return {p.get_param("name", header="content-disposition"): p.get_content() for p in msg.iter_parts()}
        if ctype.startswith("application/json"):
            return json.loads(body or b"{}")
        return {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode()).items()}

    def do_POST(self) -> None:  # noqa: N802
        prefix = f"/bot{TOKEN}/"
        if not self.path.startswith(prefix):
            return self._reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        method = self.path[len(prefix):]
        params = self._params()
        srv = self.server
        with srv.lock:
            srv.calls.append(method)
        if method == "getMe":
            return self._ok({"id": 1, "is_bot": True, "first_name": "Stand-in", "username": "standin_bot"})
        if method == "getUpdates":
            offset = int(params.get("offset", 0))
            with srv.lock:
                pending = [u for u in srv.updates if u["update_id"] >= offset]
            if not pending:
                time.sleep(0.3)
            return self._ok(pending)
        if method == "sendMessage":
            with srv.lock:
                srv.sent.append(params)
                n = len(srv.sent)
            return self._ok({"message_id": 1000 + n, "date": int(time.time()),
                             "chat": {"id": int(params["chat_id"]), "type": "private"}, "text": params["text"]})
        return self._ok(True)

    do_GET = do_POST  # noqa: N815

    def _ok(self, result: object) -> None:
        self._reply(200, {"ok": True, "result": result})

    def _reply(self, code: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def bot_api() -> BotApiStandIn:
    server = BotApiStandIn([command_update(1, "/start"), command_update(2, "/posts")])
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
    assert int(start["chat_id"]) == CHAT and "/posts" in start["text"]
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
