"""The core Verilog module: one LUT per node, one shift register per tapped signal.

The text is a printout of the netlist (:mod:`spikelut.rtl.netlist`): :func:`print_module` loops
over its cells with a :class:`Printer`; :func:`emit_core` builds the netlist from the plan and
prints it. The interpreter :func:`spikelut.rtl.netlist.simulate` runs the same cells.

The module follows DESIGN.md section 5 exactly::

    module <top> (input clk, input rst, input [n_in-1:0] in_spikes, output [n_out-1:0] out_spikes);

``rst`` is synchronous, active high, and clears every flip-flop. During cycle ``t`` the driver puts
``x[t]`` on ``in_spikes``; ``out_spikes`` (the readout layer, node 0 = bit 0) is then ``s[t]``,
combinationally; the rising clock edge ends the cycle. A network without inputs still gets a
1-bit ``in_spikes`` (Verilog has no 0-bit port); nothing reads it.

Names: node ``j`` of layer ``i`` is the wire ``L<i>_n<j>`` (its spike), its shift register stages
are ``L<i>_n<j>_d1`` .. ``_d<D>`` (the spike 1..D cycles ago), input channel ``c`` delayed by
``d`` is ``in<c>_d<d>``, a node's table is the localparam ``L<i>_n<j>_INIT`` (bit ``a`` = the
output for LUT address ``a``, LUT input ``p`` = address bit ``p``). With ``lut6=True`` each node is
a Xilinx ``LUT1``..``LUT6`` primitive ``L<i>_n<j>_lut`` with the same ``INIT``. A node with
k = 7..12 is the composition of :mod:`spikelut.rtl.compose`: LUT6 pieces ``L<i>_n<j>_p<s>`` and
slice muxes (``MUXF7``/``MUXF8`` instances with ``lut6``, ``sel ? i1 : i0`` assigns without).

Example:
    >>> import numpy as np
    >>> from spikelut.network import Layer, Network, Readout
    >>> osc = Layer(np.array([[0, 1, 0, 0]], np.uint8), np.array([[-1, 0]]), np.array([[0, 0]]),
    ...             np.array([[0, 1]]))
    >>> text = emit_core(Network(1, [osc], Readout(0, [0], 1)), top="osc")
    >>> "assign L0_n0 = L0_n0_INIT[{L0_n0_d1, in_spikes[0]}];" in text
    True
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..errors import ConfigError
from ..network import Network
from .netlist import Assign, Gate, Lut, Module, Mux, Port, Reg, from_plan
from .plan import RtlPlan, check_top_name, plan_network


def init_literal(table: np.ndarray) -> str:
    """``table`` (0/1, ``2**w`` entries, entry 0 = LSB) as a sized Verilog hex literal.

    Example:
        >>> init_literal(np.array([0, 1, 1, 0]))
        "4'h6"
    """
    bits = np.asarray(table, np.uint8)
    n = len(bits)
    value = int("".join("1" if b else "0" for b in bits[::-1]), 2)
    return f"{n}'h{value:0{max(1, n // 4)}X}"


class Printer:
    """Lines of text at an indentation level that :meth:`indent` raises for a ``with`` block.

    Example:
        >>> p = Printer()
        >>> p.line("begin")
        >>> with p.indent():
        ...     p.line("x <= 1'b0;")
        >>> p.line("end")
        >>> print(p.text(), end="")
        begin
          x <= 1'b0;
        end
    """

    def __init__(self, unit: str = "  ") -> None:
        self.unit = unit
        self.level = 0
        self.lines: list[str] = []

    def line(self, text: str = "") -> None:
        """One line at the current level (an empty line has no indentation)."""
        self.lines.append(self.unit * self.level + text if text else "")

    @contextmanager
    def indent(self, levels: int = 1) -> Iterator[None]:
        """Raise the level for the lines of a ``with`` block."""
        self.level += levels
        try:
            yield
        finally:
            self.level -= levels

    def items(self, head: str, items: Sequence[str], tail: str, per_line: int) -> None:
        """``head`` + ``items`` joined by ``", "``, ``per_line`` a line, continuation lines
        aligned under the first item, + ``tail``."""
        rows = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        pad = " " * len(head)
        for n, row in enumerate(rows):
            last = n == len(rows) - 1
            self.line((head if n == 0 else pad) + row + (tail if last else ","))

    def text(self) -> str:
        """The lines, each ending in a newline."""
        return "".join(ln + "\n" for ln in self.lines)


def _lut_lines(p: Printer, lut: Lut, form: str) -> None:
    init = init_literal(lut.table())
    if lut.note:
        p.line(f"// {lut.name}: {lut.note}")
    if form == "xilinx":
        pins = ", ".join(f".I{q}({x})" for q, x in enumerate(lut.inputs))
        p.line(f"LUT{lut.width} #(.INIT({init})) {lut.name}_lut (.O({lut.out}), {pins});")
    else:
        p.line(f"localparam [{(1 << lut.width) - 1}:0] {lut.name}_INIT = {init};")
        p.line(f"assign {lut.out} = {lut.name}_INIT[{{{', '.join(lut.inputs[::-1])}}}];")


def _mux_lines(p: Printer, mux: Mux, form: str) -> None:
    if form == "xilinx":
        p.line(f"{mux.prim} {mux.name}_mux (.O({mux.out}), .I0({mux.i0}), .I1({mux.i1}), "
               f".S({mux.sel}));")
    else:
        p.line(f"assign {mux.out} = {mux.sel} ? {mux.i1} : {mux.i0};  // {mux.prim}")


def _register_block(p: Printer, regs: list[Reg]) -> None:
    """One ``always`` block: every register of ``regs``, with its reset under ``rst``."""
    if not regs:
        return
    p.line("always @(posedge clk) begin")
    with p.indent():
        p.line("if (rst) begin")
        with p.indent():
            for r in regs:
                p.line(f"{r.name} <= 1'b{r.reset & 1};")
        p.line("end else begin")
        with p.indent():
            for r in regs:
                p.line(f"{r.name} <= {r.d};")
        p.line("end")
    p.line("end")


def _port_decl(port: Port) -> str:
    # clk and rst are plain wires; a data port is a vector even at width 1 (DESIGN.md section 5)
    vector = "" if port.name in ("clk", "rst") else f"[{port.width - 1}:0] "
    return f"{port.direction} {vector}{port.name}"


#: the most history bits of a refractory gate ORed in one expression
GATE_CHAIN_TERMS = 12


def _gate_lines(p: Printer, gate: Gate) -> None:
    """``out = a & ~(d1 | d2 | ...)``. Over more than :data:`GATE_CHAIN_TERMS` history bits
    (R up to 65,535) the OR is a tree of wires ``<out>_or<level>_<i>`` of at most that many
    terms each: one chain is a binary tree as deep as R in a simulator's parser (Icarus crashed
    with R = 65,535; Verilator's lexer refused a line of R = 16,000), and one reduction
    ``~|{...}`` of 16,000 bits took Verilator minutes."""
    note = f"  // {gate.note}" if gate.note else ""
    terms = reduce_tree(p, list(gate.inhibit), " | ", GATE_CHAIN_TERMS, f"{gate.out}_or", "wire")
    p.line(f"assign {gate.out} = {gate.a} & ~({' | '.join(terms)});" + note)


def reduce_tree(p: Printer, terms: list[str], op: str, most: int, prefix: str,
                decl: str) -> list[str]:
    """Combine ``terms`` with ``op`` (``" | "``, ``" + "``) in wires of at most ``most`` terms
    each, level by level (``<prefix><level>_<i>``, declared as ``decl``), until at most ``most``
    remain; returns those for the caller's last expression. A simulator's parser builds one
    chain as a tree as deep as the chain (Icarus crashed on 65,535 terms) and re-evaluates it
    whole when one bit changes: the refractory gates and the class counters share this.

    Example:
        >>> p = Printer()
        >>> reduce_tree(p, ["a", "b", "c", "d", "e"], " | ", 2, "x_or", "wire")
        ['x_or1_0', 'x_or1_1']
        >>> print(p.text(), end="")
        wire x_or0_0 = a | b;
        wire x_or0_1 = c | d;
        wire x_or0_2 = e;
        wire x_or1_0 = x_or0_0 | x_or0_1;
        wire x_or1_1 = x_or0_2;
    """
    level = 0
    while len(terms) > most:
        parts = []
        for g in range(0, len(terms), most):
            part = f"{prefix}{level}_{g // most}"
            p.line(f"{decl} {part} = {op.join(terms[g:g + most])};")
            parts.append(part)
        terms, level = parts, level + 1
    return terms


def print_module(module: Module) -> str:
    """Verilog-2001 text of a netlist :class:`~spikelut.rtl.netlist.Module`: header comments,
    ports, declarations block by block, then each block's cells and its registers' ``always``
    block, and a sink for what nothing reads (keeps ``verilator -Wall`` quiet).

    Args:
        module: the netlist, as :func:`~spikelut.rtl.netlist.from_plan` builds it (a hand-made
            one is printed as it is: names and order are not checked).

    Returns:
        The module's text (``\\n`` line ends, ending in a newline).

    Raises:
        Nothing: a module of :func:`~spikelut.rtl.netlist.from_plan` always prints.

    Example:
        >>> from spikelut.rtl.netlist import from_plan
        >>> from spikelut.wiring import random_network
        >>> text = print_module(from_plan(plan_network(random_network(0, 2, [3], k=2)), "core"))
        >>> text.count("assign L0_n"), text.splitlines()[-3]
        (3, 'endmodule')
    """
    p = Printer()
    for c in module.comments:
        p.line(f"// {c}")
    p.line()
    p.line("`timescale 1ns / 1ps")
    p.line("`default_nettype none")
    p.line()
    p.line(f"module {module.name} (")
    with p.indent():
        for n, port in enumerate(module.ports):
            p.line(_port_decl(port) + ("," if n < len(module.ports) - 1 else ""))
    p.line(");")
    p.line()
    ports = {port.name for port in module.ports}
    with p.indent():
        for block in module.blocks:
            inner = [c.a for c in block.cells if isinstance(c, Gate)]
            wires = [c.out for c in block.cells if isinstance(c, (Lut, Mux, Gate))
                     and c.out not in ports and c.out not in inner]
            regs = [c.name for c in block.cells if isinstance(c, Reg)]
            if not (wires or inner or regs):
                continue
            if block.declares:
                p.line(f"// {block.declares}")
            for kind, names, per_line in (("wire", wires, 12), ("wire", inner, 12),
                                          ("reg", regs, 10)):
                if names:
                    p.items(f"{kind} ", names, ";", per_line)
        p.line()
        for block in module.blocks:
            p.line(f"// ---- {block.title}")
            for c in block.cells:
                if isinstance(c, Lut):
                    _lut_lines(p, c, module.lut_form)
                elif isinstance(c, Mux):
                    _mux_lines(p, c, module.lut_form)
                elif isinstance(c, Gate):
                    _gate_lines(p, c)
                elif isinstance(c, Assign):
                    p.items(f"assign {c.out} = {{", list(c.bits[::-1]), "};", 12)
            _register_block(p, [c for c in block.cells if isinstance(c, Reg)])
            p.line()
        unused = module.unread()
        if unused:
            p.line("// nothing reads these; the sink keeps 'verilator -Wall' quiet about them only")
            p.line("/* verilator lint_off UNUSED */")
            p.items("wire unused_sink = &{1'b0, ", unused, ", 1'b0};", 12)
            p.line("/* verilator lint_on UNUSED */")
    p.line("endmodule")
    p.line()
    p.line("`default_nettype wire")
    return p.text()


def emit_core(net: Network, top: str = "spikelut_core", lut6: bool = False,
              plan: RtlPlan | None = None, model: str | None = None) -> str:
    """Verilog-2001 text of the core module (see the module docstring for ports and names):
    :func:`~spikelut.rtl.netlist.from_plan` printed by :func:`print_module`.

    Args:
        net: the network (binary 0/1 tables).
        top: the module's name (:func:`~spikelut.rtl.plan.check_top_name`).
        lut6: instantiate each LUT as a Xilinx ``LUT<k>`` primitive (k = 7..12: LUT6 pieces
            and ``MUXF7``/``MUXF8``) instead of ``INIT[addr]`` on a localparam.
        plan: the plan of ``net``, if already built (:func:`~spikelut.rtl.plan.plan_network`).
        model: the model file's name for the header comment (escaped).

    Returns:
        The module's text: ports ``clk``, ``rst`` (synchronous, active high),
        ``in_spikes [max(n_in, 1)]`` and ``out_spikes [n_out]`` (DESIGN.md section 5).

    Raises:
        ConfigError: ``top`` cannot be a module name; ``SPIKELUT_MAX_RTL_CELLS`` is malformed.
        NetworkError: a layer has ``k`` outside 1..12, or the circuit is over the cell limit.

    Example:
        >>> from spikelut.wiring import random_network
        >>> v = emit_core(random_network(0, 2, [3], k=2), "core")
        >>> print("\\n".join(v.splitlines()[12:17]))
        module core (
          input clk,
          input rst,
          input [1:0] in_spikes,
          output [2:0] out_spikes
    """
    check_top_name(top)
    plan = plan or plan_network(net, lut6)
    return print_module(from_plan(plan, top, lut6, model))


def emit_lut_model(width: int) -> str:
    """A behavioural simulation model of the Xilinx ``LUT<width>`` primitive (for simulators
    without the vendor's UNISIM library; synthesis uses the vendor's own cell).

    Args:
        width: the LUT's inputs, 1..6.

    Returns:
        The module ``LUT<width>`` with parameter ``INIT`` (``2**width`` bits) and ports ``O``,
        ``I0`` .. ``I<width-1>``.

    Raises:
        ConfigError: ``width`` is not a whole number in 1..6 (there is no such primitive).

    Example:
        >>> print(emit_lut_model(2).splitlines()[3])
        module LUT2 #(parameter [3:0] INIT = 4'h0) (output O, input I0, input I1);
    """
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or not 1 <= width <= 6:
        raise ConfigError(f"LUT width must be a whole number in 1..6 (LUT1..LUT6), got {width!r}")
    pins = ", ".join(f"input I{p}" for p in range(width))
    addr = ", ".join(f"I{p}" for p in reversed(range(width)))
    return "\n".join([
        f"// Simulation model of the Xilinx LUT{width} primitive: O = INIT[{{I{width - 1}..I0}}].",
        "`timescale 1ns / 1ps",
        "`default_nettype none",
        f"module LUT{width} #(parameter [{(1 << width) - 1}:0] INIT = {1 << width}'h0) "
        f"(output O, {pins});",
        f"  assign O = INIT[{{{addr}}}];",
        "endmodule",
        "`default_nettype wire", ""])


def emit_mux_model(prim: str) -> str:
    """A behavioural simulation model of the Xilinx ``MUXF7``/``MUXF8`` primitive
    (``O = S ? I1 : I0``), for simulators without the vendor's UNISIM library.

    Example:
        >>> "assign O = S ? I1 : I0;" in emit_mux_model("MUXF7")
        True
    """
    return "\n".join([
        f"// Simulation model of the Xilinx {prim} primitive: O = S ? I1 : I0.",
        "`timescale 1ns / 1ps",
        "`default_nettype none",
        f"module {prim} (output O, input I0, input I1, input S);",
        "  assign O = S ? I1 : I0;",
        "endmodule",
        "`default_nettype wire", ""])


def lut_widths(plan: RtlPlan) -> list[int]:
    """The LUT primitive widths a ``lut6`` core instantiates (compositions included)."""
    return sorted(int(name[3:]) for name in plan.luts_by_size())


def zext(expr: str, width: int) -> str:
    """``expr`` (one bit) zero-extended to ``width`` bits (no zero replication in Verilog-2001)."""
    return expr if width == 1 else f"{{{{{width - 1}{{1'b0}}}}, {expr}}}"


def bit_width(max_value: int) -> int:
    """Bits needed to hold 0..max_value (at least 1)."""
    return max(1, int(max_value).bit_length())


def join_lines(lines: Iterable[str]) -> str:
    return "\n".join(lines) + "\n"
