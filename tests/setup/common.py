"""Shared bits of tests.setup: paths, errors, one line of output per step, a cross-process lock."""

from __future__ import annotations

import contextlib
import fcntl
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_DIR / "tests" / ".cache"  # gitignored

_print_lock = threading.Lock()
_thread_lock = threading.RLock()


class SetupError(RuntimeError):
    """A real part could not be set up; the message says what to do."""


class NotAvailable(SetupError):
    """A part cannot be built yet because its inputs are missing (e.g. no app/backend/Dockerfile)."""


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def say(message: str) -> None:
    with _print_lock:
        print(f"setup: {message}", flush=True)
        sys.stdout.flush()


@dataclass
class Step:
    name: str
    result: str = "done"


@contextlib.contextmanager
def step(name: str) -> Iterator[Step]:
    """Print `setup: <name> <result> (<seconds> s)` when the block ends, `failed` if it raised."""
    s = Step(name)
    start = time.monotonic()
    try:
        yield s
    except NotAvailable as exc:
        say(f"{name} skipped: {exc} ({time.monotonic() - start:.1f} s)")
        raise
    except BaseException:
        say(f"{name} failed ({time.monotonic() - start:.1f} s)")
        raise
    say(f"{name} {s.result} ({time.monotonic() - start:.1f} s)")


_lock_depth = 0


@contextlib.contextmanager
def setup_lock() -> Iterator[None]:
    """Serialise setups across processes (make setup and a pytest fixture) and threads.

    Re-entrant in the thread that holds it; the file lock is taken at the outermost level only.
    """
    global _lock_depth
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with _thread_lock:
        if _lock_depth:
            _lock_depth += 1
            try:
                yield
            finally:
                _lock_depth -= 1
            return
        with open(CACHE_DIR / "setup.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            _lock_depth = 1
            try:
                yield
            finally:
                _lock_depth = 0
                fcntl.flock(handle, fcntl.LOCK_UN)
