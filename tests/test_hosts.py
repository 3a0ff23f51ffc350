"""Several hosts in one URL (issue 14, item 1): parsing, and PostgreSQL's
``target_session_attrs`` against a real server (the shared one is a primary)."""

from __future__ import annotations

import pytest

from rawrepo import Database
from rawrepo.config import parse_url
from rawrepo.errors import ConfigurationError, ConnectionLost
from rawrepo.testing import backend_server_url


def test_a_url_lists_its_hosts_in_order_with_default_ports() -> None:
    url = parse_url("postgresql://app:pw@db1:5433,db2,[::1]:5435/app?sslmode=require")
    assert url.hosts == (("db1", 5433), ("db2", 5432), ("::1", 5435))
    assert (url.host, url.port) == ("db1", 5433)
    assert url.database == "app" and url.password == "pw"
    assert str(url) == "postgresql://app:***@db1:5433,db2:5432,[::1]:5435/app?sslmode=require"
    assert parse_url(url.render(mask=False)).hosts == url.hosts
    assert url.with_database("other").hosts == url.hosts


def test_a_mysql_url_lists_its_hosts_too() -> None:
    url = parse_url("mysql://root@n1:3306,n2:3307,n3:3308/app")
    assert url.hosts == (("n1", 3306), ("n2", 3307), ("n3", 3308))


def test_a_single_host_url_has_one_host() -> None:
    assert parse_url("postgresql://h/app").hosts == (("h", 5432),)
    assert parse_url("sqlite+aiosqlite:///x.db").hosts == ()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://u@h1:5432,h1:5432/app", "twice"),
        ("postgresql://u@h1:5432,,h2:1/app", "empty host"),
        ("mysql://u@h1:3306,h2:port/app", "malformed"),
        ("mysql://u@h1:3306,h2:99999/app", "malformed"),
    ],
)
def test_a_bad_host_list_is_a_configuration_error(url: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem) as caught:
        parse_url(url)
    assert caught.value.variable == "DATABASE_URL"


def test_an_unknown_target_session_attrs_is_refused_naming_the_values() -> None:
    with pytest.raises(ConfigurationError, match="read-write") as caught:
        Database("postgresql://u@h1,h2/app?target_session_attrs=writable")
    assert "writable" in str(caught.value)


def test_a_bad_wsrep_sync_wait_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="wsrep_sync_wait"):
        Database("mysql://u@h1,h2/app?wsrep_sync_wait=on")


def test_several_hosts_ask_for_a_writable_server_by_default() -> None:
    assert Database("postgresql://u@h1,h2/app").driver.target == "read-write"  # type: ignore[attr-defined]
    assert Database("postgresql://u@h1/app").driver.target == "any"  # type: ignore[attr-defined]


def _pg(attrs: str) -> str:
    url = parse_url(backend_server_url("postgresql"))
    return f"postgresql://postgres@{url.host}:{url.port}/postgres?target_session_attrs={attrs}"


@pytest.mark.backend
@pytest.mark.parametrize("attrs", ["any", "read-write", "primary", "prefer-standby"])
async def test_a_primary_serves_the_attributes_it_has(attrs: str) -> None:
    db = Database(_pg(attrs))
    try:
        health = await db.health_check()
    finally:
        await db.disconnect()
    assert health.healthy, health.error
    assert health.host is not None and health.host.endswith(f":{parse_url(_pg(attrs)).port}")


@pytest.mark.backend
@pytest.mark.parametrize(
    ("attrs", "reason"), [("standby", "not a standby"), ("read-only", "not read-only")]
)
async def test_a_primary_is_refused_for_the_attributes_it_lacks(attrs: str, reason: str) -> None:
    db = Database(_pg(attrs), pool_timeout=5)
    try:
        with pytest.raises(ConnectionLost, match=reason) as caught:
            async with db.create_session():
                pass
    finally:
        await db.disconnect()
    assert f"target_session_attrs={attrs}" in str(caught.value)


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_the_url_connect_timeout_is_the_default_for_each_connect(scheme: str) -> None:
    assert Database(f"{scheme}://u@h1,h2/app?connect_timeout=2.5").connect_timeout == 2.5
    assert (
        Database(f"{scheme}://u@h1/app?connect_timeout=2.5", connect_timeout=4).connect_timeout == 4
    )
    assert Database(f"{scheme}://u@h1/app").connect_timeout == 10


@pytest.mark.parametrize("value", ["soon", "0", "-1", "inf"])
def test_a_bad_connect_timeout_is_refused_naming_it(value: str) -> None:
    with pytest.raises(ConfigurationError, match="connect_timeout"):
        Database(f"postgresql://u@h1/app?connect_timeout={value}")
    with pytest.raises(ConfigurationError, match="connect_timeout"):
        Database("postgresql://u@h1/app", connect_timeout=0)
