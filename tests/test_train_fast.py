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
from spikelut.train import Trainer, TrainConfig, bptt, kernels_cpu
from spikelut.train.surrogates import get_surrogate
from spikelut.wiring import random_network

# a random network with delays, taps to this and later layers (self-loops included) and refractory
# periods; random logits, input spikes and spike gradients for every layer
from test_train_kernels import assert_grads_close as close, case


@contextmanager
def numba_threads(n):
    """numba's thread count set to ``n`` (at most the pool's size) inside the block."""
    old, spare = numba.get_num_threads(), kernels_cpu.spare_cpus
    least = kernels_cpu.MIN_SAMPLES_PER_THREAD
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    # the default rule would drop to 1 thread on a busy machine and for small batches
    kernels_cpu.spare_cpus = lambda: 64
    kernels_cpu.MIN_SAMPLES_PER_THREAD = 1
    try:
        yield
    finally:
        numba.set_num_threads(old)
        kernels_cpu.spare_cpus = spare
        kernels_cpu.MIN_SAMPLES_PER_THREAD = least


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**20), k0=st.integers(2, 6), k1=st.integers(2, 6),
       max_delay=st.integers(0, 4), r0=st.integers(0, 3), r1=st.integers(0, 3),
       T=st.integers(1, 9), B=st.sampled_from([1, 5, 25, 70]),
       mode=st.sampled_from(["block", "pass", "full"]), tap_grad=st.sampled_from(["tanh", "identity"]),
       tbptt=st.integers(0, 4), input_grad=st.booleans(), keep_addr=st.booleans(),
       n_threads=st.integers(1, 3))
def test_every_path_equals_the_reference(seed, k0, k1, max_delay, r0, r1, T, B, mode, tap_grad,
                                         tbptt, input_grad, keep_addr, n_threads):
    with numba_threads(n_threads):
        _check_against_reference(seed, (k0, k1, 3), max_delay, (r0, r1, 0), T, B, mode, tap_grad,
                                 tbptt, input_grad, keep_addr)


def _check_against_reference(seed, ks, max_delay, refractory, T, B, mode, tap_grad, tbptt,
                             input_grad, keep_addr):
    net, plan, x, thetas, g = case(seed, ks, max_delay, refractory, T, B)
    tables = bptt.tables_of(thetas)
    sg = get_surrogate("fast_sigmoid")
    fa = bptt.forward(plan, tables, x)
    fb = kernels_cpu.forward(plan, tables, x, keep_addr=keep_addr)
    assert (fb.stored is not None) == keep_addr
    np.testing.assert_array_equal(fa.hist, fb.hist)
    for i in range(len(net.layers)):
        np.testing.assert_array_equal(fa.spikes(i), fb.spikes(i))
    for p, q in zip(fa.addr, fb.addr, strict=True):
        assert p.dtype == q.dtype == np.uint8
        np.testing.assert_array_equal(p, q)
    ra, ia = bptt.backward(plan, thetas, fa, g, sg, mode, tap_grad, tbptt, input_grad)
    rb, ib = kernels_cpu.backward(plan, thetas, fb, g, sg, mode, tap_grad, tbptt, input_grad)
    close(ra, rb)
    if input_grad:
        assert ib.shape == (T, B, 4) and ib.dtype == np.float32
        np.testing.assert_allclose(ia, ib, rtol=1e-4, atol=1e-5)
    else:
        assert ia is None and ib is None


def test_self_loops_long_refractory_and_many_words(monkeypatch):
    """Over 64 cycles (the bit record spans several words), R = 3, a node reading itself at delays
    1 and 2; a backward pass cut into blocks of 7 cycles; the reference's Forward handed in."""
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
    monkeypatch.setattr(kernels_cpu, "block_cycles", lambda n, b, t: 7)
    low = kernels_cpu.forward(plan, bptt.tables_of(thetas), x, keep_addr=False)
    for mode in ("block", "full"):
        ra, ia = bptt.backward(plan, thetas, fa, g, sg, mode, input_grad=True)
        for fwd in (fb, fa, low):
            with numba_threads(2):
                rb, ib = kernels_cpu.backward(plan, thetas, fwd, g, sg, mode, input_grad=True)
            close(ra, rb)
            np.testing.assert_allclose(ia, ib, rtol=1e-4, atol=1e-5)


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


def test_thread_counts_give_identical_gradients():
    net, plan, x, thetas, g = case(7, (6, 4, 3), 3, (2, 1, 0), 12, 25)
    sg = get_surrogate("fast_sigmoid")
    out = []
    for n in (1, 2, 3):
        with numba_threads(n):
            fwd = kernels_cpu.forward(plan, bptt.tables_of(thetas), x)
            out.append(kernels_cpu.backward(plan, thetas, fwd, g, sg, "full", tbptt=5,
                                            input_grad=True))
    for grads, g_in in out[1:]:
        for p, q in zip(out[0][0], grads):
            np.testing.assert_array_equal(p, q)
        np.testing.assert_array_equal(out[0][1], g_in)


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


def test_thread_split_and_windows():
    assert kernels_cpu.thread_bounds(25, 2).tolist() == [0, 12, 25]
    assert kernels_cpu.thread_bounds(25, 3).tolist() == [0, 8, 16, 25]
    assert kernels_cpu.thread_bounds(2, 3).tolist() == [0, 1, 2]
    # the default gives a thread at least MIN_SAMPLES_PER_THREAD samples
    least = kernels_cpu.MIN_SAMPLES_PER_THREAD
    assert kernels_cpu.thread_bounds(2 * least - 1, spare=2).tolist() == [0, 2 * least - 1]
    # the default follows the load: never more threads than idle CPUs, whatever numba's count
    with numba_threads(2):
        assert kernels_cpu.thread_bounds(25, spare=1).tolist() == [0, 25]
        two = [0, 12, 25] if numba.config.NUMBA_NUM_THREADS >= 2 else [0, 25]
        assert kernels_cpu.thread_bounds(25, spare=2).tolist() == two
    assert [kernels_cpu.window_rows(d) for d in (0, 1, 2, 3, 5, 8)] == [1, 2, 4, 4, 8, 16]
    assert kernels_cpu.block_cycles(4296, 25, 40) == 40
    assert kernels_cpu.block_cycles(4296, 25, 1460) == 78
    # the passes store addresses in the lowered form's dtype (uint8 up to k = 8)
    assert address_dtype(8) == np.uint8
    assert address_dtype(12) == np.uint16


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
    est = kernels_cpu.memory_estimate(plan, 1460, 32, threads=2)
    N = 16 + 356
    assert est["spike_bits"] == N * 32 * ((1 + 1460 + 63) // 64) * 8  # 24 words of 64 cycles
    assert est["window"] == 2 * N * 2 * 16 * 5                        # 2 rows, 2 threads of 16
    assert est["addresses"] == 1460 * 356 * 32                        # uint8, within the budget
    assert est["total"] == sum(v for k, v in est.items() if k != "total")
    assert est["blocks"] == 736 * 356 * 32 * 4  # 736 cycles per block, g_u only (addresses stored)
    assert est["total"] < 128 << 20
    longer = kernels_cpu.memory_estimate(plan, 1460 + 640, 32, threads=2)
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
