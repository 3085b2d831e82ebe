"""A network flattened into the integer tables the compiled engines (CPU and GPU) read.

Both fast engines see one flat signal space: signals ``0 .. n_in-1`` are the input channels,
signal ``n_in + u`` is node ``u`` in global node order (layer 0's nodes first). Their history is a
ring of ``depth`` time slots (``depth = max(largest delay, largest refractory) + 1``): cycle ``t``
lives in slot ``t % depth``, and a tap at delay ``d`` reads slot ``(t - d) % depth``. Slots that
were never written are zero, which is exactly "0 before cycle 0". This module holds no semantics
of its own: it only renumbers what :class:`~spikelut.network.Network` says.

Example:
    >>> from spikelut.wiring import random_network
    >>> p = build_plan(random_network(0, n_in=4, sizes=[8, 3], k=3, max_delay=2))
    >>> p.n_signals, p.depth, p.tap_sig.shape
    (15, 3, (11, 6))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from ..network import INPUT, K_MAX, Network
from .bitpack import unpack


@dataclass
class Plan:
    """Flat, engine-ready description of a network (all arrays C-contiguous numpy).

    Attributes:
        n_in: input channels.
        n_nodes: nodes of all layers.
        depth: ring-buffer slots of history per signal.
        layer_lo, layer_hi: int64 ``[m]``: global node range ``[lo, hi)`` of each layer.
        layer_k, layer_r: int64 ``[m]``: taps per node and refractory period of each layer.
        tap_sig: int32 ``[N, 6]``: signal each tap reads (taps past ``k`` are 0 and unused).
        tap_dly: int32 ``[N, 6]``: delay of each tap.
        table: uint64 ``[N]``: bit ``a`` = table entry ``a``.
        rec_row: int32 ``[N]``: output row of each node, -1 when its layer is not recorded.
        recorded: the recorded layers, in order; their rows are contiguous in that order.
    """

    n_in: int
    n_nodes: int
    depth: int
    layer_lo: np.ndarray
    layer_hi: np.ndarray
    layer_k: np.ndarray
    layer_r: np.ndarray
    tap_sig: np.ndarray
    tap_dly: np.ndarray
    table: np.ndarray
    rec_row: np.ndarray
    recorded: list[int]

    @property
    def n_signals(self) -> int:
        return self.n_in + self.n_nodes

    @property
    def n_layers(self) -> int:
        return len(self.layer_lo)

    @property
    def n_recorded(self) -> int:
        return int((self.rec_row >= 0).sum())

    def level0_masks(self) -> tuple[np.ndarray, np.ndarray]:
        """``c, d`` uint64 ``[N, 32]`` for the first mux level: ``pair[a] = c ^ (tap0 & d)``.

        ``c`` is all-ones where table entry ``2a`` is 1, ``d`` all-ones where entries ``2a`` and
        ``2a + 1`` differ; so ``pair[a]`` is entry ``2a`` where tap 0 is 0 and ``2a + 1`` where
        it is 1. Rows of nodes with ``k < 6`` are zero past ``2**(k-1)`` entries.
        """
        a = np.arange(1 << (K_MAX - 1), dtype=np.uint64)
        even = (self.table[:, None] >> (2 * a)[None, :]) & np.uint64(1)
        odd = (self.table[:, None] >> (2 * a + 1)[None, :]) & np.uint64(1)
        ones = np.uint64(0xFFFFFFFFFFFFFFFF)
        return (even * ones).astype(np.uint64), ((even ^ odd) * ones).astype(np.uint64)


def recorded_layers(net: Network, record: str | int | Sequence[int]) -> list[int]:
    """Resolve ``record`` (``"all"``, ``"readout"``, a layer name/index or a list) to layers."""
    m = len(net.layers)
    if isinstance(record, str) and record == "all":
        return list(range(m))
    if isinstance(record, str) and record == "readout":
        return [net.readout.layer]
    items = [record] if isinstance(record, (str, int, np.integer)) else list(record)
    try:
        layers = sorted({net.layer_index(x) for x in items})
    except Exception as e:  # NetworkError from layer_index names the bad layer
        raise ConfigError(f"record: {e}") from None
    if net.readout.layer not in layers:
        layers = sorted(layers + [net.readout.layer])  # the readout needs it
    return layers


def build_plan(net: Network, record: str | int | Sequence[int] = "all") -> Plan:
    """Flatten ``net`` for the compiled engines; ``record`` picks the layers whose spikes are kept."""
    sizes = net.sizes
    N = sum(sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    sig_base = np.concatenate([[0], net.n_in + starts[:-1]]).astype(np.int64)  # by source + 1
    depth = max([net.max_delay()] + [layer.refractory for layer in net.layers]) + 1
    tap_sig = np.zeros((N, K_MAX), np.int32)
    tap_dly = np.zeros((N, K_MAX), np.int32)
    table = np.zeros(N, np.uint64)
    for i, layer in enumerate(net.layers):
        lo, hi, k = starts[i], starts[i + 1], layer.k
        src = layer.source.astype(np.int64)
        tap_sig[lo:hi, :k] = sig_base[src - INPUT] + layer.index
        tap_dly[lo:hi, :k] = layer.delay
        weights = np.uint64(1) << np.arange(1 << k, dtype=np.uint64)
        table[lo:hi] = (layer.table.astype(np.uint64) * weights[None, :]).sum(axis=1, dtype=np.uint64)
    recorded = recorded_layers(net, record)
    rec_row = np.full(N, -1, np.int32)
    row = 0
    for i in recorded:
        rec_row[starts[i]:starts[i + 1]] = np.arange(row, row + sizes[i], dtype=np.int32)
        row += sizes[i]
    return Plan(
        n_in=net.n_in, n_nodes=N, depth=int(depth),
        layer_lo=starts[:-1].copy(), layer_hi=starts[1:].copy(),
        layer_k=np.array([layer.k for layer in net.layers], np.int64),
        layer_r=np.array([layer.refractory for layer in net.layers], np.int64),
        tap_sig=tap_sig, tap_dly=tap_dly, table=table, rec_row=rec_row, recorded=recorded)


def split_recorded(plan: Plan, net: Network, words: Any, batch: int) -> list:
    """Per-layer spikes ``[T, batch, n_i]`` from the recorded rows ``[T, n_recorded, W]`` of a
    fast engine's output (``None`` for layers not recorded)."""
    layer_spikes: list = [None] * len(net.layers)
    row = 0
    for i in plan.recorded:
        n = net.layers[i].n
        layer_spikes[i] = unpack(words[:, row:row + n], batch)
        row += n
    return layer_spikes
