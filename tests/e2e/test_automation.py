"""The whole program on the real Pulumi engine: `up`, a converging `preview`, `destroy` of a dev stack.

Runs the project's `__main__.py` as an inline Automation API program on the pinned CLI (so no Python
language host is needed) wherever the provider plugins the SDKs ask for are installed: docker,
command and random at the versions in their wheels' pulumi-plugin.json. The Go module proxy of the
machines this project is built on serves none of them (docs/engine.md), so here it skips with that
reason, and the CI allow-list in tests/conftest.py names it.
"""

from __future__ import annotations

import json
import runpy
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.e2e.devstack import REPO, free_port, remove_stack_leftovers, stack_config
from tests.engine import pinned_cli_dir

pytestmark = pytest.mark.e2e


def required_plugins() -> set[tuple[str, str]]:
    """(name, version) of each resource plugin the installed provider SDKs ask for."""
    import pulumi_command
    import pulumi_docker
    import pulumi_random

    wanted = set()
    for module in (pulumi_docker, pulumi_command, pulumi_random):
        meta = json.loads((Path(module.__file__).parent / "pulumi-plugin.json").read_text())
        wanted.add((meta["name"], meta["version"]))
    return wanted


def missing_plugins(cli: Path) -> set[tuple[str, str]]:
    listed = subprocess.run([str(cli), "plugin", "ls", "--json"], capture_output=True, text=True, check=True)
    have = {(p["name"], p["version"]) for p in json.loads(listed.stdout or "[]") if p.get("kind") == "resource"}
    return required_plugins() - have


def test_up_converges_and_destroys(real_parts, docker_client, tmp_path, monkeypatch):
    from pulumi import automation as auto

    bin_dir = pinned_cli_dir()
    missing = missing_plugins(bin_dir / "pulumi")
    if missing:
        names = ", ".join(f"{n} {v}" for n, v in sorted(missing))
        pytest.skip(f"the provider plugins {names} are not installed (not buildable here: docs/engine.md)")

    (tmp_path / "state").mkdir()
    env = {
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": uuid.uuid4().hex,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    name = f"e2eauto{uuid.uuid4().hex[:6]}"
    stack = auto.create_stack(
        stack_name=name,
        project_name="botstack",
        program=lambda: runpy.run_path(str(REPO / "__main__.py")),
        opts=auto.LocalWorkspaceOptions(
            work_dir=str(tmp_path), env_vars=env, pulumi_command=auto.PulumiCommand(root=str(bin_dir.parent))
        ),
    )
    try:
        for key, value in stack_config("minimal", free_port()).items():
            stack.set_config(key, auto.ConfigValue(value=value), path=False)
        up = stack.up(on_output=print)
        assert up.summary.result == "succeeded"
        api = docker_client.containers.get(up.outputs["containers"].value["api"])  # a generated name (start-first)
        assert api.labels["botstack.stack"] == name and api.labels["botstack.service"] == "api"
        # A second run must converge: nothing to change right after `up`.
        preview = stack.preview(expect_no_changes=True, on_output=print)
        assert set(preview.change_summary) <= {"same"}, json.dumps(preview.change_summary)
        destroyed = stack.destroy(on_output=print)
        assert destroyed.summary.result == "succeeded"
    finally:
        stack.workspace.remove_stack(name, force=True)
        remove_stack_leftovers(docker_client, name)  # data volumes are retained on destroy by design
