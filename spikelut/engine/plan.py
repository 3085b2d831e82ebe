"""What the compiled engines (CPU and GPU) read: the lowered network plus the recording choice.

The numbering, tables and history depth are :class:`spikelut.lowering.Lowered`'s (one flattening
for every backend); a :class:`Plan` adds only what one call decides: the layers whose spikes are
recorded (their output rows) and the history depth for ``T`` cycles. History is a ring of
``depth`` time slots: cycle ``t`` lives in slot ``t % depth``, and a tap at delay ``d`` reads slot
``(t - d) % depth``. Slots that were never written are zero, which is exactly "0 before cycle 0".

Example:
    >>> from spikelut.wiring import random_network
    >>> p = build_plan(random_network(0, n_in=4, sizes=[8, 3], k=3, max_delay=2))
    >>> p.n_signals, p.depth, p.tap_sig.shape
    (15, 3, (11, 12))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from ..lowering import Lowered, lower
from ..network import Network
from .bitpack import unpack


@dataclass
class Plan:
    """A lowered network as one call of a compiled engine (CPU or GPU) reads it: the
    :class:`~spikelut.lowering.Lowered` arrays (shared, read-only) plus what the call decides.

    Attributes:
        lowered: the lowered network.
        depth: ring-buffer slots of history per signal (``lowered.depth_for(T)``).
        tap_dly: int32 ``[N, K_MAX]``: delay of each tap, clipped to ``depth - 1``.
        layer_r: int64 ``[m]``: refractory period of each layer, clipped to ``depth - 1``.
        rec_row: int32 ``[N]``: output row of each node, -1 when its layer is not recorded.
        recorded: the recorded layers, in order; their rows are contiguous in that order.

    The other arrays are the lowered network's: ``n_in``, ``n_nodes``, ``n_signals``,
    ``n_layers``, ``layer_lo``/``layer_hi``/``layer_k`` (int64 ``[m]``), ``tap_sig`` (int32
    ``[N, K_MAX]``), ``table`` (uint64 ``[N]``, bit ``a`` = table entry ``a``, k <= 6) and
    ``table_words`` (uint64 ``[N, max(1, 2**(k_max - 6))]``, every k).
    """

    lowered: Lowered
    depth: int
    tap_dly: np.ndarray
    layer_r: np.ndarray
    rec_row: np.ndarray
    recorded: list[int]

    n_in = property(lambda self: self.lowered.n_in)
    n_nodes = property(lambda self: self.lowered.n_nodes)
    n_signals = property(lambda self: self.lowered.n_signals)
    n_layers = property(lambda self: self.lowered.n_layers)
    layer_lo = property(lambda self: self.lowered.layer_lo)
    layer_hi = property(lambda self: self.lowered.layer_hi)
    layer_k = property(lambda self: self.lowered.layer_k)
    tap_sig = property(lambda self: self.lowered.tap_sig)
    table = property(lambda self: self.lowered.table_word)
    table_words = property(lambda self: self.lowered.table_words)

    @property
    def n_recorded(self) -> int:
        return int((self.rec_row >= 0).sum())

    def level0_masks(self) -> tuple[np.ndarray, np.ndarray]:
        """``c, d`` uint64 ``[N, 2**(max(6, k_max) - 1)]`` for the first mux level:
        ``pair[a] = c ^ (tap0 & d)`` (32 columns up to k = 6; k = 7..12 need 64..2048).

        ``c`` is all-ones where table entry ``2a`` is 1, ``d`` all-ones where entries ``2a`` and
        ``2a + 1`` differ; so ``pair[a]`` is entry ``2a`` where tap 0 is 0 and ``2a + 1`` where
        it is 1. Rows of nodes with a smaller ``k`` are zero past ``2**(k-1)`` entries.
        """
        table = self.lowered.table  # uint8 [N, 2**k_max]
        pad = (1 << max(6, self.lowered.k_max)) - table.shape[1]
        if pad:
            table = np.pad(table, ((0, 0), (0, pad)))
        even, odd = table[:, 0::2].astype(np.uint64), table[:, 1::2].astype(np.uint64)
        ones = np.uint64(0xFFFFFFFFFFFFFFFF)
        return (even * ones).astype(np.uint64), ((even ^ odd) * ones).astype(np.uint64)


def recorded_layers(net: Network | Lowered, record: str | int | Sequence[int]) -> list[int]:
    """Resolve ``record`` (``"all"``, ``"readout"``, a layer name/index or a list) to layers.

    The readout layer is always among them (the counts need it).

    Raises:
        ConfigError: a name or index that is no layer, or a ``record`` of another type.

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=2, sizes=[3, 2, 2], k=2)
        >>> recorded_layers(net, "all"), recorded_layers(net, 0), recorded_layers(net, ["L1"])
        ([0, 1, 2], [0, 2], [1, 2])
    """
    names = list(net.names) if isinstance(net, Lowered) else [layer.name for layer in net.layers]
    m = len(names)
    if isinstance(record, str) and record == "all":
        return list(range(m))
    if isinstance(record, str) and record == "readout":
        return [net.readout.layer]
    if isinstance(record, (str, int, np.integer)) and not isinstance(record, (bool, np.bool_)):
        items = [record]
    elif isinstance(record, (list, tuple, np.ndarray)):
        items = list(np.asarray(record).ravel()) if isinstance(record, np.ndarray) else list(record)
    else:  # a float, a bool, None, a dict: was "'float' object is not iterable"
        raise ConfigError(f"record must be 'all', 'readout', a layer name or index, or a list of "
                          f"them; got {record!r}")
    layers = set()
    for x in items:
        if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
            if not 0 <= x < m:
                raise ConfigError(f"record: no layer {x}; the network has {m} layers")
            layers.add(int(x))
        elif x in names:
            layers.add(names.index(x))
        else:
            raise ConfigError(f"record: no layer named {x!r}; layers are {names}")
    if net.readout.layer not in layers:
        layers.add(net.readout.layer)  # the readout needs it
    return sorted(layers)


def build_plan(net: Network | Lowered, record: str | int | Sequence[int] = "all",
               steps: int | None = None) -> Plan:
    """The compiled engines' view of ``net`` (lowered once, cached); ``record`` picks the layers
    whose spikes are kept; ``steps`` (the run's cycles) clips the history depth
    (:meth:`~spikelut.lowering.Lowered.depth_for`) and, with it, delays longer than the run."""
    low = net if isinstance(net, Lowered) else lower(net)
    sizes = low.sizes
    depth = low.depth if steps is None else low.depth_for(steps)
    tap_dly = low.tap_dly
    if depth < low.depth:  # reads before cycle 0 are zero: clip delays so the ring stays small
        tap_dly = np.minimum(tap_dly, depth - 1).astype(np.int32)
    recorded = recorded_layers(low, record)
    rec_row = np.full(low.n_nodes, -1, np.int32)
    row = 0
    for i in recorded:
        lo, hi = int(low.layer_lo[i]), int(low.layer_hi[i])
        rec_row[lo:hi] = np.arange(row, row + sizes[i], dtype=np.int32)
        row += sizes[i]
    layer_r = np.minimum(low.layer_r, depth - 1) if depth < low.depth else low.layer_r
    return Plan(low, depth, tap_dly, layer_r, rec_row, recorded)


def split_recorded(plan: Plan, net: Network | Lowered, words: Any, batch: int) -> list:
    """Per-layer spikes ``[T, batch, n_i]`` from the recorded rows ``[T, n_recorded, W]`` of a
    fast engine's output (``None`` for layers not recorded)."""
    sizes = plan.lowered.sizes
    layer_spikes: list = [None] * len(sizes)
    row = 0
    for i in plan.recorded:
        n = sizes[i]
        layer_spikes[i] = unpack(words[:, row:row + n], batch)
        row += n
    return layer_spikes
