"""Offline prompting data, whatever layout it came in: one row per query, one column per
prompt, the logged outcome of each pair (NaN where a prompt never ran on a query), the split
into training and test rows, and the query groups (rows that are the same question)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from drpo.methods.oirl.logs import LogError, LoggedPrompt


@dataclass(frozen=True)
class OfflineData:
    """`labels[row, j]` is 1.0 when prompt j made the LLM answer query `row` correctly, 0.0
    when not, NaN when it was not logged. `groups[row]` names the row's question group:
    rows of one group stay on one side of every split and are resampled together."""

    name: str
    questions: tuple[str, ...]
    prompts: tuple[LoggedPrompt, ...]
    labels: np.ndarray
    train_rows: np.ndarray
    test_rows: np.ndarray
    groups: np.ndarray
    split: str

    @property
    def aliases(self) -> list[str]:
        return [p.alias for p in self.prompts]

    @property
    def training(self) -> list[int]:
        """Columns of the training prompts (the reward model learns from these alone)."""
        return [j for j, p in enumerate(self.prompts) if not p.held_out]

    @property
    def held_out(self) -> list[int]:
        return [j for j, p in enumerate(self.prompts) if p.held_out]


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def groups_by_text(questions: Sequence[str]) -> np.ndarray:
    """A group id per question: questions equal after lowercasing and collapsing whitespace
    share one."""
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(normalise(q), len(ids)) for q in questions], dtype=np.int64)


def checked_split(
    train: Sequence[int], test: Sequence[int], n_rows: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """The split's rows as arrays, refused when it names rows that do not exist, is empty on
    a side, or puts a row on both sides."""
    try:
        tr = np.asarray(list(train), dtype=np.int64)
        te = np.asarray(list(test), dtype=np.int64)
    except (TypeError, ValueError):
        raise LogError(f"{what}: train and test must be lists of row indices") from None
    for side, rows in (("train", tr), ("test", te)):
        if rows.size == 0:
            raise LogError(f"{what}: the {side} side is empty")
        bad = rows[(rows < 0) | (rows >= n_rows)]
        if bad.size:
            raise LogError(f"{what}: {side} names row {int(bad[0])}, outside the {n_rows} rows")
    both = np.intersect1d(tr, te)
    if both.size:
        raise LogError(f"{what}: row {int(both[0])} is on both sides")
    return tr, te
