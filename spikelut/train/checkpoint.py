"""Training checkpoints: the whole state of a :class:`~spikelut.train.trainer.Trainer` in one
HDF5 file, written atomically after every epoch and read back as untrusted input.

Checkpoint format (HDF5, ``format = "spikelut-checkpoint"``, ``version = 1``): root attributes
``epoch`` (completed epochs), ``config`` (the ``[train]`` table as JSON), ``network`` (structure
fingerprint), ``rng`` (generator state as JSON), ``best`` and ``history`` (JSON), ``optimizer``
(name and scalars as JSON), ``digests`` (JSON: the :func:`data_digest` of the training data,
the validation data and the teacher features, hex, ``null`` for absent ones; a resume on other
data is refused, and so is one past ``epochs``); groups ``/params``, ``/best`` and
``/optim/<array>`` with one float32 dataset ``L<i>`` per layer: the relaxation's parameters ``[n, width]`` (``[train] relaxation``,
:mod:`~spikelut.train.relax`; the logits themselves for the default multilinear one).

A resume continues exactly where the run stopped (the result is bit-equal to an uninterrupted
run); the file is checked before anything in it is trusted: no link is followed, every
attribute's size and JSON nesting and every array's declared shape are bounded before they are
read (docs/threat-model.md), and the state must be whole and consistent (:func:`load_checkpoint`).

Example:
    >>> import numpy as np, tempfile, os
    >>> from spikelut.wiring import random_network
    >>> from spikelut.train import Trainer, TrainConfig
    >>> net = random_network(0, n_in=4, sizes=[8, 2], k=3, classes=2)
    >>> x = (np.random.default_rng(0).random((6, 10, 4)) < 0.5).astype(np.uint8)
    >>> y = (x[:, :, 0].sum(axis=0) > 3).astype(np.int64)
    >>> a = Trainer(net, TrainConfig(epochs=1, batch_size=5, seed=1), progress=False)
    >>> _ = a.fit((x, y))
    >>> path = os.path.join(tempfile.mkdtemp(), "ck.h5")
    >>> save_checkpoint(a, path)
    >>> b = Trainer(net, TrainConfig(epochs=1, batch_size=5, seed=1), progress=False)
    >>> load_checkpoint(b, path)
    >>> b.epoch, all(bool((p == q).all()) for p, q in zip(a.params, b.params))
    (1, True)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import h5py
import numpy as np

from .. import limits
from ..errors import ConfigError, FileFormatError, SpikelutError
from ..escape import terminal
from ..fileutil import atomic_h5
from ..io.hdf5 import _check_links, _declared, _read, _read_attr
from ..network import Network
from .config import TrainConfig

if TYPE_CHECKING:  # the trainer imports this module
    from .trainer import Trainer

CHECKPOINT_FORMAT = "spikelut-checkpoint"
CHECKPOINT_VERSION = 1


def fingerprint(net: Network) -> str:
    """A hash of the network's structure (taps, refractory, readout), not of its tables."""
    h = hashlib.sha256()
    h.update(np.int64(net.n_in).tobytes())
    for layer in net.layers:
        for a in (layer.source, layer.index, layer.delay):
            h.update(np.ascontiguousarray(a, np.int32).tobytes())
        h.update(np.int64([layer.refractory, layer.k]).tobytes())
    r = net.readout
    h.update(np.ascontiguousarray(r.class_of, np.int32).tobytes())
    h.update(np.int64([r.layer, r.classes, r.start]).tobytes())
    return h.hexdigest()[:16]


def save_checkpoint(tr: "Trainer", path: str | os.PathLike) -> None:
    """Write ``tr``'s whole training state to an HDF5 checkpoint at ``path``, atomically
    (:meth:`Trainer.save_checkpoint`)."""
    arrays, scalars = tr.opt.state_arrays()
    with atomic_h5(path) as f:
        f.attrs["format"] = CHECKPOINT_FORMAT
        f.attrs["version"] = CHECKPOINT_VERSION
        f.attrs["epoch"] = tr.epoch
        f.attrs["config"] = tr.cfg.to_json()
        f.attrs["network"] = fingerprint(tr.net0)
        f.attrs["rng"] = json.dumps(tr.rng.bit_generator.state)
        f.attrs["best"] = json.dumps(tr.best)
        f.attrs["history"] = json.dumps(tr.history)
        f.attrs["optimizer"] = json.dumps({"name": tr.opt.name, **scalars})
        if tr.digests is not None:  # checked on resume (_check_resume)
            f.attrs["digests"] = json.dumps(tr.digests)
        # host numpy arrays only: the file does not depend on where the run was
        for group, arrs in (("params", tr.params), ("best", tr.best_params)):
            g = f.create_group(group)
            for i, a in enumerate(arrs):
                g.create_dataset(f"L{i}", data=tr._host(a))
        og = f.create_group("optim")
        for name, arrs in arrays.items():
            g = og.create_group(name)
            for i, a in enumerate(arrs):
                g.create_dataset(f"L{i}", data=tr._host(a))
        if tr.rewirer is not None:
            tr.rewirer.save(f, tr.best_net)


def load_checkpoint(tr: "Trainer", path: str | os.PathLike) -> None:
    """Restore into ``tr`` the state saved by :func:`save_checkpoint`; the network and config must match
    (``epochs`` may grow, to extend a run; ``backend`` may differ, to move a run between
    the CPU and the GPU), and in a fit the data too (:attr:`Trainer.digests`).

    The file is read as untrusted input, like a model file (docs/threat-model.md): no link
    is followed, every attribute's size and JSON nesting and every array's declared shape
    are checked before they are read, and the restored state (epoch, history, kept epoch,
    optimizer step) must be whole and consistent.

    Raises:
        FileFormatError: not a readable spikelut checkpoint, or arrays of the wrong shape.
        ConfigError: made for another network, with another ``[train]`` config, on other
            training or validation data or teacher features, or past ``cfg.epochs``.
    """
    path = Path(path)
    with _open_checkpoint(path, "; resume from another one, or start without --resume") as f:
        _restore(tr, f, path)


@contextlib.contextmanager
def _open_checkpoint(path: Path, advice: str) -> Iterator[h5py.File]:
    """The checkpoint ``path`` open for reading as untrusted input, its format and version
    checked: no link (h5py follows links when it looks a name up, so they are refused before any
    lookup), and any error of a damaged file in the block (an attribute or array missing or of
    the wrong kind) one :class:`FileFormatError` line ending in ``advice``, not a traceback."""
    try:
        f = h5py.File(limits.check_regular_file(path, "a checkpoint"), "r")
    except OSError as e:
        raise FileFormatError(f"{path}: not a readable checkpoint: {e}") from None
    with f:
        try:
            _check_links(f, path)
            fmt, version = read_attr(f, "format", path), read_attr(f, "version", path)
            if fmt != CHECKPOINT_FORMAT or version != CHECKPOINT_VERSION:
                raise FileFormatError(f"{path}: not a spikelut checkpoint (format "
                                      f"{terminal(repr(fmt))}, version {terminal(repr(version))}; "
                                      f"expected {CHECKPOINT_FORMAT!r} v1)")
            yield f
        except SpikelutError:
            raise
        except (KeyError, ValueError, TypeError, IndexError, OverflowError, RecursionError,
                AttributeError, RuntimeError, UnicodeError, OSError) as e:
            raise FileFormatError(f"{path}: a damaged checkpoint ({type(e).__name__}: "
                                  f"{terminal(str(e))[:120]}){advice}") from None


def _restore(tr: "Trainer", f: h5py.File, path: Path) -> None:
    """:func:`load_checkpoint`'s reading of the open file ``f`` (format checked)."""
    if read_attr(f, "network", path) != fingerprint(tr.net0):
        raise ConfigError(f"{path}: the checkpoint was made for a different network; resume "
                          f"with the same config, or start without --resume")
    saved = json_attr(f, "config", path)
    if not isinstance(saved, dict):
        raise FileFormatError(f"{path}: attribute 'config' must be a JSON object")
    try:  # keys added since the file was written take their defaults; names normalised
        saved = TrainConfig.from_dict({k: v for k, v in saved.items()
                                       if k in TrainConfig.__dataclass_fields__}).to_dict()
    except ConfigError:
        pass  # compared as written: the mismatch is reported below
    mine = tr.cfg.to_dict()
    # a run may be extended, and moved between backends and forward passes
    free = {"epochs", "backend", "kernels", "forward"}
    base = TrainConfig().to_dict()  # a key an older checkpoint lacks had its default
    diff = sorted(k for k in set(saved) | set(mine)
                  if k not in free and saved.get(k, base.get(k)) != mine.get(k))
    if diff:
        k = diff[0]
        was = terminal(repr(saved.get(k, base.get(k))))[:80]
        raise ConfigError(f"{path}: the checkpoint was made with a different [train] config "
                          f"({k} = {was}, now {mine.get(k)!r}); resume with the same "
                          f"settings (only epochs may change), or start without --resume")
    _check_resume(tr, path, f)
    epoch = read_attr(f, "epoch", path)  # a whole number 0..cfg.epochs (_check_resume)
    history = json_attr(f, "history", path)
    best = json_attr(f, "best", path)
    _check_history(history, best, epoch, path)
    opt = json_attr(f, "optimizer", path)
    step = opt.get("step") if isinstance(opt, dict) else None
    if not _whole(step) or step < 0:
        raise FileFormatError(f"{path}: attribute 'optimizer': 'step' must be a whole number "
                              f">= 0, got {terminal(repr(step))[:80]}")
    rng = json_attr(f, "rng", path)

    def read(group: str) -> list[np.ndarray]:
        g = f[group]
        arrs = []
        for i, p in enumerate(tr.params):
            # the declared shape is checked before anything is read or allocated
            ds = g.get(f"L{i}")  # safe: _check_links refused every link
            if isinstance(ds, h5py.Dataset) and tuple(ds.shape or ()) != tuple(p.shape):
                raise FileFormatError(f"{path}: /{group}/L{i}: shape {tuple(ds.shape or ())}, "
                                      f"expected {tuple(p.shape)}")
            ds = _declared(g, f"L{i}", ("float32", "float64"), len(p.shape), path)
            arrs.append(np.asarray(_read(ds, path), np.float32))
        return arrs

    tr.params = [tr.xp.asarray(a) for a in read("params")]
    tr.best_params = [tr.xp.asarray(a) for a in read("best")]
    # only the optimizer's own arrays (Adam: m, v; SGD: buf; Lion: m)
    arrays = {name: read(f"optim/{name}") for name in tr.opt.state_arrays()[0]}
    tr.opt.load_state_arrays(arrays, opt)
    tr.epoch = epoch
    tr.rng.bit_generator.state = rng
    tr.best = best
    tr.history = history
    if tr.rewirer is not None:
        tr.best_net = tr.rewirer.load(f, path)


def _check_resume(tr: "Trainer", path: Path, f: h5py.File) -> None:
    """Refuse a checkpoint made on other data than this fit's (:attr:`Trainer.digests`) or past
    ``cfg.epochs``; an older checkpoint without a record of its data is resumed with a
    warning on stderr (only whether it had validation data can still be checked)."""
    if tr.digests is not None:
        saved = json_attr(f, "digests", path) if "digests" in f.attrs else None
        if saved is not None and not isinstance(saved, dict):
            raise FileFormatError(f"{path}: attribute 'digests' must be a JSON object")
        if saved is None:  # written before checkpoints recorded their data
            history = json_attr(f, "history", path)
            if not isinstance(history, list):
                raise FileFormatError(f"{path}: attribute 'history' must be a JSON list")
            saved = {"val": "?" if any(r.get("val_acc") is not None for r in history) else None}
            print(f"spikelut: warning: {terminal(str(path))}: an older checkpoint that does not record its "
                  f"data; resuming without checking that the training data is the same",
                  file=sys.stderr, flush=True)
        else:
            for key, what, same, without in (
                    ("data", "training data", "--data (and --val-fraction)", ""),
                    ("teacher", "teacher features", "--teacher-features",
                     "--teacher-features")):
                mine = tr.digests.get(key)
                if saved.get(key) != mine:
                    _refuse_other(path, what, same, without, saved.get(key), mine)
        mine = tr.digests.get("val")
        if (saved.get("val") is None) != (mine is None) or \
                (mine is not None and saved.get("val") not in (mine, "?")):
            _refuse_other(path, "validation data", "--val (or --val-fraction)",
                          "--val and --val-fraction", saved.get("val"), mine)
    epoch = read_attr(f, "epoch", path)
    if not _whole(epoch) or epoch < 0:
        raise FileFormatError(f"{path}: attribute 'epoch' must be a whole number >= 0, got "
                              f"{terminal(repr(epoch))[:80]}")
    if epoch > tr.cfg.epochs:
        raise ConfigError(f"{path}: the checkpoint is at epoch {epoch}, past the "
                          f"{tr.cfg.epochs} epoch{'' if tr.cfg.epochs == 1 else 's'} asked "
                          f"for; give --epochs {epoch} or more to continue it, or start "
                          f"without --resume")


def describe_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """What a checkpoint of ``spikelut train --checkpoint`` holds, for ``spikelut info``: the
    last finished epoch, the ``[train]`` epochs asked for, the kept epoch (``keep = "best"``),
    the last epoch's record and the layers' sizes, read with the same checks as a resume
    (links, attribute sizes, JSON nesting, history consistency); no training state is loaded.

    Returns:
        ``{"kind": "checkpoint", "epoch", "epochs", "best_epoch", "last": {...}, "layers":
        [[nodes, 2**k], ...], "data_recorded": bool}``: ``last`` holds the last record's
        ``loss``, ``acc``, ``val_loss``, ``val_acc`` (``None`` where absent); ``data_recorded``
        whether the checkpoint records a digest of its training data (older ones do not).

    Raises:
        FileFormatError: not a readable spikelut checkpoint, or a damaged one.
    """
    path = Path(path)
    with _open_checkpoint(path, "") as f:
        epoch = read_attr(f, "epoch", path)
        history, best = json_attr(f, "history", path), json_attr(f, "best", path)
        if not _whole(epoch):
            raise FileFormatError(f"{path}: attribute 'epoch' must be a whole number")
        _check_history(history, best, int(epoch), path)
        config = json_attr(f, "config", path)
        epochs = config.get("epochs") if isinstance(config, dict) else None
        digests = json_attr(f, "digests", path) if "digests" in f.attrs else None
        params = f.get("params")
        layers = []
        if isinstance(params, h5py.Group):
            for i in range(limits.check_count(len(params), limits.MAX_LAYERS,
                                              "number of layers", f"{path}: /params")):
                ds = params.get(f"L{i}")
                if isinstance(ds, h5py.Dataset) and len(ds.shape) == 2:
                    layers.append([int(v) for v in ds.shape])
    last = history[-1] if history else {}
    return {"kind": "checkpoint", "epoch": int(epoch),
            "epochs": int(epochs) if _whole(epochs) else None,
            "best_epoch": best.get("epoch") if isinstance(best, dict) else None,
            "last": {k: last.get(k) for k in ("loss", "acc", "val_loss", "val_acc")},
            "layers": layers, "data_recorded": isinstance(digests, dict)}


def _whole(v: Any) -> bool:
    """Whether ``v`` is a whole number (a Python or numpy integer, not a bool)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def read_attr(f: h5py.File, name: str, path: Path) -> Any:
    """A checkpoint's root attribute, its size and type checked before it is read
    (:func:`spikelut.io.hdf5._read_attr`: at most 16 MiB, a string or numbers, valid UTF-8)."""
    return _read_attr(f, name, path)


def json_attr(f: h5py.File, name: str, path: Path) -> Any:
    """A checkpoint's JSON attribute, its nesting bounded before it is parsed."""
    text = read_attr(f, name, path)
    if not isinstance(text, str):
        raise FileFormatError(f"{path}: attribute {name!r} must be a JSON string")
    if not limits.json_depth_ok(text):
        raise FileFormatError(f"{path}: attribute {name!r}: JSON nested deeper than "
                              f"{limits.MAX_JSON_DEPTH} levels")
    return json.loads(text)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_history(history: Any, best: Any, epoch: int, path: Path) -> None:
    """Refuse a checkpoint whose history is not ``epoch`` records of epochs 1..epoch with finite
    numbers where the trainer and the commands read numbers, or whose kept epoch (``best``) is
    not one of them: resumed, such a state would train from a wrong epoch, stop with a
    traceback later, or print the file's text as the kept epoch."""

    def bad(what: str) -> FileFormatError:
        return FileFormatError(f"{path}: attribute {what}; resume from another checkpoint, or "
                               f"start without --resume")

    if not isinstance(history, list) or len(history) != epoch:
        got = f"{len(history)} records" if isinstance(history, list) else type(history).__name__
        raise bad(f"'history' must list the {epoch} finished epochs, got {got}")
    for i, r in enumerate(history):
        if not isinstance(r, dict) or r.get("epoch") != i + 1 or not _whole(r.get("epoch")):
            raise bad(f"'history': record {i + 1} is not the record of epoch {i + 1}")
        for key in ("loss", "acc", "lr", "time"):
            if not _number(r.get(key)):
                raise bad(f"'history': epoch {i + 1}: {key!r} must be a finite number")
        for key in ("val_loss", "val_acc", "gate", "batch_size"):
            if r.get(key) is not None and not _number(r[key]):
                raise bad(f"'history': epoch {i + 1}: {key!r} must be a finite number or null")
    if best is None:
        return
    if not isinstance(best, dict) or not _whole(best.get("epoch")) \
            or not 1 <= best["epoch"] <= epoch:
        raise bad(f"'best' must name a finished epoch 1..{epoch}")
    va, vl = best.get("val_acc"), best.get("val_loss")
    if not ((va is None and vl is None) or (_number(va) and _number(vl))):
        raise bad("'best': 'val_acc' and 'val_loss' must both be finite numbers or both null")


def _refuse_other(path: Path, what: str, same: str, without: str, saved: str | None,
                  now: str | None) -> None:
    """The one-line refusal of a checkpoint made with other ``what`` (or with none, or with some
    where none is given now): the flags to resume it with (``same``) or without (``without``)."""
    if saved is None:
        how = f"was made without {what} and {what} is given now"
        todo = f"resume without {without}"
    elif now is None:
        how = f"was made with {what} and none is given now"
        todo = f"resume with the same {same}"
    else:
        how = f"was made with other {what} than given now"
        todo = f"resume with the same {same}"
    raise ConfigError(f"{path}: the checkpoint {how}; {todo}, or start without --resume")
