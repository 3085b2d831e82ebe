"""`spikelut sweep`: search run configs with Optuna, one laptop or many machines sharing one study.

A *space file* (TOML) names a base run config (the file ``spikelut run`` reads), fixed overrides,
the keys to search and the objectives::

    base = "run_patterns.toml"           # relative to the space file
    [sweep]
    objectives = ["val_acc", "luts"]     # val_acc (maximize), luts, flip_flops (minimize)
    trials = 8                           # default of --trials
    seed = 0
    [set]                                # dotted keys set in every trial
    "train.epochs" = 3
    [params]                             # dotted keys searched
    "train.lr" = { low = 0.003, high = 0.1, log = true }
    "layers.0.nodes" = { low = 16, high = 128, step = 16 }
    "layers.0.k" = { choices = [4, 5, 6] }

Each trial builds the run config, encodes the training split, holds out ``[data] val_fraction``
of it (never the test split), trains with a per-epoch report to the pruner, and scores the kept
model on the validation samples with the simulator. At the end of every command the front (the
Pareto front, or the best trial for one objective) is compiled to Verilog and co-simulated, and
``DIR/report.html`` / ``DIR/report.json`` are written. The study lives in ``DIR/study.db``
(SQLite) unless ``storage`` names another database, so a rerun continues it.

Example:
    >>> from spikelut.sweep import run_sweep
    >>> rep = run_sweep("demos/sweep_mnist1d.toml", "sweep-out", trials=8, workers=2)  # doctest: +SKIP
    >>> [(t["number"], t["val_acc"], t["luts"]) for t in rep["front"]]                   # doctest: +SKIP
"""

from __future__ import annotations

import base64
import copy
import json
import math
import multiprocessing as mp
import os
import re
import signal
import socket
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from .config import TOP_LEVEL, build_network, load_config, parse_config
from .errors import ConfigError, SpikelutError, ToolError
from .escape import html_text, terminal

if TYPE_CHECKING:
    import optuna

#: objective name -> Optuna direction
OBJECTIVES = {"val_acc": "maximize", "luts": "minimize", "flip_flops": "minimize"}
SPACE_KEYS = {"base", "sweep", "set", "params"}
SWEEP_KEYS = {"study", "objectives", "trials", "seed", "pruner", "prune_after", "heartbeat",
              "population", "verify"}
PARAM_KEYS = {"low", "high", "log", "step", "choices"}
PRUNERS = ("median", "chance", "none")
INSTALL_HINT = "pip install 'spikelut[sweep]'"


# ---------------------------------------------------------------------------- optional extra
def require_optuna() -> Any:
    """Import Optuna or raise one line saying what to install.

    Raises:
        ToolError: Optuna is not installed.
    """
    try:
        import optuna
    except ImportError:
        raise ToolError(f"spikelut sweep needs Optuna, which is not installed: {INSTALL_HINT}") from None
    return optuna


# ---------------------------------------------------------------------------- dotted keys
def _parts(key: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in key.split(".")]


def set_dotted(cfg: dict, key: str, value: Any, where: str = "space") -> None:
    """Set ``cfg[a][b][0][c] = value`` for the dotted key ``"a.b.0.c"`` (integers index lists).

    Every part but the last must exist; the last may be a new key of an existing table.

    Raises:
        ConfigError: a part of the path does not exist in the config.

    Example:
        >>> cfg = {"layers": [{"nodes": 8}], "train": {}}
        >>> set_dotted(cfg, "layers.0.nodes", 16); set_dotted(cfg, "train.lr", 0.1)
        >>> cfg
        {'layers': [{'nodes': 16}], 'train': {'lr': 0.1}}
    """
    parts = _parts(key)
    if not key or any(p == "" for p in parts):
        raise ConfigError(f"{where}: empty part in the key {key!r}")
    if parts[0] not in TOP_LEVEL or parts[0] in ("name", "description"):
        raise ConfigError(f"{where}: {key!r} is not a run-config key; it must start with one of "
                          f"{sorted(TOP_LEVEL - {'name', 'description'})}")
    node: Any = cfg
    for i, p in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(node, list):
            if not isinstance(p, int) or p >= len(node):
                raise ConfigError(f"{where}: {key!r}: the base config has no item {p} in "
                                  f"{'.'.join(map(str, parts[:i])) or 'the config'}")
            node = node[p]
        elif isinstance(node, dict):
            if p not in node:
                if isinstance(nxt, int) or i > 0:
                    raise ConfigError(f"{where}: {key!r}: the base config has no "
                                      f"{'.'.join(map(str, parts[:i + 1]))!r}")
                node[p] = {}  # a table the base config leaves out, e.g. [train]
            node = node[p]
        else:
            raise ConfigError(f"{where}: {key!r}: {'.'.join(map(str, parts[:i + 1]))!r} is a value, "
                              f"not a table or list")
    last = parts[-1]
    if isinstance(node, list):
        if not isinstance(last, int) or last >= len(node):
            raise ConfigError(f"{where}: {key!r}: the base config has no item {last} there")
        node[last] = value
    elif isinstance(node, dict):
        node[str(last)] = value
    else:
        raise ConfigError(f"{where}: {key!r}: the parent is a value, not a table or list")


# ---------------------------------------------------------------------------- the space
@dataclass
class Param:
    """One searched key: an int / float range (``log``, ``step``) or a list of ``choices``."""

    key: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: list | None = None

    @property
    def is_int(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def suggest(self, trial: "optuna.Trial") -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.key, self.choices)
        if self.is_int:
            return trial.suggest_int(self.key, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.key, float(self.low), float(self.high), step=self.step,
                                   log=self.log)

    def corners(self) -> list:
        return list(self.choices) if self.choices is not None else [self.low, self.high]


@dataclass
class SweepSpace:
    """A parsed space file (see the module docstring)."""

    path: Path
    base_path: Path
    base: dict
    fixed: dict[str, Any]
    params: list[Param]
    objectives: list[str]
    trials: int = 8
    seed: int = 0
    study: str = "sweep"
    pruner: str = "median"
    prune_after: int = 1
    heartbeat: int = 10
    population: int = 8
    verify: int = 5

    @property
    def directions(self) -> list[str]:
        return [OBJECTIVES[o] for o in self.objectives]

    def config_for(self, values: dict[str, Any]) -> dict:
        """The run config of one trial: base, then ``[set]``, then the searched ``values``."""
        cfg = copy.deepcopy(self.base)
        for k, v in self.fixed.items():
            set_dotted(cfg, k, v, f"{self.path}: [set]")
        for k, v in values.items():
            set_dotted(cfg, k, v, f"{self.path}: [params]")
        return cfg


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _param(key: str, spec: Any, where: str) -> Param:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: {key!r} must be a table such as {{ low = 1, high = 8 }} or "
                          f"{{ choices = [4, 6] }}")
    unknown = sorted(set(spec) - PARAM_KEYS)
    if unknown:
        raise ConfigError(f"{where}: {key!r}: unknown field(s) {unknown}; allowed: {sorted(PARAM_KEYS)}")
    if "choices" in spec:
        ch = spec["choices"]
        if set(spec) != {"choices"} or not isinstance(ch, list) or not ch:
            raise ConfigError(f"{where}: {key!r}: choices must be a non-empty list, alone")
        if not all(isinstance(c, (str, int, float, bool)) for c in ch) or len(set(map(repr, ch))) != len(ch):
            raise ConfigError(f"{where}: {key!r}: choices must be distinct strings, numbers or booleans")
        return Param(key, choices=list(ch))
    lo, hi = spec.get("low"), spec.get("high")
    if not (_num(lo) and _num(hi)) or not lo < hi:
        raise ConfigError(f"{where}: {key!r}: needs numbers low < high, got low = {lo!r}, high = {hi!r}")
    log, step = spec.get("log", False), spec.get("step")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: {key!r}: log must be true or false, got {log!r}")
    if log and lo <= 0:
        raise ConfigError(f"{where}: {key!r}: a log scale needs low > 0, got {lo!r}")
    if step is not None and (not _num(step) or step <= 0 or log):
        raise ConfigError(f"{where}: {key!r}: step must be a number > 0 and cannot go with log, got {step!r}")
    p = Param(key, lo, hi, log, step)
    if step is not None and p.is_int and not isinstance(step, int):
        raise ConfigError(f"{where}: {key!r}: an integer range needs an integer step, got {step!r}")
    return p


def check_run_config(cfg: dict, where: str) -> None:
    """Refuse a trial config that ``spikelut run`` would refuse, or that has no validation split.

    Raises:
        ConfigError: naming ``where`` and the bad key.
    """
    from .pipeline import RunSettings
    from .train.config import TrainConfig

    try:
        settings = RunSettings.from_config(cfg)
        TrainConfig.from_dict(cfg.get("train"), seed=cfg.get("seed", 0))
        build_network(cfg)
        parse_config(dump_toml({k: v for k, v in cfg.items() if not k.startswith("_")}))
    except SpikelutError as e:
        raise ConfigError(f"{where}: {e}") from None
    if settings.val_fraction <= 0:
        raise ConfigError(f"{where}: [data] val_fraction is 0; a sweep scores trials on a validation "
                          f"split, never on the test set: set \"data.val_fraction\" = 0.2 in [set]")


def load_space(path: str | os.PathLike) -> SweepSpace:
    """Read and check a space file, including the run configs at the corners of the ranges.

    Raises:
        ConfigError: naming the file and the field.

    Example:
        >>> sp = load_space("demos/sweep_mnist1d.toml")                       # doctest: +SKIP
        >>> sp.objectives, [p.key for p in sp.params]                         # doctest: +SKIP
    """
    from .config import tomllib

    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such space file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read the space file: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}") from None
    unknown = sorted(set(raw) - SPACE_KEYS)
    if unknown:
        raise ConfigError(f"{p}: unknown key(s) {unknown}; allowed: {sorted(SPACE_KEYS)}")
    if not isinstance(raw.get("base"), str):
        raise ConfigError(f"{p}: missing 'base', the run config to start from (a path relative to "
                          f"this file)")
    base_path = Path(raw["base"])
    if not base_path.is_absolute():
        base_path = p.parent / base_path
    base = load_config(base_path)
    sw = raw.get("sweep", {})
    fixed = raw.get("set", {})
    params_raw = raw.get("params", {})
    for name, t in (("sweep", sw), ("set", fixed), ("params", params_raw)):
        if not isinstance(t, dict):
            raise ConfigError(f"{p}: [{name}] must be a table")
    unknown = sorted(set(sw) - SWEEP_KEYS)
    if unknown:
        raise ConfigError(f"{p}: [sweep]: unknown key(s) {unknown}; allowed: {sorted(SWEEP_KEYS)}")
    objectives = sw.get("objectives", ["val_acc", "luts"])
    if isinstance(objectives, str):
        objectives = [objectives]
    if (not isinstance(objectives, list) or not objectives or len(set(objectives)) != len(objectives)
            or any(o not in OBJECTIVES for o in objectives)):
        raise ConfigError(f"{p}: [sweep]: objectives must be distinct names out of "
                          f"{sorted(OBJECTIVES)}, got {objectives!r}")

    def pos_int(key: str, default: int, lo: int = 1) -> int:
        v = sw.get(key, default)
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise ConfigError(f"{p}: [sweep]: {key} must be an integer >= {lo}, got {v!r}")
        return v

    pruner = sw.get("pruner", "median" if objectives == ["val_acc"] else "chance")
    if pruner not in PRUNERS:
        raise ConfigError(f"{p}: [sweep]: pruner must be one of {list(PRUNERS)}, got {pruner!r}")
    if pruner == "median" and objectives != ["val_acc"]:
        raise ConfigError(f"{p}: [sweep]: pruner \"median\" needs the single objective val_acc "
                          f"(Optuna prunes single-objective studies only); use \"chance\" or \"none\"")
    study = sw.get("study", p.stem)
    if not isinstance(study, str) or not study:
        raise ConfigError(f"{p}: [sweep]: study must be a non-empty string, got {study!r}")
    params = [_param(k, v, f"{p}: [params]") for k, v in params_raw.items()]
    space = SweepSpace(p, base_path, base, dict(fixed), params, list(objectives),
                       trials=pos_int("trials", 8, 0), seed=pos_int("seed", 0, 0), study=study,
                       pruner=pruner, prune_after=pos_int("prune_after", 1),
                       heartbeat=pos_int("heartbeat", 10), population=pos_int("population", 8, 2),
                       verify=pos_int("verify", 5, 0))
    # every corner of the space must be a config `spikelut run` accepts
    corners = [{q.key: q.corners()[0] for q in params}, {q.key: q.corners()[-1] for q in params}]
    for q in params:
        for c in q.corners()[1:-1]:
            corners.append(dict(corners[0], **{q.key: c}))
    for values in corners:
        check_run_config(space.config_for(values), f"{p} (trial config {values})")
    return space


# ---------------------------------------------------------------------------- TOML out
def _toml_value(v: Any, where: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x, where) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x, where)}" for k, x in v.items()) + " }"
    raise ConfigError(f"{where}: cannot write {type(v).__name__} to TOML")


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def dump_toml(cfg: dict) -> str:
    """A run config as TOML text that ``spikelut run`` reads back to the same dict.

    Top-level tables become ``[name]``, lists of tables ``[[name]]``; deeper tables are inline.

    Example:
        >>> print(dump_toml({"seed": 1, "layers": [{"nodes": 8, "taps": [{"from": "input"}]}],
        ...                  "train": {"lr": 0.1}}))
        seed = 1
        <BLANKLINE>
        [[layers]]
        nodes = 8
        taps = [{ from = "input" }]
        <BLANKLINE>
        [train]
        lr = 0.1
        <BLANKLINE>
    """
    head, tables = [], []
    for k, v in cfg.items():
        if isinstance(v, dict):
            tables.append(f"\n[{_toml_key(k)}]")
            tables += [f"{_toml_key(a)} = {_toml_value(b, k)}" for a, b in v.items()]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                tables.append(f"\n[[{_toml_key(k)}]]")
                tables += [f"{_toml_key(a)} = {_toml_value(b, k)}" for a, b in item.items()]
        else:
            head.append(f"{_toml_key(k)} = {_toml_value(v, k)}")
    return "\n".join(head + tables) + "\n"


# ---------------------------------------------------------------------------- one trial
_DATA_CACHE: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _train_split(settings: Any) -> tuple[np.ndarray, np.ndarray]:
    """The encoded training split, cached per process (trials often share [data] and [coding])."""
    from .datasets import encode_dataset

    key = json.dumps([settings.dataset, settings.coding, settings.steps, settings.data_seed,
                      settings.limit_train, settings.coding_params], sort_keys=True, default=str)
    if key not in _DATA_CACHE:
        sd = encode_dataset(settings.dataset, settings.coding, settings.steps, split="train",
                            seed=settings.data_seed, limit=settings.limit_train,
                            **settings.coding_params)
        _DATA_CACHE.clear()  # one dataset at a time keeps a worker's memory flat
        _DATA_CACHE[key] = (sd.spikes, sd.labels)
    return _DATA_CACHE[key]


def validation_split(cfg: dict) -> tuple[tuple, tuple, Any]:
    """``(train, val, settings)`` of a trial config: the encoded training split with
    ``[data] val_fraction`` held out (seeded by the data seed, as ``spikelut run`` does)."""
    from .pipeline import RunSettings
    from .train.trainer import holdout

    s = RunSettings.from_config(cfg)
    x, y = _train_split(s)
    train, val = holdout(x, y, s.val_fraction, s.data_seed)
    return train, val, s


def run_trial(cfg: dict, trial_dir: str | os.PathLike | None = None,
              on_epoch: Callable[[int, float], None] | None = None) -> dict:
    """Train one trial config and score it on its validation split.

    Args:
        cfg: a run config (the dict ``spikelut run`` reads) with ``[data] val_fraction > 0``.
        trial_dir: where ``config.toml``, ``log.jsonl`` and ``model.h5`` go (None: nowhere).
        on_epoch: ``on_epoch(epoch, val_acc)`` after every epoch (1-based); it may raise to stop.

    Returns:
        ``{"val_acc", "luts", "flip_flops", "epochs", "kept_epoch", "curve", "seconds"}``:
        ``val_acc`` is the simulator's accuracy of the kept model on the validation samples,
        ``curve`` the per-epoch validation accuracies.

    Raises:
        ConfigError: a config ``spikelut run`` would refuse.

    Example:
        >>> cfg = load_config("demos/run_default.toml")                        # doctest: +SKIP
        >>> cfg["data"]["val_fraction"] = 0.2; cfg["train"]["epochs"] = 1      # doctest: +SKIP
        >>> run_trial(cfg)["luts"]                                              # doctest: +SKIP
        72
    """
    from .api import simulate
    from .io import save_model
    from .train.config import TrainConfig
    from .train.trainer import Trainer

    t0 = time.perf_counter()
    (xt, yt), (xv, yv), s = validation_split(cfg)
    if s.val_fraction <= 0:
        raise ConfigError("[data] val_fraction is 0: a sweep trial needs a validation split")
    net = build_network(cfg)
    tc = TrainConfig.from_dict(cfg.get("train"), seed=cfg.get("seed", 0))
    log = None
    if trial_dir is not None:
        d = Path(trial_dir)
        d.mkdir(parents=True, exist_ok=True)
        (d / "config.toml").write_text(dump_toml({k: v for k, v in cfg.items()
                                                  if not k.startswith("_")}))
        log = d / "log.jsonl"

    def callback(_trainer: Any, record: dict) -> None:
        if on_epoch is not None:
            on_epoch(int(record["epoch"]), float(record["val_acc"]))

    res = Trainer(net, tc, progress=False).fit((xt, yt), (xv, yv), log=log, callback=callback)
    if trial_dir is not None:
        save_model(res.net, Path(trial_dir) / "model.h5")
    acc = simulate(res.net, xv, engine=s.engine).accuracy(yv)
    return {"val_acc": float(acc), "luts": int(res.net.n_nodes),
            "flip_flops": int(res.net.flip_flops()), "epochs": len(res.history),
            "kept_epoch": int(res.kept_epoch), "curve": [r["val_acc"] for r in res.history],
            "seconds": round(time.perf_counter() - t0, 3), "_net": res.net}


# ---------------------------------------------------------------------------- storage
def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs and reports).

    Example:
        >>> mask_url("postgresql://ann:secret@db.lab:5432/sweeps")
        'postgresql://ann:***@db.lab:5432/sweeps'
    """
    return re.sub(r"^([a-zA-Z0-9+.-]+://[^:/@]*):[^@]*@", r"\1:***@", url)


def _with_driver(url: str) -> str:
    """``postgresql://`` with the PostgreSQL driver that is installed (psycopg 3, else psycopg2):
    SQLAlchemy's default driver changed between versions, the user's URL should not have to."""
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    for module, dialect in (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return dialect + url[len("postgresql"):]
    return url


def open_storage(url: str, heartbeat: int) -> "optuna.storages.RDBStorage":
    """An Optuna RDB storage with heartbeats (a dead worker's trial is failed after 6 missed beats).

    Raises:
        ToolError: the database driver is not installed.
        ConfigError: the URL is malformed or the database cannot be reached.
    """
    optuna = require_optuna()
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": 120}}  # workers take turns writing the file
    try:
        return optuna.storages.RDBStorage(_with_driver(url), engine_kwargs=kwargs,
                                          heartbeat_interval=heartbeat, grace_period=6 * heartbeat)
    except ImportError as e:
        cause = e.__cause__ if isinstance(e.__cause__, ImportError) else e
        raise ToolError(f"storage {mask_url(url)}: the database driver "
                        f"{getattr(cause, 'name', None) or 'for this URL'} is not installed: "
                        f"{INSTALL_HINT} (PostgreSQL: psycopg)") from None
    except Exception as e:  # sqlalchemy's errors: bad URL, unreachable server, bad password
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"storage {mask_url(url)}: cannot open: {msg}") from None


def _sampler(space: SweepSpace, seed: int) -> Any:
    optuna = require_optuna()
    if len(space.objectives) > 1:
        return optuna.samplers.NSGAIISampler(population_size=space.population, seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _pruner(space: SweepSpace) -> Any:
    optuna = require_optuna()
    if space.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=space.prune_after - 1)
    return optuna.pruners.NopPruner()


def chance_level(cfg: dict) -> float:
    """The validation accuracy of always answering the commonest class (and at least 1/classes):
    a trial that does not beat it after ``prune_after`` epochs has learned nothing yet."""
    _, (_xv, yv), _ = validation_split(cfg)
    classes = max(1, int(cfg.get("readout", {}).get("classes", 2)))
    return max(1.0 / classes, float(np.bincount(yv).max() / len(yv)))


def _open_study(space: SweepSpace, url: str, seed: int, create: bool = False) -> Any:
    optuna = require_optuna()
    storage = open_storage(url, space.heartbeat)
    if create:
        try:
            study = optuna.create_study(storage=storage, study_name=space.study,
                                        directions=space.directions, load_if_exists=True,
                                        sampler=_sampler(space, seed), pruner=_pruner(space))
        except Exception as e:
            raise ConfigError(f"storage {mask_url(url)}: cannot create study {space.study!r}: "
                              f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        have = [d.name.lower() for d in study.directions]
        if have != space.directions:
            raise ConfigError(f"study {space.study!r} in {mask_url(url)} has directions {have}, but "
                              f"{space.path} asks for {space.objectives} ({space.directions}); "
                              f"use another [sweep] study name or output directory")
        objs = study.user_attrs.get("objectives")
        if objs is None:
            study.set_user_attr("objectives", space.objectives)
        elif objs != space.objectives:
            raise ConfigError(f"study {space.study!r} in {mask_url(url)} optimizes {objs}, but "
                              f"{space.path} asks for {space.objectives}; use another [sweep] study")
        return study
    return optuna.load_study(study_name=space.study, storage=storage,
                             sampler=_sampler(space, seed), pruner=_pruner(space))


def _fail(study: Any, trial_id: int, reason: str) -> bool:
    """Mark a RUNNING trial FAIL with ``reason`` (False when it already finished)."""
    optuna = require_optuna()
    storage = study._storage
    try:
        if storage.get_trial(trial_id).state != optuna.trial.TrialState.RUNNING:
            return False
        storage.set_trial_user_attr(trial_id, "failure", reason)
        return bool(storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def fail_dead_trials(study: Any, echo: Callable[[str], None]) -> list[int]:
    """Fail RUNNING trials whose worker is gone: stale heartbeats (any machine) and, on this host,
    trials whose worker process no longer exists. Returns the failed trial numbers."""
    optuna = require_optuna()
    host = socket.gethostname()
    failed = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        pid = t.user_attrs.get("pid")
        if t.user_attrs.get("host") == host and isinstance(pid, int) and not _alive(pid):
            if _fail(study, t._trial_id, f"worker process {pid} on {host} is gone"):
                failed.append(t.number)
    before = {t.number for t in study.get_trials(deepcopy=False,
                                                 states=(optuna.trial.TrialState.FAIL,))}
    optuna.storages.fail_stale_trials(study)
    after = {t.number for t in study.get_trials(deepcopy=False,
                                                states=(optuna.trial.TrialState.FAIL,))}
    failed += sorted(after - before)
    for n in failed:
        echo(f"trial {n}: its worker died; marked failed")
    return failed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited child not yet reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


# ---------------------------------------------------------------------------- objective
class Objective:
    """The function Optuna calls per trial (picklable settings only: it runs in spawned workers)."""

    def __init__(self, space: SweepSpace, outdir: Path, slot: int = 0, current: Any = None,
                 echo: Callable[[str], None] | None = None) -> None:
        self.space, self.out, self.slot, self.current = space, outdir, slot, current
        self.echo = echo or _stderr

    def __call__(self, trial: "optuna.Trial") -> float | tuple[float, ...]:
        optuna = require_optuna()
        if self.current is not None:
            self.current[self.slot] = trial._trial_id
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("host", socket.gethostname())
        values = {p.key: p.suggest(trial) for p in self.space.params}
        cfg = self.space.config_for(values)
        chance = chance_level(cfg) if self.space.pruner == "chance" else 0.0
        single = len(self.space.objectives) == 1
        curve: list[float] = []

        def on_epoch(epoch: int, acc: float) -> None:
            curve.append(acc)
            if self.space.pruner == "median":
                trial.report(acc, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"val_acc {acc:.4f} after epoch {epoch} is below the "
                                             f"median of earlier trials")
            elif (self.space.pruner == "chance" and epoch >= self.space.prune_after
                  and acc <= chance + 1e-9):
                raise optuna.TrialPruned(f"val_acc {acc:.4f} after epoch {epoch} is not above "
                                         f"chance ({chance:.4f})")

        try:
            r = run_trial(cfg, self.out / "trials" / f"{trial.number:05d}", on_epoch)
        except optuna.TrialPruned as e:
            trial.set_user_attr("curve", curve)
            self.echo(f"trial {trial.number}: pruned: {e}")
            raise
        except SpikelutError as e:
            trial.set_user_attr("failure", str(e))
            self.echo(f"trial {trial.number}: failed: {terminal(str(e))}")
            raise
        for k in ("val_acc", "luts", "flip_flops", "epochs", "kept_epoch", "curve", "seconds"):
            trial.set_user_attr(k, r[k])
        self.echo(f"trial {trial.number}: val_acc {r['val_acc']:.4f}, {r['luts']} LUTs, "
                  f"{r['flip_flops']} flip-flops, {r['epochs']} epochs ({r['seconds']:.1f} s)")
        vals = tuple(float(r[o]) for o in self.space.objectives)
        return vals[0] if single else vals


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _quiet_optuna() -> None:
    optuna = require_optuna()
    # spikelut prints one line per trial; Optuna's own lines (with tracebacks of failed trials)
    # would bury them
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    import warnings

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _run_trials(study: Any, objective: Objective, claim: Callable[[], bool]) -> None:
    optuna = require_optuna()
    while claim():
        try:
            study.optimize(objective, n_trials=1, catch=(SpikelutError,))
        except optuna.exceptions.UpdateFinishedTrialError:
            # another worker found this trial's heartbeat stale and failed it; its result is lost
            # but the study goes on
            objective.echo("a trial finished after another worker had marked it failed (its "
                           "heartbeat was late); [sweep] heartbeat may be too short for this machine")
        if objective.current is not None:
            objective.current[objective.slot] = -1


def _worker_main(slot: int, space_path: str, outdir: str, url: str, seed: int, threads: int,
                 remaining: Any, current: Any) -> None:
    """Entry point of a spawned worker: claim trials from ``remaining`` until none are left."""
    try:
        try:
            import numba

            numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        except ImportError:
            pass
        _quiet_optuna()
        space = load_space(space_path)
        study = _open_study(space, url, seed + slot)

        def claim() -> bool:
            with remaining.get_lock():
                if remaining.value <= 0:
                    return False
                remaining.value -= 1
                return True

        _run_trials(study, Objective(space, Path(outdir), slot, current), claim)
    except KeyboardInterrupt:
        sys.exit(130)
    except SpikelutError as e:
        _stderr(f"spikelut sweep: worker {slot}: error: {terminal(str(e))}")
        sys.exit(1)


@contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _signal_name(code: int) -> str:
    try:
        return f"signal {-code} ({signal.Signals(-code).name})"
    except ValueError:
        return f"signal {-code}"


def _run_workers(space: SweepSpace, study: Any, out: Path, url: str, n: int, workers: int,
                 seed: int, threads: int, echo: Callable[[str], None]) -> int:
    """Run ``n`` trials on ``workers`` spawned processes; return the number of workers that
    stopped with an error. A worker killed by a signal has its trial failed and is replaced."""
    ctx = mp.get_context("spawn")
    remaining = ctx.Value("i", n)
    current = ctx.Array("i", [-1] * workers)
    procs: dict[int, Any] = {}
    thread_env = {k: str(threads) for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
                                            "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}

    def start(slot: int) -> None:
        current[slot] = -1
        p = ctx.Process(target=_worker_main, name=f"spikelut-sweep-{slot}",
                        args=(slot, str(space.path), str(out), url, seed, threads, remaining, current))
        with _env(**thread_env):  # spawn copies the environment: numba reads it at import
            p.start()
        procs[slot] = p

    errors, respawns = 0, 0
    try:
        for slot in range(workers):
            start(slot)
        while procs:
            for slot, p in list(procs.items()):
                if p.is_alive():
                    continue
                p.join()
                del procs[slot]
                code = p.exitcode
                tid = current[slot]
                if code == 0:
                    continue
                if code is not None and code < 0:
                    why = f"worker {slot} (pid {p.pid}) was killed by {_signal_name(code)}"
                    if tid >= 0 and _fail(study, tid, why):
                        echo(f"trial {study._storage.get_trial(tid).number}: {why}; marked failed")
                    else:
                        echo(why)
                    if remaining.value > 0 and respawns < n:
                        respawns += 1
                        start(slot)
                else:
                    errors += 1
                    if tid >= 0:
                        _fail(study, tid, f"worker {slot} (pid {p.pid}) stopped with exit code {code}")
            time.sleep(0.1)
    except KeyboardInterrupt:
        for p in procs.values():
            if p.is_alive():
                try:
                    os.kill(p.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 20
        for slot, p in procs.items():
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.terminate()
                p.join(5)
            if current[slot] >= 0:
                _fail(study, current[slot], "interrupted (Ctrl-C)")
        raise
    return errors


# ---------------------------------------------------------------------------- the command
def run_sweep(space_path: str | os.PathLike, outdir: str | os.PathLike, trials: int | None = None,
              workers: int = 1, storage: str | None = None, seed: int | None = None,
              threads: int | None = None, echo: Callable[[str], None] | None = None) -> dict:
    """Run (or continue) the study of a space file, verify its front, write the report.

    Args:
        space_path: the space file (TOML, see the module docstring).
        outdir: output directory: ``study.db`` (default storage), ``trials/NNNNN/`` (config,
            log, model per trial run here), ``front/NNNNN/rtl`` and ``report.html`` / ``.json``.
        trials: trials this command adds (default ``[sweep] trials``); 0 only verifies and reports.
        workers: worker processes on this machine (spawned; 1 = in this process).
        storage: an Optuna RDB URL (``postgresql://user:pw@host/db``) shared by many machines;
            default ``sqlite:///OUTDIR/study.db``.
        seed: sampler seed (default ``[sweep] seed``); worker i uses ``seed + i``. Give every
            machine sharing a study its own seed.
        threads: numba threads per worker (default 1 with several workers, else numba's default).
        echo: where progress lines go (default stderr).

    Returns:
        The report dict (also ``OUTDIR/report.json``): study, storage (password masked),
        objectives, trial counts by state, ``front`` (trials with params, values, config and the
        verified circuit), ``importances`` and the report path.

    Raises:
        ToolError: Optuna (or the database driver) is not installed.
        ConfigError: a bad space file, run config, output directory or storage.
        KeyboardInterrupt: after Ctrl-C, once the workers stopped and their trials are failed.

    Example:
        >>> rep = run_sweep("demos/sweep_mnist1d.toml", "out", trials=4, workers=2)  # doctest: +SKIP
        >>> rep["trials"]["COMPLETE"]                                                  # doctest: +SKIP
        4
    """
    require_optuna()
    echo = echo or _stderr
    space = load_space(space_path)
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory")
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers!r}")
    n = space.trials if trials is None else trials
    if not isinstance(n, int) or n < 0:
        raise ConfigError(f"--trials must be >= 0, got {n!r}")
    seed = space.seed if seed is None else seed
    out.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{out.resolve() / 'study.db'}"
    _quiet_optuna()
    study = _open_study(space, url, seed, create=True)
    fail_dead_trials(study, echo)
    done = len(study.get_trials(deepcopy=False))
    echo(f"study {space.study!r} in {mask_url(url)}: {done} trials so far; running {n} more on "
         f"{workers} worker(s)")
    errors = 0
    if n and workers == 1:
        if threads is not None:
            import numba

            numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        left = [n]

        def claim() -> bool:
            left[0] -= 1
            return left[0] >= 0

        _run_trials(study, Objective(space, out, echo=echo), claim)
    elif n:
        errors = _run_workers(space, study, out, url, n, workers, seed,
                              1 if threads is None else threads, echo)
    fail_dead_trials(study, echo)
    report = build_report(study, space, out, url, echo)
    if errors:
        raise SpikelutError(f"{errors} worker(s) stopped with an error (see above); the report "
                            f"of the finished trials is in {out / 'report.html'}")
    return report


# ---------------------------------------------------------------------------- front and report
def front_trials(study: Any) -> list:
    """The Pareto front (several objectives) or the best trial (one), best accuracy first."""
    optuna = require_optuna()
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not done:
        return []
    front = list(study.best_trials)
    return sorted(front, key=lambda t: (-t.user_attrs.get("val_acc", 0.0),
                                        t.user_attrs.get("luts", 0), t.number))


def verify_trial(space: SweepSpace, trial: Any, out: Path, echo: Callable[[str], None]) -> dict:
    """Compile one finished trial to Verilog and co-simulate it on its validation samples.

    The model trained here is reused; a trial trained on another machine is retrained (training
    is seeded, so the tables are the same). Returns LUTs, flip-flops, LUT levels and the cosim
    result (``{"skipped": reason}`` when no simulator is installed).
    """
    from .io import load_model
    from .pipeline import RunSettings
    from .rtl.cosim import verify_directory
    from .rtl.writer import write_verilog

    cfg = space.config_for(trial.params)
    s = RunSettings.from_config(cfg)
    model = out / "trials" / f"{trial.number:05d}" / "model.h5"
    if model.exists():
        net = load_model(model)
    else:
        echo(f"trial {trial.number}: retraining here to verify it (trained elsewhere)")
        net = run_trial(cfg, out / "trials" / f"{trial.number:05d}")["_net"]
    _, (xv, _yv), _ = validation_split(cfg)
    stim = xv if not s.verify_samples else xv[:, :s.verify_samples]
    rtl_dir = out / "front" / f"{trial.number:05d}" / "rtl"
    files = write_verilog(net, rtl_dir, top=s.top, lut6=s.lut6, stimulus=stim, force=True,
                          model=str(model.name))
    plan = files.plan
    circuit: dict[str, Any] = {"luts": int(plan.luts), "flip_flops": int(plan.flip_flops),
                               "lut_levels": int(plan.lut_levels()), "rtl": str(rtl_dir)}
    try:
        rep = verify_directory(files, s.simulator, build_dir=rtl_dir / "build")
        circuit["cosim"] = {k: v for k, v in rep.to_dict().items()
                            if k in ("ok", "simulator", "samples", "steps", "bits_compared",
                                     "bit_mismatches", "pred_mismatches")}
    except ToolError as e:
        circuit["cosim"] = {"skipped": str(e), "simulator": s.simulator}
    return circuit


def _cosim_words(c: dict) -> str:
    cos = c.get("cosim") or {}
    if "skipped" in cos:
        return f"skipped: {cos['skipped']}"
    if cos.get("ok"):
        return f"bit-exact ({cos.get('simulator')}, {cos.get('samples')} validation samples)"
    return (f"MISMATCH ({cos.get('simulator')}: {cos.get('bit_mismatches')} bits, "
            f"{cos.get('pred_mismatches')} predictions)")


def importances(study: Any, objectives: list[str]) -> dict:
    """Parameter importances per objective (fANOVA), or why they are not available."""
    optuna = require_optuna()
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not study.get_trials(deepcopy=False) or not done or not done[0].params:
        return {"unavailable": "no finished trial with searched parameters yet"}
    varied = [k for k in done[0].params if len({repr(t.params.get(k)) for t in done}) > 1]
    if len(done) < 4 or not varied:
        return {"unavailable": f"{len(done)} finished trial(s); importances need at least 4 with "
                               f"different parameter values"}
    result = {}
    for i, name in enumerate(objectives):
        try:
            imp = optuna.importance.get_param_importances(
                study, target=lambda t, i=i: t.values[i], target_name=name)
        except Exception as e:  # too little variation for the evaluator; say so, do not fail
            return {"unavailable": f"{len(done)} finished trials; the importance evaluator "
                                   f"refused them: {str(e).splitlines()[0] if str(e) else type(e).__name__}"}
        result[name] = {k: round(float(v), 4) for k, v in imp.items()}
    return result


def _plot(points: list[dict], front: list[dict], path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not points:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    ax.scatter([p["luts"] for p in points], [p["val_acc"] for p in points], s=18, c="#999",
               label="finished trials")
    fr = sorted(front, key=lambda t: t["luts"])
    ax.plot([t["luts"] for t in fr], [t["val_acc"] for t in fr], "o-", c="#cf222e", ms=6,
            drawstyle="steps-post", label="front")
    for t in fr:
        ax.annotate(str(t["number"]), (t["luts"], t["val_acc"]), textcoords="offset points",
                    xytext=(4, 4), fontsize=8)
    ax.set_xlabel("LUTs")
    ax.set_ylabel("validation accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def build_report(study: Any, space: SweepSpace, out: Path, url: str,
                 echo: Callable[[str], None] = _stderr) -> dict:
    """Verify the front trials not yet verified, and write ``report.json`` and ``report.html``."""
    optuna = require_optuna()
    from . import __version__

    trials = study.get_trials(deepcopy=False)
    counts = {s.name: 0 for s in optuna.trial.TrialState}
    for t in trials:
        counts[t.state.name] += 1
    front = front_trials(study)
    circuits = {k: v for k, v in study.user_attrs.items() if k.startswith("circuit:")}
    rows = []
    for i, t in enumerate(front):
        key = f"circuit:{t.number}"
        if key not in circuits and i < space.verify:
            echo(f"trial {t.number}: verifying its circuit (Verilog + co-simulation)")
            circuits[key] = verify_trial(space, t, out, echo)
            study.set_user_attr(key, circuits[key])  # shared: other machines skip it
        cfg = {k: v for k, v in space.config_for(t.params).items() if not k.startswith("_")}
        rows.append({"number": t.number, "values": list(t.values), "params": dict(t.params),
                     **{k: t.user_attrs.get(k) for k in ("val_acc", "luts", "flip_flops",
                                                         "epochs", "seconds")},
                     "circuit": circuits.get(key), "config_toml": dump_toml(cfg)})
    points = [{"number": t.number, "val_acc": t.user_attrs["val_acc"], "luts": t.user_attrs["luts"]}
              for t in trials if t.state.name == "COMPLETE" and "val_acc" in t.user_attrs]
    png = out / "front.png"
    has_plot = _plot(points, rows, png)
    report = {
        "spikelut": __version__, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "study": space.study, "storage": mask_url(url), "space": str(space.path),
        "base": str(space.base_path), "objectives": space.objectives,
        "directions": space.directions, "trials": counts, "total_trials": len(trials),
        "front": rows, "importances": importances(study, space.objectives),
        "all": [{"number": t.number, "state": t.state.name, "params": dict(t.params),
                 "values": list(t.values) if t.values else None,
                 "failure": t.user_attrs.get("failure")} for t in trials],
        "plot": str(png) if has_plot else None, "report": str(out / "report.html"),
    }
    from .fileutil import write_text_atomic

    write_text_atomic(out / "report.json", json.dumps(report, indent=1, default=str))
    write_text_atomic(out / "report.html", render_html(report, png if has_plot else None))
    return report


CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f6f8fa}img{max-width:100%;border:1px solid #eee}.ok{color:#1a7f37}.bad{color:#cf222e}
pre{background:#f6f8fa;padding:1em;overflow-x:auto;font-size:.85em}.sub{color:#666}
"""


def _table(rows: list[list[Any]], header: list[str]) -> str:
    head = "".join(f"<th>{html_text(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(report: dict, png: Path | None) -> str:
    """The sweep report as one self-contained HTML page (every string escaped)."""
    e = html_text
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>spikelut sweep "
             f"{e(report['study'])}</title><style>{CSS}</style></head><body>",
             f"<h1>Sweep {e(report['study'])}</h1>",
             f"<p class='sub'>{e(report['date'])}, spikelut {e(report['spikelut'])}; space "
             f"{e(report['space'])} on {e(report['base'])}; storage {e(report['storage'])}</p>",
             f"<p>Objectives: {e(', '.join(f'{o} ({d})' for o, d in zip(report['objectives'], report['directions'])))}. "
             f"Trials scored on the validation split ([data] val_fraction), never on the test set.</p>",
             _table([[k, v] for k, v in report["trials"].items() if v], ["state", "trials"])]
    parts.append("<h2>Front: validation accuracy vs LUTs</h2>")
    if png is not None and png.exists():
        data = base64.b64encode(png.read_bytes()).decode()
        parts.append(f"<img alt='validation accuracy against LUTs' src='data:image/png;base64,{data}'>")
    else:
        parts.append("<p><i>no finished trial yet</i></p>")
    rows = []
    for t in report["front"]:
        c = t.get("circuit") or {}
        rows.append([t["number"], f"{t['val_acc']:.4f}" if t.get("val_acc") is not None else "",
                     t.get("luts"), t.get("flip_flops"), c.get("luts", "not verified"),
                     c.get("flip_flops", ""), c.get("lut_levels", ""),
                     _cosim_words(c) if c else "not verified ([sweep] verify)"])
    parts.append(_table(rows, ["trial", "val acc", "LUTs", "flip-flops", "verified LUTs",
                               "verified FFs", "LUT levels", "co-simulation"]))
    parts.append("<h2>Parameter importances</h2>")
    imp = report["importances"]
    if "unavailable" in imp:
        parts.append(f"<p><i>{e(imp['unavailable'])}</i></p>")
    else:
        keys = sorted({k for v in imp.values() for k in v})
        parts.append(_table([[k] + [imp[o].get(k, "") for o in imp] for k in keys],
                            ["parameter"] + list(imp)))
    parts.append("<h2>Front trials' configs</h2>")
    for t in report["front"]:
        params = ", ".join(f"{k} = {v}" for k, v in t["params"].items())
        parts.append(f"<h3>trial {e(t['number'])}</h3><p>{e(params)}</p>"
                     f"<details><summary>run config (spikelut run)</summary>"
                     f"<pre>{e(t['config_toml'])}</pre></details>")
    parts.append("<h2>All trials</h2>")
    parts.append(_table([[t["number"], t["state"], ", ".join(f"{k}={v}" for k, v in t["params"].items()),
                          ", ".join(f"{v:.4g}" for v in t["values"]) if t["values"] else "",
                          t.get("failure") or ""] for t in report["all"]],
                        ["trial", "state", "params", "values", "failure"]))
    parts.append("</body></html>")
    return "\n".join(parts)
