"""A local GGUF model behind llama.cpp's own HTTP server, started and stopped by the run.

The server (`drpo.llm.llamacpp_serve`, from the `xllamacpp` wheel of the `local` extra) runs
in a child process on 127.0.0.1 and a free port, with one slot per request the role sends at
once and continuous batching. The run waits until it answers; it stops when the backend is
closed, when the interpreter exits, and, because it watches its stdin, when the run dies.
Requests then take the OpenAI-compatible path (chat requests to /v1/chat/completions,
plain-text ones to /v1/completions): cache, retries, usage and budget as for any server.
Once it answers, its peak rates are measured (a few seconds), and every answer's timings are
tallied against them: usage.json's ``servers`` entry and summary.json's ``local_servers``
carry the prompt tokens processed and reused from its prompt cache, and the run's tokens per
second beside the peak (`drpo.llm.server_throughput`).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from drpo.llm.gguf import gguf_has_chat_template
from drpo.llm.openai_backend import OpenAIBackend
from drpo.llm.server_throughput import ThroughputTally, measure_peak
from drpo.llm.types import LLMConfigError, LLMError

log = logging.getLogger("drpo.llm")

#: argv of the server process, from (model path, port, slots, threads, context per slot).
Launcher = Callable[[Path, int, int, int, int], Sequence[str]]


def llamacpp_launcher(model: Path, port: int, slots: int, threads: int, ctx: int) -> list[str]:
    return [
        sys.executable, "-m", "drpo.llm.llamacpp_serve", "--model", str(model),
        "--port", str(port), "--slots", str(slots), "--threads", str(threads),
        "--ctx_per_slot", str(ctx),
    ]  # fmt: skip


#: A local server's defaults: requests decoded at once, and seconds a request may take (a
#: CPU writes about 20 tokens a second, shared by the slots: a long answer needs minutes).
DEFAULT_SLOTS, LOCAL_TIMEOUT_S = 4, 600.0
#: How servers are started; tests put a stand-in here.
LAUNCHER: Launcher = llamacpp_launcher


def check_gguf(path: str | Path) -> Path:
    """`path` as an existing GGUF file, or LLMConfigError saying what is wrong with it."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise LLMConfigError(
            f"no model file {str(path)!r} (fetch a pinned one with: python -m drpo.models "
            "fetch qwen0.5b)"
        )
    with file.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise LLMConfigError(f"{file} is not a GGUF model file")
    return file.resolve()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalServer:
    """One llama.cpp server process: `start()` returns its OpenAI base URL once it answers,
    `stop()` ends it (safe to call twice, and called at interpreter exit)."""

    def __init__(
        self,
        model: Path,
        *,
        slots: int,
        threads: int,
        ctx_per_slot: int = 4096,
        launcher: Launcher | None = None,
        startup_timeout_s: float = 300.0,
    ) -> None:
        self.model, self.slots, self.threads = model, slots, threads
        self.ctx_per_slot = ctx_per_slot
        self.launcher = launcher or LAUNCHER
        self.startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen[str] | None = None
        self.base_url: str | None = None
        self._log = tempfile.TemporaryFile(  # noqa: SIM115 - kept for the server's lifetime
            mode="w+", encoding="utf-8", errors="replace"
        )
        self._lock = threading.Lock()

    def start(self) -> str:
        started = time.perf_counter()
        port = _free_port()
        argv = list(self.launcher(self.model, port, self.slots, self.threads, self.ctx_per_slot))
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=self._log,
            text=True,
            start_new_session=True,  # Ctrl-C reaches the run, which then stops the server
        )
        atexit.register(self.stop)
        try:
            self.base_url = f"http://127.0.0.1:{port}/v1"
            self._wait_until_ready(started)
        except BaseException:
            self.stop()
            raise
        log.info(
            "llama.cpp server for %s at %s (%d slots, %d threads) ready in %.1f s",
            self.model.name, self.base_url, self.slots, self.threads,
            time.perf_counter() - started,
        )  # fmt: skip
        return self.base_url

    def _wait_until_ready(self, started: float) -> None:
        health = self.base_url.removesuffix("/v1") + "/health"
        while True:
            if self.process.poll() is not None:
                raise LLMError(
                    f"the llama.cpp server for {self.model.name} exited with code "
                    f"{self.process.returncode} before it answered: {self.last_words()}"
                )
            try:
                with urllib.request.urlopen(health, timeout=2.0) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass  # not listening yet, or still loading the model (503)
            if time.perf_counter() - started > self.startup_timeout_s:
                raise LLMError(
                    f"the llama.cpp server for {self.model.name} did not answer within "
                    f"{self.startup_timeout_s:g} s: {self.last_words()}"
                )
            time.sleep(0.1)

    def last_words(self) -> str:
        """The last line the server wrote, for error messages."""
        self._log.flush()
        self._log.seek(0)
        lines = [line.strip() for line in self._log.read().splitlines() if line.strip()]
        return lines[-1][:300] if lines else "(it wrote nothing)"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        with self._lock:
            process, self.process = self.process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        if process.poll() is None:
            try:
                process.stdin.close()  # the server's signal to end
                process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if process.stdin is not None:
            process.stdin.close()
        log.info("llama.cpp server for %s stopped", self.model.name)


class LlamaCppBackend(OpenAIBackend):
    """A GGUF file served by a llama.cpp server this backend starts (and stops on `aclose`).

    The model's name, for the cache and usage, is the file's name, so that the same file
    fetched into another folder shares the cache. Each sample is its own request with its
    own seed: llama.cpp reports the usage of only one choice when asked for several."""

    kind = "llamacpp"
    split_n = True

    def __init__(
        self,
        model_path: str | Path,
        *,
        slots: int = DEFAULT_SLOTS,
        threads: int | None = None,
        ctx_per_slot: int = 4096,
        timeout_s: float = LOCAL_TIMEOUT_S,
        max_retries: int = 6,
        backoff_s: float = 0.5,
        max_wait_s: float = 120.0,
        launcher: Launcher | None = None,
        measure_throughput: bool = True,
    ) -> None:
        path = check_gguf(model_path)
        if slots < 1:
            raise LLMConfigError(f"a llama.cpp server needs at least 1 slot, got {slots}")
        self.server = LocalServer(
            path,
            slots=slots,
            threads=threads or os.cpu_count() or 1,
            ctx_per_slot=ctx_per_slot,
            launcher=launcher,
        )
        base_url = self.server.start()
        super().__init__(
            path.name,
            base_url=base_url,
            concurrency=slots,
            timeout_s=timeout_s,
            max_retries=max_retries,
            backoff_s=backoff_s,
            max_wait_s=max_wait_s,
        )
        peak = measure_peak(base_url, slots=slots) if measure_throughput else None
        if peak is not None:
            log.info("llama.cpp server for %s: peak %.0f prompt tokens/s (one request), %.1f "
                     "generated tokens/s (%d slots at once), measured in %.1f s", path.name,
                     peak.prompt_tokens_per_s, peak.decode_tokens_per_s, slots,
                     peak.measured_in_s)  # fmt: skip
        self.throughput = ThroughputTally(peak)
        self.notes["threads"] = self.server.threads  # in usage.json, beside the server

    def describe(self) -> str:
        return f"local model {self.model!r} (llama.cpp at {self.base_url})"

    def _observe(self, response: Any) -> None:
        """Tally the prompt tokens the server processed and reused, and those it generated."""
        self.throughput.add(getattr(response, "timings", None), getattr(response, "usage", None))
        self.notes["throughput"] = self.throughput.report()

    def has_chat_template(self) -> bool:
        """Whether the GGUF carries a chat template. llama.cpp's server answers chat
        requests to a model without one all the same, in a default template the model
        never saw: so this is read from the file, not asked of the server."""
        return gguf_has_chat_template(self.server.model)

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            self.server.stop()


def server_props(base_url: str, *, timeout_s: float = 2.0) -> dict[str, object]:
    """A llama.cpp server's /props (its slots among them); {} where the server has none."""
    url = base_url.rstrip("/").removesuffix("/v1") + "/props"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            data = json.loads(response.read())
            return data if isinstance(data, dict) else {}
    except (urllib.error.URLError, OSError, ValueError):
        return {}
