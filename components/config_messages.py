"""What the user reads when the config is wrong: a header, then one line per problem with the Pulumi key, what is
wrong and the command that fixes it (plus a note when a BOTSTACK_* variable set the value). Values are never echoed."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.alias_generators import to_camel, to_snake

from components.config import SECRET_KEYS, StackConfig
from components.config_errors import Invalid, Problems

HEADER = "botstack: the config of stack '{stack}' is invalid; nothing was created."


def format_errors(errors: Iterable[Mapping[str, Any]], stack: str) -> str:
    """pydantic errors -> lines naming the Pulumi key, the problem and the command that fixes it."""
    lines = [HEADER.format(stack=stack)]
    for error in errors:
        where = _key_of(error["loc"])
        cause = (error.get("ctx") or {}).get("error")
        invalids = cause.problems if isinstance(cause, Problems) else (cause,) if isinstance(cause, Invalid) else ()
        if not invalids:
            lines.append(_line(where, _pydantic_message(error), None, stack))
        for invalid in invalids:
            key = ".".join(p for p in (where if where != "(config)" else "", invalid.key or "") if p) or where
            lines.append(_line(key, invalid.message, invalid, stack))
    return "\n".join(lines)


def _pydantic_message(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "is required"
    return str(error["msg"]).removeprefix("Value error, ")


def _line(key: str, message: str, invalid: Invalid | None, stack: str) -> str:
    if message.startswith("unknown"):
        fix = f"pulumi config rm -s {stack} --path 'botstack:{key}'"
    elif invalid is not None and invalid.fix:
        fix = invalid.fix.replace("{stack}", stack)
    else:
        fix = fix_command(key, stack, example=invalid.example if invalid else None)
    line = f"- botstack:{key}: {message.rstrip('.')}.\n  fix: {fix}"
    variable = _overriding_variable(key)
    if variable:
        line += f"\n  note: the value comes from the environment variable {variable}, which overrides Pulumi config"
    return line


def _overriding_variable(key: str) -> str | None:
    """The BOTSTACK_* variable that sets this key's top-level value, when one is set."""
    name = f"BOTSTACK_{to_snake(key.split('.')[0]).upper()}"
    return next((k for k in os.environ if k.upper() == name), None)


def _key_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int) and p != "[key]"]
    if not parts:
        return "(config)"
    parts[0] = to_camel(parts[0])
    return ".".join(parts)


def fix_command(key: str, stack: str, example: str | None = None) -> str:
    """The `pulumi config set` that sets `key` (a camelCase path) on `stack`."""
    top = key.split(".")[0]
    secret = "--secret " if top in SECRET_KEYS else ""
    path = "--path " if "." in key else ""
    if example is None or top in SECRET_KEYS:
        example = _example(key)
    return f"pulumi config set -s {stack} {secret}{path}'botstack:{key}' {example}"


def _example(key: str) -> str:
    parts = key.split(".")
    model: Any = StackConfig
    field = None
    for part in parts:
        fields = getattr(model, "model_fields", {})
        field = fields.get(to_snake(part)) or fields.get(part)
        if field is None:
            return "<value>"
        model = field.annotation
        inner = [a for a in getattr(model, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        if inner:
            model = inner[0]
    if key.split(".")[0] in SECRET_KEYS:
        return "<value>  (omit <value> to be prompted without echo)"
    if field is not None and field.examples:
        return f"'{field.examples[0]}'"
    if key == "profile":
        return "full"
    if field is not None and isinstance(field.default, str | int) and not isinstance(field.default, bool):
        return f"'{field.default}'"
    return "<value>"


def unknown_key_lines(unknown: Iterable[str], known: Iterable[str], stack: str | None) -> list[str]:
    on_stack = f"-s {stack} " if stack else ""
    return [
        f"- botstack:{key}: unknown key. Known keys: {', '.join(sorted(known))}.\n"
        f"  fix: pulumi config rm {on_stack}botstack:{key}"
        for key in unknown
    ]


def unreadable_variable_line(message: str) -> str:
    """The problem line for an environment variable that isn't valid JSON (its value is never echoed)."""
    found = re.search(r'field "(\w+)"', message)
    field = found.group(1) if found else None
    key = f"botstack:{to_camel(field)}" if field else "botstack:<key>"
    variable = f"BOTSTACK_{field.upper()}" if field else "a BOTSTACK_<KEY> variable"
    return (
        f"- {key}: the environment variable {variable} is not valid JSON (objects are JSON here).\n"
        f'  fix: unset {variable}, or set it to a JSON object, e.g. {variable}=\'{{"worker": {{"memory": "256M"}}}}\''
    )


def missing_vds_line(stack: str) -> str:
    return (
        f"- botstack:vds: stack '{stack}' runs on a VDS and needs it.\n"
        f"  fix: pulumi config set -s {stack} --path 'botstack:vds.host' <address> && "
        f"pulumi config set -s {stack} --path 'botstack:vds.hostKey' \"$(ssh-keyscan -t ed25519 <address> | cut -d' ' -f2-)\""
    )
