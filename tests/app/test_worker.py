"""The worker: due posts published end to end, exactly once across a killed worker, graceful SIGTERM."""

from __future__ import annotations

import signal
import subprocess
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from .conftest import App, Redis, log_of, wait_for

pytestmark = pytest.mark.app


def post_state(db: psycopg.Connection, post_id: int) -> tuple:
    return db.execute("SELECT status, publish_count FROM posts WHERE id = %s", (post_id,)).fetchone()


def publications(db: psycopg.Connection, post_id: int) -> list[tuple]:
    return db.execute("SELECT published_by FROM publications WHERE post_id = %s", (post_id,)).fetchall()


def create(api: str, auth: dict[str, str], text: str, publish_at: datetime | None = None) -> int:
    body: dict = {"channel": "main", "text": text}
    if publish_at:
        body["publish_at"] = publish_at.isoformat()
    resp = httpx.post(f"{api}/posts", json=body, headers=auth)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def in_flight(redis_server: Redis) -> int:
    r = redis_server.client()
    return sum(r.llen(key) for key in r.scan_iter("botstack:processing:*"))


def test_due_post_is_published_once_and_future_post_waits(
    app: App, api: str, auth: dict[str, str], db: psycopg.Connection
) -> None:
    worker = app.start("botstack_app.worker:main", "worker", WORKER_POLL_SECONDS="0.3")
    due = create(api, auth, "due now")
    soon = create(api, auth, "due in 2 s", datetime.now(UTC) + timedelta(seconds=2))
    later = create(api, auth, "due tomorrow", datetime.now(UTC) + timedelta(days=1))
    wait_for(lambda: post_state(db, due)[0] == "published", 10, f"post {due} published\n{log_of(worker)}")
    wait_for(lambda: post_state(db, soon)[0] == "published", 10, f"post {soon} published\n{log_of(worker)}")
    assert post_state(db, due) == ("published", 1)
    assert post_state(db, soon) == ("published", 1)
    assert len(publications(db, due)) == 1 and publications(db, due)[0][0].startswith("worker:")
    assert post_state(db, later) == ("scheduled", 0)
    early = db.execute("SELECT count(*) FROM posts WHERE published_at < publish_at").fetchone()[0]
    assert early == 0, "a post was published before it was due"
    check = app.run(["-m", "botstack_app.healthcheck", "worker"])
    assert check.returncode == 0, check.stdout
    assert worker.poll() is None, log_of(worker)


def test_duplicate_jobs_publish_once(app: App, auth: dict[str, str], api: str, db: psycopg.Connection,
                                     redis_server: Redis) -> None:
    post_id = create(api, auth, "sent twice", datetime.now(UTC) + timedelta(days=1))
    db.execute("UPDATE posts SET publish_at = now() WHERE id = %s", (post_id,))
    r = redis_server.client()
    for n in range(3):
        r.lpush("botstack:jobs", f'{{"type": "publish", "post_id": {post_id}, "id": "dup{n}"}}')
    worker = app.start("botstack_app.worker:main", "worker")
    wait_for(lambda: r.llen("botstack:jobs") == 0 and in_flight(redis_server) == 0, 10, "queue drained")
    assert post_state(db, post_id) == ("published", 1)
    assert len(publications(db, post_id)) == 1
    assert "already" in log_of(worker)


def test_killed_worker_job_is_redelivered_and_completed_exactly_once(
    app: App, api: str, auth: dict[str, str], db: psycopg.Connection, redis_server: Redis
) -> None:
    slow = app.start("botstack_app.worker:main", "slow-worker", PUBLISH_DELAY_SECONDS="30",
                     WORKER_LEASE_SECONDS="2", WORKER_POLL_SECONDS="0.3")
    post_id = create(api, auth, "survives a crash")
    wait_for(lambda: in_flight(redis_server) == 1, 10, f"the job in flight\n{log_of(slow)}")
    wait_for(lambda: db.execute("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                                "WHERE c.relname = 'posts' AND l.mode = 'RowShareLock'").fetchone()[0] > 0,
             10, "the slow worker holding the post's row lock")
    slow.send_signal(signal.SIGKILL)
    slow.wait(10)
    assert post_state(db, post_id) == ("scheduled", 0)
    assert in_flight(redis_server) == 1  # still owned by the dead worker

    fresh = app.start("botstack_app.worker:main", "fresh-worker", WORKER_LEASE_SECONDS="2",
                      WORKER_POLL_SECONDS="0.3")
    wait_for(lambda: post_state(db, post_id)[0] == "published", 15, f"re-delivery\n{log_of(fresh)}")
    wait_for(lambda: in_flight(redis_server) == 0, 5, "ack")
    assert post_state(db, post_id) == ("published", 1)
    (by,) = publications(db, post_id)
    assert by[0].startswith("worker:") and "re-queued" in log_of(fresh)
    assert redis_server.client().llen("botstack:jobs") == 0


def test_sigterm_lets_the_job_in_hand_finish(
    app: App, api: str, auth: dict[str, str], db: psycopg.Connection, redis_server: Redis
) -> None:
    worker = app.start("botstack_app.worker:main", "worker", PUBLISH_DELAY_SECONDS="2", WORKER_POLL_SECONDS="0.3")
    post_id = create(api, auth, "finish me")
    wait_for(lambda: in_flight(redis_server) == 1, 10, f"the job in flight\n{log_of(worker)}")
    worker.send_signal(signal.SIGTERM)
    try:
        code = worker.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"worker did not stop\n{log_of(worker)}")
    assert code == 0, log_of(worker)
    assert post_state(db, post_id) == ("published", 1)
    assert in_flight(redis_server) == 0
    assert not redis_server.client().smembers("botstack:workers")
    assert app.run(["-m", "botstack_app.healthcheck", "worker"]).returncode == 1  # liveness file removed
