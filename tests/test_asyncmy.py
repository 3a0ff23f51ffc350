"""The optional asyncmy driver: chosen by URL scheme, aiomysql stays the default.

The rest of the suite runs every MySQL test on both drivers (the ``mysql+asyncmy``
target of the ``rawrepo_backends`` ini option); these tests pin the choice itself.
"""

from __future__ import annotations

import sys

import pytest

from rawrepo import Database
from rawrepo.config import parse_url
from rawrepo.errors import ConfigurationError
from rawrepo.repositories import UserRepository


@pytest.mark.parametrize(
    ("url", "driver", "driver_class"),
    [
        ("mysql://u@db.example/app", "aiomysql", "MySQLDriver"),
        ("mariadb://u@db.example/app", "aiomysql", "MySQLDriver"),
        ("mysql+aiomysql://u@db.example/app", "aiomysql", "MySQLDriver"),
        ("mysql+asyncmy://u@db.example/app", "asyncmy", "AsyncmyDriver"),
        ("mariadb+asyncmy://u@db.example/app", "asyncmy", "AsyncmyDriver"),
    ],
)
def test_the_url_scheme_chooses_the_mysql_driver(url: str, driver: str, driver_class: str) -> None:
    assert parse_url(url).driver == driver
    db = Database(url)
    assert db.dialect == "mysql"
    assert type(db.driver).__name__ == driver_class


def test_without_asyncmy_installed_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "asyncmy", None)  # as if the package were absent
    monkeypatch.delitem(sys.modules, "rawrepo.drivers.asyncmy", raising=False)
    with pytest.raises(ConfigurationError) as info:
        Database("mysql+asyncmy://u@db.example/app")
    assert info.value.variable == "DATABASE_URL"
    assert "asyncmy" in info.value.message
    assert info.value.hint == "pip install 'rawrepo[asyncmy]'"
    # the default driver does not need it
    assert Database("mysql://u@db.example/app").dialect == "mysql"


@pytest.mark.rawrepo_backends("mysql")
async def test_each_mysql_target_talks_through_its_own_driver(
    rawrepo_db: Database, rawrepo_target: str
) -> None:
    expected = "asyncmy" if rawrepo_target == "mysql+asyncmy" else "aiomysql"
    async with rawrepo_db.session() as session:
        raw = session.connection.raw  # type: ignore[attr-defined]
        assert type(raw).__module__.split(".")[0] == expected
        assert await UserRepository().count(session) >= 0
