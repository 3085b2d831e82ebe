"""Throughput per node size k (docs/node-sizes.md): the bit-sliced inference kernel and the numba
training passes, one thread, on random networks of two layers (R = 1, then R = 0).

* inference: ``bitsliced.simulate_packed`` on packed input, N = 2,000 nodes, B = 4,096, T = 32,
  64 input channels, delays 0..1; LUT-evals/s = N x B x T / seconds, best of 3 after a warm-up;
* training: ``kernels_cpu.forward`` + ``backward`` (fast-sigmoid surrogate, loss gradient on the
  readout layer), N = 1,000, B = 256, T = 16; LUT-steps/s = N x B x T / seconds, best of 3.

Run (from a checkout; any k in 1..12)::

    NUMBA_NUM_THREADS=1 python demos/bench_node_sizes.py --k 1,2,6,7,8,9,12
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from spikelut.engine import bitsliced
from spikelut.engine.bitpack import pack
from spikelut.engine.plan import build_plan
from spikelut.train import bptt, kernels_cpu
from spikelut.train.surrogates import get_surrogate
from spikelut.wiring import random_network


def _best(fn, repeats: int = 3) -> float:
    fn()  # warm-up: numba compilation
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def inference(k: int, N: int = 2000, B: int = 4096, T: int = 32) -> float:
    """LUT-evals/s of the bit-sliced kernel on one thread."""
    x = (np.random.default_rng(0).random((T, B, 64)) < 0.3).astype(np.uint8)
    net = random_network(0, n_in=64, sizes=[N // 2, N // 2], k=k, max_delay=1, refractory=[1, 0])
    plan, words = build_plan(net, "readout", steps=T), pack(x)
    return N * B * T / _best(lambda: bitsliced.simulate_packed(plan, words, threads=1))


def training(k: int, N: int = 1000, B: int = 256, T: int = 16) -> float:
    """LUT-steps/s of the numba forward + backward passes."""
    x = (np.random.default_rng(0).random((T, B, 64)) < 0.3).astype(np.uint8)
    net = random_network(0, n_in=64, sizes=[N // 2, N // 2], k=k, max_delay=1, refractory=[1, 0])
    plan = bptt.compile_plan(net)
    rng = np.random.default_rng(1)
    th = [rng.normal(0, 0.3, lay.table.shape).astype(np.float32) for lay in net.layers]
    g = [None, rng.normal(0, 1, (T, B, N // 2)).astype(np.float32)]
    sg = get_surrogate("fast_sigmoid")

    def step():
        kernels_cpu.backward(plan, th, kernels_cpu.forward(plan, bptt.tables_of(th), x), g, sg)

    return N * B * T / _best(step)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", default="1,2,6,7,8,9,12", help="comma-separated node sizes (1..12)")
    args = ap.parse_args()
    print("k    inference LUT-evals/s    training LUT-steps/s")
    for k in (int(v) for v in args.k.split(",")):
        print(f"{k:<4} {inference(k):>20.3e}    {training(k):>20.3e}", flush=True)


if __name__ == "__main__":
    import sys as _sys
    from pathlib import Path as _Path

    _sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))  # demos.* when run as a script
    from demos._script import run_main

    run_main(main)  # bad input: one line and status 1, as the spikelut command does
