"""The settings every task-prompt method (PromptAgent, GPO) shares: which task, how it is
split, and the prompt the search starts from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drpo.methods.tasks import DEMO_TASK, Task, TaskError, load_task
from drpo.run_context import RunError, RunSettings


@dataclass(frozen=True, kw_only=True)
class TaskRunSettings(RunSettings):
    task: str = str(DEMO_TASK)
    data_dir: Path | None = None
    initial_prompt: str | None = None  # default: the task's description
    train_size: int | None = None
    eval_size: int = 30
    test_size: int = 60
    max_tokens: int = 512  # the task model's answer limit

    def load_task(self) -> Task:
        """The task, split with the run's seed; RunError naming the file when it cannot."""
        try:
            return load_task(
                self.task,
                data_dir=self.data_dir,
                train_size=self.train_size,
                eval_size=self.eval_size,
                test_size=self.test_size,
                seed=self.seed,
            )
        except TaskError as exc:
            raise RunError(str(exc)) from None

    def start_prompt(self, task: Task) -> str:
        """The prompt the search starts from: the one given, else the task's description."""
        return (self.initial_prompt or task.description or "Answer the question.").strip()
