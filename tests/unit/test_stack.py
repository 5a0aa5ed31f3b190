"""Whole stacks under the mock runtime: dev/prod x minimal/full, and the rules every container follows."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.unit.conftest import BOT_TOKEN, prod_config
from tests.unit.harness import RecordingMocks, is_secret, run_stack, unwrap

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
    import components.placement as stack_module

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


# service -> (memory MB, memory reservation MB, cpus, user): the defaults README promises (fit a 2 GB VDS), and
# the users of the images (PostgreSQL and Redis as 999, the app and Caddy as 10001).
DEFAULT_LIMITS_AND_USER = {
    "database": (1024, 512, "1", "999:999"),
    "cache": (256, 64, "0.5", "999:999"),
    "api": (384, 128, "0.5", "10001:10001"),
    "worker": (384, 128, "0.5", "10001:10001"),
    "bot": (512, 256, "1", "10001:10001"),
    "web": (128, 32, "0.25", "10001:10001"),
}


def limits_and_user(inputs: dict[str, Any]) -> tuple[int, int, str, str]:
    return int(inputs["memory"]), int(inputs["memoryReservation"]), inputs["cpus"], inputs["user"]


def test_every_container_gets_its_service_defaults_for_limits_and_user(declared):
    for service, inputs in containers(declared[2]).items():
        assert limits_and_user(inputs) == DEFAULT_LIMITS_AND_USER[service], service


def test_resources_overrides_change_exactly_the_keys_they_set(private_key):
    overrides = {
        "api": {"memory": "512M", "cpus": "0.75"},
        "database": {"memoryReservation": "256M"},
        "bot": {"memory": "1G", "memoryReservation": "300M", "cpus": "1.5"},
        "web": {"cpus": "0.1"},
    }
    mocks, _ = run_stack({**stack_config("dev", "full", private_key), "resources": overrides})
    expected = {
        **DEFAULT_LIMITS_AND_USER,
        "api": (512, 128, "0.75", "10001:10001"),
        "database": (1024, 256, "1", "999:999"),
        "bot": (1024, 300, "1.5", "10001:10001"),
        "web": (128, 32, "0.1", "10001:10001"),
    }
    assert {service: limits_and_user(inputs) for service, inputs in containers(mocks).items()} == expected


def test_every_container_has_limits_rotation_restart_and_a_healthcheck(declared):
    for service, inputs in containers(declared[2]).items():
        assert inputs["memoryReservation"] < inputs["memory"], service
        assert inputs["logDriver"] == "json-file", service
        assert inputs["logOpts"] == {"max-size": "10m", "max-file": "3"}, service
        assert inputs["restart"] == "unless-stopped", service
        assert inputs["healthcheck"]["tests"][0] in ("CMD", "CMD-SHELL"), service
        assert inputs["wait"] is True and inputs["waitTimeout"] >= 60, service


def test_every_container_is_hardened(declared):
    for service, inputs in containers(declared[2]).items():
        assert inputs["user"] == DEFAULT_LIMITS_AND_USER[service][3], service
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
    # (the bot's poller-lock volume holds no data: tests/unit/test_rollout.py)
    volumes = {r.inputs["name"]: r for r in mocks.of_type("docker:index/volume:Volume") if r.name != "bot-lock"}
    # prod archives WAL by default (backup.pitr), into a repository volume of its own
    with_pitr = ("pgbackrest",) if stack == "prod" else ()
    assert set(volumes) == {f"botstack-{stack}-{s}-data" for s in ("database", "cache", "web", *with_pitr)}
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


GIVEN_SECRETS = {
    "dbPassword": "given-db-password-0123",
    "redisPassword": "given-redis-password-4567",
    "jwtSecret": "given-jwt-secret-0123456789abcdef0123456789",
}


def plain_text(value: Any) -> str:
    """Every part of a recorded input that is NOT a Pulumi secret (what state would keep in plain text)."""
    if is_secret(value):
        return ""
    if isinstance(value, dict):
        return "\n".join(f"{k}={plain_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "\n".join(plain_text(v) for v in value)
    return str(value)


def forms_of(secret: str) -> set[str]:
    """A secret as it could leak: itself, base64 (the secrets payload's encoding), and each line of a PEM key."""
    lines = {line for line in secret.splitlines() if len(line) >= 16 and not line.startswith("-----")}
    return {secret, base64.b64encode(secret.encode()).decode(), *lines}


def generated_secrets(mocks: RecordingMocks) -> dict[str, str]:
    return {r.name: r.outputs["result"] for r in mocks.of_type("random:index/randomPassword:RandomPassword")}


@pytest.mark.parametrize("given", [False, True], ids=["generated", "given"])
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_secret_value_is_in_plain_text_in_any_resource_input_or_output(stack, given, private_key):
    config = {**stack_config(stack, "full", private_key), **(GIVEN_SECRETS if given else {})}
    mocks, outputs = run_stack(config, stack=stack)
    secrets = {"botToken": BOT_TOKEN, **({"sshPrivateKey": private_key} if stack == "prod" else {})}
    secrets.update(GIVEN_SECRETS if given else generated_secrets(mocks))
    if not given:  # the generated ones: database, Redis, JWT
        assert {"secrets-db-password", "secrets-redis-password", "secrets-jwt-secret"} <= set(secrets)
    everything = repr([unwrap(r.inputs) for r in mocks.resources])
    for key, value in secrets.items():  # the search can find them: each is in some input, as a Pulumi secret
        assert any(form in everything for form in forms_of(value)), f"{key} is in no input at all"
    for registered in mocks.resources:
        plain = plain_text(registered.inputs)
        for key, value in secrets.items():
            assert not any(form in plain for form in forms_of(value)), f"{key} in plain text in {registered.name}'s inputs"
    for key, value in outputs.items():
        if key.endswith(":secret"):
            continue
        if any(form in repr(value) for secret in secrets.values() for form in forms_of(secret)):
            assert outputs[f"{key}:secret"], f"stack output {key} carries a secret but is not a Pulumi secret"
    assert outputs["databaseUrl:secret"] is True


def test_no_secret_reaches_an_environment_or_a_command_line(declared):
    _, _, mocks, _ = declared
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
        deps = " ".join(registered.options["dependencies"])
        if service in ("api", "worker"):
            assert "migrations-run" in deps and "database-container" in deps and "cache-container" in deps, service
        elif service == "bot":  # reads neither the database nor Redis: replaced beside the migrations, not after
            assert not any(name in deps for name in ("migrations-run", "database-container", "cache-container")), deps
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
    # Exactly the ids of the service containers: a replaced container (new id) re-runs the check.
    assert sorted(check.inputs["triggers"]) == sorted(r.id for r in mocks.of_type(CONTAINER))


def test_stack_outputs(declared):
    stack, _, _, outputs = declared
    assert outputs["networks"] == {"backend": f"botstack-{stack}-backend", "edge": f"botstack-{stack}-edge"}
    assert outputs["url"] == ("http://127.0.0.1:8080" if stack == "dev" else "http://203.0.113.10")
    if stack == "prod":
        assert outputs["sshTarget"] == "deploy@203.0.113.10"
        assert outputs["dockerHost"] == "ssh://deploy@203.0.113.10:22"
        assert outputs["backupCommand"] == "sudo /usr/local/lib/botstack/backup.sh"
        assert outputs["restoreCommand"] == "sudo /usr/local/lib/botstack/restore.sh"


def test_components_register_their_outputs(declared):
    stack, profile, mocks, outputs = declared
    names = {service: registered.outputs["name"] for service, registered in containers_registered(mocks).items()}
    assert outputs["containers"] == names
    database_url = mocks.outputs_of("secrets")["databaseUrl"]
    assert is_secret(database_url) and unwrap(database_url) == outputs["databaseUrl"]
    assert mocks.outputs_of("database") == {
        "containerName": names["database"],
        "volumeName": f"botstack-{stack}-database-data",
    }
    assert mocks.outputs_of("cache") == {"containerName": names["cache"], "volumeName": f"botstack-{stack}-cache-data"}
    assert mocks.outputs_of("api") == {"containerName": names["api"], "internalUrl": "http://api:8000"}
    assert mocks.outputs_of("web") == {"containerName": names["web"], "publicUrl": outputs["url"]}
    if profile == "full":
        assert mocks.outputs_of("worker") == {"containerName": names["worker"]}
        assert mocks.outputs_of("bot") == {"containerName": names["bot"]}
    assert mocks.outputs_of("network") == outputs["networks"]
    # built images (dev) run by their local image id (repoDigest with skipPush), pulled ones by imageId
    images = {r.name.removeprefix("images-"): r for r in mocks.resources if r.name.startswith("images-")}
    assert mocks.outputs_of("images") == {
        image: r.outputs["repoDigest" if r.typ == "docker:index/image:Image" else "imageId"] for image, r in images.items()
    }
    assert {image: r.typ.rsplit(":", 1)[-1] for image, r in images.items()} == {
        "backend": "Image" if stack == "dev" else "RemoteImage",
        "web": "Image" if stack == "dev" else "RemoteImage",
        "postgres": "Image" if stack == "prod" else "RemoteImage",  # prod: + pgBackRest (backup.pitr, on by default)
        "redis": "RemoteImage",
    }
    secrets = mocks.outputs_of("secrets")
    assert secrets["revision"] == mocks.named("secrets-files").id
    assert unwrap(secrets["databaseUrl"]) == outputs["databaseUrl"] and is_secret(secrets["databaseUrl"])
    expected_files = {"database_url", "db_password", "jwt_secret", "redis.conf", "redis_password", "redis_url"}
    assert set(secrets["paths"]) == expected_files | ({"bot_token"} if profile == "full" else set())
    assert mocks.outputs_of("deploy-check") == {"url": outputs["healthUrl"]}
    if stack == "prod":
        assert mocks.outputs_of("server") == {"sshTarget": "deploy@203.0.113.10"}


def containers_registered(mocks: RecordingMocks) -> dict[str, Any]:
    return {_label(r.inputs, "botstack.service"): r for r in mocks.of_type(CONTAINER)}
