"""The plan of the compiled training passes: per-node arrays and the order of their tasks.

:mod:`.kernels_cpu` and :mod:`.kernels_bits` run a pass as a list of *tasks* (a block of one
layer's nodes at one cycle, a layer's scatter stage, the input gradient, a reload of the address
ring) that the threads of one numba parallel region claim in a fixed order (:mod:`.team`). This
module computes that order once per lowered network and pass shape, in plain numpy:

* :func:`node_arrays`: the kernels' per-node arrays of a lowered network (taps, delays, table
  offsets, the terms each node adds to ``dL/ds`` and the scatter groups), cached on it;
* :func:`layer_groups` and :func:`block_cycles`: which layers run a block of cycles together
  so that their tables stay in the cache, without changing the order of any float32 sum;
* :func:`cycle_pattern`, :func:`block_schedule`, :func:`backward_tasks`: the task list of a
  pass whose threads split the nodes;
* :func:`pipeline_stages`, :func:`balanced_stages`, :func:`pipeline_schedule`: the stages and
  queues of a pass that runs as a pipeline of layer groups on two or more threads;
* :func:`ring_rows`, :func:`window_rows`: the rows of the rings the passes keep.

Why each rule holds (the same bits for every thread count) is in ``docs/training-speed.md``.

Example:
    >>> from spikelut.wiring import random_network
    >>> from spikelut.train import bptt
    >>> f = node_arrays(bptt.compile_plan(random_network(0, n_in=4, sizes=[8, 2], k=3)))
    >>> f["n_nodes"], f["lo"].tolist(), f["hi"].tolist(), f["rank"].tolist()
    (10, [0, 8], [8, 10], [0, 0])
"""

from __future__ import annotations

import weakref
from typing import Sequence

import numpy as np

from ..lowering import Lowered
from ..network import K_MAX
from .bptt import NetPlan

# task kinds besides a layer's index: the input channels, a ring reload, and layer i's scatter
# stage (SCATTER - i)
INPUTS, LOAD, SCATTER = -1, -2, -3

# the kernels' per-node arrays of each lowered network (int64 copies, input-tap mask)
_NODE_ARRAYS: "weakref.WeakKeyDictionary[Lowered, dict]" = weakref.WeakKeyDictionary()


def node_arrays(plan: NetPlan) -> dict:
    """The compiled passes' per-node arrays of ``plan``'s lowered network (cached on it):
    ``gidx``/``dly`` int64 ``[N, K_MAX]`` (tap signal and delay), ``is_in`` (tap reads an input
    channel), ``tab_off`` int64 ``[N + 1]``, per layer ``lo``/``hi``/``k``/``R``/``sig`` (first
    signal), and ``n_nodes``."""
    low = plan.lowered
    cache = _NODE_ARRAYS.get(low)
    if cache is not None:
        return cache
    k_of_node = np.repeat(low.layer_k, low.layer_hi - low.layer_lo)
    used = np.arange(K_MAX)[None, :] < k_of_node[:, None]  # taps past a layer's k are padding
    cache = {
        "gidx": low.tap_sig.astype(np.int64), "dly": low.tap_dly.astype(np.int64),
        "is_in": used & (low.tap_sig < low.n_in), "tab_off": low.table_off,
        "lo": low.layer_lo, "hi": low.layer_hi, "k": low.layer_k, "R": low.layer_r,
        "sig": low.layer_lo + low.n_in, "n_nodes": low.n_nodes,
        "kc": int(low.layer_k.max()), "rc": int(low.layer_r.max()),
    }
    terms = _terms(low, used, cache["kc"])
    cache["terms"] = terms
    cache.update(scatter_groups(low, terms))
    # the refractory terms of dL/ds exist with refractory_grad = "full" only
    cache["rank"] = layer_groups(low, terms, False)
    cache["rank_full"] = layer_groups(low, terms, True)
    _NODE_ARRAYS[low] = cache
    return cache


def _terms(low: Lowered, used: np.ndarray, kc: int) -> dict:
    """Every term a node adds to a row of ``dL/ds``, unsorted, as int64 / bool arrays: ``node``,
    ``target`` (the signal), ``dly`` (the delay ``d``, or ``r``), ``refr`` (the "full"
    refractory term of the node's own ``s[t - r]``, ``r = 1 .. R``), ``col`` (tap ``p``, or
    ``kc + r - 1`` for a refractory term: its column of the stage buffer) and ``layer`` (the
    node's), ``isin`` (a tap that reads an input channel). ``used``: the taps that are not
    padding."""
    layer_of = np.repeat(np.arange(len(low.layer_k)), low.layer_hi - low.layer_lo)
    j, p = np.nonzero(used)
    r_of = low.layer_r[layer_of]
    rj = np.repeat(np.arange(low.n_nodes), r_of)
    rr = np.arange(rj.size) - np.repeat(np.cumsum(r_of) - r_of, r_of) + 1  # 1 .. R per node
    node = np.concatenate([j, rj]).astype(np.int64)
    return {"node": node, "target": np.concatenate([low.tap_sig[j, p], low.n_in + rj]).astype(np.int64),
            "dly": np.concatenate([low.tap_dly[j, p], rr]).astype(np.int64),
            "refr": np.concatenate([np.zeros(j.size, bool), np.ones(rj.size, bool)]),
            "col": np.concatenate([p, kc + rr - 1]).astype(np.int64), "layer": layer_of[node],
            "layer_of": layer_of,
            "isin": np.concatenate([low.tap_sig[j, p] < low.n_in, np.zeros(rj.size, bool)])}


def layer_groups(low: Lowered, terms: dict, full: bool) -> np.ndarray:
    """Per layer, the rank of its group in the backward pass's cycle-block order (0: processed
    first): groups are runs of adjacent layers; the pass processes, per block of cycles
    (:func:`block_cycles`), the first group's layers for every cycle of the block (cycle
    descending, layers last first, as without blocks), then the next group's, so a group's
    tables stay in the cache over the block instead of being read again at every cycle.

    Two layers share a group when blocks would otherwise break the pass: (a) a layer reads a
    later layer (a loop through a delay): the later one's gradient at cycle ``t`` needs the
    reader's at ``t + d``; (b) a signal would receive its ``dL/ds`` terms in another order, so the
    float32 sums, and the bits, would change: without blocks a signal's row receives its terms in
    the order (reader cycle descending, reader layer last first, node, refractory term before
    taps, tap), with blocks group by group, so the groups' ranks must not decrease along that
    order (e.g. a recurrent layer, whose row gets its own terms from cycle ``t + 1`` before its
    readers' from cycle ``t``, shares a group with those readers). Taps past a layer's ``k`` are
    padding; every tap counts, whether or not it carries a gradient in a given pass (input taps,
    tbptt), since a term that is skipped cannot change the order of the others; the refractory
    terms (a node's own ``s[t - r]``, ``r = 1 .. R``) count with ``full`` (``refractory_grad =
    "full"``, the only mode that has them).

    Example:
        >>> from spikelut.config import build_network
        >>> from spikelut.train import bptt
        >>> def layer(name, src, d):
        ...     return {"name": name, "nodes": 4, "k": 2, "taps": [{"from": src, "count": 2,
        ...                                                          "delay": d}]}
        >>> net = build_network({"inputs": 2, "readout": {"classes": 2}, "layers": [
        ...     layer("a", "input", [0, 1]), layer("b", "a", [0, 2]), layer("c", "b", [0, 0])]})
        >>> node_arrays(bptt.compile_plan(net))["rank"].tolist()  # a chain: the last layer first
        [2, 1, 0]
        >>> rec = {"name": "b", "nodes": 4, "k": 2, "taps": [{"from": "a", "count": 1},
        ...                                                  {"from": "self", "count": 1, "delay": 1}]}
        >>> net = build_network({"inputs": 2, "readout": {"classes": 2}, "layers": [
        ...     layer("a", "input", [0, 1]), rec, layer("c", "b", [0, 0])]})
        >>> node_arrays(bptt.compile_plan(net))["rank"].tolist()  # b's row: its own terms, then c's
        [1, 0, 0]
    """
    n_layers = len(low.layer_k)
    layer_of = terms["layer_of"]
    keep = slice(None) if full else ~terms["refr"]
    node, target, dly, refr, col, reader = (terms[k][keep] for k in
                                            ("node", "target", "dly", "refr", "col", "layer"))
    # the order without blocks, per target signal
    order = np.lexsort((col, ~refr, node, -reader, -dly, target))
    target, reader = target[order], reader[order]
    tlayer = np.where(target >= low.n_in, layer_of[np.maximum(target - low.n_in, 0)], -1)
    top = np.arange(n_layers)  # group of layer l: the layers top[l] .. (down to) its lowest
    while True:
        # groups as runs: layer l joins l + 1's group when top[l] > l (merged above it)
        gid = np.zeros(n_layers, np.int64)
        g = 0
        for l in range(n_layers - 1, -1, -1):
            if l < n_layers - 1 and top[l] <= l:
                g += 1
            gid[l] = g
        rank = gid[reader]
        same = target[1:] == target[:-1]
        bad = np.flatnonzero(same & (rank[1:] < rank[:-1]))  # (b): a later group's term first
        loops = np.flatnonzero((tlayer > reader) & (gid[np.maximum(tlayer, 0)] != rank))  # (a)
        if bad.size == 0 and loops.size == 0:
            return gid
        if bad.size:
            lo_l = min(reader[bad[0]], reader[bad[0] + 1])
            hi_l = max(reader[bad[0]], reader[bad[0] + 1])
        else:
            lo_l, hi_l = reader[loops[0]], tlayer[loops[0]]
        top[lo_l:hi_l] = np.maximum(top[lo_l:hi_l], hi_l)  # layers lo_l .. hi_l: one group


def scatter_groups(low: Lowered, terms: dict) -> dict:
    """What the backward pass's scatter stages walk (several threads): per layer, its nodes'
    contributions grouped by the signal they go to. Entries (``sc_node``: the node, ``sc_col``:
    its column of the stage buffer, tap ``p`` or ``kc + r - 1`` for the "full" refractory term
    of its own ``s[t - r]``; ``sc_dly``: the delay ``d`` or ``r``; ``sc_refr``; ``sc_isin``: the
    tap reads an input) sorted by (layer, target signal, node, refractory term before taps,
    tap); group ``u`` (``grp_tgt[u]``, entries ``grp_ptr[u] .. grp_ptr[u + 1]``) is one layer's
    entries of one target, and layer ``i`` has groups ``grp_lo[i] .. grp_hi[i]``. Within a group
    the order is the one in which one thread's scatter adds them, so a row of a target receives
    its sums in the same order."""
    n_layers = len(low.layer_k)
    order = np.lexsort((terms["col"], ~terms["refr"], terms["node"], terms["target"],
                        terms["layer"]))
    node, target, refr, col, dly, lay = (terms[k][order] for k in
                                         ("node", "target", "refr", "col", "dly", "layer"))
    isin = (target < low.n_in) & ~refr
    new = np.ones(node.size, bool)
    new[1:] = (target[1:] != target[:-1]) | (lay[1:] != lay[:-1])
    starts = np.flatnonzero(new)
    grp_ptr = np.append(starts, node.size).astype(np.int64)
    grp_lay = lay[starts]
    return {"sc_node": node, "sc_col": col, "sc_dly": dly, "sc_refr": refr, "sc_isin": isin,
            "grp_ptr": grp_ptr, "grp_tgt": target[starts],
            "grp_lo": np.searchsorted(grp_lay, np.arange(n_layers), "left").astype(np.int64),
            "grp_hi": np.searchsorted(grp_lay, np.arange(n_layers), "right").astype(np.int64)}


#: the most cycles per block of the backward pass (:func:`layer_groups`): a group of layers runs
#: a block of cycles before the next group, so its tables stay in the cache. A block is also at
#: most ``window_rows(D) - D`` cycles (:func:`block_cycles`), so that the rings of ``dL/ds`` and
#: of the spike window keep their ``window_rows(D)`` rows: longer blocks need longer rings, which
#: won at batch 25 and lost at batch 64. Measured in one process, the block lengths alternating
#: call by call (Intel Xeon, 2 MB of L2 per core, one thread, real MNIST-1D batches, D = 5,
#: 2026-12-02), kernel medians: the MNIST-1D demo at batch 25 14.6 ms without blocks, 14.0 (2),
#: 13.8 (3); with rings of 16 rows 13.5-14.0 (4), 13.3-13.7 (8); at batch 64 29.1 without
#: blocks, 28.4 (3), but 31.3-32.0 (4 and 8, rings of 16 rows); the pulse demo at batch 25
#: 18.7 without blocks, 17.8 (3), 17.0 (8). The bits are the same for every length.
BLOCK_CYCLES = 8
#: a node's per-cycle work in the backward pass apart from its taps (reading its dL/ds row, its
#: addresses and surrogate derivatives, its entry sums), in units of one tap's gradient: the
#: cost model of the pipelined pass (:func:`pipeline_stages`)
SETUP_TAPS = 6
#: a pipelined backward pass on ``Q`` threads is used where its stages' estimated costs allow
#: at least this share of a ``Q``-fold gain (:func:`pipeline_stages`); else the threads split the nodes
PIPELINE_SHARE = 0.75
#: a layer's nodes are cut into blocks of at least this many nodes (the unit a thread claims)
MIN_BLOCK_NODES = 8
#: blocks per layer and cycle for each thread: more than one, so that a thread that another
#: process slows down claims fewer blocks and the others take the rest (dynamic scheduling)
BLOCKS_PER_THREAD = 4


def cycle_pattern(Q: int, stages: Sequence[tuple[int, int, int]]) -> tuple[np.ndarray, ...]:
    """The tasks of one cycle: ``stages`` is a list of ``(kind, lo, hi)`` (a layer's nodes, or a
    special kind with an item range), each cut into blocks for ``Q`` threads. Returns int64
    arrays ``kind``, ``lo``, ``hi`` per task and ``first``: the index of its stage's first task
    (a task may start once that many tasks of the cycle's earlier stages are done)."""
    kind, los, his, first = [], [], [], []
    for kd, lo, hi in stages:
        n = hi - lo
        if n <= 0:
            continue
        nblk = 1 if Q == 1 else max(1, min(Q * BLOCKS_PER_THREAD, n // MIN_BLOCK_NODES))
        cuts = lo + (np.arange(nblk + 1) * n) // nblk
        start = len(kind)
        for b in range(nblk):
            kind.append(kd)
            los.append(int(cuts[b]))
            his.append(int(cuts[b + 1]))
            first.append(start)
    return tuple(np.array(v, np.int64) for v in (kind, los, his, first))


def block_schedule(Q: int, groups: Sequence[Sequence[tuple[int, int, int]]], T: int, tau: int
              ) -> tuple[np.ndarray, ...]:
    """The backward pass's task list: ``groups`` (in processing order) each a list of stages
    (as for :func:`cycle_pattern`), run per block of ``tau`` cycles group by group, each group for
    every cycle of the block. Returns int64 arrays ``kind``, ``lo``, ``hi`` (the tasks of every
    group's pattern, one after the other) and, per task of the whole pass in order, ``tc`` (its
    step: cycle ``T - 1 - tc``), ``tw`` (its pattern entry) and ``need`` (the tasks of the pass
    that must be done before it starts: every task before its stage). With one group this is
    the order of :func:`~.team.next_task` (cycle, stage, block)."""
    pats = [cycle_pattern(Q, g) for g in groups]
    offs = np.cumsum([0] + [len(p[0]) for p in pats])
    tc, tw, need = [], [], []
    for c0 in range(0, T, tau):
        for (kind, _, _, first), off in zip(pats, offs):
            for c in range(c0, min(T, c0 + tau)):
                base = len(tc)
                tc.extend([c] * len(kind))
                tw.extend(range(off, off + len(kind)))
                need.extend((base + first).tolist())
    cat = [np.concatenate([p[i] for p in pats]) if pats else np.zeros(0, np.int64) for i in range(3)]
    return (*cat, np.array(tc, np.int64), np.array(tw, np.int64), np.array(need, np.int64))


def pipeline_stages(f: dict, rank: np.ndarray, full: bool, input_grad: bool, Q: int) -> np.ndarray | None:
    """Per group of layers (index = rank, :func:`layer_groups`), its stage of a pipelined
    backward pass on ``Q`` threads, or ``None`` where no pipeline fits.

    A pipeline gives each stage (a run of adjacent groups) its own queue of tasks: while one
    thread runs the first stage's groups over a block of cycles, another runs the next stage's
    over the block before (:func:`pipeline_schedule`). Two rules keep it deterministic and worth it:
    a stage boundary may not separate two groups whose terms reach the rows of one signal (the
    groups' target signals are disjoint across stages, so every row receives its terms from one
    thread, in the order of one thread: the bits are those of one thread, whatever the
    interleaving), and the stages' estimated costs must let ``Q`` threads gain: the partition
    into at most ``Q`` stages with the smallest largest stage is used only where
    ``total / largest >= PIPELINE_SHARE * Q``. The cost of a layer is its nodes times
    :data:`SETUP_TAPS` plus its terms that carry a gradient (taps, refractory terms with
    ``full``; input taps with ``input_grad`` only), per cycle: measured on the MNIST-1D demo
    (one thread), a LUT6 node whose taps carry no gradient costs about half of one whose six
    do (50 against 104 ns per node and cycle).

    Example:
        >>> from spikelut.config import build_network
        >>> from spikelut.train import bptt
        >>> def layer(name, src, n):
        ...     return {"name": name, "nodes": n, "k": 2, "taps": [{"from": src, "count": 2}]}
        >>> net = build_network({"inputs": 2, "readout": {"classes": 2}, "layers": [
        ...     layer("a", "input", 64), layer("b", "a", 64), layer("c", "b", 8)]})
        >>> f = node_arrays(bptt.compile_plan(net))
        >>> pipeline_stages(f, f["rank"], False, False, 2).tolist()  # groups c, b | a: 8*8+64*8 | 64*6
        [0, 0, 1]
        >>> pipeline_stages(f, f["rank"], False, False, 1) is None
        True
    """
    n_groups = int(rank.max()) + 1
    if Q < 2 or n_groups < 2:
        return None
    key = (bool(full), bool(input_grad), int(Q), float(PIPELINE_SHARE))
    memo = f.setdefault("stages", {})
    if key not in memo:
        memo[key] = _partition(f, rank, full, input_grad, Q)
    return memo[key]


def _partition(f: dict, rank: np.ndarray, full: bool, input_grad: bool, Q: int
               ) -> np.ndarray | None:
    """:func:`pipeline_stages`, computed (not cached)."""
    n_groups = int(rank.max()) + 1
    target, refr, layer, isin = (f["terms"][k] for k in ("target", "refr", "layer", "isin"))
    live = (full | ~refr) & (input_grad | ~isin)
    grp = rank[layer[live]]
    tgt = target[live]
    cost = np.zeros(n_groups)
    np.add.at(cost, rank, (f["hi"] - f["lo"]) * SETUP_TAPS)
    np.add.at(cost, grp, 1)
    # a cut after group c is allowed where no signal gets terms from groups on both sides
    lo_g = np.full(int(tgt.max(initial=-1)) + 1, n_groups, np.int64)
    hi_g = np.full(lo_g.size, -1, np.int64)
    np.minimum.at(lo_g, tgt, grp)
    np.maximum.at(hi_g, tgt, grp)
    ok = np.ones(n_groups, bool)  # ok[c]: a stage may end after group c
    for a, b in zip(lo_g[hi_g >= 0], hi_g[hi_g >= 0]):
        ok[a:b] = False
    return balanced_stages(cost, ok, Q)


def balanced_stages(cost: np.ndarray, ok: np.ndarray, Q: int) -> np.ndarray | None:
    """Runs of adjacent items (``cost[i]`` each) as the stages of a pipeline on ``Q`` threads:
    the partition into 2 .. ``Q`` runs, cut only after items ``i`` with ``ok[i]``, whose largest
    run costs least (fewer runs on a tie); its stage per item, or ``None`` where no cut is
    allowed or the largest run is above ``total / (PIPELINE_SHARE * Q)`` (the threads could not
    gain enough). A small dynamic programme over the cuts.

    Example:
        >>> balanced_stages(np.array([4.0, 3, 2, 1]), np.ones(4, bool), 2).tolist()
        [0, 1, 1, 1]
        >>> balanced_stages(np.array([1.0, 4, 4, 1]), np.ones(4, bool), 2).tolist()
        [0, 0, 1, 1]
        >>> no_middle = np.array([1, 0, 1, 0], bool)  # best largest run 9: 10 < 0.75 * 2 * 9
        >>> balanced_stages(np.array([1.0, 4, 4, 1]), no_middle, 2) is None
        True
    """
    n_groups = len(cost)
    if Q < 2 or n_groups < 2:
        return None
    csum = np.concatenate([[0.0], np.cumsum(cost)])
    best = {(0, 0): (0.0, [])}
    for i in range(1, n_groups + 1):  # first i groups
        for s in range(1, min(Q, i) + 1):
            cands = []
            for j in range(s - 1, i):  # the last stage: groups j .. i - 1
                if (j, s - 1) not in best or (j > 0 and not ok[j - 1]):
                    continue
                m, cuts = best[(j, s - 1)]
                cands.append((max(m, csum[i] - csum[j]), cuts + [j]))
            if cands:
                best[(i, s)] = min(cands, key=lambda c: (c[0], len(c[1])))
    options = [best[(n_groups, s)] for s in range(2, Q + 1) if (n_groups, s) in best]
    if not options:
        return None
    largest, cuts = min(options, key=lambda c: (c[0], len(c[1])))
    if csum[-1] < PIPELINE_SHARE * Q * largest:
        return None
    stage = np.zeros(n_groups, np.int64)
    for c in cuts[1:]:
        stage[c:] += 1
    return stage


def pipeline_schedule(groups: Sequence[Sequence[tuple[int, int, int]]], stage: np.ndarray, T: int,
              tau: int, lag: bool = True) -> tuple[np.ndarray, ...]:
    """The pipelined backward pass's task lists (:func:`pipeline_stages`): per stage, its groups'
    tasks (one per layer, as on one thread) in the order of :func:`block_schedule` (per block of
    ``tau`` cycles, group, cycle descending, layer). Returns int64 arrays ``kind``, ``lo``,
    ``hi`` (the patterns), per task ``tc``, ``tw`` (as :func:`block_schedule`) and ``tq`` (its
    stage), the stages' task ranges ``qlo``, ``qhi`` (the tasks of stage ``s`` are
    ``qlo[s] .. qhi[s]``, run in that order by whichever thread takes them), and two
    dependencies per task: it starts once stage ``dq1`` has done ``dn1`` of its tasks (the
    previous stage, through the same block: the terms for this block's rows) and stage ``dq2``
    ``dn2`` (the last stage, through block ``b - stages`` for a task of block ``b``: so at most
    ``stages`` blocks are in flight, from the first stage's to the last stage's, and the rings
    need ``D + stages * tau`` rows; a bound between neighbouring stages only would let the lags
    add up over three or more stages; none with ``lag=False``, for a pass without rings);
    ``-1`` where none.

    Example:
        >>> groups = [[(3, 0, 4)], [(1, 4, 8)]]          # two groups, one layer each
        >>> r = pipeline_schedule(groups, np.array([0, 1]), 4, 2)
        >>> r[3].tolist(), r[5].tolist()                 # tc, tq: stage 0's tasks, then 1's
        ([0, 1, 2, 3, 0, 1, 2, 3], [0, 0, 0, 0, 1, 1, 1, 1])
        >>> r[8].tolist(), r[9].tolist()                 # stage 1 waits for stage 0's block
        ([-1, -1, -1, -1, 0, -1, 0, -1], [0, 0, 0, 0, 2, 0, 4, 0])
    """
    pats = [cycle_pattern(1, g) for g in groups]
    offs = np.cumsum([0] + [len(p[0]) for p in pats])
    S = int(stage.max()) + 1
    tc: list[list[int]] = [[] for _ in range(S)]
    tw: list[list[int]] = [[] for _ in range(S)]
    ends: list[list[int]] = [[] for _ in range(S)]  # tasks of each stage through each block
    for c0 in range(0, T, tau):
        for gi, (kind, _, _, _) in enumerate(pats):
            s = int(stage[gi])
            for c in range(c0, min(T, c0 + tau)):
                tc[s].extend([c] * len(kind))
                tw[s].extend(range(offs[gi], offs[gi] + len(kind)))
        for s in range(S):
            ends[s].append(len(tc[s]))
    qlo = np.cumsum([0] + [len(v) for v in tc])[:-1]
    n = sum(len(v) for v in tc)
    dq1, dn1 = np.full(n, -1, np.int64), np.zeros(n, np.int64)
    dq2, dn2 = np.full(n, -1, np.int64), np.zeros(n, np.int64)
    for s in range(S):
        for b in range(len(ends[s])):
            first = qlo[s] + (ends[s][b - 1] if b else 0)
            if first >= qlo[s] + ends[s][b]:
                continue  # no task of this stage in the block
            if s > 0:
                dq1[first], dn1[first] = s - 1, ends[s - 1][b]
            if lag and s < S - 1 and b >= S:
                dq2[first], dn2[first] = S - 1, ends[S - 1][b - S]
    cat = [np.concatenate([p[i] for p in pats]) for i in range(3)]
    tq = np.repeat(np.arange(S), [len(v) for v in tc])
    return (*cat, np.array(sum(tc, []), np.int64), np.array(sum(tw, []), np.int64),
            tq.astype(np.int64), qlo.astype(np.int64), (qlo + [len(v) for v in tc]).astype(np.int64),
            dq1, dn1, dq2, dn2)


def ring_rows(D: int, n_stages: int, tau: int) -> int:
    """Rows of the backward pass's rings (``dL/ds`` and the spike window) for delays up to ``D``
    and blocks of ``tau`` cycles: every block in flight, one per stage of a pipeline
    (:func:`pipeline_schedule` bounds them to ``n_stages``; ``0``: not pipelined, one block), that is
    ``D + n_stages * tau`` rows rounded up to a power of two (:func:`window_rows`).

    Example:
        >>> ring_rows(5, 0, 3), ring_rows(5, 2, 3), ring_rows(5, 3, 3)
        (8, 16, 16)
    """
    return window_rows(D + max(1, n_stages) * tau - 1)


def window_rows(D: int) -> int:
    """Rows of a history window (ring): the power of two ``>= D + 1``, so a slot is
    ``row & (W - 1)`` (no division in the inner loops)."""
    return 1 << max(0, int(D)).bit_length()



def backward_tasks(f: dict, n_in: int, N: int, rank: np.ndarray, stage: np.ndarray | None, Q: int,
                T: int, tau: int, input_grad: bool, have: bool) -> tuple[np.ndarray, ...]:
    """:func:`.kernels_cpu.backward`'s task arrays: ``kind``, ``lo``, ``hi``, ``tc``, ``tw``, ``need`` and,
    for a pipelined pass (``stage`` from :func:`pipeline_stages`, else ``None``), ``tq``, ``qlo``,
    ``qhi``, ``dq1``, ``dn1``, ``dq2``, ``dn2`` (:func:`pipeline_schedule`; empty otherwise)."""
    scatter = Q > 1 and stage is None  # one thread, or a pipeline, adds straight into G
    groups: list[list[tuple[int, int, int]]] = [[] for _ in range(int(rank.max()) + 1)]
    for li in range(len(f["lo"]) - 1, -1, -1):
        stages = groups[rank[li]]
        stages.append((li, int(f["lo"][li]), int(f["hi"][li])))
        if scatter:
            stages.append((SCATTER - li, int(f["grp_lo"][li]), int(f["grp_hi"][li])))
    # with the last group: every group is then done with the cycle
    groups[-1] += [(INPUTS, 0, n_in)] if input_grad else []
    groups[-1] += [] if have else [(LOAD, 0, N)]
    if stage is None:
        none = np.zeros(0, np.int64)
        return (*block_schedule(Q, groups, T, tau), *([none] * 7))
    kind, lo, hi, tc, tw, tq, qlo, qhi, dq1, dn1, dq2, dn2 = pipeline_schedule(groups, stage, T, tau)
    return kind, lo, hi, tc, tw, np.zeros(0, np.int64), tq, qlo, qhi, dq1, dn1, dq2, dn2


def block_cycles(rank: np.ndarray, T: int, D: int) -> int:
    """Cycles per block of the backward pass: where the layers form more than one group
    (:func:`layer_groups`; one group gains nothing from blocks), as many as the rings of
    ``window_rows(D)`` rows allow (a block needs ``D + tau`` of them), at most
    :data:`BLOCK_CYCLES` and ``T``; else 1.

    Example:
        >>> block_cycles(np.array([2, 1, 0, 0]), 40, 5)   # rings of 8 rows: blocks of 3
        3
        >>> block_cycles(np.array([0, 0]), 40, 5)         # one group
        1
    """
    if int(rank.max()) == 0:
        return 1
    return max(1, min(int(BLOCK_CYCLES), T, window_rows(D) - D))
