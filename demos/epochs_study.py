"""Epochs to accuracy of the MNIST-1D demo network under [train] variants (docs/epochs.md).

Each variant is the demo config ``demos/train_mnist1d.toml`` (4,296 LUT6) with its ``[train]``
table updated by a JSON object; it trains on the first 3,500 training samples and is scored on the
last 500 of the training split after every epoch (as ``demos/select_mnist1d.py``), never on the
test set. One JSON line per epoch goes to ``<out>/epochs.jsonl``: variant, epoch, lr of the
epoch's first step, train accuracy, validation accuracy, seconds of the epoch's training and the
summed seconds so far. Run from the repository root, one study at a time:

    NUMBA_NUM_THREADS=1 nice -n 10 python demos/epochs_study.py \\
        'cos8={"epochs": 8}' 'onecycle8={"epochs": 8, "schedule": "onecycle", "lr": 0.03}' \\
        --out runs/epochs

``--test`` also scores the final model of each variant on the test split (for the chosen
variant only: choosing on it would make the test accuracy dishonest); ``--save`` writes each
variant's final model to ``<out>/<variant>.h5``, to score only the chosen one afterwards.

``--preset init`` adds the initialisation screening of docs/epochs.md (section
"Initialisation"): ``init = "normal"`` at ``init_std`` 0.001 (the baseline) and 0.1 (the demo's),
``init = "residual"`` and ``init = "data"`` at several strengths, 8 epochs each. The first epoch's
line also holds ``setup_seconds``: the time from the start of ``fit`` to the first step (the data
initialisation's passes), counted in ``total_seconds``.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
N_VAL = 500
PRESETS = {
    "init": [
        ("std0001", {"epochs": 8, "init_std": 0.001}),
        ("data_s001", {"epochs": 8, "init": "data", "init_std": 0.01}),
        ("res_s001", {"epochs": 8, "init": "residual", "init_std": 0.01}),
        ("data_s003", {"epochs": 8, "init": "data", "init_std": 0.03}),
        ("data_s01", {"epochs": 8, "init": "data", "init_std": 0.1}),
        ("res_s01", {"epochs": 8, "init": "residual", "init_std": 0.1}),
        ("data_s0001", {"epochs": 8, "init": "data", "init_std": 0.001}),
        ("std01", {"epochs": 8}),
    ],
}
"""Named lists of variants (``--preset NAME``), run after the ones given on the command line."""


def parse_variant(spec: str) -> tuple[str, dict]:
    """``name={"key": value, ...}`` -> ``(name, {...})``."""
    name, sep, text = spec.partition("=")
    if not sep or not name:
        raise SystemExit(f"epochs_study: error: variant {spec!r}: expected NAME=JSON")
    try:
        upd = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as e:
        raise SystemExit(f"epochs_study: error: variant {name!r}: bad JSON ({e})") from None
    if not isinstance(upd, dict):
        raise SystemExit(f"epochs_study: error: variant {name!r}: expected a JSON object")
    return name, upd


def run_variant(name: str, upd: dict, x, y, out: Path, test=None, save: bool = False) -> dict:
    from spikelut.config import build_network, load_config
    from spikelut.train import Trainer, TrainConfig

    cfg = copy.deepcopy(load_config(HERE / "train_mnist1d.toml"))
    cfg["train"].update(upd)
    cfg["train"]["backend"] = "numba"
    net = build_network(cfg)
    tcfg = TrainConfig.from_dict(cfg["train"], seed=cfg["seed"])
    total = [0.0]
    start = [0.0]

    def on_epoch(trainer, rec: dict) -> None:
        setup = None
        if rec["epoch"] == 1:  # fit's set-up before the first step (init = "data": its passes)
            setup = max(0.0, time.perf_counter() - start[0] - rec["time"])
            total[0] += setup
        total[0] += rec["time"]
        line = {"variant": name, "train": upd, "epoch": rec["epoch"], "lr": rec["lr"],
                "train_acc": rec["acc"], "val_acc": rec["val_acc"], "seconds": round(rec["time"], 2),
                "total_seconds": round(total[0], 1)}
        if setup is not None:
            line["setup_seconds"] = round(setup, 2)
        with open(out / "epochs.jsonl", "a") as f:  # a log of finished epochs, not state
            f.write(json.dumps(line) + "\n")
        print(f"{name} epoch {rec['epoch']}: lr {rec['lr']:.4g} train {rec['acc']:.3f} "
              f"val {rec['val_acc']:.3f} ({rec['time']:.1f} s, {total[0]:.0f} s)", flush=True)

    trainer = Trainer(net, tcfg, progress=False)
    start[0] = time.perf_counter()
    res = trainer.fit((x[:, :-N_VAL], y[:-N_VAL]), (x[:, -N_VAL:], y[-N_VAL:]), callback=on_epoch)
    last = res.history[-1]
    r = {"variant": name, "train": upd, "val_acc": last["val_acc"], "train_acc": last["acc"],
         "epochs": len(res.history), "seconds": round(total[0], 1)}
    if save:  # the last epoch's model (keep = "last" in the demo), to score the chosen one later
        from spikelut.io import save_model

        save_model(res.net, out / f"{name}.h5")
    if test is not None:
        r["test_acc"] = trainer.evaluate(*test).acc
        print(f"{name}: test acc of the last epoch {r['test_acc']:.4f}", flush=True)
    with open(out / "final.jsonl", "a") as f:
        f.write(json.dumps(r) + "\n")
    return r


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("variants", nargs="*", help='NAME=JSON, e.g. cos8=\'{"epochs": 8}\'')
    p.add_argument("--preset", action="append", default=[], choices=sorted(PRESETS),
                   help="add a named list of variants (init: the initialisation screening)")
    p.add_argument("--out", default="runs/epochs", help="folder for epochs.jsonl / final.jsonl")
    p.add_argument("--test", action="store_true", help="also score the final model on the test split")
    p.add_argument("--save", action="store_true", help="write each variant's final model to "
                                                        "<out>/<variant>.h5")
    p.add_argument("--score-test", default=None, metavar="MODEL.h5",
                   help="only score a saved model (the chosen one) on the test split and exit")
    args = p.parse_args(argv)
    if args.score_test is not None:
        from spikelut.api import evaluate
        from spikelut.datasets import encode_dataset
        from spikelut.io import load_model

        td = encode_dataset("mnist1d", "thermometer", 40, split="test", seed=0, levels=32)
        acc = evaluate(load_model(args.score_test), td.spikes, td.labels).accuracy
        print(f"{args.score_test}: test acc {acc:.4f} ({td.spikes.shape[1]} samples)", flush=True)
        return 0
    variants = [parse_variant(v) for v in args.variants]
    for preset in args.preset:
        variants += PRESETS[preset]
    if not variants:
        p.error("give variants (NAME=JSON) or --preset")
    from spikelut.datasets import encode_dataset

    sd = encode_dataset("mnist1d", "thermometer", 40, split="train", seed=0, levels=32)
    test = None
    if args.test:
        td = encode_dataset("mnist1d", "thermometer", 40, split="test", seed=0, levels=32)
        test = (td.spikes, td.labels)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, upd in variants:
        run_variant(name, upd, sd.spikes, sd.labels, out, test, args.save)
    return 0


if __name__ == "__main__":
    import sys as _sys
    from pathlib import Path as _Path

    _sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))  # demos.* when run as a script
    from demos._script import run_main

    run_main(main)  # bad input: one line and status 1, as the spikelut command does
