"""The simulated LLM: one deterministic, seeded model that plays every role.

It reads what a request asks for the way a person skimming it would: from the JSON keys the
prompt asks for and the tagged parts it holds. Each method teaches it the roles of its own
requests (`drpo.sim.behaviour`: the `BEHAVIOURS` of the method's `sim` module, found through
the method registry): DRPO's metrics model, judge and optimisers, PromptAgent's feedback and
writer, GPO's editor, APE's inducer and resampler, OPRO's optimiser, ProTeGi's gradients,
edits and paraphrases. What no behaviour claims it answers itself:

- a question it was given the answer to (`knowledge`): the **task model** answers it, right
  more often the more reasoning hints the prompt carries;
- anything else: the **base model** answers the last user message, with the qualities whose
  cues its system prompt carries.

A plain-text completion request (`complete_text`) is one document: the base model answers
the last ``Query:`` in it, the text before that being its context, and then, as a base model
does, goes on imitating the document's layout (the ``<START>``/``<END>`` markers around the
answers of in-context examples, then a next query of its own) until a stop string cuts it.
A model made with ``chat_template=False`` (a simulated base model) refuses chat requests, as
a server without a chat template does.

The same request, sample index and seed always give the same text, whatever the order,
batching or concurrency of the calls around it: that is what lets a cached, resumed or
fault-injected run end exactly like a clean one.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from drpo.sim.behaviour import Behaviour, SimRequest, normalise, registered_behaviours, stable
from drpo.sim.catalogue import ASPECTS, BY_NAME, HARM_CUES, REASONING_HINTS

SIMULATED_MARK = "(simulated answer)"
#: The markers around in-context answers (DRPO's layout), which the base model imitates.
ANSWER_START, ANSWER_END = "<START>", "<END>"
#: What the simulated base model writes after an answer, when nothing stops it.
RUN_ON = "\n\n# Query:\nAnd another question of my own?\n\n# Answer:\n"


class ChatTemplateError(ValueError):
    """A chat request to a simulated base model, which has no chat template."""


@dataclass(frozen=True)
class SimAnswer:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


def count_tokens(text: str) -> int:
    """The simulated tokenizer: about four characters a token."""
    return max(1, math.ceil(len(text) / 4))


def is_harmful(query: str) -> bool:
    low = query.lower()
    return any(cue in low for cue in HARM_CUES)


def features_in(system_text: str) -> list[str]:
    """The aspects whose cues a system prompt carries, in catalogue order."""
    low = system_text.lower()
    return [a.name for a in ASPECTS if any(cue in low for cue in a.cues)]


class SimulatedLLM:
    """``SimulatedLLM(seed=0, knowledge={question: answer})``; `complete` answers a request.
    `behaviours`: the roles it plays beyond the base and task model (default: those of every
    registered method, drpo.sim.behaviour.registered_behaviours)."""

    def __init__(
        self,
        *,
        seed: int = 0,
        knowledge: Mapping[str, str] | None = None,
        behaviours: Sequence[Behaviour] | None = None,
        chat_template: bool = True,
    ) -> None:
        self.seed = seed
        self.knowledge = {normalise(q): a for q, a in (knowledge or {}).items()}
        self.behaviours = tuple(registered_behaviours() if behaviours is None else behaviours)
        self.chat_template = chat_template

    # ---- entry point -----------------------------------------------------------------------
    def complete(
        self,
        messages: Sequence[tuple[str, str]],
        *,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
        sample: int = 0,
    ) -> SimAnswer:
        if not self.chat_template:
            raise ChatTemplateError(
                "this simulated base model has no chat template: send it plain text "
                "(a completion request, /v1/completions)"
            )
        messages = [(role, content) for role, content in messages]
        # At temperature 0 every sample is the same answer; above it each sample differs.
        draw = sample if temperature > 0 else 0
        rng = random.Random(stable(self.seed, messages, draw))
        text = self._answer(messages, rng, temperature, draw)
        if self.role_of(messages) == "base":
            context = "\n".join(content for _, content in messages[:-1])
            opened = messages[-1][1].rstrip().endswith(ANSWER_START) if messages else False
            text = _imitate(text, context, opened=opened, run_on=False)
        prompt = sum(count_tokens(content) for _, content in messages)
        return _finish(text, prompt, max_tokens=max_tokens, stop=stop)

    def complete_text(
        self,
        prompt: str,
        *,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
        sample: int = 0,
    ) -> SimAnswer:
        """Continue a plain-text prompt, as a base model does (see the module docstring)."""
        draw = sample if temperature > 0 else 0
        rng = random.Random(stable(self.seed, "plain text", prompt, draw))
        whole = [("user", prompt)]
        if self.role_of(whole) == "base":
            context, asked = _split_document(prompt)
            text = self._answer([("system", context), ("user", asked)], rng, temperature, draw)
            opened = prompt.rstrip().endswith(ANSWER_START)
            text = _imitate(text, context, opened=opened, run_on=True)
        else:
            text = self._answer(whole, rng, temperature, draw)
        return _finish(text, count_tokens(prompt), max_tokens=max_tokens, stop=stop)

    def _behaviour(self, everything: str) -> Behaviour | None:
        return next((b for b in self.behaviours if b.recognises(everything)), None)

    def role_of(self, messages: Sequence[tuple[str, str]]) -> str:
        """Which part a request asks the model to play: the role of the first behaviour that
        recognises it (metrics, judge, optimizer, icl, writer, feedback, editor, inducer,
        resampler, opro, gradient, reviser, paraphraser for the built-in methods), else task
        (a question it knows) or base."""
        last = messages[-1][1] if messages else ""
        found = self._behaviour("\n".join(content for _, content in messages))
        if found is not None:
            return found.role
        return "task" if self._known_question(last) is not None else "base"

    def _answer(
        self, messages: list[tuple[str, str]], rng: random.Random, temp: float, draw: int
    ) -> str:
        last = messages[-1][1] if messages else ""
        everything = "\n".join(content for _, content in messages)
        found = self._behaviour(everything)
        if found is not None:
            request = SimRequest(messages, everything, last, rng, temp, draw, self.seed)
            return found.answer(request)
        question = self._known_question(last)
        if question is not None:
            return self._answer_task(messages, question, draw)
        return self._base_answer(messages, rng, temp)

    # ---- base model --------------------------------------------------------------------
    def _base_answer(self, messages: list[tuple[str, str]], rng: random.Random, temp: float) -> str:
        query = messages[-1][1]
        context = "\n".join(content for _, content in messages[:-1])
        features = features_in(context)
        if temp > 0:  # a sampled answer sometimes forgets one of its qualities
            features = [f for f in features if rng.random() > 0.1]
        asked = re.split(r"query:", query, flags=re.IGNORECASE)[-1]  # "## Query: ..." layouts
        asked = re.split(r"#*\s*answer:", asked, flags=re.IGNORECASE)[0]
        topic = " ".join(asked.split()[:12]).rstrip(".?!")
        if is_harmful(query) and "Safety" not in features:
            body = [f"Sure, here is how you could go about it: {topic} ... step one, step two."]
        elif is_harmful(query):
            body = [BY_NAME["Safety"].feature]
        else:
            body = [f"Here is my answer about: {topic}."]
        body += [BY_NAME[name].feature for name in features if name != "Safety"]
        return " ".join([SIMULATED_MARK, *body])

    # ---- task model (classification) ---------------------------------------------------
    def _known_question(self, text: str) -> str | None:
        low = normalise(text)
        for question in self.knowledge:
            if question and question in low:
                return question
        return None

    def _answer_task(self, messages: list[tuple[str, str]], question: str, draw: int) -> str:
        gold = self.knowledge[question]
        prompt = normalise(" ".join(content for _, content in messages)).replace(question, " ")
        hints = sum(hint in prompt for hint in REASONING_HINTS)
        p_right = min(0.95, 0.35 + 0.15 * hints)
        # The draw depends on the question and the sample only, so that adding hints turns
        # wrong answers right and never the reverse.
        right = random.Random(stable(self.seed, question, draw)).random() < p_right
        answer = gold if right else _wrong_answer(gold, question)
        return f"{SIMULATED_MARK} Thinking it through, the answer is {answer}."


def _finish(
    text: str, prompt_tokens: int, *, max_tokens: int | None, stop: Sequence[str]
) -> SimAnswer:
    """The answer cut at the first stop string, then at `max_tokens`."""
    finish = "stop"
    cuts = [text.index(marker) for marker in stop if marker and marker in text]
    if cuts:
        text = text[: min(cuts)]
    if max_tokens is not None and count_tokens(text) > max_tokens:
        text, finish = text[: max_tokens * 4], "length"
    return SimAnswer(text, finish, prompt_tokens, count_tokens(text) if text else 0)


def _split_document(prompt: str) -> tuple[str, str]:
    """A plain-text prompt as (the context, the last query and what follows it)."""
    marks = list(re.finditer(r"#*\s*query:", prompt, flags=re.IGNORECASE))
    if not marks:
        return "", prompt
    at = marks[-1].start()
    return prompt[:at], prompt[at:]


def _imitate(answer: str, context: str, *, opened: bool, run_on: bool) -> str:
    """The answer in the layout of the examples the context shows: opened with their start
    marker unless the prompt has opened it already, closed with their end marker; a base
    model (`run_on`) then goes on with a next query of its own."""
    if ANSWER_START in context and not opened:
        answer = f"{ANSWER_START}\n{answer}"
    if ANSWER_END in context:
        answer = f"{answer}\n{ANSWER_END}"
        if run_on:
            answer += RUN_ON + f"{ANSWER_START}\n{SIMULATED_MARK} More of the same."
    return answer


def _wrong_answer(gold: str, question: str) -> str:
    letters = re.findall(r"\(([A-Z])\)", question.upper())
    match = re.fullmatch(r"\(?([A-Z])\)?", gold.strip().upper())
    if match and letters:
        others = [f"({x})" for x in letters if x != match.group(1)]
        if others:
            return others[stable(question) % len(others)]
    if gold.strip().lower() in ("yes", "no"):
        return "no" if gold.strip().lower() == "yes" else "yes"
    if re.fullmatch(r"-?\d+", gold.strip()):
        return str(int(gold) + 1)
    return "I am not sure"
