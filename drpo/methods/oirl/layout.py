"""Our own layout for logs we collect, read as `OfflineData`:

```
prompts.json          {"prompts": [{"alias", "text", "role": "training" | "held_out"}]}
questions.jsonl       one {"question": str, "answer": float} per row
outcomes.jsonl        one {"row", "alias", "correct", "output"} per (query, prompt) collected
splits/<name>.json    {"train": [rows], "test": [rows]}; collection writes "default"
```

Training prompts run on every row, held-out prompts on the test rows. outcomes.jsonl is
appended to as answers arrive, so a stopped collection resumes where it stopped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from drpo.methods.oirl.data import OfflineData, checked_split, groups_by_text
from drpo.methods.oirl.logs import LogError, LoggedPrompt
from drpo.methods.oirl.released import _json, read_jsonl_questions

OUTCOMES = "outcomes.jsonl"


def read_prompts(path: Path) -> tuple[LoggedPrompt, ...]:
    listed = _json(path)
    try:
        prompts = tuple(
            LoggedPrompt(str(p["alias"]), str(p["text"]), p.get("role", "training") == "held_out")
            for p in listed["prompts"]
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise LogError(
            f"{path}: expected {{'prompts': [{{'alias', 'text', 'role'}}]}} ({exc})"
        ) from None
    if not prompts:
        raise LogError(f"{path} lists no prompts")
    if len({p.alias for p in prompts}) < len(prompts):
        raise LogError(f"{path} names a prompt alias twice")
    if all(p.held_out for p in prompts):
        raise LogError(f"{path} lists no training prompt")
    return prompts


def read_outcomes(path: Path) -> dict[tuple[int, str], bool]:
    """(row, alias) -> correct, for every pair collected so far (a line cut off by a crash at
    the end of the file is ignored: its pair is collected again)."""
    found: dict[tuple[int, str], bool] = {}
    if not path.is_file():
        return found
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            found[(int(item["row"]), str(item["alias"]))] = bool(item["correct"])
        except (ValueError, KeyError, TypeError):
            if n == len(lines):
                break
            raise LogError(f"{path}: line {n} is not an outcome") from None
    return found


def is_collected_layout(folder: Path) -> bool:
    return (Path(folder) / OUTCOMES).is_file()


def load_collected(folder: str | Path, *, split: str = "default") -> OfflineData:
    folder = Path(folder)
    prompts = read_prompts(folder / "prompts.json")
    questions = tuple(r["question"] for r in read_jsonl_questions(folder / "questions.jsonl"))
    n = len(questions)
    column = {p.alias: j for j, p in enumerate(prompts)}
    labels = np.full((n, len(prompts)), np.nan)
    for (row, alias), correct in read_outcomes(folder / OUTCOMES).items():
        if alias not in column:
            raise LogError(f"{folder / OUTCOMES}: alias {alias!r} is not in prompts.json")
        if not 0 <= row < n:
            raise LogError(f"{folder / OUTCOMES}: row {row} is outside the {n} questions")
        labels[row, column[alias]] = float(correct)
    path = folder / "splits" / f"{split}.json"
    chosen = _json(path)
    if not isinstance(chosen, dict) or "train" not in chosen or "test" not in chosen:
        raise LogError(f"{path} has no 'train' and 'test' lists")
    train, test = checked_split(chosen["train"], chosen["test"], n, f"split {split!r}")
    trained = [j for j, p in enumerate(prompts) if not p.held_out]
    missing = np.isnan(labels[np.ix_(np.r_[train, test], trained)])
    if missing.any():
        raise LogError(
            f"{folder}: {int(missing.sum())} (query, training prompt) pairs are not "
            "collected yet; finish the collection (it resumes)"
        )
    return OfflineData(
        name=folder.name,
        questions=questions,
        prompts=prompts,
        labels=labels,
        train_rows=train,
        test_rows=test,
        groups=groups_by_text(questions),
        split=split,
    )
