"""Merge trained models into one ensemble circuit whose class counts are the members' sums.

The members must have the same inputs, layers (k and refractory period, layer by layer) and
readout (layer, classes, start): copies of one config trained with different seeds, typically
(``spikelut train CONFIG --ensemble N`` or ``[train] ensemble = N`` train and merge in one go).
Layer ``i`` of the ensemble holds every member's layer ``i`` side by side; each member's spikes
are unchanged, so the ensemble predicts the argmax of the summed counts (docs/ensembles.md).
With --data, each member's and the ensemble's accuracy on that labelled spike file are printed.

Example:
    spikelut ensemble m0.h5 m1.h5 m2.h5 -o ens.h5 --data val.h5
    spikelut train cfg.toml --data train.h5 --ensemble 5 -o ens.h5    # train 5 members and merge
"""

from __future__ import annotations

import argparse

from ..api import ensemble_files
from ..escape import terminal
from ..fileutil import check_output
from . import Output
from .common import FORCE_HELP, add_backend_arguments, backend_name

NAME = "ensemble"
HELP = "merge MODEL.h5 files into one circuit whose class counts add (a seed ensemble)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+", help="member model files (HDF5), two or more")
    p.add_argument("-o", "--output", required=True, help="ensemble model file to write (HDF5)")
    p.add_argument("--data", default=None,
                   help="labelled spike file: also print each member's and the ensemble's accuracy")
    add_backend_arguments(p, deprecated_engine=False)
    p.add_argument("--force", action="store_true", help=FORCE_HELP)


def run(args: argparse.Namespace) -> Output:
    out = check_output(args.output, inputs=[*args.models, args.data], kind="model",
                       force=args.force)
    rep = ensemble_files(args.models, out, data=args.data, backend=backend_name(args, NAME))
    lines = [f"{rep['members']} members, {rep['luts']} LUTs, {rep['flip_flops']} flip-flops, "
             f"{rep['counted_nodes']} readout nodes over {rep['classes']} classes"]
    for m in rep["member_reports"]:
        acc = f", accuracy {m['accuracy']:.4f}" if "accuracy" in m else ""
        lines.append(f"  member {m['member']}: {terminal(m['file'])}: {m['luts']} LUTs{acc}")
    if "accuracy" in rep:
        lines.append(f"ensemble accuracy {rep['accuracy']:.4f} on {rep['samples']} samples of "
                     f"{terminal(str(args.data))}")
    lines.append(f"wrote {terminal(str(out))}")
    return Output({**rep, "output": str(out)}, "\n".join(lines))
