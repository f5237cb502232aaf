"""OPRO in `train.py --method opro` and the Python API: its settings, presets, run and
closing lines."""

from __future__ import annotations

from typing import Any

from drpo.methods.opro.settings import OPROSettings
from drpo.methods.runner import task_report
from drpo.methods.spec import MethodSpec, Preset
from drpo.run_context import RunError


def check(settings: OPROSettings) -> None:
    """Bad settings: RunError or ValueError, before anything is written."""
    from drpo.methods.opro.run import prepare

    if settings.search != "greedy":
        raise RunError("OPRO runs one chain of optimisation steps (--search greedy)")
    prepare(settings)


def run(settings: OPROSettings) -> Any:
    """The run (in settings.log_dir, made by then); its summary."""
    from drpo.methods.opro.run import run_opro

    return run_opro(settings)


def _training(summary: Any) -> list[str]:
    return [f"training accuracy: initial instruction {summary.initial_train:.3f}, "
            f"final {summary.final_train:.3f}"]  # fmt: skip


PAPER = Preset(
    description="OPRO's paper (Yang et al., ICLR 2024, 'Large Language Models as "
    "Optimizers') and its reference code (google-deepmind/opro)",
    values={"depth": 200, "instructions_per_step": 8, "max_history": 20,
            "exemplars_per_step": 3, "temperature": 1.0, "history_threshold": 0.0},
    sources={
        "depth": "reference code opro/optimization/optimize_instructions.py: "
        "num_search_steps 200",
        "instructions_per_step": "optimize_instructions.py: "
        "num_generated_instructions_in_each_step 8",
        "max_history": "optimize_instructions.py: max_num_instructions 20",
        "exemplars_per_step": "optimize_instructions.py: "
        "num_few_shot_questions_for_instruction_refinement 3, drawn at random",
        "temperature": "optimize_instructions.py: optimiser temperature 1.0",
        "history_threshold": "optimize_instructions.py: old_instruction_score_threshold 0 "
        "with a PaLM scorer (0.3 with GPT scorers)",
    },
)  # fmt: skip

METHOD = MethodSpec(
    name="opro",
    title="OPRO (steps: --depth; the paper ran up to 200)",
    summary="OPRO, a task instruction from a meta-prompt of scored instructions "
    "(Yang et al., ICLR 2024)",
    settings=OPROSettings,
    check=check,
    run=run,
    report=task_report("OPRO", noun="instruction", lines=_training),
    roles=("base", "optimize"),
    presets={"paper": PAPER},
    task_prompt=True,
    sim="drpo.methods.opro.sim",
)
