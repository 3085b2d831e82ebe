"""Describe a model file: layers, nodes, k, taps, refractory periods, flip-flops, readout.

Example:
    spikelut info osc.h5
"""

from __future__ import annotations

import argparse

from ..escape import terminal
from ..io import load_model
from . import Output
from .common import table

NAME = "info"
HELP = "describe a model file (layers, k, taps, flip-flops, readout)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (HDF5)")


def run(args: argparse.Namespace) -> Output:
    net = load_model(args.model)
    s = net.summary()
    # layer names come from the file: escaped so they cannot move the cursor or clear the screen
    rows = [[l["index"], terminal(l["name"]), l["nodes"], l["k"], l["refractory"], l["taps_from_input"],
             l["taps_feedforward"], l["taps_recurrent"], l["taps_self"], l["max_delay"]]
            for l in s["layers"]]
    r = s["readout"]
    text = "\n".join([
        f"{terminal(args.model)}: {s['inputs']} inputs, {len(s['layers'])} layers, {s['nodes']} LUTs, "
        f"{s['flip_flops']} flip-flops",
        "",
        table(rows, ["#", "name", "nodes", "k", "R", "in-taps", "ff-taps", "rec-taps", "self",
                     "max-delay"]),
        "",
        f"readout: layer {r['layer']} ({terminal(r['layer_name'])}), {r['classes']} classes, "
        f"{r['counted_nodes']} counted nodes, counting from cycle {r['start']}",
    ])
    return Output({"model": str(args.model), **s}, text)
