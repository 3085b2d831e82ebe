"""Encoding a dataset into spikes: the plan (checked and bounded before any work) and the
encoding itself, a chunk of samples at a time."""


from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .. import coding as _coding
from .. import limits
from .. import ucr as _ucr
from ..errors import ConfigError
from ..io import SpikeData

from .base import Dataset
from .files import SampleRanges
from .load import load_dataset

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
        coding: the coding's name (``"none"`` for a spike dataset).
        params: the coding's parameters, every default filled in.
        steps: cycles per sample ``T``.
        seed: the seed of a random coding.
        spikes: ``True`` for a spike dataset (its spikes are copied, padded with silent
            cycles to ``steps``).
        align: chunk starts must be multiples of this (``RANDOM_BLOCK`` for a random code, so
            chunked spikes equal the one-shot ones).

    Example:
        >>> plan = plan_encoding("first_of_two", None, steps=24, split="test", limit=5)
        >>> plan.shape, plan.coding, plan.encode(0, 2).shape, int(plan.encode(0, 5)[20:].sum())
        ((24, 5, 2), 'none', (24, 2, 2), 0)
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
        """Spikes of samples ``b0 .. b1 - 1``: uint8 0/1 ``[T, b1 - b0, channels]``.

        Raises:
            ConfigError: ``b0`` is not a multiple of :attr:`align`.
        """
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

    Args:
        name_or_path: a built-in name, a UCR/UEA name or a file (:func:`load_dataset`).
        coding: a coding of :data:`spikelut.coding.CODINGS`, or ``None`` for the kind's
            :data:`DEFAULT_CODING`; ignored (recorded as ``coding_ignored``) for spikes.
        steps: cycles per sample ``T``: required for a coding that spreads each value over
            cycles; the sequence length or ``None`` for one value per cycle; ``None``, the
            dataset's cycles or more for spikes.
        split: ``"train"`` or ``"test"``.
        seed: seeds a synthetic task and a random coding (0 .. 2**63 - 1).
        limit: keep the first ``limit`` samples in file order (a positive integer); classes
            lost that way go to ``meta["limit_missing_classes"]``.
        differences: lags in cycles of difference channels (empty: none).
        second_differences: lags of second-difference channels (empty: none).
        **params: the coding's parameters (``levels=8``, ...), over :data:`DEFAULT_PARAMS`.

    Returns:
        An :class:`EncodingPlan` whose ``shape`` is ``(T, N, channels)`` and whose ``meta``
        holds the spike file's metadata. Only one sample is encoded here (to settle ``T`` and
        the channels).

    Raises:
        ConfigError: an unknown dataset, split, coding or parameter; ``steps`` missing, not
            allowed or past :data:`spikelut.limits.MAX_CYCLES`; a ``limit`` or ``seed`` that is
            no fitting integer; differences for data that are not a sequence fed one value per
            cycle, or lags that do not fit its length; more channels per value than
            :data:`spikelut.limits.MAX_INPUTS`.
        FileFormatError: a dataset file that is missing its parts, malformed or empty.

    Example:
        >>> plan = plan_encoding("mnist5k", "rate", steps=4, split="test", limit=10)
        >>> plan.shape, plan.align, plan.encode(0, 3).shape
        ((4, 10, 784), 256, (4, 3, 784))
    """
    if steps is not None and not isinstance(steps, bool) and isinstance(steps, (int, np.integer)):
        limits.check_steps(steps, ConfigError)  # before any array of that many cycles is made
    ds = load_dataset(name_or_path, split, seed, lazy=True)  # a spike file stays on disk
    if limit is not None:
        whole = _whole(limit)
        if whole is None or whole < 1:
            raise ConfigError(f"limit must be a positive integer, got {limit!r}")
        limit = whole
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
            whole = _whole(steps)
            if whole is None or whole < T:
                raise ConfigError(f"dataset {ds.name} is spikes of {T} cycles: steps must be {T} or "
                                  f"more (extra cycles are silent), got {steps!r}")
            T = limits.check_steps(whole, ConfigError)  # 1e30 as a float passed the int check
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


def _whole(v: Any) -> int | None:
    """``v`` as an int when it is a whole number (not a bool), else ``None``: ``int(v) != v`` on
    NaN, infinity or text was a ValueError or OverflowError traceback."""
    if isinstance(v, bool):
        return None
    try:
        return int(v) if int(v) == v else None
    except (TypeError, ValueError, OverflowError):
        return None


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

    Args:
        meta: an :class:`EncodingPlan`'s or a spike file's metadata; reads
            ``limit_missing_classes`` (class indices; at most 20 are named).
        samples: the number of samples kept (``limit``), for the message.

    Returns:
        The note (no trailing period), or ``""`` when no class is missing. Never raises.

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
    from ..differences import RULE, add_differences, check_lags, difference_range

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

    Args:
        name_or_path: as for :func:`plan_encoding`, as are ``coding``, ``steps``, ``split``,
            ``seed``, ``limit``, ``differences``, ``second_differences`` and ``**params``.

    Returns:
        A :class:`~spikelut.io.SpikeData`: ``spikes`` uint8 0/1 ``[T, N, channels]``,
        ``labels`` int64 ``[N]``, ``meta`` for :func:`~spikelut.io.save_spikes`.

    Raises:
        ConfigError: as :func:`plan_encoding`.
        FileFormatError: as :func:`plan_encoding`, or (for a spike file read lazily) data
            that cannot be read or are not 0/1.

    Example:
        >>> sd = encode_dataset("mnist5k", "rate", steps=4, split="test", limit=10)
        >>> sd.spikes.shape, sd.labels.shape
        ((4, 10, 784), (10,))
    """
    plan = plan_encoding(name_or_path, coding, steps, split, seed, limit, differences,
                         second_differences, **params)
    return SpikeData(plan.encode(0, plan.shape[1]), plan.labels, plan.meta)
