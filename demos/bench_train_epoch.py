"""Seconds per training epoch: spikelut's compiled passes, its numpy passes, and PyTorch autograd.

One run, one machine, the same data, model, batch size, loss and optimizer for every variant:
the demo networks ``demos/train_mnist1d.toml`` (MNIST-1D, 32-level thermometer, 40 cycles) and
``demos/train_mnist5k.toml`` (MNIST 5k, rate code, 16 cycles), batch size 50, cross-entropy on
the readout's class counts, Adam, cosine learning rate, logits clipped after every step.

* ``numba``: :class:`spikelut.train.Trainer` with ``backend = "numba"`` (``train/kernels_cpu.py``)
* ``reference``: the same trainer with ``backend = "numpy"`` (``train/bptt.py``)
* ``torch``: the same model written with PyTorch autograd (:mod:`spikelut.bench_torch`: a loop
  over cycles and layers, the LUT as an ``autograd.Function``), ``torch.optim.Adam``,
  ``F.cross_entropy`` on the counts, ``loss.backward()``.

Every variant trains from the same initial logits on the same samples; a variant's time is the
whole loop (batch slicing, forward, loss, backward, optimizer, clipping), after one untimed warm-up
batch (numba compilation). With ``--batches N`` each variant trains only the first ``N`` batches
of the epoch and the time is scaled to the full epoch per sample (``seconds x samples / (N x 50)``);
the table says so. Threads: numba, PyTorch and BLAS are all set to ``--threads`` (default 1).

PyTorch is needed only here. Install it in a separate virtual environment:

    python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch \\
        && /tmp/torchvenv/bin/pip install -e .
    nice -n 10 /tmp/torchvenv/bin/python demos/bench_train_epoch.py --batches 10 -o epoch.md

Without PyTorch the script stops with one line saying so (``--no-torch`` times spikelut alone).

Also (``docs/training-speed.md``):

* ``--batch-size N`` (default 50; the MNIST-1D demo trains at 25);
* ``--forward NAME``: the ``numba`` variant's ``[train] forward`` (``auto``, the default;
  ``lookup``; ``bitsliced``: :mod:`spikelut.train.kernels_bits`); the baseline keeps its own;
* ``--baseline-kernels FILE``: also time another revision's compiled passes in the same run, e.g.
  ``git show main:spikelut/train/kernels_cpu.py > /tmp/kernels_main.py`` and
  ``--baseline-kernels /tmp/kernels_main.py`` (the ``baseline`` column: before/after). The file
  is loaded inside this tree's ``spikelut.train`` package, so a revision whose kernels import
  :mod:`spikelut.train.tasks` / :mod:`~spikelut.train.team` (since 2026-12-04) uses this tree's
  task order and team work; a change to those modules is timed by checking out both trees;
* ``--load``: keep one busy process (a spinning Python loop) running while timing, to measure
  "under load";
* ``--exact-threads``: the compiled training passes run on exactly ``--threads`` threads
  (``SPIKELUT_TRAIN_THREADS``) instead of the default rule, which uses no more threads than idle
  CPUs (on a busy machine, one); the table says which, and the 1-minute load average before
  and after the timing;
* ``--forward-costs``: time the two training forward passes (``lookup``, ``bitsliced``;
  :mod:`spikelut.train.kernels_bits`) on random networks of each ``k`` of ``--ks`` (1..12) at
  batch sizes 1..256, for training (addresses kept) and evaluation, print the speed-ups and the
  least-squares fit of :data:`spikelut.train.kernels_bits.COST_NS` that ``[train] forward =
  "auto"`` uses;
* ``--memory``: peak memory against cycles instead of time: trains ``--batches`` batches of
  ``--batch-size`` on the first ``C`` cycles of ACSF1 (``demos/run_acsf1.toml``, 1,460 cycles,
  UCR data through aeon) for each ``C`` of ``--cycles``, each in a fresh process, and prints the
  peak resident memory (``ru_maxrss``) of the compiled passes and of the numpy reference, with
  :func:`spikelut.train.kernels_cpu.memory_estimate`'s breakdown.
"""

from __future__ import annotations

import argparse
import os
import sys


def _set_threads(n: int) -> None:
    # before numpy / numba / torch start their pools
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(n)


if __name__ == "__main__":
    _pre = argparse.ArgumentParser(add_help=False)
    _pre.add_argument("--threads", type=int, default=1)
    _set_threads(max(1, _pre.parse_known_args()[0].threads))

import datetime as _dt  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
BATCH = 50  # default --batch-size
#: demo -> config file and the encoding of demos/train_demos.py
DEMOS = {
    "mnist1d": {"config": "train_mnist1d.toml", "dataset": "mnist1d", "coding": "thermometer",
                "steps": 40, "params": {"levels": 32}},
    "mnist5k": {"config": "train_mnist5k.toml", "dataset": "mnist5k", "coding": "rate",
                "steps": 16, "params": {}},
}


def load_demo(name: str):
    """The demo's network, its ``[train]`` config and the encoded training split."""
    from spikelut.config import build_network, load_config
    from spikelut.datasets import encode_dataset
    from spikelut.train import TrainConfig

    spec = DEMOS[name]
    cfg = load_config(HERE / spec["config"])
    net = build_network(cfg)
    tc = TrainConfig.from_dict(cfg.get("train"), seed=cfg.get("seed"))
    sd = encode_dataset(spec["dataset"], spec["coding"], spec["steps"], split="train", seed=0,
                        **spec["params"])
    return net, tc, np.ascontiguousarray(sd.spikes, dtype=np.uint8), np.asarray(sd.labels, np.int64)


def load_kernels(path: str):
    """Another revision's ``kernels_cpu.py`` as a module of this package (numba's on-disk cache
    off: the file has no importable name), for a before/after column in one run."""
    import importlib.util

    src = Path(path).read_text().replace("cache=True", "cache=False")
    name = "spikelut.train._baseline_kernels"
    spec = importlib.util.spec_from_loader(name, loader=None)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "spikelut.train"
    sys.modules[name] = mod
    exec(compile(src, path, "exec"), mod.__dict__)
    return mod


def time_spikelut(net, tc, x, y, kernels: str, batches: int, batch: int = BATCH,
                  baseline=None, profile: dict | None = None,
                  forward: str = "auto") -> tuple[float, float]:
    """Seconds for ``batches`` training batches with the spikelut trainer; and the first loss.
    ``kernels``: ``numba``, ``reference`` (numpy) or ``baseline`` (the module ``baseline``).
    With a ``profile`` dict, the run is profiled (cProfile; a compiled kernel is one entry, so
    this is the time per phase) and ``profile[kernels]`` gets :func:`_top`'s list. ``forward``:
    the ``numba`` variant's ``[train] forward``."""
    from spikelut.train import Trainer, TrainConfig
    from spikelut.train.passes import TrainBackend

    backend = None
    if kernels == "baseline":
        backend = TrainBackend("numba", np, baseline.forward, baseline.backward)
    cfg = TrainConfig.from_dict({**tc.to_dict(), "epochs": 1, "batch_size": batch,
                                 "backend": {"reference": "numpy", "baseline": "numba"}.get(
                                     kernels, kernels), "keep": "last",
                                 "forward": forward if kernels == "numba" else "auto"})
    warm = Trainer(net, cfg, progress=False, backend=backend)  # compile / warm caches on one batch
    warm.fit((x[:, :batch], y[:batch]))
    tr = Trainer(net, cfg, progress=False, backend=backend)
    n = batches * batch
    prof = None
    if profile is not None:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0 = time.perf_counter()
    res = tr.fit((x[:, :n], y[:n]))
    sec = time.perf_counter() - t0
    if prof is not None:
        prof.disable()
        profile[kernels] = _top(prof, batches)
    return sec, res.history[0]["loss"]


def _top(prof, batches: int, n: int = 8) -> list[tuple[str, float]]:
    """The ``n`` functions with the most own time: ``(name, ms per batch)``."""
    import pstats

    st = pstats.Stats(prof).stats  # {(file, line, name): (cc, nc, tottime, cumtime, callers)}
    top = sorted(st.items(), key=lambda kv: -kv[1][2])[:n]
    return [(f"{Path(k[0]).name}:{k[2]}", v[2] * 1e3 / batches) for k, v in top]


def time_torch(net, tc, x, y, batches: int, batch: int = BATCH) -> tuple[float, float]:
    """The same epoch with the PyTorch autograd model of :mod:`spikelut.bench_torch`."""
    import torch

    from spikelut.bench_torch import TorchModel
    from spikelut.train import Trainer, TrainConfig
    from spikelut.train.bptt import compile_plan
    from spikelut.train.losses import default_logit_scale
    from spikelut.train.optim import lr_at

    cfg = TrainConfig.from_dict({**tc.to_dict(), "epochs": 1, "batch_size": batch, "keep": "last"})
    ref = Trainer(net, cfg, progress=False)
    init = ref.params  # the same initial logits as spikelut's
    plan = compile_plan(net)
    model = TorchModel(plan)
    ro = net.readout
    onehot = torch.zeros(net.layers[ro.layer].n, ro.classes)
    counted = np.flatnonzero(ro.class_of >= 0)
    onehot[torch.as_tensor(counted), torch.as_tensor(ro.class_of[counted])] = 1.0
    T = x.shape[0]
    scale = cfg.logit_scale if cfg.logit_scale is not None else default_logit_scale(ro, T)
    thetas = [torch.tensor(p, requires_grad=True) for p in init]
    opt = torch.optim.Adam(thetas, lr=cfg.lr, betas=cfg.betas, eps=1e-8)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    n = batches * batch
    order = torch.as_tensor(ref.rng.permutation(n))  # the trainer's first epoch order

    def step(b: int, total: int) -> float:
        idx = order[b * batch:(b + 1) * batch]
        for g in opt.param_groups:
            g["lr"] = lr_at(cfg.schedule, cfg.lr, b, total, 0, cfg.min_lr, cfg.step_size, cfg.gamma)
        opt.zero_grad(set_to_none=True)
        out = model.forward(thetas, xt[:, idx])[ro.layer]  # T x [n, B]
        counts = torch.stack(out[ro.start:]).sum(dim=0).T @ onehot  # [B, C]
        loss = torch.nn.functional.cross_entropy(counts * scale, yt[idx])
        loss.backward()
        opt.step()
        with torch.no_grad():
            for th in thetas:
                th.clamp_(-cfg.clip, cfg.clip)
        return float(loss.detach())

    step(0, batches)  # warm-up batch, then start again from the initial logits
    thetas[:] = [torch.tensor(p, requires_grad=True) for p in init]
    opt = torch.optim.Adam(thetas, lr=cfg.lr, betas=cfg.betas, eps=1e-8)
    t0 = time.perf_counter()
    losses = [step(b, batches) for b in range(batches)]
    return time.perf_counter() - t0, float(np.mean(losses))


def machine() -> str:
    import numba

    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    s = f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, numpy {np.__version__}, " \
        f"numba {numba.__version__}"
    try:
        import torch

        s += f", torch {torch.__version__}"
    except ImportError:
        pass
    return s


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("demos", nargs="*", help=f"networks to time: {', '.join(DEMOS)} (default: all)")
    p.add_argument("--batches", type=int, default=0,
                   help="time only the first N batches of the epoch and scale per sample (0 = all)")
    p.add_argument("--batch-size", type=int, default=BATCH, help=f"samples per batch (default {BATCH})")
    p.add_argument("--threads", type=int, default=1, help="threads for numba, torch and BLAS (default 1)")
    p.add_argument("--no-torch", action="store_true", help="time the spikelut variants only")
    p.add_argument("--no-reference", action="store_true", help="skip the numpy reference passes")
    p.add_argument("--baseline-kernels", metavar="FILE", default=None,
                   help="also time this kernels_cpu.py (another revision's) as 'baseline'")
    p.add_argument("--forward", choices=("auto", "lookup", "bitsliced"), default="auto",
                   help="the numba variant's [train] forward pass (default auto)")
    p.add_argument("--profile", action="store_true",
                   help="profile the spikelut variants (cProfile: ms per batch of each phase)")
    p.add_argument("--load", action="store_true",
                   help="keep one other busy process running while timing (under load)")
    p.add_argument("--exact-threads", action="store_true",
                   help="the training passes use exactly --threads threads, not the default rule "
                        "(which follows the load)")
    p.add_argument("--forward-costs", action="store_true",
                   help="time the lookup and bitsliced forward passes against k and batch size "
                        "and fit the cost model of [train] forward = auto")
    p.add_argument("--ks", default="1,2,3,4,5,6,7,8,9,10,11,12",
                   help="with --forward-costs: the LUT sizes k (default 1..12)")
    p.add_argument("--memory", action="store_true",
                   help="peak memory against cycles on ACSF1 instead of time (see --cycles)")
    p.add_argument("--cycles", default="100,365,730,1460",
                   help="--memory: the cycle counts to measure (default 100,365,730,1460)")
    p.add_argument("--memory-point", nargs=2, metavar=("CYCLES", "BACKEND"), help=argparse.SUPPRESS)
    p.add_argument("--backward-calls", type=int, default=0, metavar="N",
                   help="time the compiled backward pass alone: N calls on the arguments of the "
                        "last of --batches training batches (min and median ms, gradient hash)")
    p.add_argument("-o", "--out", default=None, help="also write the table as markdown to this file")
    args = p.parse_args(argv)
    threads = max(1, args.threads)
    if args.batch_size < 1:
        p.error(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.backward_calls < 0:
        p.error(f"--backward-calls must be >= 0, got {args.backward_calls}")
    if args.memory_point:
        return memory_point(int(args.memory_point[0]), args.memory_point[1], args.batch_size,
                            max(1, args.batches or 3))
    if args.forward_costs:
        return _emit(forward_costs([int(k) for k in args.ks.split(",")], threads), args.out)
    if args.memory:
        try:
            cycles = [int(c) for c in args.cycles.split(",")]
        except ValueError:
            p.error(f"--cycles must be integers separated by commas, got {args.cycles!r}")
        bad = [c for c in cycles if not 1 <= c <= ACSF1_CYCLES]
        if bad:  # the series have 1,460 cycles: more was measured at 1,460 without a word
            p.error(f"--cycles: {bad[0]} is outside 1..{ACSF1_CYCLES} (the cycles of an ACSF1 "
                    f"series)")
        text = memory_report(cycles, args.batch_size, max(1, args.batches or 3), threads,
                             not args.no_reference)
        return _emit(text, args.out)
    args.demos = args.demos or list(DEMOS)
    for d in args.demos:
        if d not in DEMOS:
            p.error(f"unknown network {d!r}; choose from {', '.join(DEMOS)}")
    if args.backward_calls > 0:
        return _emit("\n".join(backward_kernel(d, args.batch_size, max(1, args.batches or 30),
                                                args.backward_calls, threads, args.exact_threads)
                               for d in args.demos), args.out)
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("bench_train_epoch: PyTorch is not installed; install it in a separate venv "
                  "(python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch -e .) "
                  "and run this script with that venv's python, or pass --no-torch", file=sys.stderr)
            return 1
        torch.set_num_threads(threads)
    import numba

    numba.set_num_threads(threads)
    if args.baseline_kernels and not Path(args.baseline_kernels).is_file():
        p.error(f"--baseline-kernels: {args.baseline_kernels!r} is not a file (e.g. git show "
                f"main:spikelut/train/kernels_cpu.py > /tmp/kernels_main.py)")
    baseline = load_kernels(args.baseline_kernels) if args.baseline_kernels else None
    if args.exact_threads:
        from spikelut.threads import TRAIN_THREADS_ENV

        os.environ[TRAIN_THREADS_ENV] = str(threads)
    batch = args.batch_size
    load_before = _loadavg()
    busy = _busy_process() if args.load else None
    try:
        rows = []
        profiles: dict = {} if args.profile else None
        for demo in args.demos:
            net, tc, x, y = load_demo(demo)
            N = x.shape[1]
            full = math.ceil(N / batch)
            nb = full if args.batches <= 0 else min(args.batches, full)
            if nb < full:  # whole batches only, so every variant sees the same samples
                x, y = x[:, :nb * batch], y[:nb * batch]
            per_epoch = N / (nb * batch) if nb < full else 1.0
            print(f"{demo}: {net.n_nodes} LUTs, T = {x.shape[0]}, {N} training samples, "
                  f"timing {nb} of {full} batches", file=sys.stderr)
            times, losses = {}, {}
            variants = ["numba"] + (["baseline"] if baseline else []) + (
                [] if args.no_reference else ["reference"])
            for kernels in variants:
                s, loss = time_spikelut(net, tc, x, y, kernels, nb, batch, baseline, profiles,
                                        args.forward)
                times[kernels], losses[kernels] = s * per_epoch, loss
                print(f"  {kernels}: {s:.2f} s for {nb} batches", file=sys.stderr)
            if not args.no_torch:
                s, loss = time_torch(net, tc, x, y, nb, batch)
                times["torch"], losses["torch"] = s * per_epoch, loss
                print(f"  torch: {s:.2f} s for {nb} batches", file=sys.stderr)
            rows.append({"demo": demo, "luts": net.n_nodes, "T": int(x.shape[0]), "samples": N,
                         "batches": nb, "full": full, "times": times, "losses": losses,
                         "profile": dict(profiles) if profiles is not None else None})
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    cmd = " ".join(shlex.quote(a) for a in [sys.executable, "demos/bench_train_epoch.py"] + list(
        sys.argv[1:] if argv is None else argv))
    return _emit(report(rows, threads, cmd, batch, args.load, args.exact_threads,
                        (load_before, _loadavg())), args.out)


def backward_kernel(demo: str, batch: int, batches: int, calls: int, threads: int,
                    exact: bool) -> str:
    """Milliseconds of the numba backend's backward pass alone (``kernels_bits.backward`` and
    :func:`spikelut.train.kernels_cpu.backward`, wrappers included), ``calls`` times on
    the arguments of the last of ``batches`` training batches (numba backend), and a hash of the
    gradients: a change to the kernel that keeps the bits keeps the hash."""
    from spikelut.threads import TRAIN_THREADS_ENV

    before = os.environ.get(TRAIN_THREADS_ENV)
    if exact:  # this call's passes only (a caller in the same process keeps its setting)
        os.environ[TRAIN_THREADS_ENV] = str(threads)
    try:
        return _backward_kernel(demo, batch, batches, calls, threads, exact)
    finally:
        if before is None:
            os.environ.pop(TRAIN_THREADS_ENV, None)
        else:
            os.environ[TRAIN_THREADS_ENV] = before


def _backward_kernel(demo: str, batch: int, batches: int, calls: int, threads: int,
                     exact: bool) -> str:
    """:func:`backward_kernel` with the thread setting in place."""
    import hashlib

    from spikelut.train import Trainer, TrainConfig, kernels_bits

    net, tc, x, y = load_demo(demo)
    cfg = TrainConfig.from_dict({**tc.to_dict(), "epochs": 1, "batch_size": batch,
                                 "backend": "numba", "keep": "last"})
    seen = []
    real = kernels_bits.backward  # what the trainer runs (kernels_cpu's, told what it skips)

    def keep(*a, **k):
        seen[:] = [(a, k)]
        return real(*a, **k)

    kernels_bits.backward = keep  # read when the trainer picks its passes
    try:
        Trainer(net, cfg, progress=False).fit((x[:, :batches * batch], y[:batches * batch]))
    finally:
        kernels_bits.backward = real
    a, k = seen[0]
    h = hashlib.sha256()
    for g in real(*a, **k)[0]:
        h.update(np.ascontiguousarray(g).tobytes())
    ms = []
    for _ in range(calls):
        t0 = time.perf_counter()
        real(*a, **k)
        ms.append((time.perf_counter() - t0) * 1e3)
    return (f"{demo}: backward pass of batch {batches} (batch size {batch}, {threads} thread(s)"
            f"{' exactly' if exact else ' at most'}): min {min(ms):.2f} ms, median "
            f"{float(np.median(ms)):.2f} ms over {calls} calls; gradients sha256 "
            f"{h.hexdigest()[:12]}")


def _emit(text: str, out: str | None) -> int:
    print(text)
    if out:
        from spikelut.fileutil import write_text_atomic

        write_text_atomic(out, text)
    return 0


def _loadavg() -> float | None:
    """The 1-minute load average (``None`` where ``os.getloadavg`` is missing)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _busy_process():
    """One other process spinning on a core (the "under load" condition)."""
    import subprocess

    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


# ---------------------------------------------------------------------------- memory
#: cycles of one ACSF1 series (the thermometer code runs one time step per cycle)
ACSF1_CYCLES = 1460


def acsf1(cycles: int):
    """The ACSF1 network of ``demos/run_acsf1.toml`` and its training split encoded as there
    (its ``[coding]`` section, one time step per cycle), cut to the first ``cycles`` cycles."""
    from spikelut.config import build_network, load_config
    from spikelut.datasets import encode_dataset
    from spikelut.train import TrainConfig

    cfg = load_config(HERE / "run_acsf1.toml")
    net = build_network(cfg)
    tc = TrainConfig.from_dict(cfg.get("train"), seed=cfg.get("seed"))
    coding = dict(cfg.get("coding"))
    name = coding.pop("name")
    coding.pop("steps", None)
    sd = encode_dataset("ACSF1", name, None, split="train", seed=0, **coding)
    x = np.ascontiguousarray(sd.spikes[:cycles], dtype=np.uint8)
    return net, tc, x, np.asarray(sd.labels, np.int64)


def memory_point(cycles: int, backend: str, batch: int, batches: int) -> int:
    """One point of :func:`memory_report` (run in a fresh process): trains ``batches`` batches
    and prints one JSON line: peak resident memory, seconds, the estimate."""
    import json
    import resource

    from spikelut.train import Trainer, TrainConfig
    from spikelut.train.bptt import compile_plan
    from spikelut.train.kernels_cpu import memory_estimate

    net, tc, x, y = acsf1(cycles)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # one member of the config's seed ensemble: members train one after another, so the peak
    # memory of an ensemble's training is one member's
    cfg = TrainConfig.from_dict({**tc.to_dict(), "epochs": 1, "batch_size": batch,
                                 "backend": backend, "keep": "last", "ensemble": 1})
    n = min(x.shape[1], batch * batches)
    t0 = time.perf_counter()
    Trainer(net, cfg, progress=False).fit((x[:, :n], y[:n]))
    sec = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    est = memory_estimate(compile_plan(net), x.shape[0], batch)
    print(json.dumps({"cycles": int(x.shape[0]), "backend": backend, "batch": batch,
                      "batches": math.ceil(n / batch), "peak_rss": peak, "rss_before": before,
                      "seconds": sec, "estimate": est}))
    return 0


COST_BATCHES = (1, 8, 16, 25, 32, 64, 128, 256)


def forward_costs(ks: list[int], threads: int, steps: int = 20) -> str:
    """ns per node and cycle of both training forward passes on random networks (64 inputs, two
    layers of ``n`` nodes of one ``k`` and a readout; ``n`` = 2,000 for k <= 6, 800 for 7..9,
    200 beyond), training (``save``) and evaluation, best of 2 x 3 alternated calls; the
    speed-up table and the least-squares fit (relative errors) of ``kernels_bits.COST_NS``."""
    from spikelut.train import bptt, kernels_bits, kernels_cpu
    from spikelut.wiring import random_network

    def best(fn):
        fn()
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return min(ts)

    rng = np.random.default_rng(0)
    rows = []
    for k in ks:
        n = 2000 if k <= 6 else (800 if k <= 9 else 200)
        net = random_network(k, n_in=64, sizes=[n, n, 10], k=k, max_delay=2,
                             refractory=[1, 0, 0], classes=10)
        plan = bptt.compile_plan(net)
        tables = bptt.tables_of([rng.normal(0, 0.3, l.table.shape).astype(np.float32)
                                 for l in net.layers])
        ro = net.readout.layer
        for B in COST_BATCHES:
            x = (rng.random((steps, B, 64)) < 0.5).astype(np.uint8)
            calls = (lambda: kernels_cpu.forward(plan, tables, x),
                     lambda: kernels_bits.forward(plan, tables, x).bits,  # + the backward's record
                     lambda: kernels_cpu.forward(plan, tables, x, save=False).spikes(ro),
                     lambda: kernels_bits.forward(plan, tables, x, save=False).spikes(ro))
            t = np.min([[best(c) for c in calls] for _ in range(2)], axis=0)
            rows.append((k, B, *(t * 1e9 / ((2 * n + 10) * steps))))
            print(f"  k = {k}, B = {B}: " + ", ".join(f"{v:.0f}" for v in rows[-1][2:]) + " ns",
                  file=sys.stderr)
    a = np.array(rows)
    k, B = a[:, 0], a[:, 1]
    Wb = np.ceil(B / 64)

    def fit(X, y):  # relative errors: the small cells matter as much as the large ones
        return np.linalg.lstsq(X / y[:, None], np.ones_like(y), rcond=None)[0]

    one = np.ones_like(k)
    look = np.c_[one, k, B, k * B]
    fits = {("lookup", True): fit(look, a[:, 2]), ("lookup", False): fit(look, a[:, 4])}
    # the bit-sliced pass: the mux tree (2**k - 1 muxes a word), or for k <= 6 where the CPU has
    # the bit shuffle the fused look-up (bitsimd.lut_word: k mask moves a word); each fitted on the
    # rows that ran it
    fused = (k <= 6) & kernels_bits.lut_enabled()
    for name, rows_of, cols in (("bitsliced", ~fused, lambda k, Wb: 2 ** k * Wb),
                                ("bitsliced_lut", fused, lambda k, Wb: k * Wb)):
        if rows_of.any():
            kk, bb, ww = k[rows_of], B[rows_of], Wb[rows_of]
            o = np.ones_like(kk)
            fits[name, True] = fit(np.c_[o, cols(kk, ww), bb, kk * bb], a[rows_of, 3])
            fits[name, False] = np.r_[fit(np.c_[o, cols(kk, ww)], a[rows_of, 5]), 0.0, 0.0]
    lines = ["# Training forward passes: lookup / bitsliced time against k and batch", "",
             f"Machine: {machine()}. Threads: {threads}. Date: "
             f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC. {steps} cycles.", "",
             "Speed-up of the bit-sliced pass (lookup time / bitsliced time), training forward "
             "(addresses kept, the time-major record built) / evaluation forward:", "",
             "| k | " + " | ".join(f"B = {b}" for b in COST_BATCHES) + " |",
             "|---|" + "---:|" * len(COST_BATCHES)]
    for kk in ks:
        cells = [f"{r[2] / r[3]:.2f} / {r[4] / r[5]:.1f}" for r in rows if r[0] == kk]
        lines.append(f"| {kk} | " + " | ".join(cells) + " |")
    lines += ["", "Fitted COST_NS (ns per node and cycle; compare spikelut/train/kernels_bits.py):",
              ""] + [f"    {key}: ({', '.join(f'{c:.4g}' for c in v)})," for key, v in fits.items()]
    return "\n".join(lines) + "\n"


def memory_report(cycles: list[int], batch: int, batches: int, threads: int,
                  reference: bool = True) -> str:
    """Peak resident memory of training on ACSF1 against the number of cycles (markdown)."""
    import json
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(HERE.parent)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    rows = []
    for c in cycles:
        for backend in ["numba"] + (["numpy"] if reference else []):
            out = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--memory-point", str(c), backend,
                 "--batch-size", str(batch), "--batches", str(batches), "--threads", str(threads)],
                capture_output=True, text=True, env=env, check=False)
            if out.returncode != 0:
                raise SystemExit(f"bench_train_epoch: the memory run at {c} cycles ({backend}) "
                                 f"failed: {out.stderr.strip().splitlines()[-1:]}")
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"  {c} cycles, {backend}: peak {rows[-1]['peak_rss'] / 2**20:.0f} MiB",
                  file=sys.stderr)
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Training memory against cycles: ACSF1 network (demos/run_acsf1.toml)", "",
        f"Machine: {machine()}. Threads: {threads}. Date: {date}. Batch size {batch}, "
        f"{batches} batches of the training split, first C cycles of each series.", "",
        "| cycles | backend | peak RSS MiB | RSS before training MiB | seconds | estimate of the "
        "compiled passes MiB (spike bits / addresses / rest) |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        e = r["estimate"]
        rest = e["total"] - e["spike_bits"] - e["addresses"]
        est = (f"{e['total'] / 2**20:.1f} ({e['spike_bits'] / 2**20:.1f} / "
               f"{e['addresses'] / 2**20:.1f} / {rest / 2**20:.1f})" if r["backend"] == "numba" else "-")
        lines.append(f"| {r['cycles']} | {r['backend']} | {r['peak_rss'] / 2**20:.0f} | "
                     f"{r['rss_before'] / 2**20:.0f} | {r['seconds']:.1f} | {est} |")
    return "\n".join(lines + [""])


def report(rows: list[dict], threads: int, cmd: str, batch: int = BATCH, load: bool = False,
           exact: bool = False, loadavg: tuple[float | None, float | None] = (None, None)) -> str:
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    has_torch = any("torch" in r["times"] for r in rows)
    if any("baseline" in r["times"] or "reference" not in r["times"] for r in rows):
        return _report_variants(rows, threads, cmd, batch, load, date, exact, loadavg)
    lines = [
        "# Training: seconds per epoch, spikelut vs PyTorch autograd", "",
        f"Machine: {machine()}. Threads: {threads} (numba, torch and BLAS). Date: {date}.", "",
        f"Command: `{cmd}`", "",
        f"Batch size {batch}, Adam, cross-entropy on class counts, cosine lr, clip 1.0; the demo configs' "
        "networks and encodings (`demos/train_demos.py`). Seconds per epoch of the whole training "
        "loop (no validation), after one warm-up batch.", "",
        "| network | LUTs | cycles | train samples | batches timed | numba s/epoch | reference s/epoch "
        + ("| torch s/epoch | numba vs torch | reference vs torch |" if has_torch else "| numba vs reference |"),
        "|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|---:|" if has_torch else "---:|"),
    ]
    for r in rows:
        t = r["times"]
        cells = [r["demo"], str(r["luts"]), str(r["T"]), str(r["samples"]),
                 f"{r['batches']} of {r['full']}", f"{t['numba']:.1f}", f"{t['reference']:.1f}"]
        if has_torch:
            cells += [f"{t['torch']:.1f}", f"{t['torch'] / t['numba']:.1f}x",
                      f"{t['torch'] / t['reference']:.1f}x"]
        else:
            cells += [f"{t['reference'] / t['numba']:.1f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    if any(r["batches"] < r["full"] for r in rows):
        lines += ["", "Where fewer batches than the epoch were timed, seconds per epoch = measured "
                  "seconds x train samples / samples timed (per-sample scaling)."]
    lines += ["", "Mean training loss over the timed batches (same initial logits, same samples "
              "in the same order; numba and reference agree to float32 rounding; torch's gradients equal "
              "bptt's within float32 rounding (tests/test_bench.py), and Adam's near-sign first steps "
              "let its trajectory drift by < 1 %): "
              + "; ".join(f"{r['demo']}: " + ", ".join(f"{k} {v:.4f}" for k, v in r["losses"].items())
                          for r in rows), ""]
    return "\n".join(lines)


def _report_variants(rows: list[dict], threads: int, cmd: str, batch: int, load: bool,
                     date: str, exact: bool = False,
                     loadavg: tuple[float | None, float | None] = (None, None)) -> str:
    """The table with whichever variants ran (numba, baseline, reference, torch)."""
    names = [v for v in ("numba", "baseline", "reference", "torch") if any(v in r["times"] for r in rows)]
    rule = (" (exactly, SPIKELUT_TRAIN_THREADS)" if exact else
            " (at most: the default rule uses no more than the idle CPUs)")
    la = ("" if None in loadavg else
          f" Load average (1 min) before / after: {loadavg[0]:.2f} / {loadavg[1]:.2f}.")
    lines = [
        "# Training: seconds per epoch", "",
        f"Machine: {machine()}. Threads: {threads}{rule}. Date: {date}."
        + (" Under load: one other busy process ran throughout." if load else "") + la, "",
        f"Command: `{cmd}`", "",
        f"Batch size {batch}; the demo configs' networks, encodings and [train] settings; seconds "
        "per epoch of the whole training loop (no validation), after one warm-up batch. "
        "baseline = the compiled passes of --baseline-kernels; numba = this tree's compiled "
        "passes (forward pass: the command's --forward, default auto).", "",
        "| network | LUTs | cycles | batches timed | " + " | ".join(f"{v} s/epoch" for v in names)
        + (" | baseline / numba |" if "baseline" in names else " |"),
        "|---|---:|---:|---:|" + "---:|" * len(names) + ("---:|" if "baseline" in names else ""),
    ]
    for r in rows:
        t = r["times"]
        cells = [r["demo"], str(r["luts"]), str(r["T"]), f"{r['batches']} of {r['full']}"]
        cells += [f"{t[v]:.2f}" if v in t else "-" for v in names]
        if "baseline" in names:
            cells.append(f"{t['baseline'] / t['numba']:.2f}x" if "baseline" in t else "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Mean training loss over the timed batches: " + "; ".join(
        f"{r['demo']}: " + ", ".join(f"{k} {v:.4f}" for k, v in r["losses"].items()) for r in rows), ""]
    for r in rows:
        for variant, top in (r.get("profile") or {}).items():
            lines += [f"Profile of {r['demo']}, {variant} (cProfile own time, ms per batch): "
                      + ", ".join(f"{name} {ms:.1f}" for name, ms in top), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys as _sys
    from pathlib import Path as _Path

    _sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))  # demos.* when run as a script
    from demos._script import run_main

    run_main(main)  # bad input: one line and status 1, as the spikelut command does
