"""How a bad config reaches the user: a message and its fix, no traceback, nothing created, no secret echoed."""

from __future__ import annotations

import pulumi
import pytest

from components.config import ConfigError
from components.config_errors import Invalid, Problems
from components.config_loading import load_config, validate
from tests.unit.conftest import BOT_TOKEN
from tests.unit.harness import OptionRecordingMonitor, RecordingMocks, config_entries
from tests.unit.test_config import error_of, valid_prod


def test_config_errors_are_pulumi_run_errors():
    """Pulumi's Python language host prints a RunError's message alone (`pulumi.log.error(str(e))`) and exits 1;
    any other exception is printed with the program's traceback."""
    assert issubclass(ConfigError, pulumi.RunError)
    with pytest.raises(pulumi.RunError):
        validate("dev", config_entries({"profile": "huge"}))


def test_the_message_is_everything_the_user_needs():
    message = error_of("dev", {"profile": "full"})
    assert message.splitlines() == [
        "botstack: the config of stack 'dev' is invalid; nothing was created.",
        "- botstack:botToken: is required by profile 'full' (the bot needs it).",
        "  fix: pulumi config set -s dev --secret 'botstack:botToken' <value>  (omit <value> to be prompted without echo)",
    ]


def test_the_error_has_no_chained_traceback():
    with pytest.raises(ConfigError) as error:
        validate("dev", config_entries({"logging": {"maxSize": "huge"}}))
    assert error.value.__cause__ is None
    assert error.value.__context__ is None or error.value.__suppress_context__


def test_a_bad_config_declares_nothing():
    """The program loads its config before it declares anything, so a bad one leaves the engine untouched."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="botstack", stack="dev", preview=False, monitor=OptionRecordingMonitor(mocks))
    pulumi.runtime.set_all_config(config_entries({"profile": "full", "vds": {"host": "$(id)"}}))
    try:
        with pytest.raises(ConfigError):
            load_config()
    finally:
        pulumi.runtime.set_all_config({})
    assert mocks.resources == []


def test_every_problem_is_reported_at_once(private_key):
    message = error_of("prod", valid_prod(
        private_key,
        vds={"host": "bad host", "user": "root", "bootstrapUser": "nobody"},
        backup={"schedule": "99 99 99 99 99"},
        database={"name": "x" * 63},
        bogus=1,
    ))
    for key in ("bogus", "vds.host", "vds.user", "vds.bootstrapUser", "backup.schedule", "database.name"):
        assert f"- botstack:{key}: " in message
    assert message.count("  fix: ") == 6


def test_every_cross_key_problem_is_reported_at_once(private_key):
    message = error_of("prod", valid_prod(
        private_key,
        profile="full",
        images={"repository": "ghcr.io/a/botstack", "tag": "latest", "postgres": "postgres"},
        ports={"database": 5432},
        resources={"database": {"memory": "256M"}},
    ))
    for key in ("botToken", "images.backend", "images.web", "images.postgres", "ports", "resources.database.memory"):
        assert f"- botstack:{key}: " in message


def test_unknown_services_are_each_named():
    message = error_of("dev", {"resources": {"redis": {"memory": "1G"}, "nginx": {}}})
    assert "- botstack:resources.nginx: unknown service" in message
    assert "- botstack:resources.redis: unknown service" in message
    assert "fix: pulumi config rm -s dev --path 'botstack:resources.redis'" in message


SECRETS = {
    "botToken": "123456789:AASecretSecretSecretSecretSecretSecret\n",
    "dbPassword": "db-secret-value-with-a-quote'",
    "redisPassword": "zanzibar quokka platypus",
    "jwtSecret": "jwt-secret-that-is-long-enough-but\nhas-a-newline",
}


@pytest.mark.parametrize("key", SECRETS)
def test_a_bad_secret_is_never_echoed(key):
    secret = SECRETS[key]
    message = error_of("dev", {"profile": "full", "botToken": BOT_TOKEN, key: secret})
    assert f"- botstack:{key}: " in message
    for part in secret.split():
        if len(part) > 3:
            assert part.strip("'") not in message
    assert f"--secret 'botstack:{key}'" in message


def test_a_bad_ssh_key_is_never_echoed(private_key):
    body = private_key.splitlines()[1:-1]
    broken = "\n".join(["-----BEGIN OPENSSH PRIVATE KEY-----", *body[:-1], "-----END OPENSSH PRIVATE KEY-----"])
    message = error_of("prod", valid_prod(private_key, sshPrivateKey=broken))
    assert "- botstack:sshPrivateKey: " in message
    assert not any(line in message for line in body)


def test_an_environment_override_is_named(monkeypatch):
    monkeypatch.setenv("BOTSTACK_PROFILE", "huge")
    message = error_of("dev", {})
    assert "- botstack:profile: " in message and "BOTSTACK_PROFILE" in message


def test_validators_raise_invalid_with_a_fix():
    problem = Invalid("is wrong", key="a.b", example="'x'", fix="do {stack}")
    assert isinstance(problem, ValueError) and (problem.key, problem.example, problem.fix) == ("a.b", "'x'", "do {stack}")
    assert Problems([problem, Invalid("too")]).problems[1].message == "too"
