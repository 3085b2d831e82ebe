"""Documented limits on everything spikelut reads, checked before anything is allocated.

Files from others are untrusted (``docs/threat-model.md``): a few bytes can *declare* a huge
dataset, class count, table or delay. Every such number is compared with a limit here, in Python
integers (which cannot overflow), before an array of that size is made or an engine sizes a ring
buffer from it. The limits are far above any network or data set spikelut is meant for (an FPGA
holds a few million LUTs) and low enough that no engine index or ring size can overflow.

========================  ===========  ========================================================
constant                  value        why
========================  ===========  ========================================================
``MIN_K``, ``MAX_K``      1, 12        LUT1..LUT6 are one FPGA LUT; 7..12 are compositions
                                       (``docs/node-sizes.md``); a table has ``2**k`` entries
``MAX_TABLE_ENTRIES``     2**32        table entries of a whole network (``sum n_i * 2**k_i``):
                                       4 GiB of tables, 16 GiB of float32 logits in training
``MAX_NODES_PER_LAYER``   2**24        16.7 M LUTs, four times the largest FPGA
``MAX_NODES``             2**24        total over all layers; signal indices stay < 2**31
``MAX_LAYERS``            65,536       deep pipelines of one-node layers still fit
``MAX_INPUTS``            2**24        input channels
``MAX_CLASSES``           4,096        eval's confusion matrix is ``classes**2`` int64 = 128 MiB
``MAX_DELAY``             65,535       tap delay in cycles (a 16-bit shift register per signal)
``MAX_REFRACTORY``        65,535       refractory period in cycles, same reason
``MAX_CYCLES``            2**24        cycles T of a spike file or an event file
``MAX_SAMPLES``           2**24        samples B of a spike file or a data set
``MAX_ARRAY_BYTES``       4 GiB        one array read whole from a file, decompressed IDX data,
                                       a dense event raster; ``SPIKELUT_MAX_ARRAY_BYTES`` raises it
``MAX_CHUNK_BYTES``       64 MiB       one HDF5 storage chunk (decompressed whole to read any
                                       part of it; h5py's own chunks are at most 1 MiB). A chunk
                                       over 1 MiB may also not be more than 4 times the part of
                                       it that holds data (a 1 GiB chunk around 16 bytes)
``MAX_ATTR_BYTES``        16 MiB       one HDF5 attribute (names, JSON metadata)
``MAX_ATTRS``             1,024        attributes read from one HDF5 object
``MAX_OBJECTS``           2**20        groups + datasets walked in one HDF5 file
``MAX_JSON_DEPTH``        64           nesting of JSON metadata
========================  ===========  ========================================================

One more limit lives where it is used: :data:`spikelut.rtl.plan.MAX_RTL_CELLS` (2**21 LUTs plus
flip-flops of a circuit ``spikelut rtl`` writes; ``SPIKELUT_MAX_RTL_CELLS`` raises it).

``MAX_ARRAY_BYTES`` is the one limit a user may need to move (a large spike file read whole): the
environment belongs to the user running spikelut, so ``SPIKELUT_MAX_ARRAY_BYTES=17179869184``
raises it to 16 GiB for that run; a file cannot change it.

Example:
    >>> check_count(3, MAX_CLASSES, "readout classes", "m.h5: /readout")
    3
    >>> check_array_bytes((1000, 10**6, 100), 1, "s.h5: /spikes")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    spikelut.errors.FileFormatError: s.h5: /spikes: shape (1000, 1000000, 100) x 1 byte = 93.1 GiB, ...
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Sequence

from .errors import FileFormatError

MIN_K = 1
MAX_K = 12
MAX_TABLE_ENTRIES = 1 << 32
MAX_NODES_PER_LAYER = 1 << 24
MAX_NODES = 1 << 24
MAX_LAYERS = 65_536
MAX_INPUTS = 1 << 24
MAX_CLASSES = 4_096
MAX_DELAY = 65_535
MAX_REFRACTORY = 65_535
MAX_CYCLES = 1 << 24
MAX_SAMPLES = 1 << 24
DEFAULT_MAX_ARRAY_BYTES = 4 << 30
MAX_ATTR_BYTES = 16 << 20
MAX_CHUNK_BYTES = 64 << 20
MAX_ATTRS = 1_024
MAX_OBJECTS = 1 << 20
MAX_JSON_DEPTH = 64

_ENV = "SPIKELUT_MAX_ARRAY_BYTES"


def max_array_bytes() -> int:
    """The byte limit on one array read whole (``SPIKELUT_MAX_ARRAY_BYTES`` or 4 GiB).

    Example:
        >>> max_array_bytes() >= 1 << 20
        True
    """
    return env_limit(_ENV, DEFAULT_MAX_ARRAY_BYTES, "bytes")


def env_limit(name: str, default: int, unit: str) -> int:
    """A limit the user may move for one run through environment variable ``name`` (a positive
    whole number, decimal or ``0x``...), else ``default``.

    Raises:
        ConfigError: the variable is set but not a positive whole number (naming it and ``unit``).

    Example:
        >>> env_limit("SPIKELUT_NO_SUCH_LIMIT", 7, "cells")
        7
    """
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = int(text, 0)
    except ValueError:
        value = -1
    if value < 1:
        from .errors import ConfigError

        raise ConfigError(f"{name}={text!r}: expected a positive number of {unit}")
    return value


def _human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def check_count(value: int, limit: int, what: str, where: str, error: type = FileFormatError) -> int:
    """Return ``value`` if ``0 <= value <= limit``; else raise ``error`` naming ``where`` and ``what``.

    Args:
        value: a count read from a file or config (Python int, any size).
        limit: the largest value allowed (one of this module's constants).
        what: what the number counts ("readout classes", "refractory period", ...).
        where: the file and field, e.g. ``"m.h5: /readout"``.
        error: the exception class (a :class:`~spikelut.errors.SpikelutError`).

    Raises:
        error: the value is negative or larger than ``limit``.

    Example:
        >>> check_count(2**62, MAX_REFRACTORY, "refractory period", "L0")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        spikelut.errors.FileFormatError: L0: refractory period 4611686018427387904 is more than ...
    """
    value = int(value)
    if value < 0:
        raise error(f"{where}: {what} must be >= 0, got {value}")
    if value > limit:
        raise error(f"{where}: {what} {value} is more than the limit of {limit}")
    return value


def check_steps(steps: int, error: type = FileFormatError) -> int:
    """Return ``steps`` if it is at most :data:`MAX_CYCLES`; else raise ``error`` (a command's
    ``--steps`` or a config's ``steps``, before an array of that many cycles is made).

    Example:
        >>> check_steps(2**30, ValueError)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: steps = 1073741824 is more than the limit of 16777216 cycles; give fewer steps
    """
    if steps > MAX_CYCLES:
        raise error(f"steps = {steps} is more than the limit of {MAX_CYCLES} cycles; give fewer "
                    f"steps")
    return steps


def array_bytes(shape: Sequence[int], itemsize: int) -> int:
    """Bytes of an array of ``shape`` and ``itemsize``, in Python integers (no overflow).

    Example:
        >>> array_bytes((1000, 10**6, 100), 1)
        100000000000
    """
    n = int(itemsize)
    for s in shape:
        n *= int(s)
    return n


def check_array_bytes(shape: Sequence[int], itemsize: int, where: str,
                      error: type = FileFormatError) -> int:
    """Refuse an array whose declared size is over :func:`max_array_bytes`, before allocating it.

    Args:
        shape: the declared shape (from a file header, an HDF5 dataspace, an event file).
        itemsize: bytes per element.
        where: the file and field for the message.
        error: the exception class.

    Returns:
        The size in bytes.

    Raises:
        error: the array would be larger than the limit.
    """
    shape = tuple(int(s) for s in shape)
    n = array_bytes(shape, itemsize)
    limit = max_array_bytes()
    if n > limit:
        unit = "byte" if itemsize == 1 else "bytes"
        raise error(f"{where}: shape {shape} x {itemsize} {unit} = {_human(n)}, more than the "
                    f"limit of {_human(limit)} (set {_ENV} to allow larger arrays)")
    return n


def check_regular_file(path: str | os.PathLike, what: str = "file",
                       error: type = FileFormatError) -> Path:
    """Refuse a path that is missing, a directory, or not a regular file (a FIFO or a device
    would block a reader forever or never end), before anything opens it.

    Args:
        path: the path to check (symbolic links to regular files are allowed: the user named it).
        what: what the file should be, for the message ("an HDF5 file", "an IDX file").
        error: the exception class.

    Raises:
        error: no such file, a directory, or a special file.

    Example:
        >>> check_regular_file("/dev/null", "an HDF5 file")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        spikelut.errors.FileFormatError: /dev/null: not a regular file (a device, FIFO or socket); ...
    """
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise error(f"{p}: no such file") from None
    except OSError as e:
        raise error(f"{p}: cannot read: {e.strerror or e}") from None
    if stat.S_ISDIR(mode):
        raise error(f"{p}: is a directory, expected {what}")
    if not stat.S_ISREG(mode):
        raise error(f"{p}: not a regular file (a device, FIFO or socket); expected {what}")
    return p


def json_depth_ok(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON ``text`` nests brackets at most ``limit`` deep (a linear scan that skips
    strings, run before ``json.loads`` so a deep document cannot exhaust the stack).

    Example:
        >>> json_depth_ok('{"a": [1, [2]]}', 3), json_depth_ok("[" * 100 + "]" * 100)
        (True, False)
    """
    depth = 0
    in_str = False
    escape = False
    for ch in text:
        if in_str:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


__all__ = ["MIN_K", "MAX_K", "MAX_TABLE_ENTRIES", "MAX_NODES_PER_LAYER", "MAX_NODES", "MAX_LAYERS", "MAX_INPUTS", "MAX_CLASSES",
           "MAX_DELAY", "MAX_REFRACTORY", "MAX_CYCLES", "MAX_SAMPLES", "DEFAULT_MAX_ARRAY_BYTES",
           "MAX_ATTR_BYTES", "MAX_CHUNK_BYTES", "MAX_ATTRS", "MAX_OBJECTS", "MAX_JSON_DEPTH", "max_array_bytes",
           "array_bytes", "check_count", "check_steps", "check_array_bytes", "check_regular_file", "json_depth_ok"]
