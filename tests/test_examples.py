"""The runnable examples: the FastAPI app over HTTP on every backend, and the quickstart
run the way a newcomer runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from examples.fastapi_app import SessionDep, create_app
from rawrepo.config import Dialect
from rawrepo.errors import ConflictError
from rawrepo.models import UserCreate
from rawrepo.services import UserService

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart.py"
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@dataclass
class Api:
    """An HTTP client on a running app, and a username prefix unique to the test."""

    app: FastAPI
    client: httpx.AsyncClient
    prefix: str = field(default_factory=lambda: f"ex{uuid.uuid4().hex[:8]}_")

    def name(self, suffix: str) -> str:
        return self.prefix + suffix

    async def user(self, suffix: str, email: str | None = None) -> dict[str, Any]:
        response = await self.client.post(
            "/users", json={"username": self.name(suffix), "email": email}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def task(self, user: dict[str, Any], title: str = "a task") -> dict[str, Any]:
        response = await self.client.post("/tasks", json={"title": title, "user_id": user["id"]})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def my_users(self) -> list[dict[str, Any]]:
        """The users this test created, as ``GET /users`` lists them."""
        response = await self.client.get("/users", params={"limit": 1000})
        assert response.status_code == 200, response.text
        return [u for u in response.json() if u["username"].startswith(self.prefix)]


@pytest_asyncio.fixture(loop_scope="session")
async def api(migrated_database_url: str) -> AsyncIterator[Api]:
    """The example app on the migrated test database, its lifespan running; the users
    the test created (and, by cascade, their tasks) are deleted afterwards."""
    app = create_app(migrated_database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            api = Api(app, client)
            try:
                yield api
            finally:
                users = UserService()
                async with app.state.db.create_session() as session:
                    for user in await users.list_users(session, limit=1000):
                        if user.username.startswith(api.prefix):
                            await users.delete_user(session, user.id)


def detail(response: httpx.Response) -> str:
    """The error message of a JSON error response (which must have exactly that shape)."""
    body = response.json()
    assert set(body) == {"detail"}, body
    assert isinstance(body["detail"], str) and body["detail"], body
    message: str = body["detail"]
    return message


# -- app lifecycle -------------------------------------------------------------------


async def test_lifespan_connects_and_disconnects_the_database(migrated_database_url: str) -> None:
    app = create_app(migrated_database_url)
    db = app.state.db
    assert db.pool is None
    async with app.router.lifespan_context(app):
        assert db.pool is not None
    assert db.pool is None


async def test_health_reports_the_backend(api: Api, rawrepo_backend: Dialect) -> None:
    response = await api.client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["healthy"] is True
    assert body["dialect"] == rawrepo_backend
    assert body["error"] is None


# -- users ---------------------------------------------------------------------------


async def test_user_create_get_list_update_delete(api: Api) -> None:
    created = await api.user("Alice", email="alice@example.com")
    assert created["username"] == api.name("Alice")
    assert created["email"] == "alice@example.com"
    uuid.UUID(created["id"])

    got = await api.client.get(f"/users/{created['id']}")
    assert got.status_code == 200
    assert got.json() == created
    by_name = await api.client.get(f"/users/by-username/{api.name('ALICE')}")
    assert by_name.json() == created
    assert await api.my_users() == [created]

    renamed = await api.client.patch(
        f"/users/{created['id']}", json={"username": api.name("alice2")}
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["username"] == api.name("alice2")
    assert renamed.json()["email"] == "alice@example.com"  # not sent, kept
    cleared = await api.client.patch(f"/users/{created['id']}", json={"email": None})
    assert cleared.json()["email"] is None
    assert (await api.client.get(f"/users/{created['id']}")).json() == cleared.json()

    deleted = await api.client.delete(f"/users/{created['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await api.client.get(f"/users/{created['id']}")).status_code == 404
    assert await api.my_users() == []


async def test_users_with_task_counts_and_with_tasks(api: Api) -> None:
    busy, idle = await api.user("busy"), await api.user("idle")
    first = await api.task(busy, "first")
    second = await api.task(busy, "second")

    response = await api.client.get("/users/task-counts", params={"limit": 1000})
    assert response.status_code == 200
    counts = {u["username"]: u["task_count"] for u in response.json()}
    assert counts[busy["username"]] == 2
    assert counts[idle["username"]] == 0

    with_tasks = (await api.client.get(f"/users/{busy['id']}/with-tasks")).json()
    assert [t["id"] for t in with_tasks["tasks"]] == [first["id"], second["id"]]


async def test_taken_username_is_409_in_any_case(api: Api) -> None:
    bob = await api.user("Bob")
    response = await api.client.post("/users", json={"username": api.name("BOB")})
    assert response.status_code == 409
    assert "already taken" in detail(response)
    assert await api.my_users() == [bob]


async def test_failed_rename_leaves_the_user_as_it_was(api: Api) -> None:
    await api.user("carol")
    dave = await api.user("dave", email="dave@example.com")
    response = await api.client.patch(
        f"/users/{dave['id']}",
        json={"username": api.name("CAROL"), "email": "changed@example.com"},
    )
    assert response.status_code == 409
    assert "already taken" in detail(response)
    assert (await api.client.get(f"/users/{dave['id']}")).json() == dave


# -- tasks ---------------------------------------------------------------------------


async def test_task_create_get_list_update_delete(api: Api) -> None:
    user = await api.user("tasker")
    created = await api.client.post(
        "/tasks", json={"title": "Write SQL", "description": "by hand", "user_id": user["id"]}
    )
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["status"] == "pending"
    assert task["user_id"] == user["id"]
    assert task["completed_at"] is None

    assert (await api.client.get(f"/tasks/{task['id']}")).json() == task
    assert (await api.client.get(f"/users/{user['id']}/tasks")).json() == [task]
    listed = await api.client.get("/tasks", params={"user_id": user["id"], "status": "pending"})
    assert listed.json() == [task]
    none_done = await api.client.get(
        "/tasks", params={"user_id": user["id"], "status": "completed"}
    )
    assert none_done.json() == []

    updated = await api.client.patch(
        f"/tasks/{task['id']}", json={"title": "Review SQL", "description": None}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["title"] == "Review SQL"
    assert updated.json()["description"] is None
    found = await api.client.get("/tasks/search", params={"q": "review sql"})
    assert [t["id"] for t in found.json()] == [task["id"]]

    deleted = await api.client.delete(f"/tasks/{task['id']}")
    assert deleted.status_code == 204
    assert (await api.client.get(f"/tasks/{task['id']}")).status_code == 404
    assert (await api.client.get(f"/users/{user['id']}/tasks")).json() == []


async def test_task_status_moves(api: Api) -> None:
    user = await api.user("mover")
    task = await api.task(user)
    started = await api.client.post(f"/tasks/{task['id']}/start")
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "in_progress"

    completed = await api.client.post(f"/tasks/{task['id']}/complete")
    assert completed.status_code == 200
    assert completed.json()["status"] == "completed"
    assert completed.json()["completed_at"] is not None

    reopened = await api.client.post(f"/tasks/{task['id']}/reopen")
    assert reopened.json()["status"] == "pending"
    assert reopened.json()["completed_at"] is None
    cancelled = await api.client.post(f"/tasks/{task['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    via_patch = await api.client.patch(f"/tasks/{task['id']}", json={"status": "pending"})
    assert via_patch.status_code == 200
    assert via_patch.json()["status"] == "pending"


async def test_invalid_status_move_is_409_and_changes_nothing(api: Api) -> None:
    user = await api.user("stuck")
    task = await api.task(user, "finished")
    done = (await api.client.post(f"/tasks/{task['id']}/complete")).json()

    response = await api.client.post(f"/tasks/{task['id']}/start")
    assert response.status_code == 409
    assert "'completed' to 'in_progress'" in detail(response)
    patched = await api.client.patch(
        f"/tasks/{task['id']}", json={"status": "cancelled", "title": "renamed"}
    )
    assert patched.status_code == 409
    assert (await api.client.get(f"/tasks/{task['id']}")).json() == done


async def test_a_retry_with_the_same_idempotency_key_header_returns_the_task(api: Api) -> None:
    user = await api.user("retrier")
    body = {"title": "once", "user_id": user["id"]}
    key = {"Idempotency-Key": f"op-{uuid.uuid4()}"}
    first = await api.client.post("/tasks", json=body, headers=key)
    assert first.status_code == 201, first.text
    assert first.json()["idempotency_key"] == key["Idempotency-Key"]
    again = await api.client.post("/tasks", json=body, headers=key)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    # The key in the body is the same key; header and body together must agree.
    in_body = {**body, "idempotency_key": key["Idempotency-Key"]}
    assert (await api.client.post("/tasks", json=in_body)).json() == first.json()
    both = await api.client.post("/tasks", json=in_body, headers=key)
    assert (both.status_code, both.json()) == (200, first.json())
    assert (await api.client.get(f"/users/{user['id']}/tasks")).json() == [first.json()]


async def test_an_idempotency_key_reused_for_another_task_is_409(api: Api) -> None:
    user = await api.user("reuser")
    key = {"Idempotency-Key": "k-1"}
    first = await api.client.post(
        "/tasks", json={"title": "one", "user_id": user["id"]}, headers=key
    )
    other = await api.client.post(
        "/tasks", json={"title": "two", "user_id": user["id"]}, headers=key
    )
    assert other.status_code == 409
    assert "idempotency_key 'k-1'" in detail(other) and "different title" in detail(other)
    assert (await api.client.get(f"/users/{user['id']}/tasks")).json() == [first.json()]


async def test_without_an_idempotency_key_each_post_creates_a_task(api: Api) -> None:
    user = await api.user("twice")
    one, two = [await api.task(user, "same") for _ in range(2)]
    assert one["id"] != two["id"] and one["idempotency_key"] is None


@pytest.mark.parametrize(
    ("headers", "body_key", "problem"),
    [
        ({"Idempotency-Key": " padded"}, None, "whitespace"),
        ({"Idempotency-Key": "k" * 201}, None, "1 to 200 characters"),
        ({}, "", "1 to 200 characters"),
        ({"Idempotency-Key": "a"}, "b", "differs from data.idempotency_key"),
    ],
)
async def test_a_bad_idempotency_key_is_422_and_creates_nothing(
    api: Api, headers: dict[str, str], body_key: str | None, problem: str
) -> None:
    user = await api.user("badkey")
    body = {"title": "t", "user_id": user["id"], "idempotency_key": body_key}
    response = await api.client.post("/tasks", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert "idempotency" in detail(response).lower() and problem in detail(response)
    assert (await api.client.get(f"/users/{user['id']}/tasks")).json() == []


async def test_deleting_a_user_deletes_their_tasks(api: Api) -> None:
    user = await api.user("leaving")
    task = await api.task(user)
    assert (await api.client.delete(f"/users/{user['id']}")).status_code == 204
    assert (await api.client.get(f"/tasks/{task['id']}")).status_code == 404


# -- errors --------------------------------------------------------------------------

MISSING = str(uuid.uuid4())


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/users/{MISSING}"),
        ("PATCH", f"/users/{MISSING}"),
        ("DELETE", f"/users/{MISSING}"),
        ("GET", f"/users/{MISSING}/tasks"),
        ("GET", f"/users/{MISSING}/with-tasks"),
        ("GET", f"/tasks/{MISSING}"),
        ("PATCH", f"/tasks/{MISSING}"),
        ("DELETE", f"/tasks/{MISSING}"),
        ("POST", f"/tasks/{MISSING}/complete"),
        ("POST", f"/tasks/{MISSING}/start"),
    ],
)
async def test_unknown_id_is_404(api: Api, method: str, path: str) -> None:
    body = {"title": "x"} if method == "PATCH" and "tasks" in path else {}
    response = await api.client.request(method, path, json=body if method == "PATCH" else None)
    assert response.status_code == 404, response.text
    assert MISSING in detail(response)


async def test_task_for_an_unknown_user_is_404_and_not_stored(api: Api) -> None:
    response = await api.client.post("/tasks", json={"title": "orphan", "user_id": MISSING})
    assert response.status_code == 404
    assert MISSING in detail(response)
    listed = await api.client.get("/tasks", params={"user_id": MISSING})
    assert listed.json() == []


async def test_unknown_username_is_404(api: Api) -> None:
    response = await api.client.get(f"/users/by-username/{api.name('nobody')}")
    assert response.status_code == 404
    assert api.name("nobody") in detail(response)


INVALID: list[tuple[str, str, Any, str]] = [
    # method, path, JSON body, a word the message must name
    ("POST", "/users", {"username": "no spaces"}, "username"),
    ("POST", "/users", {"username": "ab"}, "username"),
    ("POST", "/users", {"username": "valid_name", "role": "admin"}, "role"),
    ("POST", "/users", {}, "username"),
    ("POST", "/users", "not an object", "body"),
    ("POST", "/tasks", {"title": "", "user_id": MISSING}, "title"),
    ("POST", "/tasks", {"title": "x", "user_id": "not-a-uuid"}, "user_id"),
    ("POST", "/tasks", {"title": "x", "user_id": MISSING, "status": "done"}, "status"),
    ("PATCH", f"/tasks/{MISSING}", {"title": None}, "title"),
    ("PATCH", f"/users/{MISSING}", {"username": None}, "username"),
    ("GET", "/users?limit=0", None, "limit"),
    ("GET", "/users?limit=1001", None, "limit"),
    ("GET", "/users?skip=-1", None, "skip"),
    ("GET", "/users/not-a-uuid", None, "user_id"),
    ("GET", "/tasks/12345", None, "task_id"),
    ("GET", "/tasks?status=bogus", None, "status"),
    ("GET", "/tasks/search?q=%00", None, "NUL"),  # a ValueError from the repository
]


@pytest.mark.parametrize(("method", "path", "body", "names"), INVALID)
async def test_invalid_input_is_422_naming_the_problem(
    api: Api, method: str, path: str, body: Any, names: str
) -> None:
    response = await api.client.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert names in detail(response)


async def test_invalid_input_stores_nothing(api: Api) -> None:
    bad = await api.client.post("/users", json={"username": api.name("x y")})
    assert bad.status_code == 422
    assert await api.my_users() == []


async def test_a_failing_request_rolls_back_its_writes(api: Api) -> None:
    users = UserService()

    @api.app.post("/test/create-then-conflict")
    async def create_then_conflict(session: SessionDep, data: UserCreate) -> None:
        await users.create_user(session, data)
        raise ConflictError("refused after the insert")

    @api.app.post("/test/create-then-crash")
    async def create_then_crash(session: SessionDep, data: UserCreate) -> None:
        await users.create_user(session, data)
        raise RuntimeError("crashed after the insert")

    response = await api.client.post(
        "/test/create-then-conflict", json={"username": api.name("ghost")}
    )
    assert response.status_code == 409
    assert detail(response) == "refused after the insert"
    with pytest.raises(RuntimeError, match="crashed after the insert"):
        await api.client.post("/test/create-then-crash", json={"username": api.name("ghost2")})
    assert await api.my_users() == []
    # The same insert through the real endpoint commits.
    assert (await api.user("ghost"))["username"] == api.name("ghost")


# -- quickstart ----------------------------------------------------------------------


def _run_quickstart(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_") and k != "SQL_ECHO"}
    return subprocess.run(
        [sys.executable, str(QUICKSTART)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_quickstart_runs_on_the_default_sqlite_database_twice(tmp_path: Path) -> None:
    first = _run_quickstart(tmp_path)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "database: sqlite+aiosqlite:///data/app.db" in out
    assert "applied migration 0001.create-users" in out
    assert "applied migration 0002.create-tasks" in out
    created = re.search(rf"^created user alice \(({UUID_RE})\)$", out, re.M)
    assert created, out
    assert "created 6 tasks" in out
    assert "search 'review QUERY' found 5 tasks" in out
    assert re.search(r"^completed 'Write the first query' at \d{4}-\d\d-\d\d .+ UTC$", out, re.M)
    assert "alice: 6 tasks" in out
    assert (tmp_path / "data" / "app.db").is_file()

    second = _run_quickstart(tmp_path)
    assert second.returncode == 0, second.stderr
    again = second.stdout
    assert "applied migration" not in again
    assert f"found user alice ({created.group(1)})" in again
    assert "search 'review QUERY' found 10 tasks" in again
    assert "alice: 12 tasks" in again
