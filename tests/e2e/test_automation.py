"""The real Pulumi engine: `up`, a converging `preview`, `destroy` of an ephemeral dev stack (Automation API).

Runs wherever the `pulumi` CLI is on PATH (it downloads the docker, command and random provider
plugins on first use); skips with that reason elsewhere. State goes to a local file backend in a temp
directory, with a passphrase made up by the test.
"""

from __future__ import annotations

import json
import shutil
import uuid

import pytest

from tests.e2e.devstack import REPO, free_port, remove_stack_leftovers, stack_config

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("pulumi") is None,
        reason="the Pulumi CLI is not on PATH (it can't be installed on this machine: its installer downloads from outside)",
    ),
]


def test_up_converges_and_destroys(real_parts, docker_client, tmp_path, monkeypatch):
    from pulumi import automation as auto

    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'state'}")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", uuid.uuid4().hex)
    (tmp_path / "state").mkdir()
    name = f"e2eauto{uuid.uuid4().hex[:6]}"
    stack = auto.create_stack(stack_name=name, work_dir=str(REPO))
    try:
        for key, value in stack_config("minimal", free_port()).items():
            stack.set_config(key, auto.ConfigValue(value=value), path=False)
        up = stack.up(on_output=print)
        assert up.summary.result == "succeeded"
        assert up.outputs["containers"].value["api"] == f"botstack-{name}-api"
        # A second run must converge: nothing to change right after `up`.
        preview = stack.preview(expect_no_changes=True, on_output=print)
        assert set(preview.change_summary) <= {"same"}, json.dumps(preview.change_summary)
        destroyed = stack.destroy(on_output=print)
        assert destroyed.summary.result == "succeeded"
    finally:
        stack.workspace.remove_stack(name, force=True)
        remove_stack_leftovers(docker_client, name)  # data volumes are retained on destroy by design
