"""Draw a spike raster of one sample of a result file: the input and every layer over a shared
time axis, and the readout's class counts. The model (for layer names and class colours) is taken
from --model, else from the path recorded in the result file when that file still exists and its
layer sizes fit the result.

Example:
    spikelut raster result.h5 --sample 3 -o raster.png --model model.h5
"""

from __future__ import annotations

import argparse

from ..fileutil import check_output
from ..io import load_spikes
from ..plot import DEFAULT_SIZE, raster
from . import Output
from .common import FORCE_HELP, model_for, parse_size

NAME = "raster"
HELP = "draw the spike raster of one sample of RESULT.h5 (-o raster.png)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("result", help="result file (spikelut simulate -o RESULT.h5)")
    p.add_argument("--sample", type=int, default=0, help="which sample (default 0)")
    p.add_argument("-o", "--output", required=True, help="PNG to write")
    p.add_argument("--model", help="model file (layer names, readout classes)")
    p.add_argument("--max-nodes", type=int, default=128, help="show at most this many nodes per layer")
    p.add_argument("--size", default=f"{DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}", help="pixels, WxH")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)


def run(args: argparse.Namespace) -> Output:
    out = check_output(args.output, inputs=[args.result, args.model], kind="png", force=args.force)
    net = model_for(args.result, args.model)
    raster(args.result, args.sample, out, model=net, max_nodes=args.max_nodes,
           size=parse_size(args.size))
    used = args.model or (load_spikes(args.result).meta.get("model") if net is not None else None)
    return Output({"png": str(out), "sample": args.sample, "model": used},
                  f"wrote {out} (sample {args.sample}{', model ' + str(used) if used else ''})")
