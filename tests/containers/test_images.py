"""The server images keep the official postgres / mariadb images' contract beyond the
variables the plugin sets: a named user, password and database, and the SQL files of
/docker-entrypoint-initdb.d. Run on the configured images (RAWREPO_TEST_*_IMAGE: in CI the
ones tests/containers/build.sh makes; elsewhere the official ones if this Docker has them)."""

from __future__ import annotations

import asyncio
import io
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rawrepo import Database
from rawrepo.config import parse_url
from rawrepo.drivers.base import load_driver
from rawrepo.errors import RawRepoError
from rawrepo.testing import container_image

pytestmark = pytest.mark.rawrepo_docker

_INIT_SQL = "CREATE TABLE seeded (id INTEGER PRIMARY KEY);\nINSERT INTO seeded VALUES (7);\n"
_CASES = {
    "postgresql": (
        {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "s3'cr\\et", "POSTGRES_DB": "appdb"},
        5432,
        "postgresql://app:s3%27cr%5Cet@127.0.0.1:{port}/appdb",
    ),
    "mysql": (
        {
            "MARIADB_ROOT_PASSWORD": "root-pw",
            "MYSQL_DATABASE": "appdb",  # the MYSQL_* names work too
            "MARIADB_USER": "app",
            "MARIADB_PASSWORD": "s3'cr\\et",
        },
        3306,
        "mysql://app:s3%27cr%5Cet@127.0.0.1:{port}/appdb",
    ),
}


@pytest.fixture(params=sorted(_CASES))
def server(request: pytest.FixtureRequest, docker_client: Any) -> Iterator[tuple[str, str]]:
    """(backend, URL) of a container of the backend's image, seeded through initdb.d."""
    backend: str = request.param
    env, port, url = _CASES[backend]
    image = container_image(backend)
    try:
        docker_client.images.get(image)
    except Exception as exc:
        pytest.fail(f"this test needs {image} on this Docker: {exc}", pytrace=False)
    container = docker_client.containers.create(
        image,
        environment=env,
        ports={f"{port}/tcp": ("127.0.0.1",)},
        labels={"rawrepo.testing.backend": backend, "rawrepo.testing.run": "test_images"},
    )
    try:
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo("docker-entrypoint-initdb.d/seed.sql")
            info.size = len(_INIT_SQL)
            tar.addfile(info, io.BytesIO(_INIT_SQL.encode()))
        container.put_archive("/", archive.getvalue())
        container.start()
        container.reload()
        host_port = container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"][0]["HostPort"]
        yield backend, url.format(port=host_port)
    finally:
        container.remove(force=True, v=True)


async def _connect_within(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            conn = await load_driver(parse_url(url)).connect(5)
            await conn.close()
            return
        except RawRepoError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_a_named_user_and_database_and_initdb_scripts(
    server: tuple[str, str], tmp_path: Path
) -> None:
    backend, url = server
    await _connect_within(url, 120)
    (tmp_path / "seeded").mkdir()
    (tmp_path / "seeded" / "ids.sql").write_text("-- The seeded ids.\nSELECT id FROM seeded\n")
    async with Database(url, sql_dir=tmp_path) as db, db.create_session() as session:
        assert session.dialect == backend
        assert await session.fetch_all("seeded.ids") == [{"id": 7}]
    wrong = url.replace("s3%27cr%5Cet", "wrong")
    with pytest.raises(RawRepoError):  # the password is checked on TCP connections
        conn = await load_driver(parse_url(wrong)).connect(5)
        await conn.close()
