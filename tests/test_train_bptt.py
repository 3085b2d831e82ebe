"""BPTT: hard forward == reference engine, gradients == finite differences of the relaxed model,
structural reach of gradients through delays and self-reference, refractory gradient modes."""

import numpy as np
import pytest

from spikelut.engine.reference import simulate
from spikelut.errors import ConfigError
from spikelut.network import Layer, Network, Readout
from spikelut.train.bptt import (Forward, backward, compile_plan, forward, relaxed_forward,
                                 tables_of)
from spikelut.train.surrogates import get_surrogate
from spikelut.wiring import random_network


def _bits(seed, T, B, n, p=0.4):
    return (np.random.default_rng(seed).random((T, B, n)) < p).astype(np.uint8)


@pytest.mark.parametrize("seed", range(4))
def test_forward_is_bit_equal_to_reference_engine(seed):
    net = random_network(seed, n_in=5, sizes=[12, 7, 4], k=[3, 6, 2], max_delay=3,
                         refractory=[0, 2, 1], classes=2)
    x = _bits(seed, 11, 6, 5)
    fwd = forward(compile_plan(net), [layer.table for layer in net.layers], x)
    ref = simulate(net, x)
    for i in range(len(net.layers)):
        np.testing.assert_array_equal(fwd.spikes(i), ref.layer_spikes[i])


def _fd_check(net, surrogate, seed):
    plan = compile_plan(net)
    rng = np.random.default_rng(seed)
    thetas = [rng.uniform(-1, 1, layer.table.shape) for layer in net.layers]
    T = 6
    x = rng.random((T, 2, net.n_in))
    weights = [rng.normal(size=(T, 2, layer.n)) for layer in net.layers]

    def loss(th, xx):
        f = relaxed_forward(plan, th, xx, surrogate)
        return sum(float((f.spikes(i) * w).sum()) for i, w in enumerate(weights))

    fwd = relaxed_forward(plan, thetas, x, surrogate)
    grads, g_in = backward(plan, thetas, fwd, weights, surrogate, refractory_grad="full",
                           tap_grad="identity", input_grad=True)
    eps = 1e-6
    for i, th in enumerate(thetas):
        num = np.zeros_like(th)
        for idx in np.ndindex(th.shape):
            plus = [t.copy() for t in thetas]
            minus = [t.copy() for t in thetas]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            num[idx] = (loss(plus, x) - loss(minus, x)) / (2 * eps)
        np.testing.assert_allclose(grads[i], num, atol=1e-7, rtol=1e-5)
    num = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num[idx] = (loss(thetas, xp) - loss(thetas, xm)) / (2 * eps)
    np.testing.assert_allclose(g_in, num, atol=1e-7, rtol=1e-5)
    assert np.abs(grads[0]).max() > 1e-3  # the check is not vacuous


@pytest.mark.parametrize("name,width", [("sigmoid", 0.5), ("arctan", 0.4), ("fast_sigmoid", 0.5)])
def test_gradient_of_relaxed_model_matches_finite_differences(name, width):
    # recurrence, self taps, delays up to 2 and refractory 1 and 2 on a tiny network
    net = random_network(3, n_in=3, sizes=[4, 3], k=[3, 2], max_delay=2, refractory=[1, 2], classes=2)
    assert any(layer.source.max() >= i for i, layer in enumerate(net.layers))  # has recurrence
    _fd_check(net, get_surrogate(name, width), seed=7)


def _soft_copy(fwd: Forward, thetas) -> Forward:
    """The hard trajectory expressed as a relaxed-model record (binary tap values)."""
    plan = fwd.plan
    soft = Forward(plan, fwd.hist.astype(np.float64), fwd.T, fwd.B, soft=True)
    for i, lp in enumerate(plan.layers):
        addr = fwd.addr[i].astype(np.int64)
        soft.x.append(((addr[:, :, None, :] >> np.arange(lp.k)[None, None, :, None]) & 1).astype(float))
        u = thetas[i].astype(np.float64)[np.arange(lp.n)[None, :, None], addr]
        soft.u.append(u)
        soft.a.append((u > 0).astype(float))
    return soft


@pytest.mark.parametrize("mode", ["block", "pass", "full"])
@pytest.mark.parametrize("tap_grad", ["tanh", "identity"])
def test_hard_backward_equals_relaxed_backward_along_the_circuit_trajectory(mode, tap_grad):
    net = random_network(5, n_in=4, sizes=[9, 5], k=[4, 3], max_delay=2, refractory=[2, 1], classes=2)
    plan = compile_plan(net)
    rng = np.random.default_rng(0)
    thetas = [rng.uniform(-1, 1, layer.table.shape).astype(np.float32) for layer in net.layers]
    x = _bits(1, 8, 5, 4, 0.5)
    fwd = forward(plan, tables_of(thetas), x)
    g = [rng.normal(size=(8, 5, layer.n)).astype(np.float32) for layer in net.layers]
    sg = get_surrogate("fast_sigmoid")
    hard, hin = backward(plan, thetas, fwd, g, sg, refractory_grad=mode, tap_grad=tap_grad,
                         input_grad=True)
    soft, sin = backward(plan, [t.astype(np.float64) for t in thetas], _soft_copy(fwd, thetas),
                         [a.astype(np.float64) for a in g], sg, refractory_grad=mode,
                         tap_grad=tap_grad, input_grad=True)
    for h, s in zip(hard, soft):
        np.testing.assert_allclose(h, s, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(hin, sin, rtol=1e-4, atol=1e-5)
    assert np.abs(hard[0]).max() > 1e-3


def _chain_net(d0, d1, self_loop=False):
    """L0: node 0 reads input 1 at delay d0 and input 0 at delay 0 (+ optionally itself at 1);
    L1: node 0 reads L0 node 0 at delay d1 and input 0 at delay 0."""
    if self_loop:
        l0 = Layer(np.zeros((1, 8), np.uint8), [[-1, -1, 0]], [[1, 0, 0]], [[d0, 0, 1]])
    else:
        l0 = Layer(np.zeros((1, 4), np.uint8), [[-1, -1]], [[1, 0]], [[d0, 0]])
    l1 = Layer(np.zeros((1, 4), np.uint8), [[0, -1]], [[0, 0]], [[d1, 0]])
    return Network(2, [l0, l1], Readout(1, [0], 1))


def _input_grad_nonzeros(net, t_out, T=10, tbptt=0):
    plan = compile_plan(net)
    rng = np.random.default_rng(0)
    thetas = [rng.uniform(0.2, 1, layer.table.shape).astype(np.float32) *
              rng.choice([-1, 1], layer.table.shape) for layer in net.layers]
    x = np.ones((T, 1, 2), np.uint8)
    fwd = forward(plan, tables_of(thetas), x)
    g = [None, np.zeros((T, 1, 1), np.float32)]
    g[1][t_out] = 1.0
    _, g_in = backward(plan, thetas, fwd, g, get_surrogate("fast_sigmoid"), tap_grad="identity",
                       input_grad=True, tbptt=tbptt)
    return sorted((int(t), int(c)) for t, _, c in np.argwhere(g_in != 0))


@pytest.mark.parametrize("d0,d1", [(0, 1), (2, 3), (1, 0)])
def test_bptt_through_delay_reaches_the_input_exactly_d_cycles_earlier(d0, d1):
    t_out = 7
    # L1's own input-0 tap at t_out; through L0 (t_out - d1): its input-0 tap at delay 0 and its
    # input-1 tap at delay d0
    expected = sorted({(t_out, 0), (t_out - d1, 0), (t_out - d1 - d0, 1)})
    assert _input_grad_nonzeros(_chain_net(d0, d1), t_out) == expected


def test_bptt_through_self_reference_reaches_every_earlier_cycle_and_tbptt_cuts_it():
    t_out, d1 = 10, 1
    net = _chain_net(0, d1, self_loop=True)
    got = _input_grad_nonzeros(net, t_out, T=12)
    # the self tap carries the gradient back one cycle at a time, down to cycle 0
    expected = sorted({(t_out, 0)} | {(t, c) for t in range(t_out - d1 + 1) for c in (0, 1)})
    assert got == expected
    # truncated at multiples of 4: L1 at 10 -> L0 at 9 -> 8, and not across the 7 | 8 boundary
    got = _input_grad_nonzeros(net, t_out, T=12, tbptt=4)
    assert got == sorted({(t_out, 0)} | {(t, c) for t in (8, 9) for c in (0, 1)})


def _refractory_node():
    # fires whenever the input is high; R = 1 -> spikes 1, 0, 1, 0 on a constant input
    layer = Layer(np.ones((1, 4), np.uint8), [[-1, -1]], [[0, 0]], [[0, 1]], refractory=1)
    return Network(1, [layer], Readout(0, [0], 1))


@pytest.mark.parametrize("mode", ["block", "pass", "full"])
def test_refractory_gradient_modes(mode):
    net = _refractory_node()
    plan = compile_plan(net)
    theta = [np.array([[0.3, 0.2, 0.4, 0.5]], np.float32)]
    x = np.ones((2, 1, 1), np.uint8)
    fwd = forward(plan, tables_of(theta), x)
    assert fwd.spikes(0)[:, 0, 0].tolist() == [1, 0]          # cycle 1 is suppressed
    assert fwd.addr[0][:, 0, 0].tolist() == [1, 3]
    g = [np.array([[[0.0]], [[1.0]]], np.float32)]             # dL/ds only at the suppressed cycle
    sg = get_surrogate("fast_sigmoid")
    grads, _ = backward(plan, theta, fwd, g, sg, refractory_grad=mode)
    expected = np.zeros((1, 4), np.float32)
    if mode == "pass":      # as if there were no gate: the address of cycle 1 learns
        expected[0, 3] = sg.grad(np.float32(0.5))
    elif mode == "full":    # d s1 / d s0 = -a1 = -1: the spike at cycle 0 is pushed down
        expected[0, 1] = -sg.grad(np.float32(0.2))
    np.testing.assert_allclose(grads[0], expected, rtol=1e-6)


def test_backward_rejects_bad_options():
    net = _refractory_node()
    plan = compile_plan(net)
    theta = [np.zeros((1, 4), np.float32)]
    fwd = forward(plan, tables_of(theta), np.ones((2, 1, 1), np.uint8))
    sg = get_surrogate("sigmoid")
    with pytest.raises(ConfigError, match="unknown refractory_grad 'soft'; choose one of block, pass, full"):
        backward(plan, theta, fwd, [None], sg, refractory_grad="soft")
    with pytest.raises(ConfigError, match="unknown tap_grad 'relu'"):
        backward(plan, theta, fwd, [None], sg, tap_grad="relu")
