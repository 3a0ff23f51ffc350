"""The query loader: placeholder rewriting, overrides, descriptions and load errors
(rawrepo/queries.py), and how a Database uses it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

import rawrepo.database
from rawrepo import (
    Database,
    QueryLoadError,
    QueryNotFoundError,
    QueryParameterError,
    load_queries,
    require_queries,
)
from rawrepo.config import Dialect
from rawrepo.models import TaskStatus
from rawrepo.queries import parse_query

SQL_DIR = Path(__file__).parent / "sql_core"
DIALECTS: tuple[Dialect, ...] = ("postgresql", "mysql", "sqlite")


def rewrite(source: str, dialect: Dialect) -> str:
    return parse_query(source, dialect, name="t.q", path=Path("t/q.sql")).sql


def write(root: Path, relpath: str, text: str) -> Path:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- placeholder rewriting -------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("postgresql", "SELECT * FROM t WHERE a = $1 AND b = $2 OR a = $1"),
        ("mysql", "SELECT * FROM t WHERE a = %(a)s AND b = %(b)s OR a = %(a)s"),
        ("sqlite", "SELECT * FROM t WHERE a = :a AND b = :b OR a = :a"),
    ],
)
def test_named_parameters_are_rewritten_per_dialect(dialect: Dialect, expected: str) -> None:
    query = parse_query(
        "SELECT * FROM t WHERE a = :a AND b = :b OR a = :a",
        dialect,
        name="t.q",
        path=Path("t/q.sql"),
    )
    assert query.sql == expected
    assert query.params == ("a", "b")


def test_repeated_parameter_reuses_its_number_on_postgresql() -> None:
    query = parse_query("SELECT :x, :y, :x, :z, :y", "postgresql", name="t.q", path=Path("t/q.sql"))
    assert query.sql == "SELECT $1, $2, $1, $3, $2"
    assert query.bind({"z": 3, "y": 2, "x": 1}) == (1, 2, 3)


def test_mysql_doubles_every_literal_percent() -> None:
    source = "SELECT '5%' AS s, qty % 2 FROM t WHERE name LIKE 'a%' AND id = :id -- 100%"
    assert rewrite(source, "mysql") == (
        "SELECT '5%%' AS s, qty %% 2 FROM t WHERE name LIKE 'a%%' AND id = %(id)s -- 100%%"
    )
    assert rewrite(source, "postgresql").count("%") == 4  # only MySQL doubles them
    assert rewrite(source, "sqlite").count("%") == 4


# Each case: text that holds a ':name' look-alike that must stay as written.
UNTOUCHED: list[tuple[Dialect, str]] = [
    *[(d, "SELECT ':no' FROM t") for d in DIALECTS],
    *[(d, "SELECT 'it''s :no' FROM t") for d in DIALECTS],
    *[(d, 'SELECT "col:no" FROM t') for d in DIALECTS],
    *[(d, 'SELECT "a "" :no" FROM t') for d in DIALECTS],
    *[(d, "SELECT 1 -- :no\nFROM t") for d in DIALECTS],
    *[(d, "SELECT 1 /* :no */ FROM t") for d in DIALECTS],
    ("postgresql", "SELECT E'it\\'s :no' FROM t"),
    ("postgresql", "SELECT 1 /* outer /* inner :no */ still :no */ FROM t"),
    ("postgresql", "SELECT $$ :no $$ FROM t"),
    ("postgresql", "SELECT $body$ :no $$ :no $body$ FROM t"),
    ("mysql", "SELECT 'it\\'s :no' FROM t"),
    ("mysql", 'SELECT "it\\"s :no" FROM t'),
    ("mysql", "SELECT `col:no` FROM t"),
    ("mysql", "SELECT 1 # :no\nFROM t"),
    ("sqlite", "SELECT `col:no` FROM t"),
]


@pytest.mark.parametrize(("dialect", "source"), UNTOUCHED)
def test_parameter_lookalikes_in_literals_identifiers_and_comments_are_left_alone(
    dialect: Dialect, source: str
) -> None:
    query = parse_query(source + " WHERE x = :real", dialect, name="t.q", path=Path("t/q.sql"))
    assert query.params == ("real",)
    expected = source.replace("%", "%%") if dialect == "mysql" else source
    assert query.sql.startswith(expected)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_double_colon_cast_is_not_a_parameter(dialect: Dialect) -> None:
    query = parse_query("SELECT :v::int, x::text FROM t", dialect, name="t.q", path=Path("a/b"))
    assert query.params == ("v",)
    assert query.sql.endswith("::int, x::text FROM t")


def test_mysql_comments_do_not_nest() -> None:
    query = parse_query("SELECT 1 /* a /* b */ + :p", "mysql", name="t.q", path=Path("t/q.sql"))
    assert query.params == ("p",)


def test_postgresql_string_without_e_prefix_ends_at_a_backslash_quote() -> None:
    # standard_conforming_strings: 'a\' is a whole literal, so :p after it is a parameter
    query = parse_query("SELECT 'a\\', :p", "postgresql", name="t.q", path=Path("t/q.sql"))
    assert query.sql == "SELECT 'a\\', $1"


# --- descriptions and classification ---------------------------------------------------


def test_leading_comment_lines_are_the_description() -> None:
    source = "\n-- Find a user.\n--\n-- By id.\nSELECT 1 -- not this\n-- nor this\n"
    query = parse_query(source, "sqlite", name="t.q", path=Path("t/q.sql"))
    assert query.description == "Find a user. By id."


def test_rawrepo_option_lines_set_options_and_are_not_description() -> None:
    source = "-- Search.\n-- rawrepo: custom-plan\nSELECT 1\n"
    query = parse_query(source, "postgresql", name="t.q", path=Path("t/q.sql"))
    assert query.custom_plan is True
    assert query.description == "Search."
    plain = parse_query("-- Search.\nSELECT 1\n", "postgresql", name="t.q", path=Path("t/q.sql"))
    assert plain.custom_plan is False


def test_an_unknown_rawrepo_option_is_a_load_error_naming_file_and_line() -> None:
    with pytest.raises(QueryLoadError, match=r"t/q\.sql:2: unknown rawrepo option 'fast'"):
        parse_query("-- x\n-- rawrepo: fast\nSELECT 1", "sqlite", name="t.q", path=Path("t/q.sql"))


def test_file_without_leading_comments_has_empty_description() -> None:
    query = parse_query("SELECT 1\n-- late\n", "sqlite", name="t.q", path=Path("t/q.sql"))
    assert query.description == ""


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("postgresql", "SELECT id FROM t WHERE id = ANY($1) AND tag <> ALL($2) OR id = ANY($1)"),
        ("mysql", "SELECT id FROM t WHERE id IN %(ids)s AND tag NOT IN %(tags)s OR id in %(ids)s"),
        (
            "sqlite",
            "SELECT id FROM t WHERE id IN (SELECT value FROM json_each(:ids)) AND tag NOT IN"
            " ( SELECT value FROM json_each(:tags) ) OR id in (SELECT value FROM json_each(:ids))",
        ),
    ],
)
def test_a_parameter_alone_in_an_in_list_becomes_a_list_parameter(
    dialect: Dialect, expected: str
) -> None:
    query = parse_query(
        "SELECT id FROM t WHERE id IN (:ids) AND tag NOT IN ( :tags ) OR id in (:ids)",
        dialect,
        name="t.q",
        path=Path("t/q.sql"),
    )
    assert query.sql == expected
    assert query.params == ("ids", "tags")
    assert query.list_params == {"ids", "tags"}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_in_lists_of_several_values_and_lookalikes_stay_scalar(dialect: Dialect) -> None:
    source = (
        "SELECT 'IN (:x)' FROM t JOIN (:j) WHERE a IN (:a, :b) AND c IN (:c::int)"
        if dialect == "postgresql"
        else "SELECT 'IN (:x)' FROM t JOIN (:j) WHERE a IN (:a, :b) -- IN (:y)"
    )
    query = parse_query(source, dialect, name="t.q", path=Path("t/q.sql"))
    assert query.list_params == frozenset()
    assert "x" not in query.params and "y" not in query.params


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_list_parameter_used_as_a_scalar_too_is_a_load_error(
    tmp_path: Path, dialect: Dialect
) -> None:
    source = "SELECT id FROM t\nWHERE id IN (:ids)\n OR :ids IS NULL"
    path = write(tmp_path, "area/mixed.sql", source)
    with pytest.raises(QueryLoadError, match=r"parameter :ids is a list") as info:
        load_queries(tmp_path, dialect)
    assert str(info.value).startswith(f"{path}:3: ")


def test_list_parameters_bind_as_lists_with_enum_items() -> None:
    query = parse_query("SELECT 1 WHERE s IN (:s)", "postgresql", name="t.q", path=Path("t/q.sql"))
    assert query.bind({"s": (TaskStatus.PENDING, "x")}) == (["pending", "x"],)
    assert query.bind({"s": []}) == ([],)


# --- load errors -----------------------------------------------------------------------

LOAD_ERRORS: list[tuple[Dialect, str, int, str]] = [
    *[(d, "SELECT 1,\n  'unterminated\n", 2, "unterminated quoted string") for d in DIALECTS],
    *[(d, 'SELECT\n"open', 2, "unterminated quoted identifier") for d in DIALECTS],
    *[(d, "SELECT 1;\n\nSELECT 2\n", 3, "one statement") for d in DIALECTS],
    *[(d, "SELECT 1\n/* never closed", 2, "unterminated /*") for d in DIALECTS],
    *[(d, "SELECT *\nFROM t\nWHERE id = $1", 3, "$n placeholders") for d in DIALECTS],
    *[(d, "-- only a comment\n", 1, "no SQL statement") for d in DIALECTS],
    ("mysql", "SELECT *\nFROM t WHERE id = ?", 2, "'?' placeholders"),
    ("sqlite", "SELECT *\nFROM t WHERE id = ?", 2, "'?' placeholders"),
    ("postgresql", "SELECT\n$body$ never closed", 2, "unterminated $body$"),
]


@pytest.mark.parametrize(("dialect", "source", "line", "message"), LOAD_ERRORS)
def test_malformed_file_fails_to_load_naming_file_and_line(
    tmp_path: Path, dialect: Dialect, source: str, line: int, message: str
) -> None:
    path = write(tmp_path, "area/broken.sql", source)
    with pytest.raises(QueryLoadError) as info:
        load_queries(tmp_path, dialect)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert message in str(info.value)
    assert (info.value.path, info.value.line) == (str(path), line)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_dollar_inside_an_identifier_is_not_a_placeholder(dialect: Dialect) -> None:
    query = parse_query("SELECT a$1, b$x$ FROM t", dialect, name="t.q", path=Path("t/q.sql"))
    assert query.sql == "SELECT a$1, b$x$ FROM t"


def test_question_mark_is_an_operator_on_postgresql() -> None:
    query = parse_query("SELECT doc ? 'key' FROM t", "postgresql", name="t.q", path=Path("t/q"))
    assert query.sql == "SELECT doc ? 'key' FROM t"


@pytest.mark.parametrize(
    "relpath",
    [
        "toplevel.sql",  # no area folder
        "area/two.parts.sql",  # a dot that is not a dialect
        "area/x.oracle.sql",  # an unknown dialect
        "area/1starts_with_digit.sql",
        "bad-area/name.sql",
    ],
)
def test_bad_file_name_fails_to_load_naming_the_file(tmp_path: Path, relpath: str) -> None:
    path = write(tmp_path, relpath, "SELECT 1")
    with pytest.raises(QueryLoadError) as info:
        load_queries(tmp_path, "sqlite")
    assert str(info.value).startswith(f"{path}:1: ")


def test_missing_sql_folder_fails_to_load(tmp_path: Path) -> None:
    with pytest.raises(QueryLoadError, match="does not exist"):
        load_queries(tmp_path / "nowhere", "sqlite")


# --- overrides, lookups and parameters -------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "winner"),
    [("postgresql", "q.postgresql.sql"), ("mysql", "q.sql"), ("sqlite", "q.sqlite.sql")],
)
def test_dialect_file_wins_over_generic_file_only_for_its_dialect(
    tmp_path: Path, dialect: Dialect, winner: str
) -> None:
    write(tmp_path, "area/q.sql", "SELECT 'generic'")
    write(tmp_path, "area/q.postgresql.sql", "SELECT 'postgresql'")
    write(tmp_path, "area/q.sqlite.sql", "SELECT 'sqlite'")
    write(tmp_path, "area/only_pg.postgresql.sql", "SELECT 1")
    queries = load_queries(tmp_path, dialect)
    assert queries["area.q"].path == tmp_path / "area" / winner
    assert ("area.only_pg" in queries) is (dialect == "postgresql")


def test_later_sql_folder_overrides_earlier_one(tmp_path: Path) -> None:
    write(tmp_path / "one", "area/q.sql", "SELECT 1")
    write(tmp_path / "two", "area/q.sql", "SELECT 2")
    queries = load_queries([tmp_path / "one", tmp_path / "two"], "sqlite")
    assert queries["area.q"].sql == "SELECT 2"


def test_nested_area_folders_make_dotted_names(tmp_path: Path) -> None:
    write(tmp_path, "reports/daily/totals.sql", "SELECT 1")
    assert "reports.daily.totals" in load_queries(tmp_path, "sqlite")


def test_unknown_query_raises_query_not_found_naming_the_expected_path(tmp_path: Path) -> None:
    write(tmp_path, "area/q.sql", "SELECT 1")
    queries = load_queries(tmp_path, "mysql")
    with pytest.raises(QueryNotFoundError) as info:
        queries["area.missing"]
    assert str(tmp_path / "area" / "missing.sql") in str(info.value)
    assert str(tmp_path / "area" / "missing.mysql.sql") in str(info.value)
    assert info.value.query == "area.missing"


def test_missing_parameter_raises_naming_the_query_and_the_parameter() -> None:
    query = parse_query("SELECT :a, :b", "postgresql", name="t.q", path=Path("t/q.sql"))
    with pytest.raises(QueryParameterError) as info:
        query.bind({"a": 1})
    assert info.value.parameter == "b"
    assert "t.q" in str(info.value)
    assert "t/q.sql" in str(info.value)
    assert "'b'" in str(info.value)


def test_unexpected_parameter_raises_naming_the_query_and_the_parameter() -> None:
    query = parse_query("SELECT :a", "mysql", name="t.q", path=Path("t/q.sql"))
    with pytest.raises(QueryParameterError) as info:
        query.bind({"a": 1, "surprise": 2})
    assert info.value.parameter == "surprise"
    assert "t.q" in str(info.value)
    assert "'surprise'" in str(info.value)


# --- against the real backends ---------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session")
async def items_db(items_url: str) -> AsyncIterator[Database]:
    async with Database(items_url, sql_dir=SQL_DIR) as db:
        async with db.session() as session:
            await session.execute("items.delete_items")
        yield db


async def test_dialect_override_runs_on_its_backend_only(empty_database_url: str) -> None:
    async with Database(empty_database_url, sql_dir=SQL_DIR) as db, db.session() as session:
        source = await session.fetch_value("core.dialect_name")
    expected = {"postgresql": "postgresql", "mysql": "generic", "sqlite": "generic"}
    assert source == expected[db.dialect]


async def test_literal_percent_and_modulo_work_against_the_server(items_db: Database) -> None:
    rows = [
        {"id": 1, "parent_id": None, "name": "apple", "qty": 2},
        {"id": 2, "parent_id": None, "name": "avocado", "qty": 3},
        {"id": 3, "parent_id": None, "name": "banana", "qty": 4},
        {"id": 4, "parent_id": None, "name": "a%b", "qty": 6},
    ]
    async with items_db.session() as session:
        await session.execute_many("items.insert_item", rows)
        even = await session.fetch_all("items.names_like_a", parity=0)
        odd = await session.fetch_all("items.names_like_a", parity=1)
    assert [r["name"] for r in even] == ["a%b", "apple"]
    assert [r["name"] for r in odd] == ["avocado"]


async def test_parameter_value_with_percent_is_bound_not_formatted(
    empty_database_url: str,
) -> None:
    async with Database(empty_database_url, sql_dir=SQL_DIR) as db, db.session() as session:
        assert await session.fetch_value("core.echo_value", value="100% %(x)s :y") == (
            "100% %(x)s :y"
        )


async def test_session_call_with_missing_parameter_raises_before_reaching_the_server(
    empty_database_url: str,
) -> None:
    async with Database(empty_database_url, sql_dir=SQL_DIR) as db, db.session() as session:
        with pytest.raises(QueryParameterError) as info:
            await session.fetch_value("core.echo_value")
        assert info.value.parameter == "value"
        assert info.value.query == "core.echo_value"
        with pytest.raises(QueryParameterError) as info:
            await session.fetch_value("core.echo_value", value=1, extra=2)
        assert info.value.parameter == "extra"
        assert await session.fetch_value("core.select_one") == 1  # the session still works


async def test_session_call_with_unknown_query_raises_query_not_found(
    empty_database_url: str,
) -> None:
    async with Database(empty_database_url, sql_dir=SQL_DIR) as db, db.session() as session:
        with pytest.raises(QueryNotFoundError) as info:
            await session.fetch_all("core.no_such_query")
    assert str(SQL_DIR / "core" / "no_such_query.sql") in str(info.value)


async def test_required_query_missing_from_sql_dir_fails_at_connect(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(rawrepo.database, "_REQUIRED", set())
    require_queries(["core.select_one", "reports.weekly"])
    db = Database(empty_database_url, sql_dir=SQL_DIR)
    with pytest.raises(QueryNotFoundError) as info:
        await db.connect()
    assert info.value.query == "reports.weekly"
    assert str(SQL_DIR / "reports" / "weekly.sql") in str(info.value)
    assert db.pool is None

    write(tmp_path, "reports/weekly.sql", "SELECT 1")
    async with Database(empty_database_url, sql_dir=[SQL_DIR, tmp_path]) as db:
        assert db.pool is not None
