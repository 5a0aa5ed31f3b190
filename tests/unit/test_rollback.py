"""scripts/rollback.py (`make rollback STACK=...`): which images it goes back to, and the commands it runs.

The Pulumi CLI is not installable here: a stand-in `pulumi` prints a recorded history and logs its calls.
The rollback's apply itself (under load, through the double) is tests/e2e/test_updates.py::test_rollback_*.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.rollback import RollbackError, config_commands, previous_images, rollback_commands

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "rollback.py"


def update(images: dict[str, str] | None, result: str = "succeeded", kind: str = "update") -> dict:
    """One entry of `pulumi stack history --json` (an object config value is stored as its JSON text)."""
    config = {"botstack:profile": {"value": "full", "secret": False}}
    if images is not None:
        config["botstack:images"] = {"value": json.dumps(images), "secret": False, "object": True}
    return {"kind": kind, "result": result, "config": config, "version": 1}


def test_previous_images_skip_failures_previews_and_equal_deploys():
    history = [  # newest first
        update({"repository": "ghcr.io/a/b", "tag": "sha-3"}),
        update({"repository": "ghcr.io/a/b", "tag": "sha-9"}, result="failed"),
        update({"repository": "ghcr.io/a/b", "tag": "sha-8"}, kind="preview"),
        update({"repository": "ghcr.io/a/b", "tag": "sha-3"}),  # a redeploy of the same images
        update({"repository": "ghcr.io/a/b", "tag": "sha-2"}),
        update({"repository": "ghcr.io/a/b", "tag": "sha-1"}),
    ]
    assert previous_images(history) == ({"tag": "sha-3"}, {"tag": "sha-2"})


def test_explicit_references_and_unset_keys():
    history = [update({"backend": "acme/backend:v2"}), update({"backend": "acme/backend:v1", "web": "acme/web:v1"})]
    current, previous = previous_images(history)
    assert config_commands("dev", current, previous) == [
        ["pulumi", "config", "set", "--stack", "dev", "--path", "botstack:images.backend", "acme/backend:v1"],
        ["pulumi", "config", "set", "--stack", "dev", "--path", "botstack:images.web", "acme/web:v1"],
    ]
    assert config_commands("dev", previous, current) == [
        ["pulumi", "config", "set", "--stack", "dev", "--path", "botstack:images.backend", "acme/backend:v2"],
        ["pulumi", "config", "rm", "--stack", "dev", "--path", "botstack:images.web"],
    ]


def test_nothing_to_roll_back_to_is_an_error():
    with pytest.raises(RollbackError, match="no successful update yet"):
        previous_images([update({"tag": "sha-1"}, result="failed")])
    with pytest.raises(RollbackError, match="no earlier successful deploy ran other app images"):
        previous_images([update(None), update(None)])


def test_the_commands_end_with_up():
    commands = rollback_commands("prod", [update({"tag": "sha-2"}), update({"tag": "sha-1"})])
    assert commands[-1] == [str(REPO / "scripts" / "pulumi-stack.sh"), "up", "prod"]
    assert commands[:-1] == [["pulumi", "config", "set", "--stack", "prod", "--path", "botstack:images.tag", "sha-1"]]


def fake_pulumi(tmp_path: Path, history: list[dict]) -> dict[str, str]:
    (tmp_path / "history.json").write_text(json.dumps(history))
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "pulumi $*" >> "{tmp_path}/calls"\ncat "{tmp_path}/history.json"\n')
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}


def test_the_command_line_reads_the_history_and_prints_what_it_runs(tmp_path):
    env = fake_pulumi(
        tmp_path, [update({"repository": "ghcr.io/a/b", "tag": "sha-2"}), update({"repository": "ghcr.io/a/b", "tag": "sha-1"})]
    )
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "prod"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "calls").read_text() == "pulumi stack history --stack prod --json\n"
    assert done.stdout.splitlines() == [
        "+ pulumi config set --stack prod --path botstack:images.tag sha-1",
        f"+ {REPO / 'scripts' / 'pulumi-stack.sh'} up prod",
    ]


def test_the_command_line_refuses_a_bad_stack_and_explains_an_empty_history(tmp_path):
    env = fake_pulumi(tmp_path, [])
    bad = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "x;reboot"], env=env, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2 and "invalid stack name" in bad.stderr
    empty = subprocess.run([sys.executable, str(SCRIPT), "prod"], env=env, capture_output=True, text=True, check=False)
    assert empty.returncode == 1 and "no successful update yet" in empty.stderr
