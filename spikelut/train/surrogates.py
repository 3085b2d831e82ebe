"""Surrogate derivatives of the Heaviside step, pluggable by name (DESIGN.md section 3).

The forward pass of training is always the hard step ``s = (u > 0)``; the backward pass replaces
its derivative by ``grad(u)``. Every surrogate here is the derivative of a smooth (or piecewise
smooth) cumulative function ``fn(u)`` that rises from 0 to 1, so ``grad`` integrates to 1 and
``fn`` is the "relaxed" output used by the soft model of the gradient checks. ``width`` sets how
far from ``u = 0`` the gradient reaches; every default gives a peak derivative of 1 at ``u = 0``.

===============  =====================================  ===============
name             grad(u)                                default width
===============  =====================================  ===============
sigmoid          ``sig(u/w) (1 - sig(u/w)) / w``        0.25
fast_sigmoid     ``0.5 / (w (1 + |u|/w)**2)``           0.5
arctan           ``1 / (pi w (1 + (u/w)**2))``          1/pi
triangular       ``max(0, 1 - |u|/w) / w``              1.0
rectangular      ``1 / (2w) where |u| < w, else 0``     0.5
===============  =====================================  ===============

``fast_sigmoid`` with its default is ``1 / (1 + |2u|)**2``, the one that worked best in the
prototype. ``fast-sigmoid`` and ``boxcar`` are accepted as aliases.

Each surrogate's numpy expression is its reference. The arithmetic ones (all but ``sigmoid``,
whose ``tanh`` numpy computes with its own SIMD code) also carry a compiled float32 loop that
:meth:`Surrogate.grad` runs on numpy float32 arrays: one pass instead of numpy's four or five
(0.05 against 0.4-0.8 ms on the MNIST-1D demo's 275,000 table entries, once per training batch),
with numpy's float32 operations in numpy's order, so the values are identical bit for bit
(``tests/test_surrogates_fast.py``). Other dtypes, CuPy arrays and registered surrogates take the
numpy expression.

Example:
    >>> import numpy as np
    >>> sg = get_surrogate("fast_sigmoid")
    >>> sg.grad(np.array([0.0, 0.5])).tolist()
    [1.0, 0.25]
    >>> get_surrogate("boxcar", width=1.0).grad(np.array([0.5, 1.5])).tolist()
    [0.5, 0.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from numba import njit

from ..xp import array_module
from ..errors import ConfigError

ArrayFn = Callable[[np.ndarray, float], np.ndarray]
#: a compiled fast path: ``(u, width, out)``, ``u`` and ``out`` 1-D float32
FastFn = Callable[[np.ndarray, float, np.ndarray], None]


@dataclass(frozen=True)
class Surrogate:
    """A surrogate of the step: ``fn(u)`` (relaxed output) and ``grad(u)`` (its derivative)."""

    name: str
    width: float
    _fn: ArrayFn
    _grad: ArrayFn
    _fast: FastFn | None = None

    def fn(self, u: np.ndarray) -> np.ndarray:
        """The relaxed step, rising from 0 to 1 (used by the soft model only)."""
        return self._fn(u if hasattr(u, "dtype") else np.asarray(u), self.width)

    def grad(self, u: np.ndarray) -> np.ndarray:
        """The surrogate derivative used by the backward pass; keeps the dtype of ``u``."""
        u = u if hasattr(u, "dtype") else np.asarray(u)  # numpy or cupy arrays pass through
        if self._fast is not None and type(u) is np.ndarray and u.dtype == np.float32:
            out = np.empty(u.shape, np.float32)
            self._fast(np.ascontiguousarray(u).reshape(-1), self.width, out.reshape(-1))
            return out
        return self._grad(u, self.width).astype(u.dtype if u.dtype.kind == "f" else np.float64,
                                                copy=False)


def _xp(u):
    """The array module of ``u``: the built-in surrogates run where the logits live (numpy, CuPy)."""
    return array_module(u)


def _sig(u, w):
    return 0.5 * (1.0 + _xp(u).tanh(0.5 * u / w))  # numerically safe logistic


def _sig_grad(u, w):
    s = _sig(u, w)
    return s * (1.0 - s) / w


def _fast(u, w):
    x = u / w
    return 0.5 + 0.5 * x / (1.0 + _xp(u).abs(x))


def _fast_grad(u, w):
    return 0.5 / (w * (1.0 + _xp(u).abs(u) / w) ** 2)


def _atan(u, w):
    return 0.5 + _xp(u).arctan(u / w) / np.pi


def _atan_grad(u, w):
    return 1.0 / (np.pi * w * (1.0 + (u / w) ** 2))


def _tri(u, w):
    x = _xp(u).clip(u / w, -1.0, 1.0)
    return _xp(u).where(x < 0, 0.5 * (1.0 + x) ** 2, 1.0 - 0.5 * (1.0 - x) ** 2)


def _tri_grad(u, w):
    return _xp(u).maximum(0.0, 1.0 - _xp(u).abs(u) / w) / w


def _rect(u, w):
    return _xp(u).clip(0.5 + u / (2.0 * w), 0.0, 1.0)


def _rect_grad(u, w):
    return _xp(u).where(_xp(u).abs(u) < w, 1.0 / (2.0 * w), 0.0)


# The compiled fast paths: numpy's float32 operations in numpy's order. numpy 2 converts a
# Python float operand to float32 first (NEP 50), and ``x ** 2`` is ``x * x``; a constant that
# numpy computes in Python (double) is rounded to float32 once, as numpy does. No fast-math;
# numpy's error model (x / 0 is inf, not an exception), so that the loops vectorise.
@njit(cache=True, nogil=True, error_model="numpy")
def _fast_grad32(u, w, out):  # pragma: no cover - compiled
    w = np.float32(w)
    for i in range(u.shape[0]):
        y = np.float32(1.0) + abs(u[i]) / w
        out[i] = np.float32(0.5) / (w * (y * y))


@njit(cache=True, nogil=True, error_model="numpy")
def _atan_grad32(u, w, out):  # pragma: no cover - compiled
    c = np.float32(np.pi * w)
    w = np.float32(w)
    for i in range(u.shape[0]):
        x = u[i] / w
        out[i] = np.float32(1.0) / (c * (np.float32(1.0) + x * x))


@njit(cache=True, nogil=True, error_model="numpy")
def _tri_grad32(u, w, out):  # pragma: no cover - compiled
    w = np.float32(w)
    for i in range(u.shape[0]):
        v = np.float32(1.0) - abs(u[i]) / w
        if not v > np.float32(0.0) and v == v:  # numpy.maximum(0, v): v where NaN
            v = np.float32(0.0)
        out[i] = v / w


@njit(cache=True, nogil=True, error_model="numpy")
def _rect_grad32(u, w, out):  # pragma: no cover - compiled
    c = np.float32(1.0 / (2.0 * w))
    w = np.float32(w)
    for i in range(u.shape[0]):
        out[i] = c if abs(u[i]) < w else np.float32(0.0)


#: name -> compiled float32 fast path of its ``grad`` (register_surrogate drops a replaced one)
FAST: dict[str, FastFn] = {"fast_sigmoid": _fast_grad32, "arctan": _atan_grad32,
                           "triangular": _tri_grad32, "rectangular": _rect_grad32}

#: name -> (fn, grad, default width)
SURROGATES: dict[str, tuple[ArrayFn, ArrayFn, float]] = {
    "sigmoid": (_sig, _sig_grad, 0.25),
    "fast_sigmoid": (_fast, _fast_grad, 0.5),
    "arctan": (_atan, _atan_grad, 1.0 / np.pi),
    "triangular": (_tri, _tri_grad, 1.0),
    "rectangular": (_rect, _rect_grad, 0.5),
}
ALIASES = {"fast-sigmoid": "fast_sigmoid", "boxcar": "rectangular", "rect": "rectangular",
           "triangle": "triangular", "atan": "arctan"}


def register_surrogate(name: str, fn: ArrayFn, grad: ArrayFn, default_width: float) -> None:
    """Add a surrogate: ``fn(u, width)`` rising 0 → 1 and ``grad(u, width)`` its derivative.

    A surrogate registered under an existing name replaces it (and its compiled fast path);
    ``[train] surrogate = "<name>"`` then selects it. The registry is the process's: register
    before the trainer is built.

    Args:
        name: the name (not one of the aliases ``fast-sigmoid``, ``boxcar``, which resolve to
            the built-in surrogates first).
        fn: ``fn(u, width) -> array``, the relaxed step, same shape as ``u`` (float arrays of
            numpy or CuPy).
        grad: ``grad(u, width) -> array``, its derivative (what the backward pass uses).
        default_width: the width when ``[train] width`` is not given, a number ``> 0``.

    Returns:
        ``None``.

    Raises:
        ConfigError: a name that is not a non-empty string, ``fn`` or ``grad`` not callable,
            ``default_width`` not a finite number ``> 0``.

    Example:
        >>> register_surrogate("hard_tanh_demo", lambda u, w: np.clip(u / (2 * w) + 0.5, 0, 1),
        ...                    lambda u, w: (np.abs(u) < w) / (2 * w), default_width=1.0)
        >>> get_surrogate("hard_tanh_demo", width=0.5).grad(np.array([0.0, 0.4, 0.6])).tolist()
        [1.0, 1.0, 0.0]
        >>> del SURROGATES["hard_tanh_demo"]      # the registry is global: the example cleans up
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"a surrogate's name must be a non-empty string, got {name!r}")
    if not (callable(fn) and callable(grad)):
        raise ConfigError(f"surrogate {name!r}: fn and grad must be functions (u, width) -> array")
    w = default_width
    if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)) \
            or not np.isfinite(w) or w <= 0:  # 'a' was a TypeError, NaN passed
        raise ConfigError(f"surrogate {name!r}: default width must be a number > 0, got "
                          f"{default_width!r}")
    SURROGATES[name] = (fn, grad, float(default_width))
    FAST.pop(name, None)  # a fast path computes the replaced function, not this one


def surrogate_names() -> list[str]:
    """Registered surrogate names (aliases not included).

    Example:
        >>> surrogate_names()
        ['arctan', 'fast_sigmoid', 'rectangular', 'sigmoid', 'triangular']
    """
    return sorted(SURROGATES)


def get_surrogate(name: str, width: float | None = None) -> Surrogate:
    """The surrogate ``name`` with ``width`` (its default when ``None``).

    Args:
        name: a name of :func:`surrogate_names` or an alias (``fast-sigmoid``, ``boxcar``).
        width: how far from ``u = 0`` the gradient reaches (in units of ``u``, the table value
            at the address), a number ``> 0``; ``None``: the surrogate's default (peak
            derivative 1 at ``u = 0``).

    Returns:
        A :class:`Surrogate`: ``grad(u)`` keeps ``u``'s float dtype (float64 for integer
        input), on ``u``'s array module.

    Raises:
        ConfigError: an unknown name (the message lists the names), or a width that is not a
            finite number ``> 0``.

    Example:
        >>> sg = get_surrogate("triangular", width=2.0)
        >>> sg.name, sg.grad(np.array([0.0, 1.0, 3.0], np.float32)).tolist()
        ('triangular', [0.5, 0.25, 0.0])
    """
    key = ALIASES.get(name, name) if isinstance(name, str) else None  # a list is unhashable
    if key not in SURROGATES:
        raise ConfigError(f"unknown surrogate {name!r}; choose one of {', '.join(surrogate_names())}")
    fn, grad, default = SURROGATES[key]
    w = default if width is None else width
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not np.isfinite(w) or w <= 0:
        raise ConfigError(f"surrogate width must be a number > 0, got {width!r}")
    return Surrogate(key, float(w), fn, grad, FAST.get(key))
