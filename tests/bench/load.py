"""A steady, bounded HTTP load on loopback: a few threads of GETs, each request's outcome recorded.

Used by tests/e2e/test_updates.py (zero failed requests while the API is replaced) and by the benchmark.
"""

from __future__ import annotations

import statistics
import threading
import time
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
    stop(), `max_requests` in all, or `max_seconds` - whichever comes first. Loopback only."""

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
        self.base_url, self.paths, self.pause, self.timeout = base_url.rstrip("/"), paths, pause, timeout
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]
        self._deadline = 0.0

    def __enter__(self) -> SteadyLoad:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        self._deadline = time.monotonic() + self.max_seconds
        for thread in self._threads:
            thread.start()

    def mark(self) -> None:
        """The change starts now: latencies before this are the baseline."""
        self.result.marked = time.monotonic()

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        return self.result

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=self.timeout) as client:
            i = n
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                with self._lock:
                    if len(self.result.samples) >= self.max_requests:
                        return
                path = self.paths[i % len(self.paths)]
                i += 1
                started = time.monotonic()
                try:
                    status, error = client.get(path).status_code, ""
                except httpx.HTTPError as exc:
                    status, error = None, f"{type(exc).__name__}: {exc}"
                sample = Sample(started, time.monotonic() - started, path, status, error)
                with self._lock:
                    self.result.samples.append(sample)
                self._stop.wait(self.pause)
