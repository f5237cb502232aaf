"""A judge on per-query aspects, as DRPO scores answers: a metrics model picks the aspects
that matter for a query (kept in a `MetricsCache`), and a judge scores an answer on exactly
those aspects. The dynamic reward and the ICL stage's stricter critic are the same judge with
a different `Rubric`: their meta-prompts and the number of aspects they take.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drpo.llm import LLM, ChatRequest
from drpo.methods.drpo.aspects import (
    ASPECTS,
    ICL_MAX_ASPECTS,
    ICL_MIN_ASPECTS,
    MAX_ASPECTS,
    MIN_ASPECTS,
    AspectSelection,
    Evaluation,
    parse_evaluation,
    parse_selection,
)
from drpo.methods.drpo.prompts import render
from drpo.methods.drpo.schemas import (
    METRICS_MAX_TOKENS,
    judge_max_tokens,
    judge_schema,
    metrics_schema,
)
from search.artifacts import write_atomic

log = logging.getLogger("drpo")


class MetricsCache:
    """Aspect selections by query, kept in a JSON file in the format of the DRPO release."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self.raw: dict[str, Any] = {}
        if self.path is not None and self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ValueError(f"metrics cache {self.path} is not valid JSON: {exc}") from None
            if not isinstance(data, dict):
                raise ValueError(f"metrics cache {self.path} must be a JSON object")
            self.raw = data

    def get(
        self, query: str, *, min_aspects: int = MIN_ASPECTS, max_aspects: int = MAX_ASPECTS
    ) -> AspectSelection | None:
        """The query's cached selection, or None (none cached, or one out of the bounds)."""
        value = self.raw.get(query)
        try:
            if isinstance(value, str):
                value = json.loads(value)
            if value is None:
                return None
            return parse_selection(value, min_aspects=min_aspects, max_aspects=max_aspects)
        except ValueError as exc:  # json.JSONDecodeError included
            log.warning("ignoring the cached aspect selection of a query: %s", exc)
            return None

    def put(self, query: str, value: Any) -> None:
        """Keep the metrics model's raw answer for `query` (written by `save`)."""
        self.raw[query] = value

    def save(self) -> None:
        """Write the selections to the cache's file (none for an in-memory cache)."""
        if self.path is not None:
            text = json.dumps(self.raw, indent=2, ensure_ascii=False)
            write_atomic(self.path, text.encode("utf-8"))


def aspect_list(aspects: Sequence[str]) -> str:
    """The aspects with their definitions, one per line, as the meta-prompts show them."""
    return "\n".join(f"- {name}: {ASPECTS[name]}" for name in aspects)


@dataclass(frozen=True)
class Rubric:
    """How a judge picks and scores aspects: the metrics model's and the judge's meta-prompts
    (prompts/*.txt), the bounds on the number of aspects (given to the metrics prompt when
    `bounds_in_prompt`), and extra tokens for the metrics model's answer."""

    metrics_prompt: str
    judge_prompt: str
    min_aspects: int = MIN_ASPECTS
    max_aspects: int = MAX_ASPECTS
    bounds_in_prompt: bool = False
    extra_metrics_tokens: int = 0


#: The dynamic reward's judge (prompts/metrics.txt, prompts/judge.txt; 2-5 aspects).
REWARD_RUBRIC = Rubric("metrics", "judge")
#: The ICL stage's stricter critic (prompts/icl_metrics.txt, prompts/critic.txt; 3-6 aspects).
CRITIC_RUBRIC = Rubric("icl_metrics", "critic", ICL_MIN_ASPECTS, ICL_MAX_ASPECTS,
                       bounds_in_prompt=True, extra_metrics_tokens=20)  # fmt: skip


class AspectJudge:
    """Scores answers on per-query aspects under a `Rubric`: the metrics model picks each
    query's aspects (cached in `cache`), the judge scores an answer on them."""

    def __init__(
        self, *, metrics: LLM, judge: LLM, cache: MetricsCache, rubric: Rubric = REWARD_RUBRIC
    ) -> None:
        self.metrics, self.judge, self.cache, self.rubric = metrics, judge, cache, rubric

    def _parse(self, value: Any) -> tuple[Any, AspectSelection]:
        r = self.rubric
        return value, parse_selection(value, min_aspects=r.min_aspects,
                                      max_aspects=r.max_aspects)  # fmt: skip

    def metrics_request(self, query: str) -> ChatRequest:
        """The metrics model's request for the aspects of `query`."""
        r = self.rubric
        bounds = ({"min_aspects": str(r.min_aspects), "max_aspects": str(r.max_aspects)}
                  if r.bounds_in_prompt else {})  # fmt: skip
        prompt = render(r.metrics_prompt, query=query, aspect_list=aspect_list(ASPECTS),
                        aspect_names=", ".join(ASPECTS), **bounds)  # fmt: skip
        return ChatRequest.of(prompt, temperature=0.0,
                              max_tokens=METRICS_MAX_TOKENS + r.extra_metrics_tokens,
                              json_schema=metrics_schema(r.min_aspects, r.max_aspects))  # fmt: skip

    async def select_aspects(self, queries: Sequence[str]) -> dict[str, AspectSelection | str]:
        """The aspects of each query: from the cache, else asked (an error text when the
        metrics model could not give a valid selection)."""
        r = self.rubric
        out: dict[str, AspectSelection | str] = {}
        todo = []
        for query in dict.fromkeys(queries):
            cached = self.cache.get(query, min_aspects=r.min_aspects, max_aspects=r.max_aspects)
            if cached is not None:
                out[query] = cached
            else:
                todo.append(query)
        if not todo:
            return out
        requests = [self.metrics_request(q) for q in todo]
        answers = await self.metrics.agenerate_json(requests, parse=self._parse)
        for query, (answer,) in zip(todo, answers):
            if answer.ok:
                raw, selection = answer.value
                self.cache.put(query, raw)
                out[query] = selection
                log.info("aspects for query %r: %s", query[:80], ", ".join(selection.aspects))
            else:
                out[query] = f"the metrics model gave no usable aspect selection: {answer.error}"
                log.warning("no aspects for query %r: %s", query[:80], answer.error)
        self.cache.save()
        return out

    def judge_request(self, query: str, output: str, selection: AspectSelection) -> ChatRequest:
        """The judge's request to score `output` to `query` on the selected aspects."""
        aspects = selection.aspects
        prompt = render(
            self.rubric.judge_prompt,
            query=query,
            output=output,
            aspect_list=aspect_list(aspects),
            aspect_reasoning=selection.reasoning or "(none given)",
            aspect_count=str(len(aspects)),
            aspect_names=", ".join(f'"{a}"' for a in aspects),
        )
        return ChatRequest.of(prompt, temperature=0.0, max_tokens=judge_max_tokens(aspects),
                              json_schema=judge_schema(aspects))  # fmt: skip

    async def judge_answers(
        self, items: Sequence[tuple[str, str, AspectSelection]]
    ) -> list[Evaluation | str]:
        """Scores for (query, output, selection) triples; an error text where the judge gave
        no usable evaluation after its re-asks."""
        requests = [self.judge_request(q, o, s) for q, o, s in items]
        parsers = [_evaluation_parser(s.aspects) for _, _, s in items]
        answers = await self.judge.agenerate_json(requests, parse=parsers)
        return [answer.value if answer.ok else answer.error for (answer,) in answers]


def _evaluation_parser(aspects: tuple[str, ...]) -> Any:
    def parse(value: Any) -> Evaluation:
        return parse_evaluation(value, aspects)

    return parse
