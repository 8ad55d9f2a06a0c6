"""A small ferry.asgi app: routes, a path parameter, middleware, an exception handler."""

from __future__ import annotations

from ferry.asgi import (
    App,
    GZipMiddleware,
    HTTPException,
    JSONResponse,
    Middleware,
    PlainTextResponse,
    Request,
    Response,
    Route,
)

NOTES = {1: "buy milk"}


async def home(request: Request) -> Response:
    """GET /: a greeting."""
    return PlainTextResponse("Hello from ferry.asgi")


async def note(request: Request) -> Response:
    """GET /notes/{note_id}: one note, or 404."""
    note_id = request.path_params["note_id"]
    if note_id not in NOTES:
        raise HTTPException(404, detail="note not found")
    return JSONResponse({"id": note_id, "text": NOTES[note_id]})


async def not_found(request: Request, exc: Exception) -> Response:
    """Every HTTPException as JSON."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


app = App(
    routes=[Route("/", home), Route("/notes/{note_id:int}", note)],
    middleware=[Middleware(GZipMiddleware, minimum_size=500)],
    exception_handlers={HTTPException: not_found},
)
