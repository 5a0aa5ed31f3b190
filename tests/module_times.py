"""Where a run's time goes, a line per test module: setup, call and teardown of its tests summed.

`--durations` names the slowest single phases; CI's time budget is spent module by module (a module's fixtures
start its stacks and hosts once), so the summary adds them up per file, largest first."""

from __future__ import annotations

from collections import defaultdict

import pytest

SHOWN = 25  # the largest modules; the rest are summed on one line


class ModuleTimes:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid.split("::", 1)[0]] += report.duration

    def pytest_terminal_summary(self, terminalreporter) -> None:  # noqa: ANN001
        if not self.seconds:
            return
        ranked = sorted(self.seconds.items(), key=lambda item: item[1], reverse=True)
        terminalreporter.write_sep("=", f"time per test module (setup + call + teardown), {len(ranked)} modules")
        for module, seconds in ranked[:SHOWN]:
            terminalreporter.write_line(f"{seconds:8.1f} s  {module}")
        rest = ranked[SHOWN:]
        if rest:
            terminalreporter.write_line(f"{sum(s for _, s in rest):8.1f} s  the other {len(rest)} modules")
        terminalreporter.write_line(f"{sum(self.seconds.values()):8.1f} s  in all")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(ModuleTimes(), "botstack-module-times")
