"""One background event loop for the synchronous API.

Async clients (openai's) keep connection pools bound to the loop that made them, so every
synchronous call runs its coroutine on this one long-lived loop instead of a fresh
``asyncio.run`` loop each time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="drpo-llm-loop", daemon=True)
            thread.start()
            _loop = loop
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on the background loop and wait for its result."""
    loop = _background_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError("run_sync was called from the LLM loop itself; await the coroutine")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


def submit(coro: Coroutine[Any, Any, Any]) -> None:
    """Start `coro` on the background loop without waiting for it: for clean-up that may be
    triggered from any thread (a socket must be closed on the loop that watches it)."""
    try:
        asyncio.run_coroutine_threadsafe(coro, _background_loop())
    except RuntimeError:  # the loop is gone (the interpreter is exiting): nothing to watch
        coro.close()
