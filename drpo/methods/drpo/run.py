"""A DRPO run, from its settings to its artefacts, resumable after a crash.

Every LLM answer is cached in the run's sqlite file as it arrives, and a checkpoint is written
atomically after each evaluated frontier. `--resume` runs the same search again: everything
done before the crash is answered from the cache (paid once), the search continues where it
stopped, and the result is the one an uninterrupted run gives.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from drpo.llm._loop import run_sync
from drpo.methods.drpo.aligned import AlignedSpec, write_aligned_model
from drpo.methods.drpo.aspect_judge import MetricsCache
from drpo.methods.drpo.base_prompt import (
    FORMATS,
    BasePrompt,
    FormatChoice,
    choose_format,
)
from drpo.methods.drpo.data import (
    ICL_EXAMPLES,
    ICL_SEED_ANSWERS,
    load_examples,
    split_queries,
)
from drpo.methods.drpo.dynamic_reward import DynamicReward, ExampleSource
from drpo.methods.drpo.icl import icl_critic, icl_metrics_cache, optimise_examples
from drpo.methods.drpo.prompts import fixed_examples
from drpo.methods.drpo.settings import DRPOSettings
from drpo.methods.drpo.state import DRPOState, Step
from drpo.methods.drpo.world import DRPOSearchConfig, DRPOWorld
from drpo.retrieval import EmbedderChoice, Retriever, choose_embedder
from drpo.run_context import MostlyFailedError, RunError, Session
from drpo.stats import PairedDifference, paired_difference
from search import MCTS, BeamSearch, save_artifacts
from search.artifacts import write_atomic
from search.result import SearchResult
from world_model import Reasoner

log = logging.getLogger("drpo")

ROLES = ("base", "metrics", "eval", "optimize")


@dataclass(frozen=True)
class RunSummary:
    log_dir: Path
    best_prompt: str
    initial_prompt: str
    path_reward: float
    initial_reward: float
    steps: int
    depth_increase: int
    simulated: bool
    usage_table: str
    resumed_from: int
    verdict: str = ""
    handled: int = 0
    improved: int = 0
    errored: int = 0
    held_out: str = ""  # the held-out comparison, in words ("" without test queries)
    base_prompt_format: str = ""  # the format the base model got, and why


# ---- the pieces ------------------------------------------------------------------------
def _embedder(settings: DRPOSettings) -> EmbedderChoice:
    """The embedder of in-context example retrieval (nothing loaded yet)."""
    try:
        return choose_embedder(
            settings.embedding_backend,
            model=settings.embedding_model,
            base_url=settings.embedding_base_url,
        )
    except ValueError as exc:
        raise RunError(str(exc)) from None


def _algorithm(settings: DRPOSettings) -> BeamSearch | MCTS:
    if settings.search == "beam":
        return BeamSearch(
            beam_size=settings.beam_size,
            max_depth=settings.depth,
            max_depth_increase=settings.max_depth_increase,
            reward_aggregator="mean" if settings.beam_size > 1 else "last",
            action_dedup=True,
            seed=settings.seed,
        )
    if settings.search == "mcts":
        return MCTS(
            n_iters=settings.n_iters,
            depth_limit=settings.depth,
            w_exp=settings.w_exp,
            cum_reward="mean",
            seed=settings.seed,
        )
    raise RunError(f"unknown search {settings.search!r}; use beam or mcts")


def _check_settings(settings: DRPOSettings) -> None:
    checks = [
        (settings.depth >= 1, f"depth must be >= 1, got {settings.depth}"),
        (settings.beam_size >= 1, f"beam_size must be >= 1, got {settings.beam_size}"),
        (settings.n_actions >= 1, f"n_actions must be >= 1, got {settings.n_actions}"),
        (settings.k >= 1, f"k must be >= 1, got {settings.k}"),
        (settings.test_size >= 0, f"test_size must be >= 0, got {settings.test_size}"),
        (
            settings.max_depth_increase >= 0,
            f"max_depth_increase must be >= 0, got {settings.max_depth_increase}",
        ),
        (
            0 <= settings.temperature <= 2,
            f"temperature must be in [0, 2], got {settings.temperature}",
        ),
        (settings.initial_system_prompt.strip() != "", "the initial system prompt is empty"),
        (settings.max_tokens >= 1, f"max_tokens must be >= 1, got {settings.max_tokens}"),
        (
            settings.base_prompt_format in FORMATS,
            f"unknown base_prompt_format {settings.base_prompt_format!r}; choose from "
            f"{', '.join(FORMATS)}",
        ),
        (set(settings.roles) == set(ROLES), f"roles must be {', '.join(ROLES)}"),
    ]
    for ok, message in checks:
        if not ok:
            raise RunError(message)


# ---- the run ---------------------------------------------------------------------------
def validate(settings: DRPOSettings) -> BeamSearch | MCTS:
    """The run's search algorithm; RunError for settings that cannot work, before anything
    is written."""
    _check_settings(settings)
    if settings.ret_icl and settings.embedding_backend not in ("hash", "openai", "auto"):
        _embedder(settings)  # "minilm" must be able to run; an unknown name is refused
    return _algorithm(settings)


def _load(
    settings: DRPOSettings,
) -> tuple[list[str], list[str], dict[str, str], dict[str, str], MetricsCache]:
    """The training queries, the held-out test queries, the example set, the ICL stage's
    seed answers and the metrics cache; RunError naming the file for anything unreadable."""
    from drpo.methods.drpo.data import DataError

    data_dir = Path(settings.data_dir)
    try:
        queries, test_queries = split_queries(
            data_dir,
            num_training_examples=settings.num_training_examples,
            test_size=settings.test_size,
            seed=settings.seed,
        )
        examples = load_examples(data_dir / ICL_EXAMPLES) if settings.ret_icl else fixed_examples()
        seeds = load_examples(data_dir / ICL_SEED_ANSWERS) if settings.optimize_icl else {}
        metrics_cache = MetricsCache(Path(settings.log_dir) / "metrics_cache.json")
        if settings.metrics_cache_path is not None:  # read, never written: it may be shared
            for query, value in MetricsCache(settings.metrics_cache_path).raw.items():
                metrics_cache.raw.setdefault(query, value)
    except (DataError, ValueError) as exc:
        raise RunError(str(exc)) from None
    return queries, test_queries, examples, seeds, metrics_cache


def run_drpo(settings: DRPOSettings) -> RunSummary:
    """Run DRPO; raise RunError (bad settings or data), LLMError, or BudgetExceeded."""
    algorithm = validate(settings)
    queries, test_queries, examples, seed_answers, metrics_cache = _load(settings)
    with Session(settings, desc="DRPO depth", total=settings.depth) as session:
        log.info("loaded %d training and %d held-out test queries from %s", len(queries),
                 len(test_queries), settings.data_dir)  # fmt: skip
        llms = session.llms(settings.roles, max_reasks=settings.max_reasks)
        embedder = None
        if settings.ret_icl:
            embedding = _embedder(settings)
            embedder = embedding.embedder
            log.info("in-context examples are retrieved with %s: %s", embedder.name,
                     embedding.reason)  # fmt: skip
        choice = choose_format(settings.base_prompt_format, role=settings.roles["base"],
                               llm=llms["base"])  # fmt: skip
        base_prompt = BasePrompt.for_model(
            choice.format, settings.roles["base"].model_name, max_tokens=settings.max_tokens
        )
        log.info("base model prompt format: %s", choice.describe())

        def reward_with(example_set: dict[str, str]) -> DynamicReward:
            retriever = Retriever(list(example_set), embedder) if embedder is not None else None
            return DynamicReward(
                base=llms["base"],
                metrics=llms["metrics"],
                judge=llms["eval"],
                examples=ExampleSource(example_set, k=settings.k, retriever=retriever),
                metrics_cache=metrics_cache,
                base_prompt=base_prompt,
            )

        if settings.optimize_icl:
            cache = icl_metrics_cache(session.log_dir, settings.data_dir)
            critic = icl_critic(metrics=llms["metrics"], judge=llms["eval"], cache=cache)
            results = optimise_examples(
                seed_answers,
                critic=critic,
                optimizer=llms["optimize"],
                num_iters=settings.icl_num_iters,
            )
            examples = {r.query: r.answer for r in results}
            write_atomic(
                session.log_dir / "icl_examples.json",
                json.dumps(examples, indent=2, ensure_ascii=False).encode("utf-8"),
            )
            log.info("optimised %d in-context examples (icl_examples.json)", len(examples))
        reward = reward_with(examples)
        world = DRPOWorld(
            reward,
            initial_system_prompt=settings.initial_system_prompt,
            on_frontier=session.on_frontier,
        )
        config = DRPOSearchConfig(
            llms["optimize"],
            n_actions=settings.n_actions,
            temperature=settings.temperature,
        )
        result = Reasoner(world, config, algorithm)(queries)
        session.record_search(result)
        summary, health = _finish(settings, session, result, reward, test_queries, choice)
    if health.failed_run:  # the run itself is over and saved (checkpoint "done")
        raise MostlyFailedError(health.message())
    return summary


def _finish(
    settings: DRPOSettings,
    session: Session,
    result: SearchResult,
    reward: DynamicReward,
    test_queries: Sequence[str],
    choice: FormatChoice,
) -> tuple[RunSummary, EvaluationHealth]:
    state: DRPOState = result.terminal_state
    path_steps = state.steps[1:]
    # The initial prompt on the same queries, for comparison (cached after the first time).
    initial = run_sync(
        reward.evaluate([(settings.initial_system_prompt, s.query) for s in path_steps])
    )
    outcome = Outcome.of(path_steps, initial, seed=settings.seed)
    test = _held_out(settings, reward, state.system_prompt, test_queries)
    every_step = [n.state.last for n in result.nodes() if n.state is not None] + list(initial)
    every_step += [s for pair in test for s in pair]
    health = EvaluationHealth.of(every_step, settings)
    # The search's final prompt is the run's result, as in the reference; whether it beats
    # the initial prompt is decided on the held-out queries, never on the searched ones.
    best_prompt = state.system_prompt
    held_out = HeldOut.of(test, seed=settings.seed)
    meta = {
        "method": "drpo",
        "simulated": settings.simulated,
        "search": settings.search,
        "models": {role: s.model_name for role, s in settings.roles.items()},
        "base_prompt_format": choice.to_json(),
        "best_path_mean_reward": outcome.path_mean,
        "initial_prompt_mean_reward_on_the_same_queries": outcome.initial_mean,
    }
    log_dir = session.log_dir
    save_artifacts(result, log_dir / "algo_output", meta=meta)
    if test:  # every held-out answer and its scores, for a person to read
        rows = [{"query": a.query, "initial": a.to_json(), "final": b.to_json()} for a, b in test]
        text = json.dumps(rows, indent=1, ensure_ascii=False) + "\n"
        write_atomic(log_dir / "held_out.json", text.encode("utf-8"))
    write_atomic(log_dir / "best_system_prompt.txt", (best_prompt + "\n").encode("utf-8"))
    aligned = AlignedSpec.of_run(settings, reward, best_prompt, reason=choice.describe())
    write_aligned_model(log_dir, aligned)
    depth_increase = getattr(result, "depth_increase", 0)
    verdict = outcome.verdict()
    summary = {
        **meta,
        "outcome": verdict,
        "held_out_outcome": held_out.verdict,
        "final_beats_initial_on_held_out": held_out.beats,
        "steps": len(path_steps),
        "steps_handled": sum(s.handled() for s in path_steps),
        "steps_improved": outcome.improved,
        "steps_errored": sum(s.error is not None for s in path_steps),
        "paired_difference": outcome.difference.to_json(),
        **_test_summary(test, seed=settings.seed),
        "evaluations": health.to_json(),
        "depth_increase": depth_increase,
        "nodes": len(result.nodes()),
        "settings": settings.public(),
    }
    session.finish(summary)
    log.info("%s", verdict)
    log.info("%s", held_out.verdict)
    log.info("the search's final system prompt (best_system_prompt.txt):\n%s", best_prompt)
    log.info("usage:\n%s", session.usage.table())
    if health.failed_run:
        log.error("the run finished, but %s", health.message())
    return RunSummary(
        log_dir=log_dir,
        best_prompt=best_prompt,
        initial_prompt=settings.initial_system_prompt,
        path_reward=outcome.path_mean,
        initial_reward=outcome.initial_mean,
        steps=len(path_steps),
        depth_increase=depth_increase,
        simulated=settings.simulated,
        usage_table=session.usage.table(),
        resumed_from=session.checkpoint.resumed_from,
        verdict=verdict,
        handled=summary["steps_handled"],
        improved=outcome.improved,
        errored=summary["steps_errored"],
        held_out=held_out.verdict if test else "",
        base_prompt_format=choice.describe(),
    ), health


def _held_out(
    settings: DRPOSettings, reward: DynamicReward, prompt: str, queries: Sequence[str]
) -> list[tuple[Step, Step]]:
    """(initial prompt, the search's final prompt) judged on each held-out query."""
    if not queries:
        return []
    items = [(p, q) for q in queries for p in (settings.initial_system_prompt, prompt)]
    steps = run_sync(reward.evaluate(items))
    return list(zip(steps[0::2], steps[1::2]))


def _test_summary(test: Sequence[tuple[Step, Step]], *, seed: int) -> dict[str, object]:
    """The held-out comparison: mean judge reward of each prompt on the queries both got a
    usable evaluation for, and the paired difference (final - initial) with its 95% CI."""
    if not test:
        return {}
    pairs = [(a.reward, b.reward) for a, b in test if a.error is None and b.error is None]
    n = max(1, len(pairs))
    return {
        "test_queries": len(test),
        "test_queries_evaluated": len(pairs),
        "initial_test_reward": sum(a for a, _ in pairs) / n,
        "final_test_reward": sum(b for _, b in pairs) / n,
        "test_difference": paired_difference(
            [a for a, _ in pairs], [b for _, b in pairs], seed=seed
        ).to_json(),
    }


@dataclass(frozen=True)
class Outcome:
    """The best path against the initial prompt on the same queries. Means count an errored
    step as 0 (as the search did); the paired difference uses only queries both evaluated."""

    path_mean: float
    initial_mean: float
    improved: int  # path steps that beat the initial prompt on their query
    difference: PairedDifference

    @classmethod
    def of(cls, path: Sequence[Step], initial: Sequence[Step], *, seed: int) -> Outcome:
        pairs = [(i.reward, p.reward) for p, i in zip(path, initial)
                 if p.error is None and i.error is None]  # fmt: skip
        return cls(
            path_mean=sum(s.reward for s in path) / max(1, len(path)),
            initial_mean=sum(s.reward for s in initial) / max(1, len(initial)),
            improved=sum(b > a for a, b in pairs),
            difference=paired_difference([a for a, _ in pairs], [b for _, b in pairs], seed=seed),
        )

    def verdict(self) -> str:
        """The search path against the initial prompt on the searched queries (in-sample:
        it says how the search went, not whether its result generalises)."""
        versus = (f"mean reward {self.path_mean:.3f} on the best path against "
                  f"{self.initial_mean:.3f} for the initial prompt on the same (searched) "
                  f"queries; difference {self.difference}")  # fmt: skip
        if self.difference.n and self.difference.ci_low > 0:
            return f"on the searched queries, improved: {versus}"
        if self.path_mean > self.initial_mean:
            return (f"on the searched queries, better on average, but not a reliable gain: "
                    f"{versus}, and the interval holds 0")  # fmt: skip
        return f"on the searched queries, no improvement: {versus}"


@dataclass(frozen=True)
class HeldOut:
    """Whether the search's final prompt beats the initial one on the held-out queries:
    `beats` is True when the paired difference's 95% CI lies above 0, False otherwise, None
    without held-out queries (nothing was decided)."""

    beats: bool | None
    verdict: str

    @classmethod
    def of(cls, test: Sequence[tuple[Step, Step]], *, seed: int) -> HeldOut:
        if not test:
            return cls(None, "held-out test: none (--test_size 0), so whether the final prompt "
                             "beats the initial one was not decided")  # fmt: skip
        pairs = [(a.reward, b.reward) for a, b in test if a.error is None and b.error is None]
        d = paired_difference([a for a, _ in pairs], [b for _, b in pairs], seed=seed)
        n = max(1, len(pairs))
        means = (f"held-out test on {len(pairs)} of {len(test)} queries: mean judge reward "
                 f"{sum(a for a, _ in pairs) / n:.3f} for the initial prompt, "
                 f"{sum(b for _, b in pairs) / n:.3f} for the search's final prompt")  # fmt: skip
        if d.n and d.ci_low > 0:
            return cls(True, f"{means}; the final prompt beats the initial one: {d}")
        if d.n and d.mean > 0:
            return cls(False, f"{means}; better on average but not reliably (the interval "
                              f"holds 0): {d}")  # fmt: skip
        return cls(False, f"{means}; the final prompt does not beat the initial one: {d}")


@dataclass(frozen=True)
class EvaluationHealth:
    """How many of the run's evaluations failed, and the commonest reason."""

    total: int
    errored: int
    commonest: str | None
    commonest_count: int
    role: str | None
    model: str | None

    @classmethod
    def of(cls, steps: Sequence[Step], settings: DRPOSettings) -> EvaluationHealth:
        errors = Counter((s.error_role, s.error) for s in steps if s.error is not None)
        (role, error), count = errors.most_common(1)[0] if errors else ((None, None), 0)
        model = settings.roles[role].model_name if role in settings.roles else None
        return cls(len(steps), sum(errors.values()), error, count, role, model)

    @property
    def failed_run(self) -> bool:
        return self.errored * 2 > self.total

    def message(self) -> str:
        return (f"{self.errored} of {self.total} evaluations failed; the commonest error "
                f"({self.commonest_count} times), role {self.role!r} (model {self.model}): "
                f"{self.commonest}")  # fmt: skip

    def to_json(self) -> dict[str, object]:
        return {"total": self.total, "errored": self.errored, "commonest_error": self.commonest,
                "commonest_role": self.role}  # fmt: skip
