"""The package as a user installs it: a wheel built from the source, installed into a fresh
virtual environment (not editable), run from a folder outside the checkout. Every method
runs once on the simulated LLM through the `prompt-search` console script, the visualiser
through `prompt-search-viz`, and the Python API through `import drpo`.

The fresh environment finds its dependencies among the test environment's packages (a .pth
file), so nothing is downloaded; the wheel itself is installed without them, and the test
checks that `drpo` is imported from the wheel, not from the checkout.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.oirl_helpers import tiny_svamp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("drpo", "world_model", "search")
SOURCE_FILES = ("pyproject.toml", "README.md")


def _run(command: Sequence[str | Path], *, cwd: Path, timeout: float = 300) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONNOUSERSITE"] = "1"
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip
    assert done.returncode == 0, (
        f"{' '.join(map(str, command))} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


def _package_files() -> set[str]:
    """Every file of the packages that is not Python source: what the methods read."""
    out = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            skip = path.suffix in (".py", ".pyc") or "__pycache__" in path.parts
            if path.is_file() and not skip:
                out.add(path.relative_to(ROOT).as_posix())
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed; returns its bin folder."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"  # a clean copy: the build leaves nothing in the checkout
    source.mkdir()
    for name in SOURCE_FILES:
        shutil.copy2(ROOT / name, source / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-w", base / "dist",
          source], cwd=base)  # fmt: skip
    (wheel,) = (base / "dist").glob("prompt_search-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    missing = _package_files() - names
    assert not missing, f"files the methods read are not in the wheel: {sorted(missing)}"
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=base)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    # The dependencies: this environment's packages, after the venv's own (a plain path
    # line runs no .pth of that folder, so an editable install of the checkout stays out).
    site = _run([bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_paths()"
                 "['purelib'])"], cwd=base).strip()  # fmt: skip
    ours = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (Path(site) / "test_dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    _run([bin_dir / "python", "-m", "pip", "install", "--no-deps", "--no-index",
          "--force-reinstall", "--disable-pip-version-check", "-q", wheel], cwd=base)  # fmt: skip
    return bin_dir


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working folder outside the checkout."""
    folder = tmp_path / "user"
    folder.mkdir()
    return folder


def test_the_wheel_is_imported_not_the_checkout(installed: Path, elsewhere: Path) -> None:
    out = _run([installed / "python", "-c", "import drpo, search, world_model; "
                "print(drpo.__file__); print(search.__file__); print(world_model.__file__)"],
               cwd=elsewhere)  # fmt: skip
    venv = installed.parent.resolve()
    for line in out.splitlines():
        assert Path(line).resolve().is_relative_to(venv), line


def test_prompt_search_with_no_settings_runs_promptagent_on_its_demo_task(
    installed: Path, elsewhere: Path
) -> None:
    out = _run([installed / "prompt-search", "--method", "promptagent", "--disable_tqdm"],
               cwd=elsewhere)  # fmt: skip
    assert "PromptAgent on task demo_task ran on the simulated LLM" in out
    (log_dir,) = (elsewhere / "logs").iterdir()
    summary = json.loads((log_dir / "summary.json").read_text())
    assert summary["method"] == "promptagent" and summary["simulated"] is True
    assert (log_dir / "best_prompt.txt").read_text().strip() == summary["final_prompt"].strip()


# Each method once, small, on the simulated LLM: what it must write.
SMALL = ["--eval_size", "10", "--test_size", "10"]
METHOD_RUNS = {
    "drpo": (["--depth", "2", "--test_size", "2"], "best_system_prompt.txt"),
    "promptagent": (["--n_iters", "2", *SMALL], "best_prompt.txt"),
    "gpo": (["--depth", "2", *SMALL], "best_prompt.txt"),
    "ape": (SMALL, "best_prompt.txt"),
    "opro": (["--depth", "2", *SMALL], "best_prompt.txt"),
    "protegi": (["--depth", "2", *SMALL], "best_prompt.txt"),
    "toy": ([], "algo_output/output.json"),
}


@pytest.mark.parametrize("method", sorted(METHOD_RUNS))
def test_each_method_runs_from_the_wheel(installed: Path, elsewhere: Path, method: str) -> None:
    flags, artefact = METHOD_RUNS[method]
    log_dir = elsewhere / "run"
    _run([installed / "prompt-search", "--method", method, "--log_dir", log_dir,
          "--disable_tqdm", *flags], cwd=elsewhere)  # fmt: skip
    assert (log_dir / artefact).is_file()
    assert (log_dir / "args.txt").is_file()
    if method != "toy":
        assert json.loads((log_dir / "summary.json").read_text())["simulated"] is True
    _run([installed / "prompt-search-viz", log_dir], cwd=elsewhere)
    assert "<html" in (log_dir / "tree.html").read_text(encoding="utf-8").lower()


def test_prompt_oirl_runs_from_the_wheel(installed: Path, elsewhere: Path) -> None:
    logs = tiny_svamp(elsewhere / "svamp", n=12, held_out_n=4)
    log_dir = elsewhere / "oirl"
    out = _run([installed / "prompt-search", "--method", "oirl", "--oirl_logs", logs,
                "--oirl_models", "linear", "--oirl_n_boot", "200",
                "--log_dir", log_dir, "--disable_tqdm"], cwd=elsewhere)  # fmt: skip
    assert "Prompt-OIRL on" in out
    assert (log_dir / "results.json").is_file()


def test_the_python_api_runs_from_the_wheel(installed: Path, elsewhere: Path) -> None:
    from drpo.methods.tasks import DEMO_TASK

    shutil.copy2(DEMO_TASK, elsewhere / "reviews.jsonl")
    script = (
        "import drpo\n"
        "task = drpo.Task.from_jsonl('reviews.jsonl', eval_size=10, test_size=10, seed=0)\n"
        "r = drpo.optimize('promptagent', task, model='sim', log_dir='logs/api', n_iters=2,\n"
        "                  verbose=False)\n"
        "print(r.final_accuracy, r.log_dir)\n"
    )
    out = _run([installed / "python", "-c", script], cwd=elsewhere)
    accuracy, log_dir = out.split()
    assert 0.0 <= float(accuracy) <= 1.0
    assert (elsewhere / log_dir / "summary.json").is_file()
