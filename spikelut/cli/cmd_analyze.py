"""Look inside a model: per-node Boolean-function statistics (bias, tap influence, degree,
constant and dead nodes), what each node did on the data (output entropy, taps never pivotal,
nodes that never change, refractory-gate suppressions), what exact pruning would save, and which
input spikes decided chosen samples' predictions (surrogate gradient and exact occlusion).
Measures and sources: docs/analyze.md.

Tap importance (docs/rewiring.md) is shown when the model carries it or the data has labels;
--save-importance OUT.h5 writes the model with the importance measured on DATA.

Writes to DIR (with -o): nodes.csv (one row per node), summary.txt, attribution_<sample>.png
per sample, and dynamics.png with --log (table flips and logit distance from zero per epoch).
DIR is replaced as a whole when the analysis is complete. A non-empty DIR that spikelut analyze
did not write (no nodes.csv of its own) is refused without --force; with --force the files of
the analysis are replaced and the others are kept. An input (MODEL, DATA, --log) in DIR under a
name the analysis writes is refused even with --force.

Example:
    spikelut analyze model.h5 test.h5 -o analysis --samples 0 1 2
    spikelut analyze model.h5 test.h5 --json --limit 500
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..api import analyze, tap_importance
from ..errors import ConfigError
from ..escape import terminal
from ..analysis import check_analysis_dir
from ..fileutil import check_output
from . import Output
from .common import FORCE_HELP, add_backend_arguments, backend_name

NAME = "analyze"
HELP = "per-node statistics, attribution and pruning potential of MODEL.h5 on DATA.h5"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (HDF5)")
    p.add_argument("data", help="spike file (HDF5), labelled or not")
    p.add_argument("-o", "--output", help="directory for nodes.csv, summary.txt and the figures")
    p.add_argument("--samples", type=int, nargs="+", default=[0],
                   help="samples to attribute (default: 0)")
    p.add_argument("--limit", type=int, help="use only the first N samples for the statistics")
    p.add_argument("--log", help="training log (JSON lines) for the table-dynamics figure")
    p.add_argument("--save-importance", metavar="OUT.h5",
                   help="write the model with each tap's importance measured on DATA")
    add_backend_arguments(p)
    p.add_argument("--force", action="store_true",
                   help=f"{FORCE_HELP}; with -o: write into a directory that spikelut analyze "
                        f"did not create (its other files are kept)")


def run(args: argparse.Namespace) -> Output:
    from ..analysis import summary_text

    if args.log is not None and args.output is None:  # before the model and the data are read
        raise ConfigError(f"the training log {args.log} is drawn into dynamics.png, which needs "
                          f"an output directory: give -o DIR (outdir) or leave --log out")
    inputs = [args.model, args.data, args.log]
    if args.output is not None:
        check_output(args.output, inputs=inputs, kind="dir", force=args.force)
        # before the model and the data are read (api.analyze checks it again, the same way)
        check_analysis_dir(args.output, inputs, args.force)
    # DIR new or empty now: --save-importance DIR/x.h5 is about to create DIR and put its lock
    # file there, which analyze() below would take for a directory it did not write
    fresh = args.output is not None and not (Path(args.output).is_dir()
                                             and any(Path(args.output).iterdir()))
    imp_out = None
    if args.save_importance is not None:
        imp_out = check_output(args.save_importance, inputs=[args.model, args.data, args.log],
                               kind="model", force=args.force, others=[args.output])
    # the user's other files in DIR (inputs among them) go into the new directory too
    rep = analyze(args.model, args.data, args.output, samples=args.samples, limit=args.limit,
                  backend=backend_name(args, NAME), log=args.log, force=args.force or fresh)
    # summary_text escapes the names it prints; each line again here, so that nothing it may
    # print later (a name read from the model or the data) reaches the terminal raw (terminal()
    # changes nothing in text it escaped already)
    text = "\n".join(terminal(line) for line in summary_text(rep).split("\n"))
    if imp_out is not None:
        measured = tap_importance(args.model, args.data, imp_out, limit=args.limit)
        rep["files"].append(str(imp_out))
        # without labels only the influence is measured, and the file replaces whatever gradient
        # signal the model carried: say so instead of leaving it to the reader of the file
        gradient = all(layer.tap_gradient is not None for layer in measured.layers)
        rep["saved_importance"] = {"file": str(imp_out), "influence": True, "gradient": gradient}
        what = ("tap influence and gradient signal" if gradient else
                f"tap influence only: {terminal(str(args.data))} has no labels, so no gradient "
                f"signal")
        text += f"\nwrote {terminal(str(imp_out))} ({what})"
    return Output(rep, text)
