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
from collections.abc import Sequence

from drpo.llm import LLM, Request
from drpo.methods.drpo.aspect_judge import REWARD_RUBRIC, AspectJudge, MetricsCache
from drpo.methods.drpo.base_prompt import BasePrompt
from drpo.methods.drpo.state import Step
from drpo.retrieval import Retriever

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


class DynamicReward(AspectJudge):
    """Evaluates (system prompt, query) pairs; see the module docstring. The base model is
    asked as `base_prompt` says (its format, answer limit and stops); its answers are judged
    under the reward's rubric (`REWARD_RUBRIC`)."""

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
        super().__init__(metrics=metrics, judge=judge, cache=metrics_cache, rubric=REWARD_RUBRIC)
        self.base = base
        self.examples = examples
        self.base_prompt = base_prompt or BasePrompt()

    # ---- the pieces --------------------------------------------------------------------
    def base_request(self, system_prompt: str, query: str) -> tuple[Request, tuple[str, ...]]:
        """The base model's request for `query`, and the example queries it shows."""
        shown = self.examples.for_query(query)
        request = self.base_prompt.request(system_prompt, shown, query)
        return request, tuple(q for q, _ in shown)

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
