"""The reference forward and backward passes of training (DESIGN.md section 3), array code only.

Forward (:func:`forward`) computes exactly the spikes of the deployed circuit (bit-equal with
:func:`spikelut.engine.reference.simulate`) and keeps only what the backward pass needs, as small
integers: every signal's spike history (uint8) and every node's LUT address per cycle (uint8,
k <= 6). Backward (:func:`backward`) runs BPTT over that record:

```
u        = theta[addr]                                   value of the multilinear extension
g_u      = g_a * surrogate.grad(u)                       g_a: spike gradient through the gate
g_theta[addr]  += g_u
g_tap_p        += g_u * (f(theta)[addr | 1<<p] - f(theta)[addr & ~(1<<p)])
```

and ``g_tap_p`` is carried to the tapped signal at cycle ``t - delay`` (inputs too, on request),
so gradient flows through every delayed, recurrent and self-referencing tap. ``f`` is ``tanh``
(default, bounded: one large logit cannot dominate a tap's gradient) or the identity.

The refractory gate ``s = a * prod_r (1 - s[t-r])`` passes gradient in one of three ways:

* ``"block"`` (default): ``g_a = g_s * (1 - recent)``; a suppressed spike gets no gradient and
  nothing flows into the history through the gate;
* ``"pass"``: straight through, ``g_a = g_s``, as if there were no gate;
* ``"full"``: the product rule, including ``-g_s * a * prod_{r' != r}(1 - s[t-r'])`` into
  ``s[t-r]`` (exact for the relaxed model).

``tbptt = K > 0`` cuts the gradient at cycles that are multiples of ``K`` (like detaching the
state every ``K`` steps): a tap or gate read across such a boundary carries no gradient.

The same :func:`backward` also runs on the *relaxed* model of :func:`relaxed_forward`, where
signals are reals in [0, 1], ``u`` is the multilinear extension of theta at the real tap values
and ``a = surrogate.fn(u)``. With ``tap_grad="identity"`` and ``refractory_grad="full"`` its
result is the exact gradient of that smooth model (checked against finite differences in the
tests), and at binary tap values its local derivatives equal the hard ones, so the hard backward
is the relaxed model's gradient taken along the circuit's own trajectory.

Arrays in the public signatures use the engine's layout ``[T, B, n]``; internally time-major,
signal-major, batch-last ``[T, signal, B]`` keeps every gather contiguous along the batch.

:func:`forward` and :func:`backward` are written against the array module of their inputs
(numpy, or cupy with ``cupyx.scipy.sparse`` for the tap scatter); the CPU path is the tested one.
:func:`relaxed_forward` and the relaxed branch of :func:`backward` are numpy only (tests).

Example:
    >>> import numpy as np
    >>> from spikelut.wiring import random_network
    >>> from spikelut.train.bptt import compile_plan, forward, backward
    >>> from spikelut.train.surrogates import get_surrogate
    >>> net = random_network(0, n_in=4, sizes=[8, 2], k=3, classes=2)
    >>> plan = compile_plan(net)
    >>> thetas = [np.where(l.table > 0, 0.1, -0.1).astype(np.float32) for l in net.layers]
    >>> x = (np.random.default_rng(0).random((5, 3, 4)) < 0.5).astype(np.uint8)
    >>> fwd = forward(plan, [l.table for l in net.layers], x)
    >>> g_out = [None, np.ones((5, 3, 2), np.float32)]
    >>> grads, _ = backward(plan, thetas, fwd, g_out, get_surrogate("fast_sigmoid"))
    >>> [g.shape for g in grads]
    [(8, 8), (2, 8)]
"""

from __future__ import annotations

import dataclasses
import weakref
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from ..xp import array_module
from ..errors import ConfigError, ShapeError
from ..lowering import Lowered, lower
from ..network import Network
from ..semantics import relaxed_refractory_gate, run, tap_values
from .surrogates import Surrogate

REFRACTORY_GRAD = ("block", "pass", "full")
TAP_GRAD = ("tanh", "identity")


# ---------------------------------------------------------------------------- plan
@dataclass
class LayerPlan:
    """Flat indices of one layer: where its taps read and where their gradients go."""

    n: int
    k: int
    refractory: int
    offset: int                   # first signal index of this layer
    delay: np.ndarray             # int64 [n, k]
    base: np.ndarray              # int64 [n, k]: flat row of a tap = t_row * n_signals + base
    node_off: np.ndarray          # int64 [n, 1]: j * 2**k, the row of node j in a flat table
    targets: np.ndarray           # int64 [m]: signals (within a D+1 row window) the taps feed
    scatter: sp.csr_matrix        # [m, n*k]: g_tap (flattened [n, k]) -> those targets
    targets_in: np.ndarray        # the same including input channels
    scatter_in: sp.csr_matrix


# device copies of each network's training indices, per array module (keyed on the lowered form)
_ON_DEVICE: "weakref.WeakKeyDictionary[Lowered, dict]" = weakref.WeakKeyDictionary()


@dataclass
class NetPlan:
    """A network compiled for training: the lowered network (signals numbered as in
    :mod:`spikelut.lowering`) plus the gather and scatter indices of the backward pass."""

    n_in: int
    n_signals: int
    D: int                        # history rows before cycle 0: the lowered depth - 1
    offsets: list[int]
    layers: list[LayerPlan]
    sizes: list[int]
    lowered: Lowered
    #: plans of this network for short runs, by history depth (see :meth:`for_steps`)
    _short: dict = field(default_factory=dict, repr=False, compare=False)

    def for_steps(self, steps: int) -> "NetPlan":
        """This plan for a run of ``steps`` cycles: delays and refractory periods longer than
        ``steps`` clipped to ``steps`` (as every engine does, :meth:`Lowered.depth_for`), so a
        legal delay of 65,535 keeps ``steps + 1`` history rows, not 65,536. Exact: every clipped
        read lands before cycle 0 either way, where the history is zero.

        Returns ``self`` when nothing needs clipping; the clipped plan is cached on ``self``.

        Example:
            >>> from spikelut.network import Layer, Network, Readout
            >>> far = Layer(np.array([[0, 1, 1, 1]]), [[-1, -1]], [[0, 0]], [[0, 65535]])
            >>> plan = compile_plan(Network(1, [far], Readout(0, [0], 1)))
            >>> plan.D, plan.for_steps(8).D, plan.for_steps(8).layers[0].delay.tolist()
            (65535, 8, [[0, 8]])
        """
        D = self.lowered.depth_for(steps) - 1
        if D >= self.D:
            return self
        if D not in self._short:
            low = self.lowered
            short = dataclasses.replace(
                low, tap_dly=np.minimum(low.tap_dly, D).astype(low.tap_dly.dtype),
                layer_r=np.minimum(low.layer_r, D).astype(low.layer_r.dtype),
                max_delay=min(low.max_delay, D), max_refractory=min(low.max_refractory, D))
            if len(self._short) >= 4:  # a few run lengths at a time (train, validation, ...)
                self._short.clear()
            self._short[D] = compile_plan(short)
        return self._short[D]

    def on(self, xp) -> list[dict]:
        """Per layer, the index arrays and scatter matrices on ``xp``'s device (cached per
        lowered network and array module)."""
        if xp is np:
            return [vars(lp) for lp in self.layers]
        per_xp = _ON_DEVICE.setdefault(self.lowered, {})
        if xp not in per_xp:
            import cupyx.scipy.sparse as csp

            per_xp[xp] = [
                {**vars(lp), **{k: xp.asarray(getattr(lp, k))
                                for k in ("delay", "base", "node_off", "targets", "targets_in")},
                 "scatter": csp.csr_matrix(lp.scatter), "scatter_in": csp.csr_matrix(lp.scatter_in)}
                for lp in self.layers]
        return per_xp[xp]


def compile_plan(net: Network | Lowered) -> NetPlan:
    """The training view of ``net``'s lowered form: gather and scatter indices per layer."""
    low = net if isinstance(net, Lowered) else lower(net)
    N, D = low.n_signals, low.depth - 1
    layers = []
    for i in range(low.n_layers):
        lo, hi, k = int(low.layer_lo[i]), int(low.layer_hi[i]), int(low.layer_k[i])
        n = hi - lo
        gidx = low.tap_sig[lo:hi, :k].astype(np.int64)
        dly = low.tap_dly[lo:hi, :k].astype(np.int64)
        base = gidx - dly * N
        # gradient window: rows row-D .. row, flattened; a tap lands at (D - d) * N + gidx
        win = ((D - dly) * N + gidx).ravel()
        cols = np.arange(n * k)

        def scatter(keep: np.ndarray) -> tuple[np.ndarray, sp.csr_matrix]:
            tg, inv = np.unique(win[keep], return_inverse=True)
            m = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (inv.ravel(), cols[keep])),
                              shape=(len(tg), n * k))
            return tg.astype(np.int64), m

        t_nodes, s_nodes = scatter((gidx >= low.n_in).ravel())
        t_all, s_all = scatter(np.ones(n * k, bool))
        layers.append(LayerPlan(n, k, int(low.layer_r[i]), low.layer_signals(i).start, dly, base,
                                (np.arange(n, dtype=np.int64) << k)[:, None],
                                t_nodes, s_nodes, t_all, s_all))
    return NetPlan(low.n_in, N, D, [lp.offset for lp in layers], layers, low.sizes, low)


# ---------------------------------------------------------------------------- forward
@dataclass
class Forward:
    """What a forward pass keeps for the backward pass.

    ``hist``: every signal's values ``[D + T, n_signals, B]`` (uint8 spikes; float64 in the relaxed
    model), row ``D + t`` = cycle ``t``. ``addr[i]``: layer ``i``'s LUT addresses ``[T, n, B]``
    (uint8; hard model only). The relaxed model also keeps tap values ``x[i] [T, n, k, B]``,
    extension values ``u[i]`` and pre-gate outputs ``a[i]`` ``[T, n, B]``.
    """

    plan: NetPlan
    hist: np.ndarray
    T: int
    B: int
    addr: list[np.ndarray] = field(default_factory=list)
    soft: bool = False
    x: list[np.ndarray] = field(default_factory=list)
    u: list[np.ndarray] = field(default_factory=list)
    a: list[np.ndarray] = field(default_factory=list)

    def spikes(self, i: int) -> np.ndarray:
        """Layer ``i``'s spikes ``[T, B, n]`` (a view)."""
        lp = self.plan.layers[i]
        return self.hist[self.plan.D:, lp.offset:lp.offset + lp.n].transpose(0, 2, 1)


def _check_tables(plan: NetPlan, arrays: Sequence[np.ndarray], what: str) -> None:
    if len(arrays) != len(plan.layers):
        raise ShapeError(f"{what}: got {len(arrays)} arrays for {len(plan.layers)} layers")
    for i, (a, lp) in enumerate(zip(arrays, plan.layers)):
        if a.shape != (lp.n, 1 << lp.k):
            raise ShapeError(f"{what}[{i}] has shape {a.shape}, expected {(lp.n, 1 << lp.k)}")


def check_forward_args(plan: NetPlan, tables: Sequence[Any], x: Any) -> NetPlan:
    """The argument checks shared by the forward passes (this module's and ``kernels_bits``'s):
    ``x`` is ``[T, B, n_in]`` and each layer has a table of its shape. Returns the plan for
    ``T`` cycles (:meth:`NetPlan.for_steps`: a history of ``T + 1`` rows at most, since older
    reads are zero).

    Raises:
        ShapeError: ``x`` or a table has the wrong shape.
    """
    if x.ndim != 3 or x.shape[2] != plan.n_in:
        raise ShapeError(f"input spikes must be [T, B, {plan.n_in}], got shape {x.shape}")
    _check_tables(plan, tables, "tables")
    return plan.for_steps(x.shape[0])


def check_backward_args(plan: NetPlan, thetas: Sequence[Any], g_spikes: Sequence[Any],
                        refractory_grad: str, tbptt: Any) -> None:
    """The argument checks shared by every ``backward`` (this module's, ``kernels_cpu``'s and
    ``kernels_gpu``'s): the refractory gradient mode, ``tbptt``, the logit shapes and one
    ``g_spikes`` entry per layer."""
    if refractory_grad not in REFRACTORY_GRAD:
        raise ConfigError(f"unknown refractory_grad {refractory_grad!r}; choose one of "
                          f"{', '.join(REFRACTORY_GRAD)}")
    if not isinstance(tbptt, (int, np.integer)) or tbptt < 0:
        raise ConfigError(f"tbptt must be an integer >= 0, got {tbptt!r}")
    _check_tables(plan, thetas, "thetas")
    if len(g_spikes) != len(plan.layers):
        raise ShapeError(f"g_spikes: got {len(g_spikes)} entries for {len(plan.layers)} layers")



def spike_grad_history(plan: NetPlan, T: int, B: int, g_spikes: Sequence[Any], xp: Any,
                       dtype: Any = np.float32) -> Any:
    """``dL/ds`` of every signal as ``[D + T, n_signals, B]`` (rows ``D + t`` = cycle ``t``), the
    accumulator every backward pass starts from; ``None`` entries of ``g_spikes`` add nothing."""
    G = xp.zeros((plan.D + T, plan.n_signals, B), dtype)
    for lp, g in zip(plan.layers, g_spikes):
        if g is not None:
            if g.shape != (T, B, lp.n):
                raise ShapeError(f"g_spikes entry has shape {g.shape}, expected {(T, B, lp.n)}")
            G[plan.D:, lp.offset:lp.offset + lp.n] += xp.asarray(g).transpose(0, 2, 1)
    return G

def _input_history(plan: NetPlan, x, dtype):
    T, B, _ = x.shape
    hist = array_module(x).zeros((plan.D + T, plan.n_signals, B), dtype)
    hist[plan.D:, :plan.n_in] = x.transpose(0, 2, 1)
    return hist


def forward(plan: NetPlan, tables: Sequence[np.ndarray], x: np.ndarray, save: bool = True,
            gate: float = 1.0, rng: np.random.Generator | None = None) -> Forward:
    """Hard forward pass: the circuit's spikes for input spikes ``x [T, B, n_in]``.

    ``tables[i]`` is layer ``i``'s truth table ``[n, 2**k]`` (0/1; ``theta > 0`` in training).
    With ``save=False`` the addresses are not kept (evaluation only). Runs on the device of ``x``
    (numpy or cupy). This is :func:`spikelut.semantics.run` with ``D`` history rows kept for BPTT.

    ``gate < 1`` is the *relaxed* refractory gate of the curriculum (``[train] refractory_ramp``):
    a node that fired in its last ``R`` cycles is silenced only with probability ``gate`` (drawn
    per node, sample and cycle from ``rng``, on the host), so spikes stay 0/1 and the expected
    gate is ``1 - gate * recent``. ``gate = 1`` (default) is the exact circuit and draws nothing.
    """
    if gate < 1.0 and rng is None:
        raise ConfigError("forward: a relaxed gate (gate < 1) needs a random generator (rng)")
    xp = array_module(x)
    x = xp.asarray(x)
    plan = check_forward_args(plan, tables, x)
    T, B, _ = x.shape
    trace = run(plan.lowered, x.astype(xp.uint8, copy=False), tables=tables, save_addr=save,
                rows_before=plan.D, xp=xp, gate=gate, rng=rng)
    return Forward(plan, trace.history, T, B, trace.addr)


def _ml_weights(xv: np.ndarray) -> np.ndarray:
    """Multilinear weights ``w[n, a, B] = prod_p (x_p if bit p of a else 1 - x_p)``."""
    n, k, B = xv.shape
    w = np.ones((n, 1, B), xv.dtype)
    for p in range(k):  # entries with bit p set come after those without: w = [w*(1-x), w*x]
        xp_ = xv[:, p:p + 1, :]
        w = np.concatenate([w * (1.0 - xp_), w * xp_], axis=1)
    return w


def relaxed_forward(plan: NetPlan, thetas: Sequence[np.ndarray], x: np.ndarray,
                    surrogate: Surrogate) -> Forward:
    """The smooth model whose exact gradient :func:`backward` computes (float64; tests only).

    Signals are reals; ``u`` = multilinear extension of ``theta`` at the tap values,
    ``a = surrogate.fn(u)``, ``s = a * prod_r (1 - s[t-r])``.
    """
    x = np.asarray(x, np.float64)
    if x.ndim != 3 or x.shape[2] != plan.n_in:
        raise ShapeError(f"input must be [T, B, {plan.n_in}], got shape {x.shape}")
    _check_tables(plan, thetas, "thetas")
    T, B, _ = x.shape
    plan = plan.for_steps(T)
    D = plan.D
    hist = _input_history(plan, x, np.float64)
    fwd = Forward(plan, hist, T, B, soft=True)
    low = plan.lowered
    taps = [(low.tap_sig[lo:hi, :lp.k], low.tap_dly[lo:hi, :lp.k]) for lp, lo, hi in
            zip(plan.layers, low.layer_lo.tolist(), low.layer_hi.tolist())]
    for lp in plan.layers:
        fwd.x.append(np.empty((T, lp.n, lp.k, B)))
        fwd.u.append(np.empty((T, lp.n, B)))
        fwd.a.append(np.empty((T, lp.n, B)))
    for t in range(T):
        row = D + t
        for i, lp in enumerate(plan.layers):
            nodes = slice(lp.offset, lp.offset + lp.n)
            xv = tap_values(hist, row, *taps[i])  # [n, k, B]
            u = np.einsum("na,nab->nb", np.asarray(thetas[i], np.float64), _ml_weights(xv))
            a = surrogate.fn(u)
            s = relaxed_refractory_gate(a, hist[row - lp.refractory:row, nodes])
            hist[row, nodes] = s
            fwd.x[i][t], fwd.u[i][t], fwd.a[i][t] = xv, u, a
    return fwd


# ---------------------------------------------------------------------------- backward
def tap_differences(theta: np.ndarray, tap_grad: str = "tanh") -> np.ndarray:
    """``Dt[p, j * 2**k + a] = f(theta)[j, a | 1<<p] - f(theta)[j, a & ~(1<<p)]`` (float32/64)."""
    if tap_grad not in TAP_GRAD:
        raise ConfigError(f"unknown tap_grad {tap_grad!r}; choose one of {', '.join(TAP_GRAD)}")
    xp = array_module(theta)
    f = xp.tanh(theta) if tap_grad == "tanh" else theta
    n, size = f.shape
    k = size.bit_length() - 1
    a = xp.arange(size)  # index on the device of theta (CuPy needs a CuPy index)
    out = xp.empty((k, n * size), f.dtype)
    for p in range(k):
        out[p] = (f[:, a | (1 << p)] - f[:, a & ~(1 << p)]).ravel()
    return out


def _soft_local(theta_f: np.ndarray, xv: np.ndarray) -> np.ndarray:
    """``du/dx_p [n, k, B]`` of the multilinear extension of ``theta_f`` at real tap values."""
    n, k, B = xv.shape
    out = np.empty((n, k, B))
    for p in range(k):
        others = np.delete(xv, p, axis=1)
        w = _ml_weights(others)  # [n, 2**(k-1), B] over the other taps' bits
        a = np.arange(1 << (k - 1))
        lo = (a & ((1 << p) - 1)) | ((a >> p) << (p + 1))  # insert a 0 bit at position p
        diff = theta_f[:, lo | (1 << p)] - theta_f[:, lo]
        out[:, p] = np.einsum("na,nab->nb", diff, w)
    return out


def backward(plan: NetPlan, thetas: Sequence[np.ndarray], fwd: Forward,
             g_spikes: Sequence[np.ndarray | None], surrogate: Surrogate,
             refractory_grad: str = "block", tap_grad: str = "tanh", tbptt: int = 0,
             input_grad: bool = False, gate: float = 1.0,
             g_u_out: list | None = None) -> tuple[list[np.ndarray], np.ndarray | None]:
    """BPTT: gradients of the loss w.r.t. every layer's logits (and optionally the input).

    Args:
        plan: from :func:`compile_plan`.
        thetas: logits per layer ``[n, 2**k]`` (float32 for training).
        fwd: from :func:`forward` (hard) or :func:`relaxed_forward` (soft).
        g_spikes: per layer, ``dL/ds [T, B, n]`` or ``None`` (the loss's and regularizer's terms).
        surrogate: the step's surrogate derivative.
        refractory_grad: ``"block"``, ``"pass"`` or ``"full"`` (see the module docstring).
        tap_grad: ``"tanh"`` or ``"identity"``: ``f`` in the tap gradient.
        tbptt: cut the gradient at multiples of this many cycles (0 = full BPTT).
        input_grad: also return ``dL/dx [T, B, n_in]``.
        gate: strength of the relaxed refractory gate of :func:`forward` (1 = exact); the gate
            passes the gradient of its expectation, ``1 - gate * recent`` (hard model only).
        g_u_out: a list that receives, per layer, ``dL/du [T, n, B]`` (the gradient at the
            table's output before the step, i.e. per evaluation; hard model only): what
            gradient-scored rewiring (:mod:`spikelut.train.rewire`) correlates with candidates.

    Returns:
        ``(grads, g_input)``: ``grads[i]`` like ``thetas[i]``; ``g_input`` or ``None``.
    """
    plan = plan.for_steps(fwd.T)  # the plan the forward pass ran
    check_backward_args(plan, thetas, g_spikes, refractory_grad, tbptt)
    T, B, D, N = fwd.T, fwd.B, plan.D, plan.n_signals
    xp = array_module(fwd.hist)
    dt = np.float64 if fwd.soft else np.float32
    thetas = [xp.asarray(th, dtype=dt) for th in thetas]
    dev = plan.on(xp)
    G = spike_grad_history(plan, T, B, g_spikes, xp, dt)
    Gf = G.reshape(-1, B)
    hist = fwd.hist
    diffs = [tap_differences(th, tap_grad) for th in thetas] if not fwd.soft else []
    f_thetas = [np.tanh(th) if tap_grad == "tanh" else th for th in thetas] if fwd.soft else []
    flat_th = [th.ravel() for th in thetas]
    g_u_all = [xp.zeros((T, lp.n, B), dt) for lp in plan.layers] if not fwd.soft else []
    grads = [xp.zeros_like(th) for th in thetas]

    for t in range(T - 1, -1, -1):
        row = D + t
        phase = t % tbptt if tbptt else None
        for i in range(len(plan.layers) - 1, -1, -1):
            lp, dv = plan.layers[i], dev[i]
            sl = slice(lp.offset, lp.offset + lp.n)
            g_a = G[row, sl]
            R = lp.refractory
            if R and refractory_grad != "pass":
                past = hist[row - R:row, sl]
                if fwd.soft:
                    keep = np.prod(1.0 - past, axis=0)
                else:
                    recent = past.max(axis=0)
                    keep = (1 - recent if gate == 1.0 else 1.0 - gate * recent).astype(dt)
                g_s = g_a
                g_a = g_s * keep
                if refractory_grad == "full":
                    if fwd.soft:
                        a = fwd.a[i][t]
                    else:
                        a = (flat_th[i][dv["node_off"] + fwd.addr[i][t]] > 0).astype(dt)
                    one_minus = 1.0 - past.astype(dt)
                    for r in range(1, R + 1):
                        if phase is not None and phase < r:
                            continue  # the read of s[t - r] crosses a tbptt boundary
                        excl = one_minus[[q for q in range(R) if q != R - r]].prod(axis=0)
                        G[row - r, sl] -= g_s * a * excl * (1.0 if fwd.soft else gate)
            if fwd.soft:
                u = fwd.u[i][t]
                g_u = g_a * surrogate.grad(u)
                grads[i] += np.einsum("nab,nb->na", _ml_weights(fwd.x[i][t]), g_u)
                g_tap = _soft_local(f_thetas[i], fwd.x[i][t]) * g_u[:, None, :]
            else:
                idx = dv["node_off"] + fwd.addr[i][t]
                g_u = g_a * surrogate.grad(flat_th[i][idx])
                g_u_all[i][t] = g_u
                g_tap = xp.empty((lp.n, lp.k, B), dt)
                for p in range(lp.k):
                    xp.multiply(diffs[i][p][idx], g_u, out=g_tap[:, p])
            if phase is not None and phase < D:
                g_tap *= (dv["delay"] <= phase)[:, :, None]
            targets, scat = ((dv["targets_in"], dv["scatter_in"]) if input_grad
                             else (dv["targets"], dv["scatter"]))
            if len(targets):
                Gf[(row - D) * N + targets] += scat @ g_tap.reshape(lp.n * lp.k, B)

    if g_u_out is not None and not fwd.soft:
        g_u_out.extend(g_u_all)
    if not fwd.soft:
        for i, lp in enumerate(plan.layers):
            size = lp.n << lp.k
            acc = xp.zeros(size)
            step = max(1, 2_000_000 // max(1, lp.n * B))  # bound the int64 index memory
            for t0 in range(0, T, step):
                idx = (dev[i]["node_off"][None] + fwd.addr[i][t0:t0 + step]).ravel()
                acc += xp.bincount(idx, weights=g_u_all[i][t0:t0 + step].ravel(), minlength=size)
            grads[i] = acc.reshape(lp.n, 1 << lp.k).astype(dt)
    g_in = G[D:, :plan.n_in].transpose(0, 2, 1).copy() if input_grad else None
    return grads, g_in


def tables_of(thetas: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The deployed tables ``theta > 0`` (uint8), on the device of ``thetas``."""
    return [(th > 0).astype(np.uint8) for th in thetas]
