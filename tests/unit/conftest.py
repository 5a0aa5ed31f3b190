"""Shared fixtures of the mock-runtime tests: stack configs for dev and prod, a throwaway SSH key."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

BOT_TOKEN = "123456789:AAExampleExampleExampleExampleExample"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmJ0Rzm6iYl2K3w1p1vYdB0q6v7cZ8m9b2Kq3sQ7xYz"


def new_private_key() -> str:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="session")
def private_key() -> str:
    return new_private_key()


def prod_config(private_key: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "vds": {"host": "203.0.113.10", "hostKey": HOST_KEY},
        "sshPrivateKey": private_key,
        "images": {"repository": "ghcr.io/example/botstack", "tag": "sha-1a2b3c4"},
    }
    config.update(extra)
    return config


@pytest.fixture(autouse=True)
def _isolated_botstack_dir(tmp_path, monkeypatch):
    """The program writes .botstack/<stack>/ files (known_hosts, identity) under the repo: redirect to tmp."""
    import components.placement as stack

    monkeypatch.setattr(stack, "REPO_ROOT", tmp_path)
