"""How a network maps onto LUTs and flip-flops: names, shift registers, refractory folding.

The Verilog emitter, the classifier wrapper, the synthesis report and the tests all read this one
plan, so "what the generator expects" (LUTs, flip-flops, LUT levels) is computed in one place.

Refractory folding (the tables come from :func:`spikelut.transforms.fold_refractory`). A node of
a layer with refractory ``R >= 1`` computes ``s = a AND NOT (s[t-1] OR ... OR s[t-R])``. The
history bits ``s[t-d]`` are the node's own shift register stages ``<node>_d<d>`` (every such node
has one at least ``R`` deep). Per node, in order:

* ``taps``: every ``d`` in ``1..R`` is already one of the node's taps (the node reads its own
  output at those delays) -- the gate is folded into the table: ``table'[a] = table[a]`` with the
  entries where any of those taps is 1 cleared. Same LUT, same inputs, no extra logic.
* ``widened``: ``m`` of the history bits are not taps and ``k + m <= 6`` -- the LUT gets those
  ``m`` bits as extra inputs (a LUT``k+m``) and the gate is folded into its ``2**(k+m)`` table.
* ``gate``: ``k + m > 6`` -- the LUT keeps the node's table and the gate is emitted as separate
  logic ``<node> = <node>_a & ~(<history bits>)``: ``ceil(m / 5)`` more LUT6 at most.

Node sizes: a node with ``k <= 6`` is one ``LUT<k>``; k = 7..12 is the composition of
:mod:`spikelut.rtl.compose` (LUT6 pieces, ``MUXF7``/``MUXF8``, LUT muxes beyond k = 8), counted
in :meth:`RtlPlan.luts_by_size` and :meth:`RtlPlan.muxes`.

Example:
    >>> import numpy as np
    >>> from spikelut.network import Layer, Network, Readout
    >>> osc = Layer(np.array([[0, 1, 0, 0]], np.uint8), np.array([[-1, 0]]), np.array([[0, 0]]),
    ...             np.array([[0, 1]]), refractory=1)
    >>> p = plan_network(Network(1, [osc], Readout(0, [0], 1)))
    >>> p.nodes[0][0].fold, p.nodes[0][0].inputs, p.nodes[0][0].table.tolist()
    ('taps', ['in_spikes[0]', 'L0_n0_d1'], [0, 1, 0, 0])
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .. import limits
from ..errors import ConfigError, NetworkError
from ..network import INPUT, Layer, Network, k_range_problem
from ..transforms import fold_refractory, gate_is_folded
from .cells import vendor_cell_names
from .compose import composition, lut_levels

LUT_MAX = 6

# Verilog-2005 and SystemVerilog-2017 keywords: Verilator parses .v files with SystemVerilog
# keywords reserved, so a top name must avoid both sets.
VERILOG_KEYWORDS = frozenset("""
always and assign automatic begin buf bufif0 bufif1 case casex casez cell cmos config deassign default
defparam design disable edge else end endcase endconfig endfunction endgenerate endmodule
endprimitive endspecify endtable endtask event for force forever fork function generate genvar
highz0 highz1 if ifnone incdir include initial inout input instance integer join large liblist
library localparam macromodule medium module nand negedge nmos nor noshowcancelled not notif0
notif1 or output parameter pmos posedge primitive pull0 pull1 pulldown pullup
pulsestyle_ondetect pulsestyle_onevent rcmos real realtime reg release repeat rnmos rpmos rtran
rtranif0 rtranif1 scalared showcancelled signed small specify specparam strong0 strong1 supply0
supply1 table task time tran tranif0 tranif1 tri tri0 tri1 triand trior trireg unsigned use
uwire vectored wait wand weak0 weak1 while wire wor xnor xor
accept_on alias always_comb always_ff always_latch assert assume before bind bins binsof bit
break byte chandle checker class clocking const constraint context continue cover covergroup
coverpoint cross dist do endchecker endclass endclocking endgroup endinterface endpackage
endprogram endproperty endsequence enum eventually expect export extends extern final
first_match foreach forkjoin global iff ignore_bins illegal_bins implements implies import
inside int interconnect interface intersect join_any join_none let local logic longint matches
modport nettype new nexttime null package packed priority program property protected pure rand
randc randcase randsequence ref reject_on restrict return s_always s_eventually s_nexttime
s_until s_until_with sequence shortint shortreal soft solve static string strong struct super
sync_accept_on sync_reject_on tagged this throughout timeprecision timeunit type typedef union
unique unique0 until until_with untyped var virtual void wait_order weak wildcard with within
""".split())
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_TOP_CHARS = 200
"""Longest top name: the files ``tb_<top>.v`` and ``<top>_classifier.v`` must stay under the
255-byte file-name limit of common file systems (and far under Verilog's 1024-character names)."""
# module names the generated files define or instantiate besides the top
_RESERVED_MODULES = {f"LUT{w}" for w in range(1, 7)}  # MUXF7/MUXF8 are vendor cells (below)

MAX_RTL_CELLS = 1 << 21
"""Most LUTs (compositions' LUTs and slice muxes included) plus flip-flops of a circuit that the
RTL flow writes: 2,097,152, half the LUTs of the largest FPGAs. Writing takes about 1-4 KB of
memory per cell (a million nodes: ~4 GB, 100 s), and a small model file can declare far more
(2,000 nodes that read themselves 65,535 cycles ago are 131 M flip-flops), so the size is
checked before anything is planned or written. ``SPIKELUT_MAX_RTL_CELLS`` raises it."""
_CELLS_ENV = "SPIKELUT_MAX_RTL_CELLS"


def max_rtl_cells() -> int:
    """The cell limit of :func:`check_circuit_size`: ``SPIKELUT_MAX_RTL_CELLS`` or
    :data:`MAX_RTL_CELLS`.

    Raises:
        ConfigError: the variable is not a positive whole number.

    Example:
        >>> max_rtl_cells() >= 1
        True
    """
    return limits.env_limit(_CELLS_ENV, MAX_RTL_CELLS, "cells")


def _lut_cells(net: Network) -> int:
    return sum(layer.n * sum(composition(layer.k).values()) for layer in net.layers)


def circuit_size(net: Network) -> tuple[int, int]:
    """``(LUT cells, flip-flops)`` of ``net``'s circuit, without planning it: the LUTs and
    slice muxes of every node (:func:`spikelut.rtl.compose.composition`; the unfoldable gates'
    few extra LUTs left out) and :meth:`Network.flip_flops`, counted with arrays per source (no
    Python object per tap).

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, 4, [6, 2], k=3, refractory=1)
        >>> circuit_size(net) == (8, net.flip_flops())
        True
    """
    cells = _lut_cells(net)
    sizes = [net.n_in] + [layer.n for layer in net.layers]
    depth = [np.zeros(n, np.int64) for n in sizes]  # depth[s + 1]: source s (INPUT = -1)
    for layer in net.layers:
        m = layer.delay >= 1
        src, idx, dly = layer.source[m], layer.index[m], layer.delay[m].astype(np.int64)
        for s in np.unique(src).tolist():
            sel = src == s
            np.maximum.at(depth[s + 1], idx[sel], dly[sel])
    for i, layer in enumerate(net.layers):
        if layer.refractory:
            np.maximum(depth[i + 1], layer.refractory, out=depth[i + 1])
    return cells, int(sum(int(d.sum()) for d in depth))


def check_circuit_size(net: Network) -> tuple[int, int]:
    """Refuse a circuit of more than :func:`max_rtl_cells` LUT cells plus flip-flops (see
    :data:`MAX_RTL_CELLS`) before anything is planned; return :func:`circuit_size`.

    Raises:
        NetworkError: one line with the counts, the limit and what to do.
    """
    limit = max_rtl_cells()
    n_cells = _lut_cells(net)
    if n_cells > limit:  # before counting flip-flops (the taps of that many nodes)
        raise NetworkError(f"the circuit has {n_cells:,} LUT cells, more than the RTL limit of "
                           f"{limit:,}; compile a smaller model (spikelut prune) or set "
                           f"{_CELLS_ENV} to allow more")
    luts, ffs = circuit_size(net)
    if luts + ffs > limit:
        raise NetworkError(f"the circuit has {luts:,} LUT cells and {ffs:,} flip-flops, more than "
                           f"the RTL limit of {limit:,} cells (long tap delays and refractory "
                           f"periods cost one flip-flop per cycle); compile a smaller model or set "
                           f"{_CELLS_ENV} to allow more")
    return luts, ffs


def check_top_name(top: str) -> str:
    """Return ``top`` if it is a legal Verilog module name we can use; raise :class:`ConfigError`.

    Refused: anything but a Verilog identifier, Verilog and SystemVerilog keywords, the modules
    the generator writes (``LUT1`` .. ``LUT6``, ``tb_*``) and every cell of the vendor library
    that synthesis loads (:func:`spikelut.rtl.cells.vendor_cell_names`: ``FDRE``, ``CARRY4``,
    ``DSP48E1``, ...), compared case-sensitively as Verilog does.

    Args:
        top: the core's module name; the wrapper and testbench become ``<top>_classifier`` and
            ``tb_<top>``.

    Returns:
        ``top`` unchanged.

    Raises:
        ConfigError: ``top`` is one of those, with one line saying what to do.

    Example:
        >>> check_top_name("lut_core")
        'lut_core'
    """
    if not isinstance(top, str) or not _IDENT.match(top):
        raise ConfigError(f"top name {str(top)[:80]!r} is not a legal Verilog identifier; use "
                          f"letters, digits and '_', not starting with a digit (e.g. 'spikelut_core')")
    if len(top) > MAX_TOP_CHARS:  # else 'File name too long' from the writer, after the work
        raise ConfigError(f"top name {top[:20]}... is {len(top)} characters long, more than "
                          f"{MAX_TOP_CHARS} (its files tb_<top>.v and <top>_classifier.v must fit "
                          f"a file name); choose a shorter name")
    if top in VERILOG_KEYWORDS:
        raise ConfigError(f"top name {top!r} is a Verilog keyword; choose another name "
                          f"(e.g. '{top}_core')")
    if top in _RESERVED_MODULES or top.startswith("tb_"):
        raise ConfigError(f"top name {top!r} clashes with a module the generator writes "
                          f"(LUT1..LUT6, tb_*); choose another name")
    if top in vendor_cell_names():
        raise ConfigError(f"top name {top!r} is a cell of the Xilinx library that synthesis loads "
                          f"(yosys synth_xilinx would fail: re-definition of module); choose "
                          f"another name (e.g. '{top}_core')")
    return top


def signal_name(source: int, index: int, delay: int = 0) -> str:
    """Verilog expression of a tapped signal: ``in_spikes[3]``, ``in3_d2``, ``L1_n7``, ``L1_n7_d1``."""
    if source == INPUT:
        return f"in_spikes[{index}]" if delay == 0 else f"in{index}_d{delay}"
    base = f"L{source}_n{index}"
    return base if delay == 0 else f"{base}_d{delay}"


def register_base(source: int, index: int) -> str:
    """Prefix of a signal's shift register stages (``<base>_d1`` ... ``<base>_dD``)."""
    return f"in{index}" if source == INPUT else f"L{source}_n{index}"


@dataclass
class NodePlan:
    """One node: its LUT inputs (LSB first), its (possibly folded) table, and any extra gate.

    Attributes:
        name: the node's output signal, ``L<layer>_n<j>``.
        inputs: the LUT's input signals (:func:`signal_name`), address bit 0 first.
        table: uint8 0/1 ``[2 ** len(inputs)]``, the refractory gate folded in where it could be.
        fold: ``"none"`` (refractory 0), ``"taps"``, ``"widened"`` or ``"gate"`` (module
            docstring).
        gate: with ``fold == "gate"``: the history bits ``<name>_d1 .. _dR`` that inhibit it.

    Example:
        >>> n = NodePlan("L0_n0", ["in_spikes[0]", "L0_n0_d1"], np.array([0, 1, 0, 0], np.uint8),
        ...              "taps")
        >>> n.width, n.cells, n.gate_luts
        (2, {'LUT2': 1}, 0)
    """

    name: str
    inputs: list[str]
    table: np.ndarray
    fold: str                                     # "none" | "taps" | "widened" | "gate"
    gate: list[str] = field(default_factory=list)  # history bits of an unfolded gate

    @property
    def width(self) -> int:
        return len(self.inputs)

    @property
    def gate_luts(self) -> int:
        """LUT6s the unfolded gate may need at most (``a`` plus the history bits, 6 per LUT)."""
        return -(-len(self.gate) // (LUT_MAX - 1)) if self.gate else 0

    @property
    def cells(self) -> dict[str, int]:
        """The node's table as cells: ``{"LUT<k>": 1}`` up to k = 6, else its composition
        (:func:`spikelut.rtl.compose.composition`)."""
        return composition(self.width)


@dataclass
class RtlPlan:
    """The mapped network: per-layer node plans, shift register depths and expected resources.

    Attributes:
        net: the network planned.
        nodes: ``nodes[i][j]``: the :class:`NodePlan` of layer ``i``'s node ``j``.
        registers: ``{(source, index): depth}``: the shift register stages (flip-flops) of each
            signal read with a delay or by a refractory gate (source ``-1``: input channel).

    Example:
        >>> from spikelut.wiring import random_network
        >>> p = plan_network(random_network(0, 4, [6, 2], k=3, refractory=1))
        >>> p.luts, p.luts_by_size(), p.flip_flops, p.fold_counts()
        (8, {'LUT3': 3, 'LUT4': 5}, 19, {'none': 0, 'taps': 3, 'widened': 5, 'gate': 0})
    """

    net: Network
    nodes: list[list[NodePlan]]
    registers: dict[tuple[int, int], int]

    @property
    def luts(self) -> int:
        """LUTs holding node tables: one per node up to k = 6, a composition's LUTs beyond."""
        return sum(self.luts_by_size().values())

    @property
    def gate_luts(self) -> int:
        return sum(n.gate_luts for layer in self.nodes for n in layer)

    @property
    def max_luts(self) -> int:
        """Upper bound on LUTs after synthesis: one per node plus the unfoldable gates."""
        return self.luts + self.gate_luts

    @property
    def flip_flops(self) -> int:
        return sum(self.registers.values())

    def _cells(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for layer in self.nodes:
            for n in layer:
                for key, c in n.cells.items():
                    out[key] = out.get(key, 0) + c
        return out

    def luts_by_size(self) -> dict[str, int]:
        """Generated LUTs by size (``{"LUT2": 10, "LUT6": 4}``), compositions included."""
        return dict(sorted((k, v) for k, v in self._cells().items() if k.startswith("LUT")))

    def muxes(self) -> dict[str, int]:
        """Generated slice muxes of nodes with k = 7..12 (``{"MUXF7": 2}``; empty up to k = 6)."""
        return dict(sorted((k, v) for k, v in self._cells().items() if k.startswith("MUXF")))

    def fold_counts(self) -> dict[str, int]:
        out = {"none": 0, "taps": 0, "widened": 0, "gate": 0}
        for layer in self.nodes:
            for n in layer:
                out[n.fold] += 1
        return out

    def lut_levels(self) -> int:
        """Longest chain of LUTs between flip-flops/ports, as generated (gates count one level)."""
        net = self.net
        levels: list[np.ndarray] = []
        for i, layer in enumerate(net.layers):
            lv = np.full(layer.n, lut_levels(layer.k), np.int64)  # before padding/folding
            for j in range(layer.n):
                for p in range(layer.k):
                    s, d = int(layer.source[j, p]), int(layer.delay[j, p])
                    if d == 0 and s >= 0:
                        lv[j] = max(lv[j], lut_levels(layer.k) + int(levels[s][layer.index[j, p]]))
                if self.nodes[i][j].gate:
                    lv[j] += 1
            levels.append(lv)
        return int(max(int(lv.max()) for lv in levels))


def plan_network(net: Network, lut6: bool = False) -> RtlPlan:
    """Map ``net`` onto LUTs and shift registers (see the module docstring for the folding rules).

    The tables come from :func:`spikelut.transforms.fold_refractory`; the taps that transform
    appends only to pad a node to its layer's width (copies of an earlier tap) are dropped here,
    so each LUT has exactly the inputs its node needs.

    Nodes with k = 7..12 become the LUT6 + MUXF7/MUXF8 composition of
    :mod:`spikelut.rtl.compose` (in :func:`spikelut.rtl.netlist.from_plan`).

    Args:
        net: the network (binary 0/1 tables; the tables are read, not checked).
        lut6: accepted for the emitters' signature; the plan is the same either way.

    Returns:
        An :class:`RtlPlan`: one :class:`NodePlan` per node, layer by layer, and the shift
        register depths (:meth:`Network.register_depths`).

    Raises:
        NetworkError: a layer has ``k`` outside 1..12 (a validated :class:`Network` never has
            one, but a layer changed after validation may), or the circuit is larger than
            :func:`max_rtl_cells` (:func:`check_circuit_size`).
        ConfigError: ``SPIKELUT_MAX_RTL_CELLS`` is not a positive whole number.

    Example:
        >>> from spikelut.wiring import random_network
        >>> p = plan_network(random_network(0, 2, [3], k=2))
        >>> [(n.name, n.inputs, n.fold) for n in p.nodes[0]][:2]
        [('L0_n0', ['L0_n0_d2', 'L0_n2_d1'], 'none'), ('L0_n1', ['L0_n2_d1', 'in1_d2'], 'none')]
    """
    for i, layer in enumerate(net.layers):
        problem = k_range_problem(layer.k)
        if problem:
            raise NetworkError(f"layer {i} ({layer.name!r}): {problem}")
    check_circuit_size(net)  # before a Python object per node, tap and flip-flop
    registers = net.register_depths()
    folded = fold_refractory(net)
    nodes: list[list[NodePlan]] = []
    for i, (layer, flayer) in enumerate(zip(net.layers, folded.layers)):
        R = layer.refractory
        plans = []
        for j in range(layer.n):
            taps, table = _drop_padding(flayer, j, layer.k)
            inputs = [signal_name(*t) for t in taps]
            name = signal_name(i, j)
            if R == 0:
                fold = "none"
            elif flayer.refractory and not gate_is_folded(flayer, i, j):
                plans.append(NodePlan(name, inputs, table, "gate",
                                      [signal_name(i, j, d) for d in range(1, R + 1)]))
                continue
            else:
                fold = "widened" if len(taps) > layer.k else "taps"
            plans.append(NodePlan(name, inputs, table, fold))
        nodes.append(plans)
    return RtlPlan(net, nodes, registers)


def _drop_padding(layer: Layer, j: int, k: int) -> tuple[list[tuple[int, int, int]], np.ndarray]:
    """Node ``j``'s taps and table without the taps at positions ``>= k`` that repeat an earlier
    tap (the table is read where the repeated bit equals its original)."""
    taps = [(int(layer.source[j, p]), int(layer.index[j, p]), int(layer.delay[j, p]))
            for p in range(layer.k)]
    keep = [p for p, t in enumerate(taps) if p < k or t not in taps[:p]]
    # the kept position whose bit each position carries
    source_bit = [keep.index(p if p in keep else taps.index(t)) for p, t in enumerate(taps)]
    addr = np.arange(1 << len(keep))
    full = np.zeros_like(addr)
    for p, q in enumerate(source_bit):
        full |= ((addr >> q) & 1) << p
    return [taps[p] for p in keep], layer.table[j][full].astype(np.uint8)
