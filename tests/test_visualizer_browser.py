"""tree.html in a real headless Chromium (Debian's chromium and chromium-driver; .ci/run
installs them when missing): it loads offline without console errors, draws one element per
node, highlights the best path, shows a node's details on click, and runs no LLM text."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from drpo_helpers import drpo_pieces
from prerequisites import CHROMEDRIVER, CHROMIUM, skip_without_chromium
from test_visualizer import EVIL, evil_record

from drpo.visualize.cli import main as visualize
from search import MCTS, BeamSearch, save_artifacts
from world_model import Reasoner

skip_without_chromium()
DRIVER = CHROMEDRIVER

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    flags = (
        "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage "
        "--disable-background-networking --disable-component-update --disable-sync "
        "--no-first-run"
    )
    for arg in [*flags.split(), f"--user-data-dir={tempfile.mkdtemp()}"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def _drpo_run(tmp: Path, algorithm: Any) -> tuple[Path, Any]:
    from drpo.methods.drpo.data import DEMO_DATA_DIR, load_training_queries

    world, config, _ = drpo_pieces()
    result = Reasoner(world, config, algorithm)(
        load_training_queries(DEMO_DATA_DIR, num_examples=36, seed=0)
    )
    save_artifacts(result, tmp / "algo_output", meta={"method": "drpo", "simulated": True})
    assert visualize([str(tmp)]) == 0
    return tmp / "tree.html", result


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any]]:
    return {
        "drpo-beam": _drpo_run(
            tmp_path_factory.mktemp("beam"), BeamSearch(beam_size=2, max_depth=6)
        ),
        "promptagent-mcts": _drpo_run(
            tmp_path_factory.mktemp("mcts"),
            MCTS.for_promptagent(n_iters=5, depth_limit=4, min_depth=1),
        ),
    }


def _open(browser: Any, page: Path) -> None:
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(page.as_uri())
    assert browser.execute_script("return document.body.getAttribute('data-rendered')") == "1"


@pytest.mark.parametrize("name", ["drpo-beam", "promptagent-mcts"])
def test_the_page_draws_the_tree_and_its_best_path(browser: Any, runs: dict, name: str) -> None:
    page, result = runs[name]
    _open(browser, page)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    nodes = browser.find_elements(By.CSS_SELECTOR, "#tree .node")
    assert len(nodes) == len(result.nodes())
    best = [
        int(n.get_attribute("data-id"))
        for n in browser.find_elements(By.CSS_SELECTOR, "#tree .node.best")
    ]
    assert sorted(best) == sorted(n.id for n in result.trace_of_nodes)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#tree .edge.best")) == len(best) - 1
    assert len(browser.find_elements(By.CSS_SELECTOR, "#charts svg")) >= 2


@pytest.mark.parametrize("name", ["drpo-beam", "promptagent-mcts"])
def test_clicking_a_node_shows_its_details(browser: Any, runs: dict, name: str) -> None:
    page, result = runs[name]
    _open(browser, page)
    node = result.trace_of_nodes[2]
    browser.execute_script(
        "document.querySelector(`#tree .node[data-id='${arguments[0]}']`)"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true}))",
        node.id,
    )
    panel = browser.find_element(By.ID, "details").text
    assert f"Node {node.id} (depth {node.depth})" in panel
    assert node.state.last.query in panel
    for aspect in node.state.last.aspects:
        assert aspect in panel
    assert browser.find_elements(By.CSS_SELECTOR, "#details .diff .ins"), "the prompt diff is shown"
    if name == "promptagent-mcts":
        assert "visits" in panel and "Q:" in panel


def test_llm_text_is_shown_never_run(browser: Any, tmp_path: Path) -> None:
    record = evil_record()
    from drpo.visualize.page import render_page
    from drpo.visualize.page_data import page_data

    page = tmp_path / "evil.html"
    page.write_text(render_page(page_data(record)), encoding="utf-8")
    _open(browser, page)
    for node in record.nodes:
        browser.execute_script(
            "document.querySelector(`#tree .node[data-id='${arguments[0]}']`)"
            ".dispatchEvent(new MouseEvent('click', {bubbles: true}))",
            node.id,
        )
        assert browser.execute_script("return window.__pwned === undefined")
    panel = browser.find_element(By.ID, "details").text
    assert "</script><script>window.__pwned=1</script>" in panel and "javascript:alert(1)" in panel
    assert EVIL.split(">")[0] in panel
    assert browser.find_elements(By.CSS_SELECTOR, "#details img") == []


# ---- legible at 1400x1000: the default DRPO run's beam tree and PromptAgent's MCTS tree -----
@pytest.fixture(scope="module")
def method_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """tree.html of `python train.py` (DRPO, beam search, depth 20) and of `--method
    promptagent` (MCTS), on the simulated LLM."""
    from drpo.cli import main as train

    pages = {}
    for name, argv in (("drpo-beam", []), ("promptagent-mcts", ["--method", "promptagent"])):
        log_dir = tmp_path_factory.mktemp(name) / "run"
        assert train(["--disable_tqdm", *argv, "--log_dir", str(log_dir)]) == 0
        assert visualize([str(log_dir)]) == 0
        pages[name] = log_dir / "tree.html"
    return pages


def _at_1400_by_1000(browser: Any, page: Path) -> None:
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
    )
    _open(browser, page)


LABEL_BOXES = """
return [...document.querySelectorAll('#tree .edge-label')].map(t => {
  const r = t.getBoundingClientRect();
  return {text: t.textContent, x: r.left, y: r.top, w: r.width, h: r.height,
          shown: getComputedStyle(t).display !== 'none'};
});
"""


@pytest.mark.parametrize("name", ["drpo-beam", "promptagent-mcts"])
def test_every_reward_label_is_readable_and_clear_of_the_others(
    browser: Any, method_runs: dict[str, Path], name: str
) -> None:
    _at_1400_by_1000(browser, method_runs[name])
    try:
        boxes = browser.execute_script(LABEL_BOXES)
        assert len(boxes) > 10 and all(b["shown"] for b in boxes)
        assert min(b["h"] for b in boxes) >= 11, "labels at least 11 screen pixels high"
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                apart = (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                         or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"])  # fmt: skip
                assert apart, f"labels {a} and {b} overlap"
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_header_explains_the_path_value_and_the_panel_rounds_it(
    browser: Any, method_runs: dict[str, Path]
) -> None:
    _open(browser, method_runs["promptagent-mcts"])
    header = browser.find_element(By.CSS_SELECTOR, "header .meta").text
    assert ("best path value 2.5 (the sum of the rewards along the path, each an eval "
            "accuracy, so not itself an accuracy)") in header  # fmt: skip
    _open(browser, method_runs["drpo-beam"])
    header = browser.find_element(By.CSS_SELECTOR, "header .meta").text
    assert "(the mean of the rewards along the path, each a judge score from 1 to 5)" in header
    panel = browser.find_element(By.ID, "details").text  # the best path's last node
    tree = json.loads((method_runs["drpo-beam"].parent / "algo_output" / "output.json")
                      .read_text(encoding="utf-8"))  # fmt: skip
    last = next(n for n in tree["nodes"] if n["id"] == tree["best_path"][-1])
    assert last["cum_reward"] != round(last["cum_reward"], 3)  # there is something to round
    assert f"path value: {round(last['cum_reward'], 3):g}\n" in panel


def test_an_unchanged_prompt_says_so_instead_of_repeating_its_text(
    browser: Any, method_runs: dict[str, Path]
) -> None:
    _open(browser, method_runs["drpo-beam"])  # its last node keeps its parent's prompt
    panel = browser.find_element(By.ID, "details").text
    assert "change from the parent's prompt: none (the same prompt as the parent's)" in panel
    assert browser.find_elements(By.CSS_SELECTOR, "#details .diff") == []
