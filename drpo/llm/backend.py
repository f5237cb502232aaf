"""The backend protocol: how a role's requests reach a model."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from drpo.llm.types import Request


@dataclass(frozen=True)
class BackendCall:
    """Ask for `count` samples of `request`, numbered from `first_sample` on.

    The sample numbers keep the cache honest: after a crash, the samples still missing are
    asked for by number, and a backend that can (the simulated LLM, seeded servers) returns
    those samples rather than repeats of the first ones.
    """

    request: Request  # a chat or a plain-text completion request
    count: int
    first_sample: int = 0


@dataclass(frozen=True)
class BackendResult:
    """The samples of one call, and what every attempt at it cost: the tokens the server
    reported (of failed and retried attempts too), the attempts made, and those whose tokens
    the server never reported (timeouts, dropped connections)."""

    texts: tuple[str, ...]
    finish_reasons: tuple[str, ...]
    prompt_tokens: int
    completion_tokens: int
    attempts: int = 1
    unmetered: int = 0


OnResult = Callable[[int, BackendResult], None]


class Backend(ABC):
    """A model behind one protocol. `agenerate` answers a batch of calls, in order; a batch
    may mix chat and plain-text completion requests."""

    #: "openai", "llamacpp", "vllm" or "sim"
    kind: str = ""
    #: What the backend learnt about its server (structured output mode, short n, retries),
    #: for usage.json; one dict per backend.
    notes: dict[str, Any]

    def __init__(self, model: str) -> None:
        if not model:
            raise ValueError("a backend needs a model name")
        self.model = model
        self.notes = {}

    @abstractmethod
    async def agenerate(
        self, calls: Sequence[BackendCall], on_result: OnResult | None = None
    ) -> list[BackendResult | Exception]:
        """Answer every call, in order. A call that failed is an `LLMError` (naming the model
        and where it runs) in its place, so that the answers already paid for are kept; a
        backend that fails as a whole may raise instead. `on_result(index, result)` is called
        as each answer arrives, so that a crash mid-batch loses none that arrived."""

    def has_chat_template(self) -> bool | None:
        """Whether the model has a chat template (and so takes chat requests), where the
        backend can tell without asking the model: None when it cannot."""
        return None

    def describe(self) -> str:
        """Where the model runs, for error messages (never a key)."""
        return f"{self.kind} model {self.model!r}"

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
