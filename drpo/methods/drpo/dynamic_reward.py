"""DRPO's dynamic reward: per query, a metrics model picks the aspects that matter, the base
model answers under the candidate system prompt, and a judge scores the answer on exactly
those aspects; the reward is the mean score.

A whole frontier is evaluated at once: the aspect selections of new queries and the base
model's answers go out together, then all the judge calls.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from drpo.llm import LLM, ChatRequest, Request
from drpo.methods.drpo.aspects import (
    ASPECTS,
    AspectSelection,
    Evaluation,
    parse_evaluation,
    parse_selection,
)
from drpo.methods.drpo.base_prompt import BasePrompt
from drpo.methods.drpo.prompts import render
from drpo.methods.drpo.schemas import (
    METRICS_MAX_TOKENS,
    METRICS_SCHEMA,
    judge_max_tokens,
    judge_schema,
)
from drpo.methods.drpo.state import Step
from drpo.retrieval import Retriever
from search.artifacts import write_atomic

log = logging.getLogger("drpo")


class ExampleSource:
    """The in-context examples for a query: the `k` nearest ones from a retriever over the
    example set (``ret_icl``), or the whole fixed set."""

    def __init__(self, examples: dict[str, str], *, k: int, retriever: Retriever | None) -> None:
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        self.examples = examples
        self.k = k
        self.retriever = retriever

    def for_query(self, query: str) -> list[tuple[str, str]]:
        if self.retriever is None:
            return list(self.examples.items())
        return [(q, self.examples[q]) for q, _ in self.retriever.top_k(query, self.k)]


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

    def get(self, query: str) -> AspectSelection | None:
        value = self.raw.get(query)
        if isinstance(value, str):
            value = json.loads(value)
        try:
            return parse_selection(value) if value is not None else None
        except ValueError as exc:
            log.warning("ignoring the cached aspect selection of a query: %s", exc)
            return None

    def put(self, query: str, value: Any) -> None:
        self.raw[query] = value

    def save(self) -> None:
        if self.path is not None:
            text = json.dumps(self.raw, indent=2, ensure_ascii=False)
            write_atomic(self.path, text.encode("utf-8"))


def aspect_list(aspects: Sequence[str]) -> str:
    return "\n".join(f"- {name}: {ASPECTS[name]}" for name in aspects)


class DynamicReward:
    """Evaluates (system prompt, query) pairs; see the module docstring. The base model is
    asked as `base_prompt` says (its format, answer limit and stops)."""

    def __init__(
        self,
        *,
        base: LLM,
        metrics: LLM,
        judge: LLM,
        examples: ExampleSource,
        metrics_cache: MetricsCache,
        base_prompt: BasePrompt | None = None,
    ) -> None:
        self.base, self.metrics, self.judge = base, metrics, judge
        self.examples = examples
        self.metrics_cache = metrics_cache
        self.base_prompt = base_prompt or BasePrompt()

    # ---- the pieces --------------------------------------------------------------------
    def base_request(self, system_prompt: str, query: str) -> tuple[Request, tuple[str, ...]]:
        """The base model's request for `query`, and the example queries it shows."""
        shown = self.examples.for_query(query)
        request = self.base_prompt.request(system_prompt, shown, query)
        return request, tuple(q for q, _ in shown)

    async def select_aspects(self, queries: Sequence[str]) -> dict[str, AspectSelection | str]:
        """The aspects of each query: from the metrics cache, else asked (an error text when
        the metrics model could not give a valid selection)."""
        out: dict[str, AspectSelection | str] = {}
        todo = []
        for query in dict.fromkeys(queries):
            cached = self.metrics_cache.get(query)
            if cached is not None:
                out[query] = cached
            else:
                todo.append(query)
        if not todo:
            return out
        requests = [
            ChatRequest.of(
                render(
                    "metrics",
                    query=q,
                    aspect_list=aspect_list(ASPECTS),
                    aspect_names=", ".join(ASPECTS),
                ),
                temperature=0.0,
                max_tokens=METRICS_MAX_TOKENS,
                json_schema=METRICS_SCHEMA,
            )
            for q in todo
        ]
        answers = await self.metrics.agenerate_json(requests, parse=_checked(parse_selection))
        for query, (answer,) in zip(todo, answers):
            if answer.ok:
                raw, selection = answer.value
                self.metrics_cache.put(query, raw)
                out[query] = selection
                log.info("aspects for query %r: %s", query[:80], ", ".join(selection.aspects))
            else:
                out[query] = f"the metrics model gave no usable aspect selection: {answer.error}"
                log.warning("no aspects for query %r: %s", query[:80], answer.error)
        self.metrics_cache.save()
        return out

    def judge_request(self, query: str, output: str, selection: AspectSelection) -> ChatRequest:
        aspects = selection.aspects
        prompt = render(
            "judge",
            query=query,
            output=output,
            aspect_list=aspect_list(aspects),
            aspect_reasoning=selection.reasoning or "(none given)",
            aspect_count=str(len(aspects)),
            aspect_names=", ".join(f'"{a}"' for a in aspects),
        )
        return ChatRequest.of(
            prompt,
            temperature=0.0,
            max_tokens=judge_max_tokens(aspects),
            json_schema=judge_schema(aspects),
        )

    async def judge_answers(
        self, items: Sequence[tuple[str, str, AspectSelection]]
    ) -> list[Evaluation | str]:
        """Scores for (query, output, selection) triples; an error text where the judge gave
        no usable evaluation after its re-asks."""
        requests = [self.judge_request(q, o, s) for q, o, s in items]
        parsers = [_evaluation_parser(s.aspects) for _, _, s in items]
        answers = await self.judge.agenerate_json(requests, parse=parsers)
        return [answer.value if answer.ok else answer.error for (answer,) in answers]

    # ---- a frontier --------------------------------------------------------------------
    async def evaluate(self, items: Sequence[tuple[str, str]]) -> list[Step]:
        """Steps for (system prompt, query) pairs, all evaluated together."""
        built = [self.base_request(prompt, query) for prompt, query in items]
        selections, completions = await asyncio.gather(
            self.select_aspects([q for _, q in items]),
            self.base.agenerate([request for request, _ in built]),
        )
        steps: list[Step | None] = [None] * len(items)
        to_judge = []
        for i, ((prompt, query), (_, shown), completion) in enumerate(
            zip(items, built, completions)
        ):
            output = self.base_prompt.clean(completion.text)
            log.info("base model output for query %r:\n%s", query[:80], output)
            selection = selections[query]
            if isinstance(selection, str):
                steps[i] = Step(prompt, query, shown, output, error=selection,
                                error_role="metrics")  # fmt: skip
            else:
                to_judge.append((i, prompt, query, shown, output, selection))
        evaluations = await self.judge_answers([(q, o, s) for _, _, q, _, o, s in to_judge])
        for (i, prompt, query, shown, output, selection), evaluation in zip(to_judge, evaluations):
            if isinstance(evaluation, str):
                reason = f"the judge gave no usable evaluation: {evaluation}"
                log.warning("step recorded with reward 0: %s", reason)
                steps[i] = Step(prompt, query, shown, output, selection.aspects,
                                selection.reasoning, error=reason, error_role="eval")  # fmt: skip
                continue
            steps[i] = Step(
                prompt, query, shown, output, selection.aspects, selection.reasoning,
                evaluation.scores, evaluation.rationales, evaluation.reward,
            )  # fmt: skip
            log.info(
                "evaluation of query %r: %s -> reward %.3f",
                query[:80],
                json.dumps(evaluation.scores),
                evaluation.reward,
            )
        return [s for s in steps if s is not None]


def _checked(parse: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, Any]]:
    """A parser that keeps the raw value beside the parsed one."""

    def both(value: Any) -> tuple[Any, Any]:
        return value, parse(value)

    return both


def _evaluation_parser(aspects: tuple[str, ...]) -> Callable[[Any], Evaluation]:
    def parse(value: Any) -> Evaluation:
        return parse_evaluation(value, aspects)

    return parse
