"""A ProTeGi run: load the task, beam search with bandit selection, score the initial and the
final prompt on the eval and test splits, write the artefacts. Resumable like every run
(cache + checkpoint)."""

from __future__ import annotations

import logging

from drpo.llm import LLM
from drpo.llm._loop import run_sync
from drpo.methods.protegi.settings import ProTeGiSettings
from drpo.methods.protegi.world import ProTeGiConfig, ProTeGiWorld
from drpo.methods.task_run import finish_task_run
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.task_settings import TaskRunSummary
from drpo.methods.tasks import Task, answer_key
from drpo.run_context import RunError, Session, with_knowledge
from search import BeamSearch
from world_model import Reasoner

log = logging.getLogger("drpo")
ROLES = ("base", "optimize")


def prepare(settings: ProTeGiSettings) -> Task:
    """Load the task and check the settings, before anything is written."""
    if settings.depth < 1:
        raise RunError(f"depth (ProTeGi's rounds) must be >= 1, got {settings.depth}")
    if set(settings.roles) != set(ROLES):
        raise RunError(f"roles must be {', '.join(ROLES)}")
    most = settings.beam_size * (settings.max_expansion_factor + 1)
    if settings.selection == "sr" and settings.bandit_rounds * settings.bandit_arms < most:
        raise RunError(f"successive rejects needs a pull per candidate: bandit_rounds * "
                       f"bandit_arms must be >= beam_size * (max_expansion_factor + 1) = "
                       f"{most}")  # fmt: skip
    task = settings.load_task()
    try:
        _config(settings, task, None, None)
        settings.bandit()
        BeamSearch(beam_size=settings.beam_size, max_depth=settings.depth)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    return task


def _config(
    settings: ProTeGiSettings, task: Task, scorer: TaskScorer | None, optimizer: LLM | None
) -> ProTeGiConfig:
    return ProTeGiConfig(
        task,
        scorer,
        optimizer,
        minibatch_size=settings.minibatch_size,
        n_gradients=settings.n_gradients,
        errors_per_gradient=settings.errors_per_gradient,
        gradients_per_error=settings.gradients_per_error,
        steps_per_gradient=settings.steps_per_gradient,
        mc_samples_per_step=settings.mc_samples_per_step,
        max_expansion_factor=settings.max_expansion_factor,
        temperature=settings.temperature,
        seed=settings.seed,
    )


def run_protegi(settings: ProTeGiSettings) -> TaskRunSummary:
    task = prepare(settings)
    with Session(settings, desc="ProTeGi rounds", total=settings.depth) as session:
        log.info("task %s: %d train, %d eval, %d test examples", task.name, len(task.train),
                 len(task.eval), len(task.test))  # fmt: skip
        llms = session.llms(with_knowledge(settings.roles, answer_key(task)))
        scorer = TaskScorer(llms["base"], max_tokens=settings.max_tokens)
        initial = settings.start_prompt(task)
        world = ProTeGiWorld(task, scorer, initial_prompt=initial, beam_size=settings.beam_size,
                             bandit=settings.bandit(), seed=settings.seed,
                             on_frontier=session.on_frontier)  # fmt: skip
        config = _config(settings, task, scorer, llms["optimize"])
        search = BeamSearch(beam_size=settings.beam_size, max_depth=settings.depth,
                            action_dedup=lambda s: s.prompt, seed=settings.seed)  # fmt: skip
        result = Reasoner(world, config, search)(task.name)
        candidate = result.terminal_state.prompt
        # The bandit only estimated the beam's accuracy: the search's answer is scored on the
        # whole eval split, and never reported if it does worse there than the initial prompt.
        initial_eval = result.tree.reward
        (answer_eval,) = run_sync(scorer.score_many([(candidate, task.eval)]))
        keep_initial = answer_eval.accuracy < initial_eval
        final = initial if keep_initial else candidate
        final_eval = initial_eval if keep_initial else answer_eval.accuracy
        beam = [{"prompt": n.state.prompt, "estimated_accuracy": n.state.estimate,
                 "pulls": n.state.pulls, "kind": n.state.kind}
                for n in result.beam if n.depth == result.terminal_node.depth]  # fmt: skip
        if keep_initial:
            log.info("the search's answer scores %.3f on eval, below the initial prompt's %.3f: "
                     "keeping the initial prompt", answer_eval.accuracy, initial_eval)  # fmt: skip
        return finish_task_run(
            session, settings, result, method="protegi", task=task, scorer=scorer,
            initial=initial, final=final, initial_eval=initial_eval, final_eval=final_eval,
            is_initial=final == initial, meta_before={"selection": settings.selection},
            meta_after={"search_answer": {"prompt": candidate,
                                          "eval_accuracy": answer_eval.accuracy,
                                          "estimated_accuracy": result.terminal_state.estimate},
                        "final_beam": beam},
            record={"nodes": len(result.nodes())},
        )  # fmt: skip
