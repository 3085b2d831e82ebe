"""Wiring guided by data at initialisation: taps drawn towards signals that tell the classes apart.

Each candidate signal's *feature* is its spike count per sample (an input channel's, or a node's
when the network runs on the data). Its score against the targets is

* ``"mi"``: the mutual information (bits) between the feature, cut into up to 4 quantile bins,
  and the label;
* ``"corr"``: the largest absolute Pearson correlation of the feature with a column of the
  targets: one-hot labels, or a teacher's features ``[B, F]`` (e.g. the hidden units of a
  PyTorch teacher, :mod:`spikelut.torch` / demos/distill_mnist1d.py).

Layers are wired in evaluation order (a layer's candidates from an earlier layer are scored with
that layer's new wiring). Every rewirable tap column (:func:`spikelut.train.rewire.tap_slots`)
keeps its source and delay; within it, each node draws its channels without replacement with
probability proportional to ``score + mean(score) / 10`` (seeded Gumbel top-k), so nodes favour
informative signals but do not all read the same one. Tables are left as they are.

Example:
    >>> import numpy as np
    >>> from spikelut.wiring import random_network
    >>> net = random_network(0, n_in=8, sizes=[6, 2], k=2, classes=2, recurrent=False, max_delay=0)
    >>> x = (np.random.default_rng(0).random((4, 50, 8)) < 0.5).astype(np.uint8)
    >>> y = x[:, :, 3].sum(axis=0) > 1                      # channel 3 decides the label
    >>> g = guided_wiring(net, x, y.astype(np.int64), seed=0)
    >>> int((g.layers[0].index[g.layers[0].source == -1] == 3).sum()) >= 3
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError, ShapeError
from .network import INPUT, Network, all_binary

METHODS = ("mi", "corr")


def signal_scores(features: np.ndarray, targets: np.ndarray, method: str = "mi") -> np.ndarray:
    """Score of every feature column against the targets.

    Args:
        features: ``[B, n]`` per-sample values (spike counts).
        targets: ``int [B]`` labels, or float ``[B, F]`` teacher features (``"corr"`` only).
        method: ``"mi"`` or ``"corr"``.

    Returns:
        float64 ``[n]`` >= 0 (bits for ``"mi"``).

    Raises:
        ConfigError: an unknown method, or ``"mi"`` with non-label targets.

    Example:
        >>> f = np.array([[0, 5], [0, 5], [3, 5], [3, 5]])
        >>> signal_scores(f, np.array([0, 0, 1, 1])).tolist()
        [1.0, 0.0]
    """
    if method not in METHODS:
        raise ConfigError(f"unknown guided wiring method {method!r}; choose one of "
                          f"{', '.join(METHODS)}")
    f = np.asarray(features, np.float64)
    t = np.asarray(targets)
    if method == "mi":
        if t.ndim != 1 or not np.issubdtype(t.dtype, np.integer):
            raise ConfigError("guided wiring \"mi\" needs integer labels [B]; use \"corr\" with "
                              "a teacher's features")
        return _mutual_information(f, t)
    if t.ndim == 1:
        t = np.eye(int(t.max()) + 1)[t] if np.issubdtype(t.dtype, np.integer) else t[:, None]
    fc = f - f.mean(axis=0)
    tc = np.asarray(t, np.float64) - np.asarray(t, np.float64).mean(axis=0)
    fs, ts = np.sqrt((fc ** 2).sum(axis=0)), np.sqrt((tc ** 2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (fc.T @ tc) / (fs[:, None] * ts[None, :])
    return np.nan_to_num(np.abs(r)).max(axis=1)


def _mutual_information(f: np.ndarray, y: np.ndarray, bins: int = 4) -> np.ndarray:
    B, n = f.shape
    classes = int(y.max()) + 1
    out = np.zeros(n)
    py = np.bincount(y, minlength=classes) / B
    for c in range(n):
        edges = np.unique(np.quantile(f[:, c], np.linspace(0, 1, bins + 1)[1:-1]))
        b = np.searchsorted(edges, f[:, c], side="right")
        joint = np.zeros((len(edges) + 1, classes))
        np.add.at(joint, (b, y), 1.0)
        joint /= B
        pb = joint.sum(axis=1, keepdims=True)
        nz = joint > 0
        out[c] = float((joint[nz] * np.log2(joint[nz] / (pb * py[None, :])[nz])).sum())
    return np.maximum(out, 0.0)


def _features(net: Network, x: np.ndarray) -> list[np.ndarray]:
    """Per-sample spike counts ``[B, n]`` of the input (entry 0) and of every layer (1..m)."""
    from .train.bptt import compile_plan, forward

    fwd = forward(compile_plan(net), [layer.table for layer in net.layers], x, save=False)
    return [x.sum(axis=0, dtype=np.int64)] + [fwd.spikes(i).sum(axis=0, dtype=np.int64)
                                              for i in range(len(net.layers))]


def guided_wiring(net: Network, spikes: Any, targets: Any, method: str = "mi", seed: int = 0,
                  samples: int = 500) -> Network:
    """``net`` with its rewirable tap columns re-drawn towards informative signals (module doc).

    Args:
        net: a validated network.
        spikes: input spikes ``[T, B, n_in]``.
        targets: ``int [B]`` labels, or ``[B, F]`` teacher features (``method = "corr"``).
        method: ``"mi"`` or ``"corr"``.
        seed: seeds the draws.
        samples: use the first this many samples.

    Returns:
        A validated network with the same sources, delays and tables, and new indices.

    Raises:
        ShapeError: spikes or targets that do not fit (spikes not 0/1, negative labels, teacher
            features that are not finite); ConfigError: a bad method, seed or sample count.

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=4, sizes=[6, 2], k=2)
        >>> rng = np.random.default_rng(0)
        >>> x = rng.integers(0, 2, (5, 20, 4), dtype=np.uint8); y = rng.integers(0, 2, 20)
        >>> g = guided_wiring(net, x, y)
        >>> g.sizes, bool((g.layers[0].table == net.layers[0].table).all())
        ([6, 2], True)
    """
    from .train.rewire import tap_slots

    x, t = np.asarray(spikes), np.asarray(targets)
    if x.ndim != 3 or x.shape[2] != net.n_in:
        raise ShapeError(f"input spikes must be [T, B, {net.n_in}], got shape {x.shape}")
    if x.shape[1] < 1:
        raise ShapeError("input spikes: no samples to score the signals on")
    if not all_binary(x):  # a 2 counted as two spikes, a 256 as none after the uint8 cast
        raise ShapeError("input spikes must be 0 or 1")
    if t.ndim == 0 or t.shape[0] != x.shape[1]:  # compared before the first `samples` are cut
        raise ShapeError(f"targets: {t.shape[0] if t.ndim else 0} rows for the {x.shape[1]} "
                         f"samples of the spikes; give one row per sample")
    if t.ndim == 1 and np.issubdtype(t.dtype, np.integer):
        if t.min() < 0:  # np.bincount / np.eye raised ValueError or indexed from the end
            raise ShapeError(f"targets: labels must be >= 0, got {int(t.min())}")
    elif method == "corr":  # teacher features: NaN scored every signal 0, without a word
        check_teacher(t if t.ndim == 2 else t[:, None], x.shape[1], "targets")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ConfigError(f"samples must be an integer >= 1, got {samples!r}")
    x, t = x[:, :samples].astype(np.uint8), t[:samples]
    rng = np.random.default_rng([seed, 0x6E1D])
    slots = tap_slots(net)
    for i in range(len(net.layers)):
        layer = net.layers[i]
        cols = [p for p in range(layer.k) if slots[i][p] is not None]
        if not cols:
            continue
        feats = _features(net, x)
        idx = layer.index.copy()
        for s in sorted(set(layer.source[:, cols].ravel().tolist())):
            score = signal_scores(feats[0 if s == INPUT else s + 1], t, method)
            w = score + (score.mean() / 10 if score.mean() > 0 else 1.0)
            for j in range(layer.n):
                ps = [p for p in cols if layer.source[j, p] == s]
                if not ps:
                    continue
                # distinct channels per node where possible; taps that shared a channel
                # (same_channel groups: one signal at several delays) keep sharing one
                keys = np.log(w) + rng.gumbel(size=w.size)
                order = np.argsort(-keys)
                shared: dict[int, int] = {}
                for p in ps:
                    old = int(layer.index[j, p])
                    if old not in shared:
                        shared[old] = int(order[len(shared) % len(order)])
                    idx[j, p] = shared[old]
        net = net.replace_layer(i, index=idx)
    return net


def guide_trainer(trainer: Any, x: Any, y: Any, teacher: Any = None) -> None:
    """``[train] init_wiring`` or teacher features: re-draw the trainer's wiring with
    :func:`guided_wiring` on its training data (host copies of ``x [T, N, n_in]``, ``y [N]``)
    before the first step.

    With ``teacher`` (float ``[N, F]``, one row per training sample) the taps are scored by
    ``"corr"`` against the teacher's features instead of the labels; ``init_wiring = "config"``
    then means ``"corr"``.

    Args:
        trainer: a :class:`~spikelut.train.trainer.Trainer` before its first step; its network
            is replaced in place.
        x: training input spikes ``[T, N, n_in]`` (numpy or CuPy).
        y: training labels ``int [N]``.
        teacher: optional float ``[N, F]`` teacher features.

    Returns:
        ``None``.

    Raises:
        ConfigError: teacher features with ``init_wiring = "mi"`` (mutual information is
            measured against labels).
        ShapeError: teacher features that are not ``[N, F]`` finite numbers.
    """
    from .train.bptt import compile_plan
    from .train.passes import to_host

    cfg = trainer.cfg
    method, targets = cfg.init_wiring, to_host(trainer.xp, y)
    if teacher is not None:
        if method == "mi":
            raise ConfigError('init_wiring = "mi" scores taps against the labels; with teacher '
                              'features use init_wiring = "corr" (or leave it unset)')
        method, targets = "corr", check_teacher(teacher, int(x.shape[1]))
    net = guided_wiring(trainer.net, to_host(trainer.xp, x), targets, method, cfg.seed)
    trainer.net = trainer.best_net = net
    trainer.plan = compile_plan(net)


def check_teacher(teacher: Any, samples: int, where: str = "teacher features") -> np.ndarray:
    """``teacher`` as float64 ``[samples, F]`` after checking shape and values.

    Args:
        teacher: array-like teacher features, one row per training sample.
        samples: the number of training samples ``N``.
        where: what to name in messages.

    Returns:
        float64 ``[samples, F]``, ``F >= 1``.

    Raises:
        ShapeError: not 2-D, another number of rows, no columns, or values not finite.

    Example:
        >>> check_teacher([[1.0], [2.0]], 3)
        Traceback (most recent call last):
        ...
        spikelut.errors.ShapeError: teacher features: 2 rows for 3 training samples (one row per sample)
    """
    try:
        t = np.asarray(teacher, dtype=np.float64)
    except (TypeError, ValueError):
        raise ShapeError(f"{where}: not an array of numbers [B, F]") from None
    if t.ndim != 2 or t.shape[1] == 0:
        raise ShapeError(f"{where}: shape {t.shape}, expected [B, F] with F >= 1")
    if t.shape[0] != samples:
        raise ShapeError(f"{where}: {t.shape[0]} rows for {samples} training samples "
                         f"(one row per sample)")
    if not np.isfinite(t).all():
        raise ShapeError(f"{where}: values must be finite (no NaN or infinity)")
    return t
