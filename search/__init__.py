"""Search algorithms over `world_model` worlds, the search tree, and its artefacts.

Depends only on `world_model` (and numpy; networkx when exporting a graph).
"""

from search.artifacts import ArtifactPaths, load_result, save_artifacts
from search.beam import BeamSearch, Greedy
from search.best_of_n import BestOfN
from search.graph import to_networkx
from search.mcts import MCTS, MCTSContext, MCTSRules
from search.mcts_variants import PromptAgentRules, promptagent_mcts
from search.node import SearchNode
from search.result import BeamSearchResult, MCTSIteration, MCTSResult, SearchResult
from search.trace_text import render_trace
from search.tree_json import NodeRecord, TreeFormatError, TreeRecord

__all__ = [
    "MCTS",
    "ArtifactPaths",
    "BeamSearch",
    "BeamSearchResult",
    "BestOfN",
    "Greedy",
    "MCTSContext",
    "MCTSIteration",
    "MCTSResult",
    "MCTSRules",
    "NodeRecord",
    "PromptAgentRules",
    "SearchNode",
    "SearchResult",
    "TreeFormatError",
    "TreeRecord",
    "load_result",
    "promptagent_mcts",
    "render_trace",
    "save_artifacts",
    "to_networkx",
]
