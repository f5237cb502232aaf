"""Each method's named presets (`--preset paper`, `settings_for(..., preset="paper")`): every
value a real setting of the method with its source, the command line and the Python call
giving the same settings, and flags given overriding a preset."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from drpo.cli import main
from drpo.methods.registry import METHODS, settings_for

PAPER_METHODS = [m for m in METHODS if "paper" in m.presets]


def test_every_method_of_a_paper_has_a_paper_preset() -> None:
    assert {m.name for m in PAPER_METHODS} == {
        "drpo", "promptagent", "gpo", "ape", "opro", "protegi", "oirl"
    }  # fmt: skip


@pytest.mark.parametrize("spec", PAPER_METHODS, ids=lambda m: m.name)
def test_a_preset_sets_its_values_and_names_a_source_for_each(spec: Any) -> None:
    preset = spec.presets["paper"]
    settings = settings_for(spec.name, preset="paper")
    for name, value in preset.values.items():
        assert getattr(settings, name) == value
        assert preset.sources[name].strip()
    if spec.name in ("promptagent", "ape", "opro", "protegi", "oirl"):  # sized down here
        assert settings_for(spec.name) != settings


def _recorded(argv: list[str], tmp_path: Path) -> Any:
    calls: list[Any] = []
    methods = tuple(
        replace(m, check=lambda s: None, run=lambda s: calls.append(s) or s,
                report=lambda s: None)
        for m in METHODS
    )  # fmt: skip
    assert main([*argv, "--log_dir", str(tmp_path / "run")], methods=methods) == 0
    return calls[0]


def test_the_command_line_preset_is_the_python_preset_and_flags_override_it(
    tmp_path: Path,
) -> None:
    cli = _recorded(["--method", "promptagent", "--preset", "paper"], tmp_path)
    python = settings_for("promptagent", preset="paper", log_dir=cli.log_dir)
    assert replace(cli, roles=None) == python and cli.depth == 8
    given = _recorded(["--method", "promptagent", "--preset", "paper", "--depth", "3"], tmp_path)
    assert (given.depth, given.n_iters) == (3, 12)


def test_a_preset_the_method_lacks_is_one_line_and_exit_2(capsys, tmp_path: Path) -> None:
    assert main(["--method", "toy", "--preset", "paper", "--log_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == "train.py: error: --method toy has no preset 'paper' (its presets: none)\n"
    with pytest.raises(ValueError, match="toy has no preset 'paper'"):
        settings_for("toy", preset="paper")


def test_an_unknown_setting_is_a_type_error_listing_the_valid_ones() -> None:
    with pytest.raises(TypeError, match=r"gpo has no setting depht; its settings are: .*depth"):
        settings_for("gpo", depht=3)
    with pytest.raises(ValueError, match="unknown method 'nope'; choose from drpo, promptagent"):
        settings_for("nope")


def test_text_for_a_path_becomes_a_path() -> None:
    assert settings_for("drpo", data_dir="x/y").data_dir == Path("x/y")
