"""The tiny demo networks do what their one-sentence descriptions say."""

import os

import numpy as np

import spikelut as sl


def demo(demos_dir, name):
    return sl.build(os.path.join(demos_dir, f"{name}.toml"))


def test_oscillator_toggles_while_enabled(demos_dir):
    net = demo(demos_dir, "oscillator")
    x = np.array([1, 1, 1, 1, 0, 0, 1, 1, 1], np.uint8)[:, None, None]
    assert sl.simulate(net, x).layer_spikes[0][:, 0, 0].tolist() == [1, 0, 1, 0, 0, 0, 1, 0, 1]


def test_pulse_refractory_fires_every_third_cycle(demos_dir):
    net = demo(demos_dir, "pulse_refractory")
    x = np.ones((9, 1, 1), np.uint8)
    assert sl.simulate(net, x).layer_spikes[0][:, 0, 0].tolist() == [1, 0, 0, 1, 0, 0, 1, 0, 0]


def test_first_of_two_remembers_which_input_came_first(demos_dir):
    net = demo(demos_dir, "first_of_two")
    T = 10
    x = np.zeros((T, 3, 2), np.uint8)
    x[2, 0, 0], x[6, 0, 1] = 1, 1      # channel 0 first
    x[1, 1, 1], x[7, 1, 0] = 1, 1      # channel 1 first
    x[4, 2, :] = 1                     # both at once: a tie, class 0
    res = sl.simulate(net, x)
    s = res.layer_spikes[0]
    assert s[:, 0, 0].tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 1, 1] and s[:, 0, 1].sum() == 0
    assert s[:, 1, 1].tolist() == [0, 1, 1, 1, 1, 1, 1, 1, 1, 1] and s[:, 1, 0].sum() == 0
    assert res.pred.tolist() == [0, 1, 0]
