"""Where a second thread starts to pay in the compiled training passes: one forward plus one
backward pass (``spikelut.train.kernels_cpu``) on one thread and on two, for random three-layer
LUT6 networks of growing size at one batch size.

Prints one line per size: nodes, node-samples per cycle (``n_nodes * B``, the quantity of
``kernels_cpu.MIN_NODE_SAMPLES_PER_THREAD``), the best of the medians of one and two threads
(rounds interleaved, so both see the same moments of load) and their ratio. Both counts are
forced (``SPIKELUT_TRAIN_THREADS``: no load check, size threshold or measured choice). Run it on an idle
machine; on a busy one two threads lose at every size (docs/threads.md).

With ``--demo mnist1d`` (or ``mnist5k``): the demo network's own passes on a real batch instead, the
bit-sliced forward pass and the backward pass timed separately, one and two threads taking turns
in short runs in one process, with the way two threads ran (a pipeline of stages, or the nodes
split: docs/training-speed.md, "A pipeline of layer groups") and a check that both counts gave
the same gradients bit for bit.

Example:
    python demos/bench_pass_threads.py --batch-size 25 --sizes 24,96,384
    python demos/bench_pass_threads.py --demo mnist1d --rounds 30
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from spikelut.cli.common import positive_int
from spikelut.threads import environment


def _sizes(text: str) -> list[int]:
    """An argparse type: a comma-separated list of integers >= 1."""
    return [positive_int(v.strip()) for v in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=positive_int, default=25, help="samples per batch (default 25)")
    p.add_argument("--cycles", type=positive_int, help="cycles per sample of the random networks "
                   "(default 40; a demo has its own)")
    p.add_argument("--sizes", type=_sizes, help="nodes of each of the first two layers of the "
                   "random networks (the third has a third as many; default 24,48,96,192,384,768)")
    p.add_argument("--rounds", type=positive_int, default=7,
                   help="random networks: calls per median, 2 medians per count (default 7); "
                        "--demo: rounds of 3 timed calls per count (default 7)")
    p.add_argument("--demo", choices=["mnist1d", "mnist5k"],
                   help="time this demo network's forward and backward passes instead")
    args = p.parse_args(argv)

    import numba

    from spikelut.errors import ConfigError
    from spikelut.threads import forced_train_threads

    if numba.config.NUMBA_NUM_THREADS < 2:
        p.error("numba has one thread (NUMBA_NUM_THREADS=1): unset it to compare two threads")
    try:
        forced_train_threads()  # the script sets it itself; a bad value outside is refused here
    except ConfigError as e:
        p.error(str(e))
    if args.demo:
        if args.cycles or args.sizes:
            p.error("--cycles and --sizes describe the random networks; a demo has its own")
        return demo_passes(args.demo, args.batch_size, args.rounds)
    return size_sweep(args.batch_size, args.cycles or 40,
                      args.sizes or [24, 48, 96, 192, 384, 768], args.rounds)


def threads(n: int):
    """Exactly ``n`` threads for the training passes inside the block (no load check, no size
    threshold, no measured choice: ``SPIKELUT_TRAIN_THREADS``)."""
    return environment(SPIKELUT_TRAIN_THREADS=str(n))


def size_sweep(B: int, T: int, sizes: list[int], rounds: int) -> int:
    """One and two threads on random networks of growing size (module docstring)."""
    from spikelut.train import bptt, kernels_cpu
    from spikelut.train.surrogates import get_surrogate
    from spikelut.wiring import random_network

    sg = get_surrogate("fast_sigmoid")
    print(f"batch {B}, {T} cycles; ms per forward + backward pass, the better of 2 medians of "
          f"{rounds} calls per thread count")
    for n in sizes:
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
            with threads(th):
                kernels_cpu.backward(plan, thetas, kernels_cpu.forward(plan, tabs, x), g, sg)  # warm
                ts = []
                for _ in range(rounds):
                    t = time.perf_counter()
                    kernels_cpu.backward(plan, thetas, kernels_cpu.forward(plan, tabs, x), g, sg)
                    ts.append(time.perf_counter() - t)
            ms[th].append(float(np.median(ts)) * 1e3)
        one, two = min(ms[1]), min(ms[2])
        print(f"{net.n_nodes:6d} nodes, {net.n_nodes * B:7d} node-samples: 1 thread {one:.2f} ms, "
              f"2 threads {two:.2f} ms, {one / two:.2f}x", flush=True)
    return 0


#: --demo: timed calls per count and round (after one untimed call)
PER_ROUND = 3


def demo_passes(name: str, B: int, rounds: int) -> int:
    """One and two threads on the demo's passes, alternating in short runs (module docstring)."""
    import hashlib

    from bench_train_epoch import load_demo
    from spikelut.train import Trainer, bptt, kernels_bits, kernels_cpu, tasks

    net, tc, x, y = load_demo(name)
    if B > x.shape[1]:
        raise SystemExit(f"bench_pass_threads: --batch-size {B} is more than the "
                         f"{x.shape[1]} samples of the {name} demo's data")
    tr = Trainer(net, tc, progress=False)
    xb, yb = np.ascontiguousarray(x[:, :B]), y[:B]
    values = tr.tables(tr.params)
    tabs = bptt.tables_of(values)
    _, g, _ = tr.spike_grads(kernels_bits.forward(tr.plan, tabs, xb), yb)
    ms: dict[tuple[str, int], list[float]] = {}
    digest: dict[int, str] = {}
    for r in range(rounds + 1):  # a warm-up round (compilation, schedules)
        for th in (1, 2):
            # PER_ROUND timed calls after an untimed one: a pass right after the other count
            # finds its data in the other core's cache, which an epoch on one count never does
            with threads(th):
                for c in range(PER_ROUND + 1):
                    t0 = time.perf_counter()
                    fwd = kernels_bits.forward(tr.plan, tabs, xb)
                    t1 = time.perf_counter()
                    grads = kernels_cpu.backward(tr.plan, values, fwd, g, tr.surrogate)[0]
                    t2 = time.perf_counter()
                    if r and c:
                        ms.setdefault(("forward", th), []).append((t1 - t0) * 1e3)
                        ms.setdefault(("backward", th), []).append((t2 - t1) * 1e3)
            digest[th] = hashlib.sha1(b"".join(np.ascontiguousarray(q).tobytes()
                                                for q in grads)).hexdigest()[:12]
    f = tasks.node_arrays(tr.plan.for_steps(xb.shape[0]))
    how = {"backward": "pipeline" if any(len(v[7]) for k, v in f.get("schedules", {}).items()
                                         if k[0] == 2) else "nodes split",
           "forward": "pipeline" if any(k[3] == 2 for k in f.get("forward_lists", {}))
           else "nodes split"}
    print(f"{name} demo, {net.n_nodes} LUTs, batch {B}, {xb.shape[0]} cycles; ms per pass, "
          f"median of {rounds * PER_ROUND} calls per thread count (runs of {PER_ROUND} timed "
          f"calls after an untimed one, the counts taking turns)")
    for kind in ("forward", "backward"):
        one, two = (float(np.median(ms[kind, th])) for th in (1, 2))
        print(f"{kind:8s}: 1 thread {one:.2f} ms, 2 threads {two:.2f} ms ({how[kind]}), "
              f"{one / two:.2f}x", flush=True)
    same = digest[1] == digest[2]
    print(f"gradients: {digest[1]} (1 thread), {digest[2]} (2 threads): "
          f"{'the same bits' if same else 'DIFFERENT'}")
    return 0 if same else 1


if __name__ == "__main__":
    import sys as _sys
    from pathlib import Path as _Path

    _sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))  # demos.* when run as a script
    from demos._script import run_main

    run_main(main)  # bad input: one line and status 1, as the spikelut command does
