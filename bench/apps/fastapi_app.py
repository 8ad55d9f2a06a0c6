"""The benchmark application on FastAPI; ferry_api_app.py is the same app on ferry.api."""

from __future__ import annotations

from typing import Annotated

from bench_models import SETTINGS, User, UserCreate
from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI(openapi_url=None)


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> PlainTextResponse:
    return PlainTextResponse("Hello, world!")


@app.get("/json")
async def json() -> dict[str, str]:
    return {"message": "Hello, world!"}


@app.get("/users/{user_id}", response_model=User)
async def get_user(user_id: int, verbose: bool = False) -> User:
    name = "Ada Lovelace" if verbose else "Ada"
    return User(id=user_id, name=name, email="ada@example.com", active=True)


@app.post("/users", response_model=User, status_code=201)
async def create_user(user: UserCreate) -> User:
    return User(id=1, name=user.name, email=user.email, active=True)


# The dependency chain: endpoint <- greeting <- settings, in a sync and an async variant.
def settings_sync() -> dict[str, str]:
    return SETTINGS


def greeting_sync(settings: Annotated[dict[str, str], Depends(settings_sync)]) -> str:
    return settings["greeting"]


@app.get("/deps/sync")
def deps_sync(greeting: Annotated[str, Depends(greeting_sync)]) -> dict[str, str]:
    return {"greeting": greeting}


async def settings_async() -> dict[str, str]:
    return SETTINGS


async def greeting_async(settings: Annotated[dict[str, str], Depends(settings_async)]) -> str:
    return settings["greeting"]


@app.get("/deps/async")
async def deps_async(greeting: Annotated[str, Depends(greeting_async)]) -> dict[str, str]:
    return {"greeting": greeting}
