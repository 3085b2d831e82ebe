"""The RTL netlist and its interpreter: the hand-checked semantic cases of test_reference.py run
on the generated circuit (spikelut.rtl.netlist.simulate_network, the "rtl-netlist" row of the
semantic matrix), clock-edge semantics, and the errors of a broken netlist."""

import numpy as np
import pytest

from spikelut.engine.reference import simulate as reference
from spikelut.errors import NetworkError, ShapeError
from spikelut.rtl import plan_network
from spikelut.rtl.netlist import (Assign, Block, Gate, Lut, Module, Port, Reg, from_plan, simulate,
                                  simulate_network, simulate_network_layers, trace)
from spikelut.wiring import random_network

from helpers import chain, layer, train

COPY = [0, 1, 0, 1]  # k=2 table: output = tap 0


# (name, network, input [T, B, n_in], expected spikes of every layer [T] for sample 0, node 0)
def cases():
    bits = [1, 0, 0, 1, 1, 0, 1]
    out = [
        ("delay line", chain(1, [layer([(-1, 0, 3), (-1, 0, 0)], COPY)]),
         train([1, 1, 0, 1, 0, 0, 0, 0]), [[0, 0, 0, 1, 1, 0, 1, 0]]),
        ("oscillator", chain(1, [layer([(-1, 0, 0), (0, 0, 1)], [0, 1, 0, 0])]),
         train([1, 1, 1, 1, 1, 0, 0, 1, 1]), [[1, 0, 1, 0, 1, 0, 0, 1, 0]]),
        ("free-running oscillator", chain(1, [layer([(0, 0, 1), (0, 0, 1)], [1, 0, 0, 0])]),
         train([0] * 6), [[1, 0, 1, 0, 1, 0]]),
        ("R=0 held input", chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], COPY, refractory=0)]),
         train([1] * 8), [[1] * 8]),
        ("R=1 pulses", chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], COPY, refractory=1)]),
         train([1] * 8), [[1, 0, 1, 0, 1, 0, 1, 0]]),
        ("R=2 pulses", chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], COPY, refractory=2)]),
         train([1] * 8), [[1, 0, 0, 1, 0, 0, 1, 0]]),
        ("R=3 pulses", chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], COPY, refractory=3)]),
         train([1] * 8), [[1, 0, 0, 0, 1, 0, 0, 0]]),
        ("suppressed spike does not restart the period",
         chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], COPY, refractory=3)]),
         train([1, 1, 1, 1, 0, 1, 1, 1, 1, 1]), [[1, 0, 0, 0, 0, 1, 0, 0, 0, 1]]),
        ("the gate sees spikes, not the table output",
         chain(1, [layer([(-1, 0, 0), (0, 0, 1)], [0, 1, 0, 0], refractory=2)]),
         train([1] * 9), [[1, 0, 0, 1, 0, 0, 1, 0, 0]]),
        ("delay-0 chain through three layers",
         chain(1, [layer([(-1, 0, 0), (-1, 0, 0)], COPY, name="a"),
                   layer([(0, 0, 0), (0, 0, 0)], COPY, name="b"),
                   layer([(1, 0, 0), (1, 0, 0)], COPY, name="c")]),
         train(bits), [bits, bits, bits]),
        ("a layer reads a later layer one cycle late",
         chain(1, [layer([(1, 0, 1), (1, 0, 1)], COPY), layer([(-1, 0, 0), (-1, 0, 0)], COPY)],
               readout_layer=0),
         train([1, 0, 1, 1, 0]), [[0, 1, 0, 1, 1], [1, 0, 1, 1, 0]]),
        ("table address bit order: tap 0 is the LSB",
         chain(2, [layer([(-1, 0, 0), (-1, 1, 0)], [0, 0, 1, 0])]),
         np.array([[[0, 0]], [[1, 0]], [[0, 1]], [[1, 1]]], np.uint8), [[0, 0, 1, 0]]),
        # k = 6 with R = 3 and no room in the LUT: the gate stays extra logic
        ("unfoldable gate", chain(1, [layer([(-1, 0, 0)] * 6, [0] + [1] * 63, refractory=3)]),
         train([1] * 9), [[1, 0, 0, 0, 1, 0, 0, 0, 1]]),
    ]
    lay = layer([[(-1, 0, 0), (-1, 0, 0)], [(-1, 1, 0), (-1, 1, 0)], [(-1, 2, 0), (-1, 2, 0)]], COPY)
    x = np.zeros((4, 3, 3), np.uint8)
    x[:, 0, :] = [[1, 0, 0], [0, 1, 1], [0, 1, 1], [0, 0, 0]]
    x[:, 1, :] = [[0, 0, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]]
    out.append(("readout ties and start", chain(3, [lay], classes=3, class_of=[0, 1, 2], start=1),
                x, [[1, 0, 0, 0]]))
    lay = layer([[(-1, 0, 0), (-1, 0, 0)], [(-1, 1, 0), (-1, 1, 0)]], COPY)
    out.append(("uncounted readout nodes", chain(2, [lay], classes=2, class_of=[-1, 1]),
                np.ones((3, 1, 2), np.uint8), [[1, 1, 1]]))
    return out


CASES = cases()


@pytest.mark.parametrize("name, net, x, want", CASES, ids=[c[0] for c in CASES])
def test_hand_checked_cases_on_the_netlist(name, net, x, want):
    layers = simulate_network_layers(net, x)
    for got, w in zip(layers, want):
        assert got[:, 0, 0].tolist() == w
    ref = reference(net, x)
    for got, w in zip(layers, ref.layer_spikes):
        np.testing.assert_array_equal(got, w)
    for lut6 in (False, True):
        np.testing.assert_array_equal(simulate_network(net, x, lut6=lut6),
                                      ref.layer_spikes[net.readout.layer])


def test_unfoldable_case_really_has_a_gate():
    net = dict((c[0], c[1]) for c in CASES)["unfoldable gate"]
    m = from_plan(plan_network(net), "g")
    assert [type(c).__name__ for c in m.cells].count("Gate") == 1


def test_generated_core_matches_reference_on_random_networks():
    for seed in range(6):
        net = random_network(seed, 5, [9, 7, 4], k=[6, 4, 3], max_delay=3,
                             refractory=[3, 1, 2], classes=2, start=1)
        x = (np.random.default_rng(seed).random((15, 4, 5)) < 0.5).astype(np.uint8)
        got = simulate_network_layers(net, x)
        for g, w in zip(got, reference(net, x).layer_spikes):
            np.testing.assert_array_equal(g, w)


# ---------------------------------------------------------------------------- clock semantics
PORTS = (Port("clk", "input"), Port("rst", "input"), Port("a", "input", 2), Port("y", "output", 2))


def test_registers_start_at_reset_and_load_on_the_edge_at_once():
    # q1 <= a[0]; q2 <= q1 (a shift register: every register takes its old d); y = {q1, q2}
    m = Module("sr", PORTS, (Block("", (Reg("q1", "a[0]"), Reg("q2", "q1", reset=1),
                                        Assign("y", ("q2", "q1")))),))
    y = simulate(m, np.array([[[1, 0]], [[0, 0]], [[0, 0]], [[0, 0]]], np.uint8))
    assert y[:, 0, 0].tolist() == [1, 0, 1, 0]   # q2: reset value 1, then q1 one cycle late
    assert y[:, 0, 1].tolist() == [0, 1, 0, 0]   # q1: a[0] one cycle late


def test_combinational_cells_settle_in_the_cycle_whatever_their_order():
    # listed consumer first: n2 = NOT n1, n1 = a[0] AND a[1]; y = {n1, n2}
    cells = (Lut("n2", "n2", ("n1",), 0b01), Lut("n1", "n1", ("a[0]", "a[1]"), 0b1000),
             Gate("g", "n2", ("a[0]",)), Assign("y", ("n2", "n1")))
    m = Module("comb", PORTS, (Block("", cells),))
    x = np.array([[[0, 0]], [[1, 0]], [[0, 1]], [[1, 1]]], np.uint8)
    assert simulate(m, x)[:, 0].tolist() == [[1, 0], [1, 0], [1, 0], [0, 1]]
    assert trace(m, x, ["g"])[:, 0, 0].tolist() == [1, 0, 1, 0]


@pytest.mark.parametrize("cells, msg", [
    ((Assign("y", ("a[0]", "nope")),), r"netlist 'bad': 'nope' is read but nothing drives it"),
    ((Assign("y", ("a[0]", "a[2]")),), r"netlist 'bad': bit 2 of 'a' is read but nothing drives it"),
    ((Reg("q", "a[0]"), Lut("q", "q", ("a[1]",), 1), Assign("y", ("q", "q"))),
     r"netlist 'bad': signal 'q' is driven by both a register and cell q"),
    ((Lut("u", "u", ("v",), 1), Lut("v", "v", ("u",), 1), Assign("y", ("u", "v"))),
     r"netlist 'bad': combinational loop through '(u|v)'"),
    ((Assign("y", ("a[0]",)),), r"netlist 'bad': output port 'y' needs one Assign of 2 bits"),
])
def test_broken_netlists_are_refused(cells, msg):
    with pytest.raises(NetworkError, match=msg):
        simulate(Module("bad", PORTS, (Block("", cells),)), np.zeros((2, 1, 2), np.uint8))


def test_input_shape_errors():
    m = Module("ok", PORTS, (Block("", (Assign("y", ("a[1]", "a[0]")),)),))
    with pytest.raises(ShapeError, match=r"netlist 'ok': input spikes must be \[T, B, 2\], got "
                                         r"shape \(3, 1, 3\)"):
        simulate(m, np.zeros((3, 1, 3), np.uint8))
    with pytest.raises(ShapeError, match=r"netlist 'ok': input spikes must be 0 or 1"):
        simulate(m, np.full((3, 1, 2), 2, np.uint8))
    with pytest.raises(NetworkError, match="no signal 'zz' to watch"):
        trace(m, np.zeros((3, 1, 2), np.uint8), ["zz"])
    net = random_network(0, 2, [3], k=2)
    with pytest.raises(ShapeError, match="input spikes have 3 channels but the network has 2"):
        simulate_network(net, np.zeros((4, 1, 3), np.uint8))
