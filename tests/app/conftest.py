"""Fixtures for the app tests: real PostgreSQL 15 and Redis from Debian's packages, started on
127.0.0.1 with free ports in a temp dir, and the app's commands run as real processes.

The app is imported from app/backend (put on sys.path / PYTHONPATH); its dependencies come from
app/backend/requirements.txt, which requirements-test.txt includes.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]
BACKEND = REPO / "app" / "backend"
if str(BACKEND) not in sys.path:
    sys.path.insert(0, str(BACKEND))

def _newest_pg_bin() -> Path:
    """The distribution's PostgreSQL server binaries: 15 on Debian bookworm, whatever version elsewhere."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _newest_pg_bin()
PG_PASSWORD = "pg-test-pass"
REDIS_PASSWORD = "redis-test-pass"
JWT_SECRET = "jwt-test-secret-0123456789abcdef0123456789"


def require_installed(found: bool, what: str, install: str) -> None:
    """A missing server program skips the app tests locally; in CI (CI=true), which installs it, it is an error."""
    if found:
        return
    message = f"{what} is not installed ({install})"
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(f"{message}: CI must install it (.ci/run)", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if result := predicate():
                return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Postgres:
    def __init__(self, base: Path) -> None:
        require_installed((PG_BIN / "initdb").exists(), "the PostgreSQL server", "apt-get install postgresql")
        self.base = base
        self.data = base / "data"
        self.port = free_port()
        base.mkdir(parents=True, exist_ok=True)
        pwfile = base / "pwfile"
        pwfile.write_text(PG_PASSWORD)
        if os.geteuid() == 0:  # initdb refuses root: run PostgreSQL as the `postgres` OS user
            user = pwd.getpwnam("postgres")
            for path in (base, pwfile):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._as_postgres(
            [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=scram-sha-256",
             f"--pwfile={pwfile}", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"],
        )
        pwfile.unlink()
        self._as_postgres(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(base / "pg.log"), "-w", "-t", "30",
             "-o", f"-p {self.port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
             "-c synchronous_commit=off -c full_page_writes=off", "start"],
        )

    @staticmethod
    def _as_postgres(argv: list[str]) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=60)

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres:{PG_PASSWORD}@127.0.0.1:{self.port}/{db}"

    def create_db(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"])


class Redis:
    def __init__(self, base: Path) -> None:
        require_installed(shutil.which("redis-server") is not None, "redis-server", "apt-get install redis-server")
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = base / "redis.conf"
        self.conf.write_text(
            f"bind 127.0.0.1\nport {self.port}\ndir {base}\nrequirepass {REDIS_PASSWORD}\n"
            'save ""\nappendonly no\ndaemonize no\nlogfile ""\n'
        )
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://:{REDIS_PASSWORD}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.base / "redis.log", "ab")  # noqa: SIM115 - kept open by the child
        self.proc = subprocess.Popen(["redis-server", str(self.conf)], stdout=log, stderr=log)
        import redis

        client = redis.Redis.from_url(self.url)
        wait_for(client.ping, 10, "redis-server")
        client.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def client(self):  # noqa: ANN201
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True)


@pytest.fixture(scope="session")
def tmp_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="botstack-app-tests-"))
    os.chmod(root, 0o755)  # noqa: S103 - the postgres OS user must traverse it
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(tmp_root: Path) -> Iterator[Postgres]:
    pg = Postgres(tmp_root / "pg")
    yield pg
    pg.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_root: Path) -> Iterator[Redis]:
    server = Redis(tmp_root / "redis")
    yield server
    server.stop()


class App:
    """Runs the app's commands as processes with a given environment."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.env = env
        self.procs: list[subprocess.Popen] = []

    def environ(self, **extra: str) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(BACKEND), **self.env}
        env.update(extra)
        return env

    def run(self, argv: list[str], timeout: float = 60, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *argv], cwd=BACKEND, env=self.environ(**extra),
            capture_output=True, text=True, timeout=timeout,
        )

    def alembic(self, *args: str, **extra: str) -> subprocess.CompletedProcess:
        return self.run(["-m", "alembic", *args], **extra)

    def start(self, entry: str, name: str, **extra: str) -> subprocess.Popen:
        """entry is a console-script target, e.g. botstack_app.api:main."""
        module, func = entry.split(":")
        log_path = self.tmp / f"{name}-{uuid.uuid4().hex[:6]}.log"
        log = open(log_path, "wb")  # noqa: SIM115 - kept open by the child
        proc = subprocess.Popen(
            [sys.executable, "-c", f"from {module} import {func}; {func}()"],
            cwd=BACKEND, env=self.environ(**extra), stdout=log, stderr=subprocess.STDOUT,
        )
        proc.log_path = log_path  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def start_api(self, port: int | None = None, **extra: str) -> tuple[subprocess.Popen, str]:
        port = port or free_port()
        proc = self.start("botstack_app.api:main", "api", HOST="127.0.0.1", PORT=str(port), **extra)
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert proc.poll() is None, log_of(proc)
            return httpx.get(f"{base}/health", timeout=2).status_code in (200, 503)

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"api exited {proc.returncode}:\n{log_of(proc)}")
            with contextlib.suppress(httpx.HTTPError):
                if up():
                    return proc, base
            time.sleep(0.1)
        raise AssertionError(f"api did not come up:\n{log_of(proc)}")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)


def log_of(proc: subprocess.Popen) -> str:
    path = getattr(proc, "log_path", None)
    return path.read_text(errors="replace")[-4000:] if path and path.exists() else ""


@pytest.fixture(scope="session")
def app_db(postgres: Postgres) -> str:
    return postgres.create_db("botstack")


@pytest.fixture(scope="session")
def secrets_dir(tmp_root: Path) -> Path:
    path = tmp_root / "secrets"
    path.mkdir(mode=0o700)
    return path


def app_env(tmp: Path, secrets_dir: Path, db_url: str, redis_url: str) -> dict[str, str]:
    """Secrets through *_FILE (as botstack deploys them) except JWT_SECRET, which tests the plain form."""
    (secrets_dir / "database_url").write_text(db_url + "\n")
    (secrets_dir / "redis_url").write_text(redis_url + "\n")
    liveness = tmp / "liveness"
    liveness.mkdir(exist_ok=True)
    return {
        "DATABASE_URL_FILE": str(secrets_dir / "database_url"),
        "REDIS_URL_FILE": str(secrets_dir / "redis_url"),
        "JWT_SECRET": JWT_SECRET,
        "LIVENESS_DIR": str(liveness),
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture(scope="session")
def migrated_app(tmp_root: Path, secrets_dir: Path, app_db: str, redis_server: Redis) -> Iterator[App]:
    tmp = tmp_root / "app"
    tmp.mkdir()
    app = App(tmp, app_env(tmp, secrets_dir, app_db, redis_server.url))
    result = app.alembic("upgrade", "head")
    assert result.returncode == 0, result.stderr
    yield app
    app.stop_all()


@pytest.fixture
def app(migrated_app: App, redis_server: Redis, postgres: Postgres, app_db: str) -> Iterator[App]:
    """The migrated app with empty tables and an empty Redis."""
    if redis_server.proc is None:
        redis_server.start()
    redis_server.client().flushall()
    with psycopg.connect(app_db, autocommit=True) as conn:
        conn.execute("TRUNCATE posts, publications RESTART IDENTITY")
    yield migrated_app
    migrated_app.stop_all()
    migrated_app.procs.clear()


@pytest.fixture(scope="session")
def api(migrated_app: App) -> Iterator[str]:
    """One API process for the whole session (base URL)."""
    proc, base = migrated_app.start_api()
    migrated_app.procs.remove(proc)  # not stopped between tests
    yield base
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)


@pytest.fixture
def token() -> str:
    from botstack_app.auth import make_token

    return make_token(JWT_SECRET, "tester")


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def db(app_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(app_db, autocommit=True) as conn:
        yield conn
