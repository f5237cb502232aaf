"""Plain-text completion requests (how base models are asked) through every backend: the
simulated LLM in process and over real HTTP with the official openai client
(``/v1/completions``, also from ``python -m drpo.sim serve``), llama.cpp's server (a
stand-in), and in-process vLLM (a fake ``vllm`` module); cache, retries, usage, budget and
replicas as for chat."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from gguf_files import write_gguf
from test_llamacpp_backend import fake_launcher

from drpo.llm import (
    BudgetExceeded,
    ChatRequest,
    CompletionRequest,
    LLMCache,
    LLMError,
    Price,
    PriceTable,
    RoleSettings,
    UsageTracker,
    make_llms,
    request_key,
)
from drpo.llm._loop import run_sync
from drpo.llm.gguf import gguf_has_chat_template, gguf_metadata
from drpo.llm.llamacpp_backend import LlamaCppBackend
from drpo.llm.vllm_backend import VLLMBackend

ROOT = Path(__file__).resolve().parents[1]
#: A base model's document: instructions, one example between its markers, a query.
DOC = (
    "# Instructions\n\nExplain topics in depth.\n\n# Query:\nWhat is rain?\n\n# Answer:\n"
    "<START>\nWater falling from clouds.\n<END>\n\n# Query:\n{q}\n\n# Answer:\n<START>"
)


def documents(count: int, **settings: Any) -> list[CompletionRequest]:
    return [CompletionRequest(DOC.format(q=f"Question {i}: why?"), **settings)
            for i in range(count)]  # fmt: skip


def llm_on(*urls: str, cache=None, usage=None, model: str = "sim", **settings: Any):
    role = RoleSettings(backend="openai", base_url=",".join(urls), model=model, **settings)
    return make_llms({"base": role}, cache=cache, usage=usage)["base"]


def in_process(batch: list, *, seed: int = 0, model: str = "sim") -> list:
    return make_llms({"base": RoleSettings(backend="sim", model=model, seed=seed)})[
        "base"
    ].generate(batch)


# ---- the request kind ------------------------------------------------------------------
def test_completion_requests_are_validated_and_cached_apart_from_chat() -> None:
    with pytest.raises(ValueError, match="non-empty text prompt"):
        CompletionRequest("")
    with pytest.raises(ValueError, match="n must be >= 1"):
        CompletionRequest("hi", n=0)
    text, chat = CompletionRequest("Hello."), ChatRequest.of("Hello.")
    assert request_key("m", text, 0) != request_key("m", chat, 0), "the key names the kind"
    assert request_key("m", text, 0) != request_key("m", CompletionRequest("Hello.", stop=["x"]), 0)
    # a chat request keeps the key it had before plain-text requests existed: old caches hold
    pinned = ChatRequest.of("Hello.", system="Be brief.", max_tokens=5, stop=["<END>"])
    assert request_key("m", pinned, 0) == (
        "55fd25297f7cfe3163c8844a5a8c3d408b4c006124754acb3d48e30f0b397c92"
    )


def test_json_answers_are_asked_for_with_chat_requests() -> None:
    llm = make_llms({"x": RoleSettings()})["x"]
    with pytest.raises(TypeError, match="chat requests"):
        llm.generate_json([CompletionRequest("Reply in JSON.")])


# ---- the simulated LLM, in process and over HTTP ----------------------------------------
def test_over_http_the_official_client_gets_what_the_simulated_llm_writes(sim_server) -> None:
    batch = documents(5, stop=("<END>",), max_tokens=300) + documents(2, temperature=0.9, n=3)
    server = sim_server(seed=3)
    over_http = llm_on(server.url).generate(batch)
    assert [c.texts for c in over_http] == [c.texts for c in in_process(batch, seed=3)]
    assert server.stats()["text_requests"] == 7 and server.stats()["samples"] == 5 + 6
    assert over_http[0].text.startswith("(simulated answer) Here is my answer about: Question 0")


def test_a_base_model_runs_on_past_its_answer_unless_a_stop_ends_it(sim_server) -> None:
    llm = llm_on(sim_server().url)
    (free,) = llm.generate([CompletionRequest(DOC.format(q="Why is the sky blue?"))])
    (stopped,) = llm.generate([CompletionRequest(DOC.format(q="Why is the sky blue?"),
                                                 stop=("<END>", "<END"))])  # fmt: skip
    answer, _, after = free.text.partition("<END>")
    assert "# Query:" in after, "it imitates the document: a next query of its own"
    assert stopped.text == answer and "<START>" not in stopped.text


def test_usage_cache_and_kinds_over_http(sim_server, tmp_path: Path) -> None:
    server, usage = sim_server(), UsageTracker()
    cache = LLMCache(tmp_path / "cache.sqlite")
    llm = llm_on(server.url, cache=cache, usage=usage)
    first = llm.generate(documents(4) + documents(1, temperature=0.5, n=2))
    stats, total = server.stats(), usage.summary()["total"]
    assert total["prompt_tokens"] == stats["prompt_tokens"] > 0
    assert total["completion_tokens"] == stats["completion_tokens"] > 0
    assert total["requests"] == 5 and total["samples"] == 6
    again = llm.generate(documents(4) + documents(1, temperature=0.5, n=2))
    assert [c.texts for c in again] == [c.texts for c in first]
    assert all(all(c.cached) for c in again) and server.stats()["requests"] == 5
    # the same text as a chat message is another request, with its own entry
    llm.generate([ChatRequest.of(documents(1)[0].prompt)])
    assert server.stats()["requests"] == 6 and server.stats()["text_requests"] == 5


def test_faults_are_retried_and_give_the_same_texts(sim_server) -> None:
    batch = documents(12, temperature=0.8, n=2) + documents(6)
    server = sim_server(fault_rate=0.3, seed=5, stall_s=1.0)
    llm = llm_on(server.url, timeout_s=0.4, max_retries=12)
    llm.backend.backoff_s = 0.01
    faulty = llm.generate(batch)
    assert [c.texts for c in faulty] == [c.texts for c in in_process(batch, seed=5)]
    stats = server.stats()
    assert sum(v for k, v in stats.items() if k.startswith("fault_")) > 0
    assert llm.backend.notes["retries"] > 0


def test_the_budget_stops_completions_before_sending(sim_server) -> None:
    server = sim_server()
    usage = UsageTracker(prices=PriceTable({"priced": Price(1000.0, 1000.0)}), budget_usd=0.5)
    llm = llm_on(server.url, usage=usage, model="priced")
    llm.generate([CompletionRequest("Once upon a time", max_tokens=10)])  # about $0.01
    with pytest.raises(BudgetExceeded, match="budget"):
        llm.generate(documents(20, max_tokens=100))
    assert server.stats()["requests"] == 1 and usage.spent_usd <= 0.5


def test_completions_are_balanced_across_replicas(sim_server) -> None:
    a, b = sim_server(latency_ms=10), sim_server(latency_ms=10)
    batch = documents(30)
    llm = llm_on(a.url, b.url, concurrency=8)
    got = llm.generate(batch)
    assert [c.texts for c in got] == [c.texts for c in in_process(batch)]
    sent = [s.stats().get("text_requests", 0) for s in (a, b)]
    assert sum(sent) == 30 and min(sent) >= 8, sent
    assert sum(llm.backend.notes["answers_per_replica"].values()) == 30


def test_a_server_without_a_chat_template_refuses_chat_and_takes_plain_text(sim_server) -> None:
    llm = llm_on(sim_server(chat_template=False).url)
    with pytest.raises(LLMError, match="no chat template"):
        llm.generate([ChatRequest.of("Hello.")])
    assert run_sync(llm.accepts_chat()) is False
    (answer,) = llm.generate(documents(1))
    assert answer.text.startswith("(simulated answer)")
    assert run_sync(llm_on(sim_server().url).accepts_chat()) is True


def test_a_simulated_base_model_in_process_refuses_chat() -> None:
    base = make_llms({"base": RoleSettings(model="sim-base")})["base"]
    assert base.backend.has_chat_template() is False
    with pytest.raises(LLMError, match="no chat template"):
        base.generate([ChatRequest.of("Hello.")])
    assert base.generate(documents(1))[0].text == in_process(documents(1))[0].text


def test_python_m_drpo_sim_serve_answers_completions() -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "drpo.sim", "serve", "--port", "0", "--no_chat_template"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        url = server.stdout.readline().split(" at ")[1].split()[0]
        llm = llm_on(url)
        got = llm.generate(documents(3, stop=("<END>",)))
        assert [c.texts for c in got] == [
            c.texts for c in in_process(documents(3, stop=("<END>",)))
        ]
        with pytest.raises(LLMError, match=r"\(400\).*no chat template"):
            llm.generate([ChatRequest.of("Hello.")])
    finally:
        server.terminate()
        server.wait(timeout=10)


# ---- llama.cpp's server (a stand-in) ----------------------------------------------------
def test_llamacpp_sends_plain_text_and_reads_the_chat_template_from_the_gguf(
    tmp_path: Path,
) -> None:
    vocabulary = ["<s>", "a", "b"]
    base = write_gguf(
        tmp_path / "base.gguf", {"general.name": "tiny base", "tokenizer.ggml.tokens": vocabulary}
    )
    instruct = write_gguf(tmp_path / "chat.gguf", {"tokenizer.chat_template": "{{ x }}"})
    assert gguf_metadata(base) == {"general.name": "tiny base", "tokenizer.ggml.tokens": None}
    assert not gguf_has_chat_template(base) and gguf_has_chat_template(instruct)
    backend = LlamaCppBackend(base, slots=2, threads=1, launcher=fake_launcher())
    try:
        llm = make_llms({"base": RoleSettings()})["base"]
        llm.backend = backend
        assert backend.has_chat_template() is False
        batch = documents(2, temperature=0.7, n=2)
        got = llm.generate(batch)
        assert [c.texts for c in got] == [c.texts for c in in_process(batch)]
    finally:
        run_sync(backend.aclose())


# ---- vLLM in process (a fake vllm module) -----------------------------------------------
class FakeLLM:
    """vllm.LLM as far as we use it: chat (with a template) and generate (plain text)."""

    made: ClassVar[list[FakeLLM]] = []

    def __init__(self, model: str, **kwargs: Any) -> None:
        self.model, self.kwargs, self.calls = model, kwargs, []
        self.template = None if model.endswith("-base") else "{{ messages }}"
        FakeLLM.made.append(self)

    def get_tokenizer(self) -> Any:
        return SimpleNamespace(chat_template=self.template)

    def _outputs(self, texts: list[str], params: list[Any]) -> list[Any]:
        return [
            SimpleNamespace(
                prompt_token_ids=[0] * len(text.split()),
                outputs=[
                    SimpleNamespace(text=f"{text}|{j}", finish_reason="stop", token_ids=[1, 2])
                    for j in range(p.n)
                ],
            )
            for text, p in zip(texts, params)
        ]

    def chat(self, conversations: list, sampling_params: list, use_tqdm: bool) -> list:
        if self.template is None:
            raise ValueError("the tokenizer has no chat template")
        self.calls.append(("chat", conversations, sampling_params))
        return self._outputs([c[-1]["content"] for c in conversations], sampling_params)

    def generate(self, prompts: list, sampling_params: list, use_tqdm: bool) -> list:
        self.calls.append(("generate", prompts, sampling_params))
        return self._outputs(prompts, sampling_params)


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> type[FakeLLM]:
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = lambda **kwargs: SimpleNamespace(**kwargs)
    monkeypatch.setitem(sys.modules, "vllm", module)
    FakeLLM.made = []
    return FakeLLM


def test_vllm_sends_plain_text_through_generate_and_chat_through_chat(fake_vllm) -> None:
    llm = make_llms({"base": RoleSettings(backend="vllm", model="org/some-model")})["base"]
    chat = ChatRequest.of("a chat question", max_tokens=8)
    text = CompletionRequest("a plain text prompt", max_tokens=16, stop=("<END>", "<END"))
    got = llm.generate([text, chat, CompletionRequest("another prompt", temperature=0.5, n=2)])
    (engine,) = fake_vllm.made
    kinds = [kind for kind, _, _ in engine.calls]
    assert kinds == ["chat", "generate"], "one engine call per kind, whole batch at once"
    _, prompts, params = engine.calls[1]
    assert prompts == ["a plain text prompt", "another prompt"]
    assert params[0].stop == ["<END>", "<END"] and params[0].max_tokens == 16
    assert params[1].n == 2 and params[1].seed == 0
    assert got[0].text == "a plain text prompt|0" and got[1].text == "a chat question|0"
    assert got[2].texts == ("another prompt|0", "another prompt|1")
    assert got[0].prompt_tokens == 4 and got[0].completion_tokens == 2
    assert llm.backend.has_chat_template() is True


def test_vllm_knows_a_base_model_has_no_chat_template(fake_vllm) -> None:
    llm = make_llms({"base": RoleSettings(backend="vllm", model="org/model-base")})["base"]
    assert run_sync(llm.accepts_chat()) is False
    with pytest.raises(LLMError, match="no chat template"):
        llm.generate([ChatRequest.of("hi")])
    assert llm.generate([CompletionRequest("hi there")])[0].text == "hi there|0"
    assert isinstance(llm.backend, VLLMBackend)
