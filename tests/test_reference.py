"""Properties and input checks of the reference engine (DESIGN.md section 2).

The hand-checked spike trains (delay line, oscillators, refractory pulse trains, delay-0 chains,
readout ties, ...) live in ``tests/test_semantics.py``, which runs them on every implementation.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikelut.engine.reference import simulate
from spikelut.errors import ShapeError
from spikelut.wiring import random_network

from helpers import chain, layer

COPY = [0, 1, 0, 1]  # k=2 table: output = tap 0


def test_bad_input_shapes_are_refused():
    net = chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], COPY)])
    with pytest.raises(ShapeError, match="2 channels but the network has 1 input$"):
        simulate(net, np.zeros((3, 1, 2), np.uint8))
    with pytest.raises(ShapeError, match="3-D"):
        simulate(net, np.zeros((3, 1), np.uint8))
    with pytest.raises(ShapeError, match="0 or 1"):
        simulate(net, np.full((3, 1, 1), 2, np.uint8))


nets = st.builds(
    lambda seed, sizes, k, d, r: random_network(seed, 5, sizes, k=k, max_delay=d, refractory=r,
                                                classes=2),
    st.integers(0, 10_000), st.lists(st.integers(2, 9), min_size=1, max_size=3),
    st.integers(1, 9), st.integers(0, 4), st.integers(0, 3))


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
