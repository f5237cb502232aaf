"""`train.py`'s methods come from the registry: `--method`, `--help` and the defaults a run
gets, for the registered methods and for one a test registers without touching the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from drpo.cli import main
from drpo.methods import shared_settings
from drpo.methods.declare import declared, setting
from drpo.methods.registry import METHODS, settings_for
from drpo.methods.spec import MethodSpec
from drpo.run_context import RunSettings

REPO = Path(__file__).resolve().parents[1]
SHARED = ("search", "depth", "n_iters", "w_exp", "temperature", "beam_size", "k", "test_size")
#: The settings each method's run gets when the command line leaves them out (None: the
#: method has no such setting).
EXPECTED = {
    "drpo": ("beam", 20, 10, 1.0, 0.2, 2, 2, 10),
    "promptagent": ("mcts", 5, 12, 2.5, 0.7, 3, None, 60),
    "gpo": ("greedy", 12, None, None, 1.0, None, 3, 60),
    "ape": ("beam", 3, None, None, 0.9, 3, None, 60),
    "opro": ("greedy", 8, None, None, 1.0, None, None, 60),
    "protegi": ("beam", 3, None, None, 0.7, 4, None, 60),
    "oirl": ("best_of_n", None, None, None, None, None, None, None),
    "toy": ("beam", 3, 20, 1.0, None, 2, None, None),
}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class DummySettings(RunSettings):
    """The dummy method's settings."""

    search: str = shared_settings.search("greedy")
    depth: int = shared_settings.depth(7)
    dummy_rounds: int = setting(2, help="rounds of the dummy")


class Recorder:
    """A run that keeps the settings it was given (its log dir made by then) and returns
    them as its summary; the report prints `code`."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, settings: Any) -> Any:
        assert Path(settings.log_dir, "args.txt").is_file()
        self.calls.append(settings)
        return settings


def dummy(runner: Recorder) -> MethodSpec:
    return MethodSpec(
        name="dummy",
        title="the dummy method",
        summary="a method only this test knows",
        settings=DummySettings,
        run=runner,
        report=lambda summary: print("dummy done"),
    )


def help_text(capsys: pytest.CaptureFixture[str], **kwargs: object) -> str:
    with pytest.raises(SystemExit) as stop:
        main(["--help"], **kwargs)
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_help_lists_every_registered_method_with_its_own_options(capsys) -> None:
    text = help_text(capsys)
    words = " ".join(text.split()).replace("- ", "-")  # argparse may wrap after a hyphen
    assert "--method {drpo,promptagent,gpo,ape,opro,protegi,oirl,toy}" in text
    for method in METHODS:
        assert f"{method.name}: {method.summary}".replace("- ", "-") in words
        assert f"\n{method.title}:\n" in text
        for field, _ in declared(method.settings):
            assert f"--{field.name}" in text
    assert "--search {beam,mcts,greedy} default: beam (drpo), mcts (promptagent), greedy" in words


def test_a_method_registered_by_a_test_appears_in_help_and_runs_through_main(
    capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = Recorder()
    methods = (*METHODS, dummy(runner))
    text = help_text(capsys, methods=methods)
    assert "--method {drpo,promptagent,gpo,ape,opro,protegi,oirl,toy,dummy}" in text
    assert "\nthe dummy method:\n  --dummy_rounds DUMMY_ROUNDS" in text
    assert "rounds of the dummy" in text and "7 (dummy)" in " ".join(text.split())

    monkeypatch.chdir(tmp_path)
    assert main(["--method", "dummy", "--dummy_rounds", "4", "--seed", "3"], methods=methods) == 0
    assert "dummy done" in capsys.readouterr().out
    [settings] = runner.calls
    assert isinstance(settings, DummySettings)
    got = (settings.dummy_rounds, settings.seed, settings.search, settings.depth)
    assert got == (4, 3, "greedy", 7)
    log_dir = settings.log_dir
    assert log_dir.parent == Path("logs") and log_dir.name.startswith("dummy-greedy-")
    recorded = (tmp_path / log_dir / "args.txt").read_text()
    assert "dummy_rounds: 4" in recorded and "depth: 7" in recorded


def test_the_first_registered_method_is_the_default(tmp_path: Path) -> None:
    runner = Recorder()
    assert main(["--log_dir", str(tmp_path / "run")], methods=(dummy(runner),)) == 0
    [settings] = runner.calls
    assert settings.log_dir == tmp_path / "run"


def _recording(runner: Recorder) -> tuple[MethodSpec, ...]:
    return tuple(replace(m, run=runner, check=lambda s: None, report=lambda s: None)
                 for m in METHODS)  # fmt: skip


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_method_runs_with_its_own_defaults(name: str, tmp_path: Path) -> None:
    runner = Recorder()
    argv = ["--method", name, "--log_dir", str(tmp_path / "run")]
    assert main(argv, methods=_recording(runner)) == 0
    [settings] = runner.calls
    assert tuple(getattr(settings, s, None) for s in SHARED) == EXPECTED[name]
    assert settings == replace(settings_for(name), log_dir=settings.log_dir,
                               roles=settings.roles)  # fmt: skip


def test_a_flag_two_methods_declare_takes_each_methods_own_default(tmp_path: Path) -> None:
    runner = Recorder()
    for n, (argv, expected) in enumerate(
        [
            (["--method", "ape"], 20),
            (["--method", "opro"], 50),
            (["--method", "opro", "--score_size", "7"], 7),
        ]
    ):
        assert main([*argv, "--log_dir", str(tmp_path / str(n))], methods=_recording(runner)) == 0
        assert runner.calls[-1].score_size == expected


def test_the_command_line_overrides_a_methods_default(tmp_path: Path) -> None:
    runner = Recorder()
    argv = ["--method", "promptagent", "--depth", "9", "--k", "4", "--log_dir", str(tmp_path)]
    assert main(argv, methods=_recording(runner)) == 0
    [settings] = runner.calls
    assert (settings.depth, settings.n_iters) == (9, 12)  # --k: not a PromptAgent setting


def test_the_registry_holds_exactly_the_methods_of_the_expected_table() -> None:
    assert [m.name for m in METHODS] == list(EXPECTED)


def test_a_wrong_method_is_one_line_and_exit_2(capsys, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--method", "dummy", "--log_dir", str(tmp_path / "run")])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("train.py: error: argument --method: invalid choice: 'dummy'")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_help_and_the_default_run_import_no_optional_heavy_package(tmp_path: Path) -> None:
    """Deciding costs no import: the default run imports torch and transformers only to run
    the MiniLM embedder, where its weights are fetched (here they are not)."""
    (tmp_path / "models").mkdir()
    code = (
        "import atexit, runpy, sys\n"
        "heavy = ('torch', 'sklearn', 'scipy', 'vllm', 'transformers', 'reasoners')\n"
        "atexit.register(lambda: print([m for m in heavy if m in sys.modules]))\n"
        "sys.argv = ['train.py', *sys.argv[1:]]\n"
        f"runpy.run_path({str(REPO / 'train.py')!r}, run_name='__main__')\n"
    )
    run = ["--disable_tqdm", "--depth", "1", "--log_dir", str(tmp_path / "run")]
    for args in (["--help"], run):
        out = subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
            env={**os.environ, "PROMPT_SEARCH_MODELS": str(tmp_path / "models")},
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("name", [m.name for m in METHODS if m.task_prompt])
def test_every_task_method_answers_within_the_max_tokens_asked(name: str, tmp_path: Path) -> None:
    """--max_tokens reaches the task model of every task-prompt method (it was once ignored
    by PromptAgent and GPO)."""
    from drpo.llm import ChatRequest
    from drpo.methods import task_scoring

    asked: list[int | None] = []
    original = task_scoring.TaskScorer.request

    def request(self: task_scoring.TaskScorer, prompt: str, example: object) -> ChatRequest:
        made = original(self, prompt, example)
        asked.append(made.max_tokens)
        return made

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(task_scoring.TaskScorer, "request", request)
        argv = ["--method", name, "--max_tokens", "77", "--budget_calls", "1", "--disable_tqdm"]
        assert main([*argv, "--log_dir", str(tmp_path / "run")]) == 0
    assert asked and set(asked) == {77}
