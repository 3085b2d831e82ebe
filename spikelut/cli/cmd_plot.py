"""Figures from result files and training logs.

Subcommands:
    rates   firing-rate histogram per layer
    table   LUT tables: which entries are 1, which addresses were visited
    curves  loss / accuracy / lr per epoch from a JSON-lines training log
    wiring  taps swapped per epoch and the delay histogram before/after (rewiring)

Examples:
    spikelut plot rates result.h5 -o rates.png
    spikelut plot table result.h5 --model model.h5 --layer 0 -o table.png
    spikelut plot curves train_log.jsonl -o curves.png
    spikelut plot wiring train_log.jsonl -o wiring.png
"""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from ..escape import terminal
from ..fileutil import check_output, file_kind
from ..plot import DEFAULT_SIZE, lut_table, rate_histogram, training_curves, wiring_changes
from . import Output
from .common import FORCE_HELP, model_for, parse_size, positive_int

NAME = "plot"
HELP = "draw figures: rates | table | curves | wiring"


def add_arguments(p: argparse.ArgumentParser) -> None:
    # required: a missing figure is a command line that does not parse (usage, exit 2), as a
    # missing argument of every other command is
    # (the figures listed in the metavar: the usage error then names them)
    sub = p.add_subparsers(dest="figure", metavar="{rates,table,curves,wiring}", required=True)
    size = f"{DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}"

    def common(q: argparse.ArgumentParser) -> None:
        # accepted after the subcommand too; SUPPRESS keeps the value given before it
        q.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                       help="print one JSON object instead of text")
        q.add_argument("-o", "--output", required=True, help="PNG to write")
        q.add_argument("--size", default=size, help=f"pixels, WxH (default {size})")
        q.add_argument("--force", action="store_true", help=FORCE_HELP)

    q = sub.add_parser("rates", help="firing-rate histogram per layer")
    q.add_argument("result", help="result file")
    q.add_argument("--model", help="model file (layer names)")
    q.add_argument("--bins", type=int, default=20, help="histogram bins (default 20)")
    common(q)
    q = sub.add_parser("table", help="LUT table picture: ones and visited addresses")
    q.add_argument("result", help="result file")
    q.add_argument("--model", help="model file the result was simulated with (needed: a path "
                   "recorded in a result file is never opened)")
    q.add_argument("--layer", default="0", help="layer index or name (default 0)")
    q.add_argument("--max-nodes", type=positive_int, default=64, help="show at most this many nodes (default 64)")
    common(q)
    q = sub.add_parser("curves", help="training curves from a JSON-lines training log")
    q.add_argument("log", help="training log (JSON lines)")
    common(q)
    q = sub.add_parser("wiring", help="rewiring: taps swapped per epoch, delays before/after")
    q.add_argument("log", help="training log (JSON lines) of a run with [train] rewire_every")
    common(q)


def run(args: argparse.Namespace) -> Output:
    inputs = [getattr(args, k, None) for k in ("result", "model", "log")]
    out = check_output(args.output, inputs=inputs, kind="png", force=args.force)
    size = parse_size(args.size)
    if args.figure == "rates":
        net = model_for(args.result, args.model)
        rate_histogram(args.result, out, model=net, bins=args.bins, size=size)
    elif args.figure == "table":
        net = model_for(args.result, args.model)
        if net is None:
            if _is_model(args.result):  # the model given in the result's place
                raise ConfigError(f"{args.result}: is a model file; plot table takes the RESULT "
                                  f"of spikelut simulate, then --model MODEL.h5")
            raise ConfigError("plot table needs the model: give --model MODEL.h5")
        layer = int(args.layer) if args.layer.lstrip("-").isdigit() else args.layer
        lut_table(args.result, net, out, layer=layer, max_nodes=args.max_nodes, size=size)
    elif args.figure == "wiring":
        wiring_changes(args.log, out, size=size)
    else:
        training_curves(args.log, out, size=size)
    return Output({"png": str(out), "figure": args.figure}, f"wrote {terminal(str(out))}")


def _is_model(path: str) -> bool:
    try:
        return file_kind(path) == "model"
    except OSError:
        return False
