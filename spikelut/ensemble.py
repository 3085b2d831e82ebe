"""Ensembles: several networks side by side as one circuit whose class counts add.

An ensemble of ``M`` member networks with the same layer structure is itself a network: layer
``i`` of the ensemble holds the nodes of layer ``i`` of member 0, then of member 1, and so on;
every tap keeps its source layer and delay and has its node index moved by the sizes of the
members before it; input taps are unchanged (all members read the same input channels). The
members never read each other, so each member's spikes in the ensemble equal its spikes alone,
bit for bit, and the ensemble's readout counts are the sum of the members' counts:

    count_ens[b, c] = sum_m count_m[b, c]

That is the vote of the members' count vectors (scikit-learn's ``VotingClassifier`` with
``voting="soft"`` on counts, a member with more readout nodes per class weighing more), and its
argmax, ties to the lowest class index, is the ensemble's prediction. The circuit is the members'
LUTs and flip-flops side by side plus the wider readout counters; nothing new is needed in the RTL.

Why: on small training sets (the UCR/UEA sets have 36-1,000 series) every member fits its
training data exactly and errs differently elsewhere; averaging independently trained members
(different wiring and initialisation seeds) cuts that variance, the textbook reason for bagging
and seed ensembles (Breiman 1996, "Bagging predictors"; Lakshminarayanan et al. 2017, "Simple
and scalable predictive uncertainty estimation using deep ensembles").

:func:`member_config` gives member ``m``'s config (wiring seed and training seed both moved by
``m``, so member 0 is the config's own network); :func:`train_ensemble` trains the members one
after another (each resumable) and returns the merged network.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .errors import ConfigError, NetworkError, ShapeError
from .network import Layer, Network, Readout

__all__ = ["ensemble", "member_config", "member_sizes", "member_stamp", "summary", "MAX_MEMBERS",
           "train_ensemble", "EnsembleResult"]

MAX_MEMBERS = 256
"""Most members one ensemble may have (a bound checked before anything is built)."""

_MISSING = object()


def _check_members(nets: Sequence[Network], names: Sequence[str | None] | None = None) -> None:
    from .analog import spec_of

    def member(m: int) -> str:  # "member 1 (b.h5)": a member read from a file is named by it
        name = names[m] if names is not None and m < len(names) else None
        return f"member {m} ({name})" if name else f"member {m}"

    if not 1 <= len(nets) <= MAX_MEMBERS:
        raise NetworkError(f"an ensemble needs 1 to {MAX_MEMBERS} member networks, got {len(nets)}")
    first = nets[0]
    for m, net in enumerate(nets):
        if not isinstance(net, Network):
            raise NetworkError(f"ensemble member {m}: expected a Network, got {type(net).__name__}")
        if spec_of(net) is not None:
            raise NetworkError(f"ensemble {member(m)} is an analog model; an ensemble is a binary "
                               f"circuit: train the members without [train] analog_bits")
        if m == 0:
            continue

        def differ(what: str, a: Any, b: Any) -> NetworkError:
            return NetworkError(f"ensemble {member(m)} does not fit {member(0)}: {what} {b} vs {a}; "
                                f"every member needs the same inputs, layers (k, refractory), "
                                f"readout layer, classes and start")

        if net.n_in != first.n_in:
            raise differ("inputs", first.n_in, net.n_in)
        if len(net.layers) != len(first.layers):
            raise differ("number of layers", len(first.layers), len(net.layers))
        for i, (a, b) in enumerate(zip(first.layers, net.layers)):
            if a.k != b.k:
                raise differ(f"layer {i} k", a.k, b.k)
            if a.refractory != b.refractory:
                raise differ(f"layer {i} refractory", a.refractory, b.refractory)
        ra, rb = first.readout, net.readout
        for attr in ("layer", "classes", "start"):
            if getattr(ra, attr) != getattr(rb, attr):
                raise differ(f"readout {attr}", getattr(ra, attr), getattr(rb, attr))
        other = _trained_otherwise(first, net)
        if other:
            # every member reads the same spikes: one of them would read data it was never
            # trained on, and the merged model, whose records differ, could not say which
            raise NetworkError(f"ensemble {member(m)} was trained on data encoded otherwise than "
                               f"{member(0)} ({other}); every member must be trained on data "
                               f"encoded the same way")
    # two model files holding the same circuit (a copy of one file): only its votes doubled, as
    # a file given twice would (spikelut ensemble refuses that); networks passed as objects may
    # repeat on purpose
    named = [m for m in range(len(nets)) if names is not None and m < len(names) and names[m]]
    for i, m in enumerate(named):
        for q in named[:i]:
            if _same_circuit(nets[q], nets[m]):
                raise NetworkError(f"ensemble {member(m)} is the same network as {member(q)} (a "
                                   f"copy of one model file?); it would only double that "
                                   f"member's votes: give each member once")


def _trained_otherwise(a: Network, b: Network) -> str:
    """How the training data of ``b`` were encoded otherwise than those of ``a`` ("coding rate vs
    thermometer", "cycles per sample 6 vs 4"), from the records training leaves in
    ``meta["data"]``; ``""`` when they agree or either records none (a model trained on arrays)."""
    from .io import encoding_difference
    from .rtl.writer import model_steps

    diff = encoding_difference(a.meta.get("data"), b.meta.get("data"))
    if diff is not None:
        key, got, want = diff
        return f"{key + ' ' if key else ''}{got} vs {want}"
    sa, sb = model_steps(a), model_steps(b)
    if sa is not None and sb is not None and sa != sb:
        return f"cycles per sample {sb} vs {sa}"
    return ""


def _same_circuit(a: Network, b: Network) -> bool:
    """Equal tables, wiring, refractory periods and readout (names and metadata aside)."""
    if a.sizes != b.sizes or a.n_in != b.n_in:
        return False
    ra, rb = a.readout, b.readout
    if (ra.layer, ra.classes, ra.start) != (rb.layer, rb.classes, rb.start) or not np.array_equal(
            ra.class_of, rb.class_of):
        return False
    return all(la.refractory == lb.refractory and all(
        np.array_equal(getattr(la, f), getattr(lb, f)) for f in ("table", "source", "index", "delay"))
        for la, lb in zip(a.layers, b.layers))


def _require_network(net: Any, what: str) -> None:
    """One line for anything but a Network (None was an AttributeError on ``net.meta``)."""
    if not isinstance(net, Network):
        raise NetworkError(f"{what}: expected a Network, got {type(net).__name__}")


def member_sizes(net: Network) -> list[list[int]] | None:
    """The per-member layer sizes an ensemble records in ``meta["ensemble"]["sizes"]``, or
    ``None`` for a network that is not an ensemble (or whose record does not fit it).

    Args:
        net: any network (a model file's record is read as it was saved).

    Returns:
        ``[[layer sizes of member 0], [... of member 1], ...]`` (node counts, summing to
        ``net.sizes`` layer by layer), or ``None``.

    Raises:
        NetworkError: ``net`` is not a Network.

    Example:
        >>> from spikelut.wiring import random_network
        >>> a = random_network(0, n_in=2, sizes=[3, 2], k=2, classes=2)
        >>> member_sizes(ensemble([a, a]))
        [[3, 2], [3, 2]]
        >>> member_sizes(a) is None
        True
    """
    _require_network(net, "member_sizes")
    rec = net.meta.get("ensemble") if isinstance(net.meta, dict) else None
    sizes = rec.get("sizes") if isinstance(rec, dict) else None
    if not isinstance(sizes, list) or not sizes or not all(
            isinstance(s, list) and len(s) == len(net.layers)
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in s)
            for s in sizes):
        return None
    if [sum(col) for col in zip(*sizes)] != net.sizes:
        return None
    return sizes


def summary(net: Network) -> dict:
    """:meth:`Network.summary <spikelut.network.Network.summary>`, plus ``ensemble = {"members":
    M, "sizes": [...]}`` for an ensemble (what ``spikelut info --json`` and ``report.json`` show).

    Args:
        net: any network.

    Returns:
        A JSON-friendly dict: the network's summary (``inputs``, ``layers``, ``nodes``,
        ``luts``, ``flip_flops``, ``max_delay``, ``readout``) and, for an ensemble,
        ``ensemble``.

    Raises:
        NetworkError: ``net`` is not a Network.

    Example:
        >>> from spikelut.wiring import random_network
        >>> a = random_network(0, n_in=2, sizes=[3, 2], k=2, classes=2)
        >>> summary(ensemble([a, a]))["ensemble"], "ensemble" in summary(a)
        ({'members': 2, 'sizes': [[3, 2], [3, 2]]}, False)
    """
    _require_network(net, "summary")
    s = net.summary()
    members = member_sizes(net)
    if members is not None:
        s["ensemble"] = {"members": len(members), "sizes": members}
    return s


def ensemble(networks: Sequence[Network], names: Sequence[str | None] | None = None) -> Network:
    """One network holding ``networks`` side by side; its class counts are the members' sums.

    Args:
        networks: 1 to :data:`MAX_MEMBERS` networks with the same number of inputs, the same
            number of layers with the same ``k`` and refractory period layer by layer, and the
            same readout layer, classes and start. Layer widths may differ between members.
        names: what each member was read from (a model file), named in the errors; ``None``
            (or a ``None`` entry): the member is named by its index only.

    Returns:
        A validated :class:`~spikelut.network.Network`: layer ``i`` = the members' layer ``i``
        nodes in member order, taps re-indexed, tables (and logits, when every member has them)
        copied; layer names and the readout from member 0; ``meta``: the entries every member
        has with equal values (e.g. the ``train`` record of members of one config) and
        ``meta["ensemble"] = {"members": M, "sizes": [[layer sizes of member m] ...]}``. Tap importance is dropped (it was measured
        per member). Simulating it gives each member's spikes bit for bit in its slice of each
        layer, and ``counts = sum of the members' counts``.

    Raises:
        NetworkError: no members, too many, an analog member, or members that do not fit
            (the message names the member and the field).

    Example:
        >>> import numpy as np
        >>> from spikelut.engine.reference import simulate
        >>> from spikelut.wiring import random_network
        >>> a = random_network(0, n_in=3, sizes=[4, 2], k=2, classes=2)
        >>> b = random_network(1, n_in=3, sizes=[5, 4], k=2, classes=2)
        >>> e = ensemble([a, b])
        >>> e.sizes
        [9, 6]
        >>> x = np.random.default_rng(0).integers(0, 2, (6, 3, 3), dtype=np.uint8)
        >>> bool((simulate(e, x).counts == simulate(a, x).counts + simulate(b, x).counts).all())
        True
    """
    nets = list(networks)
    _check_members(nets, names)
    n_layers = len(nets[0].layers)
    # offset[m][s]: where member m's nodes start in ensemble layer s
    offset = np.zeros((len(nets), n_layers), np.int64)
    for m in range(1, len(nets)):
        offset[m] = offset[m - 1] + np.asarray(nets[m - 1].sizes, np.int64)
    with_logits = [all(net.layers[i].logits is not None for net in nets) for i in range(n_layers)]
    layers = []
    for i in range(n_layers):
        parts = [net.layers[i] for net in nets]
        index = []
        for m, layer in enumerate(parts):
            src = layer.source
            # input taps (source -1) read the shared channels; node taps move by the offset
            shift = np.where(src >= 0, offset[m][np.maximum(src, 0)], 0)
            index.append(layer.index.astype(np.int64) + shift)
        layers.append(Layer(
            np.concatenate([L.table for L in parts]),
            np.concatenate([L.source for L in parts]),
            np.concatenate(index).astype(np.int32),
            np.concatenate([L.delay for L in parts]),
            parts[0].refractory, parts[0].name,
            np.concatenate([L.logits for L in parts]) if with_logits[i] else None))
    r = nets[0].readout
    readout = Readout(r.layer, np.concatenate([net.readout.class_of for net in nets]), r.classes,
                      r.start)
    # what every member's metadata agrees on (e.g. the [train] record of members of one config)
    # still describes the ensemble; anything they differ on does not
    meta = {k: v for k, v in nets[0].meta.items()
            if k != "ensemble" and all(net.meta.get(k, _MISSING) == v for net in nets[1:])}
    meta["ensemble"] = {"members": len(nets), "sizes": [net.sizes for net in nets]}
    return Network(nets[0].n_in, layers, readout, meta)


def _whole(v: Any) -> bool:
    """``v`` is an int ``>= 0`` (numpy's too; not a bool)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= 0


def member_config(cfg: dict, member: int) -> dict:
    """Member ``member``'s config: a deep copy with the wiring seed (top-level ``seed``) and the
    ``[train]`` seed both moved by ``member``; member 0 is ``cfg`` itself, unchanged.

    Without a ``[train] seed`` the member's is the config's seed moved by ``member`` (the
    ``[train]`` table follows the top-level seed by default).

    Args:
        cfg: a parsed run/train config (the dict :func:`spikelut.config.load_config` gives).
        member: the member's index, a whole number ``>= 0``.

    Returns:
        A new dict; ``cfg`` is not changed.

    Raises:
        ConfigError: ``cfg`` not a dict, a ``[train]`` that is not a table, ``member`` or a
            seed (top-level or ``[train]``) not a whole number ``>= 0``.

    Example:
        >>> c = member_config({"seed": 3, "layers": [], "train": {"seed": 10}}, 2)
        >>> c["seed"], c["train"]["seed"]
        (5, 12)
        >>> member_config({"layers": []}, 1)["seed"]
        1
    """
    # each was a TypeError or AttributeError ("a" + 1, None.get, a string [train])
    if not isinstance(cfg, dict):
        raise ConfigError(f"an ensemble member's config must be a dict (a parsed config), got "
                          f"{type(cfg).__name__}")
    if not _whole(member):
        raise ConfigError(f"ensemble member index must be a whole number >= 0, got {member!r}")
    if cfg.get("train") is not None and not isinstance(cfg["train"], dict):
        raise ConfigError(f"[train]: expected a table, got {type(cfg['train']).__name__}")
    for where, table in (("seed", cfg), ("[train] seed", cfg.get("train") or {})):
        if "seed" in table and not _whole(table["seed"]):
            raise ConfigError(f"{where} must be a whole number >= 0, got {table['seed']!r}")
    out = copy.deepcopy(cfg)
    if member:
        base = out.get("seed", 0)
        out["seed"] = base + member
        if out.get("train") is None:  # absent, or None from a dict built in Python
            out["train"] = {}
        train = out["train"]
        # without its own seed the [train] table takes the config's: keep following it
        train["seed"] = train.get("seed", base) + member
    return out


@dataclass
class EnsembleResult:
    """What :func:`train_ensemble` gives back.

    Attributes:
        net: the merged network (:func:`ensemble` of the members' kept networks).
        members: each member's :class:`~spikelut.train.trainer.TrainResult` (``None`` for a member
            loaded from ``member_file``).
        member_nets: each member's kept network.
        train_acc: the merged network's accuracy on the training data.
        val_acc: its accuracy on the validation data (``None`` without).
    """

    net: Network
    members: list
    member_nets: list[Network]
    train_acc: float
    val_acc: float | None


def train_ensemble(cfg: dict, data: Any, val: Any = None, *, members: int | None = None,
                   progress: bool | None = False,
                   member_file: Callable[[int], Any] | None = None,
                   checkpoint: Callable[[int], Any] | None = None,
                   log: Callable[[int], Any] | None = None,
                   echo: Callable[[str], None] | None = None, resume: bool = True,
                   backend: Any = None, eval_backend: Any = "auto", **fit: Any) -> EnsembleResult:
    """Train ``members`` copies of ``cfg``'s network (:func:`member_config` seeds) and merge them.

    Args:
        cfg: a parsed run/train config (architecture, ``seed``, ``[train]``).
        data: labelled training spikes, as :func:`spikelut.api.train` takes them.
        val: validation data or ``None`` (each member keeps its epoch on it, as one network does).
        members: number of members (default: ``[train] ensemble``).
        progress: progress bars per member.
        member_file: ``m -> path`` where member ``m``'s kept network is saved when it finishes
            (stamped with :func:`member_stamp`) and read back instead of training it again when
            its stamp matches (a resumed ensemble skips finished members).
        checkpoint, log: ``m -> path`` for member ``m``'s checkpoint (resumed when it exists)
            and JSON-lines log.
        echo: receives one line per member.
        resume: read back finished members and continue from existing checkpoints (``False``:
            train every member from the start, overwriting them).
        backend: a resolved :class:`~spikelut.train.passes.TrainBackend` (default: the config's).
        eval_backend: the simulation backend that scores the merged network on ``data`` and
            ``val`` (as in :func:`spikelut.api.evaluate`).
        **fit: passed to every member's :meth:`spikelut.train.Trainer.fit` (``teacher``,
            ``callback``).

    Returns:
        An :class:`EnsembleResult`; its ``net.meta["ensemble"]`` also records ``seeds``,
        ``[wiring seed, [train] seed]`` of each member.

    Raises:
        ConfigError: ``members`` outside 1 .. :data:`MAX_MEMBERS`, a bad ``[train]`` table or
            architecture, or (with ``resume``) a finished member file made with another config
            or other data and no checkpoint to continue from.
        ShapeError: data that are not labelled SpikeData or ``(spikes, labels)``, or do not fit
            the network.
        FileFormatError: a member file or checkpoint that cannot be read.
        NetworkError: members that cannot be merged (cannot happen for one config).

    Example:
        >>> cfg = {"inputs": 4, "layers": [{"nodes": 8, "k": 3, "taps": [{"from": "input",
        ...        "count": 3}]}], "readout": {"classes": 2}, "train": {"epochs": 1, "batch_size": 10}}
        >>> x = (np.random.default_rng(0).random((6, 20, 4)) < 0.5).astype(np.uint8)
        >>> res = train_ensemble(cfg, (x, x[:, :, 0].sum(axis=0) % 2), members=2)
        >>> res.net.sizes, res.net.meta["ensemble"]["seeds"], 0.0 <= res.train_acc <= 1.0
        ([16], [[0, 0], [1, 1]], True)
    """
    import os

    from .api import evaluate
    from .config import build_network
    from .io import load_model, save_model
    from .train.config import TrainConfig
    from .train.trainer import Trainer, _as_data

    # the whole [train] table checked once, before any member trains
    base = TrainConfig.from_dict(cfg.get("train"), seed=cfg.get("seed", 0))
    count = base.ensemble if members is None else members
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_MEMBERS:
        raise ConfigError(f"ensemble members must be an integer 1..{MAX_MEMBERS}, got {count!r}")
    digest = _data_digest(data, val)  # the same data for every member: hashed once
    results, nets, seeds = [], [], []
    warned = False  # whether a member trained here has said the settings that change nothing
    for m in range(count):
        mcfg = member_config(cfg, m)
        tcfg = TrainConfig.from_dict(_single(mcfg.get("train")), seed=mcfg.get("seed", 0))
        seeds.append([mcfg.get("seed", 0), tcfg.seed])
        tag = f"member {m} ({m + 1}/{count})"
        stamp = _stamp(mcfg, digest)
        path = member_file(m) if member_file is not None else None
        ck = checkpoint(m) if checkpoint is not None else None
        if resume and path is not None and os.path.exists(path):
            done = load_model(path)
            if (done.meta.get("ensemble_member") or {}).get("stamp") == stamp:
                nets.append(done)
                results.append(None)
                if echo:
                    echo(f"{tag}: up to date ({path})")
                continue
            if ck is None or not os.path.exists(ck):
                raise ConfigError(f"{path}: member {m} was trained with another config or other "
                                  f"data; run without --resume to train it again")
            # a changed config with a checkpoint: the Trainer's own resume check decides
            # (only epochs may change: a longer run continues, anything else is refused)
        if echo:
            echo(f"{tag}: training (wiring seed {mcfg.get('seed', 0)}, [train] seed {tcfg.seed})")
        trainer = Trainer(build_network(mcfg), tcfg, progress=progress, backend=backend)
        # the members share their settings: a warning about one that changes nothing is said
        # by the first member trained here, not once per member between their progress lines
        trainer.warn_settings = not warned
        warned = True
        res = trainer.fit(data, val, log=log(m) if log is not None else None, checkpoint=ck,
                          resume=resume and ck is not None and os.path.exists(ck), **fit)
        net = res.net.replace(meta={**res.net.meta,
                                    "ensemble_member": {"member": m, "stamp": stamp}})
        if path is not None:
            save_model(net, path)
        nets.append(net)
        results.append(res)
        if echo:  # the kept epoch's numbers (with validation, not always the last epoch's)
            kept = kept_record(res)
            echo(f"{tag}: train acc {kept.get('acc', 0):.4f}"
                 + (f", val acc {kept['val_acc']:.4f}" if kept.get("val_acc") is not None else "")
                 + f" (kept epoch {res.kept_epoch})")
    merged = ensemble(nets)
    # which seeds built each member: [wiring seed, [train] seed], so a reader can rebuild one
    record = dict(merged.meta["ensemble"], seeds=seeds)
    merged = merged.replace(meta={**merged.meta, "ensemble": record})
    x, y = _as_data(data, "training data")
    train_acc = evaluate(merged, x, y, backend=eval_backend).accuracy
    val_acc = None
    if val is not None:
        xv, yv = _as_data(val, "validation data")
        val_acc = evaluate(merged, xv, yv, backend=eval_backend).accuracy
    return EnsembleResult(merged, results, nets, train_acc, val_acc)


def kept_record(result: Any) -> dict:
    """The history record of the epoch a :class:`~spikelut.train.trainer.TrainResult` kept
    (its best validation epoch, or the last), ``{}`` without history.

    Example:
        >>> from types import SimpleNamespace
        >>> kept_record(SimpleNamespace(kept_epoch=1, history=[{"epoch": 1, "val_acc": 0.9},
        ...                                                    {"epoch": 2, "val_acc": 0.7}]))
        {'epoch': 1, 'val_acc': 0.9}
    """
    last = result.history[-1] if result.history else {}
    return next((r for r in result.history if r.get("epoch") == result.kept_epoch), last)


def member_stamp(member_cfg: dict, data: Any, val: Any = None) -> str:
    """A SHA-256 of what a member's training depends on: its architecture, seeds and ``[train]``
    table (without ``ensemble``) and the training and validation arrays. A finished member file
    is reused only when its ``meta["ensemble_member"]["stamp"]`` equals this.

    Args:
        member_cfg: the member's config (:func:`member_config`).
        data: the training data, :class:`~spikelut.io.spikes.SpikeData` or ``(spikes,
            labels)``.
        val: the validation data in the same form, or ``None``.

    Returns:
        64 hexadecimal characters; keys of the config other than ``seed``, ``inputs``,
        ``layers``, ``readout`` and ``train`` do not change it.

    Raises:
        ShapeError: ``data`` or ``val`` not SpikeData or a pair of arrays.

    Example:
        >>> import numpy as np
        >>> x, y = np.zeros((2, 3, 1), np.uint8), np.array([0, 1, 0])
        >>> a = member_stamp({"seed": 0, "layers": []}, (x, y))
        >>> a == member_stamp({"seed": 0, "layers": [], "rtl": {}}, (x, y)), a == member_stamp(
        ...     {"seed": 1, "layers": []}, (x, y))
        (True, False)
    """
    from .io import SpikeData

    for name, part in (("data", data), ("val", val)):
        # an int was a TypeError from the digest ('int' object is not iterable)
        if not (isinstance(part, SpikeData) or (part is None and name == "val")
                or (isinstance(part, (tuple, list)) and len(part) == 2)):
            raise ShapeError(f"member_stamp: {name} must be SpikeData or (spikes, labels), got "
                             f"{type(part).__name__}")
    return _stamp(member_cfg, _data_digest(data, val))


def _data_digest(data: Any, val: Any) -> bytes:
    """SHA-256 of the training and validation arrays (:func:`spikelut.train.trainer.data_digest`)."""
    from .train.trainer import data_digest

    return data_digest(data, val)


def _stamp(member_cfg: dict, digest: bytes) -> str:
    """:func:`member_stamp` from the data's :func:`_data_digest`."""
    import hashlib
    import json

    keys = ("seed", "inputs", "layers", "readout")
    what = {k: member_cfg.get(k) for k in keys}
    what["train"] = _single(member_cfg.get("train"))
    h = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode())
    h.update(digest)
    return h.hexdigest()


def _single(train: dict | None) -> dict:
    """The ``[train]`` table of one member: without the ``ensemble`` key (one network each)."""
    out = dict(train or {})
    out.pop("ensemble", None)
    return out
