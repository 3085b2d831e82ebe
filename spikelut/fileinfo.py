"""What a spike file or a result file holds, read from its header, labels and metadata alone.

``spikelut info`` shows it for these files as it shows a model's layers for a model file: the
shape, the labels per class, how the data were encoded (with the ``spikelut encode`` options that
reproduce them) and, for a result, the layers recorded and where it came from. No spike data are
read, so it is instant for a file of any size.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .io import encode_options, encoding_record, open_result, open_spikes

# metadata shown as they are (strings escaped by the caller): where the data came from
_SOURCE_KEYS = ("dataset", "split", "source", "seed", "model", "backend", "stimulus", "rate")


def describe_spike_file(path: str | os.PathLike) -> dict[str, Any]:
    """Describe a spike file (``spikelut encode``, ``stimulus``) or a result file
    (``spikelut simulate``) without reading its spikes.

    Args:
        path: an HDF5 file whose root attribute ``format`` is ``spikelut-spikes``.

    Returns:
        A JSON-ready dict: ``kind`` (``"spikes"`` or ``"result"``), ``cycles``, ``samples``,
        ``channels`` (``T, B, n_in`` of ``/spikes``); ``labels``: ``None`` or
        ``{"classes": [...], "counts": [...]}`` (the labels present, ascending, and how many
        samples have each); ``encoding``: the file's encoding record (``coding``, ``params``,
        ``dataset``, ``differences``; empty for random stimuli) and ``encode_options``, the
        ``spikelut encode`` options that reproduce the file (with its split, seed and sample
        count; ``""`` where no coding is recorded);
        ``source``: the recorded origin (dataset, split, seed, model, backend, ...); for a
        result also ``layers``, the nodes of each recorded layer.

    Raises:
        FileFormatError: not a spike or result file, or one that breaks the format's rules
            (as every reader checks them: links, sizes, dtypes, labels).

    Example:
        >>> import tempfile, pathlib
        >>> from spikelut.io import save_spikes
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.h5"
        >>> save_spikes(p, np.zeros((4, 3, 2), np.uint8), labels=[1, 0, 1],
        ...             meta={"coding": "rate", "dataset": "iris", "split": "test", "seed": 3})
        >>> d = describe_spike_file(p)
        >>> d["kind"], d["cycles"], d["samples"], d["channels"], d["labels"]
        ('spikes', 4, 3, 2, {'classes': [0, 1], 'counts': [1, 2]})
        >>> d["encode_options"]
        '--dataset iris --coding rate --steps 4 --split test --seed 3 --limit 3'
    """
    with open_spikes(path) as r:
        (T, B, n_in), labels, meta, result = r.shape, r.labels, r.meta, r.is_result
    out: dict[str, Any] = {"kind": "result" if result else "spikes", "cycles": T, "samples": B,
                           "channels": n_in, "labels": None}
    if labels is not None:
        # np.unique, not bincount: a label of 2**62 must not size an array
        classes, counts = np.unique(labels, return_counts=True)
        out["labels"] = {"classes": classes.tolist(), "counts": counts.tolist()}
    rec = encoding_record(meta)
    out["encoding"] = rec
    options = encode_options({**rec, "steps": T}) if "coding" in rec else ""
    if options:  # the split and the seed pick the samples and a random code's spikes
        if meta.get("split") in ("train", "test"):
            options += f" --split {meta['split']}"
        seed = meta.get("seed")
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
            options += f" --seed {int(seed)}"
        # the file's own sample count: --limit was not recorded, and the first B samples of the
        # split are the file (of a split of exactly B samples, --limit B changes nothing)
        options += f" --limit {B}"
    out["encode_options"] = options
    out["source"] = {k: meta[k] for k in _SOURCE_KEYS
                     if k in meta and isinstance(meta[k], (str, int, float, bool))}
    src = out["source"].get("source")
    if isinstance(src, str) and f"seed {out['source'].get('seed')}" in src:
        del out["source"]["seed"]  # "make_first_of_two(...), seed 0" says it already
    if result:
        with open_result(path) as rr:
            out["layers"] = list(rr.sizes)
    return out


__all__ = ["describe_spike_file"]
