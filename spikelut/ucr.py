"""UCR/UEA time-series classification sets shipped inside the ``aeon`` wheel, streamed one time step
per cycle.

``aeon`` (``pip install 'spikelut[ucr]'``) ships eight classification problems of the UCR (univariate)
and UEA (multivariate) archives in ``aeon/datasets/data/`` with their official train/test splits, so
they load offline. They become built-in sequence datasets of :mod:`spikelut.datasets`
(``--dataset GunPoint``, names case-insensitive); every sequence coding then feeds them one time
step per cycle, channels side by side.

Rules (``docs/ucr.md`` says the same for users):

* **values**: each channel ``c`` is scaled by ``(x - lo[c]) / (hi[c] - lo[c])`` and clipped into
  [0, 1], with ``lo``, ``hi`` the min and max of channel ``c`` over the TRAIN split only (a test
  value outside that range is clipped). A circuit applies the same two constants per channel to its
  stream; they are stored in the spike file's metadata (``scale_lo``, ``scale_hi``).
* **labels**: class index = position of the label in the archive's labels sorted numerically when
  all are numbers, else alphabetically; the names are kept as ``class_names``.
* **variable length** (JapaneseVowels, PickupGestureWiimoteZ): every sample is fed from cycle 0 and
  followed by "no data" cycles, in which every input channel is 0 whatever the coding, up to the
  longest series of the archive (both splits: a shape, not a statistic). The true lengths go into
  the metadata (``lengths``). Read over each sample's own cycles ``start <= t < length``
  (:func:`own_cycle_counts`: the circuit reads its counters when the stream ends), what follows
  the end can change no count; the plain readout instead counts the whole padded window (the
  circuit reads its counters at the window's end). ``<name>_eq`` are aeon's equal-length
  versions of the two sets (resampled by the archive's maintainers to one length; not a rule a
  streaming circuit can apply, offered for comparison).

Example:
    >>> from spikelut.datasets import load_dataset        # doctest: +SKIP
    >>> ds = load_dataset("gunpoint", split="test")         # doctest: +SKIP
    >>> ds.name, ds.x.shape, ds.classes                      # doctest: +SKIP
    ('GunPoint', (150, 150), 2)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import ConfigError, FileFormatError, ShapeError, ToolError

EXTRA = "ucr"
"""The pyproject extra that installs aeon."""


@dataclass(frozen=True)
class Facts:
    """What the archive says about one problem (the tests check the loaded data against it).

    Attributes:
        train, test: samples per split.
        min_len, max_len: series length range over both splits (equal for equal-length sets).
        channels: values per time step (1 = univariate).
        classes: number of classes.
        archive: ``"UCR"`` or ``"UEA"``.
        folder, file: where aeon keeps it: ``data/<folder>/<file>_TRAIN.ts``.
        variable: ``min_len != max_len`` (a property): samples are padded with "no data" cycles.

    Example:
        >>> f = SETS["JapaneseVowels"]
        >>> f.train, f.test, f.channels, f.variable, SETS["GunPoint"].variable
        (270, 370, 12, True, False)
    """

    train: int
    test: int
    min_len: int
    max_len: int
    channels: int
    classes: int
    archive: str
    folder: str
    file: str

    @property
    def variable(self) -> bool:
        return self.min_len != self.max_len


def _f(train, test, lo, hi, ch, classes, archive, folder, file=None) -> Facts:
    return Facts(train, test, lo, hi, ch, classes, archive, folder, file or folder)


SETS: dict[str, Facts] = {
    "ACSF1": _f(100, 100, 1460, 1460, 1, 10, "UCR", "ACSF1"),
    "ArrowHead": _f(36, 175, 251, 251, 1, 3, "UCR", "ArrowHead"),
    "BasicMotions": _f(40, 40, 100, 100, 6, 4, "UEA", "BasicMotions"),
    "GunPoint": _f(50, 150, 150, 150, 1, 2, "UCR", "GunPoint"),
    "ItalyPowerDemand": _f(67, 1029, 24, 24, 1, 2, "UCR", "ItalyPowerDemand"),
    "JapaneseVowels": _f(270, 370, 7, 29, 12, 9, "UEA", "JapaneseVowels"),
    "OSULeaf": _f(200, 242, 427, 427, 1, 6, "UCR", "OSULeaf"),
    "PickupGestureWiimoteZ": _f(50, 50, 29, 361, 1, 10, "UCR", "PickupGestureWiimoteZ"),
    "JapaneseVowels_eq": _f(270, 370, 25, 25, 12, 9, "UEA", "JapaneseVowels", "JapaneseVowels_eq"),
    "PickupGestureWiimoteZ_eq": _f(50, 50, 361, 361, 1, 10, "UCR", "PickupGestureWiimoteZ",
                                   "PickupGestureWiimoteZ_eq"),
}
"""Every classification problem aeon 1.x ships offline, by the name users know (plus aeon's
equal-length versions of the two variable-length ones)."""

NAMES: tuple[str, ...] = tuple(SETS)
_LOWER = {n.lower(): n for n in NAMES}


def canonical(name: str) -> str:
    """The archive's spelling of a UCR/UEA name given in any case; other names come back unchanged.

    Args:
        name: a dataset name.

    Returns:
        The key of :data:`SETS` that ``name`` names in any case, else ``name`` itself; never
        raises (:func:`check_name` refuses unknown names).

    Example:
        >>> canonical("gunpoint"), canonical("mnist1d")
        ('GunPoint', 'mnist1d')
    """
    return _LOWER.get(name.lower(), name)


def aeon_data_dir(name: str = "GunPoint") -> Path:
    """The folder of aeon's shipped data; ``name`` only words the error.

    Args:
        name: the dataset asked for, named in the error.

    Returns:
        The absolute path of ``aeon/datasets/data`` of the installed aeon (not checked to
        exist; the loader names a missing file).

    Raises:
        ToolError: aeon is not installed (the message says ``pip install 'spikelut[ucr]'``).

    Example:
        >>> aeon_data_dir().name                                  # doctest: +SKIP
        'data'
    """
    try:
        import aeon.datasets as ad
    except ImportError:
        raise ToolError(f"dataset {name!r} needs aeon: pip install 'spikelut[{EXTRA}]'") from None
    return Path(ad.__file__).resolve().parent / "data"


def _label_order(labels: np.ndarray) -> list[str]:
    names = sorted({str(v) for v in labels})
    try:
        return sorted(names, key=float)
    except ValueError:
        return names


@lru_cache(maxsize=4)
def _raw(name: str) -> dict[str, Any]:
    """Both splits of ``name`` as read by aeon: ``{split: (list of float64 [channels, L], labels)}``."""
    facts = SETS[name]
    folder = aeon_data_dir(name) / facts.folder
    from aeon.datasets import load_from_ts_file

    out = {}
    for split in ("train", "test"):
        path = folder / f"{facts.file}_{split.upper()}.ts"
        if not path.exists():
            raise FileFormatError(f"{path}: not in the installed aeon; reinstall it with "
                                  f"pip install --force-reinstall 'spikelut[{EXTRA}]'")
        try:
            X, y = load_from_ts_file(str(path))
        except (OSError, ValueError, IOError) as e:
            raise FileFormatError(f"{path}: aeon cannot read it: {e}") from None
        series = [np.asarray(s, np.float64) for s in X]
        if any(not np.isfinite(s).all() for s in series):
            raise FileFormatError(f"{path}: contains missing values (NaN)")
        out[split] = (series, np.asarray(y).astype(str))
    return out


def train_range(series: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel min and max over a list of ``[channels, L]`` series (the TRAIN split's).

    Args:
        series: at least one float ``[channels, L_i]`` array, one channel count, any lengths.

    Returns:
        ``(lo, hi)``: float ``[channels]`` each, the min and max of each channel over every
        series' time steps.

    Raises:
        ValueError: an empty list or series of different channel counts (numpy's
            concatenate); the shipped sets have neither.

    Example:
        >>> lo, hi = train_range([np.array([[1.0, 3.0]]), np.array([[-1.0]])])
        >>> lo.tolist(), hi.tolist()
        ([-1.0], [3.0])
    """
    cat = np.concatenate(series, axis=1)
    return cat.min(axis=1), cat.max(axis=1)


def scale(series: list[np.ndarray], lo: np.ndarray, hi: np.ndarray, steps: int) -> np.ndarray:
    """Scale and pad: float32 ``[N, steps, channels]``, ``(x - lo) / (hi - lo)`` clipped to [0, 1]
    per channel, 0 after each series' end.

    Args:
        series: ``N`` float ``[channels, L_i]`` arrays with ``L_i <= steps``.
        lo: float ``[channels]``, each channel's train minimum.
        hi: float ``[channels]``, each channel's train maximum (a constant channel,
            ``hi == lo``, divides by 1).
        steps: cycles per sample ``T`` (the longest series of the archive).

    Returns:
        float32 ``[N, steps, channels]`` in [0, 1].

    Raises:
        ValueError: a series longer than ``steps`` or of another channel count (numpy's
            broadcast error).

    Example:
        >>> scale([np.array([[0.0, 2.0, 4.0]])], np.array([0.0]), np.array([2.0]), 4)[0, :, 0].tolist()
        [0.0, 1.0, 1.0, 0.0]
    """
    x = np.zeros((len(series), steps, len(lo)), np.float32)
    for i, s in enumerate(series):
        x[i, :s.shape[1]] = _unit(s, lo, hi)
    return x


def _unit(s: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """One ``[channels, L]`` series as ``[L, channels]`` in [0, 1]: the rule of :func:`scale`
    (a constant channel, ``hi == lo``, divides by 1)."""
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.clip((s.T - lo) / span, 0.0, 1.0)


def quantile_thresholds(name: str, levels: int) -> list[float]:
    """Thermometer thresholds at the quantiles of the TRAIN split's scaled values.

    Threshold ``l`` lies at the ``(l + 1/2) / levels`` quantile of every scaled value of every
    training series (own cycles only, all channels pooled), moved down to the midpoint between
    that value and the next smaller distinct value, so ``x >= threshold`` holds exactly for the
    values at or above the quantile. Repeated thresholds (discrete data) are merged and a
    threshold at or below 0 is dropped (it would be a constant channel), so the list may be
    shorter than ``levels``. A circuit applies them as a bank of comparators on its scaled
    stream, like the uniform thresholds; no test-split value is read.

    Args:
        name: a UCR/UEA problem (any case).
        levels: thresholds wanted, >= 1.

    Returns:
        Strictly increasing floats in (0, 1]: ``[coding] thresholds`` of a thermometer config.

    Raises:
        ConfigError: unknown name or ``levels < 1``.
        ToolError: aeon is missing.

    Example:
        >>> quantile_thresholds("ItalyPowerDemand", 4)      # doctest: +SKIP
        [0.1301..., 0.3899..., 0.5630..., 0.7013...]
    """
    check_name(name)
    if not isinstance(levels, int) or isinstance(levels, bool) or levels < 1:
        raise ConfigError(f"quantile thresholds: levels must be an integer >= 1, got {levels!r}")
    series = _raw(canonical(name))["train"][0]
    lo, hi = train_range(series)
    v = np.concatenate([_unit(s, lo, hi).ravel() for s in series])
    # the same float32 rounding as the encoded stream, so a threshold never splits a value
    v = v.astype(np.float32).astype(np.float64)
    distinct = np.unique(v)
    q = np.quantile(v, (np.arange(levels) + 0.5) / levels, method="higher")
    at = np.unique(np.searchsorted(distinct, q))
    at = at[at > 0]                                  # at the smallest value: always on
    return [float((distinct[i - 1] + distinct[i]) / 2) for i in at]


def load(name: str, split: str) -> "Dataset":  # noqa: F821 (lazy import: datasets imports us)
    """Load one split of a UCR/UEA problem as a sequence :class:`~spikelut.datasets.base.Dataset`.

    ``x`` is float32 ``[N, L]`` (univariate) or ``[N, L, channels]``, scaled with the TRAIN split's
    per-channel min and max; ``meta`` holds ``scale_lo``, ``scale_hi``, ``class_names`` and, for
    variable-length sets, ``lengths`` (list of int, one per sample).

    Args:
        name: a UCR/UEA problem (any case; the dataset is named in the archive's spelling).
        split: ``"train"`` or ``"test"``.

    Returns:
        The :class:`~spikelut.datasets.base.Dataset` (kind ``"sequence"``, ``y`` int64
        ``[N]``, ``shape`` ``(L,)`` or ``(L, channels)`` with ``L`` the longest series).

    Raises:
        ConfigError: an unknown name or split.
        ToolError: aeon is missing.
        FileFormatError: the installed aeon lacks or cannot read the file, or a test label
            does not occur in the train split.

    Example:
        >>> ds = load("italypowerdemand", "test")                 # doctest: +SKIP
        >>> ds.name, ds.x.shape, ds.x.dtype.name, ds.meta["class_names"]  # doctest: +SKIP
        ('ItalyPowerDemand', (1029, 24), 'float32', ['1', '2'])
    """
    from .datasets import Dataset

    # SETS[name] / raw[split] were KeyError tracebacks for "gunpoint" or split "val"
    check_name(name)
    name = canonical(name)
    if split not in ("train", "test"):
        raise ConfigError(f"unknown split {split!r}; choose train or test")
    facts = SETS[name]
    raw = _raw(name)
    lo, hi = train_range(raw["train"][0])
    series, labels = raw[split]
    names = _label_order(raw["train"][1])
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise FileFormatError(f"{name} {split}: labels {unknown} do not occur in the train split")
    y = np.array([index[v] for v in labels], np.int64)
    x = scale(series, lo, hi, facts.max_len)
    if facts.channels == 1:
        x = x[:, :, 0]
    meta: dict[str, Any] = {
        "source": f"aeon {_aeon_version()}: {facts.archive} archive, {facts.file}_{split.upper()}.ts",
        "scale": "per channel (x - scale_lo[c]) / (scale_hi[c] - scale_lo[c]) clipped to [0, 1]; "
                 "scale_lo, scale_hi = min, max of the train split",
        "scale_lo": [float(v) for v in lo], "scale_hi": [float(v) for v in hi],
        "class_names": names,
    }
    if facts.variable:
        meta["lengths"] = [int(s.shape[1]) for s in series]
        meta["padding"] = "no data (every input channel 0) after each sample's end"
    return Dataset(name, x, y, facts.classes, "sequence", tuple(x.shape[1:]), split, meta)


def _aeon_version() -> str:
    from importlib.metadata import version

    return version("aeon")


def loaders() -> dict[str, Callable[[str, int], Any]]:
    """``{name: loader(split, seed)}`` for the registry of :mod:`spikelut.datasets`.

    Returns:
        A new dict, one entry per name of :data:`NAMES`; each loader calls :func:`load` (the
        seed is unused: the archive's splits are fixed) and raises as it does. Imports nothing.

    Example:
        >>> sorted(loaders())[:2]
        ['ACSF1', 'ArrowHead']
    """
    return {n: (lambda split, seed, n=n: load(n, split)) for n in NAMES}


def blank_padding(spikes: np.ndarray, lengths: Any) -> np.ndarray:
    """Zero every input channel from each sample's end on: the "no data" code of padded cycles.

    Args:
        spikes: uint8 ``[T, B, channels]`` (changed in place).
        lengths: int ``[B]``, the samples' own lengths in cycles.

    Returns:
        ``spikes``, with ``spikes[t, b] = 0`` for every ``t >= lengths[b]``.

    Raises:
        ShapeError: ``lengths`` not ``[B]`` (one length was silently broadcast to every sample).

    Example:
        >>> s = np.ones((3, 2, 1), np.uint8)
        >>> blank_padding(s, [1, 3])[:, :, 0].T.tolist()
        [[1, 0, 0], [1, 1, 1]]
    """
    lengths = _lengths(lengths, spikes.shape[1])
    spikes[np.arange(spikes.shape[0])[:, None] >= lengths[None, :]] = 0
    return spikes


def _lengths(lengths: Any, samples: int) -> np.ndarray:
    """``lengths`` as int64 ``[samples]``; numpy broadcast one length over every sample (or
    failed with its own traceback for another count)."""
    a = np.asarray(lengths)
    if a.shape != (samples,) or (a.size and a.dtype.kind not in "iu"):
        raise ShapeError(f"lengths: expected {samples} whole numbers (one per sample), got "
                         f"{a.dtype} of shape {a.shape}")
    return a.astype(np.int64)


def meta_list(meta: dict, key: str) -> list | None:
    """A list kept in a spike file's metadata (``lengths``, ``scale_lo``, ...), whether the dict
    came from :func:`~spikelut.datasets.encoding.encode_dataset` (a list) or from a file (JSON text).

    Args:
        meta: a spike file's root attributes or an encoder's metadata.
        key: the entry's name.

    Returns:
        The list (its items as stored: not checked), or ``None`` when ``key`` is absent.

    Raises:
        FileFormatError: text that is not JSON, nested deeper than
            :data:`spikelut.limits.MAX_JSON_DEPTH`, or a value that is not a list.

    Example:
        >>> meta_list({"lengths": "[3, 5]"}, "lengths"), meta_list({}, "lengths")
        ([3, 5], None)
    """
    v = meta.get(key)
    if v is None:
        return None
    if isinstance(v, str):
        from . import limits

        # text from a file: nesting bounded before parsing ('[' * 100000 was a RecursionError
        # traceback), and the text shown escaped
        try:
            if not limits.json_depth_ok(v):
                raise ValueError
            v = json.loads(v)
        except (ValueError, RecursionError):
            from .escape import terminal

            raise FileFormatError(f"metadata {key}: not a JSON list (nested at most "
                                  f"{limits.MAX_JSON_DEPTH} levels): {terminal(v[:40])!r}") from None
    if not isinstance(v, list):
        raise FileFormatError(f"metadata {key}: expected a list, got {type(v).__name__}")
    return v


def own_cycle_counts(readout_spikes: np.ndarray, class_of: np.ndarray, classes: int, start: int,
                     lengths: Any = None) -> np.ndarray:
    """Readout counts over each sample's own cycles ``start <= t < lengths[b]``.

    Args:
        readout_spikes: 0/1 ``[T, B, n_readout]``, the readout layer's spikes.
        class_of: int ``[n_readout]``, class of each readout node (-1: not counted).
        classes: number of classes.
        start: first counted cycle (the model's readout start).
        lengths: int ``[B]`` or ``None`` (every sample lasts ``T`` cycles: the plain readout).

    Returns:
        int64 ``[B, classes]``; the prediction is its argmax (ties to the lowest class).

    Raises:
        ShapeError: ``lengths`` not ``[B]`` whole numbers.

    Example:
        >>> s = np.array([[[1, 0]], [[0, 1]], [[0, 1]]], np.uint8)     # T=3, B=1, two nodes
        >>> own_cycle_counts(s, np.array([0, 1]), 2, 0, [1]).tolist()
        [[1, 0]]
    """
    T, B, _ = readout_spikes.shape
    end = np.full(B, T) if lengths is None else np.minimum(_lengths(lengths, B), T)
    t = np.arange(T)[:, None]
    window = ((t >= start) & (t < end[None, :])).astype(np.int64)           # [T, B]
    per_node = np.einsum("tb,tbn->bn", window, readout_spikes.astype(np.int64))
    counts = np.zeros((B, classes), np.int64)
    for c in range(classes):
        counts[:, c] = per_node[:, class_of == c].sum(axis=1)
    return counts


def own_cycle_accuracy(net: Any, spikes: np.ndarray, labels: np.ndarray, lengths: Any = None,
                       backend: str = "auto") -> float:
    """Simulate ``net`` on ``spikes [T, B, n_in]`` and score it with :func:`own_cycle_counts`.

    Args:
        net: the :class:`~spikelut.network.Network`.
        spikes: uint8 0/1 ``[T, B, n_in]``.
        labels: int ``[B]``.
        lengths: int ``[B]``, each sample's own length in cycles, or ``None`` (all ``T``).
        backend: the simulation backend (:func:`spikelut.api.simulate`).

    Returns:
        The fraction of samples whose own-cycle prediction is their label, in [0, 1].

    Raises:
        ShapeError: spikes that do not fit the network, or ``lengths`` not ``[B]``.
        ConfigError: an unknown or unavailable backend.

    Example:
        >>> own_cycle_accuracy(net, data.spikes, data.labels, data.meta.get("lengths"))  # doctest: +SKIP
        0.95
    """
    from .api import simulate

    res = simulate(net, spikes, backend=backend, record="readout").to_numpy()
    ro = net.readout
    counts = own_cycle_counts(res.layer_spikes[ro.layer], np.asarray(ro.class_of), ro.classes,
                              ro.start, lengths)
    return float((counts.argmax(axis=1) == np.asarray(labels)).mean())


def describe() -> list[dict]:
    """One row per problem: name, kind, classes, shape, split sizes, length range, channels.

    Returns:
        A new list of dicts, in :data:`NAMES` order, with ``name``, ``kind`` (``"sequence"``),
        ``classes``, ``shape`` (``[L]`` or ``[L, channels]``, ``L`` the longest series),
        ``train``, ``test`` (samples), ``length`` (``"150"`` or ``"7-29"``), ``channels``,
        ``archive`` and ``needs`` (the pip extra). Needs no aeon and never raises.

    Example:
        >>> {k: describe()[5][k] for k in ("name", "shape", "length")}
        {'name': 'JapaneseVowels', 'shape': [29, 12], 'length': '7-29'}
    """
    rows = []
    for n, f in SETS.items():
        shape = [f.max_len] if f.channels == 1 else [f.max_len, f.channels]
        length = str(f.max_len) if not f.variable else f"{f.min_len}-{f.max_len}"
        rows.append({"name": n, "kind": "sequence", "classes": f.classes, "shape": shape,
                     "train": f.train, "test": f.test, "length": length, "channels": f.channels,
                     "archive": f.archive, "needs": f"spikelut[{EXTRA}]"})
    return rows


def check_name(name: str) -> None:
    """Refuse a name that is not a UCR/UEA problem shipped by aeon.

    Args:
        name: the name asked for, in any case.

    Returns:
        ``None`` when :func:`canonical` of ``name`` is in :data:`SETS`.

    Raises:
        ConfigError: naming the known problems.

    Example:
        >>> check_name("gunpoint")
        >>> check_name("gun")
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: unknown UCR/UEA dataset 'gun'; choose one of ACSF1, ArrowHead, BasicMotions, GunPoint, ItalyPowerDemand, JapaneseVowels, OSULeaf, PickupGestureWiimoteZ, JapaneseVowels_eq, PickupGestureWiimoteZ_eq
    """
    if canonical(name) not in SETS:
        raise ConfigError(f"unknown UCR/UEA dataset {name!r}; choose one of {', '.join(NAMES)}")


__all__ = ["Facts", "SETS", "NAMES", "EXTRA", "canonical", "aeon_data_dir", "train_range", "scale",
           "quantile_thresholds", "load", "loaders", "blank_padding", "meta_list", "own_cycle_counts", "own_cycle_accuracy", "describe",
           "check_name"]
