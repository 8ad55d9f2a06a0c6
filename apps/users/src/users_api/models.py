"""The API's pydantic models: what a client may send, and the public view it gets back.

The stored user (with its password hash) is `repository.UserRecord`, a plain dataclass
that no response model is built from directly: endpoints copy the public fields into
`UserPublic`, so a new column can never leak by accident.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

# 3 to 32 characters: a lowercase letter, then lowercase letters, digits and underscores.
# pydantic matches with Rust's regex engine, where `$` is the very end of the text, so
# "abc\n" does not match (Python's re would let `$` match before that newline).
USERNAME_PATTERN = r"^[a-z][a-z0-9_]{2,31}$"
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128
DISPLAY_NAME_MAX_LENGTH = 64


def _without_nul(value: str) -> str:
    # PostgreSQL's text type cannot hold U+0000; refuse it on both databases alike.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Username = Annotated[
    str,
    Field(
        pattern=USERNAME_PATTERN,
        examples=["ada_lovelace"],
        description="3 to 32 characters: a lowercase letter, then a-z, 0-9 or _",
    ),
]
Password = Annotated[
    str,
    Field(
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
        json_schema_extra={"format": "password", "writeOnly": True},
    ),
]
DisplayName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=DISPLAY_NAME_MAX_LENGTH,
        examples=["Ada Lovelace"],
        # The document says what _without_nul enforces, so that clients (and schema-driven
        # test tools) know a NUL is refused; the validator gives the clearer message.
        json_schema_extra={"pattern": r"^[^\x00]*$"},
    ),
    AfterValidator(_without_nul),
]
# "2026-11-21T13:05:09Z": whole seconds, UTC, with the Z suffix.
UTCTimestamp = Annotated[
    datetime,
    PlainSerializer(
        lambda value: value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), return_type=str
    ),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2026-11-21T13:05:09Z"]}),
]


class UserCreate(BaseModel):
    """A registration. Fields not listed here are ignored."""

    username: Username
    password: Password
    display_name: DisplayName | None = Field(default=None, description="Defaults to the username.")


class UserUpdate(BaseModel):
    """A change to the caller's own account. Other fields (a `username`) are ignored."""

    model_config = ConfigDict(extra="ignore")

    display_name: DisplayName | None = None
    password: Password | None = Field(
        default=None, description="A new password; it revokes every token issued before it."
    )


class UserPublic(BaseModel):
    """A user's public profile."""

    username: str
    display_name: str
    created_at: UTCTimestamp


class UserPage(BaseModel):
    """One page of users, ordered by username (byte order)."""

    items: list[UserPublic]
    total: int
    limit: int
    offset: int


class Token(BaseModel):
    """An access token for `Authorization: Bearer <access_token>`."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


class ErrorMessage(BaseModel):
    """An error: what went wrong, in words."""

    detail: str


class Health(BaseModel):
    """Whether the app can read its database."""

    status: Literal["ok", "unavailable"]
