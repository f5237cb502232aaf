"""Every method's meta-prompts: read once, every placeholder filled in one pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from drpo.methods.meta_prompts import MetaPrompts
from drpo.methods.registry import METHODS


def test_a_value_holding_a_placeholder_is_never_expanded_again(tmp_path: Path) -> None:
    (tmp_path / "ask.txt").write_text("Q: <<question>>\nA: <<answer>>", encoding="utf-8")
    prompts = MetaPrompts(tmp_path)
    text = prompts.render("ask", question="what is <<answer>>?", answer="42")
    assert text == "Q: what is <<answer>>?\nA: 42"


def test_a_missing_or_unknown_value_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "ask.txt").write_text("Q: <<question>>", encoding="utf-8")
    prompts = MetaPrompts(tmp_path)
    with pytest.raises(KeyError, match="takes"):
        prompts.render("ask")
    with pytest.raises(KeyError, match="takes"):
        prompts.render("ask", question="q", extra="x")


@pytest.mark.parametrize("name", [m.name for m in METHODS if m.task_prompt])
def test_every_task_method_ships_its_meta_prompts(name: str) -> None:
    folder = Path(__file__).parents[1] / "drpo" / "methods" / name / "prompts"
    assert sorted(folder.glob("*.txt")), f"{name} has no meta-prompt files"
