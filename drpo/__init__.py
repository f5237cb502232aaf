"""Prompt optimisation as search: the methods (DRPO, PromptAgent, GPO, APE, OPRO, ProTeGi,
Prompt-OIRL), their runs and artefacts, the command line (`prompt-search`, `train.py`) and
the Python API.

The API's names are importable from `drpo` itself and load on first use, so `import drpo`
stays light: `drpo.Task`, `drpo.AlignmentData`, `drpo.Model`, `drpo.optimize`,
`drpo.evaluate`, `drpo.plan` (see `drpo.api`), and `drpo.AlignedModel`, a DRPO run's aligned
model (`drpo.AlignedModel.load(log_dir).generate(query)`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drpo.api import AlignmentData as AlignmentData
    from drpo.api import Evaluation as Evaluation
    from drpo.api import HeldOutComparison as HeldOutComparison
    from drpo.api import Model as Model
    from drpo.api import OptimizeResult as OptimizeResult
    from drpo.api import Task as Task
    from drpo.api import evaluate as evaluate
    from drpo.api import optimize as optimize
    from drpo.api import plan as plan
    from drpo.methods.drpo.aligned import AlignedModel as AlignedModel

_API = ("AlignmentData", "Evaluation", "HeldOutComparison", "Model", "OptimizeResult", "Task",
        "evaluate", "optimize", "plan")  # fmt: skip

__all__ = [*_API, "AlignedModel"]


def __getattr__(name: str) -> Any:
    if name in _API:
        from drpo import api

        return getattr(api, name)
    if name == "AlignedModel":
        from drpo.methods.drpo.aligned import AlignedModel

        return AlignedModel
    raise AttributeError(f"module 'drpo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
