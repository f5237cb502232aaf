"""A role's base URL listing several replicas of one model's server: requests are balanced
across them, and a replica that is down or failing is stepped around. Over real HTTP, with the
official openai client, against two simulated servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from drpo.llm import ChatRequest, LLMCache, LLMConfigError, LLMError, RoleSettings, UsageTracker
from drpo.llm import make_llms as _make_llms

ROOT = Path(__file__).resolve().parents[1]


def requests(count: int, **settings) -> list[ChatRequest]:
    return [ChatRequest.of(f"Question {i}: why is the sky blue?", **settings) for i in range(count)]


def llm_on(*urls: str, cache=None, usage=None, **settings):
    role = RoleSettings(backend="openai", base_url=",".join(urls), **settings)
    return _make_llms({"eval": role}, cache=cache, usage=usage)["eval"]


def sent(server) -> int:
    return server.stats().get("requests", 0)


def test_requests_are_balanced_across_two_replicas(sim_server) -> None:
    a, b = sim_server(latency_ms=20), sim_server(latency_ms=20)
    usage = UsageTracker()
    batch = requests(40, temperature=0.7, n=2)
    got = llm_on(a.url, b.url, concurrency=8, usage=usage).generate(batch)
    assert sent(a) + sent(b) == 40, "each request goes to one replica, once"
    assert 12 <= sent(a) <= 28 and 12 <= sent(b) <= 28, (sent(a), sent(b))
    # the replicas serve one model: the answers are those of one server
    alone = _make_llms({"x": RoleSettings(backend="sim")})["x"].generate(batch)
    assert [c.texts for c in got] == [c.texts for c in alone]
    total = usage.summary()["total"]
    assert total["requests"] == 40 and total["samples"] == 80
    served = [a.stats(), b.stats()]
    assert total["prompt_tokens"] == sum(s["prompt_tokens"] for s in served)
    assert total["completion_tokens"] == sum(s["completion_tokens"] for s in served)


def test_the_cache_key_does_not_name_the_replica(sim_server, tmp_path: Path) -> None:
    a, b = sim_server(), sim_server()
    batch = requests(10)
    first = llm_on(a.url, b.url, cache=LLMCache(tmp_path / "c.sqlite")).generate(batch)
    before = sent(a) + sent(b)
    again = llm_on(b.url, cache=LLMCache(tmp_path / "c.sqlite")).generate(batch)  # b alone
    assert sent(a) + sent(b) == before, "answered from the cache, whichever replica served it"
    assert [c.texts for c in again] == [c.texts for c in first]


def test_with_one_replica_down_the_other_answers_everything(sim_server) -> None:
    down, up = sim_server(), sim_server()
    down.stop()  # connections to it are refused
    usage = UsageTracker()
    llm = llm_on(down.url, up.url, concurrency=4, max_retries=0, usage=usage)
    got = llm.generate(requests(20))
    assert len(got) == 20 and all(c.texts[0] for c in got)
    assert sent(up) == 20
    assert usage.summary()["total"]["requests"] == 20, "a call is counted once"
    assert llm.backend.notes["failovers"] >= 1
    assert llm.backend.notes["answers_per_replica"] == {down.url: 0, up.url: 20}


def test_a_replica_answering_500_is_stepped_around(sim_server) -> None:
    failing, healthy = sim_server(fault_rate=1.0, faults=("500",)), sim_server()
    llm = llm_on(failing.url, healthy.url, concurrency=4, max_retries=0)
    got = llm.generate(requests(30))
    assert len(got) == 30 and all(c.texts[0] for c in got)
    assert sent(healthy) == 30
    assert 1 <= failing.stats().get("fault_500", 0) < 30, "tried, then rested"


def test_when_every_replica_fails_the_call_is_an_error(sim_server) -> None:
    a, b = sim_server(fault_rate=1.0, faults=("500",)), sim_server(fault_rate=1.0, faults=("500",))
    llm = llm_on(a.url, b.url, max_retries=1)
    llm.backend.backoff_s = 0.001
    with pytest.raises(LLMError, match="failed 2 times"):
        llm.generate(requests(1))
    assert sent(a) == 2 and sent(b) == 2, "each round tries every replica"


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("http://127.0.0.1:8000/v1,,http://127.0.0.1:8001/v1", "an empty entry"),
        ("http://127.0.0.1:8000/v1,", "an empty entry"),
        ("http://127.0.0.1:8000/v1,localhost:8001", "malformed base URL 'localhost:8001'"),
        ("http://127.0.0.1:8000/v1,http://127.0.0.1:8000/v1/", "listed twice"),
    ],
)
def test_a_malformed_replica_list_is_refused(base_url: str, message: str) -> None:
    with pytest.raises(LLMConfigError, match=message):
        RoleSettings(backend="openai", base_url=base_url)


def test_a_malformed_replica_list_is_one_line_from_train_py(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "train.py", "--method", "promptagent", "--log_dir", str(tmp_path / "r"),
         "--base_base_url", "http://127.0.0.1:8000/v1,,http://127.0.0.1:8001/v1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "an empty entry" in lines[0], run.stderr
