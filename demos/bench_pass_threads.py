"""Where a second thread starts to pay in the compiled training passes: one forward plus one
backward pass (``spikelut.train.kernels_cpu``) on one thread and on two, for random three-layer
LUT6 networks of growing size at one batch size.

Prints one line per size: nodes, node-samples per cycle (``n_nodes * B``, the quantity of
``kernels_cpu.MIN_NODE_SAMPLES_PER_THREAD``), the best of the medians of one and two threads
(rounds interleaved, so both see the same moments of load) and their ratio. The default rule's
load check and size threshold are switched off here: both counts are forced. Run it on an idle
machine; on a busy one two threads lose at every size (docs/threads.md).

Example:
    python demos/bench_pass_threads.py --batch-size 25 --sizes 24,96,384
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, default=25, help="samples per batch (default 25)")
    p.add_argument("--cycles", type=int, default=40, help="cycles per sample (default 40)")
    p.add_argument("--sizes", default="24,48,96,192,384,768",
                   help="nodes of each of the first two layers (the third has a third as many)")
    p.add_argument("--rounds", type=int, default=7, help="timed calls per median (default 7)")
    args = p.parse_args(argv)

    import numba

    from spikelut.train import bptt, kernels_cpu
    from spikelut.train.surrogates import get_surrogate
    from spikelut.wiring import random_network

    if numba.config.NUMBA_NUM_THREADS < 2:
        p.error("numba has one thread (NUMBA_NUM_THREADS=1): unset it to compare two threads")
    kernels_cpu.spare_cpus = lambda: 64            # force the counts: no load check,
    kernels_cpu.MIN_NODE_SAMPLES_PER_THREAD = 1    # no size threshold
    sg = get_surrogate("fast_sigmoid")
    B, T = args.batch_size, args.cycles
    print(f"batch {B}, {T} cycles; ms per forward + backward pass, best median of 2 rounds")
    for n in (int(v) for v in args.sizes.split(",")):
        rng = np.random.default_rng(3)
        net = random_network(3, n_in=16, sizes=[n, n, max(1, n // 3)], k=[6, 6, 6], max_delay=16,
                             refractory=[2, 1, 0], classes=3)
        plan = bptt.compile_plan(net)
        x = (rng.random((T, B, 16)) < 0.5).astype(np.uint8)
        thetas = [rng.normal(0, 0.3, lay.table.shape).astype(np.float32) for lay in net.layers]
        g = [rng.normal(0, 1, (T, B, lay.n)).astype(np.float32) for lay in net.layers]
        tabs = bptt.tables_of(thetas)
        ms: dict[int, list[float]] = {1: [], 2: []}
        for th in (1, 2, 1, 2):
            numba.set_num_threads(th)
            kernels_cpu.backward(plan, thetas, kernels_cpu.forward(plan, tabs, x), g, sg)  # warm
            ts = []
            for _ in range(args.rounds):
                t = time.perf_counter()
                kernels_cpu.backward(plan, thetas, kernels_cpu.forward(plan, tabs, x), g, sg)
                ts.append(time.perf_counter() - t)
            ms[th].append(float(np.median(ts)) * 1e3)
        one, two = min(ms[1]), min(ms[2])
        print(f"{net.n_nodes:6d} nodes, {net.n_nodes * B:7d} node-samples: 1 thread {one:.2f} ms, "
              f"2 threads {two:.2f} ms, {one / two:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
