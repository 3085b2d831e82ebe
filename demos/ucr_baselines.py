"""Baselines on the UCR/UEA sets aeon ships, on the official splits: 1-NN Euclidean, 1-NN DTW (full
window) and MiniRocket, computed with aeon; and ``select``: architecture variants of a spikelut
config scored on a seeded holdout of the TRAINING split (never the test split).

Usage:
    python demos/ucr_baselines.py baselines GunPoint ItalyPowerDemand --json out.json
    python demos/ucr_baselines.py select demos/run_gunpoint.toml --variant nodes=64 --variant nodes=256
    python demos/ucr_baselines.py thresholds ACSF1 --levels 16     # [coding] thresholds line

Each baseline reads the series exactly as aeon's loader gives them (the archive's own values;
aeon's classifiers need no further scaling). MiniRocket needs equal lengths: on the two
variable-length sets it is fed aeon's ``_eq`` versions and marked so. Needs ``spikelut[ucr]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import numpy as np

from spikelut import ucr
from spikelut.errors import SpikelutError

PUBLISHED = {
    # UCR 2018 archive summary table (Dau et al., "The UCR Time Series Archive", 2018;
    # www.cs.ucr.edu/~eamonn/time_series_data_2018/): 1 - error rate, ED and DTW (full window)
    "GunPoint": {"ed": 0.913, "dtw": 0.907},
    "ItalyPowerDemand": {"ed": 0.955, "dtw": 0.950},
    "ArrowHead": {"ed": 0.800, "dtw": 0.703},
    "OSULeaf": {"ed": 0.521, "dtw": 0.591},
}
"""Published accuracies quoted in docs/ucr.md (only those whose source is certain)."""


def _load(name: str, split: str):
    from aeon.datasets import load_from_ts_file

    f = ucr.SETS[name]
    X, y = load_from_ts_file(str(ucr.aeon_data_dir(name) / f.folder / f"{f.file}_{split.upper()}.ts"))
    return X, np.asarray(y).astype(str)


def baselines(name: str, which: tuple[str, ...] = ("ed", "dtw", "minirocket")) -> dict:
    """Test accuracy and seconds (fit + predict) of each baseline on ``name``'s official split."""
    from aeon.classification.convolution_based import MiniRocketClassifier
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier

    Xtr, ytr = _load(name, "train")
    Xte, yte = _load(name, "test")
    out: dict = {"dataset": name}
    for b in which:
        Xa, Xb, note = Xtr, Xte, ""
        if b == "ed":
            clf = KNeighborsTimeSeriesClassifier(distance="euclidean", n_neighbors=1)
            if isinstance(Xa, list):  # Euclidean needs equal lengths: the _eq version
                Xa, _ = _load(name + "_eq", "train")
                Xb, _ = _load(name + "_eq", "test")
                note = "_eq"
        elif b == "dtw":
            clf = KNeighborsTimeSeriesClassifier(distance="dtw", n_neighbors=1)
        else:
            clf = MiniRocketClassifier(random_state=0)
            if isinstance(Xa, list):
                Xa, _ = _load(name + "_eq", "train")
                Xb, _ = _load(name + "_eq", "test")
                note = "_eq"
        t = time.perf_counter()
        clf.fit(Xa, ytr)
        acc = float((clf.predict(Xb) == yte).mean())
        out[b] = {"acc": acc, "seconds": round(time.perf_counter() - t, 2), "note": note}
        print(f"{name:24s} {b:10s} {acc:.3f} {out[b]['seconds']:8.1f}s {note}", flush=True)
    return out


#: one-word keys that name the config's own top-level value, not the first layer's
TOP_KEYS = ("seed",)
#: the config's tables a variant may set a key of (created when the config has none)
TABLES = ("train", "data", "coding", "readout", "rtl", "run")


def _set(cfg: dict, assignment: str) -> None:
    """``nodes=64`` (first layer), ``seed=1`` (the network's wiring seed), ``out.nodes=16``,
    ``train.epochs=40``, ``coding.levels=8``; ``coding.levels=null`` removes the key.

    Raises:
        SystemExit: the assignment has no ``=`` or names no layer or table of the config.

    Example:
        >>> cfg = {"seed": 0, "layers": [{"name": "front", "nodes": 8}], "train": {}}
        >>> _set(cfg, "seed=2"); _set(cfg, "nodes=16"); _set(cfg, "train.epochs=40")
        >>> cfg["seed"], cfg["layers"][0]["nodes"], cfg["train"]["epochs"]
        (2, 16, 40)
    """
    key, eq, value = assignment.partition("=")
    parts = key.split(".")
    layers = {L["name"]: L for L in cfg["layers"]}
    if len(parts) == 1:
        target = cfg if key in TOP_KEYS else cfg["layers"][0]
    elif parts[0] in layers:
        target = layers[parts[0]]
    else:
        target = cfg.setdefault(parts[0], {}) if parts[0] in TABLES else cfg.get(parts[0])
    if not eq or not key or len(parts) > 2 or not isinstance(target, dict):
        raise SystemExit(f"ucr_baselines: error: variant part {assignment!r}: expected KEY=VALUE "
                         f"with KEY a first-layer key, {', '.join(TOP_KEYS)}, or SECTION.KEY with "
                         f"SECTION a layer name or a table of the config")
    if value == "null":
        target.pop(parts[-1], None)
    else:
        target[parts[-1]] = (json.loads(value) if value[:1] in "[{0123456789-tf"
                             or value in ("true", "false") else value)


def _split(variant: str) -> list[str]:
    """``a=1,b=[1,2]`` -> ``["a=1", "b=[1,2]"]``: commas inside brackets stay.

    Example:
        >>> _split('front.nodes=64,front.taps=[{"delay":[0,2]}]')
        ['front.nodes=64', 'front.taps=[{"delay":[0,2]}]']
    """
    out, depth, cur = [], 0, ""
    for ch in variant:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [a for a in out + [cur] if a]


def select(config: str, variants: list[str], val_fraction: float = 0.25, folds: int = 1) -> list[dict]:
    """Train the config and each variant (``a=1,b=2`` per variant) on the training split minus a
    seeded holdout (``folds`` holdouts, seeds 0 .. folds-1, averaged); report train and validation
    accuracy at the last epoch and at the best-validation epoch (with ``train.ensemble=M``: the
    merged circuit's, both "last" and "best", and each member's own validation accuracy,
    ``member_val_acc``, with their mean). The test split is never read."""
    from spikelut.api import evaluate
    from spikelut.config import build_network, load_config
    from spikelut.datasets import encode_dataset
    from spikelut.ensemble import train_ensemble
    from spikelut.pipeline import RunSettings
    from spikelut.train.config import TrainConfig
    from spikelut.train.trainer import Trainer, holdout

    base = load_config(config)
    rows = []
    for var in [""] + variants:
        cfg = copy.deepcopy(base)
        for a in _split(var):
            _set(cfg, a)
        s = RunSettings.from_config(cfg)
        sd = encode_dataset(s.dataset, s.coding, s.steps, split="train", seed=s.data_seed,
                            **s.encode_args())
        cfg["inputs"] = int(sd.spikes.shape[2])
        t = time.perf_counter()
        last_tr, last_va, best_va, member_va = [], [], [], []
        fold = 0  # a [train] table refused before the first fold is reported as fold 0's error
        try:
            tcfg = TrainConfig.from_dict(cfg.get("train"), seed=cfg.get("seed", 0))
            for fold in range(folds):
                (x, y), val = holdout(sd.spikes, sd.labels, val_fraction, fold)
                if tcfg.ensemble > 1:
                    # train.ensemble=M: the merged circuit's accuracy (no per-epoch history)
                    ens = train_ensemble(cfg, (x, y), val)
                    net = ens.net
                    last_tr.append(ens.train_acc)
                    last_va.append(ens.val_acc)
                    best_va.append(ens.val_acc)
                    member_va.append([evaluate(n, val[0], val[1]).accuracy for n in ens.member_nets])
                    continue
                net = build_network(cfg)
                res = Trainer(net, tcfg, progress=False).fit((x, y), val)
                last_tr.append(res.history[-1]["acc"])
                last_va.append(res.history[-1]["val_acc"])
                best_va.append(max(r["val_acc"] for r in res.history))
        except SpikelutError as e:      # e.g. a relaxation diverging: report it, go on with the rest
            row = {"variant": var or "(config)", "error": str(e), "fold": fold,
                   "seconds": round(time.perf_counter() - t, 1)}
            print(json.dumps(row), flush=True)
            rows.append(row)
            continue
        row = {"variant": var or "(config)", "luts": net.n_nodes, "folds": folds,
               "train_acc_last": round(float(np.mean(last_tr)), 4),
               "val_acc_last": round(float(np.mean(last_va)), 4),
               "val_acc_best": round(float(np.mean(best_va)), 4),
               "seconds": round(time.perf_counter() - t, 1)}
        if member_va:  # each member alone, averaged over folds: what the ensemble adds to one
            row["member_val_acc"] = [round(float(v), 4) for v in np.mean(member_va, axis=0)]
            row["member_val_mean"] = round(float(np.mean(member_va)), 4)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("baselines")
    b.add_argument("datasets", nargs="*", default=[n for n in ucr.NAMES if not n.endswith("_eq")])
    b.add_argument("--only", default="ed,dtw,minirocket")
    b.add_argument("--json")
    s = sub.add_parser("select")
    s.add_argument("config")
    s.add_argument("--variant", action="append", default=[])
    s.add_argument("--val-fraction", type=float, default=0.25)
    s.add_argument("--folds", type=int, default=1, help="repeated holdouts (seeds 0 .. N-1)")
    t = sub.add_parser("thresholds", help="thermometer thresholds at the training split's quantiles")
    t.add_argument("dataset")
    t.add_argument("--levels", type=int, default=16)
    a = p.parse_args(argv)
    if a.cmd == "thresholds":
        th = ucr.quantile_thresholds(a.dataset, a.levels)
        print(f"thresholds = [{', '.join(repr(v) for v in th)}]")
    elif a.cmd == "baselines":
        rows = [baselines(ucr.canonical(n), tuple(a.only.split(","))) for n in a.datasets]
        if a.json:
            with open(a.json, "w") as f:
                json.dump(rows, f, indent=1)
    else:
        select(a.config, a.variant, a.val_fraction, a.folds)


if __name__ == "__main__":
    import sys as _sys
    from pathlib import Path as _Path

    _sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))  # demos.* when run as a script
    from demos._script import run_main

    run_main(main)  # bad input: one line and status 1, as the spikelut command does
