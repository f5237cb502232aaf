"""Shared plumbing of the algorithms' settings: validation messages and a JSON-friendly view."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from search.reducers import describe


def settings_of(algorithm: Any) -> dict[str, Any]:
    """An algorithm's settings (a frozen dataclass) as JSON-friendly values."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(algorithm):
        value = getattr(algorithm, f.name)
        if callable(value) and not isinstance(value, type):
            value = describe(value)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = settings_of(value)
        out[f.name] = value
    return out


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def require_choice(
    value: Any, option: str, choices: Sequence[str], *, allow_callable: bool
) -> None:
    if allow_callable and callable(value):
        return
    if value not in choices:
        extra = ", or pass a callable" if allow_callable else ""
        raise ValueError(f"unknown {option} {value!r}; choose from {', '.join(choices)}{extra}")
