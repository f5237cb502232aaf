"""The Python API (`import drpo`) as a user calls it: the README's snippet on a made-up
review task, another user's kind of task through the same calls, DRPO through the same
`optimize`, and what the API promises besides (same artefacts as train.py, errors in the
API's words, settings checked by name). Every figure here is SIMULATED."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

import drpo
from drpo.api.models import model_settings
from drpo.cli import main
from drpo.llm import LLMError
from drpo.methods.tasks import TaskError
from drpo.run_context import RunError

REPO = Path(__file__).resolve().parents[1]

SNIPPET = """\
import drpo
task = drpo.Task.from_jsonl("reviews.jsonl", eval_size=10, test_size=10, seed=0)
result = drpo.optimize("promptagent", task, model="sim", log_dir="logs/reviews",
                       initial_prompt="Is this review positive or negative?",
                       budget_calls=300, n_iters=3)
print(result.best_prompt, result.initial_accuracy, result.final_accuracy)
print(result.gain.mean, result.gain.ci_low, result.gain.ci_high, result.stop_reason)
print(drpo.evaluate(result.best_prompt, task, model="sim", split="test").accuracy)
"""


def write_reviews(path: Path, n: int = 40) -> Path:
    """`n` made-up film reviews, half positive, half negative."""
    rng = random.Random(7)
    good = ["a delight", "moving and funny", "the best film this year", "beautifully shot"]
    bad = ["a chore to sit through", "badly acted", "two hours I want back", "dull and long"]
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        text = rng.choice(good if positive else bad)
        rows.append({"question": f"Review #{i}: {text}.",
                     "answer": "positive" if positive else "negative"})  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def sums(n: int = 36) -> list[dict[str, object]]:
    """Another user's kind of task: arithmetic with numeric answers, in memory."""
    rng = random.Random(3)
    out = []
    for _ in range(n):
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        question = (f"A shop sells {a} apples in the morning and {b} in the afternoon. How "
                    "many apples does it sell that day?")  # fmt: skip
        out.append({"question": question, "answer": a + b})
    return out


def topics(n: int = 36) -> list[dict[str, object]]:
    """And a three-way multiple-choice classification."""
    kinds = {"sport": "the match went to extra time", "science": "the telescope found a "
             "new exoplanet", "politics": "parliament passed the budget"}  # fmt: skip
    names = list(kinds)
    return [{"question": f"Headline {i}: {kinds[names[i % 3]]}. Which section is this?",
             "options": names, "answer": names[i % 3]} for i in range(n)]  # fmt: skip


def test_the_readme_snippet_runs_as_written(tmp_path: Path) -> None:
    write_reviews(tmp_path / "reviews.jsonl")
    done = subprocess.run([sys.executable, "-c", SNIPPET], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={"PYTHONPATH": str(REPO),
                          "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    summary = json.loads((tmp_path / "logs/reviews/summary.json").read_text())
    # The last three lines are the snippet's; above them, the run's closing lines.
    assert lines[-3] == (f"{summary['final_prompt']} {summary['initial_test_accuracy']} "
                         f"{summary['final_test_accuracy']}")  # fmt: skip
    mean, low, high, _ = lines[-2].split()
    assert float(low) <= float(mean) <= float(high)
    assert float(lines[-1]) == summary["final_test_accuracy"]  # evaluate scores as the run did


def test_optimize_returns_what_the_run_wrote(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    task = drpo.Task.from_jsonl(write_reviews(tmp_path / "reviews.jsonl"), eval_size=10,
                                test_size=10, seed=0)  # fmt: skip
    assert (len(task.train), len(task.eval), len(task.test)) == (20, 10, 10)
    result = drpo.optimize("promptagent", task, model="sim", log_dir="logs/reviews",
                           initial_prompt="Is this review positive or negative?",
                           budget_calls=300, n_iters=3, verbose=False)  # fmt: skip
    summary = json.loads((tmp_path / "logs/reviews/summary.json").read_text())
    assert result.log_dir == Path("logs/reviews") and result.simulated
    assert result.best_prompt == summary["final_prompt"]
    assert result.best_prompt + "\n" == (tmp_path / "logs/reviews/best_prompt.txt").read_text()
    assert result.initial_prompt == "Is this review positive or negative?"
    assert result.gain.n == 10
    assert result.gain.mean == pytest.approx(result.final_accuracy - result.initial_accuracy)
    assert result.gain.ci_low <= result.gain.mean <= result.gain.ci_high
    assert summary["search_budget"]["limits"]["calls"] == 300
    assert result.stop_reason == summary["stop_reason"]
    assert result.stop_reason in ("depth", "budget", "terminal", "no_actions")
    assert result.expansions == summary["search_bought"]["expansions"] > 0
    assert summary["settings"]["n_iters"] == 3 and summary["settings"]["eval_size"] == 10
    with pytest.raises(AttributeError):
        result.best_prompt = "changed"  # type: ignore[misc]
    initial = drpo.evaluate(result.initial_prompt, task, model="sim")
    assert (initial.accuracy, initial.n) == (result.initial_accuracy, 10)
    assert initial.correct == round(initial.accuracy * 10)
    evaluation = drpo.evaluate(result.best_prompt, task, model="sim", split="eval")
    assert evaluation.n == 10 and evaluation.split == "eval" and evaluation.simulated
    assert evaluation.accuracy == summary["final_eval_accuracy"]
    cache = tmp_path / "logs/reviews/llm_cache.sqlite"  # the run's answers, no model called
    again = drpo.evaluate(result.best_prompt, task, cache_path=cache, offline=True)
    assert again.accuracy == result.final_accuracy
    with pytest.raises(LLMError, match="not in the cache") as missing:
        drpo.evaluate("A prompt the run never tried.", task, cache_path=cache, offline=True)
    assert "--" not in str(missing.value)


def test_a_budget_says_what_it_bought(tmp_path: Path) -> None:
    task = drpo.Task.from_jsonl(write_reviews(tmp_path / "reviews.jsonl"), eval_size=10,
                                test_size=10)  # fmt: skip
    result = drpo.optimize("promptagent", task, log_dir=tmp_path / "run", budget_calls=40,
                           verbose=False)  # fmt: skip
    assert result.stop_reason == "budget"
    assert result.expansions == 1 and result.evaluated_prompts == 3  # the root's children
    assert result.summary["search_budget"]["search"]["calls"] >= 40


def test_plan_is_train_py_plan_and_calls_no_model(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_reviews(tmp_path / "reviews.jsonl")
    task = drpo.Task.from_jsonl(path, eval_size=10, test_size=10, seed=0)
    projected = drpo.plan("promptagent", task, budget_calls=300, n_iters=3)
    assert main(["--method", "promptagent", "--task", str(path), "--eval_size", "10",
                 "--test_size", "10", "--budget_calls", "300", "--n_iters", "3",
                 "--plan"]) == 0  # fmt: skip
    assert capsys.readouterr().out.splitlines() == projected.lines()
    assert projected.role("base").calls > 0 and projected.role("optimize").calls > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reviews.jsonl"]  # nothing written
    small = drpo.plan("promptagent", task, budget_calls=5)
    assert any("fewer than two expansions" in w for w in small.warnings)
    in_memory = drpo.Task.from_examples(sums(), eval_size=8, test_size=10)
    assert drpo.plan("promptagent", in_memory, n_iters=2).role("base").calls > 0
    with pytest.raises(TypeError, match="n_iters"):
        drpo.plan("promptagent", task, n_iter=2)


def test_a_preset_is_train_py_preset_and_values_given_override_it(tmp_path: Path, capsys) -> None:
    path = write_reviews(tmp_path / "reviews.jsonl")
    task = drpo.Task.from_jsonl(path, eval_size=10, test_size=10)
    paper = drpo.plan("promptagent", task, preset="paper")
    assert main(["--method", "promptagent", "--task", str(path), "--eval_size", "10",
                 "--test_size", "10", "--preset", "paper", "--plan"]) == 0  # fmt: skip
    assert capsys.readouterr().out.splitlines() == paper.lines()
    assert "12 iterations, depth 8" in paper.search  # PromptAgent's paper, not our defaults
    assert "depth 3" in drpo.plan("promptagent", task, preset="paper", depth=3).search
    with pytest.raises(ValueError, match="no preset 'fast'"):
        drpo.plan("promptagent", task, preset="fast")


def test_the_api_writes_what_train_py_writes(tmp_path: Path, capsys) -> None:
    path = write_reviews(tmp_path / "reviews.jsonl")
    task = drpo.Task.from_jsonl(path, eval_size=10, test_size=10, seed=3)
    drpo.optimize("gpo", task, model="sim", log_dir=tmp_path / "api", depth=2, verbose=False)
    assert capsys.readouterr().out == ""  # verbose=False: nothing printed
    code = main(["--method", "gpo", "--task", str(path), "--eval_size", "10", "--test_size",
                 "10", "--seed", "3", "--depth", "2", "--disable_tqdm", "--log_dir",
                 str(tmp_path / "cli")])  # fmt: skip
    assert code == 0
    api, cli = tmp_path / "api", tmp_path / "cli"

    def files(folder: Path) -> set[Path]:  # sqlite's -wal/-shm come and go with its connection
        return {
            p.relative_to(folder)
            for p in folder.rglob("*")
            if not p.name.endswith(("-wal", "-shm"))
        }

    assert files(api) == files(cli)
    a, c = (json.loads((d / "summary.json").read_text()) for d in (api, cli))
    a["settings"].pop("log_dir"), c["settings"].pop("log_dir")
    a["settings"].pop("disable_tqdm"), c["settings"].pop("disable_tqdm")
    assert a == c
    trace = "algo_output/trace.txt"
    assert (api / trace).read_text() == (cli / trace).read_text()


@pytest.mark.parametrize("kind", ["numbers", "choices"])
def test_another_users_task_runs_through_the_same_calls(tmp_path: Path, kind: str) -> None:
    rows = sums() if kind == "numbers" else topics()
    task = drpo.Task.from_examples(rows, name=kind, eval_size=8, test_size=10, seed=1)
    assert {e.kind for e in task.test} == {"number" if kind == "numbers" else "choice"}
    log_dir = tmp_path / "logs" / kind
    result = drpo.optimize("promptagent", task, model="sim", log_dir=log_dir,
                           initial_prompt="Answer the question.", budget_calls=200,
                           n_iters=2, verbose=False)  # fmt: skip
    print(result.best_prompt, result.initial_accuracy, result.final_accuracy)
    assert result.summary["task"] == kind
    written = log_dir / "task" / f"{kind}.jsonl"  # the examples, for the run and its resume
    assert [json.loads(x) for x in written.read_text().splitlines()] == rows
    assert result.gain.n == 10
    assert drpo.evaluate(result.best_prompt, task, model="sim").accuracy == result.final_accuracy
    again = drpo.optimize("promptagent", task, model="sim", log_dir=log_dir, resume=True,
                          initial_prompt="Answer the question.", budget_calls=200,
                          n_iters=2, verbose=False)  # fmt: skip
    assert again.best_prompt == result.best_prompt
    other = drpo.Task.from_examples(rows[:-1], name=kind, eval_size=8, test_size=10, seed=1)
    with pytest.raises(TaskError, match="other examples"):
        drpo.optimize("promptagent", other, model="sim", log_dir=log_dir, resume=True,
                      initial_prompt="Answer the question.", n_iters=2, verbose=False)  # fmt: skip


def test_a_used_log_dir_needs_resume_true(tmp_path: Path) -> None:
    task = drpo.Task.from_examples(topics(), eval_size=8, test_size=8)
    drpo.optimize("ape", task, log_dir=tmp_path / "run", verbose=False)
    with pytest.raises(RunError, match=re.escape("resume=True")) as caught:
        drpo.optimize("ape", task, log_dir=tmp_path / "run", verbose=False)
    assert "--resume" not in str(caught.value)
    again = drpo.optimize("ape", task, log_dir=tmp_path / "run", resume=True, verbose=False)
    assert again.summary["method"] == "ape"


def test_settings_are_checked_by_name(tmp_path: Path) -> None:
    task = drpo.Task.from_examples(topics(), eval_size=8, test_size=8)
    with pytest.raises(TypeError, match="n_iter") as caught:
        drpo.optimize("promptagent", task, log_dir=tmp_path / "a", n_iter=3)
    assert "n_iters" in str(caught.value) and "expand_width" in str(caught.value)
    with pytest.raises(TypeError, match="n_actions"):  # DRPO's, not PromptAgent's
        drpo.optimize("promptagent", task, log_dir=tmp_path / "b", n_actions=3)
    with pytest.raises(TypeError, match=re.escape("Task.from_jsonl(..., eval_size=)")):
        drpo.optimize("promptagent", task, log_dir=tmp_path / "c", eval_size=3)
    with pytest.raises(TypeError, match="seed"):
        drpo.optimize("promptagent", task, log_dir=tmp_path / "d", seed=4)
    with pytest.raises(ValueError, match="n_iters") as bad:
        drpo.optimize("promptagent", task, log_dir=tmp_path / "e", n_iters="many")
    assert "--" not in str(bad.value)
    with pytest.raises(ValueError, match=r"unknown method 'promptagnet'.*promptagent"):
        drpo.optimize("promptagnet", task)
    with pytest.raises(TypeError, match=r"drpo\.AlignmentData"):
        drpo.optimize("drpo", task)
    with pytest.raises(RunError, match="depth must be >= 1"):
        drpo.optimize("promptagent", task, log_dir=tmp_path / "f", depth=0, verbose=False)
    assert not (tmp_path / "f" / "summary.json").exists()


def test_a_task_too_small_for_its_splits_says_what_fits() -> None:
    rows = topics(20)
    with pytest.raises(TaskError) as caught:
        drpo.Task.from_examples(rows)  # the default 30 eval + 60 test
    message = str(caught.value)
    assert "20 examples" in message and "examples.jsonl" not in message
    sizes = dict(re.findall(r"(eval_size|test_size)=(\d+)", message))
    eval_size, test_size = int(sizes["eval_size"]), int(sizes["test_size"])
    assert eval_size + test_size == 19 and test_size > eval_size  # 1:2, as asked
    task = drpo.Task.from_examples(rows, eval_size=eval_size, test_size=test_size)
    assert len(task.train) == 1
    with pytest.raises(TaskError, match="at least 3 examples"):
        drpo.Task.from_examples(rows[:2], eval_size=1, test_size=1)
    with pytest.raises(TaskError, match="example 1 needs 'question'"):
        drpo.Task.from_examples([rows[0], {"text": "no question"}])


def test_model_specs_become_the_roles_models(tmp_path: Path) -> None:
    assert model_settings("sim", None)["base_model_name"] == "sim"
    mixed = model_settings("sim", {"base": "qwen0.5b", "optimize": "gpt-4o-mini"})
    assert mixed.items() >= {("base_model_name", "qwen0.5b"), ("base_backend", "llamacpp"),
                             ("optimize_model_name", "gpt-4o-mini"),
                             ("optimize_backend", "openai"), ("eval_model_name", "sim"),
                             ("eval_backend", None)}  # fmt: skip
    gguf = tmp_path / "m.gguf"
    with pytest.raises(FileNotFoundError, match=r"m\.gguf"):
        model_settings(gguf, None)
    gguf.write_bytes(b"GGUF")
    assert model_settings(gguf, None)["metrics_model_name"] == str(gguf.resolve())
    served = drpo.Model(name="qwen", base_url="http://127.0.0.1:8000/v1", api_key_env="MY_KEY")
    assert model_settings(served, None).items() >= {
        ("base_base_url", "http://127.0.0.1:8000/v1"), ("base_backend", "openai"),
        ("api_key_env", "MY_KEY")}  # fmt: skip
    with pytest.raises(ValueError, match=r"unknown role.*judge"):
        model_settings("sim", {"judge": "sim"})
    with pytest.raises(ValueError, match="api_key_env"):
        model_settings(served, {"optimize": drpo.Model(name="x", api_key_env="OTHER")})
    with pytest.raises(TypeError, match=r"drpo\.Model"):
        model_settings(3, None)  # type: ignore[arg-type]


def test_a_model_on_an_openai_compatible_server(sim_server, tmp_path: Path) -> None:
    task = drpo.Task.from_examples(sums(), eval_size=8, test_size=8, seed=2)
    server = sim_server(knowledge=task.answer_key())
    served = drpo.Model(name="sim", base_url=server.url)
    result = drpo.optimize("ape", task, model=served, log_dir=tmp_path / "r", verbose=False)
    assert server.stats()["completions"] > 0
    assert result.summary["settings"]["models"] == {"base": "sim", "optimize": "sim"}
    assert drpo.evaluate(result.best_prompt, task, model=served).accuracy == result.final_accuracy


def test_drpo_through_the_same_call(tmp_path: Path) -> None:
    data = drpo.AlignmentData.demo(test_size=4)
    result = drpo.optimize("drpo", data, model="sim", log_dir=tmp_path / "d", depth=2,
                           initial_prompt="You are a careful assistant.",
                           verbose=False)  # fmt: skip
    text = (tmp_path / "d/best_system_prompt.txt").read_text()
    assert result.best_prompt + "\n" == text and result.best_prompt
    assert result.initial_prompt == "You are a careful assistant."
    assert result.initial_accuracy is None and result.simulated
    assert result.held_out is not None and result.held_out.queries == 4
    assert result.gain is result.held_out.difference and result.gain.n == 4
    assert result.held_out.final_reward - result.held_out.initial_reward == pytest.approx(
        result.gain.mean
    )
    with pytest.raises(FileNotFoundError):
        drpo.AlignmentData.from_dir(tmp_path / "missing")


def test_import_drpo_stays_light() -> None:
    code = ("import sys, drpo; before = set(sys.modules); drpo.Task; drpo.Model; "
            "heavy = {'numpy', 'openai', 'torch', 'tqdm', 'faiss'} & set(sys.modules); "
            "print(sorted(m for m in before if m.startswith('drpo.')), sorted(heavy))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO)}, check=True)  # fmt: skip
    assert done.stdout.strip() == "[] []"
