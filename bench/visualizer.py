"""How fast tree.html renders a large tree, in headless Chromium.

    python -m bench.visualizer [--nodes 2000]

Builds a toy MCTS tree of at least `--nodes` nodes, writes its page, opens it in Debian's
chromium (through chromedriver) and reports the time from navigation to the finished drawing
(target: under 2 s for 2,000 nodes), and the time of the page's own drawing code.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from drpo.visualize.page import render_page
from drpo.visualize.page_data import page_data
from search import MCTS, TreeRecord
from world_model.toy import prompt_building, random_guidance


def build(min_nodes: int) -> TreeRecord:
    world, config = prompt_building(random_guidance(12, seed=1), depth=8)
    n_iters = 50
    for _ in range(8):
        result = MCTS(n_iters=n_iters, depth_limit=8, w_exp=3.0, cum_reward="mean")(world, config)
        if len(result.nodes()) >= min_nodes:
            break
        n_iters = int(n_iters * min_nodes / len(result.nodes()) * 1.1) + 1
    return TreeRecord.from_result(result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2000)
    args = parser.parse_args(argv)
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        print(
            "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
        )
        return 1
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    record = build(args.nodes)
    start = time.perf_counter()
    html = render_page(page_data(record))
    build_s = time.perf_counter() - start
    page = Path(tempfile.mkdtemp()) / "tree.html"
    page.write_text(html, encoding="utf-8")

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--no-first-run",
                 f"--user-data-dir={tempfile.mkdtemp()}"):  # fmt: skip
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        timings = []
        for _ in range(3):
            browser.get(page.as_uri())
            timings.append(
                browser.execute_script(
                    "return [performance.now(), window.__renderMs,"
                    " document.querySelectorAll('#tree .node').length]"
                )
            )
    finally:
        browser.quit()
    load_ms = min(t[0] for t in timings)
    draw_ms = min(t[1] for t in timings)
    print(f"{len(record.nodes)} nodes, page {len(html) / 1e6:.1f} MB, built in {build_s:.2f} s")
    print(f"navigation to drawn: {load_ms / 1000:.2f} s (best of 3; target under 2 s: "
          f"{'met' if load_ms < 2000 else 'NOT met'}); drawing code: {draw_ms / 1000:.2f} s; "
          f"{timings[0][2]} node elements")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
