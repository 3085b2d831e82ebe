"""Encode a dataset (built-in name or user file) into a spike file with labels; the coding, its
parameters, the dataset and the split go into the file's metadata.

Examples:
    spikelut encode --dataset mnist1d --coding thermometer --steps 40 -o mnist1d_train.h5
    spikelut encode --dataset mnist5k --coding rate --steps 8 --split test --seed 1 -o test.h5
    spikelut encode --dataset mnist5k --coding thermometer --steps 1 --param thresholds=0.25,0.6 -o t.h5
    spikelut encode --dataset first_of_two --split test -o fot.h5
    spikelut encode --dataset my_data.npz --coding latency --steps 16 -o mine.h5
    spikelut encode --dataset GunPoint --split test -o gunpoint_test.h5     (needs spikelut[ucr])
    spikelut encode --dataset mnist1d --param levels=16 --differences 1 --second-differences 8 -o d.h5
    spikelut encode --list
"""

from __future__ import annotations

import argparse

from ..api import encode_file
from ..coding import CODINGS, get_coding
from ..datasets import DATASETS, ENCODE_ARGUMENTS, SPLITS, dataset_files, describe
from ..errors import ConfigError
from ..escape import terminal
from ..fileutil import check_output
from . import Output
from .common import FORCE_HELP, count, parse_int_list, positive_int, table

NAME = "encode"
HELP = "encode a dataset into a spike file (--dataset NAME|FILE --coding CODING --steps T -o OUT.h5)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", help=f"built-in dataset ({', '.join(DATASETS)}, UCR/UEA sets "
                                     f"such as GunPoint: see --list) or a file: "
                                     f"IDX, .npz, event .npz, spike .h5")
    p.add_argument("--coding", choices=CODINGS, help="how values become spikes (default: rate for "
                   "images, thermometer for sequences, none for spike datasets)")
    p.add_argument("--steps", type=positive_int, help="cycles T (a sequence dataset: its length)")
    p.add_argument("--split", default="train", choices=SPLITS)
    p.add_argument("--seed", type=int, default=0, help="seeds random codings and synthetic tasks")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="coding parameter, repeatable (e.g. levels=16, thresholds=0.25,0.6)")
    p.add_argument("--limit", type=positive_int, help="encode only the first N samples")
    p.add_argument("--differences", metavar="LAGS",
                   help="sequences: also feed each channel's change over these lags in cycles "
                        "(comma list, e.g. 1 or 1,4), scaled with the training split's "
                        "percentiles (docs/guide/encoding.md, 'Difference channels')")
    p.add_argument("--second-differences", metavar="LAGS",
                   help="sequences: also feed each channel's second difference "
                        "x[t] - 2 x[t-L] + x[t-2L] for these lags L (comma list, e.g. 8 or 8,16; "
                        "2 L below the length), after any --differences, scaled the same way")
    p.add_argument("--chunk", type=positive_int, metavar="N", help="samples encoded and written at once "
                   "(default: about 64 MB of spikes); memory is set by the chunk")
    p.add_argument("-o", "--output", help="spike file to write (HDF5)")
    p.add_argument("--list", action="store_true", help="list the built-in datasets and the codings")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)


def parse_lags(text: str | None, flag: str = "--differences") -> tuple[int, ...]:
    """``--differences 1,4`` (or ``flag``'s value) as ``(1, 4)``; ``None`` as ``()``.

    Raises:
        ConfigError: an item that is not an integer (the range is checked by the encoder).
    """
    if text is None:
        return ()
    example = "8 or 8,16" if "second" in flag else "1 or 1,4"  # as each option's --help says
    return tuple(parse_int_list(text, flag, "lags in cycles", example))


def parse_params(items: list[str]) -> dict:
    """``["levels=16", "sequence=true"]`` -> ``{"levels": "16", "sequence": "true"}`` (typed later
    by the coding)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param expects KEY=VALUE, got {item!r}")
        if key.strip() in ENCODE_ARGUMENTS:  # was Python's 'multiple values' traceback
            option = key.strip().replace("_", "-")
            has = option in ("seed", "split", "limit", "differences", "second-differences",
                             "chunk", "coding", "dataset", "steps")
            raise ConfigError(f"--param {key.strip()}: not a coding parameter"
                              + (f"; use --{option}" if has else ""))
        out[key.strip()] = value.strip()
    return out


def _listing() -> Output:
    ds = describe()
    rows = [[d["name"], d["kind"], d["classes"], "x".join(map(str, d["shape"])), d["train"], d["test"],
             d.get("length", "-"), d.get("channels", "-"), d.get("needs", "-")] for d in ds]
    codings = []
    for name in CODINGS:
        c = get_coding(name)
        params = ", ".join(f"{k}={v[1]}" for k, v in c.params.items()) or "-"
        codings.append([name, c.modes, params, c.summary])
    text = "\n".join([table(rows, ["dataset", "kind", "classes", "shape", "train", "test", "length",
                                       "channels", "needs"]), "",
                      table(codings, ["coding", "feeds", "parameters", "rule"])])
    return Output({"datasets": ds, "codings": [dict(zip(("name", "feeds", "params", "rule"), r))
                                               for r in codings]}, text)


def run(args: argparse.Namespace) -> Output:
    if args.list:
        return _listing()
    if not args.dataset:
        raise ConfigError("give --dataset NAME|FILE (see spikelut encode --list)")
    if not args.output:
        raise ConfigError("give -o OUT.h5, the spike file to write")
    # every file the dataset reads is an input (an IDX file's labels beside it, a folder's
    # files): --force replaced a labels file named as the output
    out = check_output(args.output, inputs=[args.dataset, *dataset_files(args.dataset)],
                       kind="spikes", force=args.force)
    r = encode_file(out, args.dataset, args.coding, args.steps, split=args.split, seed=args.seed,
                    limit=args.limit, chunk=args.chunk, differences=parse_lags(args.differences),
                    second_differences=parse_lags(args.second_differences, "--second-differences"),
                    **parse_params(args.param))
    T, B, C = r.shape
    m = r.meta
    # the dataset is a file name (or a name from one): escape sequences in it must not reach
    # the terminal
    text = (f"wrote {terminal(str(out))}: {count(T, 'cycles')} x {count(B, 'samples')} x "
            f"{count(C, 'channels')} ({terminal(str(m['dataset']))} {terminal(str(m['split']))}, "
            f"coding {terminal(str(m['coding']))}, {count(m['classes'], 'classes')}, "
            f"mean rate {r.rate:.4f})")
    # the notes name the input given (a spike file keeps the name of the dataset it encodes)
    if "coding_ignored" in m:
        text += (f"\nnote: {terminal(str(args.dataset))} already is spikes; --coding "
                 f"{terminal(str(m['coding_ignored']))} was ignored")
    if m.get("limit_missing_classes"):
        from ..datasets import missing_classes_note

        text += f"\nnote: {missing_classes_note(m, B)}"
    if "params_ignored" in m:
        given = " ".join(f"--param {k}={v}" for k, v in m["params_ignored"].items())
        verb = "was" if len(m["params_ignored"]) == 1 else "were"
        text += (f"\nnote: {terminal(str(args.dataset))} already is spikes; {terminal(given)} "
                 f"{verb} ignored")
    # the dataset's per-sample shape is "sample_shape" here: "shape" is the spike file's [T, B, C]
    info = {("sample_shape" if k == "shape" else k): v for k, v in m.items()}
    return Output({**info, "spikes": str(out), "shape": [T, B, C], "channels": C, "rate": r.rate}, text)
