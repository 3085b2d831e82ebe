"""The classifier wrapper around the core, and a self-checking testbench with ``$readmemb`` stimuli.

Wrapper ``<top>_classifier`` ports::

    input clk, input rst, input start, input [n_in-1:0] in_spikes,
    output [n_out-1:0] out_spikes, output reg [PW-1:0] pred, output reg done

Protocol: hold ``start`` high for one cycle (``in_spikes`` is ignored in it); its clock edge clears
the core's state and the class counters. The next ``STEPS`` cycles are the sample's cycles
``t = 0 .. STEPS-1`` (drive ``in_spikes = x[t]``); the wrapper adds the readout spikes of each
class over the cycles ``t >= start`` of the readout (the model's ``readout.start``). The clock edge
that ends cycle ``STEPS-1`` sets ``done`` and ``pred`` = argmax of the counts, ties to the lowest
class: exactly the simulator's ``pred``. ``done`` stays high until the next ``start``.
``STEPS`` is fixed at generation time; counters are sized for it.

Example:
    >>> import numpy as np
    >>> from spikelut.network import Layer, Network, Readout
    >>> osc = Layer(np.array([[0, 1, 0, 0]], np.uint8), np.array([[-1, 0]]), np.array([[0, 0]]),
    ...             np.array([[0, 1]]))
    >>> v = emit_wrapper(Network(1, [osc], Readout(0, [0], 1)), "osc", steps=8)
    >>> v.splitlines()[0]
    '// osc_classifier: counts the readout spikes of each class over 8 cycles, argmax -> pred.'
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..network import Network
from .plan import check_top_name
from .verilog import Printer, bit_width, reduce_tree, zext


def _count(value: object, what: str) -> int:
    """``value`` if it is a whole number >= 1 (an int, not a bool); else a ConfigError: a float
    or a string was printed into the Verilog as it was (``localparam STEPS = 1.5;``) or failed
    with a TypeError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{what} must be a whole number >= 1, got {value!r}")
    return int(value)


def pred_width(net: Network) -> int:
    """Bits of the ``pred`` port: enough for class ``classes - 1`` (at least 1).

    Example:
        >>> from spikelut.wiring import random_network
        >>> pred_width(random_network(0, 4, [6, 5], k=3, classes=5))   # classes 0..4
        3
    """
    return bit_width(net.readout.classes - 1)


#: the most terms of one ``+`` chain of the class counters
SUM_TERMS = 16


def _sum_lines(p: Printer, name: str, terms: list[str], width: int) -> None:
    """``wire [width-1:0] name`` = the sum of ``terms``, as a tree of partial sums of at most
    :data:`SUM_TERMS` terms each. One chain over a class of 70,000 readout nodes crashed Icarus'
    parser (a tree as deep as the chain), and re-adding 20,000 terms whenever one bit changed
    made its simulation take minutes for a few cycles."""
    terms = reduce_tree(p, terms, " + ", SUM_TERMS, f"{name}_s", f"wire [{width - 1}:0]")
    p.line(f"wire [{width - 1}:0] {name} = {' + '.join(terms)};")


def emit_wrapper(net: Network, top: str, steps: int) -> str:
    """Verilog-2001 text of ``<top>_classifier`` (see the module docstring).

    Args:
        net: the network; its readout says which ``out_spikes`` bits count for which class
            and from which cycle.
        top: the core's module name; the wrapper instantiates it as ``core``.
        steps: cycles per sample ``STEPS``; the counters are sized for it.

    Returns:
        The module's text (``\\n`` line ends, ending in a newline).

    Raises:
        ConfigError: ``top`` cannot be a module name, or ``steps`` is not a whole number >= 1.

    Example:
        >>> from spikelut.wiring import random_network
        >>> v = emit_wrapper(random_network(0, 4, [6, 2], k=3), "demo", steps=8)
        >>> [ln for ln in v.splitlines() if ln.startswith("module")]
        ['module demo_classifier (']
        >>> emit_wrapper(random_network(0, 4, [6, 2], k=3), "demo", steps=0)
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: steps must be a whole number >= 1, got 0
    """
    check_top_name(top)
    steps = _count(steps, "steps")
    r = net.readout
    n_in_w, n_out = max(net.n_in, 1), net.n_out
    members = [np.flatnonzero(r.class_of == c).tolist() for c in range(r.classes)]
    counted_steps = max(0, steps - r.start)
    cw = bit_width(counted_steps * max([len(m) for m in members] + [1]))
    tw = bit_width(steps - 1)
    pw = pred_width(net)
    last = r.classes - 1
    p = Printer()
    p.line(f"// {top}_classifier: counts the readout spikes of each class over {steps} cycles, "
           f"argmax -> pred.")
    p.line(f"// Protocol: start high for one cycle (clears core state and counters); then cycles "
           f"t = 0..{steps - 1} with in_spikes = x[t];")
    p.line(f"// spikes count from t = {r.start}; the edge ending t = {steps - 1} sets done and pred "
           f"(argmax, ties to the lowest class).")
    p.line("`timescale 1ns / 1ps")
    p.line("`default_nettype none")
    p.line()
    p.line(f"module {top}_classifier (")
    with p.indent():
        for port in ("input clk,", "input rst,", "input start,", f"input [{n_in_w - 1}:0] in_spikes,",
                     f"output [{n_out - 1}:0] out_spikes,", f"output reg [{pw - 1}:0] pred,",
                     "output reg done"):
            p.line(port)
    p.line(");")
    with p.indent():
        p.line(f"localparam [{tw - 1}:0] LAST = {tw}'d{steps - 1};  // STEPS = {steps}")
        if 0 < r.start <= steps - 1:
            p.line(f"localparam [{tw - 1}:0] START = {tw}'d{r.start};")
        p.line()
        p.line(f"{top} core (.clk(clk), .rst(rst | start), .in_spikes(in_spikes), "
               f".out_spikes(out_spikes));")
        p.line()
        p.line("reg busy;")
        p.line(f"reg [{tw - 1}:0] t;")
        if r.start == 0:
            p.line("wire counting = busy;")
        elif r.start <= steps - 1:
            p.line("wire counting = busy && (t >= START);")
        else:
            p.line("wire counting = 1'b0;  // readout starts after the last cycle")
        for c, m in enumerate(members):
            p.line(f"reg [{cw - 1}:0] count{c};")
            _sum_lines(p, f"inc{c}", [zext(f"out_spikes[{j}]", cw) for j in m] or [f"{cw}'d0"], cw)
            p.line(f"wire [{cw - 1}:0] next{c} = counting ? count{c} + inc{c} : count{c};")
        # argmax chain: strict '>' keeps the lower class on ties
        p.line(f"wire [{cw - 1}:0] best_v0 = next0;")
        p.line(f"wire [{pw - 1}:0] best_i0 = {pw}'d0;")
        for c in range(1, r.classes):
            p.line(f"wire take{c} = next{c} > best_v{c - 1};")
            p.line(f"wire [{cw - 1}:0] best_v{c} = take{c} ? next{c} : best_v{c - 1};")
            p.line(f"wire [{pw - 1}:0] best_i{c} = take{c} ? {pw}'d{c} : best_i{c - 1};")
        p.line()
        p.line("always @(posedge clk) begin")
        with p.indent():
            p.line("if (rst) begin")
            with p.indent():
                p.line(f"busy <= 1'b0; done <= 1'b0; t <= {tw}'d0; pred <= {pw}'d0;")
                for c in range(r.classes):
                    p.line(f"count{c} <= {cw}'d0;")
            p.line("end else if (start) begin")
            with p.indent():
                p.line(f"busy <= 1'b1; done <= 1'b0; t <= {tw}'d0;")
                for c in range(r.classes):
                    p.line(f"count{c} <= {cw}'d0;")
            p.line("end else if (busy) begin")
            with p.indent():
                for c in range(r.classes):
                    p.line(f"count{c} <= next{c};")
                p.line("if (t == LAST) begin")
                with p.indent():
                    p.line(f"busy <= 1'b0; done <= 1'b1; pred <= best_i{last};")
                p.line("end else begin")
                with p.indent():
                    p.line("t <= t + 1'b1;")
                p.line("end")
            p.line("end")
        p.line("end")
        # the counters only exist to produce pred; flag what nothing reads for 'verilator -Wall'
        unused = [f"best_v{last}"]
        if r.start > steps - 1:
            unused += [f"count{c}" for c in range(r.classes)] + [f"inc{c}" for c in range(r.classes)]
        p.line()
        p.line("/* verilator lint_off UNUSED */")
        p.line(f"wire unused_sink = &{{1'b0, {', '.join(unused)}, 1'b0}};")
        p.line("/* verilator lint_on UNUSED */")
    p.line("endmodule")
    p.line()
    p.line("`default_nettype wire")
    return p.text()


def emit_testbench(net: Network, top: str, steps: int, samples: int) -> str:
    """A self-checking Verilog testbench ``tb_<top>`` for the classifier wrapper.

    It reads ``stimulus.mem`` (one line per cycle, sample-major: ``in_spikes`` in binary, channel
    0 rightmost), ``expected_out.mem`` (``out_spikes`` per cycle) and ``expected_pred.mem`` (one
    prediction per sample) with ``$readmemb`` from the directory it runs in, writes what the
    circuit did to ``got_out.txt`` / ``got_pred.txt``, prints the first mismatches and a final
    ``PASS`` or ``FAIL`` line. Runs in any Verilog-2001 simulator (Icarus, Verilator --binary, ...).

    Args:
        net: the network (port widths ``n_in``, ``n_out`` and the ``pred`` width).
        top: the core's module name; the testbench is ``tb_<top>`` and drives
            ``<top>_classifier``.
        steps: cycles per sample, as given to :func:`emit_wrapper`.
        samples: samples in the ``.mem`` files.

    Returns:
        The module's text; the ``.mem`` files it reads are written by
        :func:`~spikelut.rtl.writer.write_verilog` (``steps * samples`` lines each but
        ``expected_pred.mem``: ``samples`` lines). Its memories are indexed with 32-bit integers:
        ``write_verilog`` refuses more than 2**31 - 1 cycles.

    Raises:
        ConfigError: ``top`` cannot be a module name, or ``steps`` or ``samples`` is not a
            whole number >= 1.

    Example:
        >>> from spikelut.wiring import random_network
        >>> v = emit_testbench(random_network(0, 4, [6, 2], k=3), "demo", steps=8, samples=2)
        >>> [ln.strip() for ln in v.splitlines() if "localparam" in ln]
        ['localparam STEPS = 8;', 'localparam SAMPLES = 2;', 'localparam CYCLES = 16;']
    """
    check_top_name(top)
    steps, samples = _count(steps, "steps"), _count(samples, "samples")
    n_in_w, n_out, pw = max(net.n_in, 1), net.n_out, pred_width(net)
    cycles = steps * samples
    p = Printer()
    for text in (
            f"// tb_{top}: drives {top}_classifier with {samples} samples x {steps} cycles from "
            f"stimulus.mem and checks every",
            "// out_spikes bit of every cycle (expected_out.mem) and every prediction "
            "(expected_pred.mem). Run it from this directory:",
            f"//   with Icarus:    iverilog -g2001 -s tb_{top} -o tb.vvp tb_{top}.v "
            f"{top}_classifier.v {top}.v [sim/*.v] && vvp tb.vvp",
            f"//   with Verilator: verilator --binary --top-module tb_{top} -Wno-lint -Wno-style "
            f"tb_{top}.v {top}_classifier.v {top}.v [sim/*.v] && ./obj_dir/Vtb_{top}",
            "`timescale 1ns / 1ps", "`default_nettype none", "", f"module tb_{top};"):
        p.line(text)
    with p.indent():
        for text in (
                f"localparam STEPS = {steps};", f"localparam SAMPLES = {samples};",
                f"localparam CYCLES = {cycles};", "reg clk, rst, start;",
                f"reg [{n_in_w - 1}:0] in_spikes;", f"wire [{n_out - 1}:0] out_spikes;",
                f"wire [{pw - 1}:0] pred;", "wire done;",
                f"reg [{n_in_w - 1}:0] stim [0:CYCLES-1];",
                f"reg [{n_out - 1}:0] want_out [0:CYCLES-1];",
                f"reg [{pw - 1}:0] want_pred [0:SAMPLES-1];", "integer b, t, errors, fo, fp;", "",
                f"{top}_classifier dut (.clk(clk), .rst(rst), .start(start), .in_spikes(in_spikes),",
                "    .out_spikes(out_spikes), .pred(pred), .done(done));", "",
                "task tick; begin #4 clk = 1'b1; #5 clk = 1'b0; #1; end endtask", "",
                "initial begin"):
            p.line(text)
        with p.indent():
            for text in (
                    '$readmemb("stimulus.mem", stim);', '$readmemb("expected_out.mem", want_out);',
                    '$readmemb("expected_pred.mem", want_pred);', 'fo = $fopen("got_out.txt", "w");',
                    'fp = $fopen("got_pred.txt", "w");', "errors = 0;",
                    "clk = 1'b0; rst = 1'b1; start = 1'b0; in_spikes = 0;", "#1; tick;",
                    "rst = 1'b0;", "for (b = 0; b < SAMPLES; b = b + 1) begin"):
                p.line(text)
            with p.indent():
                p.line("start = 1'b1; in_spikes = 0; #1; tick;")
                p.line("start = 1'b0;")
                p.line("for (t = 0; t < STEPS; t = t + 1) begin")
                with p.indent():
                    p.line("in_spikes = stim[b * STEPS + t];")
                    p.line("#1;")
                    p.line('$fwrite(fo, "%b\\n", out_spikes);')
                    p.line("if (out_spikes !== want_out[b * STEPS + t]) begin")
                    with p.indent():
                        p.line("errors = errors + 1;")
                        p.line('if (errors <= 10) $display("MISMATCH sample %0d cycle %0d: '
                               'out_spikes %b, expected %b", b, t, out_spikes, '
                               'want_out[b * STEPS + t]);')
                    p.line("end")
                    p.line("tick;")
                p.line("end")
                p.line('$fwrite(fp, "%0d %0d\\n", done, pred);')
                p.line("if (done !== 1'b1 || pred !== want_pred[b]) begin")
                with p.indent():
                    p.line("errors = errors + 1;")
                    p.line('if (errors <= 10) $display("MISMATCH sample %0d: done %b pred %0d, '
                           'expected pred %0d", b, done, pred, want_pred[b]);')
                p.line("end")
            p.line("end")
            for text in ("$fclose(fo);", "$fclose(fp);",
                         'if (errors == 0) $display("PASS: %0d samples x %0d cycles, every '
                         'out_spikes bit and prediction as expected", SAMPLES, STEPS);',
                         'else $display("FAIL: %0d mismatches", errors);', "$finish;"):
                p.line(text)
        p.line("end")
    p.line("endmodule")
    p.line()
    p.line("`default_nettype wire")
    return p.text()


def mem_lines(bits: np.ndarray) -> str:
    """Rows of 0/1 ``bits [rows, width]`` as ``$readmemb`` text, bit 0 rightmost.

    Example:
        >>> mem_lines(np.array([[1, 0, 0], [0, 1, 1]], np.uint8))
        '001\\n110\\n'
    """
    bits = np.asarray(bits, np.uint8)
    if bits.shape[1] == 0:
        bits = np.zeros((bits.shape[0], 1), np.uint8)
    chars = (bits[:, ::-1] + ord("0")).astype(np.uint8)
    rows = np.concatenate([chars, np.full((len(bits), 1), ord("\n"), np.uint8)], axis=1)
    return rows.tobytes().decode("ascii")
