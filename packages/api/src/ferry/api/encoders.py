"""jsonable_encoder(): any value -> plain JSON-compatible Python data.

Models, dataclasses, datetimes, dates, times, timedeltas, UUIDs, Decimals, enums, sets,
bytes, paths and generators become dicts, lists, strings and numbers, the way pydantic
serializes them in JSON mode.
"""

from __future__ import annotations

import types
from typing import Any

from pydantic_core import to_jsonable_python


def jsonable_encoder(
    value: Any,
    *,
    by_alias: bool = True,
    exclude_none: bool = False,
) -> Any:
    """`value` as data `json.dumps` accepts.

    Raises:
        TypeError: a value of a type pydantic cannot serialize.
    """
    if isinstance(value, types.GeneratorType):
        value = list(value)
    try:
        return to_jsonable_python(value, by_alias=by_alias, exclude_none=exclude_none)
    except Exception as exc:  # pydantic_core.PydanticSerializationError
        raise TypeError(f"cannot encode {type(value).__name__!r} as JSON: {exc}") from None
