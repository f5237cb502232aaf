"""Every meta-prompt, asked of a real model once: ``python -m bench.real_templates``.

It runs each method's JSON-producing requests on a few real inputs (DRPO's aspect selection,
judge, optimiser and ICL stage on demo queries; PromptAgent's error feedback and prompt
writing, and GPO's update, on BIG-bench's object_counting), with every role on the real
model through the llamacpp backend, and records every answer in
tests/data/real_answers_<model>.json. tests/test_real_templates.py replays those answers
through the same code, so the evidence that a small real model follows our templates is
checked in every test run, without the model. Re-run it whenever a template changes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drpo.llm import LLM, UsageTracker
from drpo.llm._loop import run_sync
from drpo.methods.drpo.aspect_judge import MetricsCache
from drpo.methods.drpo.aspects import ASPECTS
from drpo.methods.drpo.base_prompt import BasePrompt
from drpo.methods.drpo.data import DEMO_DATA_DIR, load_training_queries
from drpo.methods.drpo.dynamic_reward import DynamicReward, ExampleSource
from drpo.methods.drpo.icl import icl_critic, optimise_examples
from drpo.methods.drpo.prompts import fixed_examples
from drpo.methods.drpo.state import DRPOState
from drpo.methods.drpo.world import DRPOSearchConfig
from drpo.methods.gpo.world import GPOConfig, GPOWorld
from drpo.methods.promptagent.world import PromptAgentConfig, PromptAgentWorld
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.tasks import load_task

ROOT = Path(__file__).resolve().parent.parent
BIGBENCH = ROOT.parent / "shared" / "data" / "bigbench"
INITIAL = "You are a helpful assistant."
ROLES = ("base", "metrics", "eval", "optimize")


@dataclass(frozen=True)
class TemplateReport:
    """What the real model made of each template."""

    selections: list[Any]  # per query: the aspects chosen, or the error
    evaluations: list[Any]  # per step: the scores, or the error
    drpo_proposals: list[list[str]]
    icl_answers: list[str]
    promptagent_prompts: list[str]
    gpo_prompts: list[str]
    json: dict[str, dict[str, int]]  # per role: answers, first_try, unusable

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


def run_templates(llms: Mapping[str, LLM], usage: UsageTracker) -> TemplateReport:
    queries = load_training_queries(DEMO_DATA_DIR, num_examples=8, seed=0)[:4]
    reward = DynamicReward(
        base=llms["base"], metrics=llms["metrics"], judge=llms["eval"],
        examples=ExampleSource(fixed_examples(), k=2, retriever=None),
        metrics_cache=MetricsCache(None), base_prompt=BasePrompt("chat", max_tokens=200),
    )  # fmt: skip
    steps = run_sync(reward.evaluate([(INITIAL, q) for q in queries]))
    selections = [list(s.aspects) if s.aspects else s.error for s in steps]
    evaluations = [dict(s.scores) if not s.error else s.error for s in steps]
    config = DRPOSearchConfig(llms["optimize"], n_actions=2)
    states = [DRPOState((s,)) for s in steps if not s.error and not s.handled()][:2]
    proposals = config.get_actions_many(states) if states else []
    seed_answer = {queries[0]: steps[0].output}
    critic = icl_critic(metrics=llms["metrics"], judge=llms["eval"], cache=MetricsCache(None))
    icl = optimise_examples(seed_answer, critic=critic, optimizer=llms["optimize"], num_iters=1)

    task = load_task("object_counting", data_dir=BIGBENCH, eval_size=4, test_size=4, seed=0)
    scorer = TaskScorer(llms["base"], max_tokens=200)
    initial = task.description or "Answer the question."
    agent = PromptAgentConfig(task, scorer, llms["optimize"], batch_size=3, expand_width=1,
                              seed=0)  # fmt: skip
    agent_world = PromptAgentWorld(task, scorer, initial_prompt=initial)
    (written,) = agent.get_actions_many([agent_world.init_state()])
    gpo = GPOConfig(task, scorer, llms["optimize"], total_steps=3, n_candidates=2, seed=0)
    (candidates,) = gpo.get_actions_many([GPOWorld(task, scorer, initial_prompt=initial)
                                          .init_state()])  # fmt: skip
    json_use = {
        r.role: {"answers": r.json_answers, "first_try": r.json_first_try,
                 "well_formed": r.json_well_formed, "unusable": r.json_unusable}
        for r in usage.rows() if r.json_answers
    }  # fmt: skip
    return TemplateReport(
        selections=selections,
        evaluations=evaluations,
        drpo_proposals=[
            [p for p in ps if p != s.system_prompt] for ps, s in zip(proposals, states)
        ],
        icl_answers=[r.answer for r in icl],
        promptagent_prompts=[p.prompt for p in written],
        gpo_prompts=[c.prompt for c in candidates if c.prompt != initial],
        json=json_use,
    )


def check(report: TemplateReport) -> list[str]:
    """What a small real model must manage with our templates (empty when it does)."""
    problems = []
    for chosen in report.selections:
        if not isinstance(chosen, list) or not set(chosen) <= set(ASPECTS):
            problems.append(f"an aspect selection failed: {chosen}")
    problems += [f"a judgement failed: {e}" for e in report.evaluations if isinstance(e, str)]
    if not any(report.drpo_proposals):
        problems.append("DRPO's optimiser proposed no usable system prompt")
    if not report.promptagent_prompts:
        problems.append("PromptAgent's writer proposed no usable prompt")
    if not report.gpo_prompts:
        problems.append("GPO's optimiser proposed no usable prompt")
    for role, use in report.json.items():
        # what judges must give usable answers; an optimiser's well-formed proposal may
        # still be refused as no prompt (and is re-asked)
        key = "first_try" if role in ("metrics", "eval") else "well_formed"
        if use[key] < 0.9 * use["answers"]:
            problems.append(f"{role}: {use[key]} of {use['answers']} JSON answers "
                            f"{key.replace('_', ' ')} (under 90%)")  # fmt: skip
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    from drpo.llm import RoleSettings, make_llms
    from drpo.llm.replay import Recording
    from drpo.models import fetch

    parser = argparse.ArgumentParser(prog="python -m bench.real_templates", description=__doc__)
    parser.add_argument("--model", choices=("qwen0.5b", "smollm2"), default="qwen0.5b")
    parser.add_argument("--models_dir", default=None)
    parser.add_argument("--threads", type=int, default=None,
                        help="the server's CPU threads (default: every core)")  # fmt: skip
    args = parser.parse_args(argv)
    gguf = fetch(args.model, models_dir=Path(args.models_dir) if args.models_dir else None)
    usage = UsageTracker()
    llms = make_llms({r: RoleSettings(backend="llamacpp", model=str(gguf), threads=args.threads)
                      for r in ROLES}, usage=usage)  # fmt: skip
    recording = Recording(llms["base"].backend)
    for llm in llms.values():
        llm.backend = recording
    try:
        report = run_templates(llms, usage)
    finally:
        run_sync(recording.aclose())
    out = ROOT / "tests" / "data" / f"real_answers_{args.model}.json"
    recording.save(out, about={"model": recording.model, "real": True, "name": args.model,
                               "report": report.to_json()})  # fmt: skip
    print(json.dumps(report.to_json(), indent=1, ensure_ascii=False))
    problems = check(report)
    for problem in problems:
        print(f"bench.real_templates: {problem}")
    print(f"{len(recording.records)} real answers recorded in {out.relative_to(ROOT)}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
