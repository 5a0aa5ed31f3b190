"""The double's engine part, with the providers replaced by an in-memory fake: no Docker, no network.

What the real engine does (pulumi/pulumi pkg/resource/deploy, provider-semantics §0.3):
- a replacement is delete-before-replace when the provider says so (every docker Container; a Network or
  Volume with an explicit name), unless the program set `delete_before_replace` (True or False), which wins;
- otherwise (create-before-delete) the replacement is created first, every other step of the update runs
  (dependents see the new outputs and are updated or replaced), and the old resource is deleted last;
- resources with no dependency between them are applied in parallel; a resource waits for its dependencies.
"""

from __future__ import annotations

import threading
import time

import pulumi
import pulumi_command as command
import pulumi_docker as docker
import pytest

from tests.double import DoubleError, RealMocks, run_program
from tests.double.mappings import CONTAINER

STEP_SECONDS = 0.3  # how long each fake provider call takes: long enough to see overlap


class FakeProviders(RealMocks):
    """RealMocks with the provider calls faked: each call is logged and takes STEP_SECONDS; container names are
    unique like Docker's (creating a second container with a name in use fails as the Engine API does)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, str]] = []  # (call, resource name, id)
        self.names_in_use: set[str] = set()
        self._ids = 0
        self._calls_lock = threading.Lock()

    def _next_id(self) -> str:
        with self._calls_lock:
            self._ids += 1
            return f"id{self._ids}"

    def _do_create(self, typ, name, inputs, provider, urn):
        time.sleep(STEP_SECONDS)
        rid = self._next_id()
        if typ == CONTAINER:
            docker_name = inputs.get("name") or f"{name}-{rid}"
            with self._calls_lock:
                if docker_name in self.names_in_use:
                    raise DoubleError(
                        f'Unable to create container: Conflict. The container name "/{docker_name}" is already in use'
                    )
                self.names_in_use.add(docker_name)
            outputs = {**inputs, "name": docker_name}
        else:
            outputs = dict(inputs)
        with self._calls_lock:
            self.calls.append(("create", name, rid))
        return rid, outputs

    def _do_update(self, old, inputs, kind):
        time.sleep(STEP_SECONDS)
        with self._calls_lock:
            self.calls.append(("update", old.name, old.id))
        return dict(inputs)

    def _do_delete(self, entry):
        time.sleep(STEP_SECONDS)
        with self._calls_lock:
            self.names_in_use.discard(entry.outputs.get("name", ""))
            self.calls.append(("delete", entry.name, entry.id))


def app(image: str, **opts) -> docker.Container:
    return docker.Container("app", image=image, opts=pulumi.ResourceOptions(**opts))


def calls_of(mocks: FakeProviders, start: int) -> list[tuple[str, str]]:
    return [(call, name) for call, name, _ in mocks.calls[start:]]


def test_a_container_is_replaced_delete_first_by_default():
    mocks = FakeProviders()
    run_program(lambda: app("img:1"), mocks=mocks)
    before = len(mocks.calls)
    run_program(lambda: app("img:2"), mocks=mocks)
    assert calls_of(mocks, before) == [("delete", "app"), ("create", "app")]


def test_delete_before_replace_false_creates_first_and_deletes_the_old_one_last():
    mocks = FakeProviders()

    def program(image: str) -> None:
        container = app(image, delete_before_replace=False)
        # A dependent: re-runs (create-before-delete, as commands are replaced) when the container's id changes.
        command.local.Command("check", create="true", triggers=[container.id])

    run_program(lambda: program("img:1"), mocks=mocks)
    old_id = mocks.entry(CONTAINER, "app").id
    before = len(mocks.calls)
    run_program(lambda: program("img:2"), mocks=mocks)
    steps = mocks.calls[before:]
    assert [(c, n) for c, n, _ in steps] == [
        ("create", "app"),  # the replacement first
        ("create", "check"),  # then the dependents, which see the new id
        ("delete", "check"),  # then the delete phase: the old dependent, then the old container
        ("delete", "app"),
    ]
    assert steps[-1][2] == old_id
    assert mocks.entry(CONTAINER, "app").id != old_id
    assert ("replaced", CONTAINER, "app") in mocks.actions()


def test_create_before_delete_with_a_fixed_name_fails_like_docker():
    mocks = FakeProviders()
    run_program(
        lambda: docker.Container("app", image="img:1", name="fixed", opts=pulumi.ResourceOptions(delete_before_replace=False)),
        mocks=mocks,
    )
    with pytest.raises(Exception, match='name "/fixed" is already in use'):
        run_program(
            lambda: docker.Container(
                "app", image="img:2", name="fixed", opts=pulumi.ResourceOptions(delete_before_replace=False)
            ),
            mocks=mocks,
        )


def test_an_explicit_delete_before_replace_wins_over_the_provider_default():
    mocks = FakeProviders()

    def program(label: str) -> None:
        # An unnamed network is create-before-delete by default; the program asks for delete first.
        docker.Network(
            "net",
            labels=[docker.NetworkLabelArgs(label="v", value=label)],
            opts=pulumi.ResourceOptions(delete_before_replace=True),
        )

    run_program(lambda: program("1"), mocks=mocks)
    before = len(mocks.calls)
    run_program(lambda: program("2"), mocks=mocks)
    assert calls_of(mocks, before) == [("delete", "net"), ("create", "net")]


def test_an_unnamed_network_without_options_is_created_first():
    mocks = FakeProviders()
    run_program(lambda: docker.Network("net", driver="bridge"), mocks=mocks)
    before = len(mocks.calls)
    run_program(lambda: docker.Network("net", driver="other"), mocks=mocks)
    assert calls_of(mocks, before) == [("create", "net"), ("delete", "net")]


def test_independent_resources_run_in_parallel_and_dependents_wait():
    mocks = FakeProviders()

    def program() -> None:
        a = docker.Container("a", image="img")
        b = docker.Container("b", image="img")
        docker.Container("after-a", image=a.id.apply(lambda _: "img"))
        docker.Container("after-both", image="img", opts=pulumi.ResourceOptions(depends_on=[a, b]))

    run_program(program, mocks=mocks)
    spans = {line.name: (line.started, line.finished) for line in mocks.log}
    assert spans["a"][0] < spans["b"][1] and spans["b"][0] < spans["a"][1], "a and b overlap"
    assert spans["after-a"][0] >= spans["a"][1]
    assert spans["after-both"][0] >= max(spans["a"][1], spans["b"][1])


def test_the_delete_phase_deletes_dependents_first_and_independent_ones_in_parallel():
    mocks = FakeProviders()

    def program(image: str) -> None:
        api = app(image, delete_before_replace=False)
        docker.Container("worker", image=image, opts=pulumi.ResourceOptions(delete_before_replace=False))
        command.local.Command("check", create="true", triggers=[api.id])

    run_program(lambda: program("img:1"), mocks=mocks)
    before = len(mocks.log)
    run_program(lambda: program("img:2"), mocks=mocks)
    deleted = {line.name: line for line in mocks.log[before:] if line.action == "deleted"}
    assert set(deleted) == {"app", "worker", "check"}
    # check depends on app: deleted before it; worker depends on neither: deleted alongside check
    assert deleted["check"].finished <= deleted["app"].started
    assert deleted["worker"].started < deleted["check"].finished and deleted["check"].started < deleted["worker"].finished
