#!/usr/bin/env python3
"""Roll a stack back to the app images of its previous successful deploy: `make rollback STACK=prod`.

Usage: python scripts/rollback.py [--dry-run] STACK

1. Reads the stack's update history (`pulumi stack history --json`: each update records the config it ran with).
2. Finds the newest successful update whose app images (`botstack:images` keys tag, backend, web) differ from
   those of the latest successful update: the images to go back to.
3. Sets those keys (`pulumi config set --path`, or `config rm --path` for a key that was unset then) and runs
   `scripts/pulumi-stack.sh up STACK`. The API and worker are replaced create-before-delete, so the old version
   serves until the previous one is healthy (docs/rollout.md); nothing else in the stack changes.

Commit the changed Pulumi.<stack>.yaml afterwards, so the next deploy starts from it. --dry-run prints the
commands. See docs/rollback.md (also for a rollback that has to undo a migration).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STACK_SH = REPO / "scripts" / "pulumi-stack.sh"
IMAGES_KEY = "botstack:images"
APP_IMAGE_KEYS = ("tag", "backend", "web")  # what selects the app images (repository goes with tag)


class RollbackError(Exception):
    pass


def app_images(update: Mapping[str, Any]) -> dict[str, str]:
    """The app image keys an update ran with, from its recorded config (an object value is stored as JSON)."""
    entry = (update.get("config") or {}).get(IMAGES_KEY)
    if not entry or "value" not in entry:
        return {}
    value = entry["value"]
    images = json.loads(value) if isinstance(value, str) else value
    if not isinstance(images, dict):
        raise RollbackError(f"{IMAGES_KEY} in the history is not an object: {value!r}")
    return {key: str(images[key]) for key in APP_IMAGE_KEYS if images.get(key) is not None}


def previous_images(history: Sequence[Mapping[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
    """(current, previous) app images: of the latest successful update and of the newest earlier one that differs.

    `history` is newest first, as `pulumi stack history --json` prints it."""
    deployed = [u for u in history if u.get("kind") == "update" and u.get("result") == "succeeded"]
    if not deployed:
        raise RollbackError("the stack has no successful update yet: nothing to roll back to")
    current = app_images(deployed[0])
    for update in deployed[1:]:
        earlier = app_images(update)
        if earlier != current:
            return current, earlier
    raise RollbackError(
        f"no earlier successful deploy ran other app images than {current or 'the ones built from app/'}; "
        "to go to a given tag: pulumi config set --path botstack:images.tag <tag>, then make up"
    )


def config_commands(stack: str, current: Mapping[str, str], previous: Mapping[str, str]) -> list[list[str]]:
    """The `pulumi config` commands that turn the current app image keys into the previous ones."""
    commands = []
    for key in APP_IMAGE_KEYS:
        if previous.get(key) == current.get(key):
            continue
        path = f"{IMAGES_KEY}.{key}"
        if key in previous:
            commands.append(["pulumi", "config", "set", "--stack", stack, "--path", path, previous[key]])
        else:
            commands.append(["pulumi", "config", "rm", "--stack", stack, "--path", path])
    return commands


def rollback_commands(stack: str, history: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Every command of a rollback, in order: re-point the config, then `up`."""
    current, previous = previous_images(history)
    return [*config_commands(stack, current, previous), [str(STACK_SH), "up", stack]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/rollback.py", description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")
    parser.add_argument("stack")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", args.stack):
        print(f"botstack: invalid stack name '{args.stack}'", file=sys.stderr)
        return 2
    try:
        listed = subprocess.run(
            ["pulumi", "stack", "history", "--stack", args.stack, "--json"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        print("botstack: the pulumi CLI is missing (https://www.pulumi.com/docs/install/)", file=sys.stderr)
        return 1
    if listed.returncode != 0:
        print(f"botstack: pulumi stack history failed:\n{listed.stderr.strip()}", file=sys.stderr)
        return 1
    try:
        commands = rollback_commands(args.stack, json.loads(listed.stdout or "[]"))
    except RollbackError as exc:
        print(f"botstack: {exc}", file=sys.stderr)
        return 1
    for command in commands:
        print("+ " + shlex.join(command), flush=True)
        if not args.dry_run:
            done = subprocess.run(command, cwd=REPO, check=False)
            if done.returncode != 0:
                return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
