"""`LLM`: one role's model, with everything every call goes through.

A batch of requests is answered from the cache where it can be; the samples still missing go
to the backend together (concurrently, or as one vLLM batch; once each, however many requests
of the batch ask for them) after the budget allows their worst-case cost; every answer
received is stored and counted before any error is raised, so nothing already paid for is
lost. `generate_json` adds JSON extraction and validation with a bounded number of re-asks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from drpo.llm._loop import run_sync
from drpo.llm.backend import Backend, BackendCall, BackendResult, OnResult
from drpo.llm.cache import LLMCache, request_key
from drpo.llm.json_output import JSONOutputError, extract_json, require_keys
from drpo.llm.json_schema import schema_errors
from drpo.llm.types import ChatRequest, Completion, LLMCallError, LLMError, Request
from drpo.llm.usage import UsageTracker

log = logging.getLogger("drpo.llm")

Parser = Callable[[Any], Any]

#: Output tokens assumed for the budget when a request sets no max_tokens.
DEFAULT_MAX_TOKENS_ESTIMATE = 1024

REASK = (
    "Your previous reply could not be used: {error}. Reply again with only the JSON that was "
    "asked for, complete and valid, and nothing else."
)


@dataclass(frozen=True)
class JSONAnswer:
    """One sample's JSON: the parsed value, or why there is none after every re-ask."""

    value: Any
    text: str
    error: str | None
    attempts: int

    @property
    def ok(self) -> bool:
        return self.error is None


def _runs(indices: list[int]) -> list[list[int]]:
    """Consecutive runs: [0, 1, 3] -> [[0, 1], [3]]."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _usable(read: Callable[[int, str, bool], Any], index: int, text: str, cut: bool) -> bool:
    try:
        read(index, text, cut)
    except (JSONOutputError, ValueError, TypeError, KeyError):
        return False
    return True


class LLM:
    """``LLM(backend, role="eval", cache=..., usage=...)``; `generate` and `generate_json`."""

    def __init__(
        self,
        backend: Backend,
        *,
        role: str,
        cache: LLMCache | None = None,
        usage: UsageTracker | None = None,
        max_reasks: int = 2,
        refresh_unusable: bool = False,
    ) -> None:
        if max_reasks < 0:
            raise ValueError(f"max_reasks must be >= 0, got {max_reasks}")
        self.backend = backend
        self.role = role
        self.cache = cache
        self.usage = usage or UsageTracker()
        self.max_reasks = max_reasks
        #: A resumed run asks again for cached JSON answers that were unusable: the cause
        #: (a server, a model) may have been fixed since.
        self.refresh_unusable = refresh_unusable

    @property
    def model(self) -> str:
        return self.backend.model

    def describe(self) -> str:
        return f"role {self.role!r}: {self.backend.describe()}"

    async def accepts_chat(self) -> bool:
        """Whether the model takes chat requests: what its backend knows (a GGUF's metadata,
        a vLLM tokenizer's chat template, a simulated base model), else the answer to one
        tiny chat request (cached like any other). A refusal that names a chat template (as
        vLLM's and the simulated server's are) means no; any other failure is raised."""
        known = self.backend.has_chat_template()
        if known is not None:
            return known
        probe = ChatRequest.of("Hello.", temperature=0.0, max_tokens=1)
        try:
            await self.agenerate([probe])
        except LLMError as exc:
            if "template" in str(exc).lower():
                log.info("%s refuses chat requests: %s", self.describe(), exc)
                return False
            raise
        return True

    # ---- plain text --------------------------------------------------------------------
    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        """Answer a batch of requests, chat or plain-text completion, mixed as they come
        (blocking)."""
        return run_sync(self.agenerate(requests))

    async def agenerate(
        self, requests: Sequence[Request], *, refresh: bool = False
    ) -> list[Completion]:
        """`refresh` asks the backend again instead of reading the cache (the new answers
        replace the cached ones)."""
        requests = list(requests)
        if log.isEnabledFor(logging.DEBUG):
            for request in requests:
                if isinstance(request, ChatRequest):
                    text = "\n".join(f"[{role}] {content}" for role, content in request.messages)
                else:
                    text = f"[plain text]\n{request.prompt}"
                log.debug("%s request (n=%d, T=%g):\n%s", self.role, request.n,
                          request.temperature, text)  # fmt: skip
        keys = [[request_key(self.model, r, i) for i in range(r.n)] for r in requests]
        wanted = [k for r, ks in zip(requests, keys) if r.cache for k in ks]
        read = self.cache is not None and wanted and not refresh
        found = self.cache.get_many(wanted) if read else {}

        calls: list[BackendCall] = []
        owners: list[tuple[int, list[int]]] = []
        claimed: set[str] = set()  # samples an earlier request of this batch already asks for
        for index, (request, ks) in enumerate(zip(requests, keys)):
            if request.cache:
                missing = [i for i, k in enumerate(ks) if k not in found and k not in claimed]
                claimed.update(ks[i] for i in missing)
            else:
                missing = list(range(request.n))
            for run in _runs(missing):
                calls.append(BackendCall(request, len(run), run[0]))
                owners.append((index, run))
        hits = sum(r.n for r in requests) - sum(c.count for c in calls)
        if hits:
            self.usage.record_hits(self.role, self.model, hits)

        def store(position: int, result: BackendResult) -> None:
            """Called as each answer arrives: stored at once, so a crash loses none."""
            call, (index, run) = calls[position], owners[position]
            if self.cache is not None and call.request.cache:
                self.cache.put_many(
                    (keys[index][sample], {"text": text, "finish_reason": reason})
                    for sample, text, reason in zip(run, result.texts, result.finish_reasons)
                )

        results = await self._send(calls, store) if calls else []
        fresh: dict[tuple[int, int], tuple[str, str]] = {}
        paid = [[0, 0] for _ in requests]
        error: LLMError | None = None
        for (index, run), result in zip(owners, results):
            if isinstance(result, Exception):
                error = error or result
                continue
            paid[index][0] += result.prompt_tokens
            paid[index][1] += result.completion_tokens
            for sample, text, reason in zip(run, result.texts, result.finish_reasons):
                fresh[index, sample] = (text, reason)
                if requests[index].cache:
                    found[keys[index][sample]] = {"text": text, "finish_reason": reason}
        if error is not None:
            raise type(error)(f"role {self.role!r}: {error}") from None

        completions = []
        for index, (request, ks) in enumerate(zip(requests, keys)):
            texts, reasons, cached = [], [], []
            for sample in range(request.n):
                if (index, sample) in fresh:
                    text, reason = fresh[index, sample]
                    cached.append(False)
                else:
                    entry = found[ks[sample]]
                    text, reason = entry["text"], entry["finish_reason"]
                    cached.append(True)
                texts.append(text)
                reasons.append(reason)
            completions.append(
                Completion(
                    tuple(texts), tuple(reasons), paid[index][0], paid[index][1], tuple(cached)
                )
            )
        return completions

    async def _send(
        self, calls: list[BackendCall], store: OnResult
    ) -> list[BackendResult | Exception]:
        estimate = sum(self._estimate(call) for call in calls)
        self.usage.reserve(self.role, self.model, estimate)
        results: list[BackendResult | Exception] = []
        self.usage.batch_sent(len(calls))
        answered = 0

        def store_and_count(position: int, result: BackendResult) -> None:
            nonlocal answered
            answered += 1
            self.usage.call_answered()
            store(position, result)

        try:
            results = await self.backend.agenerate(calls, store_and_count)
            if len(results) != len(calls):
                raise LLMError(
                    f"{self.backend.describe()} answered {len(results)} of {len(calls)} calls"
                )
        except LLMError as exc:  # same kind of error, now naming the role
            raise type(exc)(f"role {self.role!r}: {exc}") from None
        finally:
            self.usage.batch_done(unanswered=len(calls) - answered)
            # Every attempt counts, those of failed calls too; an attempt whose tokens the
            # server never reported (a timeout) is counted at its worst case.
            spent = [(r, c) for r, c in zip(results, calls)
                     if isinstance(r, (BackendResult, LLMCallError))]  # fmt: skip
            self.usage.settle(
                self.role,
                self.model,
                reserved_usd=estimate,
                requests=sum(isinstance(r, BackendResult) for r in results),
                samples=sum(len(r.texts) for r in results if isinstance(r, BackendResult)),
                prompt_tokens=sum(r.prompt_tokens for r, _ in spent),
                completion_tokens=sum(r.completion_tokens for r, _ in spent),
                attempts=sum(r.attempts for r, _ in spent),
                failed=sum(isinstance(r, LLMCallError) for r, _ in spent),
                estimated_tokens=sum(
                    r.unmetered * (c.request.max_tokens or DEFAULT_MAX_TOKENS_ESTIMATE)
                    for r, c in spent
                ),
            )
        return results

    def _estimate(self, call: BackendCall) -> float:
        request = call.request
        prompt = request.prompt_chars() // 4 + 1
        output = (request.max_tokens or DEFAULT_MAX_TOKENS_ESTIMATE) * call.count
        return self.usage.cost(self.model, prompt, output)

    # ---- JSON --------------------------------------------------------------------------
    def generate_json(
        self,
        requests: Sequence[ChatRequest],
        *,
        parse: Parser | Sequence[Parser] | None = None,
        required_keys: Sequence[str] = (),
    ) -> list[list[JSONAnswer]]:
        """Answer a batch and read JSON from every sample (blocking).

        `parse` validates (and may transform) the extracted value and raises ValueError with
        a reason when it is unusable (one parser for all requests, or one per request);
        `required_keys` is the common case of that. A sample
        that fails is re-asked, with the reason, up to `max_reasks` times; one that still
        fails comes back with `error` set, never with an invented value.
        """
        return run_sync(self.agenerate_json(requests, parse=parse, required_keys=required_keys))

    async def agenerate_json(
        self,
        requests: Sequence[ChatRequest],
        *,
        parse: Parser | Sequence[Parser] | None = None,
        required_keys: Sequence[str] = (),
    ) -> list[list[JSONAnswer]]:
        requests = list(requests)
        if not all(isinstance(r, ChatRequest) for r in requests):
            raise TypeError("JSON answers are asked for with chat requests")
        parsers = list(parse) if isinstance(parse, Sequence) else [parse] * len(requests)
        if len(parsers) != len(requests):
            raise ValueError(f"{len(parsers)} parsers for {len(requests)} requests")

        def read(index: int, text: str, truncated: bool) -> Any:
            value = extract_json(text, truncated=truncated)
            schema = requests[index].schema
            if schema is not None and (errors := schema_errors(value, schema)):
                raise JSONOutputError("; ".join(errors[:3]))
            if required_keys:
                value = require_keys(value, required_keys)
            return parsers[index](value) if parsers[index] is not None else value

        completions = await self.agenerate(requests)
        if self.refresh_unusable:  # answers cached by an earlier attempt that were unusable
            stale = [i for i, (r, c) in enumerate(zip(requests, completions))
                     if any(c.cached) and any(not _usable(read, i, t, cut)
                                              for t, cut in zip(c.texts, c.truncated))]  # fmt: skip
            if stale:
                log.info("%s: asking again for %d answer(s) an earlier attempt could not use",
                         self.role, len(stale))  # fmt: skip
                again = await self.agenerate([requests[i] for i in stale], refresh=True)
                for i, completion in zip(stale, again):
                    completions[i] = completion
        answers: list[list[JSONAnswer | None]] = [[None] * r.n for r in requests]
        pending: list[tuple[int, int, ChatRequest, str, bool]] = []
        for index, (request, completion) in enumerate(zip(requests, completions)):
            for sample, (text, cut) in enumerate(zip(completion.texts, completion.truncated)):
                pending.append((index, sample, request, text, cut))
        malformed_first = 0  # first answers that were not JSON within their schema
        for attempt in range(1, self.max_reasks + 2):
            retry = []
            for index, sample, request, text, cut in pending:
                try:
                    value = read(index, text, cut)
                    answers[index][sample] = JSONAnswer(value, text, None, attempt)
                except (JSONOutputError, ValueError, TypeError, KeyError) as exc:
                    malformed_first += attempt == 1 and isinstance(exc, JSONOutputError)
                    answers[index][sample] = JSONAnswer(None, text, str(exc), attempt)
                    retry.append((index, sample, request, text, str(exc)))
            if not retry or attempt > self.max_reasks:
                break
            reasks = [
                ChatRequest(
                    request.messages + (("assistant", text), ("user", REASK.format(error=error))),
                    temperature=request.temperature,
                    top_p=request.top_p,
                    max_tokens=request.max_tokens,
                    stop=request.stop,
                    json_mode=request.json_mode,
                    cache=request.cache,
                    json_schema=request.json_schema,
                    frequency_penalty=request.frequency_penalty,
                )
                for _, _, request, text, error in retry
            ]
            again = await self.agenerate(reasks)
            pending = [
                (index, sample, reask, completion.text, completion.truncated[0])
                for (index, sample, _, _, _), reask, completion in zip(retry, reasks, again)
            ]
        out = [[a for a in row if a is not None] for row in answers]
        flat = [a for row in out for a in row]
        self.usage.record_json(
            self.role,
            self.model,
            answers=len(flat),
            first_try=sum(a.ok and a.attempts == 1 for a in flat),
            well_formed=len(flat) - malformed_first,
            unusable=sum(not a.ok for a in flat),
            reasons=[a.error for a in flat if a.error is not None],
        )
        return out
