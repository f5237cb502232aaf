"""The arena's grid: one `python train.py` run per method x task x seed, each a job of
bench.jobs with its own folder (the run's log_dir) under the arena's output folder."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.jobs import LOG_DIR, Job

DEMO = "demo"  # the task name that stands for the demo task train.py runs without --task


@dataclass(frozen=True, kw_only=True)
class Grid:
    """What the arena runs: every method on every task with every seed, each run under the
    same search budget and the same train.py flags (`train_args`: models, data, sizes)."""

    methods: tuple[str, ...]
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    budget: Mapping[str, float | int]  # train.py flag (budget_calls, ...) -> limit
    train_args: tuple[str, ...] = ()
    cpus: float = 1.0

    def settings(self) -> dict[str, object]:
        """What every run shares: a grid resumed in the same folder must have the same."""
        return {"budget": dict(self.budget), "train_args": list(self.train_args)}


@dataclass(frozen=True)
class Cell:
    """One run of the grid."""

    method: str
    task: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.method}__{task_label(self.task)}__s{self.seed}"


def task_label(task: str) -> str:
    """A task's short name: the demo, a name in --data_dir, or a file's stem."""
    stem = Path(task).stem if task.endswith((".json", ".jsonl")) else Path(task).name
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem) or "task"


def cells(grid: Grid) -> list[Cell]:
    return [Cell(m, t, s) for t in grid.tasks for m in grid.methods for s in grid.seeds]


def argv(grid: Grid, cell: Cell) -> tuple[str, ...]:
    """The run's command: a normal train.py run in its own log_dir, resumable."""
    task = () if cell.task == DEMO else ("--task", cell.task)
    budget = [item for name, value in grid.budget.items() for item in (f"--{name}", str(value))]
    return (
        sys.executable, "train.py", "--method", cell.method, *task, "--seed", str(cell.seed),
        *budget, "--log_dir", LOG_DIR, "--resume", "--disable_tqdm", *grid.train_args,
    )  # fmt: skip


def jobs(grid: Grid) -> list[Job]:
    return [Job(name=c.name, argv=argv(grid, c), cpus=grid.cpus) for c in cells(grid)]


def unique_labels(tasks: Sequence[str]) -> bool:
    labels = [task_label(t) for t in tasks]
    return len(set(labels)) == len(labels)
