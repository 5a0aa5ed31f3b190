"""The errors of botstack's config: what the user sees when a value is wrong, and nothing else.

`ConfigError` is a `pulumi.RunError`: Pulumi's Python language host prints a RunError's message
alone (`pulumi.log.error(str(e))`), with no traceback and no program source, and the program exits
non-zero before any resource is declared.

`Invalid` is what a validator raises for one value: the message says what is wrong without echoing
the value (it may be a secret), `key` names the key the problem is about when the check spans several
keys, and `example`/`fix` improve the generated `pulumi config set` command. `Problems` carries several
of them out of one model-level check, so every problem is reported at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi


class ConfigError(pulumi.RunError):
    """The stack config is invalid; the message says which key, what is wrong and how to fix it."""


class Invalid(ValueError):
    """One wrong value. Never put the value itself in `message`: it may be a secret."""

    def __init__(self, message: str, *, key: str | None = None, example: str | None = None, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key  # relative to where pydantic reports the error; for checks that span several keys
        self.example = example  # the <value> of the generated fix command, already quoted for a shell
        self.fix = fix  # a whole fix instead of the generated `pulumi config set`; `{stack}` is replaced


class Problems(ValueError):
    """Several `Invalid` found by one check (pydantic keeps one exception per validator)."""

    def __init__(self, problems: Sequence[Invalid]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = tuple(problems)
