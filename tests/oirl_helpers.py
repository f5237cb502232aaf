"""Shared bits of the Prompt-OIRL tests: where the released logs are, and tiny folders."""

from __future__ import annotations

import json
from pathlib import Path

from prerequisites import DATA
from prerequisites import needs_data as _needs

GSM8K_LOGS = DATA / "prompt_oirl" / "gsm8k_llama2"
SVAMP_LOGS = DATA / "prompt_oirl" / "svamp_llama2"
needs_data = _needs("prompt_oirl/gsm8k_llama2", "prompt_oirl/svamp_llama2", "gsm8k")


def tiny_svamp(folder: Path, *, n: int = 6, held_out_n: int = 2) -> Path:
    """A SVAMP-like folder: n questions, two training prompts, one held-out prompt logged on
    the last `held_out_n` questions, a split and groups."""
    (folder / "logs").mkdir(parents=True)
    (folder / "splits").mkdir()
    questions = [{"question": f"what is {i} plus {i}?", "answer": 2.0 * i} for i in range(n)]
    (folder / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    prompts = [
        {"alias": "a", "text": "The answer is:", "role": "training"},
        {"alias": "b", "text": "Think step by step.", "role": "training"},
        {"alias": "h", "text": "Check your work.", "role": "held_out"},
    ]
    files = {}
    for p in prompts:
        start = n - held_out_n if p["role"] == "held_out" else 0
        rows = [
            f"({i}, {'True' if (i + len(p['alias'])) % 2 else 'False'})" for i in range(n - start)
        ]
        name = f"logs/x_corr_{p['alias']}.txt"
        (folder / name).write_text("\n".join(rows) + "\n")
        files[p["alias"]] = {"file": name, "first_question_index": start, "n": n - start}
    (folder / "prompts.json").write_text(json.dumps({"prompts": prompts, "log_files": files}))
    split = {"train": list(range(n - held_out_n)), "test": list(range(n - held_out_n, n))}
    (folder / "splits" / "dedup.json").write_text(json.dumps(split))
    (folder / "splits" / "groups.json").write_text(json.dumps({"norm_group": list(range(n))}))
    return folder
