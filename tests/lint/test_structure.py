"""One place for each fact: the labels, VDS paths and pinning rule live in components/contract.py, the services'
names, aliases, ports and secrets in components/catalogue.py; the shell scripts read the generated copy of the
contract; and no run of six lines repeats inside components/ or server/."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from components import catalogue, contract
from components.contract import shell_contract

REPO = Path(__file__).resolve().parents[2]
RUN = 6  # lines


def test_the_scripts_contract_is_generated_from_the_programs() -> None:
    committed = (REPO / "server" / "contract.sh").read_text()
    assert committed == shell_contract(), "server/contract.sh is stale: run `python -m components.contract > server/contract.sh`"


def code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped line) of a source file, without blank lines and comments (a shebang is a comment)."""
    lines = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            lines.append((number, stripped))
    return lines


def repeated_runs(files: list[Path], root: Path = REPO) -> list[str]:
    """Every run of RUN consecutive code lines that stands in two places (in one file or two)."""
    places: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path in files:
        lines = code_lines(path)
        for start in range(len(lines) - RUN + 1):
            window = tuple(text for _, text in lines[start : start + RUN])
            places[window].append(f"{path.relative_to(root)}:{lines[start][0]}")
    return [" ~ ".join(where) + "\n    " + "\n    ".join(window) for window, where in places.items() if len(where) > 1]


@pytest.mark.parametrize("folder, pattern", [("components", "*.py"), ("server", "*.sh")])
def test_no_run_of_six_lines_repeats(folder: str, pattern: str) -> None:
    repeats = repeated_runs(sorted((REPO / folder).glob(pattern)))
    assert not repeats, "repeated runs (make one piece of code serve both):\n" + "\n".join(repeats)


def test_the_repeat_check_finds_a_repeat(tmp_path: Path) -> None:
    block = "".join(f"x{i} = {i}\n" for i in range(RUN))
    (tmp_path / "a.py").write_text(block)
    (tmp_path / "b.py").write_text("# other\n\n" + block)
    assert len(repeated_runs([tmp_path / "a.py", tmp_path / "b.py"], tmp_path)) == 1


# Facts spelled in code (not comments) only where they are defined.
FACTS = {
    "label": [contract.PROJECT_LABEL, contract.STACK_LABEL, contract.SERVICE_LABEL, contract.ROLE_LABEL,
              contract.WRITER_LABEL, contract.SECRETS_REVISION_LABEL],
    "path": [contract.BACKUP_CONFIG, contract.BACKUP_DIR, contract.INSTALLED_SCRIPTS_DIR, contract.SECRETS_DIR],
    "address": [service.address for service in catalogue.CATALOGUE if service.port is not None]
    + [f"@{catalogue.DATABASE.alias}:", f"@{catalogue.CACHE.alias}:"],
}  # fmt: skip
DEFINED_IN = {REPO / "components" / "contract.py", REPO / "components" / "catalogue.py", REPO / "server" / "contract.sh"}
PROGRAM = ["components/*.py", "policy/*.py", "scripts/*.sh", "scripts/*.py", "server/*.sh", "__main__.py"]


def spelled(path: Path) -> list[tuple[int, str]]:
    """What a file spells in code: a Python file's string constants (docstrings aside), a script's code lines."""
    if path.suffix != ".py":
        return code_lines(path)
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


@pytest.mark.parametrize("kind", sorted(FACTS))
def test_each_fact_is_spelled_once(kind: str) -> None:
    files = sorted({path for pattern in PROGRAM for path in REPO.glob(pattern)} - DEFINED_IN)
    found = [
        f"{path.relative_to(REPO)}:{number}: {value!r}"
        for path in files
        for number, text in spelled(path)
        for value in FACTS[kind]
        if re.search(rf"(?<![\w.-]){re.escape(value)}(?![\w-])", text)
    ]
    assert not found, f"spell each {kind} once, in components/contract.py or catalogue.py, and use the name:\n" + "\n".join(found)
