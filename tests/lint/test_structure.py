"""The facts several parts share are spelled once (components/contract.py, components/catalogue.py), and the
shell scripts read the generated copy of the contract."""

from __future__ import annotations

from pathlib import Path

from components.contract import shell_contract

REPO = Path(__file__).resolve().parents[2]


def test_the_scripts_contract_is_generated_from_the_programs() -> None:
    committed = (REPO / "server" / "contract.sh").read_text()
    assert committed == shell_contract(), "server/contract.sh is stale: run `python -m components.contract > server/contract.sh`"
