"""Hand-checked spike trains and properties of the reference engine (DESIGN.md section 2)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikelut.engine.reference import simulate
from spikelut.errors import ShapeError
from spikelut.wiring import random_network

from helpers import chain, layer, train

COPY = [0, 1, 0, 1]  # k=2 table: output = tap 0


def out(net, bits, li=0):
    return simulate(net, train(bits)).layer_spikes[li][:, 0, 0].tolist()


def test_delay_line_shifts_input_by_its_delay():
    net = chain(1, [layer([(-1, 0, 3), (-1, 0, 0)], COPY)])
    assert out(net, [1, 1, 0, 1, 0, 0, 0, 0]) == [0, 0, 0, 1, 1, 0, 1, 0]


def test_oscillator_from_self_loop_toggles_while_enabled():
    # addr = enable + 2 * own previous spike; fires on (1, 0) only
    net = chain(1, [layer([(-1, 0, 0), (0, 0, 1)], [0, 1, 0, 0])])
    assert out(net, [1, 1, 1, 1, 1, 0, 0, 1, 1]) == [1, 0, 1, 0, 1, 0, 0, 1, 0]


def test_free_running_oscillator_needs_no_input():
    # NOT of own previous output: 1, 0, 1, 0, ... starting from the zero state
    net = chain(1, [layer([(0, 0, 1), (0, 0, 1)], [1, 0, 0, 0])])
    assert out(net, [0] * 6) == [1, 0, 1, 0, 1, 0]


@pytest.mark.parametrize("R, expected", [
    (0, [1, 1, 1, 1, 1, 1, 1, 1]),
    (1, [1, 0, 1, 0, 1, 0, 1, 0]),
    (3, [1, 0, 0, 0, 1, 0, 0, 0]),
])
def test_refractory_held_input_becomes_pulses(R, expected):
    net = chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], COPY, refractory=R)])
    assert out(net, [1] * 8) == expected


def test_refractory_suppressed_spike_does_not_restart_the_period():
    # R = 3: fires at 0; 1..3 silent although the table says 1; input off at 4, on at 5
    net = chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], COPY, refractory=3)])
    assert out(net, [1, 1, 1, 1, 0, 1, 1, 1, 1, 1]) == [1, 0, 0, 0, 0, 1, 0, 0, 0, 1]


def test_refractory_gate_sees_spikes_not_table_output():
    # the node taps its own spike: table = "fire unless I fired last cycle", R = 2
    net = chain(1, [layer([(-1, 0, 0), (0, 0, 1)], [0, 1, 0, 0], refractory=2)])
    assert out(net, [1] * 9) == [1, 0, 0, 1, 0, 0, 1, 0, 0]


def test_delay0_chain_through_three_layers_in_one_cycle():
    layers = [layer([(-1, 0, 0), (-1, 0, 0)], COPY, name="a"),
              layer([(0, 0, 0), (0, 0, 0)], COPY, name="b"),
              layer([(1, 0, 0), (1, 0, 0)], COPY, name="c")]
    net = chain(1, layers)
    bits = [1, 0, 0, 1, 1, 0, 1]
    res = simulate(net, train(bits))
    for li in range(3):
        assert res.layer_spikes[li][:, 0, 0].tolist() == bits


def test_layer_reads_a_later_layer_one_cycle_late():
    # layer 0 copies layer 1 (delayed 1); layer 1 copies the input: layer 0 = input shifted by 1
    layers = [layer([(1, 0, 1), (1, 0, 1)], COPY), layer([(-1, 0, 0), (-1, 0, 0)], COPY)]
    net = chain(1, layers, readout_layer=0)
    assert out(net, [1, 0, 1, 1, 0]) == [0, 1, 0, 1, 1]


def test_table_address_bit_order_tap0_is_lsb():
    # table with a single 1 at address 2 (tap 1 high, tap 0 low)
    net = chain(2, [layer([(-1, 0, 0), (-1, 1, 0)], [0, 0, 1, 0])])
    x = np.array([[[0, 0]], [[1, 0]], [[0, 1]], [[1, 1]]], np.uint8)
    assert simulate(net, x).layer_spikes[0][:, 0, 0].tolist() == [0, 0, 1, 0]


def test_readout_counts_from_start_and_ties_go_to_lowest_class():
    # three copy nodes reading inputs 0, 1, 2; classes 0, 1, 1 ... and node 2 -> class 2
    lay = layer([[(-1, 0, 0), (-1, 0, 0)], [(-1, 1, 0), (-1, 1, 0)], [(-1, 2, 0), (-1, 2, 0)]], COPY)
    net = chain(3, [lay], classes=3, class_of=[0, 1, 2], start=1)
    x = np.zeros((4, 3, 3), np.uint8)
    x[:, 0, :] = [[1, 0, 0], [0, 1, 1], [0, 1, 1], [0, 0, 0]]   # class 0 fires only at t=0 < start
    x[:, 1, :] = [[0, 0, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]]   # tie 0/1
    x[:, 2, :] = [[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]]   # all zero: tie, class 0
    res = simulate(net, x)
    assert res.counts.tolist() == [[0, 2, 2], [1, 1, 0], [0, 0, 0]]
    assert res.pred.tolist() == [1, 0, 0]


def test_uncounted_readout_nodes_are_ignored():
    lay = layer([[(-1, 0, 0), (-1, 0, 0)], [(-1, 1, 0), (-1, 1, 0)]], COPY)
    net = chain(2, [lay], classes=2, class_of=[-1, 1])
    x = np.ones((3, 1, 2), np.uint8)
    res = simulate(net, x)
    assert res.counts.tolist() == [[0, 3]] and res.pred.tolist() == [1]


def test_bad_input_shapes_are_refused():
    net = chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], COPY)])
    with pytest.raises(ShapeError, match="2 channels but the network has 1 inputs"):
        simulate(net, np.zeros((3, 1, 2), np.uint8))
    with pytest.raises(ShapeError, match="3-D"):
        simulate(net, np.zeros((3, 1), np.uint8))
    with pytest.raises(ShapeError, match="0 or 1"):
        simulate(net, np.full((3, 1, 1), 2, np.uint8))


nets = st.builds(
    lambda seed, sizes, k, d, r: random_network(seed, 5, sizes, k=k, max_delay=d, refractory=r,
                                                classes=2),
    st.integers(0, 10_000), st.lists(st.integers(2, 9), min_size=1, max_size=3),
    st.integers(2, 6), st.integers(0, 4), st.integers(0, 3))


@settings(max_examples=40, deadline=None)
@given(nets, st.integers(0, 2**31 - 1))
def test_no_node_fires_twice_within_refractory_window(net, seed):
    x = np.random.default_rng(seed).integers(0, 2, (12, 3, 5)).astype(np.uint8)
    res = simulate(net, x)
    for layer_, s in zip(net.layers, res.layer_spikes):
        R = layer_.refractory
        for lag in range(1, R + 1):
            assert not (s[lag:] & s[:-lag]).any()


@settings(max_examples=30, deadline=None)
@given(nets, st.integers(0, 2**31 - 1))
def test_batch_equals_each_sample_alone(net, seed):
    x = np.random.default_rng(seed).integers(0, 2, (9, 4, 5)).astype(np.uint8)
    res = simulate(net, x)
    for b in range(4):
        one = simulate(net, x[:, b:b + 1])
        for s_all, s_one in zip(res.layer_spikes, one.layer_spikes):
            assert np.array_equal(s_all[:, b:b + 1], s_one)
        assert np.array_equal(res.counts[b:b + 1], one.counts)
