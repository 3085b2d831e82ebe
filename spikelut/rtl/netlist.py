"""The netlist between the RTL plan and the Verilog text, and its cycle-exact interpreter.

:func:`from_plan` turns an :class:`~spikelut.rtl.plan.RtlPlan` into a :class:`Module` of a few
frozen cell types; :func:`spikelut.rtl.verilog.print_module` prints it and :func:`simulate` runs
it. Both read the same cells, so what the interpreter checks is what the text says.

Cells (signal names are the Verilog names; ``in_spikes[3]`` is bit 3 of port ``in_spikes``):

* :class:`Lut` ``out = init[{inputs[w-1], ..., inputs[0]}]``: one node's LUT (input 0 = address
  bit 0, bit ``a`` of ``init`` = output at address ``a``);
* :class:`Reg` a flip-flop: ``name <= d`` on the rising clock edge, ``reset`` under ``rst``;
* :class:`Mux` ``out = sel ? i1 : i0``: a slice mux (``MUXF7``/``MUXF8``) of a node larger than
  one LUT (k = 7..12, :mod:`spikelut.rtl.compose`);
* :class:`Gate` ``out = a & ~(inhibit[0] | ...)``: a refractory gate that could not be folded;
* :class:`Assign` ``out = {bits[n-1], ..., bits[0]}``: an output port driven by signals.

Clock semantics (DESIGN.md section 5): every register starts at its reset value (the cycle after
``rst``); in cycle ``t`` the data inputs carry ``x[t]``, every combinational cell settles and the
outputs are sampled; the rising edge then loads every register with its ``d`` at once.

Example:
    >>> import numpy as np
    >>> from spikelut.network import Layer, Network, Readout
    >>> osc = Layer(np.array([[0, 1, 0, 0]], np.uint8), [[-1, 0]], [[0, 0]], [[0, 1]])
    >>> m = from_plan(plan_network(Network(1, [osc], Readout(0, [0], 1))), top="osc")
    >>> [type(c).__name__ for c in m.cells]
    ['Lut', 'Reg', 'Assign']
    >>> simulate(m, np.ones((5, 1, 1), np.uint8))[:, 0, 0].tolist()
    [1, 0, 1, 0, 1]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence, Union

import numpy as np

from .. import __version__
from ..engine.result import check_spikes
from ..errors import NetworkError, ShapeError
from ..escape import verilog_comment
from ..network import INPUT, Network, all_binary
from .compose import node_cells
from .plan import RtlPlan, check_top_name, plan_network, register_base, signal_name


@dataclass(frozen=True)
class Port:
    """A module port: ``direction`` is ``"input"`` or ``"output"``; ``width`` in bits."""

    name: str
    direction: str
    width: int = 1


@dataclass(frozen=True)
class Lut:
    """One LUT: ``out = init`` bit ``sum(inputs[p] << p)``; ``name`` prefixes its Verilog items
    (``<name>_INIT`` or the primitive instance ``<name>_lut``); ``note`` is a comment."""

    name: str
    out: str
    inputs: tuple[str, ...]
    init: int
    note: str = ""

    @property
    def width(self) -> int:
        """Number of LUT inputs."""
        return len(self.inputs)

    def table(self) -> np.ndarray:
        """The ``2**width`` output bits as uint8, entry ``a`` for address ``a``."""
        return ((self.init >> np.arange(1 << self.width, dtype=object)) & 1).astype(np.uint8)


@dataclass(frozen=True)
class Reg:
    """A flip-flop: ``name <= d`` on each rising clock edge; ``name <= reset`` under ``rst``."""

    name: str
    d: str
    reset: int = 0


@dataclass(frozen=True)
class Mux:
    """``out = sel ? i1 : i0``: printed as the Xilinx ``prim`` (``MUXF7``/``MUXF8``) instance
    ``<name>_mux`` in the ``"xilinx"`` LUT form, else as a conditional assign."""

    name: str
    out: str
    sel: str
    i0: str
    i1: str
    prim: str = "MUXF7"


@dataclass(frozen=True)
class Gate:
    """``out = a & ~(inhibit[0] | inhibit[1] | ...)``: an unfolded refractory gate."""

    out: str
    a: str
    inhibit: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class Assign:
    """Output port ``out`` driven by ``bits`` (bit 0 first)."""

    out: str
    bits: tuple[str, ...]


Cell = Union[Lut, Mux, Reg, Gate, Assign]


@dataclass(frozen=True)
class Block:
    """Cells printed together: ``title`` heads their logic, ``declares`` their declarations."""

    title: str
    cells: tuple[Cell, ...]
    declares: str = ""


@dataclass(frozen=True)
class Module:
    """A clocked module: ports (``clk`` and ``rst`` drive every :class:`Reg` implicitly), blocks of
    cells in a valid evaluation order, header comment lines, and the LUT form the printer uses
    (``"init"``: ``INIT[addr]`` on a localparam; ``"xilinx"``: ``LUT<w>`` primitives).

    Built by :func:`from_plan`; nothing here checks a hand-made one (its name, its order).

    Attributes:
        name: the module's name.
        ports: its ports, in declaration order.
        blocks: blocks of cells (:class:`Lut`, :class:`Mux`, :class:`Gate`, :class:`Reg`, ...).
        comments: header comment lines, without ``//``.
        lut_form: ``"init"`` or ``"xilinx"``.

    Example:
        >>> from spikelut.rtl.plan import plan_network
        >>> from spikelut.wiring import random_network
        >>> m = from_plan(plan_network(random_network(0, 2, [3], k=2)), "core")
        >>> m.name, m.lut_form, len(m.cells), sorted(m.reads())[:3]
        ('core', 'init', 9, ['L0_n0', 'L0_n0_d1', 'L0_n0_d2'])
    """

    name: str
    ports: tuple[Port, ...]
    blocks: tuple[Block, ...]
    comments: tuple[str, ...] = ()
    lut_form: str = "init"

    @property
    def cells(self) -> tuple[Cell, ...]:
        """Every cell, block by block."""
        return tuple(c for b in self.blocks for c in b.cells)

    def reads(self) -> set[str]:
        """Every signal some cell reads."""
        out: set[str] = set()
        for c in self.cells:
            if isinstance(c, Lut):
                out.update(c.inputs)
            elif isinstance(c, Reg):
                out.add(c.d)
            elif isinstance(c, Gate):
                out.add(c.a)
                out.update(c.inhibit)
            elif isinstance(c, Mux):
                out.update((c.sel, c.i0, c.i1))
            else:
                out.update(c.bits)
        return out

    def unread(self) -> list[str]:
        """Inputs and wires nothing reads, in port and cell order (``clk``/``rst`` without
        registers; a whole input port when none of its bits is read)."""
        reads = self.reads()
        has_regs = any(isinstance(c, Reg) for c in self.cells)
        out = []
        for p in self.ports:
            if p.direction != "input":
                continue
            if p.name in ("clk", "rst"):
                if not has_regs:
                    out.append(p.name)
                continue
            bits = [f"{p.name}[{b}]" for b in range(p.width)]
            unread_bits = [b for b in bits if b not in reads]
            out += [p.name] if len(unread_bits) == len(bits) else unread_bits
        out += [c.out for c in self.cells if isinstance(c, (Lut, Mux, Gate)) and c.out not in reads]
        return out


# ---------------------------------------------------------------------------- plan -> netlist
def _header(plan: RtlPlan, top: str, lut6: bool, model: str | None) -> tuple[str, ...]:
    net = plan.net
    s = net.summary()
    folds = plan.fold_counts()
    lines = [
        f"{top}: spiking LUT network core, generated by spikelut {__version__} "
        f"(ports and timing: docs/guide/rtl.md, 'The core: the RTL contract').",
        f"model: {verilog_comment(model)}" if model else "model: (in-memory network)",
        f"inputs {net.n_in}, layers {len(net.layers)}, nodes {net.n_nodes}, "
        f"LUTs {plan.luts} ({', '.join(f'{k} {v}' for k, v in plan.luts_by_size().items())}), "
        f"flip-flops {plan.flip_flops}, max delay {s['max_delay']}",
    ]
    for ls in s["layers"]:
        lines.append(f"  L{ls['index']} '{verilog_comment(ls['name'])}': {ls['nodes']} nodes, "
                     f"k={ls['k']}, refractory {ls['refractory']}, max delay {ls['max_delay']}, "
                     f"taps from input {ls['taps_from_input']}, feed-forward "
                     f"{ls['taps_feedforward']}, recurrent {ls['taps_recurrent']} (self "
                     f"{ls['taps_self']})")
    r = s["readout"]
    lines += [
        f"out_spikes = layer L{r['layer']} ('{verilog_comment(r['layer_name'])}'), node j = bit j; "
        f"{r['classes']} class{'es' if r['classes'] != 1 else ''}, counted from cycle {r['start']}",
        f"refractory gates: {folds['taps']} folded into the table (history bits already taps), "
        f"{folds['widened']} folded into a wider LUT, {folds['gate']} emitted as extra logic",
        f"LUT form: {'Xilinx LUTn primitives' if lut6 else 'INIT[addr] on a localparam'}; "
        f"LUT input p = address bit p; rst is synchronous, active high, clears every flip-flop.",
        "Timing: during cycle t drive in_spikes = x[t]; out_spikes = s[t] (combinational); "
        "the rising clk edge ends cycle t.",
    ]
    return tuple(lines)


def _shift_register(source: int, index: int, depth: int) -> list[Reg]:
    base = register_base(source, index)
    first = signal_name(source, index, 0)
    return [Reg(f"{base}_d{d}", first if d == 1 else f"{base}_d{d - 1}") for d in range(1, depth + 1)]


def from_plan(plan: RtlPlan, top: str = "spikelut_core", lut6: bool = False,
              model: str | None = None) -> Module:
    """The core module of ``plan`` (DESIGN.md section 5 ports) as a netlist.

    Blocks: the input shift registers (when any), then per layer its LUTs, unfoldable gates and
    shift registers, then ``out_spikes``. A network without inputs still gets a 1-bit
    ``in_spikes`` that nothing reads.

    Args:
        plan: the mapping from :func:`~spikelut.rtl.plan.plan_network`.
        top: module name (checked by :func:`~spikelut.rtl.plan.check_top_name`).
        lut6: print LUTs as Xilinx ``LUT<w>`` primitives (recorded as ``lut_form``).
        model: model file name for the header comment.

    Returns:
        A :class:`Module` with ports ``clk``, ``rst``, ``in_spikes [max(n_in, 1)]`` and
        ``out_spikes [n_out]`` (the readout layer's nodes); print it with
        :func:`~spikelut.rtl.verilog.print_module`, run it with :func:`simulate`.

    Raises:
        ConfigError: ``top`` cannot be a module name.

    Example:
        >>> from spikelut.wiring import random_network
        >>> m = from_plan(plan_network(random_network(0, 2, [3], k=2)), "core")
        >>> [p.name for p in m.ports], len([c for c in m.cells if isinstance(c, Lut)])
        (['clk', 'rst', 'in_spikes', 'out_spikes'], 3)
    """
    check_top_name(top)
    net, regs = plan.net, plan.registers
    ports = (Port("clk", "input"), Port("rst", "input"), Port("in_spikes", "input", max(net.n_in, 1)),
             Port("out_spikes", "output", net.n_out))
    blocks = []
    in_regs = sorted((j, d) for (s, j), d in regs.items() if s == INPUT)
    if in_regs:
        blocks.append(Block("input shift registers",
                            tuple(r for j, d in in_regs for r in _shift_register(INPUT, j, d)),
                            "input channels, delayed"))
    for i, layer in enumerate(net.layers):
        R = layer.refractory
        cells: list[Cell] = []
        for node in plan.nodes[i]:
            note = ""
            if node.fold in ("taps", "widened"):
                note = f"refractory {R} folded into the table" + (
                    " (extra LUT inputs: own history)" if node.fold == "widened" else "")
            out = f"{node.name}_a" if node.gate else node.name
            cells += node_cells(node.name, out, node.inputs, node.table, note)  # k > 6: LUT6 + muxes
            if node.gate:
                cells.append(Gate(node.name, out, tuple(node.gate), "refractory gate (not foldable)"))
        cells += [r for j in range(layer.n) for r in _shift_register(i, j, regs.get((i, j), 0))]
        name = verilog_comment(layer.name)
        blocks.append(Block(f"layer L{i} '{name}': {layer.n} nodes, k={layer.k}, refractory {R}",
                            tuple(cells), f"layer L{i} '{name}': spikes, LUT outputs before an "
                                          f"unfoldable gate, shift registers"))
    ro = net.readout.layer
    blocks.append(Block(f"readout layer L{ro}, node 0 = bit 0",
                        (Assign("out_spikes", tuple(signal_name(ro, j) for j in range(net.n_out))),)))
    return Module(top, ports, tuple(blocks), _header(plan, top, lut6, model),
                  "xilinx" if lut6 else "init")


# ---------------------------------------------------------------------------- interpreter
_BIT = re.compile(r"(.+)\[(\d+)\]\Z")


@dataclass
class _Compiled:
    index: dict[str, int]
    inputs: list[int]            # data input bits, in port order
    comb: list[Cell]             # Lut / Gate in dependency order
    reg_q: np.ndarray
    reg_d: np.ndarray
    reg_reset: np.ndarray
    outputs: list[int]           # output bits, in port order


def _cell_inputs(c: Cell) -> tuple[str, ...]:
    if isinstance(c, Lut):
        return c.inputs
    if isinstance(c, Mux):
        return (c.sel, c.i0, c.i1)
    return (c.a,) + c.inhibit


def _compile(module: Module) -> _Compiled:
    index: dict[str, int] = {}

    def sig(name: str) -> int:
        return index.setdefault(name, len(index))

    driven: dict[str, str] = {}

    def drive(name: str, by: str) -> None:
        if name in driven:
            raise NetworkError(f"netlist {module.name!r}: signal {name!r} is driven by both "
                               f"{driven[name]} and {by}")
        driven[name] = by
        sig(name)

    inputs = []
    for p in module.ports:
        if p.direction == "input" and p.name not in ("clk", "rst"):
            for b in range(p.width):
                drive(f"{p.name}[{b}]", f"input port {p.name}")
                inputs.append(index[f"{p.name}[{b}]"])
    regs = [c for c in module.cells if isinstance(c, Reg)]
    for r in regs:
        drive(r.name, "a register")
    comb = [c for c in module.cells if isinstance(c, (Lut, Mux, Gate))]
    for c in comb:
        drive(c.out, f"cell {getattr(c, 'name', c.out)}")
    out_ports = {p.name: p for p in module.ports if p.direction == "output"}
    assigns = {c.out: c for c in module.cells if isinstance(c, Assign)}
    for name, p in out_ports.items():
        a = assigns.get(name)
        if a is None or len(a.bits) != p.width:
            raise NetworkError(f"netlist {module.name!r}: output port {name!r} needs one Assign of "
                               f"{p.width} bits")
    for name in module.reads():
        if name not in driven:
            m = _BIT.match(name)
            what = f"bit {m.group(2)} of {m.group(1)!r}" if m else repr(name)
            raise NetworkError(f"netlist {module.name!r}: {what} is read but nothing drives it")
    # combinational cells in dependency order (Kahn); a loop without a register is an error
    producer = {c.out: n for n, c in enumerate(comb)}
    deps = [{producer[x] for x in _cell_inputs(c) if x in producer} for c in comb]
    order, done = [], [False] * len(comb)
    ready = [n for n, d in enumerate(deps) if not d]
    users: dict[int, list[int]] = {}
    for n, d in enumerate(deps):
        for m in d:
            users.setdefault(m, []).append(n)
    left = [len(d) for d in deps]
    while ready:
        n = ready.pop()
        order.append(comb[n])
        done[n] = True
        for u in users.get(n, []):
            left[u] -= 1
            if left[u] == 0:
                ready.append(u)
    if len(order) != len(comb):
        stuck = next(c for n, c in enumerate(comb) if not done[n])
        raise NetworkError(f"netlist {module.name!r}: combinational loop through {stuck.out!r}")
    return _Compiled(index, inputs, order,
                     np.array([index[r.name] for r in regs], np.int64),
                     np.array([index[r.d] for r in regs], np.int64),
                     np.array([r.reset & 1 for r in regs], np.uint8)[:, None],
                     [index[b] for p in out_ports for b in assigns[p].bits])


def _run(module: Module, x: Any, watch: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    c = _compile(module)
    x = np.asarray(x)
    n_data = len(c.inputs)
    if x.ndim != 3 or x.shape[2] not in (n_data, 0):
        raise ShapeError(f"netlist {module.name!r}: input spikes must be [T, B, {n_data}], got "
                         f"shape {tuple(x.shape)}")
    if not all_binary(x):
        raise ShapeError(f"netlist {module.name!r}: input spikes must be 0 or 1")
    x = x.astype(np.uint8, copy=False)
    T, B = x.shape[0], x.shape[1]
    missing = [w for w in watch if w not in c.index]
    if missing:
        raise NetworkError(f"netlist {module.name!r}: no signal {missing[0]!r} to watch")
    w_idx = [c.index[w] for w in watch]
    vals = np.zeros((len(c.index), B), np.uint8)
    vals[c.reg_q] = c.reg_reset
    tables = {id(cell): cell.table() for cell in c.comb if isinstance(cell, Lut)}
    lut_args = [(c.index[cell.out], [c.index[s] for s in cell.inputs], tables[id(cell)])
                if isinstance(cell, Lut) else
                (c.index[cell.out], c.index[cell.sel], c.index[cell.i0], c.index[cell.i1])
                if isinstance(cell, Mux) else
                (c.index[cell.out], c.index[cell.a], [c.index[s] for s in cell.inhibit])
                for cell in c.comb]
    kinds = ["lut" if isinstance(cell, Lut) else "mux" if isinstance(cell, Mux) else "gate"
             for cell in c.comb]
    out = np.zeros((T, B, len(c.outputs)), np.uint8)
    seen = np.zeros((T, B, len(w_idx)), np.uint8)
    for t in range(T):
        if x.shape[2]:
            vals[c.inputs] = x[t].T
        for kind, args in zip(kinds, lut_args):
            if kind == "lut":
                o, ins, table = args
                addr = np.zeros(B, np.int64)
                for p, s in enumerate(ins):
                    addr |= vals[s].astype(np.int64) << p
                vals[o] = table[addr]
            elif kind == "mux":
                o, sel, i0, i1 = args
                vals[o] = np.where(vals[sel] == 1, vals[i1], vals[i0])
            else:
                o, a, inhibit = args
                vals[o] = vals[a] & (1 - np.bitwise_or.reduce(vals[inhibit], axis=0))
        out[t] = vals[c.outputs].T
        seen[t] = vals[w_idx].T
        vals[c.reg_q] = vals[c.reg_d]  # the clock edge: every register at once
    return out, seen


def simulate(module: Module, x: Any) -> np.ndarray:
    """Run ``module`` cycle by cycle from reset on data inputs ``x``.

    Args:
        x: 0/1 ``[T, B, n]``, ``n`` = total width of the data input ports (every input but
            ``clk`` and ``rst``), or ``n = 0`` to drive them 0.

    Returns:
        uint8 ``[T, B, m]``: the output ports' bits (in port order, bit 0 first) in each cycle.

    Raises:
        ShapeError: ``x`` does not fit the data inputs or holds values other than 0 and 1.
        NetworkError: the netlist is broken (an undriven or doubly driven signal, a
            combinational loop, an output port without its :class:`Assign`).

    Example:
        >>> m = Module("inv", (Port("clk", "input"), Port("rst", "input"), Port("a", "input"),
        ...                    Port("y", "output")),
        ...            (Block("", (Lut("n", "n", ("a[0]",), 0b01), Reg("q", "n"),
        ...                        Assign("y", ("q",)))),))
        >>> simulate(m, np.array([[[0]], [[1]], [[0]]], np.uint8))[:, 0, 0].tolist()
        [0, 1, 0]
    """
    return _run(module, x, ())[0]


def trace(module: Module, x: Any, signals: Sequence[str]) -> np.ndarray:
    """Like :func:`simulate` but returns the named signals: uint8 ``[T, B, len(signals)]``,
    each sampled in its cycle before the clock edge (a register: its value during the cycle).

    Example:
        >>> from spikelut.wiring import random_network
        >>> m = from_plan(plan_network(random_network(0, 2, [3], k=2)), "core")
        >>> trace(m, np.ones((4, 2, 2), np.uint8), ["L0_n0", "L0_n2"]).shape
        (4, 2, 2)
    """
    return _run(module, x, list(signals))[1]


def simulate_network(net: Network, x: Any, lut6: bool = False) -> np.ndarray:
    """The readout spikes of ``net``'s generated core: ``out_spikes`` of :func:`from_plan` run by
    :func:`simulate` (the RTL-netlist row of the semantic tests).

    Args:
        net: the network.
        x: input spikes ``[T, B, n_in]``, 0/1.
        lut6: plan for Xilinx LUT primitives (the same netlist; kept for symmetry).

    Returns:
        uint8 ``[T, B, n_out]``, the readout layer's spikes (node ``j`` = column ``j``).

    Raises:
        ShapeError: ``x`` does not fit ``net``.

    Example:
        >>> from spikelut.wiring import random_network
        >>> from spikelut.engine.reference import simulate as reference
        >>> net = random_network(1, 3, [5, 2], k=3, refractory=1)
        >>> x = (np.random.default_rng(0).random((9, 2, 3)) < 0.5).astype(np.uint8)
        >>> bool((simulate_network(net, x) == reference(net, x).layer_spikes[1]).all())
        True
    """
    x = check_spikes(net, np.asarray(x))
    return simulate(from_plan(plan_network(net, lut6), "spikelut_core", lut6), x)


def simulate_network_layers(net: Network, x: Any) -> list[np.ndarray]:
    """Every layer's spikes in ``net``'s generated core: ``[T, B, n_i]`` uint8 per layer, read
    from the node wires ``L<i>_n<j>`` by :func:`trace`.

    Raises:
        ShapeError: ``x`` does not fit ``net``.
    """
    x = check_spikes(net, np.asarray(x))
    names = [signal_name(i, j) for i, layer in enumerate(net.layers) for j in range(layer.n)]
    got = trace(from_plan(plan_network(net), "spikelut_core"), x, names)
    bounds = np.cumsum([0] + net.sizes)
    return [np.ascontiguousarray(got[..., a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
