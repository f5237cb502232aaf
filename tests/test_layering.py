"""The layering the design promises, read from the source (every import, also the lazy ones
inside functions): world_model knows nothing of ours, search knows only world_model, and the
LLM layer (drpo/llm) knows no method and no simulator."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def imported(folder: Path) -> dict[str, set[str]]:
    """Each file's imported modules (absolute names; relative imports resolved)."""
    out: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{parent}.{base}" if base else parent
                names.add(base)
        out[str(path.relative_to(REPO))] = names
    return out


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("world_model", ("search", "drpo", "bench")),
        ("search", ("drpo", "bench")),
        ("drpo/llm", ("drpo.sim", "drpo.methods", "drpo.run_context", "drpo.cli", "bench")),
    ],
)
def test_a_layer_imports_nothing_above_it(folder: str, forbidden: tuple[str, ...]) -> None:
    found = imported(REPO / folder)
    assert found, f"no source in {folder}"
    bad = {
        file: sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden))
        for file, names in found.items()
    }
    assert {f: names for f, names in bad.items() if names} == {}
