"""Export the spike trains of one sample of a result file as a VCD waveform (GTKWave, Surfer):
clk, the inputs and one scope per layer with one wire per node; one cycle = one clock period.

Example:
    spikelut vcd result.h5 --sample 0 -o sample0.vcd
    gtkwave sample0.vcd
"""

from __future__ import annotations

import argparse

from ..escape import terminal
from ..fileutil import check_output
from ..vcd import write_vcd
from . import Output
from .common import FORCE_HELP, model_for

NAME = "vcd"
HELP = "export one sample of RESULT.h5 as a VCD waveform (-o out.vcd)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("result", help="result file (spikelut simulate -o RESULT.h5)")
    p.add_argument("--sample", type=int, default=0, help="which sample (default 0)")
    p.add_argument("-o", "--output", required=True, help="VCD file to write")
    p.add_argument("--model", help="model file (layer names for the scopes)")
    p.add_argument("--period", type=int, default=10, help="clock period in ns (even, default 10)")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)


def run(args: argparse.Namespace) -> Output:
    out = check_output(args.output, inputs=[args.result, args.model], kind="vcd", force=args.force)
    net = model_for(args.result, args.model)
    write_vcd(args.result, args.sample, out, model=net, period=args.period)
    return Output({"vcd": str(out), "sample": args.sample, "period_ns": args.period},
                  f"wrote {terminal(str(out))} (sample {args.sample}, {args.period} ns per cycle)")
