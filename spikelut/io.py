"""Model, spike and result files: HDF5, format version 1 (DESIGN.md section 4). Never pickle.

Writers compress with gzip and write atomically. Readers check format, version, every dataset's
presence, dtype and shape, table values and index ranges, and refuse anything else with one
:class:`~spikelut.errors.FileFormatError` that names the file and the field.

Example:
    >>> import tempfile, pathlib, numpy as np
    >>> from spikelut.io import save_spikes, load_spikes
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.h5"
    >>> save_spikes(p, np.zeros((4, 2, 3), np.uint8), labels=[0, 1], meta={"coding": "none"})
    >>> d = load_spikes(p)
    >>> d.spikes.shape, d.labels.tolist(), d.meta["coding"]
    ((4, 2, 3), [0, 1], 'none')
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import h5py
import numpy as np

from .errors import FileFormatError, NetworkError, ShapeError
from .fileutil import atomic_h5
from .network import Layer, Network, Readout

MODEL_FORMAT = "spikelut-model"
SPIKES_FORMAT = "spikelut-spikes"
VERSION = 1
_GZ = {"compression": "gzip", "compression_opts": 4}


# ---------------------------------------------------------------------------- helpers
def _open(path: str | os.PathLike) -> h5py.File:
    p = Path(path)
    if not p.exists():
        raise FileFormatError(f"{p}: no such file")
    if p.is_dir():
        raise FileFormatError(f"{p}: is a directory, expected an HDF5 file")
    try:
        return h5py.File(p, "r")
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK) or "unable to lock file" in str(e):
            raise FileFormatError(f"{p}: locked by another process that has it open for writing; "
                                  f"wait until that process closes it, then run again") from None
        raise FileFormatError(f"{p}: not a readable HDF5 file (truncated or corrupt?): {e}") from None


def _attr(f: h5py.File, obj: h5py.HLObject, name: str, kind: type, path: Path) -> Any:
    if name not in obj.attrs:
        raise FileFormatError(f"{path}: {obj.name}: missing attribute {name!r}")
    v = obj.attrs[name]
    if isinstance(v, bytes):
        v = v.decode()
    if kind is str:
        if not isinstance(v, str):
            raise FileFormatError(f"{path}: {obj.name}: attribute {name!r} must be a string")
        return v
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    if not isinstance(v, (int, np.integer)) or isinstance(v, (bool, np.bool_)):
        raise FileFormatError(f"{path}: {obj.name}: attribute {name!r} must be an integer, got {v!r}")
    return int(v)


def _dataset(group: h5py.Group, name: str, kinds: tuple[str, ...], ndim: int, path: Path,
             optional: bool = False) -> np.ndarray | None:
    ds = _dataset_handle(group, name, kinds, ndim, path, optional)
    if ds is None:
        return None
    try:
        return ds[()]
    except OSError as e:
        raise FileFormatError(f"{path}: {ds.name}: cannot read the data (truncated file?): {e}") from None


def _dataset_handle(group: h5py.Group, name: str, kinds: tuple[str, ...], ndim: int, path: Path,
                    optional: bool = False) -> h5py.Dataset | None:
    """The checked (kind, dtype, ndim) dataset ``name`` of ``group``, not read yet."""
    full = f"{group.name.rstrip('/')}/{name}"
    if name not in group:
        if optional:
            return None
        raise FileFormatError(f"{path}: {full}: missing dataset")
    ds = group[name]
    if not isinstance(ds, h5py.Dataset):
        raise FileFormatError(f"{path}: {full}: expected a dataset")
    if ds.dtype.name not in kinds:
        raise FileFormatError(f"{path}: {full}: dtype {ds.dtype.name}, expected {' or '.join(kinds)}")
    if ds.ndim != ndim:
        raise FileFormatError(f"{path}: {full}: {ds.ndim}-D with shape {ds.shape}, expected {ndim}-D")
    return ds


def _check_format(f: h5py.File, fmt: str, path: Path) -> None:
    got = f.attrs.get("format")
    if isinstance(got, bytes):
        got = got.decode()
    if got != fmt:
        raise FileFormatError(f"{path}: not a {fmt} file (root attribute format = {got!r})")
    version = _attr(f, f, "version", int, path)
    if version != VERSION:
        raise FileFormatError(f"{path}: {fmt} version {version} is not supported (this spikelut "
                              f"reads version {VERSION})")


def _meta_attrs(obj: h5py.HLObject, meta: dict) -> None:
    for key, value in meta.items():
        if isinstance(value, (str, int, float, bool, np.integer, np.floating)):
            obj.attrs[key] = value
        else:
            obj.attrs[key] = json.dumps(value)


def _read_meta(obj: h5py.HLObject, skip: set[str]) -> dict:
    meta = {}
    for key, value in obj.attrs.items():
        if key in skip:
            continue
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, np.generic):
            value = value.item()
        meta[key] = value
    return meta


# ---------------------------------------------------------------------------- models
def save_model(net: Network, path: str | os.PathLike) -> None:
    """Write ``net`` to an HDF5 model file (format v1), atomically."""
    with atomic_h5(path) as f:
        f.attrs["format"] = MODEL_FORMAT
        f.attrs["version"] = VERSION
        f.attrs["inputs"] = net.n_in
        if net.meta:
            f.attrs["meta"] = json.dumps(net.meta)
        layers = f.create_group("layers")
        for i, layer in enumerate(net.layers):
            g = layers.create_group(f"L{i}")
            g.attrs["name"] = layer.name
            g.attrs["refractory"] = layer.refractory
            g.create_dataset("table", data=layer.table.astype(np.uint8), **_GZ)
            g.create_dataset("source", data=layer.source.astype(np.int32), **_GZ)
            g.create_dataset("index", data=layer.index.astype(np.int32), **_GZ)
            g.create_dataset("delay", data=layer.delay.astype(np.int32), **_GZ)
            if layer.logits is not None:
                g.create_dataset("logits", data=layer.logits.astype(np.float32), **_GZ)
        r = f.create_group("readout")
        r.attrs["layer"] = net.readout.layer
        r.attrs["classes"] = net.readout.classes
        r.attrs["start"] = net.readout.start
        r.create_dataset("class_of", data=net.readout.class_of.astype(np.int32))


def load_model(path: str | os.PathLike) -> Network:
    """Read and validate a model file; raise :class:`FileFormatError` naming the bad field."""
    path = Path(path)
    with _open(path) as f:
        _check_format(f, MODEL_FORMAT, path)
        n_in = _attr(f, f, "inputs", int, path)
        meta = {}
        if "meta" in f.attrs:
            try:
                meta = json.loads(f.attrs["meta"])
            except (TypeError, ValueError):
                raise FileFormatError(f"{path}: /: attribute 'meta' is not valid JSON") from None
        if "layers" not in f or not isinstance(f["layers"], h5py.Group):
            raise FileFormatError(f"{path}: /layers: missing group")
        lg = f["layers"]
        names = list(lg.keys())
        expected = [f"L{i}" for i in range(len(names))]
        if not names or sorted(names, key=lambda s: (len(s), s)) != expected:
            raise FileFormatError(f"{path}: /layers: expected groups L0..L{max(len(names) - 1, 0)}, "
                                  f"found {sorted(names)}")
        layers = []
        for i, key in enumerate(expected):
            g = lg[key]
            table = _dataset(g, "table", ("uint8",), 2, path)
            source = _dataset(g, "source", ("int32",), 2, path)
            index = _dataset(g, "index", ("int32",), 2, path)
            delay = _dataset(g, "delay", ("int32",), 2, path)
            logits = _dataset(g, "logits", ("float32",), 2, path, optional=True)
            if table.size and not np.isin(table, (0, 1)).all():
                raise FileFormatError(f"{path}: /layers/{key}/table: entries must be 0 or 1")
            try:
                layers.append(Layer(table, source, index, delay,
                                    _attr(f, g, "refractory", int, path), _attr(f, g, "name", str, path),
                                    logits))
            except NetworkError as e:
                raise FileFormatError(f"{path}: /layers/{key}: {e}") from None
        if "readout" not in f:
            raise FileFormatError(f"{path}: /readout: missing group")
        rg = f["readout"]
        class_of = _dataset(rg, "class_of", ("int32",), 1, path)
        readout = Readout(_attr(f, rg, "layer", int, path), class_of,
                          _attr(f, rg, "classes", int, path), _attr(f, rg, "start", int, path))
    try:
        return Network(n_in, layers, readout, meta)
    except NetworkError as e:
        raise FileFormatError(f"{path}: invalid network: {e}") from None


# ---------------------------------------------------------------------------- spikes / results
@dataclass
class SpikeData:
    """Contents of a spike file: ``spikes [T, B, n]`` uint8, optional ``labels [B]`` int64, and the
    free metadata of the root attributes (coding, source data, ...)."""

    spikes: np.ndarray
    labels: np.ndarray | None = None
    meta: dict = field(default_factory=dict)


def _check_labels(labels: np.ndarray | None, samples: int, where: str) -> None:
    if labels is None:
        return
    if labels.shape != (samples,):
        raise FileFormatError(f"{where}: /labels: shape {labels.shape}, expected ({samples},) "
                              f"(one label per sample of /spikes)")
    if labels.size and labels.min() < 0:
        raise FileFormatError(f"{where}: /labels: labels must be >= 0")


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
    """

    def __init__(self, f: h5py.File, shape: tuple[int, int, int], layer_sizes: Sequence[int] | None,
                 classes: int | None, spikes_copied: bool) -> None:
        self.shape = shape
        self._f = f
        self._copied = spikes_copied
        self._written: list[tuple[int, int]] = []  # sample ranges, checked at the end
        self._result = layer_sizes is not None

    def write(self, b0: int, spikes: Any = None, result: Any = None) -> None:
        """Write samples ``b0 ..`` of the input spikes and (for a result file) of the result."""
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
        path: the file to write.
        shape: ``(T, B, n)`` of ``/spikes``.
        labels: optional ``[B]`` integer labels (written at once; they are small).
        meta: free metadata for the root attributes (non-scalar values as JSON strings).
        layer_sizes: for a result file, the nodes of each layer (``/layers/L<i>/spikes [T, B, n_i]``).
        classes: for a result file, the readout classes (``/readout/counts [B, classes]``).
        copy_spikes: an input file's ``/spikes`` dataset (already checked) whose compressed chunks
            are copied as they are instead of being written again, when its storage allows.

    Raises:
        FileFormatError: labels that do not fit ``shape``.
        ShapeError: a chunk that does not fit, or samples left unwritten.

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
    lab = None if labels is None else np.asarray(labels).astype(np.int64)
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
    :func:`spike_writer`, so atomic.
    """
    spikes = np.ascontiguousarray(spikes)
    if spikes.dtype != np.uint8:
        if spikes.size and not np.isin(spikes, (0, 1)).all():
            raise FileFormatError(f"{path}: spikes must be 0 or 1")
        spikes = spikes.astype(np.uint8)
    lab = None if labels is None else np.asarray(labels).astype(np.int64)
    _check_spikes_array(spikes, lab, str(path))
    res = None if result is None else result.to_numpy()
    sizes = None if res is None else [s.shape[2] for s in res.layer_spikes]
    classes = None if res is None else res.counts.shape[1]
    with spike_writer(path, spikes.shape, lab, meta, sizes, classes) as w:
        w.write(0, spikes, res)


def load_spikes(path: str | os.PathLike) -> SpikeData:
    """Read and validate a spike (or result) file's input spikes, labels and metadata."""
    path = Path(path)
    with _open(path) as f:
        _check_format(f, SPIKES_FORMAT, path)
        spikes = _dataset(f, "spikes", ("uint8",), 3, path)
        labels = _dataset(f, "labels", ("int64",), 1, path, optional=True)
        meta = _read_meta(f, {"format", "version"})
    _check_spikes_array(spikes, labels, str(path))
    return SpikeData(spikes, labels, meta)


def load_result(path: str | os.PathLike, net: Network | None = None):
    """Read a result file: ``(SpikeData, SimResult)``; with ``net``, shapes are checked against it."""
    from .engine.result import SimResult

    path = Path(path)
    data = load_spikes(path)
    T, B, _ = data.spikes.shape
    with _open(path) as f:
        if "layers" not in f or "readout" not in f:
            raise FileFormatError(f"{path}: not a simulation result (no /layers or /readout); "
                                  f"run 'spikelut simulate' to make one")
        lg = f["layers"]
        layer_spikes = []
        for i in range(len(lg)):
            if f"L{i}" not in lg:
                raise FileFormatError(f"{path}: /layers: expected groups L0..L{len(lg) - 1}")
            s = _dataset(lg[f"L{i}"], "spikes", ("uint8",), 3, path)
            if s.shape[:2] != (T, B):
                raise FileFormatError(f"{path}: /layers/L{i}/spikes: shape {s.shape}, expected "
                                      f"[{T}, {B}, n] like /spikes")
            layer_spikes.append(s)
        counts = _dataset(f["readout"], "counts", ("int32",), 2, path)
        pred = _dataset(f["readout"], "pred", ("int32",), 1, path)
    if counts.shape[0] != B or pred.shape != (B,):
        raise FileFormatError(f"{path}: /readout: counts {counts.shape} / pred {pred.shape} do not "
                              f"match {B} samples")
    if net is not None:
        if [s.shape[2] for s in layer_spikes] != net.sizes:
            raise FileFormatError(f"{path}: layer sizes {[s.shape[2] for s in layer_spikes]} do not "
                                  f"match the model's {net.sizes}")
    return data, SimResult(layer_spikes, counts, pred)


# ---------------------------------------------------------------------------- chunked reading
class SpikeReader:
    """A spike file open for reading in chunks of samples (made by :func:`open_spikes`).

    Opening reads and checks the header, ``/labels`` and the metadata; ``/spikes`` is read only
    by :meth:`read`, one sample range at a time, so memory is set by the range, not the file.

    Attributes:
        path: the file.
        shape: ``(T, B, n)`` of ``/spikes``.
        labels: int64 ``[B]`` or ``None``.
        meta: the root attributes other than format and version.
        dataset: the open ``/spikes`` dataset (checked kind, dtype and rank).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._f = _open(self.path)
        try:
            _check_format(self._f, SPIKES_FORMAT, self.path)
            self.dataset = _dataset_handle(self._f, "spikes", ("uint8",), 3, self.path)
            self.labels = _dataset(self._f, "labels", ("int64",), 1, self.path, optional=True)
            self.meta = _read_meta(self._f, {"format", "version"})
            self.shape: tuple[int, int, int] = tuple(int(v) for v in self.dataset.shape)
            _check_labels(self.labels, self.shape[1], str(self.path))
        except BaseException:
            self._f.close()
            raise

    def read(self, b0: int, b1: int) -> np.ndarray:
        """Spikes of samples ``b0 .. b1 - 1``: uint8 ``[T, b1 - b0, n]``, checked to be 0 or 1.

        Raises:
            FileFormatError: unreadable data or values other than 0 and 1.
        """
        try:
            x = self.dataset[:, b0:b1, :]
        except OSError as e:
            raise FileFormatError(f"{self.path}: /spikes: cannot read the data (truncated file?): "
                                  f"{e}") from None
        if x.size and x.max() > 1:
            raise FileFormatError(f"{self.path}: /spikes: entries must be 0 or 1")
        return x

    @property
    def chunk_samples(self) -> int:
        """Samples per storage chunk of ``/spikes`` (1 when stored contiguously)."""
        return int(self.dataset.chunks[1]) if self.dataset.chunks else 1

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "SpikeReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_spikes(path: str | os.PathLike) -> SpikeReader:
    """Open a spike (or result) file for reading in chunks of samples; use it in a ``with``.

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
