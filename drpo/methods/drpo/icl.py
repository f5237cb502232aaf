"""DRPO's first stage: improve the answers of the in-context examples with the same dynamic
reward, so that retrieval (``ret_icl``) shows the base model good answers.

Each round scores every example's current best answer (the metrics model picks the aspects
of its query, the judge scores the answer on them), then asks the optimiser to rewrite the
answers that are not yet perfect; a rewrite replaces the best answer only if it scores
higher. After `num_iters` rounds the best answer of each example is kept.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from drpo.llm import LLM, ChatRequest
from drpo.llm._loop import run_sync
from drpo.methods.drpo.aspects import AspectSelection, Evaluation
from drpo.methods.drpo.dynamic_reward import DynamicReward
from drpo.methods.drpo.prompts import render
from drpo.methods.drpo.schemas import ICL_MAX_TOKENS, ICL_SCHEMA, MAX_ANSWER_CHARS
from drpo.methods.prompt_checks import WRITING_PENALTY

log = logging.getLogger("drpo")


@dataclass(frozen=True)
class ExampleResult:
    query: str
    answer: str
    reward: float
    history: tuple[float, ...]  # the best reward after each round


def _improved(value: Any) -> str:
    answer = value.get("improved_answer") if isinstance(value, dict) else None
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError("the JSON needs a non-empty string 'improved_answer'")
    return answer.strip()


async def _score(
    reward: DynamicReward, answers: dict[str, str], selections: dict[str, Any]
) -> dict[str, Evaluation | str]:
    queries = [q for q in answers if isinstance(selections[q], AspectSelection)]
    evaluations = await reward.judge_answers([(q, answers[q], selections[q]) for q in queries])
    out: dict[str, Evaluation | str] = {q: str(selections[q]) for q in answers}
    out.update(zip(queries, evaluations))
    return out


def optimise_examples(
    seed_answers: dict[str, str],
    *,
    reward: DynamicReward,
    optimizer: LLM,
    num_iters: int = 3,
    temperature: float = 0.0,
) -> list[ExampleResult]:
    """Improve every example answer for `num_iters` rounds; return the best of each."""
    if num_iters < 1:
        raise ValueError(f"icl_num_iters must be >= 1, got {num_iters}")
    return run_sync(_optimise(seed_answers, reward, optimizer, num_iters, temperature))


async def _optimise(
    seed: dict[str, str], reward: DynamicReward, optimizer: LLM, num_iters: int, temperature: float
) -> list[ExampleResult]:
    selections = await reward.select_aspects(list(seed))
    best = dict(seed)
    scores = await _score(reward, best, selections)
    best_reward = {q: (s.reward if isinstance(s, Evaluation) else 0.0) for q, s in scores.items()}
    history: dict[str, list[float]] = {q: [best_reward[q]] for q in seed}
    for round_ in range(num_iters):
        todo = [q for q, s in scores.items() if isinstance(s, Evaluation) and not s.handled()]
        if not todo:
            break
        requests = [
            ChatRequest.of(
                render(
                    "icl_optimizer",
                    query=q,
                    answer=best[q],
                    evaluation=json.dumps({"evaluation": scores[q].to_json()}, indent=2),
                    max_chars=str(MAX_ANSWER_CHARS),
                ),
                temperature=temperature,
                max_tokens=ICL_MAX_TOKENS,
                json_schema=ICL_SCHEMA,
                frequency_penalty=WRITING_PENALTY,
            )
            for q in todo
        ]
        answers = await optimizer.agenerate_json(requests, parse=_improved)
        candidates = {q: a.value for q, (a,) in zip(todo, answers) if a.ok}
        new_scores = await _score(reward, candidates, selections)
        for q, evaluation in new_scores.items():
            if isinstance(evaluation, Evaluation) and evaluation.reward > best_reward[q]:
                best[q], best_reward[q], scores[q] = candidates[q], evaluation.reward, evaluation
        for q in seed:
            history[q].append(best_reward[q])
        log.info(
            "ICL round %d: mean example reward %.3f",
            round_ + 1,
            sum(best_reward.values()) / len(best_reward),
        )
    return [ExampleResult(q, best[q], best_reward[q], tuple(history[q])) for q in seed]
