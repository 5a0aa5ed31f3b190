"""Whole stacks under the mock runtime: dev/prod x minimal/full, and the rules every container follows."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.conftest import BOT_TOKEN, prod_config
from tests.unit.harness import RecordingMocks, run_stack

CONTAINER = "docker:index/container:Container"
SECRET_SIG = "4dabf18193072939515e22adb298388d"


def stack_config(stack: str, profile: str, private_key: str) -> dict[str, Any]:
    config: dict[str, Any] = prod_config(private_key) if stack == "prod" else {}
    config["profile"] = profile
    if profile == "full":
        config["botToken"] = BOT_TOKEN
    return config


@pytest.fixture(scope="module", params=[("dev", "minimal"), ("dev", "full"), ("prod", "minimal"), ("prod", "full")], ids=str)
def declared(request, private_key, tmp_path_factory) -> tuple[str, str, RecordingMocks, dict[str, Any]]:
    import components.stack as stack_module

    stack, profile = request.param
    original = stack_module.REPO_ROOT
    stack_module.REPO_ROOT = tmp_path_factory.mktemp(f"{stack}-{profile}")
    try:
        mocks, outputs = run_stack(stack_config(stack, profile, private_key), stack=stack)
    finally:
        stack_module.REPO_ROOT = original
    return stack, profile, mocks, outputs


def containers(mocks: RecordingMocks) -> dict[str, dict[str, Any]]:
    return {r.inputs["labels"] and _label(r.inputs, "botstack.service"): r.inputs for r in mocks.of_type(CONTAINER)}


def _label(inputs: dict[str, Any], key: str) -> str:
    return next(item["value"] for item in inputs["labels"] if item["label"] == key)


def test_profile_decides_the_services(declared):
    _, profile, mocks, outputs = declared
    expected = {"database", "cache", "api", "web"} | ({"worker", "bot"} if profile == "full" else set())
    assert set(containers(mocks)) == expected
    assert set(outputs["containers"]) == expected


def test_every_container_has_limits_rotation_restart_and_a_healthcheck(declared):
    for service, inputs in containers(declared[2]).items():
        assert inputs["memory"] >= 64 and inputs["memoryReservation"] < inputs["memory"], service
        assert float(inputs["cpus"]) > 0, service
        assert inputs["logDriver"] == "json-file", service
        assert inputs["logOpts"] == {"max-size": "10m", "max-file": "3"}, service
        assert inputs["restart"] == "unless-stopped", service
        assert inputs["healthcheck"]["tests"][0] in ("CMD", "CMD-SHELL"), service
        assert inputs["wait"] is True and inputs["waitTimeout"] >= 60, service


def test_every_container_is_hardened(declared):
    for service, inputs in containers(declared[2]).items():
        assert inputs["user"] and not inputs["user"].startswith(("0", "root")), service
        assert inputs["securityOpts"] == ["no-new-privileges:true"], service
        assert inputs["capabilities"]["drops"] == ["ALL"] and not inputs["capabilities"].get("adds"), service
        assert inputs["readOnly"] is True and "/tmp" in inputs["tmpfs"], service
        assert not inputs.get("privileged"), service
        mounted = [v.get("hostPath", "") for v in inputs.get("volumes", [])]
        assert not any("docker.sock" in path for path in mounted), service


def test_recorded_only_inputs_replace_the_container(declared):
    for registered in declared[2].of_type(CONTAINER):
        assert set(registered.options["replaceOnChanges"]) >= {"healthcheck", "tmpfs", "init"}, registered.name


def test_networks_backend_is_internal_and_edge_carries_web_and_api(declared):
    stack, _, mocks, _ = declared
    networks = {r.inputs["name"]: r.inputs for r in mocks.of_type("docker:index/network:Network")}
    assert networks[f"botstack-{stack}-backend"]["internal"] is True
    assert not networks[f"botstack-{stack}-edge"].get("internal")
    attached = {s: {n["name"].rsplit("-", 1)[-1] for n in i["networksAdvanced"]} for s, i in containers(mocks).items()}
    assert attached["database"] == attached["cache"] == {"backend"}
    assert attached["api"] == {"backend", "edge"}
    assert attached["web"] == {"edge"}
    if "worker" in attached:
        assert attached["worker"] == {"backend"}
        assert attached["bot"] == {"backend", "edge"}  # edge: the Bot API is outside


def test_published_ports(declared):
    stack, _, mocks, _ = declared
    published = {s: i.get("ports") or [] for s, i in containers(mocks).items()}
    assert not published["database"] and not published["cache"]
    assert all(not ports for s, ports in published.items() if s != "web")
    if stack == "dev":
        assert published["web"] == [{"internal": 80, "external": 8080, "ip": "127.0.0.1", "protocol": "tcp"}]
    else:
        assert {(p["ip"], p["external"]) for p in published["web"]} == {("0.0.0.0", 80)}


def test_data_volumes_are_kept_and_protected_in_prod(declared):
    stack, _, mocks, _ = declared
    volumes = {r.inputs["name"]: r for r in mocks.of_type("docker:index/volume:Volume")}
    assert set(volumes) == {f"botstack-{stack}-{s}-data" for s in ("database", "cache", "web")}
    for volume in volumes.values():
        assert volume.options["retainOnDelete"] is True
        assert volume.options["protect"] is (stack == "prod")
    by_service = containers(mocks)
    assert {"volumeName": f"botstack-{stack}-database-data", "containerPath": "/var/lib/postgresql/data"} in by_service[
        "database"
    ]["volumes"]
    assert {"volumeName": f"botstack-{stack}-cache-data", "containerPath": "/data"} in by_service["cache"]["volumes"]


def test_database_and_cache_stop_gracefully(declared):
    by_service = containers(declared[2])
    assert by_service["database"]["destroyGraceSeconds"] >= 30
    assert by_service["cache"]["destroyGraceSeconds"] >= 30
    assert all(inputs["destroyGraceSeconds"] > 0 for inputs in by_service.values())


def test_no_secret_reaches_an_environment_or_a_command_line(declared):
    _, _, mocks, outputs = declared
    password = outputs["databaseUrl"].split(":")[2].split("@")[0]
    assert len(password) >= 12
    for registered in mocks.resources:
        flat = repr({k: v for k, v in registered.inputs.items() if k not in ("stdin", "triggers", "connection")})
        assert password not in flat, registered.name
        assert BOT_TOKEN not in flat, registered.name
    for service, inputs in containers(mocks).items():
        for env in inputs.get("envs", []):
            name, _, value = env.partition("=")
            if any(word in name for word in ("PASSWORD", "SECRET", "TOKEN", "URL")) and not name.endswith("_FILE"):
                assert not value or value.startswith("http"), f"{service}: {name} carries a value"


def test_secret_values_travel_as_pulumi_secrets(declared):
    _, _, mocks, outputs = declared
    assert outputs["databaseUrl:secret"] is True
    role = mocks.named("database-role-password")
    assert SECRET_SIG in repr(role.inputs["stdin"]) and SECRET_SIG in repr(role.inputs["triggers"])
    writer = mocks.named("secrets-files")
    assert SECRET_SIG in writer.inputs["stdin"], "the secrets payload must be a Pulumi secret"
    assert SECRET_SIG in repr(writer.inputs["triggers"])


def test_app_services_wait_for_migrations_and_their_data_services(declared):
    mocks = declared[2]
    for registered in mocks.of_type(CONTAINER):
        service = _label(registered.inputs, "botstack.service")
        if service in ("api", "worker", "bot"):
            deps = " ".join(registered.options["dependencies"])
            assert "migrations-run" in deps and "database-container" in deps and "cache-container" in deps, service
    migration = mocks.named("migrations-run")
    assert "database-container" in " ".join(migration.options["dependencies"])
    assert "run-migrations.sh" in migration.inputs["create"]
    api = next(r for r in mocks.of_type(CONTAINER) if _label(r.inputs, "botstack.service") == "api")
    # Re-runs exactly when the backend image changes: the trigger is the image the API runs.
    assert migration.inputs["triggers"] == [api.inputs["image"]]
    assert api.inputs["image"].startswith("sha256:")


def test_deploy_check_watches_every_container(declared):
    _, _, mocks, outputs = declared
    check = mocks.named("deploy-check-http")
    assert check.typ == "command:local:Command"
    assert outputs["healthUrl"] in check.inputs["create"] and "deploy-check.sh" in check.inputs["create"]
    assert len(check.inputs["triggers"]) == len(outputs["containers"])


def test_stack_outputs(declared):
    stack, _, _, outputs = declared
    assert outputs["networks"] == {"backend": f"botstack-{stack}-backend", "edge": f"botstack-{stack}-edge"}
    assert outputs["url"] == ("http://127.0.0.1:8080" if stack == "dev" else "http://203.0.113.10")
    if stack == "prod":
        assert outputs["sshTarget"] == "deploy@203.0.113.10"
        assert outputs["dockerHost"] == "ssh://deploy@203.0.113.10:22"
        assert outputs["backupCommand"] == "sudo /usr/local/lib/botstack/backup.sh"
        assert outputs["restoreCommand"] == "sudo /usr/local/lib/botstack/restore.sh"
