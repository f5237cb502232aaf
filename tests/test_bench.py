"""The benchmark and reliability tools measure what they claim to (their full runs are in
bench/; CI runs their quick versions)."""

from __future__ import annotations

from pathlib import Path

from bench.bad_inputs import HostileLLM, all_cases
from bench.crash_resume import answer_keys, cached_keys
from bench.harness import run_process
from drpo.llm import ChatRequest, LLMCache, RoleSettings, make_llms


def test_server_side_keys_are_the_clients_cache_keys(sim_server, tmp_path: Path) -> None:
    """The crash row decides 'paid twice' by matching what the server answered against the
    run's cache: the two must name a request the same way, samples and JSON mode included."""
    server = sim_server()
    server.record_answers = True
    cache = LLMCache(tmp_path / "llm_cache.sqlite")
    role = RoleSettings(backend="openai", base_url=server.url)
    llm = make_llms({"eval": role}, cache=cache)["eval"]
    llm.generate(
        [
            ChatRequest.of("plain", max_tokens=20),
            ChatRequest.of("three samples", temperature=0.7, top_p=0.9, n=3, stop=("END",)),
            ChatRequest.of('answer in JSON: {"x": 1}', json_mode=True),
        ]
    )
    cache.close()
    keys = answer_keys(server.answered())
    assert len(keys) == 5 and set(keys) == cached_keys(tmp_path)


def test_a_hostile_model_rewrites_one_role_only() -> None:
    model = HostileLLM("judge", lambda text: "not JSON at all")
    judge = [("user", "Rate <response>hi</response> on <aspects>Helpfulness</aspects>")]
    assert model.role_of(judge) == "judge"
    assert model.complete(judge).text == "not JSON at all"
    base = [("user", "Tell me about otters.")]
    assert model.role_of(base) == "base" and model.complete(base).text != "not JSON at all"


def test_the_bad_input_list_covers_what_the_campaign_promises() -> None:
    cases = all_cases()
    names = [c.name for c in cases]
    assert len(cases) >= 30 and len(set(names)) == len(names)
    assert {c.expect for c in cases} == {"error", "failed", "completes"}
    promised = (
        "empty",
        "truncated",
        "wrong types",
        "not UTF-8",
        "10 MB",
        "unknown",
        "unreadable",
        " 0",
        "-1",
        "not JSON",
        "100 kB",
        "injection",
        "out of range",
    )
    for needle in promised:
        assert any(needle in n for n in names), needle


def test_a_killed_child_is_reported_as_killed() -> None:
    import sys

    done = run_process([sys.executable, "-c", "import time; time.sleep(30)"], kill_after_s=0.3)
    assert done.returncode == -9 and done.wall_s < 10 and done.peak_rss_mb > 1
