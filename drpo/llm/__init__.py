"""The LLM layer: two request kinds (chat, and plain-text completion for base models), one
protocol, many backends (openai-compatible, vLLM, simulated), and what
every call goes through (cache, budget, retries, usage, JSON extraction).

Nothing heavy is imported here: `openai` loads when an OpenAI backend first sends a request,
`vllm` when a vLLM engine is first needed.
"""

from drpo.llm.backend import Backend, BackendCall, BackendResult
from drpo.llm.cache import LLMCache, request_key
from drpo.llm.client import LLM, JSONAnswer
from drpo.llm.json_output import JSONOutputError, TruncatedJSONError, extract_json, require_keys
from drpo.llm.roles import BACKENDS, BackendPool, RoleSettings, make_backend, make_llms
from drpo.llm.types import (
    BudgetExceeded,
    ChatRequest,
    Completion,
    CompletionRequest,
    LLMConfigError,
    LLMError,
    Request,
)
from drpo.llm.usage import DEFAULT_PRICES, Price, PriceTable, SearchBudget, Spend, UsageTracker

__all__ = [
    "BACKENDS",
    "DEFAULT_PRICES",
    "LLM",
    "Backend",
    "BackendCall",
    "BackendPool",
    "BackendResult",
    "BudgetExceeded",
    "ChatRequest",
    "Completion",
    "CompletionRequest",
    "JSONAnswer",
    "JSONOutputError",
    "LLMCache",
    "LLMConfigError",
    "LLMError",
    "Price",
    "PriceTable",
    "Request",
    "RoleSettings",
    "SearchBudget",
    "Spend",
    "TruncatedJSONError",
    "UsageTracker",
    "extract_json",
    "require_keys",
    "make_backend",
    "make_llms",
    "request_key",
]
