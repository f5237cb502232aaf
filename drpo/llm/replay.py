"""Record and replay of a model's answers (for tests over a real model's cached answers).

`Recording(backend)` passes calls through and keeps every sample it got; `Replay(records)`
answers from them and fails, naming the request, on one it has no answer for: a changed
meta-prompt must be recorded again from the real model, never silently made up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from drpo.llm.backend import Backend, BackendCall, BackendResult, OnResult
from drpo.llm.cache import request_key
from drpo.llm.types import LLMError


class Recording(Backend):
    """`backend`, with every answer kept by cache key (`records`)."""

    def __init__(self, backend: Backend) -> None:
        super().__init__(backend.model)
        self.inner, self.kind = backend, backend.kind
        self.records: dict[str, dict[str, Any]] = {}

    async def agenerate(
        self, calls: Sequence[BackendCall], on_result: OnResult | None = None
    ) -> list[BackendResult | Exception]:
        results = await self.inner.agenerate(calls, on_result)
        for call, result in zip(calls, results):
            if isinstance(result, BackendResult):
                for j, (text, reason) in enumerate(zip(result.texts, result.finish_reasons)):
                    key = request_key(self.model, call.request, call.first_sample + j)
                    start = call.request.excerpt(80)
                    self.records[key] = {"text": text, "finish_reason": reason,
                                         "prompt_start": start}  # fmt: skip
        return results

    def save(self, path: str | Path, *, about: Mapping[str, Any]) -> None:
        data = {"about": dict(about), "answers": dict(sorted(self.records.items()))}
        Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", "utf-8")

    async def aclose(self) -> None:
        await self.inner.aclose()


class Replay(Backend):
    """Answers recorded from `model` (a file written by `Recording.save`)."""

    kind = "replay"

    def __init__(self, path: str | Path) -> None:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        super().__init__(data["about"]["model"])
        self.about, self.answers = data["about"], data["answers"]

    def describe(self) -> str:
        return f"recorded answers of {self.model!r}"

    async def agenerate(
        self, calls: Sequence[BackendCall], on_result: OnResult | None = None
    ) -> list[BackendResult | Exception]:
        out: list[BackendResult | Exception] = []
        for index, call in enumerate(calls):
            keys = [request_key(self.model, call.request, call.first_sample + j)
                    for j in range(call.count)]  # fmt: skip
            missing = [k for k in keys if k not in self.answers]
            if missing:
                start = call.request.excerpt(60)
                out.append(LLMError(f"no recorded answer for the request {start!r}...: record "
                                    "the real model's answers again"))  # fmt: skip
                continue
            found = [self.answers[k] for k in keys]
            result = BackendResult(tuple(f["text"] for f in found),
                                   tuple(f["finish_reason"] for f in found), 0, 0)  # fmt: skip
            if on_result is not None:
                on_result(index, result)
            out.append(result)
        return out
