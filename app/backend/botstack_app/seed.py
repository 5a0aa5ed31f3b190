"""`botstack-seed`: demo posts (idempotent: a demo post already present is not added again)."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from .config import ConfigError, get_settings, setup_logging
from .db import Post, get_sessionmaker

log = logging.getLogger("botstack.seed")

DEMO_CHANNEL = "demo"
SEED_LOCK_ID = 0x73656564  # "seed"
DEMO_POSTS = (
    ("Welcome to botstack: this post was published by the worker.", timedelta(minutes=-5)),
    ("botstack deploys PostgreSQL, Redis, an API, a bot, a worker and Caddy.", timedelta(minutes=-1)),
    ("This post is scheduled for one hour after seeding.", timedelta(hours=1)),
)


def seed() -> int:
    now = datetime.now(UTC)
    added = 0
    with get_sessionmaker()() as session:
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": SEED_LOCK_ID})  # one seeder at a time
        existing = set(session.execute(select(Post.text).where(Post.channel == DEMO_CHANNEL)).scalars())
        for body, offset in DEMO_POSTS:
            if body not in existing:
                session.add(Post(channel=DEMO_CHANNEL, text=body, publish_at=now + offset))
                added += 1
        session.commit()
    return added


def main() -> None:
    settings = get_settings()
    setup_logging(settings)
    try:
        added = seed()
    except ConfigError as exc:
        log.error("%s", exc)
        sys.exit(2)
    log.info("seed: %d demo post(s) added, %d already there", added, len(DEMO_POSTS) - added)
