"""Remove what provably never changes an output bit: nodes with no path to the readout, nodes
constant on every input, and taps a table ignores (a layer's k shrinks to the taps its nodes
still use, at least 2). The pruned model is simulated against the original on random stimuli
(every readout bit and every kept node equal) before it is written. With --data, what merely
never happened on that data (nodes that never changed, taps never pivotal) is reported but not
pruned. See docs/analyze.md.

Example:
    spikelut prune model.h5 --data test.h5 -o pruned.h5
"""

from __future__ import annotations

import argparse

from ..analog import require_binary
from ..api import prune
from ..errors import ConfigError
from ..escape import terminal
from ..fileutil import check_output
from ..io import load_model
from ..prune import _check_verify_samples
from . import Output
from .common import FORCE_HELP, add_backend_arguments, backend_name

NAME = "prune"
HELP = "remove dead and constant nodes and unused taps of MODEL.h5, exactly"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (HDF5)")
    p.add_argument("-o", "--output", required=True, help="pruned model file (HDF5)")
    p.add_argument("--data", help="spike file: also report data-only findings (not pruned)")
    p.add_argument("--verify-samples", type=int, default=64,
                   help="random stimuli per spike rate for the equality check (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of those stimuli")
    add_backend_arguments(p)
    p.add_argument("--force", action="store_true", help=FORCE_HELP)


def run(args: argparse.Namespace) -> Output:
    _check_verify_samples(args.verify_samples)  # before any file is read
    if args.seed < 0:  # numpy's ValueError would reach the user as a traceback
        raise ConfigError(f"--seed must be an integer >= 0, got {args.seed}")
    out = check_output(args.output, inputs=[args.model, args.data], kind="model", force=args.force)
    net = load_model(args.model)
    require_binary(net, "prune", args.model)  # named with its file, as rtl and export do
    _, rep = prune(net, args.data, out, verify_samples=args.verify_samples, seed=args.seed,
                   backend=backend_name(args, NAME))
    lines = [f"LUTs {rep['luts']['before']} -> {rep['luts']['after']} (saved {rep['luts']['saved']}), "
             f"flip-flops {rep['flip_flops']['before']} -> {rep['flip_flops']['after']} "
             f"(saved {rep['flip_flops']['saved']}), taps {rep['taps']['before']} -> "
             f"{rep['taps']['after']}",
             f"exact: {rep['dead_nodes']} dead nodes, {rep['constant_nodes']} constant nodes, "
             f"{rep['fixed_taps']} taps on constant signals"]
    for r in rep["layers"]:
        k_after = "(layer removed)" if r["k_after"] is None else r["k_after"]
        lines.append(f"  layer {r['layer']} {terminal(repr(r['name']))}: nodes {r['nodes_before']} -> "
                     f"{r['nodes_after']}, k {r['k_before']} -> {k_after}")
    v = rep["verified"]
    lines.append(f"checked: {v['bits_compared']} spike bits on {v['samples']} random samples x "
                 f"{v['steps']} cycles, {v['mismatches']} mismatches")
    if "data_only" in rep:
        d = rep["data_only"]
        lines.append(f"on the data only (not pruned): {d['stuck_nodes']} kept nodes never changed, "
                     f"{d['taps_never_pivotal']} kept taps never pivotal ({d['samples']} samples)")
    lines.append(f"wrote {terminal(str(out))}")
    return Output({**rep, "output": str(out)}, "\n".join(lines))
