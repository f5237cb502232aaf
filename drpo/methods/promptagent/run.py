"""A PromptAgent run on the task-prompt template (drpo.methods.task_run): MCTS (or beam or
greedy) over prompts written from error feedback; its answer, re-scored on the whole eval
split when a bandit only estimated it. Resumable like every run (cache + checkpoint)."""

from __future__ import annotations

from typing import Any

from drpo.llm._loop import run_sync
from drpo.methods.promptagent.settings import PromptAgentSettings
from drpo.methods.promptagent.world import PromptAgentConfig, PromptAgentWorld
from drpo.methods.task_run import Answer, Parts, Record, TaskPromptRun
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.task_settings import TaskRunSummary
from drpo.methods.tasks import Task
from drpo.run_context import RunError, Session
from search import MCTS, BeamSearch, Greedy, SearchResult
from world_model import SearchAlgorithm

ROLES = ("base", "optimize")


def algorithm(settings: PromptAgentSettings) -> SearchAlgorithm:
    """The search, with the paper's settings for MCTS."""
    checks = [
        (settings.depth >= 1, f"depth must be >= 1, got {settings.depth}"),
        (settings.expand_width >= 1, f"expand_width must be >= 1, got {settings.expand_width}"),
        (settings.batch_size >= 1, f"batch_size must be >= 1, got {settings.batch_size}"),
        (set(settings.role_map) == set(ROLES), f"roles must be {', '.join(ROLES)}"),
    ]
    for ok, message in checks:
        if not ok:
            raise RunError(message)
    try:
        settings.bandit()
        if settings.search == "mcts":
            return MCTS.for_promptagent(
                n_iters=settings.n_iters,
                depth_limit=settings.depth,
                w_exp=settings.w_exp,
                min_depth=settings.min_depth,
                seed=settings.seed,
            )
        if settings.search == "beam":
            return BeamSearch(beam_size=settings.beam_size, max_depth=settings.depth,
                              action_dedup=lambda p: p.prompt, seed=settings.seed)  # fmt: skip
        if settings.search == "greedy":
            return Greedy(max_depth=settings.depth, action_dedup=lambda p: p.prompt)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    raise RunError(f"unknown search {settings.search!r}; use mcts, beam or greedy")


class PromptAgentRun(TaskPromptRun[PromptAgentSettings]):
    name, label = "promptagent", "PromptAgent frontiers"

    def check(self, settings: PromptAgentSettings) -> Task:
        algorithm(settings)
        return settings.load_task()

    def total(self, settings: PromptAgentSettings) -> int | None:
        return None

    def parts(self, settings: PromptAgentSettings, task: Task, scorer: Any, optimizer: Any, *,
              initial: str, session: Session) -> Parts:  # fmt: skip
        world = PromptAgentWorld(task, scorer, initial_prompt=initial,
                                 on_frontier=session.on_frontier, selection=settings.bandit(),
                                 seed=settings.seed)  # fmt: skip
        config = PromptAgentConfig(task, scorer, optimizer, batch_size=settings.batch_size,
                                   expand_width=settings.expand_width,
                                   num_new_prompts=settings.num_new_prompts,
                                   temperature=settings.temperature,
                                   seed=settings.seed)  # fmt: skip
        return Parts(world, config, algorithm(settings))

    def answer(self, settings: PromptAgentSettings, result: SearchResult, task: Task,
               scorer: TaskScorer, initial: str) -> Answer:  # fmt: skip
        candidate = result.terminal_state.prompt
        answer_eval = result.terminal_node.reward
        if settings.bandit() is not None:  # a bandit's estimate: the answer scored in full
            (score,) = run_sync(scorer.score_many([(candidate, task.eval)]))
            answer_eval = score.accuracy
        return Answer(prompt=candidate, eval_accuracy=answer_eval,
                      initial_eval=result.tree.reward)  # fmt: skip

    def record(self, settings: PromptAgentSettings, result: SearchResult, answer: Answer,
               kept: bool) -> Record:  # fmt: skip
        return Record(
            meta_before={"search": settings.search},
            meta_after={"search_answer": {"prompt": answer.prompt,
                                          "eval_accuracy": answer.eval_accuracy}},
            record={"nodes": len(result.nodes())},
        )  # fmt: skip


def run_promptagent(settings: PromptAgentSettings) -> TaskRunSummary:
    """A PromptAgent run (see the module)."""
    return PromptAgentRun().run(settings)
