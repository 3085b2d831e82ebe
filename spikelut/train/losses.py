"""Losses on the readout layer's spikes, and a firing-rate regularizer.

Every loss takes the readout layer's spikes ``[T, B, n]`` (uint8 in training; reals in the
relaxed model of the gradient checks), the labels ``[B]`` and the network's
:class:`~spikelut.network.Readout`, and returns ``(loss, dL/dspikes)`` with the loss averaged over
the batch. Only cycles ``t >= readout.start`` and nodes with a class count, as in the readout rule.

Every function runs on the array module of the spikes (numpy or CuPy): the loss comes back as a
0-d value of that module (a ``numpy.float64``, which is a ``float``, on the CPU), so a training
step on the GPU never waits for the host; call ``float()`` when the number is needed.

Names follow snnTorch's ``snntorch.functional`` (``ce_count_loss``, ``ce_temporal_loss``,
``mse_count_loss``); the earlier names ``ce``, ``ttfs``, ``mse`` and ``ce_ttfs`` stay accepted as
aliases (a config is normalised to the new name).

* ``ce_count`` (alias ``ce``) — cross-entropy of ``softmax(count * logit_scale)``; ``logit_scale`` defaults to
  ``4 / (P * sqrt(T'))`` (``P`` = readout nodes per class, ``T'`` = counted cycles), which keeps the
  logits in a useful range whatever the readout size (prototype finding, DESIGN.md section 8).
* ``ce_temporal`` (alias ``ttfs``) — time to first spike: ``first[c]`` = cycles (from ``start``) before any class-``c``
  node fires (``T'`` if none), written as ``sum_t prod_{t' <= t} (1 - q_c[t'])`` with
  ``q_c[t] = 1 - prod_{j in c} (1 - s_j[t])`` so that it is exact on spikes and differentiable;
  cross-entropy of ``softmax(-first * ttfs_scale)``, default scale ``10 / T'``. The correct class is
  pushed to fire first, the others later.
* ``ce_count_temporal`` (alias ``ce_ttfs``) — ``ce_count + ce_temporal``: the count loss (what the readout rule scores) beside the timing
  loss (the correct class should also fire first); gradients add.
* ``mse_count`` (alias ``mse``) — ``mean_c (count[c] / (P_c T') - target[c])**2`` with target ``target_rates[0]`` for the
  correct class and ``target_rates[1]`` for the others.

Example:
    >>> import numpy as np
    >>> from spikelut.network import Readout
    >>> ro = Readout(layer=0, class_of=[0, 1], classes=2)
    >>> s = np.zeros((4, 1, 2), np.uint8); s[:, 0, 0] = 1          # class 0 fires every cycle
    >>> loss, g = cross_entropy(s, np.array([0]), ro, logit_scale=1.0)
    >>> round(float(loss), 4), g.shape
    (0.0181, (4, 1, 2))
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..xp import array_module
from ..errors import ConfigError, ShapeError
from ..network import Readout

LossFn = Callable[..., tuple[float, np.ndarray]]


def _setup(spikes: np.ndarray, labels: np.ndarray, readout: Readout):
    xp = array_module(spikes)
    spikes = xp.asarray(spikes)
    if spikes.ndim != 3 or spikes.shape[2] != len(readout.class_of):
        raise ShapeError(f"readout spikes must be [T, B, {len(readout.class_of)}], got {spikes.shape}")
    T, B, n = spikes.shape
    if readout.start >= T:
        raise ShapeError(f"readout start {readout.start} leaves no cycle to count in T = {T} steps")
    labels = xp.asarray(labels).astype(np.int64)
    if labels.shape != (B,):
        raise ShapeError(f"labels have shape {labels.shape}, expected ({B},)")
    dt = np.float64 if spikes.dtype == np.float64 else np.float32
    onehot = np.zeros((n, readout.classes), dt)
    counted = np.flatnonzero(readout.class_of >= 0)
    onehot[counted, readout.class_of[counted]] = 1
    return spikes, labels, xp.asarray(onehot), T - readout.start, dt


def _softmax_ce(z: np.ndarray, labels: np.ndarray, smoothing: float = 0.0
                ) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of logits ``z [B, C]`` and its gradient w.r.t. ``z``.

    ``smoothing`` = ε: the target is ``(1 - ε) onehot + ε / C`` (label smoothing, Szegedy et al.
    2016, "Rethinking the Inception Architecture"; PyTorch's ``cross_entropy(label_smoothing=ε)``),
    so the loss stops rewarding ever larger margins; 0 is the plain cross-entropy.
    """
    xp = array_module(z)
    B, C = z.shape
    rows = xp.arange(B)
    zs = z - z.max(axis=1, keepdims=True)
    e = xp.exp(zs)
    s = e.sum(axis=1)
    g = e / s[:, None]                      # the softmax p; becomes p - target
    lse = xp.log(s)
    nll = lse - zs[rows, labels]
    if not smoothing:
        loss = xp.mean(nll)
        g[rows, labels] -= 1.0
    else:
        # -sum_c q_c log p_c = (1 - eps) (lse - z_y) + eps (lse - mean_c z_c)
        loss = xp.mean((1.0 - smoothing) * nll + smoothing * (lse - zs.mean(axis=1)))
        g -= smoothing / C
        g[rows, labels] -= 1.0 - smoothing
    return loss, g / B


def _spread(g_count: np.ndarray, onehot: np.ndarray, T: int, start: int, dt) -> np.ndarray:
    """dL/ds from dL/dcount: every counted cycle of a class-c node gets dL/dcount[c]."""
    g_node = (g_count @ onehot.T).astype(dt)  # [B, n]
    out = array_module(g_node).zeros((T,) + g_node.shape, dt)
    out[start:] = g_node
    return out


def default_logit_scale(readout: Readout, steps: int) -> float:
    """``4 / (P * sqrt(T'))``: P = largest class's node count, T' = counted cycles."""
    counted = readout.class_of[readout.class_of >= 0]
    P = int(np.bincount(counted, minlength=readout.classes).max()) if counted.size else 1
    return 4.0 / (max(P, 1) * np.sqrt(max(steps - readout.start, 1)))


def cross_entropy(spikes: np.ndarray, labels: np.ndarray, readout: Readout,
                  logit_scale: float | None = None, label_smoothing: float = 0.0
                  ) -> tuple[float, np.ndarray]:
    """Cross-entropy on class spike counts (rate code): softmax over ``logit_scale`` times each
    class's count, with the targets smoothed by ``label_smoothing`` (:func:`_softmax_ce`).

    Returns the mean loss over the batch and ``dL/ds`` ``[T, B, n]`` (float32 for binary spikes).

    Example:
        >>> from spikelut.network import Readout
        >>> ro = Readout(layer=0, class_of=[0, 1], classes=2)
        >>> s = np.zeros((4, 1, 2), np.uint8); s[:, 0, 0] = 1      # class 0 fires 4 times
        >>> round(float(cross_entropy(s, np.array([0]), ro, logit_scale=1.0)[0]), 4)
        0.0181
        >>> round(float(cross_entropy(s, np.array([0]), ro, 1.0, label_smoothing=0.1)[0]), 4)
        0.2181
    """
    spikes, labels, onehot, Tc, dt = _setup(spikes, labels, readout)
    scale = default_logit_scale(readout, spikes.shape[0]) if logit_scale is None else logit_scale
    counts = spikes[readout.start:].sum(axis=0, dtype=dt) @ onehot  # [B, C]
    loss, gz = _softmax_ce(counts.astype(np.float64) * scale, labels, label_smoothing)
    return loss, _spread(gz * scale, onehot, spikes.shape[0], readout.start, dt)


def _excl_prod(v: np.ndarray, axis: int) -> np.ndarray:
    """``prod`` of ``v`` along ``axis`` leaving out each element in turn (no division)."""
    xp = array_module(v)
    v = xp.moveaxis(v, axis, -1)
    ones = xp.ones(v.shape[:-1] + (1,), v.dtype)
    before = xp.concatenate([ones, xp.cumprod(v, axis=-1)[..., :-1]], axis=-1)
    after = xp.concatenate([xp.cumprod(v[..., ::-1], axis=-1)[..., -2::-1], ones], axis=-1)
    return xp.moveaxis(before * after, -1, axis)


def first_spike_times(spikes: np.ndarray, readout: Readout) -> np.ndarray:
    """Cycles from ``start`` before each class first fires ``[B, C]`` (``T'`` when it never does)."""
    xp = array_module(spikes)
    spikes = xp.asarray(spikes)
    spikes, _, onehot, Tc, _ = _setup(spikes, xp.zeros(spikes.shape[1], np.int64), readout)
    fired = (spikes[readout.start:].astype(np.float64) @ onehot) > 0  # [T', B, C]
    never = ~fired.any(axis=0)
    return xp.where(never, Tc, fired.argmax(axis=0)).astype(np.float64)


def time_to_first_spike(spikes: np.ndarray, labels: np.ndarray, readout: Readout,
                        ttfs_scale: float | None = None, label_smoothing: float = 0.0
                        ) -> tuple[float, np.ndarray]:
    """Cross-entropy on ``-first_spike_time``: the correct class should fire first (targets
    smoothed by ``label_smoothing``, as in :func:`cross_entropy`)."""
    spikes, labels, onehot, Tc, dt = _setup(spikes, labels, readout)
    xp = array_module(spikes)
    T, B, n = spikes.shape
    scale = 10.0 / Tc if ttfs_scale is None else ttfs_scale
    s = spikes[readout.start:].astype(np.float64)
    C = readout.classes
    first = xp.zeros((B, C))
    g_s = xp.zeros((T, B, n), np.float64)
    per_class = []
    for c in range(C):
        nodes = np.flatnonzero(readout.class_of == c)      # host metadata
        if nodes.size == 0:
            first[:, c] = Tc
            per_class.append(None)
            continue
        nodes = xp.asarray(nodes)
        quiet = 1.0 - s[:, :, nodes]                       # [T', B, P]
        q = 1.0 - xp.prod(quiet, axis=2)                   # class fired at t
        surv = xp.cumprod(1.0 - q, axis=0)                 # no spike up to and including t
        first[:, c] = surv.sum(axis=0)
        per_class.append((nodes, quiet, q, surv))
    loss, gz = _softmax_ce(-first * scale, labels, label_smoothing)
    g_first = -gz * scale                                  # [B, C]
    for c, item in enumerate(per_class):
        if item is None:
            continue
        nodes, quiet, q, surv = item
        # d first / d q[t'] = -prod_{t < t'} (1 - q) * Q[t'],  Q[t'] = 1 + (1 - q[t'+1]) Q[t'+1]
        Q = xp.ones_like(q)
        for t in range(Tc - 2, -1, -1):
            Q[t] = 1.0 + (1.0 - q[t + 1]) * Q[t + 1]
        before = xp.concatenate([xp.ones((1, B)), surv[:-1]], axis=0)
        g_q = -before * Q * g_first[:, c]                  # [T', B]
        g_s[readout.start:, :, nodes] = g_q[:, :, None] * _excl_prod(quiet, axis=2)
    return loss, g_s.astype(dt)


def count_and_first_spike(spikes: np.ndarray, labels: np.ndarray, readout: Readout,
                          logit_scale: float | None = None, ttfs_scale: float | None = None,
                          label_smoothing: float = 0.0) -> tuple[float, np.ndarray]:
    """``cross_entropy + time_to_first_spike``: counts decide the class (the readout rule), the
    timing term pushes the correct class to fire first (a temporal code beside the rate code).

    Example:
        >>> from spikelut.network import Readout
        >>> ro = Readout(layer=0, class_of=[0, 1], classes=2)
        >>> s = np.zeros((4, 1, 2), np.uint8); s[:, 0, 0] = 1
        >>> loss, g = count_and_first_spike(s, np.array([0]), ro, logit_scale=1.0)
        >>> a = cross_entropy(s, np.array([0]), ro, logit_scale=1.0)[0]
        >>> b = time_to_first_spike(s, np.array([0]), ro)[0]
        >>> bool(np.isclose(loss, a + b))
        True
    """
    l1, g1 = cross_entropy(spikes, labels, readout, logit_scale, label_smoothing)
    l2, g2 = time_to_first_spike(spikes, labels, readout, ttfs_scale, label_smoothing)
    return l1 + l2, g1 + g2


def mse_rates(spikes: np.ndarray, labels: np.ndarray, readout: Readout,
              target_rates: Sequence[float] = (0.5, 0.05)) -> tuple[float, np.ndarray]:
    """Mean squared error of each class's firing rate against its target rate."""
    spikes, labels, onehot, Tc, dt = _setup(spikes, labels, readout)
    xp = array_module(spikes)
    B = spikes.shape[1]
    P = onehot.sum(axis=0).astype(np.float64)             # nodes per class
    denom = xp.maximum(P, 1.0) * Tc
    rates = (spikes[readout.start:].sum(axis=0, dtype=np.float64) @ onehot) / denom
    target = xp.full(rates.shape, float(target_rates[1]))
    target[xp.arange(B), labels] = float(target_rates[0])
    err = xp.where(P > 0, rates - target, 0.0)
    C = readout.classes
    loss = xp.sum(err ** 2) / (B * C)
    g_count = 2.0 * err / (B * C) / denom
    return loss, _spread(g_count, onehot, spikes.shape[0], readout.start, dt)


def rate_regularizer(layer_spikes: Sequence[np.ndarray], weight: float,
                     target: float = 0.0) -> tuple[float, list[np.ndarray]]:
    """``weight * mean over samples and nodes of (firing rate - target)**2``, all layers together.

    Pushes activity toward ``target`` spikes per cycle (0: as sparse as the task allows, i.e.
    low switching power in hardware).
    """
    n_total = sum(s.shape[2] for s in layer_spikes)
    grads, loss = [], 0.0
    for s in layer_spikes:
        xp = array_module(s)
        T, B, _ = s.shape
        dt = np.float64 if s.dtype == np.float64 else np.float32
        r = s.mean(axis=0, dtype=np.float64) - target       # [B, n]
        loss += weight * xp.sum(r ** 2) / (B * n_total)
        g = (2.0 * weight / (B * n_total * T)) * r
        grads.append(xp.broadcast_to(g.astype(dt), s.shape))
    return loss, grads


LOSSES: dict[str, LossFn] = {"ce_count": cross_entropy, "ce_temporal": time_to_first_spike,
                             "mse_count": mse_rates, "ce_count_temporal": count_and_first_spike}
#: earlier names and spellings -> the snnTorch-style name
ALIASES = {"ce": "ce_count", "ttfs": "ce_temporal", "mse": "mse_count", "ce_ttfs": "ce_count_temporal",
           "cross_entropy": "ce_count", "cross-entropy": "ce_count", "first_spike": "ce_temporal",
           "mse_rates": "mse_count"}


def get_loss(name: str) -> LossFn:
    """The loss function registered as ``name`` (``ce_count``, ``ce_temporal``,
    ``ce_count_temporal``, ``mse_count``) or one of its aliases (``ce``, ``ttfs``, ``ce_ttfs``,
    ``mse``, ...).

    Args:
        name: a key of :data:`LOSSES` or :data:`ALIASES` (names after snnTorch's
            ``snntorch.functional``).

    Returns:
        ``fn(spikes [T, B, n], labels [B], readout, **params) -> (loss, dL/dspikes [T, B, n])``:
        the batch's mean loss (a 0-d value of the spikes' array module) and its gradient
        (float32 for uint8 spikes); the parameters are the ``[train]`` keys of that loss
        (``logit_scale``, ``ttfs_scale``, ``label_smoothing``, ``target_rates``).

    Raises:
        ConfigError: an unknown name (the message lists the losses).

    Example:
        >>> get_loss("ce") is get_loss("ce_count") is cross_entropy
        True
    """
    key = ALIASES.get(name, name) if isinstance(name, str) else None  # a list is unhashable
    if key not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; choose one of {', '.join(sorted(LOSSES))}")
    return LOSSES[key]
