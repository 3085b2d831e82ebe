"""plot table's address counts come from a compiled loop (spikelut.engine.addresses); they must
be those of the tap rule written out in numpy (the formulation it replaced, kept here as the
oracle), on networks with delays, recurrence and several layers, and refuse the same spikes."""

import numpy as np
import pytest

import spikelut as sl
from spikelut.engine.addresses import count_addresses
from spikelut.errors import ShapeError
from spikelut.network import INPUT
from spikelut.plot import address_counts
from spikelut.wiring import random_network


def numpy_address_counts(net, x, layer_spikes, i):
    """DESIGN.md section 2's tap rule over whole arrays: int64 addresses [T, n, B], then counts;
    the first spike on a 0 entry in (cycle, node, sample) order, or None."""
    lay = net.layers[i]
    sigs = [x, *layer_spikes]
    T, B = x.shape[:2]
    n, k = lay.n, lay.k
    D = int(lay.delay.max())
    padded = [np.concatenate([np.zeros((D, B, s.shape[2]), np.uint8), s]) for s in sigs]
    t_idx = D + np.arange(T)[:, None]
    addr = np.zeros((T, n, B), np.int64)
    for p in range(k):
        for src in np.unique(lay.source[:, p]).tolist():
            cols = np.flatnonzero(lay.source[:, p] == src)
            sig = padded[0 if src == INPUT else src + 1]
            bit = sig[t_idx - lay.delay[cols, p][None, :], :, lay.index[cols, p][None, :]]
            addr[:, cols, :] |= bit.astype(np.int64) << p
    spk = sigs[i + 1].transpose(0, 2, 1)
    entry = lay.table[np.arange(n)[None, :, None], addr]
    bad = np.argwhere(spk > entry)
    first = None if not len(bad) else tuple(int(v) for v in bad[0]) + (int(addr[tuple(bad[0])]),)
    counts = np.bincount(((np.arange(n) << k)[None, :, None] + addr).ravel(),
                         minlength=n << k).reshape(n, 1 << k)
    return counts, first


@pytest.mark.parametrize("seed", range(6))
def test_counts_equal_the_numpy_tap_rule(seed):
    rng = np.random.default_rng(seed)
    net = random_network(seed, n_in=int(rng.integers(1, 6)), sizes=[7, 5, 3], k=int(rng.integers(1, 5)),
                         max_delay=int(rng.integers(0, 4)), recurrent=True, refractory=[1, 0, 2],
                         classes=3)
    x = (rng.random((int(rng.integers(1, 30)), int(rng.integers(1, 40)), net.n_in)) < 0.4
         ).astype(np.uint8)
    res = sl.simulate(net, x)
    for i in range(len(net.layers)):
        want, bad = numpy_address_counts(net, x, res.layer_spikes, i)
        assert bad is None
        for chunk in (1, 3, None):
            got = address_counts(net, x, res.layer_spikes, i, chunk=chunk)
            assert got.dtype == np.int64 and got.tolist() == want.tolist()
        assert int(want.sum()) == x.shape[0] * x.shape[1] * net.layers[i].n


@pytest.mark.parametrize("seed", range(6))
def test_the_first_impossible_spike_is_the_one_numpy_finds(seed):
    """Spikes flipped on at random: the first on a 0 entry in (cycle, node, sample) order."""
    rng = np.random.default_rng(100 + seed)
    net = random_network(seed, n_in=3, sizes=[6, 4], k=3, max_delay=2, recurrent=True, classes=2)
    x = (rng.random((12, 9, 3)) < 0.5).astype(np.uint8)
    spikes = [s.copy() for s in sl.simulate(net, x).layer_spikes]
    for i in range(2):
        spikes[i] |= (rng.random(spikes[i].shape) < 0.2).astype(np.uint8)
    for i in range(2):
        _, want = numpy_address_counts(net, x, spikes, i)
        if want is None:
            continue
        t, j, b, a = want
        with pytest.raises(ShapeError) as e:
            address_counts(net, x, spikes, i, chunk=9, first_sample=40)
        assert str(e.value) == (f"the result does not come from this model: layer {i} node {j} "
                                f"spiked at cycle {t} of sample {40 + b} on address {a}, whose "
                                f"table entry is 0")


def test_count_addresses_refuses_columns_it_would_read_out_of_bounds():
    sig = np.zeros((2, 1, 3), np.uint8)
    table = np.zeros((1, 2), np.uint8)
    with pytest.raises(ValueError, match="out of range for 3 signals"):
        count_addresses(sig, np.array([[3]]), np.array([[0]]), table, 0)
    with pytest.raises(ValueError, match="out of range"):
        count_addresses(sig, np.array([[0]]), np.array([[-1]]), table, 0)
    with pytest.raises(ValueError, match="out of range"):
        count_addresses(sig, np.array([[0]]), np.array([[0]]), table, 3)
    with pytest.raises(ValueError, match="shapes do not fit"):
        count_addresses(sig, np.array([[0, 1]]), np.array([[0]]), table, 0)
    with pytest.raises(ValueError, match="0 or 1"):
        count_addresses(sig + 2, np.array([[0]]), np.array([[0]]), table, 0)


def test_spikes_other_than_0_or_1_are_refused_before_the_loop():
    """A 2 would make an address past the table, which the compiled loop reads unchecked."""
    net = random_network(0, n_in=2, sizes=[3], k=2, classes=3)
    x = np.zeros((4, 2, 2), np.uint8)
    s = np.zeros((4, 2, 3), np.uint8)
    x[1, 0, 1] = 2
    with pytest.raises(ShapeError, match="^spikes must be 0 or 1$"):
        address_counts(net, x, [s], 0)
