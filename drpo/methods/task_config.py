"""What the five task-prompt configs share (PromptAgent, GPO, APE, OPRO, ProTeGi): the task,
the scorer and the optimiser; actions made a frontier at a time (`get_actions` is one state's
`get_actions_many`); no fast reward (a child's reward is computed when the world makes it);
and the root's reward, the initial prompt's accuracy on the eval split."""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from drpo.llm import LLM
from drpo.llm._loop import run_sync
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.tasks import Task
from world_model import SearchConfig

log = logging.getLogger("drpo")


class TaskPromptConfig(SearchConfig):
    """The base of the task-prompt configs: a subclass writes `get_actions_many` and
    `reward`, and overrides `root_reward` when its root is scored otherwise."""

    def __init__(self, task: Task, scorer: TaskScorer | None, optimizer: LLM | None) -> None:
        super().__init__()
        self.task, self.scorer, self.optimizer = task, scorer, optimizer

    def get_actions(self, state: Any) -> list[Any]:
        return self.get_actions_many([state])[0]

    @abstractmethod
    def get_actions_many(self, states: Sequence[Any]) -> list[list[Any]]:
        """The actions (proposals) of each state, all asked at once."""

    def fast_reward(self, state: Any, action: Any) -> tuple[float, dict[str, Any]]:
        return 0.0, {}

    def root_reward(self, state: Any) -> tuple[float, dict[str, Any]]:
        """The initial prompt's accuracy on the whole eval split."""
        assert self.scorer is not None
        (score,) = run_sync(self.scorer.score_many([(state.prompt, self.task.eval)]))
        log.info("initial prompt: eval accuracy %.3f", score.accuracy)
        return score.accuracy, {"eval_accuracy": score.accuracy}
