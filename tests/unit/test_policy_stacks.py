"""The policy pack's rules over every resource the real stacks declare (mock runtime): all compliant."""

from __future__ import annotations

import pytest

from policy.botstack_policy import validate_all
from tests.unit.conftest import BOT_TOKEN, prod_config
from tests.unit.harness import run_stack, unwrap
from tests.unit.test_cluster_stack import SERVICE, commands_print_node_ids, full_cluster


@pytest.mark.parametrize(("stack", "profile"), [("dev", "minimal"), ("dev", "full"), ("prod", "minimal"), ("prod", "full")])
def test_every_declared_resource_passes_the_policy_pack(stack, profile, private_key):
    config = prod_config(private_key) if stack == "prod" else {}
    config["profile"] = profile
    if profile == "full":
        config["botToken"] = BOT_TOKEN
    mocks, _ = run_stack(config, stack=stack)
    resources = [(r.typ, unwrap(r.inputs), r.name) for r in mocks.resources if r.custom or r.typ.startswith("pulumi:providers:")]
    assert len(resources) > 10
    assert validate_all(resources, stack) == []


def test_every_resource_of_the_cluster_stack_passes_the_policy_pack(private_key):
    with commands_print_node_ids():
        mocks, _ = run_stack(full_cluster(private_key, apiReplicas=3, publishOn=["node1", "node2"]), "swarm")
    resources = [(r.typ, unwrap(r.inputs), r.name) for r in mocks.resources if r.custom or r.typ.startswith("pulumi:providers:")]
    assert {typ for typ, _, _ in resources} >= {SERVICE, "command:remote:Command", "pulumi:providers:docker"}
    assert len([r for r in resources if r[0] == SERVICE]) == 6
    assert validate_all(resources, "swarm") == []
    # the same check can fail: a service that loses its hardening is reported
    web = next(props for typ, props, name in resources if name == "service-web")
    web["endpointSpec"]["ports"][0]["publishMode"] = "ingress"
    web["taskSpec"]["containerSpec"]["readOnly"] = False
    assert {line.split(":", 1)[0] for line in validate_all(resources, "swarm")} == {
        "service-published-ports", "service-read-only-root"
    }


def test_the_policy_pack_would_catch_a_regression(private_key):
    """The same check fails when a declared container loses its hardening (the test above can fail)."""
    mocks, _ = run_stack({})
    resources = [(r.typ, unwrap(r.inputs), r.name) for r in mocks.resources if r.custom]
    container = next(props for typ, props, _ in resources if typ == "docker:index/container:Container")
    container["securityOpts"] = []
    container["user"] = "root"
    violations = validate_all(resources, "dev")
    assert len(violations) >= 2, violations
