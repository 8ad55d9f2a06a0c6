"""The benchmark application on Starlette; ferry_asgi_app.py is the same app on ferry.asgi.

The toolkit has no dependency injection, so the chain is two plain calls, and the body is
validated with the same pydantic model the typed apps use.
"""

from __future__ import annotations

from bench_models import SETTINGS, User, UserCreate
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


async def plaintext(request: Request) -> Response:
    return PlainTextResponse("Hello, world!")


async def json(request: Request) -> Response:
    return JSONResponse({"message": "Hello, world!"})


async def get_user(request: Request) -> Response:
    user_id: int = request.path_params["user_id"]
    verbose = request.query_params.get("verbose", "false").lower() in ("1", "true", "yes", "on")
    name = "Ada Lovelace" if verbose else "Ada"
    user = User(id=user_id, name=name, email="ada@example.com", active=True)
    return Response(user.model_dump_json(), media_type="application/json")


async def create_user(request: Request) -> Response:
    try:
        created = UserCreate.model_validate_json(await request.body())
    except ValidationError as exc:
        return Response(exc.json(), status_code=422, media_type="application/json")
    user = User(id=1, name=created.name, email=created.email, active=True)
    return Response(user.model_dump_json(), status_code=201, media_type="application/json")


def settings_sync() -> dict[str, str]:
    return SETTINGS


def greeting_sync() -> str:
    return settings_sync()["greeting"]


def deps_sync(request: Request) -> Response:  # sync: the toolkit runs it in a thread
    return JSONResponse({"greeting": greeting_sync()})


async def settings_async() -> dict[str, str]:
    return SETTINGS


async def greeting_async() -> str:
    return (await settings_async())["greeting"]


async def deps_async(request: Request) -> Response:
    return JSONResponse({"greeting": await greeting_async()})


app = Starlette(
    routes=[
        Route("/plaintext", plaintext),
        Route("/json", json),
        Route("/users/{user_id:int}", get_user),
        Route("/users", create_user, methods=["POST"]),
        Route("/deps/sync", deps_sync),
        Route("/deps/async", deps_async),
    ]
)
