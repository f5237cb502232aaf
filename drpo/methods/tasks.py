"""Tasks with gold answers (for PromptAgent and GPO): loading, splitting, answer extraction
and scoring.

Formats: BIG-bench JSON (``examples: [{input, target, target_scores}]``, with
``task_prefix``), and JSONL of ``{"question", "answer"}`` with optional ``"options"``.
A task with options is multiple choice: the question lists them as (A), (B), ... and the gold
answer is a letter; a task whose answers are numbers is scored numerically; any other is
scored by exact match (case and surrounding punctuation ignored).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEMO_TASK = Path(__file__).with_name("demo_task.jsonl")

WORD_NUMBERS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class TaskError(ValueError):
    """A task file is missing, empty or malformed; the message names the file."""


@dataclass(frozen=True)
class Example:
    """One question with its gold answer. `question` is the full text shown to the model
    (options included); `answers` are the accepted gold answers."""

    question: str
    answers: tuple[str, ...]
    kind: str  # "choice", "number" or "exact"
    options: tuple[str, ...] = ()

    @property
    def gold(self) -> str:
        """The gold answer as a model would give it: "(B)", "3" or the text."""
        return f"({self.answers[0]})" if self.kind == "choice" else self.answers[0]


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    train: tuple[Example, ...]
    eval: tuple[Example, ...]
    test: tuple[Example, ...]

    def all_examples(self) -> tuple[Example, ...]:
        return self.train + self.eval + self.test


# ---- answers ---------------------------------------------------------------------------
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
        "eighty": 80, "ninety": 90}  # fmt: skip


def _number(text: str) -> float | None:
    text = text.strip().lower().rstrip(".")
    if text in WORD_NUMBERS:
        return float(WORD_NUMBERS[text])
    tens, _, unit = text.partition("-")
    if tens in TENS and (not unit or (unit in WORD_NUMBERS and WORD_NUMBERS[unit] < 10)):
        return float(TENS[tens] + (WORD_NUMBERS[unit] if unit else 0))
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _final_part(text: str) -> str:
    """The part of an answer after its last "answer is" / "Answer:" (else all of it)."""
    match = list(re.finditer(r"answer(?:\s+is)?\s*[:=]?\s*", text, re.IGNORECASE))
    return text[match[-1].end() :] if match else text


def extract_answer(text: str, example: Example) -> str | None:
    """The answer a model's text gives, in the form of `example.answers`."""
    final = _final_part(text)
    if example.kind == "choice":
        letters = re.findall(r"\(([A-Z])\)", final) or re.findall(r"\(([A-Z])\)", text)
        if letters:
            return letters[-1]
        bare = re.match(r"\s*([A-Z])\b", final)
        if bare and bare.group(1) in LETTERS[: len(example.options)]:
            return bare.group(1)
        lowered = _norm(final)
        named = [i for i, o in enumerate(example.options) if _norm(o) and _norm(o) in lowered]
        return LETTERS[max(named, key=lambda i: len(example.options[i]))] if named else None
    if example.kind == "number":
        tokens = re.findall(r"-?\d[\d,]*\.?\d*|[a-z]+(?:-[a-z]+)?", final.lower())
        numbers = [n for n in (_number(t) for t in tokens) if n is not None]
        if not numbers:
            tokens = re.findall(r"-?\d[\d,]*\.?\d*|[a-z]+(?:-[a-z]+)?", text.lower())
            numbers = [n for n in (_number(t) for t in tokens) if n is not None]
        return f"{numbers[-1]:g}" if numbers else None
    answer = _norm(final.split("\n")[0])
    return answer or None


def is_correct(text: str, example: Example) -> bool:
    answer = extract_answer(text, example)
    if answer is None:
        return False
    if example.kind == "number":
        return any(_number(a) is not None and float(answer) == _number(a) for a in example.answers)
    if example.kind == "choice":
        return answer == example.answers[0]
    return any(answer == _norm(a) or answer.startswith(_norm(a) + " ") for a in example.answers)


# ---- loading ---------------------------------------------------------------------------
def _choice(question: str, options: list[str], correct: int) -> Example:
    listed = "\n".join(f"({LETTERS[i]}) {o}" for i, o in enumerate(options))
    return Example(f"{question.rstrip()}\nOptions:\n{listed}", (LETTERS[correct],), "choice",
                   tuple(options))  # fmt: skip


def _from_answers(question: str, answers: list[str]) -> Example:
    kind = "number" if all(_number(a) is not None for a in answers) else "exact"
    return Example(question.strip(), tuple(str(a) for a in answers), kind)


def _order_gives_answer(examples: list[Any]) -> bool:
    """Whether a multiple-choice file lists its correct option in the same place every time
    (BIG-bench's temporal_sequences puts it first in all 1,000 examples): shown in that order,
    "always (A)" would score 100%, so such options are shuffled."""
    places = set()
    for ex in examples:
        scores = ex.get("target_scores") if isinstance(ex, dict) else None
        if not isinstance(scores, dict) or len(scores) < 2:
            return False
        values = list(scores.values())
        places.add(values.index(max(values)))
    return len(places) == 1 and len(examples) > 1


def _bigbench(data: dict[str, Any], path: Path) -> tuple[str, str, list[Example]]:
    examples = data.get("examples")
    if not isinstance(examples, list) or not examples:
        raise TaskError(f"{path} has no 'examples' list")
    prefix = data.get("task_prefix") or ""
    leaky = _order_gives_answer(examples)
    out = []
    for i, ex in enumerate(examples):
        if not isinstance(ex, dict) or not isinstance(ex.get("input"), str):
            raise TaskError(f"{path}: example {i} has no text 'input'")
        question = prefix + ex["input"]
        scores = ex.get("target_scores")
        if isinstance(scores, dict) and scores:
            options = list(scores)
            if leaky:  # the same seeded order for every split: a file's property, not a run's
                random.Random(f"{path.stem}:{i}").shuffle(options)
            best = max(range(len(options)), key=lambda j: scores[options[j]])
            out.append(_choice(question, options, best))
        elif ex.get("target") not in (None, "", []):
            target = ex["target"]
            out.append(_from_answers(question, target if isinstance(target, list) else [target]))
        else:
            raise TaskError(f"{path}: example {i} has neither 'target' nor 'target_scores'")
    return str(data.get("name") or path.stem), str(data.get("description") or ""), out


def _jsonl(text: str, path: Path) -> list[Example]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskError(f"{path}: line {n} is not JSON ({exc.msg})") from None
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("question"), str)
            or "answer" not in row
        ):
            raise TaskError(f"{path}: line {n} needs 'question' (text) and 'answer'")
        answer, options = row["answer"], row.get("options")
        if options:
            options = [str(o) for o in options]
            answer = str(answer).strip()
            letter = re.fullmatch(r"\(?([A-Z])\)?", answer)
            if letter and LETTERS.index(letter.group(1)) < len(options):
                index = LETTERS.index(letter.group(1))
            elif answer in options:
                index = options.index(answer)
            else:
                raise TaskError(
                    f"{path}: line {n}: the answer {answer!r} is not one of the options"
                )
            out.append(_choice(row["question"], options, index))
        else:
            out.append(
                _from_answers(
                    row["question"], answer if isinstance(answer, list) else [str(answer)]
                )
            )
    return out


#: Longest question or query accepted (about 50,000 tokens): a longer one fits no model's
#: context, and a run would only find that out after paying for the shorter ones.
MAX_QUERY_CHARS = 200_000


def check_lengths(texts: Iterable[str], path: Path, error: type[Exception]) -> None:
    """Refuse a data file holding a text longer than `MAX_QUERY_CHARS`."""
    for i, text in enumerate(texts):
        if len(text) > MAX_QUERY_CHARS:
            raise error(
                f"{path}: item {i} is {len(text):,} characters long; the most a query may "
                f"have is {MAX_QUERY_CHARS:,}"
            )


def resolve_task_path(task: str, data_dir: str | Path | None) -> Path:
    """A task given as a path, or as a name looked up in `data_dir` (NAME.json / NAME.jsonl)."""
    path = Path(task)
    if path.is_file():
        return path
    if data_dir is not None:
        for suffix in ("", ".json", ".jsonl"):
            candidate = Path(data_dir) / f"{task}{suffix}"
            if candidate.is_file():
                return candidate
    for folder in (path, Path(data_dir) / task if data_dir is not None else None):
        if folder is not None and folder.is_dir():
            raise TaskError(_a_folder(task, folder, inside=folder != path))
    where = f" or in {data_dir}" if data_dir else " (give --data_dir to look up a task by name)"
    raise TaskError(f"no task file {task!r}{where}")


def _a_folder(task: str, folder: Path, *, inside: bool) -> str:
    """The error for a --task that names a folder (`inside` --data_dir): what --task
    expects, and the tasks the folder holds, if any, as --data_dir and --task NAME."""
    names = sorted(p.stem for p in folder.iterdir() if p.suffix in (".json", ".jsonl"))
    where = f" in --data_dir ({folder})" if inside else ""
    expected = (f"--task {task!r} is a directory{where}; --task takes a task file (.json or "
                ".jsonl) or the name of one in --data_dir")  # fmt: skip
    if not names:
        return f"{expected}, and {folder} holds no .json or .jsonl file"
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return f"{expected}: e.g. --data_dir {folder} --task {names[0]} (it holds {shown})"


def largest_splits(n: int, eval_size: int, test_size: int) -> str:
    """What fits in `n` examples, for the error on a task too small for its splits: the
    largest eval and test sizes in the proportion asked that leave one example to train on."""
    if n < 3:
        return "a task needs at least 3 examples (1 train, 1 eval, 1 test)"
    room = n - 1
    test = min(room - 1, max(1, round(room * test_size / (eval_size + test_size))))
    return (f"the largest sizes that fit are eval_size={room - test} and test_size={test} "
            f"(eval_size + test_size <= {room})")  # fmt: skip


def load_task(
    task: str | Path,
    *,
    data_dir: str | Path | None = None,
    train_size: int | None = None,
    eval_size: int = 30,
    test_size: int = 60,
    seed: int = 0,
) -> Task:
    """Load a task and split it, shuffled with `seed`: test first, then eval, then train (the
    rest, or `train_size` of it). A task too small for the sizes asked is refused."""
    path = resolve_task_path(str(task), data_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TaskError(f"{path} is not UTF-8 text ({exc.reason})") from None
    if not text.strip():
        raise TaskError(f"{path} is empty")
    if path.suffix == ".jsonl":
        name, description, examples = path.stem, "", _jsonl(text, path)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TaskError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
        if not isinstance(data, dict):
            raise TaskError(f"{path} must be a BIG-bench task object")
        name, description, examples = _bigbench(data, path)
    if min(eval_size, test_size) < 1 or (train_size is not None and train_size < 1):
        raise TaskError("train, eval and test sizes must be >= 1")
    check_lengths((e.question for e in examples), path, TaskError)
    if len(examples) < eval_size + test_size + 1:
        fits = largest_splits(len(examples), eval_size, test_size)
        raise TaskError(
            f"{path} has {len(examples)} examples, too few for {eval_size} eval + "
            f"{test_size} test + at least 1 train; {fits}"
        )
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    shuffled = [examples[i] for i in order]
    test = tuple(shuffled[:test_size])
    evals = tuple(shuffled[test_size : test_size + eval_size])
    train = tuple(shuffled[test_size + eval_size :])
    if train_size is not None:
        train = train[:train_size]
    return Task(name, description, train, evals, test)


def answer_key(task: Task) -> dict[str, str]:
    """Question -> gold answer, for the simulated task model (it knows nothing by itself)."""
    return {e.question: e.gold for e in task.all_examples()}
