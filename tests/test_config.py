"""Settings: URL forms, environment variables, defaults and their errors (rawrepo/config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rawrepo import ConfigurationError, Database, Settings
from rawrepo.config import DEFAULT_DATABASE_URL, parse_url

SQL_DIR = Path(__file__).parent / "sql_core"

ENV_VARS = (
    "DATABASE_URL",
    "DATABASE_POOL_SIZE",
    "DATABASE_MAX_OVERFLOW",
    "DATABASE_POOL_TIMEOUT",
    "DATABASE_POOL_RECYCLE",
    "SQL_ECHO",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an environment without rawrepo's variables."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("url", "dialect", "database"),
    [
        ("postgresql+asyncpg://u:p@db.example:5433/app", "postgresql", "app"),
        ("postgresql://u@db.example/app", "postgresql", "app"),
        ("postgres://u:p@db.example/app", "postgresql", "app"),
        ("mysql+aiomysql://u:p@db.example:3307/app", "mysql", "app"),
        ("mysql://u@db.example/app", "mysql", "app"),
        ("mysql+asyncmy://u:p@db.example:3307/app", "mysql", "app"),
        ("mariadb+asyncmy://u@db.example/app", "mysql", "app"),
        ("sqlite+aiosqlite:///relative.db", "sqlite", "relative.db"),
        ("sqlite+aiosqlite:////abs/path.db", "sqlite", "/abs/path.db"),
        ("sqlite+aiosqlite:///:memory:", "sqlite", ":memory:"),
        ("sqlite:///data/other.db", "sqlite", "data/other.db"),
    ],
)
def test_every_accepted_url_form_gives_its_dialect(url: str, dialect: str, database: str) -> None:
    db = Database(url)
    assert db.dialect == dialect
    assert db.url.dialect == dialect
    assert db.url.database == database


def test_server_url_parts_and_default_ports() -> None:
    pg = parse_url("postgres://alice:s%40cret@db.example/app")
    assert (pg.host, pg.port, pg.username, pg.password) == ("db.example", 5432, "alice", "s@cret")
    my = parse_url("mysql://bob@db.example/app")
    assert (my.host, my.port, my.username, my.password) == ("db.example", 3306, "bob", None)


def test_memory_url_is_an_in_memory_database() -> None:
    assert parse_url("sqlite+aiosqlite:///:memory:").is_memory
    assert not parse_url("sqlite+aiosqlite:///app.db").is_memory


def test_unset_database_url_defaults_to_sqlite_data_app_db() -> None:
    db = Database()
    assert DEFAULT_DATABASE_URL == "sqlite+aiosqlite:///data/app.db"
    assert db.dialect == "sqlite"
    assert db.url.database == "data/app.db"


async def test_default_database_folder_is_created_on_first_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = Database(sql_dir=SQL_DIR)
    assert not (tmp_path / "data").exists()  # nothing happens before the first session
    try:
        async with db.session() as session:
            assert await session.fetch_value("core.select_one") == 1
    finally:
        await db.disconnect()
    assert (tmp_path / "data" / "app.db").is_file()


def test_pool_and_echo_defaults() -> None:
    settings = Settings.resolve()
    assert settings.pool_size == 5
    assert settings.max_overflow == 10
    assert settings.pool_timeout == 30
    assert settings.pool_recycle == 3600
    assert settings.echo is False


def test_environment_overrides_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.example/envdb")
    monkeypatch.setenv("DATABASE_POOL_SIZE", "7")
    monkeypatch.setenv("DATABASE_MAX_OVERFLOW", "0")
    monkeypatch.setenv("DATABASE_POOL_TIMEOUT", "2.5")
    monkeypatch.setenv("DATABASE_POOL_RECYCLE", "60")
    monkeypatch.setenv("SQL_ECHO", "true")
    db = Database()
    assert db.dialect == "postgresql"
    assert db.url.database == "envdb"
    assert (db.pool_size, db.max_overflow, db.pool_timeout, db.pool_recycle) == (7, 0, 2.5, 60)
    assert db.echo is True


@pytest.mark.parametrize(("text", "expected"), [("1", True), ("on", True), ("0", False)])
def test_sql_echo_accepts_usual_boolean_spellings(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: bool
) -> None:
    monkeypatch.setenv("SQL_ECHO", text)
    assert Database("sqlite+aiosqlite:///:memory:").echo is expected


def test_explicit_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.example/envdb")
    monkeypatch.setenv("DATABASE_POOL_SIZE", "7")
    monkeypatch.setenv("DATABASE_MAX_OVERFLOW", "8")
    monkeypatch.setenv("DATABASE_POOL_TIMEOUT", "9")
    monkeypatch.setenv("DATABASE_POOL_RECYCLE", "10")
    monkeypatch.setenv("SQL_ECHO", "1")
    db = Database(
        "mysql://u@db.example/argdb",
        pool_size=2,
        max_overflow=3,
        pool_timeout=4,
        pool_recycle=5,
        echo=False,
    )
    assert db.dialect == "mysql"
    assert db.url.database == "argdb"
    assert (db.pool_size, db.max_overflow, db.pool_timeout, db.pool_recycle) == (2, 3, 4, 5)
    assert db.echo is False


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("DATABASE_POOL_SIZE", "five", "integer >= 1"),
        ("DATABASE_POOL_SIZE", "0", "integer >= 1"),
        ("DATABASE_MAX_OVERFLOW", "-1", "integer >= 0"),
        ("DATABASE_MAX_OVERFLOW", "1.5", "integer >= 0"),
        ("DATABASE_POOL_TIMEOUT", "soon", "number of seconds > 0"),
        ("DATABASE_POOL_TIMEOUT", "0", "number of seconds > 0"),
        ("DATABASE_POOL_RECYCLE", "-5", "number of seconds > 0"),
        ("SQL_ECHO", "maybe", "1/0, true/false"),
        ("DATABASE_URL", "oracle://u@db.example/x", "postgresql+asyncpg://"),
        ("DATABASE_URL", "not a url", "sqlite+aiosqlite:///:memory:"),
        ("DATABASE_URL", "sqlite+aiosqlite://relative.db", "three slashes"),
        ("DATABASE_URL", "postgresql://u@db.example:notaport/x", "malformed"),
    ],
)
def test_bad_environment_value_raises_configuration_error_at_database_creation(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, accepted: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as info:
        Database()
    assert variable in str(info.value)
    assert accepted in str(info.value)
    assert info.value.variable == variable


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"url": "oracle://u@db.example/x"}, "url"),
        ({"pool_size": 0}, "pool_size"),
        ({"pool_size": 1.5}, "pool_size"),  # never truncated to 1
        ({"pool_size": True}, "pool_size"),
        ({"max_overflow": -1}, "max_overflow"),
        ({"max_overflow": 0.5}, "max_overflow"),  # never truncated to 0
        ({"pool_timeout": 0}, "pool_timeout"),
        ({"pool_recycle": -1.0}, "pool_recycle"),
    ],
)
def test_bad_argument_raises_configuration_error_naming_the_argument(
    kwargs: dict[str, object], name: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        Database(**kwargs)  # type: ignore[arg-type]
    assert info.value.variable == name
    assert str(info.value).startswith(name)


def test_a_whole_number_given_as_a_float_is_accepted_as_that_integer() -> None:
    db = Database("sqlite+aiosqlite:///:memory:", pool_size=3.0, max_overflow=0.0)  # type: ignore[arg-type]
    assert (db.pool_size, db.max_overflow) == (3, 0)
    assert type(db.pool_size) is int


def test_unsupported_scheme_error_lists_the_accepted_forms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mssql://u:secretpw@db.example/x")
    with pytest.raises(ConfigurationError) as info:
        Database()
    message = str(info.value)
    assert "'mssql'" in message
    for form in ("postgresql://", "postgres://", "mysql://", "sqlite+aiosqlite:///:memory:"):
        assert form in message
    assert "secretpw" not in message


def test_unknown_url_option_is_rejected_naming_the_accepted_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        Database("postgresql://u@db.example/x?colour=blue")
    assert "colour" in str(info.value)
    assert "sslmode" in str(info.value)
