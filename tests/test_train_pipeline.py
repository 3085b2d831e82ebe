"""The pipelined backward pass (spikelut/train/tasks.py: pipeline_stages, pipeline_schedule;
team.py: next_queued): which groups of layers become stages, the task lists and their dependencies, and
that the pipeline gives the bits of one thread for every option, thread count and team size."""

from contextlib import contextmanager

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikelut.train import bptt, kernels_bits, kernels_cpu, tasks

from helpers import simd_env
from test_train_blocks import DEMO, assert_same_bits, case, demo, early, late, layer, net_of, run
from test_train_fast import numba_threads


def flat(layers):
    return tasks.node_arrays(bptt.compile_plan(net_of(layers)))


def stages(layers, Q, input_grad=False, full=False):
    f = flat(layers)
    got = tasks.pipeline_stages(f, f["rank_full" if full else "rank"], full, input_grad, Q)
    return None if got is None else got.tolist()


def test_stages_of_the_demo_shape():
    # groups {out, rec}, {front2}, {front}: costs 4*6+12 + 12*6+48 = 156 | 10*6+30 + 10*6 = 150
    assert stages(DEMO, 2) == [0, 1, 1]
    assert stages(DEMO, 1) is None  # one thread: nothing to pipeline
    # three threads: the largest stage stays {out, rec}; 306 < 0.75 * 3 * 156
    assert stages(DEMO, 3) is None


def chain(c_reads_a):
    taps = [{"from": "b", "count": 1}] + ([{"from": "a", "count": 1}] if c_reads_a else
                                          [{"from": "b", "count": 1, "delay": 1}])
    return [layer("a", 16, [{"from": "input", "count": 2}], k=2),
            layer("b", 8, [{"from": "a", "count": 2}], k=2),
            layer("c", 40, taps, k=2)]


def test_a_signal_read_from_two_stages_keeps_them_together():
    # c | b, a balances best (320 against 160); where c also reads a, a's rows would get terms
    # from both stages (in an order that depends on the threads): that cut is not allowed, and
    # the one left (c, b | a: 384 against 96) does not pay
    assert stages(chain(False), 2) == [0, 1, 1]
    assert stages(chain(True), 2) is None


def test_input_taps_count_with_input_gradients_only():
    # c, b | a (c also reads a): 4*8 + 8*8 = 96 against a's 28*6 = 168 (its input taps carry no
    # gradient), 264 >= 0.75 * 2 * 168; with input gradients a costs 28*8 = 224: 320 < 336
    small = [dict(lay, nodes=n) for lay, n in zip(chain(True), (28, 8, 4))]
    assert stages(small, 2) == [0, 0, 1]
    assert stages(small, 2, input_grad=True) is None


def test_pipeline_dependencies_over_three_stages():
    groups = [[(2, 0, 1)], [(1, 1, 2)], [(0, 2, 3)]]
    kind, lo, hi, tc, tw, tq, qlo, qhi, dq1, dn1, dq2, dn2 = tasks.pipeline_schedule(
        groups, np.array([0, 1, 2]), 6, 2)
    assert qlo.tolist() == [0, 6, 12] and qhi.tolist() == [6, 12, 18]
    assert tc.tolist() == [0, 1, 2, 3, 4, 5] * 3
    first = [0, 2, 4]  # the first task of each block of each stage
    # stage s waits for stage s - 1 through the same block ...
    assert [(dq1[q * 6 + i], dn1[q * 6 + i]) for q in (1, 2) for i in first] == [
        (0, 2), (0, 4), (0, 6), (1, 2), (1, 4), (1, 6)]
    # ... and for the last stage through the block three before (three blocks in flight at most)
    assert [(dq2[q * 6 + i], dn2[q * 6 + i]) for q in (0, 1) for i in first] == [
        (-1, 0), (-1, 0), (-1, 0), (-1, 0), (-1, 0), (-1, 0)]
    others = np.ones(18, bool)
    others[[q * 6 + i for q in range(3) for i in first]] = False
    assert (dq1[others] == -1).all() and (dq2[others] == -1).all()
    kind, lo, hi, tc, tw, tq, qlo, qhi, dq1, dn1, dq2, dn2 = tasks.pipeline_schedule(
        groups, np.array([0, 1, 2]), 10, 2)  # five blocks
    assert [(dq2[q * 10 + 2 * b], dn2[q * 10 + 2 * b]) for q in (0, 1) for b in range(5)] == [
        (-1, 0), (-1, 0), (-1, 0), (2, 2), (2, 4), (-1, 0), (-1, 0), (-1, 0), (2, 2), (2, 4)]


@contextmanager
def pipeline_always():
    """Every cut that keeps the bits is used, however unbalanced (small test networks)."""
    old = tasks.PIPELINE_SHARE
    tasks.PIPELINE_SHARE = 0.0
    try:
        yield
    finally:
        tasks.PIPELINE_SHARE = old


def pipelined(plan, mode, input_grad, T):
    """Whether a backward pass of ``plan`` on ``T`` cycles ran pipelined."""
    f = tasks.node_arrays(plan.for_steps(T))
    return any(len(s[7]) > 0 for k, s in f.get("schedules", {}).items()
               if k[3] == (mode == "full") and k[4] == input_grad)


@settings(max_examples=50, deadline=None)
@given(shape=st.sampled_from([demo, late, early]), reach=st.sampled_from([2, 5, 9]),
       seed=st.integers(0, 2**20), T=st.integers(1, 13), B=st.sampled_from([1, 5, 17, 25]),
       r=st.lists(st.integers(0, 2), min_size=4, max_size=4),
       mode=st.sampled_from(["block", "pass", "full"]), tbptt=st.integers(0, 4),
       input_grad=st.booleans(), keep_addr=st.booleans(), n_threads=st.integers(2, 3),
       simd=st.sampled_from(["0", "1"]))
def test_the_pipeline_gives_the_bits_of_one_thread(shape, reach, seed, T, B, r, mode, tbptt,
                                                   input_grad, keep_addr, n_threads, simd):
    plan, x, thetas, g = case(shape(reach), seed, T, B, r)
    with simd_env(simd), numba_threads(1):
        a = run(plan, x, thetas, g, mode, tbptt, input_grad, keep_addr)
    with simd_env(simd), numba_threads(n_threads), pipeline_always():
        b = run(plan, x, thetas, g, mode, tbptt, input_grad, keep_addr)
    assert_same_bits(a, b)


@pytest.mark.parametrize("mode", ["block", "full"])
def test_the_demo_shape_runs_pipelined(mode):
    # refractory terms in "full" mode merge the groups: then the threads split the nodes
    plan, x, thetas, g = case(demo(5), 3, 20, 25, [1, 1, 2, 0])
    with numba_threads(1):
        a = run(plan, x, thetas, g, mode, 0, False, True)
    with numba_threads(2), pipeline_always():
        b = run(plan, x, thetas, g, mode, 0, False, True)
    assert pipelined(plan, mode, False, 20) == (mode == "block" and numba.config.NUMBA_NUM_THREADS > 1)
    assert_same_bits(a, b)


def test_one_thread_runs_every_stage_of_a_pipeline(monkeypatch):
    # a team smaller than the stages (numba started fewer threads): the one thread takes the
    # stages by turns and finishes, with the same bits
    plan, x, thetas, g = case(demo(5), 4, 30, 17, [0] * 4)
    with numba_threads(1):
        a = run(plan, x, thetas, g, "block", 0, False, True)

    @contextmanager
    def one_thread(n):
        yield

    with numba_threads(2), pipeline_always():
        monkeypatch.setattr(kernels_cpu, "numba_team", one_thread)
        monkeypatch.setenv("SPIKELUT_TRAIN_THREADS", "2")  # two stages ...
        numba.set_num_threads(1)  # ... and a team of one
        b = run(plan, x, thetas, g, "block", 0, False, True)
    assert pipelined(plan, "block", False, 30)
    assert_same_bits(a, b)


@pytest.mark.parametrize("mode,tbptt,input_grad", [("block", 0, False), ("full", 0, True),
                                                    ("pass", 3, True), ("block", 2, False)])
def test_a_pass_leaves_its_ring_all_zero(mode, tbptt, input_grad):
    # the pool hands the ring to the next pass unzeroed: every row a pass writes is read back
    plan, x, thetas, g = case(demo(9), 7, 23, 25, [1, 0, 2, 1])
    for n_threads in (1, 2):
        kernels_cpu._POOL.clear()
        with numba_threads(n_threads), pipeline_always():
            run(plan, x, thetas, g, mode, tbptt, input_grad, n_threads == 1)
        # the ring and the entry sums, both all zero
        assert sorted(a.dtype.name for a in kernels_cpu._POOL) == ["float32", "float64"]
        assert not any(a.any() for a in kernels_cpu._POOL)
    kernels_cpu._POOL.clear()


def test_memory_estimate_holds_the_pipeline_rings():
    plan = case(demo(5), 0, 20, 5, [0] * 4)[0]
    with numba_threads(1):
        one = kernels_cpu.memory_estimate(plan, 20, 5)
    with numba_threads(2), pipeline_always():
        two = kernels_cpu.memory_estimate(plan, 20, 5)
    # blocks of 3 cycles, delays up to 5: 8 rows for one block, 16 for two stages' blocks
    assert one["window"] == 8 * plan.n_signals * 5
    if numba.config.NUMBA_NUM_THREADS >= 2:
        assert two["window"] == 16 * plan.n_signals * 5
        assert two["gradient"] == 2 * one["gradient"]


# ---------------------------------------------------------------- the bit-sliced forward pass
def loop(reach=2):
    """front also reads rec (a later layer) at delay 2: no stage may end between them."""
    d = demo(reach)
    return [dict(d[0], taps=d[0]["taps"] + [{"from": "rec", "count": 1, "delay": 2}], k=4), *d[1:]]


def forward_stages(layers, Q, B=25):
    plan = bptt.compile_plan(net_of(layers))
    got = kernels_bits._forward_stages(plan, tasks.node_arrays(plan), B, True, Q)
    return None if got is None else got.tolist()


def test_forward_stages_keep_loops_inside_a_stage():
    # LUT cost ~ nodes: front, front2 (10 + 10) | rec, out (12 + 4)
    with pipeline_always():
        assert forward_stages(DEMO, 2) == [0, 0, 1, 1]
        assert forward_stages(loop(), 2) == [0, 0, 0, 1]  # front .. rec together
    assert forward_stages(DEMO, 1) is None


@settings(max_examples=40, deadline=None)
@given(shape=st.sampled_from([demo, late, early, loop]), reach=st.sampled_from([2, 5, 9]),
       seed=st.integers(0, 2**20), T=st.integers(1, 13), B=st.sampled_from([1, 25, 70]),
       r=st.lists(st.integers(0, 2), min_size=4, max_size=4), save=st.booleans(),
       simd=st.sampled_from(["0", "1"]))
def test_the_pipelined_forward_gives_the_words_of_one_thread(shape, reach, seed, T, B, r, save,
                                                             simd):
    plan, x, thetas, _ = case(shape(reach), seed, T, B, r)
    tables = bptt.tables_of(thetas)
    with simd_env(simd), numba_threads(1):
        a = kernels_bits.forward(plan, tables, x, save=save)
    with simd_env(simd), numba_threads(2), pipeline_always():
        b = kernels_bits.forward(plan, tables, x, save=save)
    np.testing.assert_array_equal(a.words, b.words)
    if save:
        np.testing.assert_array_equal(a.stored, b.stored)
    if numba.config.NUMBA_NUM_THREADS > 1:
        f = tasks.node_arrays(plan.for_steps(T))  # the plan the pass ran
        assert any(key[3] == 2 for key in f.get("forward_lists", {}))


def test_forward_lists_wait_for_the_stage_before_at_each_cycle():
    plan, x, thetas, _ = case(DEMO, 0, 6, 25, [0] * 4)
    with numba_threads(2), pipeline_always():
        kernels_bits.forward(plan, bptt.tables_of(thetas), x)
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one CPU: no pipeline")
    f = tasks.node_arrays(plan.for_steps(6))
    (kind, lo, hi, tc, tw, tq, qlo, qhi, dq1, dn1, dq2, dn2), = f["forward_lists"].values()
    # stage 0: inputs + front, front2 (3 tasks a cycle); stage 1: rec, out (2 tasks a cycle)
    assert tc.tolist() == [t for t in range(6) for _ in range(3)] + [t for t in range(6) for _ in range(2)]
    assert kind.tolist() == [tasks.INPUTS, 0, 1, 2, 3]
    firsts = qlo[1] + 2 * np.arange(6)
    assert dq1[firsts].tolist() == [0] * 6 and dn1[firsts].tolist() == [3 * (t + 1) for t in range(6)]
    assert (np.delete(dq1, firsts) == -1).all() and (dq2 == -1).all()  # no lag bound: no rings


# ---------------------------------------------------------------- the rings, checked by a model
def chain_of(n, reach, nodes=16, skip=False):
    """``n`` layers in a chain reading the one before at delays 0 and ``reach`` (with ``skip``,
    the last also reads the first: a signal written from two groups)."""
    out = []
    for i in range(n):
        taps = [{"from": "input" if i == 0 else f"l{i - 1}", "count": 2, "delay": [0, reach]}]
        if skip and i == n - 1:
            taps = [taps[0] | {"count": 1}, {"from": "l0", "count": 1, "delay": reach}]
        out.append(layer(f"l{i}", nodes, taps, k=2))
    return out


def replay(layers, T, Q, have, input_grad, pick):
    """Run the backward pass's task lists for ``Q`` threads as a model: any order the
    dependencies of ``next_queued`` allow (``pick`` chooses among the stages that may run),
    every read and write of the rings that ``_backward`` does, on the rings' sizes. Returns the
    conflicts (a ring slot read or written for one row while it holds another) and the stages."""
    plan = bptt.compile_plan(net_of(layers)).for_steps(T)
    f = tasks.node_arrays(plan)
    D, N, rank = plan.D, plan.n_signals, f["rank"]
    tau = tasks.block_cycles(rank, T, D)
    stage = tasks.pipeline_stages(f, rank, False, input_grad, Q)
    kind, lo, hi, tc, tw, _, tq, qlo, qhi, dq1, dn1, dq2, dn2 = tasks.backward_tasks(
        f, plan.n_in, N, rank, stage, Q, T, tau, input_grad, have)
    S = len(qlo)
    W = tasks.ring_rows(D, S, tau)
    pending, window, bad = {}, {r % W: r for r in range(max(0, D + T - W), D + T)}, []

    def touch(row, sig, read):
        held = pending.get((row % W, sig))
        if held is not None and held != row:
            bad.append(f"dL/ds slot of signal {sig}: row {row} {'read' if read else 'written'} "
                       f"while it holds row {held}")
        pending[row % W, sig] = None if read else row

    done = [0] * S

    def ready(q):
        i = qlo[q] + done[q]
        return (i < qhi[q] and (dq1[i] < 0 or done[dq1[i]] >= dn1[i])
                and (dq2[i] < 0 or done[dq2[i]] >= dn2[i]))

    for _ in range(int(qhi[-1]) if S else 0):
        q = pick([q for q in range(S) if ready(q)])
        i = qlo[q] + done[q]
        done[q] += 1
        t = T - 1 - tc[i]
        row, k_ = D + t, kind[tw[i]]
        if k_ == tasks.LOAD:
            if row - W >= 0:
                window[row % W] = row - W
        elif k_ == tasks.INPUTS:
            for ii in range(lo[tw[i]], hi[tw[i]]):
                touch(row, ii, True)
        else:
            for j in range(lo[tw[i]], hi[tw[i]]):
                touch(row, f["sig"][k_] + j - f["lo"][k_], True)
                for p in range(f["k"][k_]):
                    d = f["dly"][j, p]
                    if not have and window.get((row - d) % W) != row - d:
                        bad.append(f"spike window: row {row - d} read while the slot holds "
                                   f"row {window.get((row - d) % W)}")
                    if d <= t and (input_grad or not f["is_in"][j, p]):
                        touch(row - d, f["gidx"][j, p], False)
    bad += [f"row {r} of signal {s} never read" for (_, s), r in pending.items() if r is not None]
    return bad, stage


@pytest.mark.parametrize("shape", ["chain4", "chain5", "skip", "demo"])
@pytest.mark.parametrize("Q", [2, 3, 4])
def test_no_ring_slot_is_reused_too_early_in_any_order(shape, Q):
    # every order the dependencies allow: the first stages as far ahead as they may ("ahead"),
    # the last stage first ("behind"), and random choices; two to four stages
    import random
    rng = random.Random(Q)
    picks = {"ahead": lambda c: c[0], "behind": lambda c: c[-1], "random": rng.choice}
    stages_seen = set()
    with pipeline_always():
        for reach in (2, 5, 9):
            layers = {"chain4": chain_of(4, reach), "chain5": chain_of(5, reach),
                      "skip": chain_of(4, reach, skip=True), "demo": demo(reach)}[shape]
            for have in (True, False):
                for input_grad in (False, True):
                    for name, pick in picks.items():
                        bad, stage = replay(layers, 31, Q, have, input_grad, pick)
                        assert bad == [], (reach, have, input_grad, name, bad[:3])
                        stages_seen.add(0 if stage is None else int(stage.max()) + 1)
    # skip: l0 gets terms from l1 and l3, so only "l3, l2, l1 | l0" may be cut
    assert max(stages_seen) == min(Q, {"chain4": 4, "chain5": 5, "skip": 2, "demo": 3}[shape])


def test_a_pass_that_can_run_a_pipeline_takes_two_threads_at_any_size(monkeypatch):
    # batch 1 of the small demo shape: far below the node split's size threshold
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one CPU")
    plan, x, thetas, g = case(DEMO, 2, 9, 1, [0] * 4)
    monkeypatch.setattr(kernels_cpu, "spare_cpus", lambda: 2)
    monkeypatch.setattr(kernels_cpu.TUNER, "enabled", False)  # the rule's count, unmeasured
    monkeypatch.delenv("SPIKELUT_TRAIN_THREADS", raising=False)
    old = numba.get_num_threads()
    numba.set_num_threads(2)  # whatever an earlier test left
    try:
        assert kernels_cpu.pass_threads(plan.lowered.n_nodes, 1) == 1
        kernels_bits.forward(plan, bptt.tables_of(thetas), x)
        run(plan, x, thetas, g, "block", 0, False, True)
    finally:
        numba.set_num_threads(old)
    f = tasks.node_arrays(plan.for_steps(9))
    assert any(key[3] == 2 for key in f["forward_lists"])
    assert pipelined(plan, "block", False, 9)
