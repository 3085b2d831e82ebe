"""One lowered form of a network: the flat integer arrays every backend is built from.

A :class:`~spikelut.network.Network` is lowered once (:func:`lower`, cached on the network,
which is immutable after validation) into a frozen :class:`Lowered`. The reference semantics
(:mod:`spikelut.semantics`), the bit-sliced CPU engine, the CUDA engine, the training passes
(numpy, numba, CUDA) and their argument builders read this one structure; none of them
renumbers a network on its own.

Numbering (DESIGN.md section 2, flattened):

* **signals**: ``0 .. n_in - 1`` are the input channels, signal ``n_in + u`` is node ``u`` in
  global node order (layer 0's nodes first, then layer 1's, ...);
* **taps**: node ``u``'s tap ``p`` reads signal ``tap_sig[u, p]`` at cycle ``t - tap_dly[u, p]``;
  columns ``p >= k`` of a layer with ``k < K_MAX`` taps are 0 and never read;
* **tables**: ``table[u, a]`` (0/1, ``2**k_max`` columns for the network's largest ``k_max``,
  zero past ``2**k``), the same as 64-bit words ``table_words[u, w]`` (bit ``b`` of word ``w`` =
  entry ``64 w + b``; one word per node up to k = 6, ``2**(k_max - 6)`` beyond; ``table_word``
  is word 0) and as one flat array of all nodes' tables of their own size, node ``u``'s starting
  at ``table_off[u]`` (``table_off[N]`` = total);
* **addresses** of recorded LUT lookups (training) are ``addr_dtype``: uint8 up to k = 8,
  uint16 beyond (k <= 12);
* **layers**: layer ``i`` holds nodes ``[layer_lo[i], layer_hi[i])``, has ``layer_k[i]`` taps per
  node and refractory period ``layer_r[i]``;
* **history depth**: ``depth = max(largest delay, largest refractory period) + 1`` cycles of each
  signal are all any node ever reads (ring buffers hold ``depth`` slots; the reference keeps
  ``depth - 1`` zero rows before cycle 0). :meth:`Lowered.depth_for` clips it to ``T + 1`` for a
  run of ``T`` cycles, since anything older than cycle 0 is zero.

Example:
    >>> import numpy as np
    >>> from spikelut.network import Layer, Network, Readout
    >>> a = Layer(np.zeros((2, 4), np.uint8), [[-1, -1], [-1, 0]], [[0, 1], [1, 0]], [[0, 0], [0, 2]])
    >>> b = Layer(np.ones((1, 8), np.uint8), [[0, 0, 1]], [[0, 1, 0]], [[1, 1, 1]], refractory=3)
    >>> low = lower(Network(2, [a, b], Readout(1, [0], 1)))
    >>> low.n_signals, low.depth, low.k_max, low.tap_sig[:, :3].tolist()
    (5, 4, 3, [[0, 1, 0], [1, 2, 0], [2, 3, 4]])
    >>> low.table_off.tolist(), low.depth_for(2)
    ([0, 4, 8, 16], 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .errors import ConfigError
from .network import INPUT, K_MAX

if TYPE_CHECKING:  # pragma: no cover
    from .network import Network, Readout


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Lowered:
    """A network flattened once into read-only numpy arrays (see the module docstring).

    Hashes by identity, so backends cache what they derive from it (bit-sliced masks, device
    copies) in a ``weakref.WeakKeyDictionary`` keyed on the object.

    Attributes:
        n_in: input channels.
        n_nodes: ``N``, the nodes of all layers.
        names: layer names, in evaluation order.
        layer_lo, layer_hi: int64 ``[m]``: node range ``[lo, hi)`` of each layer.
        layer_k, layer_r: int64 ``[m]``: taps per node and refractory period of each layer.
        tap_sig: int32 ``[N, K_MAX]``: signal each tap reads (0 past the layer's ``k``).
        tap_dly: int32 ``[N, K_MAX]``: delay of each tap in cycles (0 past ``k``).
        table: uint8 ``[N, 2**k_max]``: 0/1 truth tables, zero past ``2**k``.
        table_words: uint64 ``[N, max(1, 2**(k_max - 6))]``: the tables packed, bit ``b`` of
            word ``w`` = entry ``64 w + b``.
        table_word: uint64 ``[N]``: word 0 of ``table_words`` (the whole table when k <= 6).
        table_off: int64 ``[N + 1]``: offset of node ``u``'s ``2**k`` entries in the
            concatenation of all tables (:meth:`flat_tables`).
        max_delay, max_refractory: largest tap delay and refractory period (Python ints).
        readout: the network's (immutable) :class:`~spikelut.network.Readout`.

    Made by :func:`lower` only: the constructor takes the attributes above and checks nothing.

    Example:
        >>> from spikelut.wiring import random_network
        >>> low = lower(random_network(0, n_in=4, sizes=[8, 3], k=3))
        >>> low.n_signals, low.sizes, low.layer_lo.tolist(), low.layer_hi.tolist()
        (15, [8, 3], [0, 8], [8, 11])
    """

    n_in: int
    n_nodes: int
    names: tuple[str, ...]
    layer_lo: np.ndarray
    layer_hi: np.ndarray
    layer_k: np.ndarray
    layer_r: np.ndarray
    tap_sig: np.ndarray
    tap_dly: np.ndarray
    table: np.ndarray
    table_words: np.ndarray
    table_word: np.ndarray
    table_off: np.ndarray
    max_delay: int
    max_refractory: int
    readout: "Readout"

    @property
    def k_max(self) -> int:
        """The largest ``k`` of the network's layers."""
        return int(self.layer_k.max())

    @property
    def addr_dtype(self) -> type:
        """dtype of recorded LUT addresses: uint8 when every ``k <= 8``, else uint16."""
        return address_dtype(self.k_max)

    @property
    def n_signals(self) -> int:
        """Input channels plus nodes."""
        return self.n_in + self.n_nodes

    @property
    def n_layers(self) -> int:
        return len(self.names)

    @property
    def sizes(self) -> list[int]:
        return (self.layer_hi - self.layer_lo).tolist()

    @property
    def depth(self) -> int:
        """History a signal needs: ``max(largest delay, largest refractory) + 1`` cycles."""
        return max(self.max_delay, self.max_refractory) + 1

    def depth_for(self, steps: int) -> int:
        """:attr:`depth` for a run of ``steps`` cycles: at most ``steps + 1``, because every read
        further back than cycle 0 is zero anyway (keeps huge delays from allocating history).

        Example:
            >>> from spikelut.wiring import random_network
            >>> low = lower(random_network(0, n_in=2, sizes=[3], k=2, max_delay=5))
            >>> low.depth == max(low.max_delay, low.max_refractory) + 1 == low.depth_for(100)
            True
            >>> low.depth_for(2)
            3
        """
        return min(self.depth, int(steps) + 1)

    def signal(self, layer: int, node: int) -> int:
        """Signal number of ``node`` of ``layer`` (``layer = -1``: input channel ``node``).

        Raises:
            ConfigError: no such layer, or ``node`` outside it (was an IndexError, or the
                number of a node of the next layer).

        Example:
            >>> from spikelut.wiring import random_network
            >>> low = lower(random_network(0, n_in=2, sizes=[3, 1], k=2))
            >>> low.signal(-1, 1), low.signal(0, 0), low.signal(1, 0)
            (1, 2, 5)
        """
        layer, node = int(layer), int(node)
        if not INPUT <= layer < self.n_layers:
            raise ConfigError(f"signal: no layer {layer}; layers are -1 (the input) .. "
                              f"{self.n_layers - 1}")
        size = self.n_in if layer == INPUT else int(self.layer_hi[layer] - self.layer_lo[layer])
        if not 0 <= node < size:
            raise ConfigError(f"signal: layer {layer} has {size} "
                              f"{'channels' if layer == INPUT else 'nodes'}, no {node}")
        return node if layer == INPUT else self.n_in + int(self.layer_lo[layer]) + node

    def layer_signals(self, i: int) -> slice:
        """Signal range of layer ``i``'s nodes."""
        return slice(self.n_in + int(self.layer_lo[i]), self.n_in + int(self.layer_hi[i]))

    def flat_tables(self, tables: Sequence[np.ndarray] | None = None, xp=np) -> np.ndarray:
        """All nodes' tables concatenated (uint8 ``[table_off[N]]``): the network's own, or
        ``tables[i]`` (``[n_i, 2**k_i]`` per layer, e.g. ``theta > 0`` in training) on ``xp``."""
        if tables is None:
            return np.concatenate([self.table[lo:hi, :1 << k].ravel() for lo, hi, k in
                                   zip(self.layer_lo.tolist(), self.layer_hi.tolist(),
                                       self.layer_k.tolist())])
        return xp.concatenate([xp.ascontiguousarray(xp.asarray(t), dtype=xp.uint8).ravel()
                               for t in tables])


def address_dtype(k: int) -> type:
    """The smallest unsigned dtype holding a ``k``-bit LUT address (uint8 to k = 8, else uint16).

    Args:
        k: taps per node, 1..12 (a network's range; uint16 holds up to k = 16).

    Returns:
        ``np.uint8`` or ``np.uint16`` (the type, not a dtype instance).

    Raises:
        Nothing: ``k`` is not checked.

    Example:
        >>> address_dtype(8).__name__, address_dtype(12).__name__
        ('uint8', 'uint16')
    """
    return np.uint8 if k <= 8 else np.uint16


def lower(net: "Network") -> Lowered:
    """The lowered form of ``net``, built once and cached on the (immutable) network.

    Args:
        net: a validated :class:`~spikelut.network.Network`.

    Returns:
        Its :class:`Lowered` form; the same object on every call for the same network.

    Raises:
        ConfigError: ``net`` is not a :class:`~spikelut.network.Network`.

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=4, sizes=[8, 3], k=3, max_delay=2)
        >>> lower(net) is lower(net), lower(net).tap_sig.shape, lower(net).table.shape
        (True, (11, 12), (11, 8))
    """
    from .network import Network

    if not isinstance(net, Network):  # was "'str' object has no attribute '__dict__'"
        raise ConfigError(f"lower: expected a spikelut Network, got {type(net).__name__}")
    cached = net.__dict__.get("_lowered")
    if cached is not None:
        return cached
    low = _build(net)
    object.__setattr__(net, "_lowered", low)  # the network is frozen; this cache is not state
    return low


def _build(net: "Network") -> Lowered:
    sizes = [layer.n for layer in net.layers]
    N = sum(sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    # first signal of each source, indexed by source + 1 (source -1 = the input channels)
    sig_base = np.concatenate([[0], net.n_in + starts[:-1]]).astype(np.int64)
    tap_sig = np.zeros((N, K_MAX), np.int32)
    tap_dly = np.zeros((N, K_MAX), np.int32)
    k_max = max(layer.k for layer in net.layers)
    table = np.zeros((N, 1 << k_max), np.uint8)
    table_words = np.zeros((N, 1 << max(0, k_max - 6)), np.uint64)
    per_node = np.zeros(N + 1, np.int64)
    for i, layer in enumerate(net.layers):
        lo, hi, k = int(starts[i]), int(starts[i + 1]), layer.k
        tap_sig[lo:hi, :k] = sig_base[layer.source.astype(np.int64) - INPUT] + layer.index
        tap_dly[lo:hi, :k] = layer.delay
        table[lo:hi, :1 << k] = layer.table
        # 64 entries a word: bit b of word w is entry 64 w + b
        n_w, w_len = max(1, (1 << k) >> 6), min(64, 1 << k)
        weights = np.uint64(1) << np.arange(w_len, dtype=np.uint64)
        words = layer.table.reshape(hi - lo, n_w, w_len).astype(np.uint64) * weights
        table_words[lo:hi, :n_w] = words.sum(axis=2, dtype=np.uint64)
        per_node[lo + 1:hi + 1] = 1 << k
    return Lowered(
        n_in=int(net.n_in), n_nodes=int(N), names=tuple(layer.name for layer in net.layers),
        layer_lo=_frozen(starts[:-1]), layer_hi=_frozen(starts[1:]),
        layer_k=_frozen(np.array([layer.k for layer in net.layers], np.int64)),
        layer_r=_frozen(np.array([layer.refractory for layer in net.layers], np.int64)),
        tap_sig=_frozen(tap_sig), tap_dly=_frozen(tap_dly), table=_frozen(table),
        table_words=_frozen(table_words), table_word=_frozen(table_words[:, 0]), table_off=_frozen(np.cumsum(per_node)),
        max_delay=max(int(layer.delay.max()) for layer in net.layers),
        max_refractory=max(int(layer.refractory) for layer in net.layers),
        readout=net.readout)


__all__ = ["Lowered", "address_dtype", "lower"]
