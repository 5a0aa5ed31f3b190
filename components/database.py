"""Database: PostgreSQL on the backend network with its data on a named volume that outlives the container."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.catalogue import DATABASE
from components.commands import Target, docker_exec_command, host_command
from components.config import StackConfig
from components.container import (
    DEFAULT_TMPFS,
    ContainerSpec,
    Healthcheck,
    NetworkAttachment,
    PublishedPort,
    data_volume,
    hardened_container,
    secret_path,
)
from components.naming import Naming

POSTGRES_USER = "999:999"  # the postgres user of the official image: no root entrypoint, no capabilities needed
DATA_PATH = "/var/lib/postgresql/data"  # PostgreSQL <= 17 images
GRACE_SECONDS = 60  # a clean shutdown checkpoints; the provider kills at once without a grace period
SCRAM_ITERATIONS = 4096  # PostgreSQL's default scram_iterations
PITR_STANZA = "botstack"  # pgBackRest's name for this cluster's backups and WAL
PITR_REPOSITORY = "/var/lib/pgbackrest"  # a named volume: the repository lives on the host, apart from the data


@dataclass(frozen=True)
class DatabaseArgs:
    config: StackConfig
    naming: Naming
    image: pulumi.Input[str]
    backend_network: pulumi.Input[str]
    password_file: pulumi.Input[str]
    database_url: pulumi.Input[str]
    secrets_revision: pulumi.Input[str]
    password: pulumi.Input[str]
    target: Target  # the host that runs the containers (for `docker exec`)


class Database(pulumi.ComponentResource):
    container_name: pulumi.Output[str]
    volume_name: pulumi.Output[str]
    internal_url: pulumi.Output[str]
    container: docker.Container

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("botstack:components:Database", name, None, opts)
        config, naming = args.config, args.naming
        volume = data_volume(name, "database", naming, self, protect=config.on_vds)
        db = config.database
        pitr = config.backup.pitr
        volumes: dict[str, pulumi.Input[str]] = {DATA_PATH: volume.name}
        managed = [volume]
        if pitr.enabled:
            repository = data_volume(f"{name}-pitr", "pgbackrest", naming, self, protect=config.on_vds)
            volumes[PITR_REPOSITORY] = repository.name
            managed.append(repository)
        spec = ContainerSpec(
            service="database",
            role="database",
            image=args.image,
            user=POSTGRES_USER,
            command=pitr_command(pitr.archive_timeout_seconds) if pitr.enabled else None,
            envs={
                "POSTGRES_USER": db.user,
                "POSTGRES_DB": db.name,
                "POSTGRES_PASSWORD_FILE": secret_path("db_password"),
                "PGDATA": DATA_PATH,
                **(pitr_environment(db.user, pitr.retention_days) if pitr.enabled else {}),
            },
            secret_files={"db_password": args.password_file},
            volumes=volumes,
            tmpfs={**DEFAULT_TMPFS, "/var/run/postgresql": "rw,nosuid,size=8m"},
            # -h 127.0.0.1: the init-time server listens on the socket only, so TCP readiness means really ready.
            healthcheck=Healthcheck(["CMD", "pg_isready", "-h", "127.0.0.1", "-U", db.user, "-d", db.name]),
            networks=[NetworkAttachment(args.backend_network, ["db"])],
            ports=[PublishedPort(DATABASE.listening_port, config.ports.database)] if config.ports.database else (),
            resources=config.resources_for("database"),
            logging=config.logging,
            grace_seconds=GRACE_SECONDS,
            secrets_revision=args.secrets_revision,
        )
        self.container = hardened_container(name, spec, naming, self, managed)
        self.container_name = cast(pulumi.Output[str], self.container.name)
        # PostgreSQL reads POSTGRES_PASSWORD_FILE only when it initialises an empty data directory: a rotated
        # password must be set on the role itself, or the app services (which depend on this component) lock out.
        # Over the container's local socket (trusted, like the official image), the SQL on stdin (a secret).
        # The password goes as a SCRAM-SHA-256 verifier, so the clear text never reaches PostgreSQL (nor its logs,
        # pg_stat_activity or a failed statement's error). The salt is random, kept in state, so the same
        # password gives the same SQL and a second `up` runs nothing.
        salt = random.RandomPassword(f"{name}-scram-salt", length=24, special=False, opts=pulumi.ResourceOptions(parent=self))
        host_command(
            f"{name}-role-password",
            args.target,
            docker_exec_command(
                naming.container("database"), ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", db.user, "-d", db.name]
            ),
            stdin=pulumi.Output.secret(
                pulumi.Output.all(args.password, salt.result).apply(
                    lambda values: alter_role_sql(db.user, scram_verifier(values[0], values[1].encode()))
                )
            ),
            triggers=[args.password],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container]),
        )
        self.volume_name = cast(pulumi.Output[str], volume.name)
        self.internal_url = pulumi.Output.secret(args.database_url)
        self.register_outputs(
            {"containerName": self.container_name, "volumeName": self.volume_name, "internalUrl": self.internal_url}
        )


def pitr_command(archive_timeout_seconds: int) -> list[str]:
    """postgres with continuous WAL archiving through pgBackRest. archive_timeout bounds how long a written WAL
    segment waits before it is archived (the RPO); an idle server writes no WAL and archives nothing."""
    return [
        "postgres",
        "-c", "archive_mode=on",
        "-c", f"archive_command=pgbackrest --stanza={PITR_STANZA} archive-push %p",
        "-c", f"archive_timeout={archive_timeout_seconds}",
    ]  # fmt: skip


def pitr_environment(role: str, retention_days: int) -> dict[str, str]:
    """pgBackRest's settings as PGBACKREST_* variables (the root filesystem is read-only: no config file).
    Logs and locks on the /tmp tmpfs; retention by time, which expires the WAL the kept backups don't need."""
    return {
        "PGBACKREST_STANZA": PITR_STANZA,
        "PGBACKREST_PG1_PATH": DATA_PATH,
        "PGBACKREST_PG1_USER": role,
        "PGBACKREST_PG1_SOCKET_PATH": "/var/run/postgresql",
        "PGBACKREST_REPO1_PATH": PITR_REPOSITORY,
        "PGBACKREST_REPO1_RETENTION_FULL_TYPE": "time",
        "PGBACKREST_REPO1_RETENTION_FULL": str(retention_days),
        "PGBACKREST_START_FAST": "y",
        "PGBACKREST_LOG_PATH": "/tmp",  # noqa: S108 - the container's tmpfs
        "PGBACKREST_LOCK_PATH": "/tmp/pgbackrest",  # noqa: S108
        "PGBACKREST_LOG_LEVEL_FILE": "off",
        "PGBACKREST_LOG_LEVEL_CONSOLE": "warn",
    }


def scram_verifier(password: str, salt: bytes, iterations: int = SCRAM_ITERATIONS) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier of a password (RFC 5802/7677), the form pg_authid stores:
    `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64. PostgreSQL stores a password given in
    this form as is. Passwords are ASCII (config), where SASLprep changes nothing."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def alter_role_sql(role: str, verifier: str) -> str:
    """SQL that sets a role's password from its verifier (identifier and literal quoted)."""
    quoted_role = '"' + role.replace('"', '""') + '"'
    quoted_verifier = "'" + verifier.replace("'", "''") + "'"
    return f"ALTER ROLE {quoted_role} WITH PASSWORD {quoted_verifier};\n"
