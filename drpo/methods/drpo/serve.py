"""The aligned model behind an OpenAI-compatible chat endpoint.

``POST /v1/chat/completions`` answers every request as the aligned model: its system prompt
and the in-context examples retrieved for the query are added, and the base model behind
them answers (a client's own system message is ignored: the aligned prompt is the model's).
The query is the last user message; earlier turns, if any, go before it as a transcript.
``GET /v1/models`` lists the one model. A malformed request gets a 400 with a JSON error,
never a traceback or a dropped connection. Request and answer texts reach the log only
with ``log_text``.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from drpo.http_service import BackgroundServer
from drpo.llm import LLMError
from drpo.llm._loop import run_sync
from drpo.methods.drpo.aligned import AlignedModel

log = logging.getLogger("drpo.serve")

#: The largest request body accepted (bytes).
MAX_BODY = 1_000_000
#: The most choices one request may ask for.
MAX_N = 8


class BadRequestError(ValueError):
    """A request the server cannot answer as sent (400); the message says why."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class ChatCall:
    """A validated chat request: the query and the sampling settings asked for."""

    query: str
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    stop: tuple[str, ...]
    n: int


def _text(content: Any, where: str) -> str:
    """A message's text: a string, or a list of text parts (OpenAI's content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise BadRequestError(f"{where}: only text content parts are supported", "messages")
            if not isinstance(part.get("text"), str):
                raise BadRequestError(f"{where}: a text part needs a string 'text'", "messages")
            parts.append(part["text"])
        return "\n".join(parts)
    raise BadRequestError(f"{where}: 'content' must be a string or a list of text parts",
                     "messages")  # fmt: skip


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise BadRequestError(f"'{name}' must be a number from {low:g} to {high:g}", name)
    return float(value)


def parse_chat(body: Any) -> ChatCall:
    """The query and settings of a chat completion request; BadRequestError says what is wrong."""
    if not isinstance(body, dict):
        raise BadRequestError("the request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequestError("'messages' must be a non-empty list", "messages")
    turns: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise BadRequestError(f"messages[{i}] must be an object", "messages")
        role = message.get("role")
        if role not in ("system", "developer", "user", "assistant"):
            raise BadRequestError(f"messages[{i}]: unknown role {role!r}", "messages")
        text = _text(message.get("content"), f"messages[{i}]")
        if role in ("user", "assistant"):
            turns.append((role, text))
    if not turns or turns[-1][0] != "user" or not turns[-1][1].strip():
        raise BadRequestError("the last message must be a non-empty user message", "messages")
    if body.get("stream"):
        raise BadRequestError("streaming is not supported; send stream: false", "stream")
    query = turns[-1][1]
    if len(turns) > 1:
        transcript = "\n".join(f"{'User' if r == 'user' else 'Assistant'}: {t}"
                               for r, t in turns[:-1])  # fmt: skip
        query = f"Earlier in this conversation:\n{transcript}\n\nThe user now says:\n{query}"
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise BadRequestError("'max_tokens' must be a whole number >= 1", "max_tokens")
    stop = body.get("stop")
    if stop is None:
        stops: tuple[str, ...] = ()
    elif isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop) and len(stop) <= 4:
        stops = tuple(stop)
    else:
        raise BadRequestError("'stop' must be a string or a list of at most 4 strings", "stop")
    n = body.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
        raise BadRequestError(f"'n' must be a whole number from 1 to {MAX_N}", "n")
    top_p = _number(body, "top_p", 0.0, 1.0)
    if top_p == 0.0:
        raise BadRequestError("'top_p' must be above 0", "top_p")
    return ChatCall(query, _number(body, "temperature", 0.0, 2.0), top_p, max_tokens, stops, n)


class AlignedServer(BackgroundServer):
    """``with AlignedServer(model, port=0) as server: server.url``; or `serve_forever`."""

    def __init__(
        self,
        model: AlignedModel,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        log_text: bool = False,
    ) -> None:
        self.model = model
        self.log_text = log_text
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.aligned = self

    @property
    def url(self) -> str:
        host = self._httpd.server_address[0]
        return f"http://{host}:{self.port}/v1"

    # ---- the endpoints -------------------------------------------------------------------
    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": self.model.name, "object": "model",
                                            "created": 0, "owned_by": "drpo"}]}  # fmt: skip

    def chat(self, body: Any) -> dict[str, Any]:
        call = parse_chat(body)
        request = self.model.request(
            call.query,
            temperature=call.temperature,
            top_p=call.top_p,
            max_tokens=call.max_tokens,
            stop=call.stop,
            n=call.n,
        )
        (completion,) = run_sync(self.model.llm.agenerate([request]))
        answers = [self.model.clean(t) for t in completion.texts]
        if self.log_text:
            log.info("query: %s\nanswer: %s", call.query, answers[0])
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model.name,
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": reason,
                    "logprobs": None,
                }
                for i, (text, reason) in enumerate(zip(answers, completion.finish_reasons))
            ],
            "usage": {
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "total_tokens": completion.prompt_tokens + completion.completion_tokens,
            },
        }


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many clients connecting at once are queued, not refused
    aligned: AlignedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("a connection ended with an error")  # never the request's text


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # our own log line instead
        pass

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str, param: str | None = None) -> None:
        self._send(status, {"error": {"message": message, "type": kind, "param": param,
                                      "code": None}})  # fmt: skip

    def _done(self, status: int, started: float) -> None:
        log.info("%s %s %d in %.2f s", self.command, self.path.split("?")[0], status,
                 time.monotonic() - started)  # fmt: skip

    def do_GET(self) -> None:
        started = time.monotonic()
        path = self.path.split("?")[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            self._send(200, self.server.aligned.models())
            self._done(200, started)
        elif path in ("/health", "/v1/health"):
            self._send(200, {"status": "ok"})
        else:
            self._error(404, f"no such endpoint: GET {path}", "not_found_error")
            self._done(404, started)

    def do_POST(self) -> None:
        started = time.monotonic()
        path = self.path.split("?")[0].rstrip("/")
        status = self._post(path)
        self._done(status, started)

    def _post(self, path: str) -> int:
        length_text = self.headers.get("Content-Length")
        try:
            length = int(length_text) if length_text is not None else -1
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._error(411, "the request needs a Content-Length", "invalid_request_error")
            return 411
        if length > MAX_BODY:
            self.close_connection = True
            self._error(413, f"the request body is over {MAX_BODY} bytes",
                        "invalid_request_error")  # fmt: skip
            return 413
        raw = self.rfile.read(length)
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no such endpoint: POST {path}", "not_found_error")
            return 404
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._error(400, f"the request body is not valid JSON: {exc}",
                        "invalid_request_error")  # fmt: skip
            return 400
        try:
            payload = self.server.aligned.chat(body)
        except BadRequestError as exc:
            self._error(400, str(exc), "invalid_request_error", exc.param)
            return 400
        except ValueError as exc:  # a request the model layer refused (e.g. bad settings)
            self._error(400, str(exc), "invalid_request_error")
            return 400
        except LLMError as exc:
            log.error("the base model failed: %s", type(exc).__name__)
            self._error(502, f"the base model failed: {exc}", "server_error")
            return 502
        except Exception as exc:  # a client gets JSON, the log the kind of error
            log.exception("internal error (%s)", type(exc).__name__)
            self._error(500, "internal error", "server_error")
            return 500
        self._send(200, payload)
        return 200


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def serve(model: AlignedModel, *, host: str, port: int, log_text: bool,
          announce: Sequence[str] = ()) -> None:  # fmt: skip
    """Serve `model` until interrupted (Ctrl-C or SIGTERM), then stop its base model."""
    server = AlignedServer(model, host=host, port=port, log_text=log_text)
    if threading.current_thread() is threading.main_thread():  # a kill stops it cleanly too
        signal.signal(signal.SIGTERM, _interrupt)
    for line in announce:
        print(line, flush=True)
    print(f"serving {model.name} at {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_until_interrupted()
    finally:
        model.close()
