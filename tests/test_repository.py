"""The generic Repository: CRUD, paging, filters and bulk operations, on every backend."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from typing import Any

import pytest

import rawrepo.database
from rawrepo.database import Database
from rawrepo.errors import InvalidFilterError, QueryNotFoundError, UniqueViolation
from rawrepo.models import (
    Task,
    TaskCreate,
    TaskStatus,
    TaskUpdate,
    User,
    UserCreate,
    UserUpdate,
)
from rawrepo.queries import BUNDLED_SQL_DIR, load_queries
from rawrepo.repositories import TaskRepository, UserRepository
from rawrepo.repository import MAX_LIMIT, Repository
from tests.domain_fixtures import MakeTask, MakeUser

users = UserRepository()
tasks = TaskRepository()


def _utc_aware(value: dt.datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() == dt.timedelta(0)


async def test_create_returns_uuid_ids_and_aware_utc_timestamps_that_round_trip(
    domain_db: Database,
) -> None:
    async with domain_db.create_session() as session:
        user = await users.create(session, UserCreate(username="alice", email="a@example.com"))
        task = await tasks.create(session, TaskCreate(title="write tests", user_id=user.id))
    assert isinstance(user.id, uuid.UUID) and isinstance(task.id, uuid.UUID)
    assert user.id.version == 4
    assert _utc_aware(user.created_at) and _utc_aware(task.updated_at)
    assert user.created_at == user.updated_at
    async with domain_db.create_session() as session:
        stored_user = await users.get(session, user.id)
        stored_task = await tasks.get(session, task.id)
    assert stored_user == user
    assert stored_task == task
    assert stored_user is not None and stored_task is not None
    assert isinstance(stored_user.id, uuid.UUID)
    assert isinstance(stored_task.user_id, uuid.UUID)
    assert stored_user.created_at.tzinfo is dt.UTC
    assert stored_task.created_at.tzinfo is dt.UTC
    assert stored_task.status is TaskStatus.PENDING


async def test_text_is_stored_exactly_as_given(domain_db: Database, make_user: MakeUser) -> None:
    user = await make_user()
    title = "  Ünïcödé \N{GRINNING FACE} \\ % _ 'quoted' \"double\"\t"
    description = "line 1\nline 2\r\n" + "x" * 9_000
    async with domain_db.create_session() as session:
        task = await tasks.create(
            session, TaskCreate(title=title, description=description, user_id=user.id)
        )
    async with domain_db.create_session() as session:
        stored = await tasks.get(session, task.id)
    assert stored is not None
    assert stored.title == title
    assert stored.description == description


async def test_get_unknown_id_returns_none(domain_db: Database) -> None:
    async with domain_db.create_session() as session:
        assert await users.get(session, uuid.uuid4()) is None
        assert await tasks.get(session, uuid.uuid4()) is None


async def test_ids_may_be_given_as_text(domain_db: Database, make_user: MakeUser) -> None:
    user = await make_user()
    async with domain_db.create_session() as session:
        assert await users.get(session, str(user.id)) == user  # type: ignore[arg-type]


async def test_a_malformed_id_is_a_value_error(domain_db: Database) -> None:
    async with domain_db.create_session() as session:
        with pytest.raises(ValueError, match="id must be a UUID"):
            await users.get(session, "nope")  # type: ignore[arg-type]


async def test_get_multi_orders_by_created_at_then_id(
    domain_db: Database, make_user: MakeUser
) -> None:
    made = [await make_user() for _ in range(5)]
    tie = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    async with domain_db.create_session() as session:
        # The last three share one created_at: the id decides between them.
        for user in made[2:]:
            await session.execute("domain.set_user_created_at", id=user.id, created_at=tie)
    async with domain_db.create_session() as session:
        listed = await users.get_multi(session)
    tied = sorted(made[2:], key=lambda u: str(u.id))
    assert [u.id for u in listed] == [u.id for u in tied] + [made[0].id, made[1].id]


async def test_get_multi_pages_with_skip_and_limit(
    domain_db: Database, make_user: MakeUser
) -> None:
    made = [await make_user() for _ in range(5)]
    async with domain_db.create_session() as session:
        assert [u.id for u in await users.get_multi(session, skip=1, limit=2)] == [
            made[1].id,
            made[2].id,
        ]
        assert [u.id for u in await users.get_multi(session, skip=4, limit=10)] == [made[4].id]
        assert await users.get_multi(session, skip=5) == []
        assert len(await users.get_multi(session, limit=MAX_LIMIT)) == 5


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": -5}, "limit"),
        ({"limit": "10"}, "limit"),
        ({"limit": True}, "limit"),
        ({"skip": -1}, "skip"),
        ({"skip": 1.5}, "skip"),
    ],
)
async def test_get_multi_bounds_are_value_errors_naming_the_argument(
    domain_db: Database, kwargs: dict[str, Any], named: str
) -> None:
    async with domain_db.create_session() as session:
        with pytest.raises(ValueError, match=f"^{named} must be"):
            await tasks.get_multi(session, **kwargs)


async def test_filters_select_rows(
    domain_db: Database, make_user: MakeUser, make_task: MakeTask
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    a1 = await make_task(alice, "a1")
    a2 = await make_task(alice, "a2", status=TaskStatus.COMPLETED)
    b1 = await make_task(bob, "b1", status=TaskStatus.COMPLETED)
    async with domain_db.create_session() as session:
        by_user = await tasks.get_multi(session, filters={"user_id": alice.id})
        assert [t.id for t in by_user] == [a1.id, a2.id]
        done = await tasks.get_multi(session, filters={"status": TaskStatus.COMPLETED})
        assert [t.id for t in done] == [a2.id, b1.id]
        both = await tasks.get_multi(session, filters={"status": "completed", "user_id": bob.id})
        assert [t.id for t in both] == [b1.id]
        as_text = await tasks.get_multi(session, filters={"user_id": str(alice.id)})
        assert [t.id for t in as_text] == [a1.id, a2.id]
        assert await tasks.count(session) == 3
        assert await tasks.count(session, filters={"user_id": alice.id}) == 2
        assert await tasks.count(session, filters={"status": "completed", "user_id": bob.id}) == 1
        assert await tasks.count(session, filters={"status": "cancelled"}) == 0
        # None means "any": the same as leaving the filter out.
        assert await tasks.count(session, filters={"status": None}) == 3
        assert [u.id for u in await users.get_multi(session, filters={"username": "BOB"})] == [
            bob.id
        ]
        assert await users.count(session, filters={"username": "Alice"}) == 1
        assert await users.count(session, filters={"username": "carol"}) == 0


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"title": "x"}, "cannot filter tasks by 'title'; allowed filters: status, user_id"),
        ({"id; DROP TABLE tasks": 1}, "cannot filter tasks by 'id; DROP TABLE tasks'"),
        ({"user_id": "not-a-uuid"}, "filter 'user_id' has an invalid value 'not-a-uuid'"),
        ({"user_id": 42}, "filter 'user_id' has an invalid value 42"),
        ({"status": "done"}, "filter 'status' has an invalid value 'done'"),
    ],
)
async def test_bad_filters_are_invalid_filter_errors(
    domain_db: Database, filters: dict[str, Any], message: str
) -> None:
    async with domain_db.create_session() as session:
        with pytest.raises(InvalidFilterError) as info:
            await tasks.get_multi(session, filters=filters)
        assert message in str(info.value)
        with pytest.raises(InvalidFilterError):
            await tasks.count(session, filters=filters)
        # The session is still usable: nothing reached the database.
        assert await tasks.count(session) == 0


async def test_user_filters_are_whitelisted_too(domain_db: Database) -> None:
    async with domain_db.create_session() as session:
        with pytest.raises(InvalidFilterError, match="allowed filters: username"):
            await users.count(session, filters={"email": "a@b.c"})
        with pytest.raises(InvalidFilterError, match="filter 'username' has an invalid value"):
            await users.count(session, filters={"username": "al\x00ice"})
        with pytest.raises(InvalidFilterError, match="ASCII letters"):
            await users.count(session, filters={"username": "alice "})
        with pytest.raises(InvalidFilterError, match="mapping"):
            await users.count(session, filters=["username"])  # type: ignore[arg-type]


async def test_exists_and_delete(domain_db: Database, make_user: MakeUser) -> None:
    user = await make_user()
    async with domain_db.create_session() as session:
        assert await users.exists(session, user.id) is True
        assert await users.delete(session, user.id) is True
        assert await users.exists(session, user.id) is False
        assert await users.delete(session, user.id) is False
        assert await users.delete(session, uuid.uuid4()) is False
    async with domain_db.create_session() as session:
        assert await users.get(session, user.id) is None


async def test_update_applies_only_the_fields_set_and_moves_updated_at(
    domain_db: Database, make_user: MakeUser
) -> None:
    user = await make_user("alice", email="old@example.com")
    async with domain_db.create_session() as session:
        renamed = await users.update(session, user, UserUpdate(username="alice2"))
    assert renamed is not None
    assert renamed.username == "alice2"
    assert renamed.email == "old@example.com"
    assert renamed.created_at == user.created_at
    assert renamed.updated_at > user.updated_at
    assert renamed.updated_at.tzinfo is dt.UTC
    async with domain_db.create_session() as session:
        cleared = await users.update(session, renamed, UserUpdate(email=None))
        assert cleared is not None
        assert (cleared.username, cleared.email) == ("alice2", None)
        assert await users.get(session, user.id) == cleared
        unchanged = await users.update(session, cleared, UserUpdate())
        assert unchanged is not None and unchanged.username == "alice2"


async def test_update_of_a_deleted_row_returns_none(
    domain_db: Database, make_user: MakeUser
) -> None:
    user = await make_user()
    async with domain_db.create_session() as session:
        await users.delete(session, user.id)
        assert await users.update(session, user, UserUpdate(email="x@y.z")) is None


async def test_update_accepts_a_mapping_and_validates_it(
    domain_db: Database, make_user: MakeUser, make_task: MakeTask
) -> None:
    task = await make_task(await make_user(), "old")
    async with domain_db.create_session() as session:
        updated = await tasks.update(session, task, {"title": "new"})  # type: ignore[arg-type]
        assert updated is not None and updated.title == "new"
        with pytest.raises(ValueError, match="Extra inputs"):
            await tasks.update(session, task, {"titel": "x"})  # type: ignore[arg-type]


async def test_bulk_create_keeps_input_order(domain_db: Database, make_user: MakeUser) -> None:
    user = await make_user()
    titles = [f"task {i:03d} {uuid.uuid4().hex[:4]}" for i in range(150)]
    async with domain_db.create_session() as session:
        created = await tasks.bulk_create(
            session, [TaskCreate(title=t, user_id=user.id) for t in titles]
        )
        assert [t.title for t in created] == titles
        assert len({t.id for t in created}) == 150
    async with domain_db.create_session() as session:
        listed = await tasks.get_multi(session, limit=1000)
    assert [t.title for t in listed] == titles
    assert listed == created
    async with domain_db.create_session() as session:
        made = await users.bulk_create(session, [UserCreate(username=n) for n in ("zed", "amy")])
        assert [u.username for u in made] == ["zed", "amy"]
        assert await users.get_by_username(session, "amy") == made[1]
        assert await tasks.bulk_create(session, []) == []


async def test_failed_bulk_create_leaves_nothing(domain_db: Database) -> None:
    with pytest.raises(UniqueViolation):
        async with domain_db.create_session() as session:
            await users.bulk_create(
                session, [UserCreate(username=n) for n in ("one", "two", "ONE")]
            )
    async with domain_db.create_session() as session:
        assert await users.count(session) == 0


async def test_bulk_update_applies_each_change(
    domain_db: Database, make_user: MakeUser, make_task: MakeTask
) -> None:
    user = await make_user()
    t1 = await make_task(user, "one", description="keep me")
    t2 = await make_task(user, "two", description="clear me")
    async with domain_db.create_session() as session:
        count = await tasks.bulk_update(
            session,
            [
                (t1.id, TaskUpdate(title="one!")),
                (t2.id, TaskUpdate(description=None, status=TaskStatus.COMPLETED)),
                (uuid.uuid4(), TaskUpdate(title="nobody")),
            ],
        )
        assert count == 2
        assert await tasks.bulk_update(session, []) == 0
    async with domain_db.create_session() as session:
        new1, new2 = await tasks.get(session, t1.id), await tasks.get(session, t2.id)
    assert new1 is not None and new2 is not None
    assert (new1.title, new1.description, new1.status) == ("one!", "keep me", TaskStatus.PENDING)
    assert (new2.title, new2.description, new2.status) == ("two", None, TaskStatus.COMPLETED)
    assert new2.completed_at is not None
    assert new1.updated_at > t1.updated_at


async def test_bulk_delete_counts_the_rows_that_existed(
    domain_db: Database, make_user: MakeUser, make_task: MakeTask
) -> None:
    user = await make_user()
    made = [await make_task(user, f"t{i}") for i in range(4)]
    async with domain_db.create_session() as session:
        gone = await tasks.bulk_delete(session, [made[0].id, made[2].id, uuid.uuid4()])
        assert gone == 2
        assert await tasks.bulk_delete(session, []) == 0
        left = await tasks.get_multi(session)
    assert [t.id for t in left] == [made[1].id, made[3].id]


async def test_repositories_declare_their_queries(domain_db: Database) -> None:
    for repo in (users, tasks):
        for name in repo.required_queries():
            assert name in domain_db.queries
            assert domain_db.queries[name].description


async def test_a_missing_query_fails_at_connect(
    monkeypatch: pytest.MonkeyPatch, migrated_database_url: str
) -> None:
    monkeypatch.setattr(rawrepo.database, "_REQUIRED", set())

    class GhostRepository(Repository[User, UserCreate, UserUpdate]):
        area = "ghosts"
        model = User
        create_model = UserCreate
        update_model = UserUpdate

    db = Database(migrated_database_url)
    with pytest.raises(QueryNotFoundError, match=r"ghosts\.\w+"):
        await db.connect()
    await db.disconnect()
    assert GhostRepository().required_queries()[0] == "ghosts.get_by_id"


def test_repositories_take_no_arguments_and_are_generic() -> None:
    assert isinstance(UserRepository(), Repository)
    assert isinstance(TaskRepository(), Repository)
    assert TaskRepository.model is Task
    with pytest.raises(TypeError):
        UserRepository("postgresql://x")  # type: ignore[call-arg]


def test_repositories_and_services_import_no_driver() -> None:
    code = (
        "import sys, rawrepo.services, rawrepo.repositories, rawrepo.repository\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('asyncpg', 'aiomysql', 'aiosqlite', 'pymysql', 'sqlite3')"
        " or m in ('rawrepo.drivers.postgresql', 'rawrepo.drivers.mysql',"
        " 'rawrepo.drivers.sqlite'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_mysql_bulk_create_is_batched_by_aiomysql_into_multi_row_inserts() -> None:
    from aiomysql.cursors import RE_INSERT_VALUES

    queries = load_queries(BUNDLED_SQL_DIR, "mysql")
    for repo in (users, tasks):
        query = queries[f"{repo.area}.bulk_create"]
        assert query.description  # the file documents itself ...
        assert RE_INSERT_VALUES.match(query.sql)  # ... and aiomysql still sees one INSERT


def test_new_uuids_are_distinct_random_version_4_uuids() -> None:
    from rawrepo.repository import new_uuids

    ids = new_uuids(5000)
    assert len(set(ids)) == 5000
    assert all(isinstance(i, uuid.UUID) and i.version == 4 for i in ids)
    assert new_uuids(0) == []
