"""DRPO's part of the simulated LLM: the metrics model picks a query's aspects, the judge
scores a response on them, the optimiser adds guidance for a weak aspect to the system
prompt (as a new bullet point when it is asked for bullet points, at most 8, as DRPO's
optimiser is told), and the example optimiser improves an in-context answer
(drpo.sim.behaviour). The ICL stage's critic (a "demanding critic") picks 3-6 aspects when
asked for them and scores a missing quality 1-2 instead of 2-3."""

from __future__ import annotations

import json
import random
import re

from drpo.llm.json_output import JSONOutputError, extract_json
from drpo.sim.behaviour import Behaviour, SimRequest, asks_for, sentence, stable, tag
from drpo.sim.catalogue import ASPECT_NAMES, ASPECTS, BY_NAME, QUERY_CUES
from drpo.sim.model import features_in, is_harmful


def _aspect_range(text: str) -> tuple[int, int]:
    """How many aspects a metrics request asks for ("the 3 to 6 qualities"; else 2 to 5)."""
    found = re.search(r"the (\d) to (\d) qualities", text)
    return (int(found.group(1)), int(found.group(2))) if found else (2, 5)


def select_aspects(request: SimRequest) -> str:
    """The metrics model: 2-4 aspects for the query plus those its cues call for, at most 5;
    with other bounds asked for (the ICL stage's critic: 3 to 6), as many more as the lower
    bound is."""
    query = tag(request.text, "query") or request.last
    low_n, high_n = _aspect_range(request.text)
    low = query.lower()
    chosen: list[str] = []
    for cues, aspects in QUERY_CUES:
        if any(cue in low for cue in cues):
            chosen += [a for a in aspects if a not in chosen]
    popular = ["Helpfulness", "Clarity", "Factuality", "Depth", "Engagement", "Limitations"]
    extra = sorted(popular, key=lambda a: stable(request.seed, query, a))
    want = low_n + stable(request.seed, query) % 3  # 2 to 4 before the cue-driven ones
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


def judge(request: SimRequest) -> str:
    """The judge: 5 on an aspect whose feature the response shows, 2-3 otherwise (1-2 for
    the ICL stage's demanding critic)."""
    text = request.text
    response = tag(text, "response") or ""
    query = tag(text, "query") or ""
    wanted = tag(text, "aspects") or ""
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
            score = (1 if strict else 2) + stable(request.seed, query, name) % 2
            why = f"The response shows little {name.lower()}."
        evaluation[name] = {"rationale": f"(simulated judge) {why}", "score": score}
    return json.dumps({"evaluation": evaluation}, indent=1)


def _scores(text: str) -> dict[str, float]:
    block = tag(text, "evaluation") or ""
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


def _weak_aspects(text: str, already: str) -> list[str]:
    scores = _scores(text)
    weak = [n for n, s in scores.items() if s < 5 and n not in features_in(already)]
    return sorted(weak, key=lambda n: (scores[n], ASPECT_NAMES.index(n)))


def _pick(weak: list[str], rng: random.Random, temp: float) -> str:
    if temp == 0 or len(weak) == 1 or rng.random() < 0.5:
        return weak[0]
    return rng.choice(weak[1:])


def optimise_prompt(request: SimRequest) -> str:
    """The optimiser: guidance for a weak aspect of the evaluation (the weakest at
    temperature 0, varied by sample index above it), as a new bullet point when it is asked
    for bullet points."""
    text, rng, temp = request.text, request.rng, request.temperature
    current = tag(text, "system_prompt") or ""
    weak = _weak_aspects(text, current)
    if not weak:
        analysis, new = "Every evaluated aspect already scores full marks.", current
    else:
        aspect = _pick(weak, rng, temp)
        guidance = BY_NAME[aspect].guidance
        added = guidance[0] if temp == 0 else rng.choice(guidance)
        analysis = f"The response was weakest on {aspect}; the prompt never asks for it."
        new = (_add_bullet(current, added) if "bullet" in text
               else f"{sentence(current)} {added}".strip())  # fmt: skip
    return json.dumps(
        {"analysis": f"(simulated optimiser) {analysis}", "new_system_prompt": new}, indent=1
    )


#: The most bullet points the simulated DRPO optimiser keeps (the reference's limit).
MAX_BULLETS = 8


def _add_bullet(prompt: str, added: str) -> str:
    """`prompt` with `added` as a new bullet point; when it has MAX_BULLETS already, the
    sentence is merged into its last bullet instead (as DRPO's optimiser is asked to)."""
    lines = prompt.rstrip().splitlines()
    bullets = [i for i, line in enumerate(lines) if line.startswith("- ")]
    if len(bullets) >= MAX_BULLETS:
        last = bullets[-1]
        lines[last] = f"{sentence(lines[last])} {added}"
        return "\n".join(lines)
    return "\n".join([*lines, f"- {added}"]).strip()


def improve_answer(request: SimRequest) -> str:
    """The example optimiser: the weakest aspect's quality added to an in-context answer."""
    answer = tag(request.text, "answer") or ""
    present = [a.name for a in ASPECTS if a.feature in answer]
    weak = [n for n in _weak_aspects(request.text, "") if n not in present]
    improved = answer if not weak else f"{answer.rstrip()} {BY_NAME[weak[0]].feature}"
    return json.dumps({"analysis": "(simulated)", "improved_answer": improved}, indent=1)


def _is_judge(text: str) -> bool:
    return "<response>" in text and "<aspects>" in text


BEHAVIOURS = (
    Behaviour("metrics", asks_for("selected_aspects"), lambda r: select_aspects(r)),
    Behaviour("judge", _is_judge, lambda r: judge(r)),
    Behaviour("optimizer", asks_for("new_system_prompt"), lambda r: optimise_prompt(r)),
    Behaviour("icl", asks_for("improved_answer"), lambda r: improve_answer(r)),
)
