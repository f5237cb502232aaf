"""The aligned model: a DRPO run's result in use.

A finished DRPO run writes ``aligned_model.json``: the search's final system prompt, the
in-context examples (optimised or the pool) and how many are retrieved for a query and with
which embedder, the base model's request format and template, the base model and its
settings, and the judge the run used. `AlignedModel.load(run_dir).generate(query)` answers a
query as the reference's inference does: the system prompt, the examples retrieved for the
query, the query, the base model behind it all, the answer cut at the end marker.

No API key is ever written: a role records the name of the variable that holds its key.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drpo.llm import LLM, BackendPool, LLMConfigError, Request, RoleSettings, make_llms
from drpo.llm._loop import run_sync
from drpo.sim import backend as _sim_backend  # noqa: F401  (registers the `sim` backend)
from search.artifacts import write_atomic

if TYPE_CHECKING:
    from drpo.methods.drpo.base_prompt import BasePrompt
    from drpo.methods.drpo.dynamic_reward import DynamicReward
    from drpo.methods.drpo.settings import DRPOSettings
    from drpo.retrieval import Embedder

ALIGNED_MODEL = "aligned_model.json"
FORMAT_VERSION = 1
#: The RoleSettings fields an aligned model records (where the model runs and how it is
#: called; never a key: `api_key_env` names the variable that holds it).
ROLE_FIELDS = ("backend", "model", "base_url", "api_key_env", "concurrency", "timeout_s",
               "max_retries", "retry_backoff_s", "max_wait_s", "threads", "ctx_per_slot",
               "num_gpus", "gpu_memory_utilization", "seed")  # fmt: skip


class AlignedModelError(ValueError):
    """A folder holds no usable aligned model; the message says why, in one line."""


def role_record(settings: RoleSettings) -> dict[str, Any]:
    """A role's settings as JSON, without anything secret or machine-bound beyond the model."""
    values = asdict(settings)
    return {name: values[name] for name in ROLE_FIELDS}


def role_from(record: Mapping[str, Any]) -> RoleSettings:
    """The RoleSettings of a recorded role (LLMConfigError when they cannot work here)."""
    known = {f.name for f in fields(RoleSettings)}
    return RoleSettings(**{k: v for k, v in record.items() if k in known})


def embedder_record(embedder: Embedder | None) -> dict[str, Any] | None:
    """What an embedder is, so that a later process builds the same one."""
    from drpo.retrieval import HashingEmbedder, OpenAIEmbedder

    if embedder is None:
        return None
    if isinstance(embedder, HashingEmbedder):
        return {"backend": "hash", "name": f"hash-{embedder.dim}", "dim": embedder.dim}
    if isinstance(embedder, OpenAIEmbedder):
        return {"backend": "openai", "name": f"openai:{embedder.model}", "model": embedder.model,
                "base_url": embedder.base_url}  # fmt: skip
    name = str(getattr(embedder, "name", type(embedder).__name__))
    return {"backend": "minilm" if "minilm" in name.lower() else name, "name": name}


def embedder_from(record: Mapping[str, Any]) -> Embedder:
    """The embedder a record names (LLMConfigError when it cannot run here)."""
    from drpo.retrieval import embedder_named

    try:
        return embedder_named(str(record.get("name")), base_url=record.get("base_url"))
    except ValueError as exc:
        raise LLMConfigError(str(exc)) from None


@dataclass(frozen=True)
class AlignedSpec:
    """Everything `aligned_model.json` holds (see the module docstring)."""

    system_prompt: str
    initial_system_prompt: str
    examples: Mapping[str, str]  # query -> answer
    k: int  # examples retrieved per query (all of them when `retrieve` is False)
    retrieve: bool
    embedder: Mapping[str, Any] | None  # None without retrieval
    prompt_format: str  # "chat" (messages) or "completion" (plain text)
    template: str  # the request's text with placeholders, for a person to read
    base: Mapping[str, Any]  # the base model's RoleSettings (no key)
    base_prompt: Mapping[str, Any]  # BasePrompt.to_json(): format, max_tokens, stops, ...
    prompt_format_reason: str = ""  # why the base model got this format
    judge: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # eval, metrics
    data: Mapping[str, Any] = field(default_factory=dict)  # where the queries came from
    simulated: bool = False

    @classmethod
    def of_run(
        cls, settings: DRPOSettings, reward: DynamicReward, prompt: str, *, reason: str = ""
    ) -> AlignedSpec:
        """The aligned model a finished run produced: `prompt` with the run's examples,
        asked as the run asked its base model (`reason`: why in that format)."""
        source = reward.examples
        retriever = source.retriever
        base_prompt = reward.base_prompt.to_json()
        return cls(
            system_prompt=prompt,
            initial_system_prompt=settings.initial_system_prompt,
            examples=dict(source.examples),
            k=source.k if retriever is not None else len(source.examples),
            retrieve=retriever is not None,
            embedder=embedder_record(retriever.embedder if retriever is not None else None),
            prompt_format=reward.base_prompt.format,
            template=str(base_prompt.get("template", "")),
            base=role_record(settings.roles["base"]),
            base_prompt=base_prompt,
            prompt_format_reason=reason,
            judge={r: role_record(settings.roles[r]) for r in ("eval", "metrics")},
            data={
                "data_dir": str(settings.data_dir),
                "seed": settings.seed,
                "num_training_examples": settings.num_training_examples,
                "test_size": settings.test_size,
            },
            simulated=settings.simulated,
        )

    def to_json(self) -> dict[str, Any]:
        data = {"format_version": FORMAT_VERSION, **asdict(self)}
        data["examples"] = dict(self.examples)
        return data

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> AlignedSpec:
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise AlignedModelError(f"{where} is not an aligned model of format "
                                    f"{FORMAT_VERSION}")  # fmt: skip
        names = {f.name for f in fields(cls)}
        try:
            spec = cls(**{k: v for k, v in data.items() if k in names})
        except TypeError as exc:
            raise AlignedModelError(f"{where} is incomplete: {exc}") from None
        if not isinstance(spec.system_prompt, str) or not spec.system_prompt.strip():
            raise AlignedModelError(f"{where} holds no system prompt")
        if not isinstance(spec.examples, dict) or not all(
            isinstance(q, str) and isinstance(a, str) for q, a in spec.examples.items()
        ):
            raise AlignedModelError(f"{where}: 'examples' must map query to answer text")
        return spec


def write_aligned_model(log_dir: Path, spec: AlignedSpec) -> Path:
    """Write `spec` to log_dir/aligned_model.json (atomically)."""
    path = Path(log_dir) / ALIGNED_MODEL
    text = json.dumps(spec.to_json(), indent=1, ensure_ascii=False) + "\n"
    write_atomic(path, text.encode("utf-8"))
    return path


def load_spec(run_dir: str | Path) -> AlignedSpec:
    """The aligned model of a finished DRPO run; AlignedModelError (one line) otherwise."""
    run_dir = Path(run_dir)
    path = run_dir / ALIGNED_MODEL
    if not run_dir.is_dir():
        raise AlignedModelError(f"{run_dir} is not a folder")
    if not path.is_file():
        raise AlignedModelError(f"{run_dir} holds no finished DRPO run (no {ALIGNED_MODEL})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AlignedModelError(f"cannot read {path}: {exc}") from None
    return AlignedSpec.from_json(data, where=str(path))


# ---- the base model's request: drpo.methods.drpo.base_prompt, as the search asked it ---------
def request_of(
    reward: DynamicReward, system_prompt: str, query: str
) -> tuple[Request, tuple[str, ...]]:
    """The base model's request for `query` under `system_prompt` with the examples `reward`
    retrieves for it, exactly as the search sent it, and the example queries shown."""
    return reward.base_request(system_prompt, query)


# ---- the model in use ----------------------------------------------------------------------
class AlignedModel:
    """``AlignedModel.load(run_dir).generate(query)``: a DRPO run's aligned model answering.

    The base model is started on first use (a local GGUF: its llama.cpp server) and stopped
    by `close` (or at the end of a ``with`` block). Thread-safe: many threads may call
    `generate` at once; their requests share the backend's concurrency limit.
    """

    def __init__(
        self, spec: AlignedSpec, *, run_dir: Path | None = None, pool: BackendPool | None = None
    ) -> None:
        self.spec = spec
        self.run_dir = run_dir
        self._shared_pool = pool  # backends shared with others: closed by its owner
        self._pool: BackendPool | None = None
        self._reward: DynamicReward | None = None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, run_dir: str | Path) -> AlignedModel:
        """The aligned model of a finished DRPO run (AlignedModelError otherwise)."""
        return cls(load_spec(run_dir), run_dir=Path(run_dir))

    @property
    def name(self) -> str:
        """The model's name on an OpenAI-compatible endpoint."""
        base = Path(str(self.spec.base.get("model", "model"))).name
        return f"drpo-aligned-{base}"

    def describe(self) -> str:
        embedder = (self.spec.embedder or {}).get("name")
        how = (f"{self.spec.k} retrieved example(s) ({embedder})" if self.spec.retrieve
               else f"{len(self.spec.examples)} fixed example(s)")  # fmt: skip
        return (f"{self.spec.base.get('model')} on {self.spec.base.get('backend')}, "
                f"{self.spec.prompt_format} format, {how}")  # fmt: skip

    def reward(self) -> DynamicReward:
        """The base model with the aligned model's examples, as the search evaluated it
        (its metrics and judge roles are the base model too: replace them to judge)."""
        return self._ensure()

    def _ensure(self) -> DynamicReward:
        with self._lock:
            return self._build()

    def _build(self) -> DynamicReward:
        if self._reward is None:
            from drpo.methods.drpo.aspect_judge import MetricsCache
            from drpo.methods.drpo.dynamic_reward import DynamicReward, ExampleSource
            from drpo.retrieval import Retriever

            spec = self.spec
            retriever = None
            if spec.retrieve and spec.examples:
                retriever = Retriever(list(spec.examples), embedder_from(spec.embedder or {}))
            self._pool = self._shared_pool or BackendPool()
            llms = make_llms({"base": role_from(spec.base)}, max_reasks=0, pool=self._pool)
            self._reward = DynamicReward(
                base=llms["base"], metrics=llms["base"], judge=llms["base"],
                examples=ExampleSource(dict(spec.examples), k=spec.k, retriever=retriever),
                metrics_cache=MetricsCache(None), base_prompt=self.base_prompt,
            )  # fmt: skip
        return self._reward

    @property
    def base_prompt(self) -> BasePrompt:
        """How the base model is asked (its format, answer limit, stops)."""
        from drpo.methods.drpo.base_prompt import BasePrompt

        try:
            return BasePrompt.from_json(self.spec.base_prompt)
        except ValueError as exc:
            raise AlignedModelError(f"the aligned model's base_prompt: {exc}") from None

    def clean(self, text: str) -> str:
        """The answer in the base model's raw text, as the search read it."""
        return self.base_prompt.clean(text)

    @property
    def llm(self) -> LLM:
        """The base model's LLM (started on first use)."""
        return self._ensure().base

    def request(
        self,
        query: str,
        *,
        system_prompt: str | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
        n: int = 1,
    ) -> Request:
        """The base model's request for `query` (the aligned system prompt unless another
        is given), as the search asked it unless sampling settings are overridden."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError("the query is empty")
        reward = self._ensure()
        request, _ = request_of(reward, system_prompt or self.spec.system_prompt, query)
        return replace(
            request,
            temperature=request.temperature if temperature is None else temperature,
            top_p=request.top_p if top_p is None else top_p,
            max_tokens=max_tokens or request.max_tokens,
            stop=tuple(dict.fromkeys([*request.stop, *stop])),
            n=n,
            cache=False,
        )

    async def agenerate_many(
        self, queries: Sequence[str], **overrides: Any
    ) -> list[list[tuple[str, str]]]:
        """For each query, its answers and why each stopped ("stop" or "length")."""
        requests = [self.request(q, **overrides) for q in queries]
        completions = await self.llm.agenerate(requests)
        return [[(self.clean(t), r) for t, r in zip(c.texts, c.finish_reasons)]
                for c in completions]  # fmt: skip

    def generate_many(self, queries: Sequence[str], **overrides: Any) -> list[str]:
        """The first answer to each query (blocking; the queries go out together)."""
        return [answers[0][0] for answers in run_sync(self.agenerate_many(queries, **overrides))]

    def generate(self, query: str, **overrides: Any) -> str:
        """The aligned model's answer to `query` (overrides: temperature, top_p, max_tokens,
        stop, system_prompt)."""
        return self.generate_many([query], **overrides)[0]

    def close(self) -> None:
        """Stop the base model's backend (a local server it started)."""
        if self._pool is not None and self._shared_pool is None:
            self._pool.close()
        self._pool, self._reward = None, None

    def __enter__(self) -> AlignedModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
