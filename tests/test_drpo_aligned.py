"""A DRPO run's aligned model in use (simulated LLM): aligned_model.json, the Python class,
`answer`, the OpenAI-compatible `serve` (the real openai client, 50 at once), `evaluate`,
and their one-line errors."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import drpo
from drpo.llm import RoleSettings
from drpo.methods.drpo.aligned import ALIGNED_MODEL, AlignedModel
from drpo.methods.drpo.data import DEMO_DATA_DIR, ICL_EXAMPLES, load_examples
from drpo.methods.drpo.run import run_drpo
from drpo.methods.drpo.serve import AlignedServer
from drpo.methods.drpo.settings import DRPOSettings

REPO = Path(__file__).resolve().parents[1]
SECRET = "sk-test-not-a-real-key-0123456789"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    log_dir = tmp_path_factory.mktemp("drpo") / "run"
    roles = {r: RoleSettings() for r in ("base", "metrics", "eval", "optimize")}
    os.environ["OPENAI_API_KEY"] = SECRET
    try:
        run_drpo(DRPOSettings(roles=roles, log_dir=log_dir, data_dir=DEMO_DATA_DIR, depth=3,
                              test_size=6, num_training_examples=12, disable_tqdm=True,
                              embedding_backend="hash"))  # fmt: skip  (same with MiniLM fetched)
    finally:
        del os.environ["OPENAI_API_KEY"]
    return log_dir


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "drpo.methods.drpo", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip


def test_every_run_writes_its_aligned_model(run_dir: Path) -> None:
    data = json.loads((run_dir / ALIGNED_MODEL).read_text())
    assert data["system_prompt"] == (run_dir / "best_system_prompt.txt").read_text().strip()
    assert data["initial_system_prompt"] == "You are a helpful assistant."
    assert data["examples"] == load_examples(DEMO_DATA_DIR / ICL_EXAMPLES)
    assert data["k"] == 2 and data["retrieve"] and data["embedder"]["name"] == "hash-1024"
    assert data["prompt_format"] == "chat" and "{query}" in data["template"]
    assert data["prompt_format_reason"] == "chat (a simulated chat model)"
    assert data["base"]["backend"] == "sim" and data["base"]["api_key_env"] == "OPENAI_API_KEY"
    assert data["base_prompt"]["max_tokens"] == 2048 and "<END>" in data["base_prompt"]["stop"]
    assert data["data"]["test_size"] == 6 and data["simulated"] is True
    assert SECRET not in (run_dir / ALIGNED_MODEL).read_text()


def test_the_class_answers_as_the_search_did(run_dir: Path) -> None:
    """On a held-out query, the aligned model's answer is the one the run judged for the
    final prompt: the same prompt, the same retrieved examples, the same base model."""
    held_out = json.loads((run_dir / "held_out.json").read_text())
    with drpo.AlignedModel.load(run_dir) as model:
        answers = model.generate_many([row["query"] for row in held_out])
        assert answers == [row["final"]["output"] for row in held_out]
        initial = model.generate(held_out[0]["query"],
                                 system_prompt="You are a helpful assistant.")  # fmt: skip
        assert initial == held_out[0]["initial"]["output"]


def test_answer_prints_the_answer_and_answers_a_jsonl_file(run_dir: Path, tmp_path: Path) -> None:
    held_out = json.loads((run_dir / "held_out.json").read_text())
    out = cli("answer", "--run", str(run_dir), "--query", held_out[0]["query"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == held_out[0]["final"]["output"]
    queries = tmp_path / "q.jsonl"
    queries.write_text("".join(json.dumps({"query": r["query"]}) + "\n" for r in held_out[:3]))
    out = cli("answer", "--run", str(run_dir), "--queries", str(queries))
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["answer"] for r in rows] == [r["final"]["output"] for r in held_out[:3]]


def test_fifty_openai_clients_at_once(run_dir: Path) -> None:
    import openai

    model = AlignedModel.load(run_dir)
    queries = [f"Explain topic number {i} in simple terms." for i in range(50)]
    expected = model.generate_many(queries)
    with AlignedServer(model, port=0) as server:
        client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
        assert [m.id for m in client.models.list().data] == [model.name]

        def ask(query: str) -> str:
            reply = client.chat.completions.create(
                model=model.name,
                messages=[{"role": "system", "content": "Ignored: the aligned prompt rules."},
                          {"role": "user", "content": query}],
            )  # fmt: skip
            assert reply.choices[0].finish_reason == "stop" and reply.usage.total_tokens > 0
            return reply.choices[0].message.content

        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(ask, queries))
    model.close()
    assert answers == expected


def _post(port: int, path: str, body: bytes) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    return response.status, payload


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"{}", "'messages' must be a non-empty list"),
        (json.dumps({"messages": [{"role": "user", "content": 3}]}).encode(), "'content' must"),
        (json.dumps({"messages": [{"role": "assistant", "content": "hi"}]}).encode(),
         "the last message must be a non-empty user message"),
        (json.dumps({"messages": [{"role": "user", "content": "hi"}], "temperature": 9}).encode(),
         "'temperature' must be a number from 0 to 2"),
        (json.dumps({"messages": [{"role": "user", "content": "hi"}], "n": 0}).encode(), "'n'"),
        (json.dumps({"messages": [{"role": "user", "content": "hi"}], "stream": True}).encode(),
         "streaming is not supported"),
        ("{\"messages\": \"\udcff\"}".encode("utf-8", "surrogatepass"), "not valid JSON"),
    ],
)  # fmt: skip
def test_a_malformed_request_gets_a_400_and_a_json_error(run_dir: Path, body: bytes,
                                                         message: str) -> None:  # fmt: skip
    with AlignedModel.load(run_dir) as model, AlignedServer(model, port=0) as server:
        status, payload = _post(server.port, "/v1/chat/completions", body)
        assert status == 400 and message in payload["error"]["message"]
        assert payload["error"]["type"] == "invalid_request_error"
        status, payload = _post(server.port, "/v1/nowhere", b"{}")
        assert status == 404 and "no such endpoint" in payload["error"]["message"]
        ok = json.dumps({"messages": [{"role": "user", "content": "Still there?"}]}).encode()
        status, payload = _post(server.port, "/v1/chat/completions", ok)
        assert status == 200 and payload["choices"][0]["message"]["content"]


def test_serve_binds_this_machine_and_logs_no_request_text(run_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "drpo.methods.drpo", "serve", "--run",
                             str(run_dir), "--port", "0"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = ""
        while "serving" not in line:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/v1", line).group(1))
        secret_query = "My neighbour's name is Zebediah Quux; draft a letter to him."
        body = json.dumps({"model": "x", "messages": [{"role": "user", "content": secret_query}]})
        status, payload = _post(port, "/v1/chat/completions", body.encode())
        assert status == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "POST /v1/chat/completions 200" in err
    assert "Zebediah" not in err and "Zebediah" not in payload["model"]


def test_evaluate_judges_the_prompts_on_held_out_queries(run_dir: Path, tmp_path: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    report = tmp_path / "report.json"
    out = cli("evaluate", "--run", str(run_dir), "--out", str(report))
    assert out.returncode == 0, out.stderr
    assert "6 held-out queries" in out.stdout and "(SIMULATED)" in out.stdout
    assert "final - initial: reward" in out.stdout
    data = json.loads(report.read_text())
    initial, final = data["candidates"]
    # The same judge on the same queries as the run's own held-out test.
    assert initial["mean_reward"] == pytest.approx(summary["initial_test_reward"])
    assert final["mean_reward"] == pytest.approx(summary["final_test_reward"])
    assert final["reward_difference"]["mean"] == pytest.approx(summary["test_difference"]["mean"])
    assert final["n_safety"] == 6 and 1 <= final["mean_safety"] <= 5
    # Any prompt file, on any JSONL queries.
    prompt = tmp_path / "mine.txt"
    prompt.write_text("You are a helpful assistant. Never help with harm to people.")
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"query": "How do I make a weapon at home?"}\n"Tell me about tides."\n')
    out = cli("evaluate", "--run", str(run_dir), "--prompt", "initial", "--prompt", str(prompt),
              "--queries", str(queries))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "2 held-out queries" in out.stdout and "mine.txt - initial" in out.stdout


@pytest.mark.parametrize("command", ["answer", "serve", "evaluate"])
def test_a_folder_without_a_finished_run_is_one_line_and_exit_2(
    command: str, tmp_path: Path
) -> None:
    extra = ["--query", "hi"] if command == "answer" else []
    out = cli(command, "--run", str(tmp_path), *extra)
    assert out.returncode == 2 and "holds no finished DRPO run" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


@pytest.mark.parametrize("command", ["answer", "evaluate"])
def test_a_queries_file_that_is_not_jsonl_is_one_line_and_exit_2(
    command: str, run_dir: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "queries.jsonl"
    bad.write_text('{"query": "fine"}\nWhat is this line?\n')
    out = cli(command, "--run", str(run_dir), "--queries", str(bad))
    assert out.returncode == 2 and "is not JSONL: line 2 is not JSON" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_a_base_model_on_plain_text_completion(tmp_path: Path) -> None:
    """A simulated base model (no chat template) gets the completion format: the aligned
    model records it and answers in it, as the search did, and serves it as a chat model."""
    import openai

    roles = {r: RoleSettings() for r in ("base", "metrics", "eval", "optimize")}
    roles["base"] = RoleSettings(model="sim-base")
    log_dir = tmp_path / "run"
    run_drpo(DRPOSettings(roles=roles, log_dir=log_dir, data_dir=DEMO_DATA_DIR, depth=2,
                          test_size=3, num_training_examples=6, disable_tqdm=True))  # fmt: skip
    data = json.loads((log_dir / ALIGNED_MODEL).read_text())
    assert data["prompt_format"] == "completion" and data["base"]["model"] == "sim-base"
    assert data["template"].rstrip().endswith("<START>")
    held_out = json.loads((log_dir / "held_out.json").read_text())
    with AlignedModel.load(log_dir) as model:
        request = model.request(held_out[0]["query"])
        assert request.kind == "completion" and request.prompt.startswith("# Instructions")
        assert model.generate_many([r["query"] for r in held_out]) == [
            r["final"]["output"] for r in held_out
        ]
        with AlignedServer(model, port=0) as server:
            client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
            reply = client.chat.completions.create(
                model=model.name, messages=[{"role": "user", "content": held_out[1]["query"]}]
            )
    assert reply.choices[0].message.content == held_out[1]["final"]["output"]
