"""Automation API scenarios for tests/e2e/test_engine.py, each run in a child process of its own.

Why a child process: an inline program makes the Automation API serve gRPC inside the calling process,
and the gRPC poller it leaves behind broke later tests' `ssh` subprocesses (the prod suite's docker over
ssh:// failed with "Broken pipe" whenever this ran first in the same pytest process).

usage: python -m tests.e2e.engine_programs SCENARIO   (settings in BOTSTACK_ENGINE_TEST_* variables)
Prints one JSON object, the scenario's observations, as its last line of stdout.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

from tests.engine import REPO


def _settings() -> tuple[Path, Path, dict[str, str]]:
    cli_dir = Path(os.environ["BOTSTACK_ENGINE_TEST_CLI_DIR"])
    work = Path(os.environ["BOTSTACK_ENGINE_TEST_WORK"])
    env = json.loads(os.environ["BOTSTACK_ENGINE_TEST_ENV"])
    return cli_dir, work, env


def _stack(program, name: str):
    from pulumi import automation as auto

    cli_dir, work, env = _settings()
    command = auto.PulumiCommand(root=str(cli_dir.parent), skip_version_check=True)
    opts = auto.LocalWorkspaceOptions(work_dir=str(work), env_vars=env, pulumi_command=command)
    return auto.create_stack(stack_name=name, project_name="botstack", program=program, opts=opts)


def _cli_export(stack_name: str) -> str:
    """`pulumi stack export` as a user runs it: without --show-secrets (the Automation API adds it)."""
    cli_dir, work, env = _settings()
    result = subprocess.run([str(cli_dir / "pulumi"), "stack", "export", "--stack", stack_name], cwd=work,
                            env={**os.environ, **env}, capture_output=True, text=True, check=True)
    return result.stdout


def secrets() -> dict:
    import pulumi
    from pulumi import automation as auto

    config_secret = os.environ["BOTSTACK_ENGINE_TEST_CONFIG_SECRET"]
    output_secret = os.environ["BOTSTACK_ENGINE_TEST_OUTPUT_SECRET"]

    def program() -> None:
        config = pulumi.Config("botstack")
        pulumi.export("fromConfig", config.require_secret("botToken"))
        pulumi.export("generated", pulumi.Output.secret(output_secret))
        pulumi.export("plain", "visible")

    stack = _stack(program, "e2e")
    stack.set_config("botstack:botToken", auto.ConfigValue(value=config_secret, secret=True))
    up = stack.up()
    preview = stack.preview(expect_no_changes=True)
    exported = _cli_export("e2e")
    destroyed = stack.destroy()
    return {
        "up": up.summary.result,
        "outputs": {k: {"value": v.value, "secret": v.secret} for k, v in up.outputs.items()},
        "preview": {str(getattr(k, "value", k)): n for k, n in preview.change_summary.items()},
        "exported": exported,
        "destroy": destroyed.summary.result,
    }


def bad_config() -> dict:
    from pulumi import automation as auto

    stack = _stack(lambda: runpy.run_path(str(REPO / "__main__.py")), "dev")
    stack.set_config("botstack:profile", auto.ConfigValue(value="full"))  # full needs botstack:botToken
    try:
        stack.up()
    except auto.CommandError as failure:
        error = str(failure)
    else:
        error = ""
    resources = json.loads(_cli_export("dev"))["deployment"].get("resources") or []
    return {"error": error, "types": sorted({r["type"] for r in resources})}


SCENARIOS = {"secrets": secrets, "bad-config": bad_config}

if __name__ == "__main__":
    print(json.dumps(SCENARIOS[sys.argv[1]]()))
