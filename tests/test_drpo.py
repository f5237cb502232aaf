"""DRPO on the simulated LLM: the method, its pieces, and the real DRPO data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from drpo_helpers import RecordingSim, Rewriting, drpo_pieces
from prerequisites import DRPO_DATA, needs_data

from drpo.methods.drpo.aspects import (
    ASPECTS,
    Evaluation,
    canonical_aspect,
    parse_evaluation,
    parse_selection,
)
from drpo.methods.drpo.data import (
    DEMO_DATA_DIR,
    DataError,
    interleave,
    load_examples,
    load_training_queries,
)
from drpo.methods.drpo.prompts import render
from drpo.retrieval import HashingEmbedder, OpenAIEmbedder, Retriever
from search import MCTS, BeamSearch
from world_model import Reasoner, check_world_model

SHARED = DRPO_DATA


# ---- aspects ---------------------------------------------------------------------------
@needs_data("drpo")
def test_every_real_gpt4_aspect_selection_parses() -> None:
    data = json.loads((SHARED / "metrics_cache.json").read_text())
    assert len(data) == 63
    for query, value in data.items():
        selection = parse_selection(json.loads(value) if isinstance(value, str) else value)
        assert 2 <= len(selection.aspects) <= 5 and set(selection.aspects) <= set(ASPECTS)
        assert selection.reasoning, query


@needs_data("drpo")
def test_the_icl_stage_selections_parse_with_their_longer_names() -> None:
    data = json.loads((SHARED / "icl_metrics_cache.json").read_text())
    for value in data.values():
        selection = parse_selection(value, max_aspects=6)
        assert set(selection.aspects) <= set(ASPECTS)


def test_aspect_names_and_bad_selections() -> None:
    assert canonical_aspect("critical thinking") == "Critical-Thinking"
    assert canonical_aspect("Compliance with Instructions") == "Compliance"
    with pytest.raises(ValueError, match="unknown aspect 'Humour'"):
        parse_selection({"aspects_selection": {"selected_aspects": ["Humour", "Clarity"]}})
    with pytest.raises(ValueError, match="select 2 to 5 aspects, not 1"):
        parse_selection({"aspects_selection": {"selected_aspects": ["Clarity"]}})
    with pytest.raises(ValueError, match="aspects_selection"):
        parse_selection({"aspects": ["Clarity"]})


def test_evaluations_are_validated() -> None:
    value = {"evaluation": {"Clarity": {"rationale": "ok", "score": 4}, "depth": {"score": "5"}}}
    evaluation = parse_evaluation(value, ("Clarity", "Depth"))
    assert evaluation.scores == {"Clarity": 4, "Depth": 5} and evaluation.reward == 4.5
    with pytest.raises(ValueError, match="lacks the aspect"):
        parse_evaluation(value, ("Clarity", "Safety"))
    with pytest.raises(ValueError, match="integer from 1 to 5"):
        parse_evaluation({"Clarity": {"score": 7}}, ("Clarity",))
    assert Evaluation({"a": 5, "b": 5}, {}).handled()
    assert Evaluation({"a": 5, "b": 4, "c": 5}, {}).handled()  # mean 4.67 > 4.5
    assert not Evaluation({"a": 5, "b": 4}, {}).handled()  # mean 4.5 is not above 4.5


# ---- data ------------------------------------------------------------------------------
@needs_data("drpo")
def test_training_mix_is_proportional_and_seeded() -> None:
    queries = load_training_queries(SHARED, num_examples=180, seed=0)
    assert len(queries) == 180 == len(set(queries))
    safety = {line.strip() for line in (SHARED / "mal_train.txt").read_text().splitlines()}
    share = sum(q in safety for q in queries) / 180
    total = {
        "alpaca": len(json.loads((SHARED / "alpaca_train.json").read_text())),
        "lima": len(json.loads((SHARED / "lima_subsample_train.json").read_text())),
        "safety": len(safety),
    }
    assert share == pytest.approx(total["safety"] / sum(total.values()), abs=0.02)
    assert queries == load_training_queries(SHARED, num_examples=180, seed=0)
    assert queries != load_training_queries(SHARED, num_examples=180, seed=1)


def test_interleaving_takes_chunks_in_turn() -> None:
    assert interleave([["a1", "a2", "a3", "a4"], ["b1", "b2"], ["c1"]]) == [
        "a1",
        "a2",
        "a3",
        "a4",
        "b1",
        "b2",
        "c1",
    ] or interleave([["a1", "a2", "a3", "a4"], ["b1", "b2"], ["c1"]])[:2] == ["a1", "a2"]
    mixed = interleave([[f"a{i}" for i in range(50)], [f"b{i}" for i in range(50)]])
    assert mixed[:10] == [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)]


@needs_data("drpo")
def test_demo_data_and_shared_examples_load() -> None:
    assert len(load_training_queries(DEMO_DATA_DIR, num_examples=500, seed=0)) == 36
    assert len(load_examples(SHARED / "ICL_optimization" / "out_16_5.json")) > 0


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"alpaca_train.json": ""}, "is empty"),
        ({"alpaca_train.json": '[{"instruction": "x"'}, r"is not valid JSON \(line 1"),
        ({"alpaca_train.json": '{"instruction": "x"}'}, "must be a JSON list of objects"),
        ({"lima_subsample_train.json": '[{"text": "x"}]'}, "with a text field 'query'"),
        ({"mal_train.txt": "\n\n"}, "holds no queries"),
        ({"mal_train.txt": None}, "missing data file"),
        ({"mal_train.txt": b"\xff\xfe bad"}, "is not UTF-8"),
    ],
)
def test_bad_data_files_are_named(tmp_path: Path, files: dict, message: str) -> None:
    for name in ("alpaca_train.json", "lima_subsample_train.json", "mal_train.txt"):
        (tmp_path / name).write_bytes((DEMO_DATA_DIR / name).read_bytes())
    for name, content in files.items():
        if content is None:
            (tmp_path / name).unlink()
        else:
            (tmp_path / name).write_bytes(
                content if isinstance(content, bytes) else content.encode()
            )
    with pytest.raises(DataError, match=message):
        load_training_queries(tmp_path, num_examples=10, seed=0)


# ---- prompts and retrieval -------------------------------------------------------------
def test_prompts_fill_every_placeholder_once() -> None:
    text = render(
        "metrics", query="a <<query>> inside", aspect_list="- Clarity", aspect_names="Clarity"
    )
    assert "a <<query>> inside" in text and "selected_aspects" in text
    with pytest.raises(KeyError, match="takes"):
        render("metrics", query="q")


def test_retrieval_finds_the_nearest_examples() -> None:
    texts = ["How do I bake bread at home?", "What causes earthquakes?", "Tips for baking cakes"]
    retriever = Retriever(texts, HashingEmbedder())
    assert retriever.top_k("how to bake bread", 1)[0][0] == texts[0]
    assert retriever.top_k("why do earthquakes happen", 2)[0][0] == texts[1]
    vectors = HashingEmbedder().embed(texts)
    assert vectors.dtype == np.float32 and np.allclose(np.linalg.norm(vectors, axis=1), 1)


def test_embeddings_from_an_openai_compatible_endpoint(sim_server) -> None:
    server = sim_server()
    embedder = OpenAIEmbedder("sim-embed", base_url=server.url)
    retriever = Retriever(["bread recipes", "volcano eruptions"], embedder)
    assert retriever.top_k("a recipe for bread", 1)[0][0] == "bread recipes"


# ---- the world -------------------------------------------------------------------------
QUERIES = load_training_queries(DEMO_DATA_DIR, num_examples=36, seed=0)


def test_the_world_keeps_the_contract() -> None:
    world, config, _ = drpo_pieces()
    world.update_example(QUERIES)
    check_world_model(world, config, n_paths=2, max_depth=3)


def test_a_short_run_beats_the_initial_prompt() -> None:
    world, config, _ = drpo_pieces()
    result = Reasoner(
        world, config, BeamSearch(beam_size=2, max_depth=6, reward_aggregator="mean")
    )(QUERIES)
    steps = result.terminal_state.steps[1:]
    from drpo.llm._loop import run_sync

    initial = run_sync(
        world.reward.evaluate([(world.initial_system_prompt, s.query) for s in steps])
    )
    best = sum(s.reward for s in steps) / len(steps)
    baseline = sum(s.reward for s in initial) / len(initial)
    assert best > baseline + 0.5
    assert result.terminal_state.system_prompt != world.initial_system_prompt


def test_each_level_sends_its_calls_together() -> None:
    base = RecordingSim()
    world, config, _ = drpo_pieces(base=base)
    result = Reasoner(world, config, BeamSearch(beam_size=2, max_depth=3))(QUERIES)
    per_depth = [sum(n.depth == d for n in result.nodes()) for d in range(1, 4)]
    assert base.batches == [1, *per_depth], "the root, then one batch per level"
    assert per_depth[1] > 3


def test_handled_queries_keep_the_prompt_and_extend_the_depth() -> None:
    world, config, _ = drpo_pieces()
    result = BeamSearch(beam_size=1, max_depth=15, max_depth_increase=10)(
        *_with_queries(world, config)
    )
    steps = result.terminal_state.steps
    assert result.depth_increase > 0
    for before, after in zip(steps, steps[1:]):
        if before.handled():
            assert after.system_prompt == before.system_prompt


def _with_queries(world, config):
    world.update_example(QUERIES)
    config.update_example(QUERIES)
    return world, config


def test_an_unknown_aspect_from_the_metrics_model_is_recorded_not_fatal() -> None:
    metrics = Rewriting(lambda text: text.replace('"Clarity"', '"Humour"').replace(
        '"Helpfulness"', '"Humour"'))  # fmt: skip
    world, config, _ = drpo_pieces(metrics=metrics)
    result = BeamSearch(beam_size=1, max_depth=3)(*_with_queries(world, config))
    steps = result.terminal_state.steps
    failed = [s for s in steps if s.error]
    assert failed, "some selections used the unknown aspect"
    assert all(s.reward == 0 and "'Humour', not one of" in s.error for s in failed)
    assert len(steps) == 4, "the run goes on"


def test_an_unparseable_judge_gives_reward_0_and_the_reason() -> None:
    judge = Rewriting(lambda text: "I think it is pretty good overall.")
    world, config, _ = drpo_pieces(judge=judge)
    result = BeamSearch(beam_size=2, max_depth=2)(*_with_queries(world, config))
    for step in result.terminal_state.steps:
        assert step.reward == 0 and "judge gave no usable evaluation" in step.error
        assert "holds no JSON" in step.error
    assert result.terminal_node.depth >= 2


def test_an_unusable_optimiser_keeps_the_prompt_and_the_run_goes_on() -> None:
    optimizer = Rewriting(lambda text: '{"analysis": "no idea", "new_system_prompt": ""}')
    world, config, _ = drpo_pieces(optimizer=optimizer)
    result = BeamSearch(beam_size=2, max_depth=3)(*_with_queries(world, config))
    prompts = {s.system_prompt for s in result.terminal_state.steps}
    assert prompts == {world.initial_system_prompt}
    assert result.terminal_node.depth == 3


def test_drpo_runs_under_our_mcts() -> None:
    world, config, _ = drpo_pieces()
    result = MCTS(n_iters=4, depth_limit=3, cum_reward="mean")(*_with_queries(world, config))
    assert len(result.iterations) == 4 and result.terminal_node.depth >= 1


def test_drpo_runs_under_llm_reasoners() -> None:
    reasoners = pytest.importorskip("reasoners")
    from reasoners.algorithm import MCTS as TheirMCTS  # noqa: N811
    from reasoners.algorithm import BeamSearch as TheirBeam

    world, config, _ = drpo_pieces()
    beam = reasoners.Reasoner(world, config, TheirBeam(beam_size=2, max_depth=3))(QUERIES)
    assert len(beam.terminal_state.steps) == 4 and beam.cum_reward > 0
    # their max_reward output needs a world-terminal node, so ask for the last iteration
    algo = TheirMCTS(n_iters=3, depth_limit=2, output_strategy="last_iter")
    mcts = reasoners.Reasoner(world, config, algo)(QUERIES)
    assert len(mcts.terminal_state.steps) == 3


def test_icl_stage_improves_the_examples() -> None:
    from drpo.methods.drpo.aspect_judge import MetricsCache
    from drpo.methods.drpo.data import ICL_SEED_ANSWERS
    from drpo.methods.drpo.icl import icl_critic, optimise_examples

    _, _, llms = drpo_pieces()
    seeds = load_examples(DEMO_DATA_DIR / ICL_SEED_ANSWERS)
    critic = icl_critic(metrics=llms["metrics"], judge=llms["eval"], cache=MetricsCache(None))
    results = optimise_examples(seeds, critic=critic, optimizer=llms["optimize"], num_iters=3)
    assert len(results) == len(seeds)
    assert all(r.history == tuple(sorted(r.history)) for r in results)  # never worse
    assert sum(r.reward for r in results) > sum(r.history[0] for r in results)
