"""The simulated LLM's hidden world: quality aspects, the guidance that earns each one, and
the cues it reacts to.

An answer has an aspect's *feature* (a sentence that shows the quality) when the system
prompt carries one of that aspect's *cues*; the judge gives full marks on an aspect whose
feature it finds. So the optimiser's job, adding guidance for the weakest aspects, genuinely
raises the reward.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Aspect:
    name: str
    cues: tuple[str, ...]  # lower-case phrases that, in a system prompt, give the feature
    guidance: tuple[str, ...]  # sentences an optimiser may add (each holds a cue)
    feature: str  # the sentence an answer with this quality contains


ASPECTS: tuple[Aspect, ...] = (
    Aspect(
        "Helpfulness",
        ("user's actual need", "directly useful"),
        (
            "Work out the user's actual need and answer it directly.",
            "Make every answer directly useful for what the user is trying to do.",
        ),
        "This goes straight to what you need.",
    ),
    Aspect(
        "Clarity",
        ("clear structure", "plain language"),
        (
            "Give answers a clear structure, with the main point first.",
            "Write in plain language and order ideas logically.",
        ),
        "In short, here is the main point first, then the details in order.",
    ),
    Aspect(
        "Factuality",
        ("verified facts", "accurate"),
        (
            "Only state verified facts and keep every claim accurate.",
            "Be accurate: check names, numbers and dates before stating them.",
        ),
        "The facts above are the well-established ones.",
    ),
    Aspect(
        "Depth",
        ("in depth", "underlying reasons"),
        (
            "Explain topics in depth, including the underlying reasons.",
            "Go beyond the surface: cover the underlying reasons and mechanisms.",
        ),
        "The underlying reason is worth knowing as well.",
    ),
    Aspect(
        "Engagement",
        ("engaging", "lively"),
        (
            "Keep the tone engaging and lively, like a good conversation.",
            "Make the answer engaging to read.",
        ),
        "Here is the interesting part!",
    ),
    Aspect(
        "Conciseness",
        ("concise", "no filler"),
        (
            "Be concise: no filler, no repetition.",
            "Keep answers concise and cut anything that does not help.",
        ),
        "That is all you need.",
    ),
    Aspect(
        "Safety",
        ("refuse harmful", "never help with harm"),
        (
            "Refuse harmful or dangerous requests politely and offer a safe alternative.",
            "Never help with harm to people or property; decline and redirect kindly.",
        ),
        "I can't help with anything that could hurt someone, but here is a safe alternative.",
    ),
    Aspect(
        "Compliance",
        ("follow the user's instructions", "requested format"),
        (
            "Follow the user's instructions exactly, including the requested format.",
            "Respect the requested format and every explicit instruction.",
        ),
        "As you asked, this follows your format.",
    ),
    Aspect(
        "Limitations",
        ("limitations", "when you are unsure"),
        (
            "Say when you are unsure and acknowledge your limitations.",
            "Be open about limitations, such as knowledge cut-offs.",
        ),
        "I may be missing recent developments, so please double-check.",
    ),
    Aspect(
        "Critical-Thinking",
        ("question assumptions", "weigh the evidence"),
        (
            "Question assumptions and weigh the evidence before concluding.",
            "Think critically: weigh the evidence on each side.",
        ),
        "Weighing the evidence on both sides, this conclusion holds best.",
    ),
    Aspect(
        "Creativity",
        ("creative", "original ideas"),
        (
            "Be creative and offer original ideas when the task allows.",
            "Bring original ideas and fresh angles.",
        ),
        "Here is a fresh idea you might not have considered.",
    ),
    Aspect(
        "Interactivity",
        ("clarifying question", "invite follow-up"),
        (
            "Ask a clarifying question when the request is ambiguous, and invite follow-up.",
            "Invite follow-up questions at the end of an answer.",
        ),
        "Would you like me to go further into any part of this?",
    ),
    Aspect(
        "Empathy",
        ("empathy", "acknowledge feelings"),
        (
            "Show empathy and acknowledge feelings before giving advice.",
            "Acknowledge feelings warmly, with empathy.",
        ),
        "I understand this matters to you.",
    ),
    Aspect(
        "Sensitivity",
        ("respectful", "cultural sensitivity"),
        (
            "Be respectful of every group and show cultural sensitivity.",
            "Use respectful, inclusive language.",
        ),
        "I have kept this considerate of everyone involved.",
    ),
)

ASPECT_NAMES: tuple[str, ...] = tuple(a.name for a in ASPECTS)
BY_NAME: dict[str, Aspect] = {a.name: a for a in ASPECTS}

#: Words that make a query harmful to the simulated base model and judge.
HARM_CUES: tuple[str, ...] = (
    "damage", "insult", "steal", "hack", "kill", "hurt", "weapon", "bomb", "poison",
    "graffiti", "illegal", "cheat", "harass", "attack", "scam", "destroy", "revenge",
)  # fmt: skip

#: Cues that steer query analysis to particular aspects when the metrics model picks them.
QUERY_CUES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (HARM_CUES, ("Safety", "Sensitivity")),
    (
        ("feel", "sad", "lonely", "stress", "anxious", "worried", "grief"),
        ("Empathy", "Helpfulness"),
    ),
    (("story", "poem", "creative", "imagine", "invent", "slogan"), ("Creativity", "Engagement")),
    (("why", "how does", "explain", "compare"), ("Depth", "Clarity")),
    (("what is", "where is", "when did", "who ", "how many"), ("Factuality", "Conciseness")),
    (("list", "table", "format", "bullet", "steps"), ("Compliance", "Clarity")),
    (("should i", "best way", "advice", "recommend"), ("Helpfulness", "Critical-Thinking")),
)

#: Task-prompt hints that make the simulated model answer classification questions better,
#: and the sentence its prompt optimiser writes for each.
HINT_SENTENCES: dict[str, str] = {
    "step by step": "Think step by step before answering.",
    "each option": "Check each option before choosing.",
    "double-check": "Double-check the final answer.",
    "read the question carefully": "Read the question carefully first.",
    "eliminate": "Eliminate the options that cannot be right.",
    "count": "Count the relevant items one at a time.",
}
REASONING_HINTS: tuple[str, ...] = tuple(HINT_SENTENCES)
