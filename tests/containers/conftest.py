"""Tests that need a Docker daemon (marked ``rawrepo_docker``).

They run only where ``RAWREPO_TEST_DOCKER=1`` says Docker answers (the container stage of
``.ci/run``, ``tests/containers/ci-stage.sh``, sets it), and there they fail, never skip, if
it does not. Everywhere else they are deselected, which pytest's summary line counts
("N deselected"), so a run without Docker cannot pass them silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

DOCKER_ENV = "RAWREPO_TEST_DOCKER"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"rawrepo_docker: needs a Docker daemon; runs only with {DOCKER_ENV}=1"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(DOCKER_ENV) == "1":
        return
    docker_items = [item for item in items if item.get_closest_marker("rawrepo_docker")]
    if docker_items:
        config.hook.pytest_deselected(items=docker_items)
        items[:] = [item for item in items if not item.get_closest_marker("rawrepo_docker")]


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A client of the Docker daemon; fails (not skips) the test if none answers."""
    import docker

    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:
        pytest.fail(f"{DOCKER_ENV}=1 but no Docker daemon answers: {exc}", pytrace=False)
    yield client
    client.close()
