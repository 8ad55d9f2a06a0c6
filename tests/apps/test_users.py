"""The users resource: register, read, list, update and delete (contract endpoints 1, 4-8)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from tests.apps.conftest import (
    PASSWORD,
    START_TIME,
    AppFactory,
    ClientFactory,
    bearer,
    login,
    register,
    token_for,
)

from ferry.asgi.testing import TestClient
from users_api.db import Database, Params, Row, Statement, database_from_url

PROFILE_KEYS = {"username", "display_name", "created_at"}
UTC_SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


# --- POST /users ---


def test_registration_answers_201_with_the_public_profile_and_its_location(
    client: TestClient,
) -> None:
    response = client.post(
        "/users", json={"username": "ada", "password": PASSWORD, "display_name": "Ada L."}
    )
    assert response.status_code == 201
    assert response.headers["location"] == "/users/ada"
    expected_time = datetime.fromtimestamp(START_TIME, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert response.json() == {
        "username": "ada",
        "display_name": "Ada L.",
        "created_at": expected_time,
    }


def test_display_name_defaults_to_the_username(client: TestClient) -> None:
    assert register(client, "grace").json()["display_name"] == "grace"


def test_created_at_is_utc_with_a_z_suffix(client: TestClient) -> None:
    created_at = register(client, "ada").json()["created_at"]
    assert UTC_SECONDS.match(created_at)


def test_registering_a_taken_username_gets_409(client: TestClient) -> None:
    register(client, "ada")
    response = client.post("/users", json={"username": "ada", "password": "another password"})
    assert response.status_code == 409
    assert response.json() == {"detail": "username already taken"}


def test_usernames_that_fit_the_pattern_are_accepted(client: TestClient) -> None:
    for username in ["abc", "a_1", "z" * 32, "a" + "0" * 31, "user_name_2"]:
        assert client.get(register(client, username).headers["location"]).status_code == 200


INVALID_USERNAMES = [
    "ab",  # too short
    "a" * 33,  # too long
    "Abc",  # uppercase
    "1abc",  # digit first
    "_abc",  # underscore first
    "ab-c",
    "ab c",
    "abc\n",  # the pattern matches the whole string
    "\nabc",
    "abç",
    "",
]


def test_usernames_that_break_the_pattern_get_422(client: TestClient) -> None:
    for username in INVALID_USERNAMES:
        response = client.post("/users", json={"username": username, "password": PASSWORD})
        assert response.status_code == 422, username
        assert response.json()["detail"][0]["loc"] == ["body", "username"]
    assert client.get("/users").json()["total"] == 0


def test_passwords_of_8_to_128_characters_are_accepted(client: TestClient) -> None:
    # Lengths count characters: "é" is two bytes in UTF-8 and "🔑" four.
    for number, password in enumerate(["x" * 8, "y" * 128, "é" * 8, "🔑" * 128]):
        register(client, f"user_{number}", password=password)
        assert login(client, f"user_{number}", password).status_code == 200


def test_passwords_outside_8_to_128_characters_get_422_without_echoing_them(
    client: TestClient,
) -> None:
    for password in ["x" * 7, "x" * 129, "🔑" * 129, ""]:
        response = client.post("/users", json={"username": "ada", "password": password})
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "password"]
        assert "input" not in error


def test_display_names_of_1_to_64_characters_are_accepted(client: TestClient) -> None:
    for number, display_name in enumerate(["A", "x" * 64, "é" * 64, "Ada 🚀"]):
        response = register(client, f"user_{number}", display_name=display_name)
        assert response.json()["display_name"] == display_name
        assert client.get(f"/users/user_{number}").json()["display_name"] == display_name


def test_display_names_outside_1_to_64_characters_get_422(client: TestClient) -> None:
    for display_name in ["", "x" * 65, "é" * 65, "nul\x00byte"]:
        response = client.post(
            "/users", json={"username": "ada", "password": PASSWORD, "display_name": display_name}
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "display_name"]


NOT_JSON_OBJECTS = [
    b"",
    b"not json",
    b'{"username": "ada", "password": "correct horse',
    b"[]",
    b'"ada"',
    b"null",
    b"42",
    b'["ada", "correct horse battery"]',
]


def test_a_body_that_is_empty_not_json_or_not_an_object_gets_422(client: TestClient) -> None:
    for body in NOT_JSON_OBJECTS:
        headers = {"content-type": "application/json"}
        response = client.post("/users", content=body, headers=headers)
        assert response.status_code == 422, body
        detail = response.json()["detail"]
        assert isinstance(detail, list)
        assert all({"type", "loc", "msg"} <= set(error) for error in detail)
        assert "correct horse" not in response.text


def test_missing_fields_get_422_with_every_error_listed(client: TestClient) -> None:
    response = client.post("/users", json={})
    assert response.status_code == 422
    locations = [error["loc"] for error in response.json()["detail"]]
    assert ["body", "username"] in locations
    assert ["body", "password"] in locations


def test_unknown_fields_in_a_registration_are_ignored(client: TestClient) -> None:
    response = client.post(
        "/users",
        json={"username": "ada", "password": PASSWORD, "created_at": "1999", "admin": True},
    )
    assert response.status_code == 201
    assert set(response.json()) == PROFILE_KEYS
    assert response.json()["created_at"].startswith("2027-")


# --- GET /users/{username} ---


def test_a_user_profile_has_exactly_the_public_keys(client: TestClient) -> None:
    register(client, "ada", display_name="Ada")
    response = client.get("/users/ada")
    assert response.status_code == 200
    assert set(response.json()) == PROFILE_KEYS
    assert response.json()["display_name"] == "Ada"


def test_an_unknown_username_gets_404(client: TestClient) -> None:
    response = client.get("/users/nobody")
    assert response.status_code == 404
    assert response.json() == {"detail": "user not found"}


class CountingDatabase:
    """A Database that counts the statements it is asked to run."""

    def __init__(self, inner: Database) -> None:
        self.inner = inner
        self.statements = 0

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        self.statements += 1
        return await self.inner.fetch_one(sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        self.statements += 1
        return await self.inner.fetch_all(sql, params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        self.statements += 1
        return await self.inner.execute(sql, params)

    async def transaction(self, statements: Sequence[Statement]) -> list[int]:
        self.statements += 1
        return await self.inner.transaction(statements)


def test_a_username_that_breaks_the_pattern_gets_422_without_a_database_query(
    make_app: AppFactory, make_client: ClientFactory, database_url: str
) -> None:
    database = CountingDatabase(database_from_url(database_url))
    with make_client(make_app(database=database)) as client:
        for username in ["AB", "abc%0A", "a", "Ada", "abc%00", "x" * 40, "%C3%A9t%C3%A9"]:
            before = database.statements
            response = client.get(f"/users/{username}")
            assert response.status_code == 422, username
            assert response.json()["detail"][0]["loc"] == ["path", "username"]
            assert database.statements == before
        client.get("/users/valid_name")
        assert database.statements == before + 1


# --- GET /users ---


def test_the_listing_is_ordered_by_username_in_byte_order(client: TestClient) -> None:
    for name in ["zed", "a_b", "aab", "a1b", "abc", "a9z", "b_a"]:
        register(client, name)
    response = client.get("/users")
    assert response.status_code == 200
    usernames = [item["username"] for item in response.json()["items"]]
    # Digits (0x30-0x39) sort before "_" (0x5f), which sorts before letters (0x61-0x7a).
    assert usernames == ["a1b", "a9z", "a_b", "aab", "abc", "b_a", "zed"]


def test_the_listing_has_items_total_limit_and_offset_and_profiles_only(
    client: TestClient,
) -> None:
    register(client, "ada")
    body = client.get("/users").json()
    assert set(body) == {"items", "total", "limit", "offset"}
    assert body["total"] == 1
    assert (body["limit"], body["offset"]) == (20, 0)
    assert [set(item) for item in body["items"]] == [PROFILE_KEYS]


def test_the_listing_pages_with_limit_and_offset(client: TestClient) -> None:
    names = [f"user_{i:02d}" for i in range(25)]
    for name in names:
        register(client, name)
    first = client.get("/users").json()
    assert [item["username"] for item in first["items"]] == names[:20]
    assert first["total"] == 25
    page = client.get("/users", params={"limit": 10, "offset": 20}).json()
    assert [item["username"] for item in page["items"]] == names[20:]
    assert (page["limit"], page["offset"], page["total"]) == (10, 20, 25)
    assert len(client.get("/users", params={"limit": 100}).json()["items"]) == 25
    assert len(client.get("/users", params={"limit": 1}).json()["items"]) == 1


def test_an_offset_past_the_end_gives_an_empty_page(client: TestClient) -> None:
    register(client, "ada")
    for offset in [1, 5, 10**6, 10**30]:
        response = client.get("/users", params={"offset": offset})
        assert response.status_code == 200
        assert response.json() == {"items": [], "total": 1, "limit": 20, "offset": offset}


def test_a_limit_outside_1_to_100_or_a_negative_offset_gets_422(client: TestClient) -> None:
    for params in [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "-1"},
        {"limit": "abc"},
        {"limit": "1.5"},
        {"offset": "-1"},
        {"offset": "abc"},
    ]:
        response = client.get("/users", params=params)
        assert response.status_code == 422, params
        assert response.json()["detail"][0]["loc"] == ["query", *params]


# --- /users/me ---


def test_users_me_answers_the_callers_own_profile(client: TestClient) -> None:
    register(client, "ada", display_name="Ada")
    register(client, "bob")
    response = client.get("/users/me", headers=bearer(token_for(client, "ada")))
    assert response.status_code == 200
    assert response.json()["username"] == "ada"
    assert set(response.json()) == PROFILE_KEYS


def test_patch_changes_the_display_name(client: TestClient) -> None:
    register(client, "ada")
    headers = bearer(token_for(client, "ada"))
    response = client.patch("/users/me", json={"display_name": "Countess"}, headers=headers)
    assert response.status_code == 200
    assert response.json()["display_name"] == "Countess"
    assert client.get("/users/ada").json()["display_name"] == "Countess"


def test_patch_cannot_rename_a_user(client: TestClient) -> None:
    register(client, "ada")
    headers = bearer(token_for(client, "ada"))
    response = client.patch(
        "/users/me", json={"username": "eve", "display_name": "Ada"}, headers=headers
    )
    assert response.status_code == 200
    assert response.json()["username"] == "ada"
    assert client.get("/users/eve").status_code == 404
    assert client.get("/users/ada").status_code == 200


def test_patch_with_no_known_fields_changes_nothing(client: TestClient) -> None:
    register(client, "ada", display_name="Ada")
    headers = bearer(token_for(client, "ada"))
    response = client.patch(
        "/users/me", json={"created_at": "1999-01-01T00:00:00Z"}, headers=headers
    )
    assert response.status_code == 200
    assert response.json() == client.get("/users/ada").json()
    assert client.get("/users/me", headers=headers).status_code == 200


def test_patch_with_invalid_values_gets_422_and_changes_nothing(client: TestClient) -> None:
    register(client, "ada", display_name="Ada")
    headers = bearer(token_for(client, "ada"))
    for body in [
        {"display_name": ""},
        {"display_name": "x" * 65},
        {"password": "short"},
        {"password": "x" * 129},
        {"display_name": "Eve", "password": "short"},
    ]:
        response = client.patch("/users/me", json=body, headers=headers)
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert all("input" not in e for e in detail if e["loc"][-1] == "password")
    assert client.get("/users/ada").json()["display_name"] == "Ada"
    assert client.get("/users/me", headers=headers).status_code == 200


def test_patch_with_a_body_that_is_not_a_json_object_gets_422(client: TestClient) -> None:
    register(client, "ada")
    headers = {**bearer(token_for(client, "ada")), "content-type": "application/json"}
    for body in [b"", b"{", b"[]", b'"x"', b"null"]:
        assert client.patch("/users/me", content=body, headers=headers).status_code == 422


def test_delete_answers_204_and_the_username_then_answers_404(client: TestClient) -> None:
    register(client, "ada")
    headers = bearer(token_for(client, "ada"))
    response = client.delete("/users/me", headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    assert client.get("/users/ada").status_code == 404
    assert client.get("/users").json()["total"] == 0


def test_delete_revokes_every_token_of_the_user(client: TestClient) -> None:
    register(client, "ada")
    first, second = token_for(client, "ada"), token_for(client, "ada")
    assert client.delete("/users/me", headers=bearer(first)).status_code == 204
    for token in (first, second):
        response = client.get("/users/me", headers=bearer(token))
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert login(client, "ada").status_code == 401


def test_a_deleted_username_can_be_registered_again_without_the_old_tokens(
    client: TestClient,
) -> None:
    register(client, "ada", display_name="First")
    old = token_for(client, "ada")
    client.delete("/users/me", headers=bearer(old))
    register(client, "ada", display_name="Second")
    assert client.get("/users/me", headers=bearer(old)).status_code == 401
    assert client.get("/users/ada").json()["display_name"] == "Second"


def test_users_me_without_a_token_gets_401_with_a_bearer_challenge(client: TestClient) -> None:
    for method in ["GET", "PATCH", "DELETE"]:
        response = client.request(method, "/users/me", json={} if method == "PATCH" else None)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert set(response.json()) == {"detail"}
