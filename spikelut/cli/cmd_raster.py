"""Draw a spike raster of one sample of a result file: the input and every layer over a shared
time axis, and the readout's class counts. Layer names and class colours come from --model; a path
recorded inside the result file is never opened (files do not make spikelut read other files:
docs/threat-model.md).

Example:
    spikelut raster result.h5 --sample 3 -o raster.png --model model.h5
"""

from __future__ import annotations

import argparse

from ..escape import terminal
from ..fileutil import check_output
from ..plot import DEFAULT_SIZE, raster
from . import Output
from .common import FORCE_HELP, model_for, parse_size, positive_int

NAME = "raster"
HELP = "draw the spike raster of one sample of RESULT.h5 (-o raster.png)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("result", help="result file (spikelut simulate -o RESULT.h5)")
    p.add_argument("--sample", type=int, default=0, help="which sample (default 0)")
    p.add_argument("-o", "--output", required=True,
                   help="PNG image to write (a name ending in .png)")
    p.add_argument("--model", help="model file (layer names, readout classes)")
    p.add_argument("--max-nodes", type=positive_int, default=128, help="show at most this many nodes per layer")
    p.add_argument("--size", default=f"{DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}", help="pixels, WxH")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)


def run(args: argparse.Namespace) -> Output:
    out = check_output(args.output, inputs=[args.result, args.model], kind="png", force=args.force)
    net = model_for(args.result, args.model)
    raster(args.result, args.sample, out, model=net, max_nodes=args.max_nodes,
           size=parse_size(args.size))
    used = args.model
    return Output({"png": str(out), "sample": args.sample, "model": used},
                  f"wrote {terminal(out)} (sample {args.sample}"
                  f"{', model ' + terminal(used) if used else ''})")
