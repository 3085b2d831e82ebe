"""Wiring study (docs/rewiring.md): random vs serial vs label-guided vs rewired vs learnable delays
vs free-form rewiring, at the same LUT counts, on MNIST-1D, MNIST-5k and UCR sets.

A network "front" (k = 6 from the input at 6 delays) -> "rec" (3 taps from front, 3 from its own
layer at delay 1) -> a voting readout (10 nodes per class). Per ``--dataset``:

* ``mnist1d``: one value per cycle (40 cycles), 32-level thermometer, input delays 0..5, 100
  readout nodes, batch 25, lr 0.01, rewiring every 35 steps, delays learned in [0, 7];
* ``mnist5k``: the 28 x 28 images, rate code over 8 cycles (784 channels), input delays 0..5,
  100 readout nodes, batch 25, lr 0.01, every 35 steps, delays in [0, 7];
* ``GunPoint`` / ``ItalyPowerDemand`` (UCR, spikelut[ucr]): one value per cycle, 16-level
  thermometer, input delays as in demos/run_gunpoint.toml / run_italypowerdemand.toml, 20
  readout nodes, batch 10, lr 0.03, every step (about 4 rewirings per epoch, as on MNIST-1D),
  delays in [0, 15] / [0, 7].

Variant ``guided_teacher`` trains a teacher of demos/distill_mnist1d.py on the training part
(``--teacher-epochs``; a CNN for 40 cycles, else a GRU) and guides the initial wiring by the
correlation with its hidden features (``spikelut train --teacher-features``).

Accuracy is the kept (best validation) model's on the training set and on a held-out part of
the training split (12.5 % for the MNIST sets, 25 % for the small UCR sets); the test split is
never read. ``--limit`` keeps MNIST-1D's first samples and a seeded random subset of the others
(MNIST-5k's training split is sorted by class).

Usage (reduced budgets on a shared machine):
    NUMBA_NUM_THREADS=1 nice -n 10 python demos/rewire_study.py --sizes 128 256 --epochs 12 \\
        --limit 2000 --out runs/rewire_study
    NUMBA_NUM_THREADS=1 nice -n 10 python demos/rewire_study.py --dataset GunPoint --sizes 64 \\
        --epochs 30 --variants random serial rewired rewired_delays --out runs/rewire_ucr
Writes <out>/results.jsonl (one line per run) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # demos.* when run as a script

TEMPLATE = """
seed = {seed}
inputs = {inputs}
[[layers]]
name = "front"
nodes = {front}
k = 6
taps = [{{ from = "input", count = 6, delay = {delays}, wiring = "{wiring}" }}]
[[layers]]
name = "rec"
nodes = {rec}
k = 6
taps = [{{ from = "front", count = 3, wiring = "{wiring}" }},
        {{ from = "self", count = 3, delay = 1, wiring = "{wiring}" }}]
[[layers]]
name = "out"
nodes = {out}
k = 6
taps = [{{ from = "rec", count = 6, wiring = "{wiring}" }}]
[readout]
classes = {classes}
"""

#: dataset -> encoding (coding, steps, params), network and training settings; ``every`` is the
#: rewiring period that stands for 35 steps of MNIST-1D (4 rewirings per epoch)
DATASETS = {
    "mnist1d": dict(coding=("thermometer", 40, {"levels": 32}), inputs=32, delays=[0, 1, 2, 3, 4, 5],
                    out=100, classes=10, batch=25, lr=0.01, every=35, delay_range=[0, 7], val=0.125),
    "mnist5k": dict(coding=("rate", 8, {}), inputs=784, delays=[0, 1, 2, 3, 4, 5], out=100,
                    classes=10, batch=25, lr=0.01, every=35, delay_range=[0, 7], val=0.125),
    "GunPoint": dict(coding=("thermometer", None, {"levels": 16}), inputs=16,
                     delays=[0, 3, 6, 9, 12, 15], out=20, classes=2, batch=10, lr=0.03, every=1,
                     delay_range=[0, 15], val=0.25),
    "ItalyPowerDemand": dict(coding=("thermometer", None, {"levels": 16}), inputs=16,
                             delays=[0, 1, 2, 3, 4, 5], out=20, classes=2, batch=10, lr=0.03,
                             every=1, delay_range=[0, 7], val=0.25),
}

#: variant -> (config wiring, [train] overrides)
REWIRE = {"rewire_every": 35, "rewire_fraction": 0.04}  # cosine-annealed (the default)
VARIANTS = {
    "random": ("random", {}),
    "serial": ("serial", {}),
    "guided_mi": ("random", {"init_wiring": "mi"}),
    # a PyTorch teacher's hidden features (demos/teacher_features.py) guide the initial wiring
    "guided_teacher": ("random", {"init_wiring": "corr", "teacher": True}),
    "rewired": ("random", dict(REWIRE)),
    "rewired_probe": ("random", {**REWIRE, "rewire_candidates": 4}),
    "rewired_delays": ("random", {**REWIRE, "rewire_delays": [0, 7]}),
    "rewired_free": ("random", {**REWIRE, "rewire_sources": "free"}),
    "serial_probe": ("serial", {**REWIRE, "rewire_candidates": 4}),
    # less churn: once per epoch of 140 steps, 5 % (annealed), best of 4 probe-scored candidates
    "probe_epochly": ("random", {"rewire_every": 140, "rewire_fraction": 0.05,
                                 "rewire_candidates": 4}),
}


def teacher_features_of(train, val, epochs: int, seed: int):
    """Hidden features ``[N, F]`` of a teacher of demos/distill_mnist1d.py trained on ``train``
    (epoch chosen on ``val``): a CNN for 40 cycles, else a GRU."""
    import torch

    from demos.distill_mnist1d import train_teacher
    from spikelut.torch import teacher_features

    (x, y), (xv, yv) = train, val
    as_t = lambda a: torch.from_numpy(a.astype(np.float32))  # noqa: E731
    teacher, _ = train_teacher(as_t(x), torch.from_numpy(y), as_t(xv), torch.from_numpy(yv),
                               epochs, seed, lambda m: print(m, file=sys.stderr),
                               "cnn" if x.shape[0] == 40 else "gru")
    return teacher_features(teacher, x)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dataset", choices=list(DATASETS), default="mnist1d")
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256],
                    help="nodes of front and of rec (LUTs = 2 * size + readout nodes)")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--limit", type=int, default=2000,
                    help="training samples used (MNIST sets: of 4,000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--teacher-epochs", type=int, default=3,
                    help="guided_teacher: epochs of its teacher (CNN for 40 cycles, else GRU)")
    ap.add_argument("--out", type=Path, default=Path("runs/rewire_study"))
    args = ap.parse_args(argv)

    from spikelut.config import build_network, parse_config
    from spikelut.datasets import encode_dataset
    from spikelut.train import Trainer, TrainConfig
    from spikelut.train.trainer import holdout

    spec = DATASETS[args.dataset]
    coding, steps, params = spec["coding"]
    first = args.dataset == "mnist1d"  # MNIST-1D is shuffled: its first samples
    sd = encode_dataset(args.dataset, coding, steps, split="train", seed=0,
                        limit=args.limit if first else None, **params)
    x, y = sd.spikes, sd.labels
    if not first and args.limit < y.size:  # MNIST-5k is sorted by class: a seeded subset
        keep = np.sort(np.random.default_rng(0).permutation(y.size)[:args.limit])
        x, y = x[:, keep], y[keep]
    train, val = holdout(x, y, spec["val"], seed=0)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    feats = None
    for size in args.sizes:
        for variant in args.variants:
            wiring, over = VARIANTS[variant]
            over = dict(over)
            if "rewire_every" in over:  # in units of MNIST-1D's 35 steps
                over["rewire_every"] = spec["every"] * over["rewire_every"] // 35
            if "rewire_delays" in over:
                over["rewire_delays"] = spec["delay_range"]
            if over.pop("teacher", False) and feats is None:
                feats = teacher_features_of(train, val, args.teacher_epochs, args.seed)
            net = build_network(parse_config(TEMPLATE.format(
                seed=args.seed, front=size, rec=size, wiring=wiring, inputs=spec["inputs"],
                delays=spec["delays"], out=spec["out"], classes=spec["classes"])))
            cfg = TrainConfig.from_dict({"epochs": args.epochs, "batch_size": spec["batch"],
                                         "lr": spec["lr"],
                                         "keep": "best", "backend": args.backend,
                                         "seed": args.seed, **over})
            t0 = time.perf_counter()
            tr = Trainer(net, cfg, progress=False)
            res = tr.fit(train, val, teacher=feats if variant == "guided_teacher" else None)
            kept = res.history[res.kept_epoch - 1]
            row = {"dataset": args.dataset, "seed": args.seed, "variant": variant, "luts": res.net.n_nodes, "flip_flops": res.net.flip_flops(),
                   "kept_epoch": res.kept_epoch, "train_acc": kept["acc"],
                   "val_acc": kept["val_acc"], "best_val_acc": max(r["val_acc"] for r in res.history),
                   "swapped": sum(sum(r.get("rewired", [0])) for r in res.history),
                   "time_s": round(time.perf_counter() - t0, 1), "epochs": args.epochs,
                   "train_samples": int(train[0].shape[1]), "val_samples": int(val[0].shape[1])}
            rows.append(row)
            with open(args.out / "results.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), file=sys.stderr, flush=True)
    print("| dataset | variant | LUTs | flip-flops | train acc | val acc (kept) | taps swapped | time s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dataset']} | {r['variant']} | {r['luts']} | {r['flip_flops']} | {r['train_acc']:.3f} | "
              f"{r['val_acc']:.3f} | {r['swapped']} | {r['time_s']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
