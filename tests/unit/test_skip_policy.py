"""tests/conftest.py's skip policy, run on a throwaway test module in a separate pytest: under CI=true every
kind of skip fails unless allowed with its reason; locally skips stay skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

DEMO_TESTS = """
import pytest

def test_passes():
    pass

def test_skips_in_the_test():
    pytest.skip("nothing to test against")

@pytest.mark.skipif(True, reason="marked to skip")
def test_skipped_by_a_mark():
    pass

@pytest.fixture
def needs_a_server():
    pytest.skip("no server")

def test_skipped_by_a_fixture(needs_a_server):
    pass

@pytest.mark.xfail(strict=True, reason="a known defect")
def test_known_defect():
    assert False

def test_allowed():
    pytest.skip("the allowed reason, with details")

def test_allowed_name_other_reason():
    pytest.skip("a new reason")
"""

DEMO_CONFTEST = """
import tests.conftest as policy

policy.ALLOWED_SKIPS["test_demo.py::test_allowed"] = policy.AllowedSkip("the allowed reason", "the demo's reason")
policy.ALLOWED_SKIPS["test_demo.py::test_allowed_name_other_reason"] = policy.AllowedSkip("the allowed reason", "demo")
"""


def run_demo(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_demo.py").write_text(DEMO_TESTS)
    (tmp_path / "conftest.py").write_text(DEMO_CONFTEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(REPO)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-rA", "-q", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def outcome_lines(output: str) -> set[str]:
    """`PASSED test_demo.py::test_passes` ... from the -rA summary, without the reasons."""
    keep = ("PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS")
    return {" ".join(line.split(" - ")[0].split()[:2]) for line in output.splitlines() if line.startswith(keep)}


def test_in_ci_a_skip_fails_unless_allowed_with_its_reason(tmp_path):
    result = run_demo(tmp_path, "true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert outcome_lines(result.stdout) == {
        "PASSED test_demo.py::test_passes",
        "FAILED test_demo.py::test_skips_in_the_test",
        "ERROR test_demo.py::test_skipped_by_a_mark",
        "ERROR test_demo.py::test_skipped_by_a_fixture",
        "XFAIL test_demo.py::test_known_defect",
        "SKIPPED [1]",  # test_allowed: -rA names a skip by its line, not its id
        "FAILED test_demo.py::test_allowed_name_other_reason",
    }, result.stdout
    assert "skipped in CI (CI=true), where a skip is a failure: no server" in result.stdout
    assert "skipped in CI for another reason than the allowed one: 'a new reason'" in result.stdout
    assert "CI: allowed skip test_demo.py::test_allowed: the demo's reason" in result.stdout


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_skips_stay_skips(tmp_path, ci):
    result = run_demo(tmp_path, ci)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 5 skipped, 1 xfailed" in result.stdout, result.stdout


def test_a_module_skipped_at_collection_fails_in_ci(tmp_path):
    (tmp_path / "test_gone.py").write_text('import pytest\npytest.skip("module gone", allow_module_level=True)\n')
    result = run_demo(tmp_path, "true")
    assert result.returncode != 0
    assert "ERROR test_gone.py - skipped in CI (CI=true), where a skip is a failure: module gone" in result.stdout
