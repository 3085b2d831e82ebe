"""Draw a spike raster of one sample of a result file: the input and every layer over a shared
time axis, and the readout's class counts. The model (for layer names and class colours) is taken
from --model, else from the path recorded in the result file when that file still exists and its
layer sizes fit the result.

Example:
    spikelut raster result.h5 --sample 3 -o raster.png --model model.h5
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import FileFormatError
from ..fileutil import check_output
from ..io import load_model, load_result, load_spikes
from ..plot import DEFAULT_SIZE, raster
from . import Output
from .common import FORCE_HELP

NAME = "raster"
HELP = "draw the spike raster of one sample of RESULT.h5 (-o raster.png)"


def parse_size(text: str) -> tuple[int, int]:
    """``"1200x900"`` -> ``(1200, 900)``."""
    from ..errors import ConfigError

    w, sep, h = text.lower().partition("x")
    try:
        if not sep:
            raise ValueError
        return int(w), int(h)
    except ValueError:
        raise ConfigError(f"--size expects WIDTHxHEIGHT in pixels, e.g. 1200x900, got {text!r}") from None


def model_for(result: str, model: str | None):
    """The network named by --model, else the one recorded in the result file when that file
    still exists, loads, and has the result's layer sizes (else None: plots without names)."""
    if model:
        return load_model(model)
    recorded = load_spikes(result).meta.get("model")
    if not (isinstance(recorded, str) and Path(recorded).is_file()):
        return None
    try:
        net = load_model(recorded)
        load_result(result, net)  # checks the layer sizes against the result
    except FileFormatError:
        return None
    return net


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
