"""The Python API: the same runs as `train.py`, from Python.

```python
import drpo

task = drpo.Task.from_jsonl("reviews.jsonl", eval_size=10, test_size=10, seed=0)
result = drpo.optimize("promptagent", task, model="sim", log_dir="logs/reviews",
                       initial_prompt="Is this review positive or negative?",
                       budget_calls=300, n_iters=3)
print(result.best_prompt, result.final_accuracy, result.gain)
print(drpo.evaluate(result.best_prompt, task, model="sim", split="test").accuracy)
print("\n".join(drpo.plan("promptagent", task, budget_calls=300, n_iters=3).lines()))
```

`optimize` parses its arguments with `train.py`'s own parser and calls the method's own
runner, so a run from Python writes what `train.py` writes and can be resumed from either.
"""

from drpo.api.data import AlignmentData, Task
from drpo.api.evaluate import Evaluation, evaluate
from drpo.api.models import ROLES, Model, ModelSpec
from drpo.api.optimize import HeldOutComparison, OptimizeResult, optimize
from drpo.api.plan import plan

__all__ = [
    "ROLES",
    "AlignmentData",
    "Evaluation",
    "HeldOutComparison",
    "Model",
    "ModelSpec",
    "OptimizeResult",
    "Task",
    "evaluate",
    "optimize",
    "plan",
]
