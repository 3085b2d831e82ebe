"""Run configs back to TOML text (the trial configs ``spikelut run`` can read again)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ..errors import ConfigError


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

    Args:
        cfg: a run config of bools, ints, floats (NaN and infinities as TOML's ``nan``,
            ``inf``), strings, lists and dicts.

    Returns:
        TOML text, ending in a newline.

    Raises:
        ConfigError: a value of another type (naming its key and type).

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
