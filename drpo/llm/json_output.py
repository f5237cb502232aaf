"""JSON from LLM text: fenced or bare, with prose around it; truncation detected, not repaired."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
_OPEN_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n")


class JSONOutputError(ValueError):
    """The text holds no usable JSON; the message says why, for the re-ask."""


class TruncatedJSONError(JSONOutputError):
    """The JSON starts but never ends: the output was cut off."""


def _scan(text: str, start: int) -> int | None:
    """The index just past the JSON value opening at `start`, or None if it never closes."""
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


#: Where a JSON value plausibly starts: an object with a key (or empty), or an array of values.
_START = re.compile(r'\{\s*["}]|\[\s*[\[{"\d\-\]tfn]')


def extract_json(text: str, *, truncated: bool = False) -> Any:
    """The first JSON object or array in `text`.

    A fenced block (```json ... ```) is preferred; otherwise the first value that looks like
    JSON (``{"`` or ``[`` followed by a value) and parses. A value that opens and never closes
    raises `TruncatedJSONError`, never a repaired guess; so does any failure when `truncated`
    says the model stopped at its token limit.
    """
    candidates = [m.group(1) for m in _FENCE.finditer(text)]
    opened = _OPEN_FENCE.search(text)
    if not candidates and opened:  # an opening fence and no closing one
        candidates = [text[opened.end() :]]
    candidates.append(text)
    first_error = None
    for candidate in candidates:
        for match in _START.finditer(candidate):
            end = _scan(candidate, match.start())
            if end is None:
                raise TruncatedJSONError(
                    "the JSON in the answer is cut off before it ends"
                    + (" (the model hit its token limit)" if truncated else "")
                )
            try:
                return json.loads(candidate[match.start() : end])
            except json.JSONDecodeError as exc:
                first_error = first_error or exc
    if truncated:
        raise TruncatedJSONError("the answer was cut off at the token limit and holds no JSON")
    if first_error is not None:
        raise JSONOutputError(f"the JSON in the answer does not parse: {first_error.msg}")
    raise JSONOutputError("the answer holds no JSON object")


def require_keys(value: Any, keys: Sequence[str]) -> dict[str, Any]:
    """`value` as a dict that has every key in `keys`."""
    if not isinstance(value, dict):
        raise JSONOutputError(f"expected a JSON object, got a {type(value).__name__}")
    missing = [key for key in keys if key not in value]
    if missing:
        raise JSONOutputError(f"the JSON object lacks the key(s) {', '.join(map(repr, missing))}")
    return value
