"""Logging in and out, tokens, password changes and lockout (contract endpoints 2-5)."""

from __future__ import annotations

import hashlib

import pytest
from tests.apps.conftest import (
    FAST_HASHER,
    PASSWORD,
    AppFactory,
    ClientFactory,
    FakeClock,
    bearer,
    login,
    register,
    run_sql,
    token_for,
)

from ferry.asgi.testing import TestClient
from users_api.auth import PasswordHasher
from users_api.main import create_app
from users_api.settings import Settings

WRONG = "wrong password!"


# --- POST /auth/token ---


def test_a_correct_login_gets_a_bearer_token_that_expires_in_the_configured_lifetime(
    make_app: AppFactory, make_client: ClientFactory
) -> None:
    with make_client(make_app(token_ttl_s=1234)) as client:
        register(client, "ada")
        response = login(client, "ada")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 1234
    assert response.headers["cache-control"] == "no-store"


def test_tokens_carry_at_least_256_random_bits_and_differ(client: TestClient) -> None:
    register(client, "ada")
    tokens = {token_for(client, "ada") for _ in range(5)}
    assert len(tokens) == 5
    # token_urlsafe(32): 32 bytes in unpadded base64url is 43 characters.
    assert all(len(token) >= 43 for token in tokens)


def test_only_the_sha256_digest_of_a_token_is_stored(client: TestClient, database_url: str) -> None:
    register(client, "ada")
    token = token_for(client, "ada")
    stored = [row[0] for row in run_sql(database_url, "SELECT digest FROM tokens")]
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    dump = repr(run_sql(database_url, "SELECT * FROM tokens"))
    assert token not in dump


def test_a_wrong_password_and_an_unknown_user_get_the_same_401(client: TestClient) -> None:
    register(client, "ada")
    wrong_password = login(client, "ada", WRONG)
    unknown_user = login(client, "nobody", WRONG)
    for response in (wrong_password, unknown_user):
        assert response.status_code == 401
        assert response.json() == {"detail": "incorrect username or password"}
        assert response.headers["www-authenticate"] == "Bearer"
    assert wrong_password.content == unknown_user.content
    assert sorted(wrong_password.headers.keys()) == sorted(unknown_user.headers.keys())


def test_an_unknown_user_costs_one_password_check_like_a_wrong_password(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(client, "ada")
    checked: list[str] = []
    real_verify = PasswordHasher.verify

    def counting_verify(self: PasswordHasher, password: str, stored: str) -> bool:
        checked.append(stored.split("$")[1])  # the cost parameter n
        return real_verify(self, password, stored)

    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    login(client, "ada", WRONG)
    login(client, "nobody", WRONG)
    login(client, "Not A Valid Name", WRONG)
    assert checked == [str(FAST_HASHER.n)] * 3


def test_a_login_form_missing_fields_gets_422_without_the_password(client: TestClient) -> None:
    for form in [
        {},
        {"username": "ada"},
        {"password": PASSWORD},
        {"username": "ada", "password": PASSWORD, "grant_type": "magic"},
    ]:
        response = client.post("/auth/token", data=form)
        assert response.status_code == 422, form
        assert PASSWORD not in response.text


def test_passwords_are_stored_as_salted_scrypt_hashes(
    client: TestClient, database_url: str
) -> None:
    register(client, "ada", password=PASSWORD)
    register(client, "bob", password=PASSWORD)
    hashes = [row[0] for row in run_sql(database_url, "SELECT password_hash FROM users")]
    assert len(set(hashes)) == 2  # same password, different salts
    for stored in hashes:
        assert stored.startswith("scrypt$")
        assert PASSWORD not in stored


def test_the_production_hash_cost_is_memory_hard(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url))
    with TestClient(app) as client:
        register(client, "ada")
        assert login(client, "ada").status_code == 200
    [(stored,)] = run_sql(database_url, "SELECT password_hash FROM users")
    algorithm, n, r, p, _, _ = stored.split("$")
    # 128 * n * r bytes: 16 MiB per hash.
    assert (algorithm, int(n), int(r), int(p)) == ("scrypt", 2**14, 8, 1)


# --- bearer tokens ---


MALFORMED_AUTHORIZATIONS = [
    "Bearer",
    "Bearer ",
    "Basic YWRhOnNlY3JldA==",
    "Bearer a b",
    "Bearer unknown-token",
    "bearer " + "x" * 43,
    "Token abc",
    "Bearer ' OR '1'='1",
]


def test_a_missing_malformed_or_unknown_token_gets_401_with_a_bearer_challenge(
    client: TestClient,
) -> None:
    register(client, "ada")
    token = token_for(client, "ada")
    for authorization in [*MALFORMED_AUTHORIZATIONS, f"Bearer {token}x", f"Basic {token}"]:
        response = client.get("/users/me", headers={"Authorization": authorization})
        assert response.status_code == 401, authorization
        assert response.headers["www-authenticate"] == "Bearer"
        assert set(response.json()) == {"detail"}


def test_a_token_works_until_its_lifetime_ends(
    make_app: AppFactory, make_client: ClientFactory, clock: FakeClock
) -> None:
    with make_client(make_app(token_ttl_s=60)) as client:
        register(client, "ada")
        headers = bearer(token_for(client, "ada"))
        clock.advance(59.9)
        assert client.get("/users/me", headers=headers).status_code == 200
        clock.advance(0.1)
        response = client.get("/users/me", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


def test_logout_answers_204_and_that_token_stops_working(client: TestClient) -> None:
    register(client, "ada")
    headers = bearer(token_for(client, "ada"))
    response = client.post("/auth/logout", headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    assert client.get("/users/me", headers=headers).status_code == 401
    assert client.post("/auth/logout", headers=headers).status_code == 401


def test_logout_revokes_only_the_token_presented(client: TestClient) -> None:
    register(client, "ada")
    kept, dropped = token_for(client, "ada"), token_for(client, "ada")
    client.post("/auth/logout", headers=bearer(dropped))
    assert client.get("/users/me", headers=bearer(kept)).status_code == 200
    assert client.get("/users/me", headers=bearer(dropped)).status_code == 401


def test_logout_without_a_token_gets_401_with_a_bearer_challenge(client: TestClient) -> None:
    response = client.post("/auth/logout")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_password_change_revokes_every_token_issued_before_it(client: TestClient) -> None:
    register(client, "ada")
    register(client, "bob")
    first, second = token_for(client, "ada"), token_for(client, "ada")
    bobs = token_for(client, "bob")
    response = client.patch(
        "/users/me", json={"password": "a brand new secret"}, headers=bearer(first)
    )
    assert response.status_code == 200
    assert response.json()["username"] == "ada"
    for token in (first, second):
        assert client.get("/users/me", headers=bearer(token)).status_code == 401
    assert client.get("/users/me", headers=bearer(bobs)).status_code == 200
    assert login(client, "ada", PASSWORD).status_code == 401
    fresh = token_for(client, "ada", "a brand new secret")
    assert client.get("/users/me", headers=bearer(fresh)).status_code == 200


def test_a_display_name_change_keeps_the_tokens(client: TestClient) -> None:
    register(client, "ada")
    headers = bearer(token_for(client, "ada"))
    client.patch("/users/me", json={"display_name": "Ada"}, headers=headers)
    assert client.get("/users/me", headers=headers).status_code == 200


# --- lockout ---


def fail(client: TestClient, username: str, times: int) -> list[int]:
    return [login(client, username, WRONG).status_code for _ in range(times)]


def test_failures_1_to_10_get_401_and_the_11th_gets_429_with_retry_after(
    client: TestClient,
) -> None:
    register(client, "ada")
    assert fail(client, "ada", 10) == [401] * 10
    response = login(client, "ada", WRONG)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "900"
    assert set(response.json()) == {"detail"}


def test_a_correct_password_is_refused_while_locked(client: TestClient) -> None:
    register(client, "ada")
    fail(client, "ada", 10)
    response = login(client, "ada", PASSWORD)
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 900


def test_retry_after_counts_down_in_whole_seconds_and_the_lock_lifts(
    client: TestClient, clock: FakeClock
) -> None:
    register(client, "ada")
    fail(client, "ada", 10)
    clock.advance(300.25)
    assert login(client, "ada").headers["retry-after"] == "600"  # 599.75 rounded up
    clock.advance(599.5)
    assert login(client, "ada").headers["retry-after"] == "1"
    clock.advance(0.25)
    assert login(client, "ada").status_code == 200


def test_the_window_slides_over_the_last_15_minutes(client: TestClient, clock: FakeClock) -> None:
    register(client, "ada")
    assert fail(client, "ada", 5) == [401] * 5
    clock.advance(600)
    assert fail(client, "ada", 5) == [401] * 5
    response = login(client, "ada", WRONG)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "300"  # when the first five age out
    clock.advance(300)
    # The first five are out of the window: five more failures fit before the lock.
    assert fail(client, "ada", 5) == [401] * 5
    assert login(client, "ada", PASSWORD).status_code == 429


def test_failures_older_than_15_minutes_do_not_count(client: TestClient, clock: FakeClock) -> None:
    register(client, "ada")
    fail(client, "ada", 9)
    clock.advance(900)
    assert fail(client, "ada", 10) == [401] * 10
    assert login(client, "ada").status_code == 429


def test_a_successful_login_clears_the_count(client: TestClient) -> None:
    register(client, "ada")
    fail(client, "ada", 9)
    assert login(client, "ada").status_code == 200
    assert fail(client, "ada", 10) == [401] * 10
    assert login(client, "ada").status_code == 429


def test_unknown_usernames_lock_the_same_way(client: TestClient) -> None:
    for username in ["ghost", "Not-A-Name", "x" * 500, "nul\x00name", "é"]:
        assert fail(client, username, 10) == [401] * 10
        response = login(client, username, WRONG)
        assert response.status_code == 429, username
        assert response.headers["retry-after"] == "900"


def test_a_lock_is_per_username(client: TestClient) -> None:
    register(client, "ada")
    register(client, "bob")
    fail(client, "ada", 10)
    assert login(client, "bob").status_code == 200
    assert login(client, "ada").status_code == 429


def test_a_locked_account_keeps_its_existing_tokens(client: TestClient) -> None:
    register(client, "ada")
    headers = bearer(token_for(client, "ada"))
    fail(client, "ada", 11)
    assert client.get("/users/me", headers=headers).status_code == 200


def test_failures_are_counted_in_the_database_so_every_instance_sees_them(
    make_app: AppFactory, make_client: ClientFactory
) -> None:
    with make_client(make_app()) as first, make_client(make_app()) as second:
        register(first, "ada")
        assert fail(first, "ada", 5) == [401] * 5
        assert fail(second, "ada", 5) == [401] * 5
        assert login(first, "ada").status_code == 429
        assert login(second, "ada").status_code == 429
