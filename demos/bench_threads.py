"""Bit-sliced inference with the default thread count against one thread, call by call.

Times ``bitsliced.simulate(net, x, record="readout")`` (end to end, as ``spikelut bench``) on the
bench networks of ``spikelut.bench.SIZES``, alternating the engine's default threads, one thread
and (``--fixed N``) a fixed count, so every kind of call sees the same moments of load. Prints
one JSON line per size: median and best seconds of each kind, LUT-evals/s from the median, how
often the default was at least as fast as one thread in the same round, and the thread counts the
default chose (``choose_threads``; absent in trees that predate it). Run it with ``PYTHONPATH`` set
to the tree to measure, so two trees can be compared in one sitting (docs/threads.md).

Example:
    PYTHONPATH=. python demos/bench_threads.py --sizes small,default --rounds 15
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="small,default", help="comma-separated names of spikelut.bench.SIZES")
    p.add_argument("--rounds", type=int, default=15, help="calls of each kind, interleaved")
    p.add_argument("--fixed", type=int, default=2, help="also time this fixed thread count (0: no)")
    p.add_argument("--label", default="", help="copied into every JSON line (e.g. the tree)")
    args = p.parse_args(argv)

    import numba

    from spikelut.bench import SIZES, bench_network
    from spikelut.engine import bitsliced

    chooser = getattr(bitsliced, "choose_threads", None)
    for name in args.sizes.split(","):
        s = SIZES[name]
        N, B, T = s["nodes"], s["batch"], s["steps"]
        net = bench_network(N, s["k"])
        x = (np.random.default_rng(0).random((T, B, net.n_in)) < 0.3).astype(np.uint8)
        kinds = {"default": None, "1": 1}
        if args.fixed > 1:
            kinds[str(args.fixed)] = args.fixed
        for th in kinds.values():  # warm-up (compilation is cached on disk)
            bitsliced.simulate(net, x, record="readout", threads=th)
        times: dict[str, list[float]] = {k: [] for k in kinds}
        chosen: list[int] = []
        order = list(kinds)
        for r in range(args.rounds):
            for k in (order if r % 2 == 0 else order[::-1]):
                if k == "default" and chooser is not None:
                    chosen.append(chooser(sum(net.sizes), T, -(-B // 64))[0])
                t0 = time.perf_counter()
                bitsliced.simulate(net, x, record="readout", threads=kinds[k])
                times[k].append(time.perf_counter() - t0)
        evals = N * B * T
        out = {"label": args.label, "size": name, "nodes": N, "batch": B, "steps": T,
               "numba_threads": numba.config.NUMBA_NUM_THREADS, "rounds": args.rounds,
               "loadavg": os.getloadavg()[0]}
        for k, v in times.items():
            out[f"median_s[{k}]"] = float(np.median(v))
            out[f"best_s[{k}]"] = float(np.min(v))
            out[f"rate[{k}]"] = evals / float(np.median(v))
        out["default_not_slower"] = int(sum(d <= o * 1.02 for d, o in zip(times["default"], times["1"])))
        out["default_threads_chosen"] = {str(n): chosen.count(n) for n in sorted(set(chosen))} or None
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    import sys as _sys
    from pathlib import Path as _Path

    _sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))  # demos.* when run as a script
    from demos._script import run_main

    run_main(main)  # bad input: one line and status 1, as the spikelut command does
