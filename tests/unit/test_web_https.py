"""HTTPS for `domain` (components/web.py): which ACME server, which CA root, which ports, what plain HTTP serves."""

from __future__ import annotations

import pytest

from components.config import ConfigError, StackConfig
from components.config_loading import validate
from components.web import Entrypoint
from components.web import published_ports as ports_of
from components.web import web_environment as environment_of
from tests.unit.conftest import prod_config
from tests.unit.harness import config_entries, run_stack, unwrap

PEBBLE = {"domain": "bot.example.test", "acmeCa": "https://acme-ca:14000/dir", "acmeCaRoot": "/etc/botstack/root.pem"}


def dev(**values: object) -> StackConfig:
    return validate("dev", config_entries(values))


def web_environment(config: StackConfig) -> dict:
    return environment_of(Entrypoint.of(config), config.proxy)


def published_ports(config: StackConfig) -> list:
    return ports_of(Entrypoint.of(config))


def serves_https(config: StackConfig) -> bool:
    return Entrypoint.of(config).https


def web_container(mocks):
    return next(r for r in mocks.of_type("docker:index/container:Container") if r.inputs.get("name", "").endswith("-web"))


def test_without_acme_settings_caddy_keeps_its_default_issuers():
    env = web_environment(dev(domain="bot.example.com"))
    assert env["ACME_CA_OPTION"] == "" and env["ACME_CA_ROOT_OPTION"] == ""


def test_acme_ca_and_its_root_reach_caddy():
    env = web_environment(dev(**PEBBLE, ports={"webHttps": 8443}))
    assert env["ACME_CA_OPTION"] == "acme_ca https://acme-ca:14000/dir"
    assert env["ACME_CA_ROOT_OPTION"] == "acme_ca_root /run/secrets/acme-ca-root.pem"
    assert env["SITE_ADDRESS"] == "bot.example.test"


def test_dev_serves_plain_http_unless_443_is_published():
    plain = dev(domain="bot.example.com")
    assert not serves_https(plain)
    assert web_environment(plain)["SITE_ADDRESS"] == ":80"
    assert [(p.internal, p.external, p.ip) for p in published_ports(plain)] == [(80, 8080, "127.0.0.1")]
    https = dev(domain="bot.example.com", ports={"web": 8081, "webHttps": 8443})
    assert serves_https(https)
    assert [(p.internal, p.external, p.ip) for p in published_ports(https)] == [(80, 8081, "127.0.0.1"), (443, 8443, "127.0.0.1")]


def test_443_alone_serves_no_https_without_a_domain():
    config = dev(ports={"webHttps": 8443})
    assert not serves_https(config)
    assert [p.internal for p in published_ports(config)] == [80]


def test_plain_http_to_loopback_serves_only_health_where_port_80_is_public_and_redirects(private_key):
    with_domain = validate("prod", config_entries(prod_config(private_key, domain="bot.example.com")))
    without = validate("prod", config_entries(prod_config(private_key)))
    assert web_environment(with_domain)["LOOPBACK_SERVES"] == "health"
    assert web_environment(without)["LOOPBACK_SERVES"] == "app"
    assert web_environment(dev(domain="bot.example.com", ports={"webHttps": 8443}))["LOOPBACK_SERVES"] == "app"


def test_the_web_container_gets_the_root_read_only_and_the_domain_as_alias():
    mocks, _ = run_stack({**PEBBLE, "ports": {"webHttps": 8443}})
    web = web_container(mocks)
    mounts = unwrap(web.inputs["volumes"])
    assert {
        "hostPath": "/etc/botstack/root.pem",
        "containerPath": "/run/secrets/acme-ca-root.pem",
        "readOnly": True,
    }.items() <= next(m for m in mounts if m.get("hostPath") == "/etc/botstack/root.pem").items()
    (edge,) = unwrap(web.inputs["networksAdvanced"])
    assert sorted(edge["aliases"]) == ["bot.example.test", "web"]
    assert {(p["internal"], p["external"]) for p in unwrap(web.inputs["ports"])} == {(80, 8080), (443, 8443)}


def test_no_root_no_mount():
    mocks, _ = run_stack({"domain": "bot.example.com"})
    web = web_container(mocks)
    assert not [m for m in unwrap(web.inputs.get("volumes") or []) if m.get("hostPath")]
    (edge,) = unwrap(web.inputs["networksAdvanced"])
    assert sorted(edge["aliases"]) == ["bot.example.com", "web"]


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"acmeCa": "http://acme-ca:14000/dir"}, "botstack:acmeCa: is not an https URL"),
        ({"acmeCa": "https://acme ca/dir"}, "botstack:acmeCa: is not an https URL"),
        ({"acmeCa": "https://ca.example/dir?x=$(id)"}, "botstack:acmeCa: is not an https URL"),
        ({"acmeCaRoot": "root.pem"}, "botstack:acmeCaRoot: is not an absolute file path"),
        ({"acmeCaRoot": "/etc/my root.pem"}, "botstack:acmeCaRoot: is not an absolute file path"),
        ({"ports": {"webHttps": 0}}, "botstack:ports.webHttps"),
    ],
)
def test_bad_acme_settings_are_refused(values, problem):
    with pytest.raises(ConfigError, match=problem.replace(".", r"\.")):
        validate("dev", config_entries(values))


def test_lets_encrypt_staging_is_accepted():
    url = "https://acme-staging-v02.api.letsencrypt.org/directory"
    assert dev(acmeCa=url).acme_ca == url
