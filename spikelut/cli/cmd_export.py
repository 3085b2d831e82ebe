"""Export a model's circuit as an ONNX graph: one clock cycle per call, with the flip-flops as
explicit state inputs and outputs (in_spikes, state, counts, cycle -> out_spikes, state_next,
counts_next, cycle_next, pred). Integer operators only, so onnxruntime (or any ONNX runtime)
computes exactly the reference engine's spikes. Needs the 'onnx' package
(pip install 'spikelut[onnx]'). See docs/torch.md.

Example:
    spikelut export model.h5 -o model.onnx
"""

from __future__ import annotations

import argparse

from ..analog import require_binary
from ..escape import terminal
from ..fileutil import check_output
from ..io import load_model
from . import Output

NAME = "export"
HELP = "write MODEL.h5's circuit as an ONNX graph (one cycle per step, explicit state)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (HDF5)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.onnx", help="ONNX file to write")
    p.add_argument("--name", default="spikelut", help="the ONNX graph's name (default spikelut)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file of another kind")


def run(args: argparse.Namespace) -> Output:
    from ..api import export_onnx

    check_output(args.output, inputs=[args.model], kind="onnx", force=args.force)
    net = load_model(args.model)  # read once: export_onnx takes the network, not the file again
    require_binary(net, "export", args.model)
    info = export_onnx(net, args.output, name=args.name, force=args.force)
    text = (f"wrote {terminal(info['path'])}: ONNX opset {info['opset']}, {info['nodes']} operators, "
            f"{info['bytes']} bytes; one cycle per call, state [B, {info['state_depth']}, "
            f"{info['signals']}] uint8")
    return Output(info, text)
