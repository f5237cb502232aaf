"""How DRPO's base model is asked, in one place: the request for a query under a system
prompt and in-context examples, in either prompt format; the answer cleaned of the markers;
and which format a model gets. The search and the aligned model (`answer`, `serve`) use it.

The layout is the reference's (Singla et al.'s DRPO code): the instructions, the examples as
query/answer blocks with each answer between ``<START>`` and ``<END>``, then the query, its
answer opened with ``<START>`` for the model to continue::

    # Instructions

    {system prompt}

    # Query:
    {example query}

    # Answer:
    <START>
    {example answer}
    <END>

    # Query:
    {query}

    # Answer:
    <START>

- ``completion``: all of it is one plain-text prompt (a base model has no chat template);
- ``chat``: the instructions and the examples are the system message, and the last block,
  from ``# Query:`` to ``<START>``, the user message (an instruct model).

An answer ends at ``<END>``, at ``<END`` (a marker cut short), at the model's end-of-turn
token, or at a ``# Query:`` of the model's own (a base model that skips the end marker and
carries on with the next query); a leading ``<START>`` is stripped. Example answers may
carry their markers already (the released example file's do): they are written once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drpo.llm import LLM, ChatRequest, LLMConfigError, RoleSettings
from drpo.llm._loop import run_sync
from drpo.llm.gguf import gguf_has_chat_template
from drpo.llm.types import CompletionRequest, Request
from drpo.sim.backend import BASE_SUFFIX

log = logging.getLogger("drpo")

#: What --base_prompt_format takes; "auto" is decided per model (`choose_format`).
FORMATS = ("auto", "completion", "chat")
#: The formats a request is built in.
PROMPT_FORMATS = ("completion", "chat")
START, END = "<START>", "<END>"
#: The reference's answer limit for the base model, in tokens.
BASE_MAX_TOKENS = 2048
#: The reference's end-of-turn stop (Llama 3's), for models of no family we know.
DEFAULT_END_OF_TURN = "<|eot_id|>"
#: The end-of-turn token of each model family, by a word of the model's name.
END_OF_TURN = (
    ("gemma", "<end_of_turn>"),
    ("llama-3", "<|eot_id|>"),
    ("llama3", "<|eot_id|>"),
    ("qwen", "<|im_end|>"),
    ("smollm", "<|im_end|>"),
    ("mistral", "</s>"),
    ("llama-2", "</s>"),
    ("llama2", "</s>"),
)
#: Where a base model that skipped the end marker starts a query of its own.
RUN_ON = "\n# Query:"
#: Pretrained models with no chat template, by the last part of their name (lower case):
#: the paper's base models, their smaller siblings, and OpenAI's completion-only models.
KNOWN_BASE_MODELS = frozenset({
    "mistral-7b-v0.1", "mistral-7b-v0.3", "llama-2-7b-hf", "llama-2-13b-hf", "llama-2-70b-hf",
    "llama2-7b", "llama2-70b", "meta-llama-3-8b", "meta-llama-3-70b", "llama3-8b",
    "llama-3.1-8b", "llama-3.1-70b", "meta-llama-3.1-8b", "meta-llama-3.1-70b",
    "gemma-3-270m", "gemma-3-1b-pt", "gemma-2-2b", "gemma-2b", "gemma-7b",
    "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-7b", "gpt2", "davinci-002", "babbage-002",
    "gpt-3.5-turbo-instruct",
})  # fmt: skip

_TEMPLATE_SYSTEM = "# Instructions\n\n{system_prompt}"
_TEMPLATE_EXAMPLE = "# Query:\n{query}\n\n# Answer:\n" + START + "\n{answer}\n" + END
_TEMPLATE_QUERY = "# Query:\n{query}\n\n# Answer:\n" + START


def end_of_turn(model_name: str) -> str:
    """The end-of-turn token of the model's family (the reference's, Llama 3's, if none)."""
    name = Path(model_name).name.lower()
    return next((token for word, token in END_OF_TURN if word in name), DEFAULT_END_OF_TURN)


def is_known_base_model(model_name: str) -> bool:
    """Whether the model is a pretrained one we know to have no chat template."""
    return Path(model_name.rstrip("/")).name.lower() in KNOWN_BASE_MODELS


def example_answer(answer: str) -> str:
    """An example answer without the markers it may already carry (written once, later)."""
    text = answer.strip()
    text = text.removeprefix(START).lstrip()
    text = re.sub(r"\s*<END>?\s*$", "", text)
    return text.strip()


def render_examples(examples: Sequence[tuple[str, str]]) -> str:
    """The examples as query/answer blocks, each answer between the markers once."""
    return "\n\n".join(
        _TEMPLATE_EXAMPLE.format(query=q.strip(), answer=example_answer(a)) for q, a in examples
    )


def render_context(system_prompt: str, examples: Sequence[tuple[str, str]]) -> str:
    """What precedes the query: the instructions and the examples (chat: the system message)."""
    parts = [_TEMPLATE_SYSTEM.format(system_prompt=system_prompt.strip())]
    if examples:
        parts.append(render_examples(examples))
    return "\n\n".join(parts)


def render_query(query: str) -> str:
    """The query's block, its answer opened (chat: the user message)."""
    return _TEMPLATE_QUERY.format(query=query.strip())


def render_document(system_prompt: str, examples: Sequence[tuple[str, str]], query: str) -> str:
    """The whole plain-text prompt of the completion format."""
    return render_context(system_prompt, examples) + "\n\n" + render_query(query)


def clean_answer(text: str, *, end_of_turn_token: str = DEFAULT_END_OF_TURN) -> str:
    """The answer a model wrote, without the layout around it: cut at the first end marker,
    end-of-turn token or query of its own, and stripped of a leading start marker."""
    marks = ("<END", end_of_turn_token, RUN_ON)
    cuts = [i for i in (text.find(m) for m in marks if m) if i >= 0]
    if cuts:
        text = text[: min(cuts)]
    text = text.strip()
    while text.startswith(START):
        text = text.removeprefix(START).strip()
    return text


@dataclass(frozen=True)
class BasePrompt:
    """How the base model is asked: the format (``completion`` or ``chat``), the answer limit,
    the sampling temperature and the model's end-of-turn token (a stop)."""

    format: str = "chat"
    max_tokens: int = BASE_MAX_TOKENS
    temperature: float = 0.0
    end_of_turn: str = DEFAULT_END_OF_TURN

    def __post_init__(self) -> None:
        if self.format not in PROMPT_FORMATS:
            raise ValueError(f"unknown base prompt format {self.format!r}; use completion or chat")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")

    @classmethod
    def for_model(cls, prompt_format: str, model_name: str, **settings: Any) -> BasePrompt:
        """The base prompt for a model, its end-of-turn token found from its name."""
        return cls(prompt_format, end_of_turn=end_of_turn(model_name), **settings)

    @property
    def stops(self) -> tuple[str, ...]:
        """What ends an answer: the reference's three stops, and a query of the model's own."""
        return tuple(s for s in (END, "<END", self.end_of_turn, RUN_ON) if s)

    def request(
        self,
        system_prompt: str,
        examples: Sequence[tuple[str, str]],
        query: str,
        *,
        n: int = 1,
        temperature: float | None = None,
    ) -> Request:
        """The request for `query` under `system_prompt` and the in-context `examples`
        ((query, answer) pairs, markers or not), in this prompt's format."""
        settings: dict[str, Any] = {
            "temperature": self.temperature if temperature is None else temperature,
            "max_tokens": self.max_tokens,
            "stop": self.stops,
            "n": n,
        }
        if self.format == "completion":
            return CompletionRequest(render_document(system_prompt, examples, query), **settings)
        return ChatRequest.of(
            render_query(query), system=render_context(system_prompt, examples), **settings
        )

    def clean(self, text: str) -> str:
        """The answer without its markers (see `clean_answer`)."""
        return clean_answer(text, end_of_turn_token=self.end_of_turn)

    def to_json(self) -> dict[str, Any]:
        """The settings and the layout, for a run's artefacts (aligned_model.json)."""
        return {
            "format": self.format,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "end_of_turn": self.end_of_turn,
            "stop": list(self.stops),
            "template": render_document("{system_prompt}", [("{example_query}",
                                        "{example_answer}")], "{query}"),
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BasePrompt:
        """The base prompt `to_json` wrote (ValueError when it is not one)."""
        try:
            return cls(
                str(data["format"]),
                max_tokens=int(data["max_tokens"]),
                temperature=float(data.get("temperature", 0.0)),
                end_of_turn=str(data.get("end_of_turn", DEFAULT_END_OF_TURN)),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a base prompt's settings: {exc}") from None


@dataclass(frozen=True)
class FormatChoice:
    """The prompt format the base model got, what was asked for, and why."""

    format: str
    asked: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"format": self.format, "asked": self.asked, "reason": self.reason}

    def describe(self) -> str:
        return f"{self.format} ({self.reason})"


def choose_format(asked: str, *, role: RoleSettings, llm: LLM | None = None) -> FormatChoice:
    """The base model's prompt format. ``chat`` and ``completion`` are taken as given;
    ``auto`` is ``completion`` for a model with no chat template (a simulated base model, a
    GGUF without ``tokenizer.chat_template``, a known base model, a server or vLLM engine
    that refuses chat) and ``chat`` for the others. LLMConfigError for an unknown format,
    or when an offline run cannot tell."""
    if asked not in FORMATS:
        raise LLMConfigError(
            f"unknown --base_prompt_format {asked!r}; choose from {', '.join(FORMATS)}"
        )
    if asked != "auto":
        return FormatChoice(asked, asked, "asked for")

    def pick(has_template: bool, why: str) -> FormatChoice:
        return FormatChoice("chat" if has_template else "completion", asked, why)

    name = role.model_name
    if role.backend == "sim":
        base = name.endswith(BASE_SUFFIX)
        return pick(not base, "a simulated base model" if base else "a simulated chat model")
    if role.backend == "llamacpp" and Path(role.model).is_file():
        has = gguf_has_chat_template(role.model)
        return pick(has, "the GGUF has a chat template" if has else "the GGUF has no chat template")
    if is_known_base_model(name):
        return pick(False, "a known base model")
    if role.offline or llm is None:
        raise LLMConfigError(
            f"cannot tell whether {name!r} has a chat template without asking it; pass "
            "--base_prompt_format chat or completion (a run's summary.json says which it got)"
        )
    has = run_sync(llm.accepts_chat())
    return pick(has, "the model takes chat requests" if has else "the model refuses chat")
