"""Simulation engines. ``reference`` is the oracle; faster engines must equal it bit for bit.

Example:
    >>> from spikelut.engine import ENGINES
    >>> "reference" in ENGINES
    True
"""

from __future__ import annotations

from typing import Callable

from ..backend import get_xp
from ..errors import ConfigError
from .reference import simulate as simulate_reference
from .result import SimResult, readout

ENGINES = ("reference",)


def get_engine(name: str = "reference", device: str = "cpu") -> Callable:
    """Return ``simulate(net, spikes) -> SimResult`` for engine ``name`` on ``device``."""
    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    xp = get_xp(device)

    def run(net, spikes):
        return simulate_reference(net, xp.asarray(spikes), xp=xp)

    return run


__all__ = ["ENGINES", "SimResult", "get_engine", "readout", "simulate_reference"]
