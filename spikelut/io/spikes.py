"""Spike files (format v1): write them whole or by ranges of samples, read them whole or by
ranges of samples."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import h5py
import numpy as np

from .. import limits
from ..errors import ConfigError, FileFormatError, ShapeError
from ..fileutil import atomic_h5
from ..network import all_binary

from .hdf5 import (SPIKES_FORMAT, VERSION, _GZ, _check_format, _check_stored, _declared,
                   _meta_attrs, _open, _read, _read_meta, _reading)

# ---------------------------------------------------------------------------- spikes / results
@dataclass
class SpikeData:
    """Contents of a spike file, as :func:`load_spikes` returns them.

    Attributes:
        spikes: uint8 0/1 ``[T, B, n]``: cycle, sample, channel (time-major).
        labels: int64 ``[B]`` class indices >= 0, or ``None`` for a file without ``/labels``.
        meta: the free metadata of the root attributes other than ``format`` and ``version``
            (coding, source data, ...), non-scalar values as the JSON text the file holds
            (:func:`~spikelut.io.meta_json` parses them).

    Example:
        >>> d = SpikeData(np.zeros((2, 3, 1), np.uint8), np.array([0, 1, 0]))
        >>> d.spikes.shape, d.labels.tolist(), d.meta
        ((2, 3, 1), [0, 1, 0], {})
    """

    spikes: np.ndarray
    labels: np.ndarray | None = None
    meta: dict = field(default_factory=dict)


def _whole_bounds(b0: Any, b1: Any) -> tuple[int, int]:
    """A reader's sample range as two ints; 1.5, ``"a"``, ``True`` or ``None`` were TypeErrors
    of the slicing inside (or, 1.5, a silently different range)."""
    for v in (b0, b1):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise ConfigError(f"sample bounds must be whole numbers, got {b0!r} .. {b1!r}")
    return int(b0), int(b1)


def has_result_groups(f: h5py.File) -> bool:
    """Whether the open spike file ``f`` carries a simulation result: the groups ``/layers`` and
    ``/readout`` (their contents are checked by the result readers). ``f``'s links must have been
    checked (:func:`~spikelut.io.hdf5._open` does): a lookup follows links."""
    return all(isinstance(f.get(g), h5py.Group) for g in ("layers", "readout"))


def _check_labels(labels: np.ndarray | None, samples: int, where: str) -> None:
    if labels is None:
        return
    if labels.shape != (samples,):
        raise FileFormatError(f"{where}: /labels: shape {labels.shape}, expected ({samples},) "
                              f"(one label per sample of /spikes)")
    if labels.size and labels.min() < 0:
        raise FileFormatError(f"{where}: /labels: labels must be >= 0")


def _label_array(labels: Any, where: str) -> np.ndarray | None:
    """Labels given to a writer as int64, refusing what a cast would change: 1.7 was written as
    1, '1' as 1, NaN as a huge negative number (with numpy's warning), 2**70 was an OverflowError
    traceback."""
    if labels is None:
        return None
    a = np.asarray(labels)
    whole = a.dtype.kind in "iub" or (a.dtype.kind == "f" and bool(np.isfinite(a).all())
                                      and bool((a == np.floor(a)).all()))
    if not whole or (a.size and a.dtype.kind != "b" and not 0 <= a.min() <= a.max() < 2**63):
        shown = np.asarray(a).ravel()[:3].tolist()
        raise FileFormatError(f"{where}: /labels: labels must be whole numbers 0 .. 2**63 - 1 "
                              f"(class indices), got {a.dtype} values such as {shown}"[:300])
    return a.astype(np.int64)


def _check_spikes_array(spikes: np.ndarray, labels: np.ndarray | None, where: str) -> None:
    if spikes.ndim != 3:
        raise FileFormatError(f"{where}: /spikes must be [T, B, n], got shape {spikes.shape}")
    if spikes.size and spikes.max() > 1:
        raise FileFormatError(f"{where}: /spikes: entries must be 0 or 1")
    _check_labels(labels, spikes.shape[1], where)


CHUNK_BYTES = 1 << 20
"""Target size of one HDF5 storage chunk of a spike dataset (uncompressed bytes)."""


def spike_chunks(shape: tuple[int, int, int]) -> tuple[int, int, int] | None:
    """HDF5 storage chunk shape for a ``[T, B, n]`` uint8 spike dataset (``None``: empty).

    64 samples wide (one engine word), so a write of a multiple of 64 samples covers whole chunks
    and a reader of a sample range decompresses only its own chunks; time and channels are cut so
    a chunk holds about :data:`CHUNK_BYTES`.

    Args:
        shape: ``(T, B, n)``: cycles, samples, channels.

    Returns:
        ``(t, b, c)`` with ``t <= T``, ``b = min(B, 64)``, ``c <= n``, of at most
        :data:`CHUNK_BYTES` bytes; ``None`` when any of ``T``, ``B``, ``n`` is 0 (HDF5 cannot
        chunk an empty dataset).

    Example:
        >>> spike_chunks((40, 4000, 16))
        (40, 64, 16)
    """
    T, B, n = (int(v) for v in shape)
    if 0 in (T, B, n):
        return None
    b = min(B, 64)
    t = min(T, max(1, CHUNK_BYTES // (b * min(n, 1024))))
    return t, b, min(n, max(1, CHUNK_BYTES // (t * b)))


def _create_spikes(group: h5py.Group, name: str, shape: tuple[int, int, int]) -> h5py.Dataset:
    chunks = spike_chunks(shape)
    if chunks is None:  # HDF5 cannot chunk (so cannot compress) an empty dataset
        return group.create_dataset(name, shape=shape, dtype=np.uint8)
    return group.create_dataset(name, shape=shape, dtype=np.uint8, chunks=chunks, **_GZ)


def _raw_copyable(ds: h5py.Dataset) -> bool:
    """A dataset whose compressed chunks can be copied as they are (gzip, in this file)."""
    return (ds.chunks is not None and ds.compression == "gzip" and not ds.is_virtual
            and ds.external is None and ds.dtype == np.uint8)


class SpikeWriter:
    """An open spike (or result) file being filled chunk of samples by chunk of samples.

    Made by :func:`spike_writer`, which creates every dataset with its final shape, so memory is
    set by the chunk, not the file. ``write(b0, spikes, result)`` fills samples
    ``b0 .. b0 + b - 1``: ``spikes [T, b, n]`` (unless the input spikes were copied), and with a
    result file ``result`` (a :class:`~spikelut.engine.result.SimResult` of those samples).

    Attributes:
        shape: ``(T, B, n)`` of ``/spikes``: cycles, samples, channels.

    Raises:
        ShapeError: from :meth:`write`, a chunk that does not fit ``shape``; when the ``with``
            block of :func:`spike_writer` ends, samples never written (the file is then not
            created).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.h5"
        >>> with spike_writer(p, (2, 3, 1)) as w:
        ...     w.write(0, np.ones((2, 3, 1), np.uint8))
        ...     w.shape
        (2, 3, 1)
        >>> try:
        ...     with spike_writer(p.with_name("t.h5"), (2, 3, 1)) as w:
        ...         w.write(0, np.ones((2, 1, 1), np.uint8))
        ... except ShapeError as e:
        ...     print(e)
        samples 1.. were never written
    """

    def __init__(self, f: h5py.File, shape: tuple[int, int, int], layer_sizes: Sequence[int] | None,
                 classes: int | None, spikes_copied: bool) -> None:
        self.shape = shape
        self._f = f
        self._copied = spikes_copied
        self._written: list[tuple[int, int]] = []  # sample ranges, checked at the end
        self._result = layer_sizes is not None

    def write(self, b0: int, spikes: Any = None, result: Any = None) -> None:
        """Write samples ``b0 ..`` of the input spikes and (for a result file) of the result.

        Args:
            b0: the first sample index (0-based) of the chunk.
            spikes: uint8 0/1 ``[T, b, n]``, samples ``b0 .. b0 + b - 1``; ignored when the
                writer copied an input file's ``/spikes``.
            result: for a result file, the :class:`~spikelut.engine.result.SimResult` of the
                same samples (its layer spikes, readout counts and predictions).

        Raises:
            ShapeError: ``spikes`` not ``[T, b, n]`` of the file's ``T`` and ``n``, or a sample
                range outside ``0 .. B - 1``.
        """
        T, B, n = self.shape
        if spikes is not None and not self._copied:
            spikes = np.asarray(spikes)
            b1 = b0 + spikes.shape[1]
            if spikes.shape != (T, b1 - b0, n) or b0 < 0 or b1 > B:
                raise ShapeError(f"spike chunk of shape {spikes.shape} at sample {b0} does not fit "
                                 f"the file's [{T}, {B}, {n}]")
            self._f["spikes"][:, b0:b1, :] = spikes
            if not self._result:
                self._written.append((b0, b1))
        if result is not None:
            res = result.to_numpy()
            b1 = b0 + res.pred.shape[0]
            for i, s in enumerate(res.layer_spikes):
                self._f[f"layers/L{i}/spikes"][:, b0:b1, :] = s
            self._f["readout/counts"][b0:b1] = res.counts
            self._f["readout/pred"][b0:b1] = res.pred
            self._written.append((b0, b1))

    def _check_filled(self) -> None:
        end = 0
        for b0, b1 in sorted(self._written):
            if b0 > end:
                break
            end = max(end, b1)
        if end < self.shape[1]:
            raise ShapeError(f"samples {end}.. were never written")


@contextlib.contextmanager
def spike_writer(path: str | os.PathLike, shape: tuple[int, int, int], labels: Any = None,
                 meta: dict | None = None, layer_sizes: Sequence[int] | None = None,
                 classes: int | None = None, copy_spikes: h5py.Dataset | None = None
                 ) -> Iterator[SpikeWriter]:
    """Open a spike file (format v1) for writing in chunks of samples; atomic as a whole.

    The file is written beside ``path`` and renamed onto it only when the block ends without an
    error; an error (or Ctrl-C) leaves the old file as it was. Every sample must be written.

    Args:
        path: the file to write (root attributes ``format = "spikelut-spikes"``, ``version = 1``;
            ``/spikes`` uint8 gzip-chunked by :func:`spike_chunks`).
        shape: ``(T, B, n)`` of ``/spikes``: cycles, samples, channels.
        labels: optional ``[B]`` integer labels (written at once; they are small).
        meta: free metadata for the root attributes (non-scalar values as JSON strings).
        layer_sizes: for a result file, the nodes of each layer (``/layers/L<i>/spikes [T, B, n_i]``).
        classes: for a result file, the readout classes (``/readout/counts [B, classes]``).
        copy_spikes: an input file's ``/spikes`` dataset (already checked) whose compressed chunks
            are copied as they are instead of being written again, when its storage allows.

    Returns:
        A context manager yielding the :class:`SpikeWriter`; the file exists at ``path`` once
        the block ends without an error.

    Raises:
        FileFormatError: labels that do not fit ``shape``, or are not whole numbers
            ``0 .. 2**63 - 1``.
        ShapeError: a chunk that does not fit, or samples left unwritten.
        OutputError: the file cannot be written (missing directory, no permission, disk full).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.h5"
        >>> with spike_writer(p, (3, 4, 2), labels=[0, 1, 0, 1]) as w:
        ...     for b0 in (0, 2):
        ...         w.write(b0, np.ones((3, 2, 2), np.uint8))
        >>> int(load_spikes(p).spikes.sum())
        24
    """
    T, B, n = (int(v) for v in shape)
    lab = _label_array(labels, str(path))
    _check_labels(lab, B, str(path))
    copied = copy_spikes is not None and copy_spikes.shape == (T, B, n) and _raw_copyable(copy_spikes)
    # atomic_h5: a write error inside HDF5 (disk full) becomes one OutputError, not a crash
    with atomic_h5(path) as f:
        _meta_attrs(f, dict(meta or {}))
        f.attrs["format"] = SPIKES_FORMAT
        f.attrs["version"] = VERSION
        if copied:
            # H5Ocopy moves the compressed chunks one by one: no decompression, bounded memory
            f.copy(copy_spikes, "spikes", without_attrs=True)
        else:
            _create_spikes(f, "spikes", (T, B, n))
        if lab is not None:
            f.create_dataset("labels", data=lab)
        if layer_sizes is not None:
            lg = f.create_group("layers")
            for i, size in enumerate(layer_sizes):
                _create_spikes(lg.create_group(f"L{i}"), "spikes", (T, B, int(size)))
            rg = f.create_group("readout")
            rg.create_dataset("counts", shape=(B, int(classes or 0)), dtype=np.int32)
            rg.create_dataset("pred", shape=(B,), dtype=np.int32)
        w = SpikeWriter(f, (T, B, n), layer_sizes, classes, copied)
        yield w
        w._check_filled()


def save_spikes(path: str | os.PathLike, spikes: Any, labels: Any = None, meta: dict | None = None,
                result: Any = None) -> None:
    """Write a spike file (format v1); with ``result`` (a :class:`SimResult`) a result file.

    ``meta`` goes into root attributes (non-scalar values as JSON strings). One chunk of
    :func:`spike_writer`, so atomic. Replaces whatever file is at ``path``, as
    :func:`save_model` does (:func:`spikelut.fileutil.check.check_output` first for the commands'
    rules).

    Args:
        path: the file to write: root attributes ``format = "spikelut-spikes"``, ``version = 1``
            and ``meta``; ``/spikes`` uint8 ``[T, B, n]``; ``/labels`` int64 ``[B]`` when given;
            with ``result`` also ``/layers/L<i>/spikes`` uint8 ``[T, B, n_i]``,
            ``/readout/counts`` int32 ``[B, classes]`` and ``/readout/pred`` int32 ``[B]``.
        spikes: ``[T, B, n]`` of 0s and 1s, any numeric or bool dtype (stored as uint8).
        labels: ``[B]`` whole numbers ``0 .. 2**63 - 1`` (stored as int64), or ``None``.
        meta: free metadata (``coding``, ``dataset``, ...) for the root attributes.
        result: the :class:`~spikelut.engine.result.SimResult` of simulating ``spikes``.

    Returns:
        ``None``; the file at ``path`` is replaced only when the whole write succeeded.

    Raises:
        FileFormatError: ``spikes`` not 3-D or holding values other than 0 and 1; labels not
            ``[B]`` or not whole numbers ``0 .. 2**63 - 1``.
        OutputError: the file cannot be written (missing directory, no permission, disk full).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.h5"
        >>> save_spikes(p, np.array([[[0, 1]], [[1, 1]]]), labels=[3], meta={"coding": "none"})
        >>> d = load_spikes(p)
        >>> d.spikes.dtype.name, d.spikes.shape, d.labels.tolist(), d.meta["coding"]
        ('uint8', (2, 1, 2), [3], 'none')
        >>> try:
        ...     save_spikes(p, np.full((1, 1, 2), 2))
        ... except FileFormatError as e:
        ...     print(str(e).endswith("s.h5: spikes must be 0 or 1"))
        True
    """
    spikes = np.ascontiguousarray(spikes)
    if spikes.dtype != np.uint8:
        if not all_binary(spikes):
            raise FileFormatError(f"{path}: spikes must be 0 or 1")
        spikes = spikes.astype(np.uint8)
    lab = _label_array(labels, str(path))
    _check_spikes_array(spikes, lab, str(path))
    res = None if result is None else result.to_numpy()
    sizes = None if res is None else [s.shape[2] for s in res.layer_spikes]
    classes = None if res is None else res.counts.shape[1]
    with spike_writer(path, spikes.shape, lab, meta, sizes, classes) as w:
        w.write(0, spikes, res)


def _spikes_declared(f: h5py.File, path: Path, whole: bool = True
                     ) -> tuple[h5py.Dataset, h5py.Dataset | None]:
    """``/spikes`` and ``/labels`` with shapes checked against the limits and each other
    (``whole``: ``/spikes`` will be read at once, so it must fit the array limit too)."""
    ds = _declared(f, "spikes", ("uint8",), 3, path, whole=whole)
    T, B, n = ds.shape
    limits.check_count(T, limits.MAX_CYCLES, "number of cycles T", f"{path}: /spikes")
    limits.check_count(B, limits.MAX_SAMPLES, "number of samples B", f"{path}: /spikes")
    limits.check_count(n, limits.MAX_INPUTS, "number of channels", f"{path}: /spikes")
    labels = _declared(f, "labels", ("int64",), 1, path, optional=True)
    if labels is not None and labels.shape != (B,):
        raise FileFormatError(f"{path}: /labels: shape {labels.shape}, expected ({B},) "
                              f"(one label per sample of /spikes)")
    return ds, labels


def load_spikes(path: str | os.PathLike) -> SpikeData:
    """Read and validate a spike (or result) file's input spikes, labels and metadata.

    Reads ``/spikes`` whole; :func:`open_spikes` reads a file too large for memory by ranges
    of samples.

    Args:
        path: the file, root attribute ``format = "spikelut-spikes"`` (a result file is one too).

    Returns:
        A :class:`SpikeData`: ``spikes`` uint8 0/1 ``[T, B, n]``, ``labels`` int64 ``[B]`` or
        ``None``, ``meta`` the other root attributes.

    Raises:
        FileFormatError: a missing, unreadable or non-regular file; another format or version;
            ``/spikes`` missing, not uint8 ``[T, B, n]``, past :mod:`spikelut.limits` or holding
            values other than 0 and 1; ``/labels`` not int64 ``[B]`` or negative. The message
            names the file and the field.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.h5"
        >>> save_spikes(p, np.ones((5, 2, 3), np.uint8))
        >>> d = load_spikes(p)
        >>> d.spikes.shape, d.labels, d.meta
        ((5, 2, 3), None, {})
    """
    path = Path(path)
    with _open(path) as f, _reading(path):
        _check_format(f, SPIKES_FORMAT, path)
        ds, lab = _spikes_declared(f, path)
        meta = _read_meta(f, {"format", "version"}, path)
        spikes = _read(ds, path)
        labels = None if lab is None else _read(lab, path)
    _check_spikes_array(spikes, labels, str(path))
    return SpikeData(spikes, labels, meta)


# ---------------------------------------------------------------------------- chunked reading
class _OpenFile:
    """An HDF5 file held open by a reader (``self._f``) for a ``with`` block."""

    _f: h5py.File

    def close(self) -> None:
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SpikeReader(_OpenFile):
    """A spike file open for reading in chunks of samples (made by :func:`open_spikes`).

    Opening reads and checks the header, ``/labels`` and the metadata; ``/spikes`` is read only
    by :meth:`read`, one sample range at a time, so memory is set by the range, not the file.

    Args:
        path: the spike (or result) file, root attribute ``format = "spikelut-spikes"``.

    Attributes:
        path: the file.
        shape: ``(T, B, n)`` of ``/spikes``.
        labels: int64 ``[B]`` or ``None``.
        meta: the root attributes other than format and version.
        dataset: the open ``/spikes`` dataset (checked kind, dtype and rank).
        is_result: whether the file has a result's groups ``/layers`` and ``/readout``
            (:func:`has_result_groups`; :func:`~spikelut.io.results.open_result` checks them).

    Raises:
        FileFormatError: at opening, as :func:`load_spikes` (but no whole-array limit: only one
            sample ``[T, 1, n]`` must fit the array limit); from :meth:`read`, unreadable data,
            values other than 0 and 1, or a range past the array limit.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.h5"
        >>> save_spikes(p, np.zeros((4, 100, 2), np.uint8), labels=[1] * 100)
        >>> with SpikeReader(p) as r:
        ...     r.shape, r.read(90, 200).shape, r.chunk_samples, int(r.labels.sum())
        ((4, 100, 2), (4, 10, 2), 64, 100)
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._f = _open(self.path)
        try:
            with _reading(self.path):
                _check_format(self._f, SPIKES_FORMAT, self.path)
                # read in ranges of samples: no whole-array limit, but the same checks of links,
                # storage and declared sizes, and no more data than the file really stores
                self.dataset, lab = _spikes_declared(self._f, self.path, whole=False)
                _check_stored(self.dataset, self.path)
                self.labels = None if lab is None else _read(lab, self.path)
                self.meta = _read_meta(self._f, {"format", "version"}, self.path)
                self.is_result = has_result_groups(self._f)
            self.shape: tuple[int, int, int] = tuple(int(v) for v in self.dataset.shape)
            _check_labels(self.labels, self.shape[1], str(self.path))
            # the least any read allocates: one sample, T x n bytes (a 1 MB file declared one
            # sample of 1 GiB, read whatever the array limit)
            T, _, n = self.shape
            limits.check_array_bytes((T, 1, n), 1, f"{self.path}: one sample of /spikes [T, 1, n]")
        except BaseException:
            self._f.close()
            raise

    def read(self, b0: int, b1: int) -> np.ndarray:
        """Spikes of samples ``b0 .. b1 - 1``: uint8 ``[T, b1 - b0, n]``, checked to be 0 or 1.

        Raises:
            ConfigError: bounds that are not whole numbers.
            FileFormatError: unreadable data or values other than 0 and 1.
        """
        T, B, n = self.shape
        b0, b1 = _whole_bounds(b0, b1)
        b0, b1, _ = slice(b0, b1).indices(B)
        # a range is allocated whole: bounded first, as a whole read is
        try:
            limits.check_array_bytes((T, max(b1 - b0, 0), n), 1,
                                     f"{self.path}: samples {b0} .. {b1 - 1} of /spikes")
        except FileFormatError as e:  # one sample fits (checked at open): say how many do
            fit = max(1, limits.max_array_bytes() // max(T * n, 1))
            raise FileFormatError(f"{e}; or read at most {fit} samples at a time (--chunk "
                                  f"{fit})") from None
        with _reading(self.path):
            try:
                x = self.dataset[:, b0:b1, :]
            except OSError as e:
                raise FileFormatError(f"{self.path}: /spikes: cannot read the data (truncated "
                                      f"file?): {e}") from None
        if x.size and x.max() > 1:
            raise FileFormatError(f"{self.path}: /spikes: entries must be 0 or 1")
        return x

    @property
    def chunk_samples(self) -> int:
        """Samples per storage chunk of ``/spikes`` (1 when stored contiguously)."""
        return int(self.dataset.chunks[1]) if self.dataset.chunks else 1


def open_spikes(path: str | os.PathLike) -> SpikeReader:
    """Open a spike (or result) file for reading in chunks of samples; use it in a ``with``.

    Args:
        path: the file, root attribute ``format = "spikelut-spikes"``.

    Returns:
        An open :class:`SpikeReader` (``shape`` ``(T, B, n)``, ``labels`` int64 ``[B]`` or
        ``None``, ``meta``); :meth:`SpikeReader.read` gives uint8 ``[T, b, n]`` by sample range.

    Raises:
        FileFormatError: a missing, unreadable or malformed file, naming the field.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.h5"
        >>> save_spikes(p, np.eye(3, dtype=np.uint8)[None], labels=[0, 1, 2])
        >>> with open_spikes(p) as r:
        ...     r.shape, r.read(1, 3)[0].tolist()
        ((1, 3, 3), [[0, 1, 0], [0, 0, 1]])
    """
    return SpikeReader(path)
