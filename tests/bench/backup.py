"""The backup side of the benchmark: a PostgreSQL stand-in seeded with generate_series, the project's backup
(server/backup.sh: `pg_dump -Fc`) vs the seed's `pg_dump > file.sql`, and restores (pg_restore -j 2 / -j 1, psql)."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from tests.setup import POSTGRES_IMAGE

REPO = Path(__file__).resolve().parents[2]
BACKUP_SCRIPT = REPO / "server" / "backup.sh"
CONTAINER = "botstack-bench-pg"
DB, USER = "botstack", "botstack"
RESTORE_ROUNDS = 2


class BackupBenchError(RuntimeError):
    pass


@dataclass
class BackupRun:
    rows: int
    seed_seconds: float
    database_bytes: int
    project_seconds: float  # server/backup.sh --no-verify: pg_dump -Fc, pg_restore -l check, sha256, rename
    project_bytes: int
    plain_seconds: float  # docker exec pg_dump > file.sql
    plain_bytes: int
    restore_j2_seconds: float
    restore_j1_seconds: float
    restore_sql_seconds: float


def _exec(container, command: list[str], what: str, environment: dict[str, str] | None = None) -> str:  # noqa: ANN001
    result = container.exec_run(command, user="999:999", environment=environment)
    if result.exit_code != 0:
        raise BackupBenchError(f"{what} failed: {result.output.decode(errors='replace')[-2000:]}")
    return result.output.decode().strip()


def _psql(container, sql: str, db: str = DB, rows: int | None = None) -> str:  # noqa: ANN001
    """psql in the container; `rows` reaches the SQL as current_setting('bench.rows')."""
    environment = {"PGOPTIONS": f"-c bench.rows={int(rows)}"} if rows is not None else None
    command = ["psql", "-U", USER, "-d", db, "-v", "ON_ERROR_STOP=1", "-Atqc", sql]
    return _exec(container, command, f"psql {sql[:60]}", environment)


def _timed(fn, *args) -> float:  # noqa: ANN001
    started = time.monotonic()
    fn(*args)
    return time.monotonic() - started


def _start(client: docker.DockerClient, share: Path) -> object:
    password = share / "pgpass"
    password.write_text(secrets.token_hex(16))
    password.chmod(0o444)
    container = client.containers.run(
        POSTGRES_IMAGE,
        name=CONTAINER,
        detach=True,
        environment={"POSTGRES_USER": USER, "POSTGRES_DB": DB, "POSTGRES_PASSWORD_FILE": "/bench/pgpass"},
        volumes={str(share): {"bind": "/bench", "mode": "rw"}},
        labels={"botstack.bench": "1"},
        shm_size="256m",
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # TCP: the init-time server listens on the socket only
        if container.exec_run(["pg_isready", "-h", "127.0.0.1", "-U", USER, "-d", DB]).exit_code == 0:
            return container
        time.sleep(0.5)
    raise BackupBenchError(f"{POSTGRES_IMAGE} did not become ready: {container.logs()[-2000:].decode(errors='replace')}")


def remove_container(client: docker.DockerClient) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.containers.get(CONTAINER).remove(force=True, v=True)


def run_backup(client: docker.DockerClient, rows: int) -> BackupRun:
    remove_container(client)
    with tempfile.TemporaryDirectory(prefix="botstack-bench-backup-") as tmp:
        share = Path(tmp) / "share"
        share.mkdir()
        share.chmod(0o755)
        backups = share / "backups"
        backups.mkdir()
        try:
            pg = _start(client, share)
            # `rows` posts (id, channel, ~64 bytes of text, a timestamp) and `rows` publications referencing them,
            # with the keys and indexes real tables have: two tables, so a parallel restore has work to share
            seed_seconds = _timed(
                lambda: _psql(
                    pg,
                    "CREATE TABLE bench_posts AS SELECT g AS id, 'channel-' || (g % 100) AS channel, "
                    "md5(g::text) || md5((g * 7)::text) AS text, now() - g * interval '1 minute' AS publish_at "
                    "FROM generate_series(1, current_setting('bench.rows')::int) AS g; "
                    "ALTER TABLE bench_posts ADD PRIMARY KEY (id); CREATE INDEX ON bench_posts (publish_at); "
                    "CREATE TABLE bench_publications AS SELECT g AS id, g AS post_id, 'worker:bench-' || (g % 7) "
                    "AS published_by, now() - g * interval '1 minute' AS published_at "
                    "FROM generate_series(1, current_setting('bench.rows')::int) AS g; "
                    "ALTER TABLE bench_publications ADD PRIMARY KEY (id); "
                    "CREATE UNIQUE INDEX ON bench_publications (post_id); "
                    "ALTER TABLE bench_publications ADD FOREIGN KEY (post_id) REFERENCES bench_posts (id); "
                    "ANALYZE;",
                    rows=rows,
                )
            )
            database_bytes = int(_psql(pg, "SELECT pg_database_size(current_database())"))

            config = Path(tmp) / "backup.env"
            config.touch(mode=0o600)
            config.write_text(
                f"PG_CONTAINER={CONTAINER}\nPG_USER={USER}\nPG_DB={DB}\nBACKUP_DIR={backups}\nRETENTION_DAYS=7\nVERIFY=0\n"
            )
            config.chmod(0o600)

            def project_backup() -> None:
                done = subprocess.run(
                    ["bash", str(BACKUP_SCRIPT), "--config", str(config), "--no-verify"],
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )
                if done.returncode != 0:
                    raise BackupBenchError(f"server/backup.sh failed:\n{done.stdout}{done.stderr}")

            project_seconds = _timed(project_backup)
            dump = (backups / "latest").resolve()
            project_bytes = dump.stat().st_size

            plain = share / "plain.sql"

            def plain_backup() -> None:
                with plain.open("wb") as out:
                    subprocess.run(
                        ["docker", "exec", CONTAINER, "pg_dump", "-U", USER, "-d", DB],
                        stdout=out,
                        timeout=600,
                        check=True,
                    )

            plain_seconds = _timed(plain_backup)
            plain.chmod(0o644)
            dump.chmod(0o644)  # the container's postgres user reads it for pg_restore
            in_container = f"/bench/backups/{dump.name}"

            def restore(command: list[str]) -> float:
                # a fresh database each time, after a checkpoint, so no restore pays for the previous one's WAL
                _psql(pg, "DROP DATABASE IF EXISTS restore_target")
                _psql(pg, "CREATE DATABASE restore_target")
                _psql(pg, "CHECKPOINT")
                seconds = _timed(_exec, pg, [*command, "-d", "restore_target"], f"{command[0]} restore")
                counts = _psql(
                    pg,
                    "SELECT (SELECT count(*) FROM bench_posts) || ' ' || (SELECT count(*) FROM bench_publications)",
                    db="restore_target",
                )
                if counts != f"{rows} {rows}":
                    raise BackupBenchError(f"{' '.join(command)}: {counts} rows restored, expected {rows} in each table")
                return seconds

            methods = {
                "j2": ["pg_restore", "-U", USER, "-j", "2", "--exit-on-error", in_container],
                "j1": ["pg_restore", "-U", USER, "-j", "1", "--exit-on-error", in_container],
                "sql": ["psql", "-U", USER, "-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null", "-f", "/bench/plain.sql"],
            }
            best: dict[str, float] = {}
            for _ in range(RESTORE_ROUNDS):  # interleaved rounds, best of each: other load on the machine evens out
                for method, command in methods.items():
                    best[method] = min(best.get(method, float("inf")), restore(command))
            restore_j2, restore_j1, restore_sql = best["j2"], best["j1"], best["sql"]
            return BackupRun(
                rows=rows,
                seed_seconds=seed_seconds,
                database_bytes=database_bytes,
                project_seconds=project_seconds,
                project_bytes=project_bytes,
                plain_seconds=plain_seconds,
                plain_bytes=plain.stat().st_size,
                restore_j2_seconds=restore_j2,
                restore_j1_seconds=restore_j1,
                restore_sql_seconds=restore_sql,
            )
        finally:
            remove_container(client)
