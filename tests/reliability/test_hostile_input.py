"""Hostile input, property-based, on every backend: text from every Unicode plane,
quotes, backslashes, ``%``/``_``, SQL injection strings, control characters, NUL,
lone surrogates and 10,000-character values, as usernames, titles, descriptions,
search terms, filter keys and values, and paging arguments.

Each value either round-trips exactly or is rejected by validation before the
database (pydantic ValidationError, ValueError, InvalidFilterError); nothing but
rawrepo's own errors and ValidationError ever comes out.

``RAWREPO_HYPOTHESIS_EXAMPLES`` (default 40) sets the examples per test and backend.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from rawrepo import Database, RawRepoError
from rawrepo.errors import InvalidFilterError, UsernameTakenError
from rawrepo.models import TaskCreate, TaskStatus, User, UserCreate
from rawrepo.repositories import TaskRepository, UserRepository
from rawrepo.repository import MAX_LIMIT
from rawrepo.services import TaskService, UserService

users = UserService()
tasks = TaskService()
task_repo = TaskRepository()
user_repo = UserRepository()

HOSTILE = settings(
    max_examples=int(os.environ.get("RAWREPO_HYPOTHESIS_EXAMPLES", "40")),
    deadline=None,
    database=None,  # no example database written into the working tree
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the fixtures are per test, not per example
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    "Robert'); DROP TABLE tasks;--",
    '" OR ""="',
    "' UNION SELECT id, username FROM users --",
    "1; SELECT pg_sleep(10)",
    "%",
    "_",
    "%%",
    "\\",
    "\\%",
    "\\_",
    "\\\\",
    "''",
    "$1",
    ":id",
    "%(id)s",
    "?",
    "$$",
    "/*",
    "*/",
    "--",
    "NULL",
    "\\x00",
    "\\0",
    "\U0001f600",
    "\U0001d518\U0001d52b\U0001d526",
    "\U0010ffff",
    "\U000e0001",
    "\u0391\u03a3",  # a capital sigma that ends a word, or not
    "İstanbul",
    "ß",
    "ﬁ",
    "\u202e",
    "\ufeff",
    "\r\n\t\x0b\x0c\x1b\x7f",
]

# Every plane, controls included (NUL too); no surrogates (they are not text).
plain_text = st.text(st.characters(codec=None), max_size=40)
# Anything a str can hold: lone surrogates and NUL included.
any_str = st.text(st.characters(exclude_categories=()), max_size=20)
long_text = st.builds(
    lambda char, n: char * n,
    st.characters(codec=None, exclude_characters="\x00"),
    st.sampled_from([199, 200, 201, 320, 321, 9_999, 10_000, 10_001]),
)
hostile_text = st.one_of(
    plain_text,
    any_str,
    st.sampled_from(INJECTIONS),
    st.lists(st.sampled_from(INJECTIONS), min_size=1, max_size=4).map("".join),
    long_text,
)
# Free of what validation rejects (for the pieces of a title that must be stored).
safe_piece = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)


def assert_allowed(exc: BaseException) -> None:
    """Only rawrepo's errors and pydantic's ValidationError may come out."""
    assert isinstance(exc, RawRepoError | ValidationError), (
        f"{type(exc).__module__}.{type(exc).__qualname__} escaped: {exc!r}"
    )


@pytest_asyncio.fixture(loop_scope="session")
async def owner(domain_db: Database) -> User:
    """One user owning the tasks the examples create."""
    async with domain_db.create_session() as session:
        return await users.create_user(session, UserCreate(username="hostile_owner"))


@HOSTILE
@given(
    username=st.one_of(st.from_regex(r"[A-Za-z0-9_.\-]{3,50}", fullmatch=True), hostile_text),
    email=st.one_of(st.none(), hostile_text),
)
@example(username="Robert'); DROP TABLE users;--", email=None)
@example(username="a" * 51, email=None)
@example(username="abc", email="x" * 320)
@example(username="abd", email="\x00")
async def test_any_username_and_email_round_trip_exactly_or_are_rejected_before_the_database(
    domain_db: Database, username: str, email: str | None
) -> None:
    try:
        data = UserCreate(username=username, email=email)
    except ValidationError:
        return
    try:
        async with domain_db.create_session() as session:
            created = await users.create_user(session, data)
    except UsernameTakenError:
        return  # an earlier example took this name (in another case)
    except BaseException as exc:
        assert_allowed(exc)
        raise
    async with domain_db.create_session() as session:
        stored = await users.get_user(session, created.id)
        by_name = await users.get_user_by_username(session, username.swapcase())
    assert (stored.username, stored.email) == (username, email)
    assert by_name.id == created.id


@HOSTILE
@given(name=hostile_text)
@example(name="' OR '1'='1")
@example(name="%")
@example(name="\x00")
async def test_looking_up_any_text_as_a_username_finds_nothing_and_raises_nothing_else(
    domain_db: Database, owner: User, name: str
) -> None:
    async with domain_db.create_session() as session:
        found = await user_repo.get_by_username(session, name)
        exists = await user_repo.username_exists(session, name)
    if name.lower() == owner.username.lower():
        assert found is not None and exists
    else:
        assert found is None and not exists


@HOSTILE
@given(title=hostile_text, description=st.one_of(st.none(), hostile_text))
@example(title="x", description="\U0001f600" * 10_000)
@example(title="x", description="y" * 10_001)
@example(title="\x00", description=None)
@example(title="\ud800", description=None)
@example(title="   ", description="")
@example(title="'; DROP TABLE tasks; --", description="\\'\"%_")
async def test_any_title_and_description_round_trip_exactly_or_are_rejected_before_the_database(
    domain_db: Database, owner: User, title: str, description: str | None
) -> None:
    try:
        data = TaskCreate(title=title, description=description, user_id=owner.id)
    except ValidationError:
        assert (
            not 1 <= len(title) <= 200
            or (description is not None and len(description) > 10_000)
            or any(not _storable(t) for t in (title, description or ""))
        )
        return
    try:
        async with domain_db.create_session() as session:
            created = await tasks.create(session, data)
    except BaseException as exc:
        assert_allowed(exc)
        raise
    async with domain_db.create_session() as session:
        stored = await tasks.get(session, created.id)
        listed = await tasks.list_tasks(session, limit=MAX_LIMIT, user_id=owner.id)
    assert (stored.title, stored.description) == (title, description)
    assert any(t.id == created.id and t.title == title for t in listed)


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@HOSTILE
@given(prefix=safe_piece, term=hostile_text, suffix=safe_piece)
@example(prefix="", term="\u0391\u03a3", suffix="\u0391")  # sigma folds without context
@example(prefix="a", term="%", suffix="b")
@example(prefix="a", term="_", suffix="b")
@example(prefix="\\", term="\\%", suffix="")
@example(prefix="", term="' OR '1'='1", suffix="")
@example(prefix="x", term="\x00", suffix="")
async def test_search_finds_a_title_holding_the_term_literally(
    domain_db: Database, owner: User, prefix: str, term: str, suffix: str
) -> None:
    async with domain_db.create_session() as session:
        if not _storable(term):
            with pytest.raises(ValueError):
                await tasks.tasks.search_by_title(session, term)
            return
        title = f"{prefix}{term}{suffix}"
        assume(1 <= len(title) <= 200)
        created = await tasks.create(session, TaskCreate(title=title, user_id=owner.id))
    async with domain_db.create_session() as session:
        found = await tasks.tasks.search_by_title(session, term, limit=MAX_LIMIT)
    assert created.id in {t.id for t in found}


@HOSTILE
@given(
    left=safe_piece,
    right=safe_piece,
    wildcard=st.sampled_from(["%", "_", "\\"]),
    filler=st.sampled_from(["x", "Q", "é", "xyz", "\U0001f600"]),
)
@example(left="", right="", wildcard="%", filler="xyz")
@example(left="a", right="b", wildcard="_", filler="x")
async def test_percent_underscore_and_backslash_in_a_search_term_match_only_themselves(
    domain_db: Database, owner: User, left: str, right: str, wildcard: str, filler: str
) -> None:
    literal = f"{left}{wildcard}{right}"
    decoy = f"{left}{filler}{right}"
    assume(len(decoy) <= 200 and literal.casefold() not in decoy.casefold())
    async with domain_db.create_session() as session:
        hit = await tasks.create(session, TaskCreate(title=literal, user_id=owner.id))
        miss = await tasks.create(session, TaskCreate(title=decoy, user_id=owner.id))
    async with domain_db.create_session() as session:
        found = {t.id for t in await tasks.tasks.search_by_title(session, literal, limit=MAX_LIMIT)}
    assert hit.id in found
    assert miss.id not in found


filter_values = st.one_of(
    st.none(),
    hostile_text,
    st.integers(),
    st.floats(),
    st.booleans(),
    st.uuids(),
    st.uuids().map(str),
    st.sampled_from(list(TaskStatus)),
    st.sampled_from([s.value for s in TaskStatus]),
    st.sampled_from([s.value.upper() for s in TaskStatus]),
    st.lists(st.integers(), max_size=2),
)


@HOSTILE
@given(
    key=st.one_of(st.sampled_from(["status", "user_id", "username", "id", "title"]), hostile_text),
    value=filter_values,
)
@example(key="status; DROP TABLE tasks", value="pending")
@example(key="status", value="pending' OR '1'='1")
@example(key="user_id", value="' OR 1=1 --")
async def test_filters_take_only_whitelisted_keys_and_values_of_their_type(
    domain_db: Database, owner: User, key: str, value: Any
) -> None:
    async with domain_db.create_session() as session:
        try:
            rows = await task_repo.get_multi(session, limit=MAX_LIMIT, filters={key: value})
            total = await task_repo.count(session, filters={key: value})
        except InvalidFilterError as exc:
            assert key not in task_repo.filters or value is not None
            assert repr(key)[:20] in str(exc) or "filter" in str(exc)
            return
        except BaseException as exc:
            assert_allowed(exc)
            raise
    assert key in task_repo.filters
    assert total == len(rows)
    if value is not None and key == "status":
        assert all(t.status == TaskStatus(value) for t in rows)
    if value is not None and key == "user_id":
        assert all(t.user_id == uuid.UUID(str(value)) for t in rows)


@HOSTILE
@given(key=hostile_text, value=filter_values)
async def test_user_filters_reject_every_key_but_username(
    domain_db: Database, key: str, value: Any
) -> None:
    assume(key != "username")
    async with domain_db.create_session() as session:
        with pytest.raises(InvalidFilterError, match="allowed filters: username"):
            await user_repo.get_multi(session, filters={key: value})


PROBE = "paging probe"


@pytest_asyncio.fixture(loop_scope="session")
async def probes(domain_db: Database, owner: User) -> int:
    """Tasks whose titles hold PROBE (and no other task's does); returns how many."""
    async with domain_db.create_session() as session:
        await task_repo.bulk_create(
            session, [TaskCreate(title=f"{PROBE} {i}", user_id=owner.id) for i in range(5)]
        )
    return 5


paging = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**63 - 1),
    st.sampled_from([0, 1, MAX_LIMIT, MAX_LIMIT + 1, -1, 2**31, 2**63 - 1]),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
    st.sampled_from(["10", "0", "1; DROP TABLE tasks", "-1"]),
)


@HOSTILE
@given(skip=paging, limit=paging)
@example(skip=-1, limit=10)
@example(skip=0, limit=0)
@example(skip=0, limit=MAX_LIMIT + 1)
@example(skip=1.5, limit=10)
@example(skip="10", limit=10)
@example(skip=True, limit=10)
@example(skip=2**63 - 1, limit=MAX_LIMIT)
@example(skip=0, limit=3)  # a full page of the probes
@example(skip=3, limit=10)  # the last two
@example(skip=0, limit=MAX_LIMIT)  # all five
async def test_skip_and_limit_out_of_range_or_not_integers_are_rejected_before_the_database(
    domain_db: Database, owner: User, probes: int, skip: Any, limit: Any
) -> None:
    valid = (
        type(skip) is int
        and type(limit) is int
        and 0 <= skip <= 2**63 - 1
        and 1 <= limit <= MAX_LIMIT
    )
    calls = [
        lambda s: task_repo.get_multi(s, skip=skip, limit=limit),
        lambda s: tasks.list_tasks(s, skip=skip, limit=limit, user_id=owner.id),
        lambda s: tasks.tasks.search_by_title(s, PROBE, skip=skip, limit=limit),
        lambda s: users.list_users(s, skip=skip, limit=limit),
        lambda s: users.list_users_with_task_counts(s, skip=skip, limit=limit),
    ]
    async with domain_db.create_session() as session:
        for call in calls:
            if valid:
                assert isinstance(await call(session), list)
            else:
                with pytest.raises(ValueError, match=r"skip|limit"):
                    await call(session)
        if valid:  # the search's page holds exactly the probes it should
            page = await tasks.tasks.search_by_title(session, PROBE, skip=skip, limit=limit)
            assert len(page) == max(0, min(limit, probes - skip))
            assert all(PROBE in t.title for t in page)


async def test_a_skip_beyond_64_bits_is_rejected_before_the_database(domain_db: Database) -> None:
    async with domain_db.create_session() as session:
        with pytest.raises(ValueError, match="skip"):
            await task_repo.get_multi(session, skip=2**63, limit=10)
