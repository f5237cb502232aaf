"""The JSON Schema subset our requests use, and a checker for it.

A server that honours `response_format` answers within the schema; one that does not (a
server that refused schemas, a plain-text fallback) is checked here, so that every answer is
held to the same keys and value types whichever way it was produced. Supported keywords:
type, properties, required, additionalProperties (true/false), enum, const, minimum,
maximum, minLength, maxLength, items, minItems, maxItems.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[kind])


def schema_errors(value: Any, schema: Mapping[str, Any], *, where: str = "the answer") -> list[str]:
    """Why `value` is not within `schema` (empty when it is), one reason per problem."""
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_is(value, k) for k in kinds):
            return [f"{where} should be {' or '.join(kinds)}, not {type(value).__name__}"]
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(map(repr, schema["enum"]))
        errors.append(f"{where} is {value!r}, not one of {choices}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where} should be {schema['const']!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where} is {value}, below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where} is {value}, above {schema['maximum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{where} is shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where} is longer than {schema['maxLength']} characters")
    if isinstance(value, list):
        errors += _array_errors(value, schema, where)
    if isinstance(value, dict):
        errors += _object_errors(value, schema, where)
    return errors


def _array_errors(value: Sequence[Any], schema: Mapping[str, Any], where: str) -> list[str]:
    errors = []
    if len(value) < schema.get("minItems", 0):
        errors.append(f"{where} has fewer than {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{where} has more than {schema['maxItems']} items")
    if "items" in schema:
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], where=f"{where}[{i}]")
    return errors


def _object_errors(value: Mapping[str, Any], schema: Mapping[str, Any], where: str) -> list[str]:
    properties = schema.get("properties", {})
    errors = [
        f"{where} lacks the key {key!r}" for key in schema.get("required", ()) if key not in value
    ]
    if schema.get("additionalProperties", True) is False:
        errors += [
            f"{where} has the unexpected key {key!r}" for key in value if key not in properties
        ]
    for key, sub in properties.items():
        if key in value:
            errors += schema_errors(value[key], sub, where=f"{where}[{key!r}]")
    return errors


def object_schema(properties: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A closed object schema: every property required, no other key allowed (what OpenAI's
    strict structured outputs require)."""
    return {
        "type": "object",
        "properties": dict(properties),
        "required": list(properties),
        "additionalProperties": False,
    }


def text_schema(max_chars: int, *, min_chars: int = 1) -> dict[str, Any]:
    """A string of `min_chars` to `max_chars` characters."""
    return {"type": "string", "minLength": min_chars, "maxLength": max_chars}


def tokens_for(chars: int) -> int:
    """A token limit for up to `chars` characters of JSON text (at least 1 token per 3
    characters, which holds for English and code), with room for the keys: a limit that
    fits the schema never cuts a valid answer off."""
    return chars // 3 + 40
