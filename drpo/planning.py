"""A run's projected cost before any call: each role's calls and tokens for the configured
search, as an upper bound from the method's settings and the data sizes (`train.py --plan`,
`drpo.plan`). No model is called and nothing is written.

Each method contributes its own projection from its package (a module `projection` beside its
runner, with `project(settings, book) -> Projection`); this module holds what they share: the
tally of calls (`CallBook`), the plan they add up to (`Plan`) and what a budget buys.

Tokens are counted at four characters a token (the simulated LLM's tokenizer, and the usual
figure for English text; a real tokenizer may count somewhat more), completions at their
`max_tokens` limit, and every JSON request with its re-asks (up to two per sample).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

#: Re-asks of an unusable JSON answer, per sample (drpo.llm.LLM's default max_reasks).
MAX_REASKS = 2
#: Characters of a re-ask's own message (the reason the answer was unusable) at most.
REASK_CHARS = 600
#: Settings whose runner's name differs from the CLI's (GPO's and OPRO's steps, APE's and
#: ProTeGi's rounds are `--depth`).
SETTING_ALIASES = {"steps": "depth", "rounds": "depth"}
#: Characters a token, for the projection.
CHARS_PER_TOKEN = 4


def tokens(chars: int) -> int:
    """The projected tokens of `chars` characters (at least one)."""
    return max(1, math.ceil(chars / CHARS_PER_TOKEN))


@dataclass(frozen=True)
class RolePlan:
    """One role's projected calls and tokens (upper bounds)."""

    role: str
    calls: int
    prompt_tokens: int
    completion_tokens: int

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class CallBook:
    """The tally a projection fills in: calls per role, with their tokens."""

    def __init__(self) -> None:
        self._roles: dict[str, list[int]] = {}

    def add(
        self,
        role: str,
        count: int,
        *,
        prompt_chars: int,
        max_tokens: int,
        samples: int = 1,
        json: bool = False,
    ) -> None:
        """`count` requests of at most `prompt_chars` characters, each answered with up to
        `samples` completions of at most `max_tokens` tokens; a JSON request may be re-asked
        (each re-ask repeats the conversation, with the answer and the reason)."""
        if count <= 0:
            return
        calls = 1 + (MAX_REASKS * samples if json else 0)
        longest = prompt_chars + (
            MAX_REASKS * (max_tokens * CHARS_PER_TOKEN + REASK_CHARS) if json else 0
        )
        messages = 1 + (2 * MAX_REASKS if json else 0)
        prompt = calls * (tokens(longest) + messages)
        completion = (samples + (MAX_REASKS * samples if json else 0)) * max_tokens
        row = self._roles.setdefault(role, [0, 0, 0])
        row[0] += count * calls
        row[1] += count * prompt
        row[2] += count * completion

    def roles(self) -> tuple[RolePlan, ...]:
        return tuple(RolePlan(role, *row) for role, row in self._roles.items())


@dataclass(frozen=True)
class Projection:
    """What a method projects: its search's shape and the calls it books."""

    search: str  # the search, in words
    expansions: int  # states whose actions are asked for, at most
    evaluated_prompts: int  # prompts stepped and scored, at most
    roles: tuple[RolePlan, ...]
    #: The calls and tokens of one expansion with its children's scoring (what a budget
    #: must cover for one more step of the search), at most.
    per_expansion_calls: int = 0
    per_expansion_tokens: int = 0
    fixed_calls: int = 0  # calls before the first expansion (scoring the initial prompt)
    fixed_tokens: int = 0
    after_search: str = ""  # what the roles' figures include beyond the search
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """A run's projection (`plan`): each role's calls and tokens, at most, for the configured
    search; what a given search budget buys; and warnings."""

    method: str
    search: str
    roles: tuple[RolePlan, ...]
    expansions: int
    evaluated_prompts: int
    budget_calls: int | None = None
    budget_tokens: int | None = None
    budget_expansions: int | None = None  # expansions the budget surely buys (None: no budget)
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def calls(self) -> int:
        return sum(r.calls for r in self.roles)

    @property
    def tokens(self) -> int:
        return sum(r.tokens for r in self.roles)

    def role(self, name: str) -> RolePlan:
        """The projection of role `name` (zero calls if the method does not use it)."""
        return next((r for r in self.roles if r.role == name), RolePlan(name, 0, 0, 0))

    def lines(self) -> list[str]:
        """The text `train.py --plan` prints."""
        head = (f"plan for --method {self.method}: {self.search} (no model called; upper "
                "bounds, tokens at 4 characters a token)")  # fmt: skip
        out = [head, f"{'role':<10}{'calls':>10}{'prompt tok':>14}{'output tok':>14}"]
        for r in self.roles:
            out.append(f"{r.role:<10}{r.calls:>10}{r.prompt_tokens:>14}{r.completion_tokens:>14}")
        total_p = sum(r.prompt_tokens for r in self.roles)
        total_c = sum(r.completion_tokens for r in self.roles)
        out.append(f"{'total':<10}{self.calls:>10}{total_p:>14}{total_c:>14}")
        out.append(f"search: at most {self.expansions} expansions, "
                   f"{self.evaluated_prompts} evaluated prompts")  # fmt: skip
        if self.budget_expansions is not None:
            limits = ", ".join(f"{v} {k}" for k, v in
                               (("calls", self.budget_calls), ("tokens", self.budget_tokens))
                               if v is not None)  # fmt: skip
            out.append(f"budget ({limits}) buys at least {self.budget_expansions} expansions")
        out.extend(self.notes)
        out.extend(f"warning: {w}" for w in self.warnings)
        return out


def settings_namespace(method: str, settings: Any = None, **options: Any) -> Any:
    """The settings a run of `method` gets: the method's settings object as given, or one
    made from its defaults and `settings` (an object with attributes by the CLI's names, such
    as an argparse.Namespace, or a mapping); then `options`."""
    import dataclasses

    from drpo.methods.registry import method_spec, settings_for

    spec = method_spec(method)
    fields = {f.name for f in dataclasses.fields(spec.settings) if f.init}
    options = {SETTING_ALIASES.get(k, k) if k not in fields else k: v for k, v in options.items()}
    unknown = sorted(k for k in options if k not in fields)
    if unknown:
        raise ValueError(f"unknown setting(s) for {method}: {', '.join(unknown)}")
    if isinstance(settings, spec.settings):
        return dataclasses.replace(settings, **options) if options else settings
    given = settings if isinstance(settings, Mapping) else vars(settings) if settings else {}
    values = {k: v for k, v in {**given, **options}.items() if k in fields and v is not None}
    return settings_for(method, **values)


def _projector(method: str) -> Any:
    from drpo.methods.registry import method_spec

    spec = method_spec(method)
    package = getattr(spec.run, "__module__", f"drpo.methods.{method}.method").rsplit(".", 1)[0]
    try:
        return import_module(f"{package}.projection").project
    except ModuleNotFoundError:
        return None


def plan(method: str, settings: Any = None, /, **options: Any) -> Plan:
    """Project a run of `method` with `settings` (what its runner gets: a settings object, an
    argparse.Namespace or a mapping, by the CLI's option names) and `options` (single settings
    by the same names); no model is called. ValueError for an unknown method or bad data."""
    args = settings_namespace(method, settings, **options)
    project = _projector(method)
    if project is None:
        return Plan(method, "unknown", (), 0, 0,
                    warnings=(f"{method} declares no projection",))  # fmt: skip
    made: Projection = project(args)
    warnings: list[str] = []
    bought = None
    budget_calls, budget_tokens = args.budget_calls, args.budget_tokens
    if budget_calls is not None or budget_tokens is not None:
        bought = made.expansions
        for limit, fixed, each in ((budget_calls, made.fixed_calls, made.per_expansion_calls),
                                   (budget_tokens, made.fixed_tokens,
                                    made.per_expansion_tokens)):  # fmt: skip
            if limit is not None and each > 0:
                # the search stops at the first frontier that reaches the budget: an
                # expansion started below it is finished
                bought = min(bought, max(0, math.ceil((limit - fixed) / each)))
        if bought < 2:
            warnings.append(
                f"the budget buys fewer than two expansions for sure ({bought}): one "
                f"expansion with its scoring may take {made.per_expansion_calls} calls, "
                f"{made.per_expansion_tokens} tokens (after {made.fixed_calls} calls, "
                f"{made.fixed_tokens} tokens for the initial prompt)"
            )
    notes = (*made.notes, *([made.after_search] if made.after_search else []))
    return Plan(
        method=method,
        search=made.search,
        roles=made.roles,
        expansions=made.expansions,
        evaluated_prompts=made.evaluated_prompts,
        budget_calls=budget_calls,
        budget_tokens=budget_tokens,
        budget_expansions=bought,
        warnings=tuple(warnings),
        notes=notes,
    )


def book_total(book: CallBook) -> tuple[int, int]:
    """All the calls and tokens in `book`."""
    roles = book.roles()
    return sum(r.calls for r in roles), sum(r.tokens for r in roles)


def data_sizes(args: Any) -> tuple[Any, int, int]:
    """A task-prompt run's task (split as the run splits it), its longest question and its
    longest gold answer, in characters."""
    from drpo.methods.tasks import DEMO_TASK, load_task

    task = load_task(args.task or str(DEMO_TASK), data_dir=args.data_dir,
                     train_size=args.train_size, eval_size=args.eval_size,
                     test_size=args.test_size, seed=args.seed)  # fmt: skip
    examples = [*task.train, *task.eval, *task.test]
    longest_q = max((len(e.question) for e in examples), default=0)
    longest_gold = max((len(str(e.gold)) for e in examples), default=0)
    return task, longest_q, longest_gold
