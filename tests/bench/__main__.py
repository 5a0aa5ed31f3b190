"""`python -m tests.bench` (`make bench`): deploys and backups measured side by side, printed as one markdown table.

Runs on the real Docker engine the e2e tests use (tests.setup makes it and the images); not part of `make test`.
Needs Debian's docker-compose 1.29 for the baseline (`apt-get install -y docker-compose`) and matplotlib for the
chart (`.venv/bin/pip install -r tests/bench/requirements.txt`). Loopback only; the load is bounded (2 threads, at
most 20,000 requests and 240 s per update). Takes about 5-8 minutes. Draws docs/bench-updates.png.

  --rows N      rows in each of the two tables of the seeded database (default 1,000,000)
  --only PART   run one part: updates | backup | images
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import docker

from tests.bench import chart
from tests.bench.backup import BackupRun, run_backup
from tests.bench.backup import table_rows as backup_table_rows
from tests.bench.load import LoadResult
from tests.bench.updates import (
    BenchError,
    UpdateRun,
    apply_botstack,
    apply_compose,
    backend_revisions,
    compose_binary,
    remove_backend_revisions,
    run_botstack,
    run_compose,
)
from tests.setup import BACKEND_IMAGE, CADDY_IMAGE, PYTHON_IMAGE, WEB_IMAGE, ensure_all, image_sizes

CHART = Path(__file__).resolve().parents[2] / "docs" / "bench-updates.png"
APP_IMAGE_BASES = {BACKEND_IMAGE: PYTHON_IMAGE, WEB_IMAGE: CADDY_IMAGE}  # each app image is built FROM its base


def machine() -> str:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    memory_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    docker_version = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, check=False
    ).stdout.strip()
    compose = subprocess.run(["docker-compose", "version", "--short"], capture_output=True, text=True, check=False)
    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {memory_kb / 1024 / 1024:.1f} GiB memory, "
        f"{platform.system()} {platform.release()}, Docker Engine {docker_version}, "
        f"docker-compose {compose.stdout.strip() or 'absent'}, Python {platform.python_version()}"
    )


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def failed(run: UpdateRun) -> str:
    assert run.load is not None
    return f"{len(run.load.failed)} of {run.load.total}"


def worst_added(run: UpdateRun) -> str:
    assert run.load is not None
    return f"{run.load.worst_added:.2f} s (median before {run.load.baseline * 1000:.0f} ms)"


def table(botstack: UpdateRun | None, compose: UpdateRun | None, backup: BackupRun | None, sizes: dict[str, int]) -> str:
    rows = ["| measurement | botstack | baseline (seeds) |", "| --- | --- | --- |"]
    if botstack and compose:
        rows += [
            f"| failed requests during an API image update under steady load | {failed(botstack)} | {failed(compose)} |",
            f"| worst added latency during that update | {worst_added(botstack)} | {worst_added(compose)} |",
            f"| the same, with the same load and no change at all, as long as the update (this machine's noise) "
            f"| {added_of(botstack.quiet_load)} | - |",
            f"| duration of the update command | {secs(botstack.update_seconds)} (`up`, new backend image: "
            f"migrations, api, worker and bot overlapping their replacements, the new bot a standby until the old one stops; "
            f"new API healthy after {secs(botstack.api_ready_seconds)}) "
            f"| {secs(compose.update_seconds)} (`docker-compose up -d`, new tag) |",
            f"| the bot without a poll during that update (the standby takes over) | {secs(botstack.bot_gap_seconds)} | - |",
            f"| rollback to the previous image under the same load (`make rollback`'s plan, then `up`) "
            f"| {secs(botstack.rollback_seconds)}, {failed_of(botstack.rollback_load)} failed, "
            f"worst added latency {added_of(botstack.rollback_load)}; previous API healthy after "
            f"{secs(botstack.rollback_api_ready_seconds)}, the bot without a poll {secs(botstack.rollback_bot_gap_seconds)} "
            f"| - |",
            f"| apply to all healthy, dev `full` (images cached; best of {len(botstack.apply_samples)}, "
            f"interleaved with the baseline's) | {secs(botstack.apply_seconds)} "
            f"(secrets, db, cache, migrations, api, worker, bot, web, deploy check) "
            f"| {secs(compose.apply_seconds)} (db, cache, migrate, api, web) |",
            f"| second apply, nothing changed | {secs(botstack.again_seconds)}, "
            f"{len(botstack.again_changes)} resources changed | - |",
        ]
    if backup:
        rows += backup_table_rows(backup)
    for name, base in APP_IMAGE_BASES.items():
        if name in sizes and base in sizes:
            rows.append(
                f"| image `{name}`: size / added on top of its base `{base}` "
                f"| {mb(sizes[name])} / {mb(sizes[name] - sizes[base])} | - |"
            )
    return "\n".join(rows)


def failed_of(load: LoadResult | None) -> str:
    return "-" if load is None else f"{len(load.failed)} of {load.total}"


def added_of(load: LoadResult | None) -> str:
    return "-" if load is None else f"{load.worst_added:.2f} s"


def draw_chart(botstack: UpdateRun, compose: UpdateRun, when: str) -> None:
    assert botstack.load and compose.load and botstack.rollback_load
    runs = [
        ("botstack: API image update", botstack.load, botstack.update_seconds),
        ("baseline (compose): API image update", compose.load, compose.update_seconds),
        ("botstack: rollback", botstack.rollback_load, botstack.rollback_seconds or 0.0),
    ]
    if botstack.quiet_load is not None:
        runs.append(("botstack: no change (this machine's noise)", botstack.quiet_load, botstack.update_seconds))
    chart.draw(CHART, runs, f"Latency of every request through the web entrypoint during an update ({when})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("updates", "backup", "images"))
    args = parser.parse_args(argv)
    parts = {args.only} if args.only else {"updates", "backup", "images"}
    started = time.monotonic()
    command = "python -m tests.bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    if "updates" in parts:
        try:
            compose_binary()
        except BenchError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 2
        if why := chart.missing():
            print(f"bench: {why}", file=sys.stderr)
            return 2
    ensure_all()
    client = docker.from_env(timeout=300)
    print(f"bench: machine: {machine()}", flush=True)
    botstack = compose = None
    backup = None
    try:
        if "updates" in parts:
            _, v2 = backend_revisions(client)
            # One apply of each before the main runs, in the order baseline, botstack, botstack, baseline: on a
            # shared machine the load drifts, and the best of two applies of each is what the table shows.
            print("bench: one apply from nothing of the baseline, then of botstack ...", flush=True)
            compose_applies = [apply_compose(client)]
            botstack_applies = [apply_botstack(client)]
            print("bench: botstack dev stack 'full': apply, apply again, API image update under load ...", flush=True)
            botstack = run_botstack(client, v2, botstack_applies)
            for note in botstack.notes:
                print(f"bench: {note}", flush=True)
            print(f"bench: botstack load: {botstack.load.summary() if botstack.load else '-'}", flush=True)
            rollback = botstack.rollback_load
            print(
                f"bench: botstack rollback in {secs(botstack.rollback_seconds)}: {rollback.summary() if rollback else '-'}",
                flush=True,
            )
            quiet = botstack.quiet_load
            print(f"bench: botstack, the same load with no change: {quiet.summary() if quiet else '-'}", flush=True)
            print("bench: docker compose baseline: up, API image update under load ...", flush=True)
            compose = run_compose(client, compose_applies)
            print(
                f"bench: applies (s): botstack {', '.join(f'{x:.1f}' for x in botstack.apply_samples)}; "
                f"baseline {', '.join(f'{x:.1f}' for x in compose.apply_samples)}",
                flush=True,
            )
            print(f"bench: compose load: {compose.load.summary() if compose.load else '-'}", flush=True)
            if compose.load and compose.load.failed:
                print(f"bench: compose failures (first ones):\n{compose.load.describe_failures(5)}", flush=True)
        if "backup" in parts:
            print(f"bench: backup and restore of a database of 2 x {args.rows:,} rows ...", flush=True)
            backup = run_backup(client, args.rows)
    except (BenchError, RuntimeError) as exc:
        print(f"bench: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if "updates" in parts:
            remove_backend_revisions(client)
    sizes = image_sizes([*APP_IMAGE_BASES, *APP_IMAGE_BASES.values()]) if "images" in parts else {}
    if botstack and compose:
        draw_chart(botstack, compose, time.strftime("%Y-%m-%d"))
        print(f"bench: chart: {CHART}", flush=True)
    print()
    print(f"Command: `{command.strip()}` ({time.monotonic() - started:.0f} s)  ")
    print(f"Machine: {machine()}")
    print()
    print(table(botstack, compose, backup, sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
