"""Teacher-features files (format v1): one float32 row of features per sample."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import limits
from ..errors import FileFormatError
from ..fileutil import atomic_h5

from .hdf5 import (FEATURES_FORMAT, VERSION, _GZ, _check_format, _declared, _meta_attrs, _open,
                   _read, _reading)

def save_features(path: str | os.PathLike, features: Any, meta: dict | None = None) -> None:
    """Write a teacher-features file (format v1): ``/features`` float32 ``[B, F]``, one row per
    sample of the spike file it is aligned with (``spikelut train --teacher-features``), atomically.

    Args:
        path: the file to write; root attributes ``format = "spikelut-features"``,
            ``version = 1`` and ``meta``, dataset ``/features`` (gzip).
        features: ``[B, F]`` numbers (any real dtype, or nested lists), stored as float32; row
            ``b`` belongs to sample ``b`` of the spike file.
        meta: free metadata for the root attributes (non-scalar values as JSON strings).

    Returns:
        ``None``; the file at ``path`` is replaced only when the whole write succeeded.

    Raises:
        FileFormatError: not numbers, not a 2-D array with at least one row and column, or
            values that are not finite as float32 (NaN, infinity, beyond 3.4e38).
        OutputError: the file cannot be written (missing directory, no permission, disk full).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "f.h5"
        >>> save_features(p, [[0.5, 1.0], [2.0, -1.0]], meta={"teacher": "cnn"})
        >>> load_features(p).tolist()
        [[0.5, 1.0], [2.0, -1.0]]
    """
    try:
        a = np.asarray(features, dtype=np.float32)
    except (TypeError, ValueError) as e:  # text or ragged rows were a numpy traceback
        raise FileFormatError(f"{path}: /features: not an array of numbers [B, F] "
                              f"({str(e)[:80]}); give one row of numbers per sample") from None
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
        FileFormatError: a missing, malformed or misaligned file, naming the file and field:
            another format or version, ``/features`` not float32 2-D, a size past
            :mod:`spikelut.limits`, ``samples`` rows expected but another count found, no rows
            or columns, or values that are not finite.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "f.h5"
        >>> save_features(p, np.ones((3, 2)))
        >>> a = load_features(p, samples=3)
        >>> a.shape, a.dtype.name
        ((3, 2), 'float32')
        >>> try:
        ...     load_features(p, samples=4)
        ... except FileFormatError as e:
        ...     print(str(e).split(": ", 1)[1])
        /features: 3 rows for 4 training samples (one row per sample of the spike file, in its order)
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
