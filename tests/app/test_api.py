"""The HTTP API: health (up, redis down, database down), the posts endpoints and their auth."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import psycopg
import pytest

from .conftest import JWT_SECRET, App, Redis, free_port, log_of

pytestmark = pytest.mark.app


def test_health_ok(app: App, api: str) -> None:
    resp = httpx.get(f"{api}/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_health_names_redis_when_it_is_down(app: App, api: str, redis_server: Redis) -> None:
    redis_server.stop()
    try:
        resp = httpx.get(f"{api}/health", timeout=10)
        assert resp.status_code == 503
        body = resp.json()
        assert body["redis"] == "down" and body["database"] == "ok" and body["down"] == ["redis"]
        check = app.run(["-m", "botstack_app.healthcheck", "api"], PORT=api.rsplit(":", 1)[1])
        assert check.returncode == 1 and "503" in check.stdout
    finally:
        redis_server.start()
    assert httpx.get(f"{api}/health").status_code == 200
    check = app.run(["-m", "botstack_app.healthcheck", "api"], PORT=api.rsplit(":", 1)[1])
    assert check.returncode == 0, check.stdout


def test_health_names_database_when_it_is_down(app: App, tmp_path) -> None:
    dead = tmp_path / "dead_db_url"
    dead.write_text(f"postgresql://postgres:x@127.0.0.1:{free_port()}/none")
    _, base = app.start_api(DATABASE_URL_FILE=str(dead))
    resp = httpx.get(f"{base}/health", timeout=10)
    assert resp.status_code == 503
    assert resp.json()["database"] == "down" and resp.json()["redis"] == "ok"
    assert "postgres:x@" not in resp.text


def test_write_endpoints_need_a_valid_token(app: App, api: str, auth: dict[str, str]) -> None:
    body = {"text": "hello"}
    assert httpx.post(f"{api}/posts", json=body).status_code == 401
    forged = jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, "wrong-secret-wrong-secret-wrong-secret", "HS256")
    assert httpx.post(f"{api}/posts", json=body, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    expired = jwt.encode({"sub": "x", "exp": int(time.time()) - 10}, JWT_SECRET, "HS256")
    assert httpx.post(f"{api}/posts", json=body, headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    no_exp = jwt.encode({"sub": "x"}, JWT_SECRET, "HS256")
    assert httpx.post(f"{api}/posts", json=body, headers={"Authorization": f"Bearer {no_exp}"}).status_code == 401
    assert httpx.post(f"{api}/posts/1/publish").status_code == 401
    assert httpx.post(f"{api}/posts", json=body, headers=auth).status_code == 201


def test_token_command(app: App) -> None:
    result = app.run(["-c", "from botstack_app.auth import main; raise SystemExit(main(['ops', '--ttl', '60']))"])
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "ops" and claims["exp"] - claims["iat"] == 60


def test_posts_create_list_get_publish(app: App, api: str, auth: dict[str, str], db: psycopg.Connection) -> None:
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    created = httpx.post(f"{api}/posts", json={"channel": "news", "text": "future", "publish_at": later}, headers=auth)
    assert created.status_code == 201, created.text
    post = created.json()
    assert post["status"] == "scheduled" and post["channel"] == "news" and post["publish_count"] == 0

    assert [p["id"] for p in httpx.get(f"{api}/posts").json()] == [post["id"]]
    assert httpx.get(f"{api}/posts", params={"status": "published"}).json() == []
    assert httpx.get(f"{api}/posts/{post['id']}").json()["text"] == "future"
    assert httpx.get(f"{api}/posts/999999").status_code == 404

    published = httpx.post(f"{api}/posts/{post['id']}/publish", headers=auth)
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published" and published.json()["published_at"]
    again = httpx.post(f"{api}/posts/{post['id']}/publish", headers=auth)
    assert again.status_code == 200 and again.json()["publish_count"] == 1
    assert db.execute("SELECT post_id, published_by FROM publications").fetchall() == [(post["id"], "api:tester")]
    assert [p["id"] for p in httpx.get(f"{api}/posts", params={"status": "published"}).json()] == [post["id"]]
    assert httpx.post(f"{api}/posts/999999/publish", headers=auth).status_code == 404


@pytest.mark.parametrize(
    "body", [{}, {"text": ""}, {"text": "x", "channel": "bad channel"}, {"text": "x", "extra": 1}]
)
def test_invalid_posts_are_rejected(app: App, api: str, auth: dict[str, str], body: dict) -> None:
    assert httpx.post(f"{api}/posts", json=body, headers=auth).status_code == 422


def test_api_sigterm_finishes_in_flight_request(app: App, app_db: str) -> None:
    proc, base = app.start_api()
    holder = psycopg.connect(app_db)
    holder.execute("LOCK TABLE posts IN ACCESS EXCLUSIVE MODE")  # GET /posts now waits for the lock
    result: dict[str, object] = {}

    def request() -> None:
        try:
            result["resp"] = httpx.get(f"{base}/posts", timeout=20)
        except httpx.HTTPError as exc:
            result["error"] = exc

    thread = threading.Thread(target=request)
    thread.start()
    time.sleep(1.0)  # the request is in flight, blocked in the database
    proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert proc.poll() is None, "uvicorn exited with a request in flight"
    holder.rollback()  # release the lock
    holder.close()
    thread.join(20)
    assert "error" not in result, result
    assert result["resp"].status_code == 200  # type: ignore[union-attr]
    assert proc.wait(15) == 0, log_of(proc)
