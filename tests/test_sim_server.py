"""The simulated LLM's OpenAI-compatible server, answered through the official openai client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from drpo.sim import ServerSettings, SimulatedLLM

REPO = Path(__file__).resolve().parents[1]


def client(url: str, key: str = "EMPTY", **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0, **kwargs)


def test_chat_completions_match_the_in_process_model(sim_server) -> None:
    server = sim_server(seed=5)
    messages = [
        {"role": "system", "content": "Explain topics in depth."},
        {"role": "user", "content": "Why is the sky blue?"},
    ]
    response = client(server.url).chat.completions.create(
        model="sim-base", messages=messages, n=3, temperature=0.9, seed=2
    )
    local = SimulatedLLM(seed=5)
    expected = [
        local.complete([(m["role"], m["content"]) for m in messages], temperature=0.9, sample=2 + j)
        for j in range(3)
    ]
    assert [c.message.content for c in response.choices] == [e.text for e in expected]
    assert response.model == "sim-base" and response.system_fingerprint == "simulated"
    assert response.usage.prompt_tokens == expected[0].prompt_tokens
    assert response.usage.completion_tokens == sum(e.completion_tokens for e in expected)
    assert server.stats()["completions"] == 1 and server.stats()["samples"] == 3


def test_embeddings_and_models(sim_server) -> None:
    server = sim_server()
    api = client(server.url)
    vectors = api.embeddings.create(model="sim-embed", input=["a cat", "a cat", "stock prices"])
    a, b, c = (d.embedding for d in vectors.data)
    assert a == b and a != c and abs(sum(x * x for x in a) - 1) < 1e-5
    assert [m.id for m in api.models.list().data] == ["sim"]


def test_wrong_key_is_rejected(sim_server) -> None:
    server = sim_server(api_key="right-key")
    with pytest.raises(openai.AuthenticationError):
        client(server.url, "wrong-key").chat.completions.create(
            model="sim", messages=[{"role": "user", "content": "hi"}]
        )
    ok = client(server.url, "right-key").chat.completions.create(
        model="sim", messages=[{"role": "user", "content": "hi"}]
    )
    assert ok.choices[0].message.content


def test_bad_requests_get_400(sim_server) -> None:
    server = sim_server()
    with pytest.raises(openai.BadRequestError, match="messages"):
        client(server.url).chat.completions.create(model="sim", messages=[])
    with pytest.raises(openai.BadRequestError, match="'n'"):
        client(server.url).chat.completions.create(
            model="sim", messages=[{"role": "user", "content": "hi"}], n=500
        )


@pytest.mark.parametrize("fault", ["429", "500", "malformed", "truncated", "stall"])
def test_each_fault_reaches_the_client_as_an_error(sim_server, fault: str) -> None:
    server = sim_server(fault_rate=1.0, faults=(fault,), stall_s=1.0)
    api = client(server.url, timeout=0.3)
    with pytest.raises((openai.OpenAIError, ValueError)):  # a body that is not JSON: ValueError
        api.chat.completions.create(model="sim", messages=[{"role": "user", "content": "hi"}])
    assert server.stats()[f"fault_{fault}"] == 1


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="fault_rate"):
        ServerSettings(fault_rate=1.5)
    with pytest.raises(ValueError, match="unknown fault kinds"):
        ServerSettings(faults=("explode",))


def test_the_command_line_server(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "drpo.sim", "serve", "--port", "0", "--latency_ms", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert "simulated LLM (not a real model)" in line
        url = line.split(" at ")[1].split()[0]
        answer = client(url).chat.completions.create(
            model="sim", messages=[{"role": "user", "content": "hello"}]
        )
        assert answer.choices[0].message.content.startswith("(simulated answer)")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--fault_rate", "2"], "fault_rate must be in [0, 1]"),
        (["serve", "--port", "99999"], "port must be in 0..65535"),
        (["serve", "--faults", "boom"], "unknown fault kinds"),
        (["serve", "--require_key_env", "NO_SUCH_VARIABLE_SET"], "is not set"),
        (["serve", "--latency_ms", "x"], "invalid float value"),
        (["dance"], "invalid choice"),
    ],
)
def test_bad_command_lines_get_one_clear_line(args: list[str], message: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-m", "drpo.sim", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert out.returncode == 2
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1
