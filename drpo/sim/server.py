"""The simulated LLM behind an OpenAI-compatible HTTP API, with latency and fault injection.

Endpoints: ``POST /v1/chat/completions`` (with ``n``, ``max_tokens``, ``stop``; ``seed`` is
read as the number of the first sample, see `drpo.llm.backend.BackendCall`),
``POST /v1/completions`` (plain text: a ``prompt`` string, or a list of them, continued as a
base model does; the same settings),
``POST /v1/embeddings`` (hashed bag-of-words vectors), ``GET /v1/models``, and ``GET /stats``
(what the server received and delivered, for tests and benchmarks).

Faults, drawn per request with probability `fault_rate` from the server's seed: ``429`` (with
Retry-After), ``500``, ``stall`` (an answer sent only after `stall_s`, past the client's
timeout), ``malformed`` (a 200 whose body is not JSON) and ``truncated`` (a body cut off half
way). A fault never changes what a later, successful answer to the same request says.

Structured output: ``response_format`` ``json_schema`` (the answer must lie within the
schema, or the server answers 500: the simulated model must honour every schema we send)
and ``json_object``. Like servers in the wild it can be told to ignore ``n`` (one choice,
as llama-cpp-python's server), to refuse schemas (400), or to refuse any response_format;
and to serve a base model with no chat template (``chat_template=False``), which answers
chat requests with a 400 that says so, as vLLM does, and plain text only.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import random
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from drpo.http_service import BackgroundServer
from drpo.sim.model import SimulatedLLM, count_tokens

FAULTS = ("429", "500", "stall", "malformed", "truncated")


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    faults: tuple[str, ...] = FAULTS
    seed: int = 0
    stall_s: float = 5.0
    retry_after_s: float = 0.05
    api_key: str | None = None  # when set, requests must carry it as a bearer token
    ignore_n: bool = False  # answer one choice whatever n asks
    refuse_schema: bool = False  # 400 for response_format json_schema
    refuse_json_object: bool = False  # 400 for response_format json_object too
    slots: int | None = None  # when set, GET /props says so (as llama.cpp's server does)
    enforce_schema: bool = True  # False: pass the model's text on whatever the schema says
    # (a server that ignores response_format, in front of a misbehaving model)
    chat_template: bool = True  # False: a base model; chat requests get a 400

    def __post_init__(self) -> None:
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be in [0, 1], got {self.fault_rate}")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; choose from {FAULTS}")


@dataclass(frozen=True)
class AnsweredRequest:
    """A request the server answered (chat or plain text): its JSON body, and when
    (``time.monotonic``) it arrived and its answer was ready to send."""

    body: dict[str, Any]
    received: float
    answered: float


def embed(text: str, dim: int = 256) -> list[float]:
    """A deterministic embedding: signed hashed counts of words and character trigrams,
    L2-normalised (texts that share words and spellings point the same way)."""
    vector = [0.0] * dim
    words = [w.strip(".,;:!?\"'()") for w in text.lower().split()]
    grams = [w[i : i + 3] for w in words for i in range(max(1, len(w) - 2))]
    for feature in [f"w:{w}" for w in words] + [f"g:{g}" for g in grams]:
        h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
        vector[h % dim] += 1.0 if (h >> 63) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class SimServer(BackgroundServer):
    """``with SimServer(ServerSettings(...)) as server: server.url`` ... ; or `serve_forever`."""

    poll_interval = 0.05  # tests start and stop many servers

    def __init__(
        self,
        settings: ServerSettings,
        model: SimulatedLLM | None = None,
        *,
        record_answers: bool = False,
    ) -> None:
        self.settings = settings
        self.record_answers = record_answers
        self._answers: list[AnsweredRequest] = []
        self.model = model or SimulatedLLM(seed=settings.seed, chat_template=settings.chat_template)
        self._rng = random.Random(settings.seed)
        self._lock = threading.Lock()
        self._stats: Counter[str] = Counter()
        self._in_flight = 0
        self._httpd = _HTTPServer((settings.host, settings.port), _Handler)
        self._httpd.sim = self

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}/v1"

    # ---- bookkeeping -------------------------------------------------------------------
    def count(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self._stats[key] += amount

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()
            self._answers.clear()

    def answered(self) -> list[AnsweredRequest]:
        """Every chat request answered so far (when made with ``record_answers=True``): what
        a provider would bill, whether or not the client lived to read the answer."""
        with self._lock:
            return list(self._answers)

    def record_answer(self, body: dict[str, Any], received: float) -> None:
        if self.record_answers:
            with self._lock:
                self._answers.append(AnsweredRequest(body, received, time.monotonic()))

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Count a request being worked on; `stats()["peak_in_flight"]` is the most at once."""
        with self._lock:
            self._in_flight += 1
            self._stats["peak_in_flight"] = max(self._stats["peak_in_flight"], self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Wait until no request is being worked on (say, the requests of a killed client
        have all been answered); False if that took longer than `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self._in_flight == 0:
                    return True
            time.sleep(0.005)
        return False

    def draw_fault(self) -> str | None:
        with self._lock:
            if self._rng.random() >= self.settings.fault_rate:
                return None
            return self._rng.choice(self.settings.faults)

    # ---- the API -----------------------------------------------------------------------
    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not isinstance(messages, list) or not messages:
            raise BadRequestError(
                "'model' (a string) and 'messages' (a non-empty list) are required"
            )
        try:
            pairs = [(m["role"], m["content"]) for m in messages]
        except (TypeError, KeyError):
            raise BadRequestError("every message needs 'role' and 'content'") from None
        if not self.model.chat_template:
            raise BadRequestError(
                "this model has no chat template, so chat requests cannot be formatted: send "
                "plain text to /v1/completions (simulated server)"
            )
        n, first, settings = self._sampling(body)
        schema = self._schema(body.get("response_format"))
        answers = [self.model.complete(pairs, sample=first + j, **settings) for j in range(n)]
        if schema is not None and self.settings.enforce_schema:
            for answer in answers:
                self._check_within(answer.text, schema)
        prompt_tokens = answers[0].prompt_tokens
        completion_tokens = sum(a.completion_tokens for a in answers)
        return {
            "id": "simcmpl-"
            + hashlib.blake2b(json.dumps(body).encode(), digest_size=6).hexdigest(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "simulated",
            "choices": [
                {
                    "index": j,
                    "message": {"role": "assistant", "content": a.text},
                    "finish_reason": a.finish_reason,
                }
                for j, a in enumerate(answers)
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _sampling(self, body: dict[str, Any]) -> tuple[int, int, dict[str, Any]]:
        """The samples asked for, the first one's number, and the sampling settings."""
        n = body.get("n") or 1
        if not isinstance(n, int) or not 1 <= n <= 128:
            raise BadRequestError("'n' must be an integer from 1 to 128")
        if self.settings.ignore_n:
            n = 1
        stop = body.get("stop") or ()
        stop = [stop] if isinstance(stop, str) else list(stop)
        if not all(isinstance(s, str) for s in stop):
            raise BadRequestError("'stop' must be a string or a list of strings")
        settings = {
            "temperature": float(body.get("temperature", 1.0)),
            "max_tokens": body.get("max_tokens") or body.get("max_completion_tokens"),
            "stop": stop,
        }
        return n, int(body.get("seed") or 0), settings

    def text_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """``/v1/completions``: each prompt continued `n` times; choice ``i * n + j`` is
        sample j of prompt i, as OpenAI numbers them."""
        model, prompt = body.get("model"), body.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if (not isinstance(model, str) or not isinstance(prompts, list) or not prompts
                or not all(isinstance(p, str) and p for p in prompts)):  # fmt: skip
            raise BadRequestError(
                "'model' (a string) and 'prompt' (a non-empty string or list of them) are required"
            )
        n, first, settings = self._sampling(body)
        answers = [
            self.model.complete_text(text, sample=first + j, **settings)
            for text in prompts
            for j in range(n)
        ]
        prompt_tokens = sum(count_tokens(text) for text in prompts)
        completion_tokens = sum(a.completion_tokens for a in answers)
        return {
            "id": "simcmpl-"
            + hashlib.blake2b(json.dumps(body).encode(), digest_size=6).hexdigest(),
            "object": "text_completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "simulated",
            "choices": [
                {"index": i, "text": a.text, "finish_reason": a.finish_reason, "logprobs": None}
                for i, a in enumerate(answers)
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _schema(self, response_format: Any) -> dict[str, Any] | None:
        """The schema asked for (None for none or json_object); 400 where refused."""
        if response_format is None:
            return None
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in ("json_schema", "json_object", "text"):
            raise BadRequestError(f"unknown response_format type {kind!r}")
        if kind != "text" and self.settings.refuse_json_object:
            raise BadRequestError("response_format is not supported by this server")
        if kind == "json_schema":
            if self.settings.refuse_schema:
                raise BadRequestError("response_format type json_schema is not supported")
            schema = (response_format.get("json_schema") or {}).get("schema")
            if not isinstance(schema, dict):
                raise BadRequestError("response_format.json_schema.schema must be an object")
            self.count("schema_requests")
            return schema
        return None

    @staticmethod
    def _check_within(text: str, schema: dict[str, Any]) -> None:
        from drpo.llm.json_schema import schema_errors

        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise OffSchemaError(f"the simulated answer is not JSON: {text[:80]!r}") from None
        errors = schema_errors(value, schema)
        if errors:
            raise OffSchemaError(f"the simulated answer is off the schema: {errors[0]}")

    def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(t, str) for t in inputs):
            raise BadRequestError("'input' must be a string or a list of strings")
        tokens = sum(count_tokens(t) for t in inputs)
        as_base64 = body.get("encoding_format") == "base64"  # the openai client's default

        def encode(vector: list[float]) -> list[float] | str:
            if not as_base64:
                return vector
            return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")

        return {
            "object": "list",
            "model": body.get("model", "sim-embed"),
            "data": [
                {"object": "embedding", "index": i, "embedding": encode(embed(t))}
                for i, t in enumerate(inputs)
            ],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


#: The answering endpoints: chat, and plain-text completion.
ANSWERS: dict[str, Callable[[SimServer, dict[str, Any]], dict[str, Any]]] = {
    "/v1/chat/completions": SimServer.chat,
    "/chat/completions": SimServer.chat,
    "/v1/completions": SimServer.text_completion,
    "/completions": SimServer.text_completion,
}


class BadRequestError(Exception):
    pass


class OffSchemaError(Exception):
    """The simulated model answered outside the schema it was given: a bug of ours."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    sim: SimServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client went away (it timed out, or was killed): nothing to report
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the stats
        return

    def _send(self, status: int, payload: Any, headers: Sequence[tuple[str, str]] = ()) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        kind = "rate_limit_exceeded" if status == 429 else "simulated_error"
        self._send(status, {"error": {"message": message, "type": kind}}, headers)

    def do_GET(self) -> None:
        sim = self.server.sim
        if self.path.rstrip("/") == "/health":
            self._send(200, {"status": "ok"})
        elif self.path.rstrip("/") == "/props" and sim.settings.slots is not None:
            self._send(200, {"total_slots": sim.settings.slots})
        elif self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, {"object": "list", "data": [{"id": "sim", "object": "model"}]})
        elif self.path.rstrip("/") == "/stats":
            self._send(200, sim.stats())
        else:
            self._error(404, f"no such endpoint {self.path}")

    def do_POST(self) -> None:
        sim = self.server.sim
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        path = self.path.rstrip("/")
        if path == "/stats/reset":
            sim.reset_stats()
            self._send(200, {})
            return
        key = sim.settings.api_key
        if key is not None and self.headers.get("Authorization") != f"Bearer {key}":
            sim.count("unauthorized")
            self._error(401, "invalid API key (simulated server)")
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise BadRequestError("the body must be a JSON object")
            if path in ("/v1/embeddings", "/embeddings"):
                sim.count("embedding_requests")
                self._send(200, sim.embeddings(body))
                return
            answer = ANSWERS.get(path)
            if answer is None:
                self._error(404, f"no such endpoint {self.path}")
                return
            sim.count("requests")
            if answer is SimServer.text_completion:
                sim.count("text_requests")
            received = time.monotonic()
            fault = sim.draw_fault()
            with sim.in_flight():
                if sim.settings.latency_ms:
                    time.sleep(sim.settings.latency_ms / 1000)
                if fault is None:
                    payload = answer(sim, body)
            if fault is not None:
                sim.count(f"fault_{fault}")
                self._fault(fault, sim, body, answer)
                return
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._error(400, "the body is not JSON")
            return
        except BadRequestError as exc:
            self._error(400, str(exc))
            return
        except OffSchemaError as exc:
            sim.count("off_schema")
            self._error(500, str(exc))
            return
        sim.count("completions")  # counted before sending, so a client that has its answer
        sim.count("samples", len(payload["choices"]))  # also sees it in the stats
        sim.count("prompt_tokens", payload["usage"]["prompt_tokens"])
        sim.count("completion_tokens", payload["usage"]["completion_tokens"])
        sim.record_answer(body, received)
        self._send(200, payload)

    def _fault(
        self,
        fault: str,
        sim: SimServer,
        body: dict[str, Any],
        answer: Callable[[SimServer, dict[str, Any]], dict[str, Any]],
    ) -> None:
        if fault == "429":
            retry = [("Retry-After", f"{sim.settings.retry_after_s:g}")]
            self._error(429, "rate limited (simulated fault)", retry)
        elif fault == "500":
            self._error(500, "internal error (simulated fault)")
        elif fault == "stall":
            time.sleep(sim.settings.stall_s)
            with contextlib.suppress(OSError, BadRequestError):  # the client has given up
                self._send(200, answer(sim, body))
        elif fault == "malformed":
            data = b'{"id": "simcmpl", "choices": [ this is not JSON'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:  # truncated: promise the whole body, send half of it, hang up
            data = json.dumps(answer(sim, body)).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
