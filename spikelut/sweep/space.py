"""Space files: the base run config, the keys set and searched, the objectives, checked up front."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import (INPUT_KEYS, LAYER_KEYS, READOUT_KEYS, TAP_KEYS, TOP_LEVEL, build_network,
                      load_config, loads_toml, parse_config, unknown_keys_message)
from ..errors import ConfigError, SpikelutError
from .tomlwrite import dump_toml

if TYPE_CHECKING:
    import optuna

#: objective name -> Optuna direction
OBJECTIVES = {"val_acc": "maximize", "luts": "minimize", "flip_flops": "minimize"}
SPACE_KEYS = {"base", "sweep", "set", "params"}
SWEEP_KEYS = {"study", "objectives", "trials", "seed", "pruner", "prune_after", "heartbeat",
              "population", "verify"}
PARAM_KEYS = {"low", "high", "log", "step", "choices"}
PRUNERS = ("median", "chance", "none")


# ---------------------------------------------------------------------------- dotted keys
def _parts(key: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in key.split(".")]


def _table_keys(path: list[str | int]) -> tuple[set[str], str | None] | None:
    """The keys the run-config table at ``path`` (the parts before a key) accepts, and the page
    that lists them; ``None`` where the table is free-form ([coding]'s parameters) or unknown."""
    from ..pipeline import DATA_KEYS, RTL_KEYS, RUN_KEYS
    from ..train.config import TrainConfig

    shape = tuple("N" if isinstance(p, int) else p for p in path)
    if shape == ("train",):
        from dataclasses import fields

        return {f.name for f in fields(TrainConfig)}, "docs/guide/training.md"
    return {("layers", "N"): (LAYER_KEYS, None), ("layers", "N", "taps", "N"): (TAP_KEYS, None),
            ("readout",): (READOUT_KEYS, None), ("inputs",): (INPUT_KEYS, None),
            ("data",): (DATA_KEYS, None), ("rtl",): (RTL_KEYS, None),
            ("run",): (RUN_KEYS, None)}.get(shape)


def set_dotted(cfg: dict, key: str, value: Any, where: str = "space") -> None:
    """Set ``cfg[a][b][0][c] = value`` for the dotted key ``"a.b.0.c"`` (integers index lists).

    Every part but the last must exist; the last may be a new key of an existing table, one that
    table accepts (a misspelt key is refused here, naming ``where``: the run config would
    refuse it too, but naming the base config, which does not hold it).

    Args:
        cfg: the run config, changed in place.
        key: the dotted path; integer parts index lists.
        value: the value to set.
        where: what to name in messages (the space file).

    Returns:
        ``None``; ``cfg`` holds the value.

    Raises:
        ConfigError: a part of the path does not exist in the config, or the last part is a key
            the table does not accept.

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
        allowed = None if str(last) in node else _table_keys(parts[:-1])
        if allowed is not None and str(last) not in allowed[0]:
            raise ConfigError(unknown_keys_message(f"{where}: {key!r}", [str(last)], allowed[0],
                                                   allowed[1]))
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

    def fingerprints(self) -> dict[str, str]:
        """SHA-256 of the base config and of ``[set]`` (canonical JSON of the parsed tables, so
        comments, layout and the files' places do not count): with a trial's parameters they
        make its run config, so a study continued with either changed would reuse and report
        results of other configs.

        Example:
            >>> sp = SweepSpace(Path("s.toml"), Path("b.toml"), {"seed": 0, "_path": "b.toml"},
            ...                 {"train.epochs": 2}, [], ["val_acc"])
            >>> sorted(sp.fingerprints()), len(sp.fingerprints()["base"])
            (['base', 'set'], 64)
        """
        import hashlib
        import json

        def digest(obj: Any) -> str:
            text = json.dumps(obj, sort_keys=True, default=repr, separators=(",", ":"))
            return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

        return {"base": digest({k: v for k, v in self.base.items() if not str(k).startswith("_")}),
                "set": digest(self.fixed)}

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
    from ..pipeline import RunSettings
    from ..train.config import TrainConfig

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

    Args:
        path: the sweep space TOML file (docs: ``spikelut sweep``).

    Returns:
        The checked :class:`SweepSpace`.

    Raises:
        ConfigError: naming the file and the field.

    Example:
        >>> sp = load_space("demos/sweep_mnist1d.toml")                       # doctest: +SKIP
        >>> sp.objectives, [p.key for p in sp.params]                         # doctest: +SKIP
    """
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such space file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read the space file: {e}") from None
    try:
        # config.loads_toml: invalid TOML, and nesting deep enough for tomllib's recursion to
        # end in RecursionError (a traceback), are one line
        raw = loads_toml(text)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None
    unknown = sorted(set(raw) - SPACE_KEYS)
    if unknown:
        raise ConfigError(f"{p}: unknown key(s) {unknown}; allowed: {sorted(SPACE_KEYS)}")
    if not isinstance(raw.get("base"), str):
        raise ConfigError(f"{p}: missing 'base', the run config to start from (a path relative to "
                          f"this file)")
    base_path = Path(raw["base"])
    if not base_path.is_absolute():
        base_path = p.parent / base_path
    try:
        base = load_config(base_path)
    except ConfigError as e:  # name the space file that points there, too
        raise ConfigError(f"{p}: base = {raw['base']!r}: {e}") from None
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
