"""`botstack-worker`: finds due posts, queues publish jobs and runs them (see jobs.py).

SIGTERM/SIGINT: the job in hand is finished and acknowledged, then the worker exits 0.
Liveness: the heartbeat thread renews the Redis lease and touches LIVENESS_DIR/botstack-worker.alive.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from types import FrameType

import redis
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from . import liveness
from .config import ConfigError, Settings, freeze_startup_objects, get_settings, setup_logging
from .db import Post, get_sessionmaker
from .jobs import ReliableQueue, enqueue_publish, redis_client
from .publishing import publish_post

log = logging.getLogger("botstack.worker")
# How long one wait for a job blocks in Redis. SIGTERM is noticed when it returns, and an update waits for the old
# worker to exit: 0.25 s instead of 1 s took its exit from about 0.9 s to about 0.4 s, for a few more idle BLMOVEs.
FETCH_WAIT_SECONDS = 0.25


def schedule_due(r: redis.Redis, limit: int = 200) -> int:
    with get_sessionmaker()() as session:
        ids = session.execute(
            select(Post.id)
            .where(Post.status == "scheduled", Post.publish_at <= func.now())
            .order_by(Post.publish_at)
            .limit(limit)
        ).scalars()
        return sum(1 for post_id in list(ids) if enqueue_publish(r, post_id))


class Worker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.r = redis_client(settings.require("redis_url"))
        self.queue = ReliableQueue(self.r, settings.worker_lease_seconds)
        self.stop = threading.Event()  # SIGTERM: take no new job
        self.done = threading.Event()  # the main loop has exited: stop renewing the lease

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: finishing the job in hand, then exiting", signal.Signals(signum).name)
        self.stop.set()

    def _heartbeat(self) -> None:
        interval = max(0.5, self.settings.worker_lease_seconds / 3)
        while not self.done.is_set():
            try:
                self.queue.renew()
                liveness.touch(self.settings.liveness_dir, "worker")
            except (redis.RedisError, OSError) as exc:
                log.warning("heartbeat failed: %s", type(exc).__name__)
            self.done.wait(interval)

    def handle(self, job: dict) -> str:
        if job.get("type") != "publish":
            return "unknown"
        with get_sessionmaker()() as session:
            return publish_post(
                session,
                int(job["post_id"]),
                f"worker:{self.queue.worker_id}",
                delay=self.settings.publish_delay_seconds,
            )

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.queue.register()
        liveness.touch(self.settings.liveness_dir, "worker")
        threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True).start()
        log.info("worker %s started", self.queue.worker_id)
        last_tick = 0.0
        while not self.stop.is_set():
            try:
                if time.monotonic() - last_tick >= self.settings.worker_poll_seconds:
                    last_tick = time.monotonic()
                    if moved := self.queue.requeue_dead():
                        log.info("re-queued %d job(s) of dead workers", moved)
                    schedule_due(self.r)
                fetched = self.queue.fetch(timeout=FETCH_WAIT_SECONDS)
            except (redis.RedisError, SQLAlchemyError) as exc:
                log.warning("queue/database unavailable (%s); retrying", type(exc).__name__)
                self.stop.wait(2)
                continue
            if fetched is None:
                continue
            raw, job = fetched
            try:
                result = self.handle(job)
            except (SQLAlchemyError, redis.RedisError, OSError) as exc:
                log.warning("job %s failed (%s); it goes back to the queue", job.get("id"), type(exc).__name__)
                self.stop.wait(1)
                self._safe(self.queue.nack, raw)
                continue
            self._safe(self.queue.ack, raw)
            log.info("job %s: post %s %s", job.get("id"), job.get("post_id"), result)
        self.done.set()
        self._safe(self.queue.deregister)
        liveness.remove(self.settings.liveness_dir, "worker")
        log.info("worker %s stopped", self.queue.worker_id)
        return 0

    @staticmethod
    def _safe(fn, *args) -> None:  # noqa: ANN001
        try:
            fn(*args)
        except redis.RedisError as exc:
            log.warning("%s failed: %s (a dead-worker sweep will recover the job)", fn.__name__, type(exc).__name__)


def main() -> None:
    settings = get_settings()
    setup_logging(settings)
    try:
        settings.require("database_url")
        worker = Worker(settings)
    except ConfigError as exc:
        log.error("%s", exc)
        sys.exit(2)
    freeze_startup_objects()
    sys.exit(worker.run())
