"""Shared e2e fixtures: the real parts (engine + images from tests.setup) and throwaway Docker objects.

- `real_parts` (session): runs `tests.setup.ensure_all()` (cached: about a second when nothing
  changed) and returns {image name: id}; app images are absent while their Dockerfiles don't exist.
- `docker_client` (session): a docker SDK client for the engine `tests.setup.ensure_engine()` made answer.
- `docker_scratch` (module): creates containers, networks and volumes under a unique prefix
  (`botstack-e2e-<hex>-`) with the label `botstack.e2e=1`, and removes exactly those afterwards.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
import pytest
from docker.models.containers import Container
from docker.models.networks import Network
from docker.models.volumes import Volume

from tests.setup import SetupError, ensure_all, ensure_engine

E2E_LABEL = "botstack.e2e"


@pytest.fixture(scope="session")
def real_parts() -> dict[str, str]:
    try:
        return ensure_all()
    except SetupError as exc:
        pytest.fail(f"setting up the real parts failed: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        ensure_engine()
    except SetupError as exc:
        pytest.fail(f"no Docker engine: {exc}", pytrace=False)
    client = docker.from_env(timeout=300)
    yield client
    client.close()


class DockerScratch:
    """Docker objects for one test module, all named `<prefix><name>` and removed by `cleanup()`."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.prefix = f"botstack-e2e-{uuid.uuid4().hex[:8]}-"
        self.containers: list[Container] = []
        self.networks: list[Network] = []
        self.volumes: list[Volume] = []

    def name(self, short: str) -> str:
        return f"{self.prefix}{short}"

    def network(self, short: str, **kwargs: Any) -> Network:
        net = self.client.networks.create(self.name(short), labels={E2E_LABEL: "1"}, **kwargs)
        self.networks.append(net)
        return net

    def volume(self, short: str) -> Volume:
        vol = self.client.volumes.create(self.name(short), labels={E2E_LABEL: "1"})
        self.volumes.append(vol)
        return vol

    def run(self, image: str, short: str, **kwargs: Any) -> Container:
        """`docker run -d --name <prefix><short> ...` (kwargs as for the SDK's containers.run)."""
        labels = {E2E_LABEL: "1", **kwargs.pop("labels", {})}
        container = self.client.containers.create(image, name=self.name(short), labels=labels, **kwargs)
        self.containers.append(container)
        container.start()
        container.reload()
        return container

    def remove_container(self, container: Container, stop_timeout: int = 30) -> None:
        container.stop(timeout=stop_timeout)
        container.remove(v=True)
        self.containers.remove(container)

    def cleanup(self) -> None:
        for container in reversed(self.containers):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
        for net in self.networks:
            with contextlib.suppress(docker.errors.NotFound):
                net.remove()
        for vol in self.volumes:
            with contextlib.suppress(docker.errors.NotFound):
                vol.remove(force=True)


@pytest.fixture(scope="module")
def docker_scratch(docker_client: docker.DockerClient) -> Iterator[DockerScratch]:
    scratch = DockerScratch(docker_client)
    yield scratch
    scratch.cleanup()
