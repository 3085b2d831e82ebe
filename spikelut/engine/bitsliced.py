"""The bit-sliced CPU engine: 64 samples per ``uint64`` word, compiled with numba.

Every LUT is evaluated for 64 samples at once as a mux tree (Shannon expansion) of bitwise
operations on words: the first level picks table entry ``2a`` or ``2a + 1`` with tap 0
(``c ^ (tap0 & d)`` with per-node constant masks, see :meth:`Plan.level0_masks`), each later
level ``p`` merges pairs with ``lo ^ (tap_p & (lo ^ hi))``. The tree is unrolled per k = 1..6
(:mod:`spikelut.engine.lutgen`) and its innermost loop runs over contiguous words, so LLVM keeps
the tree in vector registers and issues SIMD instructions (AVX2/AVX-512: 256/512 samples each).
A node with k = 7..12 is a Shannon decomposition: ``2**(k-6)`` unrolled LUT6 pieces on taps
0..5 (the 64-entry slices of its table) into a scratch buffer, then a loop of mux levels on taps
6..k-1 over that buffer (the same merge), the shape of the LUT6 + MUXF7/MUXF8 tree of the RTL.
Where the CPU has AVX-512 BITALG, a node of k <= 6 in a slice of fewer than
:data:`~spikelut.engine.bitsimd.LUT_MAX_WORDS` words skips the tree: its 64 samples' addresses
are built in one register and looked up in its table word with one bit shuffle per word
(:func:`spikelut.engine.bitsimd.lut_word`; ``SPIKELUT_SIMD=0`` keeps the tree), with the same
bits; wider slices keep the tree, which is as fast there.

The whole time loop and all layers run in one compiled function; history is a ring buffer of
``depth = max(delay, refractory) + 1`` slots per signal; the refractory gate is
``s = a & ~(s[t-1] | ... | s[t-R])`` on words. Threads (``prange``) split the batch words: samples
never interact, so each thread runs every cycle and layer for its slice with no synchronization
(one parallel region per call, not per cycle). How many threads a call uses by default is
:func:`choose_threads`: one for small work or narrow slices, and no more than the CPUs that are
idle right now (``docs/threads.md``).

This engine holds no semantics of its own: it is tested for exact equality with
:mod:`spikelut.engine.reference`.

Example:
    >>> import numpy as np
    >>> from spikelut.wiring import random_network
    >>> from spikelut.engine import reference, bitsliced
    >>> net = random_network(1, n_in=5, sizes=[20, 4], k=4, max_delay=2, refractory=1)
    >>> x = (np.random.default_rng(0).random((6, 70, 5)) < 0.5).astype(np.uint8)
    >>> a, b = reference.simulate(net, x), bitsliced.simulate(net, x)
    >>> all((p == q).all() for p, q in zip(a.layer_spikes, b.layer_spikes))
    True
"""

from __future__ import annotations

import weakref
from typing import Any, Sequence

import numba
import numpy as np
from numba import njit, prange

from ..lowering import Lowered, lower
from ..network import Network
from ..threads import numba_team, spare_cpus
from ..xp import to_numpy
from ..network import K_MAX
from ._luts import lut1, lut2, lut3, lut4, lut5, lut6, lut6_piece
from .bitsimd import lut_enabled, lut_fits, lut_word
from .bitpack import pack
from .plan import Plan, build_plan, recorded_layers, split_recorded
from .result import SimResult, check_spikes, readout

# Fewest words a thread's slice of the batch gets. Each LUT costs a fixed part (its 64 mask
# constants, 6 row look-ups) plus a part per word, so narrow slices waste most of a thread: one
# thread took 22 ms for 8 words of the 10,000-node bench network, 30 ms for 16, 43 ms for 32 and
# 81 ms for 64 (docs/threads.md), and two 8-word slices were no faster than one 16-word slice.
MIN_CHUNK_WORDS = 32
# Fewest LUT-evaluations (nodes x cycles x samples) a call needs before the default uses more
# than one thread (about 35 ms of one thread). Measured on an idle 2-core machine: two threads
# lost at 1.3e8 (1,000 nodes x 4,096 samples x 32 cycles), broke even at 2.6e8 and won by
# 1.15-1.8x at 1.3e9 (the bench's default size); docs/threads.md.
MIN_PARALLEL_EVALS = 5e8
# Most words per slice: beyond 64 (4096 samples) the ring of a large network falls out of cache
# (measured: 50k nodes run 10 % faster in two slices of 64 words than in one of 128).
MAX_CHUNK_WORDS = 64

# the address output of bitsimd.lut_word, never written here (the engine keeps no addresses)
_NO_ADDR = np.zeros(1, np.uint8)

# first-level mux masks of each lowered network (derived once per network, not per call)
_MASKS: "weakref.WeakKeyDictionary[Lowered, tuple[np.ndarray, np.ndarray]]" = weakref.WeakKeyDictionary()


def level0_masks(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`Plan.level0_masks` of the plan's lowered network, cached on that network."""
    masks = _MASKS.get(plan.lowered)
    if masks is None:
        masks = _MASKS[plan.lowered] = plan.level0_masks()
    return masks


@njit(cache=True, nogil=True)
def _lut_wide(ring, cur, rows, cm, dm, j, W, k, scratch):  # pragma: no cover - compiled
    # k = 7..12, a Shannon decomposition on taps 6..k-1: the 2**(k-6) LUT6 pieces into scratch,
    # then one mux level per tap. A function of its own (not inlined) keeps the k <= 6 loop of
    # _run as small as it was: inlined, it slowed k = 6 by about 15 %.
    n_p = 1 << (k - 6)
    for s in range(n_p):
        lut6_piece(ring, rows, cm, dm, j, W, 32 * s, scratch, s)
    for p in range(6, k):
        r = rows[p]
        n_p //= 2
        for a in range(n_p):
            for w in range(W):
                lo = scratch[2 * a, w]
                scratch[a, w] = lo ^ (ring[r, w] & (lo ^ scratch[2 * a + 1, w]))
    for w in range(W):
        ring[cur, w] = scratch[0, w]


@njit(cache=True, nogil=True, inline="always")
def eval_lut(ring, cur, rows, cm, dm, j, W, k, scratch):  # pragma: no cover - compiled
    # node j's output words ring[cur, :W] from its k tap rows (k = 1..12): the unrolled tree of
    # its k, or the decomposition of k = 7..12; also the training forward's (train/kernels_bits)
    if k == 6:
        lut6(ring, cur, rows, cm, dm, j, W)
    elif k == 5:
        lut5(ring, cur, rows, cm, dm, j, W)
    elif k == 4:
        lut4(ring, cur, rows, cm, dm, j, W)
    elif k == 3:
        lut3(ring, cur, rows, cm, dm, j, W)
    elif k == 2:
        lut2(ring, cur, rows, cm, dm, j, W)
    elif k == 1:
        lut1(ring, cur, rows, cm, dm, j, W)
    else:
        _lut_wide(ring, cur, rows, cm, dm, j, W, k, scratch)


@njit(cache=True, parallel=True, nogil=True)
def _run(inp, n_in, depth, layer_lo, layer_hi, layer_k, layer_r, tap_sig, tap_dly, cm, dm,
         rec_row, out, n_chunks, lut_on, tword, no_addr):  # pragma: no cover - compiled
    # (covered through simulate())
    # Samples never interact, so each thread takes a slice of the batch words and runs the whole
    # simulation for it: no barrier per cycle or layer (which costs milliseconds whenever
    # another process holds a core).
    T = inp.shape[0]
    W = inp.shape[2]
    N = tap_sig.shape[0]
    n_sig = n_in + N
    for c in prange(n_chunks):
        w0 = (c * W) // n_chunks
        wn = ((c + 1) * W) // n_chunks - w0
        ring = np.zeros((depth * n_sig, wn), np.uint64)
        rows = np.empty(K_MAX, np.int64)
        # LUT6 pieces of a k > 6 node (cm has 32 columns per 64-entry piece)
        scratch = np.empty((max(1, cm.shape[1] // 32), wn), np.uint64)
        for t in range(T):
            slot = t % depth
            base = slot * n_sig
            for ch in range(n_in):
                for w in range(wn):
                    ring[base + ch, w] = inp[t, ch, w0 + w]
            for li in range(layer_lo.shape[0]):
                k = layer_k[li]
                R = layer_r[li]
                for j in range(layer_lo[li], layer_hi[li]):
                    # slot of cycle t - d without a division per tap (d < depth)
                    for p in range(k):
                        sp = slot - tap_dly[j, p]
                        if sp < 0:
                            sp += depth
                        rows[p] = sp * n_sig + tap_sig[j, p]
                    cur = base + n_in + j
                    if lut_on and lut_fits(k, wn):  # a bit shuffle per word
                        for w in range(wn):
                            ring[cur, w] = lut_word(ring, rows, k, w, tword[j], no_addr, 0, 0,
                                                    False)
                    else:
                        eval_lut(ring, cur, rows, cm, dm, j, wn, k, scratch)
                    # refractory gate: silent if the node fired in any of the last R cycles
                    for q in range(1, R + 1):
                        sq = slot - q
                        if sq < 0:
                            sq += depth
                        rq = sq * n_sig + n_in + j
                        for w in range(wn):
                            ring[cur, w] &= ~ring[rq, w]
                    row = rec_row[j]
                    if row >= 0:
                        for w in range(wn):
                            out[t, row, w0 + w] = ring[cur, w]
    return out


def choose_threads(nodes: int, steps: int, words: int, threads: int | None = None,
                   spare: int | None = None) -> tuple[int, int]:
    """Threads and batch slices of one engine call.

    The batch's ``words`` (64 samples each) are cut into slices that run independently, each
    over all cycles and layers. A slice has at least :data:`MIN_CHUNK_WORDS` words (narrower
    slices waste most of a thread) and at most :data:`MAX_CHUNK_WORDS` (wider ones fall out of
    cache), so a batch of fewer than ``2 * MIN_CHUNK_WORDS`` words always runs on one thread.
    With ``threads=None`` (the default) a call also uses one thread when its work
    (``nodes * steps * 64 * words`` LUT-evaluations) is below :data:`MIN_PARALLEL_EVALS`, and
    never more threads than numba's current count (``numba.get_num_threads()``) or the CPUs not
    running another task right now (``spare``, :func:`spikelut.threads.spare_cpus` when
    ``None``): a thread that has to share a core makes the whole call wait for its slice.
    An explicit ``threads`` is used as given (up to ``NUMBA_NUM_THREADS`` and the slice limit).

    Args:
        nodes: LUT nodes of the network.
        steps: cycles ``T`` of the call.
        words: batch words ``W`` (64 samples each).
        threads: a fixed thread count, or ``None`` for the default rule.
        spare: idle CPUs to assume (tests); ``None`` reads the current load.

    Returns:
        ``(threads, slices)``, ``1 <= threads <= slices``.

    Example:
        >>> n = min(numba.get_num_threads(), 2)      # 2 unless NUMBA_NUM_THREADS=1
        >>> choose_threads(10_000, 32, 64, spare=2) == (n, n)  # the bench's default: 2 x 32 words
        True
        >>> choose_threads(10_000, 32, 64, spare=1)   # another task holds the other CPU
        (1, 1)
        >>> choose_threads(1_000, 32, 16, spare=2)    # 1,024 samples: too narrow to split
        (1, 1)
    """
    cap = numba.config.NUMBA_NUM_THREADS
    if threads is not None:
        n = max(1, min(int(threads), cap))
    elif nodes * steps * 64 * words < MIN_PARALLEL_EVALS:
        n = 1
    else:
        n = max(1, min(numba.get_num_threads(), spare_cpus() if spare is None else spare))
    n = max(1, min(n, words // MIN_CHUNK_WORDS))
    return n, max(n, -(-words // MAX_CHUNK_WORDS))


def simulate_packed(plan: Plan, words: np.ndarray, threads: int | None = None) -> np.ndarray:
    """Run the compiled engine on packed input ``[T, n_in, W]`` uint64.

    Returns the recorded layers' packed spikes ``[T, plan.n_recorded, W]``. ``threads`` fixes
    numba's threads for this call; the default (``None``) is :func:`choose_threads`' rule: one
    thread for small work, narrow batches or a busy machine, else numba's count.
    """
    words = np.ascontiguousarray(words, dtype=np.uint64)
    T, _, W = words.shape
    c0, d0 = level0_masks(plan)
    out = np.zeros((T, plan.n_recorded, W), np.uint64)
    n_threads, n_chunks = choose_threads(plan.tap_sig.shape[0], T, W, threads)
    with numba_team(n_threads):
        _run(words, plan.n_in, plan.depth, plan.layer_lo, plan.layer_hi, plan.layer_k, plan.layer_r,
             plan.tap_sig, plan.tap_dly, c0, d0, plan.rec_row, out, n_chunks, lut_enabled(),
             plan.lowered.table_word, _NO_ADDR)
    return out


def simulate(net: Network | Lowered, spikes: Any, record: str | int | Sequence[int] = "all",
             threads: int | None = None) -> SimResult:
    """Simulate ``net`` on input spikes ``[T, B, n_in]`` with the bit-sliced CPU engine.

    Gives exactly the reference engine's result. ``record`` chooses the layers whose spikes are
    returned (``"all"``, ``"readout"``, or layer names/indices; the readout layer is always
    kept); the others are ``None`` in ``layer_spikes``, which saves the unpacking (and memory)
    when only predictions are needed. ``threads`` fixes the numba threads used (default:
    :func:`choose_threads`).

    Raises:
        ShapeError: spikes that are not ``[T, B, n_in]`` of 0/1, or more input and recorded
            spikes (uint8, plus their packed words) than the array limit
            (:func:`spikelut.limits.max_array_bytes`), refused before they are made.
        ConfigError: ``record`` names no layer.

    Example:
        >>> import numpy as np
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=3, sizes=[5, 2], k=2)
        >>> res = simulate(net, np.ones((4, 2, 3), np.uint8), record="readout")
        >>> res.layer_spikes[0] is None, res.layer_spikes[1].shape
        (True, (4, 2, 2))
    """
    low = net if isinstance(net, Lowered) else lower(net)
    kept = sum(low.sizes[i] for i in recorded_layers(low, record))
    # the recorded spikes [T, B, kept] (uint8), the packed words of input and recorded
    # layers (1/8 of that) and, unless the input already is C-contiguous uint8, its uint8
    # copy: bounded before any is made (a MemoryError before)
    x = np.asarray(to_numpy(spikes))
    copied = x.dtype != np.uint8 or not x.flags.c_contiguous
    n = low.n_in + kept
    spikes = check_spikes(low, x, work=(0, kept + (low.n_in if copied else 0) + -(-n // 8)))
    T, B, _ = spikes.shape
    plan = build_plan(net, record, steps=T)
    out = simulate_packed(plan, pack(spikes), threads)
    layer_spikes = split_recorded(plan, net, out, B)
    counts, pred = readout(net, layer_spikes[net.readout.layer])
    return SimResult(layer_spikes, counts, pred)
