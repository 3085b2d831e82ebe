"""Accuracy of a model on a labelled spike file, simulated by the chosen (bit-exact) engine
(default: auto, the fastest one here), in chunks of samples so memory is set by the chunk.

Example:
    spikelut eval model.h5 test.h5
    spikelut eval model.h5 test.h5 --json        # adds the confusion matrix (rows = true class)
"""

from __future__ import annotations

import argparse

from ..analog import spec_of
from ..api import evaluate, simulate_file
from ..backends import get_backend
from ..errors import ConfigError
from ..io import load_model, load_spikes
from . import Output
from .common import add_backend_arguments, add_chunk_argument, backend_name, positive_int

NAME = "eval"
HELP = "accuracy of MODEL.h5 on labelled SPIKES.h5"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (HDF5)")
    p.add_argument("spikes", help="labelled spike file (HDF5)")
    add_backend_arguments(p)
    add_chunk_argument(p)
    p.add_argument("--batch-size", dest="chunk", type=positive_int, help=argparse.SUPPRESS)  # old name


def run(args: argparse.Namespace) -> Output:
    net = load_model(args.model)
    if spec_of(net) is not None:  # analog tables: their own simulation (docs/relaxations.md)
        data = load_spikes(args.spikes)
        if data.labels is None:
            raise ConfigError(f"{args.spikes}: has no /labels; eval needs labelled spikes")
        ev = evaluate(net, data.spikes, data.labels)
        return Output(ev.to_dict(), f"accuracy {ev.accuracy:.4f} ({ev.correct}/{ev.samples}); "
                                    f"analog model, {spec_of(net).bits}-bit tables")
    backend = get_backend(backend_name(args, NAME))
    r = simulate_file(net, args.spikes, None, backend=backend, chunk=args.chunk,
                      require_labels=True)
    t = r.tally
    info = {"accuracy": t.accuracy, "correct": t.correct, "samples": t.samples,
            "classes": t.classes, "confusion": t.confusion.tolist(), "backend": r.backend}
    return Output(info, t.describe())
