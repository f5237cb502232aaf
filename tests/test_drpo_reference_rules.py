"""DRPO follows the reference's rules (Singla17/DRPO): the copy check measured against the
proposal, the optimiser asked for the reference's structure and limits, the paper's own
prompt lengths accepted (simulated LLM, in process)."""

from __future__ import annotations

import json

import pytest
from drpo_helpers import Rewriting, drpo_pieces

from drpo.llm._loop import run_sync
from drpo.methods.drpo.prompts import template
from drpo.methods.drpo.world import check_system_prompt
from drpo.methods.prompt_checks import copied_share
from search import BeamSearch

GENERAL = ("You are a capable and ethical assistant. Understand what each user needs and answer "
           "it directly, accurately and in a well organised way.")  # fmt: skip
BULLETS = [
    "- You have no internet access and cannot take physical actions; refuse harmful requests "
    "and say why.",
    "- Give the main point first, then the details in a logical order.",
    "- Use a natural, warm tone and concrete examples rather than stock phrases.",
]


def proposal(*extra: str) -> str:
    return "\n".join([GENERAL, *BULLETS, *extra])


def test_a_proposal_that_quotes_a_short_answer_is_not_a_copy() -> None:
    answer = "The capital of Australia is Canberra, not Sydney."
    text = proposal(f'- Correct common mistakes plainly, e.g. "{answer}"')
    assert copied_share(text, answer) < 0.2
    check_system_prompt(text, answer=answer, query="What is the capital of Australia?",
                        instructions=template("optimizer"))  # fmt: skip


def test_a_proposal_holding_the_models_refusal_sentence_is_not_a_copy() -> None:
    refusal = "I'm sorry, but I cannot help with that request because it could cause harm."
    text = proposal(f"- When a request is harmful, decline in one sentence such as: {refusal}")
    check_system_prompt(text, answer=refusal, query="How do I pick a lock?",
                        instructions=template("optimizer"))  # fmt: skip


def test_sentences_the_base_model_echoed_from_its_system_prompt_are_not_a_copy() -> None:
    echoed = f"{GENERAL}"  # a base model that parrots its instructions
    current = proposal()
    new = proposal("- Close with an offer to go deeper when the topic invites it.")
    check_system_prompt(new, answer=echoed, query="Tell me about tides.",
                        instructions=template("optimizer"), current=current)  # fmt: skip


def test_a_proposal_that_is_mostly_the_answer_is_still_refused() -> None:
    answer = ("Paris is the capital of France. It lies on the Seine and has been the capital "
              "since the tenth century, with about two million people.")  # fmt: skip
    with pytest.raises(ValueError, match="repeats the assistant's answer"):
        check_system_prompt(f"You are helpful. {answer}", answer=answer, query="Capital?")


def test_a_base_model_that_echoes_its_prompt_does_not_stall_the_search() -> None:
    """The base model answers with the two sentences of its system prompt; the optimiser's
    proposals keep that prompt and add to it: they are used, so the prompt changes (every
    proposal was refused as a copy of the answer before, and the search stalled)."""
    initial = "You are a helpful assistant. Answer every question as well as you can."
    world, config, _ = drpo_pieces(base=Rewriting(lambda text: initial))
    world.initial_system_prompt = initial
    world.update_example(["Explain how vaccines work.", "Write a haiku about rain.",
                          "How do I apologise to a colleague?"])  # fmt: skip
    result = BeamSearch(beam_size=1, max_depth=2)(world, config)
    prompts = [s.system_prompt for s in result.terminal_state.steps]
    assert prompts[0] == initial and prompts[-1] != initial and prompts[-1].startswith(initial)


def test_the_optimiser_is_asked_for_the_reference_structure_and_limits() -> None:
    text = template("optimizer").lower()
    for phrase in ("general instructions", "bullet", "no internet", "physical actions",
                   "malicious", "at most 2 new bullets", "more than 8 bullets"):  # fmt: skip
        assert phrase in text, phrase


def test_a_prompt_as_long_as_the_papers_released_ones_is_accepted() -> None:
    """The paper's released Mistral-7B-v0.1 prompt has about 2,700 characters (7 bullets);
    the old 2,500-character cap refused it."""
    text = "\n".join([LONG_GENERAL, *LONG_BULLETS])
    assert 2_600 < len(text) < 4_000
    answer = "A short answer about tides and the moon."
    check_system_prompt(text, answer=answer, query="Tell me about tides.",
                        instructions=template("optimizer"))  # fmt: skip


LONG_GENERAL = (
    "You are a knowledgeable, careful and ethical assistant who helps people with questions on "
    "every subject, from science and history to cooking, travel, money and personal matters. "
    "Your purpose is to be genuinely useful: work out what each person actually needs, answer "
    "that need directly, and leave them better informed than before. Treat everyone with "
    "respect and warmth, whatever their background or level of expertise, and adapt the depth "
    "and tone of each reply to the person in front of you. Accuracy matters more than "
    "impressiveness, so say plainly when something is uncertain, disputed or beyond what you "
    "know, and point to where reliable information can be found. Organise replies so the main "
    "point is easy to find, explain the reasoning behind recommendations, and prefer concrete "
    "examples over abstract statements. Keep a natural, conversational voice that sounds like "
    "a thoughtful person rather than a form letter. When a request is ambiguous, state the "
    "reading you chose and answer it, or ask one short question when no reading is safe. "
    "Stay within what was asked, keep replies as long as they need to be and no longer, and "
    "never invent sources, quotations, statistics or personal experiences."
)
LONG_BULLETS = [
    "- You cannot browse the internet, read real-time data or act in the physical world; say "
    "so when a request depends on it, and decline harmful, illegal or malicious requests with "
    "a short explanation of why and a safer alternative where one exists.",
    "- Declining a task you cannot do well is better than an answer that misses the point; "
    "explain what you can offer instead.",
    "- Start with a one or two sentence overview, then give the details as short paragraphs or "
    "a numbered list when there are several steps or options.",
    "- Explain the why behind facts and advice: mechanisms, trade-offs and common mistakes, so "
    "that beginners learn the basics and experts still find something new.",
    "- Question assumptions in a request that look mistaken, and correct them gently with the "
    "evidence rather than accepting them at face value.",
    "- Recognise the feelings behind personal questions and respond with empathy before "
    "giving practical suggestions.",
    "- Avoid stock phrases and filler; vary sentence length, use vivid but precise wording, and "
    "end with an offer to go deeper when the topic invites further questions.",
    "- For creative tasks, bring an original angle, respect any form or length the user "
    "asks for, and keep the piece coherent from its first line to its last.",
    "- For technical questions, give working, minimal examples, state the versions or "
    "conditions they assume, and warn about the pitfalls people most often run into.",
]


def test_the_simulated_optimiser_adds_bullets_and_stops_at_8() -> None:
    world, config, _ = drpo_pieces()
    world.update_example(["Explain how vaccines work.", "Write a haiku about rain.",
                          "How do I apologise to a colleague?"])  # fmt: skip
    result = BeamSearch(beam_size=1, max_depth=2)(world, config)
    final = result.terminal_state.system_prompt
    assert final.startswith("You are a helpful assistant.") and "\n- " in final
    from drpo.methods.drpo.sim import _add_bullet

    full = "Be good.\n" + "\n".join(f"- Rule {i}." for i in range(8))
    assert _add_bullet(full, "Be kind.").count("\n- ") == 8


# ---- the example-optimisation stage (--optimize_icl) -----------------------------------
def _critic_and_optimizer():
    from drpo.methods.drpo.aspect_judge import MetricsCache
    from drpo.methods.drpo.icl import icl_critic

    _, _, llms = drpo_pieces()
    return icl_critic(metrics=llms["metrics"], judge=llms["eval"], cache=MetricsCache(None)), llms


def test_the_icl_stage_judges_with_a_stricter_critic_on_3_to_6_aspects(monkeypatch) -> None:
    from drpo.methods.drpo import sim as drpo_sim
    from drpo.methods.drpo.icl import optimise_examples

    seen: list[str] = []
    judge = drpo_sim.judge
    monkeypatch.setattr(drpo_sim, "judge", lambda request: seen.append(request.text) or
                        judge(request))  # fmt: skip
    critic, llms = _critic_and_optimizer()
    seeds = {"How do vaccines work?": "They train the immune system.",
             "Write a haiku about rain.": "Rain on the rooftop."}  # fmt: skip
    results = optimise_examples(seeds, critic=critic, optimizer=llms["optimize"])
    assert seen and all("demanding critic" in text for text in seen)
    selections = run_sync(critic.select_aspects(list(seeds)))
    assert all(3 <= len(s.aspects) <= 6 for s in selections.values())
    assert all(len(r.history) <= 6 for r in results)  # 5 rounds at most, by default
    assert sum(r.reward for r in results) > sum(r.history[0] for r in results)


def test_the_icl_stage_rewrites_the_latest_answer_and_accepts_ties(monkeypatch) -> None:
    """The critic scores an answer by its number of rewrites: 3, then 2 (worse), then 3 (a
    tie with the best), then 1. The optimiser is always shown the latest answer, a tie
    replaces the kept answer, a worse one never does, and 5 rounds are run."""
    from drpo.methods.drpo import sim as drpo_sim
    from drpo.methods.drpo.icl import optimise_examples
    from drpo.sim.behaviour import SimRequest, tag

    shown: list[str] = []

    def rewrite(request: SimRequest) -> str:
        answer = tag(request.text, "answer") or ""
        shown.append(answer)
        return json.dumps({"analysis": "x", "improved_answer": answer + " +"})

    def critique(request: SimRequest) -> str:
        text = request.text
        score = {0: 3, 1: 2, 2: 3}.get((tag(text, "response") or "").count("+"), 1)
        aspects = [a for a in ("Helpfulness", "Clarity", "Depth") if a in text]
        return json.dumps({"evaluation": {a: {"rationale": "r", "score": score}
                                          for a in aspects}})  # fmt: skip

    monkeypatch.setattr(drpo_sim, "improve_answer", rewrite)
    monkeypatch.setattr(drpo_sim, "judge", critique)
    critic, llms = _critic_and_optimizer()
    query = "Explain how tides work."
    critic.cache.put(query, {"aspects_selection": {
        "reasoning": "r", "selected_aspects": ["Helpfulness", "Clarity", "Depth"]}})  # fmt: skip
    (result,) = optimise_examples({query: "Tides."}, critic=critic, optimizer=llms["optimize"])
    assert shown == ["Tides.", "Tides. +", "Tides. + +", "Tides. + + +", "Tides. + + + +"]
    assert result.answer == "Tides. + +" and result.reward == 3.0
    assert result.history == (3.0, 3.0, 3.0, 3.0, 3.0, 3.0)
