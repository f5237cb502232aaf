"""OpenAI and every OpenAI-compatible server (vllm serve, llama.cpp, Ollama, SGLang, the
simulated LLM's server), through the official `openai` client: chat requests to
``/v1/chat/completions``, plain-text completion requests to ``/v1/completions``.

Requests run concurrently up to a per-backend limit. Transient failures (408, 409, 429, 5xx,
timeouts, dropped connections, unreadable bodies) are retried with exponential backoff and
jitter, honouring Retry-After; anything else, or a failure that outlasts the retries, raises
`LLMError` naming the model and the server. A failed call never turns into an answer.

A base URL may list several replicas of one model's server, comma-separated (say, several
`vllm serve` instances). Each request goes to the replica with the fewest requests in flight
(ties in turn), skipping for a few seconds one that has just failed; a transient failure is
retried at once on a replica that this request has not tried yet, and only when every replica
has failed does it count as a retry, with its backoff. The concurrency limit counts every
replica together; the cache key names the model, not the replica.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from drpo.llm._loop import submit
from drpo.llm.backend import Backend, BackendCall, BackendResult, OnResult
from drpo.llm.types import ChatRequest, LLMCallError, LLMConfigError, LLMError, Request

log = logging.getLogger("drpo.llm")

OPENAI_URL = "https://api.openai.com/v1"
RETRYABLE_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))
#: Calls at once per openai client (and so per connection pool); more calls get more clients.
CONNECTIONS_PER_CLIENT = 16
#: How long a replica that just failed gets no new requests while another one is healthy.
REPLICA_COOLDOWN_S = 5.0


def check_base_url(base_url: str) -> str:
    parsed = urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or " " in base_url:
        raise LLMConfigError(f"malformed base URL {base_url!r}: expected http(s)://host[:port]/v1")
    return base_url.rstrip("/")


def parse_base_urls(text: str) -> tuple[str, ...]:
    """A base URL, or the replicas of one model's server as a comma-separated list."""
    if "," not in text:
        return (check_base_url(text),)
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise LLMConfigError(
            f"malformed base URL list {text!r}: an empty entry; expected "
            "http(s)://host[:port]/v1,http(s)://host[:port]/v1,..."
        )
    urls = tuple(check_base_url(part) for part in parts)
    twice = sorted({url for url in urls if urls.count(url) > 1})
    if twice:
        raise LLMConfigError(f"malformed base URL list {text!r}: {twice[0]} is listed twice")
    return urls


class _Replica:
    """One server of a role's model: its clients, and how busy and healthy it looks."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.clients: list[Any] = []
        self.turn = 0
        self.in_flight = 0
        self.resting_until = 0.0  # the loop's clock; after a failure
        self.answers = 0

    def client(self) -> Any:
        self.turn = (self.turn + 1) % len(self.clients)
        return self.clients[self.turn]


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
    """An OpenAI-compatible server: its chat completions endpoint, and its (plain-text)
    completions endpoint for completion requests.

    The API key comes from the environment variable `api_key_env` (never from a file or an
    argument that could be logged). The official endpoint needs one; a local server
    (another `base_url`) gets a placeholder when none is set, as `vllm serve` expects.
    """

    kind = "openai"
    #: Ask for each sample in a request of its own (servers that count one choice's usage).
    split_n = False

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
        max_wait_s: float = 120.0,
    ) -> None:
        super().__init__(model)
        if concurrency < 1:
            raise LLMConfigError(f"concurrency must be >= 1, got {concurrency}")
        if timeout_s <= 0:
            raise LLMConfigError(f"timeout must be > 0 seconds, got {timeout_s}")
        if max_retries < 0:
            raise LLMConfigError(f"max_retries must be >= 0, got {max_retries}")
        urls = parse_base_urls(base_url or OPENAI_URL)
        self.base_url = ",".join(urls)
        self.official = any(urlparse(url).netloc.endswith("api.openai.com") for url in urls)
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
        self.max_wait_s = max_wait_s
        self._format_mode = "json_schema"  # stepped down when the server refuses it
        self._replicas = [_Replica(url) for url in urls]
        self._turn = 0  # the replica that wins the next tie
        self._semaphore: asyncio.Semaphore | None = None
        self._jitter = random.Random()

    def describe(self) -> str:
        return f"model {self.model!r} at {self.base_url}"

    def _ensure_client(self) -> None:
        """The clients, made on first use: per replica, one per `CONNECTIONS_PER_CLIENT`
        calls at once, because a connection pool's work per request grows with its number of
        connections."""
        if self._semaphore is None:
            import openai

            shards = -(-self.concurrency // CONNECTIONS_PER_CLIENT)
            for replica in self._replicas:
                plain = replica.url.startswith("http://")  # no TLS: no certificates to load
                replica.clients = [
                    openai.AsyncOpenAI(
                        api_key=self._api_key,
                        base_url=replica.url,
                        timeout=self.timeout_s,
                        max_retries=0,  # ours, below: with Retry-After, jitter and a clear error
                        http_client=openai.DefaultAsyncHttpxClient(verify=False) if plain else None,
                    )
                    for _ in range(shards)
                ]
            self._semaphore = asyncio.Semaphore(self.concurrency)

    def _pick(self, tried: set[int]) -> int:
        """The replica for the next attempt: the fewest in flight among those this request
        has not tried, resting ones only when no other is left; ties in turn."""
        count = len(self._replicas)
        if count == 1:
            return 0
        now = asyncio.get_running_loop().time()
        fresh = [i for i in range(count) if i not in tried]
        awake = [i for i in fresh if self._replicas[i].resting_until <= now] or fresh
        chosen = min(awake, key=lambda i: (self._replicas[i].in_flight, (i - self._turn) % count))
        self._turn = (chosen + 1) % count
        return chosen

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
        """All `call.count` samples, however the server deals with `n`: a server that returns
        fewer choices gets one request per missing sample, each with its own seed; one that
        returns more is trimmed. Every attempt's reported tokens are counted."""
        spent = _Spent()
        request, first, count = call.request, call.first_sample, call.count

        async def one_by_one(samples: range) -> tuple[tuple[str, ...], tuple[str, ...]]:
            """Each sample its own request; every one finishes (and is counted) before a
            failure of any is raised."""
            parts = await asyncio.gather(
                *(self._request(request, 1, first + j, spent) for j in samples),
                return_exceptions=True,
            )
            for part in parts:
                if isinstance(part, BaseException):
                    raise part
            return tuple(t for p in parts for t in p[0]), tuple(r for p in parts for r in p[1])

        try:
            if self.split_n and count > 1:
                texts, reasons = await one_by_one(range(count))
            else:
                texts, reasons = await self._request(request, count, first, spent)
                if len(texts) < count:
                    self._note_short_n(count, len(texts))
                    more, why = await one_by_one(range(len(texts), count))
                    texts, reasons = texts + more, reasons + why
        except LLMCallError as exc:
            raise LLMCallError(str(exc), **spent.as_kwargs()) from None
        return BackendResult(texts, reasons, **spent.as_kwargs())

    def _params(self, request: Request, n: int, sample: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "n": n,
        }
        if isinstance(request, ChatRequest):
            params["messages"] = request.openai_messages()
        else:
            params["prompt"] = request.prompt
        if sample or self.split_n:  # later samples of a request: ask for new ones
            params["seed"] = sample
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        if request.frequency_penalty:
            params["frequency_penalty"] = request.frequency_penalty
        if request.stop:
            params["stop"] = list(request.stop)
        if not isinstance(request, ChatRequest):
            return params
        mode = self._format_mode
        if request.json_schema is not None and mode == "json_schema":
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "strict": True, "schema": request.schema},
            }
        elif request.json_mode and mode != "text":
            params["response_format"] = {"type": "json_object"}
        return params

    async def _request(
        self, request: Request, n: int, sample: int, spent: _Spent
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """One request with its retries: up to `n` texts and their finish reasons."""
        import openai

        failures = 0
        tried: set[int] = set()  # the replicas this request failed on since its last backoff
        while True:
            params = self._params(request, n, sample)
            spent.attempts += 1
            at = 0
            try:
                async with self._semaphore:
                    at = self._pick(tried)
                    replica = self._replicas[at]
                    replica.in_flight += 1
                    try:
                        client = replica.client()
                        if isinstance(request, ChatRequest):
                            response = await client.chat.completions.create(**params)
                        else:
                            response = await client.completions.create(**params)
                    finally:
                        replica.in_flight -= 1
                spent.add(getattr(response, "usage", None))
                answer = self._result(response, n)
                self._answered(at)
                self._observe(response)
                if isinstance(request, ChatRequest) and request.json_mode:  # for usage.json
                    used = params.get("response_format", {"type": "text"})["type"]
                    self.notes["structured_output"] = used
                return answer
            except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                raise LLMCallError(
                    f"{self.describe()} rejected the API key ({exc.status_code})"
                ) from None
            except openai.APIStatusError as exc:
                if self._refused_format(exc, params):
                    continue  # asked again at once, in the next structured-output mode
                if exc.status_code not in RETRYABLE_STATUS:
                    raise LLMCallError(
                        f"{self.describe()} refused the request ({exc.status_code}): {_brief(exc)}"
                    ) from None
                error: Exception = exc
                reason = f"HTTP {exc.status_code}"
            except openai.APITimeoutError as exc:
                error, reason = exc, f"no answer within {self.timeout_s:g} s"
                spent.unmetered += 1
                self._count("timeouts")
            except (openai.APIConnectionError, openai.APIResponseValidationError,
                    json.JSONDecodeError) as exc:  # fmt: skip
                error, reason = exc, f"{type(exc).__name__}"
                spent.unmetered += 1
            except MalformedResponseError as exc:
                error, reason = exc, f"malformed response ({exc})"
            if self._fail_over(at, tried, reason):
                continue  # at once, on a replica this request has not tried
            failures += 1
            if failures > self.max_retries:
                raise LLMCallError(
                    f"{self.describe()} failed {failures} times; last error: "
                    f"{type(error).__name__}: {_brief(error)}"
                ) from None
            delay = _retry_after(error)
            if delay is not None and delay > self.max_wait_s:
                raise LLMCallError(
                    f"{self.describe()} asked to wait {delay:g} s before retrying (Retry-After), "
                    f"longer than the run's patience of {self.max_wait_s:g} s (--max_wait)"
                ) from None
            if delay is None:
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** (failures - 1))
                delay *= 0.5 + self._jitter.random()
            self._count("retries")
            log.info("%s: attempt %d failed (%s); retrying in %.1f s (%d of %d retries)",
                     self.describe(), failures, reason, delay, failures,
                     self.max_retries)  # fmt: skip
            await asyncio.sleep(delay)

    def _observe(self, response: Any) -> None:
        """What the server said about one answered request beyond its answer (a hook: a
        local llama.cpp server's backend reads its timings; nothing here)."""

    def _answered(self, at: int) -> None:
        replica = self._replicas[at]
        replica.resting_until = 0.0
        if len(self._replicas) > 1:
            replica.answers += 1
            self.notes["answers_per_replica"] = {r.url: r.answers for r in self._replicas}

    def _fail_over(self, at: int, tried: set[int], reason: str) -> bool:
        """After a transient failure on replica `at`: rest it, and say whether another
        replica is left to try at once (if not, the request backs off and retries)."""
        if len(self._replicas) == 1:
            return False
        loop_time = asyncio.get_running_loop().time()
        self._replicas[at].resting_until = loop_time + REPLICA_COOLDOWN_S
        tried.add(at)
        if len(tried) < len(self._replicas):
            self._count("failovers")
            log.info("%s: %s at %s; asking another replica", self.describe(), reason,
                     self._replicas[at].url)  # fmt: skip
            return True
        tried.clear()
        return False

    def _refused_format(self, exc: Exception, params: dict[str, Any]) -> bool:
        """A 400/422 about the response format: step down to the next mode (json_schema,
        then json_object, then plain text with extraction), noted once per server."""
        response_format = params.get("response_format")
        if response_format is None or getattr(exc, "status_code", None) not in (400, 422):
            return False
        text = str(exc).lower()
        if not any(word in text for word in ("response_format", "schema", "json", "grammar")):
            return False
        mode = "json_object" if response_format["type"] == "json_schema" else "text"
        self._format_mode = mode
        self.notes[f"refused_{response_format['type']}"] = True
        instead = "json_object" if mode == "json_object" else "plain text and extraction"
        log.info("%s refused response_format %s (%s); asking with %s from now on",
                 self.describe(), response_format["type"], _brief(exc), instead)  # fmt: skip
        return True

    def _note_short_n(self, asked: int, got: int) -> None:
        if not self.notes.get("short_n"):
            log.info("%s returned %d choice(s) for n=%d; the missing samples are asked "
                     "for one at a time, each with its own seed",
                     self.describe(), got, asked)  # fmt: skip
        self.notes["short_n"] = True

    def _count(self, name: str) -> None:
        self.notes[name] = self.notes.get(name, 0) + 1

    def _result(self, response: Any, count: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The texts and finish reasons of a chat answer (``message.content``) or a
        plain-text one (``text``)."""
        choices = sorted(getattr(response, "choices", None) or [], key=lambda c: c.index)
        choices = choices[:count]  # more than asked for: trimmed
        texts = [_choice_text(c) for c in choices]
        if not choices or any(t is None for t in texts):
            raise MalformedResponseError(f"expected {count} choice(s), got {len(choices)}")
        return tuple(texts), tuple(c.finish_reason or "stop" for c in choices)

    def __del__(self) -> None:
        # Dropped without aclose (the usual end of a run): close the clients on the loop
        # they run on. Left to the garbage collector of another thread, their sockets would
        # be closed behind the loop's back, and a new socket reusing the number could then
        # never be read (a call that hangs until its timeout).
        for replica in getattr(self, "_replicas", []):
            clients, replica.clients = replica.clients, []
            for client in clients:
                submit(client.close())

    async def aclose(self) -> None:
        for replica in self._replicas:
            clients, replica.clients = replica.clients, []
            for client in clients:
                await client.close()


class MalformedResponseError(Exception):
    """A 200 response without the choices asked for."""


class _Spent:
    """What the attempts of one call cost."""

    def __init__(self) -> None:
        self.prompt_tokens = self.completion_tokens = self.attempts = self.unmetered = 0

    def add(self, usage: Any) -> None:
        self.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
        self.completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)

    def as_kwargs(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "attempts": self.attempts,
            "unmetered": self.unmetered,
        }


def _choice_text(choice: Any) -> str | None:
    """A choice's text: a chat message's content, or a plain-text completion's text."""
    message = getattr(choice, "message", None)
    if message is not None:
        return message.content or ""
    text = getattr(choice, "text", None)
    return text if isinstance(text, str) else None


def _brief(exc: Exception) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= 200 else text[:197] + "..."
