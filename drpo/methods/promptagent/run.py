"""A PromptAgent run: load the task, search, score the initial and final prompts on the test
split, write the artefacts. Resumable like every run (cache + checkpoint)."""

from __future__ import annotations

import logging

from drpo.llm._loop import run_sync
from drpo.methods.promptagent.settings import PromptAgentSettings
from drpo.methods.promptagent.world import PromptAgentConfig, PromptAgentWorld
from drpo.methods.task_run import finish_task_run
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.task_settings import TaskRunSummary
from drpo.methods.tasks import answer_key
from drpo.run_context import RunError, Session, with_knowledge
from search import MCTS, BeamSearch, Greedy
from world_model import Reasoner, SearchAlgorithm

log = logging.getLogger("drpo")
ROLES = ("base", "optimize")




def algorithm(settings: PromptAgentSettings) -> SearchAlgorithm:
    """The search, with the paper's settings for MCTS."""
    checks = [
        (settings.depth >= 1, f"depth must be >= 1, got {settings.depth}"),
        (settings.expand_width >= 1, f"expand_width must be >= 1, got {settings.expand_width}"),
        (settings.batch_size >= 1, f"batch_size must be >= 1, got {settings.batch_size}"),
        (set(settings.roles) == set(ROLES), f"roles must be {', '.join(ROLES)}"),
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


def run_promptagent(settings: PromptAgentSettings) -> TaskRunSummary:
    search = algorithm(settings)
    task = settings.load_task()
    with Session(settings, desc="PromptAgent frontiers") as session:
        log.info("task %s: %d train, %d eval, %d test examples", task.name, len(task.train),
                 len(task.eval), len(task.test))  # fmt: skip
        llms = session.llms(with_knowledge(settings.roles, answer_key(task)))
        scorer = TaskScorer(llms["base"], max_tokens=settings.max_tokens)
        initial = settings.start_prompt(task)
        world = PromptAgentWorld(task, scorer, initial_prompt=initial,
                                 on_frontier=session.on_frontier, selection=settings.bandit(),
                                 seed=settings.seed)  # fmt: skip
        config = PromptAgentConfig(
            task,
            scorer,
            llms["optimize"],
            batch_size=settings.batch_size,
            expand_width=settings.expand_width,
            num_new_prompts=settings.num_new_prompts,
            temperature=settings.temperature,
            seed=settings.seed,
        )
        result = Reasoner(world, config, search)(task.name)
        session.search_finished()  # what follows (test scoring) is counted apart
        candidate = result.terminal_state.prompt
        answer_eval = result.terminal_node.reward
        if settings.bandit() is not None:  # a bandit's estimate: the answer scored in full
            (score,) = run_sync(scorer.score_many([(candidate, task.eval)]))
            answer_eval = score.accuracy
        # Never a "best" prompt that does worse on eval than the one the run started from.
        keep_initial = answer_eval < result.tree.reward
        final = initial if keep_initial else candidate
        final_eval = result.tree.reward if keep_initial else answer_eval
        if keep_initial:
            log.info("the search's answer scores %.3f on eval, below the initial prompt's %.3f: "
                     "keeping the initial prompt", answer_eval,
                     result.tree.reward)  # fmt: skip
        return finish_task_run(
            session, settings, result, method="promptagent", task=task, scorer=scorer,
            initial=initial, final=final, initial_eval=result.tree.reward,
            final_eval=final_eval, is_initial=final == initial,
            meta_before={"search": settings.search},
            meta_after={"search_answer": {"prompt": candidate, "eval_accuracy": answer_eval}},
            record={"nodes": len(result.nodes())},
        )  # fmt: skip
