"""Adding a method is its package and one registry line: a small method written in a
temporary package (on sys.path for this test only) declares its settings, its run on the
task-prompt template and its part of the simulated LLM, is registered, and then runs through
`train.py` (drpo.cli.main) and through a Python call, with its flags in `--help`."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from drpo.cli import main
from drpo.methods import registry
from drpo.methods.runner import run_method
from drpo.methods.tasks import DEMO_TASK

PACKAGE = {
    "__init__.py": "",
    "method.py": '''
        """The hinter: each step, the optimiser adds one reasoning hint to the prompt."""

        from __future__ import annotations

        from dataclasses import dataclass
        from typing import Any

        from drpo.methods import shared_settings as shared
        from drpo.methods.declare import setting
        from drpo.methods.runner import task_report
        from drpo.methods.spec import MethodSpec, Preset
        from drpo.methods.task_settings import TaskRunSettings


        @dataclass(frozen=True, kw_only=True)
        class HinterSettings(TaskRunSettings):
            search: str = shared.search("greedy")
            depth: int = shared.depth(2)
            temperature: float = shared.temperature(0.0)
            hinter_samples: int = setting(1, help="prompts the hinter writes a step")


        def run(settings: HinterSettings) -> Any:
            from hinter_pkg.run import HinterRun

            return HinterRun().run(settings)


        METHOD = MethodSpec(
            name="hinter",
            title="the hinter (a test's method)",
            summary="adds a reasoning hint a step",
            settings=HinterSettings,
            run=run,
            report=task_report("Hinter"),
            roles=("base", "optimize"),
            presets={"paper": Preset(description="none", values={"depth": 3},
                                     sources={"depth": "this test"})},
            task_prompt=True,
            sim="hinter_pkg.sim",
        )
    ''',
    "run.py": '''
        """The hinter's world, config and run on the task-prompt template."""

        from __future__ import annotations

        from dataclasses import dataclass
        from typing import Any

        from drpo.llm import ChatRequest
        from drpo.llm._loop import run_sync
        from drpo.methods.task_config import TaskPromptConfig
        from drpo.methods.task_run import Answer, Parts, TaskPromptRun
        from drpo.methods.task_scoring import TaskPromptWorld
        from search import Greedy


        @dataclass(frozen=True)
        class State:
            prompt: str
            depth: int = 0


        class HinterWorld(TaskPromptWorld):
            def init_state(self) -> State:
                return State(self.initial_prompt)

            def step(self, state: State, action: str) -> tuple[State, dict[str, Any]]:
                return self.step_many([(state, action)])[0]

            def step_many(self, pairs: Any) -> list[tuple[State, dict[str, Any]]]:
                scores = run_sync(self.scorer.score_many([(a, self.task.eval) for _, a in pairs]))
                out = [(State(a, s.depth + 1), {"accuracy": score.accuracy})
                       for (s, a), score in zip(pairs, scores)]
                self.on_frontier(max(s.depth for s, _ in out))
                return out


        class HinterConfig(TaskPromptConfig):
            def __init__(self, task: Any, scorer: Any, optimizer: Any, *, samples: int) -> None:
                super().__init__(task, scorer, optimizer)
                self.samples = samples

            def get_actions_many(self, states: Any) -> list[list[str]]:
                requests = [ChatRequest.of(f"Answer in JSON with hinted_prompt.\\n"
                                           f"<prompt>{s.prompt}</prompt>", n=self.samples)
                            for s in states]
                answers = self.optimizer.generate_json(requests, required_keys=["hinted_prompt"])
                return [[a.value["hinted_prompt"] for a in samples if a.ok] for samples in answers]

            def reward(self, state: Any, action: Any, **aux: Any) -> tuple[float, dict[str, Any]]:
                return aux["accuracy"], {"eval_accuracy": aux["accuracy"]}


        class HinterRun(TaskPromptRun):
            name, label = "hinter", "hinter steps"

            def parts(self, settings: Any, task: Any, scorer: Any, optimizer: Any, *,
                      initial: str, session: Any) -> Parts:
                world = HinterWorld(task, scorer, initial_prompt=initial,
                                    on_frontier=session.on_frontier)
                config = HinterConfig(task, scorer, optimizer, samples=settings.hinter_samples)
                return Parts(world, config, Greedy(max_depth=settings.depth))

            def answer(self, settings: Any, result: Any, task: Any, scorer: Any,
                       initial: str) -> Answer:
                return Answer(prompt=result.terminal_state.prompt,
                              eval_accuracy=result.terminal_node.reward,
                              initial_eval=result.tree.reward)
    ''',
    "sim.py": '''
        """The hinter's part of the simulated LLM: add the first reasoning hint missing."""

        from __future__ import annotations

        import json

        from drpo.sim.behaviour import Behaviour, asks_for, missing_hints, sentence, tag
        from drpo.sim.catalogue import HINT_SENTENCES


        def hint(request):
            prompt = tag(request.text, "prompt") or ""
            missing = missing_hints(prompt)
            new = f"{sentence(prompt)} {HINT_SENTENCES[missing[0]]}" if missing else prompt
            return json.dumps({"hinted_prompt": new})


        BEHAVIOURS = (Behaviour("hinter", asks_for("hinted_prompt"), lambda r: hint(r)),)
    ''',
}


@pytest.fixture
def hinter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The hinter's package on sys.path, registered for this test only."""
    package = tmp_path / "src" / "hinter_pkg"
    package.mkdir(parents=True)
    for name, text in PACKAGE.items():
        (package / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    monkeypatch.syspath_prepend(str(package.parent))
    registry.register("hinter_pkg.method")  # the one line
    yield
    registry.unregister("hinter")
    for name in [m for m in sys.modules if m == "hinter_pkg" or m.startswith("hinter_pkg.")]:
        del sys.modules[name]


def test_the_registered_method_runs_through_train_py(hinter, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    words = " ".join(text.split())
    assert "--hinter_samples" in text and "2 (hinter)" in words
    log_dir = tmp_path / "cli"
    argv = ["--method", "hinter", "--log_dir", str(log_dir), "--disable_tqdm",
            "--eval_size", "10", "--test_size", "10"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Hinter on task demo_task ran on the simulated LLM" in out
    summary = json.loads((log_dir / "summary.json").read_text())
    assert summary["method"] == "hinter" and summary["settings"]["hinter_samples"] == 1
    # the simulated optimiser played the hinter's part: two hints added, eval no worse
    assert summary["final_prompt"].count(".") == 3
    assert summary["final_eval_accuracy"] >= summary["initial_eval_accuracy"]


def test_the_registered_method_runs_through_a_python_call(hinter, tmp_path: Path) -> None:
    settings = registry.settings_for("hinter", preset="paper", log_dir=tmp_path / "py",
                                     eval_size=10, test_size=10, disable_tqdm=True)  # fmt: skip
    assert settings.depth == 3
    summary = run_method(registry.method_spec("hinter"), settings)
    assert summary.log_dir == tmp_path / "py" and (tmp_path / "py" / "summary.json").is_file()
    assert summary.final_prompt.count(".") == 4 and summary.final_eval >= summary.initial_eval
    with pytest.raises(TypeError, match="hinter has no setting hinter_sample;"):
        registry.settings_for("hinter", hinter_sample=2)


def test_the_registered_method_runs_through_the_python_api(hinter, tmp_path: Path) -> None:
    import drpo

    task = drpo.Task.from_jsonl(DEMO_TASK, eval_size=10, test_size=10)
    result = drpo.optimize("hinter", task, log_dir=tmp_path / "api", preset="paper",
                           verbose=False)  # fmt: skip
    summary = json.loads((tmp_path / "api" / "summary.json").read_text())
    assert result.summary["method"] == "hinter" and summary["settings"]["depth"] == 3
    assert result.best_prompt == summary["final_prompt"] and result.gain.n == 10
    with pytest.raises(TypeError, match="hinter_samples"):
        drpo.optimize("hinter", task, log_dir=tmp_path / "x", hinter_sample=2)
