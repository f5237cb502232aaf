"""Shared fixtures: simulated LLM servers on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from drpo.sim import ServerSettings, SimServer


@pytest.fixture
def sim_server() -> Iterator[Callable[..., SimServer]]:
    """`sim_server(latency_ms=..., fault_rate=...)` starts a server; all stop after the test."""
    servers: list[SimServer] = []

    def start(**settings: Any) -> SimServer:
        server = SimServer(ServerSettings(**settings)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
