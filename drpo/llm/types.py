"""What goes into an LLM call and what comes out of it."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

MessagesLike = Union[str, Sequence[Mapping[str, str]], Sequence[tuple[str, str]]]


class LLMError(Exception):
    """A call to an LLM failed; the message names the role, the model and where it runs."""


class LLMCallError(LLMError):
    """A call that failed after every attempt, with what its attempts cost: the tokens the
    server reported, and the attempts whose tokens it never reported (timeouts, dropped
    connections), so that usage and the budget count them too."""

    def __init__(
        self, message: str, *, prompt_tokens: int = 0, completion_tokens: int = 0,
        attempts: int = 1, unmetered: int = 0,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.prompt_tokens, self.completion_tokens = prompt_tokens, completion_tokens
        self.attempts, self.unmetered = attempts, unmetered


class LLMConfigError(LLMError, ValueError):
    """A role's LLM settings cannot work (unknown backend, bad URL, missing key, ...)."""


class BudgetExceeded(LLMError):  # noqa: N818 - a condition, not a fault
    """Sending the next calls could spend more than the run's budget; nothing was sent."""


def _messages(messages: MessagesLike) -> tuple[tuple[str, str], ...]:
    if isinstance(messages, str):
        return (("user", messages),)
    out = []
    for message in messages:
        if isinstance(message, Mapping):
            role, content = message.get("role"), message.get("content")
        else:
            role, content = message
        if role not in ("system", "user", "assistant") or not isinstance(content, str):
            raise ValueError(f"a chat message needs a role and text content; got {message!r}")
        out.append((role, content))
    if not out:
        raise ValueError("a chat request needs at least one message")
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class Sampling(ABC):
    """The sampling settings every request kind carries.

    ``n`` samples are returned; at ``temperature > 0`` they differ, and each is cached under
    its own sample index. ``cache=False`` skips the cache for this request (the result is not
    stored either). ``stop`` ends an answer before the first of its strings (which is not
    part of the answer).
    """

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    cache: bool = True
    frequency_penalty: float = 0.0  # > 0 discourages repeating tokens (small models loop)

    #: "chat" (messages) or "completion" (plain text)
    kind: ClassVar[str] = ""

    def _check_sampling(self) -> None:
        object.__setattr__(self, "stop", tuple(self.stop))
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be in [0, 2], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if not -2.0 <= self.frequency_penalty <= 2.0:
            raise ValueError(f"frequency_penalty must be in [-2, 2], got {self.frequency_penalty}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")

    @abstractmethod
    def prompt_chars(self) -> int:
        """The length of what the model reads, in characters (for budget estimates)."""

    @abstractmethod
    def excerpt(self, chars: int = 60) -> str:
        """A short, one-line excerpt of the request, for error messages: the start of the
        last chat message, or the end of a plain-text prompt (where its question is)."""


@dataclass(frozen=True)
class ChatRequest(Sampling):
    """One chat completion request: the conversation and its sampling settings.

    ``json_mode`` asks the server for a JSON object where it supports that; ``json_schema``
    (a JSON Schema, given as a dict and kept as canonical JSON text) asks for an answer
    within that schema, and implies ``json_mode``.
    """

    messages: tuple[tuple[str, str], ...]
    json_mode: bool = False
    json_schema: str | Mapping[str, Any] | None = None  # kept as canonical JSON text

    kind: ClassVar[str] = "chat"

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", _messages(self.messages))
        if self.json_schema is not None:
            schema = self.json_schema
            if isinstance(schema, str):
                schema = json.loads(schema)
            if not isinstance(schema, Mapping):
                raise ValueError("json_schema must be a JSON Schema object")
            text = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            object.__setattr__(self, "json_schema", text)
            object.__setattr__(self, "json_mode", True)
        self._check_sampling()

    @classmethod
    def of(
        cls, messages: MessagesLike, *, system: str | None = None, **settings: Any
    ) -> ChatRequest:
        """A request from a string or a list of messages, with an optional system message."""
        msgs = _messages(messages)
        if system is not None:
            msgs = (("system", system), *msgs)
        return cls(msgs, **settings)

    @property
    def schema(self) -> dict[str, Any] | None:
        """The JSON Schema asked for, as a dict (None for none)."""
        return json.loads(self.json_schema) if self.json_schema is not None else None

    def openai_messages(self) -> list[dict[str, str]]:
        """The messages as the OpenAI API takes them."""
        return [{"role": role, "content": content} for role, content in self.messages]

    def prompt_chars(self) -> int:
        return sum(len(content) for _, content in self.messages)

    def excerpt(self, chars: int = 60) -> str:
        return self.messages[-1][1][:chars].replace("\n", " ")


@dataclass(frozen=True)
class CompletionRequest(Sampling):
    """One plain-text completion request: the model continues `prompt` as it stands, with no
    chat template around it (how base models, which have none, are asked; OpenAI's
    ``/v1/completions``, vLLM's ``LLM.generate``)."""

    prompt: str

    kind: ClassVar[str] = "completion"

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str) or not self.prompt:
            raise ValueError("a completion request needs a non-empty text prompt")
        self._check_sampling()

    def prompt_chars(self) -> int:
        return len(self.prompt)

    def excerpt(self, chars: int = 60) -> str:
        return "..." + self.prompt[-chars:].replace("\n", " ")


#: Either request kind.
Request = Union[ChatRequest, CompletionRequest]


@dataclass(frozen=True)
class Completion:
    """The answer to one request: ``n`` texts, with why each stopped, and what it cost.

    ``prompt_tokens`` and ``completion_tokens`` count what was paid for this request (zero
    for the samples that came from the cache); ``cached`` says which samples did.
    """

    texts: tuple[str, ...]
    finish_reasons: tuple[str, ...]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: tuple[bool, ...] = field(default=())

    @property
    def text(self) -> str:
        """The first sample."""
        return self.texts[0]

    @property
    def truncated(self) -> tuple[bool, ...]:
        """Which samples stopped at the token limit."""
        return tuple(reason == "length" for reason in self.finish_reasons)
