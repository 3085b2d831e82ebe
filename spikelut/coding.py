"""Temporal codes: turn real values into spike trains ``[T, B, channels]`` (uint8) and back.

Every encoder is vectorized over batch and features, written against the array module of its
input (numpy or cupy), and reproducible: random codes draw sample ``b``'s numbers on the host
from ``numpy.random.default_rng([seed, b // 256])``, so the same seed gives the same spikes on the
CPU and the GPU, and a prefix of a batch gets a prefix of the spikes.

Two ways to feed values (the ``sequence`` parameter):

* **static** (``sequence=False``): ``x [B, F]`` (trailing axes are flattened) holds one value per
  feature; the code spreads each value over ``T = steps`` cycles.
* **sequence** (``sequence=True``): ``x [B, L]`` or ``[B, L, F]`` is a time series fed one value
  per cycle, so ``steps`` must equal ``L``.

Channel layout: feature ``f`` owns channels ``f*m .. f*m + m - 1`` where ``m`` is the number of
channels per value (1, ``levels``, or 2 for on/off codes, on = ``2f``, off = ``2f + 1``).

The codes (``x`` in [0, 1] unless said otherwise; ``t = 0 .. T-1``; ``u`` uniform in [0, 1);
``round(v)`` is ``floor(v + 1/2)`` everywhere, never banker's rounding) and their decoders:

* ``rate``: ``s[t] = u[t] < x`` (Bernoulli, P = x). Decoder: mean over t.
* ``rate_even``: ``s[t] = floor((t+1)x + 1/2) - floor(tx + 1/2)``: ``round(Tx)`` spikes, evenly
  spaced. Decoder: mean over t.
* ``latency``: one spike at ``t = round((1-x)(T-1))`` if ``x > threshold``. Decoder:
  ``1 - t/(T-1)`` (0 when silent).
* ``latency_log``: one spike at ``t = round((T-1) ln(x) / ln(eps))`` if ``x >= eps``. Decoder:
  ``eps**(t/(T-1))`` (0 when silent).
* ``phase``: ``q = round(x (2**K - 1))``; ``s[t]`` = bit ``K-1 - (t mod K)`` of ``q``. Decoder:
  ``q / (2**K - 1)`` from the first ``K`` cycles.
* ``thermometer``: ``C`` channels, channel ``l`` on iff ``x >= (l + 1/2)/C`` (or
  ``x >= thresholds[l]``). Decoder: ``#on / C``.
* ``population``: ``C`` channels, only channel ``l = min(floor(x C), C-1)`` on. Decoder:
  ``(l + 1/2)/C``.
* ``delta`` (any real x, a series): delta modulation with step ``d``: ``e = x[t] - r``, on iff
  ``e >= d/2``, off iff ``e <= -d/2``, ``r += d (on - off)``, ``r`` starts at 0. Decoder:
  ``d * cumsum(on - off)``.
* ``sigma_delta`` (any real x, a series): first-order sigma-delta with step ``d``:
  ``v = u + x[t]``, on iff ``v >= d/2``, off iff ``v <= -d/2``, ``u = v - d (on - off)``, ``u``
  starts at 0. Decoder: moving mean of ``d (on - off)``.
* ``none``: the input already is spikes ``[T, B, C]``.

Example:
    >>> import numpy as np
    >>> from spikelut.coding import encode, decode
    >>> s = encode(np.array([[1.0, 0.5, 0.0]]), "latency", steps=5)
    >>> s[:, 0, :].T.tolist()            # one spike per channel, larger value fires earlier
    [[1, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]]
    >>> decode(s, "latency").tolist()
    [[1.0, 0.5, 0.0]]
    >>> encode(np.array([[0.2, 0.9]]), "thermometer", steps=1, levels=4)[0, 0].tolist()
    [1, 0, 0, 0, 1, 1, 1, 1]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import limits
from .xp import array_module
from .errors import ConfigError

# ---------------------------------------------------------------------------- parameters
_BOOL = {"true": True, "yes": True, "1": True, "on": True,
         "false": False, "no": False, "0": False, "off": False}


def _whole(v: Any) -> int | None:
    """``v`` as an int when it is a whole number (Python, numpy or an integral float; not a bool,
    a string or None), else ``None``."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer, float, np.floating)):
        return None
    if isinstance(v, (float, np.floating)) and not (np.isfinite(v) and float(v).is_integer()):
        return None
    return int(v)


def _coerce(value: Any, kind: str, name: str, coding: str) -> Any:
    """Turn a parameter given as a Python value or a CLI string into its type."""
    where = f"coding {coding!r}: parameter {name}"
    try:
        if kind == "bool":
            if isinstance(value, str):
                if value.strip().lower() not in _BOOL:
                    raise ValueError
                return _BOOL[value.strip().lower()]
            if isinstance(value, (bool, np.bool_)) or value in (0, 1):
                return bool(value)
            raise ValueError
        if kind == "int":
            if isinstance(value, (bool, np.bool_)):
                raise ValueError
            v = float(value) if isinstance(value, str) else value
            if int(v) != v:
                raise ValueError
            return int(v)
        if kind == "float":
            if isinstance(value, (bool, np.bool_)):
                raise ValueError
            v = float(value)
            if not np.isfinite(v):
                raise ValueError
            return v
        if kind == "floats":
            if value is None:
                return None
            items = value.split(",") if isinstance(value, str) else list(value)
            out = tuple(float(v) for v in items if not (isinstance(v, str) and not v.strip()))
            if not out or not all(np.isfinite(out)):
                raise ValueError
            return out
    except (TypeError, ValueError):
        expect = {"bool": "true or false", "int": "an integer", "float": "a finite number",
                  "floats": "a list of numbers (or a comma-separated string of them)"}[kind]
        raise ConfigError(f"{where} must be {expect}, got {value!r}") from None
    raise AssertionError(kind)


@dataclass(frozen=True)
class Coding:
    """A registered code: its encoder, optional decoder, parameters and feeding modes.

    ``modes`` is ``"static"`` (values spread over many cycles), ``"sequence"`` (one value per
    cycle, always) or ``"both"`` (chosen with the ``sequence`` parameter).
    """

    name: str
    encoder: Callable
    decoder: Callable | None
    params: dict = field(default_factory=dict)  # name -> (kind, default)
    modes: str = "static"
    per_value: Callable[[dict], int] = lambda p: 1
    random: bool = False
    summary: str = ""


# ---------------------------------------------------------------------------- input handling
def _as_values(x: Any, coding: str) -> tuple[Any, Any]:
    """``x`` as an array of numbers on its device; ragged lists, strings and other non-numbers
    are one :class:`ConfigError` (were numpy's ValueError)."""
    xp = array_module(x)
    try:
        x = xp.asarray(x)
    except (ValueError, TypeError):
        raise ConfigError(f"coding {coding!r}: values must be an array of numbers; the nested "
                          f"lists given are ragged or hold non-numbers") from None
    if x.dtype.kind not in "biufO":
        raise ConfigError(f"coding {coding!r}: values must be numbers, got dtype {x.dtype}")
    return xp, x


def _float_values(xp, x, coding: str):
    try:
        return x.astype(xp.float64)
    except (ValueError, TypeError):  # an object array holding strings or None
        raise ConfigError(f"coding {coding!r}: values must be numbers, got an object array "
                          f"holding non-numbers") from None


def _static_input(x: Any, coding: str) -> tuple[Any, Any]:
    xp, x = _as_values(x, coding)
    if x.ndim < 2:
        raise ConfigError(f"coding {coding!r}: values must be [B, features...] (one row per sample), "
                          f"got shape {tuple(x.shape)}")
    # the feature count spelled out: reshape(0, -1) of an empty batch is a numpy error
    features = int(np.prod(x.shape[1:], dtype=np.int64))
    return xp, _float_values(xp, x.reshape(x.shape[0], features), coding)


def _sequence_input(x: Any, coding: str) -> tuple[Any, Any]:
    xp, x = _as_values(x, coding)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3:
        raise ConfigError(f"coding {coding!r}: a sequence must be [B, L] or [B, L, features], "
                          f"got shape {tuple(x.shape)}")
    return xp, _float_values(xp, x, coding)


def _check_unit(xp, x, coding: str) -> None:
    if x.size == 0:
        return
    if not bool(xp.isfinite(x).all()):
        raise ConfigError(f"coding {coding!r}: values contain NaN or infinity")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise ConfigError(f"coding {coding!r}: values must lie in [0, 1], got {lo:g} .. {hi:g}; "
                          f"rescale the data first (e.g. (x - min) / (max - min))")


def _check_finite(xp, x, coding: str) -> None:
    if x.size and not bool(xp.isfinite(x).all()):
        raise ConfigError(f"coding {coding!r}: values contain NaN or infinity")


def _check_steps(steps: Any, coding: str) -> int:
    """``steps`` of an encoder called directly (:func:`encode` checks it before): a whole number
    ``>= 1`` up to :data:`~spikelut.limits.MAX_CYCLES` (0 and -1 gave empty spike trains, 2.5
    and 'a' numpy TypeErrors)."""
    if _whole(steps) is None or steps < 1:
        raise ConfigError(f"coding {coding!r}: steps must be a whole number >= 1, got {steps!r}")
    return limits.check_steps(int(steps), ConfigError)


def _check_int(v: Any, name: str, coding: str, lo: int, hi: int | None = None) -> int:
    """A whole-number parameter of an encoder called directly, in ``lo .. hi``."""
    if _whole(v) is None or v < lo or (hi is not None and v > hi):
        rng = f"{lo} .. {hi}" if hi is not None else f">= {lo}"
        raise ConfigError(f"coding {coding!r}: parameter {name} must be {rng}, got {v!r}")
    return int(v)


def _check_step_size(threshold: Any, coding: str) -> None:
    """The step ``d`` of delta and sigma-delta codes: a finite number ``> 0`` ('a' was a
    TypeError from the comparison)."""
    if (isinstance(threshold, (bool, np.bool_))
            or not isinstance(threshold, (int, float, np.integer, np.floating))
            or not np.isfinite(threshold) or threshold <= 0):
        raise ConfigError(f"coding {coding!r}: parameter threshold must be > 0, got {threshold}")


def _round(xp, v):
    """Half-up rounding (numpy's round is half-to-even, which would make codes depend on parity)."""
    return xp.floor(v + 0.5)


RANDOM_BLOCK = 256
"""Random codes draw sample ``b``'s numbers from the stream ``default_rng([seed, b // 256])``, so a
sample's spikes do not depend on how many samples follow it in the batch."""


def _bernoulli(seed: int, p, xp, first_sample: int = 0):
    """``u < p`` for ``p [T, B, F]``, ``u`` uniform float32, drawn per block of samples.

    ``first_sample`` (a multiple of :data:`RANDOM_BLOCK`) is the batch's first sample in a larger
    one, so encoding a dataset chunk by chunk gives the spikes of encoding it at once.
    """
    if first_sample % RANDOM_BLOCK:
        raise ConfigError(f"first_sample must be a multiple of {RANDOM_BLOCK}, got {first_sample}")
    T, B, F = p.shape
    out = xp.empty((T, B, F), xp.uint8)
    for b0 in range(0, B, RANDOM_BLOCK):
        b1 = min(b0 + RANDOM_BLOCK, B)
        block = (first_sample + b0) // RANDOM_BLOCK
        # drawn on the host so one seed gives the same spikes on every device
        # sample-major draws: sample j of a block always gets the same numbers, whatever the
        # block's length, so encoding a prefix of a batch gives a prefix of the spikes
        u = np.random.default_rng([seed, block]).random((b1 - b0, T, F), dtype=np.float32)
        out[:, b0:b1] = xp.asarray(u.transpose(1, 0, 2)) < p[:, b0:b1]
    return out


# ---------------------------------------------------------------------------- encoders
def rate(x: Any, steps: int, seed: int = 0, sequence: bool = False, first_sample: int = 0) -> Any:
    """Bernoulli rate code: ``s[t, b, f] = 1`` with probability ``x[b, f]``, independently per cycle.

    Static: ``x [B, F]`` -> ``[steps, B, F]``. Sequence: ``x [B, L(, F)]`` -> ``[L, B, F]`` with
    ``s[t] = u[t] < x[t]``. The mean firing rate converges to ``x`` as ``1/sqrt(T)``. Sample ``b``
    draws from ``default_rng([seed, b // 256])`` (see :data:`RANDOM_BLOCK`); ``first_sample`` (a
    multiple of 256) numbers the samples from there, for encoding a dataset in chunks.

    Args:
        x: values in ``[0, 1]``: ``[B, F]`` (trailing axes flattened), or with ``sequence``
            ``[B, L]`` / ``[B, L, F]``; numpy or CuPy.
        steps: cycles ``T`` (ignored with ``sequence``: ``T = L``).
        seed: a whole number ``>= 0``.
        sequence: one value per cycle.
        first_sample: the index of ``x``'s first sample in the whole dataset (a multiple of
            :data:`RANDOM_BLOCK`).

    Returns:
        uint8 spikes ``[T, B, F]`` on ``x``'s array module.

    Raises:
        ConfigError: values that are not numbers, ragged, NaN or outside ``[0, 1]``, values not
            ``[B, features...]``, ``steps`` not a whole number ``>= 1`` (up to
            :data:`~spikelut.limits.MAX_CYCLES`), or ``first_sample`` not a
            multiple of :data:`RANDOM_BLOCK`. Called directly, the encoder
            does not bound the memory of its result; :func:`encode` does.

    Example:
        >>> rate(np.array([[0.0, 1.0]]), steps=3).sum(axis=0).tolist()
        [[0, 3]]
    """
    if sequence:
        xp, v = _sequence_input(x, "rate")
        _check_unit(xp, v, "rate")
        return _bernoulli(seed, v.transpose(1, 0, 2), xp, first_sample)
    steps = _check_steps(steps, "rate")
    xp, v = _static_input(x, "rate")
    _check_unit(xp, v, "rate")
    return _bernoulli(seed, xp.broadcast_to(v[None], (steps,) + tuple(v.shape)), xp, first_sample)


def rate_even(x: Any, steps: int) -> Any:
    """Deterministic rate code: ``round(T x)`` spikes spread evenly over the ``T`` cycles.

    ``s[t] = floor((t+1) x + 1/2) - floor(t x + 1/2)`` (a Bresenham line), so the spike count up to
    cycle ``t`` is always ``round((t+1) x)``.

    Args:
        x: values in ``[0, 1]``, ``[B, F]`` (trailing axes flattened); numpy or CuPy.
        steps: cycles ``T``.

    Returns:
        uint8 spikes ``[T, B, F]`` on ``x``'s array module.

    Raises:
        ConfigError: values that are not numbers, ragged, NaN or outside ``[0, 1]``, values not
            ``[B, features...]``, ``steps`` not a whole number ``>= 1`` (up to
            :data:`~spikelut.limits.MAX_CYCLES`). Called directly, the encoder
            does not bound the memory of its result; :func:`encode` does.

    Example:
        >>> rate_even(np.array([[0.5, 0.25]]), steps=4)[:, 0, :].T.tolist()
        [[1, 0, 1, 0], [0, 1, 0, 0]]
    """
    steps = _check_steps(steps, "rate_even")
    xp, v = _static_input(x, "rate_even")
    _check_unit(xp, v, "rate_even")
    t = xp.arange(steps + 1, dtype=xp.float64)[:, None, None]
    level = _round(xp, t * v[None])
    return (level[1:] - level[:-1]).astype(xp.uint8)


def latency(x: Any, steps: int, threshold: float = 0.0) -> Any:
    """Linear time-to-first-spike: one spike at ``t = round((1 - x)(T - 1))`` when ``x > threshold``.

    ``x = 1`` fires at cycle 0, ``x -> 0`` at cycle ``T - 1``; values ``<= threshold`` stay silent.

    Args:
        x: values in ``[0, 1]``, ``[B, F]`` (trailing axes flattened); numpy or CuPy.
        steps: cycles ``T``.
        threshold: values at or below it do not fire.

    Returns:
        uint8 spikes ``[T, B, F]`` on ``x``'s array module, at most one spike per channel.

    Raises:
        ConfigError: values that are not numbers, ragged, NaN or outside ``[0, 1]``, values not
            ``[B, features...]``, ``steps`` not a whole number ``>= 1`` (up to
            :data:`~spikelut.limits.MAX_CYCLES`). Called directly, the encoder
            does not bound the memory of its result; :func:`encode` does.

    Example:
        >>> latency(np.array([[1.0, 0.5, 0.0]]), steps=3)[:, 0, :].T.tolist()
        [[1, 0, 0], [0, 1, 0], [0, 0, 0]]
    """
    steps = _check_steps(steps, "latency")
    xp, v = _static_input(x, "latency")
    _check_unit(xp, v, "latency")
    when = _round(xp, (1.0 - v) * (steps - 1))
    t = xp.arange(steps, dtype=xp.float64)[:, None, None]
    return ((t == when[None]) & (v[None] > threshold)).astype(xp.uint8)


def latency_log(x: Any, steps: int, eps: float = 0.01) -> Any:
    """Logarithmic time-to-first-spike: one spike at ``t = round((T - 1) ln(x) / ln(eps))`` when
    ``x >= eps``; equal ratios of values give equal steps in time.

    ``x = 1`` fires at cycle 0, ``x = eps`` at cycle ``T - 1``; values below ``eps`` stay silent.

    Args:
        x: values in ``[0, 1]``, ``[B, F]`` (trailing axes flattened); numpy or CuPy.
        steps: cycles ``T``.
        eps: the smallest value that fires, in ``(0, 1)``.

    Returns:
        uint8 spikes ``[T, B, F]`` on ``x``'s array module, at most one spike per channel.

    Raises:
        ConfigError: values that are not numbers, ragged, NaN or outside ``[0, 1]``, values not
            ``[B, features...]``, ``steps`` not a whole number ``>= 1`` (up to
            :data:`~spikelut.limits.MAX_CYCLES`), or ``eps`` not in ``(0, 1)``. Called
            directly, the encoder does not bound the memory of its result; :func:`encode` does.

    Example:
        >>> latency_log(np.array([[1.0, 0.1, 0.01]]), steps=3)[:, 0, :].T.tolist()
        [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    """
    if (isinstance(eps, (bool, np.bool_))
            or not isinstance(eps, (int, float, np.integer, np.floating))
            or not 0.0 < eps < 1.0):  # 'a' was a TypeError from the comparison
        raise ConfigError(f"coding 'latency_log': parameter eps must be in (0, 1), got {eps}")
    steps = _check_steps(steps, "latency_log")
    xp, v = _static_input(x, "latency_log")
    _check_unit(xp, v, "latency_log")
    fires = v >= eps
    when = _round(xp, (steps - 1) * xp.log(xp.where(fires, v, 1.0)) / np.log(eps))
    t = xp.arange(steps, dtype=xp.float64)[:, None, None]
    return ((t == when[None]) & fires[None]).astype(xp.uint8)


def phase(x: Any, steps: int, phases: int = 8) -> Any:
    """Weighted phase code: the ``K``-bit binary expansion of ``x``, most significant bit first,
    repeated every ``K`` cycles: ``q = round(x (2**K - 1))``, ``s[t] = (q >> (K-1 - t mod K)) & 1``.

    A spike in phase ``k`` weighs ``2**(K-1-k) / (2**K - 1)``.

    Args:
        x: values in ``[0, 1]``, ``[B, F]`` (trailing axes flattened); numpy or CuPy.
        steps: cycles ``T`` (any; the code repeats every ``phases`` cycles).
        phases: bits ``K``, a whole number ``1 .. 30``.

    Returns:
        uint8 spikes ``[T, B, F]`` on ``x``'s array module.

    Raises:
        ConfigError: values that are not numbers, ragged, NaN or outside ``[0, 1]``, values not
            ``[B, features...]``, ``steps`` not a whole number ``>= 1`` (up to
            :data:`~spikelut.limits.MAX_CYCLES`), or ``phases`` not in ``1 .. 30``. Called
            directly, the encoder does not bound the memory of its result; :func:`encode` does.

    Example:
        >>> phase(np.array([[0.6]]), steps=6, phases=3)[:, 0, 0].tolist()   # q = 4 = 0b100
        [1, 0, 0, 1, 0, 0]
    """
    phases = _check_int(phases, "phases", "phase", 1, 30)
    steps = _check_steps(steps, "phase")
    xp, v = _static_input(x, "phase")
    _check_unit(xp, v, "phase")
    q = _round(xp, v * ((1 << phases) - 1)).astype(xp.int64)
    shift = (phases - 1 - xp.arange(steps) % phases)[:, None, None]
    return ((q[None] >> shift) & 1).astype(xp.uint8)


def _levels_input(x: Any, coding: str, sequence: bool, steps: int):
    """[B, F] values -> ([T or 1, B, F] values, xp); a sequence keeps its own time axis."""
    if sequence:
        xp, v = _sequence_input(x, coding)
        _check_unit(xp, v, coding)
        return xp, v.transpose(1, 0, 2)
    xp, v = _static_input(x, coding)
    _check_unit(xp, v, coding)
    return xp, v[None]


def _thresholds(levels: int, thresholds: tuple[float, ...] | None) -> np.ndarray:
    if thresholds is not None:
        try:
            th = np.asarray(thresholds, np.float64)
        except (TypeError, ValueError):  # ['a'] was numpy's ValueError
            th = np.array([np.nan])
        if th.ndim != 1 or th.size < 1 or not np.isfinite(th).all():
            raise ConfigError(f"coding 'thermometer': thresholds must be a list of finite "
                              f"numbers, got {thresholds!r}")
        if np.any(np.diff(th) <= 0):
            raise ConfigError(f"coding 'thermometer': thresholds must increase strictly, got "
                              f"{list(thresholds)}")
        return th
    levels = _check_int(levels, "levels", "thermometer", 1)
    return (np.arange(levels) + 0.5) / levels


def thermometer(x: Any, steps: int, levels: int = 8, thresholds: tuple[float, ...] | None = None,
                sequence: bool = False) -> Any:
    """Thermometer code over ``C`` level channels: channel ``l`` is on iff ``x >= theta_l``, with
    ``theta_l = (l + 1/2) / C`` (so ``round(x C)`` channels are on) or the given ``thresholds``
    (then ``C = len(thresholds)``).

    Static: the same pattern on every one of the ``steps`` cycles. Sequence: cycle ``t`` shows the
    code of ``x[t]``.

    Args:
        x: values in ``[0, 1]``: ``[B, F]`` (trailing axes flattened), or with ``sequence``
            ``[B, L]`` / ``[B, L, F]``; numpy or CuPy.
        steps: cycles ``T`` (ignored with ``sequence``: ``T = L``).
        levels: channels ``C`` per value, a whole number ``>= 1`` (unused with ``thresholds``).
        thresholds: strictly increasing thresholds, one channel each.
        sequence: one value per cycle.

    Returns:
        uint8 spikes ``[T, B, F * C]`` on ``x``'s array module; value ``f`` owns channels
        ``f*C .. f*C + C - 1``.

    Raises:
        ConfigError: values that are not numbers, ragged, NaN or outside ``[0, 1]``, values not
            ``[B, features...]`` (with ``sequence``: ``[B, L]`` or ``[B, L, features]``),
            ``steps`` not a whole number ``>= 1`` (up to :data:`~spikelut.limits.MAX_CYCLES`;
            static only), ``levels < 1`` or thresholds that are not
            increasing finite numbers. Called directly, the encoder does not bound the memory
            of its result; :func:`encode` does.

    Example:
        >>> thermometer(np.array([[0.2, 0.9]]), steps=1, levels=4)[0, 0].tolist()
        [1, 0, 0, 0, 1, 1, 1, 1]
    """
    th = _thresholds(levels, thresholds)
    steps = steps if sequence else _check_steps(steps, "thermometer")
    xp, v = _levels_input(x, "thermometer", sequence, steps)
    on = (v[..., None] >= xp.asarray(th)).astype(xp.uint8)  # [T|1, B, F, C]
    on = on.reshape(on.shape[0], on.shape[1], on.shape[2] * on.shape[3])
    if not sequence:
        on = xp.broadcast_to(on, (steps,) + on.shape[1:]).copy()
    return on


def population(x: Any, steps: int, levels: int = 8, sequence: bool = False) -> Any:
    """One-hot population code over ``C`` level channels: only channel
    ``l = min(floor(x C), C - 1)`` is on (channel ``l`` covers ``[l/C, (l+1)/C)``).

    Static: the same pattern on every cycle. Sequence: cycle ``t`` shows the code of ``x[t]``.

    Args:
        x: values in ``[0, 1]``: ``[B, F]`` (trailing axes flattened), or with ``sequence``
            ``[B, L]`` / ``[B, L, F]``; numpy or CuPy.
        steps: cycles ``T`` (ignored with ``sequence``: ``T = L``).
        levels: channels ``C`` per value, a whole number ``>= 1``.
        sequence: one value per cycle.

    Returns:
        uint8 spikes ``[T, B, F * C]`` on ``x``'s array module, one channel on per value;
        value ``f`` owns channels ``f*C .. f*C + C - 1``.

    Raises:
        ConfigError: values that are not numbers, ragged, NaN or outside ``[0, 1]``, values not
            ``[B, features...]`` (with ``sequence``: ``[B, L]`` or ``[B, L, features]``),
            ``steps`` not a whole number ``>= 1`` (up to :data:`~spikelut.limits.MAX_CYCLES`;
            static only), or ``levels < 1``. Called directly, the encoder does
            not bound the memory of its result; :func:`encode` does.

    Example:
        >>> population(np.array([[0.2, 1.0]]), steps=1, levels=4)[0, 0].tolist()
        [1, 0, 0, 0, 0, 0, 0, 1]
    """
    levels = _check_int(levels, "levels", "population", 1)
    steps = steps if sequence else _check_steps(steps, "population")
    xp, v = _levels_input(x, "population", sequence, steps)
    level = xp.minimum(xp.floor(v * levels), levels - 1)
    on = (level[..., None] == xp.arange(levels)).astype(xp.uint8)
    on = on.reshape(on.shape[0], on.shape[1], on.shape[2] * on.shape[3])
    if not sequence:
        on = xp.broadcast_to(on, (steps,) + on.shape[1:]).copy()
    return on


def _on_off(on, off, xp):
    """Interleave on/off channels: feature f -> (2f = on, 2f + 1 = off)."""
    out = xp.stack([on, off], axis=-1).astype(xp.uint8)
    return out.reshape(out.shape[0], out.shape[1], 2 * out.shape[2])


def delta(x: Any, steps: int, threshold: float = 0.1) -> Any:
    """Delta modulation of a time series (one value per cycle), on/off channels, step ``d``.

    The reconstruction ``r`` starts at 0 and moves by ``d`` per spike: with ``e = x[t] - r``, the on
    channel fires iff ``e >= d/2``, the off channel iff ``e <= -d/2``, then ``r += d (on - off)``.
    While ``x`` changes by at most ``d`` per cycle, ``|x[t] - r[t]| <= d/2``; a constant signal is
    silent. Any real values are allowed.

    Args:
        x: a real-valued series ``[B, L]`` or ``[B, L, F]``, one value per cycle; numpy or CuPy.
        steps: unused: ``T = L`` (:func:`encode` refuses another ``steps``).
        threshold: the step ``d``, a number ``> 0``.

    Returns:
        uint8 spikes ``[L, B, 2 F]`` on ``x``'s array module: feature ``f``'s on channel is
        ``2f``, its off channel ``2f + 1``.

    Raises:
        ConfigError: values that are not numbers, ragged or NaN/infinite, ``x`` not
            ``[B, L]`` or ``[B, L, F]``, or ``threshold`` not a number ``> 0``.

    Example:
        >>> s = delta(np.array([[0.0, 0.5, 0.5, 0.25]]), steps=4, threshold=0.25)
        >>> s[:, 0, :].tolist()          # [on, off] per cycle: up, up, silent, down
        [[0, 0], [1, 0], [1, 0], [0, 1]]
    """
    _check_step_size(threshold, "delta")
    xp, v = _sequence_input(x, "delta")
    _check_finite(xp, v, "delta")
    v = v.transpose(1, 0, 2)  # [T, B, F]
    level = xp.zeros(v.shape[1:], xp.float64)  # r / d, kept integral so r never drifts
    on = xp.zeros(v.shape, xp.bool_)
    off = xp.zeros(v.shape, xp.bool_)
    for t in range(v.shape[0]):
        e = v[t] - level * threshold
        on[t] = e >= threshold / 2
        off[t] = e <= -threshold / 2
        level = level + on[t] - off[t]
    return _on_off(on, off, xp)


def sigma_delta(x: Any, steps: int, threshold: float = 1.0) -> Any:
    """First-order sigma-delta modulation of a time series, on/off channels, step ``d``.

    An integrator ``u`` starts at 0; each cycle ``v = u + x[t]``, the on channel fires iff
    ``v >= d/2``, the off channel iff ``v <= -d/2``, and ``u = v - d (on - off)``. So
    ``|sum(x[:t+1]) - d * sum(on - off)[:t+1]| < d/2`` while ``|x| <= d``: the spike density
    follows the value itself (for ``x`` in [0, 1] and ``d = 1`` it is a deterministic rate code
    per cycle). Any real values are allowed.

    Args:
        x: a real-valued series ``[B, L]`` or ``[B, L, F]``, one value per cycle; numpy or CuPy.
        steps: unused: ``T = L`` (:func:`encode` refuses another ``steps``).
        threshold: the step ``d``, a number ``> 0``.

    Returns:
        uint8 spikes ``[L, B, 2 F]`` on ``x``'s array module: feature ``f``'s on channel is
        ``2f``, its off channel ``2f + 1``.

    Raises:
        ConfigError: values that are not numbers, ragged or NaN/infinite, ``x`` not
            ``[B, L]`` or ``[B, L, F]``, or ``threshold`` not a number ``> 0``.

    Example:
        >>> sigma_delta(np.array([[0.5, 0.5, 0.5, 0.5]]), steps=4)[:, 0, 0].tolist()
        [1, 0, 1, 0]
    """
    _check_step_size(threshold, "sigma_delta")
    xp, v = _sequence_input(x, "sigma_delta")
    _check_finite(xp, v, "sigma_delta")
    v = v.transpose(1, 0, 2)
    u = xp.zeros(v.shape[1:], xp.float64)
    on = xp.zeros(v.shape, xp.bool_)
    off = xp.zeros(v.shape, xp.bool_)
    for t in range(v.shape[0]):
        w = u + v[t]
        on[t] = w >= threshold / 2
        off[t] = w <= -threshold / 2
        u = w - threshold * (on[t].astype(xp.float64) - off[t])
    return _on_off(on, off, xp)


def none(x: Any, steps: int) -> Any:
    """Identity: ``x`` already is spikes ``[T, B, C]`` of 0/1.

    Args:
        x: 0/1 spikes ``[T, B, C]`` of any numeric or bool dtype; numpy or CuPy.
        steps: unused: ``T`` is ``x``'s (:func:`encode` refuses another ``steps``).

    Returns:
        ``x`` as uint8 ``[T, B, C]`` on its array module.

    Raises:
        ConfigError: ``x`` not 3-D, ragged or not numbers, or values other than 0 and 1.

    Example:
        >>> none(np.array([[[True, False]]]), steps=1).dtype, none([[[1, 0]]], 1).tolist()
        (dtype('uint8'), [[[1, 0]]])
    """
    xp, x = _as_values(x, "none")  # ragged lists and strings: one line (was numpy's ValueError)
    if x.ndim != 3:
        raise ConfigError(f"coding 'none': spikes must be [T, B, channels], got shape {tuple(x.shape)}")
    if x.size and not bool(((x == 0) | (x == 1)).all()):
        raise ConfigError("coding 'none': spikes must be 0 or 1")
    return x.astype(xp.uint8)


# ---------------------------------------------------------------------------- decoders
def _static_decode(spikes: Any, per: int) -> tuple[Any, Any]:
    xp = array_module(spikes)
    s = xp.asarray(spikes)
    if s.ndim != 3:
        raise ConfigError(f"spikes must be [T, B, channels], got shape {tuple(s.shape)}")
    if s.shape[0] < 1:  # was NaN (rate) or numpy's argmax ValueError (latency)
        raise ConfigError("spikes have 0 cycles; decoding needs at least one")
    from .engine.result import device_binary  # here: the engine package is slow to import

    if not device_binary(s):  # a 0.5 "spike" decoded to a value no code gives
        raise ConfigError("spikes must be 0 or 1 (uint8 or bool spike trains [T, B, channels])")
    if s.shape[2] % per:
        raise ConfigError(f"{s.shape[2]} channels are not a multiple of {per} channels per value")
    return xp, s


def _first_spike(xp, s):
    T = s.shape[0]
    fired = s.any(axis=0)
    first = xp.argmax(s, axis=0).astype(xp.float64)
    return fired, first, T


def _dec_mean(spikes, **_):
    xp, s = _static_decode(spikes, 1)
    return s.astype(xp.float64).mean(axis=0)


def _dec_rate(spikes, sequence=False, **_):
    if sequence:
        raise ConfigError("coding 'rate': a Bernoulli sequence has no decoder (one draw per value)")
    return _dec_mean(spikes)


def _dec_latency(spikes, threshold=0.0, **_):
    xp, s = _static_decode(spikes, 1)
    fired, first, T = _first_spike(xp, s)
    val = 1.0 - first / (T - 1) if T > 1 else xp.ones_like(first)
    return xp.where(fired, val, 0.0)


def _dec_latency_log(spikes, eps=0.01, **_):
    if not 0.0 < eps < 1.0:  # the encoder's rule (eps = 2 decoded to values above 1)
        raise ConfigError(f"coding 'latency_log': parameter eps must be in (0, 1), got {eps}")
    xp, s = _static_decode(spikes, 1)
    fired, first, T = _first_spike(xp, s)
    val = eps ** (first / (T - 1)) if T > 1 else xp.ones_like(first)
    return xp.where(fired, val, 0.0)


def _dec_phase(spikes, phases=8, **_):
    if not 1 <= phases <= 30:  # the encoder's rule (phases = 0 decoded to NaN)
        raise ConfigError(f"coding 'phase': parameter phases must be 1 .. 30, got {phases}")
    xp, s = _static_decode(spikes, 1)
    if s.shape[0] < phases:
        raise ConfigError(f"coding 'phase': decoding needs at least {phases} cycles (one full "
                          f"period), got {s.shape[0]}")
    w = xp.asarray(2.0 ** (phases - 1 - np.arange(phases)))[:, None, None]
    return (s[:phases].astype(xp.float64) * w).sum(axis=0) / ((1 << phases) - 1)


def _levels_decode(spikes, levels, sequence, fn):
    xp, s = _static_decode(spikes, levels)
    T, B, C = s.shape
    v = s.reshape(T, B, C // levels, levels).astype(xp.float64)
    val = fn(xp, v)  # [T, B, F]
    return val.transpose(1, 0, 2) if sequence else val.mean(axis=0)


def _dec_thermometer(spikes, levels=8, thresholds=None, sequence=False, **_):
    if thresholds is not None:
        raise ConfigError("coding 'thermometer': decoding is defined for the default thresholds "
                          "(l + 1/2)/C only")
    return _levels_decode(spikes, levels, sequence, lambda xp, v: v.sum(axis=-1) / levels)


def _dec_population(spikes, levels=8, sequence=False, **_):
    def fn(xp, v):
        level = xp.argmax(v, axis=-1).astype(xp.float64)
        return (level + 0.5) / levels

    return _levels_decode(spikes, levels, sequence, fn)


def _dec_delta(spikes, threshold=0.1, **_):
    xp, s = _static_decode(spikes, 2)
    T, B, C = s.shape
    v = s.reshape(T, B, C // 2, 2).astype(xp.float64)
    return (threshold * xp.cumsum(v[..., 0] - v[..., 1], axis=0)).transpose(1, 0, 2)


def _dec_sigma_delta(spikes, threshold=1.0, window=1, **_):
    xp, s = _static_decode(spikes, 2)
    T, B, C = s.shape
    if _whole(window) is None or window < 1:  # 'a' was int()'s ValueError
        raise ConfigError(f"coding 'sigma_delta': window must be a whole number >= 1, got {window!r}")
    window = int(window)
    v = s.reshape(T, B, C // 2, 2).astype(xp.float64)
    q = threshold * (v[..., 0] - v[..., 1])
    c = xp.concatenate([xp.zeros((1,) + q.shape[1:]), xp.cumsum(q, axis=0)])
    lo = np.maximum(np.arange(1, T + 1) - window, 0)
    n = xp.asarray((np.arange(1, T + 1) - lo).astype(np.float64))[:, None, None]
    mean = (c[1:] - c[xp.asarray(lo)]) / n  # trailing moving average over up to `window` cycles
    return mean.transpose(1, 0, 2)


# ---------------------------------------------------------------------------- registry
_REGISTRY: dict[str, Coding] = {c.name: c for c in [
    Coding("rate", rate, _dec_rate, {"sequence": ("bool", False)}, "both", random=True,
           summary="Bernoulli, P(spike) = x per cycle"),
    Coding("rate_even", rate_even, _dec_mean, {}, "static",
           summary="round(T x) spikes evenly spaced"),
    Coding("latency", latency, _dec_latency, {"threshold": ("float", 0.0)}, "static",
           summary="one spike at round((1-x)(T-1)); larger fires earlier"),
    Coding("latency_log", latency_log, _dec_latency_log, {"eps": ("float", 0.01)}, "static",
           summary="one spike at round((T-1) ln x / ln eps)"),
    Coding("phase", phase, _dec_phase, {"phases": ("int", 8)}, "static",
           summary="K-bit binary expansion, MSB first, repeated"),
    Coding("thermometer", thermometer, _dec_thermometer,
           {"levels": ("int", 8), "thresholds": ("floats", None), "sequence": ("bool", False)},
           "both", per_value=lambda p: len(p["thresholds"]) if p.get("thresholds") else p["levels"],
           summary="channel l on iff x >= (l + 1/2)/C"),
    Coding("population", population, _dec_population,
           {"levels": ("int", 8), "sequence": ("bool", False)}, "both",
           per_value=lambda p: p["levels"], summary="one-hot level channel floor(x C)"),
    Coding("delta", delta, _dec_delta, {"threshold": ("float", 0.1)}, "sequence",
           per_value=lambda p: 2, summary="delta modulation, on/off channels"),
    Coding("sigma_delta", sigma_delta, _dec_sigma_delta, {"threshold": ("float", 1.0)}, "sequence",
           per_value=lambda p: 2, summary="first-order sigma-delta, on/off channels"),
    Coding("none", none, None, {}, "static", summary="input already is spikes"),
]}

CODINGS: tuple[str, ...] = tuple(_REGISTRY)
"""Names of every registered coding."""


def get_coding(name: str) -> Coding:
    """The :class:`Coding` called ``name``; :class:`ConfigError` listing the choices otherwise.

    Args:
        name: one of :data:`CODINGS`.

    Returns:
        The registered :class:`Coding` (its encoder, decoder, parameters and modes).

    Raises:
        ConfigError: an unknown name, or a ``name`` that is not a string.

    Example:
        >>> c = get_coding("thermometer")
        >>> c.modes, c.per_value(resolve_params("thermometer", {"levels": 4}))
        ('both', 4)
    """
    if not isinstance(name, str) or name not in _REGISTRY:  # a list was a TypeError (unhashable)
        raise ConfigError(f"unknown coding {name!r}; choose one of {', '.join(CODINGS)}")
    return _REGISTRY[name]


def resolve_params(coding: str, params: dict | None = None) -> dict:
    """Check ``params`` against ``coding``'s parameters, coerce strings, fill defaults.

    ``sequence`` is accepted by every coding: ``True`` asks for one value per cycle.

    Args:
        coding: one of :data:`CODINGS`.
        params: parameter name -> value (Python values or strings as from the command line:
            ``"4"``, ``"true"``, ``"0.1,0.5"``), or ``None``.

    Returns:
        A new dict holding every parameter of the coding (the defaults filled in) and
        ``sequence``, each of its type (``int``, ``float``, ``bool``, tuple of floats).

    Raises:
        ConfigError: an unknown coding or parameter, ``params`` not a dict, a value of the wrong
            type or out of range (``levels < 1``, ``phases`` outside ``1 .. 30``, ``eps`` outside
            ``(0, 1)``, a step ``threshold <= 0``, thresholds not increasing), or a feeding mode
            the coding does not have (``sequence=True`` for a static code, or ``False`` for
            ``delta`` / ``sigma_delta``).

    Example:
        >>> resolve_params("thermometer", {"levels": "4"})
        {'levels': 4, 'thresholds': None, 'sequence': False}
    """
    c = get_coding(coding)
    if params is not None and not isinstance(params, dict):  # a list was dict()'s TypeError
        raise ConfigError(f"coding {coding!r}: parameters must be a dict of name -> value, got "
                          f"{type(params).__name__}")
    params = dict(params or {})
    allowed = dict(c.params)
    allowed.setdefault("sequence", ("bool", c.modes == "sequence"))
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        names = ", ".join(sorted(allowed)) or "none"
        raise ConfigError(f"coding {coding!r}: unknown parameter {unknown[0]!r}; its parameters are "
                          f"{names}")
    out = {k: (kind_default[1] if k not in params else _coerce(params[k], kind_default[0], k, coding))
           for k, kind_default in allowed.items()}
    _check_ranges(coding, out)
    if out["sequence"] and c.modes == "static":
        seq = ", ".join(n for n, r in _REGISTRY.items() if r.modes != "static")
        raise ConfigError(f"coding {coding!r} spreads one value over many cycles and cannot feed one "
                          f"value per cycle; for a sequence use one of {seq}, or set "
                          f"sequence=false to treat the sequence as a vector of static values")
    if not out["sequence"] and c.modes == "sequence":
        raise ConfigError(f"coding {coding!r} needs a time series fed one value per cycle "
                          f"(sequence=true): use it on a sequence, [B, L] or [B, L, features]")
    return out


def _check_ranges(coding: str, p: dict) -> None:
    """The encoders' own range rules, applied when the parameters are resolved, so that
    :func:`channels_per_value` and a file's recorded parameters are held to them too
    (``channels_per_value("thermometer", levels=-5)`` was -5)."""
    where = f"coding {coding!r}: parameter"
    if "levels" in p and p["levels"] < 1:
        raise ConfigError(f"{where} levels must be >= 1, got {p['levels']}")
    if coding == "phase" and not 1 <= p["phases"] <= 30:
        raise ConfigError(f"{where} phases must be 1 .. 30, got {p['phases']}")
    if coding == "latency_log" and not 0.0 < p["eps"] < 1.0:
        raise ConfigError(f"{where} eps must be in (0, 1), got {p['eps']}")
    if coding in ("delta", "sigma_delta") and p["threshold"] <= 0:
        raise ConfigError(f"{where} threshold must be > 0, got {p['threshold']}")
    if p.get("thresholds") is not None and np.any(np.diff(np.asarray(p["thresholds"])) <= 0):
        raise ConfigError(f"coding {coding!r}: thresholds must increase strictly, got "
                          f"{list(p['thresholds'])}")


def channels_per_value(coding: str, **params: Any) -> int:
    """How many spike channels one value becomes (1, ``levels``, or 2 for on/off codes).

    Args:
        coding: one of :data:`CODINGS`.
        **params: its parameters, as :func:`resolve_params` takes them.

    Returns:
        The channel count per value, an int ``>= 1``.

    Raises:
        ConfigError: an unknown coding, or a parameter :func:`encode` would refuse.

    Example:
        >>> channels_per_value("thermometer", levels=4), channels_per_value("delta")
        (4, 2)
    """
    return get_coding(coding).per_value(resolve_params(coding, params))


#: codes whose encoder makes a ``[steps, B, F]`` array of 8-byte values (rate_even's levels,
#: phase's shifted words) besides the uint8 spikes; the others work in place or per block
_PER_CYCLE_VALUES = {"rate_even": "float64", "phase": "int64"}


def encode(x: Any, coding: str, steps: int | None, seed: int = 0, first_sample: int = 0,
           **params: Any) -> Any:
    """Encode values ``x`` as spikes ``[T, B, channels]`` (uint8, on ``x``'s device).

    ``steps`` is ``T``; in sequence mode it must equal the sequence length (or be ``None``).
    ``params`` are the coding's parameters (strings are accepted, as from the command line).
    ``first_sample`` says ``x`` starts at that sample of a larger batch (a multiple of
    :data:`RANDOM_BLOCK`), so random codes encode a dataset in chunks exactly as at once.
    An empty batch ``x [0, ...]`` gives spikes ``[T, 0, channels]``.

    Args:
        x: the values (numpy, CuPy or nested lists): static ``[B, features...]`` (in ``[0, 1]``
            for every code but ``delta`` / ``sigma_delta``), a sequence ``[B, L]`` or
            ``[B, L, F]``, or for ``"none"`` spikes ``[T, B, C]``.
        coding: one of :data:`CODINGS`.
        steps: cycles ``T`` per sample; ``None`` only where ``x`` gives it (a sequence's ``L``,
            the ``T`` of ``"none"``).
        seed: a whole number ``>= 0``, for the random codes (``rate``).
        first_sample: ``x``'s first sample's index in the whole dataset (random codes).
        **params: the coding's parameters (:func:`resolve_params`).

    Returns:
        uint8 0/1 spikes ``[T, B, F * m]`` on ``x``'s array module, ``m`` =
        :func:`channels_per_value`; feature ``f`` owns channels ``f*m .. f*m + m - 1``.

    Raises:
        ConfigError: an unknown coding or parameter, a bad value (``steps``, ``seed`` or
            ``first_sample`` not a whole number in range; values not numbers, ragged, NaN or,
            for codes of ``[0, 1]``, outside it), more than
            :data:`~spikelut.limits.MAX_CYCLES` steps, or spikes ``[T, B, channels]`` (or, for
            ``rate_even`` and ``phase``, their 8-byte values per cycle ``[T, B, F]``) over
            :func:`spikelut.limits.max_array_bytes`, refused before they are made.

    Example:
        >>> encode(np.array([[0.5]]), "rate_even", steps=4)[:, 0, 0].tolist()
        [1, 0, 1, 0]
    """
    c = get_coding(coding)
    p = resolve_params(coding, params)
    sequence = p.pop("sequence")
    if steps is not None and (_whole(steps) is None or steps < 1):
        raise ConfigError(f"steps must be a positive integer, got {steps!r}")
    shape = tuple(_as_values(x, coding)[1].shape)
    if coding == "none":
        T = shape[0] if len(shape) == 3 else None
    elif sequence:
        T = shape[1] if len(shape) >= 2 else None
    else:
        T = None
    if T is not None and steps is not None and int(steps) != T:
        what = "the spikes have" if coding == "none" else "one value per cycle: the sequences have"
        raise ConfigError(f"coding {coding!r}: steps = {steps}, but {what} {T} cycles; "
                          f"pass steps = {T}")
    if steps is None:
        if T is None:
            raise ConfigError(f"coding {coding!r}: give the number of steps (cycles)")
        steps = T
    if _whole(steps) is None or steps < 1:
        raise ConfigError(f"steps must be a positive integer, got {steps!r}")
    steps = limits.check_steps(int(steps), ConfigError)
    if coding != "none" and len(shape) >= 2:
        # the spikes [T, B, channels] and the float64 values per cycle [T, B, F] that the
        # encoders make, bounded before either exists (steps = 10**12 was a MemoryError)
        B = shape[0]
        F = (shape[2] if len(shape) == 3 else 1) if sequence else int(np.prod(shape[1:]))
        limits.check_array_bytes((steps, B, F * c.per_value(p)), 1,
                                 f"coding {coding!r}: spikes [steps, samples, channels]", ConfigError)
        if coding in _PER_CYCLE_VALUES:  # the codes that compute an 8-byte value per cycle
            limits.check_array_bytes((steps, B, F), 8,
                                     f"coding {coding!r}: values per cycle [steps, samples, "
                                     f"features] ({_PER_CYCLE_VALUES[coding]})", ConfigError)
    if c.random:
        if _whole(seed) is None or seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
        if _whole(first_sample) is None or first_sample < 0:
            raise ConfigError(f"first_sample must be an integer >= 0 (a multiple of "
                              f"{RANDOM_BLOCK}), got {first_sample!r}")
        p["seed"] = int(seed)
        p["first_sample"] = int(first_sample)
    if c.modes == "both":
        p["sequence"] = sequence
    return c.encoder(x, steps, **p)


def decode(spikes: Any, coding: str, **params: Any) -> Any:
    """Estimate the encoded values from spikes (float64): ``[B, F]`` for static codes,
    ``[B, L, F]`` for sequences.

    Args:
        spikes: 0/1 spikes ``[T, B, F * m]`` (uint8 or bool; numpy or CuPy), as :func:`encode`
            made them.
        coding: one of :data:`CODINGS` with a decoder (all but ``"none"``, and ``rate`` only
            static).
        **params: the parameters the spikes were encoded with (``sigma_delta`` also takes
            ``window``, the cycles of its moving mean, default 1).

    Returns:
        float64 values on the spikes' array module: ``[B, F]`` for a static code (the formula of
        each code in this module's docstring), ``[B, L, F]`` for a sequence (``L = T``).

    Raises:
        ConfigError: a coding without a decoder, a bad parameter (as :func:`encode` checks it),
            or spikes that are not ``[T >= 1, B, channels]`` of 0/1 with a whole number of
            values' channels.

    Example:
        >>> s = encode(np.array([[0.25, 0.75]]), "thermometer", steps=2, levels=4)
        >>> decode(s, "thermometer", levels=4).tolist()
        [[0.25, 0.75]]
    """
    c = get_coding(coding)
    extra = {k: params.pop(k) for k in ("window",) if k in params and coding == "sigma_delta"}
    p = resolve_params(coding, params)
    if c.decoder is None:
        raise ConfigError(f"coding {coding!r} has no decoder")
    if c.modes != "both":
        p.pop("sequence")
    return c.decoder(spikes, **p, **extra)


__all__ = ["CODINGS", "Coding", "get_coding", "resolve_params", "channels_per_value", "encode",
           "decode", "rate", "rate_even", "latency", "latency_log", "phase", "thermometer",
           "population", "delta", "sigma_delta", "none"]
