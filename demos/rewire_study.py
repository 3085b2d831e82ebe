"""Wiring study on MNIST-1D (docs/rewiring.md): random vs serial vs label-guided vs rewired vs
learnable delays vs free-form rewiring, at the same LUT counts.

One value per cycle (40 cycles), 32-level thermometer; a network "front" (k = 6 from the input
at delays 0..5) -> "rec" (3 taps from front, 3 from its own layer at delay 1) -> 100 readout
nodes (10 per class). Accuracy is the kept (best validation) model's on the training set and on
a held-out 12.5 % of the training split; the test split is never read.

Usage (reduced budgets on a shared machine):
    NUMBA_NUM_THREADS=1 nice -n 10 python demos/rewire_study.py --sizes 128 256 --epochs 12 \\
        --limit 2000 --out runs/rewire_study
Writes <out>/results.jsonl (one line per run) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

TEMPLATE = """
seed = {seed}
inputs = 32
[[layers]]
name = "front"
nodes = {front}
k = 6
taps = [{{ from = "input", count = 6, delay = [0, 1, 2, 3, 4, 5], wiring = "{wiring}" }}]
[[layers]]
name = "rec"
nodes = {rec}
k = 6
taps = [{{ from = "front", count = 3, wiring = "{wiring}" }},
        {{ from = "self", count = 3, delay = 1, wiring = "{wiring}" }}]
[[layers]]
name = "out"
nodes = 100
k = 6
taps = [{{ from = "rec", count = 6, wiring = "{wiring}" }}]
[readout]
classes = 10
"""

#: variant -> (config wiring, [train] overrides)
REWIRE = {"rewire_every": 35, "rewire_fraction": 0.04}  # cosine-annealed (the default)
VARIANTS = {
    "random": ("random", {}),
    "serial": ("serial", {}),
    "guided_mi": ("random", {"init_wiring": "mi"}),
    "rewired": ("random", dict(REWIRE)),
    "rewired_probe": ("random", {**REWIRE, "rewire_candidates": 4}),
    "rewired_delays": ("random", {**REWIRE, "rewire_delays": [0, 7]}),
    "rewired_free": ("random", {**REWIRE, "rewire_sources": "free"}),
    "serial_probe": ("serial", {**REWIRE, "rewire_candidates": 4}),
    # less churn: once per epoch of 140 steps, 5 % (annealed), best of 4 probe-scored candidates
    "probe_epochly": ("random", {"rewire_every": 140, "rewire_fraction": 0.05,
                                 "rewire_candidates": 4}),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256],
                    help="nodes of front and of rec (LUTs = 2 * size + 100)")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--limit", type=int, default=2000, help="training samples used (of 4,000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--out", type=Path, default=Path("runs/rewire_study"))
    args = ap.parse_args(argv)

    from spikelut.config import build_network, parse_config
    from spikelut.datasets import encode_dataset
    from spikelut.train import Trainer, TrainConfig
    from spikelut.train.trainer import holdout

    sd = encode_dataset("mnist1d", "thermometer", 40, split="train", seed=0, levels=32,
                        limit=args.limit)
    train, val = holdout(sd.spikes, sd.labels, 0.125, seed=0)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes:
        for variant in args.variants:
            wiring, over = VARIANTS[variant]
            net = build_network(parse_config(TEMPLATE.format(seed=args.seed, front=size, rec=size,
                                                             wiring=wiring)))
            cfg = TrainConfig.from_dict({"epochs": args.epochs, "batch_size": 25, "lr": 0.01,
                                         "keep": "best", "backend": args.backend,
                                         "seed": args.seed, **over})
            t0 = time.perf_counter()
            tr = Trainer(net, cfg, progress=False)
            res = tr.fit(train, val)
            kept = res.history[res.kept_epoch - 1]
            row = {"variant": variant, "luts": res.net.n_nodes, "flip_flops": res.net.flip_flops(),
                   "kept_epoch": res.kept_epoch, "train_acc": kept["acc"],
                   "val_acc": kept["val_acc"], "best_val_acc": max(r["val_acc"] for r in res.history),
                   "swapped": sum(sum(r.get("rewired", [0])) for r in res.history),
                   "time_s": round(time.perf_counter() - t0, 1), "epochs": args.epochs,
                   "train_samples": int(train[0].shape[1]), "val_samples": int(val[0].shape[1])}
            rows.append(row)
            with open(args.out / "results.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), file=sys.stderr, flush=True)
    print("| variant | LUTs | flip-flops | train acc | val acc (kept) | taps swapped | time s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['luts']} | {r['flip_flops']} | {r['train_acc']:.3f} | "
              f"{r['val_acc']:.3f} | {r['swapped']} | {r['time_s']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
