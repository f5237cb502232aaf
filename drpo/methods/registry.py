"""The methods of `train.py --method`, of the Python API and of the simulated LLM, one line
each; the first is the default.

Adding a method: its package declares a `MethodSpec` (drpo.methods.spec) as `METHOD` in its
`method` module, light to import (the run imports the method's code when it runs), and one
line here lists it (or, from outside the project, `register("package.method")`).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from drpo.methods.declare import coerce
from drpo.methods.spec import MethodSpec


def _method(module: str) -> MethodSpec:
    spec = import_module(module).METHOD
    if not isinstance(spec, MethodSpec):
        raise TypeError(f"{module}.METHOD is not a MethodSpec")
    return spec


METHODS: tuple[MethodSpec, ...] = (
    _method("drpo.methods.drpo.method"),
    _method("drpo.methods.promptagent.method"),
    _method("drpo.methods.gpo.method"),
    _method("drpo.methods.ape.method"),
    _method("drpo.methods.opro.method"),
    _method("drpo.methods.protegi.method"),
    _method("drpo.methods.oirl.method"),
    _method("drpo.methods.toy.method"),
)

_registered: list[MethodSpec] = []


def register(module: str) -> MethodSpec:
    """Adds the method that `module` declares as `METHOD` (a package outside the project),
    after the built-in ones; registering it again replaces it. Returns its spec."""
    spec = _method(module)
    if any(m.name == spec.name for m in METHODS):
        raise ValueError(f"a built-in method is called {spec.name!r}")
    _registered[:] = [m for m in _registered if m.name != spec.name] + [spec]
    return spec


def unregister(name: str) -> None:
    """Removes a method added by `register`."""
    _registered[:] = [m for m in _registered if m.name != name]


def methods() -> tuple[MethodSpec, ...]:
    """Every method: the built-in ones, then those added by `register`."""
    return (*METHODS, *_registered)


def method_spec(name: str) -> MethodSpec:
    """The method called `name`; ValueError listing the methods for another name."""
    for spec in methods():
        if spec.name == name:
            return spec
    names = ", ".join(m.name for m in methods())
    raise ValueError(f"unknown method {name!r}; choose from {names}")


def settings_for(method: str, preset: str | None = None, **overrides: Any) -> Any:
    """The settings of `method` (its frozen settings dataclass): its defaults, then the
    values of `preset` (such as "paper"), then `overrides` (keyword arguments with the
    command line's names; text for a path becomes a Path). An unknown keyword is a
    TypeError that lists the valid ones; an unknown method or preset a ValueError."""
    import dataclasses

    spec = method_spec(method)
    valid = [f.name for f in dataclasses.fields(spec.settings) if f.init]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise TypeError(f"{method} has no setting {', '.join(unknown)}; its settings are: "
                        f"{', '.join(sorted(valid))}")  # fmt: skip
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in spec.presets:
            known = ", ".join(spec.presets) or "none"
            raise ValueError(f"{method} has no preset {preset!r}; its presets: {known}")
        values.update(spec.presets[preset].values)
    values.update(overrides)
    return spec.settings(**coerce(spec.settings, values))
