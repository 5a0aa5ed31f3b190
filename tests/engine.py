"""The pinned Pulumi CLI for the tests: the one `make engine` installs (scripts/install-pulumi.sh)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INSTALLER = REPO / "scripts" / "install-pulumi.sh"
VERSIONS = REPO / "scripts" / "versions.env"


def pinned_version() -> str:
    """PULUMI_VERSION from scripts/versions.env (without the leading v)."""
    for line in VERSIONS.read_text().splitlines():
        if line.startswith("PULUMI_VERSION="):
            return line.split("=", 1)[1].strip()
    raise AssertionError(f"no PULUMI_VERSION in {VERSIONS}")


def engine_cache() -> Path:
    """Where scripts/install-pulumi.sh caches the CLI for this user, as the script itself says (tests that
    change HOME pass it on as BOTSTACK_ENGINE_CACHE)."""
    return pinned_cli_dir().parent.parent


def pinned_cli_dir() -> Path:
    """The directory of the pinned `pulumi`, installed first if it isn't (as `make engine` does)."""
    result = subprocess.run([str(INSTALLER), "bin-dir"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"scripts/install-pulumi.sh bin-dir failed:\n{result.stderr}"
    return Path(result.stdout.strip().splitlines()[-1])


def engine_env(bin_dir: Path, state_dir: Path, passphrase: str) -> dict[str, str]:
    """Environment for the CLI: the pinned binary first on PATH, a file backend, passphrase secrets, no network."""
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PULUMI_BACKEND_URL": f"file://{state_dir}",
        "PULUMI_CONFIG_PASSPHRASE": passphrase,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_HOME": str(state_dir.parent / "pulumi-home"),
    }
