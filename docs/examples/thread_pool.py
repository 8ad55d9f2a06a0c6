"""Sync endpoints and the worker threads: a higher limit, and a way back to the event loop."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from ferry.api import App, HTTPException

RATES = {"EUR": 1.0, "USD": 1.08}


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    # Up to 100 sync calls at once instead of 40. Set it here, on the event loop that serves.
    anyio.to_thread.current_default_thread_limiter().total_tokens = 100
    yield


app = App(title="Converter", lifespan=lifespan)


async def fetch_rate(currency: str) -> float:
    """Async, as a real rates client would be."""
    await anyio.lowlevel.checkpoint()
    return RATES[currency]


@app.get("/convert")
def convert(amount: float, currency: str = "USD") -> dict[str, float]:
    """A plain `def`: it runs in a worker thread, so it may block, and may call async code."""
    if currency not in RATES:
        raise HTTPException(404, f"no rate for {currency}")
    rate = anyio.from_thread.run(fetch_rate, currency)
    return {"amount": round(amount * rate, 2)}


@app.get("/thread-limit")
async def thread_limit() -> dict[str, float]:
    """How many sync calls may run at once on this event loop."""
    return {"total_tokens": anyio.to_thread.current_default_thread_limiter().total_tokens}
