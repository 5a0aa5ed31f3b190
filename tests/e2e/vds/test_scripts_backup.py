"""Backups on the VDS-like host: dump + checksum, verification, restore round-trip (a dump over 200 MB too),
retention, flock, loud failure with alerts (Telegram stand-in, healthcheck URL), status and staleness, log
rotation, encryption to a public key. PostgreSQL is the stack's own database container (declared by the
Database component, hardened: uid 999, read-only root, 64 MB /tmp tmpfs, limits) on the host's engine."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.vds.conftest import REPO, Database, changes

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
        assert re.search(rf"^23 \* \* \* \* root {LIB}/backup-status.sh --alert >>/var/log/botstack-backup.log 2>&1$",
                         cron.content_string, re.M)
        for script in ("backup.sh", "verify-backup.sh", "restore.sh", "backup-alert.sh", "backup-status.sh"):
            assert ti.file(f"{LIB}/{script}").mode == 0o755
        rotate = ti.file("/etc/logrotate.d/botstack-backup")
        assert (rotate.mode, rotate.user) == (0o644, "root") and "rotate 8" in rotate.content_string
        backup_dir = ti.file(DIR)
        assert (backup_dir.mode, backup_dir.user) == (0o700, "root")


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
    out = host.run(f"sudo {LIB}/restore.sh --yes {dump}").stdout
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
        # nothing but the record of the failure (for backup-status.sh)
        assert latest(backups) == good and sorted({*before, ".last-failure"}) == listing(backups)
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


def test_install_with_run_now_takes_a_verified_backup_and_the_log_rotates(backups: Database) -> None:
    host = backups.host
    before = latest(backups) if "latest" in listing(backups) else ""
    out = host.run(f"sudo bash botstack/server/install-backups.sh --container {backups.container} "
                   f"--db {backups.db} --db-user {backups.user} --retention-days 7 --run-now").stdout
    assert "running the first backup now" in out and "botstack-verify: ok:" in out and "botstack-backup: ok" in out
    assert latest(backups) != before
    # the log has the run; logrotate accepts the snippet and rotates the log with it
    assert "botstack-verify: ok:" in host.run("sudo cat /var/log/botstack-backup.log").stdout
    host.run("sudo logrotate -f /etc/logrotate.d/botstack-backup")
    rotated = host.run("sudo ls /var/log").stdout.split()
    assert "botstack-backup.log.1" in rotated


def test_install_refuses_a_database_name_whose_scratch_name_postgresql_would_cut(backups: Database) -> None:
    long_name = "d" * 57
    out = backups.host.run(f"sudo bash botstack/server/install-backups.sh --container {backups.container} "
                           f"--db {long_name} --db-user {backups.user}", check=False)
    assert out.returncode != 0 and "--db must be at most 56 characters" in out.stderr
    assert f"PG_DB={backups.db}\n" in backups.host.run("sudo cat /etc/botstack/backup.env").stdout


def test_verify_refuses_a_scratch_name_that_postgresql_would_cut_to_the_live_one(backups: Database) -> None:
    """Even a config that bypassed the checks can't make verify drop the live database."""
    host = backups.host
    live = "v" * 63
    backups.sql(f'CREATE DATABASE "{live}"', db="postgres")
    host.run(f"sudo sh -c 'sed s/^PG_DB=.*/PG_DB={live}/ /etc/botstack/backup.env > /etc/botstack/long.env"
             " && chmod 600 /etc/botstack/long.env'")
    try:
        out = host.run(f"sudo {LIB}/verify-backup.sh --config /etc/botstack/long.env", check=False)
        assert out.returncode != 0 and "longer than 63 bytes" in out.stderr
        assert backups.sql("SELECT count(*) FROM pg_database WHERE datname = repeat('v', 63)") == "1"
    finally:
        host.run("sudo rm -f /etc/botstack/long.env")
        backups.sql(f'DROP DATABASE "{live}"', db="postgres")


def test_backup_status_shows_the_last_success_and_fails_when_stale(backups: Database) -> None:
    host = backups.host
    backup(backups)
    name = latest(backups)
    size = host.run(f"sudo stat -c %s {DIR}/{name}").stdout.strip()
    fresh = host.run(f"sudo {LIB}/backup-status.sh")
    assert re.search(rf"^last success: \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(0 min ago\), {name}, {size} bytes, took \d+s$",
                     fresh.stdout, re.M), fresh.stdout
    assert fresh.stdout.rstrip().endswith("status: OK")
    # seven hours later with a 6 h limit: stale, exit 1
    host.run("sudo sed -i 's/^STALE_AFTER_MINUTES=.*/STALE_AFTER_MINUTES=360/' /etc/botstack/backup.env")
    age_last_success(backups, 7 * 3600)
    try:
        stale = host.run(f"sudo {LIB}/backup-status.sh", check=False)
        assert stale.returncode == 1, stale
        assert "(7 h 0 min ago)" in stale.stdout
        assert f"status: STALE: the last good backup of {backups.db} is 7 h 0 min old (limit 6 h 0 min)" in stale.stdout
    finally:
        install(backups)
    # a failure newer than the last success is shown too
    host.run(f"sudo sh -c 'printf \"%s\\tpg_dump exploded\\n\" $(date +%s) > {DIR}/.last-failure'")
    shown = host.run(f"sudo {LIB}/backup-status.sh").stdout
    assert re.search(r"^last failure: .* ago\): pg_dump exploded$", shown, re.M), shown
    backup(backups)
    assert "last failure" not in host.run(f"sudo {LIB}/backup-status.sh").stdout


def age_last_success(db: Database, seconds: int) -> None:
    """Make the last success look `seconds` older (its time is the first field of .last-success)."""
    fields = db.host.run(f"sudo cat {DIR}/.last-success").stdout.rstrip("\n").split("\t")
    fields[0] = str(int(fields[0]) - seconds)
    db.host.run(f"sudo tee {DIR}/.last-success >/dev/null", input="\t".join(fields) + "\n")


def install(db: Database, *extra: str) -> str:
    return db.host.run(f"sudo bash botstack/server/install-backups.sh --container {db.container} --db {db.db} "
                       f"--db-user {db.user} --retention-days 7 {' '.join(extra)}").stdout


RECORDER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def _record(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(sys.argv[2], "a") as f:
            f.write(self.command + " " + self.path + "\\n")
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"OK")
    do_GET = do_POST = _record
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""
BOT_TOKEN = "123456:AAH-alert-test-token_0123456789abcdefg"
TOKEN_FILE = "/etc/botstack/alert-test/bot_token"


def sent(host) -> list[dict]:
    import json

    return json.loads(host.run("curl -fsS http://127.0.0.1:18081/_sent").stdout)["sent"]


@pytest.fixture()
def alerting(backups: Database):
    """The Bot API stand-in (checking the token) and a healthcheck recorder, on the host's loopback."""
    host = backups.host
    host.run("command -v python3 >/dev/null || sudo sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
             "--no-install-recommends python3 >/dev/null'")
    host.put(REPO / "tests" / "botapi_standin.py", "botapi_standin.py")
    host.run("cat > recorder.py", input=RECORDER)
    host.run(f"sudo systemd-run --unit botstack-test-botapi -E STANDIN_BOT_TOKEN={BOT_TOKEN} "
             f"python3 $HOME/botapi_standin.py 127.0.0.1 18081")
    host.run("sudo systemd-run --unit botstack-test-healthcheck python3 $HOME/recorder.py 18082 /tmp/pings")
    host.run("for i in $(seq 50); do curl -fs http://127.0.0.1:18081/_sent >/dev/null && "
             "curl -fs http://127.0.0.1:18082/ready >/dev/null && exit 0; sleep 0.2; done; exit 1")
    host.run(f"sudo install -d -m 700 /etc/botstack/alert-test && printf %s '{BOT_TOKEN}' | "
             f"sudo sh -c 'cat > {TOKEN_FILE} && chmod 400 {TOKEN_FILE}'")
    install(backups, "--alert-chat-id", "4242", "--bot-token-file", TOKEN_FILE, "--telegram-api-url",
            "http://127.0.0.1:18081", "--healthcheck-url", "http://127.0.0.1:18082/ping/check-1")
    try:
        yield backups
    finally:
        install(backups)
        host.run("sudo systemctl stop botstack-test-botapi botstack-test-healthcheck; "
                 "sudo rm -rf /etc/botstack/alert-test /tmp/pings /etc/botstack/bad.env", check=False)


def pings(host) -> list[str]:
    return [line for line in host.run("cat /tmp/pings").stdout.splitlines() if "/ping/" in line]


def test_a_failed_backup_alerts_telegram_and_the_healthcheck(alerting: Database) -> None:
    host = alerting.host
    host.run("sudo sh -c 'sed s/^PG_DB=.*/PG_DB=no_such_db/ /etc/botstack/backup.env > /etc/botstack/bad.env"
             " && chmod 600 /etc/botstack/bad.env'")
    out = backup(alerting, "--config", "/etc/botstack/bad.env", check=False)
    assert out.returncode != 0
    assert "botstack-alert: sent to Telegram chat 4242" in out.stdout and "healthcheck pinged (failure)" in out.stdout
    [message] = sent(host)
    assert message["chat_id"] == "4242"
    assert message["text"].startswith("botstack on vds: backup of no_such_db FAILED: pg_dump of no_such_db")
    assert pings(host) == ["POST /ping/check-1/fail"]
    failure = host.run(f"sudo cat {DIR}/.last-failure").stdout
    assert "\tpg_dump of no_such_db in container" in failure
    # a good run pings the healthcheck, and tells Telegram nothing
    ok = backup(alerting).stdout
    assert "healthcheck pinged (success)" in ok and len(sent(host)) == 1
    assert pings(host) == ["POST /ping/check-1/fail", "POST /ping/check-1"]
    # the token is in no output and no log (it reaches curl on stdin)
    log = host.run("sudo cat /var/log/botstack-backup.log", check=False).stdout
    assert BOT_TOKEN not in out.stdout + out.stderr + ok + log


def test_a_wrong_token_is_reported_not_hidden(alerting: Database) -> None:
    host = alerting.host
    host.run(f"printf %s '999:wrong-token-wrong-token-wrong-token' | sudo sh -c 'cat > {TOKEN_FILE}'")
    out = host.run(f"sudo {LIB}/backup-alert.sh failure 'test message'", check=False)
    assert out.returncode != 0 and "Telegram sendMessage to chat 4242 failed" in out.stderr
    assert sent(host) == [] and "wrong-token" not in out.stdout + out.stderr


def test_a_stale_backup_alerts_once(alerting: Database) -> None:
    host = alerting.host
    backup(alerting)
    assert host.run(f"sudo {LIB}/backup-status.sh --alert").stdout == ""  # fresh: silent, as cron runs it
    age_last_success(alerting, 14 * 3600)
    first = host.run(f"sudo {LIB}/backup-status.sh --alert", check=False)
    assert first.returncode == 1 and "botstack-alert: sent to Telegram chat 4242" in first.stdout
    [message] = sent(host)
    assert "STALE: the last good backup of botstack is 14 h 0 min old (limit 13 h 0 min)" in message["text"]
    again = host.run(f"sudo {LIB}/backup-status.sh --alert", check=False)
    assert again.returncode == 1 and "already alerted" in again.stdout and len(sent(host)) == 1
    assert pings(host)[-1] == "POST /ping/check-1/fail"
    backup(alerting)  # a good backup makes it fresh again and clears the marker
    assert host.run(f"sudo {LIB}/backup-status.sh --alert").stdout == ""
    assert "\n.stale-alerted\n" not in "\n" + "\n".join(listing(alerting)) + "\n"


def test_a_dump_over_200_mb_restores_into_the_hardened_stack_container(backups: Database) -> None:
    """The database container has a 64 MB /tmp tmpfs and a read-only root: restore streams the dump."""
    host = backups.host
    inspect = host.run(f"docker inspect -f '{{{{.HostConfig.ReadonlyRootfs}}}} {{{{.Config.User}}}} "
                       f"{{{{index .HostConfig.Tmpfs \"/tmp\"}}}}' {backups.container}").stdout.strip()
    assert inspect == "true 999:999 rw,noexec,nosuid,size=64m"
    backups.sql("CREATE EXTENSION IF NOT EXISTS pgcrypto; CREATE TABLE big AS SELECT g AS id, "
                "gen_random_bytes(1024) || gen_random_bytes(1024) AS payload FROM generate_series(1, 110000) g")
    digest = "SELECT count(*) || ' ' || md5(string_agg(md5(payload), '' ORDER BY id)) FROM big"
    before = backups.sql(digest)
    try:
        backup(backups, "--no-verify")
        dump = latest(backups)
        size = int(host.run(f"sudo stat -c %s {DIR}/{dump}").stdout)
        assert size > 200 * 2**20, f"the dump is only {size} bytes"
        backups.sql("UPDATE big SET payload = 'x' WHERE id % 3 = 0")
        out = host.run(f"sudo {LIB}/restore.sh --yes {dump}", timeout=900)
        assert f"restored {dump} into botstack" in out.stdout, out
        assert backups.sql(digest) == before
    finally:
        backups.sql("DROP TABLE IF EXISTS big; DROP EXTENSION IF EXISTS pgcrypto")
        host.run(f"sudo sh -c 'rm -f {DIR}/$(readlink {DIR}/latest)*'")
        backup(backups)  # `latest` is a small dump again for whatever runs next
