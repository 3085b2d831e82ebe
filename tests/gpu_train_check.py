"""GPU training check on the MNIST-1D demo network, called by ``tests/gpu_device_check.sh``.

1. Gradients: one batch of the demo's training data through the numpy reference
   (``train/bptt.py``), the numba passes and the CUDA kernels (fused over time, the default, and
   one launch per cycle and layer: ``cuda-unfused``); logit gradients must agree within float32
   rounding (``rtol = 1e-4``, ``atol = 1e-6 x`` the largest gradient) and the spikes exactly.
2. Seconds per epoch: ``--epochs`` epochs of the demo config (batch 25, Adam, cosine) on the
   first ``--samples`` training samples with ``backend = "numba"``, ``"cuda"`` and
   ``cuda-unfused``, in the same run, after one warm-up batch each (numba compilation, NVRTC
   compile); the time is scaled to the full 4,000-sample epoch when fewer samples are used.

Writes ``OUT/train_gpu.json`` and ``OUT/train_gpu.md``. Without a usable GPU the CUDA parts are
recorded as skipped with the reason and the rest still runs (a dry run on a CPU machine:
``python tests/gpu_train_check.py --out /tmp/x --samples 50 --epochs 1``). Exit status 1 when a
check that ran failed.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spikelut.config import build_network, load_config  # noqa: E402
from spikelut.datasets import encode_dataset  # noqa: E402
from spikelut.train import Trainer, TrainConfig, bptt  # noqa: E402
from spikelut.train.passes import TrainBackend, resolve_backend, to_host, why_unavailable  # noqa: E402
from spikelut.train.surrogates import get_surrogate  # noqa: E402

FULL_EPOCH = 4000  # training samples of the MNIST-1D split the demo uses


def load(samples: int):
    cfg = load_config(ROOT / "demos" / "train_mnist1d.toml")
    net = build_network(cfg)
    tc = TrainConfig.from_dict(cfg.get("train"), seed=cfg.get("seed"))
    sd = encode_dataset("mnist1d", "thermometer", 40, split="train", seed=0, levels=32)
    x = np.ascontiguousarray(sd.spikes[:, :samples], dtype=np.uint8)
    y = np.asarray(sd.labels[:samples], np.int64)
    return net, tc, x, y


def backend(name: str) -> TrainBackend:
    """``numpy``, ``numba``, ``cuda`` or ``cuda-unfused`` (one launch per cycle and layer)."""
    if name != "cuda-unfused":
        return resolve_backend(name)
    from spikelut.train import kernels_gpu

    be = resolve_backend("cuda")
    return TrainBackend(name, be.xp, functools.partial(kernels_gpu.forward, fused=False),
                        functools.partial(kernels_gpu.backward, fused=False))


def _one_batch(net, tc, ref_tr, sg, be, xb, yb):
    """Logit gradients, spike history and loss of one batch with backend ``be``, on the host."""
    thetas = [be.xp.asarray(p) for p in ref_tr.params]
    fwd = be.forward(ref_tr.plan, bptt.tables_of(thetas), be.xp.asarray(xb))
    ro = net.readout
    loss, g = ref_tr.loss_fn(fwd.spikes(ro.layer), be.xp.asarray(yb), ro, **ref_tr.loss_kw)
    g_spikes = [None] * len(net.layers)
    g_spikes[ro.layer] = g
    grads, _ = be.backward(ref_tr.plan, thetas, fwd, g_spikes, sg, tc.refractory_grad, tc.tap_grad,
                           tc.tbptt)
    return ([to_host(be.xp, a) for a in grads], to_host(be.xp, fwd.hist),
            float(to_host(be.xp, loss)))


def gradients(net, tc, x, y, backends: list[str]) -> dict:
    """One batch through every backend's passes; differences against the numpy reference."""
    sg = get_surrogate(tc.surrogate, tc.width)
    ref_tr = Trainer(net, TrainConfig.from_dict({**tc.to_dict(), "backend": "numpy"}), progress=False)
    xb, yb = x[:, :tc.batch_size], y[:tc.batch_size]
    out: dict = {"batch": int(xb.shape[1])}
    ref = None
    for name in ["numpy"] + backends:
        try:
            host = _one_batch(net, tc, ref_tr, sg, backend(name), xb, yb)
        except Exception as e:  # record it and go on: the other backends' numbers still count
            out[name] = {"error": f"{type(e).__name__}: {e}", "ok": False}
            continue
        if ref is None:
            ref = host
            out["max_abs_grad"] = float(max(np.abs(a).max() for a in host[0]))
            continue
        scale = out["max_abs_grad"]
        diff = max(float(np.abs(a - b).max()) for a, b in zip(host[0], ref[0]))
        close = all(np.allclose(a, b, rtol=1e-4, atol=1e-6 * scale) for a, b in zip(host[0], ref[0]))
        out[name] = {"max_abs_diff": diff, "spikes_equal": bool(np.array_equal(host[1], ref[1])),
                     "loss": host[2], "loss_ref": ref[2], "ok": bool(close and np.array_equal(host[1], ref[1]))}
    return out


def epochs(net, tc, x, y, name: str, n_epochs: int) -> dict:
    """Seconds per epoch with backend ``name`` (after a one-batch warm-up), losses, accuracies."""
    cfg = TrainConfig.from_dict({**tc.to_dict(), "epochs": n_epochs, "keep": "last"})
    warm = Trainer(net, TrainConfig.from_dict({**cfg.to_dict(), "epochs": 1}), progress=False,
                   backend=backend(name))
    warm.fit((x[:, :tc.batch_size], y[:tc.batch_size]))
    tr = Trainer(net, cfg, progress=False, backend=backend(name))
    res = tr.fit((x, y))
    scale = FULL_EPOCH / x.shape[1]
    return {"backend": tr.backend.name, "epoch_s": [r["time"] for r in res.history],
            "s_per_full_epoch": min(r["time"] for r in res.history) * scale,
            "loss": [r["loss"] for r in res.history], "acc": [r["acc"] for r in res.history]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--samples", type=int, default=FULL_EPOCH)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cuda_why = why_unavailable("cuda")
    numba_why = why_unavailable("numba")
    rec: dict = {"machine": {"python": platform.python_version(), "platform": platform.platform()},
                 "samples": args.samples, "epochs": args.epochs, "cuda": cuda_why or "available",
                 "numba": numba_why or "available"}
    if cuda_why is None:
        import cupy as cp

        dev = cp.cuda.Device()
        rec["machine"]["gpu"] = cp.cuda.runtime.getDeviceProperties(dev.id)["name"].decode()
        rec["machine"]["cupy"] = cp.__version__
    net, tc, x, y = load(args.samples)
    print(f"MNIST-1D demo: {net.n_nodes} LUTs, x {x.shape}, batch {tc.batch_size}", flush=True)
    ok = True
    backends = [b for b, why in (("numba", numba_why), ("cuda", cuda_why),
                                 ("cuda-unfused", cuda_why)) if why is None]
    t0 = time.perf_counter()
    rec["gradients"] = gradients(net, tc, x, y, backends)
    print("gradients:", json.dumps(rec["gradients"]), f"({time.perf_counter() - t0:.1f} s)", flush=True)
    ok &= all(rec["gradients"][b]["ok"] for b in backends)
    rec["timing"] = {}
    for b in backends:
        t0 = time.perf_counter()
        try:
            rec["timing"][b] = epochs(net, tc, x, y, b, args.epochs)
        except Exception as e:  # record it and go on: the other backends' numbers still count
            rec["timing"][b] = {"error": f"{type(e).__name__}: {e}"}
            ok = False
        print(f"{b}:", json.dumps(rec["timing"][b]), f"({time.perf_counter() - t0:.1f} s)", flush=True)
    t = {b: r for b, r in rec["timing"].items() if "error" not in r}
    for c in ("cuda", "cuda-unfused"):
        if "numba" in t and c in t:
            rec[f"speedup_{c}_vs_numba"] = t["numba"]["s_per_full_epoch"] / t[c]["s_per_full_epoch"]
            # the same seed and data: the runs stay together within float32 rounding
            rec[f"loss_rel_diff_{c}"] = max(abs(a - b) / abs(b) for a, b in zip(t[c]["loss"], t["numba"]["loss"]))
            ok &= rec[f"loss_rel_diff_{c}"] < 1e-2
    rec["ok"] = bool(ok)
    (out / "train_gpu.json").write_text(json.dumps(rec, indent=1) + "\n")
    lines = ["# GPU training check (MNIST-1D demo network)", "",
             f"cuda: {rec['cuda']}; numba: {rec['numba']}; {args.samples} samples, {args.epochs} epochs",
             "", "| backend | s per 4,000-sample epoch | epoch losses | gradient max abs diff vs numpy |",
             "|---|---:|---|---:|"]
    for b in backends:
        g = rec["gradients"][b]
        gd = f"{g['max_abs_diff']:.3g}" if "max_abs_diff" in g else g.get("error", "")
        if b not in t:
            lines.append(f"| {b} | {rec['timing'][b]['error']} | | {gd} |")
            continue
        lines.append(f"| {b} | {t[b]['s_per_full_epoch']:.2f} | "
                     f"{', '.join(f'{v:.4f}' for v in t[b]['loss'])} | {gd} |")
    for c in ("cuda", "cuda-unfused"):
        if f"speedup_{c}_vs_numba" in rec:
            lines += ["", f"{c} vs numba per epoch: {rec[f'speedup_{c}_vs_numba']:.1f}x"]
    lines += ["", f"all checks {'passed' if ok else 'FAILED'}"]
    (out / "train_gpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
