"""Structured initial logits: ``[train] init = "residual"`` (data-free) and ``"data"`` (from data).

Both set table values ``theta [n, 2**k]`` (float32, the multilinear logits; the deployed table is
``theta > 0``) of magnitude ``init_std`` plus Gaussian noise of standard deviation ``init_noise``
(0 by default: no noise), and go through the relaxation's ``init`` like every other choice
(docs/epochs.md, section "Initialisation").

``residual`` (after the residual initialisation of Petersen et al. 2024, "Convolutional
Differentiable Logic Gate Networks", where every gate starts as the pass-through of one input so
that deep networks pass signal and gradient from the first step): each node starts as the copy
of one of its taps, ``theta[a] = init_std * (2 * bit_p(a) - 1)``. The tap ``p`` is chosen by
:func:`pass_through_taps`: a feed-forward tap (from the input or an earlier layer) from the
latest such source, at the shortest delay, lowest tap number on a tie; a node with recurrent
taps only passes its shortest-delay tap.

``data`` (greedy, layer by layer, on a bounded sample of the training data): for layer ``i`` in
evaluation order, the current network (layers before ``i`` already set, later ones at their
noise) runs on ``init_samples`` training samples; every node's address frequencies, overall and
per class, are counted over all samples and cycles; then each node gets a *positive class set*
``P`` (an output node of class ``c``: ``{c}``; every other node: a seeded random half of the
classes) and its addresses are scored by ``f(a | P) - f(a | not P)``:

* an output node (readout layer, ``class_of >= 0``) turns on exactly the addresses more
  frequent under its class than under the others (class-correlated);
* every other node turns on addresses in the order of that score (ties: lower address first)
  while the frequency it fires at stays nearest to :data:`HIDDEN_RATE` (balanced: neither silent
  nor always on; the rate of the table's output, before any refractory gate).

Turned-on addresses get ``+init_std``, observed ones that stay off ``-init_std``, never observed
ones 0 (plus the noise): training sets them. A layer that reads its own or a later layer
(recurrence) is set again after the sweep, from the addresses its first setting and the later
layers produce.
Work: ``(layers + recurrent layers)`` forward passes of ``init_samples`` samples on the numpy
reference (the same tables on every backend).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from ..network import Network

HIDDEN_RATE = 0.5
"""Target firing frequency (table output, per cycle) of the nodes ``init = "data"`` balances."""
CHUNK = 64
"""Samples per forward pass while counting addresses (bounds the memory of ``init = "data"``)."""
SEED_TAG = 0xDA7A
"""Mixed into ``[train] seed``: the generator of the data sample and the class halves."""


def pass_through_taps(net: Network) -> list[np.ndarray]:
    """Per layer, the tap each node copies under ``init = "residual"``: int64 ``[n]``.

    The rule: among the node's feed-forward taps (source -1 = input, or a layer before the
    node's), those from the latest source, then the shortest delay, then the lowest tap number;
    a node with no feed-forward tap (recurrent taps only): the shortest delay, lowest tap number.

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=3, sizes=[2, 2], k=2)
        >>> net.layers[0].source.tolist(), net.layers[0].delay.tolist()
        ([[1, 0], [0, -1]], [[2, 2], [1, 2]])
        >>> [t.tolist() for t in pass_through_taps(net)]  # node 0 of layer 0: recurrent taps only
        [[0, 1], [0, 0]]
    """
    out = []
    for i, layer in enumerate(net.layers):
        src = layer.source.astype(np.int64)
        dly = layer.delay.astype(np.int64)
        k = layer.k
        ff = src < i
        has_ff = ff.any(axis=1, keepdims=True)
        eligible = np.where(has_ff, ff, True)
        # one sort key per tap: latest source first (for feed-forward taps), then shortest delay,
        # then lowest tap number; ineligible taps last
        big = int(dly.max(initial=0)) + 1
        tap = np.arange(k, dtype=np.int64)[None, :]
        key = np.where(has_ff, -src, 0) * big * k + dly * k + tap
        key = np.where(eligible, key, np.iinfo(np.int64).max)
        out.append(np.argmin(key, axis=1).astype(np.int64))
    return out


def residual_values(k: int, taps: np.ndarray, strength: float) -> np.ndarray:
    """Pass-through table values: ``theta[j, a] = strength * (2 * ((a >> taps[j]) & 1) - 1)``.

    Args:
        k: taps per node; the tables have ``2**k`` entries.
        taps: int ``[n]``, the tap each node copies.
        strength: the magnitude ``init_std``.

    Returns:
        float32 ``[n, 2**k]``.

    Example:
        >>> residual_values(2, np.array([0, 1]), 0.5).tolist()
        [[-0.5, 0.5, -0.5, 0.5], [-0.5, -0.5, 0.5, 0.5]]
    """
    a = np.arange(1 << k, dtype=np.int64)[None, :]
    bit = (a >> np.asarray(taps, np.int64)[:, None]) & 1
    return (strength * (2.0 * bit - 1.0)).astype(np.float32)


def initial_values(net: Network, init: str, strength: float, noise: float,
                   rng: np.random.Generator) -> list[np.ndarray]:
    """Per layer the table values ``init = "residual"`` or ``"data"`` start from before data.

    The noise ``N(0, noise)`` is drawn from ``rng`` layer by layer in the shape of the table
    (also when ``noise = 0``, so the generator's later draws do not depend on it); ``residual``
    adds the pass-through values, ``data`` adds nothing yet (:func:`data_values` does, in
    :meth:`~spikelut.train.trainer.Trainer.fit`).

    Returns:
        float32 ``[n, 2**k]`` per layer.

    Raises:
        ConfigError: ``init`` is neither ``"residual"`` nor ``"data"``.
    """
    if init not in ("residual", "data"):
        raise ConfigError(f'[train]: initial_values covers init = "residual" or "data", got {init!r}')
    taps = pass_through_taps(net) if init == "residual" else None
    out = []
    for i, layer in enumerate(net.layers):
        theta = rng.normal(0.0, noise, layer.table.shape).astype(np.float32)
        if taps is not None:
            theta += residual_values(layer.k, taps[i], strength)
        out.append(theta)
    return out


def _positive_classes(net: Network, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Layer ``i``'s positive class sets ``[n, C]`` (bool) and which nodes are output nodes."""
    layer, ro = net.layers[i], net.readout
    C, n = max(int(ro.classes), 1), layer.n
    half = rng.random((n, C)) < 0.5  # drawn for every layer, so later layers' draws do not shift
    j = np.arange(n)
    if C >= 2:  # a proper, non-empty half: an empty one gets class j % C, a full one loses it
        empty, full = ~half.any(axis=1), half.all(axis=1)
        half[empty, j[empty] % C] = True
        half[full, j[full] % C] = False
    else:  # one class: no contrast; the score is the address frequency
        half[:] = True
    out = np.zeros(n, bool)
    if i == ro.layer:
        out = ro.class_of >= 0
        half[out] = False
        half[out, ro.class_of[out]] = True
    return half, out


def _address_counts(plan: Any, thetas: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray,
                    i: int, C: int) -> np.ndarray:
    """Layer ``i``'s address counts per node and class ``[n, C, 2**k]`` (float64) on ``x``."""
    from .bptt import forward, tables_of

    lp = plan.layers[i]
    A = 1 << lp.k
    counts = np.zeros(lp.n * C * A, np.float64)
    tables = tables_of(thetas)
    for b0 in range(0, x.shape[1], CHUNK):
        xb, yb = x[:, b0:b0 + CHUNK], y[b0:b0 + CHUNK]
        addr = forward(plan, tables, xb).addr[i].astype(np.int64)  # [T, n, B]
        cls = np.clip(yb, 0, C - 1).astype(np.int64)  # the labels were checked by check_data
        idx = (np.arange(lp.n, dtype=np.int64)[None, :, None] * C + cls[None, None, :]) * A + addr
        counts += np.bincount(idx.ravel(), minlength=counts.size)
    return counts.reshape(lp.n, C, A)


def _set_layer(counts: np.ndarray, half: np.ndarray, out: np.ndarray, strength: float) -> np.ndarray:
    """The data-derived part of one layer's table values (float32 ``[n, 2**k]``) from its
    address counts ``[n, C, 2**k]``, positive class sets ``half [n, C]`` and output mask."""
    pos = np.einsum("nc,nca->na", half.astype(np.float64), counts)
    neg = counts.sum(axis=1) - pos
    total = pos + neg
    seen = total > 0
    f = total / np.maximum(total.sum(axis=1, keepdims=True), 1.0)
    f1 = pos / np.maximum(pos.sum(axis=1, keepdims=True), 1.0)
    f0 = neg / np.maximum(neg.sum(axis=1, keepdims=True), 1.0)
    score = f1 - f0
    # hidden nodes: addresses by descending score (stable: lower address first on a tie), each
    # turned on while it brings the node's firing frequency nearer to HIDDEN_RATE
    order = np.argsort(-score, axis=1, kind="stable")
    rows = np.arange(score.shape[0])
    on = np.zeros(score.shape, bool)
    cum = np.zeros(score.shape[0])
    for r in range(score.shape[1]):
        a = order[:, r]
        fa = f[rows, a]
        take = (fa > 0) & (cum + fa / 2.0 < HIDDEN_RATE)
        on[rows[take], a[take]] = True
        cum += np.where(take, fa, 0.0)
    on[out] = score[out] > 0  # output nodes: where the node's class is the more frequent
    return np.where(seen, np.where(on, strength, -strength), 0.0).astype(np.float32)


def data_values(net: Network, thetas: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray,
                strength: float, samples: int, seed: int) -> list[np.ndarray]:
    """Table values of ``init = "data"``: ``thetas`` (the noise) plus the data-derived part.

    Args:
        net: the network (its wiring and readout).
        thetas: per layer float32 ``[n, 2**k]``, the noise from :func:`initial_values`.
        x: training spikes uint8 ``[T, N, n_in]`` (host), ``y``: labels int ``[N]``.
        strength: ``init_std``, the magnitude of a set entry.
        samples: ``init_samples``; ``min(samples, N)`` samples, drawn without replacement by a
            generator seeded with ``[seed, SEED_TAG]``, are read.
        seed: ``[train] seed``; it also draws the hidden nodes' class halves.

    Returns:
        float32 ``[n, 2**k]`` per layer (new arrays; ``thetas`` is not changed).

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=2, sizes=[3, 2], k=2, classes=2)
        >>> x = np.random.default_rng(0).integers(0, 2, (5, 8, 2)).astype(np.uint8)
        >>> th = data_values(net, [np.zeros((3, 4), np.float32), np.zeros((2, 4), np.float32)],
        ...                  x, np.arange(8) % 2, 1.0, 8, 0)
        >>> [t.shape for t in th]
        [(3, 4), (2, 4)]
    """
    from .bptt import compile_plan

    rng = np.random.default_rng([int(seed), SEED_TAG])
    N = x.shape[1]
    pick = np.sort(rng.permutation(N)[:min(int(samples), N)])
    xs = np.ascontiguousarray(np.asarray(x)[:, pick], dtype=np.uint8)
    ys = np.asarray(y)[pick].astype(np.int64)
    C = max(int(net.readout.classes), 1)
    plan = compile_plan(net)
    noise = [np.asarray(t, np.float32) for t in thetas]
    cur = [t.copy() for t in noise]
    halves = [_positive_classes(net, i, rng) for i in range(len(net.layers))]
    # one sweep in evaluation order, then the layers that read their own or a later layer again,
    # now that what they read is set
    again = [i for i, layer in enumerate(net.layers) if (layer.source >= i).any()]
    for i in [*range(len(net.layers)), *again]:
        counts = _address_counts(plan, cur, xs, ys, i, C)
        cur[i] = noise[i] + _set_layer(counts, *halves[i], strength)
    return cur


def data_init_trainer(trainer: Any, x: Any, y: Any) -> None:
    """``[train] init = "data"``: replace the trainer's initial parameters by :func:`data_values`
    measured on its training data (``x [T, N, n_in]``, ``y [N]`` on its array module), before
    the first step; the kept copy and the optimizer's zero moments stay as they are."""
    from .passes import to_host

    cfg = trainer.cfg
    thetas = [np.asarray(to_host(trainer.xp, u), np.float32) for u in trainer.tables()]
    values = data_values(trainer.net, thetas, to_host(trainer.xp, x), to_host(trainer.xp, y),
                         cfg.init_std, cfg.init_samples, cfg.seed)
    params = [trainer.relax.init(v, layer.logits, cfg.init, trainer.rng)
              for v, layer in zip(values, trainer.net.layers)]
    trainer._clip(params)
    trainer.params = [trainer.xp.asarray(p) for p in params]
    trainer.best_params = [p.copy() for p in trainer.params]
