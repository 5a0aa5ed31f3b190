"""The double's swarm mappings (tests/double/swarm.py): pulumi-docker's Service and Secret inputs -> Engine API bodies.

The service inputs are the ones the cluster stack really declares (recorded under the mock runtime), so these
tests also check what components/cluster_services.py asks of the provider.
"""

from __future__ import annotations

import base64

import pytest

from tests.double.mappings import DoubleError
from tests.double.swarm import classify_service_change, secret_create_body, service_spec
from tests.unit.harness import RecordingMocks, run_stack, unwrap
from tests.unit.test_cluster_stack import commands_print_node_ids, full_cluster

SECOND = 1_000_000_000


@pytest.fixture(scope="module")
def service_inputs(private_key) -> dict[str, dict]:
    mocks: RecordingMocks
    with commands_print_node_ids():
        mocks, _ = run_stack(full_cluster(private_key, apiReplicas=2), "swarm")
    return {r.name.removeprefix("service-"): unwrap(r.inputs) for r in mocks.of_type("docker:index/service:Service")}


def test_secret_data_is_checked_base64_and_sent_as_bytes():
    body = secret_create_body("s1", {"data": base64.b64encode(b"p@ss\n").decode(), "labels": [{"label": "a", "value": "b"}]})
    assert body == {"Name": "s1", "Data": base64.b64encode(b"p@ss\n").decode(), "Labels": {"a": "b"}}
    with pytest.raises(DoubleError, match="data must be base64 encoded"):
        secret_create_body("s1", {"data": "not base64!"})


def test_secret_inputs_the_double_does_not_know_are_refused():
    with pytest.raises(NotImplementedError, match="docker:index/secret:Secret input 'driver'"):
        secret_create_body("s1", {"data": "", "driver": "x"})


def test_the_api_service_as_the_engine_receives_it(service_inputs):
    spec = service_spec("botstack-swarm-api", service_inputs["api"])
    assert spec["Mode"] == {"Replicated": {"Replicas": 2}}
    assert spec["UpdateConfig"] == {"Parallelism": 1, "Monitor": 30 * SECOND, "FailureAction": "rollback", "Order": "start-first"}
    assert spec["RollbackConfig"]["FailureAction"] == "pause"
    assert spec["EndpointSpec"] == {"Mode": "dnsrr"}
    task = spec["TaskTemplate"]
    assert task["RestartPolicy"] == {"Condition": "any", "Delay": SECOND}
    assert task["Resources"] == {
        "Limits": {"MemoryBytes": 384 * 2**20, "NanoCPUs": SECOND // 2},
        "Reservations": {"MemoryBytes": 128 * 2**20},
    }
    assert task["LogDriver"] == {"Name": "json-file", "Options": {"max-size": "10m", "max-file": "3"}}
    assert [n["Target"] for n in task["Networks"]] == ["network-backend-id", "network-edge-id"]  # ids, not names
    assert all(n["Aliases"] == ["api"] for n in task["Networks"])
    container = task["ContainerSpec"]
    assert container["Healthcheck"] == {
        "Test": ["CMD", "botstack-healthcheck", "api"], "Interval": 2 * SECOND, "Timeout": 5 * SECOND,
        "StartPeriod": 10 * SECOND, "Retries": 25,
    }  # fmt: skip
    assert container["StopGracePeriod"] == 30 * SECOND
    assert container["CapabilityDrop"] == ["ALL"] and container["ReadOnly"] is True and container["User"] == "10001:10001"
    tmp = {"Type": "tmpfs", "Target": "/tmp", "Source": "", "TmpfsOptions": {"SizeBytes": 64 * 2**20, "Mode": 0o1777}}  # noqa: S108
    assert container["Mounts"] == [tmp]
    assert [(s["SecretID"], s["File"]) for s in container["Secrets"]] == [
        (f"secret-{name}-id", {"Name": name, "UID": "10001", "GID": "10001", "Mode": 0o400})
        for name in ("database_url", "jwt_secret", "redis_url")
    ]
    assert "DATABASE_URL_FILE=/run/secrets/database_url" in container["Env"]


def test_web_publishes_in_host_mode(service_inputs):
    spec = service_spec("botstack-swarm-web", service_inputs["web"])
    assert spec["EndpointSpec"]["Ports"] == [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 80, "PublishMode": "host"}]
    assert spec["TaskTemplate"]["Placement"] == {"Constraints": ["node.labels.botstack.web==true"], "MaxReplicas": 1}


def test_unknown_service_inputs_are_refused(service_inputs):
    inputs = dict(service_inputs["bot"])
    inputs["taskSpec"] = {**inputs["taskSpec"], "runtime": "container"}
    with pytest.raises(NotImplementedError, match="input 'taskSpec.runtime' is not implemented"):
        service_spec("x", inputs)
    inputs = dict(service_inputs["bot"])
    inputs["taskSpec"] = {**inputs["taskSpec"], "containerSpec": {**inputs["taskSpec"]["containerSpec"], "sysctl": {}}}
    with pytest.raises(NotImplementedError, match="input 'taskSpec.containerSpec.sysctl' is not implemented"):
        service_spec("x", inputs)


def test_only_a_new_name_replaces_a_service(service_inputs):
    api = service_inputs["api"]
    assert classify_service_change(api, {**api, "mode": {"replicated": {"replicas": 4}}}) == "update"
    assert classify_service_change(api, {**api, "name": "other"}) == "replace"
