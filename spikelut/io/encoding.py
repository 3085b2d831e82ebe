"""How a spike file's data were encoded, as its metadata and a model's ``meta["data"]`` record
it: the records, the ``spikelut encode`` options that reproduce them, and their differences."""

from __future__ import annotations

import contextlib
import json
import shlex
from typing import Any


from ..errors import FileFormatError, SpikelutError
from ..limits import MAX_CYCLES

from .hdf5 import _name, meta_json

def coding_hint(meta: dict, channels: int, inputs: int) -> str:
    """What to encode instead, for a spike file whose ``channels`` do not fit a network's
    ``inputs``: read from the file's metadata (``coding``, ``channels_per_value``, ``params``,
    written by ``spikelut encode``). Empty when the metadata does not say enough.

    Args:
        meta: the spike file's root attributes (``SpikeData.meta``).
        channels: the file's channel count.
        inputs: the network's input count.

    Returns:
        ``"; the file is <coding>-coded at ... : encode it with --coding <coding> --param
        levels=N ..."`` (escaped for the terminal), or ``""``. Metadata that does not parse
        gives ``""``: it never raises, so a wrong-width message is never replaced by another.

    Example:
        >>> coding_hint({"coding": "thermometer", "channels_per_value": 16, "params": "{}"}, 16, 4)
        '; the file is thermometer-coded at 16 channels per value, 1 value per cycle: encode it with --coding thermometer --param levels=4'
    """
    from ..coding import resolve_params

    coding, per = meta.get("coding"), meta.get("channels_per_value")
    if not isinstance(coding, str) or not isinstance(per, int) or per < 1 or channels % per:
        return ""
    try:
        params = meta_json(meta, "params") or {}
        defaults = resolve_params(coding, {})
    except (ValueError, SpikelutError):
        return ""
    # difference channels are coded like the values: each lag adds the series' channels again
    enc = _encoding_of(encoding_record(meta))
    if enc is None:
        return ""
    lags = [f" --differences {','.join(map(str, enc['differences']))}"] if enc["differences"] else []
    lags += ([f" --second-differences {','.join(map(str, enc['second_differences']))}"]
             if enc["second_differences"] else [])
    per_series = 1 + len(enc["differences"]) + len(enc["second_differences"])
    values = channels // per  # values per cycle (the series' channels and their differences)
    if (not isinstance(params, dict) or params.get("thresholds") or "levels" not in defaults
            or inputs % values or values % per_series):
        return ""
    name = _name(coding)
    return (f"; the file is {name}-coded at {per} channels per value, {values} value"
            f"{'' if values == 1 else 's'} per cycle: encode it with --coding {name} "
            f"--param levels={inputs // values}{''.join(lags)}")


def encoding_record(meta: dict) -> dict:
    """How a spike file's data were encoded, from its metadata, in the shape a model records it
    (``net.meta["data"]``, written by ``spikelut run`` and ``train``): ``dataset``, ``coding``,
    ``params`` and ``differences`` (checked by :func:`spikelut.differences.read_record`: a file
    from before second differences gets ``second_lags = []``). A part that does not parse is
    left out.

    Args:
        meta: a spike file's root attributes (``SpikeData.meta``: JSON text from a file) or the
            encoder's metadata (the values themselves).

    Returns:
        A new dict with those of ``dataset``, ``coding``, ``params`` and ``differences`` that
        are present and parse (``{}`` for a file without an encoding record); never raises.

    Example:
        >>> encoding_record({"coding": "thermometer", "params": '{"levels": 4}', "split": "test"})
        {'coding': 'thermometer', 'params': {'levels': 4}}
    """
    from ..differences import read_record

    rec = {}
    for key in ("dataset", "coding", "params", "differences"):
        with contextlib.suppress(FileFormatError):
            v = meta_json(meta, key)
            if v is not None:
                rec[key] = read_record(v) if key == "differences" else v
    return rec


def record_encoding(net: Any, meta: dict) -> None:
    """Add to ``net.meta["data"]`` how its training data were encoded, from the training spike
    file's metadata (:func:`encoding_record`: dataset, coding, its parameters, the difference
    channels' lags and constants), so the model file says how to encode new data for it
    (``spikelut info``) and ``simulate``, ``eval``, ``analyze``, ``prune --data``, ``ensemble
    --data`` and ``rtl --verify`` refuse a file encoded otherwise or of another cycle count.
    ``spikelut run`` and ``spikelut train`` call it; a file without these attributes adds
    nothing.

    Args:
        net: the :class:`~spikelut.network.Network` being trained; its ``meta`` dict is changed
            in place (``meta["data"]`` created or updated, other keys such as ``steps`` kept).
        meta: the training spike file's root attributes (``SpikeData.meta``).

    Returns:
        ``None``. Never raises: a part that does not parse is left out.

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, 2, [2], k=1)
        >>> record_encoding(net, {"coding": "thermometer", "params": '{"levels": 2}'})
        >>> net.meta["data"]
        {'coding': 'thermometer', 'params': {'levels': 2}}
    """
    rec = encoding_record(meta)  # a part that does not parse is left out
    if rec:
        net.meta.setdefault("data", {}).update(rec)


def _encoding_of(rec: Any) -> dict | None:
    """The parts of an encoding record that decide a file's spikes: coding, its parameters (the
    ``None`` ones dropped), the first and second difference lags. ``None`` when ``rec`` is no
    table, names no coding, or holds a ``differences`` record that does not parse (a model file
    is as untrusted as a spike file)."""
    from ..differences import read_record

    if not isinstance(rec, dict) or not isinstance(rec.get("coding"), str):
        return None
    params = rec.get("params") if isinstance(rec.get("params"), dict) else {}
    try:
        diffs = read_record(rec["differences"]) if "differences" in rec else {}
    except FileFormatError:
        return None
    return {"coding": rec["coding"],
            "params": {str(k): v for k, v in params.items() if v is not None},
            "differences": diffs.get("lags", []),
            "second_differences": diffs.get("second_lags", [])}


def encode_options(rec: Any) -> str:
    """The ``spikelut encode`` options that reproduce a model's recorded encoding
    (``net.meta["data"]``, written by ``run`` / ``train``); empty when it records none (or one that
    does not parse).

    Args:
        rec: the model's ``meta["data"]`` (any value: a model file is untrusted): ``dataset``,
            ``coding``, ``params``, ``differences`` and ``steps`` (cycles per sample; left out
            for a ``sequence`` coding and outside ``1 .. MAX_CYCLES``).

    Returns:
        The options as one line, each word quoted for the shell and escaped for the terminal;
        ``""`` when ``rec`` is no dict, names no coding or holds a ``differences`` record that
        does not parse. Never raises.

    Example:
        >>> encode_options({"dataset": "GunPoint", "coding": "thermometer", "steps": 150,
        ...                 "params": {"levels": 4, "thresholds": None, "sequence": True},
        ...                 "differences": {"lags": [], "second_lags": [4], "lo": [-0.1], "hi": [0.1]}})
        '--dataset GunPoint --coding thermometer --param levels=4 --param sequence=true --second-differences 4'
        >>> encode_options({"dataset": "my data/x.npz", "coding": "rate", "steps": 8})
        "--dataset 'my data/x.npz' --coding rate --steps 8"
    """
    enc = _encoding_of(rec)
    if enc is None:
        return ""
    # a command line to paste into a shell: each word from the file is quoted for the shell (a
    # dataset path with a space stays one word; '; rm ...' or '$(...)' in a model file runs
    # nothing), then escaped for the terminal
    out = ([f"--dataset {_name(shlex.quote(str(rec['dataset'])))}"]
           if isinstance(rec.get("dataset"), str) else [])
    out.append(f"--coding {_name(shlex.quote(enc['coding']))}")
    steps = rec.get("steps")
    if (not enc["params"].get("sequence") and isinstance(steps, int) and not isinstance(steps, bool)
            and 1 <= steps <= MAX_CYCLES):  # a model file's -5 or 2**40 is no advice to print
        out.append(f"--steps {int(rec['steps'])}")
    for k, v in enc["params"].items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, list):
            v = ",".join(str(i) for i in v)
        out.append(f"--param {_name(shlex.quote(f'{k}={v}'))}")
    for flag, key in (("--differences", "differences"), ("--second-differences", "second_differences")):
        if enc[key]:
            out.append(f"{flag} {','.join(str(int(i)) for i in enc[key])}")
    return " ".join(out)


def encoding_mismatch(model_rec: Any, meta: dict, theirs: str = "the model was trained on") -> str:
    """How a spike file's encoding differs from the one a model was trained on: ``""`` when they
    agree or either side does not record it (a model trained on arrays, a file not written by
    ``spikelut encode``), else ``"the file has X, <theirs> Y"`` naming the first difference
    among the coding, its parameters and the difference lags.

    Args:
        model_rec: the model's ``meta["data"]`` (``spikelut run`` and ``spikelut train`` record
            it), or :func:`encoding_record` of another file.
        meta: the spike file's root attributes (``SpikeData.meta``).
        theirs: how the message names ``model_rec``'s side.

    Returns:
        The difference as one phrase for an error message (values escaped for the terminal
        and cut to 200 characters), or ``""``. Never raises: a record that does not parse
        counts as none.

    Example:
        >>> model = {"coding": "thermometer", "params": {"levels": 4},
        ...          "differences": {"lags": [], "second_lags": [4], "lo": [-0.1], "hi": [0.1]}}
        >>> encoding_mismatch(model, {"coding": "thermometer", "params": '{"levels": 8}'})
        'the file has params {"levels": 8}, the model was trained on {"levels": 4}'
    """
    diff = encoding_difference(model_rec, encoding_record(meta))
    if diff is None:
        return ""
    key, got, want = diff
    return f"the file has {key + ' ' if key else ''}{got}, {theirs} {want}"


def encoding_difference(want: Any, got: Any) -> tuple[str, str, str] | None:
    """The first difference between two encoding records (a model's ``meta["data"]``,
    :func:`encoding_record` of a spike file), among the coding, its parameters and the difference
    lags: ``(key, got's value, want's value)``, the values as text escaped for the terminal and cut
    to 200 characters. When both lag kinds differ, naming one would mislead: ``key`` is then
    ``""`` and each value names both. ``None`` when the records agree or either side records
    none (a model trained on arrays, a file not written by ``spikelut encode``). The one rule
    behind :func:`encoding_mismatch` and the ensemble's member check.

    Args:
        want: the reference record (a model's ``meta["data"]``; any value, untrusted).
        got: the record compared with it.

    Returns:
        ``(key, got, want)`` with ``key`` one of ``"coding"``, ``"params"``, ``"differences"``,
        ``"second_differences"`` or ``""``, or ``None``. Never raises.

    Example:
        >>> encoding_difference({"coding": "rate"}, {"coding": "thermometer"})
        ('coding', 'thermometer', 'rate')
        >>> encoding_difference({"coding": "rate"}, {"coding": "rate", "params": {"x": None}}) is None
        True
    """
    a, b = _encoding_of(got), _encoding_of(want)
    if a is None or b is None:
        return None
    lags = ("differences", "second_differences")
    if all(a[k] != b[k] for k in lags):  # both kinds differ: naming one would mislead
        g, w = (" and ".join(f"{k} {json.dumps(enc[k])}" for k in lags) for enc in (a, b))
        return "", _name(g)[:200], _name(w)[:200]
    for key in ("coding", "params", *lags):
        if a[key] != b[key]:
            g, w = (json.dumps(v, sort_keys=True) if not isinstance(v, str) else v
                    for v in (a[key], b[key]))
            return key, _name(g)[:200], _name(w)[:200]
    return None
