"""The stack config model: every `botstack:*` key, its type, default, checks and description.

Every key lives under the `botstack:` namespace of `Pulumi.<stack>.yaml`. Top-level keys are
camelCase in Pulumi config (`sshPrivateKey`) and snake_case in Python (`ssh_private_key`); nested
objects keep camelCase keys (`vds.hostKey`). `BOTSTACK_<SNAKE_NAME>` environment variables override
Pulumi config (objects as JSON), which is handy in CI.

Loading and validating a stack's config is components/config_loading.py; what the user reads when it is
wrong (the key, the problem, the `pulumi config set` that fixes it) is components/config_messages.py. The
checks of single values (hosts, users, URLs, cron, names, sizes, durations, SSH keys) are in
components/config_values.py; those that span keys are here. Sections render their own docker inputs.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from components import config_values as values
from components.catalogue import FULL_ONLY_SERVICE_NAMES, SERVICE_NAMES
from components.cluster_config import ClusterConfig
from components.config_errors import ConfigError, Invalid, Problems
from components.config_values import FullMatch, format_mb, megabytes
from components.contract import pin_problem

__all__ = [
    "ConfigError",
    "DEFAULT_RESOURCES",
    "Invalid",
    "NAMESPACE",
    "SECRET_KEYS",
    "StackConfig",
    "VdsConfig",
    "megabytes",
]

NAMESPACE = "botstack"

# An image reference, Docker's grammar (distribution/reference): [domain[:port]/]path[:tag][@sha256:digest].
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_NAME = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?/)?{_PATH_PART}(?:/{_PATH_PART})*"
_IMAGE_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_IMAGE_REF = rf"{_IMAGE_NAME}(?::{_IMAGE_TAG})?(?:@sha256:[0-9a-f]{{64}})?"
_EMAIL = r"[A-Za-z0-9._%+-]{1,64}@(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+"
_TELEGRAM_BOT_ID = r"[0-9]{1,20}:[A-Za-z0-9_-]{20,}"


def _https_url(value: str) -> str:
    if len(value) > 2048 or not re.fullmatch(r"https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%/-]*)?", value, re.ASCII):
        raise Invalid("is not an https URL (expected e.g. https://acme-staging-v02.api.letsencrypt.org/directory)")
    return value


def _absolute_path(value: str) -> str:
    if len(value) > 4096 or not re.fullmatch(r"(?:/[A-Za-z0-9._-]+)+", value, re.ASCII):
        raise Invalid("is not an absolute file path of letters, digits and ._- (expected e.g. /etc/botstack/root.pem)")
    return value


def _email(value: str) -> str:
    values.no_edges(value)
    if not re.fullmatch(_EMAIL, value, re.ASCII):
        raise Invalid("must be an e-mail address such as ops@example.com (no quotes, braces or spaces)")
    return value


def _image_ref(value: str) -> str:
    values.no_edges(value)
    if len(value) > 512 or not re.fullmatch(_IMAGE_REF, value, re.ASCII):
        raise Invalid("is not a Docker image reference (expected e.g. postgres:16-bookworm)", example="'postgres:16-bookworm'")
    return value


def _image_repository(value: str) -> str:
    values.no_edges(value)
    if len(value) > 255 or not re.fullmatch(_IMAGE_NAME, value, re.ASCII):
        raise Invalid("is not an image repository without tag (expected e.g. ghcr.io/acme/botstack)")
    return value


Megabytes = Annotated[int, BeforeValidator(megabytes)]
Cpus = Annotated[str, BeforeValidator(values.cpus)]
ImageRef = Annotated[str, AfterValidator(_image_ref)]
Host = Annotated[str, AfterValidator(values.host)]
Url = Annotated[str, AfterValidator(values.url)]


class _Section(BaseModel):
    """A nested object: camelCase keys, unknown keys rejected, bad values not echoed."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", hide_input_in_errors=True, frozen=True
    )


class VdsConfig(_Section):
    """The VDS that runs stack prod. Its presence switches the docker provider to ssh:// and turns on provisioning."""

    host: Host = Field(
        description="Address of the VDS: an IPv4 address or a lowercase DNS name (IPv6 is not supported yet).",
        examples=["203.0.113.10"],
    )
    port: int = Field(22, ge=1, le=65535, description="SSH port.")
    user: Annotated[
        str,
        FullMatch(values.UNIX_USER, "must be a Linux user name: lowercase letters, digits, '_' and '-', at most 32"),
        AfterValidator(values.deploy_user),
    ] = Field(
        "deploy",
        description="Deploy user: created by provisioning, in the docker group; every later connection uses it. "
        "Not root or another system account (root login is turned off).",
    )
    bootstrap_user: Annotated[str, AfterValidator(values.bootstrap_user)] = Field(
        "root",
        description="User that logs in with the key on the fresh VDS; used only by the first provisioning step, "
        "which runs as it without sudo, so it must be root.",
    )
    host_key: Annotated[str, AfterValidator(values.host_key)] = Field(
        description="The server's SSH host public key, pinned for every connection: "
        "`ssh-keyscan -t ed25519 HOST | cut -d' ' -f2-`.",
        examples=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI..."],
    )


class ImagesConfig(_Section):
    """Where the images come from. App images are built from app/ unless a repository and tag are set."""

    repository: Annotated[str, AfterValidator(_image_repository)] | None = Field(
        None,
        description="Registry prefix of the app images; `<repository>-backend:<tag>` and `<repository>-web:<tag>` are pulled.",
        examples=["ghcr.io/acme/botstack"],
    )
    tag: Annotated[str, FullMatch(_IMAGE_TAG, "must be a Docker tag: letters, digits, '_', '.' and '-', at most 128")] | None = (
        Field(None, description="Tag of the app images in `repository`; prod pins `sha-<commit>`.", examples=["sha-1a2b3c4"])
    )
    backend: ImageRef | None = Field(None, description="Full reference of a prebuilt backend image (overrides repository/tag).")
    web: ImageRef | None = Field(None, description="Full reference of a prebuilt web image (overrides repository/tag).")
    postgres: ImageRef = Field("postgres:16-bookworm", description="PostgreSQL image.")
    redis: ImageRef = Field("redis:7.4-bookworm", description="Redis image.")
    proxy: ImageRef = Field("caddy:2.8", description="Caddy image the web image is built from (build arg CADDY_IMAGE).")
    python: ImageRef = Field(
        "python:3.11-slim-bookworm", description="Python image the backend is built from (build arg PYTHON_IMAGE)."
    )
    build_args: dict[str, Annotated[str, AfterValidator(values.no_control_characters)]] = Field(
        default_factory=dict, description="Extra build arguments for the app images (e.g. PIP_INSTALL_ARGS for offline builds)."
    )

    @field_validator("build_args")
    @classmethod
    def _build_arg_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name, re.ASCII)]
        if bad:
            raise Problems(
                [Invalid("is not a build argument name (letters, digits and '_')", key=name,
                         fix="pulumi config rm -s {stack} --path 'botstack:images.buildArgs'") for name in bad]
            )
        return value

    @model_validator(mode="after")
    def _repository_and_tag_together(self) -> ImagesConfig:
        if (self.repository is None) != (self.tag is None):
            raise Invalid(
                "images.repository and images.tag are set together (or neither, to build from app/)",
                key="tag" if self.tag is None else "repository",
            )
        return self

    def app_image(self, name: Literal["backend", "web"]) -> str | None:
        """The prebuilt reference of an app image, or None when it is built from app/."""
        explicit = getattr(self, name)
        if explicit:
            return str(explicit)
        if self.repository and self.tag:
            return f"{self.repository}-{name}:{self.tag}"
        return None

    def references(self) -> dict[str, str]:
        """Every image reference that is pulled, by the config key that sets it."""
        refs = {"images.postgres": self.postgres, "images.redis": self.redis}
        for name in ("backend", "web"):
            ref = self.app_image(name)
            if ref:
                refs[f"images.{name}"] = ref
        return refs


class ServiceResources(_Section):
    """Per-service limits; unset fields keep the defaults sized for a 2 GB VDS."""

    memory: Megabytes | None = Field(None, description="Memory limit (e.g. 512M, 1G; 6M..1T).")
    memory_reservation: Megabytes | None = Field(
        None, description="Soft memory reservation (e.g. 256M); at most the memory limit."
    )
    cpus: Cpus | None = Field(None, description="CPU limit (e.g. 0.5; 0.01..64).")

    def run_flags(self) -> list[str]:
        """The limits as `docker run` flags (a one-off container limited like the services)."""
        flags = []
        if self.memory is not None:
            flags += ["--memory", f"{self.memory}m"]
        if self.cpus is not None:
            flags += ["--cpus", str(self.cpus)]
        return flags


class LoggingConfig(_Section):
    driver: Literal["json-file", "local"] = Field("json-file", description="Docker log driver.")
    max_size: Annotated[str, AfterValidator(values.log_size)] = Field(
        "10m", description="Rotate a log file at this size (a number and k, m or g; at most 100g)."
    )
    max_file: int = Field(3, ge=1, le=100, description="Rotated files kept per container.")

    def log_options(self) -> dict[str, str]:
        """The log driver's options (Docker's `--log-opt`)."""
        return {"max-size": self.max_size, "max-file": str(self.max_file)}


class PortsConfig(_Section):
    web: int = Field(8080, ge=1, le=65535, description="dev: host port of the web entrypoint, on 127.0.0.1.")
    database: int | None = Field(None, ge=1, le=65535, description="dev only: publish PostgreSQL on 127.0.0.1:<port>.")
    cache: int | None = Field(None, ge=1, le=65535, description="dev only: publish Redis on 127.0.0.1:<port>.")
    web_https: int | None = Field(
        None, ge=1, le=65535,
        description="dev only: publish web's HTTPS on 127.0.0.1:<port>; with `domain` (and a test CA in `acmeCa`) "
        "dev then serves HTTPS for it.",
    )  # fmt: skip


PITR_OFFSITE_TYPES = ("sftp", "s3", "posix")
_OFFSITE_FIELDS = {
    "sftp": ("sftp_host", "sftp_user", "sftp_host_key", "sftp_private_key"),
    "s3": ("s3_bucket", "s3_endpoint", "s3_region", "s3_key", "s3_key_secret"),
    "posix": (),
}
_OFFSITE_SECRETS = ("sftp_private_key", "s3_key", "s3_key_secret")
_PgBackRestKey = Annotated[str, FullMatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}", "must be letters, digits and . _ -")]


class PitrOffsiteConfig(_Section):
    """A second pgBackRest repository away from the VDS (pgBackRest's repo2). PostgreSQL archives every WAL segment
    to both repositories; each gets its own base backups, so either restores alone."""

    type: Literal["sftp", "s3", "posix"] = Field(
        description="`sftp`: a directory on an SSH server (e.g. a storage box). `s3`: an S3-compatible bucket. "
        "`posix`: a directory on the VDS itself that is really elsewhere (a second disk, an NFS mount)."
    )
    path: Annotated[str, AfterValidator(_absolute_path)] = Field(
        "/botstack",
        description="The repository's directory: on the SFTP server, in the bucket, or (posix) on the VDS.",
        examples=["/botstack"],
    )
    retention_days: int | None = Field(
        None, ge=1, le=3650, description="Base backups (and their WAL) kept here; default: backup.pitr.retentionDays."
    )
    sftp_host: Host | None = Field(None, description="sftp: the SSH server.", examples=["u123456.your-storagebox.de"])
    sftp_port: int = Field(22, ge=1, le=65535, description="sftp: its SSH port.")
    sftp_user: (
        Annotated[str, FullMatch(values.UNIX_USER, "must be a user name: lowercase letters, digits, '_' and '-'")] | None
    ) = Field(None, description="sftp: the user to log in as.", examples=["u123456"])
    sftp_host_key: Annotated[str, AfterValidator(values.host_key)] | None = Field(
        None,
        description="sftp: the server's SSH host public key, pinned (pgBackRest checks its SHA-256 fingerprint): "
        "`ssh-keyscan -t ed25519 HOST | cut -d' ' -f2-`.",
        examples=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI..."],
    )
    sftp_private_key: Annotated[SecretStr | None, AfterValidator(values.sftp_private_key)] = Field(
        None,
        description="Secret. sftp: an OpenSSH private key without passphrase whose public key the server accepts. "
        "Reaches the database container as a file, never in its environment.",
    )
    s3_bucket: _PgBackRestKey | None = Field(None, description="s3: the bucket.", examples=["botstack-backups"])
    s3_endpoint: Host | None = Field(None, description="s3: the endpoint host.", examples=["s3.eu-central-1.amazonaws.com"])
    s3_region: _PgBackRestKey | None = Field(None, description="s3: the region.", examples=["eu-central-1"])
    s3_uri_style: Literal["host", "path"] = Field(
        "host", description="s3: `host` (bucket.endpoint) or `path` (endpoint/bucket, e.g. MinIO)."
    )
    s3_key: Annotated[SecretStr | None, AfterValidator(values.pgbackrest_secret("offsite.s3Key", 3, "<access key id>"))] = (
        Field(None, description="Secret. s3: the access key ID (reaches the container as a file).")
    )
    s3_key_secret: Annotated[
        SecretStr | None, AfterValidator(values.pgbackrest_secret("offsite.s3KeySecret", 8, "<secret access key>"))
    ] = Field(None, description="Secret. s3: the secret access key (reaches the container as a file).")

    @model_validator(mode="after")
    def _fields_of_its_type(self) -> PitrOffsiteConfig:
        problems = []
        for kind, names in _OFFSITE_FIELDS.items():
            for field_name in names:
                key = to_camel(field_name)
                secret = "--secret " if field_name in _OFFSITE_SECRETS else ""
                given = getattr(self, field_name) is not None
                if kind == self.type and not given:
                    problems.append(Invalid(
                        f"is required by offsite type {self.type}", key=key,
                        fix=f"pulumi config set -s {{stack}} {secret}--path 'botstack:backup.pitr.offsite.{key}' <value>",
                    ))  # fmt: skip
                elif kind != self.type and given:
                    problems.append(Invalid(
                        f"is for offsite type {kind}, not {self.type}", key=key,
                        fix=f"pulumi config rm -s {{stack}} --path 'botstack:backup.pitr.offsite.{key}'",
                    ))  # fmt: skip
        if problems:
            raise Problems(problems)
        return self


class PitrConfig(_Section):
    """Point-in-time recovery with pgBackRest: continuous WAL archiving plus scheduled base backups."""

    enabled: bool | None = Field(
        None,
        description="Archive WAL continuously (pgBackRest in the database image) so `make restore AT=...` works. "
        "Default: on in prod (a VDS), off in dev, which has no backup job to create and check the repository.",
    )
    archive_timeout_seconds: int = Field(
        60, ge=10, le=3600,
        description="PostgreSQL's archive_timeout: a WAL segment with writes is archived at the latest after this, "
        "so it bounds the data lost with the disk (the RPO).",
    )  # fmt: skip
    base_backup_schedule: Annotated[str, AfterValidator(values.cron)] = Field(
        "15 3 * * *", description="cron schedule of the full base backup (WAL replays from the newest one)."
    )
    retention_days: int = Field(
        7, ge=1, le=3650,
        description="Full base backups older than this many days are expired after each backup, with the WAL only "
        "they needed (one older than this is kept, so any time in the last retentionDays stays restorable).",
    )  # fmt: skip
    cipher_pass: Annotated[
        SecretStr | None, AfterValidator(values.pgbackrest_secret("cipherPass", 20, "\"$(openssl rand -base64 48)\""))
    ] = Field(
        None,
        description="Secret. When set, both repositories are encrypted (aes-256-cbc) with it; it reaches the database "
        "container as a file. Set it before the first deploy with PITR: a repository can't change encryption, so "
        "setting, changing or removing it later needs a new, empty repository. Keep a copy: without it no backup "
        "restores.",
    )
    offsite: PitrOffsiteConfig | None = Field(None, description="A second repository off the VDS (see PitrOffsiteConfig).")

    @model_validator(mode="after")
    def _extras_need_pitr(self) -> PitrConfig:
        if self.enabled is False:
            problems = [
                Invalid("has no effect while backup.pitr.enabled is false", key=key,
                        fix=f"pulumi config rm -s {{stack}} --path 'botstack:backup.pitr.{key}'")
                for key, value in (("cipherPass", self.cipher_pass), ("offsite", self.offsite)) if value is not None
            ]  # fmt: skip
            if problems:
                raise Problems(problems)
        return self

    def active(self, remote: bool) -> bool:
        """Whether WAL is archived: as configured, or by default on a VDS (prod) and not in dev."""
        return remote if self.enabled is None else self.enabled


class BackupConfig(_Section):
    schedule: Annotated[str, AfterValidator(values.cron)] = Field(
        "0 */6 * * *",
        description="cron schedule of the PostgreSQL backup (prod): 5 numeric fields, each within its range.",
    )
    retention_days: int = Field(7, ge=1, le=3650, description="Dumps older than exactly this many days are deleted.")
    rclone_remote: Annotated[
        str,
        FullMatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}:[A-Za-z0-9_./-]{0,512}",
                  "must be an rclone remote:path such as offsite:botstack-backups (letters, digits, _ . / -)"),
    ] | None = Field(None, description="Optional rclone remote:path for an off-site copy.", examples=["offsite:botstack-backups"])
    age_recipient: Annotated[str, FullMatch(r"age1[0-9a-z]{58}", "must be an age public key (age1 and 58 characters)")] | None = (
        Field(None, description="Optional age public key: dumps are encrypted to it.")
    )
    alert_chat_id: Annotated[
        str,
        BeforeValidator(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v),
        FullMatch(r"(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})", "must be a Telegram chat id (-1001234567890) or @channel"),
    ] | None = Field(
        None,
        description="Telegram chat that gets an alert when a backup fails or is stale, sent with the bot's own token "
        "(needs botToken) through telegramApiUrl.",
        examples=["-1001234567890"],
    )
    healthcheck_url: Url | None = Field(
        None,
        description="Pinged after each good backup and <url>/fail after a failed one (healthchecks.io's convention; "
        "such a service also notices when pings stop).",
        examples=["https://hc-ping.com/your-check-uuid"],
    )
    stale_after_hours: int = Field(
        13, ge=1, le=720, description="`make backup-status` fails, and an alert goes out, when the last good backup is older."
    )
    pitr: PitrConfig = Field(default_factory=PitrConfig, description="Point-in-time recovery (see PitrConfig).")


class ProxyConfig(_Section):
    lb_try_duration: Annotated[str, AfterValidator(values.go_duration("0s", "10m", example="30s"))] = Field(
        "30s", description="How long the proxy holds a request while the API is replaced (a Go duration, 0s..10m)."
    )
    lb_try_interval: Annotated[str, AfterValidator(values.go_duration("1ms", "1m", example="250ms"))] = Field(
        "250ms", description="How often the proxy retries the API meanwhile (a Go duration, 1ms..1m)."
    )

    @model_validator(mode="after")
    def _interval_within_duration(self) -> ProxyConfig:
        duration, interval = values.go_seconds(self.lb_try_duration), values.go_seconds(self.lb_try_interval)
        if duration > 0 and interval > duration:
            raise Invalid("is longer than lbTryDuration, so the proxy would never retry", key="lbTryInterval",
                          example="'250ms'")
        return self


class DeployCheckConfig(_Section):
    url: Url | None = Field(
        None,
        description="URL checked after each deploy; default: the public /api/health of the web entrypoint.",
        examples=["https://bot.example.com/api/health"],
    )
    timeout_seconds: int = Field(120, ge=5, le=1800, description="How long the check may take before `up` fails.")


class DatabaseConfig(_Section):
    name: Annotated[str, AfterValidator(values.database_name)] = Field(
        "botstack",
        description=f"PostgreSQL database name: lowercase letters, digits and _, at most "
        f"{values.PG_NAME_MAX - len(values.VERIFY_SUFFIX)} characters (the backup check restores into "
        f"`<name>{values.VERIFY_SUFFIX}`), not ending in `{values.VERIFY_SUFFIX}`, not postgres/template0/template1.",
    )
    user: Annotated[str, AfterValidator(values.role_name)] = Field(
        "botstack",
        description="PostgreSQL role of the app: lowercase letters, digits and _, at most 63 characters, "
        "not a reserved role (pg_*, public, ...).",
    )


# Defaults that fit the smallest VDS the app is meant for, 2 GB: bot 512M/0.5 CPU, postgres 1G/1 CPU with 512M reserved.
DEFAULT_RESOURCES: dict[str, ServiceResources] = {
    "database": ServiceResources(memory=1024, memory_reservation=512, cpus="1"),
    "cache": ServiceResources(memory=256, memory_reservation=64, cpus="0.5"),
    "api": ServiceResources(memory=384, memory_reservation=128, cpus="0.5"),
    "worker": ServiceResources(memory=384, memory_reservation=128, cpus="0.5"),
    # 1 CPU: the bot idles on long polls, but a new bot imports aiogram (about 2.5 s of CPU) while nobody polls
    "bot": ServiceResources(memory=512, memory_reservation=256, cpus="1"),
    "web": ServiceResources(memory=128, memory_reservation=32, cpus="0.25"),
}

SECRET_KEYS = ("sshPrivateKey", "dbPassword", "redisPassword", "jwtSecret", "botToken")


def _trimmed_secret(value: SecretStr) -> str:
    secret = value.get_secret_value()
    if secret != secret.strip():
        raise Invalid("has leading or trailing whitespace (a newline from a file?); remove it")
    return secret


def _secret_rules(minimum: int, url_safe: bool = False) -> AfterValidator:
    def check(value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        secret = _trimmed_secret(value)
        if len(secret) < minimum:
            raise Invalid(f"must be at least {minimum} characters")
        if url_safe and not re.fullmatch(r"[A-Za-z0-9._~-]+", secret, re.ASCII):
            # It goes into connection URLs and config files as it is.
            raise Invalid("may only contain letters, digits and . _ ~ -")
        values.no_control_characters(secret)
        return value

    return AfterValidator(check)


def _check_bot_token(value: SecretStr | None) -> SecretStr | None:
    if value is None:
        return value
    if not re.fullmatch(_TELEGRAM_BOT_ID, _trimmed_secret(value), re.ASCII):
        raise Invalid("does not look like a Telegram bot token (<digits>:<35 characters>)")
    return value


def _check_ssh_key(value: SecretStr | None) -> SecretStr | None:
    if value is not None:
        values.ssh_public_key(value.get_secret_value())
    return value


def _check_telegram_api_url(value: str) -> str:
    if value.startswith("http://") and not values.is_local_host(values.url_host(value)):
        raise Invalid(
            "uses plain http to a remote host, so the bot token would travel in clear: use https (plain http only "
            "to a container on the stack's networks, e.g. http://telegram-bot-api:8081, or to loopback)",
            example="'https://api.telegram.org'",
        )
    return value


class StackConfig(BaseSettings):
    """botstack's stack config (`botstack:*`). `pulumi up -s dev` needs none of it."""

    model_config = SettingsConfigDict(
        env_prefix="BOTSTACK_", extra="forbid", hide_input_in_errors=True, frozen=True, case_sensitive=False
    )

    profile: Literal["minimal", "full"] = Field(
        "minimal", description="`minimal`: database, cache, api, web. `full`: also worker and bot."
    )
    vds: VdsConfig | None = Field(None, description="prod only: the VDS reached over SSH (see VdsConfig).")
    cluster: ClusterConfig | None = Field(None, description="A Docker Swarm of several VDS instead of vds (docs/cluster.md).")

    @model_validator(mode="after")
    def _one_kind_of_host(self) -> StackConfig:
        if self.cluster is not None and (self.vds is not None or self.ssh_private_key is None):
            if self.vds is not None:
                raise Problems([Invalid("is set with cluster: a stack runs on one VDS or on a cluster", key="vds")])
            raise Problems([Invalid("is required with cluster: it logs in to the nodes", key="sshPrivateKey")])
        return self

    ssh_private_key: Annotated[SecretStr | None, AfterValidator(_check_ssh_key)] = Field(
        None,
        description="Secret. Private key of the deploy (and bootstrap) user: an OpenSSH private key "
        "(ed25519, ECDSA, or RSA of 2048+ bits) without passphrase.",
    )
    domain: Annotated[str, AfterValidator(values.dns_name)] | None = Field(
        None,
        description="Public domain; when set, web serves HTTPS for it with automatic certificates.",
        examples=["bot.example.com"],
    )
    acme_email: Annotated[str, AfterValidator(_email)] | None = Field(
        None, description="E-mail for the ACME account of `domain`.", examples=["ops@example.com"]
    )
    acme_ca: Annotated[str, AfterValidator(_https_url)] | None = Field(
        None,
        description="ACME directory URL for `domain`'s certificate; default: Let's Encrypt (with ZeroSSL as fallback).",
        examples=["https://acme-staging-v02.api.letsencrypt.org/directory"],
    )
    acme_ca_root: Annotated[str, AfterValidator(_absolute_path)] | None = Field(
        None,
        description="PEM file, on the Docker host, of the root that signs `acmeCa`'s own HTTPS certificate "
        "(only for a private test CA such as pebble).",
        examples=["/etc/botstack/pebble-root.pem"],
    )
    images: ImagesConfig = Field(default_factory=ImagesConfig, description="Image sources (see ImagesConfig).")
    db_password: Annotated[SecretStr | None, _secret_rules(12, url_safe=True)] = Field(
        None, description="Secret. PostgreSQL password; generated (pulumi-random) when unset."
    )
    redis_password: Annotated[SecretStr | None, _secret_rules(12, url_safe=True)] = Field(
        None, description="Secret. Redis password; generated when unset."
    )
    jwt_secret: Annotated[SecretStr | None, _secret_rules(32)] = Field(
        None, description="Secret. The API's JWT signing key; generated when unset."
    )
    bot_token: Annotated[SecretStr | None, AfterValidator(_check_bot_token)] = Field(
        None, description="Secret. Telegram bot token; required by profile `full`."
    )
    telegram_api_url: Annotated[Url, AfterValidator(_check_telegram_api_url)] = Field(
        "https://api.telegram.org",
        description="Bot API base URL (a self-hosted Bot API server works). https, or plain http only to a container "
        "on the stack's networks or loopback (the bot token is part of every request).",
    )
    resources: dict[str, ServiceResources] = Field(
        default_factory=dict, description="Per-service overrides: {api: {memory: 512M, cpus: 0.5}}."
    )
    ports: PortsConfig = Field(default_factory=PortsConfig, description="Published ports (dev).")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Container log rotation.")
    backup: BackupConfig = Field(default_factory=BackupConfig, description="PostgreSQL backups on the VDS.")
    proxy: ProxyConfig = Field(default_factory=ProxyConfig, description="How web holds requests during API updates.")
    deploy_check: DeployCheckConfig = Field(default_factory=DeployCheckConfig, description="The check after `up`.")
    database: DatabaseConfig = Field(default_factory=DatabaseConfig, description="PostgreSQL database and role names.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # BOTSTACK_* environment variables override Pulumi config (given as init values).
        return (env_settings, init_settings)

    @field_validator("resources")
    @classmethod
    def _known_services(cls, value: dict[str, ServiceResources]) -> dict[str, ServiceResources]:
        unknown = sorted(set(value) - set(SERVICE_NAMES))
        if unknown:
            raise Problems(
                [Invalid(f"unknown service; services are {', '.join(SERVICE_NAMES)}", key=name) for name in unknown]
            )
        return value

    @model_validator(mode="after")
    def _check_combinations(self) -> StackConfig:
        problems: list[Invalid] = []
        if self.profile == "full" and self.bot_token is None:
            problems.append(Invalid("is required by profile 'full' (the bot needs it)", key="botToken"))
        if self.on_vds and self.ssh_private_key is None:
            problems.append(
                Invalid("is required when vds is set (it logs in to the VDS)", key="sshPrivateKey", fix=values.SSH_KEY_FIX)
            )
        if self.backup.alert_chat_id is not None and self.bot_token is None:
            problems.append(Invalid("needs botToken: backup alerts are sent with the bot's own token", key="backup.alertChatId"))
        problems += self._memory_problems()
        if self.on_vds:
            for key, ref in self.images.references().items():
                if pin_problem(ref):
                    problems.append(Invalid("must be pinned to a tag other than 'latest' (or a digest) in prod", key=key))
            if self.ports.database is not None or self.ports.cache is not None:
                problems.append(
                    Invalid(
                        "ports.database and ports.cache are for dev only: prod never publishes them",
                        key="ports",
                        fix="pulumi config rm -s {stack} --path 'botstack:ports.database'; "
                        "pulumi config rm -s {stack} --path 'botstack:ports.cache'",
                    )
                )
        if problems:
            raise Problems(problems)
        return self

    def _memory_problems(self) -> list[Invalid]:
        """Docker refuses a memory reservation above the limit; name the key the user set."""
        problems = []
        for service in SERVICE_NAMES:
            merged, own = self.resources_for(service), self.resources.get(service)
            limit, reservation = merged.memory, merged.memory_reservation
            if limit is None or reservation is None or reservation <= limit:
                continue
            if own is not None and own.memory_reservation is not None:
                whose = "" if own.memory is not None else ", the default"
                problems.append(
                    Invalid(
                        f"is {format_mb(reservation)}, above the memory limit of {format_mb(limit)}{whose}: "
                        "a reservation must not exceed the limit",
                        key=f"resources.{service}.memoryReservation",
                        example=f"'{format_mb(limit)}'",
                    )
                )
            else:
                problems.append(
                    Invalid(
                        f"is {format_mb(limit)}, below the default memory reservation of {service} "
                        f"({format_mb(reservation)}): lower the reservation too",
                        key=f"resources.{service}.memory",
                        fix=f"pulumi config set -s {{stack}} --path 'botstack:resources.{service}.memoryReservation' "
                        f"'{format_mb(limit)}'",
                    )
                )
        return problems

    @property
    def on_vds(self) -> bool:
        """The one answer to "is this prod?": the stack runs on a VDS over SSH (its config sets `vds`). Everything
        else asks components/placement.py, which asks this."""
        return self.vds is not None

    @property
    def pitr(self) -> PitrConfig | None:
        """The point-in-time recovery settings when WAL is archived (by default on a VDS), or None."""
        return self.backup.pitr if self.backup.pitr.active(self.on_vds) else None

    def services(self) -> tuple[str, ...]:
        """The services this profile runs."""
        if self.profile == "full":
            return SERVICE_NAMES
        return tuple(s for s in SERVICE_NAMES if s not in FULL_ONLY_SERVICE_NAMES)

    def resources_for(self, service: str) -> ServiceResources:
        """The default limits of a service with the user's overrides on top."""
        base = DEFAULT_RESOURCES[service]
        override = self.resources.get(service)
        if override is None:
            return base
        return base.model_copy(update=override.model_dump(exclude_none=True))
