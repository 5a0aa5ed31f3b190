"""Backups on the VDS-like host: dump + checksum, verification, restore round-trip, retention, flock,
loud failure, encryption to a public key. PostgreSQL runs on the host's own Docker engine."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.vds.conftest import Database, changes

pytestmark = pytest.mark.e2e

LIB = "/usr/local/lib/botstack"
DIR = "/var/backups/botstack"


def snapshot(db: Database) -> str:
    queries = ("SELECT md5(string_agg(p::text, ',' ORDER BY id)) FROM posts p", "SELECT count(*) FROM users",
               "SELECT version_num FROM alembic_version")
    return "/".join(db.sql(q) for q in queries)


def latest(db: Database) -> str:
    return db.host.run(f"sudo readlink {DIR}/latest").stdout.strip()


def listing(db: Database) -> list[str]:
    return sorted(db.host.run(f"sudo ls -A {DIR}").stdout.split())


def backup(db: Database, *args: str, check: bool = True):
    return db.host.run(f"sudo {LIB}/backup.sh {' '.join(args)}", check=check)


def test_install_is_idempotent_and_files_have_their_modes(backups: Database) -> None:
    host = backups.host
    out = host.run(f"sudo bash botstack/server/install-backups.sh --container {backups.container} "
                   f"--db {backups.db} --db-user {backups.user} --retention-days 7").stdout
    assert changes(out) == 0, out
    ti = host.testinfra()
    with ti.sudo():
        cron = ti.file("/etc/cron.d/botstack-backup")
        assert (cron.mode, cron.user) == (0o644, "root")
        assert re.search(rf"^0 \*/6 \* \* \* root {LIB}/backup.sh >>/var/log/botstack-backup.log 2>&1$",
                         cron.content_string, re.M)
        config = ti.file("/etc/botstack/backup.env")
        assert (config.mode, config.user) == (0o600, "root")
        for script in ("backup.sh", "verify-backup.sh", "restore.sh"):
            assert ti.file(f"{LIB}/{script}").mode == 0o755


def test_backup_writes_a_valid_dump_with_checksum_and_verifies_it(backups: Database) -> None:
    host = backups.host
    out = backup(backups).stdout
    assert re.search(r"^botstack-verify: ok: .* \d+ tables, rows match \(exact\), alembic 0001_initial; compared with the "
                     r"database at dump time", out, re.M)
    name = latest(backups)
    assert re.fullmatch(r"botstack-\d{8}T\d{6}Z\.dump", name)
    assert host.run(f"sudo stat -c %a {DIR}/{name}").stdout.strip() == "600"
    host.run(f"sudo sh -c 'cd {DIR} && sha256sum -c {name}.sha256'")
    toc = host.run(f"sudo cat {DIR}/{name} | docker exec -i {backups.container} pg_restore -l").stdout
    assert "TABLE DATA public posts" in toc
    assert not [f for f in listing(backups) if f.endswith(".partial")]
    assert "botstack-verify: ok:" in host.run(f"sudo {LIB}/verify-backup.sh").stdout


def test_verification_compares_with_the_dump_time_snapshot_and_can_fail(backups: Database) -> None:
    host = backups.host
    backup(backups)
    name = latest(backups)
    expected = host.run(f"sudo cat {DIR}/{name}.tables").stdout
    assert "public.posts\t1000\n" in expected and "alembic\t0001_initial" in expected
    backups.sql("INSERT INTO users VALUES (100000, 'added after the dump')")
    try:
        # a write after the dump is no false alarm: the expectation was taken in pg_dump's snapshot
        assert "compared with the database at dump time" in host.run(f"sudo {LIB}/verify-backup.sh").stdout
        live = host.run(f"sudo {LIB}/verify-backup.sh --against-live", check=False)
        assert live.returncode != 0 and "differs from live database" in live.stderr and "public.users" in live.stderr
        host.run(f"sudo sed -i 's/^public.posts\t.*/public.posts\t999/' {DIR}/{name}.tables")
        tampered = host.run(f"sudo {LIB}/verify-backup.sh", check=False)
        assert tampered.returncode != 0 and "< public.posts\t999" in tampered.stderr
    finally:
        backups.sql("DELETE FROM users WHERE id = 100000")
    assert backups.sql("SELECT count(*) FROM pg_database WHERE datname = 'botstack_verify'") == "0"


def test_restore_round_trip_stops_and_restarts_writers(backups: Database) -> None:
    host = backups.host
    before = snapshot(backups)
    backup(backups)
    dump = latest(backups)
    backups.sql("DELETE FROM posts WHERE id % 2 = 0; UPDATE users SET name = 'changed';"
                "UPDATE alembic_version SET version_num = '0002_next'; CREATE TABLE extra (x int);")
    assert snapshot(backups) != before
    # no terminal and no --yes: refused, nothing touched
    refused = host.run(f"sudo {LIB}/restore.sh {dump} </dev/null", check=False)
    assert refused.returncode != 0 and "pass --yes" in refused.stderr
    assert backups.sql("SELECT version_num FROM alembic_version") == "0002_next"
    started = host.run("docker inspect -f '{{.State.StartedAt}}' botstack-prod-worker").stdout
    out = host.run(f"sudo {LIB}/restore.sh --yes --jobs 2 {dump}").stdout
    assert "stopping writers: botstack-prod-worker" in out and "started writers again" in out
    assert snapshot(backups) == before
    state = host.run("docker inspect -f '{{.State.Running}} {{.State.StartedAt}}' botstack-prod-worker").stdout.split()
    assert state[0] == "true" and state[1] != started.strip()


def test_failed_restore_still_restarts_writers(backups: Database) -> None:
    host = backups.host
    backup(backups)
    good = latest(backups)
    before = snapshot(backups)
    host.run(f"sudo sh -c 'head -c 4000 {DIR}/{good} > {DIR}/broken.dump'")
    try:
        out = host.run(f"sudo {LIB}/restore.sh --yes {DIR}/broken.dump", check=False)
        assert out.returncode != 0 and "pg_restore into botstack failed" in out.stderr
        assert "started writers again" in out.stdout
        assert host.run("docker inspect -f '{{.State.Running}}' botstack-prod-worker").stdout.strip() == "true"
    finally:
        host.run(f"sudo rm -f {DIR}/broken.dump")
        host.run(f"sudo {LIB}/restore.sh --yes {good}")
    assert snapshot(backups) == before


def test_retention_deletes_exactly_what_is_older_than_the_limit(backups: Database) -> None:
    host = backups.host
    limit = 7 * 86400
    now = int(time.time())
    files = {"botstack-old.dump": now - limit - 300, "botstack-old.dump.sha256": now - limit - 300,
             "botstack-young.dump": now - limit + 300, "botstack-young.dump.sha256": now - limit + 300,
             "unrelated.txt": now - limit - 86400,
             ".botstack-killed.dump.partial": now - 86400 - 300, ".botstack-running.dump.partial": now - 600}
    for name, mtime in files.items():
        host.run(f"sudo sh -c 'echo x > {DIR}/{name} && touch -d @{mtime} {DIR}/{name}'")
    try:
        out = backup(backups).stdout
        left = listing(backups)
        assert "botstack-old.dump" not in left and "botstack-old.dump.sha256" not in left
        assert {"botstack-young.dump", "botstack-young.dump.sha256", "unrelated.txt"} <= set(left)
        assert "retention: deleted botstack-old.dump " in out
        assert ".botstack-killed.dump.partial" not in left and ".botstack-running.dump.partial" in left
    finally:
        host.run(f"sudo rm -f {DIR}/botstack-young.dump {DIR}/botstack-young.dump.sha256 {DIR}/unrelated.txt "
                 f"{DIR}/.botstack-running.dump.partial")


def test_overlapping_run_is_refused(backups: Database) -> None:
    before = listing(backups)
    out = backups.host.run(f"sudo flock {DIR}/.lock {LIB}/backup.sh", check=False)
    assert out.returncode != 0 and "another backup is running" in out.stderr
    assert listing(backups) == before


def test_failing_pg_dump_fails_loudly_and_leaves_latest_alone(backups: Database) -> None:
    host = backups.host
    backup(backups)
    good, before = latest(backups), listing(backups)
    host.run("sudo sh -c 'sed s/^PG_DB=.*/PG_DB=no_such_db/ /etc/botstack/backup.env > /etc/botstack/bad.env"
             " && chmod 600 /etc/botstack/bad.env'")
    try:
        out = backup(backups, "--config", "/etc/botstack/bad.env", check=False)
        assert out.returncode != 0 and "FAILED: pg_dump of no_such_db" in out.stderr
        assert latest(backups) == good and listing(backups) == before
        # a world-readable config is refused too
        host.run("sudo chmod 644 /etc/botstack/bad.env")
        out = backup(backups, "--config", "/etc/botstack/bad.env", check=False)
        assert out.returncode != 0 and "must be mode 0600" in out.stderr
    finally:
        host.run("sudo rm -f /etc/botstack/bad.env")


def test_encrypted_backup_to_a_public_key(backups: Database) -> None:
    """age -r with only the recipient on the server; the key pair is made elsewhere (here: /root/offsite)."""
    host = backups.host
    host.run("sudo sh -c 'command -v age-keygen >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q age"
             " >/dev/null; mkdir -p -m 700 /root/offsite; age-keygen -o /root/offsite/key.txt 2>/dev/null'")
    recipient = host.run("sudo age-keygen -y /root/offsite/key.txt").stdout.strip()
    host.run(f"sudo sed -i 's/^AGE_RECIPIENT=.*/AGE_RECIPIENT={recipient}/' /etc/botstack/backup.env")
    try:
        out = backup(backups).stdout
        name = latest(backups)
        assert name.endswith(".dump.age") and "botstack-verify: ok:" in out
        host.run(f"sudo sh -c 'cd {DIR} && sha256sum -c {name}.sha256'")
        toc = host.run(f"sudo age -d -i /root/offsite/key.txt {DIR}/{name} | "
                       f"docker exec -i {backups.container} pg_restore -l").stdout
        assert "TABLE DATA public posts" in toc
        assert not [f for f in listing(backups) if f.endswith(".dump") and f.startswith(name[:-9])]
    finally:
        host.run("sudo sed -i 's/^AGE_RECIPIENT=.*/AGE_RECIPIENT=/' /etc/botstack/backup.env && sudo rm -rf /root/offsite")


def test_offsite_copy_with_rclone(backups: Database) -> None:
    """RCLONE_REMOTE set: install-backups installs rclone, backup.sh copies dump + checksum there
    (a `local` remote standing in for S3 & co.; credentials live in root's rclone.conf)."""
    host = backups.host
    install = (f"sudo bash botstack/server/install-backups.sh --container {backups.container} --db {backups.db} "
               f"--db-user {backups.user} --retention-days 7")
    out = host.run(f"{install} --rclone-remote offsite:/srv/offsite").stdout
    assert "changed: /etc/botstack/backup.env" in out
    host.run("sudo sh -c 'mkdir -p -m 700 /root/.config/rclone && printf \"[offsite]\\ntype = local\\n\" "
             "> /root/.config/rclone/rclone.conf && chmod 600 /root/.config/rclone/rclone.conf'")
    try:
        out = backup(backups).stdout
        name = latest(backups)
        assert f"copied {name} to offsite:/srv/offsite" in out
        host.run(f"sudo sh -c 'cd /srv/offsite && sha256sum -c {name}.sha256'")
    finally:
        host.run(f"{install}")
        host.run("sudo rm -rf /root/.config/rclone /srv/offsite")


def test_backup_verifies_while_the_database_is_written_to(backups: Database) -> None:
    """Inserts run during the backup; the verification compares with pg_dump's own snapshot, so it passes."""
    host = backups.host
    insert = "INSERT INTO users VALUES (200000 + $i, 'concurrent')"
    psql = f"docker exec {backups.container} psql -q -U {backups.user} -d {backups.db}"
    writer = f'for i in $(seq 80); do {psql} -c "{insert}" >/dev/null; done'
    try:
        out = host.run(f"({writer}) & sleep 1; sudo {LIB}/backup.sh; rc=$?; wait; exit $rc")
        assert "compared with the database at dump time" in out.stdout
        name = latest(backups)
        counted = host.run(f"sudo cat {DIR}/{name}.tables").stdout
        users = int(next(line.split("\t")[1] for line in counted.splitlines() if line.startswith("public.users\t")))
        assert 50 < users < 130, "the snapshot was not taken while the writer ran"
        assert backups.sql("SELECT count(*) FROM users") == "130"
    finally:
        backups.sql("DELETE FROM users WHERE id > 200000")
