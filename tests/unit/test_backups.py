"""Backups and the database role password: install-backups.sh's arguments from config, the SCRAM verifier."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from components.backups import install_arguments as arguments_of
from components.commands import Target
from components.config import ConfigError
from components.config_loading import validate
from components.database import alter_role_sql, scram_verifier
from components.naming import Naming
from components.stack import backups_args
from tests.unit.conftest import BOT_TOKEN, HOST_KEY, new_private_key
from tests.unit.harness import config_entries, is_secret, run_stack, unwrap
from tests.unit.test_scripts import (  # noqa: F401 - fakes and backup_host are fixtures
    SERVER,
    STACK_SH,
    _calls,
    _run,
    _server,
    backup_host,
    fakes,
)

NAMING = Naming("botstack", "prod")
TARGET = Target(scripts_dir="/home/deploy/botstack/server", secrets_dir="/etc/botstack/secrets")


def install_arguments(config, naming, target):
    return arguments_of(backups_args(config, naming, target))


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
    assert envs["PGBACKREST_COMPRESS_TYPE"] == "zst" and envs["PGBACKREST_COMPRESS_LEVEL"] == "1"
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


def test_prod_archives_wal_by_default_and_dev_does_not(private_key):
    from tests.unit.conftest import prod_config

    prod = validate("prod", config_entries(prod_config(private_key)))
    dev = validate("dev", config_entries({}))
    assert prod.backup.pitr.enabled is None and prod.backup.pitr.active(prod.on_vds)
    assert not dev.backup.pitr.active(dev.on_vds)
    assert prod.backup.pitr.archive_timeout_seconds == 60 and prod.backup.pitr.retention_days == 7
    assert "--pitr" in install_arguments(prod, NAMING, TARGET)
    off = validate("prod", config_entries(prod_config(private_key, backup={"pitr": {"enabled": False}})))
    assert not off.backup.pitr.active(off.on_vds) and "--pitr" not in install_arguments(off, NAMING, TARGET)


CIPHER_PASS = "correct-horse-battery-staple-0123456789"
OFFSITE_SFTP = {"type": "sftp", "path": "/backups/botstack", "sftpHost": "backup.example.net", "sftpPort": 23,
                "sftpUser": "u123456", "sftpHostKey": HOST_KEY}  # fmt: skip


def test_the_passphrase_and_offsite_keys_reach_pgbackrest_as_secret_files_never_as_environment(private_key):
    from tests.unit.conftest import prod_config

    offsite_key = new_private_key()
    pitr = {"cipherPass": CIPHER_PASS, "offsite": {**OFFSITE_SFTP, "sftpPrivateKey": offsite_key}}
    mocks, _ = run_stack(prod_config(private_key, backup={"pitr": pitr}), "prod")
    container = mocks.named("database-container").inputs
    envs = dict(env.split("=", 1) for env in container["envs"])
    assert envs["PGBACKREST_CONFIG"] == "/run/secrets/pgbackrest.conf"
    assert envs["PGBACKREST_REPO1_CIPHER_TYPE"] == envs["PGBACKREST_REPO2_CIPHER_TYPE"] == "aes-256-cbc"
    assert envs["PGBACKREST_REPO2_TYPE"] == "sftp" and envs["PGBACKREST_REPO2_PATH"] == "/backups/botstack"
    assert envs["PGBACKREST_REPO2_SFTP_HOST"] == "backup.example.net" and envs["PGBACKREST_REPO2_SFTP_HOST_PORT"] == "23"
    assert envs["PGBACKREST_REPO2_SFTP_HOST_USER"] == "u123456"
    assert envs["PGBACKREST_REPO2_SFTP_HOST_KEY_CHECK_TYPE"] == "fingerprint"
    assert envs["PGBACKREST_REPO2_SFTP_HOST_KEY_HASH_TYPE"] == "sha256"
    # the same hash as `ssh-keygen -l -E sha256` of the pinned key, in hex
    blob = base64.b64decode(HOST_KEY.split()[1])
    assert envs["PGBACKREST_REPO2_SFTP_HOST_FINGERPRINT"] == hashlib.sha256(blob).hexdigest()
    assert envs["PGBACKREST_REPO2_SFTP_PRIVATE_KEY_FILE"] == "/run/secrets/pgbackrest_sftp_key"
    assert envs["PGBACKREST_REPO2_RETENTION_FULL"] == envs["PGBACKREST_REPO1_RETENTION_FULL"] == "7"
    assert CIPHER_PASS not in str(unwrap(container)) and "PRIVATE KEY" not in str(unwrap(container))
    mounts = {m["containerPath"]: m["hostPath"] for m in container["volumes"] if "hostPath" in m}
    assert mounts["/run/secrets/pgbackrest.conf"] == "/etc/botstack/secrets/pgbackrest.conf"
    assert mounts["/run/secrets/pgbackrest_sftp_key"] == "/etc/botstack/secrets/pgbackrest_sftp_key"
    writer = mocks.named("database-pitr-secrets").inputs
    assert writer["create"].endswith("write-secrets.sh /etc/botstack/secrets") and is_secret(writer["stdin"])
    files = {name: base64.b64decode(value).decode()
             for name, value in (line.split("\t") for line in unwrap(writer["stdin"]).splitlines())}  # fmt: skip
    assert files["pgbackrest.conf"] == f"[global]\nrepo1-cipher-pass={CIPHER_PASS}\nrepo2-cipher-pass={CIPHER_PASS}\n"
    assert files["pgbackrest_sftp_key"] == offsite_key.strip() + "\n"
    # a new passphrase replaces the writer, and its new id restarts the database container
    labels = {label["label"]: label["value"] for label in container["labels"]}
    assert labels["botstack.secrets-revision"] == f"{mocks.named('secrets-files').id}+{mocks.named('database-pitr-secrets').id}"


def test_a_posix_offsite_repository_is_a_host_directory_owned_by_postgres(private_key):
    from tests.unit.conftest import prod_config

    pitr = {"offsite": {"type": "posix", "path": "/mnt/backup-disk/botstack", "retentionDays": 30}}
    mocks, _ = run_stack(prod_config(private_key, backup={"pitr": pitr}), "prod")
    envs = dict(env.split("=", 1) for env in mocks.named("database-container").inputs["envs"])
    assert envs["PGBACKREST_REPO2_TYPE"] == "posix" and envs["PGBACKREST_REPO2_PATH"] == "/var/lib/pgbackrest-offsite"
    assert envs["PGBACKREST_REPO2_RETENTION_FULL"] == "30" and "PGBACKREST_CONFIG" not in envs
    volume = mocks.named("database-pitr-offsite")
    assert volume.inputs["driverOpts"] == {"type": "none", "o": "bind", "device": "/mnt/backup-disk/botstack"}
    assert volume.options["retainOnDelete"] is True
    assert mocks.named("database-pitr-offsite-dir").inputs["create"] == (
        "sudo -n install -d -o 999 -g 999 -m 0700 /mnt/backup-disk/botstack"
    )


@pytest.mark.parametrize(
    ("pitr", "expected"),
    [
        ({"offsite": {"type": "sftp", "sftpHost": "backup.example.net", "s3Bucket": "b"}}, [
            "- botstack:backup.pitr.offsite.sftpUser: is required by offsite type sftp.",
            "- botstack:backup.pitr.offsite.sftpPrivateKey: is required by offsite type sftp.\n"
            "  fix: pulumi config set -s prod --secret --path 'botstack:backup.pitr.offsite.sftpPrivateKey' <value>",
            "- botstack:backup.pitr.offsite.s3Bucket: is for offsite type s3, not sftp.\n"
            "  fix: pulumi config rm -s prod --path 'botstack:backup.pitr.offsite.s3Bucket'",
        ]),
        ({"offsite": {"type": "ftp"}}, ["- botstack:backup.pitr.offsite.type: Input should be 'sftp', 's3' or 'posix'."]),
        ({"cipherPass": "too-short"}, [
            "- botstack:backup.pitr.cipherPass: must be at least 20 characters.\n"
            "  fix: pulumi config set -s prod --secret --path 'botstack:backup.pitr.cipherPass' \"$(openssl rand -base64 48)\"",
        ]),
        ({"cipherPass": "a passphrase with spaces in it"}, ["may only contain printable ASCII without spaces"]),
        ({"enabled": False, "cipherPass": CIPHER_PASS}, [
            "- botstack:backup.pitr.cipherPass: has no effect while backup.pitr.enabled is false.\n"
            "  fix: pulumi config rm -s prod --path 'botstack:backup.pitr.cipherPass'",
        ]),
        ({"offsite": {**OFFSITE_SFTP, "sftpPrivateKey": "not a key"}}, [
            "- botstack:backup.pitr.offsite.sftpPrivateKey: is not an SSH private key.\n"
            "  fix: pulumi config set -s prod --secret --path 'botstack:backup.pitr.offsite.sftpPrivateKey' < ~/.ssh/",
        ]),
        ({"offsite": {"type": "posix", "path": "relative/dir"}}, ["- botstack:backup.pitr.offsite.path: is not an absolute"]),
    ],
)
def test_bad_pitr_settings_name_the_key_and_the_fix_and_never_echo_a_secret(private_key, pitr, expected):
    from tests.unit.conftest import prod_config

    with pytest.raises(ConfigError) as raised:
        validate("prod", config_entries(prod_config(private_key, backup={"pitr": pitr})))
    message = str(raised.value)
    for line in expected:
        assert line in message, message
    assert "too-short" not in message and "with spaces" not in message and "not a key" not in message


# ---- a swarm's database (the cluster stack) -------------------------------------------------------------------------


def test_a_database_service_is_named_by_service_not_container():
    args = backups_args(validate("dev", {}), NAMING, TARGET)
    arguments = arguments_of(dataclasses.replace(args, database_is_service=True))
    assert arguments[arguments.index("--service") + 1] == "botstack-prod-database"
    assert "--container" not in arguments


# A docker stand-in for the service lookup: $TASKS holds the ids `docker ps` answers for the service's label.
SWARM_DOCKER = r"""#!/usr/bin/env bash
{ printf '%s' "$(basename "$0")"; printf ' %s' "$@"; printf '\n'; } >>"$CALLS"
case "$*" in
  "ps -q --filter label=com.docker.swarm.service.name=botstack-swarm-database --filter status=running")
    printf '%s\n' $TASKS ;;
  "inspect -f {{.State.Running}} "*) echo true ;;
esac
"""


@pytest.fixture()
def swarm_backup_host(backup_host: dict[str, str]) -> dict[str, str]:  # noqa: F811
    """backup_host's config naming the database service instead of a container, and a docker that knows its task."""
    config = Path(backup_host["BOTSTACK_BACKUP_CONFIG"])
    config.write_text(config.read_text().replace("PG_CONTAINER=botstack-prod-db", "PG_SERVICE=botstack-swarm-database"))
    docker = Path(backup_host["PATH"].split(os.pathsep)[0]) / "docker"
    docker.write_text(SWARM_DOCKER)
    return backup_host


def test_backup_finds_the_database_service_s_task_on_this_node(swarm_backup_host: dict[str, str]) -> None:
    dry = _server("backup.sh", ["--dry-run"], {**swarm_backup_host, "TASKS": "3f2a1b4c5d6e"})
    assert dry.returncode == 0, dry.stderr
    assert "would dump botstack from container 3f2a1b4c5d6e (pg_dump -Fc as botstack" in dry.stdout
    assert _calls(swarm_backup_host)[:2] == [
        "docker ps -q --filter label=com.docker.swarm.service.name=botstack-swarm-database --filter status=running",
        "docker inspect -f {{.State.Running}} 3f2a1b4c5d6e",
    ]


@pytest.mark.parametrize(
    ("tasks", "error"),
    [
        ("", "no running task of service botstack-swarm-database on this node (backups run on the database's node)"),
        ("3f2a1b4c5d6e 9a8b7c6d5e4f", "more than one running task of service botstack-swarm-database on this node"),
    ],
)
def test_backup_without_exactly_one_task_of_the_service_fails_loudly(
    swarm_backup_host: dict[str, str], tasks: str, error: str
) -> None:
    failed = _server("backup.sh", ["--no-verify"], {**swarm_backup_host, "TASKS": tasks})
    assert failed.returncode == 1 and f"botstack-backup: FAILED: {error}" in failed.stderr
    # a real run alerts: the lookup fails after the lock, like a failed dump
    assert any(call.startswith("curl") for call in _calls(swarm_backup_host)), _calls(swarm_backup_host)
    backups = Path(swarm_backup_host["BACKUPS"])
    assert error in (backups / ".last-failure").read_text() and (backups / "latest").resolve().name == "botstack-new.dump"


def _install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SERVER / "install-backups.sh"), *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--container", "c", "--service", "s"], "--container and --service exclude each other"),
        (["--service", "s", "--pitr"], "--pitr works with --container only"),
        (["--service", "bad name!"], "invalid name: bad name!"),
    ],
)
def test_install_refuses_a_service_with_a_container_or_pitr(args: list[str], error: str) -> None:
    result = _install(*args, "--db", "botstack", "--db-user", "botstack")
    assert result.returncode != 0 and error in result.stderr, result.stderr
