"""Write a spike file of random Bernoulli input spikes sized for a model (or a channel count).

Example:
    spikelut stimulus osc.h5 --steps 16 --batch 4 --rate 1.0 -o stim.h5
"""

from __future__ import annotations

import argparse

from .. import limits
from ..api import random_spikes
from ..errors import ConfigError
from ..escape import terminal
from ..fileutil import check_output
from ..io import load_model, save_spikes
from . import Output
from .common import FORCE_HELP, count, positive_int

NAME = "stimulus"
#: the largest --seed: it is stored in the spike file as an int64 attribute
MAX_SEED = (1 << 63) - 1
HELP = "write random input spikes for a model (MODEL.h5 or --channels N)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", help="model file whose input width to use")
    p.add_argument("--channels", type=int, help="number of channels (instead of a model)")
    p.add_argument("--steps", type=positive_int, required=True, help="cycles T")
    p.add_argument("--batch", type=positive_int, default=1, help="samples B (default 1)")
    p.add_argument("--rate", type=float, default=0.5, help="probability of a spike per cycle (default 0.5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    p.add_argument("-o", "--output", required=True, help="spike file to write (HDF5)")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)


def run(args: argparse.Namespace) -> Output:
    out = check_output(args.output, inputs=[args.model], kind="spikes", force=args.force)
    if (args.model is None) == (args.channels is None):
        raise ConfigError("give either a MODEL file or --channels N")
    if args.seed < 0:  # numpy's ValueError would reach the user as a traceback
        raise ConfigError(f"--seed must be an integer >= 0, got {args.seed}")
    if args.seed > MAX_SEED:  # h5py's TypeError on writing it into the file's attributes
        raise ConfigError(f"--seed must be at most {MAX_SEED} (it is stored as a 64-bit "
                          f"integer), got {args.seed}")
    channels = load_model(args.model).n_in if args.model else args.channels
    if channels >= 0:  # the draws' bytes first (random_spikes's own line), before any other size
        limits.check_array_bytes((args.steps, args.batch, channels), 8,
                                 "random spikes [steps, batch, channels] (float64 draws)",
                                 ConfigError)
    # the sizes every reader accepts (limits.py): a file over them was written, then refused by
    # simulate, eval and encode ('number of cycles T 20000000 is more than the limit')
    limits.check_steps(args.steps, ConfigError)  # the line of encode --steps and rtl --steps
    for flag, value, limit in (("--batch", args.batch, limits.MAX_SAMPLES),
                               ("--channels", channels, limits.MAX_INPUTS)):
        if value > limit:
            raise ConfigError(f"{flag} {value} is more than the limit of {limit} (a spike file "
                              f"over it is refused by every reader)")
    spikes = random_spikes(channels, args.steps, args.batch, args.rate, args.seed)
    # random spikes, not data encoded for the model: no "coding" attribute, which simulate, eval
    # and rtl --verify would hold against the encoding a model was trained on
    save_spikes(out, spikes, meta={"stimulus": "bernoulli", "rate": args.rate, "seed": args.seed})
    return Output({"spikes": str(out), "shape": list(spikes.shape)},
                  f"wrote {terminal(str(out))}: {count(args.steps, 'cycles')} x {count(args.batch, 'samples')} x "
                  f"{count(channels, 'channels')}")
