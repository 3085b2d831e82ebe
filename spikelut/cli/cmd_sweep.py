"""Search run configs with Optuna: train and score trials on the validation split, prune hopeless
ones, then compile the front (accuracy vs LUTs) to Verilog and co-simulate it. Writes
OUTDIR/report.html and OUTDIR/report.json.

The study lives in OUTDIR/study.db unless --storage names a database; rerunning the command
continues it (Ctrl-C stops cleanly, exit 130). A non-empty OUTDIR that no sweep wrote is
refused without --force; an input (the space file, its base config) is never overwritten.
Start the same command with the same --storage postgresql://... on many machines (each with
its own --seed) to share one study.
Needs the optional extra: pip install 'spikelut[sweep]'. See docs/sweep.md.

Example:
    spikelut sweep demos/sweep_mnist1d.toml -o sweep-out --trials 8 --workers 2
    spikelut sweep space.toml -o out --storage postgresql://ann:pw@db.lab/sweeps --seed 3
"""

from __future__ import annotations

import argparse

from ..escape import terminal
from ..sweep import run_sweep
from ..sweep.report import describe_params
from . import Output
from .common import count, table

NAME = "sweep"
HELP = "search configs with Optuna (validation accuracy vs LUTs front), locally or on many machines"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("space", help="space file (TOML): base run config, [set], [params], [sweep]")
    p.add_argument("-o", "--output", default="spikelut-sweep",
                   help="output directory (default: spikelut-sweep)")
    p.add_argument("--trials", type=int, default=None,
                   help="trials this command adds (default: [sweep] trials; 0: only report)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes on this machine (default 1; at most 4 per CPU, "
                        "8 on any machine)")
    p.add_argument("--storage", default=None,
                   help="Optuna database URL shared by many machines (default: sqlite in OUTDIR)")
    p.add_argument("--seed", type=int, default=None,
                   help="sampler seed (default: [sweep] seed); give each machine its own")
    p.add_argument("--threads", type=int, default=None,
                   help="numba threads per worker (default: 1 with several workers)")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty directory that spikelut sweep did not create "
                        "(its other files are left alone; an input there is never overwritten)")


def run(args: argparse.Namespace) -> Output:
    rep = run_sweep(args.space, args.output, trials=args.trials, workers=args.workers,
                    storage=args.storage, seed=args.seed, threads=args.threads,
                    force=args.force)
    rows = []
    for t in rep["front"]:
        c = t.get("circuit") or {}
        cos = c.get("cosim") or {}
        words = ("skipped" if "skipped" in cos else "bit-exact" if cos.get("ok")
                 else "MISMATCH" if cos else "not verified")
        # every cell escaped: the front's numbers and parameters come from the study's database,
        # which other machines write too
        rows.append([terminal(str(v)) for v in (
            t["number"], "-" if t["val_acc"] is None else f"{t['val_acc']:.4f}",
            "-" if t["luts"] is None else t["luts"],
            "-" if t["flip_flops"] is None else t["flip_flops"], c.get("luts", "-"),
            c.get("flip_flops", "-"), words, describe_params(t["params"]))])
    counts = terminal(", ".join(f"{v} {k.lower()}" for k, v in rep["trials"].items() if v))
    text = "\n".join([
        f"study {terminal(rep['study'])}: {terminal(count(rep['total_trials'], 'trials'))} ({counts})",
        table(rows, ["trial", "val acc", "LUTs", "FFs", "RTL LUTs", "RTL FFs", "cosim", "params"])
        if rows else "no finished trial yet",
        f"report: {terminal(rep['report'])}",
    ])
    return Output(rep, text)
