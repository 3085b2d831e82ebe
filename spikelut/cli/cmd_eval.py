"""Accuracy of a model on a labelled spike file, simulated by the chosen (bit-exact) engine
(default: auto, the fastest one here), in chunks of samples so memory is set by the chunk.

Example:
    spikelut eval model.h5 test.h5
    spikelut eval model.h5 test.h5 --json        # adds the confusion matrix (rows = true class)
"""

from __future__ import annotations

import argparse
import sys

from ..analog import simulate as analog_simulate, spec_of
from ..api import CHUNK_MEMORY, auto_chunk, check_spike_file, simulate_file
from ..backends import get_backend
from ..io import load_model, open_spikes
from ..metrics import Tally
from . import Output
from .common import add_backend_arguments, add_chunk_argument, backend_name, positive_int

NAME = "eval"
#: samples per read-noise batch of :func:`spikelut.analog.simulate` (its default batch_size)
ANALOG_BATCH = 500
HELP = "accuracy of MODEL.h5 on labelled SPIKES.h5"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (HDF5)")
    p.add_argument("spikes", help="labelled spike file (HDF5)")
    add_backend_arguments(p)
    add_chunk_argument(p)
    p.add_argument("--batch-size", dest="chunk", type=positive_int, help=argparse.SUPPRESS)  # old name


def run(args: argparse.Namespace) -> Output:
    net = load_model(args.model)
    spec = spec_of(net, args.model)
    if spec is not None:  # analog tables: their own simulation (docs/relaxations.md)
        return _eval_analog(args, net, spec)
    backend = get_backend(backend_name(args, NAME))
    r = simulate_file(net, args.spikes, None, backend=backend, chunk=args.chunk,
                      require_labels=True)
    t = r.tally
    info = {"accuracy": t.accuracy, "correct": t.correct, "samples": t.samples,
            "classes": t.classes, "confusion": t.confusion.tolist(), "backend": r.backend}
    return Output(info, t.describe())


def _eval_analog(args: argparse.Namespace, net, spec) -> Output:
    """An analog model on the spike file, with the checks of the binary path (the file's width,
    encoding and labels: a file encoded otherwise was scored silently) and in chunks of samples
    (``--chunk``; the whole file and every layer's float64 values at once before)."""
    name = backend_name(args, NAME)
    if name not in ("auto", "numpy"):  # not silently: the user asked for another engine
        print(f"spikelut {NAME}: note: an analog model runs its own numpy simulation; "
              f"--backend {name} is not used", file=sys.stderr)
    with open_spikes(args.spikes) as reader:
        T, B, n_in = reader.shape
        check_spike_file(net, args.spikes, reader.shape, reader.labels, require_labels=True,
                         meta=reader.meta)
        # float64 values of every layer per sample: an eighth of the binary engine's samples;
        # whole noise batches of analog.simulate (its read noise is drawn per batch of
        # ANALOG_BATCH samples), so the accuracy does not depend on --chunk
        step = args.chunk or auto_chunk(T, n_in, net.sizes, B, memory=CHUNK_MEMORY // 8, least=1)
        step = max(1, step // ANALOG_BATCH) * ANALOG_BATCH
        tally = Tally(net.readout.classes)
        for b0 in range(0, B, step):
            b1 = min(b0 + step, B)
            tally.add(analog_simulate(net, reader.read(b0, b1)).pred, reader.labels[b0:b1])
    info = {"accuracy": tally.accuracy, "correct": tally.correct, "samples": tally.samples,
            "classes": tally.classes, "confusion": tally.confusion.tolist(), "backend": "analog",
            "analog": spec.to_meta()}
    return Output(info, f"{tally.describe()}; analog model, {spec.bits}-bit tables")
