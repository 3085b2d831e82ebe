"""Compiled (numba) forward and backward passes of training, drop-in for :mod:`.bptt`.

:func:`forward` and :func:`backward` have the signatures and results of
:func:`spikelut.train.bptt.forward` / :func:`spikelut.train.bptt.backward` (the reference, whose
docstring states the maths): spikes and LUT addresses are identical, gradients equal within
float32 rounding (sums run in another order). They hold no semantics of their own and are tested
against ``bptt.py`` for every option (refractory_grad block/pass/full, tap_grad tanh/identity,
tbptt, input gradients).

How they are fast and small (``docs/training-speed.md``):

* **Every thread works at any batch size, deterministically.** Within a cycle the nodes of a
  layer are independent, so threads split the *nodes*: a pass is one parallel region whose
  threads claim tasks (a block of one layer's nodes at one cycle,
  :func:`~.tasks.cycle_pattern`) from a shared counter in one fixed order, and a task starts
  once every task of the earlier stages is done (the order: :mod:`.tasks`; claiming and
  waiting: :mod:`.team`; no numba parallel region per cycle and layer, which would cost
  tens of microseconds each). A slower thread claims fewer blocks. Every value is computed by
  the one task of its node, in the same order whatever the split: a node's table entries sum
  their gradient over (cycle descending, sample) in float64, and the tap gradients go to their
  sources through a scatter stage per layer and cycle (:func:`~.tasks.scatter_groups`) in the order of
  a serial scatter. So 1, 2 or 3 threads give bit-identical gradients and kept tables (also at
  batch 1), equal to the previous passes'. :func:`pass_threads` gives the count a pass may use
  and :func:`tuned_threads` keeps it or one thread, whichever runs faster here.
* **Or a pipeline of layer groups.** Where the groups of layers of the blocks below can be cut
  into stages whose estimated costs let the threads gain (:func:`~.tasks.pipeline_stages`; in practice two
  threads), each stage is a queue of its own tasks, and a thread runs one stage over a block of
  cycles while another runs the next stage over the block before (:func:`~.tasks.pipeline_schedule`,
  :func:`~.team.next_queued`): one wait per stage and block instead of one per layer and cycle, and
  no scatter stage, since a cut never separates two groups whose terms reach one signal, so
  every row of ``dL/ds`` is written by one thread in the order of one thread (the bits of one
  thread, for any interleaving and team size). The MNIST-1D demo at batch 25 on two threads:
  {out, rec} | {front2, front}, 8.1-8.8 instead of 14.0-14.5 ms per backward pass. The
  bit-sliced forward pass (:mod:`.kernels_bits`) runs the same way, cycle by cycle.
* **Spikes are stored as bits.** The forward pass keeps every signal's history packed along time,
  ``bits [N, B, ceil((D + T) / 64)]`` uint64 (bit ``row & 63`` of word ``row >> 6``), one bit per
  spike instead of a byte; a node's task is the only writer of its signal's words. Both passes
  work on a small unpacked window of the last ``W`` rows (:func:`~.tasks.window_rows`: a ring, uint8
  ``[W, N, B]`` shared by the threads; slot ``row & (W - 1)``), so the inner loops stay
  byte-wise while the record grows by ``N * B / 8`` bytes per cycle.
* **Addresses are stored while small, else recomputed.** The forward pass stores the LUT addresses
  (uint8, uint16 where a layer has ``k > 8``) while they fit in :data:`ADDR_BUDGET`; past it the
  backward pass rebuilds each address from the history ring (``k`` byte loads per sample).
* **The spike gradient is a ring too.** Row ``t`` of ``dL/ds`` only receives contributions from
  cycles ``t .. t + D``, so the backward pass keeps ``W`` float32 rows instead of ``D + T``;
  the loss's ``dL/ds`` is read from the caller's per-layer arrays. BPTT memory is
  therefore ``N * B / 8`` bytes of spikes per cycle (plus addresses within the budget) and a
  ``T``-independent working set (:func:`memory_estimate`).
* **Blocks of cycles.** The backward pass runs a group of layers for a block of cycles (at most
  :data:`~.tasks.BLOCK_CYCLES`, as many as the rings' spare rows hold: :func:`~.tasks.block_cycles`) before
  the next group (:func:`~.tasks.layer_groups`, :func:`~.tasks.block_schedule`), so a group's tables
  (its float32 values and float64 sums, 1 KB per LUT6 node) stay in the cache over the block
  instead of being read again at every cycle; layers share a group where their terms of
  ``dL/ds`` would otherwise reach a row in another order, so the bits are those of the
  cycle-by-cycle pass. MNIST-1D demo (one thread, blocks of 3 cycles): 13.8 instead of 14.5 ms
  per pass at batch 25, 28.4 instead of 28.9 at batch 64; the pulse demo 18.3 instead of 19.5.
* **Tap differences on the fly.** ``f(theta)[a | 1<<p] - f(theta)[a & ~(1<<p)]`` is computed from
  the node's own ``2**k`` values of ``f(theta)`` (a few cache lines) when it is needed, not read
  from a precomputed ``[k, entries]`` array at random; the float32 values are the reference's.
  Where the CPU has AVX-512F, nodes with ``k <= 6`` look their table up for 16 samples at once
  with register permutes (:mod:`spikelut.train.simd`: the same values, bit for bit);
  ``SPIKELUT_SIMD=0`` keeps the scalar loop. Except with ``refractory_grad = "full"`` (whose
  extra terms keep the loop), such a node's whole step runs in 16-lane registers: its ``dL/ds``
  row, addresses and surrogate derivatives (:func:`~spikelut.train.simd.surrogate16`), its tap
  gradients, then its entry sums (:func:`~spikelut.train.simd.entry_sums16`: unrolled, in the
  loop's order, after the taps so that their adds do not wait behind the sums' chains of
  dependent adds): 13.3-14.9 instead of 16.8-18.7 ms per pass for the MNIST-1D demo at batch 25
  (docs/training-speed.md).

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

import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numba
import numpy as np
from numba import njit, prange

from ..errors import ConfigError, ShapeError
from ..network import K_MAX
from ..threads import ThreadTuner, forced_train_threads, numba_team, spare_cpus
from . import bptt, simd, tasks
from .bptt import Forward, NetPlan
from .simd import entry_sums16, scale16, surrogate16, tap_add16, tap_diffs16
from .surrogates import Surrogate
from .tasks import (INPUTS, LOAD, SCATTER, backward_tasks, block_cycles, cycle_pattern, node_arrays,
                    pipeline_stages, ring_rows, window_rows)
from .team import DONE, counters, fetch_add, finish, next_listed, next_staged, next_task

_MODES = {"block": 0, "pass": 1, "full": 2}
#: the most bytes of LUT addresses :func:`forward` stores for the backward pass (beyond, it
#: keeps only the spike bits and the backward pass recomputes addresses from them)
ADDR_BUDGET = 256 << 20


# zeroed arrays kept between backward passes: a pass leaves its ring of dL/ds all zero (every
# row it writes is read and cleared by its node; terms of rows no node reads, before cycle 0 or
# across a tbptt boundary, are skipped), and its float64 entry sums are read and cleared by
# _drain_sums; a fresh 4-9 MB ring and 2 MB of sums per pass cost about 1 ms of zeroing and
# page faults on the MNIST-1D demo. At most _POOL_KEEP arrays, the latest.
_POOL: list[np.ndarray] = []
_POOL_KEEP = 4
_POOL_LOCK = threading.Lock()


def _zeroed(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    """An array of ``shape`` and ``dtype``, all zero: from the pool if one is there, else new."""
    with _POOL_LOCK:
        for i, a in enumerate(_POOL):
            if a.shape == shape and a.dtype == dtype:
                return _POOL.pop(i)
    return np.zeros(shape, dtype)


def _give_back(a: np.ndarray) -> None:
    """Give an array that a completed pass left all zero back to the pool."""
    with _POOL_LOCK:
        _POOL.append(a)
        del _POOL[:-_POOL_KEEP]


@njit(cache=True, nogil=True)
def _drain_sums(acc, out):  # pragma: no cover - compiled
    # out = float32(acc) (numpy's astype: round to nearest) and acc = 0, in one pass
    for i in range(acc.shape[0]):
        out[i] = np.float32(acc[i])
        acc[i] = 0.0


#: default thread rule (:func:`pass_threads`): a thread is worth starting once the network has
#: this many node-samples per cycle for each thread (``n_nodes * B``). Measured on an idle
#: 2-core machine (forward + backward, 40 cycles, random 3-layer LUT6 networks with delays up
#: to 16, demos/bench_pass_threads.py, 2026-12-02): since one thread adds its tap gradients
#: straight into dL/ds (no stage buffer) and the forward is a bit shuffle per word, two threads
#: lost up to 67,200 node-samples at batch 25 (0.46-0.83x) and won from 89,600 (1.51x; 1.82x
#: at 134,400); at batch 64 they won from 57,344 (1.37-1.45x), at batch 5 broke even at
#: 35,840-71,680 (0.95-1.09x). So two threads from 90,112 node-samples a cycle: they never
#: lose there (some gains at batch 64 are left to one thread). It was 1,024 before the one-thread
#: path got faster.
MIN_NODE_SAMPLES_PER_THREAD = 45056

def pass_threads(n_nodes: int, B: int, threads: int | None = None,
                 spare: int | None = None, stages: int = 0) -> int:
    """Threads a compiled pass runs with (any count gives the same bits: module docstring).

    With ``threads=None`` (the default): the count ``SPIKELUT_TRAIN_THREADS`` forces
    (:func:`spikelut.threads.forced_train_threads`) if set; else numba's thread count, but never
    more than the CPUs not running another task right now (``spare``;
    :func:`spikelut.threads.spare_cpus` when ``None``: a pass waits at the end of each layer
    and cycle for the block a descheduled thread holds), nor more than one thread per
    :data:`MIN_NODE_SAMPLES_PER_THREAD` node-samples of a cycle (below, the per-cycle
    synchronisation of threads that split the nodes costs more than a thread gains), except
    that a pass that can run as a pipeline of ``stages`` stages (:func:`~.tasks.pipeline_stages`,
    :func:`spikelut.train.kernels_bits._forward_stages`) gets that many at any size: its
    threads wait once per stage and block, and the MNIST-1D demo's passes gained 1.34-1.46x on
    two threads even at batch 1. The batch size alone does not limit it: threads split the
    nodes, not the samples. The passes then run with this count or one thread, whichever they
    measure to be faster (:func:`tuned_threads`).

    Raises:
        ConfigError: ``SPIKELUT_TRAIN_THREADS`` is set to something other than an integer >= 1.

    Example:
        >>> pass_threads(4296, 25, threads=2)
        2
        >>> pass_threads(4296, 25, spare=1)           # another task holds the other CPU
        1
        >>> pass_threads(20, 5, spare=2)              # 100 node-samples a cycle: not worth it
        1
        >>> pass_threads(4296, 5, spare=2)            # the demo at batch 5: 21,480, too few
        1
        >>> q = pass_threads(4296, 5, spare=2, stages=2)  # ... to split nodes, not for a pipeline
        >>> q == min(2, numba.get_num_threads())          # (as many as numba has, up to 2)
        True
    """
    if threads is None:
        threads = forced_train_threads()
    if threads is None:
        threads = min(numba.get_num_threads(), spare_cpus() if spare is None else spare,
                      max(n_nodes * B // MIN_NODE_SAMPLES_PER_THREAD, stages))
    return max(1, int(threads))


#: the measured choice between one thread and :func:`pass_threads`'s count for every kind of
#: compiled pass (:class:`spikelut.threads.ThreadTuner`: the rule alone lost on the Intel
#: machine, where two threads made the MNIST-1D demo's passes slower)
TUNER = ThreadTuner(run=2)


@contextmanager
def tuned_threads(kind: str, n_nodes: int, B: int, stages: int = 0) -> Iterator[int]:
    """The threads of one pass of ``kind`` on ``n_nodes`` nodes and ``B`` samples (``stages``:
    the stages of a pipeline the pass can run, :func:`pass_threads`): yields the count and runs
    the block with numba's team of that size (:func:`spikelut.threads.numba_team`).
    Where :func:`pass_threads` allows more than one thread, the count is :data:`TUNER`'s choice
    and the block's time is reported to it; a count forced by ``SPIKELUT_TRAIN_THREADS`` is
    used as it is, unmeasured.

    Example:
        >>> with tuned_threads("doc", 20, 5) as q:   # too small for a second thread
        ...     q
        1
    """
    rule = pass_threads(n_nodes, B, stages=stages)
    if rule <= 1 or forced_train_threads() is not None:
        with numba_team(rule):
            yield rule
        return
    key = (kind, int(n_nodes), int(B))
    q = TUNER.choose(key, rule)
    t0 = time.perf_counter()
    with numba_team(q):
        yield q
    TUNER.record(key, q, rule, time.perf_counter() - t0)


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
        f = node_arrays(self.plan)
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
def _forward(bits, x, D, W, gidx, dly, lo, hi, ks, Rs, sigs, tabs, tab_off, addr, save, ring,
             p_kind, p_lo, p_hi, p_first, Q, ctr):
    # pragma: no cover - compiled
    # tasks in the order (cycle, stage, block): the inputs of cycle t, then each layer's nodes;
    # ring [W, N, B] is shared (row r in slot r & M); every node writes only its own signal
    T, B, n_in = x.shape
    M = W - 1
    P = p_kind.shape[0]
    for _q in prange(Q):
        a = np.empty(B, np.int64)
        while True:
            t, w_ = next_task(ctr, P, T, p_first)
            if t < 0:
                break
            row = D + t
            slot = row & M
            w = row >> 6
            sh = np.uint64(row & 63)
            kind = p_kind[w_]
            # no clearing of the slot (it held row - W, no longer read: every task of the previous
            # cycle is done): every signal is written before it is read (a tap at delay 0 reads an
            # earlier layer or an input, checked by Network.validate)
            if kind == INPUTS:
                for ii in range(p_lo[w_], p_hi[w_]):
                    for b in range(B):
                        v = x[t, b, ii]
                        ring[slot, ii, b] = v
                        bits[ii, b, w] |= np.uint64(v) << sh
            else:
                li = kind
                k = ks[li]
                R = Rs[li]
                for j in range(p_lo[w_], p_hi[w_]):
                    s_j = sigs[li] + j - lo[li]
                    for b in range(B):
                        a[b] = 0
                    for p in range(k):
                        rs = (row - dly[j, p]) & M
                        g = gidx[j, p]
                        for b in range(B):
                            a[b] |= np.int64(ring[rs, g, b]) << p
                    off = tab_off[j]
                    for b in range(B):
                        s = tabs[off + a[b]]
                        for r in range(1, R + 1):
                            if ring[(row - r) & M, s_j, b]:
                                s = 0
                        ring[slot, s_j, b] = s
                        bits[s_j, b, w] |= np.uint64(s) << sh
                    if save:
                        for b in range(B):
                            addr[t, j, b] = a[b]
            finish(ctr)


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
    f = node_arrays(plan)
    bits = np.zeros((plan.n_signals, B, (plan.D + T + 63) >> 6), np.uint64)
    tabs = np.concatenate([np.ascontiguousarray(t, dtype=np.uint8).ravel() for t in tables])
    dt = plan.lowered.addr_dtype
    if keep_addr is None:
        keep_addr = T * f["n_nodes"] * B * np.dtype(dt).itemsize <= ADDR_BUDGET
    keep_addr = bool(save and keep_addr)
    addr = np.empty((T, f["n_nodes"], B) if keep_addr else (1, 1, 1), dt)
    W = window_rows(plan.D)
    with tuned_threads("lookup_forward", f["n_nodes"], B) as Q:
        pat = cycle_pattern(Q, [(INPUTS, 0, plan.n_in)] + [
            (li, int(f["lo"][li]), int(f["hi"][li])) for li in range(len(f["lo"]))])
        _forward(bits, np.ascontiguousarray(x, dtype=np.uint8), plan.D, W, f["gidx"], f["dly"],
                 f["lo"], f["hi"], f["k"], f["R"], f["sig"], tabs, f["tab_off"], addr, keep_addr,
                 np.zeros((W, plan.n_signals, B), np.uint8), *pat, Q, counters())
    return PackedForward(plan, bits, T, B, save, addr if keep_addr else None)


# ---------------------------------------------------------------------------- backward
#: the SIMD path's limits as compile-time constants of the kernel (numba freezes module globals)
_SIMD_K = simd.MAX_K
_LANES = simd.LANES


def _padded(B: int, simd_on: bool) -> int:
    """Samples per row of the backward pass's ``dL/ds`` ring and stage buffer: ``B`` rounded up to
    whole 16-lane registers where the SIMD path runs (its pads stay 0), else ``B``."""
    return -(-B // _LANES) * _LANES if simd_on else B


@njit(cache=True, nogil=True, inline="always")
def _fired16(bits, s, b0, B, row, R, mode):  # pragma: no cover - compiled
    # the refractory gate of samples b0 .. b0 + 15 of signal s as a lane mask: bit i set where
    # sample b0 + i fired in one of the R cycles before (refractory_grad "block" only)
    m = np.int64(0)
    if R > 0 and mode == 0:
        for i in range(min(_LANES, B - b0)):
            f = np.int64(0)
            for r in range(1, R + 1):
                f |= np.int64(_bit(bits, s, b0 + i, row - r))
            m |= f << i
    return m


@njit(cache=True, nogil=True, inline="always")
def _tap_skipped(d, reads_input, phase, input_grad):  # pragma: no cover - compiled
    # a tap whose delay reaches across a tbptt boundary (or before cycle 0), or that reads an
    # input channel when no input gradient is asked for, carries no gradient (the scatter stage
    # skips it too)
    return d > phase or (reads_input and not input_grad)


@njit(cache=True, parallel=True, nogil=True)
def _backward(bits, D, T, gidx, dly, is_in, lo, hi, ks, Rs, sigs, tab_off, tabs, sg, fth, gext,
              ext_of, mode, tbptt, input_grad, g_in, W, ring, G, S, kc, addr, have_addr, acc, sc_node,
              sc_col, sc_dly, sc_refr, sc_isin, grp_ptr, grp_tgt, p_kind, p_lo, p_hi, tc, tw,
              t_need, Q, ctr, simd_on, S_flat, G_flat, direct, addr8, tq, qlo, qhi, dq1, dn1,
              dq2, dn2):
    # pragma: no cover - compiled
    # tasks in the listed order (block_schedule): per block of cycles, per group of layers, per
    # cycle (descending), per stage: per layer (last layer first) its nodes, then (several
    # threads) its scatter; the input gradient and the reload of the address ring with the
    # last group. A node reads its dL/ds from its row of G (then clears it: the slot serves row - W
    # next). It cannot add its contributions into its sources' rows of G itself (two nodes of a
    # stage may share a source): it writes them to its row of the stage buffer S, and the layer's
    # scatter stage adds them per target signal (groups of grp_ptr) in the order (node, tap), the
    # order of a serial scatter. Every write is a task's own, and acc's entries of node j are
    # node j's, so any thread count gives the same bits. On one thread (`direct`) there is no
    # scatter stage: the nodes add into G themselves, in the order (node, refractory term, tap)
    # that the scatter stage would have used for every target row (a later node never adds to a
    # row before an earlier one), so the bits are the same; faster since the adds became 16-lane
    # vectors (simd.tap_add16: no stage buffer to write and read back; docs/training-speed.md)
    B = bits.shape[1]
    M = W - 1
    Bp = S.shape[2]  # B rounded up to whole AVX-512 registers (simd.LANES)
    C = S.shape[1]
    NG = G.shape[1]
    NJ = addr.shape[1]
    NE = gext.shape[1]
    gext_flat = gext.reshape(-1)
    for _q in prange(Q):
        gu = np.zeros(Bp, np.float32)  # lanes past B stay 0 (the SIMD path reads whole registers)
        ax = np.zeros(Bp, np.int32)    # node-local addresses for the SIMD path
        gs = np.empty(B, np.float32)
        ai = np.empty(B, np.int64)
        keep = np.empty(B, np.float32)
        dst = np.empty(K_MAX, np.int64)  # direct: each tap's row of G_flat (-1: no gradient)
        abuf = np.zeros(Bp + _LANES, np.uint8)  # a node's addresses where addr8 has none
        while True:
            if qlo.shape[0] > 0:  # pipelined (pipeline_schedule): every stage adds directly
                c_, w_, fin = next_staged(ctr, _q, tc, tw, tq, qlo, qhi, dq1, dn1, dq2, dn2)
            else:
                c_, w_ = next_listed(ctr, tc, tw, t_need)
                fin = DONE
            if c_ < 0:
                break
            t = T - 1 - c_
            row = D + t
            slot = row & M
            # cycles since the last tbptt boundary (none: since cycle 0, so that a term of the
            # history before cycle 0, whose rows no node reads, is skipped and G ends all zero)
            phase = t % tbptt if tbptt > 0 else t
            kind = p_kind[w_]
            if kind == LOAD:  # cycle t is done with its row: the slot takes row - W
                if row - W >= 0:
                    for s in range(p_lo[w_], p_hi[w_]):
                        for b in range(B):
                            ring[slot, s, b] = _bit(bits, s, b, row - W)
            elif kind == INPUTS:
                for ii in range(p_lo[w_], p_hi[w_]):
                    for b in range(B):
                        g_in[t, b, ii] = G[slot, ii, b]
                        G[slot, ii, b] = 0.0
            elif kind <= SCATTER:  # layer SCATTER - kind's contributions, per target signal
                l0 = lo[SCATTER - kind]
                for u in range(p_lo[w_], p_hi[w_]):
                    g = grp_tgt[u]
                    for e in range(grp_ptr[u], grp_ptr[u + 1]):
                        d = sc_dly[e]
                        if sc_refr[e]:
                            if mode != 2 or phase < d:
                                continue
                        elif _tap_skipped(d, sc_isin[e], phase, input_grad):
                            continue  # the node skipped it by the same rule
                        rs = (row - d) & M
                        jl = sc_node[e] - l0
                        col = sc_col[e]
                        for b in range(B):  # G - y == G + (-y) exactly for the refractory terms
                            G[rs, g, b] += S[jl, col, b]
            else:
                li = kind
                k = ks[li]
                R = Rs[li]
                for j in range(p_lo[w_], p_hi[w_]):
                    s_j = sigs[li] + j - lo[li]
                    off = tab_off[j]
                    jl = j - lo[li]
                    if simd_on and k <= _SIMD_K and (R == 0 or mode != 2):
                        # the whole step in 16-lane registers (simd.surrogate16, entry_sums16,
                        # tap_add16): the values and the order of every sum are the loop's below
                        e = ext_of[s_j]
                        ge = ((t * NE + e) * Bp) if e >= 0 else -1  # its loss gradient's row
                        a0 = (t * NJ + j) * B
                        if not have_addr or a0 + Bp > addr8.shape[0]:
                            a0 = 0  # no uint8 record, or its last row: the node's own copy
                            for b in range(B):
                                if have_addr:
                                    abuf[b] = addr[t, j, b]
                                else:
                                    x_ = 0
                                    for p in range(k):
                                        x_ |= np.int64(ring[(row - dly[j, p]) & M, gidx[j, p], b]) << p
                                    abuf[b] = x_
                            for b0 in range(0, B, _LANES):
                                surrogate16(G_flat, (slot * NG + s_j) * Bp, sg, off, abuf, a0, b0,
                                            B - b0, gu, ax, _fired16(bits, s_j, b0, B, row, R, mode),
                                            gext_flat, ge)
                        else:
                            for b0 in range(0, B, _LANES):
                                surrogate16(G_flat, (slot * NG + s_j) * Bp, sg, off, addr8, a0, b0,
                                            B - b0, gu, ax, _fired16(bits, s_j, b0, B, row, R, mode),
                                            gext_flat, ge)
                        need = False
                        for p in range(k):
                            d = dly[j, p]
                            if _tap_skipped(d, is_in[j, p], phase, input_grad):
                                dst[p] = -1
                            else:
                                need = True
                                dst[p] = (((row - d) & M) * NG + gidx[j, p]) * Bp
                        if need and direct:
                            for b0 in range(0, B, _LANES):
                                tap_add16(fth, off, ax, b0, gu, G_flat, dst, k)
                        elif need:
                            for b0 in range(0, B, _LANES):
                                tap_diffs16(fth, off, ax, b0, gu, S_flat, jl * C * Bp + b0, Bp, k)
                        # node j's own entries, order (cycle descending, sample); after the
                        # taps, which do not wait for these adds (a run of samples at one address
                        # is a chain of dependent adds through memory)
                        for b0 in range(0, B, _LANES):
                            entry_sums16(acc, off, ax, b0, gu, B - b0)
                        continue
                    for b in range(B):
                        gu[b] = G[slot, s_j, b]
                        G[slot, s_j, b] = 0.0
                    e = ext_of[s_j]
                    if e >= 0:
                        for b in range(B):
                            gu[b] += gext[t, e, b]
                    if have_addr:
                        for b in range(B):
                            ai[b] = off + np.int64(addr[t, j, b])
                    else:  # the address, recomputed from the window
                        for b in range(B):
                            ai[b] = off
                        for p in range(k):
                            rs = (row - dly[j, p]) & M
                            g = gidx[j, p]
                            for b in range(B):
                                ai[b] += np.int64(ring[rs, g, b]) << p
                    if R > 0 and mode != 1:
                        for b in range(B):
                            keep[b] = 1.0
                        for r in range(1, R + 1):
                            for b in range(B):
                                if _bit(bits, s_j, b, row - r):
                                    keep[b] = 0.0
                        if mode == 2:
                            for b in range(B):
                                gs[b] = gu[b] * np.float32(tabs[ai[b]])
                            for r in range(1, R + 1):
                                if phase < r:
                                    continue  # reading s[t - r] crosses a tbptt boundary
                                for b in range(B):
                                    excl = np.float32(1.0)
                                    for qq in range(1, R + 1):
                                        if qq != r:
                                            excl *= np.float32(1 - _bit(bits, s_j, b, row - qq))
                                    # G + (-y) == G - y exactly (the scatter stage adds it)
                                    if direct:
                                        G[(row - r) & M, s_j, b] += -(gs[b] * excl)
                                    else:
                                        S[jl, kc + r - 1, b] = -(gs[b] * excl)
                        for b in range(B):
                            gu[b] *= keep[b]
                    vec = simd_on and k <= _SIMD_K
                    if vec:  # the node's surrogate derivatives, 16 samples per call (simd.py)
                        for b in range(B):
                            ax[b] = np.int32(ai[b] - off)
                        for b0 in range(0, B, _LANES):
                            scale16(sg, off, ax, b0, gu)
                    else:
                        for b in range(B):
                            gu[b] *= sg[ai[b]]
                    for b in range(B):  # node j's own entries: order (cycle descending, sample)
                        acc[ai[b]] += gu[b]
                    if vec:  # 16 samples x every tap per call (simd.py): the same values
                        need = False  # some tap carries a gradient (the scatter stage skips the rest)
                        for p in range(k):
                            d = dly[j, p]
                            if _tap_skipped(d, is_in[j, p], phase, input_grad):
                                dst[p] = -1
                            else:
                                need = True
                                dst[p] = (((row - d) & M) * NG + gidx[j, p]) * Bp
                        if need and direct:
                            for b0 in range(0, B, _LANES):
                                tap_add16(fth, off, ax, b0, gu, G_flat, dst, k)
                        elif need:  # a tap the scatter stage skips gets a value it never reads
                            for b0 in range(0, B, _LANES):
                                tap_diffs16(fth, off, ax, b0, gu, S_flat, jl * C * Bp + b0, Bp, k)
                    else:
                        for p in range(k):
                            if _tap_skipped(dly[j, p], is_in[j, p], phase, input_grad):
                                continue  # the scatter stage skips it by the same rule
                            bit = np.int64(1) << p
                            if direct:
                                rs = (row - dly[j, p]) & M
                                g = gidx[j, p]
                                for b in range(B):
                                    a = ai[b] - off
                                    G[rs, g, b] += (fth[off + (a | bit)] - fth[off + (a & ~bit)]) * gu[b]
                            else:
                                for b in range(B):
                                    a = ai[b] - off
                                    S[jl, p, b] = (fth[off + (a | bit)] - fth[off + (a & ~bit)]) * gu[b]
            fetch_add(ctr, fin, np.int64(1))


def backward(plan: NetPlan, thetas: Sequence[np.ndarray], fwd: Forward,
             g_spikes: Sequence[np.ndarray | None], surrogate: Surrogate,
             refractory_grad: str = "block", tap_grad: str = "tanh", tbptt: int = 0,
             input_grad: bool = False) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Compiled :func:`spikelut.train.bptt.backward`: same arguments, same results (float32).

    ``fwd`` is this module's :class:`PackedForward` (a reference :class:`Forward` is packed first;
    a relaxed one goes to the reference). Gradients are bit-identical for every thread count.

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
    f = node_arrays(plan)
    simd_on = simd.enabled()
    # the SIMD path loads a whole 64-entry table at each node: 64 values past the last one (0;
    # never selected), so every per-entry array below is computed on the padded logits
    n_th = int(f["tab_off"][-1])
    th = np.zeros(n_th + (64 if simd_on else 0), np.float32)
    np.concatenate([np.asarray(t, dtype=np.float32).ravel() for t in thetas], out=th[:n_th])
    # surrogate'(theta[addr]) depends on the table entry only: evaluate it once per entry
    sg = np.ascontiguousarray(surrogate.grad(th), np.float32)
    fth = np.tanh(th) if tap_grad == "tanh" else th
    tabs = (th > 0).view(np.uint8)
    gext, ext_of = _loss_grads(plan, T, B, g_spikes, _padded(B, simd_on))
    full = refractory_grad == "full"
    rank = f["rank_full" if full else "rank"]
    tau = block_cycles(rank, T, D)
    have = fwd.stored is not None
    N = plan.n_signals
    Bp = _padded(B, simd_on)
    acc = _zeroed((int(f["tab_off"][-1]),), np.float64)
    g_in = np.zeros((T, B, plan.n_in) if input_grad else (1, 1, 1), np.float32)
    addr = fwd.stored if have else np.zeros((1, 1, 1), np.uint8)
    # the addresses as bytes for the 16-lane path (simd.surrogate16)
    addr8 = (addr.reshape(-1) if have and addr.dtype == np.uint8 and addr.flags.c_contiguous
             else np.zeros(0, np.uint8))
    # a pipeline pays at any size (pass_threads): where two stages exist, two threads may run
    pipe = 2 if pipeline_stages(f, rank, full, bool(input_grad), 2) is not None else 0
    with tuned_threads("backward", f["n_nodes"], B, pipe) as Q:
        key = (Q, T, tau, full, bool(input_grad), have, float(tasks.PIPELINE_SHARE))
        sched = f.setdefault("schedules", {}).get(key)
        if sched is None:  # built once per network and shape (a Python loop over every task)
            stage = pipeline_stages(f, rank, full, bool(input_grad), Q)
            sched = f["schedules"][key] = backward_tasks(f, plan.n_in, N, rank, stage, Q, T, tau,
                                                      bool(input_grad), have)
        n_stages = len(sched[7])  # 0: not pipelined
        W = ring_rows(D, n_stages, tau)
        ring = np.zeros((W, N, B) if not have else (1, 1, 1), np.uint8)
        if not have:  # the last W rows of the record; the LOAD tasks slide the window down
            for row in range(max(0, D + T - W), D + T):
                _load_row(fwd.bits, row, 0, B, ring, row & (W - 1))
        G = _zeroed((W, N, Bp))  # rows of whole registers (tap_add16); pads stay 0
        direct = Q == 1 or n_stages > 0  # every row written by one thread: no scatter stage
        # one layer's hand-over to its scatter stage
        S = np.empty((max(f["hi"] - f["lo"]) if not direct else 1, f["kc"] + f["rc"], Bp),
                     np.float32)
        _backward(fwd.bits, D, T, f["gidx"], f["dly"], f["is_in"], f["lo"], f["hi"], f["k"],
                  f["R"], f["sig"], f["tab_off"], tabs, sg, fth, gext, ext_of,
                  _MODES[refractory_grad], int(tbptt), bool(input_grad), g_in, W, ring, G, S, f["kc"],
                  addr, have, acc, f["sc_node"], f["sc_col"], f["sc_dly"], f["sc_refr"],
                  f["sc_isin"], f["grp_ptr"], f["grp_tgt"], *sched[:6], n_stages or Q,
                  counters(n_stages), simd_on, S.reshape(-1), G.reshape(-1), direct, addr8,
                  *sched[6:])
        _give_back(G)  # all zero again (only a pass that completed gets here)
    flat = np.empty(acc.shape[0], np.float32)
    _drain_sums(acc, flat)
    _give_back(acc)
    grads = []
    for i, lp in enumerate(plan.layers):
        o0, o1 = table_span(f, i)
        grads.append(flat[o0:o1].reshape(lp.n, 1 << lp.k))
    return grads, (g_in if input_grad else None)


def _loss_grads(plan: NetPlan, T: int, B: int, g_spikes: Sequence[Any], Bp: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The non-``None`` ``g_spikes`` as one float32 ``[T, n, Bp]`` array over the layers that have
    one (samples past ``B`` are 0: whole 16-lane registers for :func:`simd.surrogate16`), and per
    signal its row there (``-1``: none)."""
    Bp = B if Bp is None else Bp
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
    gext = np.zeros((T, n, Bp), np.float32)
    o = 0
    for part in parts:
        gext[:, o:o + part.shape[1], :B] = part
        o += part.shape[1]
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


def memory_estimate(plan: NetPlan, T: int, B: int, input_grad: bool = False,
                    keep_addr: bool | None = None) -> dict[str, int]:
    """Bytes the compiled passes hold for one training batch of ``B`` samples and ``T`` cycles.

    Returns a dict: ``spike_bits`` (the packed record, about ``N * B / 8`` bytes per cycle:
    whole words of 64 rows),
    ``addresses`` (stored LUT addresses, 0 past :data:`ADDR_BUDGET` or with ``keep_addr=False``),
    ``window`` (the spike ring of :func:`~.tasks.ring_rows` rows, shared by the threads: the delays
    and a block of cycles, one block per stage where the backward pass runs as a pipeline,
    :func:`~.tasks.pipeline_stages`; counted for as many stages as numba's threads and the groups of layers
    allow, a bound), ``gradient`` (the ring of ``dL/ds``, float32, as many rows, each
    padded to whole 16-lane registers where the AVX-512 path runs), ``stage_buffer`` (the widest layer's tap
    contributions of one cycle, handed to the scatter stage when several threads run; one
    thread adds them directly and holds one row: this is the bound), ``tables`` (logits,
    surrogate and ``tanh`` values, float64 sums, gradients), ``loss_grad`` (the readout's
    ``dL/ds`` the loss hands in), ``input_grad`` and ``total``. The reference (:mod:`.bptt`)
    holds a uint8 history, uint8 addresses and a float32 gradient of ``D + T`` rows each, about
    ``6 * N * B * (D + T)`` bytes.

    Raises:
        ConfigError: ``T`` or ``B`` is not an integer >= 1.

    Example:
        >>> from spikelut.wiring import random_network
        >>> plan = bptt.compile_plan(random_network(0, n_in=4, sizes=[8, 2], k=3, classes=2))
        >>> memory_estimate(plan, 64, 10)["spike_bits"]  # 14 signals, 10 samples, 2 words
        2240
    """
    for name, v in (("T", T), ("B", B)):  # a negative size gave negative byte counts
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"memory_estimate: {name} = {v!r} must be an integer >= 1 "
                              f"({'cycles' if name == 'T' else 'samples per batch'})")
    plan = plan.for_steps(T)
    f = node_arrays(plan)
    # the rings hold a block of cycles per stage of a pipeline: at most one stage per group of
    # layers and thread (a bound: which pipeline runs depends on the threads a pass gets)
    n_stages = min(int(f["rank"].max()) + 1, numba.get_num_threads())
    W = ring_rows(plan.D, n_stages if n_stages > 1 else 0, block_cycles(f["rank"], T, plan.D))
    N, n_nodes = plan.n_signals, f["n_nodes"]
    Bp = _padded(B, simd.enabled())  # as backward() pads its rows
    total = int(f["tab_off"][-1])
    addr = T * n_nodes * B * np.dtype(plan.lowered.addr_dtype).itemsize
    if keep_addr is None:
        keep_addr = addr <= ADDR_BUDGET
    est = {
        "spike_bits": N * B * ((plan.D + T + 63) >> 6) * 8,
        "addresses": addr if keep_addr else 0,
        "window": W * N * B,
        "gradient": W * N * Bp * 4,
        "stage_buffer": int(max(f["hi"] - f["lo"])) * (f["kc"] + f["rc"]) * Bp * 4,
        "tables": total * (4 + 4 + 4 + 1 + 8 + 4),
        "loss_grad": T * plan.sizes[plan.lowered.readout.layer] * B * 4,
        "input_grad": T * B * plan.n_in * 4 if input_grad else 0,
    }
    est["total"] = sum(est.values())
    return est


def table_span(f: dict, i: int) -> tuple[int, int]:
    """Where layer ``i``'s tables sit in the flat (all layers) table arrays of :func:`~.tasks.node_arrays`."""
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
