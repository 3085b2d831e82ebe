"""Reading HDF5 files as untrusted input: links, storage, filters, declared sizes and attributes
checked before anything is read; the format check and the metadata shared by every file kind."""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from .. import limits
from ..errors import FileFormatError, SpikelutError
from ..escape import terminal


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
        what = _not_hdf5(p) or f"not a readable HDF5 file (truncated or corrupt?): {e}"
        raise FileFormatError(f"{p}: {what}") from None
    try:
        _check_links(f, p)
    except FileFormatError:
        f.close()
        raise
    except _READ_ERRORS as e:
        f.close()
        raise FileFormatError(f"{p}: unreadable HDF5 structure: {e}") from None
    return f


def _not_hdf5(p: Path) -> str:
    """What a file that h5py cannot open is instead, when its first bytes say so (a config given
    for a model, a PNG for a result), with what to do; ``""`` for an HDF5 file that is damaged
    or anything unrecognised."""
    from ..fileutil.kinds import file_kind, kind_words

    try:
        kind = file_kind(p)
    except OSError:
        return ""
    if kind == "config":
        return ("is a TOML config, not an HDF5 file; build a model from it with: spikelut init "
                "CONFIG.toml -o MODEL.h5 (or train it: spikelut train)")
    if kind == "zip":  # what numpy.savez writes: a dataset, not spikes
        return (f"is {kind_words(kind)}, not an HDF5 file; a dataset file is encoded into "
                f"spikes with: spikelut encode --dataset FILE ...")
    if kind in ("hdf5_unreadable", "hdf5", "binary", "empty"):
        return "" if kind != "empty" else "is empty, not an HDF5 file"
    return (f"is {kind_words(kind)}, not an HDF5 file (spikelut's models, spike, result and "
            f"feature files are HDF5)")


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

    Args:
        meta: a spike file's root attributes (``SpikeData.meta``) or the encoder's metadata.
        key: the attribute's name.

    Returns:
        The parsed JSON value for text that starts with ``{`` or ``[``; else ``meta[key]`` as
        it is (a number, other text, a parsed table), or ``None``.

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
                f"MODEL, then SPIKES; raster, vcd and plot take RESULT, then --model MODEL; rtl "
                f"takes MODEL, then --verify SPIKES)")
    if want == MODEL_FORMAT and got == "spikelut-checkpoint":
        return (f": it is {words}; give the model that spikelut train -o writes (the same "
                f"command with --resume finishes an interrupted run and writes it)")
    return f": it is {words}"


def _check_format(f: h5py.File, fmt: str, path: Path) -> None:
    got = _read_attr(f, "format", path) if "format" in f.attrs else None
    if got is None:  # said "(root attribute format = None)"
        raise FileFormatError(f"{path}: an HDF5 file of another program, not a {fmt} file (it has "
                              f"no root attribute 'format'); spikelut reads the models, spike, "
                              f"result and feature files it writes")
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
