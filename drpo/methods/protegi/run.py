"""A ProTeGi run on the task-prompt template (drpo.methods.task_run): beam search with bandit
selection; its answer, only estimated by the bandit, scored on the whole eval split.
Resumable like every run (cache + checkpoint)."""

from __future__ import annotations

from typing import Any

from drpo.llm._loop import run_sync
from drpo.methods.protegi.settings import ProTeGiSettings
from drpo.methods.protegi.world import ProTeGiConfig, ProTeGiWorld
from drpo.methods.task_run import Answer, Parts, Record, TaskPromptRun
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.task_settings import TaskRunSummary
from drpo.methods.tasks import Task
from drpo.run_context import RunError, Session
from search import BeamSearch, SearchResult

ROLES = ("base", "optimize")


def _config(settings: ProTeGiSettings, task: Task, scorer: Any, optimizer: Any) -> ProTeGiConfig:
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


class ProTeGiRun(TaskPromptRun[ProTeGiSettings]):
    name, label = "protegi", "ProTeGi rounds"

    def check(self, settings: ProTeGiSettings) -> Task:
        if settings.depth < 1:
            raise RunError(f"depth (ProTeGi's rounds) must be >= 1, got {settings.depth}")
        if set(settings.role_map) != set(ROLES):
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

    def parts(self, settings: ProTeGiSettings, task: Task, scorer: Any, optimizer: Any, *,
              initial: str, session: Session) -> Parts:  # fmt: skip
        world = ProTeGiWorld(task, scorer, initial_prompt=initial, beam_size=settings.beam_size,
                             bandit=settings.bandit(), seed=settings.seed,
                             on_frontier=session.on_frontier)  # fmt: skip
        search = BeamSearch(beam_size=settings.beam_size, max_depth=settings.depth,
                            action_dedup=lambda s: s.prompt, seed=settings.seed)  # fmt: skip
        return Parts(world, _config(settings, task, scorer, optimizer), search)

    def answer(self, settings: ProTeGiSettings, result: SearchResult, task: Task,
               scorer: TaskScorer, initial: str) -> Answer:  # fmt: skip
        candidate = result.terminal_state.prompt
        (score,) = run_sync(scorer.score_many([(candidate, task.eval)]))
        return Answer(prompt=candidate, eval_accuracy=score.accuracy,
                      initial_eval=result.tree.reward)  # fmt: skip

    def record(self, settings: ProTeGiSettings, result: SearchResult, answer: Answer,
               kept: bool) -> Record:  # fmt: skip
        beam = [{"prompt": n.state.prompt, "estimated_accuracy": n.state.estimate,
                 "pulls": n.state.pulls, "kind": n.state.kind}
                for n in result.beam if n.depth == result.terminal_node.depth]  # fmt: skip
        return Record(
            meta_before={"selection": settings.selection},
            meta_after={"search_answer": {"prompt": answer.prompt,
                                          "eval_accuracy": answer.eval_accuracy,
                                          "estimated_accuracy": result.terminal_state.estimate},
                        "final_beam": beam},
            record={"nodes": len(result.nodes())},
        )  # fmt: skip


def prepare(settings: ProTeGiSettings) -> Task:
    """Load the task and check the settings, before anything is written."""
    return ProTeGiRun().check(settings)


def run_protegi(settings: ProTeGiSettings) -> TaskRunSummary:
    """A ProTeGi run (see the module)."""
    return ProTeGiRun().run(settings)
