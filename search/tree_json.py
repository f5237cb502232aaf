"""The search tree as versioned JSON (output.json): safe to share, loadable without pickle.

A `TreeRecord` is the plain-data view of a result: every node with its id, parent, depth,
state summary, action, reward and details, visits and Q, plus the best path (and MCTS's
iteration paths, beam search's finished paths). `TreeRecord.from_dict(record.to_dict())`
gives back the same record, so a file read and written again is unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search.jsonable import JSONValue, to_jsonable
from search.result import BeamSearchResult, MCTSResult, SearchResult

FORMAT = "prompt-search.tree"
VERSION = 1


class TreeFormatError(ValueError):
    """A tree JSON file that is not one, is truncated, or has an unsupported version."""


@dataclass(frozen=True)
class NodeRecord:
    id: int
    parent: int | None
    depth: int
    action: JSONValue
    state: JSONValue
    expanded: bool
    is_terminal: bool | None
    reward: JSONValue
    reward_details: JSONValue
    fast_reward: JSONValue
    fast_reward_details: JSONValue
    visits: int
    q: JSONValue
    cum_reward: JSONValue


@dataclass(frozen=True)
class IterationRecord:
    path: tuple[int, ...]
    cum_reward: JSONValue


@dataclass(frozen=True)
class TreeRecord:
    algorithm: str
    settings: JSONValue
    cum_reward: JSONValue
    best_path: tuple[int, ...]
    nodes: tuple[NodeRecord, ...]
    iterations: tuple[IterationRecord, ...] = ()
    beam: tuple[int, ...] = ()
    depth_increase: int = 0
    meta: JSONValue = field(default_factory=dict)

    # ---- building ------------------------------------------------------------------------
    @classmethod
    def from_result(
        cls, result: SearchResult, *, meta: Mapping[str, Any] | None = None
    ) -> TreeRecord:
        nodes = tuple(
            NodeRecord(
                id=n.id,
                parent=None if n.parent is None else n.parent.id,
                depth=n.depth,
                action=to_jsonable(n.action),
                state=to_jsonable(n.state),
                expanded=n.expanded,
                is_terminal=n.is_terminal,
                reward=to_jsonable(float(n.reward)),
                reward_details=to_jsonable(n.reward_details),
                fast_reward=to_jsonable(float(n.fast_reward)),
                fast_reward_details=to_jsonable(n.fast_reward_details),
                visits=n.visits,
                q=to_jsonable(n.q),
                cum_reward=to_jsonable(n.cum_reward),
            )
            for n in sorted(result.nodes(), key=lambda n: n.id)
        )
        iterations: tuple[IterationRecord, ...] = ()
        if isinstance(result, MCTSResult):
            iterations = tuple(
                IterationRecord(tuple(n.id for n in it.path), to_jsonable(it.cum_reward))
                for it in result.iterations
            )
        beam: tuple[int, ...] = ()
        depth_increase = 0
        if isinstance(result, BeamSearchResult):
            beam = tuple(n.id for n in result.beam)
            depth_increase = result.depth_increase
        return cls(
            algorithm=result.algorithm,
            settings=to_jsonable(result.settings),
            cum_reward=to_jsonable(result.cum_reward),
            best_path=tuple(n.id for n in result.terminal_node.path()),
            nodes=nodes,
            iterations=iterations,
            beam=beam,
            depth_increase=depth_increase,
            meta=to_jsonable(dict(meta or {})),
        )

    # ---- views ---------------------------------------------------------------------------
    def node(self, node_id: int) -> NodeRecord:
        return self._by_id()[node_id]

    def children(self, node_id: int) -> list[NodeRecord]:
        return [n for n in self.nodes if n.parent == node_id]

    def best_nodes(self) -> list[NodeRecord]:
        by_id = self._by_id()
        return [by_id[i] for i in self.best_path]

    def _by_id(self) -> dict[int, NodeRecord]:
        return {n.id: n for n in self.nodes}

    # ---- plain dicts ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "algorithm": self.algorithm,
            "settings": self.settings,
            "cum_reward": self.cum_reward,
            "best_path": list(self.best_path),
            "beam": list(self.beam),
            "depth_increase": self.depth_increase,
            "iterations": [
                {"path": list(it.path), "cum_reward": it.cum_reward} for it in self.iterations
            ],
            "meta": self.meta,
            "nodes": [
                {name: getattr(n, name) for name in NodeRecord.__dataclass_fields__}
                for n in self.nodes
            ],
        }

    @classmethod
    def from_dict(cls, data: Any) -> TreeRecord:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise TreeFormatError(f"not a search tree file (expected format {FORMAT!r})")
        if data.get("version") != VERSION:
            raise TreeFormatError(
                f"unsupported tree file version {data.get('version')!r} (this reader: {VERSION})"
            )
        try:
            nodes = tuple(NodeRecord(**n) for n in data["nodes"])
            iterations = tuple(
                IterationRecord(tuple(it["path"]), it["cum_reward"]) for it in data["iterations"]
            )
            record = cls(
                algorithm=data["algorithm"],
                settings=data["settings"],
                cum_reward=data["cum_reward"],
                best_path=tuple(data["best_path"]),
                nodes=nodes,
                iterations=iterations,
                beam=tuple(data["beam"]),
                depth_increase=data["depth_increase"],
                meta=data["meta"],
            )
        except (KeyError, TypeError) as exc:
            raise TreeFormatError(f"malformed search tree file: {exc}") from None
        known = {n.id for n in nodes}
        dangling = [n.id for n in nodes if n.parent is not None and n.parent not in known]
        missing = [i for i in record.best_path if i not in known]
        if dangling or missing:
            raise TreeFormatError(
                "malformed search tree file: node ids "
                f"{sorted(dangling + missing)[:5]} refer to nodes that are not in the file"
            )
        return record


def dumps(record: TreeRecord) -> str:
    """The record as JSON text (strict JSON: no NaN or Infinity)."""
    return json.dumps(record.to_dict(), ensure_ascii=False, indent=1, allow_nan=False) + "\n"


def loads(text: str) -> TreeRecord:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TreeFormatError(f"not valid JSON (truncated?): {exc}") from None
    return TreeRecord.from_dict(data)


def load(path: str | Path) -> TreeRecord:
    """Read an output.json file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TreeFormatError(f"{path}: not UTF-8 text ({exc.reason})") from None
    return loads(text)
