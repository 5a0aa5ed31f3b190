"""The stack config model and its loading: the one place botstack's config is read.

Every key lives under the `botstack:` namespace of `Pulumi.<stack>.yaml`. Top-level keys are
camelCase in Pulumi config (`sshPrivateKey`) and snake_case in Python (`ssh_private_key`); nested
objects keep camelCase keys (`vds.hostKey`). `BOTSTACK_<SNAKE_NAME>` environment variables override
Pulumi config (objects as JSON), which is handy in CI.

`load_config()` validates the whole config before any resource is declared and raises
`ConfigError` with, for each problem, the key, what is wrong and the `pulumi config set` that fixes
it. Values of secret keys are never echoed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_snake
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

NAMESPACE = "botstack"
SERVICES = ("database", "cache", "api", "worker", "bot", "web")
FULL_ONLY_SERVICES = ("worker", "bot")

# An image reference: [registry/]path[:tag][@sha256:digest]. Kept loose on purpose; Docker is the judge.
_IMAGE_REF = re.compile(r"^[a-z0-9]+(?:[._/:-][a-zA-Z0-9_.-]+)*(?:@sha256:[0-9a-f]{64})?$")
_HOST_KEY = re.compile(r"^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) [A-Za-z0-9+/=]+$")
_SIZE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[kKmMgG]?)[bB]?$")
_GO_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ns|us|ms|s|m|h))+$")
_CRON_FIELD = r"(?:\*|\d+(?:-\d+)?)(?:/\d+)?(?:,(?:\*|\d+(?:-\d+)?)(?:/\d+)?)*"
_CRON = re.compile(rf"^{_CRON_FIELD}(?:\s+{_CRON_FIELD}){{4}}$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
_TAGGED = re.compile(r"^\[(?P<key>[^\]]+)\] (?P<message>.*)$", re.DOTALL)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ConfigError(Exception):
    """The stack config is invalid; the message says which key, what is wrong and how to fix it."""


def megabytes(value: Any) -> int:
    """'512M', '1G', '512', 512 -> MB (the unit pulumi-docker's memory fields take)."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 512M or 1G")
    if isinstance(value, int | float):
        number, unit = float(value), "m"
    else:
        match = _SIZE.match(str(value).strip())
        if not match:
            raise ValueError("expected a size such as 512M or 1G")
        number, unit = float(match["n"]), (match["unit"] or "m").lower()
    mb = number * {"k": 1 / 1024, "m": 1, "g": 1024}[unit]
    if mb < 6 or mb != int(mb):
        raise ValueError("must be a whole number of megabytes, at least 6M (Docker's minimum)")
    return int(mb)


def _cpus(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError("expected a number of CPUs such as 0.5 or 1") from None
    if not 0.01 <= number <= 64:
        raise ValueError("must be between 0.01 and 64 CPUs")
    # pulumi-docker takes cpus as a decimal string; keep a canonical spelling so previews converge.
    return f"{number:g}"


def _go_duration(value: str) -> str:
    if not _GO_DURATION.match(value):
        raise ValueError("expected a Go duration such as 250ms, 30s or 1m30s")
    return value


def _image_ref(value: str) -> str:
    if not _IMAGE_REF.match(value):
        raise ValueError("is not a Docker image reference (expected e.g. postgres:16-bookworm)")
    return value


Megabytes = Annotated[int, BeforeValidator(megabytes)]
Cpus = Annotated[str, BeforeValidator(_cpus)]
GoDuration = Annotated[str, AfterValidator(_go_duration)]
ImageRef = Annotated[str, AfterValidator(_image_ref)]


class _Section(BaseModel):
    """A nested object: camelCase keys, unknown keys rejected, bad values not echoed."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", hide_input_in_errors=True, frozen=True
    )


class VdsConfig(_Section):
    """The VDS that runs stack prod. Its presence switches the docker provider to ssh:// and turns on provisioning."""

    host: str = Field(description="Address of the VDS (IP or DNS name).", examples=["203.0.113.10"])
    port: int = Field(22, ge=1, le=65535, description="SSH port.")
    user: str = Field(
        "deploy",
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        description="Deploy user: created by provisioning, in the docker group; every later connection uses it.",
    )
    bootstrap_user: str = Field(
        "root",
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        description="User that can log in with the key on the fresh VDS; used only by the first provisioning step.",
    )
    host_key: str = Field(
        description="The server's SSH host public key, pinned for every connection: "
        "`ssh-keyscan -t ed25519 HOST | cut -d' ' -f2-`.",
        examples=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI..."],
    )

    @field_validator("host_key")
    @classmethod
    def _check_host_key(cls, value: str) -> str:
        if not _HOST_KEY.match(value.strip()):
            raise ValueError("must be one public key line without the host name, e.g. 'ssh-ed25519 AAAA...'")
        return value.strip()


class ImagesConfig(_Section):
    """Where the images come from. App images are built from app/ unless a repository and tag are set."""

    repository: str | None = Field(
        None,
        description="Registry prefix of the app images; `<repository>-backend:<tag>` and `<repository>-web:<tag>` are pulled.",
        examples=["ghcr.io/acme/botstack"],
    )
    tag: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
        description="Tag of the app images in `repository`; prod pins `sha-<commit>`.",
        examples=["sha-1a2b3c4"],
    )
    backend: ImageRef | None = Field(None, description="Full reference of a prebuilt backend image (overrides repository/tag).")
    web: ImageRef | None = Field(None, description="Full reference of a prebuilt web image (overrides repository/tag).")
    postgres: ImageRef = Field("postgres:16-bookworm", description="PostgreSQL image.")
    redis: ImageRef = Field("redis:7.4-bookworm", description="Redis image.")
    proxy: ImageRef = Field("caddy:2.8", description="Caddy image the web image is built from (build arg CADDY_IMAGE).")
    python: ImageRef = Field(
        "python:3.11-slim-bookworm", description="Python image the backend is built from (build arg PYTHON_IMAGE)."
    )
    build_args: dict[str, str] = Field(
        default_factory=dict, description="Extra build arguments for the app images (e.g. PIP_INSTALL_ARGS for offline builds)."
    )

    @model_validator(mode="after")
    def _repository_and_tag_together(self) -> ImagesConfig:
        if (self.repository is None) != (self.tag is None):
            raise ValueError("[tag] images.repository and images.tag are set together (or neither, to build from app/)")
        if self.repository is not None:
            _image_ref(self.repository)
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

    memory: Megabytes | None = Field(None, description="Memory limit (e.g. 512M, 1G).")
    memory_reservation: Megabytes | None = Field(None, description="Soft memory reservation (e.g. 256M).")
    cpus: Cpus | None = Field(None, description="CPU limit (e.g. 0.5).")


class LoggingConfig(_Section):
    driver: Literal["json-file", "local"] = Field("json-file", description="Docker log driver.")
    max_size: str = Field("10m", pattern=r"^\d+[kmg]$", description="Rotate a log file at this size.")
    max_file: int = Field(3, ge=1, le=100, description="Rotated files kept per container.")


class PortsConfig(_Section):
    web: int = Field(8080, ge=1, le=65535, description="dev: host port of the web entrypoint, on 127.0.0.1.")
    database: int | None = Field(None, ge=1, le=65535, description="dev only: publish PostgreSQL on 127.0.0.1:<port>.")
    cache: int | None = Field(None, ge=1, le=65535, description="dev only: publish Redis on 127.0.0.1:<port>.")


class BackupConfig(_Section):
    schedule: str = Field("0 */6 * * *", description="cron schedule of the PostgreSQL backup (prod).")
    retention_days: int = Field(7, ge=1, le=3650, description="Dumps older than exactly this many days are deleted.")
    rclone_remote: str | None = Field(None, description="Optional rclone remote:path for an off-site copy.")
    age_recipient: str | None = Field(
        None, pattern=r"^age1[0-9a-z]{58}$", description="Optional age public key: dumps are encrypted to it."
    )

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str) -> str:
        if not _CRON.match(value.strip()):
            raise ValueError("must be a 5-field cron expression such as '0 */6 * * *'")
        return value.strip()


class ProxyConfig(_Section):
    lb_try_duration: GoDuration = Field("30s", description="How long the proxy holds a request while the API is replaced.")
    lb_try_interval: GoDuration = Field("250ms", description="How often the proxy retries the API meanwhile.")


class DeployCheckConfig(_Section):
    url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="URL checked after each deploy; default: the public /api/health of the web entrypoint.",
    )
    timeout_seconds: int = Field(120, ge=5, le=1800, description="How long the check may take before `up` fails.")


class DatabaseConfig(_Section):
    name: str = Field("botstack", pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="PostgreSQL database name.")
    user: str = Field("botstack", pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="PostgreSQL role of the app.")


# Defaults that fit a 2 GB VDS (seed 002): bot 512M/0.5 CPU, postgres 1G/1 CPU with 512M reserved.
DEFAULT_RESOURCES: dict[str, ServiceResources] = {
    "database": ServiceResources(memory=1024, memory_reservation=512, cpus="1"),
    "cache": ServiceResources(memory=256, memory_reservation=64, cpus="0.5"),
    "api": ServiceResources(memory=384, memory_reservation=128, cpus="0.5"),
    "worker": ServiceResources(memory=384, memory_reservation=128, cpus="0.5"),
    "bot": ServiceResources(memory=512, memory_reservation=256, cpus="0.5"),
    "web": ServiceResources(memory=128, memory_reservation=32, cpus="0.25"),
}

SECRET_KEYS = ("sshPrivateKey", "dbPassword", "redisPassword", "jwtSecret", "botToken")


def _secret_rules(minimum: int, url_safe: bool = False) -> AfterValidator:
    def check(value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        secret = value.get_secret_value()
        if len(secret) < minimum:
            raise ValueError(f"must be at least {minimum} characters")
        if url_safe and not re.fullmatch(r"[A-Za-z0-9._~-]+", secret):
            # It goes into connection URLs and config files as it is.
            raise ValueError("may only contain letters, digits and . _ ~ -")
        return value

    return AfterValidator(check)


class StackConfig(BaseSettings):
    """botstack's stack config (`botstack:*`). `pulumi up -s dev` needs none of it."""

    model_config = SettingsConfigDict(
        env_prefix="BOTSTACK_", extra="forbid", hide_input_in_errors=True, frozen=True, case_sensitive=False
    )

    profile: Literal["minimal", "full"] = Field(
        "minimal", description="`minimal`: database, cache, api, web. `full`: also worker and bot."
    )
    vds: VdsConfig | None = Field(None, description="prod only: the VDS reached over SSH (see VdsConfig).")
    ssh_private_key: SecretStr | None = Field(None, description="Secret. Private key of the deploy (and bootstrap) user.")
    domain: str | None = Field(None, description="Public domain; when set, web serves HTTPS for it with automatic certificates.")
    acme_email: str | None = Field(None, description="E-mail for the ACME account of `domain`.")
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
    bot_token: SecretStr | None = Field(None, description="Secret. Telegram bot token; required by profile `full`.")
    telegram_api_url: str = Field(
        "https://api.telegram.org", pattern=r"^https?://", description="Bot API base URL (a self-hosted Bot API server works)."
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

    @model_validator(mode="after")
    def _check_combinations(self) -> StackConfig:
        unknown = sorted(set(self.resources) - set(SERVICES))
        if unknown:
            raise ValueError(f"[resources.{unknown[0]}] unknown service; services are {', '.join(SERVICES)}")
        if self.profile == "full" and self.bot_token is None:
            raise ValueError("[botToken] is required by profile 'full' (the bot needs it)")
        if self.bot_token is not None and not re.match(r"^\d+:[A-Za-z0-9_-]{20,}$", self.bot_token.get_secret_value()):
            raise ValueError("[botToken] does not look like a Telegram bot token (<digits>:<35 characters>)")
        if self.vds is not None and self.ssh_private_key is None:
            raise ValueError("[sshPrivateKey] is required when vds is set (it logs in to the VDS)")
        if self.domain is not None and not _DNS_NAME.match(self.domain):
            raise ValueError("[domain] must be a DNS name such as bot.example.com")
        if self.acme_email is not None and not _EMAIL.match(self.acme_email):
            raise ValueError("[acmeEmail] must be an e-mail address")
        if self.vds is not None:
            for key, ref in self.images.references().items():
                if _unpinned(ref):
                    raise ValueError(f"[{key}] must be pinned to a tag other than 'latest' (or a digest) in prod")
            if self.ports.database is not None or self.ports.cache is not None:
                raise ValueError("[ports] ports.database and ports.cache are for dev only: prod never publishes them")
        return self

    @property
    def is_remote(self) -> bool:
        """True when the stack runs on a VDS over SSH (prod)."""
        return self.vds is not None

    def services(self) -> tuple[str, ...]:
        """The services this profile runs."""
        if self.profile == "full":
            return SERVICES
        return tuple(s for s in SERVICES if s not in FULL_ONLY_SERVICES)

    def resources_for(self, service: str) -> ServiceResources:
        """The default limits of a service with the user's overrides on top."""
        base = DEFAULT_RESOURCES[service]
        override = self.resources.get(service)
        if override is None:
            return base
        return base.model_copy(update=override.model_dump(exclude_none=True))


def _unpinned(ref: str) -> bool:
    if "@sha256:" in ref:
        return False
    last = ref.rsplit("/", 1)[-1]
    return ":" not in last or last.endswith(":latest")


# ---- loading --------------------------------------------------------------------------------------------------

_TOP_LEVEL = {to_camel(name): name for name in StackConfig.model_fields}


def read_pulumi_config(stack_config: Mapping[str, Any]) -> dict[str, Any]:
    """`botstack:*` entries (camelCase key -> raw value) -> StackConfig init values. Objects arrive as JSON."""
    values: dict[str, Any] = {}
    unknown: list[str] = []
    for full_key, raw in stack_config.items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        if key not in _TOP_LEVEL:
            unknown.append(key)
            continue
        values[_TOP_LEVEL[key]] = _decode(raw)
    if unknown:
        raise ConfigError(
            "\n".join(
                f"botstack:{key}: unknown key. Known keys: {', '.join(sorted(_TOP_LEVEL))}.\n"
                f"  fix: pulumi config rm botstack:{key}"
                for key in sorted(unknown)
            )
        )
    return values


def _decode(raw: Any) -> Any:
    if isinstance(raw, str) and raw[:1] in "{[":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def validate(stack: str, stack_config: Mapping[str, Any]) -> StackConfig:
    """Validate raw Pulumi config for a stack; raise ConfigError naming every problem and its fix."""
    values = read_pulumi_config(stack_config)
    try:
        config = StackConfig(**values)
    except ValidationError as error:
        raise ConfigError(format_errors(error.errors(include_input=False), stack)) from None
    if stack == "prod" and config.vds is None:
        raise ConfigError(
            "botstack:vds: stack 'prod' runs on a VDS and needs it.\n"
            "  fix: pulumi config set --path 'botstack:vds.host' <address> && "
            "pulumi config set --path 'botstack:vds.hostKey' \"$(ssh-keyscan -t ed25519 <address> | cut -d' ' -f2-)\""
        )
    return config


def format_errors(errors: Iterable[Mapping[str, Any]], stack: str) -> str:
    """pydantic errors -> lines naming the Pulumi key, the problem and the command that fixes it."""
    lines = [f"botstack: the config of stack '{stack}' is invalid; nothing was created."]
    for error in errors:
        key = _key_of(error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        # Checks that span several keys name the key they are about as "[key] message".
        tagged = _TAGGED.match(message)
        if tagged:
            key = ".".join(p for p in (key if key != "(config)" else "", tagged["key"]) if p)
            message = tagged["message"]
        if error["type"] == "extra_forbidden" or message.startswith("unknown"):
            message = message if message.startswith("unknown") else "unknown key"
            lines.append(f"- botstack:{key}: {message}.\n  fix: pulumi config rm -s {stack} --path 'botstack:{key}'")
            continue
        if error["type"] == "missing":
            message = "is required"
        lines.append(f"- botstack:{key}: {message}.\n  fix: {fix_command(key, stack)}")
    return "\n".join(lines)


def _key_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    if not parts:
        return "(config)"
    parts[0] = to_camel(parts[0])
    return ".".join(parts)


def fix_command(key: str, stack: str) -> str:
    """The `pulumi config set` that sets `key` (a camelCase path) on `stack`."""
    top = key.split(".")[0]
    secret = "--secret " if top in SECRET_KEYS else ""
    path = "--path " if "." in key else ""
    example = _example(key)
    return f"pulumi config set -s {stack} {secret}{path}'botstack:{key}' {example}"


def _example(key: str) -> str:
    parts = key.split(".")
    model: Any = StackConfig
    field = None
    for part in parts:
        fields = getattr(model, "model_fields", {})
        field = fields.get(to_snake(part)) or fields.get(part)
        if field is None:
            return "<value>"
        model = field.annotation
        inner = [a for a in getattr(model, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        if inner:
            model = inner[0]
    if key.split(".")[0] in SECRET_KEYS:
        return "<value>  (omit <value> to be prompted without echo)"
    if field is not None and field.examples:
        return f"'{field.examples[0]}'"
    if key == "profile":
        return "full"
    if field is not None and isinstance(field.default, str | int) and not isinstance(field.default, bool):
        return f"'{field.default}'"
    return "<value>"


def all_pulumi_config() -> dict[str, Any]:
    """Every config entry the Pulumi runtime gives this program (explicit and environment)."""
    from pulumi.runtime import config as runtime_config

    merged = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    return merged


def load_config(stack: str | None = None) -> StackConfig:
    """Read and validate the current stack's `botstack:*` config. Raises ConfigError before any resource exists."""
    import pulumi

    return validate(stack or pulumi.get_stack(), all_pulumi_config())
