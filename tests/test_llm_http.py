"""The LLM layer over real HTTP: the official openai client against the simulated server."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest

from drpo.llm import (
    BudgetExceeded,
    ChatRequest,
    LLMCache,
    LLMConfigError,
    LLMError,
    Price,
    PriceTable,
    RoleSettings,
    UsageTracker,
    make_llms,
)
from drpo.llm._loop import run_sync
from drpo.llm.openai_backend import OpenAIBackend
from drpo.sim import SimulatedLLM


def requests(count: int, **settings) -> list[ChatRequest]:
    return [
        ChatRequest.of(f"Question number {i}: why?", system="Explain topics in depth.", **settings)
        for i in range(count)
    ]


def llm_for(server, *, cache=None, usage=None, **settings):
    role = RoleSettings(backend="openai", base_url=server.url, **settings)
    return make_llms({"eval": role}, cache=cache, usage=usage)["eval"]


@pytest.mark.parametrize("concurrency", [1, 4, 16, 40])
def test_requests_run_exactly_concurrency_at_a_time(sim_server, concurrency: int) -> None:
    # long enough for every one of the limit's requests to be in flight at once even on a
    # busy machine (the client opens 40 connections in turn; at 0.3 s, a machine running a
    # second test suite and two model servers once reached a peak of 21 of 40)
    latency = 0.060 if concurrency <= 4 else 1.0
    server = sim_server(latency_ms=int(latency * 1000))
    llm = llm_for(server, concurrency=concurrency)  # 40: three clients share the limit
    n = max(16, concurrency)
    start = time.perf_counter()
    llm.generate(requests(n))
    elapsed = time.perf_counter() - start
    assert server.stats()["peak_in_flight"] == concurrency
    # a lower bound is physics, not noise: ceil(N / c) rounds of the server's latency
    assert elapsed >= math.ceil(n / concurrency) * latency * 0.95


def test_faults_at_20_percent_are_survived_with_identical_texts(sim_server) -> None:
    batch = requests(30, temperature=0.9, n=2) + requests(10)
    clean = make_llms({"eval": RoleSettings(backend="sim", seed=7)})["eval"].generate(batch)
    server = sim_server(fault_rate=0.2, seed=7, stall_s=1.0)
    llm = llm_for(server, concurrency=8, timeout_s=0.4, max_retries=12)
    llm.backend.backoff_s = 0.01
    faulty = llm.generate(batch)
    assert [c.texts for c in faulty] == [c.texts for c in clean]
    stats = server.stats()
    assert sum(v for k, v in stats.items() if k.startswith("fault_")) >= 5
    assert {k for k in stats if k.startswith("fault_")} >= {"fault_429", "fault_500"}


def test_a_cached_rerun_sends_no_request(sim_server, tmp_path: Path) -> None:
    server = sim_server()
    batch = requests(6) + requests(3, temperature=1.0, n=3)
    first = llm_for(server, cache=LLMCache(tmp_path / "cache.sqlite")).generate(batch)
    sent = server.stats()["requests"]
    usage = UsageTracker()
    again = llm_for(server, cache=LLMCache(tmp_path / "cache.sqlite"), usage=usage).generate(batch)
    assert server.stats()["requests"] == sent, "a re-run must be answered from the cache"
    assert [c.texts for c in again] == [c.texts for c in first]
    assert all(all(c.cached) for c in again)
    total = usage.summary()["total"]
    assert total["cache_hits"] == 6 + 9 and total["requests"] == 0 and total["cost_usd"] == 0
    assert total["prompt_tokens"] == 0 and total["completion_tokens"] == 0


def test_samples_stay_distinct_and_a_partial_cache_asks_only_for_the_rest(
    sim_server, tmp_path: Path
) -> None:
    server = sim_server()
    cache = LLMCache(tmp_path / "c.sqlite")
    prompt = "Explain topics in depth. Be creative. Say when you are unsure. Be concise."
    two = ChatRequest.of("Why is the sea salty?", system=prompt, temperature=1.0, n=2)
    five = ChatRequest.of("Why is the sea salty?", system=prompt, temperature=1.0, n=5)
    llm_for(server, cache=cache).generate([two])
    assert server.stats()["samples"] == 2
    (got,) = llm_for(server, cache=cache).generate([five])
    assert server.stats()["samples"] == 5, "only the three missing samples are asked for"
    assert got.cached == (True, True, False, False, False)
    (fresh,) = make_llms({"x": RoleSettings(backend="sim")})["x"].generate([five])
    assert got.texts == fresh.texts, "sample k is sample k, however the cache was filled"
    assert len(set(got.texts)) > 1


def test_usage_sums_are_exact(sim_server) -> None:
    server = sim_server()
    usage = UsageTracker()
    llm = llm_for(server, usage=usage)
    llm.generate(requests(7) + requests(2, n=3, temperature=0.5))
    llm.generate(requests(4, max_tokens=5))
    stats, total = server.stats(), usage.summary()["total"]
    assert total["prompt_tokens"] == stats["prompt_tokens"]
    assert total["completion_tokens"] == stats["completion_tokens"]
    assert total["requests"] == stats["completions"] == 13
    assert total["samples"] == stats["samples"] == 7 + 6 + 4


def test_costs_follow_the_price_table(sim_server) -> None:
    server = sim_server()
    usage = UsageTracker(prices=PriceTable({"priced-model": Price(1.0, 2.0)}))
    role = RoleSettings(backend="openai", base_url=server.url, model="priced-model")
    make_llms({"eval": role}, usage=usage)["eval"].generate(requests(3))
    row = usage.rows()[0]
    assert row.cost_usd == pytest.approx(
        (row.prompt_tokens * 1.0 + row.completion_tokens * 2.0) / 1e6
    )


def test_budget_stops_before_sending(sim_server) -> None:
    server = sim_server()
    usage = UsageTracker(prices=PriceTable({"priced-model": Price(1000.0, 1000.0)}), budget_usd=0.5)
    role = RoleSettings(backend="openai", base_url=server.url, model="priced-model")
    llm = make_llms({"eval": role}, usage=usage)["eval"]
    llm.generate([ChatRequest.of("hi", max_tokens=10)])  # about $0.01: allowed
    with pytest.raises(BudgetExceeded, match="budget"):
        llm.generate(requests(50, max_tokens=100))
    assert server.stats()["requests"] == 1, "nothing is sent once the budget could be exceeded"
    assert usage.spent_usd <= 0.5


def test_a_failed_call_is_an_error_naming_role_model_and_url(sim_server) -> None:
    server = sim_server(fault_rate=1.0, faults=("500",))
    llm = llm_for(server, max_retries=2)
    llm.backend.backoff_s = 0.001
    with pytest.raises(LLMError) as info:
        llm.generate(requests(1))
    message = str(info.value)
    assert "'eval'" in message and "'sim'" in message and server.url in message
    assert "failed 3 times" in message
    assert server.stats()["requests"] == 3


def test_an_unreachable_server_is_a_clear_error() -> None:
    llm = make_llms(
        {"base": RoleSettings(backend="openai", base_url="http://127.0.0.1:9/v1", max_retries=1)}
    )["base"]
    llm.backend.backoff_s = 0.001
    with pytest.raises(LLMError, match=r"role 'base'.*http://127.0.0.1:9/v1.*APIConnectionError"):
        llm.generate(requests(1))


def test_a_rejected_key_is_not_retried(sim_server, monkeypatch) -> None:
    server = sim_server(api_key="the-right-key")
    monkeypatch.setenv("SIM_TEST_KEY", "a-wrong-key")
    llm = llm_for(server, api_key_env="SIM_TEST_KEY")
    with pytest.raises(LLMError, match="rejected the API key"):
        llm.generate(requests(1))
    assert server.stats().get("unauthorized") == 1
    monkeypatch.setenv("SIM_TEST_KEY", "the-right-key")
    assert llm_for(server, api_key_env="SIM_TEST_KEY").generate(requests(1))[0].text


def test_the_official_endpoint_needs_a_key(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMConfigError, match=r"OPENAI_API_KEY is not set.*gpt-4o"):
        OpenAIBackend("gpt-4o")


def test_answers_paid_for_are_kept_when_another_call_fails(sim_server, tmp_path: Path) -> None:
    server = sim_server()
    cache = LLMCache(tmp_path / "c.sqlite")
    good = requests(4)
    bad = ChatRequest.of("too many samples", n=129)  # the server refuses n > 128
    with pytest.raises(LLMError, match="refused the request"):
        llm_for(server, cache=cache).generate([*good, bad])
    sent = server.stats()["requests"]
    again = llm_for(server, cache=cache).generate(good)
    assert all(all(c.cached) for c in again) and server.stats()["requests"] == sent


def test_the_api_key_never_reaches_the_cache(sim_server, monkeypatch, tmp_path: Path) -> None:
    marker = "sk-marker-7d1e2f3a4b5c"
    monkeypatch.setenv("OPENAI_API_KEY", marker)
    server = sim_server(api_key=marker)
    cache_path = tmp_path / "cache.sqlite"
    usage = UsageTracker()
    llm_for(server, cache=LLMCache(cache_path), usage=usage).generate(requests(3))
    for path in tmp_path.iterdir():
        assert marker.encode() not in path.read_bytes()
    assert marker not in str(usage.summary()) and marker not in usage.table()


def test_in_process_and_http_give_the_same_answers(sim_server) -> None:
    server = sim_server(seed=4)
    batch = requests(5, temperature=0.7, n=2)
    http = llm_for(server).generate(batch)
    local = make_llms({"x": RoleSettings(backend="sim", seed=4)})["x"].generate(batch)
    assert [c.texts for c in http] == [c.texts for c in local]
    assert [(c.prompt_tokens, c.completion_tokens) for c in http] == [
        (c.prompt_tokens, c.completion_tokens) for c in local
    ]


def test_knowledge_reaches_the_simulated_task_model() -> None:
    knowledge = {"Is water wet? (A) yes (B) no": "(A)"}
    role = RoleSettings(backend="sim", knowledge=knowledge)
    llm = make_llms({"base": role})["base"]
    texts = llm.generate([ChatRequest.of("Q: Is water wet? (A) yes (B) no", temperature=1.0, n=8)])
    assert SimulatedLLM(knowledge=knowledge).knowledge and any("(A)" in t for t in texts[0].texts)


def test_retry_after_is_honoured(sim_server) -> None:
    from types import SimpleNamespace

    from drpo.llm.openai_backend import _retry_after

    def error(headers: dict) -> Exception:
        exc = Exception("429")
        exc.response = SimpleNamespace(headers=headers)  # type: ignore[attr-defined]
        return exc

    assert _retry_after(error({"retry-after": "2"})) == 2.0
    assert _retry_after(error({"retry-after-ms": "250"})) == 0.25
    assert _retry_after(error({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"})) is None
    assert _retry_after(Exception("no response")) is None
    # a server that always answers 429 with Retry-After 0.3: two retries wait 0.6 s in all,
    # although our own backoff (1 ms) would not wait at all
    server = sim_server(fault_rate=1.0, faults=("429",), retry_after_s=0.3)
    llm = llm_for(server, max_retries=2)
    llm.backend.backoff_s = 0.001
    start = time.perf_counter()
    with pytest.raises(LLMError, match="failed 3 times"):
        llm.generate(requests(1))
    assert time.perf_counter() - start >= 0.55
    assert server.stats()["fault_429"] == 3


def test_rounds_count_the_critical_path_of_calls(sim_server) -> None:
    """Batches gathered together share a round; a batch that waits for another starts one;
    answers from the cache start none."""
    server = sim_server(latency_ms=30)
    usage = UsageTracker()
    llm = llm_for(server, usage=usage, cache=None, concurrency=8)

    async def gathered() -> None:
        other = [ChatRequest.of(f"Another question {i}") for i in range(2)]
        await asyncio.gather(llm.agenerate(requests(3)), llm.agenerate(other))

    run_sync(gathered())
    assert usage.rounds == 1 and usage.widest_round == 5
    llm.generate(requests(2))
    llm.generate(requests(2))
    assert usage.rounds == 3 and usage.summary()["rounds"] == 3
    assert server.stats()["requests"] == 9


def test_identical_requests_in_a_batch_are_paid_once(sim_server, tmp_path: Path) -> None:
    server = sim_server()
    usage = UsageTracker()
    llm = llm_for(server, usage=usage, cache=LLMCache(tmp_path / "c.sqlite"))
    same = ChatRequest.of("Score this prompt on example 3.")
    sampled = ChatRequest.of("Write new prompts.", temperature=0.8, n=3)
    two_of_them = ChatRequest.of("Write new prompts.", temperature=0.8, n=2)
    out = llm.generate([same, sampled, same, two_of_them])
    assert server.stats()["requests"] == 2  # one each: the duplicates are served from them
    assert out[0].texts == out[2].texts and out[3].texts == out[1].texts[:2]
    assert out[2].cached == (True,) and out[0].cached == (False,)
    assert usage.summary()["total"]["requests"] == 2
    assert usage.summary()["total"]["cache_hits"] == 3
