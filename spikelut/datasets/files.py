"""Datasets in user files: MNIST-style IDX, ``.npz`` arrays or event streams, spike files; all
untrusted input, every size checked before it is read."""


from __future__ import annotations

import copy
import gzip
import math
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .. import coding as _coding
from .. import limits
from ..errors import ConfigError, FileFormatError
from ..escape import terminal
from ..io import SpikeData
from ..network import all_binary

from .base import Dataset, KINDS, SPLITS

# ---------------------------------------------------------------------------- user files
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


#: bytes read at a time from an IDX file
_PIECE = 1 << 20


def _read_bounded(path: Path) -> bytearray:
    """The bytes of ``path``, gunzipped when it starts with the gzip magic, never more than
    :func:`spikelut.limits.max_array_bytes` (a 2 MB gzip bomb cannot expand to 10 GB)."""
    limit = limits.max_array_bytes()
    limits.check_regular_file(path, "an IDX file")
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
        stream = gzip.GzipFile(fileobj=fh) if gz else fh
        # in pieces until one byte over the limit: read(limit + 1) allocated the whole limit
        # (4 GiB) first, so a 1 KB file failed as 'not enough memory' under a memory cap
        raw = bytearray()
        while len(raw) <= limit:
            piece = stream.read(min(_PIECE, limit + 1 - len(raw)))
            if not piece:
                break
            raw += piece
    if len(raw) > limit:
        what = "decompressed IDX data" if gz else "IDX file"
        raise FileFormatError(f"{path}: {what} is larger than the limit of {limit} bytes (set "
                              f"SPIKELUT_MAX_ARRAY_BYTES to read larger files)")
    return raw


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an MNIST-style IDX file (optionally gzip-compressed) into a native-endian array.

    The decompressed size is bounded by :func:`spikelut.limits.max_array_bytes`.

    The format: two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions, each dimension as a big-endian
    uint32, then the data, big-endian, C order; gzip when the file starts with ``1f 8b``.

    Args:
        path: the file (``*-idx3-ubyte``, ``*-idx1-ubyte``, optionally ``.gz``; untrusted).

    Returns:
        The array of the header's shape and type, native byte order (uint8 ``[N, 28, 28]``
        for MNIST images, uint8 ``[N]`` for its labels).

    Raises:
        FileFormatError: not a regular file, unreadable, corrupt, or over the size limit.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x-idx2-ubyte"
        >>> _ = p.write_bytes(bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6)))
        >>> read_idx(p).tolist()
        [[0, 1, 2], [3, 4, 5]]
        >>> _ = p.write_bytes(b"PK")
        >>> try:
        ...     read_idx(p)
        ... except FileFormatError as e:
        ...     print(e.args[0].split(": ", 1)[1])
        not an IDX file (bad magic number)
    """
    path = Path(path)
    try:
        raw = _read_bounded(path)
    except (OSError, EOFError, zlib.error) as e:
        raise FileFormatError(f"{path}: cannot read IDX file: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] < 1:
        raise FileFormatError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise FileFormatError(f"{path}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw[4:head], ">u4"))
    dt = np.dtype(_IDX_DTYPES[raw[2]])
    need = limits.array_bytes(dims, dt.itemsize)  # Python integers: no overflow
    if len(raw) - head != need:
        raise FileFormatError(f"{path}: IDX data has {len(raw) - head} bytes, the header {dims} "
                              f"says {need} (truncated or corrupt file)")
    # no copy of the data for bytes (raw[head:] and astype copied it twice: 3 x the limit)
    return np.frombuffer(raw, dt, offset=head).reshape(dims).astype(dt.newbyteorder("="),
                                                                    copy=False)


def _scale_values(x: np.ndarray, path: Path, field_name: str) -> tuple[np.ndarray, str]:
    if x.dtype.kind not in "biuf":
        raise FileFormatError(f"{path}: {field_name}: dtype {x.dtype} is not numeric")
    # keep the file's precision: a float32 cast moves values that sit on a coding threshold
    # (0.35 becomes 0.3499999940...), so float32/float64 stay as stored, integers become float64
    to = np.dtype(np.float32 if x.dtype == np.uint8 else
                  x.dtype if x.dtype in (np.float32, np.float64) else np.float64)
    # the values as floats are a new array up to 8 times the stored one (int8 -> float64): bounded
    # like the stored one, before it exists (a 65 KB .npz of int8 zeros took 820 MB under a
    # 64 MiB limit)
    limits.check_array_bytes(x.shape, to.itemsize, f"{path}: {field_name} as {to.name} values")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255), "uint8 / 255"
    x = x.astype(to)
    if x.size and not np.isfinite(x).all():
        raise FileFormatError(f"{path}: {field_name}: contains NaN or infinity")
    return x, "as stored"


def _labels(y: Any, n: int, path: Path, field_name: str, classes: int | None) -> tuple[np.ndarray, int]:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise FileFormatError(f"{path}: {field_name}: shape {y.shape}, expected ({n},) "
                              f"(one label per sample)")
    if n == 0:  # nothing to encode, train or evaluate on; later steps would fail less clearly
        raise FileFormatError(f"{path}: no samples ({field_name} is empty); give a dataset with "
                              f"at least one sample")
    integral = y.dtype.kind in "iub" or (y.dtype.kind == "f" and bool(np.all(np.mod(y, 1) == 0)))
    if y.size and (not integral or y.min() < 0):
        raise FileFormatError(f"{path}: {field_name}: labels must be integers >= 0")
    if y.size and y.max() >= limits.MAX_CLASSES:  # before the cast: 1e300 would wrap around
        raise FileFormatError(f"{path}: {field_name}: label {y.max()} is more than the limit of "
                              f"{limits.MAX_CLASSES - 1} (at most {limits.MAX_CLASSES} classes)")
    y = y.astype(np.int64)
    top = int(y.max()) + 1 if y.size else 1
    if classes is None:
        classes = top
    elif not 1 <= classes <= limits.MAX_CLASSES:
        raise FileFormatError(f"{path}: classes: {classes} is outside 1..{limits.MAX_CLASSES}")
    elif top > classes:
        raise FileFormatError(f"{path}: {field_name}: label {top - 1} >= classes = {classes}")
    return y, int(classes)


def _idx_pair(path: Path, split: str) -> tuple[Path, Path]:
    if path.is_dir():
        prefix = "train" if split == "train" else "t10k"
        for suffix in ("", ".gz"):
            for sep in ("-", "."):
                img = path / f"{prefix}-images{sep}idx3-ubyte{suffix}"
                lab = path / f"{prefix}-labels{sep}idx1-ubyte{suffix}"
                if img.exists() and lab.exists():
                    return img, lab
        raise ConfigError(f"{path}: folder without MNIST-style IDX files for split {split!r} "
                          f"(expected {prefix}-images-idx3-ubyte[.gz] and {prefix}-labels-idx1-ubyte[.gz])")
    name = path.name
    for a, b in (("images-idx3", "labels-idx1"), ("images.idx3", "labels.idx1")):
        if a in name:
            lab = path.with_name(name.replace(a, b))
            if not lab.exists():
                raise FileFormatError(f"{path}: labels file {lab.name} not found beside it")
            return path, lab
    raise ConfigError(f"{path}: cannot tell where its labels are; name IDX files like MNIST "
                      f"(*-images-idx3-ubyte with *-labels-idx1-ubyte beside it)")


def _load_idx(path: Path, split: str) -> Dataset:
    img, lab = _idx_pair(path, split)
    x = read_idx(img)
    if x.ndim < 2:
        raise FileFormatError(f"{img}: IDX images must be [N, ...], got shape {x.shape}")
    y, classes = _labels(read_idx(lab), x.shape[0], lab, "labels", None)
    xs, how = _scale_values(x.reshape(x.shape[0], -1), img, "images")
    return Dataset(str(path), xs, y, classes, "image", tuple(x.shape[1:]), split,
                   {"source": f"{img} + {lab}", "scale": how})


def _npz_scalar(z, key: str, path: Path, kind: type):
    v = z[key]
    if v.shape != ():
        raise FileFormatError(f"{path}: {key}: expected a scalar, got shape {v.shape}")
    item = v.item()
    # an int is a whole number, never a bool: int(inf) was an OverflowError traceback, and
    # int(3.7) a silent 3
    if kind is int and (isinstance(item, bool) or not isinstance(item, (int, float))
                        or (isinstance(item, float) and not (math.isfinite(item)
                                                             and item.is_integer()))):
        raise FileFormatError(f"{path}: {key}: expected a whole number, got "
                              f"{terminal(repr(item))[:60]}")
    try:
        return kind(item)
    except (TypeError, ValueError, OverflowError):
        raise FileFormatError(f"{path}: {key}: expected a {kind.__name__}, got "
                              f"{terminal(repr(item))[:60]}") from None


def _load_events(z: dict, path: Path, split: str, lazy: bool = False) -> Dataset:
    for k in ("t", "channel", "sample", "label"):
        if k not in z:
            raise FileFormatError(f"{path}: event file needs arrays t, channel, sample, label; "
                                  f"missing {k!r}")
    t, ch, smp = (np.asarray(z[k]) for k in ("t", "channel", "sample"))
    if not (t.ndim == ch.ndim == smp.ndim == 1 and t.shape == ch.shape == smp.shape):
        raise FileFormatError(f"{path}: t, channel and sample must be 1-D of one length, got "
                              f"{t.shape}, {ch.shape}, {smp.shape}")
    if not t.size:  # no events: an empty array of any numeric dtype will do
        ch, smp = ch.astype(np.int64), smp.astype(np.int64)
    for k, a in (("channel", ch), ("sample", smp)):
        if a.dtype.kind not in "iu" or (a.size and a.min() < 0):
            raise FileFormatError(f"{path}: {k}: must be integers >= 0")
    if t.dtype.kind not in "iuf" or (t.size and (not np.isfinite(t).all() or t.min() < 0)):
        raise FileFormatError(f"{path}: t: event times must be finite numbers >= 0")
    # binning and sorting make int64/float64 arrays of one entry per event, up to 8 times the
    # stored uint8 arrays: each bounded like a stored array before it exists (16 M uint8 events,
    # 48 MiB, took 870 MB under a 64 MiB limit)
    limits.check_array_bytes((t.size,), 8, f"{path}: the {t.size} events as int64 / float64")
    n = int(np.asarray(z["label"]).shape[0]) if np.asarray(z["label"]).ndim == 1 else -1
    y, classes = _labels(z["label"], n, path, "label",
                         _npz_scalar(z, "classes", path, int) if "classes" in z else None)
    if smp.size and smp.max() >= n:
        raise FileFormatError(f"{path}: sample: index {int(smp.max())} but only {n} labels")
    dt = _npz_scalar(z, "dt", path, float) if "dt" in z else 1.0
    if not dt > 0:
        raise FileFormatError(f"{path}: dt: must be > 0, got {dt}")
    if not np.isfinite(dt):
        raise FileFormatError(f"{path}: dt: must be finite, got {dt}")
    # the last cycle, in float64 before any integer conversion (a huge t / dt cannot wrap around)
    last = float(np.floor(t.max() / dt)) if t.size else 0.0
    if last > limits.MAX_CYCLES - 1:
        # a whole number while it is short ('3000000000'), else '1e+300', not 301 digits
        shown = f"{last:.0f}" if last < 1e15 else f"{last:.3g}"
        raise FileFormatError(f"{path}: t: events reach cycle {shown}, more than the limit of "
                              f"{limits.MAX_CYCLES} cycles; raise dt")
    cycle = bin_events(t, dt)
    C = _npz_scalar(z, "channels", path, int) if "channels" in z else (int(ch.max()) + 1 if ch.size else 1)
    limits.check_count(C, limits.MAX_INPUTS, "channels", f"{path}: channels")
    if ch.size and ch.max() >= C:
        raise FileFormatError(f"{path}: channel: index {int(ch.max())} but channels = {C}")
    T = _npz_scalar(z, "steps", path, int) if "steps" in z else (int(cycle.max()) + 1 if cycle.size else 1)
    limits.check_count(T, limits.MAX_CYCLES, "steps", f"{path}: steps")
    if cycle.size and cycle.max() >= T:
        raise FileFormatError(f"{path}: events reach cycle {int(cycle.max())} but steps = {T}; "
                              f"raise steps or dt")
    limits.check_count(n, limits.MAX_SAMPLES, "number of samples", f"{path}: label")
    # the raster is made a range of samples at a time (lazy) or whole: either way one sample,
    # steps x channels bytes, must fit (steps = channels = 2**24 declared 256 TiB per sample)
    limits.check_array_bytes((T, 1, C), 1, f"{path}: one sample's spike raster [steps, 1, "
                                           f"channels]")
    x = EventRaster(cycle, smp, ch, (T, n, C), str(path))
    if not lazy:  # the whole raster: bounded before it is allocated
        limits.check_array_bytes((T, n, C), 1, f"{path}: the spike raster [steps, samples, channels]")
        x = x[:, 0:n]
    return Dataset(str(path), x, y, classes, "spikes", (T, C), "all",
                   {"source": str(path), "binning": f"cycle = floor(t / {dt!r}), t / dt within "
                                                    f"{EDGE_TOLERANCE:g} (relative) of an integer "
                                                    f"counting as that integer",
                    "events": int(t.size)})


EDGE_TOLERANCE = 1e-9
"""Relative distance of ``t / dt`` from an integer ``c`` within which an event is on the edge of
cycle ``c`` (decimal times are not exact in binary: ``0.3 / 0.1 = 2.9999999999999996``)."""


def bin_events(t: Any, dt: float) -> np.ndarray:
    """The cycle of each event time: ``floor(t / dt)``, where ``t / dt`` within
    :data:`EDGE_TOLERANCE` (relative) of an integer counts as that integer, so events written as
    decimals land on the bin edge they name.

    Args:
        t: event times ``[E]`` (any real dtype, >= 0), in the unit of ``dt``.
        dt: time per cycle (> 0).

    Returns:
        int64 cycles ``[E]``.

    Raises:
        ConfigError: ``dt`` not a finite number > 0, or times that are not finite or are < 0
            (the event-stream loader refuses those first, naming the file).

    Example:
        >>> bin_events([0.1, 0.2, 0.3, 0.6, 0.7], 0.1).tolist()
        [1, 2, 3, 6, 7]
        >>> bin_events([0.29, 0.35], 0.1).tolist()
        [2, 3]
    """
    try:
        dt = float(dt)
    except (TypeError, ValueError):
        dt = math.nan  # refused below, in the same words
    t = np.asarray(t, np.float64)
    # a zero, negative or NaN dt or time cast inf / NaN / negative quotients to int64 garbage
    if not (math.isfinite(dt) and dt > 0):
        raise ConfigError(f"bin_events: dt must be a finite number > 0, got {dt!r}")
    if t.size and not (np.isfinite(t).all() and t.min() >= 0):
        raise ConfigError("bin_events: event times must be finite numbers >= 0")
    q = t / dt
    edge = np.round(q)
    on_edge = np.abs(q - edge) <= EDGE_TOLERANCE * np.maximum(1.0, np.abs(edge))
    return np.where(on_edge, edge, np.floor(q)).astype(np.int64)


_NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


def _check_npz_sizes(path: Path) -> None:
    """Refuse a ``.npz`` whose members would decompress (or declare arrays) over the array limit,
    before numpy allocates them: the zip directory and each ``.npy`` header are read first."""
    limit = limits.max_array_bytes()
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > limits.MAX_ATTRS:
            raise FileFormatError(f"{path}: {len(infos)} members, more than the limit of "
                                  f"{limits.MAX_ATTRS}")
        total = 0
        for info in infos:
            total += info.file_size
            if total > limit:
                raise FileFormatError(f"{path}: members decompress to more than the limit of "
                                      f"{limit} bytes (set SPIKELUT_MAX_ARRAY_BYTES to read larger "
                                      f"files)")
            with zf.open(info) as member:
                shape, dtype = _npy_header(member, path, info.filename)
            if dtype.hasobject:
                raise FileFormatError(f"{path}: holds an object array (pickled Python objects), "
                                      f"which spikelut does not load (pickles can run code); "
                                      f"save numeric arrays (member {info.filename})")
            limits.check_array_bytes(shape, dtype.itemsize, f"{path}: {info.filename}")


def _npy_header(member: Any, path: Path, name: str) -> tuple[tuple, np.dtype]:
    """Shape and dtype from the header of one ``.npy`` member of an ``.npz``, read alone.

    numpy refuses a header over its ``max_header_size`` with words that name ``allow_pickle``:
    matched as numpy's object-array message, such a member was called "an object array"; it is
    reported as what it is here, and any other bad header in one bounded line."""
    try:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(member)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    except ValueError as e:
        text = str(e)
        if "max_header_size" in text:
            raise FileFormatError(f"{path}: {name}: its .npy header is longer than numpy's safety "
                                  f"limit of {_NPY_MAX_HEADER} bytes (a numeric array's header "
                                  f"takes about 100); save the arrays again with numpy.savez"
                                  ) from None
        raise FileFormatError(f"{path}: {name}: not a valid .npy array header "
                              f"({terminal(text.splitlines()[0] if text else '')[:100]})") from None
    return shape, dtype


#: numpy's default ``max_header_size`` for ``.npy`` headers (numpy.lib.format)
_NPY_MAX_HEADER = 10000


def _load_npz(path: Path, split: str, lazy: bool = False) -> Dataset:
    limits.check_regular_file(path, "a .npz file")
    try:
        _check_npz_sizes(path)
        with np.load(path, allow_pickle=False) as f:
            z = {k: f[k] for k in f.files}  # read every member now: corruption shows up here
    except FileFormatError:
        raise  # a ValueError too: said already, not re-worded as "not readable" below
    except _NPZ_ERRORS as e:
        # numpy's words for an object array (those are refused from their header first, above)
        if isinstance(e, ValueError) and "Object arrays cannot be loaded" in str(e):
            raise FileFormatError(f"{path}: holds an object array (pickled Python objects), which "
                                  f"spikelut does not load (pickles can run code); save numeric "
                                  f"arrays") from None
        raise FileFormatError(f"{path}: not a readable .npz file (truncated or corrupt?): {e}") from None
    keys = set(z)
    if "t" in keys and "channel" in keys:
        return _load_events(z, path, split, lazy)
    split_keys = sorted(k for k in keys if k.split("_", 1)[0] in ("x", "y")
                        and k.split("_", 1)[-1] in SPLITS)
    if {"x", "y"} <= keys and split_keys:
        # x, y won and --split test silently encoded them (the training data, say) as the
        # test split: the file must say which arrays a split is
        raise FileFormatError(f"{path}: holds both x, y (the whole file, whatever the split) and "
                              f"{', '.join(split_keys)}; keep one layout: x and y, or x_train, "
                              f"y_train, x_test and y_test")
    if {"x", "y"} <= keys:
        xk, yk, sp = "x", "y", "all"
    elif {f"x_{split}", f"y_{split}"} <= keys:
        xk, yk, sp = f"x_{split}", f"y_{split}", split
    else:
        raise FileFormatError(f"{path}: expected arrays x and y (or x_{split} and y_{split}, or "
                              f"an event stream t, channel, sample, label); found "
                              f"{sorted(keys)}")
    kind = _npz_scalar(z, "kind", path, str) if "kind" in keys else "image"
    if kind not in KINDS:
        raise FileFormatError(f"{path}: kind: {kind!r}, expected one of {', '.join(KINDS)}")
    classes = _npz_scalar(z, "classes", path, int) if "classes" in keys else None
    x, yraw = z[xk], z[yk]
    if kind == "spikes":
        if x.ndim != 3:
            raise FileFormatError(f"{path}: {xk}: spikes must be [T, N, channels], got shape {x.shape}")
        # the limits of a spike file's [T, B, n] (33 M cycles were refused only as '--steps
        # 33554432 is more than the limit; give fewer steps', which cannot help)
        for size, limit, what in ((x.shape[0], limits.MAX_CYCLES, "number of cycles T"),
                                  (x.shape[1], limits.MAX_SAMPLES, "number of samples"),
                                  (x.shape[2], limits.MAX_INPUTS, "number of channels")):
            limits.check_count(size, limit, what, f"{path}: {xk}")
        if not all_binary(x):
            raise FileFormatError(f"{path}: {xk}: spikes must be 0 or 1")
        y, classes = _labels(yraw, x.shape[1], path, yk, classes)
        return Dataset(str(path), x.astype(np.uint8), y, classes, kind, (x.shape[0], x.shape[2]), sp,
                       {"source": str(path)})
    if kind == "sequence" and x.ndim not in (2, 3):
        raise FileFormatError(f"{path}: {xk}: a sequence dataset is [N, L] or [N, L, F], got shape {x.shape}")
    if x.ndim < 2:
        raise FileFormatError(f"{path}: {xk}: must be [N, features...], got shape {x.shape}")
    y, classes = _labels(yraw, x.shape[0], path, yk, classes)
    shape = tuple(x.shape[1:])
    xs, how = _scale_values(x if kind == "sequence" else x.reshape(x.shape[0], -1), path, xk)
    return Dataset(str(path), xs, y, classes, kind, shape, sp, {"source": str(path), "scale": how})


class SampleRanges:
    """Spikes ``[T, N, C]`` that stay where they are and are made one range of samples at a time:
    ``x[:, b0:b1]`` returns uint8 ``[T, b1 - b0, C]`` and ``x.head(n)`` keeps the first ``n``
    samples. Subclasses implement :meth:`_read`. What :func:`plan_encoding` keeps for a spike
    file (:class:`FileSpikes`) or an event stream (:class:`EventRaster`), so ``spikelut encode``
    streams them like a value dataset.

    Attributes:
        shape: ``(T, N, C)``: cycles, samples, channels.
        ndim: 3.
        dtype: uint8.

    Raises:
        TypeError: an index other than ``x[:, b0:b1]`` (step 1).

    Example:
        >>> x = EventRaster(np.array([0, 1]), np.array([0, 2]), np.array([1, 0]), (2, 3, 2))
        >>> x.head(2).shape, x[:, 2:3].shape, x[:, 2:3].dtype.name
        ((2, 2, 2), (2, 1, 2), 'uint8')
    """

    ndim = 3
    dtype = np.dtype(np.uint8)
    shape: tuple[int, int, int]

    def __getitem__(self, key: Any) -> np.ndarray:
        if not (isinstance(key, tuple) and len(key) == 2 and key[0] == slice(None)
                and isinstance(key[1], slice) and key[1].step in (None, 1)):
            raise TypeError(f"{type(self).__name__} supports x[:, b0:b1] only")
        b0, b1, _ = key[1].indices(self.shape[1])
        return self._read(b0, max(b0, b1))

    def _read(self, b0: int, b1: int) -> np.ndarray:
        raise NotImplementedError

    def head(self, n: int) -> "SampleRanges":
        """The first ``n`` samples, still not made."""
        other = copy.copy(self)
        other.shape = (self.shape[0], min(int(n), self.shape[1]), self.shape[2])
        return other


class FileSpikes(SampleRanges):
    """Spikes ``[T, N, C]`` of an open spike file, read one range of samples at a time
    (uint8, checked to be 0/1).

    Attributes:
        reader: the :class:`~spikelut.io.SpikeReader` it reads from (close it when done).
        shape: ``(T, N, C)`` of the file's ``/spikes``.

    Raises:
        FileFormatError: from a read: data that cannot be read or are not 0/1, or a range past
            the array limit (:meth:`spikelut.io.SpikeReader.read`).

    Example:
        >>> import tempfile, pathlib
        >>> from spikelut.io import open_spikes, save_spikes
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.h5"
        >>> save_spikes(p, np.eye(3, dtype=np.uint8)[None], labels=[0, 1, 2])
        >>> x = FileSpikes(open_spikes(p)).head(2)
        >>> x.shape, x[:, 1:2].tolist()
        ((1, 2, 3), [[[0, 1, 0]]])
    """

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.shape = tuple(int(v) for v in reader.shape)

    def _read(self, b0: int, b1: int) -> np.ndarray:
        return self.reader.read(b0, b1)


class EventRaster(SampleRanges):
    """The spike raster ``[T, N, C]`` of an event stream, built one range of samples at a time;
    the events stay sorted by sample, so memory is the events plus one chunk of the raster.
    Several events of one channel in one cycle make one spike.

    Args:
        cycle: int cycle of each event ``[E]`` (:func:`bin_events`), each ``< T``.
        sample: int sample of each event ``[E]``, each ``< N``.
        channel: int channel of each event ``[E]``, each ``< C``.
        shape: ``(T, N, C)`` of the raster.
        where: names the source in messages.

    Attributes:
        shape: ``(T, N, C)``.
        where: the source's name, for messages.

    Raises:
        FileFormatError: from a read, a range whose raster ``[T, b1 - b0, C]`` is past the
            array limit.

    Example:
        >>> r = EventRaster(np.array([0, 2, 1]), np.array([1, 0, 1]), np.array([0, 1, 1]), (3, 2, 2))
        >>> r[:, 1:2][:, 0].tolist()
        [[1, 0], [0, 1], [0, 0]]
    """

    def __init__(self, cycle: np.ndarray, sample: np.ndarray, channel: np.ndarray,
                 shape: tuple[int, int, int], where: str = "events") -> None:
        order = np.argsort(sample, kind="stable")
        self._c, self._s, self._ch = cycle[order], sample[order], channel[order]
        self.shape = tuple(int(v) for v in shape)
        self.where = where

    def _read(self, b0: int, b1: int) -> np.ndarray:
        lo, hi = np.searchsorted(self._s, [b0, b1])
        shape = (self.shape[0], b1 - b0, self.shape[2])
        # a range of samples is allocated whole: bounded first, like the whole raster
        limits.check_array_bytes(shape, 1, f"{self.where}: the spike raster of samples {b0}.."
                                            f"{b1 - 1} [steps, samples, channels]")
        x = np.zeros(shape, np.uint8)
        x[self._c[lo:hi], self._s[lo:hi] - b0, self._ch[lo:hi]] = 1
        return x


def _load_spike_file(path: Path, split: str, lazy: bool = False) -> Dataset:
    from ..io import load_spikes, open_spikes

    if lazy:  # the spikes stay in the file: read a range of samples at a time (FileSpikes)
        reader = open_spikes(path)
        d = SpikeData(FileSpikes(reader), reader.labels, reader.meta)
    else:
        d = load_spikes(path)
    if d.labels is None:
        raise FileFormatError(f"{path}: /labels: missing; a dataset needs one label per sample")
    top = int(d.labels.max()) + 1 if d.labels.size else 1
    classes = d.meta.get("classes", top)
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < top:
        raise FileFormatError(f"{path}: attribute 'classes' must be an integer >= {top} (the "
                              f"largest label + 1), got {terminal(repr(classes))[:40]}")
    limits.check_count(classes, limits.MAX_CLASSES, "number of classes", f"{path}: classes")
    meta: dict[str, Any] = {"source": str(path)}
    encoding = _recorded_encoding(d.meta)
    if encoding:
        meta["encoding"] = encoding
    return Dataset(str(path), d.spikes, d.labels.astype(np.int64), classes, "spikes",
                   (d.spikes.shape[0], d.spikes.shape[2]),
                   # printed by encode: only the known values, never a string from the file
                   d.meta.get("split") if d.meta.get("split") in SPLITS else "all", meta)


def _recorded_encoding(meta: dict) -> dict:
    """How a spike file's spikes were made from values (``spikelut encode``'s metadata: the
    dataset, a coding other than ``none``, its parameters, the difference channels and the
    channels per value), checked, so that a file re-encoded from it (``--limit``, more cycles)
    keeps that record and ``simulate`` / ``eval`` / ``rtl --verify`` and ``spikelut info`` treat
    it as the encoding it is; ``{}`` when the file records none or one that does not parse."""
    from ..io import encoding_record
    from ..io.encoding import _encoding_of

    rec = encoding_record(meta)
    if _encoding_of(rec) is None or rec["coding"] not in _coding.CODINGS or rec["coding"] == "none":
        return {}
    out = {"coding": rec["coding"],
           "params": rec["params"] if isinstance(rec.get("params"), dict) else {}}
    if isinstance(rec.get("dataset"), str):
        out["dataset"] = rec["dataset"]
    if "differences" in rec:
        out["differences"] = rec["differences"]
    per = meta.get("channels_per_value")
    if isinstance(per, int) and not isinstance(per, bool) and 1 <= per <= limits.MAX_INPUTS:
        out["channels_per_value"] = per
    return out
