"""Every value class the config takes (hosts, users, keys, URLs, cron, names, sizes, durations) is checked whole:
each bad value stops validation with an error naming the full key and the fix, before anything is declared."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from components import config_values as values
from components.config import ConfigError, StackConfig
from components.config_errors import Invalid
from components.config_loading import validate
from tests.unit.conftest import BOT_TOKEN
from tests.unit.harness import config_entries, run_stack
from tests.unit.test_config import VALID_HOST_KEY, error_of, valid_prod


def with_value(config: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `config` with the dotted `path` set to `value`."""
    config = copy.deepcopy(config)
    *parents, last = path.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return config


def assert_rejected(stack: str, config: dict[str, Any], key: str, problem: str = "", fix: str = "") -> str:
    message = error_of(stack, config)
    lines = [line for line in message.split("\n- ") if line.startswith(f"botstack:{key}: ")]
    assert lines, message
    assert problem in lines[0], message
    assert fix in lines[0], message
    assert "Traceback" not in message
    return message


# ---- hosts ---------------------------------------------------------------------------------------------------------

BAD_HOSTS = {
    "semicolon": "203.0.113.10;id",
    "command substitution": "$(id).example.com",
    "newline": "203.0.113.10\nevil.example.com ssh-ed25519 AAAA",
    "trailing newline": "203.0.113.10\n",
    "leading dash": "-oProxyCommand=id",
    "empty": "",
    "space": "vds example.com",
    "bad ipv4": "203.0.113.256",
    "ipv4 leading zero": "203.0.113.010",
    "ipv6": "2001:db8::1",
    "bracketed ipv6": "[2001:db8::1]",
    "user@host": "root@203.0.113.10",
    "host:port": "203.0.113.10:22",
    "label too long": "a" * 64 + ".example.com",
    "label ends in dash": "vds-.example.com",
    "trailing dot": "vds.example.com.",
    "upper case": "VDS.example.com",
    "underscore": "my_vds.example.com",
    "quote": "vds'.example.com",
}


@pytest.mark.parametrize("host", BAD_HOSTS.values(), ids=BAD_HOSTS.keys())
def test_bad_vds_hosts_are_rejected(private_key, host):
    assert_rejected("prod", valid_prod(private_key, vds={"host": host}), "vds.host",
                    fix="pulumi config set -s prod --path 'botstack:vds.host' '203.0.113.10'")


@pytest.mark.parametrize("host", ["203.0.113.10", "127.0.0.1", "vds.example.com", "vds-1.example.co.uk", "localhost"])
def test_good_vds_hosts_pass(private_key, host):
    assert validate("prod", config_entries(valid_prod(private_key, vds={"host": host}))).vds.host == host


def test_the_host_check_names_leading_dash_and_ipv6():
    with pytest.raises(Invalid, match="must not start with '-'"):
        values.host("-x")
    with pytest.raises(Invalid, match="is an IPv6 address, which is not supported yet"):
        values.host("::1")
    with pytest.raises(Invalid, match="is empty"):
        values.host("")


# ---- users ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["root", "nobody", "daemon", "www-data", "sshd", "docker", "systemd-network", "_apt"])
def test_system_accounts_are_not_deploy_users(private_key, user):
    message = assert_rejected("prod", valid_prod(private_key, vds={"user": user}), "vds.user", "is a system account",
                              fix="pulumi config set -s prod --path 'botstack:vds.user' 'deploy'")
    assert "root login" in message


@pytest.mark.parametrize("user", ["Deploy", "1deploy", "-deploy", "deploy\n", "de ploy", "a" * 33, "", "déploy"])
def test_malformed_deploy_users_are_rejected(private_key, user):
    assert_rejected("prod", valid_prod(private_key, vds={"user": user}), "vds.user")


@pytest.mark.parametrize("user", ["deploy", "botstack", "_ops", "ci-deploy", "ubuntu"])
def test_ordinary_deploy_users_pass(private_key, user):
    assert validate("prod", config_entries(valid_prod(private_key, vds={"user": user}))).vds.user == user


@pytest.mark.parametrize("user", ["root\n", "ROOT", "nobody", "www-data", "-o", "a b"])
def test_bootstrap_user_is_root_or_a_sudo_capable_login(private_key, user):
    assert_rejected("prod", valid_prod(private_key, vds={"bootstrapUser": user}), "vds.bootstrapUser",
                    fix="pulumi config set -s prod --path 'botstack:vds.bootstrapUser' 'root'")


@pytest.mark.parametrize("user", ["ubuntu", "admin", "debian"])
def test_a_non_root_bootstrap_user_passes_and_provisions_through_sudo(private_key, user):
    # components/server.py runs provision.sh with `sudo -n` for them (tests/e2e/vds/test_provision.py runs it).
    config = validate("prod", config_entries(valid_prod(private_key, vds={"bootstrapUser": user})))
    assert config.vds.bootstrap_user == user


def test_bootstrap_user_root_passes(private_key):
    config = validate("prod", config_entries(valid_prod(private_key, vds={"bootstrapUser": "root"})))
    assert config.vds.bootstrap_user == "root"


# ---- SSH host keys -------------------------------------------------------------------------------------------------


def _public_line(key: Any) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


GOOD_HOST_KEYS = {
    "ed25519": _public_line(ed25519.Ed25519PrivateKey.generate()),
    "ecdsa-p256": _public_line(ec.generate_private_key(ec.SECP256R1())),
    "rsa": _public_line(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
}


@pytest.mark.parametrize("key", GOOD_HOST_KEYS.values(), ids=GOOD_HOST_KEYS.keys())
def test_real_host_keys_pass(private_key, key):
    assert validate("prod", config_entries(valid_prod(private_key, vds={"hostKey": key}))).vds.host_key == key


_BODY = VALID_HOST_KEY.split()[1]
BAD_HOST_KEYS = {
    "bad character": "ssh-ed25519 " + _BODY[:-1] + "!",
    "with host name": "203.0.113.10 " + VALID_HOST_KEY,
    "with comment": VALID_HOST_KEY + " root@vds",
    "trailing newline": VALID_HOST_KEY + "\n",
    "second line": VALID_HOST_KEY + "\nevil " + VALID_HOST_KEY,
    "unknown type": "ssh-dss " + _BODY,
    "empty": "",
}


@pytest.mark.parametrize("key", BAD_HOST_KEYS.values(), ids=BAD_HOST_KEYS.keys())
def test_bad_host_keys_are_rejected(private_key, key):
    assert_rejected("prod", valid_prod(private_key, vds={"hostKey": key}), "vds.hostKey",
                    fix="pulumi config set -s prod --path 'botstack:vds.hostKey'")


BAD_HOST_KEY_BODIES = {
    "does not decode": ("ssh-ed25519 " + _BODY[:-2], "is not valid base64"),
    "holds another type": ("ssh-rsa " + _BODY, "does not hold a key of the type it names"),
    "truncated": ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", "does not hold a key of the type it names"),
    "ecdsa name, ed25519 body": ("ecdsa-sha2-nistp256 " + _BODY, "does not hold a key of the type it names"),
}


@pytest.mark.parametrize(("key", "problem"), BAD_HOST_KEY_BODIES.values(), ids=BAD_HOST_KEY_BODIES.keys())
def test_host_key_bodies_must_decode_to_a_key_of_their_type(private_key, key, problem):
    assert_rejected("prod", valid_prod(private_key, vds={"hostKey": key}), "vds.hostKey", problem,
                    fix="pulumi config set -s prod --path 'botstack:vds.hostKey'")


# ---- the SSH private key ---------------------------------------------------------------------------------------------


def _openssh(key: Any, encryption: Any = None) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption or serialization.NoEncryption()
    ).decode()


_ED25519 = ed25519.Ed25519PrivateKey.generate()
BAD_PRIVATE_KEYS = {
    "garbage": ("garbage-not-a-key-at-all", "is not an SSH private key"),
    "empty": ("", "is empty"),
    "whitespace": ("\n\n", "is empty"),
    "public key": (_public_line(_ED25519) + " me@laptop\n", "is a public key"),
    "passphrase": (_openssh(_ED25519, serialization.BestAvailableEncryption(b"correct horse")), "passphrase"),
    "PEM format": (
        _ED25519.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption()).decode(),
        "is a PEM private key",
    ),
    "truncated": (_openssh(_ED25519)[:120] + "\n-----END OPENSSH PRIVATE KEY-----\n", "is not a valid OpenSSH private key"),
    "short RSA": (
        _openssh(rsa.generate_private_key(public_exponent=65537, key_size=1024)),  # noqa: S505 - weak on purpose: it must be refused
        "shorter than 2048 bits",
    ),
}


@pytest.mark.parametrize(("key", "problem"), BAD_PRIVATE_KEYS.values(), ids=BAD_PRIVATE_KEYS.keys())
def test_an_unusable_private_key_is_a_config_error_not_a_traceback(private_key, key, problem):
    message = assert_rejected("prod", valid_prod(private_key, sshPrivateKey=key), "sshPrivateKey", problem,
                              fix="pulumi config set -s prod --secret botstack:sshPrivateKey <")
    for line in key.splitlines():
        if len(line) > 8 and "-----" not in line:
            assert line not in message, "a line of the key was echoed"


def test_the_private_key_check_runs_before_anything_is_declared():
    config = valid_prod(_openssh(_ED25519), sshPrivateKey="garbage-not-a-key-at-all")
    with pytest.raises(ConfigError, match="botstack:sshPrivateKey: is not an SSH private key"):
        run_stack(config, stack="prod")


@pytest.mark.parametrize(
    "key",
    [
        _openssh(ed25519.Ed25519PrivateKey.generate()),
        _openssh(ec.generate_private_key(ec.SECP256R1())),
        _openssh(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        _openssh(ed25519.Ed25519PrivateKey.generate()).rstrip("\n"),
    ],
    ids=["ed25519", "ecdsa", "rsa-2048", "no final newline"],
)
def test_usable_private_keys_pass_and_give_their_public_key(key):
    config = validate("prod", config_entries(valid_prod(key)))
    assert config.ssh_private_key is not None
    assert values.ssh_public_key(key).split()[0] in ("ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa")


# ---- cron ----------------------------------------------------------------------------------------------------------

BAD_SCHEDULES = {
    "all fields out of range": ("99 99 99 99 99", "the minute field '99' is out of range"),
    "step zero": ("*/0 * * * *", "has a step outside"),
    "hour 24": ("0 24 * * *", "the hour field '24' is out of range: hour is 0-23"),
    "day of month 0": ("0 0 0 * *", "day-of-month"),
    "month 13": ("0 0 1 13 *", "month"),
    "day of week 8": ("0 0 * * 8", "day-of-week"),
    "step beyond the field": ("0 */24 * * *", "has a step outside 1-23"),
    "backwards range": ("0 5-1 * * *", "runs backwards"),
    "range out of range": ("0 20-25 * * *", "out of range"),
    "step after a number": ("5/10 * * * *", "step after a single number"),
    "six fields": ("0 */6 * * * *", "5-field"),
    "four fields": ("0 */6 * *", "5-field"),
    "names": ("0 0 * * mon", "5-field"),
    "macro": ("@daily", "5-field"),
    "trailing newline": ("0 */6 * * *\n", "leading or trailing whitespace"),
    "embedded newline": ("0 */6 * *\n* * * * * root id", "5-field"),
    "tab": ("0\t*/6 * * *", "5-field"),
    "empty list item": ("0,,5 * * * *", "not valid cron syntax"),
}


@pytest.mark.parametrize(("schedule", "problem"), BAD_SCHEDULES.values(), ids=BAD_SCHEDULES.keys())
def test_bad_cron_schedules_are_rejected(schedule, problem):
    assert_rejected("dev", {"backup": {"schedule": schedule}}, "backup.schedule", fix="'0 */6 * * *'")
    with pytest.raises(Invalid, match=problem.replace("*", r"\*")):
        values.cron(schedule)


@pytest.mark.parametrize("schedule", ["0 */6 * * *", "*/15 * * * *", "30 2 * * 0", "0 0 1 1 7", "0 1-5/2 * * 1-5",
                                      "0 0,12 1,15 * *", "59 23 31 12 *"])
def test_good_cron_schedules_pass(schedule):
    assert validate("dev", config_entries({"backup": {"schedule": schedule}})).backup.schedule == schedule


# ---- names ---------------------------------------------------------------------------------------------------------

BAD_DATABASE_NAMES = {
    "63 characters": ("a" * 63, "is longer than 56 characters"),
    "57 characters": ("a" * 57, "is longer than 56 characters"),
    "ends in _verify": ("botstack_verify", "must not end in '_verify'"),
    "postgres": ("postgres", "is reserved"),
    "template0": ("template0", "is reserved"),
    "template1": ("template1", "is reserved"),
    "upper case": ("Botstack", "lowercase"),
    "dash": ("bot-stack", "lowercase"),
    "quote": ('bot"stack', "lowercase"),
    "trailing newline": ("botstack\n", "leading or trailing whitespace"),
}


@pytest.mark.parametrize(("name", "problem"), BAD_DATABASE_NAMES.values(), ids=BAD_DATABASE_NAMES.keys())
def test_bad_database_names_are_rejected(name, problem):
    message = assert_rejected("dev", {"database": {"name": name}}, "database.name",
                              fix="pulumi config set -s dev --path 'botstack:database.name' 'botstack'")
    assert problem in message


def test_the_verify_database_never_is_the_live_one():
    """Whatever name passes, '<name>_verify' fits PostgreSQL's 63 bytes and differs from the name."""
    longest = "a" * 56
    config = validate("dev", config_entries({"database": {"name": longest}}))
    scratch = config.database.name + values.VERIFY_SUFFIX
    assert len(scratch.encode()) <= 63 and scratch[:63] != config.database.name


BAD_ROLES = {
    "pg_ prefix": "pg_monitor",
    "public": "public",
    "none": "none",
    "current_user": "current_user",
    "session_user": "session_user",
    "64 characters": "a" * 64,
    "upper case": "Botstack",
    "trailing newline": "botstack\n",
}


@pytest.mark.parametrize("user", BAD_ROLES.values(), ids=BAD_ROLES.keys())
def test_bad_database_roles_are_rejected(user):
    assert_rejected("dev", {"database": {"user": user}}, "database.user", fix="'botstack:database.user' 'botstack'")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("images.tag", "sha-1a2b3c4\n"),
        ("images.tag", "-tag"),
        ("images.repository", "ghcr.io/acme/botstack:tag"),
        ("images.repository", "GHCR.io/Acme/botstack"),
        ("images.postgres", "postgres:16-bookworm\n"),
        ("images.postgres", "postgres:16;id"),
        ("images.postgres", "Postgres:16"),
        ("images.postgres", "postgres:16 --privileged"),
        ("images.backend", "ghcr.io/acme/backend@sha256:abc"),
        ("images.buildArgs", {"BAD-NAME": "x"}),
        ("images.buildArgs", {"PIP_INSTALL_ARGS": "--index-url x\n--trusted-host y"}),
        ("backup.rcloneRemote", "offsite:botstack;id"),
        ("backup.rcloneRemote", "-offsite:x"),
        ("backup.rcloneRemote", "offsite:x\n"),
        ("backup.ageRecipient", "age1" + "q" * 58 + "\n"),
        ("backup.ageRecipient", "age1" + "Q" * 58),
        ("domain", "bot.example.com\n"),
        ("domain", "localhost"),
        ("domain", "bot.example.123"),
        ("domain", "$(id).example.com"),
        ("acmeEmail", "ops@example.com\n"),
        ("acmeEmail", "o'ps@example.com"),
        ("acmeEmail", "$(id)@example.com"),
        ("acmeEmail", "{ops}@example.com"),
    ],
)
def test_bad_names_are_rejected(key, value):
    config = with_value({"images": {"repository": "ghcr.io/acme/botstack", "tag": "sha-1"}}, key, value)
    if key == "images.buildArgs":
        name = next(iter(value))
        assert_rejected("dev", config, f"{key}.{name}", fix="botstack:images.buildArgs")
    else:
        assert_rejected("dev", config, key, fix=f"'botstack:{key}'")


def test_good_names_pass():
    config = validate("dev", config_entries({
        "images": {"repository": "localhost:5000/acme/bot_stack", "tag": "v1.2.3_rc-1", "postgres": "postgres:16-bookworm",
                   "redis": "docker.io/library/redis:7.4@sha256:" + "0" * 64,
                   "buildArgs": {"PIP_INSTALL_ARGS": "--no-index --find-links=/wheelhouse"}},
        "backup": {"rcloneRemote": "offsite:backups/botstack", "ageRecipient": "age1" + "q" * 58},
        "domain": "bot.example.com",
        "acmeEmail": "ops+certs@example.com",
        "database": {"name": "bot_prod", "user": "bot_app"},
    }))
    assert config.images.app_image("backend") == "localhost:5000/acme/bot_stack-backend:v1.2.3_rc-1"


# ---- sizes and CPUs ------------------------------------------------------------------------------------------------

BAD_RESOURCES = {
    "huge memory": ({"api": {"memory": "99999999999G"}}, "resources.api.memory", "is more than 1T"),
    "huge number": ({"api": {"memory": 10**30}}, "resources.api.memory", "is more than 1T"),
    "tiny memory": ({"api": {"memory": "1M"}}, "resources.api.memory", "at least 6M"),
    "fraction of a MB": ({"api": {"memory": "0.5M"}}, "resources.api.memory", "whole number"),
    "not a size": ({"api": {"memory": "lots"}}, "resources.api.memory", "expected a size"),
    "trailing newline": ({"api": {"memory": "512M\n"}}, "resources.api.memory", "leading or trailing whitespace"),
    "boolean": ({"api": {"memory": True}}, "resources.api.memory", "expected a size"),
    "reservation above own limit": (
        {"api": {"memory": "256M", "memoryReservation": "512M"}},
        "resources.api.memoryReservation",
        "is 512M, above the memory limit of 256M",
    ),
    "reservation above the default limit": (
        {"database": {"memoryReservation": "2G"}},
        "resources.database.memoryReservation",
        "is 2G, above the memory limit of 1G, the default",
    ),
    "limit below the default reservation": (
        {"database": {"memory": "256M"}},
        "resources.database.memory",
        "is 256M, below the default memory reservation of database (512M)",
    ),
    "cpus nan": ({"api": {"cpus": "nan"}}, "resources.api.cpus", "expected a number of CPUs"),
    "cpus inf": ({"api": {"cpus": "inf"}}, "resources.api.cpus", "expected a number of CPUs"),
    "cpus too many": ({"api": {"cpus": 65}}, "resources.api.cpus", "between 0.01 and 64"),
    "cpus zero": ({"api": {"cpus": "0"}}, "resources.api.cpus", "between 0.01 and 64"),
    "cpus boolean": ({"api": {"cpus": True}}, "resources.api.cpus", "expected a number of CPUs"),
    "cpus with newline": ({"api": {"cpus": "0.5\n"}}, "resources.api.cpus", "expected a number of CPUs"),
}


@pytest.mark.parametrize(("resources", "key", "problem"), BAD_RESOURCES.values(), ids=BAD_RESOURCES.keys())
def test_bad_sizes_are_rejected(resources, key, problem):
    message = assert_rejected("dev", {"resources": resources}, key, problem)
    if "Reservation" in key or key.endswith("database.memory"):
        assert "--path 'botstack:resources." in message and "memoryReservation' '" in message


def test_every_reservation_problem_is_reported_at_once():
    message = error_of("dev", {"resources": {"api": {"memory": "64M"}, "bot": {"memory": "128M"}}})
    assert "botstack:resources.api.memory:" in message and "botstack:resources.bot.memory:" in message


@pytest.mark.parametrize(("size", "kb"), [("10m", 10240), ("1k", 1), ("100g", 100 * 1024 * 1024)])
def test_log_sizes(size, kb):
    assert validate("dev", config_entries({"logging": {"maxSize": size}})).logging.max_size == size


@pytest.mark.parametrize("size", ["0m", "101g", "99999999999g", "10", "10mb", "10M", "10m\n", "-1m"])
def test_bad_log_sizes_are_rejected(size):
    assert_rejected("dev", {"logging": {"maxSize": size}}, "logging.maxSize", fix="'10m'")


# ---- durations -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxy", "key", "problem"),
    [
        ({"lbTryDuration": "30 seconds"}, "proxy.lbTryDuration", "expected a Go duration"),
        ({"lbTryDuration": "30s\n"}, "proxy.lbTryDuration", "leading or trailing whitespace"),
        ({"lbTryDuration": "99999999999h"}, "proxy.lbTryDuration", "must be from 0s to 10m"),
        ({"lbTryDuration": "-1s"}, "proxy.lbTryDuration", "expected a Go duration"),
        ({"lbTryInterval": "0s"}, "proxy.lbTryInterval", "must be from 1ms to 1m"),
        ({"lbTryInterval": "2m"}, "proxy.lbTryInterval", "must be from 1ms to 1m"),
        ({"lbTryDuration": "1s", "lbTryInterval": "2s"}, "proxy.lbTryInterval", "is longer than lbTryDuration"),
        ({"lbTryDuration": "1s;"}, "proxy.lbTryDuration", "expected a Go duration"),
    ],
)
def test_bad_durations_are_rejected(proxy, key, problem):
    assert_rejected("dev", {"proxy": proxy}, key, problem, fix=f"'botstack:{key}'")


@pytest.mark.parametrize(("duration", "seconds"), [("250ms", 0.25), ("1m30s", 90), ("0s", 0), ("1.5h", 5400), ("10us", 1e-5)])
def test_go_durations_are_read_whole(duration, seconds):
    assert values.go_seconds(duration) == pytest.approx(seconds)


# ---- URLs ----------------------------------------------------------------------------------------------------------

BAD_URLS = {
    "single quote": "https://bot.example.com/'x'",
    "double quote": 'https://bot.example.com/"x"',
    "command substitution host": "https://$(id).example.com",
    "command substitution path": "https://bot.example.com/$(id)",
    "backtick": "https://bot.example.com/`id`",
    "semicolon": "https://bot.example.com/;id",
    "space": "https://bot.example.com/a b",
    "trailing newline": "https://bot.example.com\n",
    "credentials": "https://user:secret@bot.example.com",
    "query": "https://bot.example.com/health?x=1",
    "fragment": "https://bot.example.com/#x",
    "ftp": "ftp://bot.example.com",
    "no scheme": "bot.example.com",
    "port 0": "https://bot.example.com:0",
    "port too high": "https://bot.example.com:70000",
    "upper-case host": "https://Bot.Example.com",
    "bad ipv4": "http://127.0.0.300:8080",
    "bad ipv6": "http://[fe80::zz]/",
}


@pytest.mark.parametrize("url", BAD_URLS.values(), ids=BAD_URLS.keys())
@pytest.mark.parametrize("key", ["telegramApiUrl", "deployCheck.url"])
def test_bad_urls_are_rejected(key, url):
    message = assert_rejected("dev", with_value({}, key, url), key)
    assert "secret" not in message  # the credentials case: the URL is never echoed


@pytest.mark.parametrize("url", ["http://api.telegram.org", "http://203.0.113.7:8081", "http://bot-api.internal:8081"])
def test_bot_api_over_plain_http_to_a_remote_host_is_rejected(url):
    message = assert_rejected("dev", {"profile": "full", "botToken": BOT_TOKEN, "telegramApiUrl": url}, "telegramApiUrl",
                              "uses plain http to a remote host", fix="'https://api.telegram.org'")
    assert "in clear" in message


@pytest.mark.parametrize(
    "url",
    ["https://api.telegram.org", "https://bot-api.example.com:8443/base", "http://telegram:8081", "http://127.0.0.1:8081",
     "http://localhost:8081", "http://[::1]:8081"],
)
def test_bot_api_urls_that_keep_the_token_private_pass(url):
    assert validate("dev", config_entries({"telegramApiUrl": url})).telegram_api_url == url


@pytest.mark.parametrize("url", ["http://203.0.113.10/api/health", "https://bot.example.com/api/health", "http://127.0.0.1:8080/x%20y"])
def test_deploy_check_urls_may_use_http_anywhere(url):
    # The check runs from the Pulumi machine and carries no secret.
    assert validate("dev", config_entries({"deployCheck": {"url": url}})).deploy_check.url == url


# ---- a trailing newline is refused everywhere --------------------------------------------------------------------------

GOOD_VALUES = {
    "vds.host": "203.0.113.10",
    "vds.user": "deploy",
    "vds.bootstrapUser": "root",
    "vds.hostKey": VALID_HOST_KEY,
    "images.repository": "ghcr.io/example/botstack",
    "images.tag": "sha-1a2b3c4",
    "images.postgres": "postgres:16-bookworm",
    "images.redis": "redis:7.4-bookworm",
    "images.proxy": "caddy:2.8",
    "images.python": "python:3.11-slim-bookworm",
    "images.backend": "ghcr.io/example/botstack-backend:sha-1",
    "images.web": "ghcr.io/example/botstack-web:sha-1",
    "logging.maxSize": "10m",
    "backup.schedule": "0 */6 * * *",
    "backup.rcloneRemote": "offsite:botstack",
    "backup.ageRecipient": "age1" + "q" * 58,
    "proxy.lbTryDuration": "30s",
    "proxy.lbTryInterval": "250ms",
    "deployCheck.url": "https://bot.example.com/api/health",
    "database.name": "botstack",
    "database.user": "botstack",
    "domain": "bot.example.com",
    "acmeEmail": "ops@example.com",
    "telegramApiUrl": "https://api.telegram.org",
    "botToken": BOT_TOKEN,
    "dbPassword": "a-good-db-password-1",
    "redisPassword": "a-good-redis-password-2",
    "jwtSecret": "j" * 40,
    "resources.api.memory": "512M",
    "resources.api.memoryReservation": "128M",
    "resources.api.cpus": "0.5",
    "profile": "full",
}


@pytest.fixture(scope="module")
def good_prod(private_key) -> dict[str, Any]:
    config: dict[str, Any] = valid_prod(private_key)
    for key, value in GOOD_VALUES.items():
        config = with_value(config, key, value)
    return config


def test_the_good_values_pass(good_prod):
    assert validate("prod", config_entries(good_prod)).profile == "full"


@pytest.mark.parametrize("key", GOOD_VALUES)
@pytest.mark.parametrize("edge", ["\n", " ", "\r\n"], ids=["newline", "space", "crlf"])
def test_no_value_may_end_in_a_newline_or_space(good_prod, key, edge):
    config = with_value(good_prod, key, GOOD_VALUES[key] + edge)
    message = assert_rejected("prod", config, key)
    secret = key.split(".")[0] in ("botToken", "dbPassword", "redisPassword", "jwtSecret")
    if secret:
        assert GOOD_VALUES[key] not in message


@pytest.mark.parametrize("key", ["vds.host", "vds.user", "database.name", "backup.schedule", "images.tag", "domain"])
def test_no_value_may_start_with_a_newline(good_prod, key):
    assert_rejected("prod", with_value(good_prod, key, "\n" + GOOD_VALUES[key]), key)


def test_the_reference_shows_the_full_match_patterns():
    schema = StackConfig.model_json_schema()
    tag = schema["$defs"]["ImagesConfig"]["properties"]["tag"]["anyOf"][0]
    assert tag["pattern"].startswith("^") and tag["pattern"].endswith("$")
