"""Build a network from a TOML config with random (or given) tables and write a model file.

Example:
    spikelut init demos/oscillator.toml -o osc.h5
"""

from __future__ import annotations

import argparse

from ..api import build
from ..escape import terminal
from ..fileutil import check_output
from ..io import save_model
from . import Output
from .common import FORCE_HELP, count

NAME = "init"
HELP = "build a network from a TOML config and write MODEL.h5"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="architecture config (TOML)")
    p.add_argument("-o", "--output", required=True, help="model file to write (HDF5)")
    p.add_argument("--seed", type=int, default=None, help="override the config's seed")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)


def run(args: argparse.Namespace) -> Output:
    out = check_output(args.output, inputs=[args.config], kind="model", force=args.force)
    net = build(args.config, seed=args.seed)
    save_model(net, out)
    s = net.summary()
    n = len(net.layers)
    text = (f"wrote {terminal(str(out))}: {count(n, 'layers')}, {count(s['nodes'], 'LUT nodes')}, "
            f"{count(s['flip_flops'], 'flip-flops')}, {count(net.n_in, 'inputs')}")
    return Output({"model": str(out), **s}, text)
