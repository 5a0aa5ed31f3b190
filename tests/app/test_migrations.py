"""Migrations: up from an empty database, idempotent, and the seed command."""

from __future__ import annotations

import psycopg
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from .conftest import BACKEND, App, Postgres, Redis, app_env

pytestmark = pytest.mark.app


@pytest.fixture
def empty_app(tmp_path, postgres: Postgres, redis_server: Redis) -> tuple[App, str]:
    url = postgres.create_db(f"empty_{tmp_path.name[-8:].lower().replace('-', '_')}")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    return App(tmp_path, app_env(tmp_path, secrets, url, redis_server.url)), url


def alembic_head() -> str:
    """The head revision of the app's migration scripts, read through its alembic.ini as `alembic` does."""
    (head,) = ScriptDirectory.from_config(Config(str(BACKEND / "alembic.ini"))).get_heads()
    return head


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def test_upgrade_from_empty_then_again(empty_app: tuple[App, str]) -> None:
    app, url = empty_app
    assert tables(url) == set()
    first = app.alembic("upgrade", "head")
    assert first.returncode == 0, first.stderr
    assert tables(url) == {"alembic_version", "posts", "publications"}
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(alembic_head(),)]
        conn.execute("INSERT INTO posts (channel, text, publish_at) VALUES ('c', 'kept', now())")
        conn.commit()
    second = app.alembic("upgrade", "head")
    assert second.returncode == 0, second.stderr
    assert "Running upgrade" in first.stderr and "Running upgrade" not in second.stderr
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT text FROM posts").fetchall() == [("kept",)]
    current = app.alembic("current")
    assert current.returncode == 0 and f"{alembic_head()} (head)" in current.stdout


def test_downgrade_and_upgrade_again(empty_app: tuple[App, str]) -> None:
    app, url = empty_app
    assert app.alembic("upgrade", "head").returncode == 0
    down = app.alembic("downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert tables(url) == {"alembic_version"}
    assert app.alembic("upgrade", "head").returncode == 0
    assert {"posts", "publications"} <= tables(url)


def test_missing_database_url_is_named_not_leaked(empty_app: tuple[App, str]) -> None:
    app, _ = empty_app
    result = app.alembic("upgrade", "head", DATABASE_URL_FILE="")
    assert result.returncode != 0
    assert "DATABASE_URL (or DATABASE_URL_FILE) is required" in result.stderr


def test_seed_is_idempotent(app: App, db: psycopg.Connection) -> None:
    for _ in range(2):
        result = app.run(["-c", "from botstack_app.seed import main; main()"])
        assert result.returncode == 0, result.stderr
    rows = db.execute("SELECT count(*), count(DISTINCT text) FROM posts WHERE channel = 'demo'").fetchone()
    assert rows == (3, 3)
