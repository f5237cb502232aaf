"""DRPO's first stage: improve the answers of the in-context examples, so that retrieval
(``ret_icl``) shows the base model good answers. As in the reference:

- the judge is a separate, stricter critic (prompts/critic.txt) played by the eval model,
  on 3 to 6 aspects per query picked by the metrics model (prompts/icl_metrics.txt), kept in
  the run's icl_metrics_cache.json (selections given in the data folder's
  icl_metrics_cache.json are reused);
- each round the optimiser rewrites the *latest* answer from its critique, the critic scores
  the rewrite, and the rewrite becomes the example's answer when it scores at least as well
  as the best so far (ties accepted);
- `num_iters` rounds (5 by default); an example stops once the critic gives it full marks.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drpo.llm import LLM, ChatRequest
from drpo.llm._loop import run_sync
from drpo.methods.drpo.aspect_judge import CRITIC_RUBRIC, AspectJudge, MetricsCache
from drpo.methods.drpo.aspects import AspectSelection, Evaluation
from drpo.methods.drpo.prompts import render
from drpo.methods.drpo.schemas import ICL_MAX_TOKENS, ICL_SCHEMA, MAX_ANSWER_CHARS
from drpo.methods.prompt_checks import WRITING_PENALTY

log = logging.getLogger("drpo")

#: The reference's number of rounds.
ICL_ROUNDS = 5
ICL_METRICS_CACHE = "icl_metrics_cache.json"


@dataclass(frozen=True)
class ExampleResult:
    """One example after the stage: its kept answer, that answer's critic reward, and the
    reward of the kept answer after each round (round 0: the seed answer)."""

    query: str
    answer: str
    reward: float
    history: tuple[float, ...]


def _improved(value: Any) -> str:
    answer = value.get("improved_answer") if isinstance(value, dict) else None
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError("the JSON needs a non-empty string 'improved_answer'")
    return answer.strip()


def _perfect(evaluation: Evaluation) -> bool:
    return all(score == 5 for score in evaluation.scores.values())


def icl_critic(*, metrics: LLM, judge: LLM, cache: MetricsCache) -> AspectJudge:
    """The ICL stage's judge: its own aspect selections (3-6 per query, picked by `metrics`)
    and its stricter critique (`judge`), under `CRITIC_RUBRIC`."""
    return AspectJudge(metrics=metrics, judge=judge, cache=cache, rubric=CRITIC_RUBRIC)


def icl_metrics_cache(log_dir: Path, data_dir: Path | None) -> MetricsCache:
    """The ICL stage's aspect selections: the run's own file, seeded (never overwritten)
    from the data folder's icl_metrics_cache.json when there is one."""
    cache = MetricsCache(Path(log_dir) / ICL_METRICS_CACHE)
    given = Path(data_dir) / ICL_METRICS_CACHE if data_dir is not None else None
    if given is not None and given.is_file():
        for query, value in MetricsCache(given).raw.items():
            cache.raw.setdefault(query, value)
    return cache


def optimise_examples(
    seed_answers: dict[str, str],
    *,
    critic: AspectJudge,
    optimizer: LLM,
    num_iters: int = ICL_ROUNDS,
    temperature: float = 0.0,
) -> list[ExampleResult]:
    """Improve every example answer for up to `num_iters` rounds; return what is kept."""
    if num_iters < 1:
        raise ValueError(f"icl_num_iters must be >= 1, got {num_iters}")
    return run_sync(_optimise(seed_answers, critic, optimizer, num_iters, temperature))


def _rewrite_request(
    query: str, answer: str, evaluation: Evaluation, temperature: float
) -> ChatRequest:
    return ChatRequest.of(
        render(
            "icl_optimizer",
            query=query,
            answer=answer,
            evaluation=json.dumps({"evaluation": evaluation.to_json()}, indent=2),
            max_chars=str(MAX_ANSWER_CHARS),
        ),
        temperature=temperature,
        max_tokens=ICL_MAX_TOKENS,
        json_schema=ICL_SCHEMA,
        frequency_penalty=WRITING_PENALTY,
    )


async def _optimise(
    seed: dict[str, str], critic: AspectJudge, optimizer: LLM, num_iters: int, temperature: float
) -> list[ExampleResult]:
    selections = await critic.select_aspects(list(seed))
    usable = {q: s for q, s in selections.items() if isinstance(s, AspectSelection)}
    for query in set(seed) - set(usable):
        log.warning("ICL example %r keeps its answer: %s", query[:80], selections[query])
    latest = dict(seed)  # the answer each round rewrites
    kept = dict(seed)  # the answer the stage returns
    evaluations = await critic.judge_answers([(q, latest[q], usable[q]) for q in usable])
    latest_eval: dict[str, Evaluation | str] = dict(zip(usable, evaluations))
    best = {q: (e.reward if isinstance(e, Evaluation) else 0.0) for q, e in latest_eval.items()}
    history: dict[str, list[float]] = {q: [best.get(q, 0.0)] for q in seed}
    done = {q for q, e in latest_eval.items() if isinstance(e, Evaluation) and _perfect(e)}
    for round_ in range(num_iters):
        todo = [q for q, e in latest_eval.items() if isinstance(e, Evaluation) and q not in done]
        if not todo:
            break
        requests = [_rewrite_request(q, latest[q], latest_eval[q], temperature) for q in todo]
        answers = await optimizer.agenerate_json(requests, parse=_improved)
        rewritten = {q: a.value for q, (a,) in zip(todo, answers) if a.ok}
        for q, (a,) in zip(todo, answers):
            if not a.ok:
                log.warning("ICL example %r: no usable rewrite this round: %s", q[:80], a.error)
        scores = await critic.judge_answers([(q, rewritten[q], usable[q]) for q in rewritten])
        for q, evaluation in zip(rewritten, scores):
            latest[q], latest_eval[q] = rewritten[q], evaluation
            if not isinstance(evaluation, Evaluation):
                log.warning("ICL example %r: the critic gave no usable evaluation: %s",
                            q[:80], evaluation)  # fmt: skip
                continue
            if evaluation.reward >= best[q]:  # ties accepted, as in the reference
                kept[q], best[q] = rewritten[q], evaluation.reward
            if _perfect(evaluation):
                done.add(q)
        for q in seed:
            history[q].append(best.get(q, 0.0))
        log.info("ICL round %d: mean critic reward of the kept answers %.3f", round_ + 1,
                 sum(best.values()) / max(1, len(best)))  # fmt: skip
    return [ExampleResult(q, kept[q], best.get(q, 0.0), tuple(history[q])) for q in seed]
