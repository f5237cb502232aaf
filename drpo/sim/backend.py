"""The simulated LLM in process: no network, no weights, deterministic for a seed.

Importing this module registers it as the LLM layer's `sim` backend (drpo.llm.roles
.register_backend): the LLM layer knows no simulator; the run plumbing (drpo.run_context)
and `drpo.sim` import it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from drpo.llm.backend import Backend, BackendCall, BackendResult, OnResult
from drpo.llm.roles import RoleSettings, register_backend
from drpo.llm.types import ChatRequest, LLMCallError
from drpo.sim.model import ChatTemplateError, SimulatedLLM

#: A simulated model whose name ends so plays a base model: it has no chat template and
#: refuses chat requests (as vLLM does for such a model); it takes plain text.
BASE_SUFFIX = "-base"


class SimBackend(Backend):
    """Answers from `drpo.sim.SimulatedLLM`; the same answers its HTTP server gives."""

    kind = "sim"

    def __init__(
        self, model: str = "sim", *, seed: int = 0, knowledge: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(model)
        self.sim = SimulatedLLM(
            seed=seed, knowledge=knowledge, chat_template=not model.endswith(BASE_SUFFIX)
        )

    def describe(self) -> str:
        return f"simulated model {self.model!r} (in process)"

    def has_chat_template(self) -> bool:
        return self.sim.chat_template

    async def agenerate(
        self, calls: Sequence[BackendCall], on_result: OnResult | None = None
    ) -> list[BackendResult | Exception]:
        results: list[BackendResult | Exception] = []
        for call in calls:
            request = call.request
            settings = {"temperature": request.temperature, "max_tokens": request.max_tokens,
                        "stop": request.stop}  # fmt: skip
            try:
                answers = [
                    self.sim.complete(request.messages, sample=call.first_sample + j, **settings)
                    if isinstance(request, ChatRequest)
                    else self.sim.complete_text(
                        request.prompt, sample=call.first_sample + j, **settings
                    )
                    for j in range(call.count)
                ]
            except ChatTemplateError as exc:
                results.append(LLMCallError(f"{self.describe()} refused the request: {exc}"))
                continue
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
