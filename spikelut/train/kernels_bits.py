"""Bit-sliced training forward: 64 samples per ``uint64`` word, the inference engine's LUT kernels.

:func:`forward` has the signature and the results of :func:`spikelut.train.kernels_cpu.forward`
(and so of the reference :func:`spikelut.train.bptt.forward`): the same spikes bit for bit and the
same LUT addresses. Its result is a :class:`~spikelut.train.kernels_cpu.PackedForward`, so the
compiled backward pass (:func:`spikelut.train.kernels_cpu.backward`, re-exported here as
:func:`backward`) takes it unchanged and gives the same gradients, bit for bit, as after the
per-sample forward. ``[train] forward`` chooses between the two forward passes
(:data:`~spikelut.train.passes.FORWARDS`: ``lookup``, ``bitsliced`` or ``auto`` =
:func:`choose_forward`'s measured rule; ``docs/training-speed.md``, "Bit-sliced forward").

How it works:

* **Words, not samples.** Spikes live in a history ``hist [(D + T) * N, Wb]`` uint64, row
  ``(D + t) * N + s`` = signal ``s`` at cycle ``t`` for all samples, bit ``b & 63`` of word
  ``b >> 6`` = sample ``b`` (the layout of :mod:`spikelut.engine.bitpack`; rows ``0 .. D - 1`` are
  the zero history before cycle 0). A node's output word is computed from its ``k`` tap words by
  the bit-sliced engine's unrolled mux trees (:mod:`spikelut.engine._luts`; ``k = 7..12``: its
  Shannon decomposition; both through :func:`spikelut.engine.bitsliced.eval_lut`), whose first-level masks come from this batch's
  tables (:func:`_masks`, once per call). Where the CPU has AVX-512 BITALG
  (:func:`spikelut.engine.bitsimd.lut_enabled`), a node of ``k <= 6`` instead builds its 64
  samples' addresses in one register (a mask move per tap word) and looks them all up in its
  table with one bit shuffle (:func:`spikelut.engine.bitsimd.lut_word`), storing the addresses in
  the same step: 3.4x faster than the mux tree plus unpacking on the MNIST-1D demo (batch 25,
  docs/training-speed.md). The refractory gate is a word mask:
  ``out &= ~(s[t - 1] | ... | s[t - R])``. Padding samples (past ``B`` in the last word) are
  computed and never read.
* **Threads split the nodes**, with the task scheme of :mod:`.kernels_cpu` (blocks of one
  layer's nodes at one cycle claimed from a shared counter, a stage waiting for the earlier
  ones), **or run a pipeline** where the layers cut into runs of balanced cost
  (:func:`_forward_stages`: a thread runs the first run's layers at cycle ``t + 1`` while another
  runs the next run's at cycle ``t``; a loop through a delay stays inside a run): any thread
  count gives the same words. The MNIST-1D demo at batch 25: 1.55-1.6 ms per pass on two
  threads as a pipeline, 2.0 splitting the nodes, 2.6 on one thread.
* **Addresses for the backward pass.** With ``keep_addr`` (the default while they fit
  :data:`~spikelut.train.kernels_cpu.ADDR_BUDGET`) each node unpacks its ``[B]`` addresses from
  its tap words while they are in the cache (tap by tap, a vectorised loop over the samples of a
  word). Without, the backward pass recomputes them from the bit record
  (:mod:`.kernels_cpu`'s ring): on the MNIST-1D demo that cost the backward pass 13-18 ms a
  batch of 25 where the unpacking cost the forward pass 3.7 ms (docs).
* **The backward pass's layout.** :mod:`.kernels_cpu`'s record is packed along *time*
  (``bits [N, B, ceil((D + T) / 64)]``); :class:`BitsForward` builds it from the words on first
  access (64 x 64 bit-matrix transposes, :func:`_transpose64`), so an evaluation forward
  (``save=False``) never does, and :meth:`BitsForward.spikes` unpacks straight from the words.

Example:
    >>> import numpy as np
    >>> from spikelut.wiring import random_network
    >>> from spikelut.train import bptt, kernels_bits, kernels_cpu
    >>> net = random_network(0, n_in=4, sizes=[8, 2], k=3, classes=2, refractory=1)
    >>> plan, tables = bptt.compile_plan(net), [layer.table for layer in net.layers]
    >>> x = (np.random.default_rng(0).random((5, 70, 4)) < 0.5).astype(np.uint8)
    >>> fwd = kernels_bits.forward(plan, tables, x)   # 70 samples: two words per signal and cycle
    >>> fwd.words.shape, fwd.bits.shape              # (D + T = 7) * 14 signals; time-major record
    ((98, 2), (14, 70, 1))
    >>> bool((fwd.bits == kernels_cpu.forward(plan, tables, x).bits).all())
    True
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from numba import njit, prange

from ..engine.bitpack import n_words, pack
from ..engine.bitsimd import LUT_MAX_K, lut_enabled, lut_fits, lut_word, spread64, spread_enabled
from ..engine.bitsliced import eval_lut
from ..errors import ConfigError
from ..network import K_MAX
from ..threads import numba_team
from . import bptt, tasks
from .bptt import NetPlan
from .passes import FORWARDS
from .kernels_cpu import PackedForward, memory_estimate, pass_threads, tuned_threads
from .tasks import INPUTS, balanced_stages, cycle_pattern, node_arrays, pipeline_schedule
from .team import DONE, counters, fetch_add, next_staged, next_task
from .kernels_cpu import backward as lookup_backward
from .kernels_cpu import forward as lookup_forward
from .surrogates import Surrogate

#: Time per node and cycle (ns, one thread) of each forward pass, fitted to 96 measurements on
#: the 2-core AMD EPYC machine (k = 1..12, B = 1..256, 4,010-node networks, 20 cycles;
#: docs/training-speed.md, "Bit-sliced forward"): the per-sample table look-ups cost
#: ``c0 + c1 k + c2 B + c3 k B``; the bit-sliced pass ``c0 + c1 2**k Wb`` (``Wb = ceil(B / 64)``
#: words; the mux tree of 2**k - 1 muxes per word) plus, for a training batch, the addresses
#: unpacked per sample ``c2 B + c3 k B``. Keys: ``(pass, save)``.
COST_NS = {
    ("lookup", True): (5.7, 3.45, 1.31, 0.079),
    ("lookup", False): (5.3, 3.43, 1.26, 0.074),
    ("bitsliced", True): (24.2, 0.394, 0.0134, 0.052),
    ("bitsliced", False): (8.8, 0.355, 0.0, 0.0),
    # k <= 6 where the CPU has AVX-512 BITALG (bitsimd.lut_word): c0 + c1 k Wb (a mask move per tap
    # and word) + c2 B + c3 k B; fitted to 48 measurements (k = 1..6, B = 1..256), 2026-12-02
    ("bitsliced_lut", True): (12.0, 1.48, 0.145, -0.0174),
    ("bitsliced_lut", False): (8.3, 0.842, 0.0, 0.0),
}
#: :func:`auto_forward` runs the bit-sliced pass only where the estimate is this many times faster
#: (the fit's typical error is 15-25 %: a margin so that the automatic choice does not lose)
AUTO_MARGIN = 1.2
#: ... and only from this many samples (below, both passes take a few ms and the estimate of the
#: bit-sliced one is least accurate)
AUTO_MIN_BATCH = 8


# ---------------------------------------------------------------------------- kernels
@njit(cache=True, parallel=True, nogil=True)
def _masks(tabs, packed, tab_off, cm, dm, t64, shuffled):  # pragma: no cover - compiled
    # the first mux level of every node (Plan.level0_masks, from this batch's tables): column a
    # of node j is all-ones where entry 2a is 1 (cm), or where entries 2a and 2a + 1 differ (dm);
    # and a table of at most 64 entries as one word, entry a in bit a (t64, for bitsimd.lut_word),
    # from `packed` (tabs as bits, little bit order) where the table starts on a whole byte.
    # A node of at most `shuffled` entries takes the bit shuffle (lut_word) and never reads its
    # mux masks: they are not built (0.2-0.3 ms a batch for the MNIST-1D demo)
    zero = np.uint64(0)
    for j in prange(tab_off.shape[0] - 1):
        off = tab_off[j]
        n = tab_off[j + 1] - off
        w = zero
        if n <= 64 and off & 7 == 0:  # whole bytes of `packed`, the bits past n cleared
            for q in range((n + 7) >> 3):
                w |= np.uint64(packed[(off >> 3) + q]) << np.uint64(8 * q)
            if n < 64:
                w &= (np.uint64(1) << np.uint64(n)) - np.uint64(1)
        elif n <= 64:
            for a in range(n):
                w |= np.uint64(tabs[off + a]) << np.uint64(a)
        t64[j] = w
        if tab_off[j + 1] - off <= shuffled:
            continue
        for a in range((tab_off[j + 1] - off) >> 1):
            e = np.uint64(tabs[off + 2 * a])
            cm[j, a] = zero - e
            dm[j, a] = zero - (e ^ np.uint64(tabs[off + 2 * a + 1]))


@njit(cache=True, nogil=True, inline="always")
def _node_addresses(hist, rows, k, addr, t, j, B, spread, addr_flat, at):  # pragma: no cover
    # addr[t, j, :B] from the node's k tap words (hist rows `rows`). With AVX-512BW (`spread`:
    # bitsimd.spread64 into addr_flat from `at`, where addr[t, j, 0] is) a mask move and an OR
    # per tap and word; else tap by tap, over the samples of a word, so the loop over samples
    # vectorises (a variable shift per lane; measured 1.6-2x faster than spreading a byte of 8
    # samples at a time through a table)
    Wb = hist.shape[1]
    one = np.uint64(1)
    for wb in range(Wb):
        nb = min(64, B - wb * 64)
        base = wb * 64
        if spread:
            spread64(hist, rows, k, wb, addr_flat, at + base, nb)
            continue
        x = hist[rows[0], wb]
        for b in range(nb):
            addr[t, j, base + b] = (x >> np.uint64(b)) & one
        for p in range(1, k):
            x = hist[rows[p], wb]
            sp = np.uint64(p)
            for b in range(nb):
                addr[t, j, base + b] |= ((x >> np.uint64(b)) & one) << sp


@njit(cache=True, parallel=True, nogil=True)
def _forward(hist, xw, D, N, gidx, dly, lo, hi, ks, Rs, sigs, cm, dm, addr, save, B,
             p_kind, p_lo, p_hi, p_first, Q, ctr, spread, addr_flat, lut_on, t64, tc, tw, tq,
             qlo, qhi, dq1, dn1, dq2, dn2):
    # pragma: no cover - compiled
    # tasks in the order (cycle, stage, block) of kernels_cpu._forward: the inputs of cycle t,
    # then each layer's nodes; every node writes only its own row of hist, and reads rows that
    # earlier stages or cycles wrote (a tap at delay 0 reads an earlier layer or an input).
    # Pipelined (qlo not empty, _forward_stages): each stage's layers cycle by cycle, a stage's
    # cycle t once the stage before is done with it (the whole history is kept: no lag bound)
    T = xw.shape[0]
    Wb = hist.shape[1]
    P = p_kind.shape[0]
    n_addr = addr.shape[1]
    for _q in prange(Q):
        rows = np.empty(K_MAX, np.int64)
        scratch = np.empty((max(1, cm.shape[1] // 32), Wb), np.uint64)  # k > 6: LUT6 pieces
        while True:
            if qlo.shape[0] > 0:
                t, w_, fin = next_staged(ctr, _q, tc, tw, tq, qlo, qhi, dq1, dn1, dq2, dn2)
            else:
                t, w_ = next_task(ctr, P, T, p_first)
                fin = DONE
            if t < 0:
                break
            row = D + t
            base = row * N
            kind = p_kind[w_]
            if kind == INPUTS:
                for ii in range(p_lo[w_], p_hi[w_]):
                    for w in range(Wb):
                        hist[base + ii, w] = xw[t, ii, w]
            else:
                li = kind
                k = ks[li]
                R = Rs[li]
                for j in range(p_lo[w_], p_hi[w_]):
                    for p in range(k):
                        rows[p] = (row - dly[j, p]) * N + gidx[j, p]
                    cur = base + sigs[li] + j - lo[li]
                    fused = lut_on and lut_fits(k, Wb)
                    at = (t * n_addr + j) * B  # addr[t, j, 0] in addr_flat
                    if fused:  # the addresses and one bit shuffle per word (bitsimd.lut_word)
                        for wb in range(Wb):
                            hist[cur, wb] = lut_word(hist, rows, k, wb, t64[j], addr_flat,
                                                     at + wb * 64, min(64, B - wb * 64), save)
                    else:
                        eval_lut(hist, cur, rows, cm, dm, j, Wb, k, scratch)
                    for r in range(1, R + 1):  # silent where it fired in the last R cycles
                        rq = cur - r * N
                        for w in range(Wb):
                            hist[cur, w] &= ~hist[rq, w]
                    if save and not fused:
                        _node_addresses(hist, rows, k, addr, t, j, B, spread, addr_flat, at)
            fetch_add(ctr, fin, np.int64(1))


@njit(cache=True, nogil=True, inline="always")
def _transpose64(a):  # pragma: no cover - compiled
    # in place: bit j of a[i] <-> bit i of a[j] (Hacker's Delight 7-3, for bit 0 = least
    # significant: swap the off-diagonal blocks of 32, 16, ..., 1)
    j = 32
    m = np.uint64(0x00000000FFFFFFFF)
    while j != 0:
        sj = np.uint64(j)
        k = 0
        while k < 64:
            t = ((a[k] >> sj) ^ a[k + j]) & m
            a[k] ^= t << sj
            a[k + j] ^= t
            k = (k + j + 1) & ~j
        j >>= 1
        m ^= m << np.uint64(j)


@njit(cache=True, parallel=True, nogil=True)
def _time_major(hist, N, B, bits):  # pragma: no cover - compiled
    # bits[s, b, row >> 6] bit row & 63 = hist[row * N + s, b >> 6] bit b & 63
    TD = hist.shape[0] // N
    Wb = hist.shape[1]
    for s in prange(N):
        blk = np.empty(64, np.uint64)
        for tw in range(bits.shape[2]):
            r0 = tw * 64
            nr = min(64, TD - r0)
            for wb in range(Wb):
                for i in range(nr):
                    blk[i] = hist[(r0 + i) * N + s, wb]
                for i in range(nr, 64):
                    blk[i] = 0
                _transpose64(blk)
                for i in range(min(64, B - wb * 64)):
                    bits[s, wb * 64 + i, tw] = blk[i]


@njit(cache=True, nogil=True)
def _unpack_signals(hist, N, D, sig0, n, B, out):  # pragma: no cover - compiled
    # out[t, b, j] = signal sig0 + j at cycle t, sample b
    T = out.shape[0]
    for t in range(T):
        base = (D + t) * N + sig0
        for b in range(B):
            w = b >> 6
            sh = np.uint64(b & 63)
            for j in range(n):
                out[t, b, j] = (hist[base + j, w] >> sh) & np.uint64(1)


# ---------------------------------------------------------------------------- the result
class BitsForward(PackedForward):
    """What :func:`forward` keeps: the spikes as words of 64 samples (module docstring).

    Reads like :class:`~spikelut.train.kernels_cpu.PackedForward` (which the backward pass
    takes): ``bits``, the record packed along time ``[n_signals, B, ceil((D + T) / 64)]``
    uint64, is built from the words on first access and kept; :meth:`spikes` unpacks from the
    words. ``words``: uint64 ``[(D + T) * n_signals, ceil(B / 64)]``, row ``row * n_signals + s``.
    """

    def __init__(self, plan: NetPlan, words: np.ndarray, T: int, B: int, save: bool,
                 stored: np.ndarray | None = None) -> None:
        self.plan, self.words, self.T, self.B, self.save = plan, words, T, B, save
        #: the stored addresses ``[T, N, B]`` of all layers, or ``None`` (recomputed from bits)
        self.stored = stored
        self.soft, self.x, self.u, self.a = False, [], [], []
        self._bits: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"BitsForward(T={self.T}, B={self.B}, words={self.words.shape})"

    @property
    def bits(self) -> np.ndarray:  # type: ignore[override]
        """The record packed along time, ``[n_signals, B, ceil((D + T) / 64)]`` uint64."""
        if self._bits is None:
            N = self.plan.n_signals
            bits = np.empty((N, self.B, (self.plan.D + self.T + 63) >> 6), np.uint64)
            with numba_team(pass_threads(node_arrays(self.plan)["n_nodes"], self.B)):
                _time_major(self.words, N, self.B, bits)
            self._bits = bits
        return self._bits

    def spikes(self, i: int) -> np.ndarray:
        """Layer ``i``'s spikes ``[T, B, n]`` uint8 (unpacked from the words)."""
        lp = self.plan.layers[i]
        out = np.empty((self.T, self.B, lp.n), np.uint8)
        _unpack_signals(self.words, self.plan.n_signals, self.plan.D, lp.offset, lp.n, self.B, out)
        return out


# ---------------------------------------------------------------------------- the passes
def forward(plan: NetPlan, tables: Sequence[np.ndarray], x: np.ndarray, save: bool = True,
            keep_addr: bool | None = None) -> BitsForward:
    """Bit-sliced :func:`spikelut.train.kernels_cpu.forward`: the same spikes and addresses.

    Args:
        plan: the network's :class:`~spikelut.train.bptt.NetPlan`.
        tables: per layer the 0/1 tables ``[n_i, 2**k_i]`` (any integer or bool dtype).
        x: input spikes ``[T, B, n_in]`` (0/1).
        save: keep what a backward pass needs (the addresses, when ``keep_addr``).
        keep_addr: store the LUT addresses ``[T, n_nodes, B]`` (uint8; uint16 where a layer has
            ``k > 8``); ``None`` (default): while they take at most
            :data:`~spikelut.train.kernels_cpu.ADDR_BUDGET` bytes, else the backward pass
            recomputes them from the bits.

    Returns:
        A :class:`BitsForward` (``hist``, ``addr``, ``spikes(i)`` as the reference's).

    Raises:
        ShapeError: ``x`` is not ``[T, B, n_in]`` or a table has the wrong shape.

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(2, n_in=3, sizes=[6, 2], k=[7, 2], max_delay=2, classes=2)
        >>> plan = bptt.compile_plan(net)
        >>> x = (np.random.default_rng(1).random((4, 3, 3)) < 0.5).astype(np.uint8)
        >>> t = [l.table for l in net.layers]
        >>> bool((forward(plan, t, x).spikes(1) == bptt.forward(plan, t, x).spikes(1)).all())
        True
    """
    x = np.asarray(x)
    plan = bptt.check_forward_args(plan, tables, x)
    T, B, _ = x.shape
    f = node_arrays(plan)
    N, D = plan.n_signals, plan.D
    if keep_addr is None:  # the per-sample pass's rule: while they fit ADDR_BUDGET
        keep_addr = memory_estimate(plan, T, B)["addresses"] > 0
    keep_addr = bool(save and keep_addr)
    addr = np.empty((T, f["n_nodes"], B) if keep_addr else (1, 1, 1), plan.lowered.addr_dtype)
    tabs = np.concatenate([np.ascontiguousarray(t, dtype=np.uint8).ravel() for t in tables])
    ncol = 1 << (max(6, int(f["k"].max())) - 1)
    cm = np.empty((f["n_nodes"], ncol), np.uint64)  # columns past a node's 2**(k-1) are unread
    dm = np.empty_like(cm)
    hist = np.zeros(((D + T) * N, n_words(B)), np.uint64)
    t64 = np.empty(f["n_nodes"], np.uint64)
    # a pipeline pays at any size (pass_threads): where two stages exist, two threads may run
    pipe = 2 if _forward_stages(plan, f, B, keep_addr, 2) is not None else 0
    with tuned_threads("forward", f["n_nodes"], B, pipe) as Q:
        stages = [(li, int(f["lo"][li]), int(f["hi"][li])) for li in range(len(f["lo"]))]
        stage = _forward_stages(plan, f, B, keep_addr, Q)
        if stage is None:  # the threads split each layer's nodes
            pat = cycle_pattern(Q, [(INPUTS, 0, plan.n_in)] + stages)
            none = np.zeros(0, np.int64)
            queues, n_run, ctr = (none,) * 9, Q, counters()
        else:  # a pipeline of runs of layers, one cycle at a time
            lists = f.setdefault("forward_lists", {})
            key = (T, B, keep_addr, Q, stage.tobytes())
            if key not in lists:  # one task per layer and cycle
                groups = [[(INPUTS, 0, plan.n_in), stages[0]]] + [[st] for st in stages[1:]]
                lists[key] = pipeline_schedule(groups, stage, T, 1, lag=False)
            kind, lo, hi, *queues = lists[key]
            pat = (kind, lo, hi, np.zeros(len(kind), np.int64))
            n_run = int(stage.max()) + 1
            ctr = counters(n_run)
        # the nodes that _forward evaluates with the bit shuffle (its `fused` rule)
        shuffled = (1 << LUT_MAX_K) if lut_enabled() and lut_fits(LUT_MAX_K, n_words(B)) else 0
        _masks(tabs, np.packbits(tabs, bitorder="little"), f["tab_off"], cm, dm, t64, shuffled)
        _forward(hist, pack(np.ascontiguousarray(x, dtype=np.uint8)), D, N, f["gidx"], f["dly"],
                 f["lo"], f["hi"], f["k"], f["R"], f["sig"], cm, dm, addr, keep_addr, B, *pat,
                 n_run, ctr, spread_enabled(), addr.reshape(-1), lut_enabled(), t64, *queues)
    return BitsForward(plan, hist, T, B, save, addr if keep_addr else None)


def estimate_ns(plan: NetPlan, B: int, save: bool = True) -> dict[str, float]:
    """Estimated time of one forward pass per cycle (ns, one thread) of each kind,
    from :data:`COST_NS`: ``{"lookup": ..., "bitsliced": ...}``.

    Example:
        >>> from spikelut.wiring import random_network
        >>> plan = bptt.compile_plan(random_network(0, n_in=8, sizes=[1000, 10], k=6))
        >>> est = estimate_ns(plan, 256)
        >>> est["bitsliced"] < est["lookup"]
        True
    """
    return {name: float(sum(_layer_ns(name, lp.n, lp.k, B, save) for lp in plan.layers))
            for name in ("lookup", "bitsliced")}


def _layer_ns(name: str, n: int, k: int, B: int, save: bool) -> float:
    """:func:`estimate_ns` of one layer of ``n`` nodes with ``k`` inputs."""
    Wb = n_words(B)
    if name == "lookup":
        c0, c1, c2, c3 = COST_NS[name, bool(save)]
        per = c0 + c1 * k
    elif lut_enabled() and lut_fits(k, Wb):
        c0, c1, c2, c3 = COST_NS["bitsliced_lut", bool(save)]
        per = c0 + c1 * k * Wb
    else:
        c0, c1, c2, c3 = COST_NS[name, bool(save)]
        per = c0 + c1 * (1 << k) * Wb
    return n * (per + c2 * B + c3 * k * B)


def _forward_stages(plan: NetPlan, f: dict, B: int, save: bool, Q: int) -> np.ndarray | None:
    """Per layer, its stage of a pipelined bit-sliced forward pass on ``Q`` threads, or ``None``
    (:func:`~spikelut.train.tasks.balanced_stages` on the layers' :func:`estimate_ns`
    costs). A stage ends only after a layer ``i`` where no layer up to ``i`` reads a later one
    (a loop through a delay stays within a stage), so a stage's cycle ``t`` needs only its
    own earlier cycles and the earlier stages' cycles up to ``t``.

    Example:
        >>> from spikelut.config import build_network
        >>> def layer(name, src):
        ...     return {"name": name, "nodes": 64, "k": 4, "taps": [{"from": src, "count": 4}]}
        >>> net = build_network({"inputs": 4, "readout": {"classes": 2}, "layers": [
        ...     layer("a", "input"), layer("b", "a"), layer("c", "b"), layer("d", "c")]})
        >>> plan = bptt.compile_plan(net)
        >>> _forward_stages(plan, node_arrays(plan), 64, True, 2).tolist()
        [0, 0, 1, 1]
    """
    n_layers = len(f["lo"])
    if Q < 2 or n_layers < 2:
        return None
    key = (int(B), bool(save), int(Q), float(tasks.PIPELINE_SHARE), lut_enabled())
    memo = f.setdefault("forward_stages", {})
    if key not in memo:
        terms = f["terms"]  # every tap (not padding) that reads a layer: the layer it reads
        taps = ~terms["refr"] & ~terms["isin"]
        reads = np.full(n_layers, -1)
        np.maximum.at(reads, terms["layer"][taps],
                      terms["layer_of"][terms["target"][taps] - plan.n_in])
        ok = np.maximum.accumulate(reads) <= np.arange(n_layers)
        cost = np.array([_layer_ns("bitsliced", lp.n, lp.k, B, save) for lp in plan.layers])
        memo[key] = balanced_stages(cost, ok, Q)
    return memo[key]


def choose_forward(plan: NetPlan, B: int, save: bool = True) -> str:
    """Which forward pass :func:`auto_forward` runs for a batch of ``B`` samples: ``"bitsliced"``
    from :data:`AUTO_MIN_BATCH` samples on where :func:`estimate_ns` says it is at least
    :data:`AUTO_MARGIN` times faster, else ``"lookup"``.

    Example:
        >>> from spikelut.wiring import random_network
        >>> plan = bptt.compile_plan(random_network(0, n_in=8, sizes=[1000, 10], k=6))
        >>> choose_forward(plan, 4), choose_forward(plan, 256)
        ('lookup', 'bitsliced')
        >>> wide = bptt.compile_plan(random_network(0, n_in=8, sizes=[1000, 10], k=10))
        >>> choose_forward(wide, 256)                  # 1,024 table entries a node: look-ups
        'lookup'
    """
    if B < AUTO_MIN_BATCH:
        return "lookup"
    est = estimate_ns(plan, B, save)
    return "bitsliced" if est["bitsliced"] * AUTO_MARGIN < est["lookup"] else "lookup"


def auto_forward(plan: NetPlan, tables: Sequence[np.ndarray], x: np.ndarray, save: bool = True,
                 keep_addr: bool | None = None) -> PackedForward:
    """:func:`forward` or :func:`spikelut.train.kernels_cpu.forward`, as :func:`choose_forward`
    says for this batch. Both give the same spikes, addresses and gradients: the choice changes
    only the time.

    Raises:
        ShapeError: ``x`` is not ``[T, B, n_in]`` or a table has the wrong shape.

    Example:
        >>> from spikelut.wiring import random_network
        >>> plan = bptt.compile_plan(random_network(0, n_in=2, sizes=[30], k=2))
        >>> t = [np.zeros((30, 4), np.uint8)]
        >>> type(auto_forward(plan, t, np.zeros((2, 1, 2), np.uint8))).__name__
        'PackedForward'
        >>> type(auto_forward(plan, t, np.zeros((2, 500, 2), np.uint8))).__name__
        'BitsForward'
    """
    B = int(np.shape(x)[1]) if np.ndim(x) == 3 else 0
    if choose_forward(plan, B, save) == "bitsliced":
        return forward(plan, tables, x, save, keep_addr)
    return lookup_forward(plan, tables, x, save, keep_addr)


def backward(plan: NetPlan, thetas: Sequence[np.ndarray], fwd: bptt.Forward,
             g_spikes: Sequence[np.ndarray | None], surrogate: Surrogate,
             refractory_grad: str = "block", tap_grad: str = "tanh", tbptt: int = 0,
             input_grad: bool = False) -> tuple[list[np.ndarray], np.ndarray | None]:
    """:func:`spikelut.train.kernels_cpu.backward` (same arguments, same results), which skips
    building a :class:`BitsForward`'s time-major record where that pass would not read it: the
    addresses are stored, and no layer has a refractory period (or ``refractory_grad =
    "pass"``). Any other ``fwd`` goes to it unchanged.

    Raises:
        ConfigError: an unknown ``refractory_grad`` or ``tap_grad``, or a negative ``tbptt``.
        ShapeError: logits or ``g_spikes`` of the wrong shape.

    Example:
        >>> from spikelut.wiring import random_network
        >>> from spikelut.train.surrogates import get_surrogate
        >>> net = random_network(0, n_in=3, sizes=[6, 2], k=3, classes=2)   # no refractory period
        >>> plan, th = bptt.compile_plan(net), [np.ones(l.table.shape, np.float32) for l in net.layers]
        >>> fwd = forward(plan, bptt.tables_of(th), np.ones((4, 5, 3), np.uint8))
        >>> g = [None, np.ones((4, 5, 2), np.float32)]
        >>> grads, _ = backward(plan, th, fwd, g, get_surrogate("sigmoid"))
        >>> [a.shape for a in grads], fwd._bits is None        # the record was never built
        ([(6, 8), (2, 8)], True)
    """
    if (isinstance(fwd, BitsForward) and fwd._bits is None and fwd.stored is not None
            and (refractory_grad == "pass" or not fwd.plan.lowered.layer_r.any())):
        # the compiled pass reads the record only for the refractory gate and to recompute
        # addresses (and its batch size from its shape): hand it an empty one of the same type
        fwd = PackedForward(fwd.plan, np.zeros((1, fwd.B, 1), np.uint64), fwd.T, fwd.B,
                            fwd.save, fwd.stored)
    return lookup_backward(plan, thetas, fwd, g_spikes, surrogate, refractory_grad, tap_grad,
                           tbptt, input_grad)


def select_forward(name: str) -> Callable[..., PackedForward]:
    """The forward pass ``[train] forward = name`` runs on the numba backend.

    Raises:
        ConfigError: ``name`` is not one of :data:`~spikelut.train.passes.FORWARDS`.

    Example:
        >>> select_forward("bitsliced") is forward, select_forward("lookup") is lookup_forward
        (True, True)
    """
    passes = {"auto": auto_forward, "lookup": lookup_forward, "bitsliced": forward}
    if name not in passes:
        raise ConfigError(f"unknown forward {name!r}; choose one of {', '.join(FORWARDS)}")
    return passes[name]
