"""Stack prod under the mock runtime: SSH provisioning, the ssh:// docker provider, pinned host keys."""

from __future__ import annotations

import pytest

from tests.unit.conftest import BOT_TOKEN, HOST_KEY, prod_config
from tests.unit.harness import is_secret, run_stack, unwrap


@pytest.fixture(scope="module")
def prod(private_key, tmp_path_factory):
    import components.placement as stack_module

    original = stack_module.REPO_ROOT
    stack_module.REPO_ROOT = tmp_path_factory.mktemp("prod")
    try:
        mocks, outputs = run_stack(prod_config(private_key, profile="full", botToken=BOT_TOKEN, domain="bot.example.com"), "prod")
        yield mocks, outputs, stack_module.REPO_ROOT
    finally:
        stack_module.REPO_ROOT = original


def test_docker_provider_is_ssh_with_the_host_key_pinned(prod):
    mocks, _, root = prod
    (provider,) = mocks.of_type("pulumi:providers:docker")
    assert provider.inputs["host"] == "ssh://deploy@203.0.113.10:22"
    opts = provider.inputs["sshOpts"]
    opts = opts if isinstance(opts, list) else __import__("json").loads(opts)
    assert "StrictHostKeyChecking=yes" in opts and "StrictHostKeyChecking=no" not in opts
    known_hosts = root / ".botstack" / "prod" / "ssh" / "known_hosts"
    assert f"UserKnownHostsFile={known_hosts}" in opts
    assert known_hosts.read_text() == f"203.0.113.10 {HOST_KEY}\n"
    identity = root / ".botstack" / "prod" / "ssh" / "id"
    assert identity.stat().st_mode & 0o777 == 0o600


def test_every_container_runs_on_the_vds(prod):
    mocks, _, _ = prod
    for registered in mocks.of_type("docker:index/container:Container"):
        assert registered.provider and "pulumi:providers:docker::vds-docker" in registered.provider, registered.name


def test_every_remote_command_pins_the_host_key(prod):
    mocks, _, _ = prod
    remote = [r for r in mocks.resources if r.typ.startswith("command:remote:")]
    assert {r.name for r in remote} >= {
        "server-bootstrap",
        "server-provision",
        "server-scripts",
        "secrets-files",
        "migrations-run",
    }
    for registered in remote:
        assert is_secret(registered.inputs["connection"]), "the connection carries the key: it must stay a secret"
        assert unwrap(registered.inputs["connection"])["hostKey"] == HOST_KEY, registered.name


def test_bootstrap_as_root_then_everything_as_the_deploy_user(prod):
    mocks, _, _ = prod
    bootstrap = mocks.named("server-bootstrap")
    assert unwrap(bootstrap.inputs["connection"])["user"] == "root"
    assert set(bootstrap.options["ignoreChanges"]) >= {"stdin", "create", "connection"}
    assert bootstrap.inputs["triggers"] == ["203.0.113.10", "deploy"], "a rotated key must not re-run the bootstrap as root"
    assert "sudo" not in bootstrap.inputs["create"], "root runs the script itself"
    assert "--allow-ssh-user root" in bootstrap.inputs["create"]
    provision = mocks.named("server-provision")
    assert unwrap(provision.inputs["connection"])["user"] == "deploy"
    assert "sudo -n bash" in provision.inputs["create"]
    assert "--allow-ssh-user" not in provision.inputs["create"], "after provisioning sshd admits the deploy user only"
    assert provision.inputs["stdin"].startswith("#!/usr/bin/env bash")
    assert "server-bootstrap" in " ".join(provision.options["dependencies"])
    for name in ("secrets-files", "migrations-run", "backups-install"):
        registered = mocks.named(name)
        assert unwrap(registered.inputs["connection"])["user"] == "deploy", name
        assert registered.inputs["create"].startswith("sudo bash /home/deploy/botstack/server/"), name


def test_https_on_the_domain(prod):
    mocks, outputs, _ = prod
    web = next(r for r in mocks.of_type("docker:index/container:Container") if r.inputs.get("name") == "botstack-prod-web")
    assert "SITE_ADDRESS=bot.example.com" in web.inputs["envs"]
    assert {(p["ip"], p["external"]) for p in web.inputs["ports"]} == {("0.0.0.0", 80), ("0.0.0.0", 443)}
    assert outputs["url"] == "https://bot.example.com"
    assert outputs["healthUrl"] == "https://bot.example.com/api/health"


def test_backups_are_installed_with_schedule_and_retention(prod):
    mocks, _, _ = prod
    install = mocks.named("backups-install")
    assert (
        "install-backups.sh --schedule '0 */6 * * *' --retention-days 7 --container botstack-prod-database"
        in install.inputs["create"]
    )


def test_app_images_are_pulled_at_the_pinned_tag(prod):
    mocks, _, _ = prod
    pulled = {r.inputs["name"] for r in mocks.of_type("docker:index/remoteImage:RemoteImage")}
    assert pulled == {
        "ghcr.io/example/botstack-backend:sha-1a2b3c4",
        "ghcr.io/example/botstack-web:sha-1a2b3c4",
        "redis:7.4-bookworm",
    }
    # the database image is built: the pinned postgres plus pgBackRest (backup.pitr is on by default in prod)
    built = mocks.of_type("docker:index/image:Image")
    assert [r.inputs["build"]["args"] for r in built] == [{"POSTGRES_IMAGE": "postgres:16-bookworm"}]
    assert all(r.inputs["keepLocally"] is True for r in mocks.of_type("docker:index/remoteImage:RemoteImage"))


def test_a_non_root_bootstrap_user_runs_provisioning_through_sudo():
    from components.config import VdsConfig
    from components.server import bootstrap_command, provision_command

    vds = VdsConfig.model_construct(host="203.0.113.10", port=22, user="deploy", bootstrap_user="debian", host_key=HOST_KEY)
    create = bootstrap_command(vds, "ssh-ed25519 AAAAkey")
    assert 'sudo -n bash "$f"' in create, create
    assert create.endswith("provision.sh --deploy-user deploy --authorized-key 'ssh-ed25519 AAAAkey' --allow-ssh-user debian")
    assert "--allow-ssh-user" not in provision_command(vds, "ssh-ed25519 AAAAkey")


def test_commands_whose_stdin_carries_a_secret_keep_their_output_out_of_logs_and_state(prod):
    mocks, _, _ = prod
    commands = [r for r in mocks.resources if r.typ in ("command:remote:Command", "command:local:Command")]
    carrying = {r.name for r in commands if is_secret(r.inputs.get("stdin"))}
    assert carrying >= {"secrets-files", "database-role-password"}
    for registered in commands:
        if registered.name in carrying:
            assert registered.inputs.get("logging") == "none", registered.name
            assert set(registered.options["additionalSecretOutputs"]) >= {"stdout", "stderr"}, registered.name
    # the provisioning script is public: its output stays readable in the log
    assert mocks.named("server-provision").inputs.get("logging") is None


def test_every_container_and_the_migrations_get_the_same_process_limit(prod):
    from components.container import NPROC_LIMIT

    mocks, _, _ = prod
    for container in mocks.of_type("docker:index/container:Container"):
        assert container.inputs["ulimits"] == [{"name": "nproc", "soft": NPROC_LIMIT, "hard": NPROC_LIMIT}], container.name
    api = mocks.named("api-container")
    create = mocks.named("migrations-run").inputs["create"]
    limits = f"--nproc {NPROC_LIMIT} --memory {int(api.inputs['memory'])}m --cpus {api.inputs['cpus']} "
    assert f"run-migrations.sh {limits}" in create, (limits, create)
