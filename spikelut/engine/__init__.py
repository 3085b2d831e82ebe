"""Simulation engines. ``reference`` is the oracle; faster engines must equal it bit for bit.

Select one through the backend registry (:mod:`spikelut.backends`: ``numpy`` = reference,
``numba`` = bitsliced, ``cuda`` = gpu); :func:`get_engine` and :func:`resolve_engine` are the
older words, kept for one release.

=============  =======  ====================================================================
engine         device   what
=============  =======  ====================================================================
reference      cpu/gpu  numpy/CuPy gather, a Python loop over time and layers (the oracle)
bitsliced      cpu      numba, 64 samples per word, unrolled mux trees, all cores
gpu            gpu      CUDA kernel through CuPy, 32 samples per word, time loop fused
auto           any      the fastest bit-exact engine available for the device
=============  =======  ====================================================================

Every engine's ``run(net, spikes, record="all")`` takes numpy, CuPy or any DLPack tensor
(PyTorch, JAX, ...) and returns a :class:`SimResult` whose arrays are of the same framework;
``record`` ("all", "readout" or layer names/indices) picks the layers whose spikes are kept
(the others are ``None``).

Example:
    >>> from spikelut.engine import ENGINES, get_engine
    >>> "reference" in ENGINES and "bitsliced" in ENGINES
    True
    >>> run = get_engine("auto", "cpu")
    >>> run.engine
    'bitsliced'
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ..xp import from_dlpack, get_xp, resolve_device, result_converter
from ..errors import ConfigError
from ..network import Network
from .reference import simulate as simulate_reference
from .result import SimResult, readout

ENGINES = ("auto", "reference", "bitsliced", "gpu")
ENGINE_DEVICE = {"reference": ("cpu", "gpu"), "bitsliced": ("cpu",), "gpu": ("gpu",)}


def resolve_engine(name: str = "auto", device: str = "cpu") -> tuple[str, str]:
    """``(engine, device)`` that ``name`` and ``device`` mean here, after ``auto`` choices.

    Args:
        name: one of :data:`ENGINES`; ``"auto"``: ``gpu`` on a GPU, else ``bitsliced``.
        device: ``"cpu"``, ``"gpu"`` or ``"auto"`` (the GPU when one is usable).

    Returns:
        ``(engine, device)``: an engine other than ``auto`` and ``"cpu"`` or ``"gpu"``. An
        engine that has no GPU form given ``device="auto"`` runs on the CPU.

    Raises:
        ConfigError: an unknown engine, or an engine that cannot run on the device asked for
            (``reference``/``bitsliced`` are CPU engines, ``gpu`` a GPU one).
        ToolError: an unknown device, or ``"gpu"`` without a usable GPU (CuPy and a device).

    Example:
        >>> resolve_engine("auto", "cpu")
        ('bitsliced', 'cpu')
        >>> resolve_engine("gpu", "cpu")
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: engine 'gpu' does not run on the CPU; use --engine bitsliced or --engine auto with --device cpu
    """
    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    if name != "auto" and device in ("cpu", "gpu") and device not in ENGINE_DEVICE[name]:
        other = "bitsliced" if device == "cpu" else "gpu"
        raise ConfigError(f"engine {name!r} does not run on the {device.upper()}; use --engine "
                          f"{other} or --engine auto with --device {device}")
    dev = resolve_device(device)
    if name == "auto":
        return ("gpu" if dev == "gpu" else "bitsliced"), dev
    if dev not in ENGINE_DEVICE[name]:  # device "auto" found a GPU this engine cannot use
        dev = "cpu"
    return name, dev


def get_engine(name: str = "reference", device: str = "cpu") -> Callable:
    """Return ``run(net, spikes, record="all") -> SimResult`` for engine ``name`` on ``device``.

    ``name`` is one of :data:`ENGINES` (``"auto"`` = the fastest bit-exact engine for the
    device), ``device`` one of ``cpu``, ``gpu``, ``auto``. The returned function accepts numpy,
    CuPy or DLPack tensors and returns results of the same framework; its ``engine`` and
    ``device`` attributes say what was chosen.

    Args:
        name, device: see :func:`resolve_engine`.

    Returns:
        ``run(net, spikes, record="all")``: simulates ``net`` on 0/1 spikes ``[T, B, n_in]``
        and returns a :class:`SimResult` (``record``: ``"all"``, ``"readout"``, a layer's
        index or name, or a list of them: the layers whose spikes are kept, the readout layer
        always). Every engine gives
        the same bits as :func:`simulate_reference`; ``run`` raises what it raises
        (ShapeError, ConfigError).

    Raises:
        ConfigError, ToolError: as :func:`resolve_engine`, before anything runs.

    Example:
        >>> import numpy as np
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=3, sizes=[6, 2], k=3)
        >>> res = get_engine("bitsliced")(net, np.ones((5, 4, 3), np.uint8))
        >>> res.pred.shape
        (4,)
    """
    from ..backends import get_backend

    engine, dev = resolve_engine(name, device)
    if engine == "reference" and dev == "gpu":  # the oracle on CuPy arrays: no backend of its own
        cp = get_xp("gpu")

        def run(net: Network, spikes: Any, record: str | int | Sequence[int] = "all") -> SimResult:
            back = result_converter(spikes)
            res = simulate_reference(net, cp.asarray(from_dlpack(spikes)), xp=cp, record=record)
            return SimResult([None if s is None else back(s) for s in res.layer_spikes],
                             back(res.counts), back(res.pred))
    else:
        backend = get_backend({"reference": "numpy", "bitsliced": "numba", "gpu": "cuda"}[engine])

        def run(net: Network, spikes: Any, record: str | int | Sequence[int] = "all") -> SimResult:
            return backend.simulate(net, spikes, record=record)

    run.engine = engine  # type: ignore[attr-defined]
    run.device = dev  # type: ignore[attr-defined]
    return run


__all__ = ["ENGINES", "SimResult", "get_engine", "readout", "resolve_engine", "simulate_reference"]
