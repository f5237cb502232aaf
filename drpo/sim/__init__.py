"""The simulated LLM: a deterministic stand-in for every role, in process or over HTTP.

It is not a language model: it follows hidden rules (see `drpo.sim.model`) so that prompt
optimisation can be run, tested and measured with no weights and no API key. Results
obtained on it are simulated and are labelled so.
"""

from drpo.sim.backend import SimBackend
from drpo.sim.model import SimulatedLLM
from drpo.sim.server import AnsweredRequest, ServerSettings, SimServer

__all__ = ["AnsweredRequest", "ServerSettings", "SimBackend", "SimServer", "SimulatedLLM"]
