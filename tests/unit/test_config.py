"""The config contract: defaults, validation, errors that name the key and the fix, secrets never echoed."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import ConfigError, StackConfig, megabytes
from components.config_loading import validate
from tests.unit.conftest import BOT_TOKEN, prod_config
from tests.unit.harness import config_entries, run_stack

# A host key whose body decodes to an ed25519 key (the config checks that); used by every test_config* file.
VALID_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmJ0Rzm6iYl2K3w1p1vYdB0q6v7cZ8m9b2Kq3sQ7xYz"
HOST_KEY = VALID_HOST_KEY


def valid_prod(private_key: str, **extra: Any) -> dict[str, Any]:
    """A valid prod config; `extra` replaces top-level keys, and `vds` entries are merged into the VDS."""
    config = prod_config(private_key, vds={"host": "203.0.113.10", "hostKey": VALID_HOST_KEY})
    for key, value in extra.items():
        config[key] = {**config["vds"], **value} if key == "vds" else value
    return config


def error_of(stack: str, config: dict[str, Any]) -> str:
    """The message of the ConfigError that `config` raises on `stack`."""
    with pytest.raises(ConfigError) as error:
        validate(stack, config_entries(config))
    return str(error.value)


def test_dev_needs_no_config():
    config = validate("dev", {})
    assert config.profile == "minimal"
    assert config.services() == ("database", "cache", "api", "web")
    assert not config.on_vds


def test_defaults_fit_a_2gb_vds():
    config = validate("dev", {})
    bot, database = config.resources_for("bot"), config.resources_for("database")
    assert (bot.memory, bot.cpus) == (512, "1")
    assert (database.memory, database.memory_reservation, database.cpus) == (1024, 512, "1")
    total = sum(config.resources_for(s).memory or 0 for s in ("database", "cache", "api", "worker", "bot", "web"))
    assert total <= 2048 + 768, "limits may overcommit a 2 GB VDS only moderately"


def test_overrides_keep_the_other_defaults():
    config = validate("dev", config_entries({"resources": {"api": {"memory": "1G"}}}))
    assert config.resources_for("api").memory == 1024
    assert config.resources_for("api").cpus == "0.5"


@pytest.mark.parametrize(("size", "mb"), [("512M", 512), ("1G", 1024), ("1.5g", 1536), (256, 256), ("2048k", 2), ("64MB", 64)])
def test_sizes(size, mb):
    if mb < 6:
        with pytest.raises(ValueError):
            megabytes(size)
    else:
        assert megabytes(size) == mb


BAD = [
    ({"profile": "huge"}, "botstack:profile", "pulumi config set -s dev 'botstack:profile' full"),
    ({"profile": "full"}, "botstack:botToken: is required", "--secret 'botstack:botToken'"),
    ({"bogus": "x"}, "botstack:bogus: unknown key", "pulumi config rm -s dev botstack:bogus"),
    (
        {"logging": {"maxSize": "10m", "color": True}},
        "botstack:logging.color: unknown key",
        "config rm -s dev --path 'botstack:logging.color'",
    ),
    ({"resources": {"api": {"memory": "lots"}}}, "botstack:resources.api.memory", "--path 'botstack:resources.api.memory'"),
    (
        {"resources": {"redis": {"memory": "1G"}}},
        "botstack:resources.redis: unknown service",
        "pulumi config rm -s dev --path 'botstack:resources.redis'",
    ),
    ({"backup": {"schedule": "daily"}}, "botstack:backup.schedule: must be a 5-field cron", "'botstack:backup.schedule'"),
    ({"backup": {"retentionDays": 0}}, "botstack:backup.retentionDays", "'botstack:backup.retentionDays'"),
    ({"proxy": {"lbTryDuration": "30 seconds"}}, "botstack:proxy.lbTryDuration: expected a Go duration", "'30s'"),
    ({"images": {"repository": "ghcr.io/a/b"}}, "botstack:images.tag: images.repository and images.tag", "sha-1a2b3c4"),
    (
        {"images": {"postgres": "Not An Image"}},
        "botstack:images.postgres: is not a Docker image reference",
        "'postgres:16-bookworm'",
    ),
    ({"domain": "not a domain"}, "botstack:domain: must be a DNS name", "'botstack:domain'"),
    ({"ports": {"web": 70000}}, "botstack:ports.web", "'botstack:ports.web'"),
    ({"dbPassword": "short"}, "botstack:dbPassword: must be at least 12", "--secret 'botstack:dbPassword'"),
    ({"redisPassword": "long-enough-but/has@url:chars"}, "botstack:redisPassword: may only contain", "--secret"),
]


@pytest.mark.parametrize(("config", "problem", "fix"), BAD, ids=[b[1].split(":")[1] for b in BAD])
def test_bad_values_name_the_key_and_the_fix(config, problem, fix):
    with pytest.raises(ConfigError) as error:
        validate("dev", config_entries(config))
    message = str(error.value)
    assert problem in message
    assert fix in message


def test_a_bad_secret_is_never_echoed():
    secret = "hunter2-but-longer-than-twelve"
    for config in (
        {"botToken": secret},
        {"dbPassword": "tiny"},
        {"dbPassword": secret + "@"},
        {"profile": "full", "botToken": secret},
    ):
        with pytest.raises(ConfigError) as error:
            validate("dev", config_entries(config))
        assert secret not in str(error.value) and "tiny" not in str(error.value)


PROD_BAD = [
    ({}, "botstack:vds: stack 'prod' runs on a VDS and needs it"),
    ({"vds": {"host": "h", "hostKey": HOST_KEY}}, "botstack:sshPrivateKey: is required when vds is set"),
    (
        {"vds": {"host": "h", "hostKey": "h ssh-ed25519 AAAA"}, "sshPrivateKey": "k"},
        "botstack:vds.hostKey: must be one public key line",
    ),
    ({"vds": {"hostKey": HOST_KEY}, "sshPrivateKey": "k"}, "botstack:vds.host: is required"),
]


@pytest.mark.parametrize(("config", "problem"), PROD_BAD, ids=[p[1].split(":")[1] for p in PROD_BAD])
def test_prod_needs_a_reachable_pinned_vds(config, problem):
    with pytest.raises(ConfigError, match=problem.replace(".", r"\.")):
        validate("prod", config_entries(config))


@pytest.mark.parametrize(
    ("images", "key"),
    [
        ({"repository": "ghcr.io/a/botstack", "tag": "latest"}, "images.backend"),
        ({"repository": "ghcr.io/a/botstack", "tag": "sha-1", "postgres": "postgres"}, "images.postgres"),
        ({"repository": "ghcr.io/a/botstack", "tag": "sha-1", "redis": "redis:latest"}, "images.redis"),
        ({"backend": "ghcr.io/a/botstack-backend", "web": "ghcr.io/a/w@sha256:" + "0" * 64}, "images.backend"),
    ],
)
def test_prod_never_runs_latest(private_key, images, key):
    with pytest.raises(ConfigError, match=f"botstack:{key}: must be pinned"):
        validate("prod", config_entries(valid_prod(private_key, images=images)))


def test_prod_never_publishes_database_or_cache(private_key):
    with pytest.raises(ConfigError, match="ports.database and ports.cache are for dev only"):
        validate("prod", config_entries(valid_prod(private_key, ports={"database": 5432})))


def test_environment_overrides_pulumi_config(monkeypatch):
    monkeypatch.setenv("BOTSTACK_PROFILE", "full")
    monkeypatch.setenv("BOTSTACK_BOT_TOKEN", BOT_TOKEN)
    config = validate("dev", config_entries({"profile": "minimal"}))
    assert config.profile == "full" and config.bot_token is not None


def test_secrets_are_secretstr():
    config = validate("dev", config_entries({"profile": "full", "botToken": BOT_TOKEN}))
    assert BOT_TOKEN not in repr(config) and BOT_TOKEN not in str(config.model_dump())


def test_bad_config_declares_nothing():
    with pytest.raises(ConfigError):
        run_stack({"profile": "full"})  # no botToken


def test_every_field_is_documented():
    def walk(model, path=""):
        for name, field in model.model_fields.items():
            assert field.description, f"{path}{name} has no description"
            inner = getattr(field.annotation, "model_fields", None)
            if inner:
                walk(field.annotation, f"{path}{name}.")

    walk(StackConfig)
