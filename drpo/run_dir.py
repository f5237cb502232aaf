"""A run's log directory: created and checked up front, arguments saved without secrets."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from search.artifacts import write_atomic

#: Names that look secret ("token", but not counts of tokens: max_tokens, budget_tokens).
_SECRET_NAME = re.compile(r"(api_?key|token(?!s)|secret|password|authorization)", re.IGNORECASE)
REDACTED = "<redacted>"


class RunDirError(Exception):
    """The log directory cannot be used."""


def prepare_log_dir(path: str | Path) -> Path:
    """Create `path` (and algo_output/ inside it) and check that it is writable."""
    path = Path(path)
    try:
        (path / "algo_output").mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RunDirError(f"cannot write to log_dir {str(path)!r}: {exc.strerror or exc}") from None
    return path


def resume_problem(log_dir: Path, *, given: bool) -> tuple[str | None, str | None]:
    """What `--resume` finds at `log_dir` (`given`: named by --log_dir): (an error, when
    there is nothing there to continue: no --log_dir, a path that does not exist or is a
    file; a notice, when the folder holds no checkpoint, so that a new run starts there, as a
    grid of jobs that always passes --resume expects)."""
    from drpo.run_context import CHECKPOINT

    if not given:
        return "--resume needs --log_dir, the folder of the run to continue", None
    if not log_dir.exists():
        return (f"--resume: {str(log_dir)!r} does not exist, so there is no run to continue; "
                "give the log_dir of an earlier run, or leave out --resume to start a new "
                "one"), None  # fmt: skip
    if not log_dir.is_dir():
        return f"--resume: {str(log_dir)!r} is a file, not a run's log_dir", None
    if (log_dir / CHECKPOINT).exists():
        return None, None
    return None, (f"--resume: {str(log_dir)!r} holds no {CHECKPOINT}, so there is nothing to "
                  "continue: a new run starts there")  # fmt: skip


def redact(args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments with every value whose name looks secret replaced, and every value equal
    to a secret from the environment (API keys) replaced too."""
    secrets = {
        value for name, value in os.environ.items() if _SECRET_NAME.search(name) and len(value) >= 8
    }

    def secret(name: str, value: Any) -> bool:
        if _SECRET_NAME.search(name) and value not in (None, ""):
            return True
        return isinstance(value, str) and any(s in value for s in secrets)

    return {name: REDACTED if secret(name, value) else value for name, value in args.items()}


def write_args(log_dir: Path, args: Mapping[str, Any]) -> Path:
    """Save the run's arguments to args.txt, one `name: value` per line, secrets removed."""
    lines = [f"{name}: {json.dumps(value, default=str)}" for name, value in redact(args).items()]
    path = log_dir / "args.txt"
    write_atomic(path, ("\n".join(lines) + "\n").encode("utf-8"))
    return path
