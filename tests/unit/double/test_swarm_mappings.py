"""The double's swarm mappings (tests/double/swarm.py): pulumi-docker's Service and Secret inputs -> Engine API bodies.

The service inputs are the ones the cluster stack really declares (recorded under the mock runtime), so these
tests also check what components/cluster_services.py asks of the provider.
"""

from __future__ import annotations

import base64

import pytest

from tests.double.mappings import DoubleError
from tests.double.swarm import (
    classify_service_change,
    converge_state,
    create_service,
    replicas_running,
    secret_create_body,
    service_spec,
    wait_converged,
)
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
    assert "convergeConfig" in service_inputs["api"]  # the provider's wait, not part of the Engine's spec
    assert not any("onverge" in key for key in spec)
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


# ---- convergeConfig: the provider waits for the tasks -----------------------------------------------------------


def task(slot: int, state: str, desired: str = "running", node: str = "n1") -> dict:
    return {"Slot": slot, "DesiredState": desired, "Status": {"State": state}, "NodeID": node}


def replicated(replicas: int, update_state: str | None = None, message: str = "") -> dict:
    service = {"ID": "svc1", "Spec": {"Mode": {"Replicated": {"Replicas": replicas}}}}
    if update_state:
        service["UpdateStatus"] = {"State": update_state, "Message": message}
    return service


def test_running_counts_one_task_per_slot_on_nodes_that_are_up():
    assert replicas_running(replicated(2), [task(1, "running"), task(2, "running")], {"n1"})
    assert not replicas_running(replicated(2), [task(1, "running"), task(2, "starting")], {"n1"})  # not healthy yet
    # start-first: an old running task and its new starting one share a slot; the lower state stands for it
    assert not replicas_running(replicated(1), [task(1, "running"), task(1, "starting")], {"n1"})
    # a task on a node that is down does not count
    assert not replicas_running(replicated(2), [task(1, "running"), task(2, "running", node="n2")], {"n1"})
    # a task that is to stop does not count
    assert not replicas_running(replicated(1), [task(1, "running", desired="shutdown")], {"n1"})
    with pytest.raises(DoubleError, match="no replica count"):
        replicas_running({"Spec": {"Mode": {"Global": {}}}}, [], set())


def test_an_update_ends_with_swarm_s_update_status():
    done = [task(1, "running")]
    assert converge_state(replicated(1, "completed"), [], set(), creating=False) == "completed"
    assert converge_state(replicated(1, "updating"), [task(1, "starting")], {"n1"}, creating=False) == "updating"
    assert converge_state(replicated(1), done, {"n1"}, creating=False) == "completed"  # a scale: no update status
    for state, text in (("rollback_completed", "service rollback completed: bad"), ("paused", "service update paused: bad"),
                        ("rollback_paused", "service rollback paused: bad")):  # fmt: skip
        with pytest.raises(DoubleError, match=text):
            converge_state(replicated(1, state, "bad"), done, {"n1"}, creating=False)
    with pytest.raises(DoubleError, match="service rollback completed"):
        converge_state(replicated(1, "rollback_started", "bad"), done, {"n1"}, creating=False)


class FakeEngine:
    """The Engine API calls the wait makes; each poll shows the next service state and task list."""

    def __init__(self, polls: list[tuple[dict, list[dict]]]) -> None:
        self.polls, self.index, self.removed = polls, -1, []
        self.api = self

    def inspect_service(self, service_id):
        self.index = min(self.index + 1, len(self.polls) - 1)
        return self.polls[self.index][0]

    def tasks(self, filters):
        assert filters == {"service": "svc1", "desired-state": "running"}
        return self.polls[self.index][1]

    def nodes(self):
        return [{"ID": "n1", "Status": {"State": "ready"}}, {"ID": "n2", "Status": {"State": "down"}}]

    def remove_service(self, service_id):
        self.removed.append(service_id)


def test_create_waits_its_delay_then_polls_until_every_replica_runs():
    engine = FakeEngine([(replicated(2), [task(1, "starting"), task(2, "running")])] * 2
                        + [(replicated(2), [task(1, "running"), task(2, "running")])])  # fmt: skip
    waits: list[float] = []
    wait_converged(engine, "svc1", {"delay": "1s", "timeout": "1m"}, creating=True, sleep=waits.append)
    assert waits == [1.0, 5.0, 10.0]


def test_an_update_waits_7_s_whatever_the_delay():
    engine = FakeEngine([(replicated(1, "completed"), [])])
    waits: list[float] = []
    wait_converged(engine, "svc1", {"delay": "1s"}, creating=False, sleep=waits.append)
    assert waits == [7.0]


def test_a_service_that_does_not_converge_fails_after_the_timeout():
    engine = FakeEngine([(replicated(1), [task(1, "starting")])])
    waits: list[float] = []
    with pytest.raises(DoubleError, match=r"^Service with ID \(svc1\) did not converge after 30s$"):
        wait_converged(engine, "svc1", {"delay": "1s", "timeout": "30s"}, creating=True, sleep=waits.append)
    assert waits == [1.0, 5.0, 10.0, 10.0, 4.0]  # the last wait ends at the timeout


def test_create_deletes_a_service_that_did_not_converge(service_inputs, monkeypatch):
    engine = FakeEngine([(replicated(1), [task(1, "starting")])])
    monkeypatch.setattr("tests.double.swarm._post", lambda client, path, body, params=None: {"ID": "svc1"})
    monkeypatch.setattr(engine, "tasks", lambda filters: [task(1, "starting")] if "desired-state" in filters else [])
    inputs = {**service_inputs["bot"], "convergeConfig": {"delay": "1s", "timeout": "10s"}}
    with pytest.raises(DoubleError, match="did not converge after 10s"):
        create_service(engine, "botstack-swarm-bot", inputs, sleep=lambda _: None)
    assert engine.removed == ["svc1"]
