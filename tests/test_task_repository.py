"""TaskRepository: tasks by user, status and title; conditional status moves."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from rawrepo.database import Database
from rawrepo.models import Task, TaskCreate, TaskStatus, TaskUpdate
from rawrepo.repositories import TaskRepository, escape_like
from tests.domain_fixtures import MakeTask, MakeUser

tasks = TaskRepository()
S = TaskStatus


def ids(found: list[Task]) -> list[uuid.UUID]:
    return [t.id for t in found]


async def test_tasks_by_user_and_status(
    domain_db: Database, make_user: MakeUser, make_task: MakeTask
) -> None:
    alice, bob = await make_user(), await make_user()
    a_pending = await make_task(alice, "a pending")
    a_started = await make_task(alice, "a started", status=S.IN_PROGRESS)
    b_done = await make_task(bob, "b done", status=S.COMPLETED)
    a_done = await make_task(alice, "a done", status=S.COMPLETED)
    b_pending = await make_task(bob, "b pending")
    await make_task(bob, "b cancelled", status=S.CANCELLED)
    async with domain_db.create_session() as session:
        assert ids(await tasks.get_by_user(session, alice.id)) == [
            a_pending.id,
            a_started.id,
            a_done.id,
        ]
        assert ids(await tasks.get_by_status(session, S.COMPLETED)) == [b_done.id, a_done.id]
        assert ids(await tasks.get_by_status(session, "pending")) == [a_pending.id, b_pending.id]
        assert ids(await tasks.get_pending_tasks(session)) == [a_pending.id, b_pending.id]
        assert ids(await tasks.get_in_progress_tasks(session)) == [a_started.id]
        assert ids(await tasks.get_completed_tasks(session)) == [b_done.id, a_done.id]
        assert ids(await tasks.get_user_tasks_by_status(session, alice.id, S.COMPLETED)) == [
            a_done.id
        ]
        assert await tasks.get_user_tasks_by_status(session, alice.id, S.CANCELLED) == []
        assert await tasks.get_by_user(session, uuid.uuid4()) == []


async def test_list_methods_page_in_creation_order(
    domain_db: Database, make_user: MakeUser, make_task: MakeTask
) -> None:
    user = await make_user()
    made = [await make_task(user, f"task {i}") for i in range(5)]
    tie = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    async with domain_db.create_session() as session:
        for task in made[:2]:  # the first two move to the end, tied: the id decides
            await session.execute("domain.set_task_created_at", id=task.id, created_at=tie)
    expected = [t.id for t in made[2:]] + sorted([made[0].id, made[1].id], key=str)
    async with domain_db.create_session() as session:
        assert ids(await tasks.get_by_user(session, user.id)) == expected
        assert ids(await tasks.get_by_user(session, user.id, skip=1, limit=2)) == expected[1:3]
        assert ids(await tasks.get_pending_tasks(session, skip=3)) == expected[3:]
        assert ids(await tasks.search_by_title(session, "task", limit=1)) == expected[:1]
        assert (
            ids(await tasks.get_user_tasks_by_status(session, user.id, S.PENDING, skip=4, limit=1))
            == expected[4:]
        )


@pytest.mark.parametrize(
    "call",
    [
        lambda s, u: tasks.get_by_user(s, u, limit=0),
        lambda s, u: tasks.get_by_status(s, S.PENDING, limit=1001),
        lambda s, u: tasks.get_pending_tasks(s, skip=-1),
        lambda s, u: tasks.get_in_progress_tasks(s, limit=-1),
        lambda s, u: tasks.get_completed_tasks(s, skip=-3),
        lambda s, u: tasks.search_by_title(s, "x", limit=5000),
        lambda s, u: tasks.get_user_tasks_by_status(s, u, S.PENDING, skip=-1),
    ],
)
async def test_list_methods_check_their_bounds(domain_db: Database, call: object) -> None:
    async with domain_db.create_session() as session:
        with pytest.raises(ValueError, match=r"^(skip|limit) must be"):
            await call(session, uuid.uuid4())  # type: ignore[operator]


async def test_unknown_status_and_bad_user_id_are_value_errors(domain_db: Database) -> None:
    async with domain_db.create_session() as session:
        with pytest.raises(ValueError, match="status must be one of pending, in_progress"):
            await tasks.get_by_status(session, "done")
        with pytest.raises(ValueError, match="user_id must be a UUID"):
            await tasks.get_by_user(session, "x")  # type: ignore[arg-type]


def test_escape_like() -> None:
    assert escape_like("100%_a\\b") == "100\\%\\_a\\\\b"
    assert escape_like("plain") == "plain"


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("report", ["Quarterly REPORT", "report draft", "50% report", "a_report"]),
        ("REPORT DRAFT", ["report draft"]),
        ("%", ["50% report", "100%"]),
        ("50%", ["50% report"]),
        ("_", ["a_report", "snake_case"]),
        ("a_r", ["a_report"]),
        ("\\", ["C:\\path", "back\\slash"]),
        ("\\p", ["C:\\path"]),
        ("h\\", []),
        ("'", ["it's"]),
        ("É", ["École", "café", "ÉTÉ"]),
        ("é", ["École", "café", "ÉTÉ"]),
        ("ÉCOLE", ["École"]),
        ("été", ["ÉTÉ"]),
        ("ärger", ["ÄRGER im Büro"]),
        ("BÜRO", ["ÄRGER im Büro"]),
        ("Ω", ["ωμέγα"]),
        ("nothing like it", []),
    ],
)
async def test_search_by_title_is_case_insensitive_and_literal(
    domain_db: Database, make_user: MakeUser, term: str, expected: list[str]
) -> None:
    user = await make_user()
    titles = [
        "Quarterly REPORT",
        "report draft",
        "50% report",
        "a_report",
        "100%",
        "snake_case",
        "C:\\path",
        "back\\slash",
        "it's",
        "École",
        "café",
        "ÉTÉ",
        "ÄRGER im Büro",
        "ωμέγα",
    ]
    async with domain_db.create_session() as session:
        await tasks.bulk_create(session, [TaskCreate(title=t, user_id=user.id) for t in titles])
        found = await tasks.search_by_title(session, term)
    assert [t.title for t in found] == expected


FOLDING_TITLES = [
    "İstanbul trip",
    "istanbul again",
    "Straße fixen",
    "STRASSE two",
    "GROẞE Pläne",
    "ᏣᎳᎩ words",
    "ꮳꮃꭹ notes",
    "ΣΊΣΥΦΟΣ",
]


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        # Full case folding (str.casefold), by rawrepo, so the same rows everywhere:
        # İ folds to i + U+0307 (one more character than i), ß and ẞ to ss, Cherokee
        # small letters to the capitals, every sigma to U+03C3.
        ("İSTANBUL", ["İstanbul trip"]),
        ("istanbul", ["istanbul again"]),
        ("straße", ["Straße fixen", "STRASSE two"]),
        ("ẞ", ["Straße fixen", "STRASSE two", "GROẞE Pläne"]),
        ("große", ["GROẞE Pläne"]),
        ("ꮳꮃꭹ", ["ᏣᎳᎩ words", "ꮳꮃꭹ notes"]),
        ("ᏣᎳᎩ W", ["ᏣᎳᎩ words"]),
        ("σίσυφος", ["ΣΊΣΥΦΟΣ"]),
        ("pläne", ["GROẞE Pläne"]),
    ],
)
async def test_search_folds_case_the_same_way_on_every_backend(
    domain_db: Database, make_user: MakeUser, term: str, expected: list[str]
) -> None:
    user = await make_user()
    async with domain_db.create_session() as session:
        await tasks.bulk_create(
            session, [TaskCreate(title=t, user_id=user.id) for t in FOLDING_TITLES]
        )
        found = await tasks.search_by_title(session, term)
    assert [t.title for t in found] == expected


async def test_search_finds_a_task_by_its_new_title_after_an_update(
    domain_db: Database, make_user: MakeUser
) -> None:
    user = await make_user()
    async with domain_db.create_session() as session:
        task = await tasks.create(session, TaskCreate(title="Alte Straße", user_id=user.id))
        await tasks.update_by_id(session, task.id, TaskUpdate(description="kept"))
        assert [t.id for t in await tasks.search_by_title(session, "STRASSE")] == [task.id]
        await tasks.update_by_id(session, task.id, TaskUpdate(title="Neuer WEG"))
        assert await tasks.search_by_title(session, "strasse") == []
        assert [t.id for t in await tasks.search_by_title(session, "neuer weg")] == [task.id]


async def test_search_rejects_nul(domain_db: Database) -> None:
    async with domain_db.create_session() as session:
        with pytest.raises(ValueError, match="NUL"):
            await tasks.search_by_title(session, "a\x00")


async def test_set_status_is_conditional_on_the_expected_status(
    domain_db: Database, make_user: MakeUser, make_task: MakeTask
) -> None:
    task = await make_task(await make_user())
    now = dt.datetime.now(dt.UTC)
    async with domain_db.create_session() as session:
        assert await tasks.set_status(session, task.id, S.IN_PROGRESS, S.COMPLETED, now) is False
        assert (
            await tasks.set_status(session, uuid.uuid4(), S.PENDING, S.IN_PROGRESS, None) is False
        )
        unchanged = await tasks.get(session, task.id)
        assert unchanged == task
        assert await tasks.set_status(session, task.id, S.PENDING, S.IN_PROGRESS, None) is True
        started = await tasks.get(session, task.id)
        assert started is not None and started.status is S.IN_PROGRESS
        assert started.updated_at > task.updated_at
        moved = await tasks.set_status(
            session, task.id, [S.PENDING, S.IN_PROGRESS], S.COMPLETED, now
        )
        assert moved is True
        done = await tasks.get(session, task.id)
    assert done is not None
    assert done.status is S.COMPLETED
    assert done.completed_at == now


async def test_set_status_checks_its_arguments(domain_db: Database) -> None:
    async with domain_db.create_session() as session:
        with pytest.raises(ValueError, match="expected must name 1 to 4"):
            await tasks.set_status(session, uuid.uuid4(), [], S.PENDING, None)
        with pytest.raises(ValueError, match="status must be one of"):
            await tasks.set_status(session, uuid.uuid4(), "nope", S.PENDING, None)  # type: ignore[arg-type]


async def test_completed_at_follows_the_status(
    domain_db: Database, make_user: MakeUser, make_task: MakeTask
) -> None:
    user = await make_user()
    done = await make_task(user, status=S.COMPLETED)
    assert done.completed_at == done.created_at
    pending = await make_task(user)
    assert pending.completed_at is None
    async with domain_db.create_session() as session:
        completed = await tasks.update(session, pending, TaskUpdate(status=S.COMPLETED))
        assert completed is not None and completed.completed_at == completed.updated_at
        again = await tasks.update(session, completed, TaskUpdate(status=S.COMPLETED))
        assert again is not None and again.completed_at == completed.completed_at
        retitled = await tasks.update(session, again, TaskUpdate(title="renamed"))
        assert retitled is not None and retitled.completed_at == completed.completed_at
        reopened = await tasks.update(session, again, TaskUpdate(status=S.PENDING))
        assert reopened is not None and reopened.completed_at is None
        assert reopened.title == "renamed"
