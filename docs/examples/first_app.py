"""Getting started: a first ferry.api app. Serve it with `ferry serve first_app:app`."""

from __future__ import annotations

from ferry.api import App

app = App(title="First app")


@app.get("/")
async def home() -> dict[str, str]:
    """The whole app: one endpoint that answers JSON."""
    return {"message": "Hello from Ferry"}


@app.get("/hello/{name}")
async def hello(name: str) -> dict[str, str]:
    """`name` comes from the path."""
    return {"hello": name}
