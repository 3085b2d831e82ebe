"""Measure inference throughput (LUT-evaluations per second) of every engine on this machine:
the reference engine, the bit-sliced CPU engine on one thread and with its default threads, and the GPU
engine when one is usable, with speed-ups over the reference measured in the same run. Sizes:
tiny (200 nodes), small (1k), default (10k nodes, k=6, 4096 samples, 32 cycles), large (50k).

Example:
    spikelut bench
    spikelut bench --sizes small,default --backend numba --json
    spikelut bench -o bench-report.md     # also a markdown report (replaces only an earlier one)
"""

from __future__ import annotations

import argparse
import sys

from ..api import bench
from ..backends import CHOICES
from ..bench import DEFAULT_SIZES, SIZES, format_markdown, format_report
from ..errors import ConfigError
from ..escape import terminal
from ..fileutil import check_output, write_text_atomic
from . import Output
from .common import FORCE_HELP

NAME = "bench"
HELP = "measure engine throughput (LUT-evals/s) on this machine"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", default=",".join(DEFAULT_SIZES),
                   help=f"comma-separated sizes from {', '.join(SIZES)} (default: %(default)s)")
    p.add_argument("--backend", default=None,
                   help="comma-separated backends to time, from numpy, numba, cuda (default: every "
                        "usable one; the numpy reference always runs as the base of the speed-ups)")
    p.add_argument("--device", default=None, choices=("cpu", "gpu", "auto"),
                   help="deprecated: use --backend (cpu = numpy,numba; gpu = also cuda)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per engine, best kept (default 3)")
    p.add_argument("--threads", type=int, default=None,
                   help="fixed threads of the second CPU run (default: the engine's own choice by "
                        "work size and load, docs/threads.md)")
    p.add_argument("--seed", type=int, default=0, help="seed of the network and the stimulus (default 0)")
    p.add_argument("--no-training", action="store_true", help="skip the training benchmark hook")
    p.add_argument("-o", "--output", default=None,
                   help="also write the report as markdown to this file; an existing file is "
                        "replaced only when it is an earlier spikelut bench report (else "
                        "refused: --force replaces it)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)


def run(args: argparse.Namespace) -> Output:
    # each size once, in the order given (`--sizes tiny,tiny` timed tiny twice)
    sizes = list(dict.fromkeys(s.strip() for s in args.sizes.split(",") if s.strip()))
    if args.threads is not None:  # more than numba's pool would run with the pool's size
        from ..threads import check_thread_count

        check_thread_count(args.threads)
    if args.seed < 0:  # numpy's ValueError would reach the user as a traceback
        raise ConfigError(f"--seed must be an integer >= 0, got {args.seed}")
    out = check_output(args.output, kind="bench", force=args.force) if args.output else None
    command = "spikelut bench " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["bench"] else None
    backends = None
    if args.backend is not None:
        backends = [b.strip() for b in args.backend.split(",") if b.strip()]
        unknown = [b for b in backends if b not in CHOICES]
        if unknown or not backends:
            raise ConfigError(f"--backend: unknown backend(s) {unknown or backends}; choose from "
                              f"{', '.join(CHOICES[1:])}")
        backends = None if backends == ["auto"] else backends
    elif args.device is not None:
        print(f"spikelut {NAME}: note: --device is deprecated; use --backend "
              f"{'numpy,numba' if args.device == 'cpu' else 'numpy,numba,cuda'}", file=sys.stderr)
        backends = {"cpu": ["numpy", "numba"], "gpu": ["numpy", "numba", "cuda"]}.get(args.device)
    rep = bench(sizes, backends, args.repeats, args.threads, args.seed,
                training=not args.no_training, command=command,
                progress=not (args.no_progress or args.json))
    text = format_report(rep)
    if out is not None:
        write_text_atomic(out, format_markdown(rep))
        text += f"\nwrote {terminal(str(out))}"
    return Output(rep, text)
