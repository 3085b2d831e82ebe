"""The reference engine: :mod:`spikelut.semantics` (DESIGN.md section 2) as an engine.

This is the oracle. Every faster engine, the trainer's forward pass and the generated RTL are
tested for exact equality with it, so it favours being obviously right over being fast: a Python
loop over time and layers, vectorized over batch and nodes, on any array module ``xp``. It holds
no semantics of its own: it runs :func:`spikelut.semantics.run` on the lowered network and
reshapes the history into per-layer spikes.

Example:
    >>> import numpy as np
    >>> from spikelut.network import Layer, Network, Readout
    >>> from spikelut.engine.reference import simulate
    >>> osc = Layer(table=np.array([[0, 1, 0, 0]], np.uint8), source=np.array([[-1, 0]]),
    ...             index=np.array([[0, 0]]), delay=np.array([[0, 1]]))
    >>> net = Network(1, [osc], Readout(0, [0], 1))
    >>> res = simulate(net, np.ones((6, 1, 1), np.uint8))
    >>> res.layer_spikes[0][:, 0, 0].tolist()
    [1, 0, 1, 0, 1, 0]
"""

from __future__ import annotations

from typing import Any

from ..lowering import Lowered, lower
from ..network import Network
from ..semantics import run
from ..xp import array_module
from .plan import recorded_layers
from .result import SimResult, check_spikes, readout


def simulate(net: Network | Lowered, spikes: Any, xp=None, record: Any = "all") -> SimResult:
    """Simulate ``net`` on input spikes ``[T, B, n_in]`` (0/1); every sample starts from zero state.

    Returns every layer's spikes ``[T, B, n_i]`` (uint8, C-contiguous; ``None`` for the layers
    ``record`` leaves out, as in :func:`spikelut.engine.plan.recorded_layers`), the readout
    counts and predictions, on the device of ``spikes`` (or of ``xp`` when given).

    Args:
        net: the network, or its :func:`~spikelut.lowering.lower` form (cached on the network).
        spikes: 0/1 input spikes ``[T, B, n_in]`` (any integer, bool or float dtype holding
            0/1), numpy or CuPy.
        xp: the array module to run on (numpy or cupy); default that of ``spikes``.
        record: the layers whose spikes are kept: ``"all"``, ``"readout"``, a layer index or
            name, or a list of them (the readout layer always).

    Returns:
        A :class:`~spikelut.engine.result.SimResult`.

    Raises:
        ShapeError: ``spikes`` are not ``[T, B, n_in]`` of 0/1 with ``T, B >= 1``, or the
            history ``[T + depth, signals, B]`` (uint8) is over the array limit
            (:func:`spikelut.limits.max_array_bytes`), refused before it is allocated.
        ConfigError: ``record`` names no layer.

    Example:
        >>> import numpy as np
        >>> from spikelut.wiring import random_network
        >>> x = np.random.default_rng(0).integers(0, 2, (5, 4, 3)).astype(np.uint8)
        >>> res = simulate(random_network(0, 3, [6, 2], k=3), x, record="L1")
        >>> [None if s is None else s.shape for s in res.layer_spikes], res.pred.tolist()
        ([None, (5, 4, 2)], [1, 1, 0, 1])
    """
    low = net if isinstance(net, Lowered) else lower(net)
    xp = xp or array_module(spikes)
    keep = recorded_layers(low, record)
    # the history [T + depth, signals, B] and the recorded layers' copies, bounded first
    kept = sum(low.sizes[i] for i in keep)
    spikes = check_spikes(low, xp.asarray(spikes), work=(low.depth, low.n_signals + kept))
    trace = run(low, spikes, xp=xp)
    layer_spikes = [xp.ascontiguousarray(trace.layer_spikes(i)) if i in keep else None
                    for i in range(low.n_layers)]
    counts, pred = readout(low, layer_spikes[low.readout.layer])
    return SimResult(layer_spikes, counts, pred)
