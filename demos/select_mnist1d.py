"""How the MNIST-1D demo config was chosen: variants trained on 3,500 training samples and compared
on the other 500 (the last 500 of the training split), never on the test set.

Each variant is the demo network ``demos/train_mnist1d.toml`` with a few changes (see
``VARIANTS``); ``base`` is the earlier demo (one front layer). The data is the demo's: MNIST-1D,
one value per cycle, 32-level thermometer. Results (validation accuracy of the last epoch, train
accuracy, LUTs, seconds) are appended to ``<out>/select.jsonl`` and printed. Run from the
repository root, one variant per core:

    NUMBA_NUM_THREADS=1 nice -n 10 python demos/select_mnist1d.py base two_front --out runs/select
    python demos/select_mnist1d.py --list
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
N_VAL = 500


def _layer(cfg: dict, name: str) -> dict:
    return next(layer for layer in cfg["layers"] if layer["name"] == name)


def _one_front(cfg: dict) -> None:
    """The earlier demo: no front2, the recurrent layer reads the front layer."""
    cfg["layers"] = [layer for layer in cfg["layers"] if layer["name"] != "front2"]
    _layer(cfg, "rec")["taps"][0]["from"] = "front"


def _train(**kw) -> Callable[[dict], None]:
    return lambda cfg: cfg["train"].update(kw)


def _chain(*fs: Callable[[dict], None]) -> Callable[[dict], None]:
    def apply(cfg: dict) -> None:
        for f in fs:
            f(cfg)
    return apply


def _set(layer: str, **kw) -> Callable[[dict], None]:
    return lambda cfg: _layer(cfg, layer).update(kw)


def _front2_delays(d: list[int]) -> Callable[[dict], None]:
    return lambda cfg: _layer(cfg, "front2")["taps"][0].update(delay=d)


def _local_front(cfg: dict) -> None:
    _layer(cfg, "front")["taps"][0].update(wiring="local", window=8)


def _pulse_only(cfg: dict) -> None:
    for layer in cfg["layers"]:
        layer["refractory"] = 1


def _own_delay2(cfg: dict) -> None:
    _layer(cfg, "rec")["taps"][1:] = [{"from": "self", "count": 2, "delay": [1, 2]},
                                      {"from": "own", "delay": 2}]


#: name -> (what changes from the demo config, the change)
VARIANTS: dict[str, tuple[str, Callable[[dict], None]]] = {
    "base": ("earlier demo: one front layer, 20 epochs, batch 50",
             _chain(_one_front, _train(epochs=20, batch_size=50))),
    "two_front": ("front2 at delays 0..5, 20 epochs, batch 50", _train(epochs=20, batch_size=50)),
    "dilated": ("front2 at delays 0, 2, .., 10, 20 epochs, batch 50",
                _chain(_front2_delays([0, 2, 4, 6, 8, 10]), _train(epochs=20, batch_size=50))),
    "local": ("front wired locally over 8 levels, 20 epochs, batch 50",
              _chain(_local_front, _train(epochs=20, batch_size=50))),
    "out500": ("500 readout nodes, 20 epochs, batch 50",
               _chain(_set("out", nodes=500), _train(epochs=20, batch_size=50))),
    "e40": ("40 epochs, batch 50", _train(epochs=40, batch_size=50)),
    "e60": ("60 epochs, batch 50", _train(epochs=60, batch_size=50)),
    "wide_e40": ("front and front2 of 2,048, 40 epochs, batch 50",
                 _chain(_set("front", nodes=2048), _set("front2", nodes=2048),
                        _train(epochs=40, batch_size=50))),
    "b25": ("40 epochs, batch 25 (the demo)", _train(epochs=40, batch_size=25)),
    "b10": ("40 epochs, batch 10", _train(epochs=40, batch_size=10)),
    # the open problem of DESIGN.md section 8: pulse-only networks (R = 1 in every layer)
    "pulse": ("R = 1 in every layer, 20 epochs, batch 50",
              _chain(_pulse_only, _train(epochs=20, batch_size=50))),
    "pulse_own2": ("R = 1 everywhere, recurrent taps self at delays 1, 2 + own output at delay 2",
                   _chain(_pulse_only, _own_delay2, _train(epochs=20, batch_size=50))),
}


def variant_config(name: str) -> dict:
    """The demo config with variant ``name`` applied."""
    from spikelut.config import load_config

    cfg = copy.deepcopy(load_config(HERE / "train_mnist1d.toml"))
    VARIANTS[name][1](cfg)
    return cfg


def run_variant(name: str, x, y) -> dict:
    from spikelut.config import build_network
    from spikelut.train import Trainer, TrainConfig

    cfg = variant_config(name)
    net = build_network(cfg)
    tcfg = TrainConfig.from_dict(cfg["train"], seed=cfg["seed"])
    t0 = time.perf_counter()
    trainer = Trainer(net, tcfg, progress=False)
    res = trainer.fit((x[:, :-N_VAL], y[:-N_VAL]), (x[:, -N_VAL:], y[-N_VAL:]))
    last = res.history[-1]
    return {"variant": name, "what": VARIANTS[name][0], "val_acc": last["val_acc"],
            "train_acc": last["acc"], "luts": net.n_nodes, "epochs": len(res.history),
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("variants", nargs="*", help="variant names (see --list)")
    p.add_argument("--out", default="runs/select", help="folder for select.jsonl")
    p.add_argument("--list", action="store_true", help="list the variants and exit")
    args = p.parse_args(argv)
    if args.list or not args.variants:
        for name, (what, _) in VARIANTS.items():
            print(f"{name:10s} {what}")
        return 0
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        print(f"select_mnist1d: error: unknown variant {unknown[0]!r}; choose from "
              f"{', '.join(VARIANTS)}", file=sys.stderr)
        return 1
    from spikelut.datasets import encode_dataset

    sd = encode_dataset("mnist1d", "thermometer", 40, split="train", seed=0, levels=32)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.variants:
        r = run_variant(name, sd.spikes, sd.labels)
        with open(out / "select.jsonl", "a") as f:  # one line per finished run; a log, not state
            f.write(json.dumps(r) + "\n")
        print(f"{name}: val acc {r['val_acc']:.3f} (train {r['train_acc']:.3f}), {r['luts']} LUTs, "
              f"{r['seconds']} s", flush=True)
    return 0


if __name__ == "__main__":
    import sys as _sys
    from pathlib import Path as _Path

    _sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))  # demos.* when run as a script
    from demos._script import run_main

    run_main(main)  # bad input: one line and status 1, as the spikelut command does
