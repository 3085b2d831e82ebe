"""Loading a dataset by name or path (:func:`load_dataset`), the files it reads, and the list of
built-in and UCR/UEA sets."""


from __future__ import annotations

import os
from pathlib import Path


from .. import ucr as _ucr
from ..errors import ConfigError, FileFormatError

from .base import DATASETS, Dataset, SPLITS
from .builtin import _BUILTIN
from .files import _load_idx, _load_npz, _load_spike_file

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

    Args:
        name_or_path: a built-in name (:data:`DATASETS`), a UCR/UEA name (any case) or a file:
            IDX (``*idx*`` or a folder of them), ``.npz``, or a spike file ``.h5``/``.hdf5``.
        split: ``"train"`` or ``"test"``.
        seed: integer 0 .. :data:`MAX_SEED`.
        lazy: keep a spike file's spikes on disk and an event stream as events.

    Returns:
        The :class:`Dataset` of that split: ``x`` as :class:`Dataset` describes it per kind
        (float ``[N, features]``, float ``[N, L]``/``[N, L, F]`` or uint8 ``[T, N, C]``), ``y``
        int64 ``[N]``.

    Raises:
        ConfigError: an unknown split, name or file type, an empty name, a seed that is not an
            integer 0 .. 2**63 - 1, or a path that does not exist (the message says where
            relative paths are read from, and suggests a close built-in name).
        FileFormatError: a built-in file missing or corrupt (with how to rebuild it); a user
            file unreadable, malformed or with an empty axis (0 samples, cycles, channels or
            features).

    Example:
        >>> ds = load_dataset("first_of_two", split="test", seed=0)
        >>> ds.x.shape, ds.kind, ds.classes, len(ds)
        ((20, 200, 2), 'spikes', 2, 200)
    """
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose train or test")
    # a string, None or 1.5 was int()'s ValueError/TypeError or ran as 1 (callers past the
    # API's own check: encode_dataset, plan_encoding)
    try:
        whole = not isinstance(seed, (bool, str)) and int(seed) == seed and seed >= 0
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole:
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
        return _not_empty(_load_idx(path, split), path)
    if suffix == ".npz":
        return _not_empty(_load_npz(path, split, lazy), path)
    if suffix in (".h5", ".hdf5"):
        return _not_empty(_load_spike_file(path, split, lazy), path)
    raise ConfigError(f"{path}: unknown dataset file type {suffix or '(no suffix)'!r}; use MNIST-style "
                      f"IDX files, .npz (x, y or an event stream) or a spikelut spike file (.h5)")


_AXES = {"image": ("samples", "features"), "sequence": ("samples", "steps", "features"),
         "spikes": ("cycles", "samples", "channels")}


def _not_empty(ds: Dataset, path: Path) -> Dataset:
    """``ds`` when every axis of its data has an entry; a file of 0 channels, features, cycles or
    samples was encoded into a spike file of nothing (exit 0) that no model can read."""
    shape = tuple(int(v) for v in ds.x.shape)
    empty = [name for name, size in zip(_AXES[ds.kind], shape) if size == 0]
    if empty:
        reader = getattr(ds.x, "reader", None)  # a spike file read lazily: opened, not returned
        if reader is not None:
            reader.close()
        raise FileFormatError(f"{path}: {ds.kind} data of shape {shape} has no {' and no '.join(empty)}; "
                              f"give a dataset with at least one of each")
    return ds


def dataset_files(name_or_path: str | os.PathLike) -> list[Path]:
    """The regular files :func:`load_dataset` reads for ``name_or_path`` (both splits): ``[]``
    for a built-in or UCR/UEA name, the file itself, an IDX file and its labels file, or a
    folder's IDX files. What a job's fingerprint hashes, so that a dataset file replaced since
    the last run is encoded again (missing files and special files are left out: the loader
    says what is wrong with them).

    Args:
        name_or_path: as for :func:`load_dataset`.

    Returns:
        The paths of the existing regular files, in a fixed order (a folder's sorted). Never
        raises: a folder that cannot be listed gives ``[]`` (the loader then says why).

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
        try:
            files = sorted(q for q in path.iterdir() if "idx" in q.name.lower())
        except OSError:  # an unreadable folder was a PermissionError traceback
            return []
    else:
        files = [path]
        for a, b in (("images-idx3", "labels-idx1"), ("images.idx3", "labels.idx1")):
            if a in path.name:
                files.append(path.with_name(path.name.replace(a, b)))
    return [q for q in files if os.path.isfile(q)]



def describe() -> list[dict]:
    """One row per built-in dataset, then one per UCR/UEA set (:func:`spikelut.ucr.describe`).

    Returns:
        A new list of dicts with ``name``, ``kind``, ``classes``, ``shape`` (one sample's, a
        list) and the ``train`` and ``test`` sizes (samples); the UCR/UEA rows add their own
        keys. Reads no file and never raises.

    Example:
        >>> describe()[0]
        {'name': 'mnist5k', 'kind': 'image', 'classes': 10, 'shape': [28, 28], 'train': 4000, 'test': 1000}
    """
    return [
        {"name": "mnist5k", "kind": "image", "classes": 10, "shape": [28, 28], "train": 4000, "test": 1000},
        {"name": "mnist1d", "kind": "sequence", "classes": 10, "shape": [40], "train": 4000, "test": 1000},
        {"name": "first_of_two", "kind": "spikes", "classes": 2, "shape": [20, 2], "train": 1000,
         "test": 200},
        {"name": "patterns", "kind": "spikes", "classes": 4, "shape": [20, 8], "train": 1000, "test": 200},
    ] + _ucr.describe()
