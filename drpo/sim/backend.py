"""The simulated LLM in process: no network, no weights, deterministic for a seed.

Importing this module registers it as the LLM layer's `sim` backend (drpo.llm.roles
.register_backend): the LLM layer knows no simulator; the run plumbing (drpo.run_context)
and `drpo.sim` import it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from drpo.llm.backend import Backend, BackendCall, BackendResult, OnResult
from drpo.llm.roles import RoleSettings, register_backend
from drpo.sim.model import SimulatedLLM


class SimBackend(Backend):
    """Answers from `drpo.sim.SimulatedLLM`; the same answers its HTTP server gives."""

    kind = "sim"

    def __init__(
        self, model: str = "sim", *, seed: int = 0, knowledge: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(model)
        self.sim = SimulatedLLM(seed=seed, knowledge=knowledge)

    def describe(self) -> str:
        return f"simulated model {self.model!r} (in process)"

    async def agenerate(
        self, calls: Sequence[BackendCall], on_result: OnResult | None = None
    ) -> list[BackendResult | Exception]:
        results = []
        for call in calls:
            request = call.request
            answers = [
                self.sim.complete(
                    request.messages,
                    temperature=request.temperature,
                    max_tokens=request.max_tokens,
                    stop=request.stop,
                    sample=call.first_sample + j,
                )
                for j in range(call.count)
            ]
            result = BackendResult(
                texts=tuple(a.text for a in answers),
                finish_reasons=tuple(a.finish_reason for a in answers),
                prompt_tokens=answers[0].prompt_tokens,
                completion_tokens=sum(a.completion_tokens for a in answers),
            )
            if on_result is not None:
                on_result(len(results), result)
            results.append(result)
        return results


def _make(settings: RoleSettings) -> SimBackend:
    return SimBackend(settings.model, seed=settings.seed, knowledge=settings.knowledge)


register_backend("sim", _make)
