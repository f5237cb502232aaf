"""Roles and their backends: which model plays base, optimize, eval, metrics (or any role a
method adds), where it runs, and how it samples."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from drpo.llm._loop import run_sync
from drpo.llm.backend import Backend
from drpo.llm.cache import LLMCache
from drpo.llm.client import LLM
from drpo.llm.llamacpp_backend import LOCAL_TIMEOUT_S, LlamaCppBackend, check_gguf
from drpo.llm.offline_backend import CacheOnlyBackend
from drpo.llm.openai_backend import OpenAIBackend, parse_base_urls
from drpo.llm.types import LLMConfigError
from drpo.llm.usage import UsageTracker
from drpo.llm.vllm_backend import VLLMBackend

BACKENDS = ("sim", "openai", "llamacpp", "vllm")
#: Backends that come from outside the LLM layer, by kind: the simulated LLM registers itself
#: here when drpo.sim.backend is imported (this layer knows no simulator).
_REGISTERED: dict[str, Callable[[RoleSettings], Backend]] = {}
#: Seconds per request to a server (a local llama.cpp server gets LOCAL_TIMEOUT_S).
REMOTE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class RoleSettings:
    """Where one role's model runs. Sampling settings travel with each request."""

    backend: str = "sim"
    model: str = "sim"  # llamacpp: the GGUF file's path
    base_url: str | None = None  # openai: the server (or replicas: a,b); None: OpenAI
    api_key_env: str = "OPENAI_API_KEY"  # the variable that holds the key (never the key)
    concurrency: int = 8  # requests at once (llamacpp: the server's slots)
    timeout_s: float | None = None  # seconds per request; None: 120 (llamacpp: 600)
    max_retries: int = 6
    retry_backoff_s: float = 0.5  # first wait after a failed call; doubled each time
    max_wait_s: float = 120.0  # a longer Retry-After ends the call with an error
    threads: int | None = None  # llamacpp: CPU threads (None: every core)
    ctx_per_slot: int = 4096  # llamacpp: context tokens per slot
    num_gpus: int = 1  # vllm
    gpu_memory_utilization: float = 0.9  # vllm
    seed: int = 0  # sim
    knowledge: Mapping[str, str] = field(default_factory=dict)  # sim: question -> answer
    offline: bool = False  # answer only from the cache; the model itself is never started

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise LLMConfigError(
                f"unknown backend {self.backend!r}; choose from {', '.join(BACKENDS)}"
            )
        if self.concurrency < 1:
            raise LLMConfigError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise LLMConfigError(f"timeout must be > 0 seconds, got {self.timeout_s}")
        if self.max_retries < 0:
            raise LLMConfigError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.retry_backoff_s < 0:
            raise LLMConfigError(f"retry_backoff must be >= 0 seconds, got {self.retry_backoff_s}")
        if self.max_wait_s < 0:
            raise LLMConfigError(f"max_wait must be >= 0 seconds, got {self.max_wait_s}")
        if self.threads is not None and self.threads < 1:
            raise LLMConfigError(f"threads must be >= 1, got {self.threads}")
        if self.backend == "llamacpp" and not self.offline:
            check_gguf(self.model)
        if self.base_url is not None:
            if self.backend != "openai":
                raise LLMConfigError(f"a base URL needs the openai backend, not {self.backend!r}")
            parse_base_urls(self.base_url)

    @property
    def model_name(self) -> str:
        """The model's name in reports and fingerprints (a local GGUF: its file name)."""
        return Path(self.model).name if self.backend == "llamacpp" else self.model

    def backend_key(self) -> tuple[Any, ...]:
        """Roles with the same key share one backend (one connection pool and concurrency
        limit per server, one vLLM engine per model)."""
        if self.offline:
            return ("offline", self.backend, self.model_name)
        if self.backend == "openai":
            return ("openai", self.base_url, self.model, self.api_key_env)
        if self.backend == "llamacpp":  # one server per GGUF file
            return ("llamacpp", str(check_gguf(self.model)))
        if self.backend == "vllm":
            return ("vllm", self.model, self.num_gpus)
        return ("sim", self.model, self.seed, tuple(sorted(self.knowledge.items())))


class BackendPool:
    """Makes each backend once and hands it to every role that shares it; `close` ends them
    all (and stops the local servers they started)."""

    def __init__(self) -> None:
        self._backends: dict[tuple[Any, ...], Backend] = {}

    def get(self, settings: RoleSettings) -> Backend:
        key = settings.backend_key()
        if key not in self._backends:
            self._backends[key] = make_backend(settings)
        return self._backends[key]

    def notes(self) -> dict[str, dict[str, Any]]:
        """What each backend learnt about its server, by where it runs (for usage.json)."""
        return {b.describe(): dict(b.notes) for b in self._backends.values() if b.notes}

    def close(self) -> None:
        backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            run_sync(backend.aclose())


def make_backend(settings: RoleSettings) -> Backend:
    """The backend of a role: the LLM layer's own (openai, llamacpp, vllm, or the cache only
    when offline), or one registered by `register_backend` (sim)."""
    patience = {"max_retries": settings.max_retries, "backoff_s": settings.retry_backoff_s,
                "max_wait_s": settings.max_wait_s}  # fmt: skip
    if settings.offline:
        return CacheOnlyBackend(settings.model_name, stands_for=settings.backend)
    if settings.backend == "openai":
        return OpenAIBackend(
            settings.model,
            base_url=settings.base_url,
            api_key_env=settings.api_key_env,
            concurrency=settings.concurrency,
            timeout_s=settings.timeout_s or REMOTE_TIMEOUT_S,
            **patience,
        )
    if settings.backend == "llamacpp":
        return LlamaCppBackend(
            settings.model,
            slots=settings.concurrency,
            threads=settings.threads,
            ctx_per_slot=settings.ctx_per_slot,
            timeout_s=settings.timeout_s or LOCAL_TIMEOUT_S,
            **patience,
        )
    if settings.backend == "vllm":
        return VLLMBackend(
            settings.model,
            tensor_parallel_size=settings.num_gpus,
            gpu_memory_utilization=settings.gpu_memory_utilization,
        )
    factory = _REGISTERED.get(settings.backend)
    if factory is None:
        raise LLMConfigError(f"no {settings.backend!r} backend is registered (import the "
                             "module that provides it, e.g. drpo.sim.backend)")  # fmt: skip
    return factory(settings)


def register_backend(kind: str, factory: Callable[[RoleSettings], Backend]) -> None:
    """Makes `kind` (one of BACKENDS) a backend that `factory(settings)` builds."""
    if kind not in BACKENDS:
        raise ValueError(f"unknown backend kind {kind!r}; choose from {', '.join(BACKENDS)}")
    _REGISTERED[kind] = factory


def make_llms(
    roles: Mapping[str, RoleSettings],
    *,
    cache: LLMCache | None = None,
    usage: UsageTracker | None = None,
    max_reasks: int = 2,
    pool: BackendPool | None = None,
    refresh_unusable: bool = False,
) -> dict[str, LLM]:
    """One `LLM` per role, sharing backends, the cache and the usage tally. Roles on one
    local server share it, with as many slots as the most any of them sends at once."""
    pool = pool if pool is not None else BackendPool()
    usage = usage or UsageTracker()
    slots: dict[tuple[Any, ...], int] = {}
    for settings in roles.values():
        if settings.backend == "llamacpp":
            key = settings.backend_key()
            slots[key] = max(slots.get(key, 1), settings.concurrency)
    out = {}
    for role, settings in roles.items():
        if settings.backend == "llamacpp":
            settings = replace(settings, concurrency=slots[settings.backend_key()])
        try:
            backend = pool.get(settings)
        except LLMConfigError as exc:
            raise LLMConfigError(f"role {role!r}: {exc}") from None
        out[role] = LLM(backend, role=role, cache=cache, usage=usage, max_reasks=max_reasks,
                        refresh_unusable=refresh_unusable)  # fmt: skip
    return out
