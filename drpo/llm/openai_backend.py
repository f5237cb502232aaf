"""OpenAI and every OpenAI-compatible server (vllm serve, llama.cpp, Ollama, SGLang, the
simulated LLM's server), through the official `openai` client.

Requests run concurrently up to a per-backend limit. Transient failures (408, 409, 429, 5xx,
timeouts, dropped connections, unreadable bodies) are retried with exponential backoff and
jitter, honouring Retry-After; anything else, or a failure that outlasts the retries, raises
`LLMError` naming the model and the server. A failed call never turns into an answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from drpo.llm._loop import submit
from drpo.llm.backend import Backend, BackendCall, BackendResult, OnResult
from drpo.llm.types import LLMConfigError, LLMError

OPENAI_URL = "https://api.openai.com/v1"
RETRYABLE_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))
#: Calls at once per openai client (and so per connection pool); more calls get more clients.
CONNECTIONS_PER_CLIENT = 16


def check_base_url(base_url: str) -> str:
    parsed = urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or " " in base_url:
        raise LLMConfigError(f"malformed base URL {base_url!r}: expected http(s)://host[:port]/v1")
    return base_url.rstrip("/")


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            return None  # an HTTP date: fall back to backoff
    return None


class OpenAIBackend(Backend):
    """An OpenAI-compatible chat completions endpoint.

    The API key comes from the environment variable `api_key_env` (never from a file or an
    argument that could be logged). The official endpoint needs one; a local server
    (another `base_url`) gets a placeholder when none is set, as `vllm serve` expects.
    """

    kind = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout_s: float = 120.0,
        max_retries: int = 6,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
    ) -> None:
        super().__init__(model)
        if concurrency < 1:
            raise LLMConfigError(f"concurrency must be >= 1, got {concurrency}")
        if timeout_s <= 0:
            raise LLMConfigError(f"timeout must be > 0 seconds, got {timeout_s}")
        if max_retries < 0:
            raise LLMConfigError(f"max_retries must be >= 0, got {max_retries}")
        self.base_url = check_base_url(base_url or OPENAI_URL)
        self.official = urlparse(self.base_url).netloc.endswith("api.openai.com")
        key = os.environ.get(api_key_env, "")
        if not key and self.official:
            raise LLMConfigError(
                f"{api_key_env} is not set: model {model!r} at {self.base_url} needs an API key"
            )
        self._api_key = key or "EMPTY"
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._clients: list[Any] = []
        self._turn = 0
        self._semaphore: asyncio.Semaphore | None = None
        self._jitter = random.Random()

    def describe(self) -> str:
        return f"model {self.model!r} at {self.base_url}"

    def _ensure_client(self) -> None:
        """The clients, made on first use: one per `CONNECTIONS_PER_CLIENT` calls at once,
        because a connection pool's work per request grows with its number of connections."""
        if not self._clients:
            import openai

            shards = -(-self.concurrency // CONNECTIONS_PER_CLIENT)
            plain = self.base_url.startswith("http://")  # no TLS: no certificates to load
            self._clients = [
                openai.AsyncOpenAI(
                    api_key=self._api_key,
                    base_url=self.base_url,
                    timeout=self.timeout_s,
                    max_retries=0,  # ours, below: with Retry-After, jitter and a clear error
                    http_client=openai.DefaultAsyncHttpxClient(verify=False) if plain else None,
                )
                for _ in range(shards)
            ]
            self._semaphore = asyncio.Semaphore(self.concurrency)

    def _next_client(self) -> Any:
        self._turn = (self._turn + 1) % len(self._clients)
        return self._clients[self._turn]

    async def agenerate(
        self, calls: Sequence[BackendCall], on_result: OnResult | None = None
    ) -> list[BackendResult | Exception]:
        self._ensure_client()

        async def one(index: int, call: BackendCall) -> BackendResult:
            result = await self._call(call)
            if on_result is not None:
                on_result(index, result)
            return result

        outcomes = await asyncio.gather(
            *(one(i, c) for i, c in enumerate(calls)), return_exceptions=True
        )
        for outcome in outcomes:  # only our own errors travel in the list
            if isinstance(outcome, BaseException) and not isinstance(outcome, LLMError):
                raise outcome
        return list(outcomes)

    async def _call(self, call: BackendCall) -> BackendResult:
        import openai

        request = call.request
        params: dict[str, Any] = {
            "model": self.model,
            "messages": request.openai_messages(),
            "temperature": request.temperature,
            "top_p": request.top_p,
            "n": call.count,
        }
        if call.first_sample:  # later samples of a partly cached request: ask for new ones
            params["seed"] = call.first_sample
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        if request.stop:
            params["stop"] = list(request.stop)
        if request.json_mode:
            params["response_format"] = {"type": "json_object"}
        attempt = 0
        while True:
            try:
                async with self._semaphore:
                    client = self._next_client()
                    response = await client.chat.completions.create(**params)
                return self._result(response, call.count)
            except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                raise LLMError(
                    f"{self.describe()} rejected the API key ({exc.status_code})"
                ) from None
            except openai.APIStatusError as exc:
                if exc.status_code not in RETRYABLE_STATUS:
                    raise LLMError(
                        f"{self.describe()} refused the request ({exc.status_code}): {_brief(exc)}"
                    ) from None
                error: Exception = exc
            except (
                openai.APIConnectionError,  # timeouts and dropped connections
                openai.APIResponseValidationError,
                json.JSONDecodeError,  # a body that is not JSON
            ) as exc:
                error = exc
            except MalformedResponseError as exc:
                error = exc
            attempt += 1
            if attempt > self.max_retries:
                raise LLMError(
                    f"{self.describe()} failed {attempt} times; last error: "
                    f"{type(error).__name__}: {_brief(error)}"
                ) from None
            delay = _retry_after(error)
            if delay is None:
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
                delay *= 0.5 + self._jitter.random()
            await asyncio.sleep(delay)

    def _result(self, response: Any, count: int) -> BackendResult:
        choices = sorted(getattr(response, "choices", None) or [], key=lambda c: c.index)
        if len(choices) != count or any(c.message is None for c in choices):
            raise MalformedResponseError(f"expected {count} choice(s), got {len(choices)}")
        texts = tuple(c.message.content or "" for c in choices)
        usage = getattr(response, "usage", None)
        return BackendResult(
            texts=texts,
            finish_reasons=tuple(c.finish_reason or "stop" for c in choices),
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        )

    def __del__(self) -> None:
        # Dropped without aclose (the usual end of a run): close the clients on the loop
        # they run on. Left to the garbage collector of another thread, their sockets would
        # be closed behind the loop's back, and a new socket reusing the number could then
        # never be read (a call that hangs until its timeout).
        for client in getattr(self, "_clients", []):
            submit(client.close())
        self._clients = []

    async def aclose(self) -> None:
        clients, self._clients = self._clients, []
        for client in clients:
            await client.close()


class MalformedResponseError(Exception):
    """A 200 response without the choices asked for."""


def _brief(exc: Exception) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= 200 else text[:197] + "..."
