"""Backups: the PostgreSQL backup job on the VDS (server/install-backups.sh), re-installed when its scripts
or settings change. The install runs the first backup at once; every dump is verified by restoring it into a
scratch database. A failed or stale backup alerts (Telegram with the bot's token, and/or a healthcheck URL)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import pulumi

from components.catalogue import BOT_TOKEN, DATABASE
from components.commands import SERVER_DIR, Target, file_digest, host_command, script_command
from components.config import BackupConfig, DatabaseConfig, PitrConfig
from components.contract import INSTALLED_SCRIPTS_DIR
from components.naming import Naming

BACKUP_SCRIPTS = (
    "install-backups.sh", "backup.sh", "verify-backup.sh", "restore.sh", "backup-alert.sh", "backup-status.sh", "pitr.sh",
    "lib.sh", "contract.sh",
)  # fmt: skip


def installed_command(script: str, *args: str) -> str:
    """A command line that runs an installed backup script on the VDS (for `make backup-now` / `make restore`)."""
    return shlex.join(["sudo", f"{INSTALLED_SCRIPTS_DIR}/{script}", *args])


@dataclass(frozen=True)
class BackupsArgs:
    naming: Naming
    target: Target  # the VDS
    backup: BackupConfig
    database: DatabaseConfig  # which database and role to dump
    telegram_api_url: str  # alerts go through the bot's Bot API
    pitr: PitrConfig | None = None  # point-in-time recovery, when it is on
    # the database is a swarm service (the cluster stack): backup.sh finds its task's container by the service's label
    database_is_service: bool = False


class Backups(pulumi.ComponentResource):
    def __init__(self, name: str, args: BackupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("botstack:components:Backups", name, None, opts)
        host_command(
            f"{name}-install",
            args.target,
            script_command(args.target, "install-backups.sh", *install_arguments(args)),
            triggers=[file_digest(*(SERVER_DIR / script for script in BACKUP_SCRIPTS if (SERVER_DIR / script).exists()))],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})


def install_arguments(args: BackupsArgs) -> list[str | int]:
    """install-backups.sh's arguments: schedule, retention, which container and database, off-site copy, encryption,
    alerts (the bot token by its file path on the host, never its value), and the first backup at once."""
    backup = args.backup
    arguments: list[str | int] = [
        "--schedule", backup.schedule,
        "--retention-days", backup.retention_days,
        "--service" if args.database_is_service else "--container", args.naming.container(DATABASE.name),
        "--db", args.database.name,
        "--db-user", args.database.user,
    ]  # fmt: skip
    if backup.rclone_remote:
        arguments += ["--rclone-remote", backup.rclone_remote]
    if backup.age_recipient:
        arguments += ["--age-recipient", backup.age_recipient]
    if backup.alert_chat_id:
        arguments += [
            "--alert-chat-id", backup.alert_chat_id,
            "--bot-token-file", f"{args.target.secrets_dir}/{BOT_TOKEN}",
            "--telegram-api-url", args.telegram_api_url,
        ]  # fmt: skip
    if backup.healthcheck_url:
        arguments += ["--healthcheck-url", backup.healthcheck_url]
    if args.pitr is not None:
        arguments += ["--pitr", "--pitr-schedule", args.pitr.base_backup_schedule]
    arguments += ["--stale-after-minutes", backup.stale_after_hours * 60, "--run-now"]
    return arguments
