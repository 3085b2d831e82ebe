"""Compiled (numba) forward and backward passes of training, drop-in for :mod:`.bptt`.

:func:`forward` and :func:`backward` have the signatures and results of
:func:`spikelut.train.bptt.forward` / :func:`spikelut.train.bptt.backward` (the reference, whose
docstring states the maths): spikes and LUT addresses are identical, gradients equal within
float32 rounding (sums run in another order). They hold no semantics of their own and are tested
against ``bptt.py`` for every option (refractory_grad block/pass/full, tap_grad tanh/identity,
tbptt, input gradients).

How they are fast and small (``docs/training-speed.md``):

* **Every thread works at any batch size, deterministically.** Samples never interact, so
  threads split the batch (any split: a sample's spikes and spike gradients are computed in the
  same order whatever the split), with no barrier per cycle or layer (a numba parallel region
  costs tens of microseconds, which per cycle and layer would eat the gain): 2 threads split a
  batch of 25 into 12 + 13 samples. The one sum across samples, a logit's gradient, runs in a
  second pass over nodes (:func:`_accumulate`): per block of cycles (:func:`block_cycles`) the
  backward pass hands over each node's ``g_u`` and table entry, and each table entry sums them in
  the order (cycle descending, sample) in float64. One thread sums in that same order in the node
  pass itself, with no hand-over. So 1, 2 or 3 threads give bit-identical gradients and kept
  tables, and a node's ``2**k`` sums stay in the cache.
* **Spikes are stored as bits.** The forward pass keeps every signal's history packed along time,
  ``bits [N, B, ceil((D + T) / 64)]`` uint64 (bit ``row & 63`` of word ``row >> 6``), one bit per
  spike instead of a byte. Both passes work on a small unpacked window of the last ``W`` rows
  (:func:`window_rows`: a ring, uint8 ``[W, N, b]`` per thread; slot ``row & (W - 1)``), so the
  inner loops stay byte-wise while the record grows by ``N * B / 8`` bytes per cycle.
* **Addresses are stored while small, else recomputed.** The forward pass stores the LUT addresses
  (uint8, uint16 where a layer has ``k > 8``) while they fit in :data:`ADDR_BUDGET`; past it the
  backward pass rebuilds each address from the history ring (``k`` byte loads per sample).
* **The spike gradient is a ring too.** Row ``t`` of ``dL/ds`` only receives contributions from
  cycles ``t .. t + D``, so the backward pass keeps ``W`` float32 rows per thread instead of
  ``D + T``; the loss's ``dL/ds`` is read from the caller's per-layer arrays. BPTT memory is
  therefore ``N * B / 8`` bytes of spikes per cycle (plus addresses within the budget) and a
  ``T``-independent working set (:func:`memory_estimate`).
* **Tap differences on the fly.** ``f(theta)[a | 1<<p] - f(theta)[a & ~(1<<p)]`` is computed from
  the node's own ``2**k`` values of ``f(theta)`` (a few cache lines) when it is needed, not read
  from a precomputed ``[k, entries]`` array at random; the float32 values are the reference's.

What stays in numpy: the surrogate derivative (any registered Python surrogate works;
``u = theta[addr]`` takes only the table's values, so it is evaluated once per table entry) and
``tanh`` of the logits, once per batch.

The relaxed (soft) model of :func:`spikelut.train.bptt.relaxed_forward` is a test tool;
:func:`backward` hands it to the reference.

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

from ..errors import ConfigError, ShapeError
from ..lowering import Lowered
from ..network import K_MAX
from ..threads import numba_team, spare_cpus
from . import bptt
from .bptt import Forward, NetPlan
from .surrogates import Surrogate

_MODES = {"block": 0, "pass": 1, "full": 2}
#: the most bytes of LUT addresses :func:`forward` stores for the backward pass (beyond, it
#: keeps only the spike bits and the backward pass recomputes addresses from them)
ADDR_BUDGET = 256 << 20


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


#: fewest samples a thread of the default rule gets (:func:`thread_bounds`); measured, see there
MIN_SAMPLES_PER_THREAD = 128


def thread_bounds(B: int, threads: int | None = None, spare: int | None = None) -> np.ndarray:
    """The samples each thread takes: int64 boundaries ``[Q + 1]``, ``Q = min(threads, B)``, as
    even as possible.

    With ``threads=None`` (the default) ``Q`` is numba's thread count, but never more than the
    CPUs not running another task right now (``spare``; :func:`spikelut.threads.spare_cpus`
    when ``None``): a pass waits for its slowest thread, so a thread that must share its core
    with another process makes the whole batch slower than one thread would (issue 12 item 15,
    docs/training-speed.md). Nor does a thread get fewer than :data:`MIN_SAMPLES_PER_THREAD`
    samples: on the 2-core machine of BENCHMARKS.md a second thread gained nothing measurable at
    batch 25 or 64 and at most 1.1x at 256, and lost up to 13% on a quiet machine. Results do
    not depend on ``Q`` (module docstring), so the choice is free to follow the load.

    Example:
        >>> thread_bounds(25, 2).tolist()
        [0, 12, 25]
        >>> len(thread_bounds(25, spare=2)) - 1      # 25 samples: too few to share
        1
        >>> len(thread_bounds(512, spare=1)) - 1     # another task holds the other CPU
        1
    """
    if threads is None:
        threads = min(numba.get_num_threads(), spare_cpus() if spare is None else spare,
                      B // MIN_SAMPLES_PER_THREAD)
    Q = max(1, min(int(threads), B))
    return (np.arange(Q + 1, dtype=np.int64) * B) // Q


def window_rows(D: int) -> int:
    """Rows of a history window (ring): the power of two ``>= D + 1``, so a slot is
    ``row & (W - 1)`` (no division in the inner loops)."""
    return 1 << max(0, int(D)).bit_length()


def block_cycles(n_nodes: int, B: int, T: int) -> int:
    """Cycles per backward block: the block's ``g_u`` and table-entry buffers ``[cycles, N, B]``
    hold at most 8 M values (64 MB) whatever ``T``; few blocks, because each block is two
    parallel regions, and a parallel region waits for its slowest thread (costly on a busy
    machine)."""
    return max(1, min(T, (1 << 23) // max(1, n_nodes * B)))


# ---------------------------------------------------------------------------- bit history
@njit(cache=True, nogil=True, inline="always")
def _bit(bits, s, b, row):  # pragma: no cover - compiled
    return np.uint8((bits[s, b, row >> 6] >> np.uint64(row & 63)) & np.uint64(1))


@njit(cache=True, nogil=True)
def _unpack(bits, sig0, n, D, T, out):  # pragma: no cover - compiled
    # out[t, b, j] = spike of signal sig0 + j at cycle t (row D + t); serial: one layer is small
    B = bits.shape[1]
    for b in range(B):
        for t in range(T):
            for j in range(n):
                out[t, b, j] = _bit(bits, sig0 + j, b, D + t)


@njit(cache=True, parallel=True, nogil=True)
def _unpack_hist(bits, out):  # pragma: no cover - compiled
    # out[row, s, b] for every row of the record
    TD, N, B = out.shape
    for s in prange(N):
        for row in range(TD):
            for b in range(B):
                out[row, s, b] = _bit(bits, s, b, row)


@njit(cache=True, parallel=True, nogil=True)
def _addresses(bits, D, T, gidx, dly, lo, hi, ks, out):  # pragma: no cover - compiled
    # out[t, j, b]: LUT address of node j at cycle t (the stored addresses of bptt.forward)
    B = bits.shape[1]
    for li in range(lo.shape[0]):
        k = ks[li]
        for j in prange(lo[li], hi[li]):
            for t in range(T):
                row = D + t
                for b in range(B):
                    a = 0
                    for p in range(k):
                        a |= np.int64(_bit(bits, gidx[j, p], b, row - dly[j, p])) << p
                    out[t, j, b] = a


@njit(cache=True, nogil=True)
def _load_row(bits, row, b0, nb, ring, slot):  # pragma: no cover - compiled
    # unpack one row of the record (samples b0 .. b0 + nb) into a slot of the window
    N = bits.shape[0]
    w = row >> 6
    sh = np.uint64(row & 63)
    one = np.uint64(1)
    for s in range(N):
        for b in range(nb):
            ring[slot, s, b] = np.uint8((bits[s, b0 + b, w] >> sh) & one)


class PackedForward(Forward):
    """What :func:`forward` keeps: the spike record as bits (see the module docstring).

    Reads like :class:`~spikelut.train.bptt.Forward`: :meth:`spikes` unpacks one layer; ``hist``
    and ``addr`` (the reference's full uint8 history and stored addresses) are unpacked or
    recomputed on access, for tests and studies; training never builds them.
    ``bits``: uint64 ``[n_signals, B, ceil((D + T) / 64)]``, bit ``row & 63`` of word ``row >> 6``
    = the signal at row ``row`` (``D + t`` = cycle ``t``); ``stored``: the addresses of all
    layers ``[T, N, B]`` when :func:`forward` kept them, else ``None``.
    """

    def __init__(self, plan: NetPlan, bits: np.ndarray, T: int, B: int, save: bool,
                 stored: np.ndarray | None = None) -> None:
        self.plan, self.bits, self.T, self.B, self.save = plan, bits, T, B, save
        #: the stored addresses ``[T, N, B]`` of all layers, or ``None`` (recomputed from bits)
        self.stored = stored
        self.soft, self.x, self.u, self.a = False, [], [], []

    def __repr__(self) -> str:
        return f"PackedForward(T={self.T}, B={self.B}, bits={self.bits.shape})"

    @property
    def hist(self) -> np.ndarray:  # type: ignore[override]
        """The full history ``[D + T, n_signals, B]`` uint8 (unpacked on each access)."""
        out = np.empty((self.plan.D + self.T, self.plan.n_signals, self.B), np.uint8)
        _unpack_hist(self.bits, out)
        return out

    @property
    def addr(self) -> list[np.ndarray]:  # type: ignore[override]
        """Per layer the LUT addresses ``[T, n, B]`` (uint8; uint16 where ``k > 8``), recomputed
        from the bits; ``[]`` for a forward pass run with ``save=False``."""
        if not self.save:
            return []
        f = _flat(self.plan)
        out = self.stored
        if out is None:
            out = np.empty((self.T, f["n_nodes"], self.B), self.plan.lowered.addr_dtype)
            _addresses(self.bits, self.plan.D, self.T, f["gidx"], f["dly"], f["lo"], f["hi"],
                       f["k"], out)
        return [np.ascontiguousarray(out[:, lo:hi]) for lo, hi in zip(f["lo"], f["hi"])]

    def spikes(self, i: int) -> np.ndarray:
        """Layer ``i``'s spikes ``[T, B, n]`` uint8 (unpacked)."""
        lp = self.plan.layers[i]
        out = np.empty((self.T, self.B, lp.n), np.uint8)
        _unpack(self.bits, lp.offset, lp.n, self.plan.D, self.T, out)
        return out


# ---------------------------------------------------------------------------- forward
@njit(cache=True, parallel=True, nogil=True)
def _forward(bits, x, D, W, gidx, dly, lo, hi, ks, Rs, sigs, tabs, tab_off, tb, addr, save):
    # pragma: no cover - compiled
    N = bits.shape[0]
    T, _, n_in = x.shape
    M = W - 1
    for q in prange(tb.shape[0] - 1):
        b0 = tb[q]
        nb = tb[q + 1] - b0
        ring = np.zeros((W, N, nb), np.uint8)  # the last W rows; row r in slot r & M
        a = np.empty(nb, np.int64)
        for t in range(T):
            row = D + t
            slot = row & M
            w = row >> 6
            sh = np.uint64(row & 63)
            # no clearing of the slot (it held row - W): every signal is written before it is read
            # (a tap at delay 0 reads an earlier layer or an input, checked by Network.validate)
            for i in range(n_in):
                for b in range(nb):
                    v = x[t, b0 + b, i]
                    ring[slot, i, b] = v
                    bits[i, b0 + b, w] |= np.uint64(v) << sh
            for li in range(lo.shape[0]):
                k = ks[li]
                R = Rs[li]
                for j in range(lo[li], hi[li]):
                    s_j = sigs[li] + j - lo[li]
                    for b in range(nb):
                        a[b] = 0
                    for p in range(k):
                        rs = (row - dly[j, p]) & M
                        g = gidx[j, p]
                        for b in range(nb):
                            a[b] |= np.int64(ring[rs, g, b]) << p
                    off = tab_off[j]
                    for b in range(nb):
                        s = tabs[off + a[b]]
                        for r in range(1, R + 1):
                            if ring[(row - r) & M, s_j, b]:
                                s = 0
                        ring[slot, s_j, b] = s
                        bits[s_j, b0 + b, w] |= np.uint64(s) << sh
                    if save:
                        for b in range(nb):
                            addr[t, j, b0 + b] = a[b]


def forward(plan: NetPlan, tables: Sequence[np.ndarray], x: np.ndarray, save: bool = True,
            keep_addr: bool | None = None) -> "PackedForward":
    """Compiled :func:`spikelut.train.bptt.forward` (numpy arrays): the same spikes (``hist``) and
    addresses (``addr``), spikes kept as bits (:class:`PackedForward`).

    With ``save`` (for a backward pass) the LUT addresses are stored (uint8, uint16 where a layer
    has ``k > 8``: ``T * N * B`` values, faster to read back than to recompute) when ``keep_addr``
    says so; ``None`` (default) stores them while they take at most :data:`ADDR_BUDGET` bytes, so
    long sequences keep only bits and the backward pass recomputes addresses from them.

    Raises:
        ShapeError: ``x`` is not ``[T, B, n_in]`` or a table has the wrong shape.
    """
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != plan.n_in:
        raise ShapeError(f"input spikes must be [T, B, {plan.n_in}], got shape {x.shape}")
    bptt._check_tables(plan, tables, "tables")
    T, B, _ = x.shape
    plan = plan.for_steps(T)  # history of T + 1 rows at most: older reads are zero
    f = _flat(plan)
    bits = np.zeros((plan.n_signals, B, (plan.D + T + 63) >> 6), np.uint64)
    tabs = np.concatenate([np.ascontiguousarray(t, dtype=np.uint8).ravel() for t in tables])
    dt = plan.lowered.addr_dtype
    if keep_addr is None:
        keep_addr = T * f["n_nodes"] * B * np.dtype(dt).itemsize <= ADDR_BUDGET
    keep_addr = bool(save and keep_addr)
    addr = np.empty((T, f["n_nodes"], B) if keep_addr else (1, 1, 1), dt)
    tb = thread_bounds(B)
    with numba_team(len(tb) - 1):
        _forward(bits, np.ascontiguousarray(x, dtype=np.uint8), plan.D, window_rows(plan.D),
                 f["gidx"], f["dly"], f["lo"], f["hi"], f["k"], f["R"], f["sig"], tabs,
                 f["tab_off"], tb, addr, keep_addr)
    return PackedForward(plan, bits, T, B, save, addr if keep_addr else None)


# ---------------------------------------------------------------------------- backward
@njit(cache=True, parallel=True, nogil=True)
def _backward(bits, D, T, t_hi, t_lo, gidx, dly, is_in, lo, hi, ks, Rs, sigs, n_in, tab_off, tabs,
              sg, fth, gext, ext_of, mode, tbptt, input_grad, g_in, tb, ring, G, gu_blk, ai_blk,
              addr, have_addr, acc):
    # pragma: no cover - compiled
    # cycles t_hi - 1 down to t_lo; ring / G (per thread, row r in slot r & M) carry over between
    # calls; gu_blk / ai_blk [t_hi - 1 - t, j, b] receive g_u and the table entry of every node,
    # or, with one thread (gu_blk empty), g_u goes straight into acc: the same order per entry
    N = bits.shape[0]
    W = ring.shape[1]
    M = W - 1
    direct = gu_blk.shape[0] == 0
    for q in prange(tb.shape[0] - 1):
        b0 = tb[q]
        nb = tb[q + 1] - b0
        rq = ring[q]
        Gq = G[q]
        gu = np.empty(nb, np.float32)
        gs = np.empty(nb, np.float32)
        ai = np.empty(nb, np.int64)
        keep = np.empty(nb, np.float32)
        if t_hi == T and not have_addr:  # first call: the last W rows of the record
            for row in range(max(0, D + T - W), D + T):
                _load_row(bits, row, b0, nb, rq, row & M)
        for t in range(t_hi - 1, t_lo - 1, -1):
            row = D + t
            slot = row & M
            tt = t_hi - 1 - t
            phase = t % tbptt if tbptt > 0 else T + D  # "no boundary" is larger than any delay
            for li in range(lo.shape[0] - 1, -1, -1):
                k = ks[li]
                R = Rs[li]
                for j in range(lo[li], hi[li]):
                    s_j = sigs[li] + j - lo[li]
                    off = tab_off[j]
                    e = ext_of[s_j]
                    if e >= 0:
                        for b in range(nb):
                            gu[b] = Gq[slot, s_j, b] + gext[t, e, b0 + b]
                    else:
                        for b in range(nb):
                            gu[b] = Gq[slot, s_j, b]
                    if have_addr:
                        for b in range(nb):
                            ai[b] = off + np.int64(addr[t, j, b0 + b])
                    else:  # the address, recomputed from the window
                        for b in range(nb):
                            ai[b] = off
                        for p in range(k):
                            rs = (row - dly[j, p]) & M
                            g = gidx[j, p]
                            for b in range(nb):
                                ai[b] += np.int64(rq[rs, g, b]) << p
                    if R > 0 and mode != 1:
                        for b in range(nb):
                            keep[b] = 1.0
                        for r in range(1, R + 1):
                            for b in range(nb):
                                if _bit(bits, s_j, b0 + b, row - r):
                                    keep[b] = 0.0
                        if mode == 2:
                            for b in range(nb):
                                gs[b] = gu[b] * np.float32(tabs[ai[b]])
                            for r in range(1, R + 1):
                                if phase < r:
                                    continue  # reading s[t - r] crosses a tbptt boundary
                                rr = (row - r) & M
                                for b in range(nb):
                                    excl = np.float32(1.0)
                                    for qq in range(1, R + 1):
                                        if qq != r:
                                            excl *= np.float32(1 - _bit(bits, s_j, b0 + b, row - qq))
                                    Gq[rr, s_j, b] -= gs[b] * excl
                        for b in range(nb):
                            gu[b] *= keep[b]
                    for b in range(nb):
                        gu[b] *= sg[ai[b]]
                    if direct:
                        for b in range(nb):
                            acc[ai[b]] += gu[b]
                    else:
                        for b in range(nb):
                            gu_blk[tt, j, b0 + b] = gu[b]
                        if not have_addr:  # else _accumulate reads the stored addresses
                            for b in range(nb):
                                ai_blk[tt, j, b0 + b] = ai[b]
                    for p in range(k):
                        d = dly[j, p]
                        if d > phase or (is_in[j, p] and not input_grad):
                            continue
                        rs = (row - d) & M
                        g = gidx[j, p]
                        bit = np.int64(1) << p
                        for b in range(nb):  # f(theta)[a | bit] - f(theta)[a & ~bit]: 4 cache lines
                            a = ai[b] - off
                            Gq[rs, g, b] += (fth[off + (a | bit)] - fth[off + (a & ~bit)]) * gu[b]
            # row is final: hand out the input gradient, then reuse the slot for row - W
            if input_grad:
                for i in range(n_in):
                    for b in range(nb):
                        g_in[t, b0 + b, i] = Gq[slot, i, b]
            for s in range(N):
                for b in range(nb):
                    Gq[slot, s, b] = 0.0
            if row - W >= 0 and not have_addr:
                _load_row(bits, row - W, b0, nb, rq, slot)


@njit(cache=True, parallel=True, nogil=True)
def _accumulate(gu_blk, ai_blk, t_hi, n_t, acc, addr, have_addr, tab_off):
    # pragma: no cover - compiled
    # acc[entry] += g_u per node, in the order (cycle descending, sample): the same order for every
    # thread count, and a node's 2**k entries stay in the cache. The entry: the stored address
    # (1 byte) where there is one, else the hand-over (4 bytes)
    _, n, B = gu_blk.shape
    for j in prange(n):
        off = tab_off[j]
        for tt in range(n_t):
            if have_addr:
                t = t_hi - 1 - tt
                for b in range(B):
                    acc[off + np.int64(addr[t, j, b])] += gu_blk[tt, j, b]
            else:
                for b in range(B):
                    acc[ai_blk[tt, j, b]] += gu_blk[tt, j, b]


def backward(plan: NetPlan, thetas: Sequence[np.ndarray], fwd: Forward,
             g_spikes: Sequence[np.ndarray | None], surrogate: Surrogate,
             refractory_grad: str = "block", tap_grad: str = "tanh", tbptt: int = 0,
             input_grad: bool = False) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Compiled :func:`spikelut.train.bptt.backward`: same arguments, same results (float32).

    ``fwd`` is this module's :class:`PackedForward` (a reference :class:`Forward` is packed first;
    a relaxed one goes to the reference). Logit gradients are bit-identical for every thread count.

    Raises:
        ConfigError: an unknown ``refractory_grad`` or ``tap_grad``, or a negative ``tbptt``.
        ShapeError: logits or ``g_spikes`` of the wrong shape.
    """
    if fwd.soft:
        return bptt.backward(plan, thetas, fwd, g_spikes, surrogate, refractory_grad, tap_grad,
                             tbptt, input_grad)
    if not isinstance(fwd, PackedForward):
        fwd = _pack(fwd)
    plan = plan.for_steps(fwd.T)  # the plan the forward pass ran
    bptt.check_backward_args(plan, thetas, g_spikes, refractory_grad, tbptt)
    if tap_grad not in bptt.TAP_GRAD:
        raise ConfigError(f"unknown tap_grad {tap_grad!r}; choose one of {', '.join(bptt.TAP_GRAD)}")
    T, B, D = fwd.T, fwd.B, plan.D
    f = _flat(plan)
    th = np.concatenate([np.asarray(t, dtype=np.float32).ravel() for t in thetas])
    total = th.size
    # surrogate'(theta[addr]) depends on the table entry only: evaluate it once per entry
    sg = np.asarray(surrogate.grad(th), np.float32)
    fth = np.tanh(th) if tap_grad == "tanh" else th
    fth = np.ascontiguousarray(fth, dtype=np.float32)
    tabs = (th > 0).view(np.uint8)
    gext, ext_of = _loss_grads(plan, T, B, g_spikes)
    tb = thread_bounds(B)
    shape = (len(tb) - 1, window_rows(D), plan.n_signals, int(np.diff(tb).max()))
    ring, G = np.zeros(shape, np.uint8), np.zeros(shape, np.float32)
    # one thread sums each entry in the order of the node pass itself: no hand-over needed
    Tb = T if len(tb) == 2 else block_cycles(f["n_nodes"], B, T)
    blk = (0, 1, 1) if len(tb) == 2 else (Tb, f["n_nodes"], B)
    have = fwd.stored is not None
    gu_blk = np.empty(blk, np.float32)
    ai_blk = np.empty((0, 1, 1) if have else blk, np.int32 if total < 2**31 else np.int64)
    acc = np.zeros(total, np.float64)
    g_in = np.zeros((T, B, plan.n_in) if input_grad else (1, 1, 1), np.float32)
    addr = fwd.stored if have else np.zeros((1, 1, 1), np.uint8)
    with numba_team(len(tb) - 1):
        for t_hi in range(T, 0, -Tb):
            t_lo = max(0, t_hi - Tb)
            _backward(fwd.bits, D, T, t_hi, t_lo, f["gidx"], f["dly"], f["is_in"], f["lo"],
                      f["hi"], f["k"], f["R"], f["sig"], plan.n_in, f["tab_off"], tabs, sg, fth,
                      gext, ext_of, _MODES[refractory_grad], int(tbptt), bool(input_grad), g_in,
                      tb, ring, G, gu_blk, ai_blk, addr, have, acc)
            if blk[0]:
                _accumulate(gu_blk, ai_blk, t_hi, t_hi - t_lo, acc, addr, have, f["tab_off"])
    flat = acc.astype(np.float32)
    grads = []
    for i, lp in enumerate(plan.layers):
        o0, o1 = table_span(f, i)
        grads.append(flat[o0:o1].reshape(lp.n, 1 << lp.k))
    return grads, (g_in if input_grad else None)


def _loss_grads(plan: NetPlan, T: int, B: int, g_spikes: Sequence[Any]
                ) -> tuple[np.ndarray, np.ndarray]:
    """The non-``None`` ``g_spikes`` as one float32 ``[T, n, B]`` array over the layers that have
    one, and per signal its row there (``-1``: none)."""
    ext_of = np.full(plan.n_signals, -1, np.int64)
    parts = []
    n = 0
    for lp, g in zip(plan.layers, g_spikes):
        if g is None:
            continue
        if g.shape != (T, B, lp.n):
            raise ShapeError(f"g_spikes entry has shape {g.shape}, expected {(T, B, lp.n)}")
        parts.append(np.asarray(g, np.float32).transpose(0, 2, 1))
        ext_of[lp.offset:lp.offset + lp.n] = np.arange(n, n + lp.n)
        n += lp.n
    gext = np.ascontiguousarray(np.concatenate(parts, axis=1)) if parts else np.zeros((T, 0, B), np.float32)
    return gext, ext_of


def _pack(fwd: Forward) -> PackedForward:
    """A reference :class:`Forward` as bits (its ``hist`` packed along time)."""
    hist = np.asarray(fwd.hist)
    TD, N, B = hist.shape
    pad = np.zeros((N, B, ((TD + 63) >> 6) * 64), np.uint8)
    pad[:, :, :TD] = hist.transpose(1, 2, 0)
    bits = np.packbits(pad, axis=2, bitorder="little").view("<u8").astype(np.uint64)
    stored = np.ascontiguousarray(np.concatenate(fwd.addr, axis=1)) if fwd.addr else None
    return PackedForward(fwd.plan, np.ascontiguousarray(bits), fwd.T, fwd.B, bool(fwd.addr), stored)


def memory_estimate(plan: NetPlan, T: int, B: int, threads: int | None = None,
                    input_grad: bool = False, keep_addr: bool | None = None) -> dict[str, int]:
    """Bytes the compiled passes hold for one training batch of ``B`` samples and ``T`` cycles.

    Returns a dict: ``spike_bits`` (the packed record, ``N * B / 8`` bytes per cycle),
    ``addresses`` (stored LUT addresses, 0 past :data:`ADDR_BUDGET` or with ``keep_addr=False``),
    ``window`` (per-thread spike and gradient rings of :func:`window_rows` rows), ``blocks`` (the
    ``g_u`` / entry hand-over of one block of cycles; none with one thread), ``tables`` (logits, surrogate and ``tanh``
    values, float64 sums, gradients), ``loss_grad`` (the readout's ``dL/ds`` the loss hands in),
    ``input_grad`` and ``total``. The reference (:mod:`.bptt`) holds a uint8 history, uint8
    addresses and a float32 gradient of ``D + T`` rows each, about ``6 * N * B * (D + T)`` bytes.

    Raises:
        ConfigError: ``T`` or ``B`` is not an integer >= 1.

    Example:
        >>> from spikelut.wiring import random_network
        >>> plan = bptt.compile_plan(random_network(0, n_in=4, sizes=[8, 2], k=3, classes=2))
        >>> memory_estimate(plan, 64, 10, threads=1)["spike_bits"]  # 14 signals, 10 samples, 2 words
        2240
    """
    for name, v in (("T", T), ("B", B)):  # a negative size gave negative byte counts
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"memory_estimate: {name} = {v!r} must be an integer >= 1 "
                              f"({'cycles' if name == 'T' else 'samples per batch'})")
    plan = plan.for_steps(T)
    f = _flat(plan)
    N, W, n_nodes = plan.n_signals, window_rows(plan.D), f["n_nodes"]
    tb = thread_bounds(B, threads)
    total = int(f["tab_off"][-1])
    addr = T * n_nodes * B * np.dtype(plan.lowered.addr_dtype).itemsize
    if keep_addr is None:
        keep_addr = addr <= ADDR_BUDGET
    est = {
        "spike_bits": N * B * ((plan.D + T + 63) >> 6) * 8,
        "addresses": addr if keep_addr else 0,
        "window": W * N * (len(tb) - 1) * int(np.diff(tb).max()) * 5,
        "blocks": 0 if len(tb) == 2 else block_cycles(n_nodes, B, T) * n_nodes * B * (
            4 if keep_addr else 8),
        "tables": total * (4 + 4 + 4 + 1 + 8 + 4),
        "loss_grad": T * plan.sizes[plan.lowered.readout.layer] * B * 4,
        "input_grad": T * B * plan.n_in * 4 if input_grad else 0,
    }
    est["total"] = sum(est.values())
    return est


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
