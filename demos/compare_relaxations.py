"""Compare the relaxations of ``[train] relaxation`` (docs/relaxations.md) at the same LUT count,
data and epochs: train and validation accuracy (validation = a seeded hold-out of the training
split; the test split is never read), seconds per epoch and memory.

Memory, two measures. ``step MiB`` is the training step's own memory, which is what differs
between relaxations: the persistent state (parameter and optimizer arrays, ``state MiB``) plus the
peak of what one training step (forward, backward, the parameterisation's VJP, optimizer, clip)
allocates on top of it, measured with ``tracemalloc`` (numpy reports its array buffers to it) on
one batch after a warm-up step, so compilation and the data set are not in it; it is exact and
does not move with the machine's load. The compiled passes' per-thread rings, allocated inside
numba, are not traced (the same for every relaxation of a network;
``kernels_cpu.memory_estimate``'s ``window``). ``peak RSS MiB`` is the run's process-wide peak
resident memory (``ru_maxrss``; each run is its own process), dominated by Python, numba and the
data. ``--memory SET`` measures only the step memory of each relaxation, each in a fresh process.

UCR/UEA sets (``aeon`` installed): ``--sets gunpoint italypowerdemand ...`` train the network of
``demos/run_<set>.toml`` with its coding (:mod:`spikelut.ucr` loading and scaling), on the
training split less a seeded 20% hold-out for validation. Reduced sizes so that it fits a shared
2-core machine; run from the repository root:

    NUMBA_NUM_THREADS=1 nice -n 10 python demos/compare_relaxations.py --out runs/relax
    python demos/compare_relaxations.py --sets mnist1d --relaxations multilinear walsh --epochs 2

``--optimizers adam lion`` adds rows per optimizer; a relaxation ``analog:BITS:NOISE`` is a row
of analog tables (``[train] analog_bits``/``analog_noise``, numpy reference), e.g.

    python demos/compare_relaxations.py --sets first_of_two --epochs 8 --lr 0.03 \
        --relaxations multilinear analog:1:0 analog:4:0 analog:4:0.05 --out runs/analog
    python demos/compare_relaxations.py --sets gunpoint italypowerdemand --epochs 20 --lr 0.03 \
        --batch 10 --out runs/relax_ucr
    python demos/compare_relaxations.py --memory mnist1d

Results: ``<out>/results.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from spikelut.errors import ConfigError

#: set -> (network config as a dict, dataset, coding, steps, coding params, train samples)
SETS = {
    # MNIST-1D, one value per cycle (40 cycles), 32-level thermometer: the demo's network at a
    # quarter of its width (1,124 LUT6), all 4,000 training samples (800 held out for validation)
    "mnist1d": ({"name": "relax_mnist1d", "seed": 0, "inputs": 32, "layers": [
        {"name": "front", "nodes": 256, "k": 6,
         "taps": [{"from": "input", "count": 6, "delay": [0, 1, 2, 3, 4, 5]}]},
        {"name": "front2", "nodes": 256, "k": 6,
         "taps": [{"from": "front", "count": 6, "delay": [0, 1, 2, 3, 4, 5]}]},
        {"name": "rec", "nodes": 512, "k": 6,
         "taps": [{"from": "front2", "count": 3}, {"from": "self", "count": 3, "delay": 1}]},
        {"name": "out", "nodes": 100, "k": 6, "taps": [{"from": "rec", "count": 6}]}],
        "readout": {"classes": 10}},
        "mnist1d", "thermometer", 40, {"levels": 32}, 4000),
    # MNIST-5k, rate code over 4 cycles: the demo's network at a third of its width (1,700 LUT6),
    # 2,000 training samples
    "mnist5k": ({"name": "relax_mnist5k", "seed": 0, "inputs": {"channels": 784, "shape": [28, 28]},
                 "layers": [
        {"name": "local", "nodes": 1000, "k": 6,
         "taps": [{"from": "input", "count": 6, "wiring": "local", "window": 5}]},
        {"name": "hidden", "nodes": 500, "k": 6, "taps": [{"from": "local", "count": 6}]},
        {"name": "out", "nodes": 200, "k": 6, "taps": [{"from": "hidden", "count": 6}]}],
        "readout": {"classes": 10}},
        "mnist5k", "rate", 4, {}, 2000),
    # which channel fired first (demos/train_first_of_two.toml: 72 LUT4, 20 cycles), 1,000 samples
    "first_of_two": ("demos/train_first_of_two.toml", "first_of_two", None, None, {}, 1000),
    # MNIST-1D on a small recurrent network (242 LUT6) for the analog rows (numpy reference)
    "mnist1d_small": ({"name": "relax_mnist1d_small", "seed": 0, "inputs": 32, "layers": [
        {"name": "front", "nodes": 64, "k": 6,
         "taps": [{"from": "input", "count": 6, "delay": [0, 1, 2, 3, 4, 5]}]},
        {"name": "rec", "nodes": 128, "k": 6,
         "taps": [{"from": "front", "count": 3}, {"from": "self", "count": 3, "delay": 1}]},
        {"name": "out", "nodes": 50, "k": 6, "taps": [{"from": "rec", "count": 6}]}],
        "readout": {"classes": 10}},
        "mnist1d", "thermometer", 40, {"levels": 32}, 1000),
}
#: UCR/UEA sets (spikelut.ucr): set -> the demo config whose network and coding it trains
UCR_SETS = {n: f"demos/run_{n}.toml" for n in (
    "gunpoint", "italypowerdemand", "arrowhead", "basicmotions", "japanesevowels", "osuleaf",
    "acsf1", "pickupgesturewiimotez")}
SETS.update({n: (path, None, None, None, {}, None) for n, path in UCR_SETS.items()})
RELAXATIONS = ["multilinear", "bipolar", "walsh", "dlut", "dlut_fixed", "mlp"]
ROOT = Path(__file__).resolve().parent.parent


def load_set(set_name: str, limit: int | None = None) -> tuple[Any, Any]:
    """The network and the encoded training split of ``set_name``: ``(Network, SpikeData)``.

    A UCR/UEA set takes its dataset, coding and network from its ``demos/run_<set>.toml`` (the
    input width from the encoded data, as ``spikelut run`` does); ``limit`` keeps the first
    samples (default: the set's own count; all for UCR sets)."""
    from spikelut.config import build_network, load_config
    from spikelut.datasets import encode_dataset

    cfg, ds, coding, steps, params, n_train = SETS[set_name]
    if ds is None:  # a UCR/UEA set: everything from its run config
        from spikelut.pipeline import RunSettings

        conf = load_config(str(ROOT / cfg))
        s = RunSettings.from_config(conf)
        sd = encode_dataset(s.dataset, s.coding, s.steps, split="train", seed=s.data_seed,
                            limit=limit, **s.encode_args())
        conf["inputs"] = int(sd.spikes.shape[2])
        return build_network(conf), sd
    net = build_network(load_config(str(ROOT / cfg)) if isinstance(cfg, str) else cfg)
    sd = encode_dataset(ds, coding, steps, split="train", seed=0, limit=limit or n_train, **params)
    return net, sd


def train_step(tr: Any, x: Any, y: Any, lr: float = 0.01) -> None:
    """One training step of ``tr`` on ``(x, y)`` as ``Trainer.fit`` takes it: forward, backward,
    optimizer, the relaxation's histogram update, clip."""
    loss, pred, grads = tr.loss_and_grad(x, y)
    tr.opt.step(tr.params, grads, lr)
    if tr._hist is not None:
        for p, layer, h in zip(tr.params, tr.net.layers, tr._hist):
            tr.relax.observe(p, layer.k, h)
    tr._clip(tr.params)


def step_memory(tr: Any, x: Any, y: Any) -> dict:
    """Memory of one training step of ``tr`` on the batch ``(x, y)``, in MiB: ``state_mib`` (the
    parameter and optimizer arrays), ``step_peak_mib`` (the most that one step holds on top of
    them, by ``tracemalloc``, after a warm-up step) and ``step_mib`` (their sum)."""
    import numpy as np

    y = np.asarray(y, np.int64)
    train_step(tr, x, y)  # warm-up: compiles, and the optimizer's lazily made arrays
    arrays, _ = tr.opt.state_arrays()
    state = sum(int(p.nbytes) for p in tr.params) + sum(
        int(a.nbytes) for v in arrays.values() for a in v)
    tracemalloc.start()
    try:
        train_step(tr, x, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    mib = 1 << 20
    return {"state_mib": state / mib, "step_peak_mib": peak / mib, "step_mib": (state + peak) / mib}


def train_options(relaxation: str, optimizer: str) -> dict:
    """The ``[train]`` keys of one row, checked: ``relaxation`` is a name of ``[train]
    relaxation`` or ``analog:BITS:NOISE``.

    Raises:
        ConfigError: an unknown relaxation or optimizer, or a bad analog row.
    """
    from spikelut.train import TrainConfig

    extra = {"relaxation": relaxation, "backend": "numba"}
    if relaxation.startswith("analog:"):
        parts = relaxation.split(":")
        if len(parts) != 3:
            raise ConfigError(f"relaxation {relaxation!r}: an analog row is analog:BITS:NOISE")
        try:
            extra = {"analog_bits": int(parts[1]), "analog_noise": float(parts[2]),
                     "backend": "numpy"}
        except ValueError:
            raise ConfigError(f"relaxation {relaxation!r}: BITS must be an integer and NOISE a "
                              f"number (analog:BITS:NOISE)") from None
    TrainConfig.from_dict(dict(extra, optimizer=optimizer))
    return extra


def run_one(set_name: str, relaxation: str, optimizer: str, epochs: int, lr: float,
            batch: int, seed: int = 0) -> dict:
    """One training run in this process; returns its record. ``relaxation`` may be
    ``analog:BITS:NOISE`` (analog tables, numpy reference); ``seed`` is the training seed
    (initial tables, batch order), the validation hold-out stays the same."""
    from spikelut.train import Trainer, TrainConfig
    from spikelut.train.trainer import holdout

    net, sd = load_set(set_name)
    train, val = holdout(sd.spikes, sd.labels, 0.2, seed=0)
    extra = train_options(relaxation, optimizer)
    tcfg = TrainConfig.from_dict({"epochs": epochs, "batch_size": batch, "lr": lr,
                                  "optimizer": optimizer, "keep": "best", "seed": seed, **extra})
    tr = Trainer(net, tcfg, progress=False)
    t0 = time.perf_counter()
    res = tr.fit(train, val)
    wall = time.perf_counter() - t0
    kept = next(r for r in res.history if r["epoch"] == res.kept_epoch)
    n_params = sum(int(p.size) for p in tr.params)
    mem = step_memory(tr, train[0][:, :batch], train[1][:batch])  # after training: not in its time
    return {**mem, "set": set_name, "relaxation": relaxation, "optimizer": optimizer, "seed": seed, "lr": lr,
            "epochs": epochs, "luts": net.summary()["luts"], "params": n_params,
            "kept_epoch": res.kept_epoch, "train_acc": kept["acc"], "val_acc": kept["val_acc"],
            "last_val_acc": res.history[-1]["val_acc"],
            "s_per_epoch": sum(r["time"] for r in res.history) / len(res.history),
            "wall_s": wall, "val_curve": [r["val_acc"] for r in res.history],
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def step_times(set_name: str, relaxations: list[str], rounds: int = 5, steps: int = 4) -> dict:
    """Milliseconds per training step (forward, backward, VJP, histogram, optimizer, clip) of
    each relaxation on one batch of ``set_name``, in one process, rounds interleaved so that a
    shared machine's load falls on every relaxation alike; the median round is reported."""
    import numpy as np

    from spikelut.train import Trainer, TrainConfig

    net, sd = load_set(set_name, limit=50)
    x, y = sd.spikes, sd.labels.astype(np.int64)
    trainers = {r: Trainer(net, TrainConfig.from_dict({"relaxation": r, "backend": "numba"}),
                           progress=False) for r in relaxations}
    times: dict[str, list[float]] = {r: [] for r in relaxations}
    for _ in range(rounds + 1):  # the first round compiles and warms up
        for r, tr in trainers.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                train_step(tr, x, y)
            times[r].append((time.perf_counter() - t0) / steps * 1000)
    return {r: float(np.median(t[1:])) for r, t in times.items()}


def memory_of(set_name: str, relaxation: str, batch: int, optimizer: str = "adam") -> dict:
    """:func:`step_memory` of ``relaxation`` on the first ``batch`` training samples of
    ``set_name``, with the process's peak resident memory (call it in a fresh process)."""
    from spikelut.train import Trainer, TrainConfig

    net, sd = load_set(set_name, limit=batch)
    tr = Trainer(net, TrainConfig.from_dict({"relaxation": relaxation, "backend": "numba",
                                             "optimizer": optimizer, "batch_size": batch}),
                 progress=False)
    mem = step_memory(tr, sd.spikes, sd.labels)
    return {"set": set_name, "relaxation": relaxation, "optimizer": optimizer, "batch": batch,
            "luts": net.summary()["luts"], **mem,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--relaxations", nargs="+", default=RELAXATIONS)
    ap.add_argument("--optimizers", nargs="+", default=["adam"])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--lion-lr", type=float, default=0.003, help="lr of the lion rows")
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0], help="training seeds (rows)")
    ap.add_argument("--out", default="runs/relax")
    ap.add_argument("--redo", action="store_true",
                    help="run again the rows already in <out>/results.json (default: skip them)")
    ap.add_argument("--step-times", metavar="SET", default=None,
                    help="only measure ms per training step of each relaxation on one batch")
    ap.add_argument("--memory", metavar="SET", default=None,
                    help="only measure the training step's memory of each relaxation on one batch "
                         "(a fresh process each)")
    ap.add_argument("--one-memory", nargs=2, metavar=("SET", "RELAXATION"),
                    help=argparse.SUPPRESS)  # the child process of --memory
    ap.add_argument("--one", nargs="+", metavar="SET RELAXATION OPTIMIZER [SEED]",
                    help=argparse.SUPPRESS)  # the child process
    a = ap.parse_args(argv)
    try:  # a bad name fails here, not as a child's traceback after the other rows have run
        for r in a.relaxations:
            for o in a.optimizers:
                train_options(r, o)
    except (ConfigError, ValueError) as e:
        ap.error(str(e))
    if a.step_times:
        for r, ms in step_times(a.step_times, a.relaxations).items():
            print(f"{a.step_times} {r}: {ms:.1f} ms per step (batch of 50)")
        return
    if a.one_memory:
        print(json.dumps(memory_of(*a.one_memory, a.batch)))
        return
    if a.memory:
        print("| set | relaxation | LUTs | batch | state MiB | step peak MiB | step MiB | "
              "peak RSS MiB |\n|---|---|---|---|---|---|---|---|")
        for r in a.relaxations:
            p = subprocess.run([sys.executable, __file__, "--one-memory", a.memory, r,
                                "--batch", str(a.batch)], capture_output=True, text=True)
            if p.returncode != 0:
                print(f"{a.memory} {r}: failed\n{p.stderr[-2000:]}", file=sys.stderr)
                continue
            m = json.loads(p.stdout.strip().splitlines()[-1])
            print(f"| {a.memory} | {r} | {m['luts']} | {m['batch']} | {m['state_mib']:.2f} | "
                  f"{m['step_peak_mib']:.2f} | {m['step_mib']:.2f} | {m['peak_rss_mib']:.0f} |",
                  flush=True)
        return
    if a.one:
        s, r, o, seed = (a.one + ["0"])[:4]
        lr = a.lion_lr if o == "lion" else a.lr
        print(json.dumps(run_one(s, r, o, a.epochs, lr, a.batch, int(seed))))
        return
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    results = json.loads(path.read_text()) if path.exists() else []
    runs = [(s, o, r, seed) for s in a.sets for o in a.optimizers for r in a.relaxations
            for seed in a.seeds]
    done = {(x["set"], x["relaxation"], x["optimizer"], x.get("seed", 0)) for x in results}
    for s, o, r, seed in runs:
        if (s, r, o, seed) in done and not a.redo:
            continue
        cmd = [sys.executable, __file__, "--one", s, r, o, str(seed), "--epochs", str(a.epochs),
               "--lr", str(a.lr), "--lion-lr", str(a.lion_lr), "--batch", str(a.batch)]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            print(f"{s} {r} {o}: failed\n{p.stderr[-2000:]}", file=sys.stderr)
            continue
        rec = json.loads(p.stdout.strip().splitlines()[-1])
        results = [x for x in results if (x["set"], x["relaxation"], x["optimizer"],
                                          x.get("seed", 0)) != (s, r, o, seed)] + [rec]
        path.write_text(json.dumps(results, indent=1))
        print(f"{s} {r} {o} seed {seed}: val {rec['val_acc']:.4f} train {rec['train_acc']:.4f} "
              f"{rec['s_per_epoch']:.1f} s/epoch", file=sys.stderr, flush=True)
    print(table(results))


def table(results: list[dict]) -> str:
    """Markdown rows per (set, relaxation, optimizer): the mean over seeds of the kept epoch's
    train and validation accuracy (min..max with several seeds), s/epoch (median, two decimals
    below 1 s), the training step's memory (:func:`step_memory`; ``-`` for rows recorded before
    it was measured) and the process's peak resident memory (the largest over seeds)."""
    import numpy as np

    groups: dict[tuple, list[dict]] = {}
    for x in results:
        groups.setdefault((x["set"], x["relaxation"], x["optimizer"]), []).append(x)
    lines = ["| set | relaxation | optimizer | LUTs | params | seeds | train acc | val acc (min..max) "
             "| s/epoch | step MiB | peak RSS MiB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (s, r, o), xs in groups.items():
        val = np.array([x["val_acc"] for x in xs])
        spread = f" ({val.min():.3f}..{val.max():.3f})" if len(xs) > 1 else ""
        lines.append(f"| {s} | {r} | {o} | {xs[0]['luts']} | {xs[0]['params']} | {len(xs)} | "
                     f"{np.mean([x['train_acc'] for x in xs]):.3f} | {val.mean():.3f}{spread} | "
                     f"{seconds(np.median([x['s_per_epoch'] for x in xs]))} | "
                     f"{step_mib(xs)} | "
                     f"{max(x['peak_rss_mib'] for x in xs):.0f} |")
    return "\n".join(lines)


def seconds(s: float) -> str:
    """Seconds as text: two decimals below 1 s (the small UCR sets), else one."""
    return f"{s:.2f}" if s < 1 else f"{s:.1f}"


def step_mib(xs: list[dict]) -> str:
    """The largest training-step memory over ``xs`` as text (``-`` if none has it)."""
    vals = [x["step_mib"] for x in xs if "step_mib" in x]
    return f"{max(vals):.2f}" if vals else "-"


if __name__ == "__main__":
    import sys as _sys
    from pathlib import Path as _Path

    _sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))  # demos.* when run as a script
    from demos._script import run_main

    run_main(main)  # bad input: one line and status 1, as the spikelut command does
