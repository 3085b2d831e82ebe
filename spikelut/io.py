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

import errno
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .errors import FileFormatError, NetworkError
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
    try:
        return ds[()]
    except OSError as e:
        raise FileFormatError(f"{path}: {full}: cannot read the data (truncated file?): {e}") from None


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


def _check_spikes_array(spikes: np.ndarray, labels: np.ndarray | None, where: str) -> None:
    if spikes.ndim != 3:
        raise FileFormatError(f"{where}: /spikes must be [T, B, n], got shape {spikes.shape}")
    if spikes.size and spikes.max() > 1:
        raise FileFormatError(f"{where}: /spikes: entries must be 0 or 1")
    if labels is not None:
        if labels.shape != (spikes.shape[1],):
            raise FileFormatError(f"{where}: /labels: shape {labels.shape}, expected ({spikes.shape[1]},) "
                                  f"(one label per sample of /spikes)")
        if labels.size and labels.min() < 0:
            raise FileFormatError(f"{where}: /labels: labels must be >= 0")


def save_spikes(path: str | os.PathLike, spikes: Any, labels: Any = None, meta: dict | None = None,
                result: Any = None) -> None:
    """Write a spike file (format v1); with ``result`` (a :class:`SimResult`) a result file.

    ``meta`` goes into root attributes (non-scalar values as JSON strings).
    """
    spikes = np.ascontiguousarray(spikes)
    if spikes.dtype != np.uint8:
        if spikes.size and not np.isin(spikes, (0, 1)).all():
            raise FileFormatError(f"{path}: spikes must be 0 or 1")
        spikes = spikes.astype(np.uint8)
    lab = None if labels is None else np.asarray(labels).astype(np.int64)
    _check_spikes_array(spikes, lab, str(path))
    with atomic_h5(path) as f:
        _meta_attrs(f, dict(meta or {}))
        f.attrs["format"] = SPIKES_FORMAT
        f.attrs["version"] = VERSION
        f.create_dataset("spikes", data=spikes, chunks=True, **_GZ)
        if lab is not None:
            f.create_dataset("labels", data=lab)
        if result is not None:
            res = result.to_numpy()
            lg = f.create_group("layers")
            for i, s in enumerate(res.layer_spikes):
                lg.create_group(f"L{i}").create_dataset("spikes", data=s.astype(np.uint8),
                                                        chunks=True, **_GZ)
            rg = f.create_group("readout")
            rg.create_dataset("counts", data=res.counts.astype(np.int32))
            rg.create_dataset("pred", data=res.pred.astype(np.int32))


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
