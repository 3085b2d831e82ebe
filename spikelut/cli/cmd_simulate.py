"""Simulate a model on a spike file and write a result file (input spikes, every layer's spikes,
readout counts and predictions). Prints accuracy when the spike file has labels.

The file is worked through in chunks of samples (``--chunk``), so memory is set by the chunk, not
the file; the result file is written chunk by chunk and still atomically.

Example:
    spikelut simulate osc.h5 stim.h5 -o result.h5
    spikelut simulate big.h5 huge_stim.h5 -o result.h5 --chunk 4096
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..analog import require_binary
from ..api import simulate_file
from ..backends import get_backend
from ..escape import terminal
from ..fileutil import check_output
from ..io import load_model
from . import Output
from .common import FORCE_HELP, add_backend_arguments, add_chunk_argument, backend_name, count

NAME = "simulate"
HELP = "simulate MODEL.h5 on SPIKES.h5 and write RESULT.h5"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (HDF5)")
    p.add_argument("spikes", help="input spike file (HDF5)")
    p.add_argument("-o", "--output", required=True, help="result file to write (HDF5)")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    add_backend_arguments(p)
    add_chunk_argument(p)


def run(args: argparse.Namespace) -> Output:
    out = check_output(args.output, inputs=[args.model, args.spikes], kind="spikes",
                       force=args.force)
    backend = get_backend(backend_name(args, NAME))
    net = load_model(args.model)
    require_binary(net, "simulate", args.model)
    r = simulate_file(net, args.spikes, out, backend=backend, chunk=args.chunk,
                      meta={"model": str(Path(args.model).resolve()), "backend": backend.name})
    T, B = r.steps, r.samples
    info = {"result": str(out), "steps": T, "samples": B, "chunk": r.chunk, "backend": r.backend,
            "spikes_per_layer": r.spikes_per_layer,
            "pred": r.pred_head.tolist() if B <= 64 else None}
    text = f"simulated {count(B, 'samples')} x {count(T, 'cycles')} -> {terminal(str(out))}"
    if r.tally is not None:
        info["accuracy"] = r.tally.accuracy
        text += "\n" + r.tally.describe()
    elif B <= 16:
        text += f"\npredictions {r.pred_head.tolist()}"
    if net.n_nodes + net.n_in <= 16 and T <= 80:
        text += "\n" + _text_raster(net, *r.sample0)
    return Output(info, text)


def _text_raster(net, inputs, layer_spikes) -> str:
    """Sample 0 of a tiny network as one line per signal ('|' = spike), for a quick look:
    ``inputs [T, n_in]``, ``layer_spikes`` one ``[T, n_i]`` per layer."""
    rows = [(f"in[{c}]", inputs[:, c]) for c in range(net.n_in)]
    for layer, s in zip(net.layers, layer_spikes):
        rows += [(f"{terminal(layer.name)}[{j}]", s[:, j]) for j in range(layer.n)]
    width = max(len(name) for name, _ in rows)
    lines = [f"sample 0, cycles 0..{inputs.shape[0] - 1}:"]
    lines += [f"  {name.ljust(width)}  " + "".join("|" if v else "." for v in train)
              for name, train in rows]
    return "\n".join(lines)
