"""Training history is clipped to the run length, like the engines' (``NetPlan.for_steps``): a
legal delay or refractory period of 65,535 cycles trains with ``T + 1`` history rows and exactly
the gradients of the same network with that delay / period cut to ``T`` (both read only the zeros
before cycle 0)."""

import tracemalloc

import numpy as np
import pytest

from spikelut.limits import MAX_DELAY, MAX_REFRACTORY
from spikelut.train import Trainer
from spikelut.train.bptt import backward, compile_plan, forward
from spikelut.train.surrogates import get_surrogate

from test_train import _setup, first_of_two

T = 8


def far_and_near():
    """The tiny temporal network with node 0's self tap at delay 65,535 and the output layer's
    refractory period 65,535 (far), and the same with both cut to T (near)."""
    net, tc = _setup(epochs=1, batch_size=56)
    h, out = net.layers
    far_d, near_d = h.delay.copy(), h.delay.copy()
    far_d[0, 3], near_d[0, 3] = MAX_DELAY, T
    far = net.replace_layer(0, delay=far_d).replace_layer(1, refractory=MAX_REFRACTORY)
    near = net.replace_layer(0, delay=near_d).replace_layer(1, refractory=T)
    return far, near, tc


def test_far_taps_keep_t_plus_one_history_rows():
    far, _, _ = far_and_near()
    plan = compile_plan(far)
    assert plan.D == MAX_DELAY
    short = plan.for_steps(T)
    assert short.D == T and short is plan.for_steps(T)          # cached
    assert short.layers[0].delay[0].tolist() == [0, 0, 1, T]    # the far tap, clipped
    assert short.layers[1].refractory == T
    assert plan.for_steps(70_000) is plan                       # long runs need no clipping


def test_far_taps_give_the_near_gradients_exactly_in_small_memory():
    far, near, _ = far_and_near()
    x, _ = first_of_two(T)
    sg = get_surrogate("fast_sigmoid", 0.5)
    rng = np.random.default_rng(0)
    thetas = [rng.standard_normal(layer.table.shape).astype(np.float32) for layer in far.layers]
    tables = [(th > 0).astype(np.uint8) for th in thetas]
    g = [None, rng.standard_normal((T, x.shape[1], 4)).astype(np.float32)]
    results = []
    for net in (far, near):
        plan = compile_plan(net)
        tracemalloc.start()
        fwd = forward(plan, tables, x)
        grads, g_in = backward(plan, thetas, fwd, g, sg, refractory_grad="full", input_grad=True)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        # 65,536 history rows would be 66 MB of spikes and 264 MB of spike gradients
        assert fwd.hist.shape == (2 * T, far.n_in + far.n_nodes, x.shape[1]) and peak < 8 << 20
        results.append((fwd.hist, grads, g_in))
    (h_far, gr_far, gi_far), (h_near, gr_near, gi_near) = results
    np.testing.assert_array_equal(h_far, h_near)
    for a, b in zip(gr_far, gr_near):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(gi_far, gi_near)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_one_training_step_with_a_delay_of_65535_equals_the_near_network(backend):
    far, near, tc = far_and_near()
    tc = type(tc).from_dict({**tc.to_dict(), "backend": backend})
    x, y = first_of_two(T)
    res = [Trainer(net, tc, progress=False).fit((x, y)) for net in (far, near)]
    assert [r["loss"] for r in res[0].history] == [r["loss"] for r in res[1].history]
    for a, b in zip(res[0].net.layers, res[1].net.layers):
        np.testing.assert_array_equal(a.logits, b.logits)
    assert res[0].net.layers[0].delay[0, 3] == MAX_DELAY   # the trained network keeps its delay
