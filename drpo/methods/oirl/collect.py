"""Collecting offline logs: a backend of the LLM layer answers every (query, prompt) pair of
a dataset and a prompt list, each answer is judged (math: the last number of the output
against the gold number), and the outcomes are written in our layout
(`drpo.methods.oirl.layout`) as they arrive, so a stopped collection resumes (the LLM cache
answers again what was paid for)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drpo.llm import LLM, ChatRequest
from drpo.methods.oirl.data import groups_by_text
from drpo.methods.oirl.layout import OUTCOMES, read_outcomes
from drpo.methods.oirl.logs import LogError, LoggedPrompt
from drpo.methods.oirl.released import read_jsonl_questions
from search.artifacts import write_atomic

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


@dataclass(frozen=True)
class CollectSummary:
    folder: Path
    rows: int
    pairs: int
    collected_now: int
    accuracy: dict[str, float]


def gold_number(answer: object) -> float:
    """The gold number of an answer: a number, or text ending in one (GSM8K's '#### 18')."""
    if isinstance(answer, bool):
        raise ValueError(f"not a number: {answer!r}")
    if isinstance(answer, (int, float)):
        return float(answer)
    if isinstance(answer, str):
        tail = answer.split("####")[-1]
        found = NUMBER.findall(tail)
        if found:
            return float(found[-1].replace(",", ""))
    raise ValueError(f"no gold number in {str(answer)[:60]!r}")


def last_number(text: str) -> float | None:
    found = NUMBER.findall(text)
    if not found:
        return None
    try:
        return float(found[-1].replace(",", "").rstrip("."))
    except ValueError:
        return None


def is_correct(output: str, gold: float) -> bool:
    """The last number of the output equals the gold number (as floats)."""
    value = last_number(output)
    return value is not None and abs(value - gold) <= 1e-6 * max(1.0, abs(gold))


def read_questions(path: Path, *, limit: int | None = None) -> list[tuple[str, float]]:
    rows = read_jsonl_questions(path)
    if limit is not None:
        rows = rows[:limit]
    out = []
    for n, row in enumerate(rows, 1):
        try:
            out.append((row["question"], gold_number(row.get("answer"))))
        except ValueError as exc:
            raise LogError(f"{path}: line {n}: {exc}") from None
    return out


def default_split(
    questions: Sequence[str], *, test_fraction: float, seed: int
) -> dict[str, list[int]]:
    """Train and test rows by question group (duplicates on one side), seeded."""
    groups = groups_by_text(questions)
    distinct = np.unique(groups)
    n_test = max(1, round(test_fraction * len(distinct))) if len(distinct) > 1 else 0
    test_groups = np.random.default_rng(seed).permutation(distinct)[:n_test]
    test = np.isin(groups, test_groups)
    return {"train": np.flatnonzero(~test).tolist(), "test": np.flatnonzero(test).tolist()}


def request(question: str, prompt: str, *, max_tokens: int, temperature: float) -> ChatRequest:
    """The released logs' placement: the question, then the prompt, in one user message."""
    return ChatRequest.of(
        f"{question} {prompt}".strip(), temperature=temperature, max_tokens=max_tokens
    )


def collect(
    llm: LLM,
    *,
    questions: Path,
    prompts: Sequence[LoggedPrompt],
    out: Path,
    limit: int | None = None,
    test_fraction: float = 0.25,
    max_tokens: int = 512,
    temperature: float = 0.0,
    batch_size: int = 64,
    seed: int = 0,
) -> CollectSummary:
    if not prompts:
        raise LogError("the prompt list is empty")
    if len({p.alias for p in prompts}) < len(prompts):
        raise LogError("the prompt list names an alias twice")
    if all(p.held_out for p in prompts):
        raise LogError("the prompt list has no training prompt")
    rows = read_questions(Path(questions), limit=limit)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    listed = {
        "prompts": [
            {"alias": p.alias, "text": p.text, "role": "held_out" if p.held_out else "training"}
            for p in prompts
        ]
    }
    texts = [q for q, _ in rows]
    table = "".join(
        json.dumps({"question": q, "answer": g}, ensure_ascii=False) + "\n" for q, g in rows
    )
    for name, data in (
        ("prompts.json", json.dumps(listed, indent=1, ensure_ascii=False) + "\n"),
        ("questions.jsonl", table),
    ):
        path = out / name
        if path.is_file() and path.read_text(encoding="utf-8") != data:
            raise LogError(f"{path} holds another collection; choose another folder")
        write_atomic(path, data.encode("utf-8"))
    split_path = out / "splits" / "default.json"
    if not split_path.is_file():
        split = default_split(texts, test_fraction=test_fraction, seed=seed)
        write_atomic(split_path, json.dumps(split).encode("utf-8"))
    split = json.loads(split_path.read_text(encoding="utf-8"))
    test_rows = set(split["test"])
    outcomes = out / OUTCOMES
    if outcomes.is_file():  # a line cut off by a crash is dropped: its pair is asked again
        text = outcomes.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):
            write_atomic(outcomes, text[: text.rfind("\n") + 1].encode("utf-8"))
    done = read_outcomes(outcomes)
    todo = [
        (i, p)
        for p in prompts
        for i in range(len(rows))
        if (not p.held_out or i in test_rows) and (i, p.alias) not in done
    ]
    with open(out / OUTCOMES, "a", encoding="utf-8") as handle:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            answers = llm.generate(
                [
                    request(rows[i][0], p.text, max_tokens=max_tokens, temperature=temperature)
                    for i, p in batch
                ]
            )
            for (i, p), answer in zip(batch, answers):
                text = answer.texts[0]
                correct = is_correct(text, rows[i][1])
                done[(i, p.alias)] = correct
                handle.write(
                    json.dumps(
                        {"row": i, "alias": p.alias, "correct": correct, "output": text},
                        ensure_ascii=False,
                    )
                    + "\n"
                )
            handle.flush()
            os.fsync(handle.fileno())
    accuracy = {}
    for p in prompts:
        values = [v for (_, a), v in done.items() if a == p.alias]
        accuracy[p.alias] = float(np.mean(values)) if values else float("nan")
    return CollectSummary(out, len(rows), len(done), len(todo), accuracy)
