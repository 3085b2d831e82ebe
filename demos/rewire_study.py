"""Wiring study (docs/rewiring.md): random vs serial vs label-guided vs rewired vs learnable delays
vs free-form rewiring, at the same LUT counts, on MNIST-1D, MNIST-5k and UCR sets.

A network "front" (k = 6 from the input at 6 delays) -> "rec" (3 taps from front, 3 from its own
layer at delay 1) -> a voting readout (10 nodes per class). Per ``--dataset``:

* ``mnist1d``: one value per cycle (40 cycles), 32-level thermometer, input delays 0..5, 100
  readout nodes, batch 25, lr 0.01, rewiring every 35 steps, delays learned in [0, 7];
* ``mnist1d_diff``: the same with the code's lag-1 difference channels (64 inputs; the
  difference scale from the training part used);
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
    NUMBA_NUM_THREADS=1 nice -n 10 python demos/rewire_study.py --sizes 18 64 128 256 --epochs 15 \\
        --limit 4000 --seeds 0 1 2 --variants random rewired_f10 serial \\
        --define probe8 random '{"rewire_every": 35, "rewire_fraction": 0.1, "rewire_candidates": 8}'
Writes <out>/results.jsonl (one line per run) and prints a Markdown table; with several
``--seeds`` also the mean and spread per variant and size and the difference to ``random`` of the
same seed, and with several ``--sizes`` the LUT count ``random`` needs (interpolated) for each
variant's accuracy. ``--define NAME WIRING JSON`` adds a variant (``[train]`` overrides; the key
``epochs`` overrides ``--epochs``; ``rewire_every`` is in MNIST-1D's steps, as for the built-in
variants).
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
    # the same code plus its lag-1 difference channels (spikelut encode --differences 1): 64 inputs
    "mnist1d_diff": dict(coding=("thermometer", 40, {"levels": 32}), inputs=64, name="mnist1d",
                         differences=[1], delays=[0, 1, 2, 3, 4, 5], out=100, classes=10, batch=25,
                         lr=0.01, every=35, delay_range=[0, 7], val=0.125),
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
    "rewired_delays": ("random", {**REWIRE, "rewire_delays": "dataset"}),
    "rewired_free": ("random", {**REWIRE, "rewire_sources": "free"}),
    "serial_probe": ("serial", {**REWIRE, "rewire_candidates": 4}),
    # less churn: once per epoch of 140 steps, 5 % (annealed), best of 4 probe-scored candidates
    "probe_epochly": ("random", {"rewire_every": 140, "rewire_fraction": 0.05,
                                 "rewire_candidates": 4}),
    # session c: 10 % (annealed) every 35 steps, one random candidate (the [train] defaults but
    # for rewire_every; the rewire demo until session k), from random and from serial wiring
    "rewired_f10": ("random", {"rewire_every": 35, "rewire_fraction": 0.1}),
    "serial_f10": ("serial", {"rewire_every": 35, "rewire_fraction": 0.1}),
    "probe8_f10": ("random", {"rewire_every": 35, "rewire_fraction": 0.1, "rewire_candidates": 8}),
    # regrowth by the gradient over every candidate of the slot (session k; grad_f10 is
    # demos/train_mnist1d_rewire.toml), from random and from serial wiring
    "grad_f10": ("random", {"rewire_every": 35, "rewire_fraction": 0.1,
                            "rewire_regrow": "gradient"}),
    "serial_grad_f10": ("serial", {"rewire_every": 35, "rewire_fraction": 0.1,
                                   "rewire_regrow": "gradient"}),
    # learnable delays with regrowth by the gradient, and their control: the same delay range
    # drawn at random once (no rewiring)
    "grad_delays": ("random", {"rewire_every": 35, "rewire_fraction": 0.1,
                               "rewire_regrow": "gradient", "rewire_delays": "dataset"}),
    "grad_delays_ff": ("random", {"rewire_every": 35, "rewire_fraction": 0.1,
                                  "rewire_regrow": "gradient", "rewire_delays": "dataset",
                                  "rewire_ff_penalty": 0.01}),
    "random_delays": ("random", {"random_delays": "dataset"}),
    # the same with the probe pass's plain split score (the default before the centered one)
    "grad_f10_split": ("random", {"rewire_every": 35, "rewire_fraction": 0.1,
                                  "rewire_regrow": "gradient", "rewire_score": "split"}),
    "grad_delays_split": ("random", {"rewire_every": 35, "rewire_fraction": 0.1,
                                     "rewire_regrow": "gradient", "rewire_delays": "dataset",
                                     "rewire_score": "split"}),
    "grad_delays_ff_split": ("random", {"rewire_every": 35, "rewire_fraction": 0.1,
                                        "rewire_regrow": "gradient", "rewire_delays": "dataset",
                                        "rewire_ff_penalty": 0.01, "rewire_score": "split"}),
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


def summary(rows: list[dict]) -> str:
    """Markdown table over seeds: per variant and LUT count the mean and sample standard deviation
    of the validation and train accuracy, and the mean and range of the paired difference to
    ``random`` (same seed, same size) where that was run.

    Example:
        >>> rows = [dict(variant=v, luts=228, seed=s, val_acc=a, train_acc=a)
        ...         for v, s, a in [("random", 0, 0.70), ("random", 1, 0.72),
        ...                         ("rewired", 0, 0.73), ("rewired", 1, 0.74)]]
        >>> print(summary(rows).splitlines()[-1])
        | rewired | 228 | 2 | 73.5 ± 0.7 | 73.5 ± 0.7 | +2.5 (+2.0 .. +3.0) |
    """
    base = {(r["luts"], r["seed"]): r["val_acc"] for r in rows if r["variant"] == "random"}
    out = ["| variant | LUTs | seeds | val acc % (mean ± sd) | train acc % | vs random, same seed "
           "(mean, min .. max) |", "|---|---|---|---|---|---|"]
    groups: dict[tuple[str, int], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["variant"], r["luts"]), []).append(r)
    for (variant, luts), rs in groups.items():
        v = 100 * np.array([r["val_acc"] for r in rs])
        t = 100 * np.array([r["train_acc"] for r in rs])
        sd = lambda a: f"{a.mean():.1f} ± {a.std(ddof=1) if a.size > 1 else 0.0:.1f}"  # noqa: E731
        d = [100 * (r["val_acc"] - base[luts, r["seed"]]) for r in rs if (luts, r["seed"]) in base]
        diff = (f"{np.mean(d):+.1f} ({min(d):+.1f} .. {max(d):+.1f})"
                if d and variant != "random" else "")
        out.append(f"| {variant} | {luts} | {len(rs)} | {sd(v)} | {sd(t)} | {diff} |")
    return "\n".join(out)


def luts_to_match(rows: list[dict], variant: str, base: str = "random") -> str:
    """Markdown table: for each LUT count of ``variant``, the LUT count ``base`` needs for the same
    mean validation accuracy (over seeds), linearly interpolated on ``base``'s curve of mean
    accuracy against LUTs (made non-decreasing: the fewest LUTs at which ``base`` reached it),
    and the ratio of the two.

    Example:
        >>> rows = [dict(variant=v, luts=n, seed=0, val_acc=a) for v, n, a in
        ...         [("random", 100, 0.60), ("random", 200, 0.70), ("rewired", 100, 0.65)]]
        >>> print(luts_to_match(rows, "rewired").splitlines()[-1])
        | rewired | 100 | 65.0 | 150 | 67% |
    """
    def curve(name: str) -> tuple[np.ndarray, np.ndarray]:
        by: dict[int, list[float]] = {}
        for r in rows:
            if r["variant"] == name:
                by.setdefault(r["luts"], []).append(100 * r["val_acc"])
        n = np.array(sorted(by), float)
        return n, np.array([np.mean(by[int(k)]) for k in n])

    bn, ba = curve(base)
    ba = np.maximum.accumulate(ba)
    out = [f"| variant | LUTs | val acc % | LUTs {base} needs | ratio |", "|---|---|---|---|---|"]
    for n, a in zip(*curve(variant)):
        if bn.size == 0:
            need = "(no curve)"
        elif a > ba[-1]:
            need = f"> {bn[-1]:.0f}"
        elif a <= ba[0]:
            need = f"<= {bn[0]:.0f}"
        else:
            j = int(np.argmax(ba >= a))  # first point at or above a; ba[j - 1] < a
            need = f"{bn[j - 1] + (a - ba[j - 1]) / (ba[j] - ba[j - 1]) * (bn[j] - bn[j - 1]):.0f}"
        ratio = (f"{100 * n / float(need):.0f}%" if need[0].isdigit()
                 else f"< {100 * n / bn[-1]:.0f}%" if need[0] == ">" else "")
        out.append(f"| {variant} | {n:.0f} | {a:.1f} | {need} | {ratio} |")
    return "\n".join(out)


def random_delays(net, delay_range, seed: int):
    """``net`` with every tap given a delay drawn uniformly from ``delay_range = [lo, hi]``
    (seeded; a tap of this or a later layer from ``[max(lo, 1), hi]``, DESIGN.md section 2): the
    control for learnable delays (variant key ``"random_delays"``: the same delays available,
    drawn once instead of learned).

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=4, sizes=[3, 2], k=2, max_delay=1)
        >>> new = random_delays(net, [0, 5], 0)
        >>> [bool(((l.delay >= 0) & (l.delay <= 5)).all()) for l in new.layers]
        [True, True]
    """
    rng = np.random.default_rng([seed, 0xDE1A])
    layers = []
    for i, layer in enumerate(net.layers):
        lo = np.where(layer.source >= i, max(1, delay_range[0]), delay_range[0])
        d = lo + (rng.random(layer.delay.shape) * (delay_range[1] + 1 - lo)).astype(np.int64)
        layers.append(layer.replace(delay=d))
    return net.replace(layers=layers)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dataset", choices=list(DATASETS), default="mnist1d")
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256],
                    help="nodes of front and of rec (LUTs = 2 * size + readout nodes)")
    ap.add_argument("--variants", nargs="+", default=None,
                    help=f"variants to run (default: all of {', '.join(VARIANTS)})")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--limit", type=int, default=2000,
                    help="training samples used (MNIST sets: of 4,000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="several seeds, one run per seed, variant and size (overrides --seed)")
    ap.add_argument("--define", nargs=3, action="append", default=[],
                    metavar=("NAME", "WIRING", "JSON"),
                    help="an extra variant: config wiring (random/serial) and [train] overrides "
                         "as a JSON object, e.g. --define fast random '{\"rewire_every\": 35}'; "
                         "add its NAME to --variants (or it runs after them)")
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--teacher-epochs", type=int, default=3,
                    help="guided_teacher: epochs of its teacher (CNN for 40 cycles, else GRU)")
    ap.add_argument("--out", type=Path, default=Path("runs/rewire_study"))
    args = ap.parse_args(argv)

    from spikelut.config import build_network, parse_config
    from spikelut.datasets import encode_dataset
    from spikelut.train import Trainer, TrainConfig
    from spikelut.train.trainer import holdout

    variants = dict(VARIANTS)
    for name, wiring, over in args.define:
        try:
            extra = json.loads(over)
        except json.JSONDecodeError as e:
            ap.error(f"--define {name}: {over!r} is not a JSON object ({e.msg})")
        if wiring not in ("random", "serial") or not isinstance(extra, dict):
            ap.error(f"--define {name}: wiring must be random or serial and the overrides a JSON "
                     f"object")
        variants[name] = (wiring, extra)
    chosen = args.variants if args.variants is not None else list(VARIANTS)
    chosen += [n for n, _, _ in args.define if n not in chosen]
    unknown = [v for v in chosen if v not in variants]
    if unknown:
        ap.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(variants)} "
                 f"or --define them")
    seeds = args.seeds if args.seeds is not None else [args.seed]

    spec = DATASETS[args.dataset]
    coding, steps, params = spec["coding"]
    name = spec.get("name", args.dataset)
    first = name == "mnist1d"  # MNIST-1D is shuffled: its first samples
    sd = encode_dataset(name, coding, steps, split="train", seed=0,
                        limit=args.limit if first else None,
                        differences=spec.get("differences", ()), **params)
    x, y = sd.spikes, sd.labels
    if not first and args.limit < y.size:  # MNIST-5k is sorted by class: a seeded subset
        keep = np.sort(np.random.default_rng(0).permutation(y.size)[:args.limit])
        x, y = x[:, keep], y[keep]
    train, val = holdout(x, y, spec["val"], seed=0)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in seeds:
        feats = None  # the teacher of this seed
        for size in args.sizes:
            for variant in chosen:
                wiring, over = variants[variant]
                over = dict(over)
                if "rewire_every" in over:  # in units of MNIST-1D's 35 steps
                    over["rewire_every"] = max(1, spec["every"] * over["rewire_every"] // 35)
                if over.get("rewire_delays") == "dataset":
                    over["rewire_delays"] = spec["delay_range"]
                if over.pop("teacher", False) and feats is None:
                    feats = teacher_features_of(train, val, args.teacher_epochs, seed)
                epochs = over.pop("epochs", args.epochs)
                redraw = over.pop("random_delays", None)
                net = build_network(parse_config(TEMPLATE.format(
                    seed=seed, front=size, rec=size, wiring=wiring, inputs=spec["inputs"],
                    delays=spec["delays"], out=spec["out"], classes=spec["classes"])))
                if redraw is not None:  # a control: random input delays, not learned ones
                    net = random_delays(net, spec["delay_range"] if redraw == "dataset"
                                        else redraw, seed)
                cfg = TrainConfig.from_dict({"epochs": epochs, "batch_size": spec["batch"],
                                             "lr": spec["lr"], "keep": "best",
                                             "backend": args.backend, "seed": seed, **over})
                t0 = time.perf_counter()
                tr = Trainer(net, cfg, progress=False)
                res = tr.fit(train, val, teacher=feats if variant == "guided_teacher" else None)
                kept = res.history[res.kept_epoch - 1]
                row = {"dataset": args.dataset, "seed": seed, "variant": variant,
                       "luts": res.net.n_nodes, "flip_flops": res.net.flip_flops(),
                       "kept_epoch": res.kept_epoch, "train_acc": kept["acc"],
                       "val_acc": kept["val_acc"],
                       "best_val_acc": max(r["val_acc"] for r in res.history),
                       "swapped": sum(sum(r.get("rewired", [0])) for r in res.history),
                       "time_s": round(time.perf_counter() - t0, 1), "epochs": epochs,
                       "train_samples": int(train[0].shape[1]),
                       "val_samples": int(val[0].shape[1])}
                rows.append(row)
                with open(args.out / "results.jsonl", "a") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps(row), file=sys.stderr, flush=True)
    print("| dataset | variant | LUTs | flip-flops | train acc | val acc (kept) | taps swapped "
          "| time s | seed |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dataset']} | {r['variant']} | {r['luts']} | {r['flip_flops']} | "
              f"{r['train_acc']:.3f} | {r['val_acc']:.3f} | {r['swapped']} | {r['time_s']} | "
              f"{r['seed']} |")
    if len(seeds) > 1:
        print()
        print(summary(rows))
    if "random" in chosen and len(args.sizes) > 1:
        for variant in chosen:
            if variant != "random":
                print()
                print(luts_to_match(rows, variant))
    return 0


if __name__ == "__main__":
    import sys as _sys
    from pathlib import Path as _Path

    _sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))  # demos.* when run as a script
    from demos._script import run_main

    run_main(main)  # bad input: one line and status 1, as the spikelut command does
