"""Optimizers (Adam, SGD with momentum, Lion), learning-rate schedules and logit clipping.

``lion`` (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", arXiv 2302.06675) is
sign-based: every entry moves by exactly ``lr`` per step, in the direction of
``sign(beta1 m + (1 - beta1) g)``, then ``m = beta2 m + (1 - beta2) g``. It suits tables: what
matters is the sign of each entry (the deployed bit) and entries that were rarely addressed move
as fast as busy ones, within the clip bound. It uses ``[train] betas`` (the paper's defaults are
``(0.9, 0.99)``) and wants a learning rate 3-10 times smaller than Adam's.

Optimizers update a list of float32 arrays in place, on the array module the arrays live on
(numpy, CuPy, or any module with numpy's API passed as ``xp``): moments are kept beside the
parameters, so an update moves nothing between host and device. Their whole state is arrays plus
a step counter, exposed by :meth:`state_arrays` / :meth:`load_state_arrays` so that checkpoints
store it in HDF5 (never pickle; the trainer copies the arrays to the host) and a resumed run
continues bit for bit, on the same or another array module.

On numpy an update is one compiled pass per array (numba, one thread): the same float32
operations in the same order as the numpy expressions, so the parameters and moments are
bit-identical to the numpy code's (NaN in the same places, its sign the compiler's choice where
two NaNs meet). CuPy and other modules run the numpy expressions, and so do numpy arrays that
:func:`fused_applies` rejects, or all with :data:`FUSED` = ``False``. docs/training-speed.md
measures it.

Schedules (docs/epochs.md): ``constant``, ``cosine`` (down to ``min_lr``), ``linear`` (down to
``min_lr``), ``step`` (``gamma`` every ``step_size`` epochs) and ``onecycle`` (PyTorch's
``OneCycleLR`` with cosine annealing: up from ``lr / div_factor`` to ``lr`` over the first
``warmup`` part of the steps, then down to ``lr / (div_factor * final_div_factor)``). ``warmup``
on the other schedules ramps linearly from ``lr / div_factor`` to ``lr`` over that part of the
steps; the decay then spans the remaining steps. A batch-size schedule (:func:`epoch_steps`) gives
each epoch its own batch size, so the number of steps per epoch varies; the learning rate follows
the global step.

Example:
    >>> import numpy as np
    >>> p = [np.zeros(3, np.float32)]
    >>> opt = make_optimizer("adam", p)
    >>> opt.step(p, [np.array([1.0, -1.0, 0.0], np.float32)], lr=0.1)
    >>> clip_(p, 1.0); [round(float(v), 3) for v in p[0]]
    [-0.1, 0.1, 0.0]
    >>> lr_at("cosine", 0.01, step=50, total_steps=100)
    0.005
    >>> round(lr_at("onecycle", 0.01, step=0, total_steps=100), 6)     # lr / div_factor
    0.0004
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from ..xp import array_module
from ..errors import ConfigError

OPTIMIZERS = ("adam", "sgd", "lion")
SCHEDULES = ("constant", "cosine", "linear", "step", "onecycle")
ONECYCLE_WARMUP = 0.3
"""``warmup`` of ``onecycle`` when it is not set (PyTorch's ``pct_start``)."""
FUSED = True
"""Whether numpy arrays take the compiled single-pass update (:func:`fused_applies`); ``False``
runs the numpy expressions everywhere (the same bits, slower)."""


class Adam:
    """Adam (Kingma & Ba) with bias correction; ``m``, ``v`` kept in float32."""

    name = "adam"

    def __init__(self, params: Sequence[Any], betas: Sequence[float] = (0.9, 0.999),
                 eps: float = 1e-8, xp: Any = None) -> None:
        self.xp = _module(params, xp)
        self.b1, self.b2 = float(betas[0]), float(betas[1])
        self.eps = float(eps)
        self.t = 0
        self.m = [self.xp.zeros_like(p, dtype=np.float32) for p in params]
        self.v = [self.xp.zeros_like(p, dtype=np.float32) for p in params]

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray], lr: float) -> None:
        """One update of every parameter array, in place."""
        self.t += 1
        c1 = 1.0 - self.b1 ** self.t
        c2 = 1.0 - self.b2 ** self.t
        a = np.float32(lr * math.sqrt(c2) / c1)
        for p, g, m, v in zip(params, grads, self.m, self.v):
            g = g.astype(np.float32, copy=False)
            if self.xp is np and FUSED and fused_applies(p, g, m, v):
                _adam_pass(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), a,
                           np.float32(self.b1), np.float32(1.0 - self.b1), np.float32(self.b2),
                           np.float32(1.0 - self.b2), np.float32(self.eps))
                continue
            m *= np.float32(self.b1)
            m += np.float32(1.0 - self.b1) * g
            v *= np.float32(self.b2)
            v += np.float32(1.0 - self.b2) * g * g
            p -= a * m / (self.xp.sqrt(v) + np.float32(self.eps))

    def state_arrays(self) -> tuple[dict[str, list[Any]], dict]:
        """``({"m": [...], "v": [...]}, {"step": t})`` (arrays on the optimizer's module)."""
        return {"m": self.m, "v": self.v}, {"step": self.t}

    def load_state_arrays(self, arrays: dict[str, list[Any]], scalars: dict) -> None:
        """Restore from host (or device) arrays; they are copied onto the optimizer's module."""
        self.m = _load(self.xp, arrays["m"])
        self.v = _load(self.xp, arrays["v"])
        self.t = int(scalars["step"])


class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum."""

    name = "sgd"

    def __init__(self, params: Sequence[Any], momentum: float = 0.9, xp: Any = None) -> None:
        self.xp = _module(params, xp)
        self.momentum = float(momentum)
        self.t = 0
        self.buf = [self.xp.zeros_like(p, dtype=np.float32) for p in params]

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray], lr: float) -> None:
        self.t += 1
        for p, g, b in zip(params, grads, self.buf):
            g = g.astype(np.float32, copy=False)
            if self.xp is np and FUSED and fused_applies(p, g, b):
                _sgd_pass(p.reshape(-1), g.reshape(-1), b.reshape(-1), np.float32(self.momentum),
                          np.float32(lr))
                continue
            b *= np.float32(self.momentum)
            b += g
            p -= np.float32(lr) * b

    def state_arrays(self) -> tuple[dict[str, list[np.ndarray]], dict]:
        return {"buf": self.buf}, {"step": self.t}

    def load_state_arrays(self, arrays: dict[str, list[Any]], scalars: dict) -> None:
        self.buf = _load(self.xp, arrays["buf"])
        self.t = int(scalars["step"])


class Lion:
    """Lion (sign of an interpolated momentum; one moment ``m`` in float32).

    Example:
        >>> p = [np.zeros(3, np.float32)]
        >>> opt = Lion(p)
        >>> opt.step(p, [np.array([2.0, -0.5, 0.0], np.float32)], lr=0.1)
        >>> [round(float(v), 3) for v in p[0]]
        [-0.1, 0.1, 0.0]
    """

    name = "lion"

    def __init__(self, params: Sequence[Any], betas: Sequence[float] = (0.9, 0.99),
                 xp: Any = None) -> None:
        self.xp = _module(params, xp)
        self.b1, self.b2 = float(betas[0]), float(betas[1])
        self.t = 0
        self.m = [self.xp.zeros_like(p, dtype=np.float32) for p in params]

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray], lr: float) -> None:
        self.t += 1
        for p, g, m in zip(params, grads, self.m):
            g = g.astype(np.float32, copy=False)
            if self.xp is np and FUSED and fused_applies(p, g, m):
                _lion_pass(p.reshape(-1), g.reshape(-1), m.reshape(-1), np.float32(lr),
                           np.float32(self.b1), np.float32(1.0 - self.b1), np.float32(self.b2),
                           np.float32(1.0 - self.b2))
                continue
            p -= np.float32(lr) * self.xp.sign(np.float32(self.b1) * m + np.float32(1.0 - self.b1) * g)
            m *= np.float32(self.b2)
            m += np.float32(1.0 - self.b2) * g

    def state_arrays(self) -> tuple[dict[str, list[Any]], dict]:
        return {"m": self.m}, {"step": self.t}

    def load_state_arrays(self, arrays: dict[str, list[Any]], scalars: dict) -> None:
        self.m = _load(self.xp, arrays["m"])
        self.t = int(scalars["step"])


def fused_applies(p: Any, g: Any, *moments: Any) -> bool:
    """Whether the compiled pass updates parameter ``p`` with float32 gradient ``g`` and its
    ``moments``: all plain C-contiguous numpy float32 arrays of one shape, ``p`` and the moments
    writeable, no two of them sharing memory. Anything else (other dtypes or layouts,
    broadcasting, arrays that overlap) keeps the numpy expressions.

    Example:
        >>> p, g, m = (np.zeros((4, 8), np.float32) for _ in range(3))
        >>> fused_applies(p, g, m), fused_applies(p[:, ::2], g[:, ::2], m[:, ::2])
        (True, False)
    """
    arrays = (g, p, *moments)
    for a in arrays:
        if (type(a) is not np.ndarray or a.dtype != np.float32 or a.shape != p.shape
                or not a.flags.c_contiguous):
            return False
    for i in range(1, len(arrays)):
        if not arrays[i].flags.writeable:
            return False
        for j in range(i):
            if np.may_share_memory(arrays[i], arrays[j]):
                return False
    return True


# The compiled passes repeat the numpy code's float32 operations one element at a time, in the
# same order and with the same roundings (no fast-math, so no reassociation and no fused
# multiply-add): every scalar is a float32 like the numpy code's np.float32 scalars, and
# ``c * g * g`` is ``(c * g) * g`` as numpy evaluates it. ``error_model="numpy"``: a division by
# zero gives inf or NaN as in numpy (no ZeroDivisionError check, which also kept the loop scalar).
@intrinsic
def _sqrt32(typingctx, x):  # pragma: no cover - compiled
    """IEEE float32 square root (``llvm.sqrt.f32``: correctly rounded like numpy's; numba's
    ``np.sqrt`` calls libm's ``sqrtf``, the same value, but the call keeps the loop scalar)."""
    if x != types.float32:
        return None

    def codegen(context, builder, sig, args):
        return builder.call(builder.module.declare_intrinsic("llvm.sqrt", [ir.FloatType()]), args)

    return types.float32(types.float32), codegen


@njit(cache=True, nogil=True, error_model="numpy")
def _adam_pass(p, g, m, v, a, b1, c1, b2, c2, eps):  # pragma: no cover - compiled
    for i in range(p.size):
        gi = g[i]
        mi = m[i] * b1
        mi = mi + c1 * gi
        vi = v[i] * b2
        vi = vi + (c2 * gi) * gi
        m[i] = mi
        v[i] = vi
        p[i] = p[i] - (a * mi) / (_sqrt32(vi) + eps)


@njit(cache=True, nogil=True, error_model="numpy")
def _sgd_pass(p, g, b, momentum, lr):  # pragma: no cover - compiled
    for i in range(p.size):
        bi = b[i] * momentum
        bi = bi + g[i]
        b[i] = bi
        p[i] = p[i] - lr * bi


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _sign(x):  # pragma: no cover - compiled
    """``np.sign`` of a float32: +0 for both zeros, NaN kept as it is."""
    if x > 0:
        return np.float32(1.0)
    if x < 0:
        return np.float32(-1.0)
    if x == 0:
        return np.float32(0.0)
    return x


@njit(cache=True, nogil=True, error_model="numpy")
def _lion_pass(p, g, m, lr, b1, c1, b2, c2):  # pragma: no cover - compiled
    for i in range(p.size):
        gi = g[i]
        mi = m[i]
        p[i] = p[i] - lr * _sign(b1 * mi + c1 * gi)
        mi = mi * b2
        m[i] = mi + c2 * gi


def _module(params: Sequence[Any], xp: Any) -> Any:
    """``xp``, or the array module of the first parameter (numpy when there is none)."""
    if xp is not None:
        return xp
    return array_module(params[0]) if len(params) else np


def _load(xp: Any, arrays: Sequence[Any]) -> list[Any]:
    return [xp.array(a, dtype=np.float32, copy=True) for a in arrays]


def make_optimizer(name: str, params: Sequence[Any], momentum: float = 0.9,
                   betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8, xp: Any = None):
    """``Adam``, ``SGD`` or ``Lion`` for ``params``, on array module ``xp`` (default: the params'
    own); ``betas`` are Adam's and Lion's."""
    if name == "lion":
        return Lion(params, betas, xp)
    if name == "adam":
        return Adam(params, betas, eps, xp)
    if name == "sgd":
        return SGD(params, momentum, xp)
    raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def lr_at(schedule: str, base_lr: float, step: int, total_steps: int, epoch: int = 0,
          min_lr: float = 0.0, step_size: int = 10, gamma: float = 0.1,
          warmup: float | None = None, div_factor: float = 25.0,
          final_div_factor: float = 1e4) -> float:
    """Learning rate at global ``step`` (0-based) of ``total_steps``.

    Args:
        schedule: ``constant``; ``cosine``: from ``base_lr`` down to ``min_lr`` over the steps;
            ``linear``: the same along a straight line; ``step``: ``base_lr * gamma ** (epoch //
            step_size)``; ``onecycle``: PyTorch's ``OneCycleLR(max_lr=base_lr, total_steps,
            pct_start=warmup, div_factor, final_div_factor)`` (cosine annealing, two phases),
            value for value.
        base_lr: the peak learning rate (``[train] lr``).
        step: 0-based step counted over the whole run; ``total_steps``: the run's steps.
        epoch: 0-based epoch of ``step`` (the ``step`` schedule).
        warmup: part of ``total_steps`` (in [0, 1)) spent ramping up; ``None`` = 0, or
            :data:`ONECYCLE_WARMUP` for ``onecycle``. For every schedule but ``onecycle`` the
            ramp is linear from ``base_lr / div_factor`` to ``base_lr`` and the decay spans
            the remaining steps.
        div_factor: the ramp starts at ``base_lr / div_factor``.
        final_div_factor: ``onecycle`` ends at ``base_lr / (div_factor * final_div_factor)``.

    Returns:
        The learning rate (a Python float).

    Raises:
        ConfigError: an unknown schedule.

    Example:
        >>> lr_at("linear", 0.1, step=3, total_steps=4)
        0.025
        >>> round(lr_at("constant", 0.1, step=1, total_steps=10, warmup=0.2, div_factor=10), 6)
        0.055
    """
    if schedule not in SCHEDULES:
        raise ConfigError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if schedule == "onecycle":
        return _onecycle(base_lr, step, total_steps,
                         ONECYCLE_WARMUP if warmup is None else warmup, div_factor,
                         final_div_factor)
    frac = min(step / max(total_steps, 1), 1.0)  # where the decay is, in [0, 1]
    if warmup:
        ramp = warmup * total_steps
        if step < ramp:
            start = base_lr / div_factor
            rate = float(start + (base_lr - start) * step / ramp)
            if schedule == "step":
                rate *= gamma ** (epoch // step_size)
            return rate
        frac = min((step - ramp) / max(total_steps - ramp, 1), 1.0)
    if schedule == "constant":
        return float(base_lr)
    if schedule == "cosine":
        return float(min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * frac)))
    if schedule == "linear":
        return float(min_lr + (base_lr - min_lr) * (1.0 - frac))
    return float(base_lr * gamma ** (epoch // step_size))


def _onecycle(max_lr: float, step: int, total: int, pct: float, div: float,
              final_div: float) -> float:
    """``torch.optim.lr_scheduler.OneCycleLR``'s rate at ``step`` (its ``_anneal_func`` =
    cosine, ``three_phase=False``), in the same float operations."""
    initial = max_lr / div
    final = initial / final_div
    step = min(step, total - 1)  # a run extended past its schedule stays at the final rate
    phases = ((float(pct * total) - 1, initial, max_lr), (total - 1, max_lr, final))
    start_step = 0.0
    for i, (end_step, lo, hi) in enumerate(phases):
        if step <= end_step or i == len(phases) - 1:
            span = end_step - start_step
            frac = (step - start_step) / span if span > 0 else 1.0
            return float(hi + (lo - hi) / 2.0 * (math.cos(math.pi * frac) + 1))
        start_step = end_step
    raise AssertionError("unreachable")  # the last phase always returns


def batch_size_at(epoch: int, batch_size: int,
                  batch_schedule: Sequence[Sequence[int]] = ()) -> int:
    """Batch size of 0-based ``epoch``: ``batch_size`` until the first ``[epoch, size]`` pair of
    ``batch_schedule`` (1-based epochs, ascending) is reached, then that pair's size.

    Example:
        >>> [batch_size_at(e, 25, [[3, 50], [5, 100]]) for e in range(6)]
        [25, 25, 50, 50, 100, 100]
    """
    size = batch_size
    for first, b in batch_schedule:
        if epoch + 1 >= first:
            size = int(b)
    return size


def epoch_steps(n_samples: int, epochs: int, batch_size: int,
                batch_schedule: Sequence[Sequence[int]] = ()) -> list[tuple[int, int, int]]:
    """Per 0-based epoch: ``(batch size, steps, global step of its first batch)``; the run has
    ``sum(steps)`` steps (the last batch of an epoch may be smaller).

    Example:
        >>> epoch_steps(100, 3, 25, [[2, 50]])
        [(25, 4, 0), (50, 2, 4), (50, 2, 6)]
    """
    out, first = [], 0
    for e in range(epochs):
        b = batch_size_at(e, batch_size, batch_schedule)
        steps = -(-n_samples // b)
        out.append((b, steps, first))
        first += steps
    return out


def parse_batch_schedule(text: str) -> list[list[int]]:
    """``"11:50,21:100"`` (the CLI's spelling) -> ``[[11, 50], [21, 100]]``; ``"none"`` -> ``[]``.
    The pairs are checked by :class:`~spikelut.train.TrainConfig`.

    Raises:
        ConfigError: an item that is not ``EPOCH:SIZE`` with two integers.

    Example:
        >>> parse_batch_schedule("11:50, 21:100")
        [[11, 50], [21, 100]]
    """
    if text.strip().lower() == "none":
        return []
    pairs = []
    for item in text.split(","):
        first, sep, size = item.strip().partition(":")
        try:
            pairs.append([int(first), int(size)])
        except ValueError:
            sep = ""
        if not sep:
            raise ConfigError(f"--batch-schedule: {item.strip()!r} is not EPOCH:SIZE (two integers, "
                              f"e.g. 11:50,21:100)")
    return pairs


def clip_(params: Sequence[Any], bound: float) -> None:
    """Clip every logit to ``[-bound, bound]`` in place (``bound <= 0``: no clipping)."""
    if bound > 0:
        for p in params:
            array_module(p).clip(p, -bound, bound, out=p)
