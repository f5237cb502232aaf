"""A backend that never calls a model: `--offline` runs answer every call from the cache, and
a call the cache does not hold is an error naming it (never a made-up answer)."""

from __future__ import annotations

from collections.abc import Sequence

from drpo.llm.backend import Backend, BackendCall, BackendResult, OnResult
from drpo.llm.types import LLMError


class CacheOnlyBackend(Backend):
    """Stands in for `kind`'s model `model` (the name its answers are cached under)."""

    kind = "offline"

    def __init__(self, model: str, *, stands_for: str) -> None:
        super().__init__(model)
        self.stands_for = stands_for

    def describe(self) -> str:
        return f"the cached answers of {self.stands_for} model {self.model!r} (offline)"

    async def agenerate(
        self, calls: Sequence[BackendCall], on_result: OnResult | None = None
    ) -> list[BackendResult | Exception]:
        if not calls:
            return []
        call = calls[0]
        asked = call.request.excerpt(60)
        raise LLMError(
            f"offline: {len(calls)} call(s) to {self.stands_for} model {self.model!r} are not "
            f"in the cache (sample {call.first_sample} of the {call.request.kind} request "
            f"{asked!r}...); run "
            "without --offline, or point --cache_path at the run's llm_cache.sqlite"
        )
