"""The two layouts Prompt-OIRL's logs were released in, read as `OfflineData`.

- GSM8K-like (``gsm8k_llama2``): ``prompts.json`` and ``logs/`` as `drpo.methods.oirl.logs`
  reads them; the questions come from a dataset folder with ``train.jsonl`` and ``test.jsonl``.
  Rows are the training questions, then the logged test questions; the split is that one.
- SVAMP-like (``svamp_llama2``): ``questions.jsonl`` (one row per question index),
  ``prompts.json`` with ``log_files`` (each alias's file and the question index of its first
  line), ``splits/<name>.json`` ({"train": [...], "test": [...]}) and ``splits/groups.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from drpo.methods.oirl.data import OfflineData, checked_split, groups_by_text
from drpo.methods.oirl.logs import LogError, LoggedPrompt, _read_log, load_released_logs


def read_jsonl_questions(path: Path, *, key: str = "question") -> list[dict[str, Any]]:
    """The rows of a JSONL file of questions (each an object with `key`)."""
    if not path.is_file():
        raise LogError(f"missing questions file {path}")
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LogError(f"cannot read {path}: {exc}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise LogError(f"{path}: line {n} is not JSON") from None
        if not isinstance(row, dict) or not isinstance(row.get(key), str):
            raise LogError(f"{path}: line {n} has no {key!r} text")
        rows.append(row)
    if not rows:
        raise LogError(f"{path} holds no questions")
    return rows


def _json(path: Path) -> Any:
    if not path.is_file():
        raise LogError(f"missing file {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LogError(f"cannot read {path}: {exc}") from None


def _prefix(folder: Path) -> str:
    """The log files' common prefix, e.g. ``llama_gsm8k`` (from ``*_test_corr_*.txt``)."""
    names = sorted(p.name for p in (folder / "logs").glob("*_test_corr_*.txt"))
    if not names:
        raise LogError(f"{folder / 'logs'} holds no '<prefix>_test_corr_<alias>.txt' file")
    return names[0].split("_test_corr_")[0]


def load_gsm8k_like(folder: str | Path, *, questions: str | Path) -> OfflineData:
    folder, data = Path(folder), Path(questions)
    logs = load_released_logs(folder, prefix=_prefix(folder), questions=data)
    train_q = [r["question"] for r in read_jsonl_questions(data / "train.jsonl")]
    test_q = [r["question"] for r in read_jsonl_questions(data / "test.jsonl")]
    n_train = len(next(iter(logs.train.values())))
    n_test = len(next(iter(logs.test.values())))
    texts = tuple(train_q[:n_train] + test_q[:n_test])
    labels = np.full((n_train + n_test, len(logs.prompts)), np.nan)
    for j, prompt in enumerate(logs.prompts):
        if not prompt.held_out:
            labels[:n_train, j] = logs.train[prompt.alias]
        labels[n_train:, j] = logs.test[prompt.alias]
    rows = np.arange(n_train + n_test)
    return OfflineData(
        name=folder.name,
        questions=texts,
        prompts=logs.prompts,
        labels=labels,
        train_rows=rows[:n_train],
        test_rows=rows[n_train:],
        groups=groups_by_text(texts),
        split="released",
    )


def load_svamp_like(folder: str | Path, *, split: str = "dedup") -> OfflineData:
    folder = Path(folder)
    meta = _json(folder / "prompts.json")
    try:
        prompts = tuple(
            LoggedPrompt(str(p["alias"]), str(p["text"]), p["role"] == "held_out")
            for p in meta["prompts"]
        )
        files = dict(meta["log_files"])
    except (KeyError, TypeError, ValueError) as exc:
        raise LogError(f"{folder / 'prompts.json'}: no prompts or log_files ({exc})") from None
    if not prompts:
        raise LogError(f"{folder / 'prompts.json'} lists no prompts")
    questions = tuple(r["question"] for r in read_jsonl_questions(folder / "questions.jsonl"))
    n = len(questions)
    labels = np.full((n, len(prompts)), np.nan)
    for j, prompt in enumerate(prompts):
        if prompt.alias not in files:
            raise LogError(f"{folder / 'prompts.json'}: log_files has no entry for {prompt.alias}")
        entry = files[prompt.alias]
        values = _read_log(folder / str(entry["file"]))
        start = int(entry.get("first_question_index", 0))
        if start < 0 or start + len(values) > n:
            raise LogError(
                f"{entry['file']}: its {len(values)} lines from question {start} run "
                f"past the {n} questions of questions.jsonl"
            )
        labels[start : start + len(values), j] = values
    if not (folder / "splits" / f"{split}.json").is_file():
        known = sorted(
            p.stem for p in (folder / "splits").glob("*.json") if p.stem not in ("groups", "stats")
        )
        raise LogError(f"no split {split!r} in {folder / 'splits'} (known: {', '.join(known)})")
    chosen = _json(folder / "splits" / f"{split}.json")
    if not isinstance(chosen, dict) or "train" not in chosen or "test" not in chosen:
        raise LogError(f"{folder / 'splits' / f'{split}.json'} has no 'train' and 'test' lists")
    train, test = checked_split(chosen["train"], chosen["test"], n, f"split {split!r}")
    groups = groups_by_text(questions)
    groups_file = folder / "splits" / "groups.json"
    if groups_file.is_file():
        # rows are resampled by the unit the split keeps apart: templates for dedup_template
        key = "norm_template" if split == "dedup_template" else "norm_group"
        listed = _json(groups_file).get(key)
        if not isinstance(listed, list) or len(listed) != n:
            raise LogError(f"{groups_file}: {key} must list one group per question ({n})")
        groups = np.asarray(listed, dtype=np.int64)
    trained = [j for j, p in enumerate(prompts) if not p.held_out]
    if np.isnan(labels[np.ix_(train, trained)]).any():
        raise LogError(f"split {split!r}: some training rows lack a training prompt's log")
    return OfflineData(
        name=folder.name,
        questions=questions,
        prompts=prompts,
        labels=labels,
        train_rows=train,
        test_rows=test,
        groups=groups,
        split=split,
    )
