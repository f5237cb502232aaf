"""The llamacpp backend's server lifecycle, with a stand-in server process (the simulated
LLM behind llama.cpp's command line and protocol); CI's real-model run starts the real one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from gguf_files import write_gguf
from prerequisites import DRPO_DATA, needs_data

from drpo.llm import ChatRequest, LLMConfigError, LLMError, RoleSettings, make_llms
from drpo.llm.llamacpp_backend import LlamaCppBackend, LocalServer, check_gguf
from drpo.llm.roles import BackendPool

FAKE = Path(__file__).with_name("fake_llamacpp.py")
ROOT = Path(__file__).resolve().parents[1]


#: `python -c CLI_ON_THE_STAND_IN ARGS...` runs train.py's CLI with the stand-in server.
CLI_ON_THE_STAND_IN = textwrap.dedent(f"""
    import sys
    sys.path.insert(0, {str(FAKE.parent)!r})
    import drpo.llm.llamacpp_backend as b
    from test_llamacpp_backend import fake_launcher
    b.LAUNCHER = fake_launcher()
    from drpo.cli import main
    raise SystemExit(main(sys.argv[1:]))
""")


def fake_launcher(*extra: str):
    def launch(model: Path, port: int, slots: int, threads: int, ctx: int) -> list[str]:
        return [sys.executable, str(FAKE), "--model", str(model), "--port", str(port),
                "--slots", str(slots), "--threads", str(threads), *extra]  # fmt: skip

    return launch


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    """A tiny instruct model's GGUF (it has a chat template)."""
    return write_gguf(tmp_path / "tiny.gguf", {"general.name": "tiny",
                                              "tokenizer.chat_template": "{{ messages }}"})


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped) is not a running server
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def test_the_server_starts_answers_and_stops(gguf: Path) -> None:
    backend = LlamaCppBackend(gguf, slots=3, threads=1, launcher=fake_launcher())
    assert backend.server.running and backend.model == "tiny.gguf"
    assert backend.base_url.startswith("http://127.0.0.1:") and backend.concurrency == 3
    llm = make_llms({"base": RoleSettings()})["base"]
    llm.backend = backend
    (answer,) = llm.generate([ChatRequest.of("Say hello.", temperature=0.7, n=2)])
    assert len(answer.texts) == 2  # two requests of one sample each, with their own seeds
    pid = backend.server.process.pid
    from drpo.llm._loop import run_sync

    run_sync(backend.aclose())
    assert not backend.server.running and not alive(pid)


def test_roles_on_one_gguf_share_one_server_with_the_most_slots(gguf: Path, monkeypatch) -> None:
    started: list[int] = []
    real_start = LocalServer.start

    def counting_start(self: LocalServer) -> str:
        started.append(self.slots)
        return real_start(self)

    monkeypatch.setattr(LocalServer, "start", counting_start)
    monkeypatch.setattr("drpo.llm.llamacpp_backend.LAUNCHER", fake_launcher())
    pool = BackendPool()
    roles = {
        "base": RoleSettings(backend="llamacpp", model=str(gguf), concurrency=2),
        "eval": RoleSettings(backend="llamacpp", model=str(gguf), concurrency=5),
    }
    llms = make_llms(roles, pool=pool)
    assert llms["base"].backend is llms["eval"].backend
    assert started == [5]
    pool.close()
    assert not llms["base"].backend.server.running


def test_a_server_that_dies_at_start_is_one_clear_error(gguf: Path) -> None:
    with pytest.raises(LLMError, match="exited with code 1 before it answered: error: this GGUF"):
        LlamaCppBackend(gguf, launcher=fake_launcher("--fail"))


def test_bad_model_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(LLMConfigError, match=r"no model file .*python -m drpo\.models fetch"):
        check_gguf(tmp_path / "missing.gguf")
    (tmp_path / "notes.gguf").write_text("hello")
    with pytest.raises(LLMConfigError, match="is not a GGUF model file"):
        RoleSettings(backend="llamacpp", model=str(tmp_path / "notes.gguf"))


def test_the_server_ends_when_the_run_is_killed(gguf: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(FAKE.parent)!r})
        from test_llamacpp_backend import fake_launcher
        from drpo.llm.llamacpp_backend import LocalServer
        from pathlib import Path
        server = LocalServer(Path({str(gguf)!r}), slots=1, threads=1, launcher=fake_launcher())
        server.start()
        print(server.process.pid, flush=True)
        time.sleep(60)
    """)
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                           cwd=ROOT)  # fmt: skip
    child = int(run.stdout.readline())
    assert alive(child)
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), "the server outlived the run that started it"


def test_train_py_model_path_runs_every_role_on_the_local_server(
    gguf: Path, tmp_path: Path
) -> None:
    """`--model_path` end to end, through the CLI (the stand-in server plays llama.cpp)."""
    code = CLI_ON_THE_STAND_IN
    log_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", code, "--model_path", str(gguf), "--depth", "2",
         "--log_dir", str(log_dir), "--disable_tqdm"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "ran on real models" in done.stdout  # the stand-in is reported as what it plays
    usage = json.loads((log_dir / "usage.json").read_text())
    assert {r["model"] for r in usage["roles"]} == {"tiny.gguf"}
    log = (log_dir / "log.txt").read_text()
    assert log.count("llama.cpp server for tiny.gguf at") == 1  # one server for four roles
    assert "llama.cpp server for tiny.gguf stopped" in log
    # what the server processed: the stand-in sends usage, and no timings to measure a peak
    (tally,) = json.loads((log_dir / "summary.json").read_text())["local_servers"].values()
    assert tally["requests"] > 0 and tally["prompt_tokens_processed"] > 0
    assert tally["completion_tokens"] > 0 and tally["peak"] is None
    (server,) = usage["servers"].values()
    assert server["throughput"]["requests"] == tally["requests"]


def test_model_path_errors_are_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "train.py", "--model_path", str(tmp_path / "none.gguf"),
         "--log_dir", str(tmp_path / "run")],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no model file" in done.stderr
    assert not (tmp_path / "run").exists()
    done = subprocess.run(
        [sys.executable, "train.py", "--model_path", "smollm2", "--models_dir", str(tmp_path),
         "--log_dir", str(tmp_path / "run")],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2 and "python -m drpo.models fetch smollm2" in done.stderr


@needs_data("drpo")
def test_a_killed_run_stops_its_server_and_says_so(gguf: Path, tmp_path: Path) -> None:
    """SIGTERM ends a run like Ctrl-C: one line, exit 130, the checkpoint marked interrupted,
    the failure in log.txt, and the local server stopped."""
    code = CLI_ON_THE_STAND_IN
    log_dir = tmp_path / "run"
    run = subprocess.Popen(
        [sys.executable, "-c", code, "--model_path", str(gguf), "--depth", "400",
         "--max_depth_increase", "0", "--log_dir", str(log_dir), "--disable_tqdm",
         "--data_dir", str(DRPO_DATA)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (log_dir / "checkpoint.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = (log_dir / "log.txt").read_text()
    server_pid = None
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if str(FAKE).encode() in cmd and str(gguf).encode() in cmd:
                server_pid = int(proc.name)
    assert server_pid is not None and "ready in" in log
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130 and "interrupted" in err and err.count("\n") == 1
    assert json.loads((log_dir / "checkpoint.json").read_text())["status"] == "interrupted"
    assert "the run stopped: KeyboardInterrupt" in (log_dir / "log.txt").read_text()
    assert not alive(server_pid)


def _started_threads(monkeypatch) -> dict[str, int]:
    """Records the threads each LocalServer is started with, by model file name."""
    started: dict[str, int] = {}
    real_start = LocalServer.start

    def recording_start(self: LocalServer) -> str:
        started[self.model.name] = self.threads
        return real_start(self)

    monkeypatch.setattr(LocalServer, "start", recording_start)
    monkeypatch.setattr("drpo.llm.llamacpp_backend.LAUNCHER", fake_launcher())
    return started


@pytest.mark.parametrize(("cores", "task", "optimiser"), [(2, 1, 1), (4, 2, 2), (5, 3, 2)])
def test_two_local_servers_share_the_cores(
    tmp_path: Path, monkeypatch, cores: int, task: int, optimiser: int
) -> None:
    """A task model and an optimiser on two GGUFs: the threads of the two servers sum to the
    cores (two servers each on every core crawl when both decode), the spare core to the
    task model; one server alone takes every core."""
    small, large = tmp_path / "small.gguf", tmp_path / "large.gguf"
    for path in (small, large):
        path.write_bytes(b"GGUF" + bytes(64))
    monkeypatch.setattr("drpo.llm.roles.os.cpu_count", lambda: cores)
    started = _started_threads(monkeypatch)
    pool = BackendPool()
    roles = {
        "optimize": RoleSettings(backend="llamacpp", model=str(large)),
        "base": RoleSettings(backend="llamacpp", model=str(small)),
        "eval": RoleSettings(backend="llamacpp", model=str(small)),
    }
    try:
        make_llms(roles, pool=pool)
        assert started == {"small.gguf": task, "large.gguf": optimiser}
        notes = pool.notes()
        assert sorted(n["threads"] for n in notes.values()) == sorted([task, optimiser])
    finally:
        pool.close()
    started.clear()
    pool = BackendPool()
    try:
        make_llms({"base": roles["base"]}, pool=pool)
        assert started == {"small.gguf": cores}
    finally:
        pool.close()


def test_threads_given_per_role_are_kept(tmp_path: Path) -> None:
    """train.py with a task model and an optimiser on two GGUFs: --optimize_threads 1 gives
    the optimiser's server 1 thread and the task model's the cores left; --threads 2
    --base_threads 1 gives the task model's 1 and the optimiser's 2. usage.json records
    the threads each server was started with."""
    small, large = tmp_path / "small.gguf", tmp_path / "large.gguf"
    for path in (small, large):
        path.write_bytes(b"GGUF" + bytes(64))
    cores = os.cpu_count() or 1
    for extra, expected in (
        (["--optimize_threads", "1"], {"small.gguf": max(1, cores - 1), "large.gguf": 1}),
        (["--threads", "2", "--base_threads", "1"], {"small.gguf": 1, "large.gguf": 2}),
    ):
        log_dir = tmp_path / f"run{len(extra)}"
        done = subprocess.run(
            [sys.executable, "-c", CLI_ON_THE_STAND_IN, "--method", "ape", "--model_path",
             str(small), "--optimize_model_name", str(large), "--depth", "1",
             "--eval_size", "5", "--test_size", "5", "--log_dir", str(log_dir),
             "--disable_tqdm", *extra],
            capture_output=True, text=True, cwd=ROOT, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        servers = json.loads((log_dir / "usage.json").read_text())["servers"]
        assert {k.split("'")[1]: v["threads"] for k, v in servers.items()} == expected


def test_a_pinned_model_name_puts_a_role_on_its_local_server(tmp_path: Path) -> None:
    """--model_path qwen0.5b --optimize_model_name qwen1.5b: the optimiser on the 1.5B's
    GGUF (fetched into --models_dir), every other role on the 0.5B's."""
    from drpo.methods.registry import settings_for
    from drpo.methods.runner import role_settings
    from drpo.models import MODELS

    for name in ("qwen0.5b", "qwen1.5b"):
        (tmp_path / MODELS[name].file_name).write_bytes(b"GGUF" + bytes(64))
    settings = settings_for("promptagent", model_path="qwen0.5b", optimize_model_name="qwen1.5b",
                            models_dir=str(tmp_path), optimize_threads=1)  # fmt: skip
    roles = role_settings(settings)
    assert {r: s.backend for r, s in roles.items()} == dict.fromkeys(roles, "llamacpp")
    assert Path(roles["optimize"].model).name == MODELS["qwen1.5b"].file_name
    assert Path(roles["base"].model).name == MODELS["qwen0.5b"].file_name
    assert roles["optimize"].threads == 1 and roles["base"].threads is None
    missing = settings_for("promptagent", optimize_model_name="qwen1.5b",
                           models_dir=str(tmp_path / "empty"))  # fmt: skip
    with pytest.raises(LLMConfigError, match=r"python -m drpo\.models fetch qwen1\.5b"):
        role_settings(missing)
