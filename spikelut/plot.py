"""Figures: spike rasters, firing-rate histograms, LUT table pictures and training curves.

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend
change, works without a display). Each function writes a PNG atomically when given ``path`` and
returns the path; without ``path`` it returns the :class:`matplotlib.figure.Figure`. The PNG is
exactly ``size`` pixels (width, height).

Results come as a result file path (``spikelut simulate -o RESULT.h5``), a ``(SpikeData,
SimResult)`` pair from :func:`spikelut.io.results.load_result`, or a :class:`SimResult` alone (then no
input panel unless ``inputs`` is given). Layers with more than ``max_nodes`` nodes are shown
through evenly spaced nodes, and the panel title says so.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> import spikelut as sl
    >>> from spikelut.plot import raster
    >>> net = sl.build("demos/first_of_two.toml")                          # doctest: +SKIP
    >>> x = np.zeros((8, 1, 2), np.uint8); x[1, 0, 1] = x[4, 0, 0] = 1
    >>> res = sl.simulate(net, x)                                          # doctest: +SKIP
    >>> raster(res, 0, "raster.png", inputs=x, model=net)                  # doctest: +SKIP
    PosixPath('raster.png')
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator
from tqdm import tqdm

from . import limits
from .engine.result import SimResult, check_drawable
from .errors import ConfigError, FileFormatError, ShapeError
from .escape import terminal
from .fileutil import atomic_path
from .io import SpikeData, check_sample, load_model, load_result, load_result_sample, open_result
from .network import Network, all_binary

DEFAULT_SIZE = (1200, 900)
DPI = 100
_CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf"]


# ---------------------------------------------------------------------------- common
def _figure(size: Sequence[int]) -> Figure:
    w, h = (int(v) for v in size)
    if w < 100 or h < 100 or w > 20000 or h > 20000:
        raise ConfigError(f"figure size must be 100 .. 20000 pixels each way, got {w}x{h}")
    fig = Figure(figsize=(w / DPI, h / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _finish(fig: Figure, path: str | os.PathLike | None) -> Path | Figure:
    if path is None:
        return fig
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; give a file name for the PNG")
    with atomic_path(path) as tmp:
        # no bbox_inches="tight": the PNG keeps exactly the requested pixel size
        fig.savefig(tmp, format="png", dpi=DPI)
    return path


def _model(model: Network | str | os.PathLike | None) -> Network | None:
    if model is None or isinstance(model, Network):
        return model
    return load_model(model)


def _result(result: Any, model: Network | None, inputs: Any = None
            ) -> tuple[np.ndarray | None, SimResult, np.ndarray | None, str]:
    """(inputs [T, B, n_in] or None, SimResult on the host, labels or None, a name for titles)."""
    if isinstance(result, (str, os.PathLike)):
        # load_result checks the model's layer sizes and input count: a model of the same
        # layers but another input width lent the figure its names and class colours
        data, res = load_result(result, model)
        res = res.to_numpy()
        check_drawable(res, str(result))
        return data.spikes, res, data.labels, _text(Path(result).name)
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], SpikeData):
        data, res = result
        res = res.to_numpy()
        check_drawable(res, "the result")
        return data.spikes, res, data.labels, ""
    if isinstance(result, SimResult):
        res = result.to_numpy()
        T, B = check_drawable(res, "the result")
        x = None if inputs is None else np.asarray(inputs)
        if x is not None and (x.ndim != 3 or x.shape[:2] != (T, B)):
            raise ShapeError(f"inputs have shape {x.shape}, expected [T, B, n_in] with "
                             f"T, B = {(T, B)}")
        return x, res, None, ""
    raise ConfigError("expected a result file path, a (SpikeData, SimResult) pair or a SimResult")


def _text(s: str) -> str:
    """A name from a file made safe for a matplotlib title: no control characters, and ``$``
    escaped so it cannot start mathtext (a bad formula made savefig raise)."""
    return terminal(s).replace("$", r"\$")


def _layer_names(layers: int, net: Network | None) -> list[str]:
    if net is not None and len(net.layers) == layers:
        return [_text(layer.name) for layer in net.layers]
    return [f"L{i}" for i in range(layers)]


def subsample(n: int, max_nodes: int) -> np.ndarray:
    """Evenly spaced node indices (all of them when ``n <= max_nodes``).

    Args:
        n: how many nodes there are.
        max_nodes: the most indices to return, ``>= 1``.

    Returns:
        int64 ``[m]``, increasing, ``m <= max_nodes``; first ``0`` and last ``n - 1``.

    Raises:
        ConfigError: ``max_nodes < 1``.

    Example:
        >>> subsample(10, 4).tolist()
        [0, 3, 6, 9]
    """
    if max_nodes < 1:
        raise ConfigError(f"max_nodes must be >= 1, got {max_nodes}")
    if n <= max_nodes:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_nodes)).astype(np.int64))


def _shown(n: int, max_nodes: int) -> tuple[np.ndarray, str]:
    idx = subsample(n, max_nodes)
    note = "" if len(idx) == n else f", {len(idx)} of {n} nodes shown (evenly spaced)"
    return idx, note


def _hex_rgb(c: str) -> np.ndarray:
    return np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)], np.float64) / 255


# ---------------------------------------------------------------------------- raster
def _raster_panel(ax, spikes: np.ndarray, colors: np.ndarray, title: str, nodes: np.ndarray) -> None:
    """spikes [T, rows] 0/1 of nodes ``nodes``; colors [rows, 3]; a coloured pixel per spike."""
    T, rows = spikes.shape
    img = np.ones((rows, T, 3))
    on = spikes.T.astype(bool)
    img[on] = np.broadcast_to(colors[:, None, :], (rows, T, 3))[on]
    ax.imshow(img, aspect="auto", interpolation="nearest", extent=(-0.5, T - 0.5, rows - 0.5, -0.5))
    ax.set_title(title, fontsize=9, loc="left")
    ax.set_ylabel("node", fontsize=8)
    ax.tick_params(labelsize=7)
    if rows <= 8:
        ax.set_yticks(range(rows))
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    # rows of a subsampled layer are labelled with the node numbers they show
    ax.yaxis.set_major_formatter(FuncFormatter(
        lambda v, _: str(int(nodes[int(v)])) if 0 <= v < len(nodes) and v == int(v) else ""))


def raster(result: Any, sample: int = 0, path: str | os.PathLike | None = None, *,
           model: Network | str | os.PathLike | None = None, inputs: Any = None,
           max_nodes: int = 128, size: Sequence[int] = DEFAULT_SIZE,
           title: str | None = None) -> Path | Figure:
    """Spike raster of one sample: the input and every layer stacked over a shared time axis, and
    the readout's class counts as bars (predicted class outlined, label given when known).

    With ``model`` (a :class:`Network` or model file) the layers carry their names and the readout
    layer's spikes are coloured by class. Of a result file only ``sample`` is read
    (:func:`spikelut.io.results.load_result_sample`).

    Args:
        result: a result file path, a ``(SpikeData, SimResult)`` pair or a :class:`SimResult`.
        sample: index of the sample to draw, ``0 .. B-1``.
        path: PNG to write (atomically); ``None`` returns the figure.
        model: :class:`Network` or model file: layer names and readout class colours.
        inputs: input spikes ``[T, B, n_in]`` 0/1 for a :class:`SimResult` alone (input panel).
        max_nodes: the most nodes drawn per panel (evenly spaced beyond that).
        size: ``(width, height)`` of the figure in pixels, each 100 .. 20000.
        title: figure title (default: the file name, sample and cycles).

    Returns:
        ``Path(path)`` when ``path`` is given, else the :class:`matplotlib.figure.Figure`.

    Raises:
        ConfigError: ``result`` of another type, a figure size out of range, ``path`` a
            directory, ``max_nodes < 1``, or a sample out of range.
        ShapeError: ``inputs`` not ``[T, B, n_in]`` with the result's ``T, B``.
        FileFormatError: a result or model file that cannot be read or does not match.

    Example:
        >>> import numpy as np, spikelut as sl
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, 4, [6, 3], k=2)
        >>> x = np.zeros((5, 2, 4), np.uint8); x[1, :, 0] = 1
        >>> res = sl.simulate(net, x)
        >>> fig = raster(res, 0, inputs=x, model=net)
        >>> len(fig.axes)  # input, two layers, readout class counts
        4
    """
    net = _model(model)
    if isinstance(result, (str, os.PathLike)):
        # only that sample is read (checked against the model, and the sample against the
        # result's range): a result of 10,000 samples was read whole to draw one
        data, res = load_result_sample(result, sample, net)
        x, labels, name, col = data.spikes, data.labels, _text(Path(result).name), 0
        sample = int(sample)
    else:
        x, res, labels, name = _result(result, net, inputs)
        sample = col = check_sample(sample, res.layer_spikes[0].shape[1])
    T = res.layer_spikes[0].shape[0]
    names = _layer_names(len(res.layer_spikes), net)
    panels = []  # (title, spikes [T, rows], colors [rows, 3], layer index or None, node numbers)
    black = _hex_rgb("#000000")
    if x is not None and x.shape[2]:  # a network without inputs (inputs = 0) has no input panel
        idx, note = _shown(x.shape[2], max_nodes)
        panels.append((f"input: {x.shape[2]} channels, {int(x[:, col].sum())} spikes{note}",
                       x[:, col][:, idx], np.tile(black, (len(idx), 1)), None, idx))
    ro = net.readout if net is not None else None
    for i, s in enumerate(res.layer_spikes):
        idx, note = _shown(s.shape[2], max_nodes)
        colors = np.tile(black, (len(idx), 1))
        tag = ""
        if ro is not None and ro.layer == i:
            tag = " (readout, coloured by class)"
            cls = ro.class_of[idx]
            for j, c in enumerate(cls):
                colors[j] = _hex_rgb(_CLASS_COLORS[c % 10]) if c >= 0 else _hex_rgb("#b0b0b0")
        panels.append((f"layer {i} '{names[i]}'{tag}: {s.shape[2]} nodes, "
                       f"{int(s[:, col].sum())} spikes{note}", s[:, col][:, idx], colors, i, idx))

    fig = _figure(size)
    ratios = [max(1.0, min(4.0, math.sqrt(p[1].shape[1]) / 2)) for p in panels] + [1.6]
    gs = fig.add_gridspec(len(panels) + 1, 1, height_ratios=ratios, hspace=0.6,
                          left=0.08, right=0.98, top=0.93, bottom=0.06)
    first = None
    for r, (ptitle, spikes, colors, li, nodes) in enumerate(panels):
        ax = fig.add_subplot(gs[r], sharex=first)
        first = first or ax
        _raster_panel(ax, spikes, colors, ptitle, nodes)
        if ro is not None and li == ro.layer and ro.start > 0:
            ax.axvline(ro.start - 0.5, color="#d62728", ls="--", lw=1)
        if r < len(panels) - 1:
            ax.tick_params(labelbottom=False)
    first.set_xlim(-0.5, T - 0.5)
    first.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.axes[-1].set_xlabel("cycle", fontsize=8)

    counts = res.counts[col]
    pred = int(res.pred[col])
    ax = fig.add_subplot(gs[len(panels)])
    k = len(counts)
    bars = ax.bar(range(k), counts, color=[_CLASS_COLORS[c % 10] for c in range(k)],
                  edgecolor="black", linewidth=0.5)
    bars[pred].set_linewidth(2.5)
    label = "" if labels is None else f", label {int(labels[col])}"
    start = f" from cycle {ro.start}" if ro is not None and ro.start else ""
    ax.set_title(f"readout class counts{start}: predicted {pred}{label}", fontsize=9, loc="left")
    ax.set_xticks(range(k))
    ax.tick_params(labelsize=7)
    ax.set_xlabel("class", fontsize=8)
    fig.suptitle(title or f"{name + ': ' if name else ''}sample {sample}, {T} cycles", fontsize=11)
    return _finish(fig, path)


# ---------------------------------------------------------------------------- rates
#: the most histogram bins of :func:`rate_histogram` (half a pixel each on the widest figure)
MAX_BINS = 10_000
#: bytes of spikes :func:`rate_histogram` reads from a result file at once (a range of samples)
RATE_READ_BYTES = 64 << 20


def firing_rates(spikes: np.ndarray) -> np.ndarray:
    """Per-node firing rate (spikes per cycle) of ``[T, B, n]`` spikes, averaged over T and B.

    Args:
        spikes: 0/1 spikes ``[T, B, n]`` (numpy array or array-like).

    Returns:
        float64 ``[n]``: spikes per cycle of each node, in ``[0, 1]``.

    Raises:
        ShapeError: spikes without cycles or samples (``T * B == 0``).

    Example:
        >>> import numpy as np
        >>> s = np.zeros((4, 1, 2), np.uint8); s[:, 0, 0] = 1; s[0, 0, 1] = 1
        >>> firing_rates(s).tolist()
        [1.0, 0.25]
    """
    s = np.asarray(spikes)
    if s.shape[0] * s.shape[1] == 0:  # no cycle or sample: no rate (not NaN and a warning)
        raise ShapeError(f"spikes of shape {s.shape} have no cycles or samples; no firing rate")
    # explicit rows: reshape(-1, 0) of a layer or input without nodes (inputs = 0) raised
    return s.reshape(s.shape[0] * s.shape[1], s.shape[2]).mean(axis=0, dtype=np.float64)


def _read_chunk(r: Any) -> int:
    """Samples of result reader ``r`` to read at a time: about :data:`RATE_READ_BYTES` of spikes
    (or the array limit where that is lower), whole storage chunks of 64 samples where that many
    fit."""
    T, _, n_in = r.shape
    budget = min(RATE_READ_BYTES, limits.max_array_bytes())
    chunk = max(1, budget // (T * (n_in + sum(r.sizes))))
    return chunk - chunk % 64 if chunk >= 64 else chunk


def _file_rates(path: str | os.PathLike, net: Network | None, chunk: int | None = None
                ) -> tuple[np.ndarray, list[np.ndarray], int, int]:
    """Per-node firing rates of a result file's input and layers, read ``chunk`` samples at a
    time (default: about :data:`RATE_READ_BYTES`, or the array limit where that is lower; whole
    storage chunks of 64 samples where that many fit), so memory is set by the chunk, not the
    file. The same float64 values as :func:`firing_rates` of the whole arrays: the spike counts
    are exact integers either way, divided once by ``T B``. Returns ``(input rates, layer rates,
    T, B)``."""
    with open_result(path, net) as r:
        T, B = r.check_drawable()  # no layer, cycle, sample or node: one line
        n_in = r.shape[2]
        chunk = _read_chunk(r) if chunk is None else chunk
        sums = [np.zeros(n, np.int64) for n in [n_in, *r.sizes]]
        for b0 in range(0, B, chunk):
            data, res = r.read(b0, min(B, b0 + chunk))
            for acc, s in zip(sums, [data.spikes, *res.layer_spikes]):
                acc += s.sum(axis=(0, 1), dtype=np.int64)
    rates = [acc / (T * B) for acc in sums]
    return rates[0], rates[1:], T, B


def rate_histogram(result: Any, path: str | os.PathLike | None = None, *,
                   model: Network | str | os.PathLike | None = None, inputs: Any = None,
                   bins: int = 20, size: Sequence[int] = DEFAULT_SIZE,
                   title: str | None = None) -> Path | Figure:
    """Histogram of per-node firing rates (spikes per cycle over all samples), one panel per layer
    (and the input when known); titles give the mean rate and the silent / always-on nodes. A
    result file is read a range of samples at a time (memory set by :data:`RATE_READ_BYTES`).

    Args:
        result: a result file path, a ``(SpikeData, SimResult)`` pair or a :class:`SimResult`.
        path: PNG to write (atomically); ``None`` returns the figure.
        model: :class:`Network` or model file: layer names.
        inputs: input spikes ``[T, B, n_in]`` for a :class:`SimResult` alone (input panel).
        bins: equal bins over rates ``[0, 1]``, a whole number 1 .. :data:`MAX_BINS`.
        size: ``(width, height)`` of the figure in pixels, each 100 .. 20000.
        title: figure title (default: the file name, samples and cycles).

    Returns:
        ``Path(path)`` when ``path`` is given, else the :class:`matplotlib.figure.Figure`.

    Raises:
        ConfigError: ``bins`` out of range, ``result`` of another type, a figure size out of
            range or ``path`` a directory.
        ShapeError: ``inputs`` not ``[T, B, n_in]`` with the result's ``T, B``.
        FileFormatError: a result or model file that cannot be read or does not match.

    Example:
        >>> import numpy as np, spikelut as sl
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, 4, [6, 3], k=2)
        >>> x = np.zeros((5, 2, 4), np.uint8); x[1, :, 0] = 1
        >>> res = sl.simulate(net, x)
        >>> fig = rate_histogram(res, inputs=x, bins=10)
        >>> len(fig.axes)  # input and two layers
        3
    """
    if isinstance(bins, bool) or int(bins) != bins or not 1 <= bins <= MAX_BINS:
        # bounded before np.linspace(bins + 1): 10**11 bins asked for 745 GiB
        raise ConfigError(f"bins must be a whole number 1 .. {MAX_BINS}, got {bins}")
    bins = int(bins)
    net = _model(model)
    if isinstance(result, (str, os.PathLike)):
        # read a range of samples at a time: the whole result had to fit in memory (and the
        # array limit) for a histogram of one number per node
        x_rates, rates, T, B = _file_rates(result, net)
        name = _text(Path(result).name)
    else:
        x, res, _, name = _result(result, net, inputs)
        x_rates = None if x is None else firing_rates(x)
        rates = [firing_rates(s) for s in res.layer_spikes]
        T, B = res.layer_spikes[0].shape[:2]
    names = _layer_names(len(rates), net)
    # the input panel only when there are input channels (a network may have none)
    series = ([("input", x_rates)] if x_rates is not None and len(x_rates) else []) + \
        [(f"layer {i} '{names[i]}'", r) for i, r in enumerate(rates)]
    fig = _figure(size)
    cols = 1 if len(series) < 3 else 2
    rows = math.ceil(len(series) / cols)
    edges = np.linspace(0.0, 1.0, bins + 1)
    for p, (label, r) in enumerate(series):
        ax = fig.add_subplot(rows, cols, p + 1)
        ax.hist(r, bins=edges, color="#1f77b4", edgecolor="white")
        silent = int((r == 0).sum())
        full = int((r == 1).sum())
        ax.set_title(f"{label}: {len(r)} nodes, mean rate {r.mean():.3f}, {silent} silent, "
                     f"{full} always on", fontsize=9, loc="left")
        ax.set_xlim(0, 1)
        ax.set_xlabel("spikes per cycle", fontsize=8)
        ax.set_ylabel("nodes", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(title or f"{name + ': ' if name else ''}firing rates over {B} samples x {T} cycles",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return _finish(fig, path)


# ---------------------------------------------------------------------------- LUT tables
#: bytes of spikes ``[T, samples, signals]`` that :func:`address_counts` copies side by side at once
ADDRESS_BYTES = 16 << 20


def address_counts(net: Network, inputs: Any, layer_spikes: Sequence[Any], layer: int | str,
                   chunk: int | None = None, progress: bool | None = None,
                   first_sample: int = 0) -> np.ndarray:
    """How often each node of ``layer`` saw each table address: int64 ``[n, 2**k]``.

    Addresses are rebuilt from recorded spikes by the tap rule of DESIGN.md section 2 (tap ``p``
    reads its signal at ``t - delay``, 0 before cycle 0, bit ``p`` of the address), in one
    compiled loop (:func:`spikelut.engine.addresses.count_addresses`). A recorded spike on an
    address whose table entry is 0 cannot come from this model and raises :class:`ShapeError`
    (the first such spike of a chunk, in cycle, node, sample order). ``progress`` shows a bar
    over sample chunks (default: when stderr is a terminal). ``chunk`` samples are worked at once
    (default: as many as keep the signals the layer reads, copied side by side, under
    :data:`ADDRESS_BYTES`); the counts do not depend on it. ``first_sample``: the number of the
    first sample given, for the message (a range read from a larger result).

    Args:
        net: the model that produced the spikes.
        inputs: 0/1 input spikes ``[T, B, n_in]``.
        layer_spikes: 0/1 spikes ``[T, B, n_i]`` of every layer.
        layer: layer index or name.
        chunk: samples worked at once.
        progress: show a progress bar.
        first_sample: number of the first sample, for messages.

    Returns:
        int64 ``[n, 2**k]`` counts over all ``T * B`` evaluations of each node.

    Raises:
        ShapeError: inputs or layer spikes that do not match the model, spikes that are not
            0/1, or a spike the model cannot produce.
        NetworkError: an unknown layer.

    Example:
        >>> import numpy as np
        >>> from spikelut.network import Layer, Network, Readout
        >>> osc = Layer(np.array([[0, 1, 0, 0]], np.uint8), np.array([[-1, 0]]),
        ...             np.array([[0, 0]]), np.array([[0, 1]]))
        >>> net = Network(1, [osc], Readout(0, [0], 1))
        >>> x = np.ones((4, 1, 1), np.uint8); s = np.array([1, 0, 1, 0], np.uint8)[:, None, None]
        >>> address_counts(net, x, [s], 0).tolist()     # addresses 1, 3, 1, 3
        [[0, 2, 0, 2]]
    """
    from .engine.addresses import count_addresses

    i = net.layer_index(layer)
    lay = net.layers[i]
    x = np.asarray(inputs)
    sigs = [x] + [np.asarray(s) for s in layer_spikes]
    if x.ndim != 3 or x.shape[2] != net.n_in:
        raise ShapeError(f"inputs have shape {x.shape}, expected [T, B, {net.n_in}]")
    if [s.shape[2] for s in sigs[1:]] != net.sizes or any(s.shape[:2] != x.shape[:2] for s in sigs):
        raise ShapeError(f"layer spikes {[s.shape for s in sigs[1:]]} do not match the model's "
                         f"layer sizes {net.sizes} over the inputs' [T, B] = {list(x.shape[:2])}")
    if not all(all_binary(s) for s in sigs):
        raise ShapeError("spikes must be 0 or 1")
    T, B = x.shape[:2]
    n = lay.n
    # only the signals the layer reads and its own spikes are copied side by side, in the order
    # input, layer 0, 1, ...: signal s (INPUT = -1) starts at column start[s]
    used = sorted({int(v) for v in np.unique(lay.source)} | {i})
    start, width = {}, 0
    for src in used:
        start[src] = width
        width += sigs[src + 1].shape[2]
    cols = np.array([[start[int(s)] for s in row] for row in lay.source], np.int64).reshape(n, lay.k)
    cols = cols + lay.index.astype(np.int64)
    if chunk is None:
        chunk = max(1, ADDRESS_BYTES // max(1, T * width))
    counts = np.zeros((n, 1 << lay.k), np.int64)
    show = sys.stderr.isatty() and B > 8 * chunk if progress is None else progress
    for b0 in tqdm(range(0, B, chunk), desc="addresses", unit="chunk", disable=not show, leave=False):
        b1 = min(b0 + chunk, B)
        part, bad = count_addresses(np.concatenate([sigs[s + 1][:, b0:b1] for s in used], axis=2),
                                    cols, lay.delay, lay.table, start[i])
        if bad is not None:
            t, j, b, a = bad
            raise ShapeError(f"the result does not come from this model: layer {i} node {j} spiked "
                             f"at cycle {t} of sample {first_sample + b0 + b} on address {a}, "
                             f"whose table entry is 0")
        counts += part
    return counts


def _file_address_counts(path: str | os.PathLike, net: Network, layer: int,
                         chunk: int | None = None) -> np.ndarray:
    """:func:`address_counts` of a result file's ``layer``, read ``chunk`` samples at a time
    (default as for the rates, :data:`RATE_READ_BYTES` or the array limit where lower): the
    same counts (integers summed over the samples) in the memory of one range."""
    with open_result(path, net) as r:
        T, B = r.check_drawable()  # no layer, cycle, sample or node: one line
        chunk = _read_chunk(r) if chunk is None else chunk
        counts = None
        for b0 in range(0, B, chunk):
            data, res = r.read(b0, min(B, b0 + chunk))
            part = address_counts(net, data.spikes, res.layer_spikes, layer, first_sample=b0)
            counts = part if counts is None else counts + part
    return counts


def lut_table(result: Any, model: Network | str | os.PathLike, path: str | os.PathLike | None = None,
              *, layer: int | str = 0, inputs: Any = None, max_nodes: int = 64,
              size: Sequence[int] = DEFAULT_SIZE, title: str | None = None) -> Path | Figure:
    """Picture of one layer's truth tables: rows = nodes, columns = addresses; which entries are 1
    and which addresses the simulation actually visited (over all samples and cycles).

    Args:
        result: a result file path, a ``(SpikeData, SimResult)`` pair or a :class:`SimResult`
            (then ``inputs`` is needed: the addresses are formed from the input spikes too).
        model: :class:`Network` or model file holding the tables.
        path: PNG to write (atomically); ``None`` returns the figure.
        layer: layer index or name.
        inputs: input spikes ``[T, B, n_in]`` 0/1 for a :class:`SimResult` alone.
        max_nodes: the most rows (nodes) drawn, evenly spaced beyond that.
        size: ``(width, height)`` of the figure in pixels, each 100 .. 20000.
        title: figure title.

    Returns:
        ``Path(path)`` when ``path`` is given, else the :class:`matplotlib.figure.Figure`.

    Raises:
        ConfigError: no model, a :class:`SimResult` without ``inputs``, ``max_nodes < 1``, a
            figure size out of range or ``path`` a directory.
        NetworkError: an unknown layer.
        ShapeError: inputs or layer spikes that do not match the model, or spikes that are not
            0/1 or do not come from this model (:func:`address_counts`).
        FileFormatError: a result or model file that cannot be read or does not match.

    Example:
        >>> import numpy as np, spikelut as sl
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, 4, [6, 3], k=2)
        >>> x = np.zeros((5, 2, 4), np.uint8); x[1, :, 0] = 1
        >>> res = sl.simulate(net, x)
        >>> fig = lut_table(res, net, layer=0, inputs=x)
        >>> fig.axes[0].get_images()[0].get_array().shape  # 6 nodes x 2**2 addresses
        (6, 4)
    """
    net = _model(model)
    if net is None:
        raise ConfigError("a LUT table picture needs the model (the tables live in the model file)")
    i = net.layer_index(layer)
    lay = net.layers[i]
    if isinstance(result, (str, os.PathLike)):
        # read a range of samples at a time: the whole result had to fit in memory (and the
        # array limit) for counts of one layer's addresses
        counts = _file_address_counts(result, net, i)
        name = _text(Path(result).name)
    else:
        x, res, _, name = _result(result, net, inputs)
        if x is None:
            raise ConfigError("a LUT table picture needs the input spikes (give a result file or "
                              "inputs=)")
        counts = address_counts(net, x, res.layer_spikes, i)
    idx, note = _shown(lay.n, max_nodes)
    code = lay.table[idx].astype(np.int64) + 2 * (counts[idx] > 0)  # 0,1 unvisited; 2,3 visited
    cmap = ListedColormap(["#ffffff", "#c6dbef", "#bdbdbd", "#08519c"])
    fig = _figure(size)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(code, cmap=cmap, vmin=-0.5, vmax=3.5, aspect="auto", interpolation="nearest")
    ax.set_xlabel(f"table address (tap p = bit p, {lay.k} taps)", fontsize=9)
    ax.set_ylabel("node", fontsize=9)
    if len(idx) <= 32:
        ax.set_yticks(range(len(idx)))
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(
        lambda v, _: str(int(idx[int(v)])) if 0 <= v < len(idx) and v == int(v) else ""))
    ax.tick_params(labelsize=7)
    visited = counts > 0
    ax.legend(handles=[Patch(facecolor="#ffffff", edgecolor="black", label="0, never visited"),
                       Patch(facecolor="#c6dbef", label="1, never visited"),
                       Patch(facecolor="#bdbdbd", label="0, visited"),
                       Patch(facecolor="#08519c", label="1, visited")],
              loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=4, fontsize=8, frameon=False)
    ax.set_title(f"layer {i} '{_text(lay.name)}': {lay.n} nodes x {1 << lay.k} entries, "
                 f"{100 * lay.table.mean():.1f}% ones, {100 * visited.mean():.1f}% visited{note}",
                 fontsize=9, loc="left")
    fig.suptitle(title or f"{name + ': ' if name else ''}LUT tables", fontsize=11)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.14)
    return _finish(fig, path)


# ---------------------------------------------------------------------------- training curves
LOG_KEYS = ("epoch", "loss", "acc", "val_loss", "val_acc", "lr", "time")
#: the largest epoch number a training log may give (far above any run)
MAX_LOG_EPOCH = 1 << 31


def _member_logs(path: Path) -> list[str]:
    """The member logs that ``spikelut train --ensemble M --log PATH`` wrote beside ``path``
    (``log.jsonl`` -> ``log.member0.jsonl``, ``log.member1.jsonl``, ...), in member order."""
    stem, ext = (path.stem, path.suffix) if path.suffix else (path.name, "")
    pattern = re.compile(re.escape(stem) + r"\.member(\d+)" + re.escape(ext))
    try:
        found = [(int(m.group(1)), q) for q in path.parent.iterdir()
                 if (m := pattern.fullmatch(q.name))]
    except OSError:
        return []
    return [str(q) for _, q in sorted(found)]


def read_training_log(path: str | os.PathLike) -> list[dict]:
    """Read a JSON-lines training log (one object per epoch with the keys of :data:`LOG_KEYS`;
    ``val_loss`` / ``val_acc`` may be null). Bad lines raise :class:`FileFormatError`.

    Args:
        path: the log (``spikelut train --log PATH``).

    Returns:
        One dict per line, in file order.

    Raises:
        FileFormatError: a file that cannot be read or is not text, a line that is not a flat
            JSON object, a missing key, a value that is not a number (or null), an epoch that
            is not a whole number 0 .. :data:`MAX_LOG_EPOCH`, or no epochs at all.

    Example:
        >>> import json, os, tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "log.jsonl")
        >>> row = dict(epoch=0, loss=0.7, acc=0.5, val_loss=None, val_acc=None, lr=0.01, time=1.0)
        >>> _ = open(p, "w").write(json.dumps(row) + "\\n")
        >>> read_training_log(p)[0]["acc"]
        0.5
    """
    path = Path(path)
    if os.path.lexists(path):  # a missing log: the message below (with an ensemble's hint)
        # a FIFO blocked the command forever and /dev/zero read until memory ran out
        limits.check_regular_file(path, "a training log (JSON lines)")
        limits.check_array_bytes((os.stat(path).st_size,), 1, f"{path}: training log")
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        members = _member_logs(path) if isinstance(e, FileNotFoundError) else []
        hint = (f"; an ensemble logs each member to its own file: {', '.join(members)} "
                f"(plot one of them)" if members else "")
        raise FileFormatError(f"{path}: cannot read the training log: {e.strerror or e}{hint}") \
            from None
    except UnicodeDecodeError:
        raise FileFormatError(f"{path}: not a text file (expected JSON lines)") from None
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except RecursionError:  # not a ValueError: it was a traceback
            raise FileFormatError(f"{path}: line {n}: JSON nested too deep (a log line is one flat "
                                  f"object of numbers and short lists)") from None
        except ValueError:
            raise FileFormatError(f"{path}: line {n}: not valid JSON") from None
        if not isinstance(row, dict):
            raise FileFormatError(f"{path}: line {n}: expected a JSON object")
        missing = [k for k in ("epoch", "loss", "acc") if k not in row]
        if missing:
            raise FileFormatError(f"{path}: line {n}: missing key {missing[0]!r} (a log line has "
                                  f"{', '.join(LOG_KEYS)})")
        for k in LOG_KEYS:
            v = row.get(k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise FileFormatError(f"{path}: line {n}: {k} must be a number or null, got "
                                      f"{terminal(repr(v))[:40]}")
        # the epoch is an axis position and a title's integer: NaN or Infinity (JSON words
        # Python reads) were an int() traceback. Other numbers may be NaN (a diverged loss is
        # written so) and are drawn as gaps.
        epoch = row["epoch"]
        if not (isinstance(epoch, int) or (math.isfinite(epoch) and float(epoch).is_integer())) \
                or not 0 <= epoch <= MAX_LOG_EPOCH:
            raise FileFormatError(f"{path}: line {n}: epoch must be a whole number 0..{MAX_LOG_EPOCH}, "
                                  f"got {terminal(repr(epoch))[:40]}")
        rows.append(row)
    if not rows:
        raise FileFormatError(f"{path}: the training log has no epochs")
    return rows


def training_curves(log: str | os.PathLike, path: str | os.PathLike | None = None, *,
                    size: Sequence[int] = DEFAULT_SIZE, title: str | None = None) -> Path | Figure:
    """Loss, accuracy (train and validation) and learning rate per epoch from a training log.

    Args:
        log: JSON-lines training log (:func:`read_training_log`).
        path: PNG to write (atomically); ``None`` returns the figure.
        size: ``(width, height)`` of the figure in pixels, each 100 .. 20000.
        title: figure title (default: epochs, best accuracy and its epoch, total seconds).

    Returns:
        ``Path(path)`` when ``path`` is given, else the :class:`matplotlib.figure.Figure`.

    Raises:
        FileFormatError: a log that :func:`read_training_log` refuses.
        ConfigError: a figure size out of range or ``path`` a directory.

    Example:
        >>> import json, os, tempfile
        >>> d = tempfile.mkdtemp(); log = os.path.join(d, "log.jsonl")
        >>> rows = [dict(epoch=e, loss=1.0 / (e + 1), acc=0.5 + e / 10, val_loss=None,
        ...              val_acc=None, lr=0.01, time=1.0) for e in range(3)]
        >>> _ = open(log, "w").write("".join(json.dumps(r) + "\\n" for r in rows))
        >>> training_curves(log, os.path.join(d, "curves.png")).exists()
        True
    """
    rows = read_training_log(log)
    ep = np.array([r["epoch"] for r in rows], np.float64)

    def col(key: str) -> np.ndarray:
        # null, NaN and +-Infinity are all "no value": a gap, never an axis stretched to inf
        v = np.array([np.nan if r.get(key) is None else r[key] for r in rows], np.float64)
        v[~np.isfinite(v)] = np.nan
        return v

    fig = _figure(size)
    gs = fig.add_gridspec(3, 1, height_ratios=[3, 3, 1.5], hspace=0.45)
    ax_loss = fig.add_subplot(gs[0])
    ax_acc = fig.add_subplot(gs[1], sharex=ax_loss)
    ax_lr = fig.add_subplot(gs[2], sharex=ax_loss)
    for ax, key, label in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy")):
        ax.plot(ep, col(key), "o-", ms=3, label="train", color="#1f77b4")
        val = col(f"val_{key}")
        if np.isfinite(val).any():
            ax.plot(ep, val, "s-", ms=3, label="validation", color="#ff7f0e")
        ax.set_ylabel(label, fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    lr = col("lr")
    if np.isfinite(lr).any():
        ax_lr.plot(ep, lr, "-", color="#2ca02c")
        if np.nanmin(lr) > 0:
            ax_lr.set_yscale("log")
    ax_lr.set_ylabel("lr", fontsize=9)
    ax_lr.set_xlabel("epoch", fontsize=9)
    ax_lr.xaxis.set_major_locator(MaxNLocator(integer=True))  # shared: no "epoch 1.25" ticks
    ax_lr.tick_params(which="both", labelsize=7)  # a log axis labels minor ticks (3e-2) too
    ax_lr.grid(alpha=0.3)
    val_acc = col("val_acc")
    acc = val_acc if np.isfinite(val_acc).any() else col("acc")
    which = "validation" if np.isfinite(val_acc).any() else "train"
    best = int(np.nanargmax(acc)) if np.isfinite(acc).any() else 0
    with np.errstate(over="ignore"):  # times of 1e308: the total is inf, said as such
        total = float(np.nansum(col("time")))
    fig.suptitle(title or f"{_text(Path(log).name)}: {len(rows)} epochs, best {which} accuracy "
                          f"{acc[best]:.4f} at epoch {int(ep[best])}, {total:.1f} s", fontsize=11)
    return _finish(fig, path)


def wiring_changes(log: str | os.PathLike, path: str | os.PathLike | None = None, *,
                   size: Sequence[int] = DEFAULT_SIZE, title: str | None = None) -> Path | Figure:
    """Rewiring (docs/rewiring.md) from a training log: taps swapped per epoch and layer, the
    flip-flops per epoch, and the histogram of tap delays before training and after the last
    epoch.

    Raises:
        FileFormatError: the log has no rewiring records (trained without ``[train] rewire_every``).

    Example:
        >>> import tempfile, json
        >>> d = tempfile.mkdtemp()
        >>> rec = {"epoch": 1, "loss": 0.6, "acc": 0.7, "val_loss": None, "val_acc": None,
        ...        "lr": 0.01, "time": 1.0, "rewired": [3, 1], "flip_flops": 9,
        ...        "delays": {"0": 4, "1": 6}, "delays_before": {"0": 5, "1": 5}}
        >>> _ = Path(d, "log.jsonl").write_text(json.dumps(rec) + "\\n")
        >>> len(wiring_changes(Path(d, "log.jsonl"), size=(400, 300)).axes)
        3
    """
    rows = [r for r in read_training_log(log) if isinstance(r.get("rewired"), list)]
    if not rows:
        raise FileFormatError(f"{log}: the training log has no rewiring records (rewired, delays); "
                              f"train with [train] rewire_every > 0")
    try:
        ep = np.array([r["epoch"] for r in rows], np.float64)
        swaps = np.array([r["rewired"] for r in rows], np.float64)  # [epochs, layers]
        ff = np.array([r["flip_flops"] for r in rows], np.float64)
        delays = rows[-1]["delays"]
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError):
        raise FileFormatError(f"{log}: rewired, flip_flops and delays must be numbers in every "
                              f"record") from None
    # counts of taps and flip-flops: whole numbers >= 0 that fit any network (an Infinity made
    # the title's int() raise; 1e308 summed to inf)
    for what, a, form in (("rewired", swaps, "a list of whole numbers (taps swapped per layer)"),
                          ("flip_flops", ff, "a whole number")):
        if a.ndim != (2 if what == "rewired" else 1) or not _counts_ok(a):
            raise FileFormatError(f"{log}: {what} must be {form} 0..{_MAX_LOG_COUNT} in every "
                                  f"record")
    before = _delay_histogram(rows[0].get("delays_before", {}), log, "delays_before")
    after = _delay_histogram(delays, log, "delays")
    fig = _figure(size)
    axes = fig.subplots(3, 1)
    for i in range(swaps.shape[1] if swaps.ndim == 2 else 0):
        axes[0].plot(ep, swaps[:, i], "o-", ms=3, label=f"layer {i}",
                     color=_CLASS_COLORS[i % len(_CLASS_COLORS)])
    axes[0].set_ylabel("taps swapped", fontsize=9)
    axes[0].set_xlabel("epoch", fontsize=9)
    axes[0].legend(fontsize=7)
    axes[1].plot(ep, ff, "s-", ms=3, color="#2ca02c")
    axes[1].set_ylabel("flip-flops", fontsize=9)
    axes[1].set_xlabel("epoch", fontsize=9)
    ds = np.array(sorted(set(before) | set(after)), np.float64)
    w = 0.4
    if before:
        axes[2].bar(ds - w / 2, [before.get(int(d), 0) for d in ds], w, label="before", color="#1f77b4")
    axes[2].bar(ds + w / 2, [after.get(int(d), 0) for d in ds], w, label="after", color="#ff7f0e")
    axes[2].set_xlabel("tap delay (cycles)", fontsize=9)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[2].set_ylabel("taps", fontsize=9)
    axes[2].legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    fig.subplots_adjust(hspace=0.6)
    fig.suptitle(title or f"{_text(Path(log).name)}: {int(swaps.sum())} taps swapped in "
                          f"{len(rows)} epochs", fontsize=11)
    return _finish(fig, path)


#: the most taps, flip-flops or table entries one log record may count: a network's limits
_MAX_LOG_COUNT = limits.MAX_TABLE_ENTRIES


def _counts_ok(a: np.ndarray) -> bool:
    """Whether every entry is a whole number in 0 .. :data:`_MAX_LOG_COUNT` (NaN fails)."""
    with np.errstate(invalid="ignore"):  # NaN and inf fail the comparisons, quietly
        return bool(np.all((a >= 0) & (a <= _MAX_LOG_COUNT) & (np.mod(a, 1) == 0)))


def _delay_histogram(d: Any, log: Any, key: str) -> dict[int, int]:
    """A ``delays`` record ``{"delay": taps}``: delays 0 .. MAX_DELAY, counts whole and bounded
    (a delay of 10**300 was one bar at an unplottable position).

    Raises:
        FileFormatError: naming ``log`` and ``key``.
    """
    bad = FileFormatError(f"{log}: {key} must map tap delays 0..{limits.MAX_DELAY} (as strings) "
                          f"to whole numbers of taps 0..{_MAX_LOG_COUNT}")
    if not isinstance(d, dict) or len(d) > limits.MAX_DELAY + 1:
        raise bad
    out = {}
    for delay, count in d.items():
        # at most 6 digits before int(): a 10**6-digit key is no work for int() to refuse
        if not (isinstance(delay, str) and delay.isascii() and delay.isdigit() and len(delay) <= 6
                and int(delay) <= limits.MAX_DELAY):
            raise bad
        if isinstance(count, bool) or not isinstance(count, (int, float)) \
                or not _counts_ok(np.array([count], np.float64)):
            raise bad
        out[int(delay)] = int(count)
    return out


# ---------------------------------------------------------------------------- analysis figures
def attribution_heatmap(inputs: Any, maps: dict, path: str | os.PathLike | None = None, *,
                        size: Sequence[int] = DEFAULT_SIZE, title: str | None = None
                        ) -> Path | Figure:
    """Heat maps over one sample's input raster: one panel per entry of ``maps``.

    Args:
        inputs: the sample's input spikes ``[T, n_in]`` (0/1), drawn as black dots.
        maps: ``{panel title: float [T, n_in]}`` (e.g. the surrogate gradient and the occlusion
            effect of :mod:`spikelut.analysis`); colours are symmetric around 0 (red positive,
            blue negative).
        path: PNG to write (atomically); ``None`` returns the figure.
        size: ``(width, height)`` of the figure in pixels, each 100 .. 20000.
        title: figure title.

    Returns:
        ``Path(path)`` when ``path`` is given, else the :class:`matplotlib.figure.Figure`.

    Raises:
        ShapeError: inputs not ``[T, n_in]``, or a map of another shape.
        ConfigError: no map, a figure size out of range or ``path`` a directory.

    Example:
        >>> x = np.zeros((4, 2), np.uint8); x[1, 0] = 1
        >>> fig = attribution_heatmap(x, {"grad": np.ones((4, 2))}, size=(300, 200))
        >>> len(fig.axes)
        2
    """
    x = np.asarray(inputs)
    if x.ndim != 2:
        raise ShapeError(f"the sample's inputs must be [T, n_in], got shape {x.shape}")
    if not maps:
        raise ConfigError("attribution_heatmap needs at least one map")
    fig = _figure(size)
    axes = fig.subplots(len(maps), 1, squeeze=False)[:, 0]
    T, n = x.shape
    ts, cs = np.nonzero(x)
    for ax, (name, m) in zip(axes, maps.items()):
        m = np.asarray(m, np.float64)
        if m.shape != x.shape:
            raise ShapeError(f"map {name!r} has shape {m.shape}, expected {x.shape} like the inputs")
        v = float(np.nanmax(np.abs(m))) if m.size and np.isfinite(m).any() else 0.0
        v = v or 1.0
        im = ax.imshow(m.T, cmap="RdBu_r", vmin=-v, vmax=v, aspect="auto", interpolation="nearest",
                       origin="lower", extent=(-0.5, T - 0.5, -0.5, n - 0.5))
        ax.scatter(ts, cs, s=max(1.0, min(12.0, 4000.0 / max(1, T * n))), c="black", marker="o",
                   linewidths=0)
        fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01).ax.tick_params(labelsize=7)
        ax.set_title(name, fontsize=9, loc="left")
        ax.set_ylabel("input channel", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("cycle (dots: input spikes)", fontsize=8)
    fig.suptitle(title or f"attribution over the input raster: {T} cycles x {n} channels",
                 fontsize=11)
    return _finish(fig, path)


def learning_dynamics(log: str | os.PathLike, path: str | os.PathLike | None = None, *,
                      size: Sequence[int] = DEFAULT_SIZE, title: str | None = None
                      ) -> Path | Figure:
    """Table entries flipped per epoch, mean ``|theta|`` and the fraction near zero, per layer,
    from a training log whose records have ``flips``, ``mean_abs_logit`` and ``near_zero``.

    Args:
        log: JSON-lines training log (:func:`read_training_log`).
        path: PNG to write (atomically); ``None`` returns the figure.
        size: ``(width, height)`` of the figure in pixels, each 100 .. 20000.
        title: figure title.

    Returns:
        ``Path(path)`` when ``path`` is given, else the :class:`matplotlib.figure.Figure`.

    Raises:
        FileFormatError: the log has no such records (written before the trainer kept them),
            or :func:`read_training_log` refuses it.
        ConfigError: a figure size out of range or ``path`` a directory.
    """
    rows = [r for r in read_training_log(log) if isinstance(r.get("flips"), list)]
    if not rows:
        raise FileFormatError(f"{log}: the training log has no table dynamics (flips, "
                              f"mean_abs_logit, near_zero); train again with this version")
    ep = np.array([r["epoch"] for r in rows], np.float64)
    fig = _figure(size)
    axes = fig.subplots(3, 1, sharex=True)
    for ax, key, label in ((axes[0], "flips", "entries flipped"),
                           (axes[1], "mean_abs_logit", "mean |theta|"),
                           (axes[2], "near_zero", "fraction |theta| < 0.05")):
        try:
            vals = np.array([r[key] for r in rows], np.float64)  # [epochs, layers]
        except (KeyError, TypeError, ValueError, OverflowError, RecursionError):
            raise FileFormatError(f"{log}: {key} must be a list of numbers in every record") from None
        if vals.ndim != 2 or not np.isfinite(vals).all() or (vals < 0).any():
            raise FileFormatError(f"{log}: {key} must be a list of finite numbers >= 0 (one per "
                                  f"layer) in every record")
        for i in range(vals.shape[1] if vals.ndim == 2 else 0):
            ax.plot(ep, vals[:, i], "o-", ms=3, label=f"layer {i}",
                    color=_CLASS_COLORS[i % len(_CLASS_COLORS)])
        if key == "flips" and vals.size and vals.min() > 0:
            ax.set_yscale("log")
        ax.set_ylabel(label, fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=8)
    axes[-1].set_xlabel("epoch", fontsize=9)
    fig.suptitle(title or f"{_text(Path(log).name)}: table dynamics over {len(rows)} epochs", fontsize=11)
    return _finish(fig, path)


__all__ = ["raster", "rate_histogram", "lut_table", "training_curves", "address_counts",
           "firing_rates", "read_training_log", "subsample", "LOG_KEYS", "DEFAULT_SIZE",
           "attribution_heatmap", "learning_dynamics"]
