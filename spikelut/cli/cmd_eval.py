"""Accuracy of a model on a labelled spike file, simulated by the chosen (bit-exact) engine.

Example:
    spikelut eval model.h5 test.h5
    spikelut eval model.h5 test.h5 --json        # adds the confusion matrix (rows = true class)
"""

from __future__ import annotations

import argparse

from ..api import evaluate
from ..backends import get_backend
from ..errors import ConfigError
from ..io import load_model, load_spikes
from ..train.trainer import check_data
from . import Output
from .common import add_backend_arguments, backend_name

NAME = "eval"
HELP = "accuracy of MODEL.h5 on labelled SPIKES.h5"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (HDF5)")
    p.add_argument("spikes", help="labelled spike file (HDF5)")
    add_backend_arguments(p)
    p.add_argument("--batch-size", type=int, default=1000, help="samples simulated at once")


def run(args: argparse.Namespace) -> Output:
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    backend = get_backend(backend_name(args, NAME))
    net = load_model(args.model)
    data = load_spikes(args.spikes)
    if data.labels is None:
        raise ConfigError(f"{args.spikes}: has no /labels; eval needs labelled spikes "
                          f"(use 'spikelut simulate' for unlabelled data)")
    check_data(net, data.spikes, data.labels, str(args.spikes))
    ev = evaluate(net, data.spikes, data.labels, backend=backend, batch_size=args.batch_size)
    return Output(ev.to_dict(), f"accuracy {ev.accuracy:.4f} ({ev.correct}/{ev.samples})")
