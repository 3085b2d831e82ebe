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
BATCH = 50
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


def time_spikelut(net, tc, x, y, kernels: str, batches: int) -> tuple[float, float]:
    """Seconds for ``batches`` training batches with the spikelut trainer; and the first loss."""
    from spikelut.train import Trainer, TrainConfig

    cfg = TrainConfig.from_dict({**tc.to_dict(), "epochs": 1, "batch_size": BATCH,
                                 "backend": {"reference": "numpy"}.get(kernels, kernels),
                                 "keep": "last"})
    warm = Trainer(net, cfg, progress=False)  # compile / warm caches on one batch
    warm.fit((x[:, :BATCH], y[:BATCH]))
    tr = Trainer(net, cfg, progress=False)
    n = batches * BATCH
    t0 = time.perf_counter()
    res = tr.fit((x[:, :n], y[:n]))
    return time.perf_counter() - t0, res.history[0]["loss"]


def time_torch(net, tc, x, y, batches: int) -> tuple[float, float]:
    """The same epoch with the PyTorch autograd model of :mod:`spikelut.bench_torch`."""
    import torch

    from spikelut.bench_torch import TorchModel
    from spikelut.train import Trainer, TrainConfig
    from spikelut.train.bptt import compile_plan
    from spikelut.train.losses import default_logit_scale
    from spikelut.train.optim import lr_at

    cfg = TrainConfig.from_dict({**tc.to_dict(), "epochs": 1, "batch_size": BATCH, "keep": "last"})
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
    n = batches * BATCH
    order = torch.as_tensor(ref.rng.permutation(n))  # the trainer's first epoch order

    def step(b: int, total: int) -> float:
        idx = order[b * BATCH:(b + 1) * BATCH]
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
    p.add_argument("--threads", type=int, default=1, help="threads for numba, torch and BLAS (default 1)")
    p.add_argument("--no-torch", action="store_true", help="time the spikelut variants only")
    p.add_argument("-o", "--out", default=None, help="also write the table as markdown to this file")
    args = p.parse_args(argv)
    threads = max(1, args.threads)
    args.demos = args.demos or list(DEMOS)
    for d in args.demos:
        if d not in DEMOS:
            p.error(f"unknown network {d!r}; choose from {', '.join(DEMOS)}")
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
    rows = []
    for demo in args.demos:
        net, tc, x, y = load_demo(demo)
        N = x.shape[1]
        full = math.ceil(N / BATCH)
        nb = full if args.batches <= 0 else min(args.batches, full)
        if nb < full:  # whole batches only, so every variant sees the same samples
            x, y = x[:, :nb * BATCH], y[:nb * BATCH]
        per_epoch = N / (nb * BATCH) if nb < full else 1.0
        print(f"{demo}: {net.n_nodes} LUTs, T = {x.shape[0]}, {N} training samples, "
              f"timing {nb} of {full} batches", file=sys.stderr)
        times, losses = {}, {}
        for kernels in ("numba", "reference"):
            s, loss = time_spikelut(net, tc, x, y, kernels, nb)
            times[kernels], losses[kernels] = s * per_epoch, loss
            print(f"  {kernels}: {s:.2f} s for {nb} batches", file=sys.stderr)
        if not args.no_torch:
            s, loss = time_torch(net, tc, x, y, nb)
            times["torch"], losses["torch"] = s * per_epoch, loss
            print(f"  torch: {s:.2f} s for {nb} batches", file=sys.stderr)
        rows.append({"demo": demo, "luts": net.n_nodes, "T": int(x.shape[0]), "samples": N,
                     "batches": nb, "full": full, "times": times, "losses": losses})
    cmd = " ".join(shlex.quote(a) for a in [sys.executable, "demos/bench_train_epoch.py"] + list(
        sys.argv[1:] if argv is None else argv))
    text = report(rows, threads, cmd)
    print(text)
    if args.out:
        from spikelut.fileutil import write_text_atomic

        write_text_atomic(args.out, text)
    return 0


def report(rows: list[dict], threads: int, cmd: str) -> str:
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    has_torch = any("torch" in r["times"] for r in rows)
    lines = [
        "# Training: seconds per epoch, spikelut vs PyTorch autograd", "",
        f"Machine: {machine()}. Threads: {threads} (numba, torch and BLAS). Date: {date}.", "",
        f"Command: `{cmd}`", "",
        "Batch size 50, Adam, cross-entropy on class counts, cosine lr, clip 1.0; the demo configs' "
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


if __name__ == "__main__":
    sys.exit(main())
