"""Rewrites of a network that keep its spikes bit for bit (DESIGN.md section 2).

:func:`fold_refractory` moves the refractory gate ``s = a AND NOT (s[t-1] OR ... OR s[t-R])`` into
the tables, where the node's own history bits are (or can become) taps. The RTL plan
(:mod:`spikelut.rtl.plan`) builds its LUTs from the folded network, so a folded node is one LUT
and nothing else.

Example:
    >>> import numpy as np
    >>> from spikelut.network import Layer, Network, Readout
    >>> copy = Layer(np.array([[0, 1, 0, 1]], np.uint8), [[-1, -1]], [[0, 0]], [[0, 0]],
    ...              refractory=1)
    >>> folded = fold_refractory(Network(1, [copy], Readout(0, [0], 1)))
    >>> lay = folded.layers[0]
    >>> lay.refractory, lay.k, lay.delay.tolist(), lay.table.tolist()
    (0, 3, [[0, 0, 1]], [[0, 1, 0, 1, 0, 0, 0, 0]])
"""

from __future__ import annotations

import numpy as np

from .network import K_LUT, Layer, Network, Readout

Tap = tuple[int, int, int]


def history_positions(taps: list[Tap], layer: int, node: int, refractory: int) -> dict[int, int]:
    """``{d: p}``: tap ``p`` is the first tap reading the node's own spike at delay ``d``,
    for every ``d`` in ``1..refractory`` that some tap reads.

    Args:
        taps: the node's taps ``(source, index, delay)``, in tap order.
        layer, node: the node's layer index and index within it (its own spike's source).
        refractory: ``R``, the delays looked for are ``1..R``.

    Returns:
        ``{delay: tap position}``, in tap order (empty with ``R = 0``).

    Raises:
        Nothing: the arguments are not checked (:func:`fold_refractory` builds them).

    Example:
        >>> history_positions([(-1, 0, 0), (0, 0, 2), (0, 0, 1), (0, 0, 2)], 0, 0, 2)
        {2: 1, 1: 2}
    """
    out: dict[int, int] = {}
    for p, (s, idx, d) in enumerate(taps):
        if s == layer and idx == node and 1 <= d <= refractory and d not in out:
            out[d] = p
    return out


def clear_where_any(table: np.ndarray, positions: list[int], width: int) -> np.ndarray:
    """``table`` (``2**k`` entries, ``k <= width``) widened to ``2**width`` entries that ignore the
    address bits ``k .. width-1``, then cleared wherever an address bit in ``positions`` is 1.

    Args:
        table: uint8 0/1 ``[2**k]``, one node's table.
        positions: address bits (tap positions ``< width``) that clear an entry when 1.
        width: address bits of the result, ``>= k``.

    Returns:
        uint8 ``[2**width]``.

    Raises:
        Nothing: the arguments are not checked (a ``width < k`` truncates the table, a
            position ``>= width`` clears nothing); the callers pass a node's own taps.

    Example:
        >>> clear_where_any(np.array([0, 1, 1, 1], np.uint8), [1], 3).tolist()
        [0, 1, 0, 0, 0, 1, 0, 0]
    """
    k = len(table).bit_length() - 1
    addr = np.arange(1 << width)
    busy = np.zeros(addr.shape, bool)
    for p in positions:
        busy |= ((addr >> p) & 1).astype(bool)
    return (table[addr & ((1 << k) - 1)] & ~busy).astype(np.uint8)


def gate_is_folded(layer: Layer, layer_index: int, node: int) -> bool:
    """Whether node ``node``'s table already applies its layer's refractory gate: every history
    bit ``s[t-1] .. s[t-R]`` is a tap and the table is 0 wherever one of them is 1. Such a node
    needs no gate logic; :func:`fold_refractory` leaves every foldable node so.

    Args:
        layer: the layer (of a validated network).
        layer_index: its index in the network (the source its own taps name).
        node: the node's index in the layer.

    Returns:
        ``True`` also for a layer with ``R = 0`` (no gate at all).

    Raises:
        IndexError: ``node`` is not a node of ``layer``.

    Example:
        >>> import numpy as np
        >>> lay = Layer(np.array([[0, 1, 0, 0]], np.uint8), [[-1, 0]], [[0, 0]], [[0, 1]], 1)
        >>> gate_is_folded(lay, 0, 0)
        True
    """
    R = layer.refractory
    if R == 0:
        return True
    taps = _node_taps(layer, node)
    hist = history_positions(taps, layer_index, node, R)
    if len(hist) < R:
        return False
    table = layer.table[node]
    return bool((table == clear_where_any(table, list(hist.values()), layer.k)).all())


def _node_taps(layer: Layer, j: int) -> list[Tap]:
    return [(int(layer.source[j, p]), int(layer.index[j, p]), int(layer.delay[j, p]))
            for p in range(layer.k)]


def _fold_layer(layer: Layer, i: int) -> Layer:
    R, k = layer.refractory, layer.k
    if R == 0:
        return layer.copy()
    taps = [_node_taps(layer, j) for j in range(layer.n)]
    hist = [history_positions(t, i, j, R) for j, t in enumerate(taps)]
    missing = [[d for d in range(1, R + 1) if d not in h] for h in hist]
    # a node folds when its history bits are all taps (same width, any k) or when the missing
    # ones widen it to at most one LUT6; a larger node keeps an explicit gate
    foldable = [not m or k + len(m) <= K_LUT for m in missing]
    width = k + max([len(m) for m, ok in zip(missing, foldable) if ok] + [0])
    new_taps, tables = [], []
    for j in range(layer.n):
        extra = [(i, j, d) for d in missing[j]] if foldable[j] else []
        # padding to the layer's common width repeats tap 0 (no new signal, no new register);
        # the table ignores it
        pad = [taps[j][0]] * (width - k - len(extra))
        new_taps.append(taps[j] + extra + pad)
        positions = list(hist[j].values()) + list(range(k, k + len(extra))) if foldable[j] else []
        tables.append(clear_where_any(layer.table[j], positions, width))
    arr = np.asarray(new_taps, np.int32).reshape(layer.n, width, 3)
    changed = width != k or any(not np.array_equal(t, layer.table[j]) for j, t in enumerate(tables))
    logits = None if changed or layer.logits is None else layer.logits.copy()
    return Layer(np.asarray(tables, np.uint8).reshape(layer.n, 1 << width), arr[..., 0],
                 arr[..., 1], arr[..., 2], 0 if all(foldable) else R, layer.name, logits)


def fold_refractory(net: Network) -> Network:
    """A network with the same spikes as ``net`` whose refractory gates are in the tables.

    Per layer with refractory ``R >= 1`` and per node, the history bits ``s[t-1] .. s[t-R]`` are
    the node's own spike at delays ``1..R``:

    * those already tapped stay where they are; the ``m`` missing ones are appended as taps
      (in increasing delay) when ``k + m <= 6`` (or ``m = 0``, any k); the table becomes
      ``table'[a] = table[a]`` with every entry where a history bit is 1 cleared (the gate, folded);
    * a node with ``m > 0`` and ``k + m > 6`` keeps its table (its gate cannot fold).

    All nodes of a layer share one ``k``: the layer widens to ``k + `` the largest ``m`` of its
    foldable nodes, and narrower nodes are padded with copies of their tap 0 that the table
    ignores. A layer whose nodes all fold gets ``refractory = 0``; a layer with an unfoldable
    node keeps ``R`` (the gate is then redundant for its folded nodes, see
    :func:`gate_is_folded`). No new signal or register appears: ``flip_flops()`` is unchanged.
    Layers whose table changed lose their ``logits`` (the table no longer equals ``logits > 0``).
    Layers with ``R = 0`` and the readout are copied unchanged.

    Args:
        net: a validated network.

    Returns:
        A new validated :class:`~spikelut.network.Network`; ``net`` is not modified.

    Raises:
        ConfigError: ``net`` is not a :class:`~spikelut.network.Network`.

    Example:
        >>> import numpy as np
        >>> from spikelut.network import Layer, Network, Readout
        >>> osc = Layer(np.array([[0, 1, 1, 1]], np.uint8), [[-1, 0]], [[0, 0]], [[0, 1]], 1)
        >>> fold_refractory(Network(1, [osc], Readout(0, [0], 1))).layers[0].table.tolist()
        [[0, 1, 0, 0]]
    """
    if not isinstance(net, Network):  # was an AttributeError ('str' object has no 'layers')
        from .errors import ConfigError

        raise ConfigError(f"fold_refractory: expected a spikelut Network, got {type(net).__name__}")
    layers = [_fold_layer(layer, i) for i, layer in enumerate(net.layers)]
    r = net.readout
    return Network(net.n_in, layers, Readout(r.layer, r.class_of.copy(), r.classes, r.start),
                   dict(net.meta))
