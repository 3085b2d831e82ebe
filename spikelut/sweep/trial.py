"""One trial: a run config trained on the training split and scored on its validation part."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..config import build_network
from ..errors import ConfigError
from ..fileutil import write_text_atomic
from .tomlwrite import dump_toml

if TYPE_CHECKING:
    from ..network import Network


# ---------------------------------------------------------------------------- one trial
_DATA_CACHE: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _train_split(settings: Any) -> tuple[np.ndarray, np.ndarray]:
    """The encoded training split, cached per process (trials often share [data] and [coding])."""
    from ..datasets import encode_dataset

    key = json.dumps([settings.dataset, settings.coding, settings.steps, settings.data_seed,
                      settings.limit_train, settings.coding_params, settings.differences,
                      settings.second_differences],
                     sort_keys=True, default=str)
    if key not in _DATA_CACHE:
        sd = encode_dataset(settings.dataset, settings.coding, settings.steps, split="train",
                            seed=settings.data_seed, limit=settings.limit_train,
                            **settings.encode_args())
        _DATA_CACHE.clear()  # one dataset at a time keeps a worker's memory flat
        _DATA_CACHE[key] = (sd.spikes, sd.labels)
    return _DATA_CACHE[key]


def validation_split(cfg: dict) -> tuple[tuple, tuple, Any]:
    """``(train, val, settings)`` of a trial config: the encoded training split with
    ``[data] val_fraction`` held out (seeded by the data seed, as ``spikelut run`` does)."""
    from ..pipeline import RunSettings
    from ..train.trainer import holdout

    s = RunSettings.from_config(cfg)
    x, y = _train_split(s)
    train, val = holdout(x, y, s.val_fraction, s.data_seed)
    return train, val, s


def run_trial(cfg: dict, trial_dir: str | os.PathLike | None = None,
              on_epoch: Callable[[int, float], None] | None = None) -> tuple[dict, "Network"]:
    """Train one trial config and score it on its validation split.

    Args:
        cfg: a run config (the dict ``spikelut run`` reads) with ``[data] val_fraction > 0``.
        trial_dir: where ``config.toml``, ``log.jsonl`` and ``model.h5`` go (None: nowhere).
        on_epoch: ``on_epoch(epoch, val_acc)`` after every epoch (1-based); it may raise to stop.

    Returns:
        ``(summary, net)``: ``summary`` is ``{"val_acc", "luts", "flip_flops", "epochs",
        "kept_epoch", "curve", "seconds"}`` (``val_acc``: the simulator's accuracy of the kept
        model on the validation samples; ``curve``: the per-epoch validation accuracies), ``net``
        the kept trained network.

    Raises:
        ConfigError: a config ``spikelut run`` would refuse.

    Example:
        >>> cfg = load_config("demos/run_default.toml")                        # doctest: +SKIP
        >>> cfg["data"]["val_fraction"] = 0.2; cfg["train"]["epochs"] = 1      # doctest: +SKIP
        >>> run_trial(cfg)[0]["luts"]                                           # doctest: +SKIP
        72
    """
    from ..api import simulate
    from ..io import save_model
    from ..train.config import TrainConfig
    from ..train.trainer import Trainer

    t0 = time.perf_counter()
    (xt, yt), (xv, yv), s = validation_split(cfg)
    if s.val_fraction <= 0:
        raise ConfigError("[data] val_fraction is 0: a sweep trial needs a validation split")
    net = build_network(cfg)
    tc = TrainConfig.from_dict(cfg.get("train"), seed=cfg.get("seed", 0))
    if tc.ensemble > 1:  # trials report per-epoch validation (pruning): one network each
        raise ConfigError(f"[train] ensemble = {tc.ensemble}: a sweep trial trains one network; "
                          f"sweep the members' architecture, then train the chosen one's "
                          f"ensemble with spikelut run or spikelut train --ensemble")
    log = None
    if trial_dir is not None:
        d = Path(trial_dir)
        d.mkdir(parents=True, exist_ok=True)
        # atomic: verify_trial compares this file with the trial's config to reuse model.h5, and
        # a half-written one (a killed worker) must not pass for it
        write_text_atomic(d / "config.toml", dump_toml({k: v for k, v in cfg.items()
                                                        if not k.startswith("_")}))
        log = d / "log.jsonl"

    def callback(_trainer: Any, record: dict) -> None:
        if on_epoch is not None:
            on_epoch(int(record["epoch"]), float(record["val_acc"]))

    res = Trainer(net, tc, progress=False).fit((xt, yt), (xv, yv), log=log, callback=callback)
    if trial_dir is not None:
        save_model(res.net, Path(trial_dir) / "model.h5")
    acc = simulate(res.net, xv, backend=s.backend).accuracy(yv)
    return {"val_acc": float(acc), "luts": int(res.net.n_nodes),
            "flip_flops": int(res.net.flip_flops()), "epochs": len(res.history),
            "kept_epoch": int(res.kept_epoch), "curve": [r["val_acc"] for r in res.history],
            "seconds": round(time.perf_counter() - t0, 3)}, res.net


def chance_level(cfg: dict) -> float:
    """The validation accuracy of always answering the commonest class (and at least 1/classes):
    a trial that does not beat it after ``prune_after`` epochs has learned nothing yet."""
    _, (_xv, yv), _ = validation_split(cfg)
    classes = max(1, int(cfg.get("readout", {}).get("classes", 2)))
    return max(1.0 / classes, float(np.bincount(yv).max() / len(yv)))
