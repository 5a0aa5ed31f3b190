"""write-secrets.sh, run-migrations.sh and the role password on the VDS-like host: the secrets contract end to end."""

from __future__ import annotations

import base64

import pytest

from components.commands import STDIN_PRELUDE
from components.database import scram_verifier
from tests.e2e.vds.conftest import PG_IMAGE, SERVER, Database, Provisioned, changes
from tests.e2e.vds.stackdb import DB_PASSWORD

pytestmark = pytest.mark.e2e

SECRETS = "/etc/botstack/secrets"
FAKE_ALEMBIC = """#!/bin/sh
# stand-in for the backend image's alembic: reads the URL like the app does, applies one "migration"
set -eu
[ "$*" = "upgrade head" ] || { echo "unexpected arguments: $*" >&2; exit 2; }
echo "INFO  [alembic] upgrade head as $(id -u):$(id -g)"
psql "$(cat "$DATABASE_URL_FILE")" -v ON_ERROR_STOP=1 -q \\
  -c "CREATE TABLE IF NOT EXISTS migrated (at timestamptz); INSERT INTO migrated VALUES (now())"
echo "INFO  [alembic] done"
"""


def payload(values: dict[str, str]) -> str:
    return "".join(f"{k}\t{base64.b64encode(v.encode()).decode()}\n" for k, v in sorted(values.items()))


def write_secrets(host, values: dict[str, str], *options: str):
    return host.run(f"sudo bash write-secrets.sh {' '.join(options)} {SECRETS}", input=payload(values))


def put_scripts(host, *scripts: str) -> None:
    """The scripts into the deploy user's home with what they load from beside them, as the Server component copies
    server/ (lib.sh, contract.sh)."""
    for script in (*scripts, *STDIN_PRELUDE):
        host.put(SERVER / script, script)


def test_write_secrets_modes_idempotence_and_no_echo(provisioned: Provisioned) -> None:
    host = provisioned.host
    put_scripts(host, "write-secrets.sh")
    values = {"jwt_secret": "first\nline two", "bot_token": "123:abc"}
    first = write_secrets(host, values)
    assert changes(first.stdout) >= 2
    for value in values.values():
        assert value.split("\n")[0] not in first.stdout + first.stderr
    assert changes(write_secrets(host, values).stdout) == 0
    dry = write_secrets(host, {**values, "bot_token": "456:def"}, "--dry-run")
    assert f"changed: (dry run) {SECRETS}/bot_token would be written" in dry.stdout
    assert dry.stdout.strip().endswith("botstack-provision: 1 changed (dry run)")
    assert host.run(f"sudo cat {SECRETS}/bot_token").stdout == "123:abc", "a dry run writes nothing"
    changed = write_secrets(host, {**values, "bot_token": "456:def"})
    assert changes(changed.stdout) == 1 and f"changed: {SECRETS}/bot_token" in changed.stdout
    modes = host.run(f"sudo stat -c '%n %a %U' {SECRETS} {SECRETS}/jwt_secret {SECRETS}/bot_token").stdout
    assert modes.split("\n")[:3] == [f"{SECRETS} 700 root", f"{SECRETS}/jwt_secret 444 root",
                                     f"{SECRETS}/bot_token 444 root"]
    assert host.run(f"sudo cat {SECRETS}/jwt_secret").stdout == "first\nline two"
    assert host.run(f"cat {SECRETS}/jwt_secret", check=False).returncode != 0  # the 0700 dir guards it


def test_run_migrations_one_off_container_reads_the_secret_file(provisioned: Provisioned, database: Database) -> None:
    host = provisioned.host
    put_scripts(host, "write-secrets.sh", "run-migrations.sh")
    host.run("mkdir -p fake-backend")
    host.run("cat > fake-backend/alembic && chmod 755 fake-backend/alembic", input=FAKE_ALEMBIC)
    host.run("cat > fake-backend/Dockerfile",
             input=f"FROM {PG_IMAGE}\nCOPY alembic /usr/local/bin/alembic\nUSER 10001:10001\n")
    host.run("DOCKER_BUILDKIT=0 docker build -q -t botstack-test/fake-backend:1 fake-backend")
    host.run("docker network inspect botstack-prod-backend >/dev/null 2>&1 || "
             "docker network create --internal botstack-prod-backend")
    host.run(f"docker network connect --alias db botstack-prod-backend {database.container} 2>/dev/null || true")
    url = f"postgresql://botstack:{DB_PASSWORD}@db:5432/botstack"
    write_secrets(host, {"database_url": url})
    dry = host.run(f"sudo bash run-migrations.sh --dry-run botstack-test/fake-backend:1 botstack-prod-backend {SECRETS}")
    assert "would run: docker run --rm --network botstack-prod-backend" in dry.stdout
    assert "upgrade head as" not in dry.stdout and "run-migrations: (dry run) nothing was run" in dry.stdout
    assert database.sql("SELECT to_regclass('migrated') IS NULL") == "t", "a dry run migrates nothing"
    out = host.run(f"sudo bash run-migrations.sh botstack-test/fake-backend:1 botstack-prod-backend {SECRETS}")
    assert "upgrade head as 10001:10001" in out.stdout and "run-migrations: ok" in out.stdout
    assert database.sql("SELECT count(*) FROM migrated") == "1"
    # a failing migration fails the script and shows its output (but never the secret)
    write_secrets(host, {"database_url": url.replace(DB_PASSWORD, "wrong-password")})
    try:
        bad = host.run(f"sudo bash run-migrations.sh botstack-test/fake-backend:1 botstack-prod-backend {SECRETS}",
                       check=False)
        assert bad.returncode != 0
        assert "password authentication failed" in bad.stdout and "FAILED: alembic upgrade head" in bad.stderr
        assert "wrong-password" not in bad.stdout + bad.stderr
    finally:
        write_secrets(host, {"database_url": url})
    missing = host.run("sudo bash run-migrations.sh botstack-test/fake-backend:1 botstack-prod-backend /nonexistent",
                       check=False)
    assert missing.returncode != 0 and "database_url missing" in missing.stderr
    unprivileged = host.run(f"bash run-migrations.sh botstack-test/fake-backend:1 botstack-prod-backend {SECRETS}",
                            check=False)
    assert unprivileged.returncode != 0 and "run with sudo" in unprivileged.stderr


def test_the_role_password_reaches_postgresql_as_the_programs_scram_verifier(database: Database) -> None:
    """The Database component's role-password command sent a verifier (salt from pulumi-random, 24 bytes), never
    the clear text: what pg_authid holds is exactly that verifier, and it accepts the password over TCP."""
    stored = database.sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'botstack'")
    salt = base64.b64decode(stored.split("$")[1].split(":")[1])
    assert len(salt) == 24, "initdb's own verifier (16-byte salt) is still there: the program's command did not run"
    assert stored == scram_verifier(DB_PASSWORD, salt)
    login = 'psql -h db -U botstack -d botstack -XAtc "select current_user" 2>&1'
    good = database.host.run(f"docker exec {database.container} sh -c 'PGPASSWORD=$(cat /run/secrets/db_password) {login}'")
    assert good.stdout.strip() == "botstack"
    bad = database.host.run(f"docker exec {database.container} sh -c 'PGPASSWORD=not-the-password {login}'", check=False)
    assert bad.returncode != 0 and "password authentication failed" in bad.stdout
    logs = database.host.run(f"docker logs {database.container} 2>&1").stdout
    assert DB_PASSWORD not in logs and "SCRAM-SHA-256$" not in logs
