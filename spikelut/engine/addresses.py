"""Table addresses rebuilt from recorded spikes, counted per node: which entries of each table a
simulation visited (``spikelut plot table``).

The tap rule is DESIGN.md section 2's, as :func:`spikelut.semantics.tap_address` states it: tap
``p`` of node ``j`` reads its signal at cycle ``t - delay[j, p]`` (0 before cycle 0) into bit ``p``
of the address. Here the signals are the recorded ones (input spikes and every layer's spikes of
a result file), not a new simulation, so the loop also checks that each recorded spike sits on
an address whose table entry is 1: a result of another model is refused instead of counted.

One compiled loop over cycles, nodes and samples: the numpy formulation this replaces built
int64 addresses ``[T, n, B]`` and took 76-80 s for a result of 2,048 samples x 500 cycles x
1,000 nodes (BENCHMARKS.md, "Drawing one sample of a large result").

Example:
    >>> import numpy as np
    >>> x = np.array([1, 1, 0, 1], np.uint8)           # one input channel over 4 cycles
    >>> s = np.array([0, 1, 1, 0], np.uint8)           # one node: a = the input one cycle ago
    >>> sig = np.stack([x, s], axis=1)[:, None, :]     # [T, B, signals] = [4, 1, 2]
    >>> counts, bad = count_addresses(sig, cols=np.array([[0]]), delays=np.array([[1]]),
    ...                               table=np.array([[0, 1]], np.uint8), first=1)
    >>> counts.tolist(), bad                           # addresses 0, 1, 1, 0
    ([[2, 2]], None)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..network import all_binary


@njit(cache=True, nogil=True)
def _count(sig, cols, delays, table, first, counts):  # pragma: no cover - compiled
    T, B = sig.shape[0], sig.shape[1]
    n, k = cols.shape
    for t in range(T):
        bad_j, bad_b, bad_a = -1, -1, -1
        for b in range(B):
            for j in range(n):
                a = 0
                for p in range(k):
                    tt = t - delays[j, p]
                    # no branch on the spike itself (random bits mispredict half the time):
                    # only on the cycle, which is predictable; spikes are 0 or 1 (checked by
                    # the readers), so the bit is the value
                    if tt >= 0:
                        a |= np.int64(sig[tt, b, cols[j, p]]) << p
                if sig[t, b, first + j] > table[j, a]:
                    # the first in (node, sample) order of this cycle, as the message promises
                    if bad_j < 0 or j < bad_j or (j == bad_j and b < bad_b):
                        bad_j, bad_b, bad_a = j, b, a
                counts[j, a] += 1
        if bad_j >= 0:
            return t, bad_j, bad_b, bad_a
    return -1, -1, -1, -1


def count_addresses(signals: np.ndarray, cols: np.ndarray, delays: np.ndarray, table: np.ndarray,
                    first: int) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """Count, for each node of one layer, how often each table address occurred.

    Args:
        signals: uint8 ``[T, B, C]``: every signal the layer's taps read and the layer's own
            spikes, side by side (e.g. the input channels, then each layer's nodes).
        cols: int ``[n, k]``: the column of ``signals`` tap ``p`` of node ``j`` reads.
        delays: int ``[n, k]``: that tap's delay in cycles (>= 0).
        table: uint8 ``[n, 2**k]``: the layer's tables.
        first: the column of ``signals`` where the layer's own node 0 is (its spikes are checked
            against the tables).

    Returns:
        ``(counts, bad)``: int64 ``[n, 2**k]`` counts over the ``T * B`` evaluations, and
        ``None``, or ``(cycle, node, sample, address)`` of the first recorded spike (in cycle,
        node, sample order) on an address whose table entry is 0; the counts are then partial.

    Raises:
        ValueError: arrays of the wrong shapes, a column or delay out of range, or a value other
            than 0 or 1 (checked here: the loop reads without bounds checks).
    """
    sig = np.ascontiguousarray(signals, dtype=np.uint8)
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    delays = np.ascontiguousarray(delays, dtype=np.int64)
    table = np.ascontiguousarray(table, dtype=np.uint8)
    if sig.ndim != 3 or cols.ndim != 2 or cols.shape != delays.shape or \
            table.shape != (cols.shape[0], 1 << cols.shape[1]):
        raise ValueError(f"shapes do not fit: signals {sig.shape}, cols {cols.shape}, delays "
                         f"{delays.shape}, table {table.shape}")
    n, C = cols.shape[0], sig.shape[2]
    if cols.size and (cols.min() < 0 or cols.max() >= C) or delays.size and delays.min() < 0 \
            or not 0 <= first <= C - n:
        raise ValueError(f"a tap column, delay or the layer's first column is out of range for "
                         f"{C} signals")
    if not all_binary(sig) or not all_binary(table):
        # a 2 would make an address past the node's table, read without bounds checks
        raise ValueError("spikes and tables must be 0 or 1")
    counts = np.zeros(table.shape, np.int64)
    t, j, b, a = _count(sig, cols, delays, table, int(first), counts)
    return counts, (None if t < 0 else (int(t), int(j), int(b), int(a)))


__all__ = ["count_addresses"]
