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
from .verilog import bit_width, zext


def pred_width(net: Network) -> int:
    return bit_width(net.readout.classes - 1)


def emit_wrapper(net: Network, top: str, steps: int) -> str:
    """Verilog-2001 text of ``<top>_classifier`` (see the module docstring)."""
    check_top_name(top)
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    r = net.readout
    n_in_w, n_out = max(net.n_in, 1), net.n_out
    members = [np.flatnonzero(r.class_of == c).tolist() for c in range(r.classes)]
    counted_steps = max(0, steps - r.start)
    cw = bit_width(counted_steps * max([len(m) for m in members] + [1]))
    tw = bit_width(steps - 1)
    pw = pred_width(net)
    I = "  "
    o = [f"// {top}_classifier: counts the readout spikes of each class over {steps} cycles, "
         f"argmax -> pred.",
         f"// Protocol: start high for one cycle (clears core state and counters); then cycles "
         f"t = 0..{steps - 1} with in_spikes = x[t];",
         f"// spikes count from t = {r.start}; the edge ending t = {steps - 1} sets done and pred "
         f"(argmax, ties to the lowest class).",
         "`timescale 1ns / 1ps",
         "`default_nettype none", "",
         f"module {top}_classifier (",
         f"{I}input clk,", f"{I}input rst,", f"{I}input start,",
         f"{I}input [{n_in_w - 1}:0] in_spikes,",
         f"{I}output [{n_out - 1}:0] out_spikes,",
         f"{I}output reg [{pw - 1}:0] pred,",
         f"{I}output reg done",
         ");",
         f"{I}localparam [{tw - 1}:0] LAST = {tw}'d{steps - 1};  // STEPS = {steps}"]
    if r.start > 0 and r.start <= steps - 1:
        o.append(f"{I}localparam [{tw - 1}:0] START = {tw}'d{r.start};")
    o += ["", f"{I}{top} core (.clk(clk), .rst(rst | start), .in_spikes(in_spikes), "
              f".out_spikes(out_spikes));", "",
          f"{I}reg busy;", f"{I}reg [{tw - 1}:0] t;"]
    if r.start == 0:
        o.append(f"{I}wire counting = busy;")
    elif r.start <= steps - 1:
        o.append(f"{I}wire counting = busy && (t >= START);")
    else:
        o.append(f"{I}wire counting = 1'b0;  // readout starts after the last cycle")
    used_out = set()
    for c, m in enumerate(members):
        o.append(f"{I}reg [{cw - 1}:0] count{c};")
        if m:
            terms = " + ".join(zext(f"out_spikes[{j}]", cw) for j in m)
            used_out.update(m)
        else:
            terms = f"{cw}'d0"
        o.append(f"{I}wire [{cw - 1}:0] inc{c} = {terms};")
        o.append(f"{I}wire [{cw - 1}:0] next{c} = counting ? count{c} + inc{c} : count{c};")
    # argmax chain: strict '>' keeps the lower class on ties
    o.append(f"{I}wire [{cw - 1}:0] best_v0 = next0;")
    o.append(f"{I}wire [{pw - 1}:0] best_i0 = {pw}'d0;")
    for c in range(1, r.classes):
        o.append(f"{I}wire take{c} = next{c} > best_v{c - 1};")
        o.append(f"{I}wire [{cw - 1}:0] best_v{c} = take{c} ? next{c} : best_v{c - 1};")
        o.append(f"{I}wire [{pw - 1}:0] best_i{c} = take{c} ? {pw}'d{c} : best_i{c - 1};")
    last = r.classes - 1
    resets = [f"count{c} <= {cw}'d0;" for c in range(r.classes)]
    o += ["",
          f"{I}always @(posedge clk) begin",
          f"{I}{I}if (rst) begin",
          f"{I * 3}busy <= 1'b0; done <= 1'b0; t <= {tw}'d0; pred <= {pw}'d0;",
          *[f"{I * 3}{x}" for x in resets],
          f"{I}{I}end else if (start) begin",
          f"{I * 3}busy <= 1'b1; done <= 1'b0; t <= {tw}'d0;",
          *[f"{I * 3}{x}" for x in resets],
          f"{I}{I}end else if (busy) begin",
          *[f"{I * 3}count{c} <= next{c};" for c in range(r.classes)],
          f"{I * 3}if (t == LAST) begin",
          f"{I * 4}busy <= 1'b0; done <= 1'b1; pred <= best_i{last};",
          f"{I * 3}end else begin",
          f"{I * 4}t <= t + 1'b1;",
          f"{I * 3}end",
          f"{I}{I}end",
          f"{I}end"]
    # the counters only exist to produce pred; flag what nothing reads for 'verilator -Wall'
    unused = [f"best_v{last}"]
    if r.start > steps - 1:
        unused += [f"count{c}" for c in range(r.classes)] + [f"inc{c}" for c in range(r.classes)]
    o += ["", f"{I}/* verilator lint_off UNUSED */",
          f"{I}wire unused_sink = &{{1'b0, {', '.join(unused)}, 1'b0}};",
          f"{I}/* verilator lint_on UNUSED */",
          "endmodule", "", "`default_nettype wire", ""]
    return "\n".join(o)


def emit_testbench(net: Network, top: str, steps: int, samples: int) -> str:
    """A self-checking Verilog testbench ``tb_<top>`` for the classifier wrapper.

    It reads ``stimulus.mem`` (one line per cycle, sample-major: ``in_spikes`` in binary, channel
    0 rightmost), ``expected_out.mem`` (``out_spikes`` per cycle) and ``expected_pred.mem`` (one
    prediction per sample) with ``$readmemb`` from the directory it runs in, writes what the
    circuit did to ``got_out.txt`` / ``got_pred.txt``, prints the first mismatches and a final
    ``PASS`` or ``FAIL`` line. Runs in any Verilog-2001 simulator (Icarus, Verilator --binary, ...).
    """
    n_in_w, n_out, pw = max(net.n_in, 1), net.n_out, pred_width(net)
    I = "  "
    cycles = steps * samples
    return "\n".join([
        f"// tb_{top}: drives {top}_classifier with {samples} samples x {steps} cycles from "
        f"stimulus.mem and checks every",
        "// out_spikes bit of every cycle (expected_out.mem) and every prediction "
        "(expected_pred.mem). Run it from this directory:",
        f"//   with Icarus:    iverilog -g2001 -s tb_{top} -o tb.vvp tb_{top}.v {top}_classifier.v {top}.v [sim/LUT*.v] && vvp tb.vvp",
        f"//   with Verilator: verilator --binary --top-module tb_{top} -Wno-lint -Wno-style tb_{top}.v {top}_classifier.v "
        f"{top}.v [sim/LUT*.v] && ./obj_dir/Vtb_{top}",
        "`timescale 1ns / 1ps",
        "`default_nettype none", "",
        f"module tb_{top};",
        f"{I}localparam STEPS = {steps};",
        f"{I}localparam SAMPLES = {samples};",
        f"{I}localparam CYCLES = {cycles};",
        f"{I}reg clk, rst, start;",
        f"{I}reg [{n_in_w - 1}:0] in_spikes;",
        f"{I}wire [{n_out - 1}:0] out_spikes;",
        f"{I}wire [{pw - 1}:0] pred;",
        f"{I}wire done;",
        f"{I}reg [{n_in_w - 1}:0] stim [0:CYCLES-1];",
        f"{I}reg [{n_out - 1}:0] want_out [0:CYCLES-1];",
        f"{I}reg [{pw - 1}:0] want_pred [0:SAMPLES-1];",
        f"{I}integer b, t, errors, fo, fp;", "",
        f"{I}{top}_classifier dut (.clk(clk), .rst(rst), .start(start), .in_spikes(in_spikes),",
        f"{I}    .out_spikes(out_spikes), .pred(pred), .done(done));", "",
        f"{I}task tick; begin #4 clk = 1'b1; #5 clk = 1'b0; #1; end endtask", "",
        f"{I}initial begin",
        f"{I}{I}$readmemb(\"stimulus.mem\", stim);",
        f"{I}{I}$readmemb(\"expected_out.mem\", want_out);",
        f"{I}{I}$readmemb(\"expected_pred.mem\", want_pred);",
        f"{I}{I}fo = $fopen(\"got_out.txt\", \"w\");",
        f"{I}{I}fp = $fopen(\"got_pred.txt\", \"w\");",
        f"{I}{I}errors = 0;",
        f"{I}{I}clk = 1'b0; rst = 1'b1; start = 1'b0; in_spikes = 0;",
        f"{I}{I}#1; tick;",
        f"{I}{I}rst = 1'b0;",
        f"{I}{I}for (b = 0; b < SAMPLES; b = b + 1) begin",
        f"{I * 3}start = 1'b1; in_spikes = 0; #1; tick;",
        f"{I * 3}start = 1'b0;",
        f"{I * 3}for (t = 0; t < STEPS; t = t + 1) begin",
        f"{I * 4}in_spikes = stim[b * STEPS + t];",
        f"{I * 4}#1;",
        f"{I * 4}$fwrite(fo, \"%b\\n\", out_spikes);",
        f"{I * 4}if (out_spikes !== want_out[b * STEPS + t]) begin",
        f"{I * 5}errors = errors + 1;",
        f"{I * 5}if (errors <= 10) $display(\"MISMATCH sample %0d cycle %0d: out_spikes %b, "
        f"expected %b\", b, t, out_spikes, want_out[b * STEPS + t]);",
        f"{I * 4}end",
        f"{I * 4}tick;",
        f"{I * 3}end",
        f"{I * 3}$fwrite(fp, \"%0d %0d\\n\", done, pred);",
        f"{I * 3}if (done !== 1'b1 || pred !== want_pred[b]) begin",
        f"{I * 4}errors = errors + 1;",
        f"{I * 4}if (errors <= 10) $display(\"MISMATCH sample %0d: done %b pred %0d, expected "
        f"pred %0d\", b, done, pred, want_pred[b]);",
        f"{I * 3}end",
        f"{I}{I}end",
        f"{I}{I}$fclose(fo);",
        f"{I}{I}$fclose(fp);",
        f"{I}{I}if (errors == 0) $display(\"PASS: %0d samples x %0d cycles, every out_spikes bit "
        f"and prediction as expected\", SAMPLES, STEPS);",
        f"{I}{I}else $display(\"FAIL: %0d mismatches\", errors);",
        f"{I}{I}$finish;",
        f"{I}end",
        "endmodule", "", "`default_nettype wire", ""])


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
