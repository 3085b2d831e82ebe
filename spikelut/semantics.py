"""DESIGN.md section 2, written once: tap address, table lookup, refractory gate.

This is the readable implementation of what a network computes, and the oracle every other one
(bit-sliced CPU, CUDA inference and training kernels, the RTL) is tested against. It runs on any
array module ``xp`` (numpy or CuPy), is vectorized over nodes and samples, and loops in Python
over cycles and layers. The reference engine (:mod:`spikelut.engine.reference`) and the
training forward pass (:func:`spikelut.train.bptt.forward`) are thin adapters over :func:`run`;
other models (the PyTorch twin, the RTL interpreter) compose the same three steps.

One cycle ``t`` of one layer, for its ``n`` nodes and ``B`` samples::

    addr = tap_address(history, row, tap_sig, tap_dly)       # [n, B]: sum_p tap_p << p
    a    = table_lookup(tables, table_off, addr)               # [n, B]: table[addr]
    s    = refractory_gate(a, history[row - R:row, nodes])     # [n, B]: a AND NOT any(last R)

``history`` is every signal's spikes, uint8 ``[D + T, n_signals, B]`` (signals numbered as in
:mod:`spikelut.lowering`): ``D`` zero rows, then row ``D + t`` = cycle ``t``, so a tap at delay
``d <= D`` reads row ``D + t - d`` and everything before cycle 0 reads as 0.

Example:
    >>> import numpy as np
    >>> from spikelut.network import Layer, Network, Readout
    >>> from spikelut.lowering import lower
    >>> osc = Layer(table=np.array([[0, 1, 0, 0]], np.uint8), source=np.array([[-1, 0]]),
    ...             index=np.array([[0, 0]]), delay=np.array([[0, 1]]))
    >>> low = lower(Network(1, [osc], Readout(0, [0], 1)))
    >>> tr = run(low, np.ones((6, 1, 1), np.uint8))
    >>> tr.layer_spikes(0)[:, 0, 0].tolist()
    [1, 0, 1, 0, 1, 0]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .lowering import Lowered, address_dtype
from .xp import array_module


def tap_values(history: Any, row: int, tap_sig: Any, tap_dly: Any) -> Any:
    """What every tap reads: ``history[row - tap_dly[j, p], tap_sig[j, p]]``.

    Args:
        history: ``[rows, n_signals, B]`` signal history (uint8 spikes; reals in the relaxed
            training model).
        row: history row of the current cycle.
        tap_sig, tap_dly: int ``[n, k]``: signal and delay (cycles) of each node's taps.

    Returns:
        ``[n, k, B]`` of the history's dtype.

    Raises:
        Nothing: the engines' inner loop checks nothing; indices out of range are numpy's
            IndexError (callers pass a lowered network's arrays).

    Example:
        >>> h = np.array([[[1], [0]], [[0], [1]]], np.uint8)   # 2 rows, 2 signals, 1 sample
        >>> tap_values(h, 1, np.array([[0, 1]]), np.array([[1, 0]]))[:, :, 0].tolist()
        [[1, 1]]
    """
    n_signals, B = history.shape[1], history.shape[2]
    return history.reshape(-1, B)[(row - tap_dly) * n_signals + tap_sig]


def tap_address(history: Any, row: int, tap_sig: Any, tap_dly: Any) -> Any:
    """LUT address of every node: ``addr = sum_p tap_p << p`` of :func:`tap_values`.

    Args:
        history: uint8 ``[rows, n_signals, B]`` spike history (0/1).
        row: history row of the current cycle.
        tap_sig, tap_dly: int ``[n, k]``: signal and delay (cycles) of each node's taps.

    Returns:
        ``[n, B]``: the address (tap 0 = least significant bit), uint8 for ``k <= 8``, uint16
        beyond (:func:`spikelut.lowering.address_dtype`).

    Raises:
        Nothing: the engines' inner loop checks nothing; indices out of range are numpy's
            IndexError (callers pass a lowered network's arrays).

    Example:
        >>> h = np.array([[[1], [0]], [[0], [1]]], np.uint8)   # 2 rows, 2 signals, 1 sample
        >>> tap_address(h, 1, np.array([[0, 1]]), np.array([[1, 0]])).tolist()
        [[3]]
    """
    bits = tap_values(history, row, tap_sig, tap_dly)
    if bits.shape[1] > 8:  # a 9..12-bit address does not fit the spikes' uint8
        bits = bits.astype(address_dtype(bits.shape[1]))
    addr = bits[:, 0]
    for p in range(1, bits.shape[1]):
        addr = addr | (bits[:, p] << p)
    return addr


def table_lookup(tables: Any, table_off: Any, addr: Any) -> Any:
    """Table output ``a = table[addr]`` of every node.

    Args:
        tables: uint8 ``[total]``: the nodes' tables concatenated, node ``j``'s entries starting
            at ``table_off[j]`` (:meth:`spikelut.lowering.Lowered.flat_tables`).
        table_off: int64 ``[n]``.
        addr: ``[n, B]`` from :func:`tap_address`.

    Returns:
        ``[n, B]`` of the tables' dtype.

    Raises:
        Nothing: the engines' inner loop checks nothing; indices out of range are numpy's
            IndexError (callers pass a lowered network's arrays).

    Example:
        >>> table_lookup(np.array([0, 1, 1, 0], np.uint8), np.array([0, 2]),
        ...              np.array([[1, 0], [0, 1]])).tolist()
        [[1, 0], [1, 0]]
    """
    return tables[table_off[:, None] + addr]


def refractory_gate(a: Any, recent: Any, suppress: Any = None) -> Any:
    """The spike: ``s = a AND NOT (s[t-1] OR ... OR s[t-R])``.

    Args:
        a: uint8 ``[n, B]`` table output.
        recent: uint8 ``[R, n, B]``: the node's own *spikes* (not table outputs) of the last
            ``R`` cycles; ``R = 0`` (an empty first axis) means no gate.
        suppress: optional uint8 ``[n, B]``: where 0, a recent spike does not silence the node
            (the training curriculum's relaxed gate, ``[train] refractory_ramp``); ``None`` is
            the exact circuit.

    Returns:
        uint8 ``[n, B]``.

    Raises:
        Nothing: ``recent`` must broadcast against ``a`` (numpy's ValueError otherwise).

    Example:
        >>> refractory_gate(np.array([[1, 1]], np.uint8), np.array([[[0, 1]], [[0, 0]]], np.uint8)).tolist()
        [[1, 0]]
    """
    if recent.shape[0] == 0:
        return a
    r = recent.max(axis=0)
    if suppress is not None:
        r = r & suppress
    return a & (1 - r)


def relaxed_refractory_gate(a: Any, recent: Any) -> Any:
    """The relaxed model's gate for real-valued signals: ``s = a * prod_r (1 - s[t-r])``; on 0/1
    values it is :func:`refractory_gate`.

    Args:
        a: real ``[n, B]`` table values in ``[0, 1]``.
        recent: real ``[R, n, B]``: the node's own outputs of the last ``R`` cycles.

    Returns:
        ``[n, B]`` of the promoted dtype (``a`` itself when ``R = 0``).

    Raises:
        Nothing: shapes that do not broadcast are numpy's ValueError.

    Example:
        >>> relaxed_refractory_gate(np.array([[0.8]]), np.array([[[0.5]], [[0.0]]])).tolist()
        [[0.4]]
    """
    if recent.shape[0] == 0:
        return a
    return a * (1.0 - recent).prod(axis=0)


@dataclass
class Trace:
    """What :func:`run` computed.

    Attributes:
        lowered: the network.
        history: uint8 ``[D + T, n_signals, B]``, row ``D + t`` = cycle ``t``.
        D: zero rows before cycle 0.
        addr: per layer, ``[T, n_i, B]`` LUT addresses of ``lowered.addr_dtype`` (uint8, or
            uint16 when some k > 8; empty unless ``save_addr``).

    Example:
        >>> from spikelut.lowering import lower
        >>> from spikelut.wiring import random_network
        >>> tr = run(lower(random_network(0, 3, [6, 2], k=3)), np.ones((5, 4, 3), np.uint8))
        >>> tr.D, tr.history.shape, tr.layer_spikes(1).shape
        (2, (7, 11, 4), (5, 4, 2))
    """

    lowered: Lowered
    history: Any
    D: int
    addr: list = field(default_factory=list)

    def layer_spikes(self, i: int) -> Any:
        """Layer ``i``'s spikes ``[T, B, n_i]`` (a view)."""
        return self.history[self.D:, self.lowered.layer_signals(i)].transpose(0, 2, 1)


def run(lowered: Lowered, spikes: Any, tables: Sequence[Any] | None = None,
        save_addr: bool = False, rows_before: int | None = None, xp: Any = None,
        gate: float = 1.0, rng: Any = None) -> Trace:
    """Run the network on input spikes ``[T, B, n_in]`` (0/1) from all-zero state.

    Args:
        lowered: the network (:func:`spikelut.lowering.lower`).
        spikes: ``[T, B, n_in]`` input spikes on ``xp`` (default: the array module of ``spikes``).
        tables: per layer ``[n_i, 2**k_i]`` 0/1 tables to use instead of the network's (the
            training forward passes ``theta > 0``).
        save_addr: keep every layer's LUT addresses (what the backward pass needs).
        rows_before: zero history rows before cycle 0; default ``depth_for(T) - 1``, the least
            that is exact. Delays and refractory periods longer than that are clipped to it
            (they read only cycles before 0, which are zero).
        gate: refractory gate strength; ``1.0`` (default) is the exact circuit. Below 1 a node
            that fired in its last ``R`` cycles is silenced only with probability ``gate``,
            drawn per node, sample and cycle from ``rng`` (a ``numpy.random.Generator``, on the
            host) in layer order: the training curriculum's relaxed gate.

    Returns:
        A :class:`Trace`.

    Raises:
        Nothing: the engines' core checks nothing. The spikes must be 0/1 ``[T, B, n_in]``
            (:func:`spikelut.engine.reference.simulate` checks them first; a 2 would set the
            next tap's address bit); ``rng`` is needed when ``gate < 1`` and a layer has
            ``R >= 1``.

    Example:
        >>> from spikelut.lowering import lower
        >>> from spikelut.wiring import random_network
        >>> low = lower(random_network(0, 3, [6, 2], k=3, refractory=1))
        >>> tr = run(low, np.ones((5, 4, 3), np.uint8), save_addr=True)
        >>> tr.layer_spikes(0).shape, tr.addr[0].shape, tr.addr[0].dtype
        ((5, 4, 6), (5, 6, 4), dtype('uint8'))
    """
    xp = xp or array_module(spikes)
    spikes = xp.asarray(spikes)
    T, B, _ = spikes.shape
    D = lowered.depth_for(T) - 1 if rows_before is None else int(rows_before)
    flat_tables = xp.asarray(lowered.flat_tables()) if tables is None else \
        lowered.flat_tables(tables, xp)
    history = xp.zeros((D + T, lowered.n_signals, B), xp.uint8)
    history[D:, :lowered.n_in] = spikes.transpose(0, 2, 1)
    layers = []
    for i in range(lowered.n_layers):
        lo, hi, k = int(lowered.layer_lo[i]), int(lowered.layer_hi[i]), int(lowered.layer_k[i])
        layers.append((lowered.layer_signals(i), min(int(lowered.layer_r[i]), D),
                       xp.asarray(lowered.tap_sig[lo:hi, :k].astype(np.int64)),
                       xp.asarray(np.minimum(lowered.tap_dly[lo:hi, :k], D).astype(np.int64)),
                       xp.asarray(lowered.table_off[lo:hi])))
    addrs = [xp.empty((T, sl.stop - sl.start, B), lowered.addr_dtype) for sl, *_ in layers] \
        if save_addr else []
    for t in range(T):
        row = D + t
        for i, (nodes, R, sig, dly, off) in enumerate(layers):
            addr = tap_address(history, row, sig, dly)
            a = table_lookup(flat_tables, off, addr)
            sup = None
            if R and gate < 1.0:  # relaxed gate: the suppression itself happens with p = gate
                sup = xp.asarray((rng.random((nodes.stop - nodes.start, B)) < gate).astype(np.uint8))
            history[row, nodes] = refractory_gate(a, history[row - R:row, nodes], sup)
            if save_addr:
                addrs[i][t] = addr
    return Trace(lowered, history, D, addrs)


__all__ = ["Trace", "refractory_gate", "relaxed_refractory_gate", "run", "table_lookup",
           "tap_address", "tap_values"]
