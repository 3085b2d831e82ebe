"""Relaxations of a LUT node for the backward pass: how a node's table is parameterised.

The training forward pass is always the exact circuit (DESIGN.md section 3), and it evaluates a
node's table only at binary addresses. So every relaxation here is written as a
*parameterisation* of the per-address table values

```
U = f(P)            P [n, width] float32: one row of parameters per node
table = U > 0       the deployed table (written to the model file as logits = U)
```

and the one backward pass of every backend (numpy, numba, cuda) computes ``g_U`` per address
exactly as for the multilinear extension (``u = U[addr]``, tap gradient ``g_u * (U[addr | 1<<p] -
U[addr & ~(1<<p)])``); the relaxation then returns ``g_P = VJP of f`` (:meth:`Relaxation.vjp`).
The gradient is therefore the exact gradient of the smooth model
:func:`spikelut.train.bptt.relaxed_forward` run on ``U = f(P)`` (the tests check it against finite
differences of that model in ``P``).

============  ======================================================  ========================
name          U = f(P)                                                width per node
============  ======================================================  ========================
multilinear   ``U = theta`` (today's model, the default)              ``2**k``
bipolar       ``U = tanh(theta)``: ±1 entries, tap code ±1            ``2**k``
walsh         ``U = c @ H / sqrt(2**k)``, H the ±1 parity matrix      ``2**k``
dlut          BinaryBrain's DifferentiableLut (below), γ, β learned   ``2**(k+1) + 2``
dlut_fixed    the same with γ = 0.3, β = 0.5 fixed (his constants)    ``2**(k+1) + 2``
mlp           BinaryBrain's MicroMlp: affine-ReLU-affine + BN         ``(k+2) h + 3 + 2**k``
============  ======================================================  ========================

``dlut`` follows ``include/bb/DifferentiableLutN.h`` of BinaryBrain (R. Fuchikami,
github.com/ryuz/BinaryBrain, version 4.3): in binary mode every input bit is "unbinarized" to
``0.5 ± 0.25``; the stochastic LUT's output is ``y = sum_b W[b] prod_i (x_i or 1 - x_i)`` with
``W`` clipped to ``[0, 1]`` (initialised ``N(0.5, 0.01)``); a per-node batch normalisation
``γ (y - mean) / std + β`` (γ = 0.3, β = 0.5, variance floor 1e-5) and a binarization at 0.5
follow, whose backward is the hard-tanh window ``0 < γ x̂ + β < 1``. At the binary addresses of
the exact forward this is a fixed linear smoothing ``y = W S`` (``S[a, b] = 0.75**same *
0.25**differ`` over the k bits), so ``U = γ (W S - mean) / std + β - 0.5``. Two things cannot be
copied into an exact circuit and are replaced by documented rules:

* BinaryBrain normalises with the *current batch's* mean and variance during training. An exact
  forward cannot (in a recurrent network the batch's statistics depend on the spikes being
  computed), so the mean and variance are taken over a running address histogram of the node
  (``hist``, an exponential average with momentum 0.9 — BinaryBrain's C++ default — of each
  batch's address frequencies, kept in the last ``2**k`` columns of ``P`` and never changed by
  the optimizer), recomputed with the current ``W`` at every step; the backward is the exact
  derivative of that normalisation, including the mean and variance terms of a batch norm's
  backward.
* γ and β are learned per node (initialised at BinaryBrain's 0.3 and 0.5); ``dlut_fixed`` keeps
  them at those hand-picked values, so the comparison answers whether learning them helps.

The backward rule comes with the model: ``dlut`` uses BinaryBrain's window (gradient 2 where
``|U| < 0.5``: the hard-tanh window, times 2 because the unbinarized inputs are 0.5 apart, which
makes the tap gradient equal BinaryBrain's ``dy/dx``) and tap differences of ``U`` itself
(``tap_grad = "identity"``); the ``[train]`` surrogate, width and tap_grad are not used.

``mlp`` follows ``include/bb/MicroMlp.h`` (affine N→16, ReLU, affine 16→1, BatchNormalization
with learned γ = 1, β = 0 initially, binarize at 0, hard-tanh window ``|U| < 1``), with the same
running-histogram normalisation as ``dlut`` and He initialisation; its tap gradient is the
difference of ``U`` across the bit, not the MLP's own derivative at the corner.

``walsh`` is the Walsh–Hadamard parameterisation of WARP-LUTs (Gerlach et al., arXiv
2510.15655): ``U[a] = sum_S c_S chi_S(a) / sqrt(2**k)``, orthonormal, so the initial tables are
those of ``multilinear`` (``c = theta H / sqrt(2**k)``) and the coefficients are clipped to
``[-clip, clip]``. ``bipolar`` stores entries as ``tanh(theta)`` (the ±1 code: the sign is the
bit); with 0/1 signals a ±1 code of the taps and spikes only rescales gradients by constants, so
the substance is the bounded entry and its saturating gradient (``tap_grad`` becomes
``"identity"``: ``U`` is already bounded; no clipping).

Example:
    >>> import numpy as np
    >>> r = get_relaxation("walsh")
    >>> theta = np.array([[0.1, -0.2, 0.3, -0.4]], np.float32)
    >>> p = r.init(theta, None, "normal", np.random.default_rng(0))
    >>> np.allclose(r.values(p, 2), theta)
    True
    >>> r.vjp(p, 2, np.ones((1, 4), np.float32)).round(3).tolist()
    [[2.0, 0.0, 0.0, 0.0]]
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ConfigError
from ..xp import array_module
from .optim import clip_
from .surrogates import Surrogate

#: BinaryBrain's DifferentiableLut constants (include/bb/DifferentiableLutN.h)
BB_GAMMA, BB_BETA, BB_MOMENTUM, BB_UNBINARIZE, BB_VAR_FLOOR = 0.3, 0.5, 0.9, 0.25, 1e-5
#: BinaryBrain's MicroMlp hidden width (include/bb/MicroMlp.h, template M = 16)
MLP_HIDDEN = 16

_CONST: dict = {}


def _const(xp: Any, kind: str, k: int) -> Any:
    """Cached constant matrices on ``xp``: the bits ``X [2**k, k]``, the orthonormal Walsh matrix
    and BinaryBrain's unbinarize smoothing ``S [2**k, 2**k]``."""
    key = (id(xp), kind, k)
    if key not in _CONST:
        a = np.arange(1 << k)
        if kind == "bits":
            m = ((a[:, None] >> np.arange(k)[None, :]) & 1).astype(np.float64)
        else:  # a product over the k bits of one 2x2 factor: a Kronecker power (k up to 12)
            # walsh: H[S, a] = (-1)**popcount(S & a) / sqrt(2**k), symmetric, H H = I
            # smooth: S[a, b] = prod over bits of 0.5 + 0.25 if they agree, else 0.5 - 0.25
            f = (np.array([[1.0, 1.0], [1.0, -1.0]]) / math.sqrt(2.0) if kind == "walsh" else
                 np.array([[0.5 + BB_UNBINARIZE, 0.5 - BB_UNBINARIZE],
                           [0.5 - BB_UNBINARIZE, 0.5 + BB_UNBINARIZE]]))
            m = np.ones((1, 1))
            for _ in range(k):
                m = np.kron(m, f)
        _CONST[key] = xp.asarray(m.astype(np.float32))
    return _CONST[key]


def _hardtanh_window(half: float, height: float) -> Surrogate:
    """BinaryBrain's binarize backward as a surrogate: ``height`` where ``|u| < half``, else 0."""
    def grad(u, w):
        return array_module(u).where(abs(u) < w, height, 0.0)

    def fn(u, w):
        return array_module(u).clip(0.5 + height * u / 2.0, 0.0, 1.0)

    return Surrogate(f"hardtanh{half:g}x{height:g}", half, fn, grad)


class Relaxation:
    """The multilinear extension (``U = theta``): today's model and the base of the others.

    Subclasses override :meth:`width`, :meth:`init`, :meth:`values`, :meth:`vjp` and
    :meth:`clip`; all run on the array module of ``P`` (numpy or CuPy).
    """

    name = "multilinear"
    #: whether :meth:`observe` needs each training batch's address histogram
    needs_histogram = False
    #: ``[train]`` keys this model's backward rule does not read (it brings its own; a run that
    #: sets them says so, :meth:`spikelut.train.TrainConfig.unused`)
    ignores: tuple[str, ...] = ()

    def width(self, k: int) -> int:
        """Parameters per node for a ``k``-input table."""
        return 1 << k

    def init_refusal(self, init: str) -> str | None:
        """Why this model cannot start from ``[train] init = init`` (``None``: it can); checked
        by :class:`~spikelut.train.TrainConfig` before anything is loaded."""
        return None

    def init(self, theta: np.ndarray, logits: np.ndarray | None, init: str,
             rng: np.random.Generator) -> np.ndarray:
        """Parameters ``P [n, width]`` float32 from the trainer's initial table values ``theta``
        (drawn by ``[train] init``: normal, table or logits); ``rng`` for relaxations that draw
        their own."""
        return theta

    def values(self, p: Any, k: int) -> Any:
        """Per-address table values ``U [n, 2**k]`` (the deployed table is ``U > 0``)."""
        return p

    def vjp(self, p: Any, k: int, g_u: Any) -> Any:
        """``g_P`` from ``g_U [n, 2**k]`` (the backward pass's per-address gradient)."""
        return g_u

    def clip(self, p: Any, k: int, bound: float) -> None:
        """Keep ``P`` in its allowed range in place (``[train] clip``)."""
        clip_([p], bound)

    def surrogate(self, sg: Surrogate) -> Surrogate:
        """The step surrogate this relaxation trains with (default: the ``[train]`` one)."""
        return sg

    def tap_grad(self, tap_grad: str) -> str:
        """The tap-difference transform (``"tanh"`` or ``"identity"``, default: the config's)."""
        return tap_grad

    def observe(self, p: Any, k: int, hist: Any) -> None:
        """Record one training batch's address frequencies ``hist [n, 2**k]`` (rows sum to 1)."""


class Bipolar(Relaxation):
    """``U = tanh(theta)``: entries in the ±1 code (sign = bit)."""

    name = "bipolar"
    ignores = ("tap_grad",)

    def init(self, theta, logits, init, rng):
        return np.arctanh(np.clip(theta, -0.999, 0.999)).astype(np.float32)

    def values(self, p, k):
        return array_module(p).tanh(p)

    def vjp(self, p, k, g_u):
        u = array_module(p).tanh(p)
        return (g_u * (1.0 - u * u)).astype(p.dtype, copy=False)

    def clip(self, p, k, bound):
        pass  # tanh bounds the entries; a large theta only saturates its own gradient

    def tap_grad(self, tap_grad):
        return "identity"  # U is already the bounded tanh of today's tap transform


class Walsh(Relaxation):
    """``U = c @ H / sqrt(2**k)`` (WARP-LUTs' Walsh–Hadamard coefficients, orthonormal)."""

    name = "walsh"

    def init(self, theta, logits, init, rng):
        k = int(round(math.log2(theta.shape[1])))
        return (theta @ _const(np, "walsh", k)).astype(np.float32)  # H symmetric, H H = I

    def values(self, p, k):
        return p @ _const(array_module(p), "walsh", k)

    def vjp(self, p, k, g_u):
        return (g_u @ _const(array_module(g_u), "walsh", k)).astype(p.dtype, copy=False)


def _normalise(y: Any, hist: Any, gamma: Any, beta: Any, offset: float) -> tuple[Any, Any, Any]:
    """``U = gamma (y - mean) / std + beta - offset`` with the mean and variance of ``y`` under
    the address frequencies ``hist`` (rows sum to 1), variance floored at BinaryBrain's 1e-5.
    Returns ``(U, xhat, (rstd, floored))``."""
    xp = array_module(y)
    mean = (hist * y).sum(axis=1, keepdims=True)
    var = (hist * y * y).sum(axis=1, keepdims=True) - mean * mean
    floored = var < BB_VAR_FLOOR
    rstd = 1.0 / xp.sqrt(xp.maximum(var, BB_VAR_FLOOR))
    xhat = (y - mean) * rstd
    return gamma * xhat + beta - offset, xhat, (rstd, floored)


def _normalise_vjp(g_u: Any, hist: Any, gamma: Any, xhat: Any, rstd_floored: tuple
                   ) -> tuple[Any, Any, Any]:
    """``(g_y, g_gamma, g_beta)`` of :func:`_normalise` (a batch norm's backward with the
    statistics taken under ``hist``)."""
    rstd, floored = rstd_floored
    g_x = gamma * g_u
    s1 = g_x.sum(axis=1, keepdims=True)
    s2 = (g_x * xhat).sum(axis=1, keepdims=True) * (1.0 - floored)  # floored var: a constant
    g_y = rstd * (g_x - hist * s1 - hist * xhat * s2)
    return g_y, (g_u * xhat).sum(axis=1, keepdims=True), g_u.sum(axis=1, keepdims=True)


class DifferentiableLut(Relaxation):
    """BinaryBrain's DifferentiableLut (stochastic LUT + batch norm + binarize), γ, β learned.

    ``P = [W (2**k) | gamma | beta | hist (2**k)]``."""

    name = "dlut"
    needs_histogram = True
    ignores = ("surrogate", "width", "tap_grad")
    learn_constants = True

    def width(self, k):
        return (2 << k) + 2

    def init_refusal(self, init):
        if init == "normal":
            return None
        return (f'relaxation = "{self.name}" starts from BinaryBrain\'s N(0.5, 0.01) tables; use '
                f'init = "normal" (init = "{init}" sets multilinear logits, which this model '
                f'cannot take over exactly)')

    def init(self, theta, logits, init, rng):
        why = self.init_refusal(init)
        if why:
            raise ConfigError(f"[train]: {why}")
        n, A = theta.shape
        p = np.empty((n, 2 * A + 2), np.float32)
        p[:, :A] = rng.normal(0.5, 0.01, (n, A))
        p[:, A], p[:, A + 1] = BB_GAMMA, BB_BETA
        p[:, A + 2:] = 1.0 / A  # no address seen yet: uniform
        return p

    def _parts(self, p, k):
        A = 1 << k
        return p[:, :A], p[:, A:A + 1], p[:, A + 1:A + 2], p[:, A + 2:]

    def _raw(self, p, k):
        return p[:, :1 << k] @ _const(array_module(p), "smooth", k)  # S symmetric

    def values(self, p, k):
        w, gamma, beta, hist = self._parts(p, k)
        return _normalise(self._raw(p, k), hist, gamma, beta, 0.5)[0].astype(p.dtype, copy=False)

    def vjp(self, p, k, g_u):
        xp = array_module(p)
        w, gamma, beta, hist = self._parts(p, k)
        _, xhat, rs = _normalise(self._raw(p, k), hist, gamma, beta, 0.5)
        g_y, g_gamma, g_beta = _normalise_vjp(g_u, hist, gamma, xhat, rs)
        g = xp.zeros_like(p)
        A = 1 << k
        g[:, :A] = g_y @ _const(xp, "smooth", k)
        if self.learn_constants:
            g[:, A:A + 1], g[:, A + 1:A + 2] = g_gamma, g_beta
        return g

    def clip(self, p, k, bound):
        w = p[:, :1 << k]
        array_module(p).clip(w, 0.0, 1.0, out=w)  # BinaryBrain's Clamp(0, 1) after each update

    def surrogate(self, sg):
        return _hardtanh_window(0.5, 2.0)

    def tap_grad(self, tap_grad):
        return "identity"

    def observe(self, p, k, hist):
        h = p[:, -(1 << k):]
        h *= np.float32(BB_MOMENTUM)
        h += np.float32(1.0 - BB_MOMENTUM) * hist.astype(np.float32)


class DifferentiableLutFixed(DifferentiableLut):
    """:class:`DifferentiableLut` with BinaryBrain's hand-picked γ = 0.3, β = 0.5 kept fixed."""

    name = "dlut_fixed"
    learn_constants = False


class MicroMlp(Relaxation):
    """BinaryBrain's MicroMlp per node: affine k→16, ReLU, affine 16→1, batch norm (γ, β learned).

    ``P = [W1 (h k) | b1 (h) | w2 (h) | b2 | gamma | beta | hist (2**k)]``, ``h = 16``."""

    name = "mlp"
    ignores = ("surrogate", "width")  # its tap differences follow [train] tap_grad
    needs_histogram = True
    hidden = MLP_HIDDEN

    def width(self, k):
        h = self.hidden
        return h * k + 2 * h + 3 + (1 << k)

    def _parts(self, p, k):
        h = self.hidden
        n = p.shape[0]
        o = h * k
        return (p[:, :o].reshape(n, h, k), p[:, o:o + h], p[:, o + h:o + 2 * h],
                p[:, o + 2 * h:o + 2 * h + 1], p[:, o + 2 * h + 1:o + 2 * h + 2],
                p[:, o + 2 * h + 2:o + 2 * h + 3], p[:, o + 2 * h + 3:])

    def init_refusal(self, init):
        if init == "normal":
            return None
        return (f'relaxation = "mlp" draws its own He-initialised weights; use init = "normal" '
                f'(init = "{init}" sets multilinear logits)')

    def init(self, theta, logits, init, rng):
        why = self.init_refusal(init)
        if why:
            raise ConfigError(f"[train]: {why}")
        n, A = theta.shape
        k = int(round(math.log2(A)))
        h = self.hidden
        std = math.sqrt(2.0 / k)  # BinaryBrain's "he" initializer: every weight and bias
        p = np.empty((n, self.width(k)), np.float32)
        p[:, :h * k + 2 * h + 1] = rng.normal(0.0, std, (n, h * k + 2 * h + 1))
        p[:, h * k + 2 * h + 1] = 1.0   # gamma (BatchNormalization default)
        p[:, h * k + 2 * h + 2] = 0.0   # beta
        p[:, h * k + 2 * h + 3:] = 1.0 / A
        return p

    def _forward(self, p, k):
        xp = array_module(p)
        w1, b1, w2, b2, gamma, beta, hist = self._parts(p, k)
        X = _const(xp, "bits", k)                              # [A, k]
        z = xp.einsum("ak,nhk->nah", X, w1) + b1[:, None, :]   # [n, A, h]
        hid = xp.maximum(z, 0.0)
        y = xp.einsum("nah,nh->na", hid, w2) + b2
        return z, hid, y, gamma, beta, hist

    def values(self, p, k):
        _, _, y, gamma, beta, hist = self._forward(p, k)
        return _normalise(y, hist, gamma, beta, 0.0)[0].astype(p.dtype, copy=False)

    def vjp(self, p, k, g_u):
        xp = array_module(p)
        z, hid, y, gamma, beta, hist = self._forward(p, k)
        _, xhat, rs = _normalise(y, hist, gamma, beta, 0.0)
        g_y, g_gamma, g_beta = _normalise_vjp(g_u, hist, gamma, xhat, rs)
        w1, b1, w2, *_ = self._parts(p, k)
        g_hid = g_y[:, :, None] * w2[:, None, :]
        g_z = g_hid * (z > 0)
        n, h = p.shape[0], self.hidden
        parts = [xp.einsum("nah,ak->nhk", g_z, _const(xp, "bits", k)).reshape(n, h * k),
                 g_z.sum(axis=1), xp.einsum("na,nah->nh", g_y, hid),
                 g_y.sum(axis=1, keepdims=True), g_gamma, g_beta, xp.zeros_like(hist)]
        return xp.concatenate(parts, axis=1).astype(p.dtype, copy=False)

    def clip(self, p, k, bound):
        pass  # the batch norm fixes the scale of U; weights are free as in BinaryBrain

    def surrogate(self, sg):
        return _hardtanh_window(1.0, 1.0)  # Binarize: threshold 0, hard-tanh window [-1, 1]

    observe = DifferentiableLut.observe


RELAXATIONS: dict[str, Callable[[], Relaxation]] = {
    "multilinear": Relaxation, "bipolar": Bipolar, "walsh": Walsh, "dlut": DifferentiableLut,
    "dlut_fixed": DifferentiableLutFixed, "mlp": MicroMlp}
ALIASES = {"differentiable_lut": "dlut", "stochastic_lut": "dlut", "micro_mlp": "mlp",
           "fourier": "walsh", "pm1": "bipolar"}


def register_relaxation(name: str, factory: Callable[[], Relaxation]) -> None:
    """Add a relaxation: ``factory()`` returns a :class:`Relaxation` (subclass).

    ``[train] relaxation = "<name>"`` then selects it; a name already registered is replaced.
    The subclass overrides what differs from the multilinear model (:meth:`Relaxation.width`,
    :meth:`~Relaxation.init`, :meth:`~Relaxation.values`, :meth:`~Relaxation.vjp`,
    :meth:`~Relaxation.clip`), on the array module of ``P``.

    Args:
        name: the name (not one of the aliases of :data:`ALIASES`, which resolve first).
        factory: called without arguments on every :func:`get_relaxation` (a class is a
            factory).

    Returns:
        ``None``.

    Raises:
        ConfigError: a name that is not a non-empty string, or a ``factory`` that cannot be
            called (it is not called here: a factory that raises fails when a config names it).

    Example:
        >>> class Scaled(Relaxation):
        ...     name = "scaled_demo"
        ...     def values(self, p, k):
        ...         return 2.0 * p
        ...     def vjp(self, p, k, g_u):
        ...         return 2.0 * g_u
        >>> register_relaxation("scaled_demo", Scaled)
        >>> get_relaxation("scaled_demo").values(np.array([[0.5, -1.0]]), 1).tolist()
        [[1.0, -2.0]]
        >>> del RELAXATIONS["scaled_demo"]        # the registry is global: the example cleans up
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"a relaxation's name must be a non-empty string, got {name!r}")
    if not callable(factory):  # was "'int' object is not callable" when a config named it
        raise ConfigError(f"relaxation {name!r}: factory must be callable (a Relaxation subclass "
                          f"or a function returning one), got {type(factory).__name__}")
    RELAXATIONS[name] = factory


def relaxation_names() -> list[str]:
    """Registered relaxation names (aliases not included).

    Example:
        >>> relaxation_names()
        ['bipolar', 'dlut', 'dlut_fixed', 'mlp', 'multilinear', 'walsh']
    """
    return sorted(RELAXATIONS)


def get_relaxation(name: str) -> Relaxation:
    """The relaxation registered as ``name`` (or one of its aliases).

    Args:
        name: a name of :func:`relaxation_names` or an alias (``differentiable_lut``,
            ``stochastic_lut``, ``micro_mlp``, ``fourier``, ``pm1``).

    Returns:
        A new instance of the registered :class:`Relaxation` (subclass): its factory is
        called on every look-up.

    Raises:
        ConfigError: an unknown name (the message lists the known ones).

    Example:
        >>> get_relaxation("differentiable_lut").name, get_relaxation("multilinear").width(6)
        ('dlut', 64)
    """
    key = ALIASES.get(name, name) if isinstance(name, str) else None  # a list is unhashable
    if key not in RELAXATIONS:
        raise ConfigError(f"unknown relaxation {name!r}; choose one of "
                          f"{', '.join(relaxation_names())}")
    return RELAXATIONS[key]()


def address_histograms(fwd: Any, sizes: Sequence[tuple[int, int]]) -> list[Any]:
    """Per layer, each node's address frequencies ``[n, 2**k]`` (rows sum to 1) over the batch
    and every cycle of a hard forward pass ``fwd`` (its ``addr``, on its array module).

    Example:
        >>> from types import SimpleNamespace
        >>> addr = np.array([[[0, 1, 1, 3]]], np.uint8)        # T = 1, one node, B = 4
        >>> address_histograms(SimpleNamespace(addr=[addr]), [(1, 2)])[0].tolist()
        [[0.25, 0.5, 0.0, 0.25]]
    """
    out = []
    for a, (n, k) in zip(fwd.addr, sizes):
        xp = array_module(a)
        A = 1 << k
        idx = (xp.arange(n, dtype=np.int64)[None, :, None] * A + a.astype(np.int64)).ravel()
        c = xp.bincount(idx, minlength=n * A).reshape(n, A).astype(np.float32)
        out.append(c / xp.maximum(c.sum(axis=1, keepdims=True), 1.0))
    return out
