"""The compiled backward pass in blocks of cycles (spikelut/train/tasks.py: layer_groups,
block_schedule, BLOCK_CYCLES): which layers share a group, and that blocks give the bits of the pass
without blocks for every option, thread count and the scalar path."""

from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikelut.config import build_network
from spikelut.train import bptt, kernels_cpu, tasks
from spikelut.train.surrogates import get_surrogate

from helpers import simd_env
from test_train_fast import numba_threads
from test_train_kernels import assert_grads_close


def net_of(layers, seed=0, n_in=3):
    """A network from ``[[layers]]`` tables as in a config file (2 classes)."""
    return build_network({"name": "blocks", "seed": seed, "inputs": n_in, "layers": layers,
                          "readout": {"classes": 2}})


def layer(name, nodes, taps, k=3, refractory=0):
    return {"name": name, "nodes": nodes, "k": k, "refractory": refractory, "taps": taps}


def demo(reach=2):
    """The MNIST-1D demo's shape, small: two feed-forward layers reading through delays 0 ..
    ``reach``, a recurrent layer, a readout layer."""
    d = [0, reach // 2, reach]
    return [layer("front", 10, [{"from": "input", "count": 3, "delay": d}]),
            layer("front2", 10, [{"from": "front", "count": 3, "delay": d}]),
            layer("rec", 12, [{"from": "front2", "count": 2},
                              {"from": "self", "count": 2, "delay": 1}], k=4),
            layer("out", 4, [{"from": "rec", "count": 3}])]


DEMO = demo()


def ranks(layers, full=False):
    f = tasks.node_arrays(bptt.compile_plan(net_of(layers)))
    return f["rank_full" if full else "rank"].tolist()


def test_groups_of_the_demo_shape():
    # the recurrent layer's row gets its own terms (cycle t + 1) before the readout's (cycle t):
    # one group; the feed-forward layers below get theirs from one layer each
    assert ranks(DEMO) == [2, 1, 0, 0]


def test_groups_of_a_chain_at_delay_zero():
    chain = [layer(f"l{i}", 5, [{"from": "input" if i == 0 else f"l{i - 1}", "count": 3}])
             for i in range(4)]
    assert ranks(chain) == [3, 2, 1, 0]


def test_a_loop_back_through_a_delay_makes_one_group():
    # front reads rec (a later layer) at delay 2: rec's gradient at t needs front's at t + 2
    loop = [dict(DEMO[0], taps=DEMO[0]["taps"] + [{"from": "rec", "count": 1, "delay": 2}], k=4),
            *DEMO[1:]]
    assert ranks(loop) == [0, 0, 0, 0]


def late(reach=2):
    """rec also reads front at delay reach + 1: its term comes first in front's row (cycle
    t + reach + 1), and rec's group runs first: blocks keep the order, no merge."""
    d = demo(reach)
    return [d[0], d[1], dict(d[2], taps=d[2]["taps"] + [{"from": "front", "count": 1,
                                                         "delay": reach + 1}], k=5), d[3]]


def early(reach=2):
    """rec reads front at delay 0, after front2's terms from delays >= 1 in front's row: with
    rec's group first they would come first, so front2 and rec share a group (front stays
    apart)."""
    d = demo(reach)
    return [d[0], dict(d[1], taps=[{"from": "front", "count": 3, "delay": [1, reach, 1]}]),
            dict(d[2], taps=d[2]["taps"] + [{"from": "front", "count": 1, "delay": 0}], k=5),
            d[3]]


def test_terms_out_of_order_merge_only_the_layers_between():
    assert ranks(late()) == [2, 1, 0, 0]
    assert ranks(early()) == [1, 0, 0, 0]


def test_refractory_terms_count_in_full_mode_only():
    pulse = [dict(lay, refractory=1) for lay in DEMO]
    # "full": front's own s[t - 1] term comes between front2's terms of delays 1 and 0
    assert ranks(pulse) == [2, 1, 0, 0]
    assert ranks(pulse, full=True) == [0, 0, 0, 0]


def test_schedule_runs_each_group_over_a_block():
    stages = [[(3, 0, 1), (2, 1, 2)], [(1, 2, 3)], [(0, 3, 4)]]
    kind, lo, hi, tc, tw, need = tasks.block_schedule(1, stages, 5, 2)
    assert kind.tolist() == [3, 2, 1, 0]
    # steps 0, 1 for the first group, then 0, 1 for the second, ...; then steps 2, 3; then 4
    assert tc.tolist() == [0, 0, 1, 1, 0, 1, 0, 1, 2, 2, 3, 3, 2, 3, 2, 3, 4, 4, 4, 4]
    assert tw.tolist() == [0, 1, 0, 1, 2, 2, 3, 3, 0, 1, 0, 1, 2, 2, 3, 3, 0, 1, 2, 3]
    assert need.tolist() == list(range(20))  # one task per stage: each waits for all before it


@contextmanager
def blocks(n):
    """The backward pass in blocks of ``n`` cycles inside the block (1: no blocks)."""
    old = tasks.BLOCK_CYCLES
    tasks.BLOCK_CYCLES = n
    try:
        yield
    finally:
        tasks.BLOCK_CYCLES = old


def case(layers, seed, T, B, refractory):
    net = net_of([dict(lay, refractory=r) for lay, r in zip(layers, refractory)], seed=seed)
    rng = np.random.default_rng(seed)
    plan = bptt.compile_plan(net)
    x = (rng.random((T, B, net.n_in)) < 0.5).astype(np.uint8)
    thetas = [rng.normal(0, 0.3, lay.table.shape).astype(np.float32) for lay in net.layers]
    g = [rng.normal(0, 1, (T, B, lay.n)).astype(np.float32) for lay in net.layers]
    return plan, x, thetas, g


def run(plan, x, thetas, g, mode, tbptt, input_grad, keep_addr, surrogate="fast_sigmoid"):
    fwd = kernels_cpu.forward(plan, bptt.tables_of(thetas), x, keep_addr=keep_addr)
    return kernels_cpu.backward(plan, thetas, fwd, g, get_surrogate(surrogate), mode, "tanh",
                                tbptt, input_grad)


@settings(max_examples=60, deadline=None)
@given(shape=st.sampled_from([demo, late, early]), reach=st.sampled_from([2, 5, 9, 12]),
       seed=st.integers(0, 2**20), T=st.integers(1, 13), B=st.sampled_from([1, 5, 17, 25]),
       block=st.integers(2, 8), r=st.lists(st.integers(0, 2), min_size=4, max_size=4),
       mode=st.sampled_from(["block", "pass", "full"]), tbptt=st.integers(0, 4),
       input_grad=st.booleans(), keep_addr=st.booleans(), n_threads=st.integers(1, 3),
       simd=st.sampled_from(["0", "1"]))
def test_blocks_give_the_bits_of_the_pass_without_blocks(shape, reach, seed, T, B, block, r, mode, tbptt,
                                                         input_grad, keep_addr, n_threads, simd):
    # delays up to 2, 5, 9, 12: rings of 4, 8, 16, 16 rows, blocks of up to 2, 3, 7, 4 cycles
    plan, x, thetas, g = case(shape(reach), seed, T, B, r)
    with simd_env(simd), numba_threads(n_threads), blocks(1):
        a = run(plan, x, thetas, g, mode, tbptt, input_grad, keep_addr)
    with simd_env(simd), numba_threads(n_threads), blocks(block):
        b = run(plan, x, thetas, g, mode, tbptt, input_grad, keep_addr)
    assert_same_bits(a, b)


def assert_same_bits(a, b):
    """Two backward results ``(grads, input_grad)`` are equal bit for bit, and the passes left
    the rings they give back to the pool all zero (the next pass takes them as they are)."""
    assert not any(ring.any() for ring in kernels_cpu._POOL)
    for p, q in zip(a[0], b[0]):
        np.testing.assert_array_equal(p.view(np.uint32), q.view(np.uint32))
    if a[1] is not None or b[1] is not None:
        np.testing.assert_array_equal(a[1].view(np.uint32), b[1].view(np.uint32))


@pytest.mark.parametrize("mode", ["block", "full"])
def test_blocks_equal_the_reference(mode):
    plan, x, thetas, g = case(demo(9), 5, 17, 25, [1, 1, 2, 0])
    f = tasks.node_arrays(plan)
    assert tasks.block_cycles(f["rank_full" if mode == "full" else "rank"], 17, 9) == (
        1 if mode == "full" else 7)  # refractory terms in "full": one group
    sg = get_surrogate("fast_sigmoid")
    ref, ri = bptt.backward(plan, thetas, bptt.forward(plan, bptt.tables_of(thetas), x), g, sg,
                            mode, "tanh", 0, True)
    got, gi = run(plan, x, thetas, g, mode, 0, True, True)
    assert_grads_close(ref, got)
    np.testing.assert_allclose(ri, gi, rtol=1e-4, atol=1e-5)
    assert any(np.abs(q).max() > 1e-3 for q in ref)


def test_blocks_fit_the_rings():
    f = tasks.node_arrays(case(demo(5), 0, 20, 5, [0] * 4)[0])
    assert [tasks.block_cycles(f["rank"], T, 5) for T in (1, 2, 20)] == [1, 2, 3]
    with blocks(2):
        assert tasks.block_cycles(f["rank"], 20, 5) == 2
    plan = case(demo(5), 0, 20, 5, [0] * 4)[0]
    with numba_threads(1):
        est = kernels_cpu.memory_estimate(plan, 20, 5)
    assert est["window"] == tasks.window_rows(5) * plan.n_signals * 5
