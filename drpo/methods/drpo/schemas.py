"""The JSON schemas DRPO's requests send (`response_format` json_schema), and the token
limits that follow from them: a schema with bounded strings bounds the answer, so a limit
that fits the schema never cuts a valid answer off."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drpo.llm.json_schema import object_schema, text_schema, tokens_for
from drpo.methods.drpo.aspects import ASPECTS, MAX_ASPECTS, MIN_ASPECTS

RATIONALE_CHARS = 300
ANALYSIS_CHARS = 600
REASONING_CHARS = 400
FIELD_CHARS = 200
#: The longest system prompt the optimiser may propose: room for the paper's released
#: prompts (the Mistral-7B-v0.1 one has about 2,700 characters) and their 8 bullets.
MAX_PROMPT_CHARS = 4000
#: The longest example answer the ICL stage may write.
MAX_ANSWER_CHARS = 4000


METRICS_FIELDS = ("main_topic", "user_intent", "ambiguities", "response_format", "challenges")

def metrics_schema(min_aspects: int = MIN_ASPECTS, max_aspects: int = MAX_ASPECTS) -> dict:
    """The aspect selection: a query analysis and `min_aspects`..`max_aspects` aspects."""
    return object_schema(
        {
            "query_analysis": object_schema({f: text_schema(FIELD_CHARS) for f in METRICS_FIELDS}),
            "aspects_selection": object_schema(
                {
                    "reasoning": text_schema(REASONING_CHARS),
                    "selected_aspects": {
                        "type": "array",
                        "items": {"type": "string", "enum": list(ASPECTS)},
                        "minItems": min_aspects,
                        "maxItems": max_aspects,
                    },
                }
            ),
        }
    )


METRICS_SCHEMA = metrics_schema()
METRICS_MAX_TOKENS = tokens_for(len(METRICS_FIELDS) * FIELD_CHARS + REASONING_CHARS) + 20 * 5


def judge_schema(aspects: Sequence[str]) -> dict[str, Any]:
    """One property per aspect asked for, each a rationale and an integer score 1-5."""
    entry = object_schema(
        {
            "rationale": text_schema(RATIONALE_CHARS),
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
        }
    )
    return object_schema({"evaluation": object_schema({a: entry for a in aspects})})


def judge_max_tokens(aspects: Sequence[str]) -> int:
    return tokens_for(len(aspects) * (RATIONALE_CHARS + 40))


OPTIMIZER_SCHEMA = object_schema(
    {
        "analysis": text_schema(ANALYSIS_CHARS),
        "new_system_prompt": text_schema(MAX_PROMPT_CHARS, min_chars=20),
    }
)
OPTIMIZER_MAX_TOKENS = tokens_for(ANALYSIS_CHARS + MAX_PROMPT_CHARS)

ICL_SCHEMA = object_schema(
    {"analysis": text_schema(ANALYSIS_CHARS), "improved_answer": text_schema(MAX_ANSWER_CHARS)}
)
ICL_MAX_TOKENS = tokens_for(ANALYSIS_CHARS + MAX_ANSWER_CHARS)
