"""Middleware(cls, *args, **kwargs): a middleware class and its arguments, applied later.

The app builds its stack once, at its first call, by calling
`cls(app, *args, **kwargs)` around the app inside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class Middleware:
    """A middleware class with the arguments to build it with.

    Example:
        >>> Middleware(GZipMiddleware, minimum_size=1000)  # doctest: +SKIP
    """

    def __init__(self, cls: Any, *args: Any, **kwargs: Any) -> None:
        self.cls = cls
        self.args = args
        self.kwargs = kwargs

    def __iter__(self) -> Iterator[Any]:
        return iter((self.cls, self.args, self.kwargs))

    def __repr__(self) -> str:
        arguments = [repr(arg) for arg in self.args]
        arguments += [f"{key}={value!r}" for key, value in self.kwargs.items()]
        name = getattr(self.cls, "__name__", repr(self.cls))
        return f"Middleware({', '.join([name, *arguments])})"
