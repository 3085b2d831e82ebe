"""spikelut: networks of self-referencing spiking lookup tables, from simulation to FPGA.

The names below are imported on first use (PEP 562), so that ``import spikelut`` (and the
``spikelut`` command before it parses its arguments) does not wait for numpy, numba and h5py:
a Ctrl-C while the command starts is then caught by :func:`spikelut.cli.run`, not a traceback.
Submodules (``spikelut.api``, ``spikelut.analysis``, ...) load the same way on attribute access.

Example:
    >>> import spikelut as sl
    >>> sl.Network.__name__, sl.api.__name__
    ('Network', 'spikelut.api')
    >>> net = sl.build("demos/oscillator.toml")               # doctest: +SKIP
    >>> res = sl.simulate(net, sl.random_spikes(net.n_in, steps=8, batch=1, rate=1.0))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from . import threads as _threads

_threads.configure()  # before anything imports numba: how its threads wait (docs/threads.md)

#: public name -> the submodule that defines it
_EXPORTS = {
    "build": "api", "encode_file": "api", "random_spikes": "api", "simulate": "api",
    "simulate_file": "api", "SimResult": "engine.result",
    "ConfigError": "errors", "FileFormatError": "errors", "NetworkError": "errors",
    "ShapeError": "errors", "SpikelutError": "errors", "ToolError": "errors",
    "SpikeData": "io", "load_model": "io", "load_result": "io",
    "load_result_sample": "io", "load_spikes": "io",
    "save_model": "io", "save_spikes": "io",
    "Layer": "network", "Network": "network", "Readout": "network",
}

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from .api import build, encode_file, random_spikes, simulate, simulate_file
    from .engine.result import SimResult
    from .errors import (ConfigError, FileFormatError, NetworkError, ShapeError, SpikelutError,
                         ToolError)
    from .io import (SpikeData, load_model, load_result, load_result_sample, load_spikes,
                     save_model, save_spikes)
    from .network import Layer, Network, Readout


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    else:
        try:  # a submodule: spikelut.api, spikelut.analysis, ...
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise  # the submodule exists but something it imports does not
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value  # once: later look-ups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "__version__", "build", "simulate", "simulate_file", "encode_file", "random_spikes", "SimResult",
    "Layer", "Network", "Readout", "SpikeData",
    "load_model", "save_model", "load_spikes", "save_spikes", "load_result",
    "load_result_sample",
    "SpikelutError", "ConfigError", "FileFormatError", "NetworkError", "ShapeError", "ToolError",
]
