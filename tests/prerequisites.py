"""What some tests need beyond the package, and the skips, with the reason and how to get
it, when it is absent: the project's data (`../shared/data` beside the checkout, or the
folder named by the environment variable PROMPT_SEARCH_DATA), and a headless browser
(Debian's chromium and chromium-driver, for the pages' browser tests)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ENV = "PROMPT_SEARCH_DATA"
REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get(ENV) or REPO.parent / "shared" / "data")
BIGBENCH = DATA / "bigbench"
DRPO_DATA = DATA / "drpo"


def absent(*parts: str) -> str | None:
    """Why a test needing these parts of the data cannot run (None when all are there)."""
    for part in parts:
        path = DATA / part
        if not path.exists():
            return (f"needs the project's data: {path} is absent (put the data folder at "
                    f"../shared/data beside the checkout, or set {ENV} to it)")  # fmt: skip
    return None


def needs_data(*parts: str) -> pytest.MarkDecorator:
    """Skip the test, with the reason, when one of `parts` (e.g. "bigbench") is absent."""
    reason = absent(*parts)
    return pytest.mark.skipif(reason is not None, reason=reason or "")


CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
NO_BROWSER = (
    "needs a headless browser: chromium and chromedriver are not on PATH (Debian: sudo "
    "apt-get install chromium chromium-driver)"
)


def skip_without_chromium() -> None:
    """Skip the calling test module, with the reason and the install command, when chromium
    or chromedriver is missing; under CI (CI set) their absence is an error instead."""
    if CHROMIUM and CHROMEDRIVER:
        return
    if os.environ.get("CI"):
        raise RuntimeError(f"CI {NO_BROWSER.removeprefix('needs')}")
    pytest.skip(NO_BROWSER, allow_module_level=True)
