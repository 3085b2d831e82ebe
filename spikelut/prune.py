"""Exact pruning: remove what provably never changes an output bit (``spikelut prune``).

Only simplifications that hold on *every* input are made; what merely never happened on a data
set is reported (``data_only``) and left alone. Three exact rules, applied to a fixed point:

1. **constant signals**: a node whose table is all 0 never spikes; one whose table is all 1 with
   refractory ``R = 0`` spikes every cycle. A tap reading an always-0 signal (any delay: before
   cycle 0 it reads 0 too) or an always-1 signal at delay 0 is fixed to that value, and the
   reading table is restricted to it (the cofactor), which may make that node constant in turn.
2. **unused taps**: a tap whose influence on the (restricted) table is 0 (O'Donnell def. 2.13,
   uniform distribution) changes no output for any value and is dropped; the table is re-indexed
   over the remaining taps. A layer's ``k`` becomes the largest number of taps a kept node still
   uses, but at least :data:`spikelut.network.K_MIN` = 1 (a node left with one used tap is a
   LUT1; padding taps repeat a used tap and are ignored by the table, so they add no flip-flop).
3. **dead nodes**: a node with no path of used taps to the readout layer is removed (every
   readout-layer node is an output bit of the circuit and is kept); a layer left empty goes too.

The result is checked by simulating both networks on random stimuli: every readout bit and every
kept node's spike must be equal (a mismatch would be a bug, and raises).

Example:
    >>> import numpy as np
    >>> from spikelut.network import Layer, Network, Readout
    >>> hid = Layer(np.array([[0, 1, 1, 0], [0, 0, 0, 0]]), [[-1, -1], [-1, -1]],
    ...             [[0, 1], [0, 1]], [[0, 0], [0, 0]])
    >>> out = Layer(np.array([[0, 1, 0, 1, 0, 1, 0, 1]]), [[0, 0, -1]], [[0, 1, 0]], [[0, 0, 0]])
    >>> net = Network(2, [hid, out], Readout(1, [0], 1))
    >>> small, rep = prune_network(net)
    >>> small.sizes, [layer.k for layer in small.layers], rep["luts"]
    ([1, 1], [2, 1], {'before': 3, 'after': 2, 'saved': 1})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .analog import require_binary
from .analysis import _per_batch, data_stats, influences, live_nodes
from .backends import Backend, get_backend
from .errors import ConfigError, ShapeError
from .limits import MAX_SAMPLES
from .network import INPUT, K_MIN, Layer, Network, Readout, all_binary

__all__ = ["Simplified", "simplify", "prune_network", "verify_equal"]


@dataclass
class Simplified:
    """The exact facts pruning uses, per layer.

    ``entry[i]``: int64 ``[n, 2**k]``, which original table entry each address now takes (the
    cofactor over fixed taps); ``fixed[i]``: int8 ``[n, k]``, the value a tap is fixed to or -1;
    ``relevant[i]``: bool ``[n, k]``, the tap matters; ``const0`` / ``const1``: bool ``[n]``,
    the node's spike is 0 (1) at every cycle on every input; ``live``: bool ``[n]``, the node
    has a path of relevant taps to the readout layer. Each list has one array per layer.

    Example:
        >>> from spikelut.wiring import random_network
        >>> simp = simplify(random_network(0, n_in=2, sizes=[3, 2], k=2))
        >>> [f.shape for f in simp.fixed], simp.entry[0].dtype
        ([(3, 2), (2, 2)], dtype('int64'))
    """

    entry: list[np.ndarray]
    fixed: list[np.ndarray]
    relevant: list[np.ndarray]
    const0: list[np.ndarray]
    const1: list[np.ndarray]
    live: list[np.ndarray]


def simplify(net: Network) -> Simplified:
    """Constant propagation, unused taps and liveness of ``net`` (exact on every input).

    The rules of this module's docstring, applied until nothing changes; tap relevance is the
    influence of O'Donnell, *Analysis of Boolean Functions* (2014), def. 2.13.

    Args:
        net: a binary network (not changed).

    Returns:
        A :class:`Simplified` with one array per layer in each field.

    Raises:
        ConfigError: ``net`` is not a Network, or is an analog model.

    Example:
        >>> from spikelut.network import Layer, Network, Readout
        >>> zero = Layer(np.zeros((1, 4), np.uint8), [[-1, -1]], [[0, 1]], [[0, 0]])
        >>> out = Layer(np.array([[0, 1, 0, 1]]), [[0, -1]], [[0, 0]], [[0, 0]])
        >>> simp = simplify(Network(2, [zero, out], Readout(1, [0], 1)))
        >>> simp.const0[0].tolist(), simp.fixed[1].tolist(), simp.live[0].tolist()
        ([True], [[0, -1]], [False])
    """
    require_binary(net, "simplify")  # None or a dict was an AttributeError on net.layers
    entry = [np.tile(np.arange(1 << layer.k, dtype=np.int64), (layer.n, 1)) for layer in net.layers]
    fixed = [np.full((layer.n, layer.k), -1, np.int8) for layer in net.layers]
    const0 = [np.zeros(layer.n, bool) for layer in net.layers]
    const1 = [np.zeros(layer.n, bool) for layer in net.layers]
    changed = True
    while changed:
        changed = False
        for i, layer in enumerate(net.layers):
            a = np.arange(1 << layer.k)
            for j in range(layer.n):
                for p in range(layer.k):
                    s, idx, d = int(layer.source[j, p]), int(layer.index[j, p]), int(layer.delay[j, p])
                    if fixed[i][j, p] >= 0 or s == INPUT:
                        continue
                    v = 0 if const0[s][idx] else (1 if const1[s][idx] and d == 0 else -1)
                    if v < 0:
                        continue
                    fixed[i][j, p] = v
                    entry[i][j] = entry[i][j][(a & ~(1 << p)) | (v << p)]
                    changed = True
                eff = layer.table[j][entry[i][j]]
                c0 = not eff.any()
                c1 = bool(eff.all()) and layer.refractory == 0
                if c0 != const0[i][j] or c1 != const1[i][j]:
                    const0[i][j], const1[i][j] = c0, c1
                    changed = True
    relevant = [influences(np.take_along_axis(layer.table, e, axis=1)) > 0
                for layer, e in zip(net.layers, entry)]
    return Simplified(entry, fixed, relevant, const0, const1, live_nodes(net, relevant))


def _free_tap(net: Network, i: int, j_new: int, kept_layers: list[int]) -> tuple[int, int, int]:
    """A tap for a node that uses none: read without adding a flip-flop where possible."""
    if net.n_in > 0:
        return INPUT, 0, 0
    earlier = [s for s in kept_layers if s < i]
    if earlier:
        return kept_layers.index(earlier[0]), 0, 0
    return -2, j_new, 1  # its own output at delay 1 (-2: this layer, resolved by the caller)


def prune_network(net: Network, data: Any = None, verify_samples: int = 64, seed: int = 0,
                  backend: str | Backend = "auto") -> tuple[Network, dict]:
    """A smaller network with exactly the same readout-layer spikes on every input, and a report.

    Args:
        net: the network (not changed: a new one is built).
        data: optional input spikes ``[T, B, n_in]``; adds ``data_only`` findings (nodes whose
            spike never changed and taps never pivotal on the data), which are not pruned.
        verify_samples: random stimuli simulated on both networks (0 = skip the check).
        seed: of those stimuli.
        backend: simulates the check (a name of :mod:`spikelut.backends` or a
            :class:`~spikelut.backends.Backend`; ``"auto"``: the fastest usable).

    Returns:
        ``(pruned, report)``; ``report`` holds ``luts``, ``flip_flops``, ``taps`` (before, after,
        saved), per-layer changes, ``constant_nodes``, ``dead_nodes``, ``verified`` (absent
        when ``verify_samples`` is 0) and ``data_only`` (only with ``data``).

    Raises:
        ConfigError: ``verify_samples`` not a whole number ``0..MAX_VERIFY_SAMPLES``, ``seed`` not
            a whole number ``>= 0``, an unknown backend, or ``net`` is an analog model (:mod:`spikelut.analog`): the rules read its
            binary view ``logits > 0`` and the check simulates that, so the pruned model would
            be another model, "checked" against the wrong one.
        RuntimeError: the check found a differing bit (a bug in pruning, never a user error).
        ShapeError: ``data`` that are not 0/1 spikes ``[T >= 1, B >= 1, n_in]`` (checked before
            any pruning work).

    Example:
        >>> from spikelut.wiring import random_network
        >>> small, rep = prune_network(random_network(0, n_in=2, sizes=[3, 2], k=2),
        ...                            verify_samples=4)
        >>> small.sizes, rep["taps"], rep["verified"]["mismatches"]
        ([2], {'before': 10, 'after': 4, 'saved': 6}, 0)
    """
    require_binary(net, "prune")
    if verify_samples:  # 0 skips the check; anything else is refused before the work
        _check_verify_samples(verify_samples)
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
            # was numpy's SeedSequence TypeError/ValueError, after all the pruning work
            raise ConfigError(f"seed must be a whole number >= 0 (of the check's random stimuli), "
                              f"got {seed!r}")
    if data is not None:  # refused before the work, as data_stats would refuse it after
        _check_data(net, data)
    simp = simplify(net)
    ro = net.readout.layer
    keep = [simp.live[i] | (i == ro) for i in range(len(net.layers))]
    kept_layers = [i for i in range(len(net.layers)) if keep[i].any()]
    new_of_layer = {s: n for n, s in enumerate(kept_layers)}
    new_of_node = [np.cumsum(k) - 1 for k in keep]
    layers, per_layer = [], []
    for i in kept_layers:
        layer = net.layers[i]
        js = np.flatnonzero(keep[i])
        used = [np.flatnonzero(simp.relevant[i][j]) for j in js]
        k_new = max([K_MIN] + [len(u) for u in used])
        n_new = len(js)
        src = np.zeros((n_new, k_new), np.int32)
        idx = np.zeros((n_new, k_new), np.int32)
        dly = np.zeros((n_new, k_new), np.int32)
        table = np.zeros((n_new, 1 << k_new), np.uint8)
        logits = None if layer.logits is None else np.zeros((n_new, 1 << k_new), np.float32)
        a = np.arange(1 << k_new)
        for jn, (j, u) in enumerate(zip(js, used)):
            for q in range(k_new):
                if q < len(u):
                    p = int(u[q])
                    s = int(layer.source[j, p])
                    src[jn, q] = s if s == INPUT else new_of_layer[s]
                    idx[jn, q] = layer.index[j, p] if s == INPUT else new_of_node[s][layer.index[j, p]]
                    dly[jn, q] = layer.delay[j, p]
                elif len(u):
                    src[jn, q], idx[jn, q], dly[jn, q] = src[jn, 0], idx[jn, 0], dly[jn, 0]
                else:
                    s, ix, d = _free_tap(net, i, jn, kept_layers)
                    src[jn, q] = new_of_layer[i] if s == -2 else s
                    idx[jn, q], dly[jn, q] = ix, d
            orig = np.zeros(1 << k_new, np.int64)
            for q, p in enumerate(u.tolist()):
                orig |= ((a >> q) & 1) << p
            cols = simp.entry[i][j][orig]
            table[jn] = layer.table[j][cols]
            if logits is not None:
                logits[jn] = layer.logits[j][cols]
        layers.append(Layer(table, src, idx, dly, layer.refractory, layer.name, logits))
        per_layer.append({"layer": i, "name": layer.name, "nodes_before": layer.n,
                          "nodes_after": n_new, "k_before": layer.k, "k_after": k_new})
    for i, layer in enumerate(net.layers):
        if i not in new_of_layer:
            per_layer.append({"layer": i, "name": layer.name, "nodes_before": layer.n,
                              "nodes_after": 0, "k_before": layer.k, "k_after": None})
    per_layer.sort(key=lambda r: r["layer"])
    r = net.readout
    meta = dict(net.meta)
    meta["pruned"] = {"luts_before": net.n_nodes, "flip_flops_before": net.flip_flops()}
    pruned = Network(net.n_in, layers, Readout(new_of_layer[ro], np.array(r.class_of), r.classes,
                                               r.start), meta)
    taps_before = sum(layer.n * layer.k for layer in net.layers)
    used_after = sum(int(simp.relevant[i][keep[i]].sum()) for i in kept_layers)

    def saved(before: int, after: int) -> dict:
        return {"before": before, "after": after, "saved": before - after}

    report = {
        "luts": saved(net.n_nodes, pruned.n_nodes),
        "flip_flops": saved(net.flip_flops(), pruned.flip_flops()),
        "taps": saved(taps_before, sum(layer.n * layer.k for layer in pruned.layers)),
        "used_taps_after": used_after,
        "layers": per_layer,
        "constant_nodes": int(sum((c0 | c1).sum() for c0, c1 in zip(simp.const0, simp.const1))),
        "dead_nodes": int(sum((~lv).sum() for lv in simp.live)),
        "fixed_taps": int(sum((f >= 0).sum() for f in simp.fixed)),
    }
    if verify_samples:
        report["verified"] = verify_equal(net, pruned, keep, verify_samples, seed, backend)
    if data is not None:
        report["data_only"] = _data_only(net, simp, keep, data)
    return pruned, report


def _check_data(net: Network, data: Any) -> None:
    """The rules :func:`spikelut.analysis.data_stats` applies to ``data``, with its messages:
    ``prune_network`` meets them before pruning and checking, not after (a file of the wrong
    width was refused only once all that work was done)."""
    try:
        x = np.asarray(data)
    except (TypeError, ValueError):  # ragged nested lists
        raise ShapeError(f"input spikes must be [T, B, {net.n_in}] 0/1 values; the nested lists "
                         f"given are ragged") from None
    if x.ndim != 3 or x.shape[2] != net.n_in:
        raise ShapeError(f"input spikes must be [T, B, {net.n_in}], got shape {x.shape}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ShapeError(f"input spikes need T >= 1 and B >= 1, got T={x.shape[0]}, "
                         f"B={x.shape[1]}")
    if not all_binary(x):
        raise ShapeError("input spikes must be 0 or 1")


def _data_only(net: Network, simp: Simplified, keep: list[np.ndarray], data: Any) -> dict:
    """What the data suggests but pruning must not assume (kept nodes only)."""
    ds = data_stats(net, data)
    stuck, never = [], 0
    for i, (d, k) in enumerate(zip(ds, keep)):
        for j in np.flatnonzero(k & d.stuck).tolist():
            stuck.append({"layer": i, "node": j, "value": int(d.spikes[j] > 0)})
        never += int(((d.data_influence == 0) & simp.relevant[i])[k].sum())
    T, B = np.asarray(data).shape[:2]
    return {"samples": int(B), "steps": int(T), "stuck_nodes": len(stuck),
            "stuck": stuck[:100], "taps_never_pivotal": never}


def verify_equal(net: Network, pruned: Network, keep: list[np.ndarray], samples: int = 64,
                 seed: int = 0, backend: str | Backend = "auto") -> dict:
    """Simulate both networks on random stimuli (three spike rates) and compare every kept
    node's spike, readout layer included; raise ``RuntimeError`` on the first difference.

    Args:
        net: the original network.
        pruned: the network made from it, holding the nodes ``keep`` marks, in order.
        keep: one bool array ``[n_i]`` per layer of ``net``: the nodes ``pruned`` kept.
        samples: random stimuli per spike rate (0.1, 0.5 and 0.9), a whole number
            ``1 .. MAX_VERIFY_SAMPLES``; each is ``max(16, 4 * depth + 4)`` cycles long, ``depth``
            the largest delay or refractory period.
        seed: of the stimuli.
        backend: simulates both networks (a name or a
            :class:`~spikelut.backends.Backend`).

    Returns:
        ``{"samples": 3 * samples, "steps": cycles per stimulus, "bits_compared": spikes
        compared, "mismatches": 0}``.

    Raises:
        ConfigError: ``samples`` out of range or not a whole number, ``seed`` not a whole
            number ``>= 0``, or an unknown backend.
        RuntimeError: a differing spike or class count (a bug in pruning).

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=2, sizes=[3, 2], k=2)
        >>> verify_equal(net, net, [np.ones(3, bool), np.ones(2, bool)], samples=2)
        {'samples': 6, 'steps': 16, 'bits_compared': 480, 'mismatches': 0}
    """
    samples = _check_verify_samples(samples)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        # 'a' was numpy's SeedSequence TypeError (prune_network checks it, a direct call did not)
        raise ConfigError(f"seed must be a whole number >= 0 (of the check's random stimuli), "
                          f"got {seed!r}")
    rng = np.random.default_rng(seed)
    depth = max([net.max_delay()] + [layer.refractory for layer in net.layers])
    T = max(16, 4 * depth + 4)
    run = (backend if isinstance(backend, Backend) else get_backend(backend)).simulate
    kept_layers = [i for i in range(len(net.layers)) if keep[i].any()]
    # the stimuli (float64 draws, then uint8) and both networks' spikes, per sample: run in
    # batches that fit the analysis's working memory (one batch, the stimuli of old, when all fit)
    per_sample = T * (9 * net.n_in + 4 * (net.n_nodes + pruned.n_nodes))
    step = _per_batch(per_sample, cap=samples)
    bits = 0
    for rate in (0.1, 0.5, 0.9):
        for lo in range(0, samples, step):
            x = (rng.random((T, min(step, samples - lo), net.n_in)) < rate).astype(np.uint8)
            a = run(net, x).to_numpy()
            b = run(pruned, x).to_numpy()
            for n, i in enumerate(kept_layers):
                want = a.layer_spikes[i][:, :, keep[i]]
                got = b.layer_spikes[n]
                if not np.array_equal(want, got):
                    t, s, j = (int(v) for v in np.argwhere(want != got)[0])
                    raise RuntimeError(f"pruning changed layer {i} node "
                                       f"{int(np.flatnonzero(keep[i])[j])} at cycle {t} of a "
                                       f"random sample (rate {rate}); this is a bug")
                bits += want.size
            if not np.array_equal(a.counts, b.counts):
                raise RuntimeError("pruning changed the class counts; this is a bug")
    return {"samples": 3 * samples, "steps": T, "bits_compared": bits, "mismatches": 0}


#: most random stimuli per spike rate for the check (``--verify-samples``): a spike file's limit
MAX_VERIFY_SAMPLES = MAX_SAMPLES


def _check_verify_samples(samples: Any) -> int:
    """``samples`` as an int in 1..:data:`MAX_VERIFY_SAMPLES`, else one ConfigError line (a
    huge count was an allocation of terabytes, refused only by the MemoryError it raised)."""
    if (isinstance(samples, bool) or not isinstance(samples, (int, np.integer))
            or not 1 <= samples <= MAX_VERIFY_SAMPLES):
        raise ConfigError(f"--verify-samples must be >= 1 and <= {MAX_VERIFY_SAMPLES} (random "
                          f"stimuli per spike rate), got {samples!r}")
    return int(samples)
