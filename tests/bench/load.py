"""A steady, bounded HTTP load on loopback: a few threads of GETs, each request's outcome recorded.

Used by tests/e2e/test_updates.py (zero failed requests while the API is replaced) and by the benchmark.
The requests go out from a child process: the caller runs the Pulumi program (through the provider test double)
in its own process meanwhile, and the program's threads would otherwise compete with the load's threads for the
interpreter lock and add their waits to the measured latencies. Users' requests never share a process with a deploy.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx


@dataclass(frozen=True)
class Sample:
    started: float  # time.monotonic() when the request was sent
    seconds: float
    path: str
    status: int | None  # None: the request raised
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class LoadResult:
    samples: list[Sample] = field(default_factory=list)
    marked: float | None = None  # when the change started (SteadyLoad.mark)

    @property
    def total(self) -> int:
        return len(self.samples)

    @property
    def failed(self) -> list[Sample]:
        return [s for s in self.samples if not s.ok]

    @property
    def worst(self) -> float:
        return max((s.seconds for s in self.samples), default=0.0)

    @property
    def baseline(self) -> float:
        """Median latency before the change started (or of everything without a mark)."""
        before = [s.seconds for s in self.samples if self.marked is None or s.started < self.marked]
        return statistics.median(before) if before else 0.0

    @property
    def worst_added(self) -> float:
        return max(0.0, self.worst - self.baseline)

    def describe_failures(self, limit: int = 10) -> str:
        lines = [f"{s.path}: {s.status if s.status is not None else s.error} after {s.seconds:.2f} s" for s in self.failed]
        return "\n".join(lines[:limit]) + (f"\n... {len(lines) - limit} more" if len(lines) > limit else "")

    def summary(self) -> str:
        return (
            f"{self.total} requests, {len(self.failed)} failed, worst latency {self.worst:.2f} s "
            f"(median before the change {self.baseline * 1000:.0f} ms)"
        )


class SteadyLoad:
    """`threads` threads, each sending GETs to `paths` in turn with `pause` seconds between requests, until
    stop(), `max_requests` in all, or `max_seconds` - whichever comes first. Loopback only. The threads run in a
    child process (see the module's docstring); times are time.monotonic(), which is the same clock there."""

    def __init__(
        self,
        base_url: str,
        paths: tuple[str, ...] = ("/api/posts", "/api/health"),
        threads: int = 2,
        pause: float = 0.02,
        max_requests: int = 20_000,
        max_seconds: float = 240.0,
        timeout: float = 60.0,
    ) -> None:
        host = urlsplit(base_url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"load goes to loopback only, not {host}")
        self.timeout = timeout
        self.result = LoadResult()
        # spawn, not fork: the caller has threads (the Pulumi runtime's) that a forked child would inherit half-done
        context = multiprocessing.get_context("spawn")
        self._ready, self._stop = context.Event(), context.Event()
        self._samples, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            target=send_load,
            args=(sender, self._ready, self._stop, base_url.rstrip("/"), paths, threads, pause, max_requests, max_seconds),
            kwargs={"timeout": timeout},
            name="botstack-steady-load",
            daemon=True,
        )

    def __enter__(self) -> SteadyLoad:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the child and return once its threads send requests."""
        self._process.start()
        deadline = time.monotonic() + 60
        while not self._ready.wait(0.1):
            if not self._process.is_alive() or time.monotonic() > deadline:
                self._process.kill()
                raise RuntimeError(f"the load process did not start (exit code {self._process.exitcode})")

    def mark(self) -> None:
        """The change starts now: latencies before this are the baseline."""
        self.result.marked = time.monotonic()

    def stop(self) -> LoadResult:
        self._stop.set()
        # the last request in flight may take up to `timeout`; then the child sends every sample at once
        if not self._samples.poll(self.timeout + 30):
            self._process.kill()
            raise RuntimeError("the load process sent no results")
        self.result.samples = self._samples.recv()
        self._process.join(10)
        return self.result


def send_load(
    sender: multiprocessing.connection.Connection,
    ready: threading.Event,
    stop: threading.Event,
    base_url: str,
    paths: Sequence[str],
    threads: int,
    pause: float,
    max_requests: int,
    max_seconds: float,
    timeout: float,
) -> None:
    """The child process: `threads` threads of requests until `stop` is set (or the limits), then every sample."""
    samples: list[Sample] = []
    lock = threading.Lock()
    deadline = time.monotonic() + max_seconds

    def run(n: int) -> None:
        with httpx.Client(base_url=base_url, timeout=timeout) as client:
            i = n
            while not stop.is_set() and time.monotonic() < deadline:
                with lock:
                    if len(samples) >= max_requests:
                        return
                path = paths[i % len(paths)]
                i += 1
                started = time.monotonic()
                try:
                    status, error = client.get(path).status_code, ""
                except httpx.HTTPError as exc:
                    status, error = None, f"{type(exc).__name__}: {exc}"
                sample = Sample(started, time.monotonic() - started, path, status, error)
                with lock:
                    samples.append(sample)
                stop.wait(pause)

    workers = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    ready.set()
    for worker in workers:
        worker.join()
    with lock:
        sender.send(list(samples))
    sender.close()
