"""The lowered form: signal numbering, tables, history depth, caching and immutability."""

import dataclasses

import numpy as np
import pytest

from spikelut.engine import bitsliced, reference
from spikelut.engine.plan import build_plan
from spikelut.lowering import lower
from spikelut.network import K_MAX, Layer, Network, Readout
from spikelut.train import bptt, tasks
from spikelut.wiring import random_network


def small_net() -> Network:
    """2 inputs; layer "a": 2 nodes k = 2; layer "b": 1 node k = 3, R = 3, reads a and itself."""
    a = Layer(table=np.array([[0, 1, 1, 0], [1, 0, 0, 0]], np.uint8),
              source=[[-1, -1], [-1, 0]], index=[[0, 1], [1, 0]], delay=[[0, 0], [0, 2]], name="a")
    b = Layer(table=np.array([[0, 0, 0, 1, 0, 0, 0, 1]], np.uint8),
              source=[[0, 0, 1]], index=[[0, 1, 0]], delay=[[1, 0, 1]], refractory=3, name="b")
    return Network(2, [a, b], Readout(1, [0], 1, start=1))


def test_numbering_is_pinned():
    low = lower(small_net())
    assert (low.n_in, low.n_nodes, low.n_signals, low.names) == (2, 3, 5, ("a", "b"))
    # inputs 0, 1; a[0] = 2, a[1] = 3, b[0] = 4
    assert [low.signal(-1, 1), low.signal(0, 0), low.signal(0, 1), low.signal(1, 0)] == [1, 2, 3, 4]
    assert low.layer_signals(1) == slice(4, 5)
    assert low.tap_sig.shape == (3, K_MAX) and not low.tap_sig[:, 3:].any()
    assert low.tap_sig[:, :3].tolist() == [[0, 1, 0], [1, 2, 0], [2, 3, 4]]
    assert low.tap_dly[:, :3].tolist() == [[0, 0, 0], [0, 2, 0], [1, 0, 1]] and not low.tap_dly[:, 3:].any()
    assert low.layer_lo.tolist() == [0, 2] and low.layer_hi.tolist() == [2, 3]
    assert low.layer_k.tolist() == [2, 3] and low.layer_r.tolist() == [0, 3]
    assert low.table_off.tolist() == [0, 4, 8, 16]
    assert low.flat_tables().tolist() == [0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert low.table_word.tolist() == [0b0110, 0b0001, 0b10001000]
    assert low.table.shape == (3, 8) and low.table[2].tolist() == [0, 0, 0, 1, 0, 0, 0, 1]
    assert low.table_words.shape == (3, 1) and (low.k_max, low.addr_dtype) == (3, np.uint8)
    assert (low.max_delay, low.max_refractory, low.depth) == (2, 3, 4)
    assert [low.depth_for(T) for T in (1, 2, 3, 50)] == [2, 3, 4, 4]
    assert (low.readout.layer, low.readout.class_of.tolist(), low.readout.start) == (1, [0], 1)


def test_every_backend_view_reads_the_same_numbering():
    net = small_net()
    low = lower(net)
    plan = build_plan(net, "readout")
    assert plan.lowered is low and plan.tap_sig is low.tap_sig and plan.table is low.table_word
    assert plan.depth == low.depth and plan.rec_row.tolist() == [-1, -1, 0]
    tp = bptt.compile_plan(net)
    assert tp.lowered is low and tp.D == low.depth - 1 and tp.offsets == [2, 4]
    # the training gather rows: base = signal - delay * n_signals
    assert tp.layers[1].base.tolist() == [[2 - 5, 3, 4 - 5]]
    f = tasks.node_arrays(tp)
    assert f["gidx"][:, :3].tolist() == low.tap_sig[:, :3].tolist()
    assert f["is_in"][:, :3].tolist() == [[True, True, False], [True, False, False],
                                          [False, False, False]]
    assert tasks.node_arrays(bptt.compile_plan(net)) is f  # cached per lowered network


def test_lowered_once_and_network_immutable():
    net = small_net()
    low = lower(net)
    assert lower(net) is low
    with pytest.raises(dataclasses.FrozenInstanceError, match=r"replace\(name=\.\.\.\)"):
        net.layers[0].name = "c"
    with pytest.raises(dataclasses.FrozenInstanceError):
        net.n_in = 3
    net.validate()  # re-validating a validated network changes nothing and is allowed
    with pytest.raises(dataclasses.FrozenInstanceError):
        net.readout.start = 0
    with pytest.raises(ValueError, match="read-only"):
        net.layers[0].table[0, 0] = 1
    with pytest.raises(ValueError, match="read-only"):
        low.tap_sig[0, 0] = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        low.depth_cache = 1
    table = net.layers[1].table.copy()
    table[0, 0] = 1
    other = net.replace_layer(1, table=table)
    assert lower(other) is not low and lower(other).table_word[2] == 0b10001001
    assert low.table_word[2] == 0b10001000 and other.layers[0] is net.layers[0]


def test_caller_arrays_stay_writable():
    table = np.array([[0, 1, 1, 0]], np.uint8)
    Network(1, [Layer(table, [[-1, -1]], [[0, 0]], [[0, 0]])], Readout(0, [0], 1))
    table[0, 0] = 1  # the network holds its own read-only copy
    assert table[0].tolist() == [1, 1, 1, 0]


def test_huge_delay_uses_history_of_the_run_only():
    # a tap at the largest legal delay reads 0 in any run shorter than that, without the memory
    from spikelut.limits import MAX_DELAY

    far = Layer(np.array([[0, 1, 1, 1]], np.uint8), [[-1, -1]], [[0, 0]], [[0, MAX_DELAY]])
    net = Network(1, [far], Readout(0, [0], 1))
    low = lower(net)
    assert low.depth == MAX_DELAY + 1 and low.depth_for(4) == 5
    x = np.array([1, 0, 1, 1], np.uint8).reshape(4, 1, 1)
    for res in (reference.simulate(net, x), bitsliced.simulate(net, x)):
        assert res.layer_spikes[0][:, 0, 0].tolist() == [1, 0, 1, 1]


def test_lowered_random_network_matches_its_layers():
    net = random_network(4, n_in=5, sizes=[7, 6, 3], k=[2, 4, 3], max_delay=3, recurrent=True)
    low = lower(net)
    for i, layer in enumerate(net.layers):
        for j in range(layer.n):
            u = int(low.layer_lo[i]) + j
            for p in range(layer.k):
                s, idx = int(layer.source[j, p]), int(layer.index[j, p])
                assert low.tap_sig[u, p] == low.signal(s, idx)
                assert low.tap_dly[u, p] == layer.delay[j, p]
            o = int(low.table_off[u])
            assert low.flat_tables()[o:o + (1 << layer.k)].tolist() == layer.table[j].tolist()


def test_gpu_inputs_are_copied_once_per_lowered_network():
    import types

    from spikelut.engine import gpu

    copies = []

    def asarray(a, dtype=None):
        copies.append(1)
        return np.asarray(a, dtype)

    # an array module that is not numpy (as CuPy is), counting host-to-device copies
    fake = types.ModuleType("fake_cupy")
    fake.__dict__.update(asarray=asarray, ascontiguousarray=np.ascontiguousarray, int32=np.int32,
                         uint64=np.uint64)
    net = small_net()
    first = gpu.plan_inputs(build_plan(net, "all", steps=10), fake)
    assert len(copies) == 5  # tap_sig, table, tap_dly, layer, rec_row
    again = gpu.plan_inputs(build_plan(net, "readout", steps=10), fake)
    assert len(copies) == 6  # only rec_row again
    assert all(again[k] is first[k] for k in ("tap_sig", "table", "tap_dly", "layer"))
    clipped = gpu.plan_inputs(build_plan(net, "all", steps=1), fake)  # depth 2 < 4: delays clipped
    assert len(copies) == 9 and clipped["tap_dly"].max() == 1 and clipped["table"] is first["table"]
