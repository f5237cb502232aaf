"""What every task-prompt method shares: its settings (which task, how it is split, the
prompt the search starts from) and the summary its run returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drpo.methods import shared_settings as shared
from drpo.methods.declare import setting
from drpo.methods.tasks import DEMO_TASK, Task, TaskError, load_task
from drpo.run_context import RunError, RunSettings
from drpo.stats import PairedDifference

#: The task model's answer limit, in tokens, unless --max_tokens says otherwise.
TASK_MAX_TOKENS = 512


@dataclass(frozen=True, kw_only=True)
class TaskRunSettings(RunSettings):
    """What every task-prompt method's settings hold: the task, its splits, the prompt the
    search starts from and the task model's answer limit."""

    task: str = setting(str(DEMO_TASK), help="a task file, or a task name in --data_dir")
    data_dir: Path | None = shared.data_dir()
    initial_prompt: str | None = setting(None, help="default: the task's description")
    train_size: int | None = setting(None, help="default: all the rest")
    eval_size: int = setting(30)
    test_size: int = shared.test_size(60)
    max_tokens: int = shared.max_tokens(TASK_MAX_TOKENS)  # the task model's answer limit

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


@dataclass(frozen=True, kw_only=True)
class TaskRunSummary:
    """A task-prompt run's outcome: the initial and the final prompt, their accuracies on the
    eval and the test split, and their paired test difference."""

    log_dir: Path
    task: str
    initial_prompt: str
    final_prompt: str
    initial_eval: float
    final_eval: float
    initial_test: float
    final_test: float
    simulated: bool
    usage_table: str
    resumed_from: int
    test_difference: PairedDifference | None = None
    initial_test_format: float = 1.0  # the share of test answers in the task's format
    final_test_format: float = 1.0
    test_majority: float | None = None  # always the commonest test answer: its accuracy
