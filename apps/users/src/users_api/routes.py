"""The endpoints, one router per resource. Each is thin: its parameters are validated
before it runs; it calls the repository or the authenticator and returns a model.

    POST   /users              register      201 (Location), 409, 422
    GET    /users              list_users    200, 422
    GET    /users/me           read_me       200, 401
    PATCH  /users/me           update_me     200, 401, 422
    DELETE /users/me           delete_me     204, 401
    GET    /users/{username}   read_user     200, 404, 422
    POST   /auth/token         login         200, 401, 422, 429 (Retry-After)
    POST   /auth/logout        logout        204, 401
    GET    /healthz            health        200, 503

WebSockets (/ws/echo, /ws/events) are in live.py; register, update_me and delete_me
publish their events there.

Every 401 carries `WWW-Authenticate: Bearer` (RFC 9110 §15.5.2, RFC 6750 §3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from ferry.api import APIRouter, Depends, HTTPException, Path, Query, Response, status
from ferry.api.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from users_api.auth import Authenticator, Clock, LoginFailed, LoginLocked
from users_api.events import EventHub
from users_api.models import (
    USERNAME_PATTERN,
    ErrorMessage,
    Health,
    Token,
    UserCreate,
    UserPage,
    UserPublic,
    UserUpdate,
)
from users_api.repository import Repository, UsernameTaken, UserRecord


@dataclass(frozen=True, slots=True)
class AppState:
    """What the lifespan hands every endpoint that declares a parameter of this type."""

    repository: Repository
    auth: Authenticator
    clock: Clock
    events: EventHub = field(default_factory=EventHub)  # relayed by /ws/events (live.py)


users = APIRouter(prefix="/users", tags=["users"])
auth = APIRouter(prefix="/auth", tags=["auth"])
health = APIRouter(tags=["health"])

# auto_error=False: a missing token gets the same 401 as a bad one, raised below.
bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorMessage,
        "description": "The token is missing, malformed, unknown, expired or revoked",
    }
}


def public(user: UserRecord) -> UserPublic:
    """The public profile of a stored user (the hash stays behind)."""
    return UserPublic(
        username=user.username,
        display_name=user.display_name,
        created_at=datetime.fromtimestamp(user.created_at, UTC),
    )


def not_authenticated() -> HTTPException:
    """The 401 for a request without a usable token."""
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="not authenticated",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def bearer_token(token: Annotated[str | None, Depends(bearer)]) -> str:
    """The request's bearer token (unchecked), or a 401."""
    if token is None:
        raise not_authenticated()
    return token


async def current_user(state: AppState, token: Annotated[str, Depends(bearer_token)]) -> UserRecord:
    """The user the bearer token belongs to, or a 401."""
    user = await state.auth.authenticate(token)
    if user is None:
        raise not_authenticated()
    return user


CurrentUser = Annotated[UserRecord, Depends(current_user)]


# --- /users ---


@users.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses={409: {"model": ErrorMessage, "description": "Username already taken"}},
)
async def register(body: UserCreate, state: AppState, response: Response) -> UserPublic:
    """Create an account. `display_name` defaults to the username."""
    password_hash = await state.auth.hash_password(body.password)
    try:
        user = await state.repository.create_user(
            body.username,
            body.display_name or body.username,
            password_hash,
            int(state.clock()),
        )
    except UsernameTaken:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="username already taken") from None
    response.headers["Location"] = f"/users/{user.username}"
    profile = public(user)
    state.events.publish({"event": "user.created", "user": profile.model_dump(mode="json")})
    return profile


@users.get("", response_model=UserPage)
async def list_users(
    state: AppState,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> UserPage:
    """Users ordered by username (byte order), `limit` at a time from `offset`."""
    records, total = await state.repository.list_users(limit, offset)
    return UserPage(items=[public(r) for r in records], total=total, limit=limit, offset=offset)


@users.get("/me", response_model=UserPublic, responses=UNAUTHORIZED)
async def read_me(user: CurrentUser) -> UserPublic:
    """The caller's own profile."""
    return public(user)


@users.patch("/me", response_model=UserPublic, responses=UNAUTHORIZED)
async def update_me(body: UserUpdate, user: CurrentUser, state: AppState) -> UserPublic:
    """Change the display name and/or the password. A new password revokes every token
    issued before it, the one used here included."""
    password_hash = None
    if body.password is not None:
        password_hash = await state.auth.hash_password(body.password)
    updated = await state.repository.update_user(
        user.username, display_name=body.display_name, password_hash=password_hash
    )
    if updated is None:  # deleted by another request meanwhile
        raise not_authenticated()
    profile = public(updated)
    state.events.publish({"event": "user.updated", "user": profile.model_dump(mode="json")})
    return profile


@users.delete("/me", status_code=status.HTTP_204_NO_CONTENT, responses=UNAUTHORIZED)
async def delete_me(user: CurrentUser, state: AppState) -> Response:
    """Delete the caller's account and revoke all of their tokens."""
    await state.repository.delete_user(user.username)
    state.events.publish({"event": "user.deleted", "user": {"username": user.username}})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users.get(
    "/{username}",
    response_model=UserPublic,
    responses={404: {"model": ErrorMessage, "description": "No such user"}},
)
async def read_user(
    username: Annotated[str, Path(pattern=USERNAME_PATTERN)], state: AppState
) -> UserPublic:
    """A user's public profile."""
    user = await state.repository.get_user(username)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="user not found")
    return public(user)


# --- /auth ---


@auth.post(
    "/token",
    response_model=Token,
    responses={
        401: {"model": ErrorMessage, "description": "Incorrect username or password"},
        429: {"model": ErrorMessage, "description": "Too many failed logins; see Retry-After"},
    },
)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], state: AppState, response: Response
) -> Token:
    """Exchange a username and password for an access token (OAuth2 password flow)."""
    try:
        issued = await state.auth.login(form.username, form.password)
    except LoginLocked as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail="too many failed logins, try again later",
            headers={"Retry-After": str(exc.retry_after_s)},
        ) from None
    except LoginFailed:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="incorrect username or password",
            headers={"WWW-Authenticate": "Bearer"},
        ) from None
    # RFC 6749 §5.1: a response that carries a token must not be cached.
    response.headers["Cache-Control"] = "no-store"
    return Token(access_token=issued.access_token, expires_in=issued.expires_in_s)


@auth.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=UNAUTHORIZED)
async def logout(
    token: Annotated[str, Depends(bearer_token)], user: CurrentUser, state: AppState
) -> Response:
    """Revoke the token this request carries (only that one)."""
    await state.auth.logout(token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- /healthz ---


@health.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database does not answer"}},
)
async def healthz(state: AppState, response: Response) -> Health:
    """Whether the app can read its users table."""
    if await state.repository.is_readable():
        return Health(status="ok")
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="unavailable")
