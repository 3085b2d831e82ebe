"""Difference channels: a sequence's change (and its curvature) over ``L`` cycles, fed beside
its values.

A LUT node compares each value it reads with fixed thresholds, so a feature such as "the series
rises here" needs many level channels at two delays. Feeding the difference
``d[t] = x[t] - x[t - L]`` as channels of its own gives it directly, the way the kernels of ROCKET
and MiniRocket (Dempster et al. 2020, 2021: weights summing to zero) respond to a series' shape
rather than its level. Causal, so a circuit's input stage computes it from the stream it has
seen: one subtraction and a delay line of ``L`` values per channel. A second difference
``s[t] = x[t] - 2 x[t - L] + x[t - 2L]`` (the discrete second derivative) gives the series' bend
the same way (a delay line of ``2L`` values).

Rule (for every channel ``c`` of a sequence ``x[N, L, C]``, already scaled to [0, 1]):

* for every lag ``L`` of ``lags`` (first differences): ``d[t] = x[t] - x[max(t - L, 0)]``
  (0 in the first cycle);
* for every lag ``L`` of ``second`` (second differences, given apart from the first ones):
  ``s[t] = x[t] - 2 * x[max(t - L, 0)] + x[max(t - 2 * L, 0)]`` (the same clamping to cycle 0:
  0 in the first cycle, ``x[t] - x[0]`` while ``t < L``, ``x[t] - 2 x[t - L] + x[0]`` while
  ``t < 2 L``);
* each such channel ``v`` (``d`` or ``s``) scaled with the TRAINING split's 2nd and 98th
  percentiles of ``v`` over every sample's own cycles (``lo``, ``hi``; padding after a
  variable-length series' end is not counted): ``(v - lo) / (hi - lo)`` clipped to [0, 1]
  (percentiles, not min and max: a difference's extremes are single outliers that would squeeze
  every ordinary change into one level; a channel whose difference is constant, ``hi == lo``,
  divides by 1). The whole training split sets them, including any part a later holdout
  validates on: two label-free numbers per channel, as the values' own ``scale_lo`` /
  ``scale_hi``;
* appended after the value channels, lag-major: channel ``C + i * C + c`` is lag ``lags[i]`` of
  channel ``c``; the second differences follow the first ones, lag-major as well (channel
  ``C * (1 + len(lags) + j) + c`` is lag ``second[j]`` of channel ``c``); the coding then
  treats them as any other channel (``spikelut encode``: each gets ``channels_per_value`` spike
  channels).

The constants are stored in the spike file's metadata (``differences``: ``lags``,
``second_lags``, then ``lo`` and ``hi`` for the first and then the second difference channels)
like the values' own ``scale_lo`` / ``scale_hi``, so the test split and a deployed circuit apply
the same ones; a file written before second differences existed has no ``second_lags`` and reads
as none (:func:`read_record`).

Example:
    >>> import numpy as np
    >>> x = np.array([[0.0, 0.5, 0.5, 1.0]], np.float32)        # one series of 4 cycles
    >>> raw_differences(x, [1])[0, :, 0].tolist()
    [0.0, 0.5, 0.0, 0.5]
    >>> add_differences(x, [1], lo=[0.0], hi=[0.5])[0].tolist()  # [value, difference] per cycle
    [[0.0, 0.0], [0.5, 1.0], [0.5, 0.0], [1.0, 1.0]]
    >>> raw_differences(x, [], second=[1])[0, :, 0].tolist()     # x[t] - 2 x[t-1] + x[t-2]
    [0.0, 0.5, -0.5, 0.5]
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .errors import ConfigError, FileFormatError, ShapeError
from .limits import MAX_DELAY

#: percentiles of the training split's differences that map to 0 and 1
QUANTILES = (0.02, 0.98)
#: at most this many lags (each adds the series' channel count again), first and second apart
MAX_LAGS = 8

RULE = ("per channel c and lag L: d[t] = x[t] - x[max(t - L, 0)] of the scaled series, and per lag "
        "L of second_lags: s[t] = x[t] - 2 * x[max(t - L, 0)] + x[max(t - 2 * L, 0)]; each then "
        "(v - lo) / (hi - lo) clipped to [0, 1]; lo, hi = 2nd, 98th percentiles of v over the train "
        "split's own cycles; appended after the value channels, first then second differences, "
        "each lag-major")


def check_lags(lags: Any, length: int | None = None, where: str = "differences", order: int = 1
               ) -> tuple[int, ...]:
    """``lags`` as a tuple of distinct integers ``L >= 1`` with ``order * L`` below ``length``
    (at most :data:`MAX_LAGS`); ``order`` 2 checks the lags of second differences, which reach
    ``2 L`` cycles back.

    Args:
        lags: a list (or tuple) of integers, or one integer.
        length: the sequences' cycles ``L``; ``None``: not checked against a length.
        where: the option or key named first in the message.
        order: 1 (first differences) or 2 (second differences).

    Returns:
        The lags as a tuple of ints, in the order given.

    Raises:
        ConfigError: not a list of integers, a lag below 1 or reaching the sequence length,
            repeated lags, or too many.

    Example:
        >>> check_lags([1, 4], 10)
        (1, 4)
        >>> check_lags([0])
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: differences: lags must be integers >= 1 (cycles), got [0]
        >>> check_lags([5], 10, "second_differences", order=2)
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: second_differences: lag 5 reaches 2 x 5 = 10 cycles back, not shorter than the sequences (10 cycles); use lags below 5
    """
    if isinstance(lags, (int, np.integer)) and not isinstance(lags, bool):
        lags = [lags]
    if not isinstance(lags, (list, tuple)) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in lags):
        raise ConfigError(f"{where}: give a list of lags in cycles, e.g. [1], got {lags!r}")
    out = tuple(int(v) for v in lags)
    if any(v < 1 for v in out):
        raise ConfigError(f"{where}: lags must be integers >= 1 (cycles), got {list(out)}")
    if len(set(out)) != len(out):
        raise ConfigError(f"{where}: lags repeat: {list(out)}; give each lag once")
    if len(out) > MAX_LAGS:
        raise ConfigError(f"{where}: at most {MAX_LAGS} lags, got {len(out)}")
    if length is not None and out and order * max(out) >= length:
        if length <= order:  # not even a lag of 1 fits: there is no lag to suggest
            raise ConfigError(f"{where}: the sequences have {length} cycle{'s' * (length != 1)}, "
                              f"too short for {'second ' * (order == 2)}differences (a lag of 1 "
                              f"needs at least {order + 1} cycles); leave {where} out")
        if order == 1:
            raise ConfigError(f"{where}: lag {max(out)} is not shorter than the sequences "
                              f"({length} cycles); use lags below {length}")
        top = max(out)
        raise ConfigError(f"{where}: lag {top} reaches {order} x {top} = {order * top} cycles back, "
                          f"not shorter than the sequences ({length} cycles); use lags below "
                          f"{-(-length // order)}")
    if out and order * max(out) > MAX_DELAY:
        raise ConfigError(f"{where}: lag {max(out)} reaches {order * max(out)} cycles back, more "
                          f"than the limit of {MAX_DELAY}; use smaller lags")
    return out


def _as_3d(x: np.ndarray) -> np.ndarray:
    """``[N, L]`` or ``[N, L, C]`` as ``[N, L, C]``."""
    return x[:, :, None] if x.ndim == 2 else x


def raw_differences(x: np.ndarray, lags: Sequence[int], second: Sequence[int] = ()) -> np.ndarray:
    """Unscaled differences, float32 ``[N, L, (len(lags) + len(second)) * C]`` of ``x``
    ``[N, L]`` or ``[N, L, C]``: ``x[t] - x[max(t - lag, 0)]`` for every lag of ``lags``, then
    ``x[t] - 2 x[max(t - lag, 0)] + x[max(t - 2 lag, 0)]`` for every lag of ``second``, each
    lag-major. The lags are not checked here (a lag of 0 gives zeros): callers check them first
    with :func:`check_lags`, as :func:`spikelut.datasets.encoding.encode_dataset` does.

    Args:
        x: the values, ``[N, L]`` or ``[N, L, C]`` (any real dtype; computed in float32).
        lags: first-difference lags (cycles).
        second: second-difference lags.

    Returns:
        float32 ``[N, L, (len(lags) + len(second)) * C]``; ``[N, L, 0]`` without lags.

    Raises:
        IndexError: ``x`` is not 2-D or 3-D (not checked: the callers pass a dataset's values).

    Example:
        >>> x = np.array([[0.0, 1.0, 4.0, 9.0, 16.0]], np.float32)    # t ** 2: bends by 2
        >>> raw_differences(x, [1], second=[1])[0].T.tolist()
        [[0.0, 1.0, 3.0, 5.0, 7.0], [0.0, 1.0, 2.0, 2.0, 2.0]]
    """
    x = _as_3d(np.asarray(x, np.float32))
    t = np.arange(x.shape[1])
    parts = []
    for lag in lags:
        parts.append(x - x[:, np.maximum(t - lag, 0)])
    for lag in second:
        parts.append(x - 2 * x[:, np.maximum(t - lag, 0)] + x[:, np.maximum(t - 2 * lag, 0)])
    return np.concatenate(parts, axis=2) if parts else x[:, :, :0]


def difference_range(x: np.ndarray, lags: Sequence[int], lengths: Sequence[int] | None = None,
                     second: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Per difference channel (first differences over ``lags``, then second differences over
    ``second``, each lag-major), the 2nd and 98th percentiles of the differences of ``x`` (the
    TRAINING split) over each sample's own cycles (``lengths``: variable-length series;
    ``None``: every cycle). float64 ``[(len(lags) + len(second)) * C]`` each.

    Args:
        x: the training values ``[N, L]`` or ``[N, L, C]``.
        lags, second: as :func:`raw_differences`.
        lengths: each sample's own cycles ``[N]`` (ints ``<= L``), or ``None``.

    Returns:
        ``(lo, hi)``: float64 ``[(len(lags) + len(second)) * C]`` each.

    Raises:
        ShapeError: ``lengths`` not one per sample, or no cycle to take the range of (no
            samples, or every length 0); both were numpy IndexErrors.

    Example:
        >>> lo, hi = difference_range(np.array([[0.0, 1.0, 0.0, 1.0]]), [1])   # d: 0, 1, -1, 1
        >>> lo.round(2).tolist(), hi.round(2).tolist()                  # numpy's linear quantiles
        ([-0.94], [1.0])
    """
    d = raw_differences(x, lags, second)
    if lengths is not None:
        lengths = np.asarray(lengths)
        if lengths.shape != (d.shape[0],):
            raise ShapeError(f"differences: lengths must be one per sample ({d.shape[0]}), got "
                             f"shape {lengths.shape}")
        own = np.arange(d.shape[1])[None, :] < lengths[:, None]
        d = d[own]                                    # [own cycles, channels]
    else:
        d = d.reshape(d.shape[0] * d.shape[1], d.shape[2])  # (-1 fails with no channels)
    if d.shape[0] == 0:
        raise ShapeError("differences: the training values have no cycles to take the range of "
                         "(no samples, or every length is 0)")
    d = d.astype(np.float64)
    return np.quantile(d, QUANTILES[0], axis=0), np.quantile(d, QUANTILES[1], axis=0)


def add_differences(x: np.ndarray, lags: Sequence[int], lo: Sequence[float], hi: Sequence[float],
                    second: Sequence[int] = ()) -> np.ndarray:
    """``x`` ``[N, L]`` / ``[N, L, C]`` with its scaled differences appended: float32
    ``[N, L, C * (1 + len(lags) + len(second))]`` (see the module's rule; ``lo``, ``hi`` from
    :func:`difference_range` of the training split with the same ``lags`` and ``second``).

    Args:
        x: the values ``[N, L]`` or ``[N, L, C]``, in ``[0, 1]`` as the encoders take them.
        lags, second: as :func:`raw_differences`.
        lo, hi: per difference channel, the values scaled to 0 and 1 (clipped between;
            ``hi <= lo``: a constant channel, scaled by 1).

    Returns:
        float32 ``[N, L, C * (1 + len(lags) + len(second))]``: ``x``'s channels first.

    Raises:
        ConfigError: ``lo`` or ``hi`` not one value per difference channel.

    Example:
        >>> x = np.array([[0.0, 1.0, 4.0, 9.0, 16.0]], np.float32) / 16
        >>> add_differences(x, [], lo=[0.0], hi=[0.125], second=[1])[0, :, 1].tolist()
        [0.0, 0.5, 1.0, 1.0, 1.0]
    """
    x3 = _as_3d(np.asarray(x, np.float32))
    d = raw_differences(x3, lags, second).astype(np.float64)
    lo = np.asarray(lo, np.float64)
    hi = np.asarray(hi, np.float64)
    want = x3.shape[2] * (len(lags) + len(second))
    if lo.shape != (want,) or hi.shape != (want,):
        what = "channels x lags, lag-major" if not second else (
            "channels x (lags + second lags), first then second differences, each lag-major")
        raise ConfigError(f"differences: lo and hi need {want} values ({what}), "
                          f"got {lo.size} and {hi.size}")
    span = np.where(hi > lo, hi - lo, 1.0)           # a constant channel divides by 1
    scaled = np.clip((d - lo) / span, 0.0, 1.0).astype(np.float32)
    return np.concatenate([x3, scaled], axis=2)


def read_record(rec: Any) -> dict:
    """A spike file's ``differences`` metadata (as :func:`spikelut.io.hdf5.meta_json` returns it),
    checked, with ``second_lags`` filled in: a file written before second differences existed
    has none and reads as ``[]``; the other keys (``rule``) are kept as they are.

    Args:
        rec: the metadata value (a dict when well-formed; anything, read from a file).

    Returns:
        ``{"lags": [...], "second_lags": [...], "lo": [...], "hi": [...], ...}`` (``lo`` and
        ``hi``: one float per difference channel, first then second differences).

    Raises:
        FileFormatError: not a table, lags that are not lists of integers, or ``lo`` / ``hi``
            that do not hold the same whole number of values per lag.

    Example:
        >>> read_record({"lags": [1], "lo": [0.0], "hi": [0.5], "rule": "..."})["second_lags"]
        []
    """
    if not isinstance(rec, dict):
        raise FileFormatError(f"metadata differences: expected a table, got {type(rec).__name__}")
    out = dict(rec)
    n = 0
    for key in ("lags", "second_lags"):
        v = rec.get(key, [] if key == "second_lags" else None)
        if not isinstance(v, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                               for i in v):
            raise FileFormatError(f"metadata differences: {key} must be a list of integers")
        out[key] = v
        n += len(v)
    lo, hi = rec.get("lo"), rec.get("hi")
    if not (isinstance(lo, list) and isinstance(hi, list) and len(lo) == len(hi)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in lo + hi)
            and (len(lo) % n == 0 if n else not lo)):
        raise FileFormatError(f"metadata differences: lo and hi must be lists of numbers, the same "
                              f"whole number of values for each of the {n} lags")
    return out


__all__ = ["QUANTILES", "MAX_LAGS", "RULE", "check_lags", "raw_differences", "difference_range",
           "add_differences", "read_record"]
