"""Path parameter converters: `{id:int}` in a route path.

Each converter has a `regex` for its part of the path, `convert()` from the matched text
to a value, and `to_string()` back, for `url_path_for()`. Register more with
`register_url_convertor("name", Converter())`.
"""

from __future__ import annotations

import math
import uuid
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

T = TypeVar("T")


class Convertor(Generic[T]):
    """The base of path converters."""

    regex: ClassVar[str] = ""

    def convert(self, value: str) -> T:
        """The value for the matched path text."""
        raise NotImplementedError

    def to_string(self, value: T) -> str:
        """The path text for a value."""
        raise NotImplementedError


class StringConvertor(Convertor[str]):
    """One path segment: anything but "/"."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        value = str(value)
        if "/" in value:
            raise ValueError("a str path parameter may not contain '/'")
        if not value:
            raise ValueError("a str path parameter may not be empty")
        return value


class PathConvertor(Convertor[str]):
    """The rest of the path, "/" included."""

    regex = ".*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


class IntegerConvertor(Convertor[int]):
    """A non-negative integer."""

    regex = "[0-9]+"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        value = int(value)
        if value < 0:
            raise ValueError("an int path parameter must not be negative")
        return str(value)


class FloatConvertor(Convertor[float]):
    """A non-negative decimal number."""

    regex = r"[0-9]+(\.[0-9]+)?"

    def convert(self, value: str) -> float:
        return float(value)

    def to_string(self, value: float) -> str:
        value = float(value)
        if value < 0 or math.isnan(value) or math.isinf(value):
            raise ValueError("a float path parameter must be finite and not negative")
        # repr() is the shortest text that reads back as the same float (a fixed number of
        # decimals loses small values); Decimal writes it without an exponent for the regex.
        text = format(Decimal(repr(value + 0.0)), "f")  # + 0.0 turns -0.0 into 0.0
        return text.removesuffix(".0")


class UUIDConvertor(Convertor[uuid.UUID]):
    """A UUID in its canonical hyphenated form."""

    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def convert(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_string(self, value: uuid.UUID) -> str:
        return str(value)


CONVERTOR_TYPES: dict[str, Convertor[Any]] = {
    "str": StringConvertor(),
    "path": PathConvertor(),
    "int": IntegerConvertor(),
    "float": FloatConvertor(),
    "uuid": UUIDConvertor(),
}


def register_url_convertor(key: str, convertor: Convertor[Any]) -> None:
    """Make `{name:key}` usable in route paths (for routes made after this call)."""
    CONVERTOR_TYPES[key] = convertor
