"""The LLM layer in process: requests, cache, JSON, roles, prices, and the vLLM backend."""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from drpo.llm import (
    LLM,
    Backend,
    BackendCall,
    BackendResult,
    ChatRequest,
    JSONOutputError,
    LLMCache,
    LLMConfigError,
    LLMError,
    PriceTable,
    RoleSettings,
    TruncatedJSONError,
    UsageTracker,
    extract_json,
    make_llms,
    request_key,
    require_keys,
)
from drpo.llm.vllm_backend import VLLMBackend


class ScriptedBackend(Backend):
    """A fake model: answers each call with the next scripted text (DSPy-style fake LM)."""

    kind = "scripted"

    def __init__(self, script: Sequence[str], *, finish: str = "stop") -> None:
        super().__init__("scripted")
        self.script = list(script)
        self.finish = finish
        self.calls: list[BackendCall] = []

    async def agenerate(
        self, calls: Sequence[BackendCall], on_result: Any = None
    ) -> list[BackendResult | Exception]:
        out = []
        for call in calls:
            self.calls.append(call)
            texts = tuple(self.script.pop(0) for _ in range(call.count))
            out.append(BackendResult(texts, (self.finish,) * call.count, 10, 5 * call.count))
            if on_result is not None:
                on_result(len(out) - 1, out[-1])
        return out


# ---- requests --------------------------------------------------------------------------
def test_requests_are_validated() -> None:
    with pytest.raises(ValueError, match="n must be >= 1"):
        ChatRequest.of("hi", n=0)
    with pytest.raises(ValueError, match="temperature"):
        ChatRequest.of("hi", temperature=-1)
    with pytest.raises(ValueError, match="needs a role and text content"):
        ChatRequest.of([{"role": "wizard", "content": "hi"}])
    with pytest.raises(ValueError, match="at least one message"):
        ChatRequest.of([])
    request = ChatRequest.of([{"role": "user", "content": "hi"}], system="be brief")
    assert request.openai_messages() == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]


def test_cache_keys_cover_every_sampling_setting_but_not_n() -> None:
    base = ChatRequest.of("hi")
    keys = {
        request_key("m", base, 0),
        request_key("m", base, 1),
        request_key("other", base, 0),
        request_key("m", ChatRequest.of("hi", temperature=0.5), 0),
        request_key("m", ChatRequest.of("hi", top_p=0.5), 0),
        request_key("m", ChatRequest.of("hi", max_tokens=5), 0),
        request_key("m", ChatRequest.of("hi", stop=["x"]), 0),
        request_key("m", ChatRequest.of("hi", json_mode=True), 0),
        request_key("m", ChatRequest.of("hi", system="s"), 0),
    }
    assert len(keys) == 9
    assert request_key("m", ChatRequest.of("hi", n=4), 0) == request_key("m", base, 0)


def test_cache_opt_out(tmp_path: Path) -> None:
    backend = ScriptedBackend(["a", "b", "c"])
    llm = LLM(backend, role="r", cache=LLMCache(tmp_path / "c.sqlite"))
    assert llm.generate([ChatRequest.of("hi", cache=False)])[0].text == "a"
    assert llm.generate([ChatRequest.of("hi", cache=False)])[0].text == "b"
    assert len(llm.cache) == 0


def _write_many(path: str, start: int) -> None:
    cache = LLMCache(path)
    for i in range(start, start + 200):
        cache.put_many([(f"key-{i}", {"text": f"value {i}", "finish_reason": "stop"})])


def test_cache_is_safe_under_concurrent_writers(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    threads = [threading.Thread(target=_write_many, args=(path, 1000 * t)) for t in range(4)]
    processes = [
        multiprocessing.get_context("spawn").Process(target=_write_many, args=(path, 10_000 * p))
        for p in range(1, 3)
    ]
    for worker in [*threads, *processes]:
        worker.start()
    for worker in [*threads, *processes]:
        worker.join()
    assert all(p.exitcode == 0 for p in processes)
    cache = LLMCache(path)
    assert len(cache) == 6 * 200
    assert cache.get_many(["key-3199"])["key-3199"]["text"] == "value 3199"


# ---- JSON ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('Here you go:\n```json\n{"a": [1, 2]}\n```\nAnything else?', {"a": [1, 2]}),
        ('Sure. {"a": {"b": "}"}} Hope this helps', {"a": {"b": "}"}}),
        ("[simulated] note: {x} then [1, 2, 3]", [1, 2, 3]),
        ('```\n{"k": "v"}\n```', {"k": "v"}),
        ('{"a": 1} and later {"b": 2}', {"a": 1}),
    ],
)
def test_json_is_found_in_prose_and_fences(text: str, expected: Any) -> None:
    assert extract_json(text) == expected


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ('{"a": {"b": 1}, "c": "unfinish', TruncatedJSONError, "cut off"),
        ('```json\n{"a": 1', TruncatedJSONError, "cut off"),
        ("no JSON at all", JSONOutputError, "holds no JSON"),
        ('{"a": 1,}', JSONOutputError, "does not parse"),
    ],
)
def test_bad_json_is_reported_not_repaired(text: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        extract_json(text)


def test_truncation_is_reported_when_the_model_hit_its_limit() -> None:
    with pytest.raises(TruncatedJSONError, match="token limit"):
        extract_json("I will now write the JSON", truncated=True)


def test_required_keys() -> None:
    assert require_keys({"a": 1, "b": 2}, ["a"]) == {"a": 1, "b": 2}
    with pytest.raises(JSONOutputError, match="'b'"):
        require_keys({"a": 1}, ["a", "b"])
    with pytest.raises(JSONOutputError, match="expected a JSON object"):
        require_keys([1], ["a"])


def test_unparseable_answers_are_re_asked_with_the_reason() -> None:
    backend = ScriptedBackend(["no json here", '{"wrong": 1}', '{"score": 4}'])
    llm = LLM(backend, role="eval", max_reasks=2)
    (answers,) = llm.generate_json([ChatRequest.of("score it")], required_keys=["score"])
    assert answers[0].ok and answers[0].value == {"score": 4} and answers[0].attempts == 3
    reask = backend.calls[1].request.messages
    assert reask[-2] == ("assistant", "no json here")
    assert "holds no JSON" in reask[-1][1]
    assert "'score'" in backend.calls[2].request.messages[-1][1]


def test_re_asks_are_bounded_and_failure_is_reported_not_invented() -> None:
    backend = ScriptedBackend(["nope", "still nope", "nope again", "never asked"])
    (answers,) = LLM(backend, role="eval", max_reasks=2).generate_json([ChatRequest.of("x")])
    assert not answers[0].ok and answers[0].value is None
    assert "holds no JSON" in answers[0].error and answers[0].attempts == 3
    assert len(backend.calls) == 3 and backend.script == ["never asked"]


def test_each_sample_is_checked_and_re_asked_on_its_own() -> None:
    backend = ScriptedBackend(['{"p": "one"}', "oops", '{"p": "two"}', '{"p": "fixed"}'])
    llm = LLM(backend, role="optimize")
    (answers,) = llm.generate_json(
        [ChatRequest.of("propose", n=3, temperature=1.0)], required_keys=["p"]
    )
    assert [a.value["p"] for a in answers] == ["one", "fixed", "two"]
    assert [a.attempts for a in answers] == [1, 2, 1]


def test_parse_hook_can_reject_values() -> None:
    def score(value: Any) -> int:
        if not 1 <= value["score"] <= 5:
            raise ValueError("score must be from 1 to 5")
        return value["score"]

    backend = ScriptedBackend(['{"score": 9}', '{"score": 5}'])
    (answers,) = LLM(backend, role="eval").generate_json([ChatRequest.of("x")], parse=score)
    assert answers[0].value == 5 and "from 1 to 5" in backend.calls[1].request.messages[-1][1]


def test_truncated_json_is_re_asked() -> None:
    backend = ScriptedBackend(['{"a": "cut off her'], finish="length")
    (answers,) = LLM(backend, role="eval", max_reasks=0).generate_json([ChatRequest.of("x")])
    assert "cut off" in answers[0].error and "token limit" in answers[0].error


# ---- roles, usage, prices --------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"backend": "llamafile"},
            "unknown backend 'llamafile'; choose from sim, openai, llamacpp, vllm",
        ),
        ({"backend": "openai", "concurrency": -1}, "concurrency must be >= 1"),
        ({"backend": "openai", "base_url": "localhost:8000"}, "malformed base URL"),
        ({"backend": "openai", "base_url": "ftp://host/v1"}, "malformed base URL"),
        ({"backend": "sim", "base_url": "http://127.0.0.1:1/v1"}, "needs the openai backend"),
    ],
)
def test_bad_role_settings_are_clear_errors(settings: dict, message: str) -> None:
    with pytest.raises(LLMConfigError, match=message.replace("(", r"\(")):
        RoleSettings(**settings)


def test_roles_share_a_backend_when_they_share_a_model() -> None:
    llms = make_llms(
        {
            "base": RoleSettings(backend="sim", model="sim-a"),
            "eval": RoleSettings(backend="sim", model="sim-a"),
            "optimize": RoleSettings(backend="sim", model="sim-b"),
        }
    )
    assert llms["base"].backend is llms["eval"].backend
    assert llms["optimize"].backend is not llms["base"].backend
    assert llms["base"].usage is llms["optimize"].usage


def test_usage_is_tallied_per_role() -> None:
    llms = make_llms({"base": RoleSettings(), "eval": RoleSettings()})
    llms["base"].generate([ChatRequest.of("a"), ChatRequest.of("b")])
    llms["eval"].generate([ChatRequest.of("c", n=2, temperature=1.0)])
    rows = {r.role: r for r in llms["base"].usage.rows()}
    assert rows["base"].requests == 2 and rows["base"].samples == 2
    assert rows["eval"].requests == 1 and rows["eval"].samples == 2
    assert "total" in llms["base"].usage.table()


def test_prices(tmp_path: Path) -> None:
    table = PriceTable()
    assert table.price("gpt-4o-2024-08-06") == table.price("gpt-4o")
    assert table.price("gpt-4o-mini").input < table.price("gpt-4o").input
    assert table.price("sim-base").input == 0
    assert table.price("my-local-llama") is None
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"my-local-llama": {"input": 0.1, "output": 0.2}}))
    assert PriceTable.from_file(path).price("my-local-llama").output == 0.2
    path.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read prices"):
        PriceTable.from_file(path)
    usage = UsageTracker(prices=PriceTable())
    usage.settle("base", "my-local-llama", reserved_usd=0, requests=1, samples=1,
                 prompt_tokens=10, completion_tokens=10)  # fmt: skip
    assert usage.summary()["total"]["unpriced_models"] == ["my-local-llama"]
    with pytest.raises(ValueError, match="budget_usd"):
        UsageTracker(budget_usd=-1)


# ---- vLLM, with a stand-in engine ------------------------------------------------------
class FakeEngine:
    """Records `chat` calls like vllm.LLM would receive them."""

    def __init__(self) -> None:
        self.calls: list[tuple[list, list]] = []

    def chat(self, conversations: list, sampling_params: list, use_tqdm: bool) -> list:
        self.calls.append((conversations, sampling_params))
        outputs = []
        for conversation, params in zip(conversations, sampling_params):
            last = conversation[-1]["content"]
            samples = [
                SimpleNamespace(text=f"{last} #{j}", finish_reason="stop", token_ids=[1, 2, 3])
                for j in range(params["n"])
            ]
            outputs.append(SimpleNamespace(prompt_token_ids=[0] * 7, outputs=samples))
        return outputs


def test_vllm_sends_a_whole_batch_in_one_call() -> None:
    engine = FakeEngine()
    backend = VLLMBackend("meta-llama/Llama-3-8B-Instruct", engine=engine, sampling_params=dict)
    llm = LLM(backend, role="base")
    batch = [ChatRequest.of(f"q{i}", system="sys", max_tokens=64, stop=["\n\n"]) for i in range(5)]
    batch.append(ChatRequest.of("sampled", temperature=0.8, n=3))
    out = llm.generate(batch)
    assert len(engine.calls) == 1, "one engine call for the whole batch"
    conversations, params = engine.calls[0]
    assert conversations[0] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "q0"},
    ]
    assert params[0] == {"n": 1, "temperature": 0.0, "top_p": 1.0, "stop": ["\n\n"],
                         "seed": None, "max_tokens": 64}  # fmt: skip
    assert params[5]["n"] == 3 and params[5]["seed"] == 0
    assert out[5].texts == ("sampled #0", "sampled #1", "sampled #2")
    assert out[0].prompt_tokens == 7 and out[0].completion_tokens == 3


def test_vllm_engine_errors_are_llm_errors() -> None:
    class Broken(FakeEngine):
        def chat(self, *args: Any, **kwargs: Any) -> list:
            raise RuntimeError("CUDA out of memory")

    llm = LLM(VLLMBackend("m", engine=Broken(), sampling_params=dict), role="base")
    with pytest.raises(LLMError, match=r"role 'base'.*CUDA out of memory"):
        llm.generate([ChatRequest.of("hi")])


def test_vllm_settings_and_missing_package() -> None:
    with pytest.raises(LLMConfigError, match="num_gpus"):
        VLLMBackend("m", tensor_parallel_size=0)
    with pytest.raises(LLMConfigError, match="gpu_memory_utilization"):
        VLLMBackend("m", gpu_memory_utilization=1.5)
    try:
        import vllm  # noqa: F401
    except ImportError:
        llm = LLM(VLLMBackend("m"), role="base")
        with pytest.raises(LLMConfigError, match="needs vllm"):
            llm.generate([ChatRequest.of("hi")])
