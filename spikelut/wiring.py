"""How taps are drawn: ``random``, ``serial``, ``local`` and explicit wiring, plus random networks.

Each strategy returns ``index``, ``int32 [n, c]``: which of a source's ``n_src`` channels each of
``n`` nodes reads with ``c`` taps. Sources and delays are filled in by :mod:`spikelut.config`.

Example:
    >>> import numpy as np
    >>> serial(n=3, c=2, n_src=5).tolist()
    [[0, 1], [2, 3], [4, 0]]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import ConfigError
from .network import INPUT, Layer, Network, Readout, readout_classes

STRATEGIES = ("random", "serial", "local")


def random_taps(rng: np.random.Generator, n: int, c: int, n_src: int,
                exclude: np.ndarray | None = None) -> np.ndarray:
    """Each node draws ``c`` channels uniformly, distinct where the source has enough channels.

    Args:
        rng: the random generator (the config's seed).
        n: number of nodes drawing.
        c: taps per node.
        n_src: number of channels of the source (input channels or nodes of a layer).
        exclude: optional ``int [n]``: ``exclude[j]`` is a channel node ``j`` must not draw (its
            own output, for ``from = "self"`` wiring).

    Returns:
        ``int32 [n, c]``: the channel each tap reads, in ``0 .. n_src-1``. The ``c`` channels of
        a node are distinct when ``c <= n_src`` (minus the excluded one), else drawn with
        replacement.

    Raises:
        ConfigError: the source has no channel left to draw from.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> idx = random_taps(rng, n=4, c=3, n_src=5)
        >>> idx.shape, idx.dtype.name, all(len(set(row)) == 3 for row in idx.tolist())
        ((4, 3), 'int32', True)
        >>> int((random_taps(rng, 3, 2, 3, exclude=np.arange(3)) == np.arange(3)[:, None]).sum())
        0
    """
    avail = n_src - (1 if exclude is not None else 0)
    if avail < 1:
        raise ConfigError(f"random wiring: the source has no channel to draw from (n_src = {n_src}"
                          f"{', minus the node itself' if exclude is not None else ''}); give the "
                          f"tap group a source with more channels")
    if c <= avail:
        # argsort of random keys gives c distinct picks per row in one vectorized step
        keys = rng.random((n, n_src))
        if exclude is not None:
            keys[np.arange(n), exclude] = np.inf
        return np.argsort(keys, axis=1)[:, :c].astype(np.int32)
    idx = rng.integers(0, avail, size=(n, c))
    if exclude is not None:
        idx = idx + (idx >= exclude[:, None])
    return idx.astype(np.int32)


def serial(n: int, c: int, n_src: int, offset: int = 0) -> np.ndarray:
    """BinaryBrain's serial wiring: tap ``p`` of node ``j`` reads channel ``(j*c + p + offset) % n_src``.

    Args:
        n: number of nodes.
        c: taps per node.
        n_src: number of channels of the source (must be >= 1).
        offset: channel of tap 0 of node 0.

    Returns:
        ``int32 [n, c]``: the channel each tap reads.

    Raises:
        ConfigError: ``n_src < 1``.

    Example:
        >>> serial(n=3, c=2, n_src=5, offset=1).tolist()
        [[1, 2], [3, 4], [0, 1]]
    """
    if n_src < 1:  # % 0 gave all-zero taps and a RuntimeWarning, not an error
        raise ConfigError(f"serial wiring needs a source of at least 1 channel, got {n_src}")
    return ((np.arange(n)[:, None] * c + np.arange(c)[None, :] + offset) % n_src).astype(np.int32)


def local(rng: np.random.Generator, n: int, c: int, shape: Sequence[int], window: int) -> np.ndarray:
    """A receptive field: each node draws ``c`` channels inside a patch of the source.

    Node ``j``'s patch is ``window`` channels (1-D source) or ``window x window`` channels (2-D
    source, row-major channel order) centred at evenly spaced positions over the source's
    ``shape``, shifted to stay inside it and clipped to the source's size.

    Args:
        rng: the random generator (the config's seed).
        n: number of nodes.
        c: taps per node.
        shape: the source's arrangement, ``[L]`` or ``[H, W]`` (``prod(shape)`` channels).
        window: patch width in channels (>= 1).

    Returns:
        ``int32 [n, c]``: the channel each tap reads, in ``0 .. prod(shape)-1``.

    Raises:
        ConfigError: ``shape`` is not 1-D or 2-D with positive sizes, or ``window < 1``.

    Example:
        >>> idx = local(np.random.default_rng(0), n=4, c=2, shape=[6, 6], window=3)
        >>> idx.shape, bool((idx // 6 < 3)[0].all())     # node 0 sits in the top rows
        ((4, 2), True)
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (1, 2) or min(shape) < 1:
        raise ConfigError(f"local wiring needs a 1-D or 2-D source shape, got {list(shape)}")
    if window < 1:
        raise ConfigError(f"local wiring: window must be >= 1, got {window}")
    size = int(np.prod(shape))
    centres = np.floor((np.arange(n) + 0.5) * size / n).astype(np.int64)
    if len(shape) == 1:
        w = min(window, shape[0])
        start = np.clip(centres - w // 2, 0, shape[0] - w)
        patch = start[:, None] + np.arange(w)[None, :]
    else:
        H, W = shape
        wh, ww = min(window, H), min(window, W)
        r0 = np.clip(centres // W - wh // 2, 0, H - wh)
        c0 = np.clip(centres % W - ww // 2, 0, W - ww)
        dr, dc = np.meshgrid(np.arange(wh), np.arange(ww), indexing="ij")
        patch = (r0[:, None] + dr.ravel()[None, :]) * W + c0[:, None] + dc.ravel()[None, :]
    pick = random_taps(rng, n, c, patch.shape[1])
    return np.take_along_axis(patch, pick, axis=1).astype(np.int32)


def random_network(seed: int, n_in: int, sizes: Sequence[int], k: int | Sequence[int] = 6,
                   max_delay: int = 2, refractory: int | Sequence[int] = 0,
                   recurrent: bool = True, classes: int = 2, start: int = 0) -> Network:
    """A random valid network (for tests and benchmarks): every tap picks a random legal source.

    Taps read the input or an earlier layer at any delay ``0..max_delay``; with ``recurrent``,
    also this or a later layer (the node's own output included) at delay ``1..max_delay``.
    Tables are uniform random bits; the readout is the last layer.

    Args:
        seed: seeds everything drawn.
        n_in: number of input channels (may be 0 when ``recurrent``).
        sizes: nodes per layer.
        k: taps per node, one value or one per layer (1..12).
        max_delay: largest tap delay in cycles.
        refractory: refractory period ``R`` in cycles, one value or one per layer.
        recurrent: allow taps to this and later layers (at delay >= 1).
        classes: readout classes (at most the last layer's size), nodes in equal blocks.
        start: first cycle the readout counts.

    Returns:
        A validated :class:`~spikelut.network.Network`.

    Raises:
        ConfigError: an argument out of range (sizes, ``k`` 1..12, delays, refractory periods,
            a per-layer list of another length than ``sizes``), checked before anything is
            drawn; layer 0 has nothing to read (no inputs and no recurrence).
        NetworkError: the arguments give an illegal network (e.g. more classes than nodes).

    Example:
        >>> net = random_network(0, n_in=8, sizes=[16, 4], k=3, classes=2)
        >>> net.sizes
        [16, 4]
    """
    from . import limits

    def whole(v: object) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    # checked before anything is drawn: k = 40 allocated a 2**40-entry table (MemoryError), a k
    # list shorter than sizes dropped layers, an empty sizes list raised IndexError
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"random_network: seed must be an integer >= 0, got {seed!r}")
    sizes = list(sizes)
    if not sizes or not all(whole(n) and 1 <= n <= limits.MAX_NODES_PER_LAYER for n in sizes):
        raise ConfigError(f"random_network: sizes must be one or more node counts "
                          f"1..{limits.MAX_NODES_PER_LAYER}, got {sizes!r}")
    m = len(sizes)
    ks = [k] * m if whole(k) else list(k)
    rs = [refractory] * m if whole(refractory) else list(refractory)
    if len(ks) != m or not all(whole(v) and limits.MIN_K <= v <= limits.MAX_K for v in ks):
        raise ConfigError(f"random_network: k must be {limits.MIN_K}..{limits.MAX_K}, one value or "
                          f"one per layer ({m}), got {k!r}")
    if len(rs) != m or not all(whole(v) and 0 <= v <= limits.MAX_REFRACTORY for v in rs):
        raise ConfigError(f"random_network: refractory must be 0..{limits.MAX_REFRACTORY}, one "
                          f"value or one per layer ({m}), got {refractory!r}")
    if not whole(max_delay) or not 0 <= max_delay <= limits.MAX_DELAY:
        raise ConfigError(f"random_network: max_delay must be 0..{limits.MAX_DELAY}, got "
                          f"{max_delay!r}")
    if not whole(n_in) or not 0 <= n_in <= limits.MAX_INPUTS:
        raise ConfigError(f"random_network: n_in must be 0..{limits.MAX_INPUTS}, got {n_in!r}")
    rng = np.random.default_rng(seed)
    layers = []
    for i, (n, ki, r) in enumerate(zip(sizes, ks, rs)):
        options = ([INPUT] if n_in else []) + list(range(i))
        if recurrent and max_delay >= 1:
            options += list(range(i, m))
        if not options:
            raise ConfigError("random_network: layer 0 has nothing to read (no inputs, no recurrence)")
        src = rng.choice(options, size=(n, ki)).astype(np.int32)
        lim = np.where(src == INPUT, n_in, np.asarray(list(sizes))[src])
        idx = (rng.random((n, ki)) * lim).astype(np.int32)
        lo = (src >= i).astype(np.int32)  # recurrent taps need delay >= 1
        dly = (lo + rng.integers(0, max_delay + 1, size=(n, ki)) % (max_delay + 1 - lo)).astype(np.int32)
        table = rng.integers(0, 2, size=(n, 1 << ki), dtype=np.uint8)
        layers.append(Layer(table, src, idx, dly, int(r), f"L{i}"))
    n_out = sizes[-1]
    cls = min(classes, n_out)
    return Network(n_in, layers, Readout(m - 1, readout_classes(n_out, cls), cls, start))
