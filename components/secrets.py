"""Secrets: generated when the config leaves them unset, delivered to containers as read-only files.

No secret goes into a container's environment, a command line or a log: the values travel on the
stdin of `server/write-secrets.sh` (a Pulumi secret, so encrypted in state) into a 0700 directory on
the host that runs the containers, and each container bind-mounts the single files it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_random as random

from components.commands import Target, host_command, script_command, secrets_payload
from components.config import StackConfig

DB_PORT = 5432
CACHE_PORT = 6379


@dataclass(frozen=True)
class SecretsArgs:
    config: StackConfig
    target: Target


class Secrets(pulumi.ComponentResource):
    """The stack's secret values and the host files that carry them."""

    values: dict[str, pulumi.Output[str]]
    paths: dict[str, str]
    revision: pulumi.Output[str]
    database_url: pulumi.Output[str]

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("botstack:components:Secrets", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)

        db_password = self._given_or_random(f"{name}-db-password", config.db_password, 32, child)
        redis_password = self._given_or_random(f"{name}-redis-password", config.redis_password, 32, child)
        jwt_secret = self._given_or_random(f"{name}-jwt-secret", config.jwt_secret, 48, child)

        db = config.database
        self.database_url = secret(pulumi.Output.concat("postgresql://", db.user, ":", db_password, f"@db:{DB_PORT}/", db.name))
        redis_url = secret(pulumi.Output.concat("redis://:", redis_password, f"@cache:{CACHE_PORT}/0"))
        values: dict[str, pulumi.Output[str]] = {
            "db_password": db_password,
            "database_url": self.database_url,
            "redis_password": redis_password,
            "redis.conf": secret(redis_password.apply(redis_conf)),
            "redis_url": redis_url,
            "jwt_secret": jwt_secret,
        }
        if config.bot_token is not None:
            values["bot_token"] = secret(config.bot_token.get_secret_value())
        self.values = values
        self.paths = {key: f"{args.target.secrets_dir}/{key}" for key in values}

        names = sorted(values)
        payload = secret(
            pulumi.Output.all(*(values[key] for key in names)).apply(
                lambda resolved: secrets_payload(dict(zip(names, resolved, strict=True)))
            )
        )
        # triggers: a changed value replaces the writer, and its new id restarts the containers on it.
        writer = host_command(
            f"{name}-files",
            args.target,
            script_command(args.target, "write-secrets.sh", args.target.secrets_dir),
            stdin=payload,
            triggers=[payload],
            opts=child,
        )
        self.revision = cast(pulumi.Output[str], writer.id)
        self.register_outputs({"paths": self.paths, "revision": self.revision, "databaseUrl": self.database_url})

    @staticmethod
    def _given_or_random(name: str, given: object, length: int, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
        if given is not None:
            return secret(given.get_secret_value())  # type: ignore[attr-defined]
        # Letters and digits only: the value goes into URLs and a redis.conf line unescaped.
        password = random.RandomPassword(name, length=length, special=False, opts=opts)
        return secret(password.result)


def secret(value: pulumi.Input[str]) -> pulumi.Output[str]:
    """`Output.secret` with its type kept (the SDK's stub loses it)."""
    return cast(pulumi.Output[str], pulumi.Output.secret(value))


def redis_conf(password: str) -> str:
    """Redis config: the password, and persistence to the data volume."""
    return f"requirepass {password}\nappendonly yes\ndir /data\nprotected-mode no\n"
