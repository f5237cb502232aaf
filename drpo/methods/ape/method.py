"""APE in `train.py --method ape` and the Python API: its settings, presets, run and closing
lines."""

from __future__ import annotations

from typing import Any

from drpo.methods.ape.settings import ApeSettings
from drpo.methods.runner import task_report
from drpo.methods.spec import MethodSpec, Preset
from drpo.run_context import RunError


def check(settings: ApeSettings) -> None:
    """Bad settings: RunError or ValueError, before anything is written."""
    from drpo.methods.ape.run import prepare

    if settings.search != "beam":
        raise RunError("APE keeps the top --beam_size instructions of each round (--search beam)")
    prepare(settings)


def run(settings: ApeSettings) -> Any:
    """The run (in settings.log_dir, made by then); its summary."""
    from drpo.methods.ape.run import run_ape

    return run_ape(settings)


PAPER = Preset(
    description="APE's instruction induction experiments (Zhou et al., ICLR 2023) as their "
    "reference code (keirp/automatic_prompt_engineer) configures them",
    values={"depth": 1, "demo_sets": 3, "n_demos": 5, "proposals_per_set": 30,
            "score_size": 30, "temperature": 0.9},
    sources={
        "depth": "reference code: one proposal round (it implements no iterative search)",
        "demo_sets": "experiments/configs/instruction_induction.yaml: num_subsamples 3",
        "n_demos": "instruction_induction.yaml: num_demos 5",
        "proposals_per_set": "instruction_induction.yaml: num_prompts_per_subsample 30",
        "score_size": "instruction_induction.yaml: exec_accuracy on num_samples 30",
        "temperature": "instruction_induction.yaml: generation temperature 0.9",
    },
)  # fmt: skip

METHOD = MethodSpec(
    name="ape",
    title="APE (rounds: --depth, the first of them forward generation; kept: --beam_size)",
    summary="APE, instructions induced from demonstrations, kept by score and resampled "
    "(Zhou et al., 2023)",
    settings=ApeSettings,
    check=check,
    run=run,
    report=task_report("APE"),
    roles=("base", "optimize"),
    presets={"paper": PAPER},
    task_prompt=True,
    sim="drpo.methods.ape.sim",
)
