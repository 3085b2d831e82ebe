"""The main job: dataset → temporal code → training → evaluation → plots → Verilog →
co-simulation on the test set → resource report, all in OUTDIR (report.html, report.json).

Without CONFIG, runs the packaged demo (a self-referencing network on a temporal task).
Stages whose inputs are unchanged are skipped on a rerun; --force redoes them. An interrupted
run resumes where it stopped (training from its last checkpoint). A missing Verilog simulator is
found before the first stage (the other one is used when installed); a second run on the same
OUTDIR is refused while the first one works (docs/files-and-outputs.md).

Example:
    spikelut run -o out
    spikelut run demos/run_mnist5k.toml -o out-mnist
"""

from __future__ import annotations

import argparse

from ..api import run as run_pipeline
from ..escape import terminal
from . import Output
from .common import count

NAME = "run"
HELP = "run the whole job: data -> training -> Verilog -> co-simulation -> report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", help="run config (TOML); default: the packaged demo")
    p.add_argument("-o", "--output", default="spikelut-run", help="output directory (default: spikelut-run)")
    p.add_argument("--force", action="store_true", help="redo every stage from scratch (training too), and write into a non-empty "
                        "directory that spikelut run did not create")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> Output:
    rep = run_pipeline(args.config, args.output, force=args.force,
                       progress=False if args.no_progress else None)
    cos = rep["cosim"]
    text = "\n".join([
        (f"test accuracy {rep['accuracy']:.4f} on {count(rep['test_samples'], 'samples')} of "
         f"{terminal(str(rep['dataset']))}"),
        (f"circuit: {count(rep['luts'], 'LUTs')}, {count(rep['flip_flops'], 'flip-flops')}, "
         f"{count(rep['cycles'], 'cycles')} per sample"),
        f"co-simulation ({cos['simulator']}): " + _cosim_words(cos, rep["test_samples"]),
        f"report: {terminal(str(args.output))}/report.html",
    ])
    return Output({k: rep[k] for k in ("accuracy", "test_samples", "dataset", "coding", "luts",
                                       "flip_flops", "cycles", "cosim", "synth", "timings",
                                       "confusion", "outdir")}, text)


def _cosim_words(cos: dict, test_samples: int) -> str:
    if not cos.get("ok"):
        return "MISMATCH (see the report)"
    if cos.get("samples") == test_samples:
        return "matched the simulator on every test sample, bit for bit"
    return (f"matched the simulator bit for bit on the "
            f"{count(cos.get('samples'), 'co-simulated test samples')} "
            f"(of {test_samples}; [rtl] verify_samples)")
