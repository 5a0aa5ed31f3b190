"""Publishing a post to its channel: idempotent, so at-least-once delivery publishes exactly once."""

from __future__ import annotations

import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .db import Post, Publication


def publish_post(
    session: Session, post_id: int, published_by: str, *, delay: float = 0.0, only_if_due: bool = True
) -> str:
    """Publish one post. Returns "published", "already", "not_due" or "missing".

    The post row is locked for the whole transaction; the publication row is written in the same
    transaction as the status change, and `publications.post_id` is unique. A worker killed in the
    middle rolls back, and a second delivery of the same job finds the post published and does nothing.
    """
    post = session.execute(select(Post).where(Post.id == post_id).with_for_update()).scalar_one_or_none()
    if post is None:
        session.rollback()
        return "missing"
    if post.status == "published":
        session.rollback()
        return "already"
    if only_if_due:
        due = session.execute(select(Post.publish_at <= func.now()).where(Post.id == post_id)).scalar()
        if not due:
            session.rollback()
            return "not_due"
    if delay > 0:
        time.sleep(delay)  # the channel's latency; a crash here leaves nothing behind
    session.add(Publication(post_id=post.id, channel=post.channel, published_by=published_by))
    post.status = "published"
    post.published_at = func.now()
    post.publish_count = Post.publish_count + 1
    session.commit()
    return "published"
