"""DRPO's settings: one declaration, from which `train.py`'s DRPO flags (the original's
names), the Python API's keyword arguments and the run are made."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drpo.methods import shared_settings as shared
from drpo.methods.declare import parse_bool, setting
from drpo.methods.drpo.base_prompt import BASE_MAX_TOKENS, FORMATS
from drpo.methods.drpo.data import DEMO_DATA_DIR
from drpo.retrieval import EMBEDDING_BACKENDS
from drpo.run_context import RunSettings


@dataclass(frozen=True, kw_only=True)
class DRPOSettings(RunSettings):
    """Everything a DRPO run depends on (Singla et al., EMNLP 2024): the system prompt by
    beam search (or MCTS) on dynamic rewards, with retrieved in-context examples."""

    initial_system_prompt: str = setting(
        "You are a helpful assistant.", help="the text, or a path to a file holding it"
    )
    n_actions: int = setting(3)
    temperature: float = shared.temperature(0.2)
    depth: int = shared.depth(20)
    max_depth_increase: int = setting(10)
    beam_size: int = shared.beam_size(2)
    search: str = shared.search("beam")
    n_iters: int = shared.n_iters(10)
    w_exp: float = shared.w_exp(1.0)
    data_dir: Path = shared.data_dir(DEMO_DATA_DIR)
    metrics_cache_path: Path | None = setting(None, help="aspect selections to reuse")
    num_training_examples: int = setting(180)
    # held-out queries, never searched on: both prompts judged on them
    test_size: int = shared.test_size(10)
    ret_icl: bool = setting(
        True, parse=parse_bool, help="retrieve the k most similar in-context examples"
    )
    k: int = shared.k(2)
    embedding_backend: str = setting(
        "auto",
        choices=EMBEDDING_BACKENDS,
        help="retrieval's embedder; auto: MiniLM (extra embed, fetched weights), else hash",
    )
    embedding_model: str = shared.embedding_model()
    embedding_base_url: str | None = shared.embedding_base_url()
    optimize_icl: bool = setting(
        False, parse=parse_bool, help="first optimise the in-context examples (stage 1)"
    )
    icl_num_iters: int = setting(5)  # the reference's rounds
    max_tokens: int = shared.max_tokens(BASE_MAX_TOKENS)  # the reference's answer limit
    base_prompt_format: str = setting(
        "auto",
        choices=FORMATS,
        help="how the base model is asked: completion (plain text in the reference's "
        "template: base models), chat (instruct models), or auto: completion for a model "
        "with no chat template or a known base model, chat otherwise",
    )
    max_reasks: int = 2  # bounded re-asks for unparseable JSON (no flag)
