"""A local stand-in for the Telegram Bot API: serves queued updates, records what the bot sends.

Used in-process by the app tests and as a container (`python3 botapi_standin.py 0.0.0.0 8081`, the expected
token in STANDIN_BOT_TOKEN) by the e2e tests, where `GET /_sent` returns the recorded sendMessage calls.
A wrong token gets Telegram's 401 answer and is not recorded. Standard library only, so it
runs in any image with Python 3.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT = 4242
LONG_POLL_SECONDS = 0.3  # how long getUpdates holds when nothing is pending
CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"


def command_update(update_id: int, text: str, chat: int = CHAT) -> dict[str, Any]:
    """A private-chat message carrying a bot command, as getUpdates delivers it."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": "Tester"},
            "from": {"id": chat, "is_bot": False, "first_name": "Tester"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }


class BotApiStandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, updates: list[dict[str, Any]], host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> None:
        super().__init__((host, port), Handler)
        self.updates = updates
        self.token = token  # None: any token is accepted
        self.sent: list[dict[str, str]] = []
        self.calls: list[str] = []
        self.polls: list[dict[str, Any]] = []  # every getUpdates: client, started, finished (time.time()), status
        self.held: dict[int, tuple[str, threading.Event]] = {}  # poll number -> (client, terminated)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: BotApiStandIn

    def log_message(self, *args: object) -> None:
        pass

    def _params(self) -> dict[str, Any]:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + body)
            return {p.get_param("name", header="content-disposition"): p.get_content() for p in msg.iter_parts()}
        if ctype.startswith("application/json"):
            return json.loads(body or b"{}")
        return {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode()).items()}

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/_sent":
            with self.server.lock:
                return self._reply(200, {"sent": list(self.server.sent), "calls": list(self.server.calls)})
        if self.path == "/_polls":
            with self.server.lock:
                return self._reply(200, {"polls": [dict(p) for p in self.server.polls]})
        return self.do_POST()

    def do_POST(self) -> None:  # noqa: N802
        srv = self.server
        _, _, rest = self.path.partition("/bot")
        token, _, method = rest.partition("/")
        if not method or (srv.token is not None and token != srv.token):
            return self._reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        params = self._params()
        with srv.lock:
            srv.calls.append(method)
        if method == "getMe":
            return self._ok({"id": 1, "is_bot": True, "first_name": "Stand-in", "username": "standin_bot"})
        if method == "getUpdates":
            return self._get_updates(int(params.get("offset", 0)))
        if method == "sendMessage":
            with srv.lock:
                srv.sent.append(params)
                n = len(srv.sent)
            chat = {"id": int(params["chat_id"]), "type": "private"}
            return self._ok({"message_id": 1000 + n, "date": int(time.time()), "chat": chat, "text": params["text"]})
        return self._ok(True)

    def _get_updates(self, offset: int) -> None:
        srv, client = self.server, self.client_address[0]
        terminated = threading.Event()
        with srv.lock:
            poll = {"client": client, "started": time.time(), "finished": None, "status": 200}
            number = len(srv.polls)
            srv.polls.append(poll)
            # Telegram keeps one getUpdates per bot: a request from elsewhere ends the held one with 409.
            for other_client, other_terminated in srv.held.values():
                if other_client != client:
                    other_terminated.set()
            srv.held[number] = (client, terminated)
            pending = [u for u in srv.updates if u["update_id"] >= offset]
        if not pending:
            terminated.wait(LONG_POLL_SECONDS)
        with srv.lock:
            del srv.held[number]
            poll["finished"] = time.time()
            if terminated.is_set():
                poll["status"] = 409
        if terminated.is_set():
            return self._reply(409, {"ok": False, "error_code": 409, "description": CONFLICT})
        return self._ok(pending)

    def _ok(self, result: object) -> None:
        self._reply(200, {"ok": True, "result": result})

    def _reply(self, code: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main(argv: list[str]) -> None:
    host, port = argv[1], int(argv[2])
    # The token the bot must call with (Telegram answers any other with 401); unset: any token is accepted.
    token = os.environ.get("STANDIN_BOT_TOKEN") or None
    server = BotApiStandIn([command_update(1, "/start")], host=host, port=port, token=token)
    print(f"bot api stand-in on {host}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv)
