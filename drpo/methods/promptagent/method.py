"""PromptAgent in `train.py --method promptagent` and the Python API: its settings, presets,
run and closing lines."""

from __future__ import annotations

from typing import Any

from drpo.methods.promptagent.settings import PromptAgentSettings
from drpo.methods.runner import task_report
from drpo.methods.spec import MethodSpec, Preset


def check(settings: PromptAgentSettings) -> None:
    from drpo.methods.promptagent.run import algorithm

    algorithm(settings)
    settings.load_task()


def run(settings: PromptAgentSettings) -> Any:
    from drpo.methods.promptagent.run import run_promptagent

    return run_promptagent(settings)


PAPER = Preset(
    description="PromptAgent's paper (Wang et al., ICLR 2024), its reference code where the "
    "paper is silent",
    values={
        "depth": 8,
        "n_iters": 12,
        "expand_width": 3,
        "num_new_prompts": 1,
        "batch_size": 5,
        "w_exp": 2.5,
        "min_depth": 2,
        "temperature": 0.0,
        "eval_size": 150,
    },
    sources={
        "depth": "paper §4.1 'Implementation details': depth limit 8",
        "n_iters": "paper §4.1: 12 MCTS iterations",
        "expand_width": "paper §4.1: expand width 3",
        "num_new_prompts": "reference code: example_configs (num_new_prompts: 1)",
        "batch_size": "paper §4.1: a batch of 5 training examples per error feedback",
        "w_exp": "paper §4.1: exploration weight c = 2.5",
        "min_depth": "reference code: search_algo/mcts.py (min_depth 2)",
        "temperature": "reference code: example_configs (base model temperature 0; "
        "optimiser temperature 0 in the released configs)",
        "eval_size": "paper §4.1: a held-out eval set of 150 examples from the training data",
    },
)

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
)
