"""Which model plays each role of a run, as the Python API takes it: one spec for every role
(`model=`) or one per role (`models=`), turned into the run's model settings (the same as
`train.py`'s model flags).

A spec is `"sim"` (the simulated LLM), the name of a pinned model fetched before
(`"qwen0.5b"`: `python -m drpo.models fetch qwen0.5b`), a path to a GGUF file (both run on
llama.cpp's server), any other name (an OpenAI model, e.g. `"gpt-4o-mini"`), or a `Model`
(any OpenAI-compatible server: vLLM, llama.cpp, Ollama, a hosted API).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

#: The roles a run can give a model: the task model ("base"), the judges of DRPO ("eval",
#: "metrics") and the optimiser ("optimize"). The task-prompt methods use base and optimize.
ROLES = ("base", "eval", "metrics", "optimize")


@dataclass(frozen=True, kw_only=True)
class Model:
    """A model served behind an OpenAI-compatible API.

    Args:
        name: the model's name as the server knows it (e.g. `"gpt-4o-mini"`, or the name
            `vllm serve` was given).
        base_url: the server's URL, e.g. `"http://localhost:8000/v1"` (several replicas:
            separated by commas); None: OpenAI's own API.
        api_key_env: the environment variable that holds the API key (its value is never
            written to a log, the cache or an artefact).
        backend: the client to use, as `train.py --base_backend` takes it (`"openai"`,
            `"vllm"` for an in-process engine, `"llamacpp"`, `"sim"`); None: `"openai"`.

    Example:
        ```python
        local = drpo.Model(name="Qwen/Qwen2.5-1.5B-Instruct", base_url="http://localhost:8000/v1")
        drpo.optimize("promptagent", task, models={"base": local, "optimize": local})
        ```
    """

    name: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    backend: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("Model(name=...) needs the model's name")


#: What `model=` and each value of `models=` accept.
ModelSpec = Union[str, "os.PathLike[str]", Model]


@dataclass(frozen=True)
class _Resolved:
    name: str
    backend: str | None
    base_url: str | None
    api_key_env: str | None


def _resolve(spec: ModelSpec) -> _Resolved:
    """A spec as the flags of one role take it."""
    if isinstance(spec, Model):
        return _Resolved(spec.name, spec.backend or "openai", spec.base_url, spec.api_key_env)
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(
            f"a model is 'sim', a fetched model's name, a GGUF path, an OpenAI model's name or "
            f"a drpo.Model, got {type(spec).__name__}"
        )
    text = os.fspath(spec)
    if not text.strip():
        raise ValueError("a model's name is empty")
    if text.startswith("sim"):
        return _Resolved(text, None, None, None)
    from drpo.models import MODELS

    if text in MODELS:
        return _Resolved(text, "llamacpp", None, None)
    if text.lower().endswith(".gguf"):
        path = Path(text).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"no GGUF file at {path}")
        return _Resolved(str(path.resolve()), "llamacpp", None, None)
    return _Resolved(text, "openai", None, None)


def model_settings(model: ModelSpec, models: Mapping[str, ModelSpec] | None) -> dict[str, Any]:
    """The run settings (`train.py`'s model flags, by name) of the roles' models:
    `models[role]` where given, else `model`.

    Raises ValueError for an unknown role, or for models that read their API keys from
    different variables (a run reads one, `api_key_env`)."""
    chosen = dict(models or {})
    unknown = sorted(set(chosen) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(unknown)} in models=; the roles are "
                         f"{', '.join(ROLES)}")  # fmt: skip
    out: dict[str, Any] = {}
    keys: set[str] = set()
    for role in ROLES:
        resolved = _resolve(chosen.get(role, model))
        out[f"{role}_model_name"] = resolved.name
        out[f"{role}_backend"] = resolved.backend
        out[f"{role}_base_url"] = resolved.base_url
        if resolved.api_key_env is not None:
            keys.add(resolved.api_key_env)
    if len(keys) > 1:
        names = ", ".join(sorted(keys))
        raise ValueError(f"the models read their API keys from {names}; a run reads one "
                         "variable (give every drpo.Model the same api_key_env)")  # fmt: skip
    if keys:
        out["api_key_env"] = keys.pop()
    return out
