"""The methods of `train.py --method`, one line each; the first is the default.

Adding a method: its package declares a `MethodSpec` (drpo.methods.spec) as `METHOD` in its
`method` module, light to import (the runner imports the method's code when it runs), and
one line here lists it.
"""

from __future__ import annotations

from importlib import import_module

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
