"""Looking inside a network: what each LUT computes, what the data makes it do, and which input
spikes decided a prediction (``spikelut analyze``; definitions and sources in docs/analyze.md).

Three kinds of measure, kept apart because only the first may justify changing a circuit:

* **exact** (the table alone, every input): bias, influence of each tap under the uniform
  distribution, total influence, Fourier (Walsh) degree, constant tables, structurally dead nodes;
* **on the data** (addresses that occur when the model runs on a spike file): output entropy,
  influence weighted by the address distribution, nodes whose spike never changes, taps that were
  never pivotal, refractory-gate suppressions;
* **attribution** of one sample's prediction to input spikes: the surrogate gradient of the
  predicted class's count (:func:`gradient_map`) and exact occlusion (:func:`occlusion_map`).

A function ``f`` is a node's table: ``f(a) = table[a]`` with tap ``p`` = bit ``p`` of ``a``
(DESIGN.md section 2). Measures follow R. O'Donnell, *Analysis of Boolean Functions* (2014).

Example:
    >>> import numpy as np
    >>> parity = np.array([[0, 1, 1, 0]], np.uint8)           # x0 XOR x1
    >>> influences(parity).tolist(), degree(parity).tolist()
    ([[1.0, 1.0]], [2])
    >>> copy0 = np.array([[0, 1, 0, 1]], np.uint8)            # f = x0: tap 1 never matters
    >>> influences(copy0).tolist()
    [[1.0, 0.0]]
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .analog import require_binary
from .backends import Backend, get_backend
from .errors import ConfigError, OutputError, ShapeError
from .escape import csv_cell
from .network import INPUT, Network, all_binary

__all__ = ["influences", "walsh", "degree", "binary_entropy", "NodeStats", "DataStats",
           "Analysis", "table_stats", "data_stats", "live_nodes", "analyze_network",
           "gradient_map", "occlusion_map", "ANALYSIS_COLUMNS", "WORK_BYTES"]


# ---------------------------------------------------------------------------- exact measures
def _flip_index(k: int, p: int) -> np.ndarray:
    return np.arange(1 << k) ^ (1 << p)


def _check_table(table: np.ndarray) -> tuple[np.ndarray, int]:
    t = np.asarray(table)
    if t.ndim != 2 or t.shape[1] < 1 or t.shape[1] & (t.shape[1] - 1):
        raise ShapeError(f"a table must be [nodes, 2**k], got shape {t.shape}")
    if not all_binary(t):  # a 2 was cast and transformed as if it were a bit: silent nonsense
        raise ShapeError("a table must hold 0 or 1 entries only")
    return t.astype(np.uint8, copy=False), t.shape[1].bit_length() - 1


def influences(table: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Influence of every tap: ``Inf_p[f] = Pr_a[f(a) != f(a XOR 2**p)]`` (O'Donnell def. 2.13).

    Args:
        table: uint8 ``[n, 2**k]`` truth tables.
        weights: optional ``[n, 2**k]`` non-negative address weights (e.g. how often each address
            occurred on data); ``None`` = uniform over all ``2**k`` addresses. A row of zero
            weight gives NaN.

    Returns:
        float64 ``[n, k]`` in ``[0, 1]``: the probability that tap ``p`` is pivotal.

    Raises:
        ShapeError: a table not ``[n, 2**k]`` of 0/1, or weights of another shape, negative
            or not finite.

    Example:
        >>> influences(np.array([[0, 0, 0, 1]]), np.array([[0, 3, 0, 1]])).tolist()  # AND
        [[0.25, 1.0]]
    """
    t, k = _check_table(table)
    piv = np.stack([t != t[:, _flip_index(k, p)] for p in range(k)], axis=1)  # [n, k, 2**k]
    if weights is None:
        return piv.mean(axis=2)
    w = np.asarray(weights, np.float64)
    if w.shape != t.shape:
        raise ShapeError(f"weights have shape {w.shape}, expected {t.shape} like the table")
    if not np.all(np.isfinite(w) & (w >= 0)):  # a negative weight made a "probability" past [0, 1]
        raise ShapeError("weights must be finite and >= 0 (address counts or frequencies)")
    tot = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (piv * w[:, None, :]).sum(axis=2) / tot[:, None]


def walsh(table: np.ndarray) -> np.ndarray:
    """Unnormalized Walsh–Fourier coefficients of the ±1 function ``F = (-1)**f``.

    ``W[n, S] = sum_a F(a) (-1)**popcount(a & S)`` = ``2**k * hat F(S)`` (O'Donnell section 1.2),
    exact int64 from the fast Walsh–Hadamard transform.

    Args:
        table: 0/1 ``[n, 2**k]`` truth tables (address bit ``p`` = tap ``p``).

    Returns:
        int64 ``[n, 2**k]``: column ``S`` is the coefficient of the tap set whose bits are ``S``.

    Raises:
        ShapeError: a table not ``[n, 2**k]`` of 0/1.

    Example:
        >>> walsh(np.array([[0, 1, 1, 0]])).tolist()            # parity: all weight on S = {0, 1}
        [[0, 0, 0, 4]]
    """
    t, k = _check_table(table)
    w = (1 - 2 * t.astype(np.int64)).copy()
    n = w.shape[0]
    for p in range(k):
        v = w.reshape(n, -1, 2, 1 << p)
        a, b = v[:, :, 0, :].copy(), v[:, :, 1, :].copy()
        v[:, :, 0, :], v[:, :, 1, :] = a + b, a - b
    return w


def degree(table: np.ndarray) -> np.ndarray:
    """Fourier degree: the largest ``|S|`` with ``hat F(S) != 0`` (O'Donnell, chapter 1); int64 ``[n]``.
    A constant table has degree 0; parity of ``k`` taps has degree ``k``.

    Args:
        table: 0/1 ``[n, 2**k]`` truth tables.

    Returns:
        int64 ``[n]``: the degree of each row, ``0 .. k``.

    Raises:
        ShapeError: a table not ``[n, 2**k]`` of 0/1.

    Example:
        >>> degree(np.array([[0, 0, 0, 1], [1, 1, 1, 1]])).tolist()   # AND, constant
        [2, 0]
    """
    w = walsh(table)
    size = w.shape[1]
    pop = np.array([bin(s).count("1") for s in range(size)])
    return np.where(w != 0, pop[None, :], 0).max(axis=1)


def binary_entropy(p: np.ndarray) -> np.ndarray:
    """``H(p) = -p log2 p - (1-p) log2 (1-p)`` in bits, 0 at p in {0, 1} (Cover and Thomas,
    "Elements of Information Theory", eq. 2.5).

    Args:
        p: probabilities, any shape; values ``<= 0`` or ``>= 1`` give 0, NaN gives NaN.

    Returns:
        float64 array of ``p``'s shape, in bits (``0 .. 1``).

    Example:
        >>> binary_entropy(np.array([0.0, 0.5, 1.0])).tolist()
        [0.0, 1.0, 0.0]
    """
    p = np.asarray(p, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    return np.where((p <= 0) | (p >= 1), 0.0, h)


def _entropy_rows(counts: np.ndarray) -> np.ndarray:
    c = np.asarray(counts, np.float64)
    tot = c.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = c / tot
        h = -np.where(q > 0, q * np.log2(q), 0.0).sum(axis=1)
    return np.where(tot[:, 0] > 0, h, np.nan)


# ---------------------------------------------------------------------------- structure
def live_nodes(net: Network, relevant: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Which nodes have a path to the readout layer: bool ``[n_i]`` per layer.

    Every node of the readout layer is an output (the RTL core's ``out_spikes``, counted or
    not); a node is live when a live node has a tap on it that matters. ``relevant[i]`` (bool
    ``[n_i, k_i]``) says which taps matter; default: those with uniform influence > 0, so a node
    read only through taps its readers ignore is dead too.

    Args:
        net: the network.
        relevant: optional bool ``[n_i, k_i]`` per layer, the taps that matter.

    Returns:
        One bool ``[n_i]`` per layer, ``True`` = live.

    Raises:
        ConfigError: ``net`` is not a :class:`~spikelut.network.Network`.
        ShapeError: ``relevant`` not one ``[n_i, k_i]`` array per layer.

    Example:
        >>> from spikelut.wiring import random_network
        >>> [m.tolist() for m in live_nodes(random_network(0, n_in=2, sizes=[3, 2], k=2))]
        [[False, False, False], [True, True]]
    """
    if not isinstance(net, Network):  # was an AttributeError deep inside
        raise ConfigError(f"expected a spikelut Network, got {type(net).__name__} (load a model "
                          f"file with spikelut.load_model)")
    if relevant is None:
        relevant = [influences(layer.table) > 0 for layer in net.layers]
    elif len(relevant) != len(net.layers) or any(
            np.shape(r) != (layer.n, layer.k) for r, layer in zip(relevant, net.layers)):
        raise ShapeError("relevant must hold one bool [n_i, k_i] array per layer")
    live = [np.zeros(layer.n, bool) for layer in net.layers]
    live[net.readout.layer][:] = True
    todo = [(net.readout.layer, j) for j in range(net.layers[net.readout.layer].n)]
    while todo:
        i, j = todo.pop()
        layer = net.layers[i]
        for p in np.flatnonzero(relevant[i][j]).tolist():
            s, idx = int(layer.source[j, p]), int(layer.index[j, p])
            if s != INPUT and not live[s][idx]:
                live[s][idx] = True
                todo.append((s, idx))
    return live


# ---------------------------------------------------------------------------- per node
ANALYSIS_COLUMNS = ("layer", "layer_name", "node", "k", "refractory", "bias", "degree",
                    "total_influence", "influence", "unused_taps", "constant", "dead", "removable",
                    "data_bias", "data_entropy", "address_entropy", "data_influence",
                    "data_unused_taps", "spike_rate", "stuck", "gate_suppressed",
                    "gate_suppressed_fraction")


@dataclass
class NodeStats:
    """Exact statistics of one layer's tables (arrays over the layer's ``n`` nodes)."""

    bias: np.ndarray             # float64 [n]: Pr_uniform[f = 1]
    influence: np.ndarray        # float64 [n, k]: uniform influence of each tap
    total_influence: np.ndarray  # float64 [n]
    degree: np.ndarray           # int64 [n]
    constant: np.ndarray         # bool [n]: the table is all 0 or all 1
    dead: np.ndarray             # bool [n]: no path to the readout layer
    removable: np.ndarray        # bool [n]: exact pruning removes it (spikelut.prune: dead once
                                 # taps on constant signals and unused taps are dropped)


@dataclass
class DataStats:
    """What one layer did on the data (``T * B`` evaluations of every node)."""

    evaluations: int             # T * B
    address_counts: np.ndarray   # int64 [n, 2**k]
    data_bias: np.ndarray        # float64 [n]: fraction of evaluations with LUT output a = 1
    data_entropy: np.ndarray     # float64 [n]: H(a) in bits over the data's addresses
    address_entropy: np.ndarray  # float64 [n]: H(address) in bits
    data_influence: np.ndarray   # float64 [n, k]: influence weighted by the address counts
    spikes: np.ndarray           # int64 [n]: spikes s = 1
    a_ones: np.ndarray           # int64 [n]: evaluations with a = 1
    stuck: np.ndarray            # bool [n]: the spike never changes on the data (all 0 or all 1)

    @property
    def gate_suppressed(self) -> np.ndarray:
        """Evaluations where the refractory gate removed a spike (``a = 1``, ``s = 0``)."""
        return self.a_ones - self.spikes


def _binary_only(net: Network) -> None:
    """Refuse an analog model (``meta["analog"]``, docs/relaxations.md): its nodes hold real
    table values, not the 0/1 tables every measure here reads, so each number would describe
    another circuit (the binary ``theta > 0`` one) without a word. Same one line as ``rtl`` and
    ``export`` give."""
    if not isinstance(net, Network):  # was an AttributeError ('str' object has no 'meta')
        raise ConfigError(f"expected a spikelut Network, got {type(net).__name__} (load a model "
                          f"file with spikelut.load_model)")
    require_binary(net, "analyze")


def _whole_positive(v: Any) -> bool:
    """Whether ``v`` is an integer ``>= 1`` (Python or numpy; not a bool, float or string)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= 1


def table_stats(net: Network) -> list[NodeStats]:
    """Exact per-node statistics of every layer (no data needed): one :class:`NodeStats` per
    layer (bias, tap influence, degree, constant, dead and removable nodes).

    Args:
        net: a binary (not analog) network.

    Returns:
        One :class:`NodeStats` per layer, in layer order.

    Raises:
        ConfigError: an analog model, or ``net`` is not a :class:`~spikelut.network.Network`.

    Example:
        >>> from spikelut.network import Layer, Network, Readout
        >>> xor = Layer([[0, 1, 1, 0]], [[-1, -1]], [[0, 1]], [[0, 0]])
        >>> st = table_stats(Network(2, [xor], Readout(0, [0], 1)))
        >>> len(st), st[0].influence.tolist(), st[0].degree.tolist()
        (1, [[1.0, 1.0]], [2])
    """
    from .prune import simplify

    _binary_only(net)

    live = live_nodes(net)
    simp = simplify(net)
    out = []
    for i, layer in enumerate(net.layers):
        inf = influences(layer.table)
        t = layer.table
        removable = ~simp.live[i] & (i != net.readout.layer)
        out.append(NodeStats(t.mean(axis=1), inf, inf.sum(axis=1), degree(t),
                             (t.min(axis=1) == t.max(axis=1)), ~live[i], removable))
    return out


#: Working memory (bytes) one batch of :func:`data_stats` or one simulator call of
#: :func:`occlusion_map` may take beyond its inputs: the batch sizes are derived from it, so a
#: long series on a large network is processed in several batches instead of one that holds
#: every layer's spikes and addresses at once. Results do not depend on it.
WORK_BYTES = 512 << 20


def _per_batch(bytes_per_item: int, budget: int | None = None, multiple: int = 1,
               cap: int | None = None) -> int:
    """How many items of ``bytes_per_item`` fit ``budget`` (default :data:`WORK_BYTES`; at least
    ``multiple``, rounded down to a multiple of ``multiple``, at most ``cap``).

    Example:
        >>> _per_batch(10, budget=1000), _per_batch(10, budget=1000, multiple=64), _per_batch(10**9)
        (100, 64, 1)
    """
    budget = WORK_BYTES if budget is None else budget
    n = max(multiple, budget // max(1, int(bytes_per_item)) // multiple * multiple)
    return n if cap is None else min(n, cap)


def data_stats(net: Network, spikes: Any, chunk: int | None = None) -> list[DataStats]:
    """Run ``net`` on input spikes ``[T, B, n_in]`` and collect each node's address counts,
    LUT outputs and spikes (the hard forward pass of training, bit-exact with the engines).

    The samples are run ``chunk`` at a time (default: as many as :data:`WORK_BYTES` holds, about
    ``T * (signals + nodes)`` bytes each) and the address counts of a layer are gathered a few
    cycles at a time, so memory stays bounded whatever ``B``; the counts are exact integer sums
    and do not depend on ``chunk``.

    Args:
        net: a binary (not analog) network.
        spikes: 0/1 input spikes ``[T, B, n_in]``.
        chunk: samples per forward pass, a whole number ``>= 1``; ``None``: from
            :data:`WORK_BYTES`.

    Returns:
        One :class:`DataStats` per layer, in layer order (``T * B`` evaluations each).

    Raises:
        ShapeError: spikes of the wrong shape or values, or no cycle or sample.
        ConfigError: a chunk that is not a whole number >= 1, or an analog model.

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=3, sizes=[4, 2], k=2)
        >>> x = np.random.default_rng(0).integers(0, 2, (6, 5, 3), dtype=np.uint8)
        >>> a, b = data_stats(net, x), data_stats(net, x, chunk=2)
        >>> all((p.address_counts == q.address_counts).all() for p, q in zip(a, b))
        True
    """
    from .train.bptt import compile_plan, forward

    _binary_only(net)
    x = np.asarray(spikes)
    if x.ndim != 3 or x.shape[2] != net.n_in:
        raise ShapeError(f"input spikes must be [T, B, {net.n_in}], got shape {x.shape}")
    T, B = x.shape[:2]
    if T < 1 or B < 1:  # no evaluation at all: the rates and summaries divided by zero
        raise ShapeError(f"input spikes need T >= 1 and B >= 1, got T={T}, B={B}")
    if not all_binary(x):
        raise ShapeError("input spikes must be 0 or 1")
    plan = compile_plan(net)
    if chunk is None:
        # per sample: the forward pass keeps every signal's history and every node's address
        # (uint8, D + T and T rows) for the whole batch
        chunk = _per_batch((T + plan.D) * (net.n_in + 2 * net.n_nodes))
    elif not _whole_positive(chunk):  # 1.5 was taken as 1, 'a' was int()'s ValueError
        raise ConfigError(f"chunk must be a positive number of samples, got {chunk!r}")
    chunk = int(chunk)
    tables = [np.asarray(layer.table) for layer in net.layers]
    counts = [np.zeros(layer.n << layer.k, np.int64) for layer in net.layers]
    spk = [np.zeros(layer.n, np.int64) for layer in net.layers]
    for b0 in range(0, B, chunk):
        fwd = forward(plan, tables, x[:, b0:b0 + chunk].astype(np.uint8))
        b = fwd.B
        for i, layer in enumerate(net.layers):
            base = (np.arange(layer.n, dtype=np.int64) << layer.k)[None, :, None]
            # int64 flat addresses a few cycles at a time, not for the whole [T, n, b] at once
            step = _per_batch(16 * layer.n * b, budget=WORK_BYTES // 8)
            for t0 in range(0, T, step):
                flat = (base + fwd.addr[i][t0:t0 + step]).ravel()
                counts[i] += np.bincount(flat, minlength=counts[i].size)
            spk[i] += fwd.spikes(i).sum(axis=(0, 1), dtype=np.int64)
        del fwd
    out = []
    for i, layer in enumerate(net.layers):
        c = counts[i].reshape(layer.n, 1 << layer.k)
        a1 = (c * layer.table).sum(axis=1)
        ev = T * B
        out.append(DataStats(ev, c, a1 / ev, binary_entropy(a1 / ev), _entropy_rows(c),
                             influences(layer.table, c), spk[i], a1,
                             (spk[i] == 0) | (spk[i] == ev)))
    return out


@dataclass
class Analysis:
    """Everything :func:`analyze_network` found; :meth:`rows` is the per-node table."""

    net: Network
    exact: list[NodeStats]
    data: list[DataStats] | None = None
    extra: dict = field(default_factory=dict)

    def rows(self) -> list[dict]:
        """One dict per node with the keys of :data:`ANALYSIS_COLUMNS` (data columns ``None``
        without data; per-tap columns as space-separated values)."""
        rows = []
        for i, (layer, ex) in enumerate(zip(self.net.layers, self.exact)):
            d = None if self.data is None else self.data[i]
            for j in range(layer.n):
                r = {"layer": i, "layer_name": layer.name, "node": j, "k": layer.k,
                     "refractory": layer.refractory, "bias": float(ex.bias[j]),
                     "degree": int(ex.degree[j]), "total_influence": float(ex.total_influence[j]),
                     "influence": " ".join(f"{v:.4g}" for v in ex.influence[j]),
                     "unused_taps": " ".join(str(p) for p in np.flatnonzero(ex.influence[j] == 0)),
                     "constant": bool(ex.constant[j]), "dead": bool(ex.dead[j]),
                     "removable": bool(ex.removable[j])}
                if d is None:
                    r.update({c: None for c in ANALYSIS_COLUMNS if c not in r})
                else:
                    supp = int(d.gate_suppressed[j])
                    r.update({
                        "data_bias": float(d.data_bias[j]), "data_entropy": float(d.data_entropy[j]),
                        "address_entropy": float(d.address_entropy[j]),
                        "data_influence": " ".join(f"{v:.4g}" for v in d.data_influence[j]),
                        "data_unused_taps": " ".join(
                            str(p) for p in np.flatnonzero(d.data_influence[j] == 0)),
                        "spike_rate": float(d.spikes[j]) / d.evaluations, "stuck": bool(d.stuck[j]),
                        "gate_suppressed": supp,
                        "gate_suppressed_fraction": supp / int(d.a_ones[j]) if d.a_ones[j] else 0.0})
                rows.append(r)
        return rows

    def summary(self) -> dict:
        """Per-layer totals (JSON-friendly)."""
        layers = []
        for i, (layer, ex) in enumerate(zip(self.net.layers, self.exact)):
            s = {"layer": i, "name": layer.name, "nodes": layer.n, "k": layer.k,
                 "constant": int(ex.constant.sum()), "dead": int(ex.dead.sum()),
                 "removable": int(ex.removable.sum()),
                 "unused_taps": int((ex.influence == 0).sum()),
                 "mean_total_influence": float(ex.total_influence.mean()),
                 "mean_degree": float(ex.degree.mean()),
                 "degree_histogram": np.bincount(ex.degree, minlength=layer.k + 1).tolist()}
            if self.data is not None:
                d = self.data[i]
                s.update({"stuck_on_data": int(d.stuck.sum()),
                          "never_pivotal_taps_on_data": int((d.data_influence == 0).sum()),
                          "mean_data_entropy": float(d.data_entropy.mean()),
                          "spike_rate": float(d.spikes.sum()) / (d.evaluations * layer.n),
                          "gate_suppressed": int(d.gate_suppressed.sum()),
                          "gate_suppressed_fraction":
                              float(d.gate_suppressed.sum()) / max(1, int(d.a_ones.sum()))})
            layers.append(s)
        return {"layers": layers, **self.extra}


def analyze_network(net: Network, spikes: Any = None, chunk: int | None = None) -> Analysis:
    """Exact statistics of every node, and (with input ``spikes [T, B, n_in]``) what it did on them.

    Influence and Fourier degree follow O'Donnell, "Analysis of Boolean Functions" (2014):
    def. 2.13 and chapter 1; entropies are Shannon's, in bits.

    Args:
        net: a binary (not analog) network.
        spikes: optional 0/1 input spikes ``[T, B, n_in]`` (:func:`data_stats`).
        chunk: samples per forward pass (:func:`data_stats`).

    Returns:
        An :class:`Analysis` (``.rows()`` per node, ``.summary()`` per layer); its data part is
        ``None`` without ``spikes``.

    Raises:
        ConfigError: ``net`` not a :class:`~spikelut.network.Network`, an analog model, or a
            bad ``chunk``.
        ShapeError: spikes of the wrong shape or values, or no cycle or sample.

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=3, sizes=[4, 2], k=2)
        >>> an = analyze_network(net, np.ones((4, 2, 3), np.uint8))
        >>> len(an.rows()), an.summary()["layers"][0]["nodes"]
        (6, 4)
    """
    data = None if spikes is None else data_stats(net, spikes, chunk)
    return Analysis(net, table_stats(net), data)


# ---------------------------------------------------------------------------- attribution
def _one_sample(net: Network, x: Any) -> np.ndarray:
    _binary_only(net)  # gradient_map and occlusion_map: the binary circuit's attribution only
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != net.n_in:
        raise ShapeError(f"a sample must be [T, {net.n_in}] spikes, got shape {x.shape}")
    if not all_binary(x):
        raise ShapeError("input spikes must be 0 or 1")
    return x.astype(np.uint8)


def gradient_map(net: Network, x: Any, target: int | None = None, surrogate: str | None = None,
                 logit_scale: float = 0.1) -> tuple[np.ndarray, int]:
    """Surrogate gradient of one class's spike count with respect to the input spikes.

    The trainer's backward pass (:func:`spikelut.train.bptt.backward` with ``input_grad``) is
    run with ``dL/ds = 1`` on every spike of ``target``'s readout nodes at cycles ``t >= start``
    (so ``L`` = that class's count). Layers without logits use ``theta = ±logit_scale`` (the
    table's sign). The surrogate is the one the model was trained with (``meta["train"]``), or
    the trainer's default.

    Args:
        net: the network.
        x: one sample's input spikes, uint8 ``[T, n_in]``.
        target: the class, a whole number ``0 .. classes - 1``; default: the predicted one.
        surrogate: a surrogate name of :mod:`spikelut.train.surrogates`; default as above.
        logit_scale: ``|theta|`` of layers without logits.

    Returns:
        ``(grad, target)``: float32 ``[T, n_in]`` (positive = a spike there raises the count).

    Raises:
        ShapeError: ``x`` not one sample ``[T, n_in]`` of 0/1 spikes.
        ConfigError: ``target`` not a class number, an unknown surrogate, an analog model or
            ``net`` not a :class:`~spikelut.network.Network`.

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=3, sizes=[4, 2], k=2)
        >>> g, c = gradient_map(net, np.ones((5, 3), np.uint8))
        >>> g.shape
        (5, 3)
    """
    from .train.bptt import backward, compile_plan, forward
    from .train.config import TrainConfig
    from .train.surrogates import get_surrogate

    x = _one_sample(net, x)[:, None, :]
    r = net.readout
    if target is None:
        target = int(np.asarray(get_backend("numpy").simulate(net, x, record="readout").pred)[0])
    if (isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, np.integer))
            or not 0 <= target < r.classes):  # 1.5 was taken as class 1
        raise ConfigError(f"target class {target!r} out of range 0..{r.classes - 1} (a whole "
                          f"class number)")
    cfg = TrainConfig()
    name = surrogate or (net.meta.get("train") or {}).get("surrogate") or cfg.surrogate
    plan = compile_plan(net)
    tables = [np.asarray(layer.table) for layer in net.layers]
    thetas = [np.asarray(layer.logits, np.float32) if layer.logits is not None
              else ((2.0 * layer.table - 1.0) * logit_scale).astype(np.float32)
              for layer in net.layers]
    fwd = forward(plan, tables, x)
    T = x.shape[0]
    g = np.zeros((T, 1, net.layers[r.layer].n), np.float32)
    g[r.start:, 0, r.class_of == int(target)] = 1.0
    g_spikes: list[Any] = [None] * len(net.layers)
    g_spikes[r.layer] = g
    _, g_in = backward(plan, thetas, fwd, g_spikes, get_surrogate(name, cfg.width),
                       refractory_grad=cfg.refractory_grad, tap_grad=cfg.tap_grad, input_grad=True)
    return np.asarray(g_in)[:, 0, :].astype(np.float32), int(target)


@dataclass
class Occlusion:
    """Exact effect of flipping each input spike of one sample (arrays ``[T, n_in]``)."""

    counts: np.ndarray         # int32 [classes]: the unflipped sample's class counts
    pred: int                  # its prediction
    delta_pred: np.ndarray     # int32 [T, n_in]: change of the predicted class's count
    votes_changed: np.ndarray  # int32 [T, n_in]: sum over classes of |count change|
    pred_changed: np.ndarray   # bool [T, n_in]: the flip changes the prediction
    effect: np.ndarray         # int32 [T, n_in]: predicted count with a spike there minus without
                               # (the finite difference the surrogate gradient approximates)


def occlusion_map(net: Network, x: Any, backend: str | Backend = "auto",
                  chunk: int | None = None) -> Occlusion:
    """Flip every input spike of one sample ``x [T, n_in]`` in turn (0 -> 1 and 1 -> 0) and
    re-simulate: each flip is one sample of a batch, so a bit-sliced backend runs ``chunk``
    flips per call (default: as many as :data:`WORK_BYTES` holds, a multiple of 64 up to 4096;
    each flip costs about ``T * (3 * readout nodes + 2 * n_in)`` bytes, the readout layer's
    unpacked spikes above all). ``backend``: a name of :mod:`spikelut.backends` (``"auto"``:
    the fastest usable) or a :class:`~spikelut.backends.Backend`. The result does not depend
    on ``chunk``. Occlusion (perturbation) attribution after Zeiler and Fergus, "Visualizing
    and Understanding Convolutional Networks" (ECCV 2014), here exact on single input bits.

    Args:
        net: a binary (not analog) network.
        x: one sample's 0/1 input spikes ``[T, n_in]``.
        backend: backend name or :class:`~spikelut.backends.Backend`.
        chunk: flips per simulator call, a whole number ``>= 1``.

    Returns:
        An :class:`Occlusion`: int32 / bool arrays ``[T, n_in]`` and the unflipped counts.

    Raises:
        ShapeError: ``x`` is not one sample of 0/1 spikes.
        ConfigError: a chunk that is not a whole number ``>= 1``, an analog model, or an
            unknown or unusable backend.

    Example:
        >>> from spikelut.network import Layer, Network, Readout
        >>> copy = Layer(np.array([[0, 1, 0, 1]]), [[-1, -1]], [[0, 0]], [[0, 0]])
        >>> net = Network(1, [copy], Readout(0, [0], 1))
        >>> occlusion_map(net, np.array([[1], [0]])).delta_pred[:, 0].tolist()
        [-1, 1]
    """
    x = _one_sample(net, x)
    T, n_in = x.shape
    run = (backend if isinstance(backend, Backend) else get_backend(backend)).simulate
    base = run(net, x[:, None, :], record="readout")
    c0 = np.asarray(base.counts)[0].astype(np.int32)
    p0 = int(np.asarray(base.pred)[0])
    m = T * n_in
    if chunk is None:
        chunk = _per_batch(T * (3 * net.layers[net.readout.layer].n + 2 * n_in), multiple=64,
                           cap=4096)
    elif not _whole_positive(chunk):
        raise ConfigError(f"chunk must be a positive number of flips, got {chunk!r}")
    chunk = int(chunk)
    counts = np.zeros((m, c0.size), np.int32)
    preds = np.zeros(m, np.int32)
    for f0 in range(0, m, chunk):
        f1 = min(m, f0 + chunk)
        batch = np.repeat(x[:, None, :], f1 - f0, axis=1)
        flat = np.arange(f0, f1)
        batch[flat // n_in, np.arange(f1 - f0), flat % n_in] ^= 1
        res = run(net, batch, record="readout")
        counts[f0:f1] = np.asarray(res.counts)
        preds[f0:f1] = np.asarray(res.pred)
    delta = counts - c0[None, :]
    dp = delta[:, p0].reshape(T, n_in).astype(np.int32)
    return Occlusion(c0, p0, dp, np.abs(delta).sum(axis=1).reshape(T, n_in).astype(np.int32),
                     (preds != p0).reshape(T, n_in), np.where(x == 1, -dp, dp).astype(np.int32))


# ---------------------------------------------------------------------------- learning dynamics
def table_dynamics(before: list[Any], after: list[Any], xp: Any = np, near: float = 0.05) -> dict:
    """Per layer: table entries flipped between two sets of logits, mean ``|theta|`` and the
    fraction with ``|theta| < near`` (how close the tables are to flipping). Arrays may live on
    any array module ``xp``; the result is plain Python numbers.

    Example:
        >>> table_dynamics([np.array([[0.1, -0.2]])], [np.array([[-0.01, -0.3]])])
        {'flips': [1], 'mean_abs_logit': [0.155], 'near_zero': [0.5]}
    """
    if len(before) != len(after):  # zip dropped the extra layers without a word
        raise ShapeError(f"table_dynamics: {len(before)} layers of logits before but "
                         f"{len(after)} after; give both of the same network")
    for i, (b, a) in enumerate(zip(before, after)):
        if tuple(b.shape) != tuple(a.shape):  # numpy broadcast, or its ValueError
            raise ShapeError(f"table_dynamics: layer {i} logits have shape {tuple(b.shape)} "
                             f"before but {tuple(a.shape)} after")
    flips, mean_abs, near_zero = [], [], []
    for b, a in zip(before, after):
        flips.append(int(((xp.asarray(b) > 0) != (xp.asarray(a) > 0)).sum()))
        mean_abs.append(round(float(xp.abs(a).mean()), 6))
        near_zero.append(round(float((xp.abs(a) < near).mean()), 6))
    return {"flips": flips, "mean_abs_logit": mean_abs, "near_zero": near_zero}


# ---------------------------------------------------------------------------- the whole report
def _top_cells(m: np.ndarray, n: int = 5) -> list[dict]:
    """The ``n`` cells of a ``[T, n_in]`` map with the largest ``|value|`` (nonzero only)."""
    flat = np.argsort(-np.abs(m), axis=None, kind="stable")[:n]
    return [{"cycle": int(f // m.shape[1]), "channel": int(f % m.shape[1]),
             "value": float(m.flat[f])} for f in flat if m.flat[f] != 0]


def _importance(net: Network, an: "Analysis") -> dict | None:
    """The tap importance of the report: stored with the model (influence and gradient signal,
    :mod:`spikelut.importance`), else the influence on the analysed data alone."""
    from .importance import importance_summary

    if any(layer.tap_influence is not None for layer in net.layers):
        return {"source": "model", "layers": importance_summary(net)}
    if an.data is None:
        return None
    measured = net.replace(layers=[layer.replace(tap_influence=np.nan_to_num(d.data_influence))
                                   for layer, d in zip(net.layers, an.data)])
    return {"source": "data", "layers": importance_summary(measured)}


def summary_text(report: dict) -> str:
    """The text summary of :func:`run_analysis`'s report (one terminal-safe line per fact)."""
    from .escape import terminal

    n = report["network"]
    lines = [f"network: {n['nodes']} LUTs, {n['flip_flops']} flip-flops, {n['layers']} layers; "
             f"data: {report['data']['samples']} samples x {report['data']['steps']} cycles"]
    for s in report["layers"]:
        line = (f"layer {s['layer']} {terminal(repr(s['name']))}: {s['nodes']} nodes k={s['k']}, "
                f"constant {s['constant']}, dead {s['dead']}, unused taps {s['unused_taps']}, "
                f"mean total influence {s['mean_total_influence']:.3f}, degrees "
                f"{s['degree_histogram']}")
        if "stuck_on_data" in s:
            line += (f"; on the data: stuck {s['stuck_on_data']}, taps never pivotal "
                     f"{s['never_pivotal_taps_on_data']}, spike rate {s['spike_rate']:.3f}, "
                     f"output entropy {s['mean_data_entropy']:.3f} bit, refractory gate "
                     f"suppressed {s['gate_suppressed']} ({100 * s['gate_suppressed_fraction']:.1f}%"
                     f" of a = 1)")
        lines.append(line)
    imp = report.get("importance")
    for s in (imp or {}).get("layers") or []:
        if s["mean_influence"] is None:
            continue
        grad = "" if s["mean_gradient"] is None else f", mean gradient {s['mean_gradient']:.3g}"
        low = ", ".join(f"node {c['node']} tap {c['tap']} ({c['score']:.3f})" for c in s["lowest"])
        lines.append(f"tap importance ({imp['source']}) layer {s['layer']}: mean influence "
                     f"{s['mean_influence']:.3f}{grad}, never pivotal {s['never_pivotal']}; "
                     f"lowest: {low}")
    p = report["prunable"]
    lines.append(f"exact pruning would save {p['luts']['saved']} of {p['luts']['before']} LUTs and "
                 f"{p['flip_flops']['saved']} of {p['flip_flops']['before']} flip-flops "
                 f"(spikelut prune)")
    for a in report["attribution"]:
        top = ", ".join(f"ch {c['channel']} @ t={c['cycle']} ({c['value']:+d})"
                        for c in a["occlusion_top"]) or "none"
        lab = "" if a["label"] is None else f", label {a['label']}"
        lines.append(f"sample {a['sample']}: predicted {a['pred']}{lab}; {a['deciding_flips']} "
                     f"single-spike flips change the prediction; largest occlusion effects "
                     f"(predicted count with a spike there minus without): {top}")
    for f in report.get("files", []):
        lines.append(f"wrote {terminal(f)}")
    return "\n".join(lines)


#: the names the analysis writes in its directory (:func:`run_analysis`)
OWN_FILE = re.compile(r"(nodes\.csv|summary\.txt|dynamics\.png|attribution_\d+\.png)")


def _written_by_analysis(d: Path) -> bool:
    """``d`` holds an earlier analysis: a nodes.csv whose header is the analysis's columns."""
    try:
        with open(d / "nodes.csv", encoding="utf-8", errors="replace") as f:
            return f.readline().rstrip("\n") == ",".join(ANALYSIS_COLUMNS)
    except OSError:
        return False


def check_analysis_dir(outdir: str | os.PathLike, inputs: Sequence[Any] = (),
                       force: bool = False) -> list[str]:
    """Refuse an output directory the analysis must not replace; return the names of the old
    directory's entries to carry into the new one.

    The analysis replaces ``outdir`` as a whole (:func:`spikelut.fileutil.atomic.atomic_dir`), so
    without this every file in it would go, inputs included. Refused: the current directory (or
    one holding it); a non-empty directory that the analysis did not write, unless ``force``; an
    input (a path in ``inputs``; other entries are ignored) that lies in it under a name the
    analysis writes (also with ``force``). Kept: every entry that is not one of the analysis's
    own files (:data:`OWN_FILE`).

    Raises:
        OutputError: one line naming the directory (and the input) and what to do.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "notes.txt").write_text("mine")
        >>> check_analysis_dir(d, force=True)
        ['notes.txt']
    """
    from .fileutil import refuse_inputs_inside

    d = Path(outdir)
    if not d.is_dir():
        return []
    root = d.resolve()
    cwd = Path.cwd().resolve()
    if cwd == root or root in cwd.parents:
        raise OutputError(f"{outdir}: is the current directory or holds it; the analysis "
                          f"replaces its directory as a whole, so give another one")
    names = [e.name for e in d.iterdir()]
    if names and not force and not _written_by_analysis(d):
        raise OutputError(f"{outdir}: directory exists and was not written by 'spikelut analyze' "
                          f"(no nodes.csv of its own); choose a new directory, empty it, or pass "
                          f"--force")
    keep = sorted(n for n in names if not OWN_FILE.fullmatch(n))
    refuse_inputs_inside(outdir, inputs, lambda n: n not in keep,
                         "where the analysis replaces it")
    return keep


def run_analysis(net: Network, spikes: Any, labels: Any = None, outdir: Any = None,
                 samples: Any = (0,), limit: int | None = None,
                 backend: str | Backend = "auto", log: Any = None, size: Any = None,
                 force: bool = False, inputs: Sequence[Any] = ()) -> dict:
    """Everything ``spikelut analyze`` reports: per-layer and per-node statistics on ``spikes``
    ``[T, B, n_in]``, what exact pruning would save, gradient and occlusion attribution of the
    chosen ``samples``, and (with ``outdir``) ``nodes.csv``, ``summary.txt``, one
    ``attribution_<sample>.png`` per sample and ``dynamics.png`` from a training ``log``.

    Args:
        limit: use only the first ``limit`` samples for the statistics (``None``: all).
        backend: simulates the pruning check and the occlusion flips (:mod:`spikelut.backends`).
        force: write into a non-empty ``outdir`` the analysis did not write; its other files
            are kept (:func:`check_analysis_dir`, checked before anything is computed).
        inputs: the caller's input files, never replaced in ``outdir``.

    Returns:
        A JSON-friendly dict (``network``, ``data``, ``layers``, ``prunable``, ``attribution``,
        ``files``).

    Raises:
        ShapeError: spikes that do not fit ``net``; ConfigError: a sample index out of range, or
        an analog model (its real-valued tables are not the 0/1 tables measured here);
        OutputError: ``outdir`` refused by :func:`check_analysis_dir`.
    """
    import csv
    import io as _io
    from pathlib import Path

    from .prune import prune_network

    _binary_only(net)
    if log is not None and outdir is None:  # it was ignored, even a log that does not exist
        raise ConfigError(f"the training log {log} is drawn into dynamics.png, which needs an "
                          f"output directory: give -o DIR (outdir) or leave --log out")
    keep = [] if outdir is None else check_analysis_dir(outdir, [*inputs, log], force)
    x = np.asarray(spikes)
    if x.ndim != 3 or x.shape[2] != net.n_in:
        raise ShapeError(f"input spikes must be [T, B, {net.n_in}], got shape {x.shape}")
    B = x.shape[1]
    # each sample once: a repeat only repeated its attribution (and its figure's name in files)
    if isinstance(samples, (int, np.integer)) and not isinstance(samples, (bool, np.bool_)):
        samples = [samples]  # one sample (was "'int' object is not iterable")
    if not isinstance(samples, (list, tuple, np.ndarray, range)) or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_))
            for s in samples):
        # 1.5 was taken as sample 1, 'a' was int()'s ValueError
        raise ConfigError(f"samples must be a list of sample numbers (whole numbers), got {samples!r}")
    samples = list(dict.fromkeys(int(s) for s in samples))
    has = ("no samples" if B == 0 else "1 sample (0)" if B == 1
           else f"{B} samples (0..{B - 1})")  # not "0 samples (0..-1)"
    for s in samples:
        if not 0 <= s < B:
            raise ConfigError(f"sample {s} out of range: the data has {has}")
    if limit is not None and not _whole_positive(limit):  # 1.5 ran as 1, 'a' was a ValueError
        raise ConfigError(f"limit must be a positive number of samples, got {limit!r}")
    xs = x if limit is None else x[:, :int(limit)]
    dynamics = None
    if log is not None:  # read (and refused, if it must be) before minutes of work, not after
        from .plot import DEFAULT_SIZE, learning_dynamics

        dynamics = learning_dynamics(log, size=size or DEFAULT_SIZE)
    an = analyze_network(net, xs)
    if not isinstance(backend, Backend):
        backend = get_backend(backend)
    _, prep = prune_network(net, verify_samples=8, backend=backend)
    attribution = []
    maps = {}
    for s in samples:
        grad, target = gradient_map(net, x[:, s])
        occ = occlusion_map(net, x[:, s], backend=backend)
        maps[s] = (grad, occ)
        attribution.append({
            "sample": s, "pred": occ.pred, "counts": occ.counts.tolist(),
            "label": None if labels is None else int(np.asarray(labels)[s]),
            "deciding_flips": int(occ.pred_changed.sum()),
            "votes_changed": int(occ.votes_changed.sum()),
            # effect (docs/analyze.md): the count with a spike there minus without, the map
            # drawn; delta_pred (the change a flip makes) has the opposite sign where x = 1
            "occlusion_top": [dict(c, value=int(c["value"])) for c in _top_cells(occ.effect)],
            "gradient_top": _top_cells(grad)})
    report = {"network": {"nodes": net.n_nodes, "flip_flops": net.flip_flops(),
                          "layers": len(net.layers), "inputs": net.n_in},
              "data": {"samples": int(xs.shape[1]), "steps": int(xs.shape[0])},
              **an.summary(),
              "prunable": {k: prep[k] for k in ("luts", "flip_flops", "taps")},
              "attribution": attribution, "files": []}
    report["importance"] = _importance(net, an)
    if outdir is None:
        return report
    from .fileutil import atomic_dir
    from .plot import DEFAULT_SIZE, attribution_heatmap

    size = size or DEFAULT_SIZE
    out = Path(outdir)
    names = ["nodes.csv", "summary.txt"] + [f"attribution_{s}.png" for s in samples]
    names += ["dynamics.png"] if log is not None else []
    report["files"] = [str(out / n) for n in names]
    with atomic_dir(out, keep=keep) as tmp:
        buf = _io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(ANALYSIS_COLUMNS), lineterminator="\n")
        w.writeheader()
        # layer names come from the model file: no cell may be a spreadsheet formula
        w.writerows({k: csv_cell(v) for k, v in r.items()} for r in an.rows())
        (tmp / "nodes.csv").write_text(buf.getvalue())
        for s in samples:
            grad, occ = maps[s]
            lab = attribution[samples.index(s)]["label"]
            attribution_heatmap(
                x[:, s], {f"surrogate gradient of class {occ.pred}'s count": grad,
                          f"occlusion: class {occ.pred}'s count with a spike there minus "
                          f"without": occ.effect},
                tmp / f"attribution_{s}.png", size=size,
                title=f"sample {s}: predicted {occ.pred}" + ("" if lab is None else f", label {lab}"))
        if dynamics is not None:
            from .plot import DPI

            dynamics.savefig(tmp / "dynamics.png", format="png", dpi=DPI)  # as plot._finish does
        (tmp / "summary.txt").write_text(summary_text(report) + "\n")
    return report
