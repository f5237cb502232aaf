"""Every command in README.md and docs/ runs, so that the documentation cannot drift from the code.

Each page's ```bash and ```python blocks run in order, in one scratch folder per page (so a
page's later commands see what its earlier ones wrote), with `../shared` beside it pointing at
the real data, the checkout on PYTHONPATH and `train.py` / `visualize_log.py` at hand.
`LOG_DIR` and `LOG_DIR2` stand for finished runs of the simulated LLM.

A block that cannot run here says why in a marker on the line before its fence:

- `<!-- docs-test: setup -->`: set-up commands; `.ci/run` runs them in a fresh virtualenv;
- `<!-- docs-test: real-model -->`: needs a real model (`bench.real_smoke` runs the real path);
- `<!-- docs-test: ray -->`: needs a Ray cluster (tests/test_jobs_ray.py runs the Ray path);
- `<!-- docs-test: server -->`: starts a server that runs until stopped (its tests start it);
- `<!-- docs-test: fragment -->`: a piece of code shown for its shape, not a program.

A block with a title (```` ```python title="pkg/module.py" ````) is a file: it is written into
the scratch folder for the page's later blocks to use.

A block that needs `../shared/data` is skipped, with that reason, where the data is missing
(tests/prerequisites.py: `PROMPT_SEARCH_DATA` names another folder).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from prerequisites import DATA, absent

ROOT = Path(__file__).resolve().parents[1]
MARKERS = {"setup", "real-model", "ray", "server", "fragment"}
FENCE = re.compile(r'^```(bash|python)(?:\s+title="([^"]+)")?\s*$')
MARKER = re.compile(r"^<!--\s*docs-test:\s*([\w-]+)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page: its language, first line number, text and marker; a
    block with a `title="path"` is a file the page's later blocks use."""

    page: str
    line: int
    language: str
    text: str
    marker: str | None
    file: str | None = None


def pages() -> list[Path]:
    """README.md and every docs page (not the unpublished `docs/_incoming`)."""
    found = [ROOT / "README.md"]
    found += sorted(p for p in (ROOT / "docs").rglob("*.md") if "_incoming" not in p.parts)
    return found


def blocks(page: Path) -> list[Block]:
    """The runnable blocks of `page`, in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        marker = None
        if i > 0 and (m := MARKER.match(lines[i - 1].strip())):
            marker = m.group(1)
        end = i + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        text = "\n".join(lines[i + 1 : end])
        out.append(Block(str(page.relative_to(ROOT)), i + 1, fence.group(1), text, marker,
                         fence.group(2)))  # fmt: skip
        i = end + 1
    return out


def shell_commands(text: str) -> list[str]:
    """The commands of a bash block: continuation lines joined, comments dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", text)
    commands = []
    for line in joined.splitlines():
        line = re.sub(r"(^|\s)#\s.*$", "", line).strip()
        if line:
            commands.append(line)
    return commands


def _scratch(tmp: Path) -> dict[str, str]:
    work = tmp / "work"
    work.mkdir()
    for name in ("train.py", "visualize_log.py"):
        (work / name).symlink_to(ROOT / name)
    if DATA.is_dir():  # the docs name it ../shared/data
        (tmp / "shared").mkdir()
        (tmp / "shared" / "data").symlink_to(DATA)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _finished_runs(work: Path, env: dict[str, str]) -> dict[str, str]:
    """Two short simulated runs that stand for LOG_DIR and LOG_DIR2 in the docs."""
    runs = {}
    for name, seed in (("LOG_DIR2", 1), ("LOG_DIR", 0)):
        path = work / "logs" / name.lower()
        subprocess.run(
            [sys.executable, "train.py", "--log_dir", str(path), "--depth", "3", "--seed",
             str(seed), "--disable_tqdm"],
            cwd=work, env=env, check=True, capture_output=True, timeout=300,
        )
        runs[name] = str(path)
    return runs


def _run(block: Block, work: Path, env: dict[str, str], runs: dict[str, str]) -> None:
    where = f"{block.page}:{block.line}"
    if block.file is not None:
        path = work / block.file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text + "\n", encoding="utf-8")
        return
    if block.language == "python":
        script = work / f"block_{block.line}.py"
        text = block.text
        for name, path in runs.items():
            text = re.sub(rf"\b{name}\b", path, text)
        script.write_text(text, encoding="utf-8")
        done = subprocess.run([sys.executable, str(script)], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)
        tail = f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        assert done.returncode == 0, f"{where} failed:\n{tail}"
        return
    for command in shell_commands(block.text):
        for name, path in runs.items():
            command = re.sub(rf"\b{name}\b", path, command)
        done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (
            f"{where}: `{command}` exited {done.returncode}:\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_of_the_page_runs(page: Path, tmp_path: Path) -> None:
    found = blocks(page)
    unknown = [b for b in found if b.marker is not None and b.marker not in MARKERS]
    where = [(b.page, b.line, b.marker) for b in unknown]
    assert not unknown, f"unknown docs-test markers: {where}"
    runnable = [b for b in found if b.marker is None]
    if not runnable:
        return  # a page of prose, or of marked blocks only
    env = _scratch(tmp_path)
    work = tmp_path / "work"
    runs = _finished_runs(work, env) if any("LOG_DIR" in b.text for b in runnable) else {}
    skipped = []
    for block in runnable:
        if "../shared/data" in block.text and absent(".") is not None:
            skipped.append(f"{block.page}:{block.line}")
            continue
        _run(block, work, env, runs)
    if skipped:
        pytest.skip(f"ran the rest; {', '.join(skipped)} {absent('.')}")


def test_blocks_are_found_and_markers_are_known() -> None:
    everything = [b for p in pages() for b in blocks(p)]
    assert len(everything) >= 20
    assert {b.marker for b in everything} <= MARKERS | {None}


def test_shell_commands_join_continuations_and_drop_comments() -> None:
    text = "python a.py \\\n    --x 1   # note\n# only a comment\npython b.py --y '#x'"
    assert shell_commands(text) == ["python a.py --x 1", "python b.py --y '#x'"]
