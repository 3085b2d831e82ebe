"""Difference channels: a sequence's change over ``L`` cycles, fed beside its values.

A LUT node compares each value it reads with fixed thresholds, so a feature such as "the series
rises here" needs many level channels at two delays. Feeding the difference
``d[t] = x[t] - x[t - L]`` as channels of its own gives it directly, the way the kernels of ROCKET
and MiniRocket (Dempster et al. 2020, 2021: weights summing to zero) respond to a series' shape
rather than its level. Causal, so a circuit's input stage computes it from the stream it has
seen: one subtraction and a delay line of ``L`` values per channel.

Rule (for every channel ``c`` of a sequence ``x[N, L, C]``, already scaled to [0, 1], and every
lag ``L`` of ``lags``):

* ``d[t] = x[t] - x[max(t - L, 0)]`` (0 in the first cycle);
* scaled with the TRAINING split's 2nd and 98th percentiles of ``d`` over every sample's own
  cycles (``lo``, ``hi``; padding after a variable-length series' end is not counted):
  ``(d - lo) / (hi - lo)`` clipped to [0, 1] (percentiles, not min and max: a difference's
  extremes are single outliers that would squeeze every ordinary change into one level; a
  channel whose difference is constant, ``hi == lo``, divides by 1). The whole training split
  sets them, including any part a later holdout validates on: two label-free numbers per
  channel, as the values' own ``scale_lo`` / ``scale_hi``;
* appended after the value channels, lag-major: channel ``C + i * C + c`` is lag ``lags[i]`` of
  channel ``c``; the coding then treats them as any other channel (``spikelut encode``: each
  gets ``channels_per_value`` spike channels).

The constants are stored in the spike file's metadata (``differences``) like the values' own
``scale_lo`` / ``scale_hi``, so the test split and a deployed circuit apply the same ones.

Example:
    >>> import numpy as np
    >>> x = np.array([[0.0, 0.5, 0.5, 1.0]], np.float32)        # one series of 4 cycles
    >>> raw_differences(x, [1])[0, :, 0].tolist()
    [0.0, 0.5, 0.0, 0.5]
    >>> add_differences(x, [1], lo=[0.0], hi=[0.5])[0].tolist()  # [value, difference] per cycle
    [[0.0, 0.0], [0.5, 1.0], [0.5, 0.0], [1.0, 1.0]]
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .errors import ConfigError
from .limits import MAX_DELAY

#: percentiles of the training split's differences that map to 0 and 1
QUANTILES = (0.02, 0.98)
#: at most this many lags (each adds the series' channel count again)
MAX_LAGS = 8

RULE = ("per channel c and lag L: d[t] = x[t] - x[max(t - L, 0)] of the scaled series, then "
        "(d - lo) / (hi - lo) clipped to [0, 1]; lo, hi = 2nd, 98th percentiles of d over the train "
        "split's own cycles; appended after the value channels, lag-major")


def check_lags(lags: Any, length: int | None = None, where: str = "differences") -> tuple[int, ...]:
    """``lags`` as a tuple of distinct integers in ``1 .. length - 1`` (at most :data:`MAX_LAGS`).

    Raises:
        ConfigError: not a list of integers, a lag below 1 or at least the sequence length,
            repeated lags, or too many.

    Example:
        >>> check_lags([1, 4], 10)
        (1, 4)
        >>> check_lags([0])
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: differences: lags must be integers >= 1 (cycles), got [0]
    """
    if isinstance(lags, (int, np.integer)) and not isinstance(lags, bool):
        lags = [lags]
    if not isinstance(lags, (list, tuple)) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in lags):
        raise ConfigError(f"{where}: give a list of lags in cycles, e.g. [1], got {lags!r}")
    out = tuple(int(v) for v in lags)
    if any(v < 1 or v > MAX_DELAY for v in out):
        raise ConfigError(f"{where}: lags must be integers >= 1 (cycles), got {list(out)}")
    if len(set(out)) != len(out):
        raise ConfigError(f"{where}: lags repeat: {list(out)}; give each lag once")
    if len(out) > MAX_LAGS:
        raise ConfigError(f"{where}: at most {MAX_LAGS} lags, got {len(out)}")
    if length is not None and out and max(out) >= length:
        raise ConfigError(f"{where}: lag {max(out)} is not shorter than the sequences "
                          f"({length} cycles); use lags below {length}")
    return out


def _as_3d(x: np.ndarray) -> np.ndarray:
    """``[N, L]`` or ``[N, L, C]`` as ``[N, L, C]``."""
    return x[:, :, None] if x.ndim == 2 else x


def raw_differences(x: np.ndarray, lags: Sequence[int]) -> np.ndarray:
    """Unscaled differences, float32 ``[N, L, len(lags) * C]`` (lag-major) of ``x`` ``[N, L]`` or
    ``[N, L, C]``: ``x[t] - x[max(t - lag, 0)]``."""
    x = _as_3d(np.asarray(x, np.float32))
    L = x.shape[1]
    parts = []
    for lag in lags:
        past = x[:, np.maximum(np.arange(L) - lag, 0)]
        parts.append(x - past)
    return np.concatenate(parts, axis=2) if parts else x[:, :, :0]


def difference_range(x: np.ndarray, lags: Sequence[int], lengths: Sequence[int] | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per difference channel (lag-major), the 2nd and 98th percentiles of the differences of
    ``x`` (the TRAINING split) over each sample's own cycles (``lengths``: variable-length series;
    ``None``: every cycle). float64 ``[len(lags) * C]`` each.

    Example:
        >>> lo, hi = difference_range(np.array([[0.0, 1.0, 0.0, 1.0]]), [1])   # d: 0, 1, -1, 1
        >>> lo.round(2).tolist(), hi.round(2).tolist()                  # numpy's linear quantiles
        ([-0.94], [1.0])
    """
    d = raw_differences(x, lags)
    if lengths is not None:
        own = np.arange(d.shape[1])[None, :] < np.asarray(lengths)[:, None]
        d = d[own]                                    # [own cycles, channels]
    else:
        d = d.reshape(-1, d.shape[2])
    d = d.astype(np.float64)
    return np.quantile(d, QUANTILES[0], axis=0), np.quantile(d, QUANTILES[1], axis=0)


def add_differences(x: np.ndarray, lags: Sequence[int], lo: Sequence[float], hi: Sequence[float]
                    ) -> np.ndarray:
    """``x`` ``[N, L]`` / ``[N, L, C]`` with its scaled differences appended: float32
    ``[N, L, C * (1 + len(lags))]`` (see the module's rule; ``lo``, ``hi`` from
    :func:`difference_range` of the training split)."""
    x3 = _as_3d(np.asarray(x, np.float32))
    d = raw_differences(x3, lags).astype(np.float64)
    lo = np.asarray(lo, np.float64)
    hi = np.asarray(hi, np.float64)
    want = x3.shape[2] * len(lags)
    if lo.shape != (want,) or hi.shape != (want,):
        raise ConfigError(f"differences: lo and hi need {want} values (channels x lags, lag-major), "
                          f"got {lo.size} and {hi.size}")
    span = np.where(hi > lo, hi - lo, 1.0)           # a constant channel divides by 1
    scaled = np.clip((d - lo) / span, 0.0, 1.0).astype(np.float32)
    return np.concatenate([x3, scaled], axis=2)


__all__ = ["QUANTILES", "MAX_LAGS", "RULE", "check_lags", "raw_differences", "difference_range",
           "add_differences"]
