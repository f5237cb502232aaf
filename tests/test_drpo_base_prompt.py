"""DRPO's base model: the reference's template in both prompt formats, its answer limit and
stops, the released in-context examples written with one pair of markers each, answers
cleaned of them, and which format a model gets (and says it got)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from drpo_helpers import Rewriting, drpo_pieces
from gguf_files import write_gguf
from run_helpers import over_http, train

from drpo.llm import BackendCall, ChatRequest, CompletionRequest, LLMConfigError, RoleSettings
from drpo.llm._loop import run_sync
from drpo.methods.drpo.aspect_judge import MetricsCache
from drpo.methods.drpo.base_prompt import BasePrompt, choose_format, clean_answer
from drpo.methods.drpo.data import load_examples
from drpo.methods.drpo.dynamic_reward import DynamicReward, ExampleSource
from drpo.sim.backend import SimBackend

#: The example file DRPO's authors released: every answer already between <START> and <END>.
RELEASED = (Path(__file__).resolve().parents[2] / "shared" / "data" / "drpo" /
            "ICL_optimization" / "out_16_5.json")  # fmt: skip
QUERY = "Why is the sky blue?"


class Recorder(SimBackend):
    """The simulated LLM, keeping every call it gets."""

    def __init__(self, model: str = "sim") -> None:
        super().__init__(model)
        self.calls: list[BackendCall] = []

    async def agenerate(self, calls: Sequence[BackendCall], on_result: Any = None) -> list:
        self.calls.extend(calls)
        return await super().agenerate(calls, on_result)


def released_reward(prompt_format: str | None = None, base: Any = None) -> DynamicReward:
    """A DynamicReward over the released examples (the first two shown for every query)."""
    _, _, llms = drpo_pieces(base=base)
    examples = dict(list(load_examples(RELEASED).items())[:2])
    return DynamicReward(
        base=llms["base"], metrics=llms["metrics"], judge=llms["eval"],
        examples=ExampleSource(examples, k=2, retriever=None), metrics_cache=MetricsCache(None),
        **({"base_prompt": BasePrompt(prompt_format)} if prompt_format else {}),
    )  # fmt: skip


def whole_text(request: ChatRequest | CompletionRequest) -> str:
    if isinstance(request, CompletionRequest):
        return request.prompt
    return "\n\n".join(content for _, content in request.messages)


# ---- the answer limit and the stops ------------------------------------------------------
def test_the_base_model_may_answer_2048_tokens_and_stops_where_the_reference_does() -> None:
    recorder = Recorder()
    world, _, _ = drpo_pieces(base=recorder)
    run_sync(world.reward.evaluate([("Be kind.", QUERY)]))
    (call,) = recorder.calls
    assert call.request.max_tokens == 2048
    assert {"<END>", "<END", "<|eot_id|>"} <= set(call.request.stop)


def test_train_py_gives_drpo_2048_tokens_and_the_other_methods_512(tmp_path: Path) -> None:
    done = train("--depth", "1", "--log_dir", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["settings"]["max_tokens"] == 2048
    from drpo.methods.registry import methods

    task_methods = [m for m in methods() if m.task_prompt]
    assert task_methods
    assert all(m.settings().max_tokens == 512 for m in task_methods)


def test_the_end_of_turn_stop_is_the_models_own() -> None:
    assert "<end_of_turn>" in BasePrompt.for_model("completion", "gemma-3-270m-q4_k_m.gguf").stops
    assert "<|eot_id|>" in BasePrompt.for_model("chat", "meta-llama/Meta-Llama-3-8B").stops
    assert "<|im_end|>" in BasePrompt.for_model("chat", "qwen2.5-0.5b-instruct.gguf").stops


# ---- the released examples, in both formats ---------------------------------------------
@pytest.mark.parametrize("prompt_format", [None, "chat", "completion"])
def test_released_examples_are_shown_with_one_start_and_one_end_each(
    prompt_format: str | None,
) -> None:
    request, shown = released_reward(prompt_format).base_request("Be kind.", QUERY)
    text = whole_text(request)
    assert len(shown) == 2
    assert "<END>\n<END>" not in text and "<START>\n<START>" not in text
    assert text.count("<END>") == 2, "one end marker per example answer"
    assert text.count("<START>") == 3, "one per example answer, and the query's answer opened"
    assert text.endswith(f"# Query:\n{QUERY}\n\n# Answer:\n<START>")
    assert text.startswith("# Instructions\n\nBe kind.\n\n# Query:\n")


def test_the_chat_format_opens_the_answer_in_the_user_turn() -> None:
    request, _ = released_reward("chat").base_request("Be kind.", QUERY)
    assert isinstance(request, ChatRequest)
    (system_role, system), (user_role, user) = request.messages
    assert (system_role, user_role) == ("system", "user")
    assert user == f"# Query:\n{QUERY}\n\n# Answer:\n<START>" and QUERY not in system
    completion, _ = released_reward("completion").base_request("Be kind.", QUERY)
    assert isinstance(completion, CompletionRequest)
    assert completion.prompt == f"{system}\n\n{user}", "one layout, two formats"


def test_an_answer_that_opens_with_start_has_it_stripped() -> None:
    reward = released_reward(base=Rewriting(lambda text: f"<START>\n{text}\n<END>"))
    (step,) = run_sync(reward.evaluate([("Be kind.", QUERY)]))
    assert step.output.startswith("(simulated answer)")
    assert "<START>" not in step.output and "<END>" not in step.output


def test_the_simulated_chat_model_imitating_the_examples_leaves_no_marker() -> None:
    """The simulated model opens its answer with <START> as the examples do, unless the
    user turn already opened it: with the reference's user turn, no marker is left."""
    (step,) = run_sync(released_reward("chat").evaluate([("Be kind.", QUERY)]))
    assert step.output.startswith("(simulated answer)") and "<" not in step.output


@pytest.mark.parametrize(
    ("written", "answer"),
    [
        ("<START>\nFine.\n<END>\n\n# Query:\nMore?", "Fine."),
        ("Fine.\n<END", "Fine."),
        ("Fine.<end_of_turn>\nuser", "Fine."),
        ("Fine.\n\n# Query:\nA question of its own?\n\n# Answer:\n", "Fine."),
        ("<START> <START>\nFine.", "Fine."),
    ],
)
def test_answers_are_cleaned_of_the_layout(written: str, answer: str) -> None:
    assert clean_answer(written, end_of_turn_token="<end_of_turn>") == answer


# ---- which format a model gets -----------------------------------------------------------
def test_auto_picks_completion_for_models_without_a_chat_template(tmp_path: Path) -> None:
    base_gguf = write_gguf(tmp_path / "base.gguf", {"general.name": "base"})
    chat_gguf = write_gguf(tmp_path / "chat.gguf", {"tokenizer.chat_template": "{{ m }}"})
    cases = [
        (RoleSettings(), "chat"),
        (RoleSettings(model="sim-base"), "completion"),
        (RoleSettings(backend="llamacpp", model=str(base_gguf)), "completion"),
        (RoleSettings(backend="llamacpp", model=str(chat_gguf)), "chat"),
        (RoleSettings(backend="openai", model="mistralai/Mistral-7B-v0.1"), "completion"),
        (RoleSettings(backend="vllm", model="meta-llama/Meta-Llama-3-8B"), "completion"),
    ]
    for role, expected in cases:
        assert choose_format("auto", role=role).format == expected, role
    assert choose_format("chat", role=RoleSettings(model="sim-base")).format == "chat"
    with pytest.raises(LLMConfigError, match="pass --base_prompt_format chat or completion"):
        choose_format("auto", role=RoleSettings(backend="openai", model="my-model", offline=True))
    with pytest.raises(LLMConfigError, match="unknown --base_prompt_format 'plain'"):
        choose_format("plain", role=RoleSettings())


def test_a_server_that_refuses_chat_gets_plain_text(sim_server, tmp_path: Path) -> None:
    """DRPO end to end, its base model on a server without a chat template (auto), the other
    roles on a chat server: the run says which format the base model got."""
    base, chat = sim_server(chat_template=False), sim_server()
    roles = [arg for arg in over_http(chat.url) if not arg.startswith("--base_")]
    done = train("--depth", "2", "--log_dir", str(tmp_path / "run"),
                 f"--base_base_url={base.url}", *roles)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "base model prompt format: completion (the model refuses chat)" in done.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["base_prompt_format"] == {
        "format": "completion",
        "asked": "auto",
        "reason": "the model refuses chat",
    }
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "base model prompt format: completion" in log
    assert base.stats()["text_requests"] > 0 and chat.stats().get("text_requests", 0) == 0
    outputs = [n["state"]["output"] for n in
               json.loads((tmp_path / "run" / "algo_output" / "output.json").read_text())["nodes"]
               if n["state"].get("output")]  # fmt: skip
    assert outputs and all(o.startswith("(simulated answer)") for o in outputs)
    assert not any("<END" in o or "# Query:" in o for o in outputs)


def test_an_unknown_base_prompt_format_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = train("--base_prompt_format", "plain", "--log_dir", str(tmp_path / "run"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--base_prompt_format" in lines[0] and "plain" in lines[0]
    assert not (tmp_path / "run").exists()
