"""The Python API, mirroring the CLI: build, load, save, simulate.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .config import build_network, load_config
from .engine.result import SimResult
from .errors import ConfigError, ShapeError, ToolError
from .metrics import Tally, check_scorable
from .network import Network
from .progress import Progress


def build(config: str | os.PathLike | dict, seed: int | None = None) -> Network:
    """Build a network from a TOML config file (or an already parsed config dict)."""
    cfg = config if isinstance(config, dict) else load_config(config)
    return build_network(cfg, seed=seed)


def simulate(net: Network, spikes: Any, engine: str = "auto", device: str = "cpu",
             record: str | int | Sequence[int] = "all") -> SimResult:
    """Simulate ``net`` on input spikes ``[T, B, n_in]`` (numpy, CuPy or any DLPack tensor).

    ``engine``: ``"reference"``, ``"bitsliced"``, ``"gpu"`` or ``"auto"`` (the fastest for the
    device); every engine gives bit-identical spikes. ``record``: which layers' spikes to keep
    (``"all"``, ``"readout"``, a layer index or a list); the others come back as ``None``.
    Results are arrays of the same framework as ``spikes``.
    """
    from .engine import get_engine

    return get_engine(engine, device)(net, spikes, record=record)


CHUNK_MEMORY = 64 << 20
"""Bytes of spikes (input and every layer, uint8) one chunk of a streamed file aims at; peak
memory is about three times this on top of the libraries (the chunk read, the engine's copy,
the recorded layers)."""

MIN_CHUNK = 1024
"""Fewest samples per chunk by default: 16 words of 64 samples, so the bit-sliced engine's
threads each get a full slice even for networks whose spikes exceed :data:`CHUNK_MEMORY`."""


def auto_chunk(steps: int, channels: int, layer_sizes: Sequence[int], samples: int,
               memory: int = CHUNK_MEMORY, align: int = 64, least: int = MIN_CHUNK) -> int:
    """Samples per chunk of a streamed command: as many as fit ``memory`` bytes of uint8 spikes
    (input channels plus every layer, over ``steps`` cycles), a multiple of ``align`` (the
    engine's word and the files' storage chunk), at least ``least``, at most ``samples``.

    Example:
        >>> auto_chunk(40, 16, [500, 100], samples=10**6)
        2688
    """
    per_sample = max(1, int(steps) * (int(channels) + sum(int(n) for n in layer_sizes)))
    fit = max(least, (memory // per_sample) // align * align)
    return int(max(1, min(fit, samples)))


def _check_chunk(chunk: int | None, default: int) -> int:
    if chunk is None:
        return default
    if isinstance(chunk, bool) or int(chunk) != chunk or chunk < 1:
        raise ConfigError(f"chunk must be a positive number of samples, got {chunk!r}")
    return int(chunk)


@dataclass
class FileRun:
    """What :func:`simulate_file` did.

    Attributes:
        output: the result file written (``None`` when only scoring).
        steps, samples, channels: ``T, B, n_in`` of the input.
        engine, device: the engine that ran (``auto`` resolved) and where.
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
    engine: str
    device: str
    chunk: int
    spikes_per_layer: list
    pred_head: np.ndarray
    tally: Tally | None
    labels: np.ndarray | None
    meta: dict
    sample0: tuple


def simulate_file(net: Network, spikes: str | os.PathLike, output: str | os.PathLike | None = None,
                  engine: str = "auto", device: str = "cpu", chunk: int | None = None,
                  require_labels: bool = False, progress: bool | None = None,
                  meta: dict | None = None) -> FileRun:
    """Simulate ``net`` on a spike file chunk of samples by chunk; memory is set by the chunk.

    Reads ``/spikes[:, b0:b1, :]`` slices, simulates each, and writes each chunk's result into a
    result file opened once with its final shapes (atomically: ``output`` appears only when
    every chunk is written). Labelled input is scored by :mod:`spikelut.metrics` over the chunks;
    the result is bit-identical to simulating the whole file at once.

    Args:
        net: the network.
        spikes: a spike file ``[T, B, n_in]``.
        output: the result file to write; ``None`` scores only (only the readout is recorded).
        engine, device: as in :func:`simulate`.
        chunk: samples per chunk (default :func:`auto_chunk`).
        require_labels: refuse an unlabelled file (for ``eval``).
        progress: ``True`` a bar, ``False`` nothing, ``None`` a bar on a terminal and a line every
            few seconds otherwise (see :mod:`spikelut.progress`).
        meta: extra metadata written into the result file's root attributes.

    Returns:
        A :class:`FileRun`.

    Raises:
        FileFormatError: a malformed spike file; ShapeError: input that does not fit ``net`` or
        cannot be scored (:func:`spikelut.metrics.check_scorable`); ConfigError: a bad ``chunk``.

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
    from .engine import get_engine
    from .io import open_spikes, spike_writer

    run_engine = get_engine(engine, device)
    with open_spikes(spikes) as reader:
        T, B, n_in = reader.shape
        if n_in != net.n_in:
            raise ShapeError(f"{spikes}: spikes have {n_in} channels but the network has {net.n_in} "
                             f"inputs; encode the data for this network or use another model")
        if T < 1 or B < 1:
            raise ShapeError(f"{spikes}: input spikes need T >= 1 and B >= 1, got T={T}, B={B}")
        labels = reader.labels
        if labels is None and require_labels:
            raise ConfigError(f"{spikes}: has no /labels; eval needs labelled spikes "
                              f"(use 'spikelut simulate' for unlabelled data)")
        if labels is not None:
            check_scorable(net.readout, T, labels, str(spikes))
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
                res = run_engine(net, x, record=record).to_numpy()
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
    return FileRun(None if output is None else Path(output), T, B, n_in, run_engine.engine,
                   run_engine.device, step, totals, np.asarray(head, np.int32), tally, labels,
                   meta_in, sample0)


@dataclass
class EncodeRun:
    """What :func:`encode_file` wrote: ``shape (T, N, channels)``, the file's ``meta``, the mean
    spike rate, and the samples per chunk."""

    output: Path
    shape: tuple
    meta: dict
    rate: float
    chunk: int


def encode_file(output: str | os.PathLike, dataset: str | os.PathLike, coding: str | None,
                steps: int | None, split: str = "train", seed: int = 0, limit: int | None = None,
                chunk: int | None = None, progress: bool | None = None, **params: Any) -> EncodeRun:
    """Encode a dataset split into a spike file, chunk of samples by chunk (atomically).

    The spikes equal :func:`spikelut.datasets.encode_dataset`'s bit for bit (random codes draw
    per block of 256 samples, and chunks of a random code start on those blocks); memory holds
    the dataset's values and one chunk of spikes.

    Args:
        output: the spike file to write.
        dataset, coding, steps, split, seed, limit, params: as in
            :func:`spikelut.datasets.encode_dataset`.
        chunk: samples per chunk (default :func:`auto_chunk`; rounded up to 256 for a random code).
        progress: as in :func:`simulate_file`.

    Returns:
        An :class:`EncodeRun`.

    Raises:
        ConfigError, FileFormatError: as :func:`~spikelut.datasets.encode_dataset`; ConfigError for
        a bad ``chunk``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "e.h5"
        >>> encode_file(p, "first_of_two", None, None, split="test", progress=False).shape
        (20, 200, 2)
    """
    from .datasets import plan_encoding
    from .io import spike_writer

    plan = plan_encoding(dataset, coding, steps, split=split, seed=seed, limit=limit, **params)
    T, N, C = plan.shape
    step = _check_chunk(chunk, auto_chunk(T, C, [], max(N, 1)))
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
    """Bernoulli spikes ``[steps, batch, channels]`` (uint8), each 1 with probability ``rate``."""
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"rate must be in [0, 1], got {rate}")
    if steps < 1 or batch < 1 or channels < 0:
        raise ConfigError(f"need steps >= 1, batch >= 1, channels >= 0; got {steps}, {batch}, {channels}")
    rng = np.random.default_rng(seed)
    return (rng.random((steps, batch, channels)) < rate).astype(np.uint8)


__all__ = ["build", "simulate", "simulate_file", "auto_chunk", "FileRun", "encode_file", "EncodeRun",
           "random_spikes"]


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
    check_output(output, inputs=[] if is_net else [model], kind="binary", force=force, lock=False)
    net = model if is_net else load_model(model)
    return write_onnx(net, output, name)


__all__.append("export_onnx")
