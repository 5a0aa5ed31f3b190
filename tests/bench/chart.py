"""The bench's chart: the latency of every request over time during an update, several runs on one PNG.

matplotlib is only needed here (`pip install -r tests/bench/requirements.txt`); the bench checks for it first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tests.bench.load import LoadResult

COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple")


def missing() -> str | None:
    """Why the chart cannot be drawn here, or None."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "matplotlib is missing (the chart needs it): .venv/bin/pip install -r tests/bench/requirements.txt"
    return None


def draw(path: Path, runs: Sequence[tuple[str, LoadResult, float]], title: str) -> None:
    """One scatter series per run: x = seconds since the change started, y = the request's latency (log scale).

    `runs` are (label, load, seconds the change command took); failed requests are drawn as red crosses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=110)
    for (label, load, command_seconds), colour in zip(runs, COLOURS, strict=False):
        start = load.marked if load.marked is not None else min(s.started for s in load.samples)
        ok = [s for s in load.samples if s.ok]
        failed = [s for s in load.samples if not s.ok]
        summary = f"{label}: {len(failed)} of {load.total} failed, worst +{load.worst_added:.2f} s"
        ax.scatter([s.started - start for s in ok], [s.seconds for s in ok], s=6, color=colour, alpha=0.6, label=summary)
        if failed:
            ax.scatter([s.started - start for s in failed], [s.seconds for s in failed], s=24, marker="x", color="red")
        ax.axvline(command_seconds, color=colour, linestyle=":", linewidth=1)
    ax.axvline(0, color="grey", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("seconds since the update command started (dotted: it returned; red x: a failed request)")
    ax.set_ylabel("request latency, s (log)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, markerscale=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
