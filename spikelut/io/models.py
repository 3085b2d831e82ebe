"""Model files (format v1, DESIGN.md section 4): write and read a :class:`~spikelut.network.Network`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from .. import limits
from ..errors import FileFormatError, NetworkError
from ..fileutil import atomic_h5
from ..network import Layer, Network, Readout, all_binary, k_range_problem

from .hdf5 import (MODEL_FORMAT, VERSION, _GZ, _attr, _check_format, _check_stored, _declared,
                   _json_attr, _name, _open, _read, _reading)

def save_model(net: Network, path: str | os.PathLike) -> None:
    """Write ``net`` to an HDF5 model file (format v1), atomically.

    Replaces whatever file is at ``path``, as :func:`numpy.save` does. The commands first refuse
    an output that is one of their inputs or a file of another kind
    (:func:`spikelut.fileutil.check.check_output`); call that first for the same rules.

    The file (DESIGN.md section 4): root attributes ``format = "spikelut-model"``, ``version = 1``,
    ``inputs`` and ``meta`` (``net.meta`` as JSON, when not empty); per layer a group
    ``/layers/L<i>`` with attributes ``name`` and ``refractory`` (cycles) and gzip datasets
    ``table [n, 2**k]`` uint8, ``source``, ``index`` and ``delay [n, k]`` int32 (delays in
    cycles), and where the layer has them ``logits [n, 2**k]``, ``tap_influence`` and
    ``tap_gradient [n, k]`` float32; ``/readout`` with attributes ``layer``, ``classes``,
    ``start`` (cycle) and ``class_of [n_readout]`` int32.

    Args:
        net: the network to write (already validated by its constructor).
        path: the file to write; the data go to a temporary file beside it, renamed onto it.

    Returns:
        ``None``; the file at ``path`` is replaced only when the whole write succeeded.

    Raises:
        OutputError: the file cannot be written (missing directory, no permission, disk full);
            the old file is left as it was.

    Example:
        >>> import tempfile, pathlib
        >>> from spikelut.wiring import random_network
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.h5"
        >>> save_model(random_network(0, 2, [4, 2], k=2), p)
        >>> net = load_model(p)
        >>> net.n_in, [layer.table.shape for layer in net.layers]
        (2, [(4, 4), (2, 4)])
    """
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
            for name in ("tap_influence", "tap_gradient"):  # optional (spikelut.importance)
                if getattr(layer, name) is not None:
                    g.create_dataset(name, data=getattr(layer, name).astype(np.float32), **_GZ)
        r = f.create_group("readout")
        r.attrs["layer"] = net.readout.layer
        r.attrs["classes"] = net.readout.classes
        r.attrs["start"] = net.readout.start
        r.create_dataset("class_of", data=net.readout.class_of.astype(np.int32))


def _check_meta_records(meta: dict, path: Path) -> None:
    """Refuse a model whose ``meta`` records that spikelut reads back have the wrong shape: the
    training record ``train`` (``epochs``, ``surrogate``: read by ``analyze`` and ``run``) and the
    data record ``data`` (read by ``info``, ``rtl``, ``simulate``) must be JSON objects. Checked
    once here, so no reader meets a list where it expects an object (an AttributeError
    traceback before)."""
    where = f"{path}: /: attribute 'meta'"
    fix = "a model written by spikelut train has an object there; rewrite the file"
    for key, what in (("train", "the training record"), ("data", "the data record")):
        rec = meta.get(key)
        if rec is not None and not isinstance(rec, dict):
            raise FileFormatError(f"{where}: {key!r} ({what}) must be a JSON object, got "
                                  f"{type(rec).__name__}; {fix}")
    train = meta.get("train") or {}
    epochs = train.get("epochs")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int)
                               or not 0 <= epochs <= _MAX_EPOCHS):
        raise FileFormatError(f"{where}: train.epochs must be an integer 0..{_MAX_EPOCHS}, got "
                              f"{str(epochs)[:40]}; {fix}")
    surrogate = train.get("surrogate")
    if surrogate is not None and not isinstance(surrogate, str):
        raise FileFormatError(f"{where}: train.surrogate must be a surrogate's name (a string), "
                              f"got {type(surrogate).__name__}; {fix}")


#: the most epochs a model's training record may claim (far above any run; an int that fits
#: every consumer)
_MAX_EPOCHS = 1 << 31


def load_model(path: str | os.PathLike) -> Network:
    """Read and validate a model file; raise :class:`FileFormatError` naming the bad field.

    Every declared size is checked against :mod:`spikelut.limits` before it is read (k before a
    ``2**k`` table, layer and node counts before the layers); see ``docs/threat-model.md``.
    The layout is the one :func:`save_model` writes.

    Args:
        path: the model file (an HDF5 file with root attribute ``format = "spikelut-model"``).

    Returns:
        The :class:`~spikelut.network.Network`, validated by its constructor: tables uint8 0/1
        ``[n, 2**k]``, ``source``/``index``/``delay`` int32 ``[n, k]``, ``meta`` the JSON object
        of the root attribute ``meta`` (``{}`` when absent).

    Raises:
        FileFormatError: a missing, unreadable or non-regular file; another format or version
            (a spike file, a checkpoint: the message says which); a missing or mistyped group,
            dataset or attribute; a size past :mod:`spikelut.limits`; table entries other than
            0 and 1; a ``meta`` that is not a JSON object or whose ``train``/``data`` records
            are malformed; or a network its constructor refuses. The message names the file
            and the field.

    Example:
        >>> import tempfile, pathlib
        >>> from spikelut.wiring import random_network
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.h5"
        >>> save_model(random_network(0, 3, [5], k=2), p)
        >>> net = load_model(p)
        >>> net.n_in, net.layers[0].source.shape, net.layers[0].source.dtype.name
        (3, (5, 2), 'int32')
        >>> try:
        ...     load_model(p.with_name("missing.h5"))
        ... except FileFormatError as e:
        ...     print(str(e).endswith("missing.h5: no such file"))
        True
    """
    path = Path(path)
    with _open(path) as f, _reading(path):
        _check_format(f, MODEL_FORMAT, path)
        n_in = limits.check_count(_attr(f, f, "inputs", int, path), limits.MAX_INPUTS,
                                  "number of inputs", f"{path}: /: attribute 'inputs'")
        meta = _json_attr(f, "meta", path) if "meta" in f.attrs else {}
        if not isinstance(meta, dict):
            raise FileFormatError(f"{path}: /: attribute 'meta' must be a JSON object")
        _check_meta_records(meta, path)
        if "layers" not in f or not isinstance(f["layers"], h5py.Group):
            raise FileFormatError(f"{path}: /layers: missing group")
        lg = f["layers"]
        limits.check_count(len(lg), limits.MAX_LAYERS, "number of layers", f"{path}: /layers")
        names = [_name(n) for n in lg.keys()]
        expected = [f"L{i}" for i in range(len(names))]
        if not names or sorted(names, key=lambda s: (len(s), s)) != expected:
            shown = sorted(names)[:10] + (["..."] if len(names) > 10 else [])
            raise FileFormatError(f"{path}: /layers: expected groups L0..L{max(len(names) - 1, 0)}, "
                                  f"found {shown}")
        # every size first, from the declared shapes and attributes alone: a few MB of gzip can
        # declare gigabytes of tables, and reading layer 0 before layer 2's size is known was an
        # OOM kill (3 layers of 2**19 nodes with k = 12: 6 GiB of tables in a 9.5 MB file)
        declared = []
        total = entries = 0
        for key in expected:
            g = lg[key]
            if not isinstance(g, h5py.Group):
                raise FileFormatError(f"{path}: /layers/{key}: expected a group")
            decl = _layer_datasets(g, key, path)
            n, k = decl["source"].shape
            total += n
            limits.check_count(total, limits.MAX_NODES, "total number of nodes", f"{path}: /layers")
            entries += n << k
            limits.check_count(entries, limits.MAX_TABLE_ENTRIES, "total number of table entries "
                               "(sum of nodes x 2**k)", f"{path}: /layers")
            refractory = limits.check_count(_attr(f, g, "refractory", int, path), limits.MAX_REFRACTORY,
                                            "refractory period", f"{path}: /layers/{key}: attribute "
                                            f"'refractory'")
            name = _attr(f, g, "name", str, path)
            for ds in decl.values():
                if ds is not None:
                    _check_stored(ds, path)
            declared.append((key, decl, refractory, name))
        if "readout" not in f or not isinstance(f["readout"], h5py.Group):
            raise FileFormatError(f"{path}: /readout: missing group")
        rg = f["readout"]
        classes = limits.check_count(_attr(f, rg, "classes", int, path), limits.MAX_CLASSES,
                                     "number of classes", f"{path}: /readout: attribute 'classes'")
        readout_layer, start = _attr(f, rg, "layer", int, path), _attr(f, rg, "start", int, path)
        class_of_ds = _declared(rg, "class_of", ("int32",), 1, path)
        _check_stored(class_of_ds, path)
        # only now is any data read
        layers = []
        for key, decl, refractory, name in declared:
            arrays = {k: (None if ds is None else _read(ds, path)) for k, ds in decl.items()}
            table = arrays["table"]
            if not all_binary(table):  # uint8: a max, no temporary the size of the table
                raise FileFormatError(f"{path}: /layers/{key}/table: entries must be 0 or 1")
            try:
                layers.append(Layer(table, arrays["source"], arrays["index"], arrays["delay"],
                                    refractory, name, arrays["logits"],
                                    arrays["tap_influence"], arrays["tap_gradient"]))
            except NetworkError as e:
                raise FileFormatError(f"{path}: /layers/{key}: {e}") from None
        class_of = _read(class_of_ds, path)
        try:
            readout = Readout(readout_layer, class_of, classes, start)
        except NetworkError as e:
            raise FileFormatError(f"{path}: /readout: {e}") from None
    try:
        return Network(n_in, layers, readout, meta)
    except NetworkError as e:
        raise FileFormatError(f"{path}: invalid network: {e}") from None


def _layer_datasets(g: h5py.Group, key: str, path: Path) -> dict[str, h5py.Dataset | None]:
    """The datasets of one layer group with their declared shapes checked against each other and
    the limits (k from ``source`` before a ``2**k`` table is read)."""
    decl = {"source": _declared(g, "source", ("int32",), 2, path)}
    n, k = decl["source"].shape
    where = f"{path}: /layers/{key}"
    limits.check_count(n, limits.MAX_NODES_PER_LAYER, "number of nodes", f"{where}/source")
    if k_range_problem(k):
        raise FileFormatError(f"{where}/source: {k_range_problem(k)}")
    for name, kinds, shape in (("index", ("int32",), (n, k)), ("delay", ("int32",), (n, k)),
                               ("table", ("uint8",), (n, 1 << k)),
                               ("logits", ("float32",), (n, 1 << k)),
                               ("tap_influence", ("float32",), (n, k)),
                               ("tap_gradient", ("float32",), (n, k))):
        optional = name in ("logits", "tap_influence", "tap_gradient")
        ds = _declared(g, name, kinds, 2, path, optional=optional)
        if ds is not None and ds.shape != shape:
            raise FileFormatError(f"{where}: {name} has shape {ds.shape}, expected {shape} (nodes x "
                                  f"{'2**k' if name in ('table', 'logits') else 'k'} with k = {k} "
                                  f"from source)")
        decl[name] = ds
    return decl
