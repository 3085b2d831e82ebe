"""Simulate a model on a spike file and write a result file (input spikes, every layer's spikes,
readout counts and predictions). Prints accuracy when the spike file has labels.

Example:
    spikelut simulate osc.h5 stim.h5 -o result.h5
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..api import simulate
from ..backends import get_backend
from ..io import load_model, load_spikes, save_spikes
from . import Output
from .common import add_backend_arguments, backend_name, check_output_path

NAME = "simulate"
HELP = "simulate MODEL.h5 on SPIKES.h5 and write RESULT.h5"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (HDF5)")
    p.add_argument("spikes", help="input spike file (HDF5)")
    p.add_argument("-o", "--output", required=True, help="result file to write (HDF5)")
    add_backend_arguments(p)


def run(args: argparse.Namespace) -> Output:
    out = check_output_path(args.output)
    backend = get_backend(backend_name(args, NAME))
    net = load_model(args.model)
    data = load_spikes(args.spikes)
    res = simulate(net, data.spikes, backend=backend).to_numpy()
    meta = dict(data.meta)
    meta.update({"model": str(Path(args.model).resolve()), "backend": backend.name})
    save_spikes(out, data.spikes, data.labels, meta, result=res)
    T, B, _ = data.spikes.shape
    info = {"result": str(out), "steps": T, "samples": B, "backend": backend.name,
            "spikes_per_layer": [int(s.sum()) for s in res.layer_spikes],
            "pred": res.pred.tolist() if B <= 64 else None}
    text = f"simulated {B} samples x {T} cycles -> {out}"
    if data.labels is not None:
        acc = res.accuracy(data.labels)
        info["accuracy"] = acc
        text += f"\naccuracy {acc:.4f} ({int(round(acc * B))}/{B})"
    elif B <= 16:
        text += f"\npredictions {res.pred.tolist()}"
    if net.n_nodes + net.n_in <= 16 and T <= 80:
        text += "\n" + _text_raster(net, data.spikes, res)
    return Output(info, text)


def _text_raster(net, spikes, res) -> str:
    """Sample 0 of a tiny network as one line per signal ('|' = spike), for a quick look."""
    rows = [(f"in[{c}]", spikes[:, 0, c]) for c in range(net.n_in)]
    for layer, s in zip(net.layers, res.layer_spikes):
        rows += [(f"{layer.name}[{j}]", s[:, 0, j]) for j in range(layer.n)]
    width = max(len(name) for name, _ in rows)
    lines = [f"sample 0, cycles 0..{spikes.shape[0] - 1}:"]
    lines += [f"  {name.ljust(width)}  " + "".join("|" if v else "." for v in train)
              for name, train in rows]
    return "\n".join(lines)
