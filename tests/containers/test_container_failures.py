"""When a server backend has no URL and its container cannot start (Docker absent; or Docker
answering but the image missing, the container exiting, the server not ready in time), the
backend skips with one reason (under RAWREPO_TEST_REQUIRE: fails once), is tried once per
session, and leaves no container behind. Each case is a pytest run of its own (pytester)
whose conftest counts the containers testcontainers is asked to start. The cases with Docker
are marked ``rawrepo_docker`` (see conftest.py)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from rawrepo.testing import container_image
from tests.pytester_projects import INI

pytest_plugins = ["pytester"]

_INI = INI + "rawrepo_backends = sqlite postgresql mysql mysql+asyncmy\n"

_CONFTEST = """\
import json
from pathlib import Path

from testcontainers.core.container import DockerContainer

pytest_plugins = ["rawrepo.testing"]

STARTS = []
_start = DockerContainer.start


def _counting_start(self):
    STARTS.append(self.image)
    return _start(self)


DockerContainer.start = _counting_start


def pytest_sessionfinish(session):
    Path(__file__).with_name("starts.json").write_text(json.dumps(STARTS))
"""

_TESTS = """\
async def test_the_bundled_schema_is_there(rawrepo_db):
    async with rawrepo_db.create_session() as session:
        assert await session.fetch_value("users.count", username=None) == 0


async def test_a_second_database_test(rawrepo_db):
    async with rawrepo_db.create_session() as session:
        assert await session.fetch_value("tasks.count", status=None, user_id=None) == 0


def test_a_third(empty_database_url):
    assert empty_database_url
"""


def _run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, **env: str
) -> tuple[pytest.RunResult, list[str], str]:
    """Run the three tests on every target with ``env``; the result, the images
    testcontainers was asked to start, and the run id the containers were labelled with."""
    for name in (
        "RAWREPO_TEST_POSTGRESQL_URL",
        "RAWREPO_TEST_MYSQL_URL",
        "RAWREPO_TEST_POSTGRESQL_IMAGE",
        "RAWREPO_TEST_MYSQL_IMAGE",
        "RAWREPO_TEST_REQUIRE",
        "RAWREPO_TEST_BACKENDS",
    ):
        monkeypatch.delenv(name, raising=False)
    run_id = f"rawrepo-failure-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("RAWREPO_TEST_RUN_ID", run_id)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    pytester.makeini(_INI)
    pytester.makeconftest(_CONFTEST)
    pytester.makepyfile(test_db=_TESTS)
    result = pytester.runpytest_subprocess()
    starts: list[str] = json.loads((pytester.path / "starts.json").read_text())
    return result, starts, run_id


def _skip_lines(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.startswith("SKIPPED [")]


def _left(docker_client: Any, run_id: str) -> list[Any]:
    return list(
        docker_client.containers.list(all=True, filters={"label": f"rawrepo.testing.run={run_id}"})
    )


def _present_image(docker_client: Any, backend: str) -> str:
    """The configured image of ``backend``, which this test needs on this Docker."""
    image = container_image(backend)
    try:
        docker_client.images.get(image)
    except Exception as exc:
        pytest.fail(f"this test needs the {backend} server image {image} on this Docker: {exc}")
    return image


def _missing_images() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {
        "RAWREPO_TEST_POSTGRESQL_IMAGE": f"rawrepo-test/no-such-pg:{tag}",
        "RAWREPO_TEST_MYSQL_IMAGE": f"rawrepo-test/no-such-my:{tag}",
    }


@pytest.mark.rawrepo_docker
def test_a_missing_image_skips_each_backend_once_with_one_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, docker_client: Any
) -> None:
    images = _missing_images()
    result, starts, run_id = _run(pytester, monkeypatch, **images)
    result.assert_outcomes(passed=3, skipped=9)  # and no errors
    pg_line, my_line = sorted(_skip_lines(result), key=lambda line: "mysql tests" in line)
    assert pg_line.startswith("SKIPPED [3] ")
    assert my_line.startswith("SKIPPED [6] ")  # mysql and mysql+asyncmy share one attempt
    for line, name in ((pg_line, "POSTGRESQL"), (my_line, "MYSQL")):
        assert f"'{images[f'RAWREPO_TEST_{name}_IMAGE']}'" in line
        assert "pulling it failed" in line
        assert f"RAWREPO_TEST_{name}_IMAGE to an image this Docker has" in line
        assert f"set RAWREPO_TEST_{name}_URL" in line
    assert sorted(starts) == sorted(images.values())  # tried once each, no retry per test
    assert _left(docker_client, run_id) == []


@pytest.mark.rawrepo_docker
def test_under_require_a_missing_image_fails_once_per_backend(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, docker_client: Any
) -> None:
    images = _missing_images()
    result, starts, run_id = _run(
        pytester, monkeypatch, RAWREPO_TEST_REQUIRE="postgresql,mysql", **images
    )
    result.assert_outcomes(passed=3, errors=2, skipped=7)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert _reported(result, "RAWREPO_TEST_REQUIRE names postgresql, but") == 1
    assert _reported(result, "RAWREPO_TEST_REQUIRE names mysql, but") == 1
    for line in _skip_lines(result):  # the rest point at the one failure
        assert "the run failed once on it, in test_db.py::" in line
    assert sorted(starts) == sorted(images.values())
    assert _left(docker_client, run_id) == []


@pytest.mark.rawrepo_docker
@pytest.mark.parametrize(
    ("image_of", "env", "expected"),
    [
        # A MySQL server image started as the PostgreSQL server gets POSTGRES_* settings
        # only, so its entrypoint exits at once, as the official mariadb image's does.
        pytest.param(
            "mysql",
            {},
            [
                "the container exited with code 1",
                "MARIADB_ROOT_PASSWORD",  # the image's own words, from its log
                "keeps the official image's contract",
            ],
            id="the-container-exits",
        ),
        # With no time at all, the first connection attempt meets the entrypoint still
        # initialising the cluster (seconds of work), so the wait gives up at once.
        pytest.param(
            "postgresql",
            {"RAWREPO_TEST_CONTAINER_TIMEOUT": "0"},
            [
                "did not accept a connection within 0 s (RAWREPO_TEST_CONTAINER_TIMEOUT)",
                "raise RAWREPO_TEST_CONTAINER_TIMEOUT",
            ],
            id="the-server-is-not-ready-in-time",
        ),
    ],
)
def test_a_postgresql_container_that_fails_is_one_reason_saying_why(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    docker_client: Any,
    image_of: str,
    env: dict[str, str],
    expected: list[str],
) -> None:
    image = _present_image(docker_client, image_of)
    result, starts, run_id = _run(
        pytester,
        monkeypatch,
        RAWREPO_TEST_POSTGRESQL_IMAGE=image,
        RAWREPO_TEST_BACKENDS="sqlite,postgresql",
        **env,
    )
    result.assert_outcomes(passed=3, skipped=3)
    [line] = _skip_lines(result)
    for text in expected:
        assert text in line
    assert starts == [image]  # tried once
    assert _left(docker_client, run_id) == []


def _reported(result: pytest.RunResult, text: str) -> int:
    """How many failure reports hold ``text``, not counting the short summary's one line
    per error (which pytest shortens to the terminal's width, but not where CI is set)."""
    return sum(
        line.count(text) for line in result.outlines if not line.startswith(("ERROR ", "FAILED "))
    )


@pytest.mark.parametrize("require", ["", "postgresql,mysql"])
def test_without_docker_each_backend_skips_once_saying_how_to_enable_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, require: str
) -> None:
    result, starts, _ = _run(
        pytester,
        monkeypatch,
        DOCKER_HOST="unix:///nonexistent/docker.sock",
        RAWREPO_TEST_REQUIRE=require,
    )
    if require:
        result.assert_outcomes(passed=3, errors=2, skipped=7)
        assert _reported(result, "RAWREPO_TEST_REQUIRE names mysql, but") == 1
    else:
        result.assert_outcomes(passed=3, skipped=9)
        pg_line, my_line = sorted(_skip_lines(result), key=lambda line: "mysql tests" in line)
        assert pg_line.startswith("SKIPPED [3] ")
        assert "set RAWREPO_TEST_POSTGRESQL_URL" in pg_line
        assert "run Docker so testcontainers can start postgres:15" in pg_line
        assert my_line.startswith("SKIPPED [6] ")
        assert "set RAWREPO_TEST_MYSQL_URL" in my_line
    assert starts == []
