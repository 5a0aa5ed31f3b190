"""Images: the app images built from app/ (or pulled at a pinned tag), the PostgreSQL image (plus pgBackRest, built
from images/postgres, when point-in-time recovery is on) and the Redis image.

Containers refer to images by ID (built: the local image ID; pulled: `imageId`), so a rebuilt or
re-pinned image replaces exactly the containers that run it, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_docker as docker

from components.commands import REPO_ROOT
from components.config import ImagesConfig
from components.naming import Naming


@dataclass(frozen=True)
class ImagesArgs:
    images: ImagesConfig
    naming: Naming
    with_pgbackrest: bool = False  # point-in-time recovery: the database image plus pgBackRest, built here


class Images(pulumi.ComponentResource):
    """Image IDs to run, by role: backend, web, postgres, redis."""

    backend: pulumi.Output[str]
    web: pulumi.Output[str]
    postgres: pulumi.Output[str]
    redis: pulumi.Output[str]

    def __init__(self, name: str, args: ImagesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("botstack:components:Images", name, None, opts)
        images = args.images
        self.backend = self._app_image(
            f"{name}-backend", images.app_image("backend"), "backend", {"PYTHON_IMAGE": images.python}, args
        )
        self.web = self._app_image(f"{name}-web", images.app_image("web"), "web", {"CADDY_IMAGE": images.proxy}, args)
        # With point-in-time recovery the database image is the configured one plus pgBackRest, built here.
        self.postgres = (
            self._database_image(f"{name}-postgres", images.postgres, args)
            if args.with_pgbackrest
            else self._pulled(f"{name}-postgres", images.postgres)
        )
        self.redis = self._pulled(f"{name}-redis", images.redis)
        self.register_outputs({"backend": self.backend, "web": self.web, "postgres": self.postgres, "redis": self.redis})

    def _pulled(self, name: str, reference: str) -> pulumi.Output[str]:
        # keep_locally: a replaced or destroyed stack must not delete an image other stacks may run.
        image = docker.RemoteImage(name, name=reference, keep_locally=True, opts=pulumi.ResourceOptions(parent=self))
        return cast(pulumi.Output[str], image.image_id)

    def _database_image(self, name: str, base: str, args: ImagesArgs) -> pulumi.Output[str]:
        context = REPO_ROOT / "images" / "postgres"
        image = docker.Image(
            name,
            build=docker.DockerBuildArgs(
                context=str(context.relative_to(REPO_ROOT)),
                dockerfile=str((context / "Dockerfile").relative_to(REPO_ROOT)),
                args={"POSTGRES_IMAGE": base},
            ),
            image_name=f"{args.naming.project}/postgres:{args.naming.stack}",
            skip_push=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return cast(pulumi.Output[str], image.repo_digest)

    def _app_image(
        self, name: str, reference: str | None, app: str, base_args: dict[str, str], args: ImagesArgs
    ) -> pulumi.Output[str]:
        if reference is not None:
            return self._pulled(name, reference)
        context = REPO_ROOT / "app" / app
        image = docker.Image(
            name,
            build=docker.DockerBuildArgs(
                context=str(context.relative_to(REPO_ROOT)),
                dockerfile=str((context / "Dockerfile").relative_to(REPO_ROOT)),
                args={**base_args, **args.images.build_args},
            ),
            image_name=f"{args.naming.project}/{app}:{args.naming.stack}",
            skip_push=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # With skip_push, repo_digest is the local image ID: it changes exactly when the build does.
        return cast(pulumi.Output[str], image.repo_digest)
