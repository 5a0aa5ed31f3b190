"""Database: PostgreSQL on the backend network with its data on a named volume that outlives the container."""

from __future__ import annotations

import base64
import hashlib
import hmac
import shlex
from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components import container
from components.catalogue import BACKEND, DATABASE, DB_PASSWORD
from components.commands import Target, docker_exec_command, host_command, script_command, secrets_payload
from components.config import DatabaseConfig, LoggingConfig, PitrConfig, PitrOffsiteConfig, ServiceResources
from components.config_values import host_key_sha256
from components.naming import Naming

DATA_PATH = "/var/lib/postgresql/data"  # PostgreSQL <= 17 images
SCRAM_ITERATIONS = 4096  # PostgreSQL's default scram_iterations
PITR_STANZA = "botstack"  # pgBackRest's name for this cluster's backups and WAL
PITR_REPOSITORY = "/var/lib/pgbackrest"  # a named volume: the repository lives on the host, apart from the data
PITR_OFFSITE_MOUNT = "/var/lib/pgbackrest-offsite"  # a posix off-site repository (a host directory) in the container
PGBACKREST_SECRETS_FILE = "pgbackrest.conf"  # pgBackRest's options that are secrets, as a secret file
PGBACKREST_SFTP_KEY_FILE = "pgbackrest_sftp_key"  # the SFTP repository's private key, as a secret file


@dataclass(frozen=True)
class DatabaseArgs:
    naming: Naming
    image: pulumi.Input[str]
    backend_network: pulumi.Input[str]
    settings: DatabaseConfig  # database and role names
    password: pulumi.Input[str]  # to set on the role when it changes
    password_file: pulumi.Input[str]  # the same, as a file on the Docker host
    secrets_revision: pulumi.Input[str]
    target: Target  # the host that runs the containers (for `docker exec` and pgBackRest's secret files)
    resources: ServiceResources
    logging: LoggingConfig
    pitr: PitrConfig | None = None  # point-in-time recovery, when it is on
    published_port: int | None = None  # dev only: PostgreSQL on 127.0.0.1:<port>
    protect_data: bool = False  # prod: `destroy` may not delete the volumes


@dataclass
class _Storage:
    """What the container mounts and waits for: volumes, secret files, and the revision that restarts it."""

    volumes: dict[str, pulumi.Input[str]]
    secret_files: dict[str, pulumi.Input[str]]
    secrets_revision: pulumi.Input[str]
    managed: list[pulumi.Resource]


class Database(pulumi.ComponentResource):
    container_name: pulumi.Output[str]
    volume_name: pulumi.Output[str]
    container: docker.Container

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(DATABASE.component_type, name, None, opts)
        db, pitr = args.settings, args.pitr
        volume = container.data_volume(name, DATABASE.name, args.naming, self, protect=args.protect_data)
        storage = _Storage({DATA_PATH: volume.name}, {DB_PASSWORD: args.password_file}, args.secrets_revision, [volume])
        if pitr is not None:
            self._add_pitr_storage(name, args, pitr, storage)
        spec = container.ContainerSpec.of(
            DATABASE,
            image=args.image,
            command=pitr_command(pitr.archive_timeout_seconds) if pitr is not None else None,
            envs={
                "POSTGRES_USER": db.user,
                "POSTGRES_DB": db.name,
                "POSTGRES_PASSWORD_FILE": container.secret_path(DB_PASSWORD),
                "PGDATA": DATA_PATH,
                **(pitr_environment(db.user, pitr) if pitr is not None else {}),
            },
            secret_files=storage.secret_files,
            volumes=storage.volumes,
            tmpfs={**container.DEFAULT_TMPFS, "/var/run/postgresql": "rw,nosuid,size=8m"},
            # -h 127.0.0.1: the init-time server listens on the socket only, so TCP readiness means really ready.
            # probed every second (pg_isready costs next to nothing): migrations and the app services wait for it
            healthcheck=container.Healthcheck(
                ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", db.user, "-d", db.name], interval="1s", retries=50
            ),
            networks=[container.NetworkAttachment(args.backend_network, DATABASE.aliases_on(BACKEND))],
            ports=[container.PublishedPort(DATABASE.listening_port, args.published_port)] if args.published_port else (),
            resources=args.resources,
            logging=args.logging,
            secrets_revision=storage.secrets_revision,
        )
        self.container = container.hardened_container(name, spec, args.naming, self, storage.managed)
        self.container_name = cast(pulumi.Output[str], self.container.name)
        self._set_role_password(name, args)
        self.volume_name = cast(pulumi.Output[str], volume.name)
        self.register_outputs({"containerName": self.container_name, "volumeName": self.volume_name})

    def _add_pitr_storage(self, name: str, args: DatabaseArgs, pitr: PitrConfig, storage: _Storage) -> None:
        """pgBackRest's repository volume, the off-site directory (posix), and its secret files."""
        repository = container.data_volume(f"{name}-pitr", "pgbackrest", args.naming, self, protect=args.protect_data)
        storage.volumes[PITR_REPOSITORY] = repository.name
        storage.managed.append(repository)
        if pitr.offsite is not None and pitr.offsite.type == "posix":
            offsite = self._offsite_directory(name, pitr.offsite.path, args, protect=args.protect_data)
            storage.volumes[PITR_OFFSITE_MOUNT] = offsite.name
            storage.managed.append(offsite)
        files = pitr_secret_files(pitr)
        if not files:
            return
        # Secrets of pgBackRest (passphrase, keys) as files beside the stack's others, written the same way
        # (write-secrets.sh, values on stdin); their paths, not their values, go into the environment.
        payload = pulumi.Output.secret(secrets_payload(files))
        written = host_command(
            f"{name}-pitr-secrets",
            args.target,
            script_command(args.target, "write-secrets.sh", args.target.secrets_dir),
            stdin=payload,
            triggers=[payload, args.secrets_revision],  # after the stack's own secrets (directory, scripts)
            opts=pulumi.ResourceOptions(parent=self),
        )
        storage.secret_files.update({file: f"{args.target.secrets_dir}/{file}" for file in files})
        storage.secrets_revision = pulumi.Output.all(args.secrets_revision, written.id).apply(lambda ids: "+".join(ids))
        storage.managed.append(written)

    def _set_role_password(self, name: str, args: DatabaseArgs) -> None:
        """PostgreSQL reads POSTGRES_PASSWORD_FILE only when it initialises an empty data directory: a rotated
        password must be set on the role itself, or the app services (which depend on this component) lock out.
        Over the container's local socket (trusted, like the official image), the SQL on stdin (a secret).
        The password goes as a SCRAM-SHA-256 verifier, so the clear text never reaches PostgreSQL (nor its logs,
        pg_stat_activity or a failed statement's error). The salt is random, kept in state, so the same
        password gives the same SQL and a second `up` runs nothing."""
        db = args.settings
        salt = random.RandomPassword(f"{name}-scram-salt", length=24, special=False, opts=pulumi.ResourceOptions(parent=self))
        host_command(
            f"{name}-role-password",
            args.target,
            docker_exec_command(
                args.naming.container(DATABASE.name), ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", db.user, "-d", db.name]
            ),
            stdin=pulumi.Output.secret(
                pulumi.Output.all(args.password, salt.result).apply(
                    lambda values: alter_role_sql(db.user, scram_verifier(values[0], values[1].encode()))
                )
            ),
            triggers=[args.password],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container]),
        )

    def _offsite_directory(self, name: str, path: str, args: DatabaseArgs, protect: bool) -> docker.Volume:
        """A directory on the host (a second disk, a network mount) as pgBackRest's second repository: created for
        the postgres user, then mounted through a volume of the local driver that binds it."""
        directory = host_command(
            f"{name}-pitr-offsite-dir",
            args.target,
            offsite_directory_command(path, sudo=args.target.sudo),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return docker.Volume(
            f"{name}-pitr-offsite",
            name=args.naming.volume("pgbackrest-offsite"),
            driver_opts={"type": "none", "o": "bind", "device": path},
            labels=[docker.VolumeLabelArgs(label=key, value=value) for key, value in args.naming.stack_label().items()],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[directory], retain_on_delete=True, protect=protect),
        )


def offsite_directory_command(path: str, sudo: bool) -> str:
    """Create the posix off-site repository's directory on the host, owned by the container's postgres user."""
    uid, gid = DATABASE.user.split(":")
    return shlex.join([*(["sudo", "-n"] if sudo else []), "install", "-d", "-o", uid, "-g", gid, "-m", "0700", path])


def pitr_command(archive_timeout_seconds: int) -> list[str]:
    """postgres with continuous WAL archiving through pgBackRest. archive_timeout bounds how long a written WAL
    segment waits before it is archived (the RPO); an idle server writes no WAL and archives nothing."""
    return [
        "postgres",
        "-c", "archive_mode=on",
        "-c", f"archive_command=pgbackrest --stanza={PITR_STANZA} archive-push %p",
        "-c", f"archive_timeout={archive_timeout_seconds}",
    ]  # fmt: skip


def pitr_environment(role: str, pitr: PitrConfig) -> dict[str, str]:
    """pgBackRest's settings as PGBACKREST_* variables (the root filesystem is read-only: no config file of its own).
    Logs and locks on the /tmp tmpfs. Retention by time on each repository: every backup ends with `expire`, which
    removes full backups older than the retention (keeping one older, so the whole period stays restorable) and
    the WAL only they needed. Secrets are not here: PGBACKREST_CONFIG names the secret file that holds them."""
    env = {
        "PGBACKREST_STANZA": PITR_STANZA,
        "PGBACKREST_PG1_PATH": DATA_PATH,
        "PGBACKREST_PG1_USER": role,
        "PGBACKREST_PG1_SOCKET_PATH": "/var/run/postgresql",
        **repository_environment(1, "posix", PITR_REPOSITORY, pitr.retention_days, encrypted=pitr.cipher_pass is not None),
        "PGBACKREST_START_FAST": "y",
        # zstd level 1 for base backups and archived WAL: on the bench database a full backup took 4.4 s against
        # 37.6 s with the default gzip level 6, for a repository 1 % larger (docs/bench.md)
        "PGBACKREST_COMPRESS_TYPE": "zst",
        "PGBACKREST_COMPRESS_LEVEL": "1",
        "PGBACKREST_LOG_PATH": "/tmp",  # noqa: S108 - the container's tmpfs
        "PGBACKREST_LOCK_PATH": "/tmp/pgbackrest",  # noqa: S108
        "PGBACKREST_LOG_LEVEL_FILE": "off",
        "PGBACKREST_LOG_LEVEL_CONSOLE": "warn",
    }
    offsite = pitr.offsite
    if offsite is not None:
        days = offsite.retention_days or pitr.retention_days
        path = PITR_OFFSITE_MOUNT if offsite.type == "posix" else offsite.path
        env |= repository_environment(2, offsite.type, path, days, encrypted=pitr.cipher_pass is not None)
        env |= offsite_environment(offsite)
    if PGBACKREST_SECRETS_FILE in pitr_secret_files(pitr):
        env["PGBACKREST_CONFIG"] = container.secret_path(PGBACKREST_SECRETS_FILE)
    return env


def repository_environment(number: int, kind: str, path: str, retention_days: int, encrypted: bool) -> dict[str, str]:
    """One repository's type, path, retention (full backups by age; WAL follows them) and cipher type."""
    prefix = f"PGBACKREST_REPO{number}_"
    env = {
        f"{prefix}TYPE": kind,
        f"{prefix}PATH": path,
        f"{prefix}RETENTION_FULL_TYPE": "time",
        f"{prefix}RETENTION_FULL": str(retention_days),
    }
    if encrypted:
        env[f"{prefix}CIPHER_TYPE"] = "aes-256-cbc"
    return env


def offsite_environment(offsite: PitrOffsiteConfig) -> dict[str, str]:
    """repo2's connection settings (not its secrets). SFTP: the host key pinned by its SHA-256 fingerprint, the
    private key as a secret file; small files bundled (one round trip per bundle instead of per file)."""
    if offsite.type == "sftp":
        assert offsite.sftp_host and offsite.sftp_user and offsite.sftp_host_key  # the config requires them
        return {
            "PGBACKREST_REPO2_SFTP_HOST": offsite.sftp_host,
            "PGBACKREST_REPO2_SFTP_HOST_PORT": str(offsite.sftp_port),
            "PGBACKREST_REPO2_SFTP_HOST_USER": offsite.sftp_user,
            "PGBACKREST_REPO2_SFTP_HOST_KEY_CHECK_TYPE": "fingerprint",
            "PGBACKREST_REPO2_SFTP_HOST_KEY_HASH_TYPE": "sha256",
            "PGBACKREST_REPO2_SFTP_HOST_FINGERPRINT": host_key_sha256(offsite.sftp_host_key),
            "PGBACKREST_REPO2_SFTP_PRIVATE_KEY_FILE": container.secret_path(PGBACKREST_SFTP_KEY_FILE),
            "PGBACKREST_REPO2_BUNDLE": "y",
        }
    if offsite.type == "s3":
        assert offsite.s3_bucket and offsite.s3_endpoint and offsite.s3_region  # the config requires them
        return {
            "PGBACKREST_REPO2_S3_BUCKET": offsite.s3_bucket,
            "PGBACKREST_REPO2_S3_ENDPOINT": offsite.s3_endpoint,
            "PGBACKREST_REPO2_S3_REGION": offsite.s3_region,
            "PGBACKREST_REPO2_S3_URI_STYLE": offsite.s3_uri_style,
            "PGBACKREST_REPO2_BUNDLE": "y",
        }
    return {}


def pitr_secret_files(pitr: PitrConfig) -> dict[str, str]:
    """The secret files pgBackRest reads: its config file with the passphrase and S3 keys (pgBackRest reads
    options from a file as from PGBACKREST_* variables), and the SFTP private key. Empty when none is set."""
    lines = []
    offsite = pitr.offsite
    if pitr.cipher_pass is not None:
        lines += [f"repo{n}-cipher-pass={pitr.cipher_pass.get_secret_value()}" for n in ((1, 2) if offsite else (1,))]
    if offsite is not None and offsite.s3_key is not None and offsite.s3_key_secret is not None:
        lines += [
            f"repo2-s3-key={offsite.s3_key.get_secret_value()}",
            f"repo2-s3-key-secret={offsite.s3_key_secret.get_secret_value()}",
        ]
    files = {PGBACKREST_SECRETS_FILE: "\n".join(["[global]", *lines, ""])} if lines else {}
    if offsite is not None and offsite.sftp_private_key is not None:
        files[PGBACKREST_SFTP_KEY_FILE] = offsite.sftp_private_key.get_secret_value().strip() + "\n"
    return files


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
