"""An APE run: induce instructions, keep and resample the best by beam search, choose on
eval, score the initial and the chosen prompt on test, write the artefacts. Resumable like
every run (cache + checkpoint)."""

from __future__ import annotations

import logging
from typing import Any

from drpo.methods.ape.choice import choose
from drpo.methods.ape.settings import ApeSettings
from drpo.methods.ape.world import ApeConfig, ApeWorld
from drpo.methods.task_run import finish_task_run
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.task_settings import TaskRunSummary
from drpo.methods.tasks import Task, answer_key
from drpo.run_context import RunError, Session, with_knowledge
from search import BeamSearch
from world_model import Reasoner

log = logging.getLogger("drpo")
ROLES = ("base", "optimize")


def _config(settings: ApeSettings, task: Task, scorer: Any, optimizer: Any) -> ApeConfig:
    return ApeConfig(
        task,
        scorer,
        optimizer,
        demo_sets=settings.demo_sets,
        n_demos=settings.n_demos,
        proposals_per_set=settings.proposals_per_set,
        n_variations=settings.n_variations,
        temperature=settings.temperature,
        seed=settings.seed,
    )


def prepare(settings: ApeSettings) -> tuple[Task, BeamSearch]:
    """Load the task and check the settings, before anything is written."""
    checks = [
        (settings.depth >= 1, f"depth (rounds) must be >= 1, got {settings.depth}"),
        (settings.score_size >= 1, f"score_size must be >= 1, got {settings.score_size}"),
        (set(settings.roles) == set(ROLES), f"roles must be {', '.join(ROLES)}"),
    ]
    for ok, message in checks:
        if not ok:
            raise RunError(message)
    task = settings.load_task()
    try:
        _config(settings, task, None, None)
        search = BeamSearch(beam_size=settings.beam_size, max_depth=settings.depth,
                            action_dedup=lambda c: c.prompt, seed=settings.seed)  # fmt: skip
    except ValueError as exc:
        raise RunError(str(exc)) from None
    return task, search


def run_ape(settings: ApeSettings) -> TaskRunSummary:
    task, search = prepare(settings)
    with Session(settings, desc="APE rounds", total=settings.depth) as session:
        log.info("task %s: %d train, %d eval, %d test examples", task.name, len(task.train),
                 len(task.eval), len(task.test))  # fmt: skip
        llms = session.llms(with_knowledge(settings.roles, answer_key(task)))
        scorer = TaskScorer(llms["base"], max_tokens=settings.max_tokens)
        initial = settings.start_prompt(task)
        world = ApeWorld(task, scorer, initial_prompt=initial, score_size=settings.score_size,
                         seed=settings.seed, on_frontier=session.on_frontier)  # fmt: skip
        config = _config(settings, task, scorer, llms["optimize"])
        result = Reasoner(world, config, search)(task.name)
        initial_eval = result.tree.reward
        choice = choose(result, scorer, task.eval, initial_prompt=initial,
                        initial_eval=initial_eval)  # fmt: skip
        if choice.is_initial:
            log.info("no kept instruction beats the initial prompt on eval (%.3f): keeping it",
                     initial_eval)  # fmt: skip
        return finish_task_run(
            session, settings, result, method="ape", task=task, scorer=scorer,
            initial=initial, final=choice.prompt, initial_eval=initial_eval,
            final_eval=choice.eval_accuracy, is_initial=choice.is_initial,
            meta_before={"search": "beam"},
            record={"finalists": [f.to_json() for f in choice.finalists],
                    "nodes": len(result.nodes())},
        )  # fmt: skip
