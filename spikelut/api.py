"""The Python API, mirroring the CLI: build, encode (``encode_file``), simulate (``simulate_file``),
evaluate, train, compile_rtl, run, bench, backends.

Each ``spikelut`` command parses its arguments, calls one function here and formats the result;
everything a command computes is reachable from Python without the CLI.

Example:
    >>> import spikelut as sl
    >>> net = sl.build("demos/oscillator.toml")      # paths are relative to the repository root
    >>> spikes = sl.random_spikes(net.n_in, steps=8, batch=2, rate=1.0)
    >>> res = sl.simulate(net, spikes)
    >>> res.layer_spikes[0][:, 0, 0]
    array([1, 0, 1, 0, 1, 0, 1, 0], dtype=uint8)
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import limits
from .analog import require_binary, spec_of
from .analog import simulate as analog_simulate
from .backends import Backend, backend_from_legacy, get_backend, list_backends
from .config import build_network, load_config
from .engine.result import SimResult
from .errors import ConfigError, NetworkError, OutputError, ShapeError, ToolError, count
from .metrics import Tally, check_scorable
from .network import Network
from .progress import Progress
from .xp import to_numpy


def build(config: str | os.PathLike | dict, seed: int | None = None) -> Network:
    """Build a network from a TOML config file (or an already parsed config dict).

    Args:
        config: a TOML file path or a config dict (the file's tables, as :func:`tomllib.load`
            gives them).
        seed: a whole number ``>= 0`` for the random wiring (default: the config's).

    Returns:
        The validated :class:`~spikelut.network.Network`.

    Raises:
        ConfigError: the config is not valid (the message names the key), a ``config`` of
            another type, or a bad ``seed``.
        NetworkError: the network it describes breaks a rule of DESIGN.md section 2.

    Example:
        >>> net = build({"inputs": 2, "readout": {"classes": 1}, "layers": [
        ...     {"nodes": 3, "k": 2, "taps": [{"from": "input", "count": 2}]}]})
        >>> net.n_in, net.sizes
        (2, [3])
    """
    if not isinstance(config, (dict, str, os.PathLike)):  # was pathlib's TypeError
        raise ConfigError(f"build: config must be a TOML file path or a config dict, got "
                          f"{type(config).__name__}")
    cfg = config if isinstance(config, dict) else load_config(config)
    return build_network(cfg, seed=seed)


def _require_network(net: Any, what: str) -> None:
    """Refuse anything but a :class:`Network` (a config or model path, a dict) in one line."""
    if not isinstance(net, Network):
        hint = (" (a path: load it with spikelut.build(config) or spikelut.load_model(file))"
                if isinstance(net, (str, os.PathLike)) else "")
        raise ConfigError(f"{what}: net must be a spikelut Network, got {type(net).__name__}{hint}")


def _backend(backend: str | Backend, engine: str | None, device: str | None) -> Backend:
    if isinstance(backend, Backend):
        return backend.require("simulate")
    name, note = backend_from_legacy(None if backend == "auto" else backend, engine, device,
                                     ("engine=", "device="))
    if note:
        warnings.warn(note.replace("--backend ", "backend="), DeprecationWarning, stacklevel=3)
    return get_backend(name, "simulate")


def simulate(net: Network, spikes: Any, backend: str | Backend = "auto",
             record: str | int | Sequence[int] = "all", engine: str | None = None,
             device: str | None = None) -> SimResult:
    """Simulate ``net`` on input spikes ``[T, B, n_in]`` (numpy, CuPy or any DLPack tensor).

    Args:
        net: the network.
        spikes: 0/1 input spikes ``[T, B, n_in]``.
        backend: ``"numpy"``, ``"numba"``, ``"cuda"`` or ``"auto"`` (the fastest usable one,
            :mod:`spikelut.backends`); every backend gives bit-identical spikes.
        record: which layers' spikes to keep (``"all"``, ``"readout"``, a layer name/index or a
            list); the others come back as ``None``.
        engine, device: deprecated words (``engine="bitsliced"`` = ``backend="numba"``, ...).

    Returns:
        :class:`SimResult`: spikes ``[T, B, n_i]`` (uint8) per layer, counts ``[B, classes]``
        and predictions ``[B]`` (int32), as arrays of the same framework as ``spikes``.

    Raises:
        ConfigError: ``net`` is not a :class:`Network`, an unknown backend or record.
        ToolError: the backend is not usable here (one line saying why).
        ShapeError: the spikes are not ``[T, B, n_in]`` of 0/1 (uint8, bool, or integers or
            floats equal to 0 or 1), or more than the array limit of working memory
            (:func:`spikelut.limits.max_array_bytes`; simulate fewer samples at a time).

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=3, sizes=[6, 2], k=3, classes=2)
        >>> res = simulate(net, np.ones((5, 4, 3), np.uint8), backend="numpy", record="readout")
        >>> res.layer_spikes[0] is None, res.layer_spikes[1].shape, res.counts.shape, res.pred.dtype
        (True, (5, 4, 2), (4, 2), dtype('int32'))
    """
    _require_network(net, "simulate")
    require_binary(net, "simulate")
    return _backend(backend, engine, device).simulate(net, spikes, record=record)


@dataclass
class EvalResult:
    """What :func:`evaluate` measured.

    Attributes:
        accuracy: fraction of samples predicted right.
        correct, samples, classes: counts.
        confusion: int64 ``[classes, classes]``, rows = true class, columns = prediction.
        pred: int64 ``[B]`` predictions.
        backend: the backend that ran.
    """

    accuracy: float
    correct: int
    samples: int
    classes: int
    confusion: np.ndarray
    pred: np.ndarray
    backend: str

    def to_dict(self) -> dict:
        """JSON-friendly (what ``spikelut eval --json`` prints)."""
        return {"accuracy": self.accuracy, "correct": self.correct, "samples": self.samples,
                "classes": self.classes, "confusion": self.confusion.tolist(),
                "backend": self.backend}


def evaluate(net: Network, spikes: Any, labels: Any, backend: str | Backend = "auto",
             batch_size: int | None = None, engine: str | None = None,
             device: str | None = None) -> EvalResult:
    """Accuracy and confusion matrix of ``net`` on labelled spikes.

    Args:
        net: the network.
        spikes: 0/1 input spikes ``[T, B, n_in]``.
        labels: int ``[B]`` classes ``0 .. classes - 1``.
        backend: as in :func:`simulate`.
        batch_size: samples simulated at once (default: all).
        engine, device: deprecated words, as in :func:`simulate`.

    Returns:
        An :class:`EvalResult`.

    Raises:
        ConfigError: ``net`` is not a :class:`Network`, ``batch_size`` is not a whole number
            ``>= 1``, or an unknown backend.
        ShapeError: spikes are not ``[T >= 1, B >= 1, n_in]``; labels are not ``[B]``, are not
            whole numbers (a 0.5 or NaN) or hold classes outside ``0 .. classes - 1``.
        ToolError: the backend is not usable here.

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=3, sizes=[6, 2], k=3, classes=2)
        >>> ev = evaluate(net, np.ones((4, 5, 3), np.uint8), [0, 1, 0, 1, 1], backend="numpy")
        >>> ev.samples, int(ev.confusion.sum()), ev.confusion.shape
        (5, 5, (2, 2))
    """
    _require_network(net, "evaluate")
    analog = spec_of(net)  # an analog model runs its own (numpy) simulation
    b = None if analog is not None else _backend(backend, engine, device)
    if batch_size is not None and (isinstance(batch_size, (bool, np.bool_))
                                   or not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise ConfigError(f"batch_size must be >= 1, got {batch_size!r} (a whole number of "
                          f"samples, or None: all at once)")
    if not hasattr(spikes, "shape"):  # a list: sliced per batch below
        try:
            spikes = np.asarray(spikes)
        except (ValueError, TypeError):
            raise ShapeError("spikes must be a [T, B, n_in] array of 0/1 values; the nested lists "
                             "given are ragged or not numbers") from None
    if len(spikes.shape) != 3:
        raise ShapeError(f"input spikes must be 3-D [T, B, n_in], got shape {tuple(spikes.shape)}")
    T, B = int(spikes.shape[0]), int(spikes.shape[1])
    if T < 1 or B < 1:
        raise ShapeError(f"input spikes need T >= 1 and B >= 1, got T={T}, B={B}")
    labels = np.asarray(to_numpy(labels))
    if labels.shape != (B,):
        raise ShapeError(f"labels have shape {labels.shape}, expected ({B},) like the spikes' batch")
    # before the int64 cast: a label 0.5 would become class 0, NaN a huge negative number
    check_scorable(net.readout, T, labels, "labels")
    labels = labels.astype(np.int64)
    step = B if batch_size is None else int(batch_size)
    tally = Tally(net.readout.classes)  # the one accuracy rule of every command
    preds = []
    for b0 in range(0, B, step):
        x = spikes[:, b0:b0 + step]
        pred = (analog_simulate(net, to_numpy(x)).pred if analog is not None
                else to_numpy(b.simulate(net, x, record="readout").pred))
        tally.add(pred, labels[b0:b0 + step])
        preds.append(pred)
    pred = np.concatenate(preds).astype(np.int64) if preds else np.zeros(0, np.int64)
    return EvalResult(tally.accuracy, tally.correct, tally.samples, tally.classes, tally.confusion,
                      pred, "analog" if analog is not None else b.name)


def backends() -> list[dict]:
    """Every registered backend with what it supports and whether (or why not) it is usable here.

    Returns:
        One dict per backend, in the order of :data:`spikelut.backends.NAMES` (what
        ``spikelut backends --json`` prints): ``name``, ``device`` (``"cpu"`` or ``"gpu"``),
        ``supports`` (sorted list of passes), ``available`` (bool), ``why_unavailable`` (one
        line, ``None`` when available) and ``summary``. Nothing is raised: a backend that cannot
        run here says why instead.

    Example:
        >>> [b["name"] for b in backends()]
        ['numpy', 'numba', 'cuda']
    """
    return [b.info() for b in list_backends()]


def bench(sizes: Sequence[str] = ("small", "default", "large"), backends: Sequence[str] | None = None,
          repeats: int = 3, threads: int | None = None, seed: int = 0, training: bool = True,
          command: str | None = None, progress: bool = False) -> dict:
    """Throughput of the backends on this machine (the report of ``spikelut bench``).

    Each backend simulates the benchmark network of each size (:data:`spikelut.bench.SIZES`,
    random wiring, 256 inputs) with ``record="readout"``; the best of ``repeats`` timed runs
    after a warm-up is kept. See :func:`spikelut.bench.run_bench`.

    Args:
        sizes: size names, a list of ``"tiny"``, ``"small"``, ``"default"``, ``"large"``
            (``"tiny"``: 200 nodes, 130 samples of 4 cycles; ``"large"``: 50,000 nodes, 8,192
            samples of 32 cycles).
        backends: backend names to time (default: every usable one); the numpy reference
            always runs, as the base of the speed-ups.
        repeats: timed runs per backend and size, a whole number ``>= 1``.
        threads: a fixed thread count for the bit-sliced engine (default: its own rule,
            docs/threads.md).
        seed: of the benchmark networks and stimuli.
        training: also time one training step (forward and backward of a batch).
        command: the command line recorded in the report (default: one built from the
            arguments).
        progress: a progress bar on a terminal.

    Returns:
        The JSON-friendly report: ``date``, ``command_line``, ``machine``, ``method``,
        ``repeats``, ``inference`` (one dict per size, each with ``results``: per backend
        ``seconds`` (wall time), ``lut_evals``, ``lut_evals_per_s`` and
        ``speedup_vs_reference``) and ``training`` (``{"available": False, "reason": ...}``
        when not requested).

    Raises:
        ConfigError: an unknown size or backend, ``sizes`` or ``backends`` given as a string
            instead of a list of names, or ``repeats`` not a whole number ``>= 1``.
        ToolError: a backend asked for by name is not usable here (before any timing).

    Example:
        >>> rep = bench(["tiny"], backends=["numpy"], repeats=1, training=False)
        >>> [(r["engine"], r["backend"], r["lut_evals"]) for r in rep["inference"][0]["results"]]
        [('reference', 'numpy', 104000)]
    """
    from .bench import run_bench

    # a string is iterable: "tiny" was read as the sizes 't', 'i', 'n', 'y'
    for name, v in (("sizes", sizes), ("backends", backends)):
        if isinstance(v, str):
            raise ConfigError(f"{name} must be a list of names, got the string {v!r}; write "
                              f"{[w.strip() for w in v.split(',')]!r}")
    if (isinstance(repeats, (bool, np.bool_)) or not isinstance(repeats, (int, np.integer))
            or repeats < 1):  # 'a' was a TypeError from the comparison in run_bench
        raise ConfigError(f"repeats must be a whole number >= 1, got {repeats!r}")

    return run_bench(sizes, repeats=repeats, threads=threads, seed=seed, training=training,
                     command=command, progress=progress, backends=backends)


def encode(dataset: str | os.PathLike, coding: str | None = None, steps: int | None = None,
           split: str = "train", seed: int = 0, limit: int | None = None, **params: Any):
    """Load a dataset split and encode it as spikes (``spikelut encode``).

    Args:
        dataset: a registered dataset name (``spikelut datasets`` lists them) or the path of a
            dataset file.
        coding: a :mod:`spikelut.coding` name (``None``: the dataset's default).
        steps: cycles per sample ``T`` (``None``: the dataset's default; for a sequence fed one
            value per cycle, its length).
        split: ``"train"`` or ``"test"``.
        seed: a whole number ``>= 0``; seeds a synthetic task and a random coding.
        limit: keep the first ``limit`` samples (``None``: all).
        **params: the coding's parameters (``levels=4``, ...) and ``differences`` /
            ``second_differences`` (lags of :mod:`spikelut.differences`).

    Returns:
        :class:`~spikelut.io.spikes.SpikeData`: spikes ``[T, N, channels]`` (uint8), labels ``[N]``
        (int64) and metadata. See :func:`spikelut.datasets.encoding.encode_dataset`.

    Raises:
        ConfigError: unknown dataset, coding or parameter, a ``dataset`` that is not a name or
            path, or a ``seed`` that is not a whole number ``>= 0``.
        FileFormatError: a user file that cannot be read.

    Example:
        >>> d = encode("first_of_two", split="test", limit=4)
        >>> d.spikes.shape, d.spikes.dtype, d.labels.shape
        ((20, 4, 2), dtype('uint8'), (4,))
    """
    from .datasets import encode_dataset

    _check_dataset_args(dataset, seed)
    return encode_dataset(dataset, coding, steps, split=split, seed=seed, limit=limit, **params)


def _check_dataset_args(dataset: Any, seed: Any) -> None:
    """A dataset name or path and a whole seed ``>= 0`` (None and 'a' were TypeError/ValueError
    tracebacks from pathlib and int())."""
    if not isinstance(dataset, (str, os.PathLike)):
        raise ConfigError(f"dataset must be a dataset name or a file path, got "
                          f"{type(dataset).__name__}")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")


def train(net: Network, data: Any, config: dict | Any = None, val: Any = None,
          progress: bool | None = False, backend: Any = None, **fit: Any):
    """Train ``net``'s tables on labelled spikes (``spikelut train``).

    Args:
        net: the network to train (its layers' logits or tables are the starting point).
        data: :class:`~spikelut.io.spikes.SpikeData` with labels, or ``(spikes [T, N, n_in], labels [N])``.
        config: the ``[train]`` table as a dict, or a :class:`~spikelut.train.TrainConfig`.
        val: validation data like ``data``, or ``None``.
        progress: show a progress bar (``None``: when on a terminal).
        backend: a resolved :class:`~spikelut.train.passes.TrainBackend` (default: the config's
            ``backend``).
        **fit: ``log``, ``checkpoint``, ``resume``, ``callback``, ``teacher`` (a teacher's
            features ``[N, F]`` that guide the initial wiring) of :meth:`spikelut.train.Trainer.fit`.

    Returns:
        :class:`~spikelut.train.trainer.TrainResult`: the kept network (its
        ``meta["train"]["epochs"]`` = epochs trained, a resumed run's included), the per-epoch
        history and the kept epoch.

    Raises:
        ConfigError: a bad ``[train]`` key or value, a ``[train] backend`` not usable here, or
            ``[train] ensemble`` other than 1 (train an ensemble with
            :func:`spikelut.ensemble.train_ensemble`).
        ShapeError: data that are not SpikeData or ``(spikes, labels)``, have no labels or do
            not fit the network (channels, 0/1 values, cycles after the readout's start,
            labels ``[N]`` of classes ``0 .. classes - 1``).

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=4, sizes=[8, 2], k=3, classes=2)
        >>> x = (np.random.default_rng(0).random((6, 20, 4)) < 0.5).astype(np.uint8)
        >>> res = train(net, (x, x[:, :, 0].sum(axis=0) % 2), {"epochs": 2, "batch_size": 10})
        >>> len(res.history), res.net.meta["train"]["epochs"], res.net.layers[0].logits.shape
        (2, 2, (8, 8))
    """
    from .train import Trainer, TrainConfig

    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config or {})
    return Trainer(net, cfg, progress=progress, backend=backend).fit(data, val, **fit)


def compile_rtl(net: Network, out_dir: str | os.PathLike, top: str = "spikelut_core",
                lut6: bool = False, steps: int | None = None, stimulus: Any = None,
                verify: str | None = None, force: bool = False, model: str | None = None,
                jobs: int = 2, synth: bool = False, gates: Any = None,
                inputs: Sequence[str | os.PathLike] = ()):
    """Write the Verilog core, classifier wrapper and testbench for ``net`` (``spikelut rtl``);
    ``out_dir`` is replaced only when the whole job (co-simulation, synthesis) succeeded
    (:func:`spikelut.rtl.compile.compile_directory`).

    Args:
        net: the network (binary tables; an analog model is refused).
        out_dir: the output directory (new, empty, or written by ``spikelut rtl``; any other
            only with ``force``).
        top: the core module's name (a Verilog identifier); the wrapper is ``<top>_classifier``
            and the testbench ``tb_<top>``.
        lut6: instantiate Xilinx ``LUT1`` .. ``LUT6`` primitives (with ``MUXF7``/``MUXF8`` for
            ``k`` = 7 .. 12) instead of behavioural tables.
        steps: cycles per sample ``T`` the classifier wrapper counts over (default: the
            stimulus's ``T``, else the model's training data, else 32).
        stimulus: input spikes ``[T, B, n_in]`` (0/1) for the testbench (default: random).
        verify: ``"verilator"`` or ``"iverilog"``: also co-simulate ``stimulus`` (input spikes
            ``[T, B, n_in]``) and compare every output bit with the simulator.
        model: the model file's name, recorded in the headers of the files.
        jobs: parallel C++ compile jobs for Verilator.
        synth, gates: also the yosys LUT report (``files.synth``) / gate report (``files.gates``).
        inputs: the files the caller read (model, stimulus file): refused where the new
            ``out_dir`` would replace one (an input is never overwritten).

    Returns:
        ``(files, report)``: the :class:`~spikelut.rtl.writer.RtlFiles` written and the
        :class:`~spikelut.rtl.cosim.CosimReport` (``None`` without ``verify``; when not ``ok``,
        the new design is in ``files.directory`` = ``out_dir.unverified``, ``out_dir`` unchanged).

    Raises:
        ConfigError: ``net`` not a Network or an analog model, a bad top name, ``steps``, gate
            list or output directory.
        ShapeError: a stimulus that does not fit ``net``.
        ToolError: the simulator (or yosys) is missing, checked before any work, or fails.
        OutputError: the directory cannot be written.

    Example:
        >>> import tempfile, pathlib
        >>> from spikelut.wiring import random_network
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "rtl"
        >>> files, report = compile_rtl(random_network(0, n_in=3, sizes=[4, 2], k=2), out)
        >>> files.files[:3], files.steps, report is None
        (['spikelut_core.v', 'spikelut_core_classifier.v', 'tb_spikelut_core.v'], 32, True)
    """
    from .rtl import compile_directory

    require_binary(net, "rtl")
    return compile_directory(net, out_dir, top=top, lut6=lut6, steps=steps, stimulus=stimulus,
                             verify=verify, force=force, model=model, jobs=jobs, synth=synth,
                             gates=gates, inputs=inputs)


def run(config: str | os.PathLike | dict | None = None, outdir: str | os.PathLike = "spikelut-run",
        force: bool = False, progress: bool | None = None) -> dict:
    """The main job (``spikelut run``): encode, train, evaluate, plots, RTL, co-simulation,
    synthesis and report in ``outdir``; returns the report (also ``outdir/report.json``).

    A stage whose settings and input files are unchanged since the last run in ``outdir`` is
    skipped; an interrupted run resumes at its first unfinished stage (:mod:`spikelut.pipeline`).

    Args:
        config: a run config file (TOML), a parsed config dict, or ``None``: the default demo
            config (``demos/run_default.toml``).
        outdir: the run directory: each stage's outputs and ``report.json``.
        force: redo every stage.
        progress: progress bars (``None``: on a terminal).

    Returns:
        The report dict: ``accuracy`` (test set), ``confusion``, ``luts``, ``flip_flops``,
        ``cosim`` (``ok``, ...), ``synth``, ``timings`` (seconds per stage), ``stages``,
        ``network``, ``dataset``, ``coding``, ``config`` and more.

    Raises:
        ConfigError: a bad run config (the message names the file and the table), or a
            ``config`` that is not a path, a dict or ``None``.
        FileFormatError: a config or input file that cannot be read.
        OutputError: ``outdir`` cannot be written or is in use by another spikelut process.
        ToolError: a stage's tool is missing or fails.

    Example (skipped as a test: the whole job takes minutes):
        >>> report = run("demos/run_default.toml", "out")           # doctest: +SKIP
        >>> report["accuracy"], report["cosim"]["ok"]               # doctest: +SKIP
        (1.0, True)
    """
    from .pipeline import run_pipeline

    return run_pipeline(config, outdir, force=force, progress=progress)  # checks config's type


CHUNK_MEMORY = 64 << 20
"""Bytes of spikes (input and every layer, uint8) one chunk of a streamed file aims at; peak
memory is about three times this on top of the libraries (the chunk read, the engine's copy,
the recorded layers)."""

MIN_CHUNK = 1024
"""Fewest samples per chunk by default (16 words of 64 samples), even for networks whose spikes
exceed :data:`CHUNK_MEMORY`: fewer would make the per-call cost dominate. A second bit-sliced
thread needs two slices of :data:`spikelut.engine.bitsliced.MIN_CHUNK_WORDS` words (4,096
samples), so chunks this small run on one thread (docs/threads.md); larger chunks come from
``memory``, not from this floor, because a higher floor would break the memory bound of long
or wide networks."""


def auto_chunk(steps: int, channels: int, layer_sizes: Sequence[int], samples: int,
               memory: int = CHUNK_MEMORY, align: int = 64, least: int = MIN_CHUNK) -> int:
    """Samples per chunk of a streamed command: as many as fit ``memory`` bytes of uint8 spikes
    (input channels plus every layer, over ``steps`` cycles), a multiple of ``align`` (the
    engine's word and the files' storage chunk) where at least ``align`` fit, at least
    ``least``, at most ``samples``, and never more than one array within
    :func:`spikelut.limits.max_array_bytes` holds (input or one layer, uint8).

    Example:
        >>> auto_chunk(40, 16, [500, 100], samples=10**6)
        2688
        >>> auto_chunk(10**6, 1000, [], samples=10**6) <= limits.max_array_bytes() // 10**9
        True
    """
    per_sample = max(1, int(steps) * (int(channels) + sum(int(n) for n in layer_sizes)))
    fit = memory // per_sample
    fit = max(least, fit // align * align if fit >= align else fit)  # fewer than align: as many
    # ``least`` must not take a chunk past the array limit that reading it checks (one range of
    # the input, one layer's spikes): samples of a million cycles are then read a few at a time
    widest = max([int(channels), *(int(n) for n in layer_sizes)])
    fit = min(fit, max(1, limits.max_array_bytes() // max(1, int(steps) * widest)))
    return int(max(1, min(fit, samples)))


def _check_chunk(chunk: int | None, default: int) -> int:
    if chunk is None:
        return default
    if (isinstance(chunk, (bool, np.bool_)) or not isinstance(chunk, (int, float, np.integer, np.floating))
            or not np.isfinite(chunk) or int(chunk) != chunk or chunk < 1):  # 'a' was a ValueError
        raise ConfigError(f"chunk must be a positive number of samples, got {chunk!r}")
    return int(chunk)


def _not_the_input(output: Any, source: Any, what: str) -> None:
    """Refuse an ``output`` that is the same file as ``source`` (links and ``new/../`` paths too,
    :func:`~spikelut.fileutil.check.replaced_input`): the atomic writer would replace the file
    being read."""
    from .fileutil.check import replaced_input

    if output is not None and str(output) != "" and replaced_input(output, [source]) is not None:
        raise OutputError(f"{output}: is also {what} ({source}); choose another output")


@dataclass
class FileRun:
    """What :func:`simulate_file` did.

    Attributes:
        output: the result file written (``None`` when only scoring).
        steps, samples, channels: ``T, B, n_in`` of the input.
        backend, device: the backend that ran (``auto`` resolved) and its device.
        chunk: samples per chunk.
        spikes_per_layer: total spikes of each layer (recorded layers; others ``None``).
        pred_head: predictions of the first (up to 64) samples, int32.
        tally: correct predictions and confusion (labelled input), else ``None``.
        labels: the input's labels or ``None``.
        meta: the input file's metadata.
        sample0: sample 0's input ``[T, n_in]`` and layer spikes ``[T, n_i]``, for a quick look.
    """

    output: Path | None
    steps: int
    samples: int
    channels: int
    backend: str
    device: str
    chunk: int
    spikes_per_layer: list
    pred_head: np.ndarray
    tally: Tally | None
    labels: np.ndarray | None
    meta: dict
    sample0: tuple


def check_spike_file(net: Network, path: str | os.PathLike, shape: Sequence[int],
                     labels: Any = None, require_labels: bool = False,
                     meta: dict | None = None) -> None:
    """The checks ``simulate``, ``eval``, ``analyze``, ``prune --data``, ``ensemble --data`` and
    ``rtl --verify`` make on a spike file before any work: its width is the network's input
    count; where the model records how its training data were encoded (``net.meta["data"]``,
    written by ``spikelut run`` / ``train``) and the file records its own encoding (``meta``, from
    ``spikelut encode``), the coding, its parameters, the difference lags and the cycles per
    sample agree; it holds samples; and its labels (if any) can be scored by the readout. Shape
    first: a file of the wrong width is named as such, whatever its labels. A file without an
    encoding record (``spikelut stimulus``, hand-made spikes) or a model without one (trained on
    arrays) is checked for its width and labels only.

    Args:
        net: the network the file is for.
        path: the file's name, for the messages.
        shape: ``(T, B, n_in)`` of its ``/spikes``.
        labels: its labels ``[B]`` or ``None``.
        require_labels: refuse a file without labels (``eval``).
        meta: the file's metadata; where it names its coding, a wrong width says how to encode
            the data for this network (:func:`spikelut.io.encoding.coding_hint`), and another encoding or
            cycle count than the model's training data is refused.

    Returns:
        ``None`` when every check passes; the first failed check raises.

    Raises:
        ShapeError: the wrong channel count, another encoding or cycle count than the model's
            training data, no cycles or samples, or labels the readout cannot score (each
            naming the file and what to do).
        ConfigError: no labels where they are required.

    Example:
        >>> from spikelut.wiring import random_network
        >>> try:
        ...     check_spike_file(random_network(0, 2, [4, 2], k=2), "x.h5", (5, 3, 3))
        ... except ShapeError as e:
        ...     print(e)
        x.h5: spikes have 3 channels but the network has 2 inputs; encode the data for this network or use another model
        >>> net = random_network(0, 2, [4, 2], k=2).replace(
        ...     meta={"data": {"dataset": "first_of_two", "coding": "none", "steps": 20}})
        >>> try:
        ...     check_spike_file(net, "x.h5", (30, 3, 2), meta={"coding": "none"})
        ... except ShapeError as e:
        ...     print(e)
        x.h5: spikes have 30 cycles per sample but the model was trained on 20; encode it with: spikelut encode --dataset first_of_two --coding none --steps 20
    """
    from .io import coding_hint, encode_options, encoding_mismatch

    T, B, n_in = (int(v) for v in shape)
    # a model from `spikelut run` / `train` records its encoding: the exact options beat a guess
    rec = net.meta.get("data")
    options = encode_options(rec)
    if n_in != net.n_in:
        hint = (f"; the model was trained on data encoded with: spikelut encode {options}" if options
                else coding_hint(meta, n_in, net.n_in) if meta else "")
        raise ShapeError(f"{path}: spikes have {count(n_in, 'channels')} but the network has "
                         f"{count(net.n_in, 'inputs')}; encode the data for this network or use "
                         f"another model{hint}")
    # the right width in another encoding (e.g. 8 levels where the model read 4 levels and their
    # second differences) scores without an error, but wrongly
    other = encoding_mismatch(rec, meta) if meta and options else ""
    if other:
        raise ShapeError(f"{path}: encoded differently from the model's training data ({other}); "
                         f"encode it with: spikelut encode {options}")
    if T < 1 or B < 1:
        raise ShapeError(f"{path}: input spikes need T >= 1 and B >= 1, got T={T}, B={B}")
    _check_cycles(net, path, T, rec, meta, options)
    if labels is None and require_labels:
        raise ConfigError(f"{path}: has no /labels; eval needs labelled spikes "
                          f"(use 'spikelut simulate' for unlabelled data)")
    if labels is not None:
        check_scorable(net.readout, T, labels, str(path))


def _check_cycles(net: Network, path: str | os.PathLike, T: int, rec: Any, meta: dict | None,
                  options: str) -> None:
    """Refuse an encoded file of another cycle count than the model's training data, in the same
    encoding otherwise (:func:`check_spike_file` compared that first): the readout counts spikes
    over a window and a refractory network's dynamics depend on its length, so a 30-cycle file
    scored by a model trained on 20 cycles gave a result without an error, but a wrong one. Only
    where both sides record it: the model its encoding and ``steps`` (training writes them), the
    file its coding (``spikelut encode``); random stimuli and models trained on arrays are left
    alone. A sequence fed one value per cycle has as many cycles as values: the same dataset
    encoded the same way always has the model's length."""
    from .io import encoding_record
    from .rtl.writer import model_steps

    if not options or not meta or not isinstance(encoding_record(meta).get("coding"), str):
        return
    steps = model_steps(net)
    if steps is None or T == steps:
        return
    params = rec.get("params") if isinstance(rec, dict) else None
    sequence = (f" (its coding feeds one value per cycle: the series must be {steps} values long)"
                if isinstance(params, dict) and params.get("sequence") is True else "")
    raise ShapeError(f"{path}: spikes have {T} cycles per sample but the model was trained on "
                     f"{steps}{sequence}; encode it with: spikelut encode {options}")


def simulate_file(net: Network, spikes: str | os.PathLike, output: str | os.PathLike | None = None,
                  backend: str | Backend = "auto", chunk: int | None = None,
                  require_labels: bool = False, progress: bool | None = None,
                  meta: dict | None = None, engine: str | None = None,
                  device: str | None = None) -> FileRun:
    """Simulate ``net`` on a spike file chunk of samples by chunk; memory is set by the chunk.

    Reads ``/spikes[:, b0:b1, :]`` slices, simulates each, and writes each chunk's result into a
    result file opened once with its final shapes (atomically: ``output`` appears only when
    every chunk is written). Labelled input is scored by :mod:`spikelut.metrics` over the chunks;
    the result is bit-identical to simulating the whole file at once.

    Args:
        net: the network.
        spikes: a spike file ``[T, B, n_in]``.
        output: the result file to write; ``None`` scores only (only the readout is recorded).
        backend: as in :func:`simulate` (``engine``, ``device``: the deprecated words).
        chunk: samples per chunk (default :func:`auto_chunk`).
        require_labels: refuse an unlabelled file (for ``eval``).
        progress: ``True`` a bar, ``False`` nothing, ``None`` a bar on a terminal and a line every
            few seconds otherwise (see :mod:`spikelut.progress`).
        meta: extra metadata written into the result file's root attributes.

    Returns:
        A :class:`FileRun`.

    Raises:
        FileFormatError: a malformed spike file.
        OutputError: ``output`` is the input spike file (it was replaced by the result).
        ShapeError: input that does not fit ``net`` or cannot be scored
            (:func:`spikelut.metrics.check_scorable`).
        ConfigError: a bad ``chunk`` or backend.
        ToolError: the backend is not usable here.

    Example:
        >>> import tempfile, pathlib
        >>> from spikelut.io import save_spikes
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=3, sizes=[6, 2], k=3)
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> save_spikes(d / "in.h5", random_spikes(3, steps=5, batch=10), labels=[0, 1] * 5)
        >>> run = simulate_file(net, d / "in.h5", d / "out.h5", chunk=4, progress=False)
        >>> run.samples, run.tally.samples, (d / "out.h5").exists()
        (10, 10, True)
    """
    from .io import open_spikes, spike_writer

    _require_network(net, "simulate_file")
    require_binary(net, "simulate")
    b = _backend(backend, engine, device)
    _not_the_input(output, spikes, "the input spike file")
    with open_spikes(spikes) as reader:
        T, B, n_in = reader.shape
        labels = reader.labels
        check_spike_file(net, spikes, reader.shape, labels, require_labels, reader.meta)
        default = auto_chunk(T, n_in, net.sizes if output is not None else [], B)
        if chunk is None and reader.chunk_samples > 1 and default >= reader.chunk_samples:
            # whole storage chunks per read: each is decompressed once
            default = default // reader.chunk_samples * reader.chunk_samples
        step = _check_chunk(chunk, default)
        record = "all" if output is not None else "readout"
        tally = None if labels is None else Tally(net.readout.classes)
        totals: list = [0] * len(net.layers)
        head, sample0 = [], ()
        ctx = (contextlib.nullcontext(None) if output is None else
               spike_writer(output, (T, B, n_in), labels, {**reader.meta, **(meta or {})},
                            net.sizes, net.readout.classes, copy_spikes=reader.dataset))
        with ctx as writer, Progress(B, "simulate", show=progress) as bar:
            for b0 in range(0, B, step):
                b1 = min(b0 + step, B)
                x = reader.read(b0, b1)
                res = b.simulate(net, x, record=record).to_numpy()
                if writer is not None:
                    writer.write(b0, x, res)
                for i, s in enumerate(res.layer_spikes):
                    totals[i] = None if s is None else totals[i] + int(s.sum(dtype=np.int64))
                if tally is not None:
                    tally.add(res.pred, labels[b0:b1])
                if b0 == 0:
                    head = res.pred[:64].copy()
                    sample0 = (x[:, 0].copy(), [None if s is None else s[:, 0].copy()
                                                for s in res.layer_spikes])
                bar.update(b1 - b0)
        meta_in = reader.meta
    return FileRun(None if output is None else Path(output), T, B, n_in, b.name, b.device, step, totals, np.asarray(head, np.int32), tally, labels,
                   meta_in, sample0)


@dataclass
class EncodeRun:
    """What :func:`encode_file` wrote.

    Attributes:
        output: the spike file written.
        shape: ``(T, N, channels)``: cycles per sample, samples, channels.
        meta: the file's metadata (dataset, split, coding, params, steps, seed, ...).
        rate: the mean spike rate, spikes per channel and cycle (0 .. 1).
        chunk: samples encoded per chunk.
    """

    output: Path
    shape: tuple
    meta: dict
    rate: float
    chunk: int


def encode_file(output: str | os.PathLike, dataset: str | os.PathLike, coding: str | None,
                steps: int | None, split: str = "train", seed: int = 0, limit: int | None = None,
                chunk: int | None = None, progress: bool | None = None, **params: Any) -> EncodeRun:
    """Encode a dataset split into a spike file, chunk of samples by chunk (atomically).

    The spikes equal :func:`spikelut.datasets.encoding.encode_dataset`'s bit for bit (random codes draw
    per block of 256 samples, and chunks of a random code start on those blocks); memory holds
    the dataset's values and one chunk of spikes.

    Args:
        output: the spike file to write.
        dataset, coding, steps, split, seed, limit, params: as in
            :func:`spikelut.datasets.encoding.encode_dataset`.
        chunk: samples per chunk (default :func:`auto_chunk`; rounded up to 256 for a random code).
        progress: as in :func:`simulate_file`.

    Returns:
        An :class:`EncodeRun`.

    Raises:
        ConfigError, FileFormatError: as :func:`~spikelut.datasets.encoding.encode_dataset`; ConfigError for
        a bad ``chunk``, ``seed`` or ``dataset`` type.
        OutputError: ``output`` is the dataset file itself.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "e.h5"
        >>> encode_file(p, "first_of_two", None, None, split="test", progress=False).shape
        (20, 200, 2)
    """
    from .datasets import plan_encoding
    from .io import spike_writer

    _check_dataset_args(dataset, seed)
    _not_the_input(output, dataset, "the dataset file")
    plan = plan_encoding(dataset, coding, steps, split=split, seed=seed, limit=limit, **params)
    T, N, C = plan.shape
    # no floor of MIN_CHUNK samples here: encoding has no per-call cost to amortise, and a
    # long or wide code (millions of cycles) would otherwise break the memory bound
    step = _check_chunk(chunk, auto_chunk(T, C, [], max(N, 1), least=plan.align))
    step = -(-step // plan.align) * plan.align
    on = 0
    with spike_writer(output, plan.shape, plan.labels, plan.meta) as w, \
            Progress(N, "encode", show=progress) as bar:
        for b0 in range(0, N, step):
            b1 = min(b0 + step, N)
            x = plan.encode(b0, b1)
            w.write(b0, x)
            on += int(x.sum(dtype=np.int64))
            bar.update(b1 - b0)
    size = T * N * C
    return EncodeRun(Path(output), plan.shape, plan.meta, on / size if size else 0.0, step)


def random_spikes(channels: int, steps: int, batch: int, rate: float = 0.5,
                  seed: int = 0) -> np.ndarray:
    """Bernoulli spikes ``[steps, batch, channels]`` (uint8), each 1 with probability ``rate``.

    Args:
        channels, steps, batch: whole numbers (``channels >= 0``, the others ``>= 1``).
        rate: the probability of a spike, a number in ``[0, 1]``.
        seed: a whole number ``>= 0`` (``None``: fresh entropy, a different draw each call).

    Returns:
        uint8 0/1 spikes ``[steps, batch, channels]`` (numpy); ``steps`` in cycles, ``batch`` in
        samples. The same ``seed`` gives the same spikes.

    Raises:
        ConfigError: ``rate`` not a number in ``[0, 1]``, a size that is not a whole number or
            below its minimum, a seed that is not a whole number ``>= 0``, or float64 draws
            over :func:`spikelut.limits.max_array_bytes` (refused before they are made).

    Example:
        >>> random_spikes(2, steps=3, batch=1, rate=1.0)[:, 0].tolist()
        [[1, 1], [1, 1], [1, 1]]
    """
    if (isinstance(rate, (bool, np.bool_)) or not isinstance(rate, (int, float, np.integer, np.floating))
            or not 0.0 <= rate <= 1.0):
        raise ConfigError(f"rate must be a number in [0, 1], got {rate!r}")
    for name, v in (("channels", channels), ("steps", steps), ("batch", batch)):
        if (isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer, float, np.floating))
                or not (np.isfinite(v) and float(v).is_integer())):
            raise ConfigError(f"{name} must be a whole number, got {v!r}")
    steps, batch, channels = int(steps), int(batch), int(channels)
    if steps < 1 or batch < 1 or channels < 0:
        raise ConfigError(f"need steps >= 1, batch >= 1, channels >= 0; got {steps}, {batch}, {channels}")
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise ConfigError(f"seed must be a whole number >= 0 (or None), got {seed!r}")
    # the float64 draws, bounded before they are made (fewer steps or samples, not a MemoryError)
    limits.check_array_bytes((steps, batch, channels), 8,
                             "random spikes [steps, batch, channels] (float64 draws)", ConfigError)
    rng = np.random.default_rng(seed)
    return (rng.random((steps, batch, channels)) < rate).astype(np.uint8)


__all__ = ["EncodeRun", "EvalResult", "FileRun", "auto_chunk", "backends", "bench", "build",
           "check_spike_file", "compile_rtl", "encode", "encode_file", "evaluate", "random_spikes",
           "run", "simulate", "simulate_file", "train", "analyze", "prune", "tap_importance"]


# ---------------------------------------------------------------------------- analysis, pruning
def _model_or_file(net: Any, what: str) -> None:
    """Refuse anything but a :class:`Network` or a model file path in one line (None, a dict
    or a number were pathlib's TypeError from the model loader)."""
    if not isinstance(net, (Network, str, os.PathLike)):
        raise ConfigError(f"{what}: net must be a spikelut Network or a model file path, got "
                          f"{type(net).__name__}")


def _net_and_data(net: Network | str | os.PathLike, data: Any,
                  what: str = "analyze") -> tuple[Network, Any, Any]:
    from .io import SpikeData, load_model, load_spikes

    _model_or_file(net, what)
    if not isinstance(net, Network):
        net = load_model(net)
    if data is None:
        return net, None, None
    where = "the data"
    if isinstance(data, (str, os.PathLike)):
        where, data = str(data), load_spikes(data)
    if isinstance(data, SpikeData):
        spikes, labels = data.spikes, data.labels
    else:
        try:
            spikes, labels = np.asarray(data), None
        except (ValueError, TypeError):  # ragged nested lists: was numpy's ValueError
            raise ShapeError(f"{where}: spikes must be a [T, B, {net.n_in}] array of 0/1 values; "
                             f"the nested lists given are ragged") from None
    if spikes.ndim != 3 or spikes.shape[2] != net.n_in or spikes.shape[1] < 1:
        raise ShapeError(f"{where}: spikes of shape {tuple(spikes.shape)} do not fit the model, which "
                         f"needs [T, B >= 1, {net.n_in}]; encode the data for this model")
    # labels the readout cannot score: refused as eval and simulate refuse them (the trial:
    # analyze reported statistics on labels beyond the readout's classes); a file encoded
    # otherwise, or of another cycle count, than the model's training data too (its meta)
    check_spike_file(net, where, spikes.shape, labels,
                     meta=data.meta if isinstance(data, SpikeData) else None)
    return net, spikes, labels


def analyze(net: Network | str | os.PathLike, data: Any, outdir: str | os.PathLike | None = None,
            *, samples: Sequence[int] = (0,), limit: int | None = None,
            backend: str | Backend = "auto", log: str | os.PathLike | None = None,
            engine: str | None = None, device: str | None = None, force: bool = False) -> dict:
    """Per-node Boolean-function statistics, data statistics, exact-pruning potential and the
    attribution of ``samples`` (``spikelut analyze``; see :func:`spikelut.analysis.run_analysis`
    and docs/analyze.md).

    ``net``: a network or model file; ``data``: a spike file, :class:`~spikelut.io.spikes.SpikeData` or
    spikes ``[T, B, n_in]``; ``outdir``: write ``nodes.csv``, ``summary.txt`` and the figures
    there (a non-empty directory the analysis did not write is refused unless ``force``, which
    keeps its other files; the model, data and log files are never replaced: see
    :func:`spikelut.analysis.check_analysis_dir`); ``log``: a training log for the
    table-dynamics figure; ``backend``: as in :func:`simulate` (``engine``, ``device``: the
    deprecated words); ``samples``: the sample indices to attribute; ``limit``: use the first
    ``limit`` samples for the statistics (``None``: all).

    Returns:
        A JSON-friendly dict: ``network`` (``nodes``, ``flip_flops``, ``layers``, ``inputs``),
        ``data`` (``samples``, ``steps`` in cycles, ...), ``layers`` (per-layer and per-node
        statistics), ``prunable`` (``luts``, ``flip_flops``, ``taps``: before, after, saved, as
        :func:`prune` reports them), ``attribution`` (per sample) and ``files`` (written to
        ``outdir``; empty without it).

    Raises:
        ConfigError: ``net`` not a Network or a model file path, an analog model, a sample
            index out of range, a ``log`` without ``outdir``, or an unknown backend.
        FileFormatError: a model or spike file that cannot be read.
        ShapeError: data that do not fit the model (``[T, B >= 1, n_in]`` of 0/1, labels the
            readout can score, the encoding the model was trained on).
        OutputError: ``outdir`` refused (see above).
        ToolError: the backend is not usable here.

    Example:
        >>> import spikelut as sl
        >>> from spikelut.wiring import random_network
        >>> rep = sl.api.analyze(random_network(0, n_in=3, sizes=[4, 2], k=2),
        ...                      np.ones((5, 2, 3), np.uint8))
        >>> sorted(rep)[:3]
        ['attribution', 'data', 'files']
    """
    from .analysis import run_analysis
    from .io import load_model

    _model_or_file(net, "analyze")
    source = None if isinstance(net, Network) else net
    if source is not None:
        net = load_model(source)
    # an analog model is refused before its data are read, naming the model file
    require_binary(net, "analyze", source)
    net, spikes, labels = _net_and_data(net, data)
    b = _backend(backend, engine, device)
    return run_analysis(net, spikes, labels, outdir, samples=samples, limit=limit, backend=b,
                        log=log, force=force, inputs=[source, data])


def tap_importance(net: Network | str | os.PathLike, data: Any,
                   output: str | os.PathLike | None = None, *, limit: int | None = None) -> Network:
    """``net`` with each tap's importance measured on ``data`` (influence on the data's addresses;
    with labels, also the gradient signal): :func:`spikelut.importance.tap_importance`,
    docs/rewiring.md. With ``output``, the model is saved there (datasets ``tap_influence`` and
    ``tap_gradient`` under each layer group; the model or data file itself is refused with an
    :class:`~spikelut.errors.OutputError`). ``limit``: use the first ``limit`` samples (a whole
    number ``>= 1``).

    Args:
        net: a network or the path of a model file.
        data: a spike file, :class:`~spikelut.io.spikes.SpikeData` or 0/1 spikes
            ``[T, B, n_in]``; labels (in a file or SpikeData) add the gradient signal.
        output: where to save the model with its importance (``None``: not saved).
        limit: use the first ``limit`` samples.

    Returns:
        A copy of ``net`` whose layers carry ``tap_influence`` (float32 ``[n, k]``, one value
        per tap) and, with labels, ``tap_gradient`` (float32 ``[n, k]``; ``None`` without
        labels).

    Raises:
        ConfigError: ``net`` not a Network or a model file path, or a bad ``limit``.
        FileFormatError: a model or spike file that cannot be read.
        ShapeError: data that do not fit the model.
        OutputError: ``output`` is the model or data file, or cannot be written.

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = tap_importance(random_network(0, n_in=3, sizes=[4, 2], k=2),
        ...                      np.ones((5, 2, 3), np.uint8))
        >>> net.layers[0].tap_influence.shape
        (4, 2)
    """
    from .importance import tap_importance as measure
    from .io import save_model

    _model_or_file(net, "tap_importance")
    _not_the_input(output, net, "the model file")  # the inputs are never replaced
    _not_the_input(output, data, "the data file")
    if limit is not None and (isinstance(limit, (bool, np.bool_))
                              or not isinstance(limit, (int, np.integer)) or limit < 1):
        # -1 silently dropped the last sample, 0 measured nothing, 'a' was int()'s ValueError
        raise ConfigError(f"limit must be a positive number of samples, got {limit!r}")
    net, spikes, labels = _net_and_data(net, data, "tap_importance")
    x = np.asarray(spikes) if limit is None else np.asarray(spikes)[:, :int(limit)]
    y = None if labels is None else np.asarray(labels)[:x.shape[1]]
    out = measure(net, x, y)
    if output is not None:
        save_model(out, output)
    return out


def prune(net: Network | str | os.PathLike, data: Any = None,
          output: str | os.PathLike | None = None, *, verify_samples: int = 64, seed: int = 0,
          backend: str | Backend = "auto", engine: str | None = None) -> tuple[Network, dict]:
    """Remove dead and constant nodes and unused taps, exactly (``spikelut prune``; see
    :func:`spikelut.prune.prune_network`); with ``output``, save the pruned model there
    (refused with an :class:`~spikelut.errors.OutputError` when it is the model or data file).
    ``backend`` simulates the check, as in :func:`simulate` (``engine``: the deprecated word).

    Args:
        net: a network or the path of a model file (not changed).
        data: optional spikes (a spike file, SpikeData or ``[T, B, n_in]``) for the report's
            ``data_only`` findings; nothing is pruned because of them.
        output: where to save the pruned model (``None``: not saved).
        verify_samples: random stimuli per spike rate simulated on both networks
            (``0``: skip the check).
        seed: of those stimuli, a whole number ``>= 0``.

    Returns:
        ``(pruned, report)``, as :func:`spikelut.prune.prune_network` gives them: ``report``
        has ``luts``, ``flip_flops`` and ``taps`` as ``{"before", "after", "saved"}``, the
        per-layer changes, ``verified`` (``samples``, ``steps`` in cycles, ``bits_compared``,
        ``mismatches``; absent when ``verify_samples`` is 0) and, with ``data``, ``data_only``.

    Raises:
        ConfigError: ``net`` not a Network or a model file path, an analog model, a bad
            ``verify_samples`` or ``seed``, or an unknown backend.
        FileFormatError: a model or spike file that cannot be read.
        ShapeError: data that do not fit the model.
        OutputError: ``output`` is the model or data file, or cannot be written.
        ToolError: the backend is not usable here.
        RuntimeError: the check found a differing bit (a bug in pruning, never a user error).

    Example:
        >>> from spikelut.wiring import random_network
        >>> small, rep = prune(random_network(0, n_in=2, sizes=[3, 2], k=2))
        >>> rep["luts"], rep["verified"]["mismatches"]
        ({'before': 5, 'after': 2, 'saved': 3}, 0)
    """
    from .io import save_model
    from .prune import prune_network

    _model_or_file(net, "prune")
    # the inputs are never replaced (a spike file given as output became a model file)
    _not_the_input(output, net, "the model file")
    _not_the_input(output, data, "the data file")
    net, spikes, _ = _net_and_data(net, data, "prune")
    b = _backend(backend, engine, None)
    pruned, report = prune_network(net, spikes, verify_samples=verify_samples, seed=seed,
                                   backend=b)
    if output is not None:
        save_model(pruned, output)
    return pruned, report


def export_onnx(model: Network | str | os.PathLike, output: str | os.PathLike, name: str = "spikelut",
                force: bool = False) -> dict:
    """Write the circuit of ``model`` (a network or a model file) as a one-cycle ONNX graph.

    The graph's interface and why it is one cycle: :mod:`spikelut.onnx_export` and docs/torch.md.

    Args:
        model: a :class:`~spikelut.network.Network` or the path of a model file.
        output: the ``.onnx`` file to write (atomically).
        name: the graph's name.
        force: overwrite an existing file of another kind.

    Returns:
        ``{"path", "bytes", "nodes", "state_depth", "signals", "opset"}``.

    Raises:
        OutputError: ``output`` cannot be written (or is the model file).
        FileFormatError: the model file is not a valid model.
        ToolError: the ``onnx`` package is missing, or the network is too large for one file.

    Example (skipped as a test: it needs the optional onnx package):
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=3, sizes=[4], k=2)
        >>> export_onnx(net, "m.onnx")["state_depth"]  # doctest: +SKIP
        2
    """
    from .fileutil import check_output
    from .io import load_model

    try:
        from .onnx_export import write_onnx
    except ImportError:  # the optional onnx package is missing
        raise ToolError("ONNX export needs the 'onnx' package, which does not import here; "
                        "install it with pip install 'spikelut[onnx]'") from None

    is_net = isinstance(model, Network)
    check_output(output, inputs=[] if is_net else [model], kind="onnx", force=force, lock=False)
    net = model if is_net else load_model(model)
    require_binary(net, "export")
    return write_onnx(net, output, name)


__all__.append("export_onnx")


def ensemble_files(models: Sequence[str | os.PathLike | Network], output: str | os.PathLike | None = None,
                   *, data: Any = None, backend: str | Backend = "auto") -> dict:
    """Merge model files into one ensemble model (``spikelut ensemble``; see
    :func:`spikelut.ensemble.ensemble`), optionally scoring every member and the ensemble.

    Args:
        models: two or more member model files (or networks).
        output: where to save the ensemble model (``None``: not saved).
        data: a labelled spike file, :class:`~spikelut.io.spikes.SpikeData` or ``(spikes,
            labels)`` (``None``: no scores).
        backend: simulates the scoring, as in :func:`simulate`.

    Returns:
        A JSON-friendly report: ``members``, ``luts``, ``flip_flops``, ``classes``,
        ``counted_nodes``, ``member_reports`` (``member``, ``file``, ``luts``, with ``data`` also
        ``accuracy``), and with ``data`` the ensemble's ``accuracy`` and ``samples``.

    Raises:
        OutputError: ``output`` is a member model file or the data file.
        NetworkError: ``models`` not a list of networks or model files, fewer than two members, a
            model file given twice, or members that do not fit each other.
        FileFormatError: a model or spike file that cannot be read.
        ShapeError: ``data`` of another type, without labels or not fitting the members.

    Example:
        >>> from spikelut.wiring import random_network
        >>> a = random_network(0, n_in=2, sizes=[3, 2], k=2, classes=2)
        >>> b = random_network(1, n_in=2, sizes=[3, 2], k=2, classes=2)
        >>> rep = ensemble_files([a, b])
        >>> rep["members"], rep["luts"], [m["luts"] for m in rep["member_reports"]]
        (2, 10, [5, 5])
    """
    from .ensemble import ensemble
    from .io import SpikeData, load_model, load_spikes, save_model

    if isinstance(models, (str, os.PathLike, Network)) or not hasattr(models, "__iter__"):
        raise NetworkError(f"models must be a list of member networks or model files, got "
                           f"{type(models).__name__}")
    models = list(models)  # a generator or tuple: len() below (was a TypeError)
    if len(models) < 2:
        raise NetworkError(f"an ensemble needs two or more member models, got {len(models)}")
    for i, m in enumerate(models):
        if not isinstance(m, (Network, str, os.PathLike)):  # was pathlib's TypeError
            raise NetworkError(f"member {i}: expected a Network or a model file, got "
                               f"{type(m).__name__}")
    files = [m for m in models if not isinstance(m, Network)]
    for f in files:  # a member model file is never replaced by the ensemble
        _not_the_input(output, f, "a member model file")
    _not_the_input(output, data, "the data file")
    for i, a in enumerate(files):  # a model twice only doubles its votes: a slip, not a member
        for b in files[:i]:
            if os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b):
                raise NetworkError(f"{a}: given twice (as {b} too); each member model once")
    nets = [m if isinstance(m, Network) else load_model(m) for m in models]
    names = [f"network {i}" if isinstance(m, Network) else str(m) for i, m in enumerate(models)]
    # a member that does not fit is named by its file (member 1 (b.h5) does not fit member 0 (a.h5))
    merged = ensemble(nets, [None if isinstance(m, Network) else str(m) for m in models])
    r = merged.readout
    rep: dict = {"members": len(nets), "luts": merged.n_nodes, "flip_flops": merged.flip_flops(),
                 "classes": r.classes, "counted_nodes": int((r.class_of >= 0).sum()),
                 "member_reports": [{"member": i, "file": names[i], "luts": n.n_nodes}
                                    for i, n in enumerate(nets)]}
    if data is not None:
        if isinstance(data, tuple) and len(data) == 2:  # (spikes, labels), as train takes
            data = SpikeData(np.asarray(data[0]), np.asarray(data[1]), {})
        if not isinstance(data, (str, os.PathLike, SpikeData)):  # was an AttributeError
            raise ShapeError(f"data must be a labelled spike file, SpikeData or (spikes, labels), "
                             f"got {type(data).__name__}")
        d = data if not isinstance(data, (str, os.PathLike)) else load_spikes(data)
        if d.labels is None:
            raise ShapeError(f"{data}: has no /labels; scoring an ensemble needs labelled spikes")
        # eval's checks, width first: a file for another network is named as such, not by
        # "labels: label 2 is out of range" from the first member's evaluation
        check_spike_file(merged, data if isinstance(data, (str, os.PathLike)) else "data",
                         d.spikes.shape, d.labels, meta=d.meta)
        for i, net in enumerate(nets):
            rep["member_reports"][i]["accuracy"] = evaluate(net, d.spikes, d.labels,
                                                            backend=backend).accuracy
        ev = evaluate(merged, d.spikes, d.labels, backend=backend)
        rep["accuracy"], rep["samples"] = ev.accuracy, ev.samples
    if output is not None:
        save_model(merged, output)
    return rep
