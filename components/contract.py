"""What botstack's parts must agree on, spelled once: labels, paths on the VDS, which stacks need a VDS, and the
rule for a pinned image.

The components, the policy pack (policy/botstack_policy.py) and the shell scripts read it: the scripts in server/
and scripts/ source `server/contract.sh`, generated from `shell_contract()` (`python -m components.contract >
server/contract.sh`; a lint test keeps it equal). Standard library only, so the policy pack imports it without the Pulumi SDKs.
"""

from __future__ import annotations

import re
import shlex

# ---- labels on every container, volume and network ---------------------------------------------------------------
# Scripts select on them: `make logs` by stack, a restore stops the writers, a rollout finds a service's containers.
PROJECT_LABEL = "botstack.project"
STACK_LABEL = "botstack.stack"
SERVICE_LABEL = "botstack.service"
ROLE_LABEL = "botstack.role"
WRITER_LABEL = "botstack.writer"
# A new revision of the secret files must restart the containers that read them.
SECRETS_REVISION_LABEL = "botstack.secrets-revision"

# ---- the VDS ------------------------------------------------------------------------------------------------------
ETC_DIR = "/etc/botstack"  # root-only (0700): settings and secrets
SECRETS_DIR = f"{ETC_DIR}/secrets"  # one file per secret, bind-mounted read-only into the containers
BACKUP_CONFIG = f"{ETC_DIR}/backup.env"  # written by install-backups.sh, read by the backup scripts
PROVISION_CONFIG = f"{ETC_DIR}/provision.env"  # optional inputs of provision.sh
BACKUP_DIR = "/var/backups/botstack"  # the dumps (0700)
INSTALLED_SCRIPTS_DIR = "/usr/local/lib/botstack"  # the backup scripts cron runs


def deploy_home(user: str) -> str:
    """Where the program copies server/ for the deploy user."""
    return f"/home/{user}/botstack"


# ---- stacks -------------------------------------------------------------------------------------------------------
# Stacks that must run on a VDS: their config needs `vds`, and the policy treats them as public.
VDS_STACKS = ("prod",)


def needs_vds(stack: str) -> bool:
    return stack in VDS_STACKS


# ---- images -------------------------------------------------------------------------------------------------------
# The app images published by .github/workflows/images.yml. On a VDS they must be pinned to an immutable
# `sha-<commit>` tag or a digest: branch tags move.
APP_IMAGE_SUFFIXES = ("botstack-backend", "botstack-web")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def pin_problem(ref: str, *, immutable_app_tags: bool = False) -> str | None:
    """Why an image reference is not pinned, or None. An image ID (`sha256:...`) or a digest is pinned; a tag is,
    unless it is missing or `latest`; with `immutable_app_tags`, an app image needs `sha-<commit>` too."""
    if ref.startswith("sha256:") or _DIGEST.search(ref):
        return None
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {ref!r} has no tag; pin a tag other than 'latest' or a digest"
    repository, tag = ref.rsplit(":", 1)
    if tag == "latest":
        return f"image {ref!r} uses 'latest'; pin a version tag or a digest"
    if immutable_app_tags and repository.endswith(APP_IMAGE_SUFFIXES) and not tag.startswith("sha-"):
        return f"image {ref!r}: prod pins app images to an immutable 'sha-<commit>' tag or a digest"
    return None


# ---- the shell side -----------------------------------------------------------------------------------------------
SHELL_NAMES = {
    "BOTSTACK_STACK_LABEL": STACK_LABEL,
    "BOTSTACK_SERVICE_LABEL": SERVICE_LABEL,
    "BOTSTACK_WRITER_LABEL": WRITER_LABEL,
    "BOTSTACK_ETC_DIR": ETC_DIR,
    "BOTSTACK_SECRETS_DIR": SECRETS_DIR,
    "BOTSTACK_BACKUP_CONFIG_FILE": BACKUP_CONFIG,
    "BOTSTACK_PROVISION_CONFIG_FILE": PROVISION_CONFIG,
    "BOTSTACK_BACKUP_DIR": BACKUP_DIR,
    "BOTSTACK_INSTALLED_SCRIPTS_DIR": INSTALLED_SCRIPTS_DIR,
    "BOTSTACK_VDS_STACKS": " ".join(VDS_STACKS),
}


def shell_contract() -> str:
    """The same facts as shell variables, for the scripts to source (generated; do not edit the .sh copies)."""
    lines = [
        "# shellcheck shell=bash disable=SC2034",
        "# Generated from components/contract.py by `python -m components.contract`; a lint test keeps it equal.",
    ]
    lines += [f"{name}={shlex.quote(value)}" for name, value in SHELL_NAMES.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(shell_contract(), end="")
