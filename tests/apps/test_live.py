"""Over real sockets: the whole journey, simultaneous registrations, restarts, two instances.

The app runs under ferry-server in a thread (`live_server`, `run_in_thread`), and the
tests talk to it with httpx, as any client would.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import httpx
from tests.apps.conftest import PASSWORD, AppFactory, bearer, login, register, token_for

from ferry.server.testing import run_in_thread

CONCURRENT_CLIENTS = 20


def test_end_to_end_register_login_read_change_password_and_delete(
    live_server: str, audited: Callable[[str], httpx.Client]
) -> None:
    with audited(live_server) as client:
        created = register(client, "ada", display_name="Ada Lovelace")
        assert created.headers["location"] == "/users/ada"
        token = token_for(client, "ada")
        me = client.get("/users/me", headers=bearer(token))
        assert me.status_code == 200
        assert me.json()["display_name"] == "Ada Lovelace"
        changed = client.patch(
            "/users/me", json={"password": "the analytical engine"}, headers=bearer(token)
        )
        assert changed.status_code == 200
        refused = client.get("/users/me", headers=bearer(token))
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert login(client, "ada", PASSWORD).status_code == 401
        new_token = token_for(client, "ada", "the analytical engine")
        assert client.delete("/users/me", headers=bearer(new_token)).status_code == 204
        assert client.get("/users/ada").status_code == 404
        assert client.get("/users/me", headers=bearer(new_token)).status_code == 401


def test_twenty_simultaneous_registrations_of_one_username_give_one_201(
    make_app: AppFactory, audited: Callable[[str], httpx.Client]
) -> None:
    barrier = threading.Barrier(CONCURRENT_CLIENTS)
    statuses: list[int] = []
    lock = threading.Lock()

    def register_once(base_url: str, number: int) -> None:
        with audited(base_url) as client:
            client.get("/healthz")  # connected before the race starts
            barrier.wait(timeout=30)
            response = client.post(
                "/users",
                json={"username": "race", "password": f"password number {number}"},
            )
        with lock:
            statuses.append(response.status_code)

    with run_in_thread(make_app()) as base_url:
        threads = [
            threading.Thread(target=register_once, args=(base_url, n))
            for n in range(CONCURRENT_CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        with audited(base_url) as client:
            listing = client.get("/users").json()
    assert Counter(statuses) == {201: 1, 409: CONCURRENT_CLIENTS - 1}
    assert listing["total"] == 1


def test_users_and_tokens_survive_a_restart(
    make_app: AppFactory, audited: Callable[[str], httpx.Client]
) -> None:
    with run_in_thread(make_app()) as base_url, audited(base_url) as client:
        register(client, "ada")
        token = token_for(client, "ada")
    with run_in_thread(make_app()) as base_url, audited(base_url) as client:
        assert client.get("/users/ada").status_code == 200
        assert client.get("/users/me", headers=bearer(token)).json()["username"] == "ada"


def test_two_instances_on_one_database_share_users_and_tokens(
    make_app: AppFactory, audited: Callable[[str], httpx.Client]
) -> None:
    with (
        run_in_thread(make_app()) as first_url,
        run_in_thread(make_app()) as second_url,
        audited(first_url) as first,
        audited(second_url) as second,
    ):
        register(first, "ada")
        token = token_for(first, "ada")
        assert second.get("/users/me", headers=bearer(token)).status_code == 200
        assert second.post("/auth/logout", headers=bearer(token)).status_code == 204
        assert first.get("/users/me", headers=bearer(token)).status_code == 401
        response = second.post("/users", json={"username": "ada", "password": PASSWORD})
        assert response.status_code == 409
