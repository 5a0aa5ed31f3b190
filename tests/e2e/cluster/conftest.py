"""The swarm suite is marked `cluster` (besides `e2e`): it starts three Docker-in-Docker nodes and takes about
2.5 minutes, so a run can leave it out with `-m "not cluster"`."""

from __future__ import annotations


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "cluster: the Docker Swarm suite on three Docker-in-Docker nodes (tests/e2e/cluster)")
