"""The reference engine: DESIGN.md section 2, written once against an array module ``xp``.

This is the oracle. Every faster engine, the trainer's forward pass and the generated RTL are
tested for exact equality with it, so it favours being obviously right over being fast: a Python
loop over time and layers, vectorized over batch and nodes.

Every signal (input channel or node) keeps its whole history in a buffer that starts with
``D`` rows of zeros, ``D`` = the largest delay or refractory period. Row ``D + t`` holds cycle
``t``, so a tap at delay ``d`` reads row ``D + t - d`` and cycles before 0 read as 0.

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

import numpy as np

from ..backend import array_module
from ..network import Network
from .result import SimResult, check_spikes, readout


def _tap_plan(net: Network, xp) -> list[list[list[tuple[int, Any, Any, Any]]]]:
    """Per layer, per tap: groups ``(source, node_columns, index, delay)`` sharing one source."""
    plan = []
    for layer in net.layers:
        taps = []
        for p in range(layer.k):
            groups = []
            for s in np.unique(layer.source[:, p]).tolist():
                cols = np.flatnonzero(layer.source[:, p] == s)
                groups.append((s, xp.asarray(cols), xp.asarray(layer.index[cols, p]),
                               xp.asarray(layer.delay[cols, p])))
            taps.append(groups)
        plan.append(taps)
    return plan


def simulate(net: Network, spikes: Any, xp=None) -> SimResult:
    """Simulate ``net`` on input spikes ``[T, B, n_in]`` (0/1); every sample starts from zero state.

    Returns every layer's spikes ``[T, B, n_i]`` (uint8), the readout counts and predictions, on
    the device of ``spikes`` (or of ``xp`` when given).
    """
    xp = xp or array_module(spikes)
    spikes = check_spikes(net, xp.asarray(spikes))
    T, B, _ = spikes.shape
    D = max([net.max_delay()] + [layer.refractory for layer in net.layers])
    # hist[0] = input, hist[i + 1] = layer i; row D + t = cycle t
    hist = [xp.zeros((D + T, B, net.n_in), xp.uint8)]
    hist[0][D:] = spikes
    hist += [xp.zeros((D + T, B, layer.n), xp.uint8) for layer in net.layers]
    tables = [xp.asarray(layer.table) for layer in net.layers]
    nodes = [xp.arange(layer.n)[None, :] for layer in net.layers]
    plan = _tap_plan(net, xp)

    for t in range(T):
        row = D + t
        for i, layer in enumerate(net.layers):
            addr = xp.zeros((B, layer.n), xp.int32)
            for p, groups in enumerate(plan[i]):
                bit = xp.empty((B, layer.n), xp.uint8)
                for s, cols, idx, dly in groups:
                    # mixed advanced indexing puts the node axis first: [n_cols, B]
                    bit[:, cols] = hist[s + 1][row - dly, :, idx].T
                addr |= bit.astype(xp.int32) << p
            fired = tables[i][nodes[i], addr]
            R = layer.refractory
            if R:
                recent = hist[i + 1][row - R:row].max(axis=0)
                fired = fired & (1 - recent)
            hist[i + 1][row] = fired

    layer_spikes = [h[D:] for h in hist[1:]]
    counts, pred = readout(net, layer_spikes[net.readout.layer])
    return SimResult(layer_spikes, counts, pred)
