"""Structured output and short `n`, over real HTTP with the official openai client against
the simulated server: every JSON request sends its schema; servers that refuse schemas, or
any response_format, or that ignore `n`, are dealt with; and every attempt's tokens count."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from run_helpers import over_http, train

from drpo.llm import ChatRequest, LLMError, RoleSettings, UsageTracker, make_llms
from drpo.llm._loop import run_sync
from drpo.llm.backend import BackendCall
from drpo.llm.json_schema import object_schema, schema_errors
from drpo.llm.openai_backend import OpenAIBackend
from drpo.methods.drpo.aspects import ASPECTS
from drpo.methods.drpo.schemas import METRICS_SCHEMA, OPTIMIZER_SCHEMA, judge_schema
from drpo.sim import ServerSettings, SimServer

SCHEMA = object_schema({"name": {"type": "string", "maxLength": 20},
                        "score": {"type": "integer", "minimum": 1, "maximum": 5}})  # fmt: skip


@pytest.fixture
def recording():
    servers: list[SimServer] = []

    def start(**settings) -> SimServer:
        server = SimServer(ServerSettings(**settings), record_answers=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def formats(server: SimServer) -> list[str | None]:
    return [(a.body.get("response_format") or {}).get("type") for a in server.answered()]


# ---- the schemas ------------------------------------------------------------------------
def test_the_schemas_say_exactly_what_is_required() -> None:
    judge = judge_schema(("Clarity", "Safety"))["properties"]["evaluation"]
    assert judge["required"] == ["Clarity", "Safety"] and judge["additionalProperties"] is False
    entry = judge["properties"]["Clarity"]
    assert entry["properties"]["score"] == {"type": "integer", "minimum": 1, "maximum": 5}
    assert entry["properties"]["rationale"]["maxLength"] <= 400
    one_aspect_only = {"evaluation": {"Clarity": {"rationale": "ok", "score": 4}}}
    assert schema_errors(one_aspect_only, judge_schema(("Clarity", "Safety")))
    chosen = METRICS_SCHEMA["properties"]["aspects_selection"]["properties"]["selected_aspects"]
    assert chosen["items"]["enum"] == list(ASPECTS) and (
        chosen["minItems"],
        chosen["maxItems"],
    ) == (2, 5)
    # room for the paper's released prompts (about 2,700 characters), and bounded
    assert 2_700 < OPTIMIZER_SCHEMA["properties"]["new_system_prompt"]["maxLength"] <= 4000


def test_a_drpo_run_sends_a_schema_with_every_json_request(recording, tmp_path: Path) -> None:
    server = recording()
    out = train(*over_http(server.url), "--depth", "2", "--log_dir", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    bodies = [a.body for a in server.answered()]
    json_requests = [b for b in bodies if "reply with one json object" in
                     b["messages"][-1]["content"].lower()]  # fmt: skip
    assert json_requests and all(b["response_format"]["type"] == "json_schema"
                                 for b in json_requests)  # fmt: skip
    assert server.stats().get("off_schema", 0) == 0  # the simulated model stays within them
    usage = json.loads((tmp_path / "run" / "usage.json").read_text())
    (notes,) = usage["servers"].values()
    assert notes["structured_output"] == "json_schema"
    assert usage["total"]["json_first_try"] == usage["total"]["json_answers"] > 0


@pytest.mark.parametrize(
    ("refuse", "mode"),
    [({"refuse_schema": True}, "json_object"), ({"refuse_json_object": True}, "text")],
)
def test_a_server_that_refuses_schemas_gets_the_next_mode(recording, refuse, mode, caplog) -> None:
    server = recording(**refuse)
    llm = make_llms({"eval": RoleSettings(backend="openai", base_url=server.url)})["eval"]
    request = ChatRequest.of('Reply with JSON: {"name": "x", "score": 3}', json_schema=SCHEMA)
    with caplog.at_level(logging.INFO, logger="drpo.llm"):
        answers = llm.generate_json([request] * 3)
    assert llm.backend.notes["structured_output"] == mode
    refusals = [r for r in caplog.records if "refused response_format" in r.getMessage()]
    assert 1 <= len(refusals) <= 2  # once per mode given up, not once per request
    assert server.stats()["requests"] - len(refusals) == 1  # the 3 identical requests: sent once
    assert formats(server)[-1] == (None if mode == "text" else mode)
    # a plain answer is still held to the schema by the client: the sim's echo is not within it
    assert all(a.error or not schema_errors(a.value, SCHEMA) for (a,) in answers)


def test_drpo_against_a_server_that_ignores_n(recording, tmp_path: Path) -> None:
    """n_actions 3 against a server that returns one choice: no retry loop, the missing
    samples asked for once each with their own seed, and every token counted."""
    server = recording(ignore_n=True)
    log_dir = tmp_path / "run"
    out = train(
        *over_http(server.url), "--depth", "2", "--n_actions", "3", "--log_dir", str(log_dir)
    )
    assert out.returncode == 0, out.stderr
    stats = server.stats()
    usage = json.loads((log_dir / "usage.json").read_text())
    total = usage["total"]
    assert total["attempts"] == stats["requests"]  # no request sent that usage does not know
    assert total["prompt_tokens"] == stats["prompt_tokens"]
    assert total["completion_tokens"] == stats["completion_tokens"]
    (notes,) = usage["servers"].values()
    assert notes["short_n"] is True and "retries" not in notes
    optimiser = [a.body for a in server.answered() if "new_system_prompt" in
                 a.body["messages"][-1]["content"]]  # fmt: skip
    seeds = [(b["messages"][-1]["content"], b.get("seed", 0)) for b in optimiser]
    assert len(seeds) == len(set(seeds)), "a sample was asked for twice"
    assert {b.get("n", 1) for b in optimiser} == {1, 3}
    log = (log_dir / "log.txt").read_text()
    assert log.count("the missing samples are asked for one at a time") == 1


# ---- the backend's accounting -------------------------------------------------------------
class _Scripted:
    """An openai client whose answers are scripted: each item a response or an exception."""

    def __init__(self, script):
        self.script = list(script)
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    async def create(self, **params):
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    async def close(self):
        return None


def _response(*texts: str, prompt: int = 10, completion: int = 7):
    choices = [SimpleNamespace(index=i, message=SimpleNamespace(content=t), finish_reason="stop")
               for i, t in enumerate(texts)]  # fmt: skip
    usage = SimpleNamespace(prompt_tokens=prompt, completion_tokens=completion)
    return SimpleNamespace(choices=choices, usage=usage)


def _scripted_backend(*script, **options) -> OpenAIBackend:
    backend = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", backoff_s=0.0, **options)
    backend._ensure_client()
    backend._replicas[0].clients = [_Scripted(script)]
    return backend


def test_more_choices_than_asked_are_trimmed_and_failed_attempts_count() -> None:
    backend = _scripted_backend(_response(), _response("a", "b", "c"))  # 0 choices, then 3
    (result,) = run_sync(backend.agenerate([BackendCall(ChatRequest.of("hi"), 2)]))
    assert result.texts == ("a", "b")
    assert (result.prompt_tokens, result.completion_tokens, result.attempts) == (20, 14, 2)


def test_a_call_that_fails_in_the_end_still_counts_its_tokens() -> None:
    backend = _scripted_backend(_response(), _response(), _response(), max_retries=2)
    usage = UsageTracker()
    llm = make_llms({"eval": RoleSettings()}, usage=usage)["eval"]
    llm.backend = backend
    with pytest.raises(LLMError, match="failed 3 times"):
        llm.generate([ChatRequest.of("hi", max_tokens=50)])
    (row,) = usage.rows()
    assert (row.prompt_tokens, row.completion_tokens, row.attempts, row.failed) == (30, 21, 3, 1)


def test_a_retry_after_longer_than_the_patience_is_a_clear_error(sim_server) -> None:
    server = sim_server(fault_rate=1.0, faults=("429",), retry_after_s=3600)
    llm = make_llms({"eval": RoleSettings(backend="openai", base_url=server.url,
                                          max_wait_s=5)})["eval"]  # fmt: skip
    with pytest.raises(LLMError, match=r"asked to wait 3600 s .* patience of 5 s \(--max_wait\)"):
        llm.generate([ChatRequest.of("hi")])
    assert server.stats()["requests"] == 1


def test_retries_and_their_reasons_are_logged(sim_server, caplog) -> None:
    server = sim_server(fault_rate=0.5, faults=("500",), seed=3)
    role = RoleSettings(backend="openai", base_url=server.url, max_retries=20, retry_backoff_s=0)
    llm = make_llms({"eval": role})["eval"]
    with caplog.at_level(logging.INFO, logger="drpo.llm"):
        llm.generate([ChatRequest.of(f"question {i}") for i in range(8)])
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert retries and all("HTTP 500" in m for m in retries)
    assert llm.backend.notes["retries"] == len(retries) == server.stats()["fault_500"]


def test_a_local_server_sets_the_default_concurrency_to_its_slots(recording) -> None:
    from drpo.methods.runner import local_slots as _local_slots

    assert _local_slots(recording(slots=3).url) == 3
    assert _local_slots(recording().url) is None  # a server that does not say: the default
    assert _local_slots("https://api.openai.com/v1") is None  # never asked of remote servers


def test_calls_in_flight_and_answered_are_tracked(sim_server) -> None:
    usage = UsageTracker()
    role = RoleSettings(backend="openai", base_url=sim_server().url)
    llm = make_llms({"eval": role}, usage=usage)["eval"]
    llm.generate([ChatRequest.of(f"question {i}") for i in range(5)])
    assert (usage.in_flight, usage.answered) == (0, 5)


def test_a_timeout_is_logged_with_its_reason(sim_server, caplog) -> None:
    server = sim_server(fault_rate=1.0, faults=("stall",), stall_s=1.0)
    role = RoleSettings(backend="openai", base_url=server.url, timeout_s=0.2, max_retries=1,
                        retry_backoff_s=0)  # fmt: skip
    llm = make_llms({"eval": role})["eval"]
    with caplog.at_level(logging.INFO, logger="drpo.llm"), pytest.raises(LLMError):
        llm.generate([ChatRequest.of("hi")])
    assert any("no answer within 0.2 s" in r.getMessage() for r in caplog.records)
    assert llm.backend.notes["timeouts"] == 2


def test_token_limits_fit_the_job() -> None:
    from drpo.methods.drpo.schemas import METRICS_MAX_TOKENS, OPTIMIZER_MAX_TOKENS
    from drpo.methods.drpo.world import DRPOSearchConfig

    config = DRPOSearchConfig(make_llms({"optimize": RoleSettings()})["optimize"])
    assert config.max_tokens == OPTIMIZER_MAX_TOKENS < 2048  # a rewrite, not an essay
    assert METRICS_MAX_TOKENS < 1024
