"""A local server's throughput (prompt tokens processed and reused, tokens per second beside
the server's peak) and the prefix order of a frontier's evaluation requests. The server here
is a stand-in that answers with llama.cpp's `timings`; CI's real-model run has the real one,
and bench/prefix_order.py measures the real effect."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import ClassVar

import pytest

from drpo.llm import LLM
from drpo.llm._loop import run_sync
from drpo.llm.backend import Backend, BackendResult
from drpo.llm.server_throughput import ServerPeak, ThroughputTally, measure_peak
from drpo.methods.task_scoring import TaskScorer, prefix_order
from drpo.methods.tasks import Example


def timings(prompt_n: int, cache_n: int, predicted_n: int, prompt_ms: float, predicted_ms: float):
    return {"prompt_n": prompt_n, "cache_n": cache_n, "predicted_n": predicted_n,
            "prompt_ms": prompt_ms, "predicted_ms": predicted_ms}  # fmt: skip


class _TimingsServer(BaseHTTPRequestHandler):
    """/v1/completions as llama.cpp answers it: a prompt of 130 tokens in 650 ms (200
    tokens/s); `max_tokens` generated in 400 ms (per slot)."""

    with_timings = True
    bodies: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append(body)
        out = {"choices": [{"text": "x", "index": 0}]}
        if self.with_timings:
            out["timings"] = timings(130, 0, body["max_tokens"], 650.0, 400.0)
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def timings_server():
    def start(with_timings: bool) -> str:
        handler = type("H", (_TimingsServer,), {"with_timings": with_timings, "bodies": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1", handler

    servers: list[ThreadingHTTPServer] = []
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_peak_is_measured_without_the_prompt_cache(timings_server) -> None:
    url, handler = timings_server(True)
    peak = measure_peak(url, slots=3)
    assert peak is not None and peak.slots == 3
    assert peak.prompt_tokens_per_s == pytest.approx(200.0)
    assert peak.decode_tokens_per_s == pytest.approx(3 * 8 / 0.4)  # three slots at once
    assert len(handler.bodies) == 4 and all(b["cache_prompt"] is False for b in handler.bodies)
    url, _ = timings_server(False)
    assert measure_peak(url, slots=2) is None  # a server without timings: nothing to compare
    assert measure_peak("http://127.0.0.1:9/v1", slots=1, timeout_s=2) is None


def test_the_tally_counts_processed_and_reused_tokens_against_the_peak() -> None:
    tally = ThroughputTally(ServerPeak(100.0, 10.0, 2, 1.0), started=0.0)
    tally.add(timings(120, 0, 10, 1200.0, 1000.0))
    tally.add(timings(20, 100, 10, 200.0, 1000.0))
    usage = SimpleNamespace(prompt_tokens=50, completion_tokens=5,
                            prompt_tokens_details=SimpleNamespace(cached_tokens=30))  # fmt: skip
    tally.add(None, usage)  # a server that sends only OpenAI usage
    tally.add(None, None)  # nothing to count
    tally.last = 10.0
    report = tally.report()
    assert report["requests"] == 3 and report["prompt_tokens"] == 290
    assert report["prompt_tokens_processed"] == 160 and report["prompt_tokens_reused"] == 130
    assert report["reused_share"] == pytest.approx(130 / 290, abs=1e-4)
    assert report["completion_tokens"] == 25 and report["server_prompt_s"] == 1.4
    assert report["tokens_per_s"] == pytest.approx((160 + 25) / 10)
    # at peak: 160 tokens at 100/s and 25 at 10/s take 4.1 s of the 10 s
    assert report["peak_time_share"] == pytest.approx(0.41)
    assert report["peak"]["decode_tokens_per_s"] == 10.0
    assert "peak_time_share" not in ThroughputTally(None).report()


def test_requests_of_one_prompt_are_sent_together() -> None:
    prompts = ["A", "B", "A", "C", "B", "A"]
    assert prefix_order(prompts) == [0, 2, 5, 1, 4, 3]
    assert prefix_order([]) == [] and prefix_order(prompts, lanes=8) == [0, 2, 5, 1, 4, 3]


def test_each_slot_gets_a_run_of_one_prompt_at_a_time() -> None:
    """3 prompts x 8 questions on 4 slots: grouped alone, every slot would meet every prompt
    (12 prompt changes); in lanes, each slot that takes requests in turn meets 6 in all."""
    prompts = [p for _ in range(8) for p in "ABC"]  # interleaved: question by question
    order = prefix_order(prompts, lanes=4)
    assert sorted(order) == list(range(24))
    sent = [prompts[i] for i in order]
    per_slot = [sent[slot::4] for slot in range(4)]  # slots finishing in turn
    assert ["".join(s) for s in per_slot] == ["AAAAAA", "AABBBB", "BBBBCC", "CCCCCC"]
    changes = sum(1 + sum(a != b for a, b in zip(s, s[1:])) for s in per_slot)
    grouped = [prompts[i] for i in prefix_order(prompts)]
    assert changes == 6 < sum(1 + sum(a != b for a, b in zip(s, s[1:]))
                              for s in (grouped[k::4] for k in range(4)))  # fmt: skip


class _Recorder(Backend):
    """Answers each request with its own text, and records the order requests arrive in."""

    kind = "sim"

    def __init__(self) -> None:
        super().__init__("recorder")
        self.seen: list[str] = []

    async def agenerate(self, calls, on_result=None):
        out = []
        for i, call in enumerate(calls):
            text = call.request.messages[-1][1]
            self.seen.append(text)
            result = BackendResult((f"{text} -> the answer is 1",), ("stop",), 1, 1)
            if on_result is not None:
                on_result(i, result)
            out.append(result)
        return out


def test_a_frontier_is_scored_in_prefix_order_and_each_answer_kept_with_its_example() -> None:
    backend = _Recorder()
    scorer = TaskScorer(LLM(backend, role="base"))
    q1 = Example("How many apples?", ("1",), "number")
    q2 = Example("How many pears?", ("2",), "number")
    jobs = [("Prompt A.", [q1]), ("Prompt B.", [q1, q2]), ("Prompt A.", [q2])]
    scores = run_sync(scorer.score_many(jobs))
    assert [text.split("\n\n")[0] for text in backend.seen] == ["Prompt A."] * 2 + ["Prompt B."] * 2
    for (prompt, examples), score in zip(jobs, scores):
        for example, attempt in zip(examples, score.attempts):
            assert attempt.example == example
            assert attempt.response.startswith(f"{prompt}\n\n{example.question}")
    assert [s.accuracy for s in scores] == [1.0, 0.5, 0.0]
