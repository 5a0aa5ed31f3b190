"""docs/config-reference.md is generated from the config model and can't drift from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import gen_config_reference as gen  # noqa: E402


def test_committed_reference_matches_the_model() -> None:
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_config_reference.py"), "--check"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr + "\nfix: .venv/bin/python scripts/gen_config_reference.py"


class _Inner(BaseModel):
    """An inner object."""

    port_number: int = Field(22, ge=1, le=65535, description="A port.")


class _Model(BaseModel):
    """A model."""

    api_token: SecretStr | None = Field(None, description="A secret.")
    inner: _Inner = Field(default_factory=_Inner, description="Nested.")
    host: str = Field(description="Required host.", examples=["203.0.113.10"])


def test_render_lists_every_field_with_type_default_and_description() -> None:
    text = gen.render(_Model)
    assert "| `botstack:apiToken` | secret string | unset | A secret. |" in text
    assert "| `botstack:host` | string | **required** | Required host. (e.g. `203.0.113.10`) |" in text
    assert "| `botstack:inner` | object ([_Inner](#_inner)) | the defaults of its fields | Nested. |" in text
    assert "| `port_number` | integer | `22` | A port. (1..65535) |" in text
