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
from pydantic import SecretStr

from components import catalogue
from components.catalogue import CACHE, DATABASE, Service
from components.commands import Target, host_command, script_command, secrets_payload
from components.config import DatabaseConfig


@dataclass(frozen=True)
class SecretsArgs:
    """The secrets the user set (the rest are generated) and where their files go."""

    target: Target
    database: DatabaseConfig
    db_password: SecretStr | None = None
    redis_password: SecretStr | None = None
    jwt_secret: SecretStr | None = None
    bot_token: SecretStr | None = None


class Secrets(pulumi.ComponentResource):
    """The stack's secret values and the host files that carry them."""

    values: dict[str, pulumi.Output[str]]
    paths: dict[str, str]
    revision: pulumi.Output[str]
    database_url: pulumi.Output[str]

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("botstack:components:Secrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        db_password = self._given_or_random(f"{name}-db-password", args.db_password, 32, child)
        redis_password = self._given_or_random(f"{name}-redis-password", args.redis_password, 32, child)
        jwt_secret = self._given_or_random(f"{name}-jwt-secret", args.jwt_secret, 48, child)

        db = args.database
        self.database_url = secret(
            pulumi.Output.concat("postgresql://", db.user, ":", db_password, f"@{DATABASE.address}/", db.name)
        )
        redis_url = secret(pulumi.Output.concat("redis://:", redis_password, f"@{CACHE.address}/0"))
        values: dict[str, pulumi.Output[str]] = {
            catalogue.DB_PASSWORD: db_password,
            catalogue.DATABASE_URL: self.database_url,
            catalogue.REDIS_PASSWORD: redis_password,
            catalogue.REDIS_CONF: secret(redis_password.apply(redis_conf)),
            catalogue.REDIS_URL: redis_url,
            catalogue.JWT_SECRET: jwt_secret,
        }
        if args.bot_token is not None:
            values[catalogue.BOT_TOKEN] = secret(args.bot_token.get_secret_value())
        self.values = values
        self.paths = {key: f"{args.target.secrets_dir}/{key}" for key in values}

        names = sorted(values)
        payload = secret(
            pulumi.Output.all(*(values[key] for key in names)).apply(
                lambda resolved: secrets_payload(dict(zip(names, resolved, strict=True)))
            )
        )
        # triggers: a changed value replaces the command, and its new id restarts the containers on it.
        files = host_command(
            f"{name}-files",
            args.target,
            script_command(args.target, "write-secrets.sh", args.target.secrets_dir),
            stdin=payload,
            triggers=[payload],
            opts=child,
        )
        self.revision = cast(pulumi.Output[str], files.id)
        self.register_outputs({"paths": self.paths, "revision": self.revision, "databaseUrl": self.database_url})

    def files_for(self, service: Service) -> dict[str, str]:
        """The host files of a service's secrets."""
        return {name: self.paths[name] for name in service.secrets}

    @staticmethod
    def _given_or_random(name: str, given: SecretStr | None, length: int, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
        if given is not None:
            return secret(given.get_secret_value())
        # Letters and digits only: the value goes into URLs and a redis.conf line unescaped.
        password = random.RandomPassword(name, length=length, special=False, opts=opts)
        return secret(password.result)


def secret(value: pulumi.Input[str]) -> pulumi.Output[str]:
    """`Output.secret` with its type kept (the SDK's stub loses it)."""
    return cast(pulumi.Output[str], pulumi.Output.secret(value))


def redis_conf(password: str) -> str:
    """Redis config: the password, and persistence to the data volume."""
    return f"requirepass {password}\nappendonly yes\ndir /data\nprotected-mode no\n"
