"""`drpo.plan`: what a run would cost, before any call: each role's projected calls and
tokens (upper bounds), and what a search budget buys (`train.py --plan`)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drpo.api.data import AlignmentData, Task
from drpo.api.models import ModelSpec

if TYPE_CHECKING:
    from drpo.planning import Plan


def plan(
    method: str,
    data: Task | AlignmentData | None = None,
    *,
    model: ModelSpec = "sim",
    models: Mapping[str, ModelSpec] | None = None,
    initial_prompt: str | None = None,
    budget_calls: int | None = None,
    preset: str | None = None,
    **settings: Any,
) -> Plan:
    """Project the run `drpo.optimize` would make with the same arguments: no model is
    called and nothing is written.

    Args:
        method, data, model, models, initial_prompt, budget_calls, preset, **settings: as
            for `drpo.optimize`.

    Returns:
        A `drpo.planning.Plan`: `.roles` (each role's calls, prompt and completion tokens, at
        most), `.expansions` and `.evaluated_prompts` (at most), `.budget_expansions` (what
        a given budget surely buys), `.warnings` (e.g. a budget that buys fewer than two
        expansions) and `.lines()` (the text `train.py --plan` prints).

    Raises:
        TypeError: a keyword that is no setting of the method (the message lists them).
        ValueError: an unknown method, a bad value or unusable data.
    """
    from dataclasses import replace

    from drpo.api.optimize import run_settings
    from drpo.planning import plan as project

    spec, made = run_settings(method, data, model=model, models=models, log_dir=None,
                              initial_prompt=initial_prompt, budget_calls=budget_calls,
                              preset=preset, resume=False, verbose=False,
                              settings=settings)  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        if isinstance(data, Task) and data.path is None:  # examples in memory: a file to read
            made = replace(made, task=os.fspath(data.file_for(Path(folder))))
        return project(spec.name, made)
