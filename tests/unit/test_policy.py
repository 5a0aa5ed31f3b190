"""The policy pack's rules: each passes on a compliant resource and fails on each bad variant."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "policy"))

import botstack_policy as bp  # noqa: E402

ANY = "0.0.0.0"  # noqa: S104 - test data: the address the port rule forbids
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmJ0Rzm6iYl2K3w1p1vYdB0q6v7cZ8m9b2Kq3sQ7xYz"


def good_container(role: str = "api") -> dict[str, Any]:
    """What the program declares for a service (wire names, as the mock runtime and pulumi-policy see them)."""
    return {
        "name": f"botstack-prod-{role}",
        "image": "ghcr.io/acme/botstack-backend:sha-1a2b3c4",
        "user": "10001:10001",
        "memory": 384,
        "memoryReservation": 128,
        "cpus": "0.5",
        "logDriver": "json-file",
        "logOpts": {"max-size": "10m", "max-file": "3"},
        "healthcheck": {"tests": ["CMD", "botstack-healthcheck", "api"], "interval": "10s", "retries": 3},
        "securityOpts": ["no-new-privileges:true"],
        "capabilities": {"drops": ["ALL"]},
        "readOnly": True,
        "restart": "unless-stopped",
        "labels": [{"label": "botstack.role", "value": role}, {"label": "botstack.stack", "value": "prod"}],
        "networksAdvanced": [{"name": "botstack-prod-backend", "aliases": [role]}],
        "volumes": [
            {"hostPath": "/etc/botstack/secrets/db-password", "containerPath": "/run/secrets/db-password", "readOnly": True}
        ],
    }


def good_web() -> dict[str, Any]:
    props = good_container("web")
    props["image"] = "ghcr.io/acme/botstack-web:sha-1a2b3c4"
    props["healthcheck"] = {"tests": ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/healthz"]}
    props["capabilities"] = {"drops": ["ALL"], "adds": ["CAP_NET_BIND_SERVICE"]}
    props["ports"] = [{"internal": 80, "external": 80}, {"internal": 443, "external": 443, "ip": ANY}]
    return props


def good_job() -> dict[str, Any]:
    props = good_container("migrate")
    props.update(attach=True, restart="no", command=["alembic", "upgrade", "head"])
    del props["healthcheck"]
    return props


def good_service(role: str = "api") -> dict[str, Any]:
    """What the cluster stack declares for a swarm service (wire names; numbers arrive as floats)."""
    labels = [{"label": "botstack.role", "value": role}, {"label": "botstack.service", "value": role}]
    return {
        "name": f"botstack-swarm-{role}",
        "labels": labels,
        "mode": {"replicated": {"replicas": 2.0}},
        "endpointSpec": {"mode": "dnsrr"},
        "taskSpec": {
            "containerSpec": {
                "image": "ghcr.io/acme/botstack-backend:sha-1a2b3c4",
                "user": "10001:10001",
                "capDrops": ["ALL"],
                "readOnly": True,
                "healthcheck": {"tests": ["CMD", "botstack-healthcheck", role], "interval": "2s", "retries": 25.0},
                "labels": labels,
                "mounts": [{"type": "tmpfs", "target": "/tmp", "tmpfsOptions": {"sizeBytes": 67108864.0}}],
                "secrets": [{"secretId": "s1", "fileName": "database_url", "fileUid": "10001", "fileMode": 256.0}],
            },
            "resources": {
                "limits": {"memoryBytes": 402653184.0, "nanoCpus": 500000000.0},
                "reservation": {"memoryBytes": 134217728.0},
            },
            "logDriver": {"name": "json-file", "options": {"max-size": "10m", "max-file": "3"}},
            "restartPolicy": {"condition": "any", "delay": "1s"},
        },
    }


def good_web_service() -> dict[str, Any]:
    props = good_service("web")
    props["taskSpec"]["containerSpec"]["image"] = "ghcr.io/acme/botstack-web:sha-1a2b3c4"
    props["endpointSpec"]["ports"] = [
        {"targetPort": 80.0, "publishedPort": 80.0, "protocol": "tcp", "publishMode": "host"},
        {"targetPort": 443.0, "publishedPort": 443.0, "protocol": "tcp", "publishMode": "host"},
    ]
    return props


def good_database_service() -> dict[str, Any]:
    props = good_service("database")
    props["taskSpec"]["containerSpec"].update(image="postgres:16-bookworm", user="999:999")
    return props


GOOD: dict[str, tuple[str, dict[str, Any]]] = {
    "service-api": (bp.SERVICE, good_service("api")),
    "service-web": (bp.SERVICE, good_web_service()),
    "service-database": (bp.SERVICE, good_database_service()),
    "api": (bp.CONTAINER, good_container("api")),
    "database": (bp.CONTAINER, {**good_container("database"), "user": "999:999", "image": "postgres:16-bookworm"}),
    "web": (bp.CONTAINER, good_web()),
    "job": (bp.CONTAINER, good_job()),
    "dev-api-on-localhost": (bp.CONTAINER, {**good_container("api"), "ports": [{"internal": 8000, "ip": "127.0.0.1"}]}),
    "image-id": (bp.CONTAINER, {**good_container("api"), "image": "sha256:" + "a" * 64}),
    "remote-image-tag": (bp.REMOTE_IMAGE, {"name": "postgres:16-bookworm"}),
    "remote-image-digest": (bp.REMOTE_IMAGE, {"name": "redis@sha256:" + "b" * 64}),
    "remote-image-app-sha": (bp.REMOTE_IMAGE, {"name": "ghcr.io/acme/botstack-web:sha-1a2b3c4"}),
    "remote-image-registry-port": (bp.REMOTE_IMAGE, {"name": "registry.local:5000/botstack-test/redis:7"}),
    "provider-local": (bp.DOCKER_PROVIDER, {"host": "unix:///var/run/docker.sock"}),
    "provider-no-host": (bp.DOCKER_PROVIDER, {}),
    "provider-ssh": (
        bp.DOCKER_PROVIDER,
        {
            "host": "ssh://deploy@203.0.113.10:22",
            "sshOpts": ["-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=/tmp/known_hosts"],
        },
    ),
    "provider-ssh-json-compact": (
        bp.DOCKER_PROVIDER,
        {"host": "ssh://deploy@203.0.113.10", "sshOpts": '["-oStrictHostKeyChecking yes", "-oUserKnownHostsFile=/k"]'},
    ),
    "remote-command": (
        "command:remote:Command",
        {"create": "true", "connection": {"host": "203.0.113.10", "user": "deploy", "hostKey": HOST_KEY}},
    ),
    "copy-to-remote": (
        "command:remote:CopyToRemote",
        {
            "remotePath": "/opt/x",
            "connection": {"host": "h", "hostKey": HOST_KEY, "proxy": {"host": "jump", "hostKey": HOST_KEY}},
        },
    ),
    "local-command-ignored": ("command:local:Command", {"create": "true"}),
    "network-ignored": ("docker:index/network:Network", {"name": "botstack-prod-edge"}),
}


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("case", sorted(GOOD))
def test_compliant_resources_pass(case: str, stack: str) -> None:
    type_token, props = GOOD[case]
    assert bp.validate_resource(type_token, props, stack) == []


def _without(path: str):
    def mutate(props: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = props
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        del target[last]

    return mutate


def _set(path: str, value: Any):
    def mutate(props: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = props
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        target[last] = value

    return mutate


# (case id, base, mutation, stack, rule expected to fire)
BAD: list[tuple[str, str, Any, str, str]] = [
    ("no-memory", "api", _without("memory"), "dev", "container-resource-limits"),
    ("zero-memory", "api", _set("memory", 0), "dev", "container-resource-limits"),
    ("no-reservation", "api", _without("memoryReservation"), "dev", "container-resource-limits"),
    ("reservation-above-limit", "api", _set("memoryReservation", 1024), "dev", "container-resource-limits"),
    ("no-cpus", "api", _without("cpus"), "dev", "container-resource-limits"),
    ("no-log-driver", "api", _without("logDriver"), "dev", "container-log-rotation"),
    ("syslog-driver", "api", _set("logDriver", "syslog"), "dev", "container-log-rotation"),
    ("no-log-opts", "api", _without("logOpts"), "dev", "container-log-rotation"),
    ("no-max-size", "api", _without("logOpts.max-size"), "dev", "container-log-rotation"),
    ("no-max-file", "api", _without("logOpts.max-file"), "dev", "container-log-rotation"),
    ("no-healthcheck", "api", _without("healthcheck"), "dev", "container-healthcheck"),
    ("empty-tests", "api", _set("healthcheck.tests", []), "dev", "container-healthcheck"),
    ("healthcheck-none", "api", _set("healthcheck.tests", ["NONE"]), "dev", "container-healthcheck"),
    ("healthcheck-bare-cmd", "api", _set("healthcheck.tests", ["CMD"]), "dev", "container-healthcheck"),
    ("no-security-opts", "api", _without("securityOpts"), "dev", "container-no-new-privileges"),
    ("nnp-false", "api", _set("securityOpts", ["no-new-privileges:false"]), "dev", "container-no-new-privileges"),
    ("no-capabilities", "api", _without("capabilities"), "dev", "container-drop-capabilities"),
    ("drops-some", "api", _set("capabilities.drops", ["NET_RAW"]), "dev", "container-drop-capabilities"),
    (
        "adds-sys-admin",
        "api",
        _set("capabilities", {"drops": ["ALL"], "adds": ["CAP_SYS_ADMIN"]}),
        "dev",
        "container-drop-capabilities",
    ),
    ("privileged", "api", _set("privileged", True), "dev", "container-not-privileged"),
    ("host-network", "api", _set("networkMode", "host"), "dev", "container-not-privileged"),
    ("host-pid", "api", _set("pidMode", "host"), "dev", "container-not-privileged"),
    (
        "socket-volume",
        "api",
        _set("volumes", [{"hostPath": "/var/run/docker.sock", "containerPath": "/var/run/docker.sock"}]),
        "dev",
        "container-no-docker-socket",
    ),
    (
        "socket-mount",
        "api",
        _set("mounts", [{"type": "bind", "source": "/run/docker.sock", "target": "/docker.sock"}]),
        "dev",
        "container-no-docker-socket",
    ),
    ("no-user", "api", _without("user"), "dev", "container-non-root"),
    ("root-user", "api", _set("user", "root"), "dev", "container-non-root"),
    ("uid-0", "api", _set("user", "0:0"), "dev", "container-non-root"),
    ("no-restart", "api", _without("restart"), "dev", "container-restart-policy"),
    ("restart-always", "api", _set("restart", "always"), "dev", "container-restart-policy"),
    ("job-restarts", "job", _set("restart", "on-failure"), "dev", "container-restart-policy"),
    ("job-without-user", "job", _without("user"), "dev", "container-non-root"),
    (
        "db-port-prod",
        "database",
        _set("ports", [{"internal": 5432, "external": 5432, "ip": "127.0.0.1"}]),
        "prod",
        "container-published-ports",
    ),
    (
        "cache-port-prod",
        "api",
        lambda p: p.update(labels=[{"label": "botstack.role", "value": "cache"}], ports=[{"internal": 6379, "ip": "127.0.0.1"}]),
        "prod",
        "container-published-ports",
    ),
    ("api-on-all-addresses", "api", _set("ports", [{"internal": 8000, "external": 8000}]), "dev", "container-published-ports"),
    ("db-on-all-addresses-dev", "database", _set("ports", [{"internal": 5432, "ip": ANY}]), "dev", "container-published-ports"),
    ("web-other-port-public", "web", _set("ports", [{"internal": 80, "external": 8080}]), "prod", "container-published-ports"),
    (
        "web-ipv6-any",
        "web",
        _set("ports", [{"internal": 2019, "external": 2019, "ip": "::"}]),
        "prod",
        "container-published-ports",
    ),
    ("container-latest", "api", _set("image", "ghcr.io/acme/botstack-backend:latest"), "dev", "container-image-pinned"),
    ("container-untagged", "api", _set("image", "postgres"), "dev", "container-image-pinned"),
    (
        "container-branch-tag-prod",
        "api",
        _set("image", "ghcr.io/acme/botstack-backend:branch-main"),
        "prod",
        "container-image-pinned",
    ),
]

# A service is held to the VDS rules on any stack: it only runs on a cluster of VDSs.
CS = "taskSpec.containerSpec"
BAD += [
    ("svc-no-memory-limit", "service-api", _without("taskSpec.resources.limits.memoryBytes"), "dev", "service-resource-limits"),
    ("svc-no-cpu-limit", "service-api", _without("taskSpec.resources.limits.nanoCpus"), "dev", "service-resource-limits"),
    ("svc-no-reservation", "service-api", _without("taskSpec.resources.reservation"), "dev", "service-resource-limits"),
    ("svc-no-resources", "service-api", _without("taskSpec.resources"), "dev", "service-resource-limits"),
    (
        "svc-reservation-above-limit",
        "service-api",
        _set("taskSpec.resources.reservation.memoryBytes", 1e9),
        "dev",
        "service-resource-limits",
    ),
    ("svc-no-log-driver", "service-api", _without("taskSpec.logDriver"), "dev", "service-log-rotation"),
    ("svc-syslog", "service-api", _set("taskSpec.logDriver.name", "syslog"), "dev", "service-log-rotation"),
    ("svc-no-max-file", "service-api", _without("taskSpec.logDriver.options.max-file"), "dev", "service-log-rotation"),
    ("svc-no-healthcheck", "service-api", _without(f"{CS}.healthcheck"), "dev", "service-healthcheck"),
    ("svc-healthcheck-none", "service-api", _set(f"{CS}.healthcheck.tests", ["NONE"]), "dev", "service-healthcheck"),
    ("svc-no-cap-drops", "service-api", _without(f"{CS}.capDrops"), "dev", "service-drop-capabilities"),
    ("svc-drops-some", "service-api", _set(f"{CS}.capDrops", ["NET_RAW"]), "dev", "service-drop-capabilities"),
    ("svc-adds-sys-admin", "service-api", _set(f"{CS}.capAdds", ["SYS_ADMIN"]), "dev", "service-drop-capabilities"),
    ("svc-writable-root", "service-api", _without(f"{CS}.readOnly"), "dev", "service-read-only-root"),
    ("svc-read-only-false", "service-api", _set(f"{CS}.readOnly", False), "dev", "service-read-only-root"),
    ("svc-no-user", "service-api", _without(f"{CS}.user"), "dev", "service-non-root"),
    ("svc-root", "service-api", _set(f"{CS}.user", "0:0"), "dev", "service-non-root"),
    (
        "svc-socket-mount",
        "service-api",
        _set(f"{CS}.mounts", [{"type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock"}]),
        "dev",
        "service-no-docker-socket",
    ),
    ("svc-restart-none", "service-api", _set("taskSpec.restartPolicy.condition", "none"), "dev", "service-restart-policy"),
    (
        "svc-restart-on-failure",
        "service-api",
        _set("taskSpec.restartPolicy.condition", "on-failure"),
        "dev",
        "service-restart-policy",
    ),
    (
        "svc-secret-default-mode",
        "service-api",
        _without(f"{CS}.secrets.0.fileMode"),
        "dev",
        "service-secret-files-private",
    ),
    (
        "svc-secret-group-readable",
        "service-api",
        _set(f"{CS}.secrets.0.fileMode", 0o440),
        "dev",
        "service-secret-files-private",
    ),
    (
        "svc-api-published",
        "service-api",
        _set("endpointSpec.ports", [{"targetPort": 8000, "publishedPort": 8000, "publishMode": "host"}]),
        "dev",
        "service-published-ports",
    ),
    (
        "svc-database-published-80",
        "service-database",
        _set("endpointSpec.ports", [{"targetPort": 5432, "publishedPort": 80, "publishMode": "host"}]),
        "dev",
        "service-published-ports",
    ),
    (
        "svc-port-swarm-picks",
        "service-api",
        _set("endpointSpec.ports", [{"targetPort": 8000}]),
        "dev",
        "service-published-ports",
    ),
    ("svc-web-mesh", "service-web", _without("endpointSpec.ports.0.publishMode"), "dev", "service-published-ports"),
    (
        "svc-web-other-port",
        "service-web",
        _set("endpointSpec.ports.1.publishedPort", 8443),
        "dev",
        "service-published-ports",
    ),
    ("svc-latest", "service-api", _set(f"{CS}.image", "ghcr.io/acme/botstack-backend:latest"), "dev", "service-image-pinned"),
    # an app image on a branch tag fails on any stack: every node of the cluster pulls it
    (
        "svc-branch-tag-dev-stack",
        "service-api",
        _set(f"{CS}.image", "ghcr.io/acme/botstack-backend:branch-main"),
        "dev",
        "service-image-pinned",
    ),
]


@pytest.mark.parametrize(("case", "base", "mutate", "stack", "rule"), BAD, ids=[b[0] for b in BAD])
def test_each_bad_container_variant_fails_its_rule(case: str, base: str, mutate: Any, stack: str, rule: str) -> None:
    type_token, props = GOOD[base]
    props = copy.deepcopy(props)
    mutate(props)
    violations = bp.validate_resource(type_token, props, stack)
    assert rule in {name for name, _ in violations}, violations
    # Each variant breaks exactly the rule it is about, so a rule that fires on everything is caught.
    assert {name for name, _ in violations} == {rule}, violations


BAD_OTHER: list[tuple[str, str, dict[str, Any], str, str]] = [
    ("image-latest", bp.REMOTE_IMAGE, {"name": "redis:latest"}, "dev", "remote-image-pinned"),
    ("image-untagged", bp.REMOTE_IMAGE, {"name": "ghcr.io/acme/botstack-web"}, "dev", "remote-image-pinned"),
    ("image-registry-port-untagged", bp.REMOTE_IMAGE, {"name": "registry.local:5000/redis"}, "dev", "remote-image-pinned"),
    ("app-branch-tag-prod", bp.REMOTE_IMAGE, {"name": "ghcr.io/acme/botstack-web:branch-main"}, "prod", "remote-image-pinned"),
    ("ssh-no-opts", bp.DOCKER_PROVIDER, {"host": "ssh://deploy@h"}, "prod", "docker-ssh-host-key-pinned"),
    (
        "ssh-strict-no",
        bp.DOCKER_PROVIDER,
        {"host": "ssh://deploy@h", "sshOpts": ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/k"]},
        "prod",
        "docker-ssh-host-key-pinned",
    ),
    (
        "ssh-accept-new",
        bp.DOCKER_PROVIDER,
        {"host": "ssh://deploy@h", "sshOpts": ["-o", "StrictHostKeyChecking=accept-new", "-o", "UserKnownHostsFile=/k"]},
        "prod",
        "docker-ssh-host-key-pinned",
    ),
    (
        "ssh-no-known-hosts",
        bp.DOCKER_PROVIDER,
        {"host": "ssh://deploy@h", "sshOpts": ["-o", "StrictHostKeyChecking=yes"]},
        "prod",
        "docker-ssh-host-key-pinned",
    ),
    (
        "ssh-dev-null-known-hosts",
        bp.DOCKER_PROVIDER,
        {"host": "ssh://deploy@h", "sshOpts": ["-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="]},
        "prod",
        "docker-ssh-host-key-pinned",
    ),
    (
        "command-no-host-key",
        "command:remote:Command",
        {"create": "x", "connection": {"host": "h"}},
        "prod",
        "remote-command-host-key-pinned",
    ),
    (
        "command-empty-host-key",
        "command:remote:Command",
        {"connection": {"host": "h", "hostKey": ""}},
        "prod",
        "remote-command-host-key-pinned",
    ),
    ("copy-no-host-key", "command:remote:CopyToRemote", {"connection": {"host": "h"}}, "prod", "remote-command-host-key-pinned"),
    (
        "proxy-no-host-key",
        "command:remote:Command",
        {"connection": {"host": "h", "hostKey": HOST_KEY, "proxy": {"host": "jump"}}},
        "prod",
        "remote-command-host-key-pinned",
    ),
]


@pytest.mark.parametrize(("case", "type_token", "props", "stack", "rule"), BAD_OTHER, ids=[b[0] for b in BAD_OTHER])
def test_each_bad_image_and_connection_fails(case: str, type_token: str, props: dict, stack: str, rule: str) -> None:
    assert [name for name, _ in bp.validate_resource(type_token, props, stack)] != []
    assert {name for name, _ in bp.validate_resource(type_token, props, stack)} == {rule}


def test_every_rule_is_exercised_by_a_bad_case() -> None:
    fired = {b[4] for b in BAD} | {b[4] for b in BAD_OTHER}
    assert fired == {rule.name for rule in bp.RULES}


def test_unknown_values_are_skipped_not_failed() -> None:
    props = good_container()
    for key in ("user", "memory", "logOpts", "healthcheck", "image", "securityOpts", "capabilities", "restart"):
        props[key] = bp.UNKNOWN
    assert bp.validate_resource(bp.CONTAINER, props, "prod") == []


def test_unknown_service_values_are_skipped_not_failed() -> None:
    props = good_web_service()
    spec = props["taskSpec"]["containerSpec"]
    for key in ("user", "image", "healthcheck", "capDrops", "readOnly"):
        spec[key] = bp.UNKNOWN
    spec["secrets"][0]["fileMode"] = bp.UNKNOWN
    props["taskSpec"]["logDriver"] = bp.UNKNOWN
    props["endpointSpec"]["ports"][0]["publishedPort"] = bp.UNKNOWN
    assert bp.validate_resource(bp.SERVICE, props, "prod") == []


def test_validate_all_names_rule_type_and_resource() -> None:
    bad = copy.deepcopy(good_container())
    bad["privileged"] = True
    lines = bp.validate_all(
        [(bp.CONTAINER, good_container()), (bp.CONTAINER, bad, "api"), (bp.REMOTE_IMAGE, {"name": "x:latest"})],
        "dev",
    )
    assert lines[0] == f"container-not-privileged: {bp.CONTAINER} api: privileged must not be true"
    assert lines[1].startswith(f"remote-image-pinned: {bp.REMOTE_IMAGE} #2: ")
    assert len(lines) == 2


def test_stack_from_urn() -> None:
    assert bp.stack_from_urn("urn:pulumi:prod::botstack::docker:index/container:Container::api") == "prod"
    assert bp.stack_from_urn("not-a-urn") == ""


def _run_policy(name: str, type_token: str, raw_props: dict[str, Any], stack: str) -> list[str]:
    """Run one pack policy the way the analyzer does: unknown-checking proxy props, a URN naming the stack."""
    from pulumi_policy import EnforcementLevel, ResourceValidationArgs
    from pulumi_policy.policy import PolicyResourceOptions
    from pulumi_policy.proxy import unknown_checking_proxy

    policy = next(p for p in bp.make_policies() if p.name == name)
    assert policy.enforcement_level == EnforcementLevel.MANDATORY
    opts = PolicyResourceOptions(False, [], False, [], None, [])
    args = ResourceValidationArgs(
        type_token, unknown_checking_proxy(raw_props), f"urn:pulumi:{stack}::botstack::{type_token}::x", "x", opts, None
    )
    reported: list[str] = []
    policy.validate(args, lambda message, urn=None: reported.append(message))
    return reported


def test_pack_policies_report_through_pulumi_policy() -> None:
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    db = copy.deepcopy(good_container("database"))
    db["ports"] = [{"internal": 5432, "external": 5432, "ip": "127.0.0.1"}]
    assert _run_policy("container-published-ports", bp.CONTAINER, db, "prod") == [
        "a database container must not publish ports in prod"
    ]
    assert _run_policy("container-published-ports", bp.CONTAINER, db, "dev") == []
    # An unknown image (an output of a RemoteImage during preview) is skipped, not reported.
    api = {**good_container(), "image": UNKNOWN_STRING_VALUE}
    assert _run_policy("container-image-pinned", bp.CONTAINER, api, "prod") == []
    web = good_web_service()
    web["endpointSpec"]["ports"][0]["publishMode"] = "ingress"
    assert _run_policy("service-published-ports", bp.SERVICE, web, "swarm") == [
        "web's port 80 must be published in host mode (got 'ingress': the routing mesh)"
    ]
    # A policy ignores resources of other types.
    assert _run_policy("container-non-root", bp.REMOTE_IMAGE, {"name": "redis:7"}, "prod") == []


def test_pack_entry_point_does_not_import_at_module_level_of_rules() -> None:
    # botstack_policy must stay importable without pulumi_policy's server: the PolicyPack lives in __main__.py.
    source = (Path(bp.__file__).parent / "botstack_policy.py").read_text()
    assert "PolicyPack(" not in source
    assert "PolicyPack(" in (Path(bp.__file__).parent / "__main__.py").read_text()
