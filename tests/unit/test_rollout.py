"""How each app service is replaced (docs/rollout.md), read off the registered resource options."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from tests.unit.conftest import BOT_TOKEN
from tests.unit.harness import OptionRecordingMonitor, RecordingMocks, _resolve, config_entries

CONTAINER = "docker:index/container:Container"


class DeleteBeforeReplaceMonitor(OptionRecordingMonitor):
    """Also records whether the program set delete_before_replace at all (False and unset differ to the engine)."""

    defined: dict[str, bool | None]

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method's name
        self.defined[request.name] = bool(request.deleteBeforeReplace) if request.deleteBeforeReplaceDefined else None
        return super().RegisterResource(request)


@pytest.fixture(scope="module")
def full_dev(tmp_path_factory) -> tuple[RecordingMocks, dict[str, bool | None]]:
    import components.placement as stack_module
    from components.config_loading import load_config
    from components.stack import build_stack

    original = stack_module.REPO_ROOT
    stack_module.REPO_ROOT = tmp_path_factory.mktemp("rollout")
    mocks = RecordingMocks()
    monitor = DeleteBeforeReplaceMonitor(mocks)
    monitor.defined = {}
    try:
        pulumi.runtime.set_mocks(mocks, project="botstack", stack="dev", preview=False, monitor=monitor)
        pulumi.runtime.set_all_config(
            config_entries({"profile": "full", "botToken": BOT_TOKEN}), secret_keys=["botstack:botToken"]
        )
        _resolve(build_stack(load_config(), "botstack", "dev"))
    finally:
        stack_module.REPO_ROOT = original
    return mocks, monitor.defined


def service_of(inputs: dict[str, Any]) -> str:
    return next(item["value"] for item in inputs["labels"] if item["label"] == "botstack.service")


@pytest.mark.parametrize("service", ["api", "worker", "bot"])
def test_app_services_start_their_replacement_before_the_old_one_stops(full_dev, service):
    mocks, defined = full_dev
    (container,) = [r for r in mocks.of_type(CONTAINER) if service_of(r.inputs) == service]
    assert defined[container.name] is False  # explicitly create-before-delete
    assert "name" not in container.inputs  # two exist during an update: the provider names each one
    assert "ports" not in container.inputs  # and neither may hold a host port the other needs
    assert container.inputs["wait"] is True  # the replacement is healthy before anything after it runs


def test_the_api_is_reached_by_its_alias_on_both_networks(full_dev):
    mocks, _ = full_dev
    (api,) = [r for r in mocks.of_type(CONTAINER) if service_of(r.inputs) == "api"]
    assert [net["aliases"] for net in api.inputs["networksAdvanced"]] == [["api"], ["api"]]
    assert api.inputs["destroyGraceSeconds"] >= 30  # time to drain in-flight requests


def test_the_bot_polls_only_while_it_holds_the_lock_on_a_volume_every_bot_container_mounts(full_dev):
    """The replacement bot is a standby until the old one has stopped polling (app/backend/botstack_app/bot.py): both
    mount the same volume at the directory the app locks, on the one engine, so their locks exclude each other."""
    mocks, _ = full_dev
    (bot,) = [r for r in mocks.of_type(CONTAINER) if service_of(r.inputs) == "bot"]
    (lock,) = [r for r in mocks.of_type("docker:index/volume:Volume") if r.name == "bot-lock"]
    assert lock.inputs["name"] == "botstack-dev-bot-lock"
    assert lock.inputs["labels"] == [{"label": "botstack.stack", "value": "dev"}]
    assert not lock.options.get("retainOnDelete") and not lock.options.get("protect")  # no data: destroy removes it
    assert {"volumeName": "botstack-dev-bot-lock", "containerPath": "/run/poller-lock"} in bot.inputs["volumes"]
    assert "POLLER_LOCK_DIR=/run/poller-lock" in bot.inputs["envs"]
    others = [r for r in mocks.of_type(CONTAINER) if service_of(r.inputs) != "bot"]
    assert not [r for r in others if any(e.startswith("POLLER_LOCK_DIR=") for e in r.inputs.get("envs") or [])]


@pytest.mark.parametrize("service", ["database", "cache", "web"])
def test_the_others_keep_stop_then_start_and_a_fixed_name(full_dev, service):
    mocks, defined = full_dev
    (container,) = [r for r in mocks.of_type(CONTAINER) if service_of(r.inputs) == service]
    assert defined[container.name] is None  # the provider's delete-before-replace stands
    assert container.inputs["name"] == f"botstack-dev-{service}"


def test_the_bot_and_web_wait_for_nothing_they_do_not_use(full_dev):
    """The bot's replacement starts at once, beside the migrations, because the bot reads neither the database nor
    Redis. Web finds the API per request, so an apply starts it beside the API."""
    mocks, _ = full_dev
    containers = {service_of(r.inputs): r for r in mocks.of_type(CONTAINER)}
    waits_for = {service: " ".join(r.options["dependencies"]) for service, r in containers.items()}
    for used_elsewhere in ("migrations-run", "database-container", "cache-container", "api-container"):
        assert used_elsewhere not in waits_for["bot"]
        assert used_elsewhere not in waits_for["web"]
    assert "migrations-run" in waits_for["api"] and "migrations-run" in waits_for["worker"]
