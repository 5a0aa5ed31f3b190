"""tests/module_times.py: the per-module time summary adds every phase of a module's tests and ranks modules."""

from __future__ import annotations

from types import SimpleNamespace

from tests import module_times


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_sep(self, sep: str, title: str) -> None:
        self.lines.append(title)

    def write_line(self, line: str) -> None:
        self.lines.append(line)


def report(nodeid: str, duration: float) -> SimpleNamespace:
    return SimpleNamespace(nodeid=nodeid, duration=duration)


def test_phases_of_one_module_add_up_and_the_largest_module_comes_first() -> None:
    times = module_times.ModuleTimes()
    for nodeid, duration in [("tests/a.py::t1", 1.0), ("tests/a.py::t1", 0.5), ("tests/b.py::t2", 3.0),
                             ("tests/a.py::t3[x::y]", 0.25)]:
        times.pytest_runtest_logreport(report(nodeid, duration))  # type: ignore[arg-type]
    out = Lines()
    times.pytest_terminal_summary(out)
    assert out.lines[1:] == ["     3.0 s  tests/b.py", "     1.8 s  tests/a.py", "     4.8 s  in all"]


def test_modules_past_the_shown_ones_are_summed_on_one_line(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(module_times, "SHOWN", 1)
    times = module_times.ModuleTimes()
    for index in range(3):
        times.pytest_runtest_logreport(report(f"tests/m{index}.py::t", float(index + 1)))  # type: ignore[arg-type]
    out = Lines()
    times.pytest_terminal_summary(out)
    assert out.lines[1:] == ["     3.0 s  tests/m2.py", "     3.0 s  the other 2 modules", "     6.0 s  in all"]


def test_a_run_without_tests_prints_nothing() -> None:
    out = Lines()
    module_times.ModuleTimes().pytest_terminal_summary(out)
    assert out.lines == []
