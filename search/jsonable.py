"""Turning arbitrary states, actions and reward details into JSON values."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

JSONValue = Any  # None | bool | int | float | str | list[JSONValue] | dict[str, JSONValue]


def to_jsonable(value: Any) -> JSONValue:
    """A JSON value for `value`.

    Objects may define ``to_json()`` to choose their own summary (a search state usually
    should: the prompt, not its whole history); dataclasses become dicts of their fields, numpy
    values become Python numbers and lists, sets become sorted lists, non-finite floats become
    the strings "inf", "-inf" and "nan" (so the file stays standard JSON), and anything else
    becomes its repr.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_jsonable(to_json())
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_jsonable(v) for v in value), key=repr)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        return to_jsonable(tolist())
    return repr(value)
