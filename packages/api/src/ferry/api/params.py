"""Where a parameter comes from: Query, Path, Header, Cookie, Body, Form, File.

Use them in `Annotated` (or as the default value) to say where a parameter is read from
and how it is constrained:

    async def list_users(limit: Annotated[int, Query(ge=1, le=100)] = 20): ...

Without a marker, a parameter named in the route's path comes from the path, a pydantic
model (or a list of them) from the JSON body, and anything else from the query string.
Constraints (`gt`, `ge`, `lt`, `le`, `min_length`, `max_length`, `pattern`, ...) are
pydantic's own and are checked by pydantic.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from pydantic import Field
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined


class Source(enum.Enum):
    """The part of the request a parameter is read from (OpenAPI's `in`, plus the body)."""

    PATH = "path"
    QUERY = "query"
    HEADER = "header"
    COOKIE = "cookie"
    BODY = "body"
    FORM = "form"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class Param:
    """A parameter's source and its pydantic field (default, alias, constraints, docs).

    `embed` nests a single body parameter under its name; `convert_underscores` maps a
    header parameter `user_agent` to the `user-agent` header; `media_type` is the body's
    content type in the OpenAPI document.
    """

    source: Source
    field: FieldInfo
    embed: bool = False
    convert_underscores: bool = True
    include_in_schema: bool = True
    media_type: str = "application/json"

    @property
    def alias(self) -> str | None:
        """The name the client uses, when it differs from the parameter's."""
        return self.field.alias

    @property
    def has_default(self) -> bool:
        """True when the parameter is optional."""
        return not self.field.is_required()


def _param(
    source: Source,
    default: Any,
    *,
    embed: bool = False,
    convert_underscores: bool = True,
    include_in_schema: bool = True,
    media_type: str = "application/json",
    **kwargs: Any,
) -> Any:
    if default is ...:
        default = PydanticUndefined
    return Param(
        source,
        Field(default, **kwargs),
        embed=embed,
        convert_underscores=convert_underscores,
        include_in_schema=include_in_schema,
        media_type=media_type,
    )


def Path(default: Any = ..., **kwargs: Any) -> Any:
    """A path parameter; always required. Takes pydantic's field arguments."""
    return _param(Source.PATH, default, **kwargs)


def Query(default: Any = PydanticUndefined, **kwargs: Any) -> Any:
    """A query-string parameter (repeat the key for a `list[...]`)."""
    return _param(Source.QUERY, default, **kwargs)


def Header(
    default: Any = PydanticUndefined, *, convert_underscores: bool = True, **kwargs: Any
) -> Any:
    """A request header; `user_agent` reads `user-agent` unless convert_underscores=False."""
    return _param(Source.HEADER, default, convert_underscores=convert_underscores, **kwargs)


def Cookie(default: Any = PydanticUndefined, **kwargs: Any) -> Any:
    """A cookie."""
    return _param(Source.COOKIE, default, **kwargs)


def Body(
    default: Any = PydanticUndefined,
    *,
    embed: bool = False,
    media_type: str = "application/json",
    **kwargs: Any,
) -> Any:
    """The JSON body, or (with several Body parameters, or embed=True) one of its keys."""
    return _param(Source.BODY, default, embed=embed, media_type=media_type, **kwargs)


def Form(
    default: Any = PydanticUndefined,
    *,
    media_type: str = "application/x-www-form-urlencoded",
    **kwargs: Any,
) -> Any:
    """A field of a form body (urlencoded or multipart)."""
    return _param(Source.FORM, default, media_type=media_type, **kwargs)


def File(
    default: Any = PydanticUndefined,
    *,
    media_type: str = "multipart/form-data",
    **kwargs: Any,
) -> Any:
    """An uploaded file of a multipart body (`UploadFile` or `bytes`)."""
    return _param(Source.FILE, default, media_type=media_type, **kwargs)
