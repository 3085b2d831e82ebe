"""Nodes larger than one FPGA LUT (k = 7..12) as a documented composition of LUT6 and muxes.

A node with ``k <= 6`` is one LUT (``LUT1`` .. ``LUT6``). A larger table is split by Shannon
expansion on its high address bits (taps 6 .. k-1), the structure of a Xilinx slice:

* k = 7: two ``LUT6`` (the table's halves, on taps 0..5) and one ``MUXF7`` selected by tap 6;
* k = 8: four ``LUT6``, two ``MUXF7`` (tap 6) and one ``MUXF8`` (tap 7): one slice;
* k = 9..12: ``2**(k-8)`` such k = 8 blocks, then a tree of LUTs used as muxes on taps 8 .. k-1:
  a ``LUT6`` is a 4:1 mux (4 data + 2 select inputs) for each pair of taps, and a ``LUT3`` 2:1
  mux for a last odd tap. Each LUT level of that tree adds one LUT level of depth (a ``MUXF7``
  or ``MUXF8`` adds none: it sits in the slice after its LUTs).

===  ====================================================  ==========
k    cells                                                 LUT levels
===  ====================================================  ==========
1-6  1 ``LUT<k>``                                          1
7    2 LUT6 + 1 MUXF7                                      1
8    4 LUT6 + 2 MUXF7 + 1 MUXF8                            1
9    8 LUT6 + 4 MUXF7 + 2 MUXF8 + 1 LUT3                   2
10   16 LUT6 + 8 MUXF7 + 4 MUXF8 + 1 LUT6                  2
11   32 LUT6 + 16 MUXF7 + 8 MUXF8 + 2 LUT6 + 1 LUT3        3
12   64 LUT6 + 32 MUXF7 + 16 MUXF8 + 5 LUT6                3
===  ====================================================  ==========

:func:`node_cells` builds those cells for the netlist (:mod:`spikelut.rtl.netlist`): the printer
writes them as ``LUT6``/``MUXF7``/``MUXF8`` primitives (``--lut6``) or as ``INIT[addr]`` tables
and ``sel ? i1 : i0`` assigns, and the netlist interpreter runs the same cells.

Example:
    >>> composition(7), composition(3)
    ({'LUT6': 2, 'MUXF7': 1}, {'LUT3': 1})
    >>> composition(12)['LUT6'], lut_levels(12)
    (69, 3)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..network import K_LUT

#: the slice muxes: MUXF7 merges two LUT6 on tap 6, MUXF8 two MUXF7 on tap 7
SLICE_MUXES = ("MUXF7", "MUXF8")


def table_init(table: np.ndarray) -> int:
    """``table`` (0/1, entry 0 first) as an integer, bit ``a`` = entry ``a`` (a LUT's INIT).

    Example:
        >>> table_init(np.array([0, 1, 1, 0]))
        6
    """
    return int("".join("1" if b else "0" for b in np.asarray(table)[::-1]), 2)


def _mux_table(n_data: int) -> np.ndarray:
    """Table of an ``n_data``:1 mux LUT (2 or 4 data inputs, then the select inputs LSB first)."""
    sel_bits = n_data.bit_length() - 1
    a = np.arange(1 << (n_data + sel_bits))
    return ((a >> (a >> n_data)) & 1).astype(np.uint8)


#: INIT of a LUT3 2:1 mux ``(d0, d1, s)`` and of a LUT6 4:1 mux ``(d0, d1, d2, d3, s0, s1)``
MUX2_INIT = table_init(_mux_table(2))
MUX4_INIT = table_init(_mux_table(4))


def composition(k: int) -> dict[str, int]:
    """Cells of a ``k``-input node: ``{"LUT6": .., "MUXF7": .., ...}`` (see the module table).

    Example:
        >>> composition(8), composition(9)
        ({'LUT6': 4, 'MUXF7': 2, 'MUXF8': 1}, {'LUT6': 8, 'MUXF7': 4, 'MUXF8': 2, 'LUT3': 1})
    """
    if k <= K_LUT:
        return {f"LUT{k}": 1}
    if k == 7:
        return {"LUT6": 2, "MUXF7": 1}
    blocks = 1 << (k - 8)
    out = {"LUT6": 4 * blocks, "MUXF7": 2 * blocks, "MUXF8": blocks}
    n, left = blocks, k - 8
    while left >= 2:
        n //= 4
        left -= 2
        out["LUT6"] += n
    if left:
        out["LUT3"] = out.get("LUT3", 0) + n // 2
    return out


def lut_levels(k: int) -> int:
    """LUT levels from a ``k``-input node's inputs to its output (MUXF7/MUXF8 add none).

    Example:
        >>> [lut_levels(k) for k in (1, 6, 7, 8, 9, 10, 11, 12)]
        [1, 1, 1, 1, 2, 2, 3, 3]
    """
    return 1 if k <= 8 else 1 + -(-(k - 8) // 2)


def node_cells(name: str, out: str, inputs: Sequence[str], table: np.ndarray, note: str = "") -> list:
    """The netlist cells of one node: one :class:`~spikelut.rtl.netlist.Lut` for ``k <= 6``, the
    composition of the module docstring for k = 7..12.

    Args:
        name: the node's name (prefix of its cells and internal wires: ``<name>_p<s>`` for the
            LUT6 pieces, ``<name>_f7_<i>``, ``<name>_f8_<i>``, ``<name>_m<level>_<i>``).
        out: the wire the node drives.
        inputs: the ``k`` input signals, tap 0 first.
        table: uint8 ``[2**k]``.
        note: a comment for the first cell.

    Returns:
        Cells in evaluation order (``Lut`` and ``Mux``), the last one driving ``out``.

    Example:
        >>> [type(c).__name__ for c in node_cells("n", "n", [f"x{p}" for p in range(7)],
        ...                                        np.zeros(128, np.uint8))]
        ['Lut', 'Lut', 'Mux']
    """
    from .netlist import Lut, Mux

    k = len(inputs)
    table = np.asarray(table, np.uint8)
    if k <= K_LUT:
        return [Lut(name, out, tuple(inputs), table_init(table), note)]
    low = tuple(inputs[:K_LUT])
    n = 1 << (k - K_LUT)
    cells: list = []
    vals = []
    for s in range(n):  # the table's 64-entry pieces on taps 0..5, piece s = high bits s
        w = f"{name}_p{s}"
        cells.append(Lut(w, w, low, table_init(table[64 * s:64 * (s + 1)]),
                         note if s == 0 else ""))
        vals.append(w)
    for p, prim in zip((6, 7), SLICE_MUXES):  # MUXF7 on tap 6, MUXF8 on tap 7
        if p >= k:
            break
        tag = "f7" if prim == "MUXF7" else "f8"
        nxt = []
        for a in range(len(vals) // 2):
            w = out if len(vals) == 2 and p == k - 1 else f"{name}_{tag}_{a}"
            cells.append(Mux(w, w, inputs[p], vals[2 * a], vals[2 * a + 1], prim))
            nxt.append(w)
        vals = nxt
    p, level = 8, 0
    while p < k:  # a LUT6 4:1 mux per pair of taps, a LUT3 2:1 mux for a last odd tap
        step = 2 if p + 1 < k else 1
        width = 1 << step
        nxt = []
        for a in range(len(vals) // width):
            w = out if len(vals) == width and p + step == k else f"{name}_m{level}_{a}"
            data = tuple(vals[width * a:width * (a + 1)])
            cells.append(Lut(w, w, data + tuple(inputs[p:p + step]),
                             MUX4_INIT if step == 2 else MUX2_INIT))
            nxt.append(w)
        vals, p, level = nxt, p + step, level + 1
    return cells


__all__ = ["MUX2_INIT", "MUX4_INIT", "SLICE_MUXES", "composition", "lut_levels", "node_cells",
           "table_init"]
