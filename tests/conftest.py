"""Skips in CI: under `CI=true` a skipped test fails, unless `ALLOWED_SKIPS` names it with the reason it may skip.

A test that skips proves nothing, and a green CI run with skips in it reads as "everything was tested".
So in CI every skip (a `skip` or `skipif` mark, `pytest.skip()` in a test or a fixture, a module skipped
at collection) is turned into a failure that quotes the skip's own reason, and the session ends red if
any skip got through anyway. An allowed skip must still give the reason written here: a test that starts
skipping for another cause fails. Locally (`CI` unset) skips stay skips, with their reasons in `-ra`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

pytest_plugins = ("tests.module_times",)


@dataclass(frozen=True)
class AllowedSkip:
    reason_contains: str  # the skip's own reason must contain this
    why: str  # why this skip is acceptable in CI


ALLOWED_SKIPS: dict[str, AllowedSkip] = {
    "tests/e2e/test_automation.py::test_up_converges_and_destroys": AllowedSkip(
        reason_contains="are not installed (not buildable here: docs/engine.md)",
        why="the real Pulumi engine can't run this program on the machines the project is built on: the Go proxy "
        "serves the CLI but refuses the docker, command and random provider plugins (docs/engine.md); the lead decides "
        "whether CI gets the plugins or the test goes",
    ),
}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The reason pytest gives for a skip (its longrepr is (path, line, 'Skipped: <reason>'))."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def allowed(nodeid: str, reason: str) -> bool:
    entry = ALLOWED_SKIPS.get(nodeid)
    return entry is not None and entry.reason_contains in reason


def skip_failure(nodeid: str, reason: str) -> str:
    entry = ALLOWED_SKIPS.get(nodeid)
    if entry is not None:
        return (
            f"skipped in CI for another reason than the allowed one: {reason!r} "
            f"(allowed only for {entry.reason_contains!r}: {entry.why})"
        )
    return (
        f"skipped in CI (CI=true), where a skip is a failure: {reason}. "
        "Install what it needs, or add it to ALLOWED_SKIPS in tests/conftest.py with the reason"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # noqa: ANN201 - a hook wrapper
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not in_ci() or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = skip_reason(report)
    if allowed(report.nodeid, reason):
        return
    report.outcome = "failed"
    report.longrepr = skip_failure(report.nodeid, reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):  # noqa: ANN201 - a hook wrapper
    """A whole module skipped at collection (`pytest.skip(allow_module_level=True)`, `importorskip`)."""
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    if in_ci() and report.skipped and not allowed(report.nodeid, skip_reason(report)):
        report.outcome = "failed"
        report.longrepr = skip_failure(report.nodeid, skip_reason(report))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # noqa: ANN001
    """In CI, name each skip that was let through and why; and any other skip (pytest_sessionfinish fails the run)."""
    if not in_ci():
        return
    for report in terminalreporter.stats.get("skipped", []):
        if hasattr(report, "wasxfail"):
            continue
        nodeid, reason = getattr(report, "nodeid", "?"), skip_reason(report)
        if allowed(nodeid, reason):
            terminalreporter.write_line(f"CI: allowed skip {nodeid}: {ALLOWED_SKIPS[nodeid].why}")
        else:
            terminalreporter.write_line(f"CI: skip not allowed: {nodeid}: {reason}", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skip the report hooks could not turn into a failure still makes the CI run fail."""
    if not in_ci() or exitstatus != pytest.ExitCode.OK:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    for report in reporter.stats.get("skipped", []):
        if not hasattr(report, "wasxfail") and not allowed(getattr(report, "nodeid", ""), skip_reason(report)):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
