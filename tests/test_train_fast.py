"""The fast compiled training passes (spikelut/train/kernels_cpu.py, docs/training-speed.md):
bit-packed spike record, addresses stored or recomputed, spike-gradient rings, backward blocks,
thread split of the batch. Every path against the reference bptt.py (spikes and addresses bit for
bit, gradients within float32 rounding), and thread counts 1, 2, 3 against each other (bit for
bit, and the same kept tables after training)."""

from contextlib import contextmanager

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikelut.errors import ConfigError
from spikelut.lowering import address_dtype
from spikelut.network import Layer, Network, Readout
from spikelut.threads import ThreadTuner
from spikelut.train import Trainer, TrainConfig, bptt, kernels_cpu, tasks
from spikelut.train.surrogates import get_surrogate
from spikelut.wiring import random_network

# a random network with delays, taps to this and later layers (self-loops included) and refractory
# periods; random logits, input spikes and spike gradients for every layer
from test_train_kernels import assert_grads_close as close, case


@contextmanager
def numba_threads(n):
    """numba's thread count set to ``n`` (at most the pool's size) inside the block."""
    old, spare = numba.get_num_threads(), kernels_cpu.spare_cpus
    least = kernels_cpu.MIN_NODE_SAMPLES_PER_THREAD
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    # the default rule would drop to 1 thread on a busy machine and for small networks
    kernels_cpu.spare_cpus = lambda: 64
    kernels_cpu.MIN_NODE_SAMPLES_PER_THREAD = 1
    kernels_cpu.TUNER.enabled = False  # every pass on n threads, not the measured choice
    try:
        yield
    finally:
        numba.set_num_threads(old)
        kernels_cpu.spare_cpus = spare
        kernels_cpu.MIN_NODE_SAMPLES_PER_THREAD = least
        kernels_cpu.TUNER.enabled = True


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**20), k0=st.integers(1, 12), k1=st.integers(1, 6),
       max_delay=st.integers(0, 4), r0=st.integers(0, 3), r1=st.integers(0, 3),
       T=st.integers(1, 9), B=st.sampled_from([1, 2, 3, 5, 25, 70]),
       mode=st.sampled_from(["block", "pass", "full"]), tap_grad=st.sampled_from(["tanh", "identity"]),
       tbptt=st.integers(0, 4), input_grad=st.booleans(), keep_addr=st.booleans(),
       n_threads=st.integers(1, 3),
       surrogate=st.sampled_from(["fast_sigmoid", "triangular", "rectangular"]))
def test_every_path_equals_the_reference(seed, k0, k1, max_delay, r0, r1, T, B, mode, tap_grad,
                                         tbptt, input_grad, keep_addr, n_threads, surrogate):
    # compact surrogates (zero outside their width) exercise the skipped zero gradients
    with numba_threads(n_threads):
        _check_against_reference(seed, (k0, k1, 3), max_delay, (r0, r1, 0), T, B, mode, tap_grad,
                                 tbptt, input_grad, keep_addr, surrogate)


def _check_against_reference(seed, ks, max_delay, refractory, T, B, mode, tap_grad, tbptt,
                             input_grad, keep_addr, surrogate="fast_sigmoid"):
    net, plan, x, thetas, g = case(seed, ks, max_delay, refractory, T, B)
    tables = bptt.tables_of(thetas)
    sg = get_surrogate(surrogate)
    fa = bptt.forward(plan, tables, x)
    fb = kernels_cpu.forward(plan, tables, x, keep_addr=keep_addr)
    assert (fb.stored is not None) == keep_addr
    np.testing.assert_array_equal(fa.hist, fb.hist)
    for i in range(len(net.layers)):
        np.testing.assert_array_equal(fa.spikes(i), fb.spikes(i))
    for p, q in zip(fa.addr, fb.addr, strict=True):
        assert p.dtype == q.dtype == address_dtype(max(ks))  # uint16 once a layer has k > 8
        np.testing.assert_array_equal(p, q)
    ra, ia = bptt.backward(plan, thetas, fa, g, sg, mode, tap_grad, tbptt, input_grad)
    rb, ib = kernels_cpu.backward(plan, thetas, fb, g, sg, mode, tap_grad, tbptt, input_grad)
    close(ra, rb)
    if input_grad:
        assert ib.shape == (T, B, 4) and ib.dtype == np.float32
        np.testing.assert_allclose(ia, ib, rtol=1e-4, atol=1e-5)
    else:
        assert ia is None and ib is None


def test_self_loops_long_refractory_and_many_words():
    """Over 64 cycles (the bit record spans several words), R = 3, a node reading itself at delays
    1 and 2; stored and recomputed addresses; the reference's Forward handed in; 1, 2, 3 threads
    bit-identical."""
    self_loop = Layer(np.random.default_rng(1).integers(0, 2, (3, 8)).astype(np.uint8),
                      [[-1, 0, 0], [-1, 0, 0], [0, 0, 0]], [[0, 0, 1], [1, 1, 2], [0, 1, 2]],
                      [[0, 1, 2], [0, 1, 2], [1, 1, 2]], refractory=3)
    out = Layer(np.random.default_rng(2).integers(0, 2, (2, 4)).astype(np.uint8),
                [[0, 0], [0, -1]], [[0, 2], [1, 0]], [[0, 1], [0, 3]])
    net = Network(2, [self_loop, out], Readout(1, [0, 1], 2))
    plan = bptt.compile_plan(net)
    rng = np.random.default_rng(3)
    T, B = 150, 9
    x = (rng.random((T, B, 2)) < 0.4).astype(np.uint8)
    thetas = [rng.normal(0, 0.5, layer.table.shape).astype(np.float32) for layer in net.layers]
    g = [rng.normal(0, 1, (T, B, layer.n)).astype(np.float32) for layer in net.layers]
    sg = get_surrogate("sigmoid")
    fa = bptt.forward(plan, bptt.tables_of(thetas), x)
    fb = kernels_cpu.forward(plan, bptt.tables_of(thetas), x)
    assert fb.bits.shape == (2 + 5, B, 3) and fb.bits.dtype == np.uint64  # D + T = 152 rows
    np.testing.assert_array_equal(fa.hist, fb.hist)
    assert 0 < fa.spikes(0).mean() < 1
    low = kernels_cpu.forward(plan, bptt.tables_of(thetas), x, keep_addr=False)
    for mode in ("block", "full"):
        ra, ia = bptt.backward(plan, thetas, fa, g, sg, mode, input_grad=True)
        first = None
        for n in (1, 2, 3):
            for fwd in (fb, fa, low):
                with numba_threads(n):
                    rb, ib = kernels_cpu.backward(plan, thetas, fwd, g, sg, mode, input_grad=True)
                close(ra, rb)
                np.testing.assert_allclose(ia, ib, rtol=1e-4, atol=1e-5)
                if first is None:
                    first = rb, ib
                for p, q in zip(first[0], rb):
                    np.testing.assert_array_equal(p, q)
                np.testing.assert_array_equal(first[1], ib)


def test_bits_layout():
    """Bit ``row & 63`` of word ``row >> 6`` of ``bits[signal, sample]`` is the signal at that row."""
    table = np.array([[0, 1, 0, 1]], np.uint8)  # output = tap 0
    net = Network(1, [Layer(table, [[-1, -1]], [[0, 0]], [[2, 2]])], Readout(0, [0], 1))
    plan = bptt.compile_plan(net)  # the node repeats the input two cycles later; D = 2
    x = np.zeros((70, 2, 1), np.uint8)
    x[[0, 61, 65], 1, 0] = 1
    fwd = kernels_cpu.forward(plan, [table], x)
    rows = [r for r in range(72) if fwd.bits[1, 1, r >> 6] >> np.uint64(r & 63) & np.uint64(1)]
    assert rows == [2 + 2, 2 + 63, 2 + 67]  # cycles 2, 63, 67, at row D + t
    assert fwd.bits[:, 0].sum() == 0
    assert fwd.spikes(0)[:, 1, 0].nonzero()[0].tolist() == [2, 63, 67]


@pytest.mark.parametrize("B", [1, 3, 25])
@pytest.mark.parametrize("mode,keep_addr,ks", [("full", True, (6, 4, 3)), ("block", False, (12, 4, 3)),
                                               ("pass", True, (1, 9, 2))])
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "rectangular"])
def test_thread_counts_give_identical_gradients(B, mode, keep_addr, ks, surrogate):
    """Threads split the nodes, so a batch smaller than the thread count (B = 1, 3) still uses
    every thread; 1 thread (scatter) and 2, 3 threads (gather) give the same bits, and the same
    as the reference within rounding; with a compact surrogate, nodes and samples without a
    gradient are skipped on one thread and written as zeros on several, the same bits."""
    net, plan, x, thetas, g = case(7, ks, 3, (2, 1, 0), 12, B, sizes=(40, 30, 6))
    sg = get_surrogate(surrogate)
    fa = bptt.forward(plan, bptt.tables_of(thetas), x)
    ra, ia = bptt.backward(plan, thetas, fa, g, sg, mode, tbptt=5, input_grad=True)
    out = []
    for n in (1, 2, 3):
        with numba_threads(n):
            assert kernels_cpu.pass_threads(net.n_nodes, B) == min(n, numba.config.NUMBA_NUM_THREADS)
            fwd = kernels_cpu.forward(plan, bptt.tables_of(thetas), x, keep_addr=keep_addr)
            out.append(kernels_cpu.backward(plan, thetas, fwd, g, sg, mode, tbptt=5,
                                            input_grad=True))
        np.testing.assert_array_equal(fa.hist, fwd.hist)
    close(ra, out[0][0])
    np.testing.assert_allclose(ia, out[0][1], rtol=1e-4, atol=1e-5)
    for grads, g_in in out[1:]:
        for p, q in zip(out[0][0], grads):
            np.testing.assert_array_equal(p, q)
        np.testing.assert_array_equal(out[0][1], g_in)


def test_more_tasks_than_running_threads(monkeypatch):
    """SPIKELUT_TRAIN_THREADS=3 on a pool of one thread: the three task loops run one after the
    other (the first does every task), with no deadlock and the same bits as one thread."""
    net, plan, x, thetas, g = case(3, (6, 4, 3), 2, (1, 2, 0), 9, 4, sizes=(30, 20, 6))
    sg = get_surrogate("fast_sigmoid")
    out = []
    for forced in ("", "3"):
        monkeypatch.setenv("SPIKELUT_TRAIN_THREADS", forced)
        with numba_threads(1):
            assert kernels_cpu.pass_threads(net.n_nodes, 4) == (int(forced) if forced else 1)
            fwd = kernels_cpu.forward(plan, bptt.tables_of(thetas), x)
            out.append(kernels_cpu.backward(plan, thetas, fwd, g, sg, "full", input_grad=True))
    for p, q in zip(out[0][0], out[1][0]):
        np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(out[0][1], out[1][1])


def test_forced_thread_count_is_checked(monkeypatch):
    monkeypatch.setenv("SPIKELUT_TRAIN_THREADS", "two")
    with pytest.raises(ConfigError) as e:
        kernels_cpu.pass_threads(100, 25)
    assert str(e.value) == ("SPIKELUT_TRAIN_THREADS='two' must be an integer >= 1 (threads of the "
                            "compiled training passes), or unset for the default rule")
    monkeypatch.setenv("SPIKELUT_TRAIN_THREADS", "0")
    with pytest.raises(ConfigError, match="SPIKELUT_TRAIN_THREADS='0' must be an integer >= 1"):
        kernels_cpu.pass_threads(100, 25)
    monkeypatch.setenv("SPIKELUT_TRAIN_THREADS", "2")
    assert kernels_cpu.pass_threads(100, 1, spare=1) == 2  # forced: neither load nor size counts


def test_thread_counts_give_the_same_kept_tables():
    net = random_network(4, n_in=6, sizes=[40, 30, 10], k=[6, 5, 4], max_delay=3,
                         refractory=[1, 0, 0], classes=5)
    rng = np.random.default_rng(5)
    x = (rng.random((10, 50, 6)) < 0.4).astype(np.uint8)
    y = rng.integers(0, 5, 50)
    cfg = TrainConfig(epochs=2, batch_size=25, lr=0.05, backend="numba", seed=3)
    kept = []
    for n in (1, 2, 3):
        with numba_threads(n):
            res = Trainer(net, cfg, progress=False).fit((x, y))
        kept.append(res.net.layers)
    start = Trainer(net, cfg, progress=False).network(None).layers  # the initial tables
    assert any((a.table != b.table).any() for a, b in zip(kept[0], start))  # training moved them
    for layers in kept[1:]:
        for a, b in zip(kept[0], layers):
            np.testing.assert_array_equal(a.table, b.table)
            np.testing.assert_array_equal(a.logits, b.logits)  # bit for bit, not just the signs


def test_thread_rule_and_task_blocks(monkeypatch):
    monkeypatch.delenv("SPIKELUT_TRAIN_THREADS", raising=False)
    least = kernels_cpu.MIN_NODE_SAMPLES_PER_THREAD
    with numba_threads(2):
        two = min(2, numba.config.NUMBA_NUM_THREADS)
        kernels_cpu.MIN_NODE_SAMPLES_PER_THREAD = least
        # any batch: the demo's 4,296 nodes x 25 samples, or one sample of a wide network
        assert kernels_cpu.pass_threads(4296, 25, spare=2) == two
        assert kernels_cpu.pass_threads(2 * least, 1, spare=2) == two
        # never more threads than idle CPUs, whatever numba's count
        assert kernels_cpu.pass_threads(4296, 25, spare=1) == 1
        # too little work per cycle for a second thread
        assert kernels_cpu.pass_threads(40, 25, spare=2) == 1
        assert kernels_cpu.pass_threads(40, 25, threads=3) == 3
    kind, lo, hi, first = tasks.cycle_pattern(2, [(-1, 0, 20), (0, 0, 100), (1, 100, 103)])
    # inputs: 2 blocks of 10; layer 0: 8 blocks (4 per thread); layer 1: 3 nodes, one block
    assert kind.tolist() == [-1] * 2 + [0] * 8 + [1]
    assert lo.tolist() == [0, 10, 0, 12, 25, 37, 50, 62, 75, 87, 100]
    assert hi.tolist() == [10, 20, 12, 25, 37, 50, 62, 75, 87, 100, 103]
    assert first.tolist() == [0, 0] + [2] * 8 + [10]
    one = tasks.cycle_pattern(1, [(0, 0, 100), (1, 100, 103)])
    assert [v.tolist() for v in one] == [[0, 1], [0, 100], [100, 103], [0, 1]]
    assert [tasks.window_rows(d) for d in (0, 1, 2, 3, 5, 8)] == [1, 2, 4, 4, 8, 16]
    # the passes store addresses in the lowered form's dtype (uint8 up to k = 8)
    assert address_dtype(8) == np.uint8
    assert address_dtype(12) == np.uint16


def test_scatter_groups_keep_the_serial_order():
    """What the backward pass's scatter stages add, per layer and target signal, in the order of
    a serial scatter: (node, refractory term before taps, tap).

    Signals: 0 the input, 1..3 nodes 0..2. Node 0 (layer 0, refractory 1) reads itself at delay
    1 and the input at 1; node 1 (layer 0, refractory 1) the input at 1 and 0; node 2 (layer 1)
    the input at 1 and 0."""
    l0 = Layer(np.zeros((2, 4), np.uint8), [[0, -1], [-1, -1]], [[0, 0], [0, 0]],
               [[1, 1], [1, 0]], refractory=1)
    l1 = Layer(np.zeros((1, 4), np.uint8), [[-1, -1]], [[0, 0]], [[1, 0]])
    plan = bptt.compile_plan(Network(1, [l0, l1], Readout(1, [0], 1)))
    f = tasks.node_arrays(plan)
    assert f["kc"] == 2 and f["rc"] == 1  # columns of the stage buffer: taps 0, 1; r = 1
    # layer 0 -> input: (node 0, tap 1), (node 1, tap 0), (node 1, tap 1); -> node 0's signal:
    # node 0's refractory term, then its tap 0; -> node 1's signal: node 1's refractory term;
    # layer 1 -> input: (node 2, tap 0), (node 2, tap 1)
    assert f["sc_node"].tolist() == [0, 1, 1, 0, 0, 1, 2, 2]
    assert f["sc_col"].tolist() == [1, 0, 1, 2, 0, 2, 0, 1]
    assert f["sc_dly"].tolist() == [1, 1, 0, 1, 1, 1, 1, 0]
    assert f["sc_refr"].tolist() == [False] * 3 + [True, False, True, False, False]
    assert f["sc_isin"].tolist() == [True] * 3 + [False] * 3 + [True] * 2
    assert f["grp_ptr"].tolist() == [0, 3, 5, 6, 8] and f["grp_tgt"].tolist() == [0, 1, 2, 0]
    assert f["grp_lo"].tolist() == [0, 3] and f["grp_hi"].tolist() == [3, 4]


def test_addresses_are_stored_within_the_budget(monkeypatch):
    net, plan, x, thetas, _ = case(2, (6, 4, 3), 2, (0, 0, 0), 8, 10)
    tables = bptt.tables_of(thetas)
    fwd = kernels_cpu.forward(plan, tables, x)
    assert fwd.stored.shape == (8, net.n_nodes, 10) and fwd.stored.dtype == np.uint8
    assert kernels_cpu.forward(plan, tables, x, save=False).stored is None
    assert kernels_cpu.forward(plan, tables, x, save=False).addr == []
    monkeypatch.setattr(kernels_cpu, "ADDR_BUDGET", 8 * net.n_nodes * 10 - 1)
    low = kernels_cpu.forward(plan, tables, x)
    assert low.stored is None  # over the budget: only bits, addresses recomputed
    for p, q in zip(fwd.addr, low.addr, strict=True):
        np.testing.assert_array_equal(p, q)


def test_memory_estimate_counts_bits():
    net = random_network(0, n_in=16, sizes=[128, 128, 100], k=6, max_delay=1, classes=10)
    plan = bptt.compile_plan(net)
    est = kernels_cpu.memory_estimate(plan, 1460, 32)
    N = 16 + 356
    assert est["spike_bits"] == N * 32 * ((1 + 1460 + 63) // 64) * 8  # 24 words of 64 cycles
    assert est["window"] == 2 * N * 32                                # 2 rows, shared
    assert est["addresses"] == 1460 * 356 * 32                        # uint8, within the budget
    assert est["total"] == sum(v for k, v in est.items() if k != "total")
    assert est["gradient"] == 2 * N * 32 * 4                         # dL/ds, 2 rows, float32
    assert est["stage_buffer"] == 128 * 6 * 32 * 4    # the widest layer's 6 taps per node
    assert est["total"] < 128 << 20
    longer = kernels_cpu.memory_estimate(plan, 1460 + 640, 32)
    assert longer["spike_bits"] - est["spike_bits"] == N * 32 * 10 * 8  # N * B / 8 per cycle


def test_memory_estimate_refuses_sizes_below_one():
    """A negative T gave negative byte counts (addresses -11520) instead of an error."""
    plan = bptt.compile_plan(random_network(0, n_in=4, sizes=[8, 2], k=3, classes=2))
    for T, B, msg in ((-5, 32, "T = -5 must be an integer >= 1 (cycles)"),
                      (0, 32, "T = 0 must be an integer >= 1 (cycles)"),
                      (64, 0, "B = 0 must be an integer >= 1 (samples per batch)"),
                      (64, 2.5, "B = 2.5 must be an integer >= 1 (samples per batch)")):
        with pytest.raises(ConfigError) as e:
            kernels_cpu.memory_estimate(plan, T, B)
        assert str(e.value) == f"memory_estimate: {msg}"


def test_the_tuner_measures_and_keeps_the_faster_count(monkeypatch):
    """Where the rule allows two threads, a pass's count is chosen by timing both (same bits
    either way): it alternates until each has `trials` times, keeps the lower median, and
    measures again after `reprobe` passes."""
    tuner = ThreadTuner(trials=2, reprobe=3)
    seen = []
    for _ in range(4):
        q = tuner.choose("k", 2)
        seen.append(q)
        tuner.record("k", q, 2, 5.0 if q == 1 else 3.0)  # two threads faster here
    assert seen == [1, 2, 1, 2]
    assert [tuner.choose("k", 2) for _ in range(3)] == [2, 2, 2]  # kept for `reprobe` passes
    q = tuner.choose("k", 2)   # then measured again: one thread got faster (load)
    assert q == 1
    for _ in range(4):
        tuner.record("k", q, 2, 1.0 if q == 1 else 3.0)
        q = tuner.choose("k", 2)
    assert q == 1 and [tuner.choose("k", 2) for _ in range(2)] == [1, 1]
    assert tuner.choose("other", 1) == 1 and tuner.choose("other", 3) == 1  # nothing timed yet
    tuner.enabled = False
    assert tuner.choose("k", 2) == 2
    # a count forced by SPIKELUT_TRAIN_THREADS is never measured
    monkeypatch.setenv("SPIKELUT_TRAIN_THREADS", "2")
    fresh = ThreadTuner()
    monkeypatch.setattr(kernels_cpu, "TUNER", fresh)
    with kernels_cpu.tuned_threads("backward", 4296, 25) as q:
        assert q == 2
    assert fresh._state == {}


def test_the_tuner_times_the_last_pass_of_each_run():
    """kernels_cpu.TUNER alternates in runs of two passes and times the second: the first pass
    after a switch finds its data in the other core's cache (slow here), which would have made
    one thread look faster."""
    tuner = ThreadTuner(trials=2, reprobe=10, run=2)
    seen = []
    for i in range(8):
        q = tuner.choose("k", 2)
        seen.append(q)
        tuner.record("k", q, 2, (9.0 if i % 2 == 0 else 3.0) if q == 2 else 5.0)
    assert seen == [1, 1, 2, 2, 1, 1, 2, 2]
    assert tuner.choose("k", 2) == 2
    with pytest.raises(ValueError, match="run = 0 must be >= 1"):
        ThreadTuner(run=0)
