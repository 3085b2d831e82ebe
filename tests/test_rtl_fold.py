"""fold_refractory: the refractory gate moved into the tables, spikes unchanged bit for bit."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from spikelut.api import random_spikes
from spikelut.engine.reference import simulate
from spikelut.network import Layer, Network, Readout
from spikelut.transforms import fold_refractory, gate_is_folded
from spikelut.wiring import random_network

from rtl_nets import arbitrary_network


def test_copy_node_widens_by_its_missing_history_bits():
    # copies input 0, R = 2, no own taps: k = 2 becomes 4 with own spike at delays 1, 2
    lay = Layer(np.array([[0, 1, 0, 1]], np.uint8), [[-1, -1]], [[0, 0]], [[0, 1]], 2, "a")
    net = Network(1, [lay], Readout(0, [0], 1))
    f = fold_refractory(net).layers[0]
    assert (f.refractory, f.k, f.name) == (0, 4, "a")
    assert f.source.tolist() == [[-1, -1, 0, 0]] and f.delay.tolist() == [[0, 1, 1, 2]]
    assert f.table.tolist() == [[0, 1, 0, 1] + [0] * 12]
    assert net.layers[0].k == 2 and net.layers[0].refractory == 2  # the input is untouched


def test_existing_history_taps_fold_without_widening():
    lay = Layer(np.array([[0, 1, 1, 1]], np.uint8), [[-1, 0]], [[0, 0]], [[0, 1]], 1)
    f = fold_refractory(Network(1, [lay], Readout(0, [0], 1))).layers[0]
    assert (f.refractory, f.k) == (0, 2) and f.table.tolist() == [[0, 1, 0, 0]]


def test_layer_with_an_unfoldable_node_keeps_R_and_pads_to_a_common_width():
    # node 0: k = 6, R = 2, no own taps -> cannot fold; node 1 reads its own d1 -> needs d2 only
    taps0 = [(-1, 0, d) for d in range(6)]
    taps1 = [(-1, 0, 0), (0, 1, 1), (-1, 0, 2), (-1, 0, 3), (-1, 0, 4)] + [(-1, 0, 5)]
    taps = np.array([taps0, taps1], np.int32)
    taps[1, 5] = (0, 1, 1)  # node 1: k = 6 with d1 twice -> still misses d2 -> unfoldable too
    lay = Layer(np.ones((2, 64), np.uint8), taps[..., 0], taps[..., 1], taps[..., 2], 2)
    net = Network(1, [lay], Readout(0, [0, 0], 1))
    f = fold_refractory(net).layers[0]
    assert f.refractory == 2 and f.k == 6 and (f.table == 1).all()
    assert not gate_is_folded(f, 0, 0) and not gate_is_folded(f, 0, 1)

    # k = 4: node 0 needs both history bits (-> 6), node 1 has d1 and needs d2 (-> 5, padded)
    taps = np.array([[(-1, 0, 0)] * 4, [(-1, 0, 0), (0, 1, 1), (-1, 0, 1), (-1, 0, 2)]], np.int32)
    lay = Layer(np.ones((2, 16), np.uint8), taps[..., 0], taps[..., 1], taps[..., 2], 2)
    f = fold_refractory(Network(1, [lay], Readout(0, [0, 0], 1))).layers[0]
    assert f.refractory == 0 and f.k == 6
    assert f.source[1].tolist() == [-1, 0, -1, -1, 0, -1]          # + own d2, + copy of tap 0
    assert f.delay[1].tolist() == [0, 1, 1, 2, 2, 0]
    addr = np.arange(64)
    busy = ((addr >> 1) | (addr >> 4)) & 1
    assert f.table[1].tolist() == (1 - busy).tolist()  # ignores the padding bit 5


def test_logits_are_dropped_where_the_table_changed_and_kept_elsewhere():
    net = random_network(3, 3, [4, 2], k=3, refractory=[1, 0])
    net = net.replace(layers=[layer.replace(logits=np.where(layer.table > 0, 1.0, -1.0)
                                            .astype(np.float32)) for layer in net.layers])
    f = fold_refractory(net)
    assert f.layers[0].logits is None
    np.testing.assert_array_equal(f.layers[1].logits, net.layers[1].logits)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 12), batch=st.integers(1, 3))
def test_folded_network_spikes_exactly_like_the_original(seed, steps, batch):
    net = arbitrary_network(seed)
    folded = fold_refractory(net)
    x = random_spikes(net.n_in, steps, batch, rate=0.6, seed=seed % 1000)
    want, got = simulate(net, x), simulate(folded, x)
    for w, g in zip(want.layer_spikes, got.layer_spikes):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(got.counts, want.counts)
    assert folded.flip_flops() == net.flip_flops()
    for i, (a, b) in enumerate(zip(net.layers, folded.layers)):
        # folding widens a node to at most one LUT6; a larger node (k = 7..12) keeps its width
        assert b.k <= max(6, a.k) and (a.k <= 6 or b.k == a.k) and b.refractory in (0, a.refractory)
        if b.refractory:  # an unfoldable node keeps the gate; every other node is folded
            assert not all(gate_is_folded(b, i, j) for j in range(b.n))
