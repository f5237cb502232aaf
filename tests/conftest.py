"""Shared fixtures: simulated LLM servers on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from drpo.sim import ServerSettings, SimServer, SimulatedLLM


@pytest.fixture
def sim_server() -> Iterator[Callable[..., SimServer]]:
    """`sim_server(latency_ms=..., fault_rate=...)` starts a server; all stop after the test."""
    servers: list[SimServer] = []

    def start(knowledge: dict[str, str] | None = None, **settings: Any) -> SimServer:
        options = ServerSettings(**settings)
        model = SimulatedLLM(
            seed=options.seed, knowledge=knowledge, chat_template=options.chat_template
        )
        server = SimServer(options, model).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
