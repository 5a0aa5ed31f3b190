"""A small reliable job queue on Redis.

Why not Celery: with the Redis broker, Celery re-delivers an unacknowledged `acks_late` task only after
the broker's visibility timeout (1 h by default), and it brings kombu/billiard/vine/amqp along. This
queue does the one thing botstack needs with four Redis commands:

* producers `LPUSH` a JSON job onto `botstack:jobs`;
* a worker takes a job with `BLMOVE botstack:jobs -> botstack:processing:<worker>` (atomic: the job is
  never only in the worker's memory), runs it, then `LREM`s it from its processing list (ack);
* every worker keeps a lease key `botstack:lease:<worker>` alive (TTL `WORKER_LEASE_SECONDS`) and is
  registered in `botstack:workers`; any worker that sees a registered worker without a lease moves that
  worker's processing list back onto the queue (`LMOVE`, atomic per job), so a job of a killed worker
  is re-delivered after at most one lease period.

Delivery is at-least-once; the job itself is idempotent (see publishing.py), so each post is
published exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from typing import Any

import redis

log = logging.getLogger(__name__)

QUEUE = "botstack:jobs"
WORKERS = "botstack:workers"
DEDUPE_SECONDS = 60


def processing_key(worker_id: str) -> str:
    return f"botstack:processing:{worker_id}"


def lease_key(worker_id: str) -> str:
    return f"botstack:lease:{worker_id}"


def redis_client(url: str, *, socket_timeout: float = 10.0) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_connect_timeout=3, socket_timeout=socket_timeout, decode_responses=True
    )


def enqueue_publish(r: redis.Redis, post_id: int) -> bool:
    """Queue a publish job unless one was queued for this post in the last DEDUPE_SECONDS."""
    if not r.set(f"botstack:enqueued:{post_id}", "1", nx=True, ex=DEDUPE_SECONDS):
        return False
    r.lpush(QUEUE, json.dumps({"type": "publish", "post_id": post_id, "id": uuid.uuid4().hex}))
    return True


class ReliableQueue:
    def __init__(self, r: redis.Redis, lease_seconds: int, worker_id: str | None = None) -> None:
        self.r = r
        self.lease_seconds = lease_seconds
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.processing = processing_key(self.worker_id)

    def register(self) -> None:
        self.renew()
        self.r.sadd(WORKERS, self.worker_id)

    def renew(self) -> None:
        self.r.set(lease_key(self.worker_id), "alive", ex=self.lease_seconds)

    def fetch(self, timeout: float) -> tuple[str, dict[str, Any]] | None:
        raw = self.r.blmove(QUEUE, self.processing, timeout, "RIGHT", "LEFT")
        if raw is None:
            return None
        try:
            return raw, json.loads(raw)
        except ValueError:
            log.error("dropping a malformed job")
            self.ack(raw)
            return None

    def ack(self, raw: str) -> None:
        self.r.lrem(self.processing, 1, raw)

    def nack(self, raw: str) -> None:
        """Give a failed job back to the queue (at its back) for a later retry."""
        with self.r.pipeline(transaction=True) as pipe:
            pipe.lrem(self.processing, 1, raw)
            pipe.lpush(QUEUE, raw)
            pipe.execute()

    def requeue_dead(self) -> int:
        """Move the in-flight jobs of workers whose lease expired back to the front of the queue."""
        moved = 0
        for other in self.r.smembers(WORKERS):
            if other == self.worker_id or self.r.exists(lease_key(other)):
                continue
            while self.r.lmove(processing_key(other), QUEUE, "RIGHT", "RIGHT") is not None:
                moved += 1
            self.r.srem(WORKERS, other)
            log.warning("worker %s lost its lease: re-queued its in-flight jobs", other)
        return moved

    def deregister(self) -> None:
        """Clean exit: nothing is in flight any more; give back anything left and drop the lease."""
        while self.r.lmove(self.processing, QUEUE, "RIGHT", "RIGHT") is not None:
            pass
        self.r.srem(WORKERS, self.worker_id)
        self.r.delete(lease_key(self.worker_id))
