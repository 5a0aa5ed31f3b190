"""The cluster stack under the mock runtime: swarm commands, overlay networks, swarm secrets, services."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from components.config import ConfigError
from tests.unit.conftest import BOT_TOKEN
from tests.unit.harness import RecordingMocks, is_secret, run_stack, unwrap
from tests.unit.test_cluster_config import cluster_config

STACK = "swarm"
SERVICE = "docker:index/service:Service"
IMAGES = {"repository": "ghcr.io/example/botstack", "tag": "sha-1a2b3c4"}


def full_cluster(private_key: str, **cluster: Any) -> dict[str, Any]:
    config = cluster_config(private_key, **cluster)
    config |= {"profile": "full", "botToken": BOT_TOKEN, "images": IMAGES}
    return config


@contextlib.contextmanager
def commands_print_node_ids() -> Iterator[None]:
    """pulumi-command returns the command's stdout: the membership scripts print the node's swarm id, the token
    commands a token. The mocks answer so (they return no stdout of their own)."""
    answer = RecordingMocks.new_resource

    def new_resource(self, args):
        resource_id, outputs = answer(self, args)
        if args.typ == "command:remote:Command" and "Swarm.NodeID" in args.inputs.get("create", ""):
            outputs["stdout"] = f"id-of-{args.name.rsplit('-', 1)[1]}\n"
        elif args.typ == "command:remote:Command" and "join-token" in args.inputs.get("create", ""):
            outputs["stdout"] = "SWMTKN-1-abc-def\n"
        return resource_id, outputs

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RecordingMocks, "new_resource", new_resource)
        yield


@pytest.fixture(autouse=True, scope="module")
def _commands_print_node_ids() -> Iterator[None]:
    with commands_print_node_ids():
        yield


@pytest.fixture(scope="module")
def declared(private_key, _commands_print_node_ids) -> tuple[RecordingMocks, dict[str, Any]]:
    return run_stack(full_cluster(private_key, apiReplicas=3, publishOn=["node1", "node2"]), STACK)


def services(mocks: RecordingMocks) -> dict[str, dict[str, Any]]:
    return {unwrap(r.inputs["name"]).rsplit("-", 1)[1]: unwrap(r.inputs) for r in mocks.of_type(SERVICE)}


def commands(mocks: RecordingMocks) -> dict[str, Any]:
    return {r.name: r for r in mocks.of_type("command:remote:Command")}


def test_every_node_is_provisioned_in_cluster_mode_before_the_swarm_forms(declared):
    mocks, _ = declared
    cmds = commands(mocks)
    peers = {"node1": ["10.0.0.13", "203.0.113.12"], "node2": ["10.0.0.13", "203.0.113.11"],
             "node3": ["203.0.113.11", "203.0.113.12"]}  # fmt: skip
    for node, role in (("node1", "manager"), ("node2", "worker"), ("node3", "worker")):
        for step, user in (("bootstrap", "root"), ("provision", "deploy")):
            command = cmds[f"server-{node}-{step}"]
            line = unwrap(command.inputs)["create"]
            swarm = f"--swarm-role {role} " + " ".join(f"--swarm-peer {peer}" for peer in peers[node])
            assert swarm in line, line
            assert unwrap(command.inputs["connection"])["user"] == user
        assert "provision.sh" in unwrap(cmds[f"server-{node}-provision"].inputs)["stdin"]
    # every swarm command waits for every node's provisioning
    provisioned = {urn for urn in commands(mocks)["swarm-init-node1"].options["dependencies"] if "server-" in urn}
    assert {urn.rsplit("::", 1)[1] for urn in provisioned} >= {f"server-{n}-provision" for n in ("node1", "node2", "node3")}
    for name in ("swarm-worker-token", "swarm-join-node3", "swarm-labels-node2"):
        assert provisioned <= set(cmds[name].options["dependencies"]), name


def test_the_swarm_forms_from_the_first_manager(declared):
    mocks, _ = declared
    cmds = {name: cmd for name, cmd in commands(mocks).items() if name.startswith("swarm-")}
    assert set(cmds) == {
        "swarm-init-node1", "swarm-manager-token", "swarm-worker-token", "swarm-join-node2", "swarm-join-node3",
        "swarm-labels-node1", "swarm-labels-node2",
    }  # fmt: skip
    init = unwrap(cmds["swarm-init-node1"].inputs)
    assert "docker swarm init --advertise-addr 203.0.113.11 --listen-addr 203.0.113.11:2377" in init["create"]
    assert init["connection"]["host"] == "203.0.113.11" and init["connection"]["hostKey"].startswith("ssh-ed25519 ")
    raw_join = cmds["swarm-join-node3"].inputs
    join = unwrap(raw_join)
    assert join["connection"]["host"] == "node3.example.com"
    assert '"AdvertiseAddr":"10.0.0.13"' in join["create"] and '"RemoteAddrs":["203.0.113.11:2377"]' in join["create"]
    # the token: the secret stdout of the token command, on the join's stdin, never in its command line
    assert "stdout" in cmds["swarm-worker-token"].options["additionalSecretOutputs"]
    assert "SWMTKN" not in join["create"].replace("SWMTKN-1-*", "")
    labels = cmds["swarm-labels-node1"].inputs["create"]
    assert "docker node update --label-add botstack.cache=true --label-add botstack.database=true " \
        "--label-add botstack.web=true id-of-node1" in labels
    assert cmds["swarm-labels-node2"].inputs["create"].endswith("--label-add botstack.web=true id-of-node2\n")
    assert unwrap(cmds["swarm-labels-node1"].inputs["connection"])["host"] == "203.0.113.11"  # on the manager
    assert join["stdin"] == "SWMTKN-1-abc-def\n" and is_secret(raw_join["stdin"])


def test_services_of_the_full_profile_with_their_scheduling(declared):
    by_name = services(declared[0])
    assert set(by_name) == {"database", "cache", "api", "worker", "bot", "web"}

    def scheduling(name: str) -> tuple[Any, ...]:
        spec = by_name[name]
        placement = spec["taskSpec"].get("placement", {})
        return (
            spec["mode"]["replicated"]["replicas"],
            spec["updateConfig"]["order"],
            placement.get("constraints"),
            spec["endpointSpec"]["mode"],
        )

    assert scheduling("api") == (3, "start-first", None, "dnsrr")
    assert scheduling("worker") == (1, "start-first", None, "dnsrr")
    assert scheduling("bot") == (1, "stop-first", None, "dnsrr")
    assert scheduling("database") == (1, "stop-first", ["node.labels.botstack.database==true"], "dnsrr")
    assert scheduling("cache") == (1, "stop-first", ["node.labels.botstack.cache==true"], "dnsrr")
    assert scheduling("web") == (2, "stop-first", ["node.labels.botstack.web==true"], "dnsrr")
    assert by_name["web"]["taskSpec"]["placement"]["maxReplicas"] == 1
    assert by_name["web"]["endpointSpec"]["ports"] == [
        {"targetPort": 80, "publishedPort": 80, "protocol": "tcp", "publishMode": "host"}
    ]
    assert by_name["api"]["updateConfig"]["failureAction"] == "rollback"
    # every service: `pulumi up` returns once its tasks run (and fails if swarm rolled the update back)
    assert {name: spec["convergeConfig"] for name, spec in by_name.items()} == {
        name: {"delay": "1s", "timeout": "5m"} for name in by_name
    }


def test_containers_keep_the_hardened_settings(declared):
    api = services(declared[0])["api"]
    container = api["taskSpec"]["containerSpec"]
    assert container["image"] == "ghcr.io/example/botstack-backend:sha-1a2b3c4"
    assert container["user"] == "10001:10001" and container["readOnly"] is True and container["capDrops"] == ["ALL"]
    assert container["healthcheck"]["tests"] == ["CMD", "botstack-healthcheck", "api"]
    assert container["stopGracePeriod"] == "30s"
    assert container["env"]["DATABASE_URL_FILE"] == "/run/secrets/database_url"
    limits = api["taskSpec"]["resources"]
    assert limits["limits"] == {"memoryBytes": 384 * 1024**2, "nanoCpus": 500_000_000}
    assert limits["reservation"] == {"memoryBytes": 128 * 1024**2}
    assert api["taskSpec"]["logDriver"] == {"name": "json-file", "options": {"max-size": "10m", "max-file": "3"}}
    assert {(m["type"], m["target"]) for m in container["mounts"]} == {("tmpfs", "/tmp")}  # noqa: S108
    database = services(declared[0])["database"]["taskSpec"]["containerSpec"]
    assert {"type": "volume", "source": "botstack-swarm-database-data", "target": "/var/lib/postgresql/data"} in database[
        "mounts"
    ]


def test_secrets_are_swarm_secrets_mounted_as_files(declared):
    mocks, outputs = declared
    secrets = {r.name: r for r in mocks.of_type("docker:index/secret:Secret")}
    assert set(secrets) == {
        "secret-bot_token", "secret-database_url", "secret-db_password", "secret-jwt_secret", "secret-redis-conf",
        "secret-redis_password", "secret-redis_url",
    }  # fmt: skip
    for resource in secrets.values():
        assert is_secret(resource.inputs["data"]), resource.name
    bot_token = base64.b64decode(unwrap(secrets["secret-bot_token"].inputs["data"])).decode()
    assert bot_token == BOT_TOKEN
    mounted = services(mocks)["bot"]["taskSpec"]["containerSpec"]["secrets"]
    assert [(s["fileName"], s["fileUid"], s["fileMode"]) for s in mounted] == [
        ("bot_token", "10001", 0o400),  # the bot reads no database or Redis URL
    ]  # fmt: skip
    assert outputs["databaseUrl:secret"] is True


def test_secret_files_and_migrations_are_on_the_database_node(declared):
    mocks, outputs = declared
    cmds = commands(mocks)
    files = cmds["secrets-files"]
    assert unwrap(files.inputs["connection"])["host"] == "203.0.113.11"  # node1 holds the database
    assert files.inputs["create"] == "sudo bash /home/deploy/botstack/server/write-secrets.sh /etc/botstack/secrets"
    assert is_secret(files.inputs["stdin"]) and "stdout" in files.options["additionalSecretOutputs"]
    migration = cmds["migrations-run"]
    assert unwrap(migration.inputs["connection"])["host"] == "203.0.113.11"
    words = migration.inputs["create"].split()
    # on the backend overlay (by id), with the database URL file the secrets command wrote, the API's limits
    assert words[:3] == ["sudo", "bash", "/home/deploy/botstack/server/run-migrations.sh"]
    assert words[-3:] == ["ghcr.io/example/botstack-backend:sha-1a2b3c4", "network-backend-id", "/etc/botstack/secrets"]
    assert migration.inputs["triggers"] == ["ghcr.io/example/botstack-backend:sha-1a2b3c4"]  # a new release migrates once
    deps = " ".join(migration.options["dependencies"])
    assert "service-database" in deps and "secrets-files" in deps
    assert "server-node1-scripts" in " ".join(mocks.named("migrations").options["dependencies"])  # scripts copied there
    networks = {unwrap(r.inputs["name"]): unwrap(r.inputs) for r in mocks.of_type("docker:index/network:Network")}
    assert networks["botstack-swarm-backend"]["attachable"] is True  # the one-off container joins it
    assert not networks["botstack-swarm-edge"].get("attachable")
    # api and worker start on the migrated schema; the bot (no table) and web (holds requests) start beside them
    for name in ("api", "worker", "web", "bot"):
        after = " ".join(mocks.named(f"service-{name}").options["dependencies"])
        waits = [part in after for part in ("migrations-run", "service-database", "service-cache")]
        assert waits == [name in ("api", "worker")] * 3, (name, after)


def test_the_deploy_check_asks_the_public_health_url_after_web(declared):
    mocks, outputs = declared
    check = mocks.named("deploy-check-http")
    assert check.typ == "command:local:Command"
    assert outputs["healthUrl"] == "http://203.0.113.11/api/health"
    assert "deploy-check.sh http://203.0.113.11/api/health" in check.inputs["create"]
    # a changed service (a new id never: swarm updates in place) and any service's change re-run it
    assert sorted(check.inputs["triggers"]) == sorted(r.id for r in mocks.of_type(SERVICE))
    assert "service-web" in " ".join(check.options["dependencies"])


def test_services_run_on_the_first_manager_through_ssh(declared):
    mocks, outputs = declared
    provider = mocks.named("cluster-docker").inputs
    assert provider["host"] == "ssh://deploy@203.0.113.11:22"
    assert "StrictHostKeyChecking=yes" in provider["sshOpts"]
    assert outputs["url"] == "http://203.0.113.11"
    networks = {unwrap(r.inputs["name"]): unwrap(r.inputs) for r in mocks.of_type("docker:index/network:Network")}
    assert {name: (n["driver"], n.get("internal", False)) for name, n in networks.items()} == {
        "botstack-swarm-backend": ("overlay", True),
        "botstack-swarm-edge": ("overlay", False),
    }
    assert not mocks.of_type("docker:index/container:Container")


def test_minimal_profile_runs_no_bot_or_worker(private_key):
    config = cluster_config(private_key) | {"images": IMAGES}
    mocks, _ = run_stack(config, STACK)
    assert set(services(mocks)) == {"database", "cache", "api", "web"}


def test_three_managers_join_one_after_another(private_key):
    config = full_cluster(private_key)
    for node in config["cluster"]["nodes"].values():
        node["role"] = "manager"
    mocks, _ = run_stack(config, STACK)
    cmds = commands(mocks)
    def after(name: str) -> set[str]:  # within the swarm (every command also waits for the nodes' provisioning)
        return {dep.rsplit("::", 1)[1] for dep in cmds[name].options["dependencies"] if "::server-" not in dep}

    assert after("swarm-join-node2") == {"swarm-init-node1", "swarm-manager-token"}
    assert after("swarm-join-node3") == {"swarm-join-node2", "swarm-manager-token"}
    assert "docker swarm join-token --quiet manager" in cmds["swarm-manager-token"].inputs["create"]


def test_a_cluster_needs_prebuilt_images(private_key):
    with pytest.raises(ConfigError) as error:
        run_stack(cluster_config(private_key), STACK)
    message = str(error.value)
    assert "botstack:images.repository: is required with cluster" in message
    assert "pulumi config set -s swarm --path 'botstack:images.repository'" in message


def test_verified_backups_are_installed_on_the_database_node_by_service_name(declared):
    mocks, _ = declared
    install = commands(mocks)["backups-install"]
    assert unwrap(install.inputs["connection"])["host"] == "203.0.113.11"  # node1 holds the database
    words = install.inputs["create"].split()
    assert words[:3] == ["sudo", "bash", "/home/deploy/botstack/server/install-backups.sh"]
    # the service, not a container name: a swarm task's container is found by its label at each run
    assert words[words.index("--service") + 1] == "botstack-swarm-database" and "--container" not in words
    assert "--run-now" in words and "--pitr" not in words
    deps = " ".join(mocks.named("backups").options["dependencies"])
    assert "server-node1" in deps and "service-database" in deps and "secrets" in deps


def test_point_in_time_recovery_on_a_cluster_is_a_config_error(private_key):
    config = full_cluster(private_key) | {"backup": {"pitr": {"enabled": True}}}
    with pytest.raises(ConfigError) as error:
        run_stack(config, STACK)
    message = str(error.value)
    assert "botstack:backup.pitr.enabled: point-in-time recovery is not available on a cluster yet" in message
    assert "pulumi config rm -s swarm --path 'botstack:backup.pitr.enabled'" in message


def test_the_daily_backup_commands_reach_the_database_node(declared) -> None:
    _, outputs = declared
    assert (outputs["sshTarget"], outputs["sshPort"]) == ("deploy@203.0.113.11", 22)
    assert outputs["backupCommand"].endswith("backup.sh") and outputs["restoreCommand"].endswith("restore.sh")
    assert "dockerHost" not in outputs, "make logs would show one node's tasks as if they were the stack's"
