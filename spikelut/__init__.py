"""spikelut: networks of self-referencing spiking lookup tables, from simulation to FPGA.

Example:
    >>> import spikelut as sl
    >>> net = sl.build("demos/oscillator.toml")               # doctest: +SKIP
    >>> res = sl.simulate(net, sl.random_spikes(net.n_in, steps=8, batch=1, rate=1.0))  # doctest: +SKIP
"""

__version__ = "0.1.0"

from . import threads as _threads

_threads.configure()  # before anything imports numba: how its threads wait (docs/threads.md)

from .api import build, encode_file, random_spikes, simulate, simulate_file
from .engine.result import SimResult
from .errors import (ConfigError, FileFormatError, NetworkError, ShapeError, SpikelutError,
                     ToolError)
from .io import SpikeData, load_model, load_result, load_spikes, save_model, save_spikes
from .network import Layer, Network, Readout

__all__ = [
    "__version__", "build", "simulate", "simulate_file", "encode_file", "random_spikes", "SimResult",
    "Layer", "Network", "Readout", "SpikeData",
    "load_model", "save_model", "load_spikes", "save_spikes", "load_result",
    "SpikelutError", "ConfigError", "FileFormatError", "NetworkError", "ShapeError", "ToolError",
]
