"""Model, spike and result files: HDF5, format version 1 (DESIGN.md section 4). Never pickle.

Writers compress with gzip and write atomically. Readers check format, version, every dataset's
presence, dtype and shape, table values and index ranges, and refuse anything else with one
:class:`~spikelut.errors.FileFormatError` that names the file and the field. Files are untrusted
(``docs/threat-model.md``): readers refuse special files, links, external storage, virtual
datasets and unknown filters, and check every declared size against :mod:`spikelut.limits`
before reading it.

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
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import h5py
import numpy as np

from . import limits
from .errors import ConfigError, FileFormatError, NetworkError, ShapeError, SpikelutError
from .escape import terminal
from .fileutil import atomic_h5
from .network import Layer, Network, Readout, all_binary, k_range_problem

MODEL_FORMAT = "spikelut-model"
SPIKES_FORMAT = "spikelut-spikes"
FEATURES_FORMAT = "spikelut-features"
VERSION = 1
_GZ = {"compression": "gzip", "compression_opts": 4}


# ---------------------------------------------------------------------------- helpers
# Files come from others (docs/threat-model.md): before a dataset or attribute is read, its links,
# storage, type and declared size are checked, so a file can neither make spikelut read another
# file nor make it allocate more than the limits of spikelut.limits.

#: HDF5 filters a dataset may use: deflate (gzip), shuffle, fletcher32, LZF (h5py's own).
#: Others could load a plugin library from the HDF5 plugin path.
_FILTERS = {h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_FLETCHER32, 32000}
_LAYOUTS = {h5py.h5d.COMPACT, h5py.h5d.CONTIGUOUS, h5py.h5d.CHUNKED}
#: the most a dataset may expand from its stored bytes (deflate's limit is about 1032:1)
_MAX_RATIO = 1100
_READ_ERRORS = (OSError, KeyError, TypeError, ValueError, RuntimeError, UnicodeError, RecursionError,
                IndexError, AttributeError)


def _check_links(f: h5py.File, path: Path) -> None:
    """Refuse every soft, external or user-defined link and files with too many objects.

    Runs before any other access: h5py resolves a link when a name is looked up (even by ``in``),
    and an external link opens another file. H5Lvisit follows hard links only, so this walk
    itself never leaves the file.
    """
    count = 0

    # the callback returns the problem (a non-None value stops H5Lvisit); raising inside it
    # would cross HDF5's C stack
    def visit(name: bytes) -> str | None:
        nonlocal count
        count += 1
        if count > limits.MAX_OBJECTS:
            return f"more than {limits.MAX_OBJECTS} objects; not a spikelut file"
        kind = f.id.links.get_info(name).type
        if kind != h5py.h5l.TYPE_HARD:
            what = {h5py.h5l.TYPE_SOFT: "a soft link", h5py.h5l.TYPE_EXTERNAL: "an external link"}
            return (f"/{_name(name)}: is {what.get(kind, 'a user-defined link')}; spikelut files "
                    f"hold plain groups and datasets only (links could read other files)")
        try:
            name.decode("utf-8")
        except UnicodeDecodeError:
            return f"/{_name(name)}: object name is not valid UTF-8"
        return None

    problem = f.id.links.visit(visit)
    if problem is not None:
        raise FileFormatError(f"{path}: {problem}")


def _name(raw: bytes | str) -> str:
    """A name from the file, safe to put in a one-line message."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "backslashreplace")
    return terminal(raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))


def _open(path: str | os.PathLike) -> h5py.File:
    p = limits.check_regular_file(path, "an HDF5 file")
    try:
        f = h5py.File(p, "r")
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK) or "unable to lock file" in str(e):
            raise FileFormatError(f"{p}: locked by another process that has it open for writing; "
                                  f"wait until that process closes it, then run again") from None
        raise FileFormatError(f"{p}: not a readable HDF5 file (truncated or corrupt?): {e}") from None
    try:
        _check_links(f, p)
    except FileFormatError:
        f.close()
        raise
    except _READ_ERRORS as e:
        f.close()
        raise FileFormatError(f"{p}: unreadable HDF5 structure: {e}") from None
    return f


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn any error of h5py or numpy on a malformed file into one :class:`FileFormatError`."""
    try:
        yield
    except SpikelutError:
        raise
    except _READ_ERRORS as e:  # MemoryError passes: the CLI says "not enough memory" in one line
        msg = str(e).replace("\n", " ")
        raise FileFormatError(f"{path}: malformed HDF5 content ({type(e).__name__}: {msg})") from None


def _read_attr(obj: h5py.HLObject, name: str, path: Path) -> Any:
    """One attribute as a Python value (str, int, float, bool, or a list of numbers), after
    checking its type and size; strings must be valid UTF-8."""
    def fail(what: str) -> FileFormatError:
        return FileFormatError(f"{path}: {_name(obj.name)}: attribute {_name(name)!r}: {what}")

    aid = obj.attrs.get_id(name)
    shape, dt = aid.shape, aid.dtype
    if shape is None:
        raise fail("has no value (empty dataspace)")
    if len(shape) > 1:
        raise fail(f"{len(shape)}-D arrays are not supported metadata")
    string = h5py.check_string_dtype(dt)
    if string is None and (dt.kind not in "biuf" or dt.fields is not None or dt.subdtype is not None):
        raise fail(f"type {dt} is not supported (expected a string or numbers)")
    if string is not None and shape != ():
        raise fail("arrays of strings are not supported metadata")
    size = limits.array_bytes(shape, dt.itemsize)
    if size > limits.MAX_ATTR_BYTES or aid.get_storage_size() > limits.MAX_ATTR_BYTES:
        raise fail(f"larger than the limit of {limits.MAX_ATTR_BYTES} bytes")
    v = obj.attrs[name]
    if string is not None:
        if isinstance(v, (bytes, np.bytes_)):
            raw = bytes(v)
        else:
            raw = str(v).encode("utf-8", "surrogateescape")
        if len(raw) > limits.MAX_ATTR_BYTES:
            raise fail(f"larger than the limit of {limits.MAX_ATTR_BYTES} bytes")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise fail("not valid UTF-8 text") from None
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v.item() if isinstance(v, np.generic) else v


def _attr(f: h5py.File, obj: h5py.HLObject, name: str, kind: type, path: Path) -> Any:
    if name not in obj.attrs:
        raise FileFormatError(f"{path}: {_name(obj.name)}: missing attribute {name!r}")
    v = _read_attr(obj, name, path)
    if kind is str:
        if not isinstance(v, str):
            raise FileFormatError(f"{path}: {_name(obj.name)}: attribute {name!r} must be a string")
        return v
    if not isinstance(v, int) or isinstance(v, bool):
        raise FileFormatError(f"{path}: {_name(obj.name)}: attribute {name!r} must be an integer, "
                              f"got {_name(repr(v)[:80])}")
    return v


def _declared(group: h5py.Group, name: str, kinds: tuple[str, ...], ndim: int, path: Path,
              optional: bool = False, whole: bool = True) -> h5py.Dataset | None:
    """The dataset ``group/name`` after checking everything but its data: a plain dataset stored
    in this file (no external storage, not virtual, known filters), of one of ``kinds`` and
    ``ndim`` dimensions, no larger than the array limit when it is to be read ``whole`` (a
    dataset read in chunks of samples is bounded by its chunk). Nothing is read yet."""
    ds = group.get(name)  # one lookup; safe: _open refused every non-hard link
    if ds is None:
        if optional:
            return None
        raise FileFormatError(f"{path}: {group.name.rstrip('/')}/{name}: missing dataset")
    full = ds.name
    if not isinstance(ds, h5py.Dataset):
        raise FileFormatError(f"{path}: {full}: expected a dataset")
    dcpl = ds.id.get_create_plist()
    layout = dcpl.get_layout()
    if layout not in _LAYOUTS:
        raise FileFormatError(f"{path}: {full}: is a virtual dataset (it would read other files); "
                              f"store the data in the file")
    if dcpl.get_external_count():
        raise FileFormatError(f"{path}: {full}: uses external raw storage (its data would come from "
                              f"another file); store the data in the file")
    for i in range(dcpl.get_nfilters()):
        code = dcpl.get_filter(i)[0]
        if code not in _FILTERS:
            raise FileFormatError(f"{path}: {full}: compressed with HDF5 filter {code}; spikelut reads "
                                  f"gzip, shuffle, fletcher32 and lzf only")
    shape, dt = ds.shape, ds.dtype
    if shape is None:
        raise FileFormatError(f"{path}: {full}: has no data (empty dataspace)")
    if dt.name not in kinds or dt.fields is not None:
        raise FileFormatError(f"{path}: {full}: dtype {dt}, expected {' or '.join(kinds)}")
    if len(shape) != ndim:
        raise FileFormatError(f"{path}: {full}: {len(shape)}-D with shape {shape}, expected {ndim}-D")
    if whole:
        limits.check_array_bytes(shape, dt.itemsize, f"{path}: {full}")
    if layout == h5py.h5d.CHUNKED:
        limits.check_array_bytes(dcpl.get_chunk(), dt.itemsize, f"{path}: {full} (one chunk)")
    return ds


#: a chunk up to this size is never refused for its shape (h5py's automatic chunks stay below it)
_CHUNK_SLACK = 1 << 20
#: how many times the data it holds a chunk over :data:`_CHUNK_SLACK` may be
_CHUNK_WASTE = 4


def _check_chunks(ds: h5py.Dataset, path: Path) -> None:
    """Refuse a chunked dataset whose chunks are far larger than the data they hold, or larger
    than :data:`spikelut.limits.MAX_CHUNK_BYTES`: HDF5 decompresses a whole chunk to read any
    part of it, so 16 bytes stored in one gzip chunk of 1 GiB (a few KB of file) cost 1.2 GB of
    memory on every read."""
    chunks = ds.chunks
    if chunks is None:
        return
    size = ds.dtype.itemsize
    chunk = limits.array_bytes(chunks, size)
    # the part of one chunk that can hold data: a chunk may reach past the dataset's extent
    held = limits.array_bytes([min(int(c), int(s)) for c, s in zip(chunks, ds.shape)], size)
    if chunk > limits.MAX_CHUNK_BYTES or (chunk > _CHUNK_SLACK and chunk > _CHUNK_WASTE * held):
        what = (f"more than the limit of {limits.MAX_CHUNK_BYTES >> 20} MiB"
                if chunk > limits.MAX_CHUNK_BYTES else
                f"for data of shape {tuple(ds.shape)} ({held} bytes per chunk)")
        raise FileFormatError(f"{path}: {ds.name}: stored in chunks of shape {tuple(chunks)} = "
                              f"{chunk} bytes each, {what}; every read would decompress a whole "
                              f"chunk; rewrite the file with smaller chunks (h5py: chunks=True)")


def _check_stored(ds: h5py.Dataset, path: Path) -> None:
    """Refuse a dataset that declares more data than its stored bytes could expand to, or is
    stored in oversized chunks (:func:`_check_chunks`)."""
    _check_chunks(ds, path)
    declared = limits.array_bytes(ds.shape, ds.dtype.itemsize)
    stored = ds.id.get_storage_size()
    if declared > _MAX_RATIO * stored + 4096:
        # deflate cannot compress more than ~1032:1, so the rest would be HDF5's fill value for
        # chunks never written: a few bytes that make a reader allocate gigabytes of zeros
        raise FileFormatError(f"{path}: {ds.name}: declares {declared} bytes of data but the file "
                              f"stores only {stored}; its data is missing (unwritten chunks)")


def _read(ds: h5py.Dataset, path: Path, sel: Any = ()) -> np.ndarray:
    """The data of a dataset checked by :func:`_declared`: all of it, or the part ``sel`` (an
    index such as ``np.s_[:, b0:b1, :]``: only the chunks it touches are read)."""
    _check_stored(ds, path)
    try:
        return ds[sel]
    except OSError as e:
        raise FileFormatError(f"{path}: {ds.name}: cannot read the data (truncated file?): {e}") from None


def _dataset(group: h5py.Group, name: str, kinds: tuple[str, ...], ndim: int, path: Path,
             optional: bool = False) -> np.ndarray | None:
    ds = _declared(group, name, kinds, ndim, path, optional)
    return None if ds is None else _read(ds, path)


def meta_json(meta: dict, key: str) -> Any:
    """A table or list kept in a spike file's metadata (``params``, ``differences``, ...), whether
    ``meta`` came from the encoder (the value itself) or from a file (JSON text, its nesting
    bounded before parsing); any other value as it is, ``None`` when absent.

    Raises:
        FileFormatError: JSON text that is nested too deep or does not parse.

    Example:
        >>> meta_json({"params": '{"levels": 4}', "coding": "rate"}, "params"), meta_json(
        ...     {"coding": "rate"}, "coding")
        ({'levels': 4}, 'rate')
    """
    v = meta.get(key)
    if not isinstance(v, str) or v[:1] not in ("{", "["):
        return v
    if not limits.json_depth_ok(v):
        raise FileFormatError(f"metadata {key}: JSON nested deeper than {limits.MAX_JSON_DEPTH} levels")
    try:
        return json.loads(v)
    except (ValueError, RecursionError):
        raise FileFormatError(f"metadata {key}: not valid JSON: {_name(v[:40])!r}") from None


def coding_hint(meta: dict, channels: int, inputs: int) -> str:
    """What to encode instead, for a spike file whose ``channels`` do not fit a network's
    ``inputs``: read from the file's metadata (``coding``, ``channels_per_value``, ``params``,
    written by ``spikelut encode``). Empty when the metadata does not say enough.

    Args:
        meta: the spike file's root attributes (``SpikeData.meta``).
        channels: the file's channel count.
        inputs: the network's input count.

    Returns:
        ``"; it was encoded with ... : use --param levels=N"`` or ``""``.

    Example:
        >>> coding_hint({"coding": "thermometer", "channels_per_value": 16, "params": "{}"}, 16, 4)
        '; the file is thermometer-coded at 16 channels per value, 1 value per cycle: encode it with --coding thermometer --param levels=4'
    """
    from .coding import resolve_params

    coding, per = meta.get("coding"), meta.get("channels_per_value")
    if not isinstance(coding, str) or not isinstance(per, int) or per < 1 or channels % per:
        return ""
    try:
        params = meta_json(meta, "params") or {}
        defaults = resolve_params(coding, {})
    except (ValueError, SpikelutError):
        return ""
    # difference channels are coded like the values: each lag adds the series' channels again
    enc = _encoding_of(encoding_record(meta))
    if enc is None:
        return ""
    lags = [f" --differences {','.join(map(str, enc['differences']))}"] if enc["differences"] else []
    lags += ([f" --second-differences {','.join(map(str, enc['second_differences']))}"]
             if enc["second_differences"] else [])
    per_series = 1 + len(enc["differences"]) + len(enc["second_differences"])
    values = channels // per  # values per cycle (the series' channels and their differences)
    if (not isinstance(params, dict) or params.get("thresholds") or "levels" not in defaults
            or inputs % values or values % per_series):
        return ""
    name = _name(coding)
    return (f"; the file is {name}-coded at {per} channels per value, {values} value"
            f"{'' if values == 1 else 's'} per cycle: encode it with --coding {name} "
            f"--param levels={inputs // values}{''.join(lags)}")


def encoding_record(meta: dict) -> dict:
    """How a spike file's data were encoded, from its metadata, in the shape a model records it
    (``net.meta["data"]``, written by ``spikelut run`` and ``train``): ``dataset``, ``coding``,
    ``params`` and ``differences`` (checked by :func:`spikelut.differences.read_record`: a file
    from before second differences gets ``second_lags = []``). A part that does not parse is
    left out.

    Example:
        >>> encoding_record({"coding": "thermometer", "params": '{"levels": 4}', "split": "test"})
        {'coding': 'thermometer', 'params': {'levels': 4}}
    """
    from .differences import read_record

    rec = {}
    for key in ("dataset", "coding", "params", "differences"):
        with contextlib.suppress(FileFormatError):
            v = meta_json(meta, key)
            if v is not None:
                rec[key] = read_record(v) if key == "differences" else v
    return rec


def record_encoding(net: Any, meta: dict) -> None:
    """Add to ``net.meta["data"]`` how its training data were encoded, from the training spike
    file's metadata (:func:`encoding_record`: dataset, coding, its parameters, the difference
    channels' lags and constants), so the model file says how to encode new data for it
    (``spikelut info``) and ``simulate``, ``eval``, ``analyze``, ``prune --data``, ``ensemble
    --data`` and ``rtl --verify`` refuse a file encoded otherwise or of another cycle count. ``spikelut run`` and ``spikelut train`` call it; a file without these attributes
    adds nothing.

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, 2, [2], k=1)
        >>> record_encoding(net, {"coding": "thermometer", "params": '{"levels": 2}'})
        >>> net.meta["data"]
        {'coding': 'thermometer', 'params': {'levels': 2}}
    """
    rec = encoding_record(meta)  # a part that does not parse is left out
    if rec:
        net.meta.setdefault("data", {}).update(rec)


def _encoding_of(rec: Any) -> dict | None:
    """The parts of an encoding record that decide a file's spikes: coding, its parameters (the
    ``None`` ones dropped), the first and second difference lags. ``None`` when ``rec`` is no
    table, names no coding, or holds a ``differences`` record that does not parse (a model file
    is as untrusted as a spike file)."""
    from .differences import read_record

    if not isinstance(rec, dict) or not isinstance(rec.get("coding"), str):
        return None
    params = rec.get("params") if isinstance(rec.get("params"), dict) else {}
    try:
        diffs = read_record(rec["differences"]) if "differences" in rec else {}
    except FileFormatError:
        return None
    return {"coding": rec["coding"],
            "params": {str(k): v for k, v in params.items() if v is not None},
            "differences": diffs.get("lags", []),
            "second_differences": diffs.get("second_lags", [])}


def encode_options(rec: Any) -> str:
    """The ``spikelut encode`` options that reproduce a model's recorded encoding
    (``net.meta["data"]``, written by ``run`` / ``train``); empty when it records none (or one that
    does not parse).

    Example:
        >>> encode_options({"dataset": "GunPoint", "coding": "thermometer", "steps": 150,
        ...                 "params": {"levels": 4, "thresholds": None, "sequence": True},
        ...                 "differences": {"lags": [], "second_lags": [4], "lo": [-0.1], "hi": [0.1]}})
        '--dataset GunPoint --coding thermometer --param levels=4 --param sequence=true --second-differences 4'
        >>> encode_options({"dataset": "my data/x.npz", "coding": "rate", "steps": 8})
        "--dataset 'my data/x.npz' --coding rate --steps 8"
    """
    enc = _encoding_of(rec)
    if enc is None:
        return ""
    # a command line to paste into a shell: each word from the file is quoted for the shell (a
    # dataset path with a space stays one word; '; rm ...' or '$(...)' in a model file runs
    # nothing), then escaped for the terminal
    out = ([f"--dataset {_name(shlex.quote(str(rec['dataset'])))}"]
           if isinstance(rec.get("dataset"), str) else [])
    out.append(f"--coding {_name(shlex.quote(enc['coding']))}")
    if (not enc["params"].get("sequence") and isinstance(rec.get("steps"), int)
            and not isinstance(rec.get("steps"), bool)):
        out.append(f"--steps {int(rec['steps'])}")
    for k, v in enc["params"].items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, list):
            v = ",".join(str(i) for i in v)
        out.append(f"--param {_name(shlex.quote(f'{k}={v}'))}")
    for flag, key in (("--differences", "differences"), ("--second-differences", "second_differences")):
        if enc[key]:
            out.append(f"{flag} {','.join(str(int(i)) for i in enc[key])}")
    return " ".join(out)


def encoding_mismatch(model_rec: Any, meta: dict, theirs: str = "the model was trained on") -> str:
    """How a spike file's encoding differs from the one a model was trained on: ``""`` when they
    agree or either side does not record it (a model trained on arrays, a file not written by
    ``spikelut encode``), else ``"the file has X, <theirs> Y"`` naming the first difference
    among the coding, its parameters and the difference lags.

    Args:
        model_rec: the model's ``meta["data"]`` (``spikelut run`` and ``spikelut train`` record
            it), or :func:`encoding_record` of another file.
        meta: the spike file's root attributes (``SpikeData.meta``).
        theirs: how the message names ``model_rec``'s side.

    Example:
        >>> model = {"coding": "thermometer", "params": {"levels": 4},
        ...          "differences": {"lags": [], "second_lags": [4], "lo": [-0.1], "hi": [0.1]}}
        >>> encoding_mismatch(model, {"coding": "thermometer", "params": '{"levels": 8}'})
        'the file has params {"levels": 8}, the model was trained on {"levels": 4}'
    """
    want, got = _encoding_of(model_rec), _encoding_of(encoding_record(meta))
    if want is None or got is None:
        return ""
    lags = ("differences", "second_differences")
    if all(got[k] != want[k] for k in lags):  # both kinds differ: name both, or it misleads
        a, b = (" and ".join(f"{k} {json.dumps(enc[k])}" for k in lags) for enc in (got, want))
        return f"the file has {_name(a)[:200]}, {theirs} {_name(b)[:200]}"
    for key in ("coding", "params", *lags):
        if got[key] != want[key]:
            a, b = (json.dumps(v, sort_keys=True) if not isinstance(v, str) else v
                    for v in (got[key], want[key]))
            return f"the file has {key} {_name(a)[:200]}, {theirs} {_name(b)[:200]}"
    return ""


_SWAPPED = {MODEL_FORMAT, SPIKES_FORMAT}
_FORMAT_WORDS = {MODEL_FORMAT: "a model file", SPIKES_FORMAT: "a spike (or result) file",
                 FEATURES_FORMAT: "a teacher-features file",
                 "spikelut-checkpoint": "a training checkpoint (spikelut train --checkpoint)",
                 "spikelut-dataset": "a dataset file"}


def _format_hint(want: str, got: Any) -> str:
    """What the file is instead, for :func:`_check_format`'s message (empty when unknown)."""
    words = _FORMAT_WORDS.get(got) if isinstance(got, str) else None
    if words is None:
        return ""
    if {want, got} == _SWAPPED:  # the io layer does not know the command: name both orders
        return (f": it is {words}; did you mix up the files? (simulate, eval and analyze take "
                f"MODEL, then SPIKES; raster, vcd and plot take RESULT, then --model MODEL)")
    if want == MODEL_FORMAT and got == "spikelut-checkpoint":
        return (f": it is {words}; give the model that spikelut train -o writes (the same "
                f"command with --resume finishes an interrupted run and writes it)")
    return f": it is {words}"


def _check_format(f: h5py.File, fmt: str, path: Path) -> None:
    got = _read_attr(f, "format", path) if "format" in f.attrs else None
    if got != fmt:
        raise FileFormatError(f"{path}: not a {fmt} file (root attribute format = "
                              f"{_name(repr(got)[:80])}){_format_hint(fmt, got)}")
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


def _read_meta(obj: h5py.HLObject, skip: set[str], path: Path) -> dict:
    """Free metadata: every attribute but ``skip``, each a string, a number or a list of numbers."""
    keys = list(obj.attrs.keys())
    if len(keys) > limits.MAX_ATTRS:
        raise FileFormatError(f"{path}: {obj.name}: {len(keys)} attributes, more than the limit of "
                              f"{limits.MAX_ATTRS}")
    meta = {}
    for key in keys:
        if key in skip:
            continue
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            raise FileFormatError(f"{path}: {obj.name}: attribute name {_name(key)!r} is not valid "
                                  f"UTF-8") from None
        meta[key] = _read_attr(obj, key, path)
    return meta


def _json_attr(obj: h5py.HLObject, name: str, path: Path) -> Any:
    """A JSON attribute (model ``meta``), nesting bounded before parsing."""
    text = _read_attr(obj, name, path)
    where = f"{path}: {_name(obj.name)}: attribute {name!r}"
    if not isinstance(text, str):
        raise FileFormatError(f"{where}: expected a JSON string")
    if not limits.json_depth_ok(text):
        raise FileFormatError(f"{where}: JSON nested deeper than {limits.MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError):
        raise FileFormatError(f"{where}: is not valid JSON") from None


# ---------------------------------------------------------------------------- models
def save_model(net: Network, path: str | os.PathLike) -> None:
    """Write ``net`` to an HDF5 model file (format v1), atomically.

    Replaces whatever file is at ``path``, as :func:`numpy.save` does. The commands first refuse
    an output that is one of their inputs or a file of another kind
    (:func:`spikelut.fileutil.check_output`); call that first for the same rules."""
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
    :func:`spike_writer`, so atomic. Replaces whatever file is at ``path``, as
    :func:`save_model` does (:func:`spikelut.fileutil.check_output` first for the commands'
    rules).
    """
    spikes = np.ascontiguousarray(spikes)
    if spikes.dtype != np.uint8:
        if not all_binary(spikes):
            raise FileFormatError(f"{path}: spikes must be 0 or 1")
        spikes = spikes.astype(np.uint8)
    lab = None if labels is None else np.asarray(labels).astype(np.int64)
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
    """Read and validate a spike (or result) file's input spikes, labels and metadata."""
    path = Path(path)
    with _open(path) as f, _reading(path):
        _check_format(f, SPIKES_FORMAT, path)
        ds, lab = _spikes_declared(f, path)
        meta = _read_meta(f, {"format", "version"}, path)
        spikes = _read(ds, path)
        labels = None if lab is None else _read(lab, path)
    _check_spikes_array(spikes, labels, str(path))
    return SpikeData(spikes, labels, meta)


def _result_declared(f: h5py.File, path: Path, shape: tuple[int, int, int], net: Network | None,
                     whole: bool = True) -> tuple[list[h5py.Dataset], h5py.Dataset, h5py.Dataset]:
    """A result file's ``/layers/L<i>/spikes``, ``/readout/counts`` and ``/readout/pred``, checked
    as :func:`_declared` does, against ``shape`` (``(T, B, n_in)`` of ``/spikes``), the limits and
    ``net`` (its layer sizes and input count) before any of their data is read. ``whole``: the
    layers will be read at once, so each and all together must fit the array limit."""
    T, B, n_in = shape
    if not all(isinstance(f.get(g), h5py.Group) for g in ("layers", "readout")):
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
    (:func:`load_result_sample` reads one sample of any size of file)."""
    from .engine.result import SimResult

    path = Path(path)
    data = load_spikes(path)
    with _open(path) as f, _reading(path):
        decl, counts_ds, pred_ds = _result_declared(f, path, data.spikes.shape, net)
        layer_spikes = [_read(ds, path) for ds in decl]
        counts = _read(counts_ds, path)
        pred = _read(pred_ds, path)
    _check_result_values(path, layer_spikes, counts, pred)
    return data, SimResult(layer_spikes, counts, pred)


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
            with _reading(self.path):
                _check_format(self._f, SPIKES_FORMAT, self.path)
                # read in ranges of samples: no whole-array limit, but the same checks of links,
                # storage and declared sizes, and no more data than the file really stores
                self.dataset, lab = _spikes_declared(self._f, self.path, whole=False)
                _check_stored(self.dataset, self.path)
                self.labels = None if lab is None else _read(lab, self.path)
                self.meta = _read_meta(self._f, {"format", "version"}, self.path)
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


class ResultReader(_OpenFile):
    """A result file open for reading in ranges of samples (made by :func:`open_result`).

    Opening checks what :func:`load_result` checks before it reads data: the format and version,
    links and storage of every dataset, dtypes, ranks, every layer ``[T, B, n_i]`` with ``T`` and
    ``B`` of ``/spikes``, the readout's ``B`` and class count, and with ``net`` its layer sizes
    and input count. :meth:`read` reads one sample range of every dataset (its size bounded by
    the array limit first) and checks its values as :func:`load_result` does, so memory is set
    by the range, not the file.

    Attributes:
        path: the file.
        shape: ``(T, B, n_in)`` of ``/spikes``.
        sizes: the nodes of each layer.
        meta: the root attributes other than format and version.
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
        from .engine.result import SimResult, check_drawable

        # the checks look at shapes only: the datasets stand in for their data
        return check_drawable(SimResult(self._layers, self._counts, self._pred), str(self.path))

    def read(self, b0: int, b1: int):
        """Samples ``b0 .. b1 - 1`` as ``(SpikeData, SimResult)`` with ``B = b1 - b0``: input spikes
        uint8 ``[T, B, n_in]``, labels int64 ``[B]`` or ``None``, layer spikes uint8
        ``[T, B, n_i]``, counts int32 ``[B, classes]``, pred int32 ``[B]``.

        Raises:
            ConfigError: a range that is empty or not inside ``0 .. B``.
            FileFormatError: the range is over the array limit, the data cannot be read, or its
                values are not those of a result (spikes 0 or 1, counts >= 0, labels >= 0,
                predictions that are classes).
        """
        from .engine.result import SimResult

        T, B, n_in = self.shape
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

    Raises:
        FileFormatError: a missing, unreadable or malformed file, or one that does not fit ``net``.

    Example:
        >>> import tempfile, pathlib
        >>> from spikelut.engine.result import SimResult
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

    Example:
        >>> check_sample(4, 3)
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: sample 4 does not exist; the result has samples 0 .. 2
    """
    if isinstance(sample, bool) or int(sample) != sample or not 0 <= sample < samples:
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


def save_features(path: str | os.PathLike, features: Any, meta: dict | None = None) -> None:
    """Write a teacher-features file (format v1): ``/features`` float32 ``[B, F]``, one row per
    sample of the spike file it is aligned with (``spikelut train --teacher-features``), atomically.

    Raises:
        FileFormatError: not a finite 2-D array with at least one row and column.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "f.h5"
        >>> save_features(p, [[0.5, 1.0], [2.0, -1.0]], meta={"teacher": "cnn"})
        >>> load_features(p).tolist()
        [[0.5, 1.0], [2.0, -1.0]]
    """
    a = np.asarray(features, dtype=np.float32)
    _check_features(a, str(path))
    with atomic_h5(path) as f:
        _meta_attrs(f, dict(meta or {}))
        f.attrs["format"] = FEATURES_FORMAT
        f.attrs["version"] = VERSION
        f.create_dataset("features", data=a, **_GZ)


def load_features(path: str | os.PathLike, samples: int | None = None) -> np.ndarray:
    """Read and validate a teacher-features file's ``/features`` (float32 ``[B, F]``).

    Args:
        path: the file (untrusted: format, shape, dtype and size are checked before reading).
        samples: if given, the number of rows the features must have (the aligned spike file's B).

    Returns:
        float32 ``[B, F]``, every value finite.

    Raises:
        FileFormatError: a missing, malformed or misaligned file, naming the file and field.
    """
    path = Path(path)
    with _open(path) as f, _reading(path):
        _check_format(f, FEATURES_FORMAT, path)
        ds = _declared(f, "features", ("float32",), 2, path)
        B, n = ds.shape
        limits.check_count(B, limits.MAX_SAMPLES, "number of samples B", f"{path}: /features")
        limits.check_count(n, limits.MAX_INPUTS, "number of features F", f"{path}: /features")
        if samples is not None and B != samples:
            raise FileFormatError(f"{path}: /features: {B} rows for {samples} training samples "
                                  f"(one row per sample of the spike file, in its order)")
        a = _read(ds, path)
    _check_features(a, str(path))
    return a


def _check_features(a: np.ndarray, where: str) -> None:
    if a.ndim != 2 or 0 in a.shape:
        raise FileFormatError(f"{where}: /features: shape {a.shape}, expected [B, F] with B, F >= 1")
    if not np.isfinite(a).all():
        raise FileFormatError(f"{where}: /features: {int((~np.isfinite(a)).sum())} values are not "
                              f"finite (NaN or infinity); write finite features")
