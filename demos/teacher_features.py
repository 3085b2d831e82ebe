"""Teacher features for guided wiring: train a PyTorch teacher on a spike file, write its hidden
features, one row per sample, for ``spikelut train --teacher-features`` (docs/rewiring.md).

The teacher is one of demos/distill_mnist1d.py (``gru``: GRU with 256 hidden units, any number of
cycles; ``cnn``: 3 x 64 1-D convolutions, 40 cycles as in MNIST-1D) trained on the labels; its
epoch is chosen on a held-out ``--val-fraction`` of the file drawn as ``spikelut train
--val-fraction`` draws it (same seed: the teacher never sees the student's validation samples).
The features are the input of its classifier head (:func:`spikelut.torch.teacher_features`) for
every sample of the file, in the file's order.

Usage::

    spikelut encode --dataset mnist1d --coding thermometer --steps 40 --param levels=32 -o train.h5
    NUMBA_NUM_THREADS=1 nice -n 10 python demos/teacher_features.py train.h5 -o feats.h5 \\
        --teacher cnn --teacher-epochs 3
    spikelut train demos/train_mnist1d.toml --data train.h5 --val-fraction 0.125 \\
        --teacher-features feats.h5 -o model.h5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # demos.* when run as a script


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="labelled spike file (spikelut encode)")
    ap.add_argument("-o", "--output", required=True, help="features file to write (HDF5)")
    ap.add_argument("--teacher", choices=("gru", "cnn"), default="cnn")
    ap.add_argument("--teacher-epochs", type=int, default=3)
    ap.add_argument("--val-fraction", type=float, default=0.125)
    ap.add_argument("--seed", type=int, default=0, help="the student's [train] seed (the split)")
    args = ap.parse_args(argv)

    from demos.distill_mnist1d import _accuracy, train_teacher
    from spikelut.io import load_spikes, save_features
    from spikelut.torch import teacher_features
    from spikelut.train.trainer import holdout

    d = load_spikes(args.data)
    if d.labels is None:
        print(f"{args.data}: has no /labels; the teacher trains on labels", file=sys.stderr)
        return 1
    (xt, yt), (xv, yv) = holdout(d.spikes, d.labels, args.val_fraction, args.seed)
    as_t = lambda a: torch.from_numpy(a.astype("float32"))  # noqa: E731
    teacher, hist = train_teacher(as_t(xt), torch.from_numpy(yt), as_t(xv), torch.from_numpy(yv),
                                  args.teacher_epochs, args.seed, print, args.teacher)
    feats = teacher_features(teacher, d.spikes)
    save_features(args.output, feats, meta={"teacher": args.teacher, "source": str(args.data),
                                            "teacher_val_acc": max(r["val_acc"] for r in hist)})
    print(f"wrote {args.output}: features {feats.shape[0]} x {feats.shape[1]} "
          f"(teacher {args.teacher}, val acc {_accuracy(teacher, as_t(xv), torch.from_numpy(yv)):.4f})")
    return 0


if __name__ == "__main__":
    import sys as _sys
    from pathlib import Path as _Path

    _sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))  # demos.* when run as a script
    from demos._script import run_main

    run_main(main)  # bad input: one line and status 1, as the spikelut command does
