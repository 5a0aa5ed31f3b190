"""Backups and the database role password: install-backups.sh's arguments from config, the SCRAM verifier."""

from __future__ import annotations

import base64

import pytest

from components.backups import install_arguments
from components.commands import Target
from components.config import ConfigError
from components.config_loading import validate
from components.database import alter_role_sql, scram_verifier
from components.naming import Naming
from tests.unit.conftest import BOT_TOKEN
from tests.unit.harness import config_entries, run_stack
from tests.unit.test_scripts import STACK_SH, _calls, _run, fakes  # noqa: F401 - fakes is a fixture

NAMING = Naming("botstack", "prod")
TARGET = Target(scripts_dir="/home/deploy/botstack/server", secrets_dir="/etc/botstack/secrets")


def test_scram_verifier_equals_the_one_postgresql_computes():
    # PostgreSQL 15 stored this for `CREATE ROLE r LOGIN PASSWORD 'pencil-0123456789'` (pg_authid.rolpassword)
    stored = ("SCRAM-SHA-256$4096:tlKZSb+myK2lj91Hh5I3hQ==$AsoUpZy9NXBQRHBVfi1PQJ7n0Er78jgF12j8UKW76qM="
              ":rOYt+fNlMhnvR5KnzPzKts+NwB4G/esqVl+JzCIfBhw=")
    assert scram_verifier("pencil-0123456789", base64.b64decode("tlKZSb+myK2lj91Hh5I3hQ==")) == stored
    assert scram_verifier("pencil-0123456789x", base64.b64decode("tlKZSb+myK2lj91Hh5I3hQ==")) != stored


def test_alter_role_sql_carries_only_the_verifier():
    verifier = scram_verifier("secret-password-1", b"salt-salt-salt-salt-salt")
    sql = alter_role_sql("botstack", verifier)
    assert sql == f"ALTER ROLE \"botstack\" WITH PASSWORD '{verifier}';\n"
    assert "secret-password-1" not in sql


def test_defaults_run_the_first_backup_and_set_the_stale_limit():
    arguments = install_arguments(validate("dev", {}), NAMING, TARGET)
    assert arguments == [
        "--schedule", "0 */6 * * *", "--retention-days", 7, "--container", "botstack-prod-database",
        "--db", "botstack", "--db-user", "botstack", "--stale-after-minutes", 780, "--run-now",
    ]  # fmt: skip


def test_alerts_name_the_token_file_never_the_token():
    config = validate("dev", config_entries({
        "profile": "full", "botToken": BOT_TOKEN, "telegramApiUrl": "https://tg.example.com",
        "backup": {"alertChatId": -1001234567890, "healthcheckUrl": "https://hc-ping.com/abc-123", "staleAfterHours": 2},
    }))  # fmt: skip
    arguments = [str(a) for a in install_arguments(config, NAMING, TARGET)]
    assert arguments[arguments.index("--alert-chat-id") + 1] == "-1001234567890"
    assert arguments[arguments.index("--bot-token-file") + 1] == "/etc/botstack/secrets/bot_token"
    assert arguments[arguments.index("--telegram-api-url") + 1] == "https://tg.example.com"
    assert arguments[arguments.index("--healthcheck-url") + 1] == "https://hc-ping.com/abc-123"
    assert arguments[arguments.index("--stale-after-minutes") + 1] == "120"
    assert BOT_TOKEN not in " ".join(arguments)


def test_an_alert_chat_without_a_bot_token_is_a_config_error():
    with pytest.raises(ConfigError, match=r"botstack:backup\.alertChatId: needs botToken"):
        validate("dev", config_entries({"backup": {"alertChatId": "-100123"}}))
    with pytest.raises(ConfigError, match=r"backup\.alertChatId.*Telegram chat id"):
        validate("dev", config_entries({"profile": "full", "botToken": BOT_TOKEN, "backup": {"alertChatId": "1; reboot"}}))


def test_make_backup_status_runs_the_status_script_next_to_the_backup_script(fakes: dict[str, str]) -> None:  # noqa: F811
    result = _run([STACK_SH, "backup-status", "prod"], fakes)
    assert result.returncode == 0, result.stderr
    ssh = [c for c in _calls(fakes) if c.startswith("ssh ")]
    assert len(ssh) == 1 and "-o StrictHostKeyChecking=yes" in ssh[0]
    assert ssh[0].endswith("-p 2222 -- deploy@203.0.113.10 sudo /opt/botstack/bin/backup-status.sh")


def test_make_restore_at_runs_pitr_sh_with_the_checked_time(fakes: dict[str, str]) -> None:  # noqa: F811
    done = _run([STACK_SH, "restore-at", "prod", "2026-11-29 17:03:00"], fakes, stdin="prod\n")
    assert done.returncode == 0, done.stderr
    assert any(c.endswith("sudo /opt/botstack/bin/pitr.sh restore --yes --at '2026-11-29 17:03:00'") for c in _calls(fakes))
    latest = _run([STACK_SH, "restore-at", "prod", "latest", "--yes"], fakes)
    assert latest.returncode == 0
    assert [c for c in _calls(fakes) if c.startswith("ssh ")][-1].endswith("pitr.sh restore --yes --latest")
    for bad in ("2026-11-29 17:03", "2026-11-29 17:03:00; reboot", "yesterday"):
        refused = _run([STACK_SH, "restore-at", "prod", bad, "--yes"], fakes)
        assert refused.returncode == 1 and "AT must be 'YYYY-MM-DD HH:MM:SS' (UTC) or latest" in refused.stderr


PITR = {"backup": {"pitr": {"enabled": True, "archiveTimeoutSeconds": 30, "baseBackupSchedule": "0 2 * * *",
                             "retentionDays": 14}}}  # fmt: skip


def test_point_in_time_recovery_is_rendered_into_the_database_container_and_the_image_build():
    mocks, _ = run_stack(PITR)
    container = mocks.named("database-container").inputs
    assert container["command"] == [
        "postgres", "-c", "archive_mode=on", "-c", "archive_command=pgbackrest --stanza=botstack archive-push %p",
        "-c", "archive_timeout=30",
    ]  # fmt: skip
    envs = dict(env.split("=", 1) for env in container["envs"])
    assert envs["PGBACKREST_REPO1_PATH"] == "/var/lib/pgbackrest" and envs["PGBACKREST_REPO1_RETENTION_FULL"] == "14"
    assert envs["PGBACKREST_REPO1_RETENTION_FULL_TYPE"] == "time" and envs["PGBACKREST_PG1_USER"] == "botstack"
    assert {"volumeName": "botstack-dev-pgbackrest-data", "containerPath": "/var/lib/pgbackrest"} in container["volumes"]
    assert mocks.named("database-pitr-data").options["retainOnDelete"] is True
    build = mocks.named("images-postgres").inputs
    assert build["build"]["context"] == "images/postgres" and build["build"]["args"] == {"POSTGRES_IMAGE": "postgres:16-bookworm"}
    assert container["image"].startswith("sha256:")


def test_without_point_in_time_recovery_the_official_image_runs_unchanged():
    mocks, _ = run_stack({})
    container = mocks.named("database-container").inputs
    assert "command" not in container or container["command"] is None
    assert not any(env.startswith("PGBACKREST_") for env in container["envs"])
    assert mocks.named("images-postgres").typ == "docker:index/remoteImage:RemoteImage"


def test_point_in_time_recovery_reaches_install_backups():
    arguments = install_arguments(validate("dev", config_entries(PITR)), NAMING, TARGET)
    assert arguments[-6:] == ["--pitr", "--pitr-schedule", "0 2 * * *", "--stale-after-minutes", 780, "--run-now"]
