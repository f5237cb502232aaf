"""The visualiser's data, page source, terminal tables and CLI (no browser needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tree_worlds import TreeConfig, TreeWorld

from drpo.text_diff import word_diff
from drpo.visualize.page import embed_json, render_page
from drpo.visualize.page_data import layout, page_data, prompt_of
from drpo.visualize.reasoners_format import tree_log
from drpo.visualize.terminal import compare_table, trace_table
from search import MCTS, BeamSearch, TreeRecord, save_artifacts
from search.tree_json import NodeRecord
from world_model.toy import prompt_building

REPO = Path(__file__).resolve().parents[1]
EVIL = (
    "</script><script>window.__pwned=1</script>"
    '<img src=x onerror="window.__pwned=1"> javascript:alert(1)'
)


class EvilConfig(TreeConfig):
    """Rewards whose details and states carry markup."""

    def fast_reward(self, state, action):
        return 0.0, {}

    def reward(self, state, action, **kwargs):
        return 0.5, {"note": EVIL}


class EvilWorld(TreeWorld):
    def init_state(self):
        return {"system_prompt": "start", "query": EVIL}

    def step(self, state, action):
        return {"system_prompt": f"{state['system_prompt']} {EVIL}", "query": EVIL,
                "output": EVIL, "scores": {"Clarity": 3}}, {}  # fmt: skip

    def is_terminal(self, state):
        return state["system_prompt"].count("script") >= 6


def evil_record() -> TreeRecord:
    result = BeamSearch(beam_size=2, max_depth=3)(
        EvilWorld(branching=2, depth=3), EvilConfig(branching=2)
    )
    return TreeRecord.from_result(result, meta={"method": EVIL, "simulated": True})


def test_layout_puts_parents_above_their_children() -> None:
    world, config = prompt_building(depth=3)
    record = TreeRecord.from_result(BeamSearch(beam_size=2, max_depth=3)(world, config))
    positions = layout(record)
    assert len(positions) == len(record.nodes)
    for node in record.nodes:
        kids = [positions[c.id][0] for c in record.children(node.id)]
        if kids:  # in order, the parent above their middle
            assert kids == sorted(kids) and positions[node.id][0] == (kids[0] + kids[-1]) / 2
        assert positions[node.id][1] == node.depth
    for level in {n.depth for n in record.nodes}:  # no two nodes of a level closer than 1
        xs = sorted(positions[n.id][0] for n in record.nodes if n.depth == level)
        assert all(b - a >= 1 for a, b in zip(xs, xs[1:]))
    assert min(x for x, _ in positions.values()) == 0


def _node(node: int, parent: int | None, depth: int) -> NodeRecord:
    return NodeRecord(id=node, parent=parent, depth=depth, action=None, state=f"prompt {node}",
                      expanded=True, is_terminal=False, reward=1.0, reward_details={},
                      fast_reward=None, fast_reward_details={}, visits=0, q=None,
                      cum_reward=None)  # fmt: skip


def test_a_deep_path_with_short_side_branches_stays_narrow() -> None:
    """A tree like DRPO's beam (one long path, a leaf beside each step) takes half a column
    per step (each parent above its two children's middle), not a column per leaf."""
    nodes, parent = [], None
    for step in range(30):
        for node in (2 * step, 2 * step + 1) if step else (0,):
            nodes.append(_node(node, parent, step))
        parent = 2 * step
    record = TreeRecord(algorithm="BeamSearch", settings={}, cum_reward=1.0, best_path=(0, 2),
                        nodes=tuple(nodes))  # fmt: skip
    positions = layout(record)
    assert max(x for x, _ in positions.values()) == 15  # 30 leaves


def test_page_data_carries_details_best_path_and_series() -> None:
    world, config = prompt_building(depth=3)
    result = MCTS(n_iters=8, depth_limit=3)(world, config)
    data = page_data(TreeRecord.from_result(result))
    assert len(data["nodes"]) == len(result.nodes())
    assert [n["id"] for n in data["nodes"] if n["best"]] == [n.id for n in result.trace_of_nodes]
    leaf = next(n for n in data["nodes"] if n["id"] == result.terminal_node.id)
    assert leaf["details"]["visits"] == result.terminal_node.visits
    assert leaf["details"]["prompt"] == " ".join(result.terminal_state)
    assert len(data["series"]["rewards"]) == 3
    assert len(data["series"]["iterations"]["return of the iteration"]) == 8
    best_so_far = [y for _, y in data["series"]["iterations"]["best node reward so far"]]
    assert best_so_far == sorted(best_so_far)


def test_word_diff_and_prompt_extraction() -> None:
    ops = word_diff("Be brief. Be kind.", "Be brief. Be very kind.")
    assert ["ins", "very "] in ops and "".join(
        t for op, t in ops if op != "del"
    ) == "Be brief. Be very kind."
    assert prompt_of({"system_prompt": "a"}) == "a" and prompt_of(["x", "y"]) == "x y"
    assert prompt_of("p") == "p"


def test_embedded_json_cannot_close_the_script() -> None:
    text = embed_json({"t": EVIL + "\u2028&"})
    assert "</script" not in text and "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"t": EVIL + "\u2028&"}


def test_the_page_source_holds_no_live_markup_from_the_run() -> None:
    html = render_page(page_data(evil_record()))
    assert html.count("<script") == 2  # the data block and our own code
    before_data = html.split('id="tree-data">')[0]
    assert "<img" not in before_data and "&lt;img src=x onerror=" in before_data  # as text
    assert "<script>window" not in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html


def test_trace_and_compare_tables() -> None:
    world, config = prompt_building(depth=3)
    a = TreeRecord.from_result(BeamSearch(beam_size=2, max_depth=3)(world, config))
    b = TreeRecord.from_result(BeamSearch(beam_size=1, max_depth=2)(world, config))
    table = trace_table(a)
    assert "step" in table and "reward" in table and len(table.splitlines()) == 2 + 4
    both = compare_table(a, b, ("wide", "narrow"))
    assert "wide" in both and "narrow" in both and "mean" in both


def test_reasoners_tree_log_format() -> None:
    world, config = prompt_building(depth=2)
    result = MCTS(n_iters=6, depth_limit=2)(world, config)
    log = tree_log(TreeRecord.from_result(result))
    (snapshot,) = log["logs"]
    assert len(snapshot["nodes"]) == len(result.nodes())
    assert len(snapshot["edges"]) == len(result.nodes()) - 1
    best = [n.id for n in result.trace_of_nodes]
    for parent, child in zip(best, best[1:]):
        edge = snapshot["edges"][str(snapshot["nodes"][str(parent)]["selected_edge"])]
        assert edge["source"] == parent and edge["target"] == child and "Q" in edge["data"]
    pytest.importorskip("reasoners.visualization")
    from reasoners.visualization.tree_snapshot import TreeSnapshot

    nodes = [TreeSnapshot.Node(**n) for n in snapshot["nodes"].values()]
    edges = [TreeSnapshot.Edge(**e) for e in snapshot["edges"].values()]
    assert len(TreeSnapshot(nodes, edges).nodes) == len(nodes)  # their own checks pass


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(REPO / "visualize_log.py"), *args],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip


def test_cli_writes_the_page_the_trace_and_the_tree_log(tmp_path: Path) -> None:
    world, config = prompt_building(depth=3)
    save_artifacts(BeamSearch(beam_size=2, max_depth=3)(world, config), tmp_path / "algo_output")
    out = run_cli(str(tmp_path))
    assert out.returncode == 0 and (tmp_path / "tree.html").is_file()
    assert run_cli(str(tmp_path), "--trace").stdout.count("\n") >= 5
    assert run_cli(str(tmp_path), "--compare", str(tmp_path)).returncode == 0
    assert run_cli(str(tmp_path), "--format", "reasoners").returncode == 0
    assert json.loads((tmp_path / "tree_log.json").read_text())["logs"]
    assert run_cli(str(tmp_path), "--pickle", "--out", str(tmp_path / "p.html")).returncode == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "has no algo_output/output.json"),
        ('{"format": "prompt-search.tree", "version": 1, "nodes": [', "truncated"),
        ('{"format": "prompt-search.tree", "version": 7}', "unsupported tree file version 7"),
        ("[]", "not a search tree file"),
    ],
)
def test_bad_log_dirs_get_one_line_and_exit_2(tmp_path: Path, content, message: str) -> None:
    if content is not None:
        (tmp_path / "algo_output").mkdir()
        (tmp_path / "algo_output/output.json").write_text(content)
    out = run_cli(str(tmp_path))
    assert out.returncode == 2 and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_a_missing_log_dir(tmp_path: Path) -> None:
    out = run_cli(str(tmp_path / "nope"))
    assert out.returncode == 2 and "does not exist" in out.stderr


# ---- what the terminal tables and the header say about real runs -------------------------
def _run(tmp_path: Path, name: str, *args: str, judge=None, monkeypatch=None) -> Path:
    from drpo.cli import main

    if judge is not None:
        from drpo.methods.drpo import sim as drpo_sim

        monkeypatch.setattr(drpo_sim, "judge", judge)
    main(["--log_dir", str(tmp_path / name), "--disable_tqdm", *args])
    return tmp_path / name


def test_the_trace_picks_its_columns_by_method(tmp_path: Path, capsys) -> None:
    from drpo.visualize.cli import main as visualize

    run = _run(tmp_path, "pa", "--method", "promptagent", "--n_iters", "2", "--depth", "2")
    capsys.readouterr()
    assert visualize([str(run), "--trace"]) == 0
    table = capsys.readouterr().out
    assert "eval acc" in table and "feedback" in table and "errors" in table
    assert "aspects" not in table and "None" not in table


def test_the_trace_says_what_its_value_and_its_numbers_are(tmp_path: Path, capsys) -> None:
    from drpo.visualize.cli import main as visualize

    pa = _run(tmp_path, "pa", "--method", "promptagent", "--n_iters", "2", "--depth", "2")
    drpo = _run(tmp_path, "drpo", "--depth", "2")
    capsys.readouterr()
    assert visualize([str(pa), "--trace"]) == 0
    first, head = capsys.readouterr().out.splitlines()[:2]
    assert first.startswith("MCTS: best path, value ")
    assert first.endswith("(the sum of the rewards along the path, each an eval accuracy, so "
                          "not itself an accuracy)")  # fmt: skip
    assert head.endswith(" prompt chars")
    assert visualize([str(drpo), "--trace"]) == 0
    first, head = capsys.readouterr().out.splitlines()[:2]
    assert first.endswith("(the mean of the rewards along the path, each a judge score from 1 "
                          "to 5)")  # fmt: skip
    assert head.endswith(" prompt chars")
    assert visualize([str(drpo), "--compare", str(pa)]) == 0
    assert capsys.readouterr().out.splitlines()[0].count("prompt chars") == 2


def test_a_node_that_keeps_its_parents_prompt_is_marked_unchanged() -> None:
    same, more = (NodeRecord(**{**vars(_node(i, 0, 1)), "state": text})
                  for i, text in ((1, "prompt 0"), (2, "prompt 0 and more")))  # fmt: skip
    nodes = (_node(0, None, 0), same, more)
    record = TreeRecord(algorithm="BeamSearch", settings={}, cum_reward=1.0, best_path=(0, 1),
                        nodes=nodes)  # fmt: skip
    details = {n["id"]: n["details"] for n in page_data(record)["nodes"]}
    assert details[1].get("unchanged") is True and details[1]["diff"] == []
    assert "unchanged" not in details[2]
    assert details[2]["diff"] == [["same", "prompt 0"], ["ins", " and more"]]


def test_an_errored_step_shows_its_error_not_a_bare_zero(tmp_path, capsys, monkeypatch) -> None:
    from drpo.visualize.cli import main as visualize

    run = _run(tmp_path, "broken", "--depth", "2", judge=lambda request: "Nice answer!",
               monkeypatch=monkeypatch)  # fmt: skip
    capsys.readouterr()
    assert visualize([str(run), "--trace"]) == 0
    table = capsys.readouterr().out
    assert "not evaluated: the judge gave no usable evaluation" in table
    assert "0.000" not in table.split("\n", 2)[2]  # no step row claims a score of 0


def test_compare_averages_the_rows_it_shows(tmp_path: Path, capsys) -> None:
    from drpo.visualize.cli import main as visualize
    from drpo.visualize.terminal import trace_rows
    from search import tree_json

    a = _run(tmp_path, "a", "--depth", "3")
    b = _run(tmp_path, "b", "--depth", "2", "--seed", "1")
    capsys.readouterr()
    assert visualize([str(a), "--compare", str(b)]) == 0
    mean_line = next(line for line in capsys.readouterr().out.splitlines()
                     if line.startswith("mean"))  # fmt: skip
    rows = trace_rows(tree_json.load(a / "algo_output/output.json"))
    shown = sum(r["reward"] for r in rows) / len(rows)
    assert mean_line.split()[1] == f"{shown:.3f}"


def test_the_page_header_says_a_default_run_is_simulated(tmp_path: Path) -> None:
    from drpo.visualize.cli import main as visualize

    run = _run(tmp_path, "default", "--depth", "2")
    assert visualize([str(run)]) == 0
    page = (run / "tree.html").read_text()
    header = page[page.index("<header>") : page.index("</header>")]
    assert "Simulated LLM: these results are simulated." in header and "simulated: True" in header
