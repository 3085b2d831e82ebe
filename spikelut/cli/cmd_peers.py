"""Train spikelut's MNIST-1D demo network next to SpikingJelly's and snnTorch's recurrent LIF
networks and a GRU, on the same spike trains, split and threads, in one run; print per system its
size, seconds per epoch, train / validation / test accuracy per epoch and the time to reach
--target test accuracy. The peers need the optional libraries (docs/peers.md):

    pip install 'spikelut[peers]' && pip install --no-deps spikingjelly==2.0.0

a system whose library is missing is skipped, and the report says why.

Example:
    spikelut peers --epochs 5 --batch-size 25 --threads 1
    spikelut peers --systems spikelut,gru --epochs 2 --json
    spikelut peers --data train.h5 --test test.h5 --epochs 3 -o peers.md
    spikelut peers --systems spikelut,gru --epochs 20 --train schedule=onecycle --train lr=0.03
    spikelut peers --systems spikelut,gru --differences 1 --config demos/train_mnist1d_fast.toml --epochs 2
    spikelut peers --systems spikelut,gru --seeds 0,1,2 --epochs 2 -o peers.md
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import ConfigError
from ..escape import terminal
from ..fileutil import PEERS_TITLE, check_output, write_text_atomic
from ..peers import (HIDDEN, PEER_LR, SYSTEMS, format_report, parse_systems,
                     parse_train_overrides, run_peers, run_peers_seeds)
from . import Output
from .cmd_encode import parse_lags
from .common import FORCE_HELP, parse_int_list, positive_int

NAME = "peers"
HELP = "train spikelut's demo network next to SpikingJelly, snnTorch and a GRU (time and accuracy)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--systems", default="all",
                   help=f"comma-separated systems from {', '.join(SYSTEMS)} (default: all)")
    p.add_argument("--epochs", type=int, default=3, help="epochs of every system (default: 3)")
    p.add_argument("--batch-size", type=positive_int, default=25,
                   help="batch size of every system (default: 25, the demo's)")
    p.add_argument("--threads", type=int, default=1,
                   help="numba's and PyTorch's threads (default: 1)")
    p.add_argument("--target", type=float, default=0.88,
                   help="test accuracy whose time to reach is reported (default: 0.88)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the split, the networks, the weights and the batch order (0)")
    p.add_argument("--seeds", default=None, metavar="LIST",
                   help="one run per seed (comma list, e.g. 0,1,2) and a summary over them: "
                        "median s/epoch and time to --target")
    p.add_argument("--data", default=None,
                   help="training spike file with /labels (default: the MNIST-1D demo's encoding)")
    p.add_argument("--test", default=None, help="test spike file with /labels (with --data)")
    p.add_argument("--differences", default=None, metavar="LAGS",
                   help="add difference channels over these lags to the built-in encoding "
                        "(comma list, e.g. 1; as spikelut encode --differences; not with --data)")
    p.add_argument("--second-differences", default=None, metavar="LAGS",
                   help="add second-difference channels x[t] - 2 x[t-L] + x[t-2L] after them "
                        "(comma list, e.g. 4; as spikelut encode; not with --data)")
    p.add_argument("--val-fraction", type=float, default=0.125, metavar="F",
                   help="part of the training split held out for validation (default: 0.125)")
    p.add_argument("--limit", type=int, default=None,
                   help="use only the first N samples of the training and the test split")
    p.add_argument("--config", default=None,
                   help="spikelut's network and [train] table (default: demos/train_mnist1d.toml)")
    p.add_argument("--hidden", type=int, default=HIDDEN,
                   help=f"hidden units of the peers (default: {HIDDEN})")
    p.add_argument("--lr", action="append", default=[], metavar="PEER=RATE",
                   help="a peer's Adam learning rate (repeatable; default: "
                        + ", ".join(f"{k}={v:g}" for k, v in PEER_LR.items()) + ")")
    p.add_argument("--train", action="append", default=[], metavar="KEY=VALUE",
                   help="override a [train] key of spikelut's config (repeatable; VALUE as JSON, "
                        "e.g. schedule=onecycle lr=0.03 'batch_schedule=[[11,50]]'; docs/epochs.md)")
    p.add_argument("-o", "--output", default=None,
                   help="also write the report: JSON when the name ends in .json, else Markdown")
    p.add_argument("--no-progress", action="store_true", help="no progress lines")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)


def _rates(items: list[str]) -> dict:
    rates = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            rates[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--lr {item!r}: expected PEER=RATE, e.g. gru=0.003") from None
        if not sep:
            raise ConfigError(f"--lr {item!r}: expected PEER=RATE, e.g. gru=0.003")
    return rates


def run(args: argparse.Namespace) -> Output:
    systems = parse_systems(args.systems)
    rates = _rates(args.lr)
    train = parse_train_overrides(args.train)
    out = None
    if args.output:
        out = check_output(args.output, inputs=[args.data, args.test, args.config], kind="peers",
                           force=args.force)
    command = "spikelut " + " ".join(sys.argv[1:]) if sys.argv[1:2] == [NAME] else None
    common = dict(epochs=args.epochs, batch_size=args.batch_size, threads=args.threads,
                  target=args.target, data=args.data, test=args.test,
                  val_fraction=args.val_fraction, limit=args.limit, config=args.config,
                  hidden=args.hidden, lr=rates, command=command,
                  progress=not (args.no_progress or args.json), train=train,
                  differences=parse_lags(args.differences),
                  second_differences=parse_lags(args.second_differences, "--second-differences"))
    if args.seed is not None:  # run_peers_seeds refuses it beside --seeds
        common["seed"] = args.seed
    if args.seeds is not None:
        seeds = parse_int_list(args.seeds, "--seeds", "seeds", "0,1,2")
        rep = run_peers_seeds(seeds, systems=systems, **common)
    else:
        rep = run_peers(systems, **common)
    text = format_report(rep)  # either report
    if out is not None:
        if str(out).endswith(".json"):
            write_text_atomic(out, json.dumps(rep, indent=1) + "\n")
        else:
            write_text_atomic(out, PEERS_TITLE + "\n\n" + format_report(rep, markdown=True) + "\n")
        text += f"\nwrote {terminal(str(out))}"
    return Output(rep, text)
