"""Offline prompting logs in the layout Prompt-OIRL released, and the selections they answer
without any model: each prompt alone, the best prompt chosen on the training logs, and the
oracles (a query counts as solved when any of the prompts solved it).

Layout: ``prompts.json`` ({"prompts": [{"alias", "text", "role": "training" | "held_out"}]})
and ``logs/<model>_<dataset>_corr_<alias>.txt`` (training prompts on the training questions,
held-out prompts on the test questions) and ``logs/<model>_<dataset>_test_corr_<alias>.txt``
(training prompts on the test questions): one ``(index, True/False)`` line per question, the
index being the line of the question in the dataset's jsonl.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LINE = re.compile(r"\(\s*(\d+)\s*,\s*(True|False)\s*\)")


class LogError(ValueError):
    """Prompting logs that cannot be read as the layout says."""


@dataclass(frozen=True)
class LoggedPrompt:
    alias: str
    text: str
    held_out: bool


@dataclass(frozen=True)
class PromptLogs:
    """Which prompt solved which question: `train[alias]` (training prompts, training
    questions) and `test[alias]` (every prompt, test questions), boolean arrays by index."""

    prompts: tuple[LoggedPrompt, ...]
    train: dict[str, np.ndarray]
    test: dict[str, np.ndarray]

    @property
    def training(self) -> list[str]:
        return [p.alias for p in self.prompts if not p.held_out]


def _read_log(path: Path) -> np.ndarray:
    if not path.is_file():
        raise LogError(f"missing log file {path}")
    values = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        match = LINE.fullmatch(line.strip())
        if match is None:
            raise LogError(f"{path}: line {n} is not '(index, True/False)': {line[:60]!r}")
        if int(match.group(1)) != len(values):
            raise LogError(f"{path}: line {n} has index {match.group(1)}, expected {len(values)}")
        values.append(match.group(2) == "True")
    if not values:
        raise LogError(f"{path} is empty")
    return np.array(values, dtype=bool)


def _same_length(logs: dict[str, np.ndarray], what: str, questions: Path | None) -> None:
    lengths = {alias: len(v) for alias, v in logs.items()}
    if len(set(lengths.values())) > 1:
        raise LogError(f"the {what} logs disagree on the number of questions: {lengths}")
    if questions is not None:
        available = sum(1 for line in questions.read_text(encoding="utf-8").splitlines() if line)
        if max(lengths.values()) > available:
            raise LogError(f"the {what} logs cover {max(lengths.values())} questions; "
                           f"{questions} has {available}")  # fmt: skip


def load_released_logs(
    folder: str | Path, *, prefix: str = "llama_gsm8k", questions: str | Path | None = None
) -> PromptLogs:
    """The logs in `folder`; with `questions` (the dataset's folder, holding train.jsonl and
    test.jsonl) every log is checked to index questions that exist."""
    folder = Path(folder)
    try:
        listed = json.loads((folder / "prompts.json").read_text(encoding="utf-8"))["prompts"]
        prompts = tuple(LoggedPrompt(str(p["alias"]), str(p["text"]), p["role"] == "held_out")
                        for p in listed)  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LogError(f"cannot read the prompt list {folder / 'prompts.json'}: {exc}") from None
    if not prompts:
        raise LogError(f"{folder / 'prompts.json'} lists no prompts")
    logs = folder / "logs"
    train = {p.alias: _read_log(logs / f"{prefix}_corr_{p.alias}.txt")
             for p in prompts if not p.held_out}  # fmt: skip
    test = {
        p.alias: _read_log(logs / f"{prefix}_{'corr' if p.held_out else 'test_corr'}_{p.alias}.txt")
        for p in prompts
    }
    data = Path(questions) if questions is not None else None
    _same_length(train, "training", data / "train.jsonl" if data else None)
    _same_length(test, "test", data / "test.jsonl" if data else None)
    return PromptLogs(prompts, train, test)


def log_only_selections(logs: PromptLogs) -> dict[str, float]:
    """Test accuracy of the selections that need no reward model."""
    training = logs.training
    out = {f"single prompt {alias}": float(logs.test[alias].mean()) for alias in logs.test}
    chosen = max(training, key=lambda alias: logs.train[alias].mean())
    hindsight = max(training, key=lambda alias: logs.test[alias].mean())
    out[f"best training prompt chosen on train ({chosen})"] = float(logs.test[chosen].mean())
    out[f"best training prompt in hindsight ({hindsight})"] = float(logs.test[hindsight].mean())
    out[f"oracle over the {len(training)} training prompts"] = float(
        np.any([logs.test[a] for a in training], axis=0).mean()
    )
    out[f"oracle over all {len(logs.test)} prompts"] = float(
        np.any(list(logs.test.values()), axis=0).mean()
    )
    return out
