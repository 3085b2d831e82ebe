"""Throughput benchmarks: LUT-evaluations per second of every engine, measured in one run.

Inference throughput is ``nodes x batch x steps / seconds`` for one call of
``simulate(net, spikes, record="readout")`` (input packing, the simulation, unpacking the readout
layer and the class counts, i.e. everything a classifier needs), best of ``repeats`` calls after
a warm-up call (numba / NVRTC compilation excluded). For the bit-sliced CPU engine the compiled
kernel alone (packed input words in, packed readout words out) is also timed ("kernel"). The
reference engine is far slower, so it runs on the same network with at most 8 cycles and about
:data:`REFERENCE_EVALS` LUT-evaluations' worth of samples, and its rate is taken per
LUT-evaluation; the speed-ups in the report are against that rate measured in the same run.
GPU timings take the input already on the GPU and synchronize before stopping the clock.

Training throughput: one training step (forward + backward of a batch, no optimizer) of the
reference passes (``train/bptt.py``, numpy) and the compiled ones (``train/kernels_cpu.py``) on
the set-ups of DESIGN.md section 8 (:data:`TRAIN_CASES`). When :mod:`spikelut.train` exposes a
hook ``bench_training(nodes, k, batch, steps, seed, device) -> dict`` (the trainer's own
benchmark, e.g. whole epochs), it is called instead and its dict is reported.

Example:
    >>> from spikelut.bench import run_bench
    >>> rep = run_bench(sizes=["tiny"], device="cpu", repeats=1)
    >>> sorted({r["engine"] for r in rep["inference"][0]["results"]})
    ['bitsliced', 'reference']
"""

from __future__ import annotations

import datetime as _dt
import importlib
import os
import platform
import sys
import time
from typing import Any, Callable, Sequence

import numpy as np

from .errors import ConfigError
from .fileutil import BENCH_TITLE
from .xp import gpu_available, require_gpu
from .network import Network
from .wiring import random_network

# name: nodes, taps per node, batch, steps (the "default" size is DESIGN.md section 6's target)
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"nodes": 200, "k": 6, "batch": 130, "steps": 4},
    "small": {"nodes": 1_000, "k": 6, "batch": 1_024, "steps": 32},
    "default": {"nodes": 10_000, "k": 6, "batch": 4_096, "steps": 32},
    "large": {"nodes": 50_000, "k": 6, "batch": 8_192, "steps": 32},
}
INPUTS = 256
# LUT-evaluations the reference engine is given per size (about 1-2 s of numpy on one core)
REFERENCE_EVALS = 2e7
DEFAULT_SIZES = ("small", "default", "large")


def bench_network(nodes: int, k: int = 6, seed: int = 0, inputs: int = INPUTS) -> Network:
    """The benchmark network: two equal hidden layers and a readout layer of 10 classes x 20
    nodes (or 20 % of ``nodes`` when that is smaller); taps to any layer at delays 0..2
    (recurrent ones >= 1), refractory 1 in the hidden layers.

    Args:
        nodes: total nodes over the three layers.
        k: taps per node.
        seed: seed of the random tables and wiring.
        inputs: input channels.

    Returns:
        A random, validated :class:`~spikelut.network.Network`.

    Raises:
        ConfigError: sizes or ``k`` that :func:`spikelut.wiring.random_network` refuses (e.g.
            too few nodes for three layers).

    Example:
        >>> bench_network(10_000).sizes
        [4900, 4900, 200]
    """
    out = min(200, max(10, nodes // 5))
    a = (nodes - out) // 2
    sizes = [a, nodes - out - a, out]
    return random_network(seed, n_in=inputs, sizes=sizes, k=k, max_delay=2, refractory=[1, 1, 0],
                          recurrent=True, classes=10)


def machine_info() -> dict:
    """CPU model, cores, library versions and (when present) the GPU.

    Returns:
        ``{"cpu", "cores", "numba_threads", "python", "platform", "numpy", "numba", "gpu",
        "cupy"}``; ``gpu`` and ``cupy`` are ``None`` without a usable GPU.

    Example:
        >>> sorted(machine_info())[:3]
        ['cores', 'cpu', 'cupy']
    """
    import numba

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu, "cores": os.cpu_count(), "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "python": platform.python_version(), "platform": platform.platform(),
        "numpy": np.__version__, "numba": numba.__version__, "gpu": None, "cupy": None,
    }
    if gpu_available():
        cp = require_gpu()
        props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
        name = props["name"]
        info["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
        info["cupy"] = cp.__version__
    return info


def _best_time(fn: Callable[[], Any], repeats: int, sync: Callable[[], None] = lambda: None) -> float:
    best = float("inf")
    for _ in range(max(1, repeats)):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


_BACKEND_OF = {"reference": "numpy", "bitsliced": "numba", "gpu": "cuda"}


def _entry(engine: str, device: str, threads: int | None, nodes: int, batch: int, steps: int,
           seconds: float, scaled: bool, threads_rule: str | None = "fixed") -> dict:
    evals = nodes * batch * steps
    return {"engine": engine, "backend": _BACKEND_OF[engine], "device": device, "threads": threads,
            "threads_rule": threads_rule,
            "batch": batch, "steps": steps,
            "seconds": seconds, "lut_evals": evals, "lut_evals_per_s": evals / seconds,
            "scaled_from_smaller_run": scaled, "speedup_vs_reference": None,
            "kernel_seconds": None, "kernel_lut_evals_per_s": None}


def bench_size(name: str, backends: Sequence[str] = ("numpy", "numba"), repeats: int = 3,
               threads: int | None = None, seed: int = 0,
               progress: Callable[[str], None] = lambda s: None) -> dict:
    """Measure ``backends`` on the size ``name`` (a key of :data:`SIZES`); the numpy reference
    always runs, as the base of the speed-ups."""
    from .engine import bitsliced, reference
    from .engine.bitpack import pack
    from .engine.plan import build_plan

    if name not in SIZES:
        raise ConfigError(f"unknown benchmark size {name!r}; choose from {', '.join(SIZES)}")
    size = SIZES[name]
    N, k, B, T = size["nodes"], size["k"], size["batch"], size["steps"]
    net = bench_network(N, k, seed)
    x = (np.random.default_rng(seed).random((T, B, net.n_in)) < 0.3).astype(np.uint8)
    results = []

    T_ref = min(T, 8)
    B_ref = int(min(B, max(16, REFERENCE_EVALS // (N * T_ref))))
    progress(f"{name}: reference ({B_ref} samples x {T_ref} cycles)")
    x_ref = np.ascontiguousarray(x[:T_ref, :B_ref])
    t = _best_time(lambda: reference.simulate(net, x_ref), 1)
    results.append(_entry("reference", "cpu", 1, N, B_ref, T_ref, t, (B_ref, T_ref) != (B, T)))

    if "numba" in backends:
        bitsliced.simulate(net, x[:2, :64], record="readout")  # compile (cached on disk after 1st run)
        plan = build_plan(net, "readout", steps=T)
        words = pack(x)
    # one thread, then what a user gets: the engine's default rule (bitsliced.choose_threads,
    # which looks at the work and the current load), or the fixed count of --threads
    for th in (([1] if threads == 1 else [1, threads]) if "numba" in backends else []):
        n = bitsliced.choose_threads(plan.tap_sig.shape[0], T, words.shape[2], th)[0]
        progress(f"{name}: bitsliced, " + ("default threads" if th is None else f"{th} thread(s)"))
        t = _best_time(lambda: bitsliced.simulate(net, x, record="readout", threads=th), repeats)
        entry = _entry("bitsliced", "cpu", n, N, B, T, t, False,
                       "fixed" if th is not None else "default")
        tk = _best_time(lambda: bitsliced.simulate_packed(plan, words, threads=th), repeats)
        entry.update(kernel_seconds=tk, kernel_lut_evals_per_s=N * B * T / tk)
        results.append(entry)

    if "cuda" in backends:
        from .engine import gpu

        cp = require_gpu()
        xg = cp.asarray(x)
        gpu.simulate(net, xg[:2], record="readout")
        progress(f"{name}: gpu")
        t = _best_time(lambda: gpu.simulate(net, xg, record="readout"), repeats,
                       cp.cuda.Device().synchronize)
        results.append(_entry("gpu", "gpu", None, N, B, T, t, False, None))

    ref_rate = results[0]["lut_evals_per_s"]
    for r in results:
        r["speedup_vs_reference"] = r["lut_evals_per_s"] / ref_rate
    return {"size": name, "nodes": N, "k": k, "batch": B, "steps": T, "inputs": net.n_in,
            "layers": net.sizes, "max_delay": net.max_delay(), "results": results}


# training-step cases: the two set-ups of DESIGN.md section 8 (batch 50) and a tiny one for tests
TRAIN_CASES: dict[str, dict] = {
    "tiny": {"inputs": 8, "sizes": [40, 10], "k": 6, "batch": 10, "steps": 4, "max_delay": 1,
             "refractory": 0},
    "mnist1d": {"inputs": 160, "sizes": [2048, 200], "k": 6, "batch": 50, "steps": 40,
                "max_delay": 1, "refractory": 0},
    "mnist5k": {"inputs": 1568, "sizes": [2000, 1000, 300], "k": 6, "batch": 50, "steps": 1,
                "max_delay": 0, "refractory": 0},
}


def _bench_train_case(name: str, repeats: int, threads: int | None, seed: int) -> list[dict]:
    import numba

    from .train import bptt, kernels_cpu
    from .train.surrogates import get_surrogate

    c = TRAIN_CASES[name]
    net = random_network(seed, n_in=c["inputs"], sizes=c["sizes"], k=c["k"],
                         max_delay=c["max_delay"], refractory=c["refractory"],
                         recurrent=c["max_delay"] > 0, classes=10)
    plan = bptt.compile_plan(net)
    rng = np.random.default_rng(seed)
    T, B = c["steps"], c["batch"]
    x = (rng.random((T, B, net.n_in)) < 0.3).astype(np.uint8)
    thetas = [rng.normal(0, 0.1, layer.table.shape).astype(np.float32) for layer in net.layers]
    tables = bptt.tables_of(thetas)
    g = [None] * (len(net.layers) - 1) + [rng.normal(0, 1, (T, B, net.sizes[-1])).astype(np.float32)]
    sg = get_surrogate("fast_sigmoid")

    def step(mod):
        return lambda: mod.backward(plan, thetas, mod.forward(plan, tables, x), g, sg)

    kernels_cpu.backward(plan, thetas, kernels_cpu.forward(plan, tables, x[:, :2]),
                         [None if a is None else a[:, :2] for a in g], sg)  # compile
    runs = [("bptt (numpy reference)", bptt, 1)]
    all_threads = int(threads or numba.config.NUMBA_NUM_THREADS)
    runs += [("kernels_cpu (numba)", kernels_cpu, th) for th in sorted({1, all_threads})]
    out = []

    def record(label: str, th: int, t: float) -> None:
        out.append({"case": name, "nodes": net.n_nodes, "batch": B, "steps": T, "engine": label,
                    "threads": th, "seconds_per_step": t, "samples_per_s": B / t,
                    "lut_evals_per_s": net.n_nodes * B * T / t, "speedup_vs_bptt": None})

    old = numba.get_num_threads()
    try:
        for label, mod, th in runs:
            numba.set_num_threads(th)
            record(label, th, _best_time(step(mod), repeats))
    finally:
        numba.set_num_threads(old)
    from .bench_torch import make_step, torch_available

    if torch_available():
        import torch

        torch_step, _ = make_step(plan, thetas, x, g)
        torch_step()  # warm-up
        old_t = torch.get_num_threads()
        try:
            for th in sorted({1, all_threads}):
                torch.set_num_threads(th)
                record("pytorch autograd", th, _best_time(torch_step, repeats))
        finally:
            torch.set_num_threads(old_t)
    for r in out:
        r["speedup_vs_bptt"] = out[0]["seconds_per_step"] / r["seconds_per_step"]
    return out


def bench_training(sizes: Sequence[str], device: str, seed: int = 0, repeats: int = 3,
                   threads: int | None = None) -> dict:
    """Training-step throughput (forward + backward of one batch, no optimizer).

    ``spikelut.train.bench_training(nodes, k, batch, steps, seed, device) -> dict``, when the
    trainer provides it, takes precedence; otherwise the reference passes (``train/bptt.py``)
    and the compiled ones (``train/kernels_cpu.py``) are timed on the cases of
    :data:`TRAIN_CASES` (``tiny`` alone when only the tiny size is benchmarked).
    """
    try:
        from . import train

        for m in ("bptt", "kernels_cpu"):  # the passes timed below: fail here, not mid-run
            importlib.import_module(f"spikelut.train.{m}")
    except Exception as e:  # a half-written trainer must not break the inference benchmark
        return {"available": False, "reason": f"not available: spikelut.train failed to import: {e}"}
    hook = getattr(train, "bench_training", None)
    if callable(hook):
        out = []
        for name in sizes:
            s = SIZES[name]
            out.append({"size": name, **hook(nodes=s["nodes"], k=s["k"], batch=s["batch"],
                                             steps=s["steps"], seed=seed, device=device)})
        return {"available": True, "source": "spikelut.train.bench_training", "results": out}
    cases = ["tiny"] if list(sizes) == ["tiny"] else ["mnist1d", "mnist5k"]
    results = [r for name in cases for r in _bench_train_case(name, repeats, threads, seed)]
    from .bench_torch import torch_available

    return {"available": True, "source": "built-in: train/bptt.py vs train/kernels_cpu.py"
            + (" vs PyTorch autograd (spikelut/bench_torch.py)" if torch_available() else "")
            + ", one forward + backward per step, fast_sigmoid, block refractory",
            "results": results,
            "pytorch": "measured" if torch_available() else "not measured: PyTorch is not installed"}


def bench_backends(backends: Sequence[str] | None = None, device: str | None = None) -> list[str]:
    """The backends a benchmark times: ``backends`` by name (each must be usable here), or every
    usable one; the deprecated ``device`` (``cpu``: numpy and numba, ``gpu``: also cuda, which
    must be usable, ``auto``: every usable one) is used when ``backends`` is not given.

    Raises:
        ConfigError: an unknown backend or device.
        ToolError: a backend named (or the GPU asked for) is not usable here.

    Example:
        >>> bench_backends(["numba"])
        ['numpy', 'numba']
    """
    from .backends import NAMES, get_backend, list_backends

    if backends is None and device is not None:
        if device not in ("cpu", "gpu", "auto"):
            raise ConfigError(f"unknown device {device!r}; choose one of cpu, gpu, auto")
        backends = {"cpu": ["numpy", "numba"], "gpu": ["numpy", "numba", "cuda"]}.get(device)
    if backends is None:
        return [b.name for b in list_backends() if b.why_unavailable() is None]
    chosen = {"numpy"} | {get_backend(b, "simulate").name for b in backends}
    return [n for n in NAMES if n in chosen]


def run_bench(sizes: Sequence[str] = DEFAULT_SIZES, device: str | None = None, repeats: int = 3,
              threads: int | None = None, seed: int = 0, training: bool = True,
              command: str | None = None, progress: bool = False,
              backends: Sequence[str] | None = None) -> dict:
    """Run the benchmark; returns the report (the ``--json`` object of ``spikelut bench``).

    ``backends`` (names) picks what is timed, default every usable backend; the deprecated
    ``device`` (``cpu`` skips the GPU, ``gpu`` requires one, ``auto`` includes it when usable)
    applies when ``backends`` is not given (:func:`bench_backends`).

    Raises:
        ConfigError: unknown size or backend, ``repeats < 1``.
        ToolError: a backend asked for is not usable here (before any timing starts).
    """
    if not sizes:  # `--sizes ""` said "unknown benchmark size(s) []"
        raise ConfigError(f"no benchmark size given; choose from {', '.join(SIZES)}")
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise ConfigError(f"unknown benchmark size(s) {unknown}; choose from {', '.join(SIZES)}")
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    chosen = bench_backends(backends, device)  # ToolError now, not after minutes of CPU runs
    from tqdm import tqdm

    bar = tqdm(total=len(sizes), desc="bench", unit="size",
               disable=not (progress and sys.stderr.isatty()))
    inference = []
    for name in sizes:
        inference.append(bench_size(name, chosen, repeats, threads, seed,
                                    progress=lambda s: bar.set_postfix_str(s)))
        bar.update()
    bar.close()
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command_line": command or (f"spikelut bench --sizes {','.join(sizes)} " + (
            f"--device {device}" if backends is None and device is not None
            else f"--backend {','.join(chosen)}")),
        "machine": machine_info(),
        "method": ("LUT-evals/s = nodes x batch x steps / seconds of simulate(record='readout'), "
                   "best of repeats after a warm-up; the reference engine runs on a smaller "
                   "batch x steps of the same network and is scaled per LUT-evaluation; speed-ups "
                   "are against that reference rate measured in the same run; the bit-sliced engine "
                   "runs on one thread and with its default thread rule (threads_rule "
                   "'default': threads chosen by work size and current load, docs/threads.md) "
                   "or the fixed --threads count"),
        "repeats": repeats,
        "inference": inference,
        "training": bench_training(sizes, "gpu" if "cuda" in chosen else "cpu", seed, repeats,
                                   threads) if training else
        {"available": False, "reason": "not requested"},
    }


def format_report(rep: dict) -> str:
    """Plain-text report: machine, command, date, one table row per engine and size.

    Args:
        rep: a report of :func:`run_bench` (keys ``date``, ``command_line``, ``machine``,
            ``method``, ``inference``, ``training``).

    Returns:
        The report, lines joined by ``\\n``; the command line escaped for a terminal.

    Raises:
        KeyError: ``rep`` lacks a key :func:`run_bench` writes.

    Example:
        >>> rep = {"date": "2026-12-01", "command_line": "spikelut bench",
        ...        "machine": {"cpu": "x86_64", "cores": 2, "numba_threads": 2, "python": "3.11",
        ...                    "numpy": "2.3", "numba": "0.63", "gpu": None},
        ...        "method": "best of 3", "inference": [],
        ...        "training": {"available": False, "reason": "not requested"}}
        >>> format_report(rep).splitlines()[-1]
        'training: not requested'
    """
    from .escape import terminal

    m = rep["machine"]
    # the command line holds what the user typed (file names): escaped for the terminal
    lines = [f"date     {rep['date']}", f"command  {terminal(str(rep['command_line']))}",
             f"machine  {m['cpu']}, {m['cores']} cores (numba threads {m['numba_threads']}); "
             f"python {m['python']}, numpy {m['numpy']}, numba {m['numba']}"
             + (f"; GPU {m['gpu']} (cupy {m['cupy']})" if m["gpu"] else "; no GPU"),
             f"method   {rep['method']}", "",
             format_table(rep)]
    tr = rep["training"]
    if tr["available"] and tr.get("source", "").startswith("built-in"):
        lines += ["", "training step (" + tr["source"] + "):", format_training_table(rep)]
    elif tr["available"]:
        lines += ["", "training:"] + [f"  {r}" for r in tr["results"]]
    else:
        lines += ["", f"training: {tr['reason']}"]
    return "\n".join(lines)


REPORT_TITLE = BENCH_TITLE
"""First line of :func:`format_markdown`'s report: ``spikelut bench -o FILE`` replaces ``FILE``
without ``--force`` only when it starts with this (or is empty), i.e. is an earlier report
(:func:`spikelut.fileutil.kinds.file_kind` reads it; docs/files-and-outputs.md)."""


def format_markdown(rep: dict) -> str:
    """The markdown report ``spikelut bench -o FILE`` writes: :data:`REPORT_TITLE`, date,
    command, machine and method, the results table and the training-step table.

    Example:
        >>> rep = {"date": "2026-12-01 23:00:00 UTC", "command_line": "spikelut bench",
        ...        "machine": {"cpu": "x86_64", "cores": 2, "numba_threads": 2, "python": "3.11",
        ...                    "numpy": "2.3", "numba": "0.63", "gpu": None},
        ...        "method": "best of 3", "inference": [],
        ...        "training": {"available": False, "reason": "not requested"}}
        >>> print(format_markdown(rep).splitlines()[0])
        # Engine benchmark (spikelut bench)
    """
    m = rep["machine"]
    md = (f"{REPORT_TITLE}\n\n- date: {rep['date']}\n- command: `{rep['command_line']}`\n"
          f"- machine: {m['cpu']}, {m['cores']} cores, numba threads {m['numba_threads']}, "
          f"python {m['python']}, numpy {m['numpy']}, numba {m['numba']}, "
          f"GPU: {m['gpu'] or 'none'}\n- method: {rep['method']}\n\n"
          f"{format_table(rep, markdown=True)}\n\n")
    tr = rep["training"]
    if tr["available"] and tr.get("source", "").startswith("built-in"):
        md += (f"Training step ({tr['source']}):\n\n"
               f"{format_training_table(rep, markdown=True)}\n")
    else:
        md += f"Training: {tr.get('reason', tr.get('source', ''))}\n"
    return md


def format_training_table(rep: dict, markdown: bool = False) -> str:
    """The built-in training-step table: one row per case and engine of
    ``rep["training"]["results"]`` (:func:`bench_training`).

    Args:
        rep: a report of :func:`run_bench` with built-in training results.
        markdown: a markdown table instead of aligned plain text.

    Returns:
        The table, header first.

    Raises:
        KeyError: ``rep`` lacks training results.

    Example:
        >>> print(format_training_table({"training": {"results": []}}, markdown=True))
        | case | nodes | B x T | engine | threads | s/step | samples/s | LUT-evals/s | speed-up vs bptt |
        |---|---|---|---|---|---|---|---|---|
    """
    header = ["case", "nodes", "B x T", "engine", "threads", "s/step", "samples/s",
              "LUT-evals/s", "speed-up vs bptt"]
    rows = [[r["case"], r["nodes"], f"{r['batch']} x {r['steps']}", r["engine"], r["threads"],
             f"{r['seconds_per_step']:.4g}", f"{r['samples_per_s']:.4g}",
             f"{r['lut_evals_per_s']:.3g}", f"{r['speedup_vs_bptt']:.3g}x"]
            for r in rep["training"]["results"]]
    return _render(rows, header, markdown)


def _render(rows: list, header: list[str], markdown: bool) -> str:
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
        return "\n".join(out)
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_table(rep: dict, markdown: bool = False) -> str:
    """The inference results table: one row per size and engine of ``rep["inference"]``.

    Args:
        rep: a report of :func:`run_bench`.
        markdown: a markdown table instead of aligned plain text.

    Returns:
        The table, header first (seconds, LUT evaluations per second and speed-up over the
        reference engine).

    Raises:
        KeyError: ``rep`` lacks the ``inference`` results.

    Example:
        >>> format_table({"inference": []}).splitlines()[0].split()[:3]
        ['size', 'nodes', 'engine']
    """
    header = ["size", "nodes", "engine", "threads", "measured B x T", "seconds", "LUT-evals/s",
              "speed-up", "kernel LUT-evals/s"]
    rows = []
    for size in rep["inference"]:
        for r in size["results"]:
            rows.append([size["size"], size["nodes"], r["engine"] + ("" if r["device"] == "cpu"
                                                                     else f" ({r['device']})"),
                         "-" if r["threads"] is None else
                         f"{r['threads']}" + (" (default)" if r.get("threads_rule") == "default" else ""),
                         f"{r['batch']} x {r['steps']}" + (" (scaled)" if r["scaled_from_smaller_run"]
                                                           else ""),
                         f"{r['seconds']:.4g}", f"{r['lut_evals_per_s']:.3g}",
                         f"{r['speedup_vs_reference']:.3g}x",
                         "-" if r["kernel_lut_evals_per_s"] is None
                         else f"{r['kernel_lut_evals_per_s']:.3g}"])
    return _render(rows, header, markdown)
