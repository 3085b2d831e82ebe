"""Result files (``spikelut simulate -o``): a spike file with every layer's spikes and the
readout; read whole, by ranges of samples or one sample."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import limits
from ..errors import ConfigError, FileFormatError
from ..network import Network

from .hdf5 import SPIKES_FORMAT, _check_format, _declared, _open, _read, _read_meta, _reading
from .spikes import (SpikeData, _OpenFile, _check_spikes_array, _spikes_declared, _whole_bounds,
                     has_result_groups, load_spikes)

def _result_declared(f: h5py.File, path: Path, shape: tuple[int, int, int], net: Network | None,
                     whole: bool = True) -> tuple[list[h5py.Dataset], h5py.Dataset, h5py.Dataset]:
    """A result file's ``/layers/L<i>/spikes``, ``/readout/counts`` and ``/readout/pred``, checked
    as :func:`_declared` does, against ``shape`` (``(T, B, n_in)`` of ``/spikes``), the limits and
    ``net`` (its layer sizes and input count) before any of their data is read. ``whole``: the
    layers will be read at once, so each and all together must fit the array limit."""
    T, B, n_in = shape
    if not has_result_groups(f):
        raise FileFormatError(f"{path}: not a simulation result (no /layers or /readout); "
                              f"run 'spikelut simulate' to make one")
    lg = f["layers"]
    m = limits.check_count(len(lg), limits.MAX_LAYERS, "number of layers", f"{path}: /layers")
    decl = []
    total = 0
    for i in range(m):
        if f"L{i}" not in lg or not isinstance(lg[f"L{i}"], h5py.Group):
            raise FileFormatError(f"{path}: /layers: expected groups L0..L{m - 1}")
        ds = _declared(lg[f"L{i}"], "spikes", ("uint8",), 3, path, whole=whole)
        if ds.shape[:2] != (T, B):
            raise FileFormatError(f"{path}: /layers/L{i}/spikes: shape {ds.shape}, expected "
                                  f"[{T}, {B}, n] like /spikes")
        if whole:
            total += limits.array_bytes(ds.shape, 1)
            limits.check_array_bytes((total,), 1, f"{path}: /layers (all layers together)")
        decl.append(ds)
    counts_ds = _declared(f["readout"], "counts", ("int32",), 2, path, whole=whole)
    pred_ds = _declared(f["readout"], "pred", ("int32",), 1, path, whole=whole)
    if counts_ds.shape[0] != B or pred_ds.shape != (B,):
        raise FileFormatError(f"{path}: /readout: counts {counts_ds.shape} / pred {pred_ds.shape} "
                              f"do not match {B} samples")
    limits.check_count(counts_ds.shape[1], limits.MAX_CLASSES, "number of classes",
                       f"{path}: /readout/counts")
    if net is not None and [ds.shape[2] for ds in decl] != net.sizes:
        raise FileFormatError(f"{path}: layer sizes {[ds.shape[2] for ds in decl]} do not "
                              f"match the model's {net.sizes}")
    if net is not None and n_in != net.n_in:
        # a model of the same layers but another input width lent figures and waveforms its
        # names and class colours without a word
        plural = "" if n_in == 1 else "s"
        raise FileFormatError(f"{path}: the result has {n_in} input channel{plural} but the "
                              f"model has {net.n_in} inputs; give the model the result was "
                              f"simulated with")
    return decl, counts_ds, pred_ds


def _check_result_values(path: Path, layer_spikes: list[np.ndarray], counts: np.ndarray,
                         pred: np.ndarray) -> None:
    """Values of a result's layers and readout (all samples or some), as ``/spikes`` is checked:
    the figures index tables and colours by them (a 5 or a class 99 was an IndexError traceback,
    or silently wrong rates)."""
    for i, s in enumerate(layer_spikes):
        if s.size and s.max() > 1:
            raise FileFormatError(f"{path}: /layers/L{i}/spikes: entries must be 0 or 1")
    if counts.size and counts.min() < 0:
        raise FileFormatError(f"{path}: /readout/counts: entries must be >= 0 (spike counts)")
    classes = counts.shape[1]
    if pred.size and (pred.min() < 0 or pred.max() >= classes):
        which = (f"must be classes 0..{classes - 1} (the columns of /readout/counts)" if classes
                 else "name classes, but /readout/counts has no columns (no classes)")
        raise FileFormatError(f"{path}: /readout/pred: entries {which}")


def load_result(path: str | os.PathLike, net: Network | None = None):
    """Read a result file whole: ``(SpikeData, SimResult)``; with ``net``, its layer sizes and
    input count are checked against the file. Every array must fit the array limit
    (:func:`load_result_sample` reads one sample of any size of file).

    Args:
        path: the result file (``spikelut simulate -o RESULT.h5``; untrusted): a spike file
            (root attribute ``format = "spikelut-spikes"``) with ``/layers/L<i>/spikes``,
            ``/readout/counts`` and ``/readout/pred``.
        net: the model the result should come from; its layer sizes and input count are checked.

    Returns:
        ``(SpikeData, SimResult)``: input spikes uint8 ``[T, B, n_in]``, labels int64 ``[B]`` or
        ``None``, the file's metadata; layer spikes uint8 ``[T, B, n_i]``, counts int32
        ``[B, classes]``, pred int32 ``[B]``.

    Raises:
        FileFormatError: a missing, unreadable or malformed file (as :func:`load_spikes`); a
            spike file without ``/layers`` or ``/readout`` (not a result); shapes that disagree
            with ``/spikes`` or with ``net``; arrays past the array limit; layer spikes other
            than 0/1, negative counts or predictions that are not classes.

    Example:
        >>> import tempfile, pathlib
        >>> from spikelut.engine.result import SimResult
        >>> from spikelut.io import save_spikes
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.h5"
        >>> s = np.ones((2, 3, 1), np.uint8)                              # T=2, B=3, 1 node
        >>> save_spikes(p, s, result=SimResult([s], np.full((3, 1), 2, np.int32), np.zeros(3, np.int32)))
        >>> data, res = load_result(p)
        >>> data.spikes.shape, res.counts.tolist(), res.pred.dtype.name
        ((2, 3, 1), [[2], [2], [2]], 'int32')
        >>> save_spikes(p, s)
        >>> try:
        ...     load_result(p)
        ... except FileFormatError as e:
        ...     print(str(e).split(": ", 1)[1])
        not a simulation result (no /layers or /readout); run 'spikelut simulate' to make one
    """
    from ..engine.result import SimResult

    path = Path(path)
    data = load_spikes(path)
    with _open(path) as f, _reading(path):
        decl, counts_ds, pred_ds = _result_declared(f, path, data.spikes.shape, net)
        layer_spikes = [_read(ds, path) for ds in decl]
        counts = _read(counts_ds, path)
        pred = _read(pred_ds, path)
    _check_result_values(path, layer_spikes, counts, pred)
    return data, SimResult(layer_spikes, counts, pred)



class ResultReader(_OpenFile):
    """A result file open for reading in ranges of samples (made by :func:`open_result`).

    Opening checks what :func:`load_result` checks before it reads data: the format and version,
    links and storage of every dataset, dtypes, ranks, every layer ``[T, B, n_i]`` with ``T`` and
    ``B`` of ``/spikes``, the readout's ``B`` and class count, and with ``net`` its layer sizes
    and input count. :meth:`read` reads one sample range of every dataset (its size bounded by
    the array limit first) and checks its values as :func:`load_result` does, so memory is set
    by the range, not the file.

    Args:
        path: the result file (``spikelut simulate -o RESULT.h5``; untrusted).
        net: the model the result should come from; its layer sizes and input count are checked.

    Attributes:
        path: the file.
        shape: ``(T, B, n_in)`` of ``/spikes``.
        sizes: the nodes of each layer.
        meta: the root attributes other than format and version.

    Raises:
        FileFormatError: at opening, as :func:`load_result` (no whole-array limit: ranges are
            bounded when read); from :meth:`read`, as documented there.

    Example:
        >>> import tempfile, pathlib
        >>> from spikelut.engine.result import SimResult
        >>> from spikelut.io import save_spikes
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.h5"
        >>> s = np.zeros((4, 2, 3), np.uint8)                             # T=4, B=2, 3 nodes
        >>> save_spikes(p, s, result=SimResult([s], np.zeros((2, 3), np.int32), np.zeros(2, np.int32)))
        >>> with ResultReader(p) as r:
        ...     data, res = r.read(0, 1)
        ...     r.shape, r.sizes, data.spikes.shape, res.counts.shape
        ((4, 2, 3), [3], (4, 1, 3), (1, 3))
    """

    def __init__(self, path: str | os.PathLike, net: Network | None = None) -> None:
        self.path = Path(path)
        self._f = _open(self.path)
        try:
            with _reading(self.path):
                _check_format(self._f, SPIKES_FORMAT, self.path)
                self._spikes, self._labels = _spikes_declared(self._f, self.path, whole=False)
                self.shape: tuple[int, int, int] = tuple(int(v) for v in self._spikes.shape)
                self._layers, self._counts, self._pred = _result_declared(
                    self._f, self.path, self.shape, net, whole=False)
                self.meta = _read_meta(self._f, {"format", "version"}, self.path)
            self.sizes = [int(ds.shape[2]) for ds in self._layers]
        except BaseException:
            self._f.close()
            raise

    def check_drawable(self) -> tuple[int, int]:
        """``(T, B)`` when the result has something to show (at least one layer, cycle, sample
        and node); else :class:`~spikelut.errors.ShapeError` as
        :func:`spikelut.engine.result.check_drawable` says it. Reads no data."""
        from ..engine.result import SimResult, check_drawable

        # the checks look at shapes only: the datasets stand in for their data
        return check_drawable(SimResult(self._layers, self._counts, self._pred), str(self.path))

    def read(self, b0: int, b1: int):
        """Samples ``b0 .. b1 - 1`` as ``(SpikeData, SimResult)`` with ``B = b1 - b0``: input spikes
        uint8 ``[T, B, n_in]``, labels int64 ``[B]`` or ``None``, layer spikes uint8
        ``[T, B, n_i]``, counts int32 ``[B, classes]``, pred int32 ``[B]``.

        Raises:
            ConfigError: bounds that are not whole numbers, a range that is empty or not inside
                ``0 .. B``.
            FileFormatError: the range is over the array limit, the data cannot be read, or its
                values are not those of a result (spikes 0 or 1, counts >= 0, labels >= 0,
                predictions that are classes).
        """
        from ..engine.result import SimResult

        T, B, n_in = self.shape
        b0, b1 = _whole_bounds(b0, b1)
        if not 0 <= b0 < b1 <= B:
            raise ConfigError(f"samples {b0} .. {b1 - 1} are not in the result's 0 .. {B - 1}")
        which = f"sample {b0}" if b1 == b0 + 1 else f"samples {b0} .. {b1 - 1}"
        limits.check_array_bytes((T, b1 - b0, n_in + sum(self.sizes)), 1,
                                 f"{self.path}: {which} of /spikes and /layers")
        with _reading(self.path):
            spikes = _read(self._spikes, self.path, np.s_[:, b0:b1, :])
            labels = None if self._labels is None else _read(self._labels, self.path, np.s_[b0:b1])
            layer_spikes = [_read(ds, self.path, np.s_[:, b0:b1, :]) for ds in self._layers]
            counts = _read(self._counts, self.path, np.s_[b0:b1])
            pred = _read(self._pred, self.path, np.s_[b0:b1])
        _check_spikes_array(spikes, labels, str(self.path))
        _check_result_values(self.path, layer_spikes, counts, pred)
        return SpikeData(spikes, labels, self.meta), SimResult(layer_spikes, counts, pred)


def open_result(path: str | os.PathLike, net: Network | None = None) -> ResultReader:
    """Open a result file for reading in ranges of samples; use it in a ``with``.

    Args:
        path: the result file (``spikelut simulate -o RESULT.h5``; untrusted).
        net: the model the result should come from; its layer sizes and input count are checked.

    Returns:
        An open :class:`ResultReader`; its :meth:`~ResultReader.read` gives
        ``(SpikeData, SimResult)`` of a range of samples.

    Raises:
        FileFormatError: a missing, unreadable or malformed file, or one that does not fit ``net``.

    Example:
        >>> import tempfile, pathlib
        >>> from spikelut.engine.result import SimResult
        >>> from spikelut.io import save_spikes
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.h5"
        >>> s = np.eye(3, dtype=np.uint8)[None]                         # T=1, B=3, 3 nodes
        >>> save_spikes(p, s, result=SimResult([s], np.eye(3, dtype=np.int32), np.arange(3)))
        >>> with open_result(p) as r:
        ...     r.shape, r.sizes, r.read(1, 3)[1].pred.tolist()
        ((1, 3, 3), [3], [1, 2])
    """
    return ResultReader(path, net)


def check_sample(sample: Any, samples: int) -> int:
    """``sample`` as an int when it is one of ``0 .. samples - 1``; else one
    :class:`~spikelut.errors.ConfigError` naming the valid range.

    Args:
        sample: the sample index asked for (an int, or a float of a whole value).
        samples: the number of samples ``B`` of the result.

    Returns:
        ``sample`` as an ``int``.

    Raises:
        ConfigError: ``sample`` is not a whole number (a bool, 1.5, NaN, a string, ``None``) or
            not in ``0 .. samples - 1``.

    Example:
        >>> check_sample(4, 3)
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: sample 4 does not exist; the result has samples 0 .. 2
    """
    try:  # NaN, inf, None or text were a ValueError/TypeError traceback
        whole = not isinstance(sample, bool) and int(sample) == sample
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole or not 0 <= sample < samples:
        raise ConfigError(f"sample {sample} does not exist; the result has samples 0 .. {samples - 1}")
    return int(sample)


def load_result_sample(path: str | os.PathLike, sample: int, net: Network | None = None):
    """Read ONE sample of a result file, for a figure or waveform of it: only that sample's part
    of each dataset is read (``ds[:, sample, :]``), so a result of any number of samples is shown
    in the memory of one.

    The file is checked as by :func:`load_result` (format, version, links and storage, dtypes and
    shapes against each other and against ``net``), the values of the sample as well; values of
    other samples are not read, so not checked.

    Args:
        path: the result file (``spikelut simulate -o RESULT.h5``; untrusted).
        sample: index of the sample, ``0 .. B - 1``.
        net: the model the result should come from; its layer sizes and input count are checked.

    Returns:
        ``(SpikeData, SimResult)`` of that one sample (``B = 1``): input spikes uint8
        ``[T, 1, n_in]``, labels int64 ``[1]`` or ``None``, the file's metadata; layer spikes
        uint8 ``[T, 1, n_i]``, counts int32 ``[1, classes]``, pred int32 ``[1]``.

    Raises:
        FileFormatError: a missing, unreadable or malformed file, one that does not fit ``net``,
            or one sample over the array limit.
        ShapeError: a result with no layer, cycle, sample or node (nothing to show).
        ConfigError: ``sample`` outside ``0 .. B - 1`` (the message names the range).

    Example:
        >>> import tempfile, pathlib
        >>> from spikelut.engine.result import SimResult
        >>> from spikelut.io import save_spikes
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.h5"
        >>> s = np.array([[[1, 0], [0, 1], [1, 1]]], np.uint8)          # T=1, B=3, 2 nodes
        >>> save_spikes(p, s, labels=[0, 1, 0],
        ...             result=SimResult([s], np.zeros((3, 2), np.int32), np.zeros(3, np.int32)))
        >>> data, res = load_result_sample(p, 1)
        >>> res.layer_spikes[0].tolist(), data.labels.tolist()
        ([[[0, 1]]], [1])
        >>> load_result_sample(p, 3)
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: sample 3 does not exist; the result has samples 0 .. 2
    """
    with open_result(path, net) as r:
        _, B = r.check_drawable()
        b = check_sample(sample, B)
        return r.read(b, b + 1)
