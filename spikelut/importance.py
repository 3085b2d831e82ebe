"""Tap importance: how much each node's output depends on each of its taps, on data.

Two measures per tap ``p`` of node ``j`` (docs/rewiring.md):

* **influence on data**: the Boolean influence of input ``p`` on the node's table, weighted by how
  often each address occurred when the network ran on the data (O'Donnell def. 2.13 under the
  data's address distribution; :func:`spikelut.analysis.influences`): the fraction of the node's
  evaluations at which flipping tap ``p`` would flip the LUT output. 0 = the tap never mattered.
* **gradient signal**: ``|sum_{t, b} g_tap_p|``, the magnitude of the surrogate gradient of the
  training loss with respect to the tap's value (DESIGN.md section 3), summed over the cycles and
  samples of a batch (the loss is a batch mean) and averaged over batches. Because
  ``g_tap_p = g_u * (f(theta)[a | 1<<p] - f(theta)[a & ~(1<<p)])`` and ``g_theta[a] = sum g_u``
  over the evaluations at address ``a``, the sum over a batch is
  ``sum_a g_theta[a] * (f(theta)[a | 1<<p] - f(theta)[a & ~(1<<p)])``: it needs only the logit
  gradients every backend returns (:func:`tap_gradient_from`).

:func:`importance_score` combines them into the one number rewiring ranks taps by. Both are saved
with a model (``/layers/L<i>/tap_influence`` and ``tap_gradient``, optional float32 ``[n, k]``).

Example:
    >>> import numpy as np
    >>> from spikelut.wiring import random_network
    >>> net = random_network(0, n_in=4, sizes=[6, 2], k=2, classes=2, recurrent=False)
    >>> x = (np.random.default_rng(0).random((5, 8, 4)) < 0.5).astype(np.uint8)
    >>> y = np.arange(8) % 2
    >>> imp = tap_importance(net, x, y)
    >>> imp.layers[0].tap_influence.shape, imp.layers[0].tap_gradient.dtype.name
    ((6, 2), 'float32')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError, ShapeError
from .network import Network

__all__ = ["tap_gradient_from", "tap_importance", "importance_score", "importance_summary"]


def tap_gradient_from(theta: Any, grad: Any, tap_grad: str = "tanh") -> np.ndarray:
    """The summed tap gradient ``|sum_a grad[a] * (f(theta)[a|1<<p] - f(theta)[a&~(1<<p)])|``.

    Args:
        theta: logits ``[n, 2**k]`` (numpy or the backend's array module).
        grad: the loss gradient of those logits from one batch, ``[n, 2**k]``.
        tap_grad: ``"tanh"`` or ``"identity"``: ``f``, as in ``[train] tap_grad``.

    Returns:
        float64 ``[n, k]`` on the host: the magnitude of each tap's summed gradient.

    Raises:
        ShapeError: ``theta`` not ``[n, 2**k]``, or ``grad`` of another shape.
        ConfigError: an unknown ``tap_grad``.

    Example:
        >>> th = np.array([[-1.0, 1.0, -1.0, 1.0]])       # f = tap 0
        >>> tap_gradient_from(th, np.array([[0.0, 0.0, 0.0, 2.0]]), "identity").tolist()
        [[4.0, 0.0]]
    """
    from .train.bptt import tap_differences
    from .train.passes import to_host
    from .xp import array_module

    xp = array_module(theta)
    shape = tuple(getattr(theta, "shape", np.shape(theta)))
    gshape = tuple(getattr(grad, "shape", np.shape(grad)))
    # a row that is not 2**k wide or a gradient of another shape raised an IndexError or a
    # broadcasting ValueError from deep inside the tap differences
    if len(shape) != 2 or shape[1] < 1 or shape[1] & (shape[1] - 1) or gshape != shape:
        raise ShapeError(f"tap gradient: logits {shape} and gradient {gshape} must both be "
                         f"[n, 2**k] of the same shape")
    n, size = shape
    k = size.bit_length() - 1
    diffs = tap_differences(xp.asarray(theta), tap_grad).reshape(k, n, size)  # [k, n, 2**k]
    g = xp.asarray(grad, diffs.dtype)
    s = (diffs * g[None]).sum(axis=2)  # every evaluation at address a adds g_u * diff_p[a]
    return np.abs(np.asarray(to_host(xp, s), np.float64)).T.copy()


def importance_score(influence: np.ndarray, gradient: np.ndarray | None) -> np.ndarray:
    """The one number taps are ranked by: ``influence + gradient / max(gradient of the layer)``.

    Both terms lie in ``[0, 1]`` and weigh equally; without a gradient the score is the
    influence alone.

    Args:
        influence: ``[n, k]`` influence on data (NaN counts as 0).
        gradient: ``[n, k]`` gradient signal, or ``None``.

    Returns:
        float64 ``[n, k]``.

    Raises:
        ShapeError: ``gradient`` of another shape than ``influence``.

    Example:
        >>> importance_score(np.array([[0.5, 0.0]]), np.array([[1.0, 2.0]])).tolist()
        [[1.0, 1.0]]
    """
    score = np.nan_to_num(np.asarray(influence, np.float64))
    if gradient is not None:
        g = np.nan_to_num(np.asarray(gradient, np.float64))
        if g.shape != score.shape:  # broadcast silently ([1, 2] + [1, 1]) or a numpy traceback
            raise ShapeError(f"importance: gradient {g.shape} and influence {score.shape} must "
                             f"have the same [n, k] shape")
        top = g.max() if g.size else 0.0
        if top > 0:
            score = score + g / top
    return score


def tap_importance(net: Network, spikes: Any, labels: Any = None, *, loss: str = "ce",
                   surrogate: str = "fast_sigmoid", tap_grad: str = "tanh",
                   batch_size: int = 256) -> Network:
    """``net`` with each layer's ``tap_influence`` (and, with ``labels``, ``tap_gradient``) set.

    The influence is measured on ``spikes`` with the tables; the gradient with the layer's logits
    (``±0.1`` from the table when it has none) through the reference BPTT
    of :mod:`spikelut.train.bptt` and the ``loss`` on the readout.

    Args:
        net: a validated network.
        spikes: input spikes ``[T, B, n_in]`` (0/1).
        labels: ``int [B]`` class labels, or ``None`` (no gradient signal then).
        loss: a ``[train] loss`` name.
        surrogate: a ``[train] surrogate`` name.
        tap_grad: ``"tanh"`` or ``"identity"``.
        batch_size: samples per forward/backward pass.

    Returns:
        A validated copy of ``net`` carrying the importance (saved by :func:`spikelut.io.models.save_model`).

    Raises:
        ShapeError: spikes or labels that do not fit ``net``.

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(1, n_in=3, sizes=[4, 2], k=2, recurrent=False)
        >>> tap_importance(net, np.ones((3, 2, 3), np.uint8)).layers[0].tap_gradient is None
        True
    """
    from .analysis import data_stats

    x = np.asarray(spikes)
    stats = data_stats(net, x)
    if labels is not None:  # integers within the readout's classes (an 11 raised IndexError)
        from .train.trainer import check_data

        check_data(net, x, labels, "tap importance data")
    grads = None if labels is None else _gradient_signal(net, x, np.asarray(labels), loss,
                                                         surrogate, tap_grad, batch_size)
    layers = []
    for i, (layer, st) in enumerate(zip(net.layers, stats)):
        infl = np.nan_to_num(st.data_influence).astype(np.float32)
        layers.append(layer.replace(tap_influence=infl,
                                    tap_gradient=None if grads is None else grads[i]))
    return net.replace(layers=layers)


def _gradient_signal(net: Network, x: np.ndarray, y: np.ndarray, loss: str, surrogate: str,
                     tap_grad: str, batch_size: int) -> list[np.ndarray]:
    from .train.bptt import backward, compile_plan, forward
    from .train.losses import get_loss
    from .train.surrogates import get_surrogate

    if y.shape != (x.shape[1],):
        raise ShapeError(f"labels: {y.shape} labels for {x.shape[1]} samples")
    plan = compile_plan(net)
    thetas = [layer.logits if layer.logits is not None
              else np.where(layer.table > 0, 0.1, -0.1).astype(np.float32) for layer in net.layers]
    tables = [layer.table for layer in net.layers]
    loss_fn, sur = get_loss(loss), get_surrogate(surrogate)
    ro = net.readout
    acc = [np.zeros((layer.n, layer.k)) for layer in net.layers]
    B = x.shape[1]
    for b0 in range(0, B, batch_size):
        xb, yb = x[:, b0:b0 + batch_size].astype(np.uint8), y[b0:b0 + batch_size].astype(np.int64)
        fwd = forward(plan, tables, xb)
        _, g_out = loss_fn(fwd.spikes(ro.layer), yb, ro)
        g_spikes: list = [None] * len(net.layers)
        g_spikes[ro.layer] = g_out
        grads, _ = backward(plan, thetas, fwd, g_spikes, sur, tap_grad=tap_grad)
        for i, (th, g) in enumerate(zip(thetas, grads)):
            acc[i] += tap_gradient_from(th, g, tap_grad)
    batches = -(-B // batch_size)  # the loss is a mean over a batch already
    return [(a / batches).astype(np.float32) for a in acc]


def importance_summary(net: Network, lowest: int = 5) -> list[dict] | None:
    """Per layer, the stored importance in brief (what ``spikelut analyze`` shows), or ``None``
    when no layer of ``net`` carries one.

    Args:
        net: a network whose layers may carry ``tap_influence`` / ``tap_gradient``
            (``spikelut analyze --importance`` or training with importance).
        lowest: how many of the lowest-scoring taps to list per layer, a whole number ``>= 0``.

    Returns:
        One dict per layer: ``mean_influence``, ``mean_gradient`` (``None`` without),
        ``never_pivotal`` (taps of influence 0) and ``lowest``: up to ``lowest`` taps of the
        lowest :func:`importance_score` as ``{"node", "tap", "score"}``.

    Raises:
        ConfigError: ``lowest`` not a whole number ``>= 0``.

    Example:
        >>> from spikelut.wiring import random_network
        >>> importance_summary(random_network(0, n_in=2, sizes=[2, 2], k=2)) is None
        True
    """
    if isinstance(lowest, bool) or not isinstance(lowest, (int, np.integer)) or lowest < 0:
        # a negative count sliced argsort[:-1]: every tap but one was listed as "lowest"
        raise ConfigError(f"lowest must be a whole number >= 0, got {lowest!r}")
    if all(layer.tap_influence is None for layer in net.layers):
        return None
    out = []
    for i, layer in enumerate(net.layers):
        if layer.tap_influence is None:
            out.append({"layer": i, "name": layer.name, "mean_influence": None,
                        "mean_gradient": None, "never_pivotal": None, "lowest": []})
            continue
        score = importance_score(layer.tap_influence, layer.tap_gradient)
        order = np.argsort(score, axis=None, kind="stable")[:lowest]
        out.append({
            "layer": i, "name": layer.name,
            "mean_influence": float(layer.tap_influence.mean()),
            "mean_gradient": None if layer.tap_gradient is None else float(layer.tap_gradient.mean()),
            "never_pivotal": int((layer.tap_influence == 0).sum()),
            "lowest": [{"node": int(f // layer.k), "tap": int(f % layer.k),
                        "score": float(score.flat[f])} for f in order]})
    return out

