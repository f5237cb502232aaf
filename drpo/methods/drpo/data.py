"""DRPO's training data: instruction, open and harmful queries, mixed and shuffled; and the
in-context example sets. The files follow the layout of the DRPO release."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from drpo.methods.tasks import check_lengths

DEMO_DATA_DIR = Path(__file__).with_name("demo_data")

ALPACA = "alpaca_train.json"  # [{"instruction": ...}, ...]
LIMA = "lima_subsample_train.json"  # [{"query": ...}, ...]
SAFETY = "mal_train.txt"  # one harmful query per line
ICL_EXAMPLES = "ICL_optimization/out_16_5.json"  # {query: optimised answer}
ICL_SEED_ANSWERS = "queries_resp_train.json"  # {query: answer}, input of the ICL stage


class DataError(ValueError):
    """A data file is missing, empty or malformed; the message names the file."""


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"missing data file {path}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None


def _read_json(path: Path) -> Any:
    text = _read_text(path)
    if not text.strip():
        raise DataError(f"{path} is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


def _query_list(path: Path, key: str) -> list[str]:
    data = _read_json(path)
    if not isinstance(data, list) or not all(
        isinstance(item, dict) and isinstance(item.get(key), str) for item in data
    ):
        raise DataError(f"{path} must be a JSON list of objects with a text field {key!r}")
    queries = [item[key].strip() for item in data if item[key].strip()]
    if not queries:
        raise DataError(f"{path} holds no queries")
    check_lengths(queries, path, DataError)
    return queries


def _line_list(path: Path) -> list[str]:
    queries = [line.strip() for line in _read_text(path).splitlines() if line.strip()]
    if not queries:
        raise DataError(f"{path} holds no queries")
    check_lengths(queries, path, DataError)
    return queries


def interleave(groups: list[list[str]]) -> list[str]:
    """Take from each group in turn, a chunk proportional to its size (at least one), so that
    every kind of query recurs regularly."""
    total = sum(len(g) for g in groups) or 1
    chunks = [max(1, 10 * len(g) // total) for g in groups]
    positions = [0] * len(groups)
    out: list[str] = []
    while any(p < len(g) for p, g in zip(positions, groups)):
        for i, group in enumerate(groups):
            out.extend(group[positions[i] : positions[i] + chunks[i]])
            positions[i] += chunks[i]
    return out


def load_training_queries(data_dir: str | Path, *, num_examples: int, seed: int) -> list[str]:
    """`num_examples` queries drawn from the three sets in proportion to their sizes,
    interleaved, then shuffled, all with `seed` (fewer when the files hold fewer)."""
    if num_examples < 1:
        raise DataError(f"num_training_examples must be >= 1, got {num_examples}")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data_dir {data_dir} is not a directory")
    groups = [
        _query_list(data_dir / ALPACA, "instruction"),
        _query_list(data_dir / LIMA, "query"),
        _line_list(data_dir / SAFETY),
    ]
    total = sum(len(g) for g in groups)
    want = min(num_examples, total)
    counts = [int(want * len(g) / total) for g in groups]
    for i in range(want - sum(counts)):  # hand out the remainder in turn
        order = [j for j in range(3) if counts[j] < len(groups[j])]
        counts[order[i % len(order)]] += 1
    rng = random.Random(seed)
    sampled = [rng.sample(group, count) for group, count in zip(groups, counts)]
    queries = interleave(sampled)
    rng.shuffle(queries)
    return queries


def split_queries(
    data_dir: str | Path, *, num_training_examples: int, test_size: int, seed: int
) -> tuple[list[str], list[str]]:
    """The training queries and the held-out test queries of a run: `num_training_examples`
    + `test_size` drawn as `load_training_queries` does, the last `test_size` held out."""
    if test_size < 0:
        raise DataError(f"test_size must be >= 0, got {test_size}")
    wanted = num_training_examples + test_size
    queries = load_training_queries(data_dir, num_examples=wanted, seed=seed)
    if test_size and len(queries) <= test_size:
        raise DataError(f"{data_dir} holds {len(queries)} queries: too few for {test_size} "
                        "held-out ones and a training set")  # fmt: skip
    split = len(queries) - test_size
    return queries[:split], queries[split:]


def load_examples(path: str | Path) -> dict[str, str]:
    """An in-context example set: a JSON object of query -> answer."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise DataError(f"{path} must be a JSON object of query -> answer text")
    if not data:
        raise DataError(f"{path} holds no examples")
    return data
