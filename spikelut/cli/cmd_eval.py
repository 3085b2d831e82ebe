"""Accuracy of a model on a labelled spike file, simulated by the chosen (bit-exact) engine.

Example:
    spikelut eval model.h5 test.h5
    spikelut eval model.h5 test.h5 --json        # adds the confusion matrix (rows = true class)
"""

from __future__ import annotations

import argparse

import numpy as np

from ..api import simulate
from ..engine import ENGINES
from ..errors import ConfigError
from ..io import load_model, load_spikes
from ..train.trainer import check_data
from . import Output

NAME = "eval"
HELP = "accuracy of MODEL.h5 on labelled SPIKES.h5"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (HDF5)")
    p.add_argument("spikes", help="labelled spike file (HDF5)")
    p.add_argument("--engine", default="reference", choices=ENGINES, help="simulation engine")
    p.add_argument("--device", default="cpu", choices=("cpu", "gpu", "auto"), help="where to run")
    p.add_argument("--batch-size", type=int, default=1000, help="samples simulated at once")


def run(args: argparse.Namespace) -> Output:
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    net = load_model(args.model)
    data = load_spikes(args.spikes)
    if data.labels is None:
        raise ConfigError(f"{args.spikes}: has no /labels; eval needs labelled spikes "
                          f"(use 'spikelut simulate' for unlabelled data)")
    check_data(net, data.spikes, data.labels, str(args.spikes))
    B = data.spikes.shape[1]
    preds = []
    for b0 in range(0, B, args.batch_size):
        res = simulate(net, data.spikes[:, b0:b0 + args.batch_size], engine=args.engine,
                       device=args.device).to_numpy()
        preds.append(res.pred)
    pred = np.concatenate(preds).astype(np.int64)
    labels = data.labels.astype(np.int64)
    C = net.readout.classes
    confusion = np.zeros((C, C), np.int64)
    np.add.at(confusion, (labels, pred), 1)
    correct = int((pred == labels).sum())
    acc = correct / B
    info = {"accuracy": acc, "correct": correct, "samples": B, "classes": C,
            "confusion": confusion.tolist(), "engine": args.engine}
    return Output(info, f"accuracy {acc:.4f} ({correct}/{B})")
