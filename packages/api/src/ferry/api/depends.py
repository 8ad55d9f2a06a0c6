"""Depends and Security: parameters whose value another function provides.

    async def get_db(): ...                      # a function, async function or class
    def get_user(db = Depends(get_db)): ...      # dependencies nest
    async def session():                         # a generator: cleanup after `yield`
        s = open_session()
        try:
            yield s
        finally:
            s.close()

Rules, decided when the route is added:
- One call per request for a dependency used in several places (`use_cache=False` to call
  it each time).
- Generator cleanup runs in reverse order of set-up, after the response is sent (it sees
  the endpoint's exception). `scope="function"` runs it right after the endpoint returns,
  before the response is sent. `scope="app"` makes the dependency once for the app's life
  (at the first request that needs it) and cleans it up at lifespan shutdown.
- `app.dependency_overrides[original] = replacement` swaps a dependency (in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

DependencyScope = Literal["request", "function", "app"]


@dataclass(frozen=True, slots=True)
class DependsMarker:
    """A dependency: the callable and how its value is cached and cleaned up."""

    dependency: Callable[..., Any] | None = None
    use_cache: bool = True
    scope: DependencyScope = "request"
    security_scopes: tuple[str, ...] = ()


def Depends(
    dependency: Callable[..., Any] | None = None,
    *,
    use_cache: bool = True,
    scope: DependencyScope = "request",
) -> Any:
    """Declare a parameter whose value `dependency(...)` provides.

    Without `dependency`, the parameter's annotation is called (a class, usually).
    """
    return DependsMarker(dependency, use_cache=use_cache, scope=scope)


def Security(
    dependency: Callable[..., Any] | None = None,
    *,
    scopes: Sequence[str] | None = None,
    use_cache: bool = True,
) -> Any:
    """A dependency that also declares OAuth2 scopes (see `SecurityScopes`)."""
    return DependsMarker(dependency, use_cache=use_cache, security_scopes=tuple(scopes or ()))


class SecurityScopes:
    """The OAuth2 scopes required by the security dependencies of a route, injected into a
    dependency that declares a parameter of this type."""

    def __init__(self, scopes: Sequence[str] | None = None) -> None:
        self.scopes = list(scopes or [])

    @property
    def scope_str(self) -> str:
        """The scopes, space-separated (as in WWW-Authenticate)."""
        return " ".join(self.scopes)
