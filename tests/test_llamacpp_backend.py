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
