"""DRPO in `train.py` (the default method): its settings and its runner."""

from __future__ import annotations

import argparse
from pathlib import Path

from drpo.methods.drpo.base_prompt import BASE_MAX_TOKENS, FORMATS
from drpo.methods.runner import (
    common_settings,
    fail,
    failure,
    print_ending,
    provenance,
    role_settings,
    start,
)
from drpo.methods.spec import MethodSpec, Option, parse_bool


def _initial_prompt(text: str) -> str:
    path = Path(text)
    if len(text) < 4096 and "\n" not in text and path.is_file():
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read the initial system prompt from {path}: {exc}") from None
    return text


def run(args: argparse.Namespace, log_dir: Path) -> int:
    from drpo.methods.drpo.data import DEMO_DATA_DIR
    from drpo.methods.drpo.run import DRPOSettings, run_drpo, validate

    if args.search == "greedy":
        return fail("DRPO searches with beam or mcts (greedy is beam search with --beam_size 1)")
    try:
        settings = DRPOSettings(
            roles=role_settings(args),
            initial_system_prompt=_initial_prompt(args.initial_system_prompt),
            n_actions=args.n_actions,
            temperature=args.temperature,
            depth=args.depth,
            max_depth_increase=args.max_depth_increase,
            beam_size=args.beam_size,
            search=args.search,
            n_iters=args.n_iters,
            w_exp=args.w_exp,
            data_dir=Path(args.data_dir) if args.data_dir else DEMO_DATA_DIR,
            metrics_cache_path=Path(args.metrics_cache_path) if args.metrics_cache_path else None,
            num_training_examples=args.num_training_examples,
            test_size=args.test_size,
            ret_icl=args.ret_icl,
            k=args.k,
            embedding_backend=args.embedding_backend,
            embedding_model=args.embedding_model,
            embedding_base_url=args.embedding_base_url,
            optimize_icl=args.optimize_icl,
            icl_num_iters=args.icl_num_iters,
            max_tokens=args.max_tokens,
            base_prompt_format=args.base_prompt_format,
            log_dir=log_dir,
            **common_settings(args),
        )
        validate(settings)
        log_dir = start(args, log_dir)
        summary = run_drpo(settings)
    except (Exception, KeyboardInterrupt) as exc:  # one line and an exit code; bugs re-raised
        return failure(exc)
    where, resumed = provenance(summary)
    print(f"DRPO ran on {where}{resumed}: {summary.steps} steps on the best path: "
          f"{summary.handled} already handled, {summary.improved} better than the initial "
          f"prompt on their query, {summary.errored} not evaluated "
          f"({summary.depth_increase} extra level(s) for queries already handled)")  # fmt: skip
    print(f"base model prompt format: {summary.base_prompt_format}")
    print(summary.verdict)
    if summary.held_out:
        print(summary.held_out)
    print_ending(summary, "the search's final system prompt", "best_system_prompt.txt",
                 summary.best_prompt)  # fmt: skip
    print(f"aligned model: {summary.log_dir / 'aligned_model.json'} (use it: python -m "
          f"drpo.methods.drpo answer --run {summary.log_dir} --query \"...\")")  # fmt: skip
    return 0


METHOD = MethodSpec(
    name="drpo",
    title="DRPO (--k: in-context examples; --test_size: held-out queries)",
    summary="DRPO, the system prompt by beam search on dynamic rewards (Singla et al., 2024)",
    run=run,
    defaults={
        "search": "beam",
        "depth": 20,
        "n_iters": 10,
        "w_exp": 1.0,
        "temperature": 0.2,
        "beam_size": 2,
        "k": 2,
        "test_size": 10,
        "max_tokens": BASE_MAX_TOKENS,
    },
    options=(
        Option(
            "initial_system_prompt",
            default="You are a helpful assistant.",
            help="the text, or a path to a file holding it",
        ),
        Option("n_actions", default=3, type=int),
        Option("max_depth_increase", default=10, type=int),
        Option("metrics_cache_path", help="aspect selections to reuse"),
        Option("num_training_examples", default=180, type=int),
        Option(
            "ret_icl",
            default=True,
            type=parse_bool,
            help="retrieve the k most similar in-context examples",
        ),
        Option("embedding_backend", default="hash", choices=("hash", "openai")),
        Option(
            "optimize_icl",
            default=False,
            type=parse_bool,
            help="first optimise the in-context examples (stage 1)",
        ),
        Option("icl_num_iters", default=5, type=int),
        Option(
            "base_prompt_format",
            default="auto",
            choices=FORMATS,
            help="how the base model is asked: completion (plain text in the reference's "
            "template: base models), chat (instruct models), or auto: completion for a model "
            "with no chat template or a known base model, chat otherwise",
        ),
    ),
)
