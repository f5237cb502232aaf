"""The arena's report.html in a real headless Chromium: it loads offline without console
errors, shows its provenance label, and draws both pictures of each task at a legible size."""

from __future__ import annotations

import tempfile
from pathlib import Path

from prerequisites import CHROMEDRIVER, CHROMIUM, skip_without_chromium

from bench.arena.cli import main

skip_without_chromium()
DRIVER = CHROMEDRIVER

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402


def test_the_report_draws_its_figures_in_chromium(tmp_path: Path) -> None:
    out = tmp_path / "grid"
    args = ["--out", str(out), "--methods", "promptagent", "gpo", "--seeds", "0",
            "--budget_calls", "150", "--test_size", "10", "--eval_size", "10"]  # fmt: skip
    assert main(args) == 0
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    flags = ("--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage "
             "--disable-background-networking --no-first-run")  # fmt: skip
    for arg in [*flags.split(), f"--user-data-dir={tempfile.mkdtemp()}"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        driver.set_window_size(1280, 1000)
        driver.get((out / "report.html").as_uri())
        label = driver.find_element(By.CSS_SELECTOR, ".label.simulated")
        assert label.is_displayed() and "SIMULATED" in label.text
        figures = driver.find_elements(By.CSS_SELECTOR, ".figures svg")
        assert len(figures) == 2
        for figure in figures:
            assert figure.size["width"] >= 600 and figure.size["height"] >= 300
            assert "SIMULATED LLM" in figure.text
        lines = driver.find_elements(By.CSS_SELECTOR, ".figures svg polyline")
        assert len(lines) == 2  # one anytime curve per method
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == []
    finally:
        driver.quit()
