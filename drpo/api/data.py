"""What the Python API optimises on: a `Task` (questions with gold answers, split into train,
eval and test: the task-prompt methods) or `AlignmentData` (DRPO's training queries)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drpo.methods import tasks as _tasks
from drpo.methods.tasks import Example, TaskError

#: The split sizes `train.py` uses by default.
DEFAULT_EVAL_SIZE = 30
DEFAULT_TEST_SIZE = 60


@dataclass(frozen=True)
class Task:
    """A task with gold answers, split (shuffled with `seed`) into test, eval and train
    examples, as the task-prompt methods (PromptAgent, GPO, APE, OPRO, ProTeGi) take it.

    Make one with `Task.from_jsonl` (a file) or `Task.from_examples` (data in memory). A run
    reads the same file with the same sizes and seed, so it sees exactly these splits.

    Attributes:
        name: the task's name (the file's stem, or the name given to `from_examples`).
        path: the file runs read (None for a task made from examples: each run writes them
            to `<log_dir>/task/<name>.jsonl`).
        eval_size: examples that score candidate prompts during the search.
        test_size: held-out examples that score the initial and the final prompt.
        train_size: examples the optimiser learns from (None: all the rest).
        seed: the seed of the split (and of the runs made on this task).
    """

    name: str
    path: Path | None
    eval_size: int
    test_size: int
    train_size: int | None
    seed: int
    _split: _tasks.Task = field(repr=False, compare=False)
    _lines: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def from_jsonl(
        cls,
        path: str | os.PathLike[str],
        *,
        eval_size: int = DEFAULT_EVAL_SIZE,
        test_size: int = DEFAULT_TEST_SIZE,
        train_size: int | None = None,
        seed: int = 0,
    ) -> Task:
        """A task from a file: JSONL, one `{"question": ..., "answer": ...}` per line, with
        `"options": [...]` for a multiple-choice question (the answer is then an option or
        its letter); a BIG-bench JSON task file works too.

        Raises:
            TaskError: the file is missing or malformed (the message names the line), or too
                small for the sizes asked (the message says the largest sizes that fit).
        """
        resolved = Path(path).expanduser().resolve()
        split = _tasks.load_task(resolved, train_size=train_size, eval_size=eval_size,
                                 test_size=test_size, seed=seed)  # fmt: skip
        return cls(split.name, resolved, eval_size, test_size, train_size, seed, split)

    @classmethod
    def from_examples(
        cls,
        examples: Iterable[Mapping[str, Any]],
        *,
        name: str = "examples",
        eval_size: int = DEFAULT_EVAL_SIZE,
        test_size: int = DEFAULT_TEST_SIZE,
        train_size: int | None = None,
        seed: int = 0,
    ) -> Task:
        """A task from data in memory: each example a mapping with `"question"` (text) and
        `"answer"` (a text, a number, or a list of accepted answers), and `"options"` for a
        multiple-choice question, as in a JSONL task file.

        Raises:
            TaskError: an example is malformed (the message gives its index), or there are
                too few for the sizes asked (the message says the largest sizes that fit).
        """
        if not name or any(c in name for c in "/\\") or name.startswith("."):
            raise TaskError(f"a task's name must be a plain file name, got {name!r}")
        lines = []
        for i, row in enumerate(examples):
            if (
                not isinstance(row, Mapping)
                or not isinstance(row.get("question"), str)
                or ("answer" not in row)
            ):
                raise TaskError(f"example {i} needs 'question' (text) and 'answer'")
            try:
                lines.append(json.dumps(dict(row), ensure_ascii=False))
            except (TypeError, ValueError) as exc:
                raise TaskError(f"example {i} is not JSON data: {exc}") from None
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"{name}.jsonl"
            path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            try:
                split = _tasks.load_task(path, train_size=train_size, eval_size=eval_size,
                                         test_size=test_size, seed=seed)  # fmt: skip
            except TaskError as exc:
                message = str(exc).replace(str(path), f"the examples of {name!r}")
                raise TaskError(message.replace(": line ", ": example ")) from None
        return cls(name, None, eval_size, test_size, train_size, seed, split, tuple(lines))

    @property
    def train(self) -> tuple[Example, ...]:
        """The examples the optimiser learns from."""
        return self._split.train

    @property
    def eval(self) -> tuple[Example, ...]:
        """The examples that score candidate prompts during the search."""
        return self._split.eval

    @property
    def test(self) -> tuple[Example, ...]:
        """The held-out examples (never seen by the search)."""
        return self._split.test

    def examples(self, split: str) -> tuple[Example, ...]:
        """The examples of `split`: "train", "eval", "test" or "all"."""
        if split == "all":
            return self._split.all_examples()
        if split not in ("train", "eval", "test"):
            raise ValueError(f"split must be train, eval, test or all, got {split!r}")
        return getattr(self._split, split)

    def file_for(self, log_dir: Path) -> Path:
        """The file a run in `log_dir` reads: `path`, or the examples written to
        `<log_dir>/task/<name>.jsonl` (a resumed run checks they are the same)."""
        if self.path is not None:
            return self.path
        path = Path(log_dir).resolve() / "task" / f"{self.name}.jsonl"
        text = "".join(line + "\n" for line in self._lines)
        if path.is_file():
            if path.read_text(encoding="utf-8") != text:
                raise TaskError(f"{path} holds other examples than this task's: the run in "
                                f"{log_dir} was made on another task")  # fmt: skip
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def settings(self) -> dict[str, Any]:
        """The run settings (`train.py`'s flags, by name) of this task and its splits (a
        task made from examples gets its file once the run's log dir is known)."""
        out: dict[str, Any] = {"eval_size": self.eval_size, "test_size": self.test_size,
                               "seed": self.seed}  # fmt: skip
        if self.path is not None:
            out["task"] = str(self.path)
        if self.train_size is not None:
            out["train_size"] = self.train_size
        return out

    def answer_key(self) -> dict[str, str]:
        """Question -> gold answer (what the simulated LLM is told)."""
        return _tasks.answer_key(self._split)


@dataclass(frozen=True)
class AlignmentData:
    """DRPO's data: a folder in the layout of DRPO's release (instruction, open and harmful
    queries, and the in-context examples), from which a run draws its training queries and
    `test_size` held-out queries.

    Attributes:
        data_dir: the folder.
        num_training_examples: training queries the search walks through.
        test_size: held-out queries on which the initial and the final system prompt are
            judged (0: no held-out comparison).
    """

    data_dir: Path
    num_training_examples: int = 180
    test_size: int = 0

    @classmethod
    def from_dir(
        cls,
        path: str | os.PathLike[str],
        *,
        num_training_examples: int = 180,
        test_size: int = 0,
    ) -> AlignmentData:
        """The data in `path` (see `drpo/methods/drpo/demo_data` for the layout).

        Raises:
            FileNotFoundError: there is no such folder.
            ValueError: a size is negative.
        """
        folder = Path(path).expanduser().resolve()
        if not folder.is_dir():
            raise FileNotFoundError(f"no data folder at {folder}")
        if num_training_examples < 1 or test_size < 0:
            raise ValueError("num_training_examples must be >= 1 and test_size >= 0")
        return cls(folder, num_training_examples, test_size)

    @classmethod
    def demo(cls, *, num_training_examples: int = 180, test_size: int = 0) -> AlignmentData:
        """The small demo data the package ships."""
        from drpo.methods.drpo.data import DEMO_DATA_DIR

        return cls.from_dir(DEMO_DATA_DIR, num_training_examples=num_training_examples,
                            test_size=test_size)  # fmt: skip

    def settings(self) -> dict[str, Any]:
        """The run settings (`train.py`'s flags, by name) of this data."""
        return {"data_dir": self.data_dir, "num_training_examples": self.num_training_examples,
                "test_size": self.test_size}  # fmt: skip
