"""Prompt-OIRL in `train.py --method oirl`: its settings and its runner."""

from __future__ import annotations

import argparse
from pathlib import Path

from drpo.methods.oirl.embed import EMBEDDERS
from drpo.methods.runner import common_settings, fail, failure, start
from drpo.methods.spec import MethodSpec, Option


def run(args: argparse.Namespace, log_dir: Path) -> int:
    from drpo.methods.oirl.run import OIRLSettings, load_data, run_oirl

    if args.search != "best_of_n":
        return fail("Prompt-OIRL picks a prompt per query by best-of-N (give no --search)")
    if args.oirl_logs is None:
        return fail("--method oirl needs --oirl_logs (a folder of released or collected logs)")
    try:
        settings = OIRLSettings(
            roles={},
            logs=Path(args.oirl_logs),
            questions=Path(args.questions) if args.questions else None,
            split=args.split,
            models=tuple(m.strip() for m in args.oirl_models.split(",") if m.strip()),
            embedder=args.oirl_embedder,
            embedding_dim=args.oirl_embedding_dim,
            embedding_model=args.embedding_model,
            embedding_base_url=args.embedding_base_url,
            embedding_cache=Path(args.oirl_embedding_cache) if args.oirl_embedding_cache else None,
            validation_fraction=args.validation_fraction,
            n_boot=args.oirl_n_boot,
            trace_queries=args.oirl_trace_queries,
            log_dir=log_dir,
            **common_settings(args),
        )
        settings.check()
        load_data(settings)
        log_dir = start(args, log_dir)
        summary = run_oirl(settings)
    except (Exception, KeyboardInterrupt) as exc:  # one line and an exit code; bugs re-raised
        return failure(exc)
    leak = " (LEAKY: every test question also occurs in train)" if summary.split == "paper" else ""
    print(f"Prompt-OIRL on {summary.dataset}, split {summary.split}{leak}: offline, no LLM "
          f"call; reward model {summary.primary}, chosen on a validation split")  # fmt: skip
    print(summary.table)
    print(f"results: {summary.log_dir / 'results.json'}")
    print(f"artefacts: {summary.log_dir}")
    return 0


METHOD = MethodSpec(
    name="oirl",
    title="Prompt-OIRL (offline: no LLM call; best-of-N per query)",
    summary="Prompt-OIRL, a prompt per query by best-of-N on a reward model learned from "
    "offline logs (Sun et al., 2024)",
    run=run,
    defaults={
        "search": "best_of_n",
        "depth": 1,
        "n_iters": 0,
        "w_exp": 0.0,
        "temperature": 0.0,
        "beam_size": 1,
        "k": 0,
        "test_size": 60,
    },
    options=(
        Option("oirl_logs", help="a folder of logs (released or collected)"),
        Option("questions", help="the dataset folder (GSM8K-like logs)"),
        Option("split", help="SVAMP-like: paper, dedup (default), ..."),
        Option("oirl_models", default="linear,kernel,mlp", help="reward models to fit"),
        Option(
            "oirl_embedder",
            default="hash",
            choices=EMBEDDERS,
            help="openai: --embedding_base_url, --embedding_model; minilm: extra embed and "
            "python -m drpo.models fetch minilm",
        ),
        Option("oirl_embedding_dim", default=1024, type=int, help="hashing embedder"),
        Option("oirl_embedding_cache", help="default: <log_dir>/embeddings.sqlite"),
        Option("validation_fraction", default=0.2, type=float),
        Option("oirl_n_boot", default=2000, type=int, help="bootstrap resamples"),
        Option(
            "oirl_trace_queries",
            default=20,
            type=int,
            help="test queries whose searches output.json keeps",
        ),
    ),
)
