"""HTTP API (FastAPI). `botstack-api` serves it with uvicorn on HOST:PORT (0.0.0.0:8000)."""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Literal

import redis
from fastapi import Depends, FastAPI, HTTPException, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from . import __version__
from .auth import require_user
from .config import freeze_startup_objects, get_settings, setup_logging
from .db import Post, get_engine, get_sessionmaker
from .jobs import enqueue_publish, redis_client
from .publishing import publish_post

log = logging.getLogger("botstack.api")


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    return redis_client(get_settings().require("redis_url"), socket_timeout=2.0)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    for field in ("database_url", "redis_url", "jwt_secret"):
        settings.require(field)  # fail fast, naming the missing variable
    yield
    get_engine().dispose()


app = FastAPI(title="botstack API", version=__version__, lifespan=lifespan)


class PostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str = Field(default="main", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_@.\-]+$")
    text: str = Field(min_length=1, max_length=4096)
    publish_at: datetime | None = Field(default=None, description="when to publish; default: now")


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    channel: str
    text: str
    publish_at: datetime
    status: str
    created_at: datetime
    published_at: datetime | None
    publish_count: int


@app.get("/health")
def health() -> JSONResponse:
    parts: dict[str, str] = {}
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        parts["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "down"; the reason goes to the log only
        log.warning("health: database down: %s", type(exc).__name__)
        parts["database"] = "down"
    try:
        get_redis().ping()
        parts["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        log.warning("health: redis down: %s", type(exc).__name__)
        parts["redis"] = "down"
    down = [name for name, state in parts.items() if state != "ok"]
    if down:
        body = {"status": "unavailable", **parts, "down": down}
        return JSONResponse(body, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return JSONResponse({"status": "ok", **parts})


@app.get("/posts", response_model=list[PostOut])
def list_posts(
    status_: Annotated[Literal["scheduled", "published"] | None, Query(alias="status")] = None,
    channel: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[Post]:
    query = select(Post).order_by(Post.publish_at.desc(), Post.id.desc()).limit(limit)
    if status_:
        query = query.where(Post.status == status_)
    if channel:
        query = query.where(Post.channel == channel)
    with get_sessionmaker()() as session:
        return list(session.execute(query).scalars())


@app.get("/posts/{post_id}", response_model=PostOut)
def get_post(post_id: int) -> Post:
    with get_sessionmaker()() as session:
        post = session.get(Post, post_id)
    if post is None:
        raise HTTPException(status_code=404, detail="no such post")
    return post


@app.post("/posts", response_model=PostOut, status_code=status.HTTP_201_CREATED)
def create_post(body: PostIn, user: Annotated[str, Depends(require_user)]) -> Post:
    publish_at = body.publish_at or datetime.now(UTC)
    if publish_at.tzinfo is None:
        publish_at = publish_at.replace(tzinfo=UTC)
    with get_sessionmaker()() as session:
        post = Post(channel=body.channel, text=body.text, publish_at=publish_at)
        session.add(post)
        session.commit()
        session.refresh(post)
    log.info("post %s created by %s for %s", post.id, user, publish_at.isoformat())
    if publish_at <= datetime.now(UTC):
        try:
            enqueue_publish(get_redis(), post.id)
        except redis.RedisError:
            log.warning("post %s: queue unavailable; the worker's scheduler will pick it up", post.id)
    return post


@app.post("/posts/{post_id}/publish", response_model=PostOut)
def publish_now(post_id: int, user: Annotated[str, Depends(require_user)]) -> Post:
    """Mark a post published now (idempotent: a published post is returned unchanged)."""
    with get_sessionmaker()() as session:
        try:
            result = publish_post(session, post_id, f"api:{user}", only_if_due=False)
        except SQLAlchemyError:
            session.rollback()
            raise
        if result == "missing":
            raise HTTPException(status_code=404, detail="no such post")
        post = session.get(Post, post_id, populate_existing=True)
    return post


def main() -> None:
    import uvicorn

    settings = get_settings()
    setup_logging(settings)
    # uvicorn drains in-flight requests on SIGTERM/SIGINT, then re-raises the signal to the handler that
    # was installed before it started; with these no-op handlers a drained shutdown exits 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    freeze_startup_objects()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        forwarded_allow_ips="*",
        timeout_graceful_shutdown=settings.graceful_timeout,
        access_log=True,
    )
