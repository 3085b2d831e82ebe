"""Where a second thread starts to pay in the compiled training passes: one forward plus one
backward pass (``spikelut.train.kernels_cpu``) on one thread and on two, for random three-layer
LUT6 networks of growing size at one batch size.

Prints one line per size: nodes, node-samples per cycle (``n_nodes * B``, the quantity of
``kernels_cpu.MIN_NODE_SAMPLES_PER_THREAD``), the best of the medians of one and two threads
(rounds interleaved, so both see the same moments of load) and their ratio. The default rule's
load check and size threshold are switched off here: both counts are forced. Run it on an idle
machine; on a busy one two threads lose at every size (docs/threads.md).

With ``--demo mnist1d`` (or ``mnist5k``): the demo network's own passes on a real batch instead, the
bit-sliced forward pass and the backward pass timed separately, one and two threads alternating
call by call in one process, with the way two threads ran (a pipeline of stages, or the nodes
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, default=25, help="samples per batch (default 25)")
    p.add_argument("--cycles", type=int, default=40, help="cycles per sample (default 40)")
    p.add_argument("--sizes", default="24,48,96,192,384,768",
                   help="nodes of each of the first two layers (the third has a third as many)")
    p.add_argument("--rounds", type=int, default=7, help="timed calls per median (default 7)")
    p.add_argument("--demo", choices=["mnist1d", "mnist5k"],
                   help="time this demo network's forward and backward passes instead")
    args = p.parse_args(argv)
    if args.demo:
        return demo_passes(args.demo, args.batch_size, args.rounds)

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


#: --demo: timed calls per count and round (after one untimed call)
PER_ROUND = 3


def demo_passes(name: str, B: int, rounds: int) -> int:
    """One and two threads on the demo's passes, alternating call by call (module docstring)."""
    import hashlib
    import os

    import numba

    from bench_train_epoch import load_demo
    from spikelut.train import Trainer, bptt, kernels_bits, kernels_cpu

    if numba.config.NUMBA_NUM_THREADS < 2:
        raise SystemExit("numba has one thread (NUMBA_NUM_THREADS=1): unset it to compare two threads")
    net, tc, x, y = load_demo(name)
    tr = Trainer(net, tc, progress=False)
    xb, yb = np.ascontiguousarray(x[:, :B]), y[:B]
    values = tr.tables(tr.params)
    tabs = bptt.tables_of(values)
    fwd = kernels_bits.forward(tr.plan, tabs, xb)
    _, g, _ = tr.spike_grads(fwd, yb)
    ms: dict[tuple[str, int], list[float]] = {}
    digest: dict[int, str] = {}
    for r in range(rounds + 1):  # a warm-up round (compilation, schedules)
        for th in (1, 2):
            # a few calls per count, the first untimed: a pass right after the other count
            # finds its data in the other core's cache, which an epoch on one count never does
            os.environ["SPIKELUT_TRAIN_THREADS"] = str(th)
            for c in range(PER_ROUND + 1):
                t0 = time.perf_counter()
                f2 = kernels_bits.forward(tr.plan, tabs, xb)
                t1 = time.perf_counter()
                grads = kernels_cpu.backward(tr.plan, values, f2, g, tr.surrogate)[0]
                t2 = time.perf_counter()
                if r and c:
                    ms.setdefault(("forward", th), []).append((t1 - t0) * 1e3)
                    ms.setdefault(("backward", th), []).append((t2 - t1) * 1e3)
            digest[th] = hashlib.sha1(b"".join(np.ascontiguousarray(q).tobytes()
                                                for q in grads)).hexdigest()[:12]
    os.environ.pop("SPIKELUT_TRAIN_THREADS")
    f = kernels_cpu._flat(tr.plan.for_steps(xb.shape[0]))
    how = {"backward": "pipeline" if any(len(v[7]) for k, v in f.get("schedules", {}).items()
                                         if k[0] == 2) else "nodes split",
           "forward": "pipeline" if any(k[3] == 2 for k in f.get("forward_lists", {}))
           else "nodes split"}
    print(f"{name} demo, {net.n_nodes} LUTs, batch {B}, {xb.shape[0]} cycles; ms per pass, "
          f"median of {rounds} x {PER_ROUND} calls, thread counts alternating every "
          f"{PER_ROUND + 1} calls")
    for kind in ("forward", "backward"):
        one, two = (float(np.median(ms[kind, th])) for th in (1, 2))
        print(f"{kind:8s}: 1 thread {one:.2f} ms, 2 threads {two:.2f} ms ({how[kind]}), "
              f"{one / two:.2f}x", flush=True)
    same = digest[1] == digest[2]
    print(f"gradients: {digest[1]} (1 thread), {digest[2]} (2 threads): "
          f"{'the same bits' if same else 'DIFFERENT'}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
