"""Verilog generation, co-simulation and synthesis reports (DESIGN.md section 5).

Flow: network -> :func:`plan_network` (LUTs, shift registers, refractory folding) ->
:func:`from_plan` (a netlist :class:`Module`) -> :func:`print_module` (Verilog text); the
netlist's interpreter :func:`spikelut.rtl.netlist.simulate` runs the same cells.

Example:
    >>> import tempfile
    >>> import spikelut.rtl as rtl
    >>> from spikelut.wiring import random_network
    >>> net = random_network(0, n_in=4, sizes=[6, 2], k=3, refractory=1)
    >>> files = rtl.write_verilog(net, tempfile.mkdtemp(), top="demo_core")
    >>> files.plan.luts, files.plan.flip_flops == net.flip_flops()
    (8, True)
    >>> rep = rtl.cosimulate(net, files.stimulus, simulator="iverilog")   # doctest: +SKIP
    >>> rep.ok                                                            # doctest: +SKIP
    True
"""

from .cosim import (CosimReport, Mismatch, build_and_run, compare, cosimulate, find_iverilog,
                    find_verilator, lint, verify_directory)
from .cells import vendor_cell_names
from .compile import compile_directory, unverified_path
from .netlist import Module, from_plan, simulate_network
from .plan import NodePlan, RtlPlan, check_top_name, plan_network
from .synth import GateReport, SynthReport, find_yosys, synthesize, synthesize_gates
from .verilog import emit_core, emit_lut_model, print_module
from .wrapper import emit_testbench, emit_wrapper
from .writer import MANIFEST, RtlFiles, model_steps, staged_verilog, write_verilog

__all__ = [
    "write_verilog", "staged_verilog", "compile_directory", "unverified_path", "model_steps",
    "cosimulate", "verify_directory", "build_and_run", "compare", "lint",
    "synthesize", "synthesize_gates", "plan_network", "check_top_name", "emit_core", "emit_lut_model", "emit_wrapper",
    "emit_testbench", "find_verilator", "find_iverilog", "find_yosys", "from_plan", "print_module",
    "simulate_network", "vendor_cell_names", "Module",
    "CosimReport", "Mismatch", "SynthReport", "GateReport", "RtlPlan", "NodePlan", "RtlFiles", "MANIFEST",
]
