"""Compiled (numba) forward and backward passes of training, drop-in for :mod:`.bptt`.

:func:`forward` and :func:`backward` have the signatures and results of
:func:`spikelut.train.bptt.forward` / :func:`spikelut.train.bptt.backward` (the reference, whose
docstring states the maths): spikes and LUT addresses are identical, gradients equal within
float32 rounding (sums run in another order). They hold no semantics of their own and are tested
against ``bptt.py`` for every option (refractory_grad block/pass/full, tap_grad tanh/identity,
tbptt, input gradients).

What is compiled: the whole time loop of the forward pass (tap gathers, table lookups, the
refractory gate, recording addresses) and of the backward pass (the refractory gate's gradient,
g_u, the tap gradients scattered straight into the gradient history at ``t - delay``, and the
logit gradients accumulated per node and address). Samples never interact, so threads split the
batch and need no synchronization; each thread sums its own logit gradients (float64), added up
at the end. What stays in numpy: the surrogate derivative (any registered Python surrogate works;
``u = theta[addr]`` takes only the table's values, so it is evaluated once per table entry) and
``tap_differences``, once per batch.

The relaxed (soft) model of :func:`spikelut.train.bptt.relaxed_forward` is a test tool;
:func:`backward` hands it to the reference.

To use them in the trainer, import these two names instead of bptt's:
``from .kernels_cpu import backward, forward`` (``compile_plan`` and ``tables_of`` stay bptt's).

Example:
    >>> import numpy as np
    >>> from spikelut.wiring import random_network
    >>> from spikelut.train import bptt, kernels_cpu
    >>> from spikelut.train.surrogates import get_surrogate
    >>> net = random_network(0, n_in=4, sizes=[8, 2], k=3, classes=2, refractory=1)
    >>> plan = bptt.compile_plan(net)
    >>> x = (np.random.default_rng(0).random((5, 3, 4)) < 0.5).astype(np.uint8)
    >>> tables = [l.table for l in net.layers]
    >>> a, b = bptt.forward(plan, tables, x), kernels_cpu.forward(plan, tables, x)
    >>> bool((a.hist == b.hist).all()) and all((p == q).all() for p, q in zip(a.addr, b.addr))
    True
"""

from __future__ import annotations

import weakref
from typing import Any, Sequence

import numba
import numpy as np
from numba import njit, prange

from ..errors import ShapeError
from ..lowering import Lowered
from ..network import K_MAX
from . import bptt
from .bptt import Forward, NetPlan, tap_differences
from .surrogates import Surrogate

# Samples per thread slice: enough for the inner loops to vectorize.
MIN_CHUNK = 16
_MODES = {"block": 0, "pass": 1, "full": 2}


# the kernels' per-node arrays of each lowered network (int64 copies, input-tap mask)
_FLAT: "weakref.WeakKeyDictionary[Lowered, dict]" = weakref.WeakKeyDictionary()


def _flat(plan: NetPlan) -> dict:
    """The compiled passes' per-node arrays of ``plan``'s lowered network (cached on it):
    ``gidx``/``dly`` int64 ``[N, K_MAX]`` (tap signal and delay), ``is_in`` (tap reads an input
    channel), ``tab_off`` int64 ``[N + 1]``, per layer ``lo``/``hi``/``k``/``R``/``sig`` (first
    signal), and ``n_nodes``."""
    low = plan.lowered
    cache = _FLAT.get(low)
    if cache is not None:
        return cache
    k_of_node = np.repeat(low.layer_k, low.layer_hi - low.layer_lo)
    used = np.arange(K_MAX)[None, :] < k_of_node[:, None]  # taps past a layer's k are padding
    cache = {
        "gidx": low.tap_sig.astype(np.int64), "dly": low.tap_dly.astype(np.int64),
        "is_in": used & (low.tap_sig < low.n_in), "tab_off": low.table_off,
        "lo": low.layer_lo, "hi": low.layer_hi, "k": low.layer_k, "R": low.layer_r,
        "sig": low.layer_lo + low.n_in, "n_nodes": low.n_nodes,
    }
    _FLAT[low] = cache
    return cache


def _chunks(B: int) -> int:
    return max(1, min(numba.get_num_threads(), B // MIN_CHUNK))


# ---------------------------------------------------------------------------- forward
@njit(cache=True, parallel=True, nogil=True)
def _forward(hist, D, gidx, dly, lo, hi, ks, Rs, sigs, tabs, tab_off, addr, save, n_chunks):
    # pragma: no cover - compiled
    TD, N, B = hist.shape
    T = TD - D
    for c in prange(n_chunks):
        b0 = (c * B) // n_chunks
        b1 = ((c + 1) * B) // n_chunks
        a = np.empty(b1 - b0, np.int64)
        for t in range(T):
            row = D + t
            for li in range(lo.shape[0]):
                k = ks[li]
                R = Rs[li]
                for j in range(lo[li], hi[li]):
                    s_j = sigs[li] + j - lo[li]
                    for b in range(b0, b1):
                        a[b - b0] = 0
                    for p in range(k):
                        r = row - dly[j, p]
                        g = gidx[j, p]
                        for b in range(b0, b1):
                            a[b - b0] |= np.int64(hist[r, g, b]) << p
                    off = tab_off[j]
                    for b in range(b0, b1):
                        s = tabs[off + a[b - b0]]
                        for q in range(1, R + 1):
                            if hist[row - q, s_j, b]:
                                s = 0
                        hist[row, s_j, b] = s
                        if save:
                            addr[t, j, b] = a[b - b0]


def forward(plan: NetPlan, tables: Sequence[np.ndarray], x: np.ndarray, save: bool = True) -> Forward:
    """Compiled :func:`spikelut.train.bptt.forward` (numpy arrays): identical ``hist`` and ``addr``."""
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != plan.n_in:
        raise ShapeError(f"input spikes must be [T, B, {plan.n_in}], got shape {x.shape}")
    bptt._check_tables(plan, tables, "tables")
    T, B, _ = x.shape
    plan = plan.for_steps(T)  # history of T + 1 rows at most: older reads are zero
    f = _flat(plan)
    hist = bptt._input_history(plan, x.astype(np.uint8, copy=False), np.uint8)
    tabs = np.concatenate([np.ascontiguousarray(t, dtype=np.uint8).ravel() for t in tables])
    addr = np.empty((T, f["n_nodes"], B) if save else (1, 1, 1), plan.lowered.addr_dtype)  # uint16: k > 8
    _forward(hist, plan.D, f["gidx"], f["dly"], f["lo"], f["hi"], f["k"], f["R"], f["sig"], tabs,
             f["tab_off"], addr, save, _chunks(B))
    addrs = [np.ascontiguousarray(addr[:, lo:hi]) for lo, hi in zip(f["lo"], f["hi"])] if save else []
    return Forward(plan, hist, T, B, addrs)


# ---------------------------------------------------------------------------- backward
@njit(cache=True, parallel=True, nogil=True)
def _backward(G, hist, D, gidx, dly, is_in, lo, hi, ks, Rs, sigs, tab_off, tabs, addr, sg, diffs,
              mode, tbptt, input_grad, n_chunks, gacc):  # pragma: no cover - compiled
    TD, N, B = G.shape
    T = TD - D
    for c in prange(n_chunks):
        b0 = (c * B) // n_chunks
        nb = ((c + 1) * B) // n_chunks - b0
        acc = gacc[c]
        gu = np.empty(nb, np.float32)
        gs = np.empty(nb, np.float32)
        ai = np.empty(nb, np.int64)
        keep = np.empty(nb, np.float32)
        for t in range(T - 1, -1, -1):
            row = D + t
            phase = t % tbptt if tbptt > 0 else T + D  # "no boundary" is larger than any delay
            for li in range(lo.shape[0] - 1, -1, -1):
                k = ks[li]
                R = Rs[li]
                for j in range(lo[li], hi[li]):
                    s_j = sigs[li] + j - lo[li]
                    off = tab_off[j]
                    # separate short loops over the batch slice, each simple enough to vectorize
                    for b in range(nb):
                        ai[b] = off + np.int64(addr[t, j, b0 + b])
                        gu[b] = G[row, s_j, b0 + b]
                    if R > 0 and mode != 1:
                        for b in range(nb):
                            keep[b] = 1.0
                        for q in range(1, R + 1):
                            for b in range(nb):
                                if hist[row - q, s_j, b0 + b]:
                                    keep[b] = 0.0
                        if mode == 2:
                            for b in range(nb):
                                gs[b] = gu[b] * np.float32(tabs[ai[b]])
                            for r in range(1, R + 1):
                                if phase < r:
                                    continue  # reading s[t - r] crosses a tbptt boundary
                                for b in range(nb):
                                    excl = np.float32(1.0)
                                    for q in range(1, R + 1):
                                        if q != r:
                                            excl *= np.float32(1 - hist[row - q, s_j, b0 + b])
                                    G[row - r, s_j, b0 + b] -= gs[b] * excl
                        for b in range(nb):
                            gu[b] *= keep[b]
                    for b in range(nb):
                        gu[b] *= sg[ai[b]]
                    for b in range(nb):
                        acc[ai[b]] += gu[b]
                    for p in range(k):
                        d = dly[j, p]
                        if d > phase or (is_in[j, p] and not input_grad):
                            continue
                        r = row - d
                        g = gidx[j, p]
                        for b in range(nb):
                            G[r, g, b0 + b] += diffs[p, ai[b]] * gu[b]


def backward(plan: NetPlan, thetas: Sequence[np.ndarray], fwd: Forward,
             g_spikes: Sequence[np.ndarray | None], surrogate: Surrogate,
             refractory_grad: str = "block", tap_grad: str = "tanh", tbptt: int = 0,
             input_grad: bool = False) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Compiled :func:`spikelut.train.bptt.backward`: same arguments, same results (float32)."""
    if fwd.soft:
        return bptt.backward(plan, thetas, fwd, g_spikes, surrogate, refractory_grad, tap_grad,
                             tbptt, input_grad)
    plan = plan.for_steps(fwd.T)  # the plan the forward pass ran
    bptt.check_backward_args(plan, thetas, g_spikes, refractory_grad, tbptt)
    T, B, D = fwd.T, fwd.B, plan.D
    f = _flat(plan)
    thetas = [np.asarray(th, dtype=np.float32) for th in thetas]
    G = bptt.spike_grad_history(plan, T, B, g_spikes, np)
    total = int(f["tab_off"][-1])
    diffs = np.zeros((K_MAX, total), np.float32)
    # surrogate'(theta[addr]) depends on the table entry only: evaluate it once per entry
    sg = np.empty(total, np.float32)
    tabs = np.empty(total, np.uint8)
    for i, (lp, th) in enumerate(zip(plan.layers, thetas)):
        o0, o1 = table_span(f, i)
        diffs[:lp.k, o0:o1] = tap_differences(th, tap_grad)
        flat = th.ravel()
        sg[o0:o1] = surrogate.grad(flat)
        tabs[o0:o1] = (flat > 0)
    n_chunks = _chunks(B)
    gacc = np.zeros((n_chunks, total), np.float64)
    addr = np.concatenate(fwd.addr, axis=1) if len(fwd.addr) > 1 else fwd.addr[0]
    _backward(G, fwd.hist, D, f["gidx"], f["dly"], f["is_in"], f["lo"], f["hi"], f["k"], f["R"],
              f["sig"], f["tab_off"], tabs, np.ascontiguousarray(addr), sg, diffs,
              _MODES[refractory_grad], int(tbptt), bool(input_grad), n_chunks, gacc)
    return unflatten_grads(plan, f, gacc.sum(axis=0), G, input_grad)


def table_span(f: dict, i: int) -> tuple[int, int]:
    """Where layer ``i``'s tables sit in the flat (all layers) table arrays of :func:`_flat`."""
    return int(f["tab_off"][f["lo"][i]]), int(f["tab_off"][f["hi"][i]])


def unflatten_grads(plan: NetPlan, f: dict, acc: Any, G: Any, input_grad: bool
                    ) -> tuple[list[Any], Any | None]:
    """Per-layer float32 logit gradients ``[n_i, 2**k_i]`` from the flat accumulator ``acc``,
    and the input gradient ``[T, B, n_in]`` from the gradient history (numpy or CuPy)."""
    grads = []
    for i, lp in enumerate(plan.layers):
        o0, o1 = table_span(f, i)
        grads.append(acc[o0:o1].reshape(lp.n, 1 << lp.k).astype(np.float32))
    g_in = G[plan.D:, :plan.n_in].transpose(0, 2, 1).copy() if input_grad else None
    return grads, g_in
