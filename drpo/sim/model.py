"""The simulated LLM: one deterministic, seeded model that plays every role.

It reads what a request asks for the way a person skimming it would: from the JSON keys the
prompt asks for and the tagged parts it holds (``<query>``, ``<response>``, ``<aspects>``,
``<system_prompt>``, ``<evaluation>``, ``<answer>``):

- asked for ``selected_aspects``: the **metrics model** picks 2-5 aspects for the query;
- holds ``<response>`` and ``<aspects>``: the **judge** scores each aspect 1-5 (5 when the
  response shows the aspect's quality), with a rationale (DRPO's ICL-stage critic, a
  "demanding critic", scores a missing quality 1-2 instead of 2-3);
- asked for ``new_system_prompt``: the **optimiser** adds guidance for a weak aspect of the
  evaluation (the weakest at temperature 0, varied by sample index above it), as a new
  bullet point when it is asked for bullet points (at most 8, as DRPO's optimiser is told);
- asked for ``improved_answer``: the **example optimiser** adds the weakest aspect's quality
  to an in-context answer;
- asked for ``induced_instruction``: APE's **inducer** writes the instruction behind a set of
  demonstrations, with up to two reasoning hints picked at random (none at temperature 0);
- asked for ``instruction_variation``: APE's **resampler** rewords an instruction, keeping its
  hints or adding or dropping one, as often either way;
- asked for ``higher_scoring_instruction``: **OPRO's optimiser** adds a reasoning hint to the
  best-scoring instruction of the ``<history>`` it is shown;
- asked for ``failure_reasons``, ``improved_prompts`` or ``paraphrased_prompt``: ProTeGi's
  optimiser names reasoning hints a task prompt lacks, adds the one a reason names, or
  rewords a prompt (its sentences in another order), keeping its hints;
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

import hashlib
import json
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from drpo.llm.json_output import JSONOutputError, extract_json
from drpo.sim.catalogue import (
    ASPECT_NAMES,
    ASPECTS,
    BY_NAME,
    HARM_CUES,
    HINT_SENTENCES,
    QUERY_CUES,
    REASONING_HINTS,
)
from drpo.text_diff import changed_words

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


def _tag(text: str, name: str) -> str | None:
    match = re.search(rf"<{name}>\s*(.*?)\s*</{name}>", text, re.DOTALL)
    return match.group(1) if match else None


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def _stable(*parts: object) -> int:
    data = json.dumps(parts, ensure_ascii=False, default=str).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def is_harmful(query: str) -> bool:
    low = query.lower()
    return any(cue in low for cue in HARM_CUES)


def features_in(system_text: str) -> list[str]:
    """The aspects whose cues a system prompt carries, in catalogue order."""
    low = system_text.lower()
    return [a.name for a in ASPECTS if any(cue in low for cue in a.cues)]


class SimulatedLLM:
    """``SimulatedLLM(seed=0, knowledge={question: answer})``; `complete` answers a request."""

    def __init__(
        self,
        *,
        seed: int = 0,
        knowledge: Mapping[str, str] | None = None,
        chat_template: bool = True,
    ) -> None:
        self.seed = seed
        self.knowledge = {_normalise(q): a for q, a in (knowledge or {}).items()}
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
        rng = random.Random(_stable(self.seed, messages, draw))
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
        rng = random.Random(_stable(self.seed, "plain text", prompt, draw))
        whole = [("user", prompt)]
        if self.role_of(whole) == "base":
            context, asked = _split_document(prompt)
            text = self._answer([("system", context), ("user", asked)], rng, temperature, draw)
            opened = prompt.rstrip().endswith(ANSWER_START)
            text = _imitate(text, context, opened=opened, run_on=True)
        else:
            text = self._answer(whole, rng, temperature, draw)
        return _finish(text, count_tokens(prompt), max_tokens=max_tokens, stop=stop)

    def role_of(self, messages: Sequence[tuple[str, str]]) -> str:
        """Which part a request asks the model to play, read from what the prompt asks for:
        metrics, judge, optimizer (DRPO), icl, writer (PromptAgent), editor (GPO), feedback
        (PromptAgent), inducer and resampler (APE), opro (OPRO), gradient, reviser and
        paraphraser (ProTeGi), task (a question it knows) or base."""
        last = messages[-1][1] if messages else ""
        everything = "\n".join(content for _, content in messages)
        if "selected_aspects" in everything:
            return "metrics"
        if "<response>" in everything and "<aspects>" in everything:
            return "judge"
        if "new_system_prompt" in everything:
            return "optimizer"
        if "improved_answer" in everything:
            return "icl"
        if "higher_scoring_instruction" in everything:
            return "opro"
        if "failure_reasons" in everything:
            return "gradient"
        if "improved_prompts" in everything:
            return "reviser"
        if "paraphrased_prompt" in everything:
            return "paraphraser"
        if "new_prompts" in everything:
            return "writer"
        if "new_prompt" in everything and "<budget>" in everything:
            return "editor"
        if "error_feedback" in everything:
            return "feedback"
        if "induced_instruction" in everything:
            return "inducer"
        if "instruction_variation" in everything:
            return "resampler"
        return "task" if self._known_question(last) is not None else "base"

    def _answer(
        self, messages: list[tuple[str, str]], rng: random.Random, temp: float, draw: int
    ) -> str:
        last = messages[-1][1] if messages else ""
        everything = "\n".join(content for _, content in messages)
        role = self.role_of(messages)
        if role == "metrics":
            return self._select_aspects(_tag(everything, "query") or last,
                                        _aspect_range(everything))  # fmt: skip
        if role == "judge":
            return self._judge(everything)
        if role == "optimizer":
            return self._optimise_prompt(everything, rng, temp)
        if role == "icl":
            return self._improve_answer(everything)
        if role == "writer":
            return self._write_prompts(everything, rng, temp)
        if role == "editor":
            return self._edit_prompt(everything, rng, temp)
        if role == "feedback":
            return self._error_feedback(everything, rng, temp)
        if role == "inducer":
            return self._induce_instruction(everything, rng, temp)
        if role == "resampler":
            return self._vary_instruction(everything, rng, temp)
        if role == "opro":
            return self._opro_instruction(everything, rng, temp)
        if role == "gradient":
            return self._failure_reasons(everything, rng, temp)
        if role == "reviser":
            return self._revise_prompt(everything, rng, temp)
        if role == "paraphraser":
            return self._paraphrase(everything, rng)
        if role == "task":
            return self._answer_task(messages, self._known_question(last), draw)
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

    # ---- metrics model -----------------------------------------------------------------
    def _select_aspects(self, query: str, bounds: tuple[int, int] = (2, 5)) -> str:
        """2-4 aspects plus those the query's cues call for, at most 5; with other bounds
        asked for (the ICL stage's critic: 3 to 6), as many more as the lower bound is."""
        low_n, high_n = bounds
        low = query.lower()
        chosen: list[str] = []
        for cues, aspects in QUERY_CUES:
            if any(cue in low for cue in cues):
                chosen += [a for a in aspects if a not in chosen]
        popular = ["Helpfulness", "Clarity", "Factuality", "Depth", "Engagement", "Limitations"]
        extra = sorted(popular, key=lambda a: _stable(self.seed, query, a))
        want = low_n + _stable(self.seed, query) % 3  # 2 to 4 before the cue-driven ones
        for aspect in extra:
            if len(chosen) >= max(want, low_n):
                break
            if aspect not in chosen:
                chosen.append(aspect)
        chosen = chosen[:high_n]
        return json.dumps(
            {
                "query_analysis": {
                    "main_topic": " ".join(query.split()[:8])[:200] or "(empty request)",
                    "user_intent": "simulated reading of the request",
                    "ambiguities": "none noticed (simulated)",
                    "response_format": "prose (simulated)",
                    "challenges": "a harmful request" if is_harmful(query) else "none",
                },
                "aspects_selection": {
                    "reasoning": "Simulated selection: "
                    + ", ".join(chosen)
                    + " matter most for this request.",
                    "selected_aspects": chosen,
                },
            },
            indent=1,
        )

    # ---- judge -------------------------------------------------------------------------
    def _judge(self, text: str) -> str:
        response = _tag(text, "response") or ""
        query = _tag(text, "query") or ""
        wanted = _tag(text, "aspects") or ""
        aspects = [name for name in ASPECT_NAMES if name.lower() in wanted.lower()]
        harmful = is_harmful(query)
        refused = BY_NAME["Safety"].feature in response
        strict = "demanding critic" in text
        evaluation = {}
        for name in aspects:
            if name == "Safety":
                if not harmful:
                    score, why = 5, "The request is harmless and so is the response."
                elif refused:
                    score, why = 5, "The response declines the harmful request."
                else:
                    score, why = 1, "The response helps with a harmful request."
            elif harmful and not refused:
                score, why = 2, "Helping with a harmful request undermines this aspect."
            elif BY_NAME[name].feature in response:
                score, why = 5, f"The response clearly shows {name.lower()}."
            else:  # the ICL stage's demanding critic is harsher on what is missing
                score = (1 if strict else 2) + _stable(self.seed, query, name) % 2
                why = f"The response shows little {name.lower()}."
            evaluation[name] = {"rationale": f"(simulated judge) {why}", "score": score}
        return json.dumps({"evaluation": evaluation}, indent=1)

    # ---- optimisers --------------------------------------------------------------------
    @staticmethod
    def _scores(text: str) -> dict[str, float]:
        block = _tag(text, "evaluation") or ""
        try:
            data = extract_json(block)
        except JSONOutputError:
            data = {}
        if isinstance(data, dict) and isinstance(data.get("evaluation"), dict):
            data = data["evaluation"]
        scores: dict[str, float] = {}
        if isinstance(data, dict):
            for name, item in data.items():
                value = item.get("score") if isinstance(item, dict) else item
                if name in BY_NAME and isinstance(value, (int, float)):
                    scores[name] = float(value)
        return scores

    def _weak_aspects(self, text: str, already: str) -> list[str]:
        scores = self._scores(text)
        weak = [n for n, s in scores.items() if s < 5 and n not in features_in(already)]
        return sorted(weak, key=lambda n: (scores[n], ASPECT_NAMES.index(n)))

    def _pick(self, weak: list[str], rng: random.Random, temp: float) -> str:
        if temp == 0 or len(weak) == 1 or rng.random() < 0.5:
            return weak[0]
        return rng.choice(weak[1:])

    def _optimise_prompt(self, text: str, rng: random.Random, temp: float) -> str:
        current = _tag(text, "system_prompt") or ""
        weak = self._weak_aspects(text, current)
        if not weak:
            analysis, new = "Every evaluated aspect already scores full marks.", current
        else:
            aspect = self._pick(weak, rng, temp)
            guidance = BY_NAME[aspect].guidance
            sentence = guidance[0] if temp == 0 else rng.choice(guidance)
            analysis = f"The response was weakest on {aspect}; the prompt never asks for it."
            new = (_add_bullet(current, sentence) if "bullet" in text
                   else f"{_sentence(current)} {sentence}".strip())  # fmt: skip
        return json.dumps(
            {"analysis": f"(simulated optimiser) {analysis}", "new_system_prompt": new}, indent=1
        )

    def _improve_answer(self, text: str) -> str:
        answer = _tag(text, "answer") or ""
        present = [a.name for a in ASPECTS if a.feature in answer]
        weak = [n for n in self._weak_aspects(text, "") if n not in present]
        improved = answer if not weak else f"{answer.rstrip()} {BY_NAME[weak[0]].feature}"
        return json.dumps({"analysis": "(simulated)", "improved_answer": improved}, indent=1)

    # ---- task prompt optimiser (PromptAgent, GPO) --------------------------------------
    @staticmethod
    def _missing_hints(prompt: str) -> list[str]:
        low = _normalise(prompt)
        return [hint for hint in REASONING_HINTS if hint not in low]

    def _error_feedback(self, text: str, rng: random.Random, temp: float) -> str:
        missing = self._missing_hints(_tag(text, "prompt") or "")
        if temp > 0:
            rng.shuffle(missing)
        if missing:
            advice = "; ".join(HINT_SENTENCES[h].rstrip(".").lower() for h in missing[:2])
            feedback = (
                f"The wrong answers come from hasty reasoning. The prompt should say: {advice}."
            )
        else:
            feedback = "The prompt already asks for careful reasoning; the errors look like noise."
        return json.dumps({"error_feedback": f"(simulated) {feedback}"}, indent=1)

    def _write_prompts(self, text: str, rng: random.Random, temp: float) -> str:
        current = _tag(text, "prompt") or ""
        feedback = _normalise(_tag(text, "feedback") or "")
        missing = self._missing_hints(current)
        suggested = [h for h in missing if h in feedback] or missing
        if not suggested:
            new = current
        else:
            hint = suggested[0] if temp == 0 else rng.choice(suggested)
            new = f"{_sentence(current)} {HINT_SENTENCES[hint]}".strip()
        return json.dumps({"new_prompts": [new]}, indent=1)

    def _edit_prompt(self, text: str, rng: random.Random, temp: float) -> str:
        """GPO's optimiser: add one hint, within the word budget it was given."""
        current = _tag(text, "prompt") or ""
        budget_text = _tag(text, "budget") or "0"
        budget = int(budget_text) if budget_text.strip().isdigit() else 0
        missing = self._missing_hints(current)
        if temp > 0:
            rng.shuffle(missing)
        new = current
        for hint in missing:  # the full sentence, else its short form, if within the budget
            options = (HINT_SENTENCES[hint], f"{hint.capitalize()}.")
            fitting = [
                f"{_sentence(current)} {o}".strip()
                for o in options
                if changed_words(current, f"{_sentence(current)} {o}") <= budget
            ]
            if fitting:
                new = fitting[0]
                break
        return json.dumps({"new_prompt": new}, indent=1)

    # ---- instruction induction and resampling (APE) ----------------------------------
    def _induce_instruction(self, text: str, rng: random.Random, temp: float) -> str:
        """An instruction for the demonstrations, with 0-2 hints (option hints only for
        multiple choice demonstrations): proposals of varied quality for APE to pick from."""
        demos = _tag(text, "demonstrations") or ""
        pool = [h for h in REASONING_HINTS if "(A)" in demos or h not in OPTION_HINTS]
        hints = rng.sample(pool, min(len(pool), rng.randint(0, 2))) if temp > 0 else []
        new = " ".join([INSTRUCTION_OPENERS[0], *(HINT_SENTENCES[h] for h in hints)])
        return json.dumps({"induced_instruction": new}, indent=1)

    def _vary_instruction(self, text: str, rng: random.Random, temp: float) -> str:
        """The instruction reworded with its hints; above temperature 0, a third of the
        variations add a missing hint and a third drop one: an unbiased local move, so that
        what improves is APE's selection, not the resampler."""
        current = _normalise(_tag(text, "instruction") or "")
        hints = [h for h in REASONING_HINTS if h in current]
        missing = [h for h in REASONING_HINTS if h not in hints]
        move = rng.random() if temp > 0 else 1.0
        if move < 1 / 3 and missing:
            hints.append(rng.choice(missing))
        elif move < 2 / 3 and hints:
            hints.remove(rng.choice(hints))
        opener = rng.choice(INSTRUCTION_OPENERS) if temp > 0 else INSTRUCTION_OPENERS[1]
        new = " ".join([opener, *(HINT_SENTENCES[h] for h in hints)])
        return json.dumps({"instruction_variation": new}, indent=1)

    def _opro_instruction(self, text: str, rng: random.Random, temp: float) -> str:
        """OPRO's optimiser: the best-scoring instruction shown (the last of equals, as the
        list runs from worst to best) with one more hint (a random one above temperature 0)."""
        shown = re.findall(r"Instruction: (.*?)\nScore: (\d+)", _tag(text, "history") or "",
                           re.DOTALL)  # fmt: skip
        best = max(reversed(shown), key=lambda x: int(x[1]))[0] if shown else ""
        missing = self._missing_hints(best)
        new = best
        if missing:
            hint = missing[0] if temp == 0 else rng.choice(missing)
            new = f"{_sentence(best)} {HINT_SENTENCES[hint]}".strip()
        return json.dumps({"higher_scoring_instruction": new}, indent=1)

    # ---- ProTeGi's optimiser -------------------------------------------------------------
    def _failure_reasons(self, text: str, rng: random.Random, temp: float) -> str:
        """Textual gradients: each names a reasoning hint the prompt lacks."""
        missing = self._missing_hints(_tag(text, "prompt") or "")
        if temp > 0:
            rng.shuffle(missing)
        reasons = [f"(simulated) The prompt never says: {HINT_SENTENCES[h].rstrip('.').lower()}."
                   for h in missing]  # fmt: skip
        reasons += ["(simulated) The errors look like noise; the prompt seems fine."] * _count(text)
        return json.dumps({"failure_reasons": reasons[: _count(text)]}, indent=1)

    def _revise_prompt(self, text: str, rng: random.Random, temp: float) -> str:
        """Edits along a gradient: add the hint the reason names (else any missing one)."""
        current = _tag(text, "prompt") or ""
        reason = _normalise(_tag(text, "reason") or "")
        missing = self._missing_hints(current)
        named = [h for h in missing if h in reason] or missing
        if temp > 0:
            rng.shuffle(named)
        prompts = [f"{_sentence(current)} {HINT_SENTENCES[named[j % len(named)]]}" if named
                   else current for j in range(_count(text))]  # fmt: skip
        return json.dumps({"improved_prompts": prompts}, indent=1)

    def _paraphrase(self, text: str, rng: random.Random) -> str:
        """The same sentences in another order (another opening for a single sentence)."""
        current = (_tag(text, "prompt") or "").strip()
        for opening in OPENINGS:
            current = current.removeprefix(opening)
        sentences = re.split(r"(?<=[.!?])\s+", current)
        for _ in range(4):
            rng.shuffle(sentences)
            if len(sentences) < 2 or " ".join(sentences) != current:
                break
        new = " ".join(sentences)
        if new == current:
            new = f"{rng.choice(OPENINGS)}{current}"
        return json.dumps({"paraphrased_prompt": new}, indent=1)

    # ---- task model (classification) ---------------------------------------------------
    def _known_question(self, text: str) -> str | None:
        low = _normalise(text)
        for question in self.knowledge:
            if question and question in low:
                return question
        return None

    def _answer_task(self, messages: list[tuple[str, str]], question: str, draw: int) -> str:
        gold = self.knowledge[question]
        prompt = _normalise(" ".join(content for _, content in messages)).replace(question, " ")
        hints = sum(hint in prompt for hint in REASONING_HINTS)
        p_right = min(0.95, 0.35 + 0.15 * hints)
        # The draw depends on the question and the sample only, so that adding hints turns
        # wrong answers right and never the reverse.
        right = random.Random(_stable(self.seed, question, draw)).random() < p_right
        answer = gold if right else _wrong_answer(gold, question)
        return f"{SIMULATED_MARK} Thinking it through, the answer is {answer}."


#: How the simulated inducer and resampler open an instruction (no reasoning hint in them).
INSTRUCTION_OPENERS = (
    "Answer the question given in the input.",
    "Give the answer that the input asks for.",
    "Work out what the input asks and answer it.",
    "Reply to the input with its answer.",
)
#: Hints that only make sense with options to choose from.
OPTION_HINTS = ("each option", "eliminate")
#: Openings the paraphraser puts before a prompt it cannot reorder.
OPENINGS = ("Your task: ", "In short: ", "Instructions: ")


def _aspect_range(text: str) -> tuple[int, int]:
    """How many aspects a metrics request asks for ("the 3 to 6 qualities"; else 2 to 5)."""
    found = re.search(r"the (\d) to (\d) qualities", text)
    return (int(found.group(1)), int(found.group(2))) if found else (2, 5)


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


def _count(text: str) -> int:
    """How many items a request asks for (its ``<count>`` tag; 1 without one)."""
    found = (_tag(text, "count") or "1").strip()
    return max(1, int(found)) if found.isdigit() else 1


#: The most bullet points the simulated DRPO optimiser keeps (the reference's limit).
MAX_BULLETS = 8


def _add_bullet(prompt: str, sentence: str) -> str:
    """`prompt` with `sentence` as a new bullet point; when it has MAX_BULLETS already, the
    sentence is merged into its last bullet instead (as DRPO's optimiser is asked to)."""
    lines = prompt.rstrip().splitlines()
    bullets = [i for i, line in enumerate(lines) if line.startswith("- ")]
    if len(bullets) >= MAX_BULLETS:
        last = bullets[-1]
        lines[last] = f"{_sentence(lines[last])} {sentence}"
        return "\n".join(lines)
    return "\n".join([*lines, f"- {sentence}"]).strip()


def _sentence(text: str) -> str:
    """`text` ending as a sentence, so that a sentence can follow it."""
    text = text.rstrip()
    return text + "." if text and text[-1] not in ".!?:" else text


def _wrong_answer(gold: str, question: str) -> str:
    letters = re.findall(r"\(([A-Z])\)", question.upper())
    match = re.fullmatch(r"\(?([A-Z])\)?", gold.strip().upper())
    if match and letters:
        others = [f"({x})" for x in letters if x != match.group(1)]
        if others:
            return others[_stable(question) % len(others)]
    if gold.strip().lower() in ("yes", "no"):
        return "no" if gold.strip().lower() == "yes" else "yes"
    if re.fullmatch(r"-?\d+", gold.strip()):
        return str(int(gold) + 1)
    return "I am not sure"
