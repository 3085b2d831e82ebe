"""The Python API, mirroring the CLI: build, encode, simulate, evaluate, train, compile_rtl, run,
bench, backends.

Each ``spikelut`` command parses its arguments, calls one function here and formats the result;
everything a command computes is reachable from Python without the CLI.

Example:
    >>> import spikelut as sl
    >>> net = sl.build("demos/oscillator.toml")               # doctest: +SKIP
    >>> spikes = sl.random_spikes(1, steps=8, batch=2, rate=1.0)
    >>> res = sl.simulate(net, spikes)                        # doctest: +SKIP
    >>> res.layer_spikes[0][:, 0, 0]                          # doctest: +SKIP
    array([1, 0, 1, 0, 1, 0, 1, 0], dtype=uint8)
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .backends import Backend, backend_from_legacy, get_backend, list_backends
from .config import build_network, load_config
from .engine.result import SimResult
from .errors import ConfigError, ShapeError
from .network import Network
from .xp import to_numpy


def build(config: str | os.PathLike | dict, seed: int | None = None) -> Network:
    """Build a network from a TOML config file (or an already parsed config dict).

    Raises:
        ConfigError: the config is not valid (the message names the key).
        NetworkError: the network it describes breaks a rule of DESIGN.md section 2.
    """
    cfg = config if isinstance(config, dict) else load_config(config)
    return build_network(cfg, seed=seed)


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
        ConfigError: unknown backend or record.
        ToolError: the backend is not usable here (one line saying why).
        ShapeError: the spikes are not ``[T, B, n_in]`` of 0/1.
    """
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
        ConfigError: ``batch_size < 1``, or an unknown backend.
        ShapeError: labels are not ``[B]`` or hold classes outside ``0 .. classes - 1``.
        ToolError: the backend is not usable here.

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=3, sizes=[6, 2], k=3, classes=2)
        >>> ev = evaluate(net, np.ones((4, 5, 3), np.uint8), [0, 1, 0, 1, 1], backend="numpy")
        >>> ev.samples, int(ev.confusion.sum()), ev.confusion.shape
        (5, 5, (2, 2))
    """
    b = _backend(backend, engine, device)
    labels = np.asarray(to_numpy(labels)).astype(np.int64)
    B = spikes.shape[1]
    C = net.readout.classes
    if labels.shape != (B,):
        raise ShapeError(f"labels have shape {labels.shape}, expected ({B},) like the spikes' batch")
    if labels.size and (labels.min() < 0 or labels.max() >= C):
        raise ShapeError(f"labels must be classes 0..{C - 1} of the readout, got {int(labels.min())}"
                         f"..{int(labels.max())}")
    step = B if batch_size is None else int(batch_size)
    if step < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    preds = [to_numpy(b.simulate(net, spikes[:, b0:b0 + step], record="readout").pred)
             for b0 in range(0, B, step)]
    pred = np.concatenate(preds).astype(np.int64) if preds else np.zeros(0, np.int64)
    confusion = np.zeros((C, C), np.int64)
    np.add.at(confusion, (labels, pred), 1)
    correct = int((pred == labels).sum())
    return EvalResult(correct / B if B else 0.0, correct, int(B), C, confusion, pred, b.name)


def backends() -> list[dict]:
    """Every registered backend with what it supports and whether (or why not) it is usable here.

    Example:
        >>> [b["name"] for b in backends()]
        ['numpy', 'numba', 'cuda']
    """
    return [b.info() for b in list_backends()]


def bench(sizes: Sequence[str] = ("small", "default", "large"), backends: Sequence[str] | None = None,
          repeats: int = 3, threads: int | None = None, seed: int = 0, training: bool = True,
          command: str | None = None, progress: bool = False) -> dict:
    """Throughput of the backends on this machine (the report of ``spikelut bench``).

    ``backends``: the backends to time (default: every usable one); the numpy reference always
    runs, as the base of the speed-ups. See :func:`spikelut.bench.run_bench`.

    Raises:
        ConfigError: unknown size or backend, ``repeats < 1``.
        ToolError: a backend asked for by name is not usable here.
    """
    from .bench import run_bench

    return run_bench(sizes, repeats=repeats, threads=threads, seed=seed, training=training,
                     command=command, progress=progress, backends=backends)


def encode(dataset: str | os.PathLike, coding: str | None = None, steps: int | None = None,
           split: str = "train", seed: int = 0, limit: int | None = None, **params: Any):
    """Load a dataset split and encode it as spikes (``spikelut encode``).

    Returns:
        :class:`~spikelut.io.SpikeData`: spikes ``[T, N, channels]`` (uint8), labels ``[N]``
        (int64) and metadata. See :func:`spikelut.datasets.encode_dataset`.

    Raises:
        ConfigError: unknown dataset, coding or parameter.
        FileFormatError: a user file that cannot be read.
    """
    from .datasets import encode_dataset

    return encode_dataset(dataset, coding, steps, split=split, seed=seed, limit=limit, **params)


def train(net: Network, data: Any, config: dict | Any = None, val: Any = None,
          progress: bool | None = False, **fit: Any):
    """Train ``net``'s tables on labelled spikes (``spikelut train``).

    Args:
        net: the network to train (its layers' logits or tables are the starting point).
        data: :class:`~spikelut.io.SpikeData` with labels, or ``(spikes [T, N, n_in], labels [N])``.
        config: the ``[train]`` table as a dict, or a :class:`~spikelut.train.TrainConfig`.
        val: validation data like ``data``, or ``None``.
        progress: show a progress bar (``None``: when on a terminal).
        **fit: ``log``, ``checkpoint``, ``resume``, ``callback`` of
            :meth:`spikelut.train.Trainer.fit`.

    Returns:
        :class:`~spikelut.train.trainer.TrainResult`: the kept network, the per-epoch history and
        the kept epoch.

    Raises:
        ConfigError: a bad ``[train]`` key or value.
        ShapeError: data that do not fit the network.
    """
    from .train import Trainer, TrainConfig

    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config or {})
    return Trainer(net, cfg, progress=progress).fit(data, val, **fit)


def compile_rtl(net: Network, out_dir: str | os.PathLike, top: str = "spikelut_core",
                lut6: bool = False, steps: int | None = None, stimulus: Any = None,
                verify: str | None = None, force: bool = False, model: str | None = None):
    """Write the Verilog core, classifier wrapper and testbench for ``net`` (``spikelut rtl``).

    Args:
        verify: ``"verilator"`` or ``"iverilog"``: also co-simulate ``stimulus`` (input spikes
            ``[T, B, n_in]``) and compare every output bit with the simulator.

    Returns:
        ``(files, report)``: the :class:`~spikelut.rtl.writer.RtlFiles` written and the
        :class:`~spikelut.rtl.cosim.CosimReport` (``None`` without ``verify``).

    Raises:
        ConfigError: a bad top name or output directory.
        ToolError: the simulator is missing or fails.
    """
    from .rtl import verify_directory, write_verilog

    files = write_verilog(net, out_dir, top=top, lut6=lut6, steps=steps, stimulus=stimulus,
                          force=force, model=model)
    return files, (verify_directory(files, verify) if verify else None)


def run(config: str | os.PathLike | dict | None = None, outdir: str | os.PathLike = "spikelut-run",
        force: bool = False, progress: bool | None = None) -> dict:
    """The main job (``spikelut run``): encode, train, evaluate, plots, RTL, co-simulation,
    synthesis and report in ``outdir``; returns the report (also ``outdir/report.json``).

    Raises:
        ConfigError: a bad run config.
        ToolError: a stage's tool is missing or fails.
    """
    from .pipeline import run_pipeline

    return run_pipeline(config, outdir, force=force, progress=progress)


def random_spikes(channels: int, steps: int, batch: int, rate: float = 0.5,
                  seed: int = 0) -> np.ndarray:
    """Bernoulli spikes ``[steps, batch, channels]`` (uint8), each 1 with probability ``rate``.

    Raises:
        ConfigError: ``rate`` outside ``[0, 1]`` or a size below its minimum.
    """
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"rate must be in [0, 1], got {rate}")
    if steps < 1 or batch < 1 or channels < 0:
        raise ConfigError(f"need steps >= 1, batch >= 1, channels >= 0; got {steps}, {batch}, {channels}")
    rng = np.random.default_rng(seed)
    return (rng.random((steps, batch, channels)) < rate).astype(np.uint8)


__all__ = ["EvalResult", "backends", "bench", "build", "compile_rtl", "encode", "evaluate",
           "random_spikes", "run", "simulate", "train"]
