"""Point-in-time recovery on the VDS-like host, through the stack's own database container.

The database image is images/postgres (the program's Dockerfile: the configured PostgreSQL image plus pgBackRest)
built on the stand-in base and shipped like a registry pull would; the container is the Database component's
declaration with the VDS defaults (archiving on without `backup.pitr.enabled`: archive_command, archive_timeout,
PGBACKREST_* settings, the repository volume), created under the provider test double as a second stack `pitr`
beside the backup suite's `prod`, with both repositories encrypted (`backup.pitr.cipherPass`, a secret file) and
an off-site second repository of type posix (a host directory standing in for a mounted disk; the stand-in's
pgBackRest 2.45 has no SFTP, which came in 2.46). install-backups.sh --pitr --run-now creates the stanza, checks
archiving and takes the first base backup in each repository; server/pitr.sh restores.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.e2e.vds.conftest import DEPLOY_USER, PG_IMAGE, REPO, Database, Provisioned
from tests.e2e.vds.stackdb import start_stack_database

pytestmark = pytest.mark.e2e

LIB = "/usr/local/lib/botstack"
ARCHIVE_TIMEOUT = 10  # seconds; the default is 60, a shorter one keeps the test short and the bound the same
DATABASE_IMAGE_DIR = REPO / "images" / "postgres"
CIPHER_PASS = "pitr-suite-passphrase-0123456789abcdef"  # tests check it never shows in docker inspect or logs
OFFSITE_DIR = "/var/backups/botstack-offsite"
REPOSITORY_VOLUME = "botstack-pitr-pgbackrest-data"


def database_image() -> str:
    """images/postgres built FROM the stand-in, tagged by the Dockerfile's and the base's content."""
    base_id = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", PG_IMAGE], capture_output=True, text=True,
                             check=True).stdout.strip()
    digest = hashlib.sha256(base_id.encode() + (DATABASE_IMAGE_DIR / "Dockerfile").read_bytes()).hexdigest()[:16]
    tag = f"botstack-test/postgres-pitr:{digest}"
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode != 0:
        subprocess.run(["docker", "build", "-q", "--build-arg", f"POSTGRES_IMAGE={PG_IMAGE}", "-t", tag,
                        str(DATABASE_IMAGE_DIR)], check=True, capture_output=True)
    return tag


@pytest.fixture(scope="module")
def pitr(provisioned: Provisioned) -> Iterator[Database]:
    host = provisioned.host
    provisioned.wait_for_image()  # the stand-in base ships in the background after provisioning
    image = database_image()
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    load = subprocess.run([*host.ssh_argv(DEPLOY_USER), "docker load"], stdin=save.stdout, capture_output=True)
    assert save.stdout is not None
    save.stdout.close()
    assert save.wait() == 0 and load.returncode == 0, load.stderr.decode()
    pitr = {"archiveTimeoutSeconds": ARCHIVE_TIMEOUT, "cipherPass": CIPHER_PASS,
            "offsite": {"type": "posix", "path": OFFSITE_DIR}}  # fmt: skip
    stack = start_stack_database(host, DEPLOY_USER, image, stack="pitr", extra={"backup": {"pitr": pitr}})
    db = Database(host, container=stack.container)
    try:
        yield db
    finally:
        host.run(f"docker rm -f {stack.container}; docker volume rm {stack.volume} {REPOSITORY_VOLUME} "
                 f"botstack-pitr-pgbackrest-offsite; docker network rm botstack-pitr-backend botstack-pitr-edge; "
                 f"sudo rm -rf {OFFSITE_DIR}", check=False)


def install(db: Database) -> str:
    return db.host.run(f"sudo bash botstack/server/install-backups.sh --container {db.container} --db {db.db} "
                       f"--db-user {db.user} --pitr --run-now", timeout=900).stdout


def utc_now(db: Database) -> str:
    return db.sql("SELECT to_char(now() AT TIME ZONE 'utc', 'YYYY-MM-DD HH24:MI:SS')")


def archive_now(db: Database) -> None:
    """Close the current WAL segment and wait until it is archived (what archive_timeout does by itself)."""
    wal = db.sql("SELECT pg_walfile_name(pg_switch_wal())")
    deadline = time.monotonic() + 60
    while db.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") < wal:
        assert time.monotonic() < deadline, f"{wal} was not archived"
        time.sleep(0.5)


def restore(db: Database, *target: str, check: bool = True):
    return db.host.run(f"sudo {LIB}/pitr.sh restore --yes {' '.join(target)}", check=check, timeout=900)


def started_at(host, container: str) -> str:  # noqa: ANN001
    return host.run(f"docker inspect -f '{{{{.State.StartedAt}}}}' {container}").stdout


def items(db: Database) -> str:
    return db.sql("SELECT count(*) || ' ' || coalesce(max(id), 0) || ' ' || coalesce(md5(string_agg(note, ',' ORDER BY id)), '')"
                  " FROM items")


def test_the_database_archives_wal_through_pgbackrest_into_two_encrypted_repositories(pitr: Database) -> None:
    host = pitr.host
    inspect = host.run(f"docker inspect -f '{{{{json .Config.Cmd}}}} {{{{.HostConfig.ReadonlyRootfs}}}} "
                       f"{{{{.Config.User}}}}' {pitr.container}").stdout
    assert f'"-c","archive_timeout={ARCHIVE_TIMEOUT}"' in inspect and "archive-push %p" in inspect
    assert inspect.split()[-2:] == ["true", "999:999"]
    out = install(pitr)
    assert "stanza ready, WAL archiving checked" in out, out
    # a base backup in each repository, and expire after each with its 7-day retention (the default)
    for repo in (1, 2):
        label = r"[0-9]{8}-[0-9]{6}F"
        assert re.search(rf"full base backup to repo{repo} done in [0-9.]+ s \(new backup label = {label}\); expire "
                         rf"--repo{repo}-retention-full=7 --repo{repo}-retention-full-type=time: 0 full backup\(s\) removed",
                         out), out
    print("\n" + "\n".join(line for line in out.splitlines() if "base backup to repo" in line))
    assert "botstack-verify: ok:" in out  # the pg_dump backup runs too
    status = host.run(f"sudo {LIB}/backup-status.sh").stdout
    assert re.search(r"^pitr archive: last WAL [0-9A-F]{24}(\.[0-9A-F]{8}\.backup)? archived \d+ min ago", status, re.M), status
    assert re.search(r"^pitr base backup repo1: newest ended .* \(0 h ago\)", status, re.M), status
    assert re.search(r"^pitr base backup repo2: newest ended .* \(0 h ago\)", status, re.M), status
    assert status.rstrip().endswith("status: OK")
    # encrypted at rest in both (OpenSSL's salted format), the passphrase nowhere in docker inspect or the log
    for where in (f"$(docker volume inspect -f '{{{{.Mountpoint}}}}' {REPOSITORY_VOLUME})", OFFSITE_DIR):
        segment = host.run(f"sudo find {where}/archive -name '0000*-*' -size +1k | head -n 1").stdout.strip()
        assert segment, f"no archived WAL in {where}"
        assert host.run(f"sudo head -c 8 {segment}").stdout == "Salted__", segment
    assert CIPHER_PASS not in host.run(f"docker inspect {pitr.container}").stdout
    assert CIPHER_PASS not in host.run(f"docker logs {pitr.container} 2>&1; sudo cat /var/log/botstack-backup.log").stdout


def test_restore_to_a_time_brings_back_exactly_the_rows_before_it(pitr: Database) -> None:
    pitr.sql("CREATE TABLE items (id int PRIMARY KEY, note text);"
             "INSERT INTO items SELECT g, 'before ' || g FROM generate_series(1, 100) g")
    before = items(pitr)
    time.sleep(1.2)
    target = utc_now(pitr)  # whole seconds: everything above committed before it
    time.sleep(1.2)
    pitr.sql("INSERT INTO items SELECT g, 'after ' || g FROM generate_series(101, 200) g")
    pitr.sql("DROP TABLE items")
    archive_now(pitr)
    # a writer of this stack is stopped during the restore and started again; another stack's is left alone
    host, image = pitr.host, pitr.host.run(f"docker inspect -f '{{{{.Image}}}}' {pitr.container}").stdout.strip()
    for stack in ("pitr", "other"):
        host.run(f"docker run -d --name writer-{stack} --label botstack.stack={stack} --label botstack.writer=true "
                 f"--entrypoint sleep {image} infinity")
    started = {stack: started_at(host, f"writer-{stack}") for stack in ("pitr", "other")}
    try:
        out = restore(pitr, "--at", f"'{target}'")
        assert "stopping writers: writer-pitr\n" in out.stdout and "started writers again: writer-pitr\n" in out.stdout, out
        after = {stack: started_at(host, f"writer-{stack}") for stack in started}
        assert after["pitr"] != started["pitr"] and after["other"] == started["other"]
    finally:
        host.run("docker rm -f writer-pitr writer-other", check=False)
    assert f"restored botstack to {target} UTC" in out.stdout, out
    assert items(pitr) == before and before.startswith("100 100 ")
    # again, after another write: the same result
    pitr.sql("INSERT INTO items VALUES (500, 'after the restore')")
    archive_now(pitr)
    restore(pitr, "--at", f"'{target}'")
    assert items(pitr) == before


def test_a_time_before_the_oldest_base_backup_is_refused_and_nothing_changes(pitr: Database) -> None:
    host = pitr.host
    started = host.run(f"docker inspect -f '{{{{.State.StartedAt}}}}' {pitr.container}").stdout
    before = items(pitr)
    refused = restore(pitr, "--at", "'2020-01-01 00:00:00'", check=False)
    assert refused.returncode != 0
    assert re.search(r"FAILED: --at 2020-01-01 00:00:00 UTC is before the oldest base backup, which ended "
                     r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: nothing can be restored to that time; nothing was changed",
                     refused.stderr), refused.stderr
    assert "stopping" not in refused.stdout
    assert host.run(f"docker inspect -f '{{{{.State.StartedAt}}}}' {pitr.container}").stdout == started
    assert items(pitr) == before
    future = restore(pitr, "--at", "'2999-01-01 00:00:00'", check=False)
    assert future.returncode != 0 and "is in the future" in future.stderr


def test_a_lost_data_volume_after_sigkill_loses_at_most_archive_timeout(pitr: Database) -> None:
    """Commits one row at a time, SIGKILLs the database, wipes its data volume, restores the latest point, and
    measures how much acknowledged data is missing."""
    host = pitr.host
    pitr.sql("CREATE TABLE ticks (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())")
    archive_now(pitr)
    insert = '-c "INSERT INTO ticks (id) VALUES ($i)"'  # $i: the loop's counter, expanded by the host's sh
    writer = (f"i=0; while i=$((i + 1)); docker exec {pitr.container} psql -XAtq -U botstack -d botstack {insert} "
              ">/dev/null 2>&1; do echo $i > acked; done")
    host.run(f"rm -f acked; nohup sh -c '{writer}' >/dev/null 2>&1 & sleep {ARCHIVE_TIMEOUT * 2.5:.0f}; "
             f"docker kill -s KILL {pitr.container} >/dev/null; date -u +%s.%N > killed_at; sleep 2")
    acked = int(host.run("cat acked").stdout)
    killed_at = float(host.run("cat killed_at").stdout)
    image = host.run(f"docker inspect -f '{{{{.Image}}}}' {pitr.container}").stdout.strip()
    host.run(f"docker stop {pitr.container} >/dev/null; docker run --rm --user 999:999 "
             f"-v botstack-pitr-database-data:/data --entrypoint sh {image} -c 'rm -rf /data/* /data/.[!.]*'")
    assert host.run(f"docker run --rm -v botstack-pitr-database-data:/data --entrypoint ls {image} -A /data").stdout == ""
    out = restore(pitr, "--latest")
    assert "restored botstack to the latest archived point" in out.stdout, out
    assert CIPHER_PASS not in out.stdout + out.stderr
    restored, last_at = pitr.sql("SELECT count(*) || ' ' || coalesce(extract(epoch FROM max(at)), 0) FROM ticks").split()
    missing = acked - int(restored)
    lost_seconds = killed_at - float(last_at)
    print(f"\nPITR after SIGKILL + lost volume: {acked} rows acknowledged, {restored} restored, {missing} missing "
          f"(the last {lost_seconds:.1f} s before the kill; archive_timeout {ARCHIVE_TIMEOUT} s)")
    assert int(restored) > 0 and pitr.sql("SELECT max(id) = count(*) FROM ticks") == "t", "a gap in the restored rows"
    assert lost_seconds <= ARCHIVE_TIMEOUT + 3, f"{lost_seconds:.1f} s of committed writes lost"


def test_a_dead_disk_restores_from_the_offsite_repository_alone(pitr: Database) -> None:
    """The disk that held both the data and the local repository is gone: the off-site copy restores the latest
    point alone, and `pitr.sh setup` then brings the local repository back."""
    host = pitr.host
    pitr.sql("CREATE TABLE survivors (id int PRIMARY KEY); INSERT INTO survivors SELECT generate_series(1, 50)")
    archive_now(pitr)
    image = host.run(f"docker inspect -f '{{{{.Image}}}}' {pitr.container}").stdout.strip()
    host.run(f"docker kill -s KILL {pitr.container} >/dev/null; docker stop {pitr.container} >/dev/null || true")
    for volume in ("botstack-pitr-database-data", REPOSITORY_VOLUME):
        host.run(f"docker run --rm --user 999:999 -v {volume}:/lost --entrypoint sh {image} -c 'rm -rf /lost/* /lost/.[!.]*'")
    out = restore(pitr, "--latest")
    assert "restored botstack to the latest archived point" in out.stdout, out
    assert pitr.sql("SELECT count(*) FROM survivors") == "50"
    setup = host.run(f"sudo {LIB}/pitr.sh setup && sudo {LIB}/pitr.sh backup full", timeout=600).stdout
    assert "stanza ready, WAL archiving checked" in setup and "full base backup to repo1 done" in setup, setup
    assert host.run(f"sudo {LIB}/backup-status.sh").stdout.rstrip().endswith("status: OK")
