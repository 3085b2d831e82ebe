"""The Python API, mirroring the CLI: build, load, save, simulate.

Example:
    >>> import spikelut as sl
    >>> net = sl.build("demos/oscillator.toml")      # paths are relative to the repository root
    >>> spikes = sl.random_spikes(net.n_in, steps=8, batch=2, rate=1.0)
    >>> res = sl.simulate(net, spikes)
    >>> res.layer_spikes[0][:, 0, 0]
    array([1, 0, 1, 0, 1, 0, 1, 0], dtype=uint8)
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from .config import build_network, load_config
from .engine.result import SimResult
from .errors import ConfigError
from .network import Network


def build(config: str | os.PathLike | dict, seed: int | None = None) -> Network:
    """Build a network from a TOML config file (or an already parsed config dict)."""
    cfg = config if isinstance(config, dict) else load_config(config)
    return build_network(cfg, seed=seed)


def simulate(net: Network, spikes: Any, engine: str = "auto", device: str = "cpu",
             record: str | int | Sequence[int] = "all") -> SimResult:
    """Simulate ``net`` on input spikes ``[T, B, n_in]`` (numpy, CuPy or any DLPack tensor).

    ``engine``: ``"reference"``, ``"bitsliced"``, ``"gpu"`` or ``"auto"`` (the fastest for the
    device); every engine gives bit-identical spikes. ``record``: which layers' spikes to keep
    (``"all"``, ``"readout"``, a layer index or a list); the others come back as ``None``.
    Results are arrays of the same framework as ``spikes``.
    """
    from .engine import get_engine

    return get_engine(engine, device)(net, spikes, record=record)


def random_spikes(channels: int, steps: int, batch: int, rate: float = 0.5,
                  seed: int = 0) -> np.ndarray:
    """Bernoulli spikes ``[steps, batch, channels]`` (uint8), each 1 with probability ``rate``."""
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"rate must be in [0, 1], got {rate}")
    if steps < 1 or batch < 1 or channels < 0:
        raise ConfigError(f"need steps >= 1, batch >= 1, channels >= 0; got {steps}, {batch}, {channels}")
    rng = np.random.default_rng(seed)
    return (rng.random((steps, batch, channels)) < rate).astype(np.uint8)


__all__ = ["build", "simulate", "random_spikes"]
