"""Named reductions of a list of rewards: path aggregators and MCTS Q estimates."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Union

Reducer = Callable[[Sequence[float]], float]
ReducerSpec = Union[str, Reducer]


def _last(values: Sequence[float]) -> float:
    return values[-1]


def _sum(values: Sequence[float]) -> float:
    return sum(values)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _max(values: Sequence[float]) -> float:
    return max(values)


def _min(values: Sequence[float]) -> float:
    return min(values)


REDUCERS: dict[str, Reducer] = {
    "last": _last,
    "sum": _sum,
    "mean": _mean,
    "max": _max,
    "min": _min,
}


def resolve(spec: ReducerSpec, *, option: str, allowed: Sequence[str]) -> Reducer:
    """The reducer named by `spec` (one of `allowed`), or `spec` itself when it is callable."""
    if callable(spec):
        return spec
    if isinstance(spec, str) and spec in allowed:
        return REDUCERS[spec]
    raise ValueError(
        f"unknown {option} {spec!r}; choose from {', '.join(allowed)}, or pass a callable"
    )


def describe(spec: ReducerSpec) -> str:
    """A JSON-friendly name for a reducer setting."""
    return spec if isinstance(spec, str) else getattr(spec, "__qualname__", repr(spec))
