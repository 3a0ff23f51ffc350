"""Replica settings, write tokens and read-only sessions without replicas
(rawrepo/config.py, rawrepo/replicas.py, rawrepo/drivers/replication.py).

The routing and read-your-writes tests on real replicas are in tests/replication/."""

from __future__ import annotations

from pathlib import Path

import pytest

from rawrepo import ConfigurationError, Database, ReadOnlySessionError
from rawrepo.config import Settings, split_url_list
from rawrepo.drivers.replication import replication_for
from rawrepo.testing import DatabaseFactory

SQL_DIR = Path(__file__).parent / "sql_core"
PG = "postgresql://app:pw1@db.example/app"
MY = "mysql://app:pw1@db.example/app"
REPLICA_VARS = (
    "DATABASE_REPLICA_URLS",
    "DATABASE_REPLICA_MAX_LAG",
    "DATABASE_REPLICA_WAIT",
    "DATABASE_REPLICA_COOLDOWN",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in REPLICA_VARS:
        monkeypatch.delenv(name, raising=False)


# --- settings ----------------------------------------------------------------------


def test_replica_urls_come_from_the_environment_comma_separated() -> None:
    env = {
        "DATABASE_REPLICA_URLS": " postgresql://r1/app, postgresql://u:p%2Cq@r2:6432/app ,",
        "DATABASE_REPLICA_MAX_LAG": "2.5",
        "DATABASE_REPLICA_WAIT": "0.25",
        "DATABASE_REPLICA_COOLDOWN": "0",
    }
    settings = Settings.resolve(PG, env=env)
    assert [u.host for u in settings.replica_urls] == ["r1", "r2"]
    assert settings.replica_urls[1].password == "p,q" and settings.replica_urls[1].port == 6432
    assert (settings.replica_max_lag, settings.replica_wait, settings.replica_cooldown) == (
        2.5,
        0.25,
        0.0,
    )


def test_without_replica_settings_there_are_none_and_the_wait_is_one_second() -> None:
    settings = Settings.resolve(PG, env={})
    assert settings.replica_urls == ()
    assert settings.replica_max_lag is None  # no limit
    assert settings.replica_wait == 1.0
    assert Settings.resolve(PG, env={"DATABASE_REPLICA_URLS": " "}).replica_urls == ()


def test_explicit_replica_arguments_win_over_the_environment() -> None:
    env = {"DATABASE_REPLICA_URLS": "postgresql://env/app", "DATABASE_REPLICA_WAIT": "9"}
    settings = Settings.resolve(
        PG, replica_urls=["postgresql://arg/app"], replica_wait=0, replica_max_lag=1, env=env
    )
    assert [u.host for u in settings.replica_urls] == ["arg"]
    assert (settings.replica_wait, settings.replica_max_lag) == (0.0, 1.0)
    assert Settings.resolve(PG, replica_urls=[], env=env).replica_urls == ()


def test_a_comma_inside_one_url_does_not_split_it() -> None:
    assert split_url_list("postgresql://h1:5432,h2:5433/app,mysql://x/y") == [
        "postgresql://h1:5432,h2:5433/app",
        "mysql://x/y",
    ]


@pytest.mark.parametrize(
    ("primary", "replica"),
    [(PG, "mysql://r/app"), (MY, "postgresql://r/app"), (PG, "mysql+asyncmy://r/app")],
)
def test_a_replica_of_another_dialect_is_a_configuration_error_naming_the_variable(
    primary: str, replica: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.resolve(primary, env={"DATABASE_REPLICA_URLS": replica})
    assert info.value.variable == "DATABASE_REPLICA_URLS"
    assert "DATABASE_REPLICA_URLS" in str(info.value) and "dialect" in str(info.value)
    with pytest.raises(ConfigurationError) as info:
        Database(primary, replica_urls=[replica])
    assert info.value.variable == "replica_urls"


def test_sqlite_with_replicas_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="SQLite has no replicas"):
        Database("sqlite+aiosqlite:///:memory:", replica_urls=["sqlite:///other.db"])
    with pytest.raises(ConfigurationError, match="SQLite has no replicas") as info:
        Settings.resolve("sqlite:///a.db", env={"DATABASE_REPLICA_URLS": "postgresql://r/app"})
    assert info.value.variable == "DATABASE_REPLICA_URLS"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DATABASE_REPLICA_URLS": "postgresql://ok/app,redis://u:topsecret@x/0"}, None),
        ({"DATABASE_REPLICA_URLS": "nonsense"}, None),
        ({"DATABASE_REPLICA_MAX_LAG": "0"}, "DATABASE_REPLICA_MAX_LAG"),
        ({"DATABASE_REPLICA_MAX_LAG": "soon"}, "DATABASE_REPLICA_MAX_LAG"),
        ({"DATABASE_REPLICA_WAIT": "-1"}, "DATABASE_REPLICA_WAIT"),
        ({"DATABASE_REPLICA_WAIT": "inf"}, "DATABASE_REPLICA_WAIT"),
        ({"DATABASE_REPLICA_COOLDOWN": "x"}, "DATABASE_REPLICA_COOLDOWN"),
    ],
)
def test_bad_replica_settings_are_errors_naming_the_variable(
    env: dict[str, str], variable: str | None
) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.resolve(PG, env=env)
    expected = variable or "DATABASE_REPLICA_URLS"
    assert info.value.variable == expected and expected in str(info.value)
    assert "topsecret" not in str(info.value)


def test_a_replica_url_option_the_driver_rejects_names_the_replica_variable() -> None:
    with pytest.raises(ConfigurationError) as info:
        Database(PG, replica_urls=["postgresql://r1/app?nonsense=1"])
    assert info.value.variable == "DATABASE_REPLICA_URLS" and "nonsense" in str(info.value)


def test_replica_passwords_never_appear_in_reprs_or_errors() -> None:
    db = Database(PG, replica_urls=["postgresql://app:replicapw@r1/app"])
    assert "replicapw" not in repr(db) + repr(db.settings) + str(db.settings)
    with pytest.raises(ConfigurationError) as info:
        Database(PG, replica_urls=["mysql://app:replicapw@r1/app"])
    assert "replicapw" not in str(info.value) and "***" in str(info.value)


# --- tokens ------------------------------------------------------------------------


def test_postgresql_tokens_are_lsns_compared_as_numbers() -> None:
    ops = replication_for("postgresql")
    assert ops.normalize(" 0/a1b2 ") == "0/A1B2"
    assert ops.later("0/FFFFFFFF", "1/0") == "1/0"  # not a text comparison
    assert ops.later("16/B374D848", "9/FFFFFFFF") == "16/B374D848"
    assert ops.covers("1/0", "0/FFFFFFFF") and ops.covers("1/0", "1/0")
    assert not ops.covers("0/FFFFFFFF", "1/0")
    for bad in ("", "16", "0-1-2", "G/1", "1/2/3", "123456789/0"):
        with pytest.raises(ValueError, match="LSN"):
            ops.normalize(bad)


def test_mariadb_tokens_are_gtid_lists_compared_domain_by_domain() -> None:
    ops = replication_for("mysql")
    assert ops.normalize("1-2-7, 0-1-42") == "0-1-42,1-2-7"
    assert ops.later("0-1-42", "0-1-9") == "0-1-42"  # not a text comparison
    assert ops.later("0-1-42,1-2-7", "1-3-8,2-1-1") == "0-1-42,1-3-8,2-1-1"
    assert ops.covers("0-1-42,1-2-7", "0-1-42") and ops.covers("0-1-42,1-2-7", "1-3-5")
    assert not ops.covers("0-1-42", "0-1-43")
    assert not ops.covers("0-1-42", "0-1-1,1-2-1")  # a domain it has not seen at all
    for bad in ("", "0-1", "a-b-c", "0/A1B2", "0-1-2,,"):
        with pytest.raises(ValueError, match="GTID"):
            ops.normalize(bad)


def test_sqlite_has_no_tokens() -> None:
    with pytest.raises(ConfigurationError, match="SQLite has no replicas"):
        replication_for("sqlite")


@pytest.mark.parametrize(
    ("url", "good", "bad"),
    [(PG, "16/B374D848", "0-1-42"), (MY, "0-1-42", "16/B374D848")],
)
def test_a_malformed_after_token_is_a_value_error_before_anything_connects(
    url: str, good: str, bad: str
) -> None:
    for db in (Database(url), Database(url, replica_urls=[url.replace("db.", "r1.")])):
        db.create_session(readonly=True, after=good)  # no server is needed to check it
        db.create_session(readonly=True, after=None)
        with pytest.raises(ValueError, match="write token"):
            db.create_session(readonly=True, after=bad)
        with pytest.raises(ValueError, match="readonly=True"):
            db.create_session(after=good)
    with pytest.raises(ValueError, match="SQLite"):
        Database("sqlite+aiosqlite:///:memory:").create_session(readonly=True, after=good)


# --- read-only sessions without replicas, every backend ----------------------------


async def test_a_readonly_session_without_replicas_reads_the_primary_and_rejects_writes(
    rawrepo_databases: DatabaseFactory,
) -> None:
    async with Database(await rawrepo_databases.create(), sql_dir=SQL_DIR) as db:
        async with db.create_session() as session:
            await session.execute("core.create_notes")
            await session.execute("core.insert_note", id=1)
        assert session.write_token is None and db.write_token is None  # nothing fetched
        async with db.create_session(readonly=True) as session:
            assert session.readonly and session.replica is None
            assert await session.fetch_value("core.count_notes") == 1
            with pytest.raises(ReadOnlySessionError) as info:
                await session.execute("core.insert_note", id=2)
            assert info.value.query == "core.insert_note"
            assert str(info.value.path).endswith("insert_note.sql")
            with pytest.raises(ReadOnlySessionError):
                await session.execute_many("core.insert_note", [{"id": 3}])
            assert not session.in_transaction  # nothing was sent: not even BEGIN
            assert await session.fetch_value("core.count_notes") == 1
        async with db.create_session() as session:
            assert await session.fetch_value("core.count_notes") == 1
