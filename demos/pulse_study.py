"""The pulse-only study (issue 14, docs/pulse.md): variants of a task's demo network trained and
scored on a validation split, never on the test set.

Tasks: ``first_of_two`` (demos/train_first_of_two.toml: the ``spikelut run`` network before it
became pulse-only, i.e. R = 0, 64 + 8 LUT4), ``patterns`` (demos/run_patterns.toml) and ``mnist1d``
(demos/train_mnist1d.toml, a REDUCED budget: the first ``--mnist-train`` training samples, the last
500 of the training split as validation, ``--mnist-epochs`` epochs), and the UCR/UEA sets
``italypowerdemand``, ``gunpoint``, ``basicmotions`` (demos/run_<set>.toml with its coding, one
value per cycle; validation = a seeded 25% holdout of the training split, the test split is never
read; the last epoch is kept). Each variant changes the task's config (see ``VARIANTS``); every
variant has the same LUT count as the task's network, and one that cannot apply to a task's
layers is refused with an error (``VariantError``).
One JSON line per finished run goes to ``<out>/study.jsonl``: validation and train accuracy of the
kept (exact) model, spikes per sample (all layers, validation set), seconds.

    NUMBA_NUM_THREADS=1 nice -n 10 python demos/pulse_study.py first_of_two r0 r1 r1_ramp --out runs/pulse
    NUMBA_NUM_THREADS=1 nice -n 10 python demos/pulse_study.py mnist1d r1_triples_out400_scale2 \
        --mnist-train 3500 --mnist-epochs 8 --out runs/pulse_med    # the medium budget
    NUMBA_NUM_THREADS=1 nice -n 10 python demos/pulse_study.py gunpoint r0 r1 r1_triples r2 r2_triples \
        --seed 0 --out runs/pulse_ucr
    python demos/pulse_study.py --list
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
TASKS = {"first_of_two": "train_first_of_two.toml", "patterns": "run_patterns.toml",
         "mnist1d": "train_mnist1d.toml", "italypowerdemand": "run_italypowerdemand.toml",
         "gunpoint": "run_gunpoint.toml", "basicmotions": "run_basicmotions.toml"}
#: the UCR/UEA tasks (docs/ucr.md): the demo config's network and coding, one value per cycle,
#: validation = a seeded 25% holdout of the TRAINING split (the test split is never read)
UCR = ("italypowerdemand", "gunpoint", "basicmotions")
UCR_VAL_FRACTION = 0.25
#: cycles per sample (the logit scale of ``_logit_x``)
CYCLES = {"first_of_two": 20, "patterns": 20, "mnist1d": 40, "italypowerdemand": 24,
          "gunpoint": 150, "basicmotions": 100}
#: the recurrent layer of each task's network (where memory lives)
REC = {"first_of_two": "mem", "patterns": "mem", "mnist1d": "rec", "italypowerdemand": "rec",
       "gunpoint": "rec", "basicmotions": "mem"}


class VariantError(ValueError):
    """A variant that does not apply to a task's network (raised, never a silent no-op)."""


def _refractory(r: int) -> Callable[[dict, str], None]:
    def apply(cfg: dict, task: str) -> None:
        for layer in cfg["layers"]:
            layer["refractory"] = r
    return apply


def _train(**kw) -> Callable[[dict, str], None]:
    return lambda cfg, task: cfg["train"].update(kw)


def _ramp(cfg: dict, task: str) -> None:
    cfg["train"]["refractory_ramp"] = max(1, cfg["train"]["epochs"] // 3)


def _self_group(cfg: dict, task: str) -> dict:
    rec = _layer(cfg, REC[task])
    for g in rec["taps"]:
        if g["from"] == "self":
            return g
    raise VariantError(f"{task}: layer {rec['name']!r} has no recurrent (from = \"self\") tap group")


def _pair(cfg: dict, task: str) -> None:
    """The recurrent taps read each drawn node at delays 1 and 2 (same channel, two delays)."""
    g = _self_group(cfg, task)
    g.update(delay=[1, 2], same_channel=True)


def _own2(cfg: dict, task: str) -> None:
    """One recurrent tap becomes the node's own output at delay 2 (a period-2 memory loop)."""
    rec = _layer(cfg, REC[task])
    g = _self_group(cfg, task)
    if g.get("count", 1) < 2:
        raise VariantError(f"{task}: the recurrent tap group of {rec['name']!r} has one tap only")
    g["count"] -= 1
    rec["taps"].append({"from": "own", "delay": 2})


def _groups(m: int, only: tuple[str, ...] | None = None) -> Callable[[dict, str], None]:
    """Every tap group reading a layer (not the input, not ``own``) reads each drawn node at ``m``
    neighbouring delays ``d .. d + m - 1``: a pulse train of period ``m`` (R = m - 1 at its maximum
    rate) seen through all of them is a level again. ``only``: in these layers only (default all)."""
    def apply(cfg: dict, task: str) -> None:
        names = [layer["name"] for layer in cfg["layers"]]
        missing = [n for n in only or () if n not in names]
        if missing:
            raise VariantError(f"{task}: the network has no layer {missing[0]!r} (layers: "
                               f"{', '.join(names)})")
        changed = 0
        for layer in cfg["layers"]:
            if only is not None and layer["name"] not in only:
                continue
            for g in layer["taps"]:
                if g["from"] in ("input", "own") or g.get("count", 1) < 2:
                    continue
                later = g["from"] == "self" or names.index(g["from"]) >= names.index(layer["name"])
                d = g.get("delay", 1 if later else 0)
                ds = d if isinstance(d, list) else [d] * g["count"]
                ds = [ds[p % len(ds)] for p in range(g["count"])]
                g["delay"] = [ds[p - p % m] + p % m for p in range(g["count"])]
                g["same_channel"] = m
                changed += 1
        if not changed:
            raise VariantError(f"{task}: no layer-to-layer tap group of two or more taps to read "
                               f"at {m} neighbouring delays")
    return apply


_pairs = _groups(2)


def _layer(cfg: dict, name: str) -> dict:
    for layer in cfg["layers"]:
        if layer["name"] == name:
            return layer
    raise VariantError(f"{cfg.get('name', 'the network')}: no layer {name!r} (layers: "
                       f"{', '.join(layer['name'] for layer in cfg['layers'])})")


def _mix(cfg: dict, task: str) -> None:
    """Triples where the thermometer levels enter (``front`` -> ``front2``), pairs deeper (``rec``,
    ``out``): the deeper LUT6 read three or four signals instead of two, at the same LUT count."""
    _groups(3, ("front2",))(cfg, task)
    _groups(2, ("rec", "out"))(cfg, task)


def _out_k(k: int) -> Callable[[dict, str], None]:
    """The readout layer reads ``k // 3`` ``rec`` signals as triples (LUT with ``k`` inputs: more
    LUT6-equivalents than the demo's LUT6, docs/node-sizes.md)."""
    def apply(cfg: dict, task: str) -> None:
        out = _layer(cfg, "out")
        out["k"] = k
        out["taps"] = [{"from": "rec", "count": k, "delay": [0, 1, 2] * (k // 3), "same_channel": 3}]
    return apply


def _out_nodes(n: int) -> Callable[[dict, str], None]:
    """``n`` readout nodes instead of 200, the recurrent layer shrunk by as many (same LUT count):
    the readout reads more of ``rec``."""
    def apply(cfg: dict, task: str) -> None:
        out, rec = _layer(cfg, "out"), _layer(cfg, "rec")
        rec["nodes"] -= n - out["nodes"]
        out["nodes"] = n
    return apply


def _logit_x(f: float) -> Callable[[dict, str], None]:
    """``logit_scale`` = ``f`` x the default ``4 / (P sqrt(T'))`` of the task's readout."""
    def apply(cfg: dict, task: str) -> None:
        from spikelut.config import build_network
        from spikelut.train.losses import default_logit_scale

        net = build_network(cfg)
        cfg["train"]["logit_scale"] = f * default_logit_scale(net.readout, CYCLES[task])
    return apply


def _chain(*fs: Callable[[dict, str], None]) -> Callable[[dict, str], None]:
    def apply(cfg: dict, task: str) -> None:
        for f in fs:
            f(cfg, task)
    return apply


R1 = _refractory(1)
#: name -> (what it changes, the change); every variant keeps the LUT count
VARIANTS: dict[str, tuple[str, Callable[[dict, str], None]]] = {
    "r0": ("R = 0 (the task's network as it was)", _refractory(0)),
    "r1": ("R = 1 in every layer", R1),
    "r2": ("R = 2 in every layer", _refractory(2)),
    "r1_ramp": ("R = 1, refractory curriculum over the first third of the epochs", _chain(R1, _ramp)),
    "r1_pair": ("R = 1, recurrent taps read each node at delays 1 and 2", _chain(R1, _pair)),
    "r1_own2": ("R = 1, one recurrent tap = own output at delay 2", _chain(R1, _own2)),
    "r1_ttfs": ("R = 1, time-to-first-spike loss", _chain(R1, _train(loss="ttfs"))),
    "r1_cettfs": ("R = 1, count + time-to-first-spike loss", _chain(R1, _train(loss="ce_ttfs"))),
    "r1_own2_ramp": ("R = 1, own output at delay 2, curriculum", _chain(R1, _own2, _ramp)),
    "r1_own2_pair": ("R = 1, own output at delay 2, the other recurrent tap at delays 1, 2",
                     _chain(R1, _own2, _pair)),
    "r1_own2_cettfs": ("R = 1, own output at delay 2, count + first-spike loss",
                       _chain(R1, _own2, _train(loss="ce_ttfs"))),
    "r1_pairs": ("R = 1, every layer-to-layer tap pair reads one node at delays d, d + 1",
                 _chain(R1, _pairs)),
    "r1_pairs_ramp": ("R = 1, pairs at delays d, d + 1, curriculum", _chain(R1, _pairs, _ramp)),
    "r1_pairs_full": ("R = 1, pairs at delays d, d + 1, refractory_grad = full",
                      _chain(R1, _pairs, _train(refractory_grad="full"))),
    "r1_pairs_full_ramp": ("R = 1, pairs at delays d, d + 1, refractory_grad = full, curriculum",
                           _chain(R1, _pairs, _ramp, _train(refractory_grad="full"))),
    "r2_pairs": ("R = 2, pairs at delays d, d + 1", _chain(_refractory(2), _pairs)),
    "r1_triples": ("R = 1, every layer-to-layer tap triple reads one node at delays d, d + 1, d + 2",
                   _chain(R1, _groups(3))),
    "r1_pairs_wide": ("R = 1, pairs at delays d, d + 1, surrogate width 2",
                      _chain(R1, _pairs, _train(width=2.0))),
    "r1_triples_wide": ("R = 1, triples at delays d, d + 1, d + 2, surrogate width 2",
                        _chain(R1, _groups(3), _train(width=2.0))),
    "r1_mix": ("R = 1, triples front -> front2, pairs deeper (rec, out read 3 signals)",
               _chain(R1, _mix)),
    "r1_triples_out9": ("R = 1, triples, readout LUT9 reading 3 rec signals (+1,600 LUT6-eq.)",
                        _chain(R1, _groups(3), _out_k(9))),
    "r1_triples_out400": ("R = 1, triples, 400 readout nodes, 1,848 rec (same LUT count)",
                          _chain(R1, _groups(3), _out_nodes(400))),
    "r1_triples_out600": ("R = 1, triples, 600 readout nodes, 1,648 rec (same LUT count)",
                          _chain(R1, _groups(3), _out_nodes(600))),
    "r1_triples_out400_lr2": ("R = 1, triples, 400 readout nodes, 1,848 rec, lr 0.02",
                              _chain(R1, _groups(3), _out_nodes(400), _train(lr=0.02))),
    "r1_triples_out400_wide": ("R = 1, triples, 400 readout nodes, 1,848 rec, surrogate width 2",
                               _chain(R1, _groups(3), _out_nodes(400), _train(width=2.0))),
    "r1_triples_scale2": ("R = 1, triples, logit_scale twice the default",
                          _chain(R1, _groups(3), _logit_x(2.0))),
    "r1_triples_scale4": ("R = 1, triples, logit_scale 4 x the default",
                          _chain(R1, _groups(3), _logit_x(4.0))),
    "r1_triples_out400_scale2": ("R = 1, triples, 400 readout nodes, 1,848 rec, logit_scale 2 x default",
                                 _chain(R1, _groups(3), _out_nodes(400), _logit_x(2.0))),
    "r1_triples_out400_scale2_lr2": ("R = 1, triples, 400 readout nodes, 1,848 rec, logit_scale "
                                     "2 x default, lr 0.02",
                                     _chain(R1, _groups(3), _out_nodes(400), _logit_x(2.0),
                                            _train(lr=0.02))),
    "r1_triples_out600_scale2_onecycle": ("R = 1, triples, 600 readout nodes, 1,648 rec, logit_scale "
                                          "2 x default, one-cycle schedule to lr 0.03",
                                          _chain(R1, _groups(3), _out_nodes(600), _logit_x(2.0),
                                                 _train(schedule="onecycle", lr=0.03))),
    "r1_triples_out600_scale2_onecycle_residual": (
        "R = 1, triples, 600 readout nodes, 1,648 rec, logit_scale 2 x default, one-cycle to "
        "lr 0.03, residual init (init_noise 0.03)",
        _chain(R1, _groups(3), _out_nodes(600), _logit_x(2.0),
               _train(schedule="onecycle", lr=0.03, init="residual", init_noise=0.03))),
    "r1_triples_lr2": ("R = 1, triples, lr 0.02", _chain(R1, _groups(3), _train(lr=0.02))),
    "r1_triples_ramp": ("R = 1, triples, curriculum", _chain(R1, _groups(3), _ramp)),
    "r1_triples_full": ("R = 1, triples, refractory_grad = full",
                        _chain(R1, _groups(3), _train(refractory_grad="full"))),
    "r2_triples": ("R = 2, every layer-to-layer tap triple reads one node at delays d, d + 1, d + 2",
                   _chain(_refractory(2), _groups(3))),
    "r1_full": ("R = 1, refractory_grad = full", _chain(R1, _train(refractory_grad="full"))),
    "r1_pass": ("R = 1, refractory_grad = pass", _chain(R1, _train(refractory_grad="pass"))),
    "r1_sparse": ("R = 1, firing-rate regularizer toward 0.1 spikes per cycle (rate_reg = 1)",
                  _chain(R1, _train(rate_reg=1.0, rate_target=0.1))),
    "r1_pairs_sparse": ("R = 1, pairs at delays d, d + 1, rate regularizer toward 0.1",
                        _chain(R1, _pairs, _train(rate_reg=1.0, rate_target=0.1))),
    "r1_wide": ("R = 1, surrogate width 2 (wider)", _chain(R1, _train(width=2.0))),
    "r1_own2_full": ("R = 1, own output at delay 2, refractory_grad = full",
                     _chain(R1, _own2, _train(refractory_grad="full"))),
    "r1_best": ("R = 1, curriculum + delays 1, 2 on the recurrent taps",
                _chain(R1, _ramp, _pair)),
    "r2_best": ("R = 2, curriculum + delays 1, 2 on the recurrent taps",
                _chain(_refractory(2), _ramp, _pair)),
}
#: variants written for the MNIST-1D network's layers (``front2``, ``rec`` with 2,248 nodes, a
#: 200-node readout): on another task they are refused with an error, never silently changed
MNIST1D_ONLY = {name for name in VARIANTS if name == "r1_mix" or "_out" in name}
#: input codes for MNIST-1D (coding, parameters); the demo's is the 32-level thermometer
CODES = {"thermometer": ("thermometer", {"levels": 32}), "delta": ("delta", {"threshold": 0.05}),
         "sigma_delta": ("sigma_delta", {"threshold": 1.0})}


def task_config(task: str, variant: str) -> dict:
    """The task's config with ``variant`` applied."""
    from spikelut.config import load_config

    if variant in MNIST1D_ONLY and task != "mnist1d":
        raise VariantError(f"variant {variant!r} ({VARIANTS[variant][0]}) is written for the mnist1d "
                           f"network's layers and does not apply to {task!r}")
    cfg = copy.deepcopy(load_config(HERE / TASKS[task]))
    VARIANTS[variant][1](cfg, task)
    return cfg


def task_data(task: str, code: str, mnist_train: int) -> tuple[tuple, tuple]:
    """``(train, val)`` as ``(spikes, labels)``: a validation split of the training split only
    (UCR/UEA tasks: the demo config's coding, a seeded 25% holdout of the training split)."""
    from spikelut.config import load_config
    from spikelut.datasets import encode_dataset
    from spikelut.train.trainer import holdout

    if task in UCR:
        cfg = load_config(HERE / TASKS[task])
        params = {k: v for k, v in cfg["coding"].items() if k != "name"}
        sd = encode_dataset(cfg["data"]["dataset"], cfg["coding"]["name"], None, split="train",
                            seed=0, **params)
        return holdout(sd.spikes, sd.labels, UCR_VAL_FRACTION, seed=0)

    if task == "mnist1d":
        coding, params = CODES[code]
        sd = encode_dataset("mnist1d", coding, 40, split="train", seed=0, **params)
        x, y = sd.spikes, sd.labels
        return (x[:, :mnist_train], y[:mnist_train]), (x[:, -500:], y[-500:])
    sd = encode_dataset(task, None, 20, split="train", seed=0)
    return holdout(sd.spikes, sd.labels, 0.2, seed=0)


def spikes_per_sample(trainer, net, x) -> float:
    """Mean spikes per sample over all layers and cycles (the exact circuit, reference passes)."""
    from spikelut.train.bptt import forward

    fwd = forward(trainer.plan, [layer.table for layer in net.layers], x, save=False)
    return float(fwd.hist[trainer.plan.D:, net.n_in:].sum(dtype=np.int64)) / x.shape[1]


def run(task: str, variant: str, code: str = "thermometer", mnist_train: int = 1000,
        mnist_epochs: int = 10, seed: int | None = None, log: Path | None = None) -> dict:
    """Train one variant on one task; return the study's record (``log``: the per-epoch log)."""
    from spikelut.config import build_network
    from spikelut.train import Trainer, TrainConfig

    cfg = task_config(task, variant)
    if task == "mnist1d":
        cfg["train"]["epochs"] = mnist_epochs
        if "refractory_ramp" in cfg["train"]:
            cfg["train"]["refractory_ramp"] = max(1, mnist_epochs // 3)
        if code != "thermometer":  # event codes: on/off channels instead of 32 levels
            cfg["inputs"] = 2
    # kept epoch chosen on the validation split (exact epochs only); the UCR holdouts (10-17
    # samples) are too small to pick an epoch on, so there the last epoch is kept (docs/ucr.md)
    cfg["train"]["keep"] = "last" if task in UCR else "best"
    if seed is not None:
        cfg["seed"] = seed
    (xt, yt), (xv, yv) = task_data(task, code, mnist_train)
    net = build_network(cfg)
    tcfg = TrainConfig.from_dict(cfg["train"], seed=cfg["seed"])
    t0 = time.perf_counter()
    trainer = Trainer(net, tcfg, progress=False)
    res = trainer.fit((xt, yt), (xv, yv), log=log)
    kept = res.history[res.kept_epoch - 1]
    train_acc = trainer.evaluate(xt, yt, params=[layer.logits for layer in res.net.layers]).acc
    return {"task": task, "variant": variant, "what": VARIANTS[variant][0], "code": code,
            "val_acc": kept["val_acc"], "train_acc": train_acc, "kept_epoch": res.kept_epoch,
            "epochs": len(res.history), "luts": net.n_nodes, "train_samples": int(xt.shape[1]),
            "spikes_per_sample": round(spikes_per_sample(trainer, res.net, xv), 1),
            "seed": cfg["seed"], "seconds": round(time.perf_counter() - t0, 1)}


def _code_name(task: str, code: str) -> str:
    """The input code of a task's row: MNIST-1D's chosen code, a UCR config's coding."""
    if task == "mnist1d":
        return code
    if task in UCR:
        from spikelut.config import load_config

        c = load_config(HERE / TASKS[task])["coding"]
        return f"{c['name']} {c['levels']}" if "levels" in c else c["name"]
    return "spikes"


def table(path: Path) -> str:
    """The study's Markdown table from ``study.jsonl``: one row per (task, code, variant), the
    mean over the seeds run, validation accuracy with the train accuracy beside it."""
    rows: dict[tuple, list[dict]] = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        rows.setdefault((r["task"], r["code"], r["variant"]), []).append(r)
    order = list(VARIANTS)
    out = ["| task | input code | variant | what | seeds | val acc | train acc | spikes / sample | LUTs |",
           "|---|---|---|---|---|---|---|---|---|"]
    for (task, code, variant), rs in sorted(rows.items(), key=lambda kv: (
            list(TASKS).index(kv[0][0]), kv[0][1], order.index(kv[0][2]))):
        val = [r["val_acc"] for r in rs]
        each = "" if len(rs) == 1 else " (" + ", ".join(f"{v:.1%}" for v in val) + ")"
        out.append(f"| {task} | {_code_name(task, code)} | {variant} | "
                   f"{VARIANTS[variant][0]} | {len(rs)} | {np.mean(val):.1%}{each} | "
                   f"{np.mean([r['train_acc'] for r in rs]):.1%} | "
                   f"{np.mean([r['spikes_per_sample'] for r in rs]):,.0f} | {rs[0]['luts']:,} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("task", nargs="?", choices=sorted(TASKS))
    p.add_argument("variants", nargs="*", help="variant names (see --list)")
    p.add_argument("--code", default="thermometer", choices=sorted(CODES), help="MNIST-1D input code")
    p.add_argument("--mnist-train", type=int, default=1000, help="MNIST-1D training samples")
    p.add_argument("--mnist-epochs", type=int, default=10, help="MNIST-1D epochs")
    p.add_argument("--seed", type=int, default=None, help="network seed (default: the config's)")
    p.add_argument("--out", default="runs/pulse", help="folder for study.jsonl")
    p.add_argument("--list", action="store_true", help="list the variants and exit")
    p.add_argument("--table", action="store_true", help="print <out>/study.jsonl as a Markdown table")
    args = p.parse_args(argv)
    if args.table:
        print(table(Path(args.out) / "study.jsonl"))
        return 0
    if args.list or not args.task or not args.variants:
        for name, (what, _) in VARIANTS.items():
            print(f"{name:10s} {what}")
        return 0
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        print(f"pulse_study: error: unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}",
              file=sys.stderr)
        return 1
    if args.code != "thermometer" and args.task != "mnist1d":
        print(f"pulse_study: error: --code applies to mnist1d only; {args.task} uses its config's "
              f"coding", file=sys.stderr)
        return 1
    for name in args.variants:  # refuse before training anything: a variant that cannot apply
        try:
            task_config(args.task, name)
        except VariantError as e:
            print(f"pulse_study: error: {e}", file=sys.stderr)
            return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.variants:
        log = out / f"{args.task}_{name}_{args.code}_s{args.seed}.log.jsonl"  # per epoch, to follow
        r = run(args.task, name, args.code, args.mnist_train, args.mnist_epochs, args.seed, log)
        with open(out / "study.jsonl", "a") as f:  # one line per finished run; a log, not state
            f.write(json.dumps(r) + "\n")
        print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    import sys as _sys
    from pathlib import Path as _Path

    _sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))  # demos.* when run as a script
    from demos._script import run_main

    run_main(main)  # bad input: one line and status 1, as the spikelut command does
