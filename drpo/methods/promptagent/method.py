"""PromptAgent in `train.py --method promptagent` and the Python API: its settings, presets,
run and closing lines."""

from __future__ import annotations

from typing import Any

from drpo.methods.promptagent.settings import PromptAgentSettings
from drpo.methods.runner import task_report
from drpo.methods.spec import MethodSpec, Preset


def check(settings: PromptAgentSettings) -> None:
    """Bad settings: RunError or ValueError, before anything is written."""
    from drpo.methods.promptagent.run import algorithm

    algorithm(settings)
    settings.load_task()


def run(settings: PromptAgentSettings) -> Any:
    """The run (in settings.log_dir, made by then); its summary."""
    from drpo.methods.promptagent.run import run_promptagent

    return run_promptagent(settings)


PAPER = Preset(
    description="PromptAgent's paper (Wang et al., ICLR 2024), its reference code "
    "(XinyuanWangCS/PromptAgent) where the paper is silent; the released example config "
    "differs (depth 5, 10 iterations)",
    values={"search": "mcts", "depth": 8, "n_iters": 12, "expand_width": 3,
            "num_new_prompts": 1, "batch_size": 5, "w_exp": 2.5, "min_depth": 2,
            "temperature": 1.0},
    sources={
        "search": "paper §3: MCTS",
        "depth": "paper §4.1, implementation details: depth limit 8",
        "n_iters": "paper §4.1, implementation details: 12 iterations",
        "expand_width": "paper §4.1 and example_config.yaml: expand width 3",
        "num_new_prompts": "reference code example_config.yaml: num_new_prompts 1 (MCTS)",
        "batch_size": "reference code example_config.yaml: train_batch_size 5",
        "w_exp": "paper §4.1 and example_config.yaml: exploration weight 2.5",
        "min_depth": "reference code example_config.yaml: min_depth 2",
        "temperature": "reference code example_config.yaml: optimiser temperature 1.0",
    },
)  # fmt: skip


METHOD = MethodSpec(
    name="promptagent",
    title="PromptAgent",
    summary="PromptAgent, a task prompt by MCTS on error feedback (Wang et al., 2024)",
    settings=PromptAgentSettings,
    check=check,
    run=run,
    report=task_report("PromptAgent"),
    roles=("base", "optimize"),
    presets={"paper": PAPER},
    task_prompt=True,
    sim="drpo.methods.promptagent.sim",
)
