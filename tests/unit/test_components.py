"""Each component alone under the mock runtime: its type token, its children, parenting and outputs."""

from __future__ import annotations

import base64

import pytest

from components.app_service import AppService, AppServiceArgs
from components.cache import Cache, CacheArgs
from components.catalogue import API, BOT, CACHE, WORKER, Service
from components.commands import Target
from components.config_loading import validate
from components.database import Database, DatabaseArgs, alter_role_sql, scram_verifier
from components.deploy_check import DeployCheck, DeployCheckArgs
from components.images import Images, ImagesArgs
from components.migrations import Migrations, MigrationsArgs
from components.naming import Naming
from components.network import StackNetwork, StackNetworkArgs
from components.secrets import Secrets, SecretsArgs, redis_conf
from components.stack import secrets_args as stack_secrets_args
from components.web import Entrypoint, WebFrontend, WebFrontendArgs
from tests.unit.conftest import BOT_TOKEN
from tests.unit.harness import config_entries, declare, is_secret, unwrap

NAMING = Naming("botstack", "dev")
TARGET = Target(scripts_dir="/repo/server", secrets_dir="/repo/.botstack/dev/secrets")
CONFIG = validate("dev", {})
FULL = validate("dev", config_entries({"profile": "full", "botToken": BOT_TOKEN}))
PATHS = {k: f"{TARGET.secrets_dir}/{k}" for k in ("database_url", "redis_url", "jwt_secret", "bot_token")}


def app_service(service: Service, config=CONFIG, environment=None) -> AppService:
    args = AppServiceArgs(
        service,
        NAMING,
        "sha256:backend",
        {"backend": "backend-net", "edge": "edge-net"},
        {name: PATHS[name] for name in service.secrets},
        "rev-1",
        config.resources_for(service.name),
        config.logging,
        environment=environment or {},
    )
    return AppService(service.name, args)


def secrets_args(config) -> SecretsArgs:
    return stack_secrets_args(config, TARGET)


def only_children_of(mocks, token: str, name: str) -> list:
    (component,) = [r for r in mocks.resources if r.typ == token]
    assert component.name == name
    children = [r for r in mocks.resources if r.custom]
    for child in children:
        assert child.options["parent"].endswith(f"{token}::{name}"), f"{child.name} is not parented to {name}"
        assert child.name.startswith(f"{name}-"), f"{child.name}: child names derive from the component's"
    return children


CASES = {
    "database": (
        "botstack:components:Database",
        lambda: Database(
            "database",
            DatabaseArgs(
                NAMING,
                "sha256:pg",
                "backend-net",
                CONFIG.database,
                "pw-0123456789",
                "/s/db_password",
                "rev",
                TARGET,
                CONFIG.resources_for("database"),
                CONFIG.logging,
            ),
        ),
        {"database-data", "database-container", "database-role-password", "database-scram-salt"},
    ),
    "cache": (
        "botstack:components:Cache",
        lambda: Cache(
            "cache",
            CacheArgs(
                NAMING,
                "sha256:redis",
                "backend-net",
                {"redis.conf": "/s/redis.conf", "redis_password": "/s/redis_password"},
                "rev",
                CONFIG.resources_for(CACHE.name),
                CONFIG.logging,
            ),
        ),
        {"cache-data", "cache-container"},
    ),
    "api": ("botstack:components:ApiService", lambda: app_service(API), {"api-container"}),
    "worker": ("botstack:components:WorkerService", lambda: app_service(WORKER), {"worker-container"}),
    "bot": (
        "botstack:components:BotService",
        lambda: app_service(BOT, FULL, {"TELEGRAM_API_URL": FULL.telegram_api_url, "API_URL": "http://api:8000"}),
        {"bot-lock", "bot-container"},
    ),
    "web": (
        "botstack:components:WebFrontend",
        lambda: WebFrontend(
            "web",
            WebFrontendArgs(
                NAMING,
                "sha256:web",
                "edge-net",
                Entrypoint.of(CONFIG),
                CONFIG.proxy,
                CONFIG.resources_for("web"),
                CONFIG.logging,
            ),
        ),
        {"web-data", "web-container"},
    ),
    "network": (
        "botstack:components:StackNetwork",
        lambda: StackNetwork("network", StackNetworkArgs(NAMING)),
        {"network-backend", "network-edge"},
    ),
    "images": (
        "botstack:components:Images",
        lambda: Images("images", ImagesArgs(CONFIG.images, NAMING)),
        {"images-backend", "images-web", "images-postgres", "images-redis"},
    ),
    "secrets": (
        "botstack:components:Secrets",
        lambda: Secrets("secrets", secrets_args(FULL)),
        {"secrets-db-password", "secrets-redis-password", "secrets-jwt-secret", "secrets-files"},
    ),
    "migrations": (
        "botstack:components:Migrations",
        lambda: Migrations("migrations", MigrationsArgs(TARGET, "sha256:backend", "backend-net")),
        {"migrations-run"},
    ),
    "deploy-check": (
        "botstack:components:DeployCheck",
        lambda: DeployCheck("deploy-check", DeployCheckArgs("http://127.0.0.1:8080/api/health", 60, TARGET, ["id-1"])),
        {"deploy-check-http"},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_component_declares_parented_children(case):
    token, build, expected = CASES[case]
    mocks, _ = declare(build)
    children = only_children_of(mocks, token, case)
    assert {c.name for c in children} == expected


def test_database_container_inputs():
    mocks, database = declare(CASES["database"][1])
    container = mocks.named("database-container").inputs
    assert container["image"] == "sha256:pg"
    assert container["user"] == "999:999"
    assert "POSTGRES_PASSWORD_FILE=/run/secrets/db_password" in container["envs"]
    assert not any(e.startswith("POSTGRES_PASSWORD=") for e in container["envs"])
    assert {"hostPath": "/s/db_password", "containerPath": "/run/secrets/db_password", "readOnly": True} in container["volumes"]
    assert container["healthcheck"]["tests"] == ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "botstack", "-d", "botstack"]
    assert container["networksAdvanced"] == [{"name": "backend-net", "aliases": ["db"]}]
    assert "/var/run/postgresql" in container["tmpfs"]
    assert container["destroyGraceSeconds"] == 60


def test_a_rotated_database_password_is_set_on_the_role():
    mocks, _ = declare(CASES["database"][1])
    command = mocks.named("database-role-password")
    assert command.inputs["create"] == (
        "docker exec -i botstack-dev-database psql -X -q -v ON_ERROR_STOP=1 -U botstack -d botstack"
    )
    assert is_secret(command.inputs["stdin"])
    sql = unwrap(command.inputs["stdin"])
    salt = base64.b64decode(sql.split("$")[1].split(":")[1])  # the verifier's own salt: SCRAM-SHA-256$4096:<salt>$...
    assert len(salt) == 24 and mocks.named("database-scram-salt").inputs["length"] == 24
    assert sql == f"ALTER ROLE \"botstack\" WITH PASSWORD '{scram_verifier('pw-0123456789', salt)}';\n"
    assert "pw-0123456789" not in sql, "the clear password never reaches PostgreSQL"
    assert unwrap(command.inputs["triggers"]) == ["pw-0123456789"]
    assert "pw-0123456789" not in command.inputs["create"]
    assert "database-container" in " ".join(command.options["dependencies"])


def test_alter_role_sql_quotes():
    assert alter_role_sql('we"ird', "it's") == "ALTER ROLE \"we\"\"ird\" WITH PASSWORD 'it''s';\n"


def test_cache_reads_its_password_from_a_file():
    mocks, _ = declare(CASES["cache"][1])
    container = mocks.named("cache-container").inputs
    assert container["command"] == ["redis-server", "/run/secrets/redis.conf"]
    assert container["healthcheck"]["tests"][0] == "CMD-SHELL"
    assert "cat /run/secrets/redis_password" in container["healthcheck"]["tests"][1]
    assert redis_conf("pw").splitlines()[0] == "requirepass pw"


def test_bot_gets_its_token_as_a_file_and_the_bot_api_url():
    mocks, _ = declare(CASES["bot"][1])
    container = mocks.named("bot-container").inputs
    assert "BOT_TOKEN_FILE=/run/secrets/bot_token" in container["envs"]
    assert "TELEGRAM_API_URL=https://api.telegram.org" in container["envs"]
    assert BOT_TOKEN not in repr(container)


def test_web_environment_and_dev_port():
    mocks, web = declare(CASES["web"][1])
    container = mocks.named("web-container").inputs
    assert "SITE_ADDRESS=:80" in container["envs"]
    assert "API_UPSTREAM=api:8000" in container["envs"]
    assert "LB_TRY_DURATION=30s" in container["envs"] and "LB_TRY_INTERVAL=250ms" in container["envs"]
    assert container["ports"] == [{"internal": 80, "external": 8080, "ip": "127.0.0.1", "protocol": "tcp"}]
    assert web.public_url == "http://127.0.0.1:8080"


def test_images_build_from_the_repo_by_default():
    mocks, _ = declare(CASES["images"][1])
    backend = mocks.named("images-backend").inputs
    assert backend["build"]["context"] == "app/backend"
    assert backend["build"]["dockerfile"] == "app/backend/Dockerfile"
    assert backend["build"]["args"] == {"PYTHON_IMAGE": "python:3.11-slim-bookworm"}
    assert backend["skipPush"] is True and backend["imageName"] == "botstack/backend:dev"
    assert mocks.named("images-web").inputs["build"]["args"] == {"CADDY_IMAGE": "caddy:2.8"}
    assert mocks.named("images-postgres").inputs["name"] == "postgres:16-bookworm"


def test_secrets_generate_what_is_unset_and_write_files_from_stdin():
    mocks, secrets = declare(CASES["secrets"][1])
    passwords = mocks.of_type("random:index/randomPassword:RandomPassword")
    assert all(p.inputs["special"] is False and p.inputs["length"] >= 32 for p in passwords)
    writer = mocks.named("secrets-files")
    assert writer.inputs["create"] == "bash /repo/server/write-secrets.sh /repo/.botstack/dev/secrets"
    assert is_secret(writer.inputs["stdin"])
    lines = unwrap(writer.inputs["stdin"]).splitlines()
    assert sorted(line.split("\t")[0] for line in lines) == sorted(secrets.paths)
    assert set(secrets.paths) == {
        "bot_token",
        "database_url",
        "db_password",
        "jwt_secret",
        "redis.conf",
        "redis_password",
        "redis_url",
    }


def test_given_secrets_are_used_not_generated():
    config = validate("dev", config_entries({"dbPassword": "a-given-password-1", "redisPassword": "another-given-pw-2"}))
    mocks, _ = declare(lambda: Secrets("secrets", secrets_args(config)))
    assert [p.name for p in mocks.of_type("random:index/randomPassword:RandomPassword")] == ["secrets-jwt-secret"]
    assert "a-given-password-1" in pulumi_b64_decoded(unwrap(mocks.named("secrets-files").inputs["stdin"]))


def pulumi_b64_decoded(payload: str) -> str:
    import base64

    return "\n".join(base64.b64decode(line.split("\t")[1]).decode() for line in payload.splitlines())


def test_migrations_run_once_per_image():
    mocks, _ = declare(CASES["migrations"][1])
    run = mocks.named("migrations-run").inputs
    assert run["create"] == (
        "bash /repo/server/run-migrations.sh --nproc 1024 sha256:backend backend-net /repo/.botstack/dev/secrets"
    )
    assert run["triggers"] == ["sha256:backend"]


def test_remote_target_uses_sudo_and_the_connection():
    import pulumi_command as command

    remote = Target("/home/deploy/botstack/server", "/etc/botstack/secrets", command.remote.ConnectionArgs(host="h"), sudo=True)
    mocks, _ = declare(lambda: Migrations("migrations", MigrationsArgs(remote, "sha256:b", "net")))
    run = mocks.named("migrations-run")
    assert run.typ == "command:remote:Command"
    assert run.inputs["create"].startswith("sudo bash /home/deploy/botstack/server/run-migrations.sh --nproc 1024 sha256:b net ")


def test_component_outputs_are_registered():
    mocks, _ = declare(CASES["database"][1])
    registered = mocks.outputs_of("database")
    assert registered == {
        "containerName": "botstack-dev-database",
        "volumeName": "botstack-dev-database-data",
    }
    mocks, _ = declare(CASES["deploy-check"][1])
    assert mocks.outputs_of("deploy-check") == {"url": "http://127.0.0.1:8080/api/health"}
