"""Loading the stack config: Pulumi config (`botstack:*`) and BOTSTACK_* environment variables into a validated
StackConfig, or one ConfigError naming every problem and its fix, before any resource is declared."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic.alias_generators import to_camel
from pydantic_settings import SettingsError

from components.config import NAMESPACE, StackConfig
from components.config_errors import ConfigError
from components.config_messages import HEADER, format_errors, missing_vds_line, unknown_key_lines, unreadable_variable_line
from components.contract import needs_vds

_TOP_LEVEL = {to_camel(name): name for name in StackConfig.model_fields}


def _split_pulumi_config(stack_config: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`botstack:*` entries -> (StackConfig init values, unknown camelCase keys)."""
    values: dict[str, Any] = {}
    unknown: list[str] = []
    for full_key, raw in stack_config.items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        if key not in _TOP_LEVEL:
            unknown.append(key)
            continue
        values[_TOP_LEVEL[key]] = _decode(raw)
    return values, sorted(unknown)


def read_pulumi_config(stack_config: Mapping[str, Any], stack: str | None = None) -> dict[str, Any]:
    """`botstack:*` entries (camelCase key -> raw value) -> StackConfig init values. Objects arrive as JSON."""
    values, unknown = _split_pulumi_config(stack_config)
    if unknown:
        raise ConfigError("\n".join([HEADER.format(stack=stack or "?"), *unknown_key_lines(unknown, _TOP_LEVEL, stack)]))
    return values


def _decode(raw: Any) -> Any:
    if isinstance(raw, str) and raw[:1] in "{[":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def validate(stack: str, stack_config: Mapping[str, Any]) -> StackConfig:
    """Validate raw Pulumi config for a stack; raise ConfigError naming every problem and its fix."""
    init, unknown = _split_pulumi_config(stack_config)
    lines = unknown_key_lines(unknown, _TOP_LEVEL, stack)
    config: StackConfig | None = None
    try:
        config = StackConfig(**init)
    except ValidationError as error:
        lines += format_errors(error.errors(include_input=False), stack).splitlines()[1:]
    except SettingsError as error:  # a BOTSTACK_<KEY> variable pydantic-settings can't decode (bad JSON)
        lines.append(unreadable_variable_line(str(error)))
    if config is not None and needs_vds(stack) and not config.on_vds:
        lines.append(missing_vds_line(stack))
    if lines:
        raise ConfigError("\n".join([HEADER.format(stack=stack), *lines]))
    assert config is not None
    return config


def all_pulumi_config() -> dict[str, Any]:
    """Every config entry the Pulumi runtime gives this program (explicit and environment)."""
    from pulumi.runtime import config as runtime_config

    merged = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    return merged


def load_config(stack: str | None = None) -> StackConfig:
    """Read and validate the current stack's `botstack:*` config. Raises ConfigError before any resource exists."""
    import pulumi

    return validate(stack or pulumi.get_stack(), all_pulumi_config())
