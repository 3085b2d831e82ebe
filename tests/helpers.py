"""Small builders shared by the tests."""

import numpy as np

from spikelut.network import Layer, Network, Readout


def layer(taps, table, refractory=0, name=""):
    """One-node-per-row layer from taps [(source, index, delay), ...] per node and a table."""
    taps = np.asarray(taps, dtype=np.int32)
    if taps.ndim == 2:
        taps = taps[None]
    table = np.asarray(table, np.uint8)
    if table.ndim == 1:
        table = np.tile(table, (taps.shape[0], 1))
    return Layer(table, taps[..., 0], taps[..., 1], taps[..., 2], refractory, name)


def chain(n_in, layers, readout_layer=-1, classes=1, class_of=None, start=0):
    ri = readout_layer % len(layers)
    n = layers[ri].n
    if class_of is None:
        class_of = [j % classes for j in range(n)]
    return Network(n_in, layers, Readout(ri, class_of, classes, start))


def train(bits):
    """A [T, 1, 1] input from a list of bits."""
    return np.asarray(bits, np.uint8)[:, None, None]
