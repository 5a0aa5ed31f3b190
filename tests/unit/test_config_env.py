"""`BOTSTACK_<KEY>` environment variables in their JSON-object form (README: "objects as JSON").

An object variable is merged key by key over the stack's Pulumi config (the variable's keys win), is
validated like config, and a bad value names the key, the variable it came from, and never echoes a secret.
"""

from __future__ import annotations

import json

import pytest

from components.config import ConfigError
from components.config_loading import validate
from tests.unit.conftest import BOT_TOKEN, HOST_KEY
from tests.unit.harness import run_stack


@pytest.fixture(autouse=True)
def _no_botstack_variables(monkeypatch):
    """The tests set exactly the variables they are about (a BOTSTACK_* of the caller's shell would change them)."""
    import os

    for name in [n for n in os.environ if n.upper().startswith("BOTSTACK_")]:
        monkeypatch.delenv(name)


def test_an_object_variable_sets_nested_keys_in_camel_case(monkeypatch):
    monkeypatch.setenv("BOTSTACK_RESOURCES", json.dumps({"api": {"memory": "512M", "memoryReservation": "200M", "cpus": 0.75}}))
    monkeypatch.setenv("BOTSTACK_LOGGING", json.dumps({"maxSize": "20m", "maxFile": 5}))
    monkeypatch.setenv("BOTSTACK_DATABASE", json.dumps({"name": "app", "user": "appuser"}))
    config = validate("dev", {})
    api = config.resources_for("api")
    assert (api.memory, api.memory_reservation, api.cpus) == (512, 200, "0.75")
    assert (config.logging.max_size, config.logging.max_file) == ("20m", 5)
    assert (config.database.name, config.database.user) == ("app", "appuser")


def test_an_object_variable_gives_prod_its_vds(monkeypatch, private_key):
    monkeypatch.setenv("BOTSTACK_VDS", json.dumps({"host": "203.0.113.20", "port": 2222, "hostKey": HOST_KEY}))
    monkeypatch.setenv("BOTSTACK_SSH_PRIVATE_KEY", private_key)
    config = validate("prod", {"botstack:images": json.dumps({"repository": "ghcr.io/example/botstack", "tag": "sha-1a2b3c4"})})
    assert config.vds is not None
    assert (config.vds.host, config.vds.port, config.vds.host_key) == ("203.0.113.20", 2222, HOST_KEY)
    assert config.ssh_private_key is not None and config.ssh_private_key.get_secret_value() == private_key


def test_an_object_variable_is_merged_over_the_pulumi_config_key_by_key(monkeypatch):
    pulumi_config = {
        "botstack:resources": json.dumps({"database": {"memory": "2G"}, "api": {"memory": "256M", "memoryReservation": "100M"}})
    }
    monkeypatch.setenv("BOTSTACK_RESOURCES", json.dumps({"api": {"memory": "512M"}}))
    config = validate("dev", pulumi_config)
    assert config.resources_for("api").memory == 512, "the variable wins"
    assert config.resources_for("api").memory_reservation == 100, "keys the variable leaves out keep the config's value"
    assert config.resources_for("database").memory == 2048


def test_an_object_variable_reaches_the_containers(monkeypatch):
    monkeypatch.setenv("BOTSTACK_RESOURCES", json.dumps({"web": {"memory": "200M", "cpus": "0.3"}}))
    monkeypatch.setenv("BOTSTACK_PORTS", json.dumps({"web": 9090}))
    mocks, outputs = run_stack({})
    (web,) = [r.inputs for r in mocks.of_type("docker:index/container:Container") if r.name == "web-container"]
    assert (web["memory"], web["memoryReservation"], web["cpus"]) == (200, 32, "0.3")
    assert web["ports"] == [{"internal": 80, "external": 9090, "ip": "127.0.0.1", "protocol": "tcp"}]
    assert outputs["url"] == "http://127.0.0.1:9090"


def test_a_bad_value_in_an_object_variable_names_the_key_and_the_variable(monkeypatch):
    note = "note: the value comes from the environment variable BOTSTACK_RESOURCES, which overrides Pulumi config"
    monkeypatch.setenv("BOTSTACK_RESOURCES", json.dumps({"api": {"memory": "1K"}}))
    with pytest.raises(ConfigError) as error:
        validate("dev", {})
    assert "- botstack:resources.api.memory: must be a whole number of megabytes" in str(error.value)
    assert note in str(error.value)
    monkeypatch.setenv("BOTSTACK_RESOURCES", json.dumps({"apx": {"memory": "512M"}}))
    with pytest.raises(ConfigError) as error:
        validate("dev", {})
    assert "- botstack:resources.apx: unknown service" in str(error.value) and note in str(error.value)


def test_an_unknown_key_in_an_object_variable_is_refused(monkeypatch):
    monkeypatch.setenv("BOTSTACK_LOGGING", json.dumps({"maxSizes": "20m"}))
    with pytest.raises(ConfigError, match=r"botstack:logging\.maxSizes: unknown key"):
        validate("dev", {})


def test_a_secret_from_a_variable_is_checked_and_never_echoed(monkeypatch):
    bad_token = "not-a-token-but-secret-0123456789"
    monkeypatch.setenv("BOTSTACK_PROFILE", "full")
    monkeypatch.setenv("BOTSTACK_BOT_TOKEN", bad_token)
    with pytest.raises(ConfigError) as error:
        validate("dev", {"botstack:botToken": BOT_TOKEN})
    message = str(error.value)
    assert "- botstack:botToken: does not look like a Telegram bot token" in message
    assert "environment variable BOTSTACK_BOT_TOKEN" in message
    assert bad_token not in message


def test_invalid_json_in_an_object_variable_is_a_config_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("BOTSTACK_RESOURCES", '{"api": {"memory": "512M"}')
    with pytest.raises(ConfigError) as error:
        validate("dev", {})
    message = str(error.value)
    assert "- botstack:resources: the environment variable BOTSTACK_RESOURCES is not valid JSON" in message
    assert "fix: unset BOTSTACK_RESOURCES" in message
    assert '"512M"}' not in message  # the value is not echoed


def test_invalid_json_in_an_object_variable_of_a_section_names_the_variable(monkeypatch):
    monkeypatch.setenv("BOTSTACK_VDS", '{"host": "203.0.113.9"')
    with pytest.raises(ConfigError) as error:
        validate("dev", {})
    assert "- botstack:vds:" in str(error.value)
    assert "environment variable BOTSTACK_VDS" in str(error.value)
