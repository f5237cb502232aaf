"""Settings that several methods declare, each in its own settings dataclass: their help and
choices are written here once; the default is each method's (`depth(5)`).

`--help` shows one flag for each, with every method's default (`per_method`), except for
those that mean the same for every method that has them (`data_dir`, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drpo.methods.declare import setting

#: The searches `--search` takes (Prompt-OIRL's best-of-N is its own and not chosen).
SEARCHES = ("beam", "mcts", "greedy")


def search(default: str) -> Any:
    """The search algorithm."""
    return setting(default, choices=SEARCHES, per_method=True)


def temperature(default: float) -> Any:
    """The optimiser's sampling temperature."""
    return setting(default, help="optimiser sampling", per_method=True)


def depth(default: int) -> Any:
    """The search's depth (steps, rounds)."""
    return setting(default, help="search depth (MCTS depth limit)", per_method=True)


def beam_size(default: int) -> Any:
    """The beam's width."""
    return setting(default, per_method=True)


def n_iters(default: int) -> Any:
    """MCTS iterations."""
    return setting(default, help="MCTS iterations", per_method=True)


def w_exp(default: float) -> Any:
    """MCTS exploration weight."""
    return setting(default, help="MCTS exploration weight", per_method=True)


def k(default: int) -> Any:
    """In-context examples, or prompts retrieved."""
    return setting(default, help="in-context examples, or prompts retrieved", per_method=True)


def test_size(default: int) -> Any:
    """Held-out test examples (or queries)."""
    return setting(default, help="held-out test examples (or queries)", per_method=True)


def data_dir(default: Path | None = None) -> Any:
    """Where the data is (None: the demo data the project ships)."""
    return setting(default, help="default: the demo data shipped")


def max_tokens(default: int) -> Any:
    """The answer limit, in tokens, of the model whose prompt is optimised (the base or task
    model): DRPO's base model gets the reference's 2,048, the task-prompt methods 512."""
    return setting(default, help="the base (task) model's answer limit in tokens",
                   per_method=True)  # fmt: skip


def embedding_model() -> Any:
    """The OpenAI-compatible embedding model (`--embedding_backend openai`)."""
    return setting("text-embedding-3-small")


def embedding_base_url() -> Any:
    """The server of the embedding model (None: OpenAI)."""
    return setting(None)
