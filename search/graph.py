"""Export of a search tree to networkx."""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from search.result import SearchResult
from search.tree_json import TreeRecord

if TYPE_CHECKING:
    import networkx as nx


def to_networkx(tree: Union[SearchResult, TreeRecord]) -> nx.DiGraph:
    """A DiGraph with one node per search node (its record fields as attributes, plus
    ``best``: on the best path) and an edge from each parent to each child (with ``action``
    and ``reward``). Graph attributes: algorithm, cum_reward, best_path."""
    import networkx as nx

    record = tree if isinstance(tree, TreeRecord) else TreeRecord.from_result(tree)
    best = set(record.best_path)
    graph = nx.DiGraph(
        algorithm=record.algorithm, cum_reward=record.cum_reward, best_path=list(record.best_path)
    )
    for node in record.nodes:
        attrs = {name: getattr(node, name) for name in node.__dataclass_fields__}
        graph.add_node(node.id, **attrs, best=node.id in best)
        if node.parent is not None:
            graph.add_edge(node.parent, node.id, action=node.action, reward=node.reward)
    return graph
