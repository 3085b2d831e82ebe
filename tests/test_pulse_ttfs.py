"""The first-spike term of ``ce_count_temporal`` on a wide pulse-only readout (docs/pulse.md,
section "Third pass"): when two or more nodes of every class fire in the class's first cycle,
every first-spike time is 0, the term is the constant ``log C`` and its gradient is exactly 0,
so the combined loss trains as the count loss alone. With a single first spiker the gradient
is not 0."""

from __future__ import annotations

import math

import numpy as np

from spikelut.network import Readout
from spikelut.train.losses import count_and_first_spike, cross_entropy, time_to_first_spike


def _readout(classes: int, per_class: int) -> Readout:
    return Readout(layer=0, class_of=np.repeat(np.arange(classes), per_class), classes=classes)


def test_first_spike_term_is_flat_when_several_nodes_of_every_class_fire_in_cycle_0():
    ro = _readout(3, 4)
    rng = np.random.default_rng(0)
    s = (rng.random((6, 2, 12)) < 0.5).astype(np.uint8)
    s[0, :, :] = 0
    s[0, :, [0, 1, 4, 5, 8, 9]] = 1           # two nodes of each class fire in cycle 0
    labels = np.array([0, 2])
    loss, g = time_to_first_spike(s, labels, ro)
    assert math.isclose(float(loss), math.log(3), rel_tol=1e-12)
    assert np.count_nonzero(g) == 0
    both, g_both = count_and_first_spike(s, labels, ro, logit_scale=0.5)
    count, g_count = cross_entropy(s, labels, ro, logit_scale=0.5)
    assert math.isclose(float(both), float(count) + math.log(3), rel_tol=1e-12)
    np.testing.assert_array_equal(g_both, g_count)


def test_first_spike_term_has_a_gradient_with_one_first_spiker_per_class():
    ro = _readout(3, 4)
    s = np.zeros((6, 1, 12), np.uint8)
    s[0, 0, [0, 4, 8]] = 1                    # one node of each class fires in cycle 0
    loss, g = time_to_first_spike(s, np.array([1]), ro)
    assert math.isclose(float(loss), math.log(3), rel_tol=1e-12)
    # the lone first spikers carry the gradient: the correct class's is pushed to fire (< 0)
    assert g[0, 0, 4] < 0 < g[0, 0, 0]
    assert g[0, 0, 0] == g[0, 0, 8]
