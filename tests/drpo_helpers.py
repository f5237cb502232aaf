"""Building DRPO pieces on the simulated LLM for tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drpo.llm import LLM, Backend, BackendCall, BackendResult, RoleSettings, make_llms
from drpo.methods.drpo.aspect_judge import MetricsCache
from drpo.methods.drpo.data import DEMO_DATA_DIR, ICL_EXAMPLES, load_examples
from drpo.methods.drpo.dynamic_reward import DynamicReward, ExampleSource
from drpo.methods.drpo.world import DRPOSearchConfig, DRPOWorld
from drpo.retrieval import HashingEmbedder, Retriever
from drpo.sim.backend import SimBackend


class RecordingSim(SimBackend):
    """The simulated LLM, recording the size of every batch it receives."""

    def __init__(self) -> None:
        super().__init__("sim")
        self.batches: list[int] = []

    async def agenerate(self, calls: Sequence[BackendCall], on_result: Any = None) -> list:
        self.batches.append(len(calls))
        return await super().agenerate(calls, on_result)


class Rewriting(Backend):
    """The simulated LLM with its answers rewritten by `rewrite(text)` (bad model output)."""

    kind = "sim"

    def __init__(self, rewrite: Any) -> None:
        super().__init__("sim")
        self.inner = SimBackend("sim")
        self.rewrite = rewrite

    async def agenerate(self, calls: Sequence[BackendCall], on_result: Any = None) -> list:
        results = await self.inner.agenerate(calls)
        out = [
            BackendResult(
                tuple(self.rewrite(t) for t in r.texts),
                r.finish_reasons,
                r.prompt_tokens,
                r.completion_tokens,
            )
            for r in results
        ]
        return out


def drpo_pieces(
    *,
    metrics: Backend | None = None,
    judge: Backend | None = None,
    base: Backend | None = None,
    optimizer: Backend | None = None,
) -> tuple[DRPOWorld, DRPOSearchConfig, dict[str, LLM]]:
    llms = make_llms({r: RoleSettings() for r in ("base", "metrics", "eval", "optimize")})
    roles = (("metrics", metrics), ("eval", judge), ("base", base), ("optimize", optimizer))
    for role, backend in roles:
        if backend is not None:
            llms[role] = LLM(backend, role=role, max_reasks=1)
    examples = load_examples(DEMO_DATA_DIR / ICL_EXAMPLES)
    reward = DynamicReward(
        base=llms["base"],
        metrics=llms["metrics"],
        judge=llms["eval"],
        examples=ExampleSource(
            examples, k=2, retriever=Retriever(list(examples), HashingEmbedder())
        ),
        metrics_cache=MetricsCache(None),
    )
    world = DRPOWorld(reward, initial_system_prompt="You are a helpful assistant.")
    return world, DRPOSearchConfig(llms["optimize"], n_actions=3), llms
