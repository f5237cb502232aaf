"""Ctrl-C during a run: the first asks the run's search to stop at its next frontier (the run
then ends as usual, saving everything, and its result says ``stop_reason: interrupted``); a
second aborts at once (the checkpoint is kept, so --resume continues either way).

`graceful_interrupts` installs the handler for the length of a run (train.py's, and
`drpo.optimize`'s, whose result then says ``stop_reason == "interrupted"``); the worlds
ask `interrupt_requested` when a search asks them whether to stop.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_requested = threading.Event()

#: What the first Ctrl-C prints on stderr.
NOTICE = (
    "Ctrl-C: the search stops at its next frontier and the run saves what it has "
    "(press Ctrl-C again to abort at once)\n"
)


def interrupt_requested() -> bool:
    """Whether a Ctrl-C has asked the run's search to stop."""
    return _requested.is_set()


def request_interrupt() -> None:
    """Ask the run's search to stop at its next frontier, as the first Ctrl-C does."""
    _requested.set()


def _on_sigint(signum: int, frame: Any) -> None:
    if _requested.is_set():
        raise KeyboardInterrupt
    _requested.set()
    os.write(2, NOTICE.encode())  # not print: the main thread may be inside a write to stderr


@contextmanager
def graceful_interrupts() -> Iterator[None]:
    """For the length of the block, the first Ctrl-C (SIGINT) asks the search to stop and the
    second raises KeyboardInterrupt; the request is cleared on entry and on exit. Outside
    the main thread (where no signal handler can be set) it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _requested.clear()
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()
