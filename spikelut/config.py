"""Architecture configs in TOML → :class:`~spikelut.network.Network` with random (or given) tables.

A config describes the inputs, the layers (nodes, k, refractory, how each group of taps is drawn),
the readout and a seed; other tables (``[train]``, ``[data]``, ...) belong to the tools that read
them. Every key is documented in the README ("Config format"). Unknown keys are errors, so a typo
never passes silently.

Example:
    >>> cfg = parse_config('''
    ... seed = 1
    ... inputs = 1
    ... [[layers]]
    ... name = "osc"
    ... nodes = 1
    ... k = 2
    ... table = [0, 1, 0, 0]
    ... taps = [{from = "input", index = [0]}, {from = "own", delay = 1}]
    ... [readout]
    ... classes = 1
    ... ''')
    >>> net = build_network(cfg)
    >>> net.layers[0].source.tolist(), net.layers[0].delay.tolist()
    ([[-1, 0]], [[0, 1]])
"""

from __future__ import annotations

import difflib
import os
import stat
import sys
from pathlib import Path
from typing import Any

import numpy as np

from . import limits
from .errors import ConfigError, NetworkError
from .fileutil import HDF5_MAGIC, file_kind, kind_words
from .network import INPUT, Layer, Network, Readout, k_range_problem, readout_classes
from .wiring import STRATEGIES, local, random_taps, serial

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

#: top-level keys a config may hold; tables other than the network's belong to other tools
TOP_LEVEL = {"seed", "name", "description", "inputs", "layers", "readout",
             "train", "data", "coding", "rtl", "run"}
LAYER_KEYS = {"name", "nodes", "k", "refractory", "table", "table_p", "taps", "shape"}
TAP_KEYS = {"from", "count", "wiring", "delay", "index", "window", "allow_own", "same_channel",
            "delay_range"}
READOUT_KEYS = {"layer", "classes", "nodes_per_class", "class_of", "start"}
INPUT_KEYS = {"channels", "shape"}
#: the words a tap group's ``from`` gives before layer names, so no layer may be named so
TAP_SOURCES = ("input", "self", "own")


def demo_path(name: str) -> Path:
    """``demos/<name>`` of a source checkout (run without installing it), else the installed
    ``spikelut.demos`` package's copy (pyproject maps that package to ``demos/``).

    Args:
        name: a file name in ``demos/`` (``"run_default.toml"``).

    Returns:
        Its path; it may not exist (a name the demos do not have): check before reading.

    Raises:
        ModuleNotFoundError: no checkout and no installed ``spikelut.demos`` package.

    Example:
        >>> demo_path("run_default.toml").name
        'run_default.toml'
    """
    here = Path(__file__).resolve().parent.parent / "demos" / name
    if here.exists():
        return here
    from importlib import resources

    return Path(str(resources.files("spikelut.demos").joinpath(name)))


def _shipped_hint(p: Path) -> str:
    """For a missing relative ``demos/<name>`` (the docs' commands, run outside a checkout's
    root): where the shipped demo config is. Not used in its place: a ``demos/`` folder of the
    user's own may have meant another file."""
    parts = p.parts
    if p.is_absolute() or len(parts) != 2 or parts[0] != "demos":
        return ""
    try:
        shipped = demo_path(parts[1])
    except (ModuleNotFoundError, OSError, ValueError):
        return ""
    return f" here; the shipped demo config is {shipped}" if shipped.is_file() else ""


MAX_CONFIG_BYTES = 64 << 20
"""The largest config file read (a config is a few kB; a layer's explicit ``index`` rows of a
million nodes are a few tens of MB)."""


def load_config(path: str | os.PathLike) -> dict:
    """Read a TOML config file; raise :class:`ConfigError` naming the file on any problem.

    A path that is not a regular file (a FIFO would block the read forever, ``/dev/zero`` would
    be read until memory runs out) and a file over :data:`MAX_CONFIG_BYTES` are refused before
    they are read.

    Args:
        path: the ``.toml`` file.

    Returns:
        The config as a dict (:func:`parse_config`), with ``"_path"`` set to ``str(path)`` so
        that :func:`build_network` and the trainer name the file in their errors.

    Raises:
        ConfigError: the file is missing (with the shipped demo's path for a missing
            ``demos/<name>``), a directory, not a regular file, over :data:`MAX_CONFIG_BYTES`,
            unreadable, an HDF5 model or spike file, not UTF-8, invalid or too deeply nested
            TOML, or has an unknown top-level key; one line starting with the path.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.toml"
        >>> _ = p.write_text("inputs = 4\\n")
        >>> load_config(p) == {"inputs": 4, "_path": str(p)}
        True
        >>> load_config(p.parent / "none.toml")
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: .../none.toml: no such config file
    """
    p = Path(path)
    try:
        st = os.stat(p)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{p}: not a regular file (a device, FIFO or socket); give the .toml "
                              f"config file")
        if st.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{p}: {st.st_size} bytes, more than the {MAX_CONFIG_BYTES >> 20} MiB "
                              f"a config may have; a config is a short TOML text file")
        with open(p, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)  # (a file grown since the stat: still bounded)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{p}: more than the {MAX_CONFIG_BYTES >> 20} MiB a config may "
                              f"have; a config is a short TOML text file")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file{_shipped_hint(p)}") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory; give the .toml config file") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config ({e.strerror or e})") from None
    if data.startswith(HDF5_MAGIC):  # a model or spike file given where the config goes
        kind = kind_words(file_kind(p))
        raise ConfigError(f"{p}: this is {kind} (HDF5), not a TOML config; give the .toml "
                          f"config here (e.g. demos/run_default.toml)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: cannot read config: not UTF-8 text ({e}); a config is a TOML "
                          f"text file") from None
    try:
        cfg = parse_config(text)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None
    cfg.setdefault("_path", str(p))
    return cfg


MAX_TOML_DEPTH = limits.MAX_JSON_DEPTH
"""The deepest nesting of arrays and tables a TOML file may have (a config uses four or five)."""


def _too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and dicts more than ``limit`` deep (iterative: no recursion
    for a deep value to exhaust)."""
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        elif not isinstance(v, list):
            continue
        if depth > limit:  # the document itself is depth 0
            return True
        stack.extend((item, depth + 1) for item in v if isinstance(item, (dict, list)))
    return False


def loads_toml(text: str, error: type = ConfigError) -> dict:
    """Parse TOML ``text`` into a dict, or raise ``error`` with one line: invalid TOML, or nested
    more than :data:`MAX_TOML_DEPTH` levels of arrays and tables.

    ``tomllib`` parses nested arrays and inline tables recursively: about 340 levels
    (``a = [[[[...]]]]``, a few hundred bytes) raised RecursionError, a traceback; and a value
    nested a little less deep would still break the recursive code that walks a config later.
    Every TOML reader of spikelut's should parse through this.

    Args:
        text: the TOML text.
        error: the exception class (a :class:`~spikelut.errors.SpikelutError`); the caller adds
            the file name.

    Returns:
        The TOML document as a dict (tables as dicts, arrays as lists).

    Raises:
        error: ``text`` is not a str, is invalid TOML, or nests too deep.

    Example:
        >>> loads_toml("a = 1")
        {'a': 1}
        >>> loads_toml("a = " + "[" * 400 + "]" * 400)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: invalid TOML: nested too deep (more than 64 levels of ...
    """
    if not isinstance(text, str):  # bytes: tomllib's TypeError, a traceback
        raise error(f"invalid TOML: expected text (str), got {type(text).__name__}; decode the "
                    f"file as UTF-8 first")
    deep = (f"invalid TOML: nested too deep (more than {MAX_TOML_DEPTH} levels of arrays or "
            f"tables; a config needs a few)")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error(f"invalid TOML: {e}") from None
    except RecursionError:
        raise error(deep) from None
    if _too_deep(data, MAX_TOML_DEPTH):
        raise error(deep)
    return data


def parse_config(text: str) -> dict:
    """Parse TOML text (:func:`loads_toml`) and check the top-level keys.

    The tables are checked when the network and training settings are built
    (:func:`build_network`, :class:`spikelut.pipeline.RunSettings`).

    Args:
        text: the config's TOML text.

    Returns:
        The config as a dict (no ``"_path"``: :func:`load_config` adds it).

    Raises:
        ConfigError: invalid or too deeply nested TOML, or a top-level key that is not one of
            :data:`TOP_LEVEL` (with the likely intended key).

    Example:
        >>> parse_config("inputs = 4\\n[readout]\\nclasses = 2")
        {'inputs': 4, 'readout': {'classes': 2}}
        >>> parse_config("input = 4")
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: config: unknown key(s) ['input']; did you mean 'inputs'?
    """
    cfg = loads_toml(text)
    _only(cfg, TOP_LEVEL, "config")
    return cfg


LIST_AT_MOST = 16
"""Allowed keys an unknown-key message lists; a longer table names the page that lists them."""


def _edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment): insertions, deletions,
    substitutions and swaps of two neighbours each count 1.

    Example:
        >>> _edit_distance("rnu", "run"), _edit_distance("rnu", "rtl"), _edit_distance("k", "k")
        (1, 2, 0)
    """
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def _one_edit(key: str, keys: list[str]) -> list[str]:
    """The one allowed key that ``key`` is one typo away from (a swap, a missing, extra or wrong
    letter; case ignored), for keys of 3 letters or more: difflib's ratio is too strict for
    short names ('rnu' scores 0.67 against 'run'). Empty when none or more than one is."""
    if len(key) < 3:  # 'k' is one edit from every one-letter key: no evidence of a typo
        return []
    near = [k for k in keys if len(k) >= 3 and _edit_distance(key.lower(), k.lower()) <= 1]
    return near if len(near) == 1 else []


def unknown_keys_message(where: str, unknown: list[str], allowed: set[str] | list[str],
                         doc: str | None = None) -> str:
    """The one-line message for unknown keys of a table: a close match for each (a typo, a
    missing plural ``s``), and the allowed keys only where some key has none.

    Args:
        where: what the message starts with (``"a.toml: [train]"``).
        unknown: the unknown keys, sorted.
        allowed: the keys the table accepts.
        doc: the page listing the keys, named instead of more than :data:`LIST_AT_MOST` of them.

    Returns:
        The message (the caller raises it, e.g. as a ConfigError).

    Raises:
        Nothing.

    Example:
        >>> unknown_keys_message("[train]", ["epoch"], {"epochs", "lr", "seed"})
        "[train]: unknown key(s) ['epoch']; did you mean 'epochs'?"
        >>> unknown_keys_message("layer 0 ('mem')", ["xyz"], {"nodes", "k"})
        "layer 0 ('mem'): unknown key(s) ['xyz']; allowed: k, nodes"
        >>> unknown_keys_message("config", ["rnu"], {"run", "rtl", "seed"})
        "config: unknown key(s) ['rnu']; did you mean 'run'?"
    """
    keys = sorted(allowed)
    close = {u: difflib.get_close_matches(str(u), keys, n=1, cutoff=0.75) or _one_edit(str(u), keys)
             for u in unknown}
    msg = f"{where}: unknown key(s) {unknown}"
    found = [(u, c[0]) for u, c in close.items() if c]
    if len(unknown) == 1 and found:
        return f"{msg}; did you mean {found[0][1]!r}?"
    if found:
        msg += "; did you mean " + ", ".join(f"{c!r} for {u!r}" for u, c in found) + "?"
    if len(found) < len(unknown):
        if len(keys) <= LIST_AT_MOST or doc is None:
            msg += f"; allowed: {', '.join(keys)}"
        else:
            msg += f"; the {len(keys)} allowed keys are listed in {doc}"
    return msg


def _only(d: Any, allowed: set[str], where: str) -> None:
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a table, got {type(d).__name__}")
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ConfigError(unknown_keys_message(where, unknown, allowed))


def _int(d: dict, key: str, where: str, default: Any = None, lo: int | None = None) -> int:
    v = d.get(key, default)
    if v is None:
        raise ConfigError(f"{where}: missing required key {key!r}")
    if not isinstance(v, int) or isinstance(v, bool):
        raise ConfigError(f"{where}: {key} must be an integer, got {v!r}")
    if lo is not None and v < lo:
        raise ConfigError(f"{where}: {key} must be >= {lo}, got {v}")
    return v


def _shape(spec: Any, n: int, where: str, what: str) -> tuple[int, ...]:
    """A ``shape`` key: a list of positive integers whose product (in Python integers) is ``n``."""
    if (not isinstance(spec, list) or not spec
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in spec)):
        raise ConfigError(f"{where}: shape must be a list of positive integers, got {spec!r}")
    prod = 1
    for s in spec:
        prod *= s
    if prod != n:
        raise ConfigError(f"{where}: shape {spec} does not multiply to {what} = {n}")
    return tuple(spec)


def _inputs(cfg: dict) -> tuple[int, tuple[int, ...]]:
    inp = cfg.get("inputs")
    if inp is None:
        raise ConfigError("config: missing 'inputs' (the number of input channels)")
    if isinstance(inp, int) and not isinstance(inp, bool):
        if inp < 0:
            raise ConfigError(f"inputs must be >= 0, got {inp}")
        limits.check_count(inp, limits.MAX_INPUTS, "inputs", "config", ConfigError)
        return inp, (inp,)
    if not isinstance(inp, dict):  # 2.0, "2", true: not "[inputs]: expected a table"
        raise ConfigError(f"inputs must be an integer >= 0 (the number of input channels) or an "
                          f"[inputs] table, got {inp!r}"[:300])
    _only(inp, INPUT_KEYS, "[inputs]")
    n = _int(inp, "channels", "[inputs]", lo=0)
    limits.check_count(n, limits.MAX_INPUTS, "channels", "[inputs]", ConfigError)
    return n, _shape(inp.get("shape", [n]), n, "[inputs]", "channels")


def _table(spec: Any, n: int, k: int, rng: np.random.Generator, p: float, where: str) -> np.ndarray:
    size = 1 << k
    if spec is None or spec == "random":
        return (rng.random((n, size)) < p).astype(np.uint8)
    if isinstance(spec, str):
        try:
            spec = int(spec, 0)
        except ValueError:
            raise ConfigError(f"{where}: table must be 'random', a list of {size} bits, or an INIT "
                              f"integer such as \"0x6\"; got {spec!r}") from None
    if isinstance(spec, int) and not isinstance(spec, bool):
        if not 0 <= spec < (1 << size):
            raise ConfigError(f"{where}: table INIT {spec:#x} does not fit {size} bits")
        row = [(spec >> a) & 1 for a in range(size)]
    elif isinstance(spec, list):
        row = spec
        if len(row) != size or any(b not in (0, 1) or isinstance(b, bool) for b in row):
            raise ConfigError(f"{where}: table must list {size} entries of 0/1 (k = {k}), got {row}")
    else:
        raise ConfigError(f"{where}: table must be 'random', a list of bits or an INIT integer")
    return np.tile(np.asarray(row, np.uint8), (n, 1))


def _delays(spec: Any, count: int, where: str) -> np.ndarray:
    ds = spec if isinstance(spec, list) else [spec]
    if not ds or any(not isinstance(d, int) or isinstance(d, bool) or d < 0 for d in ds):
        raise ConfigError(f"{where}: delay must be an integer >= 0 or a list of them, got {spec!r}")
    for d in ds:
        limits.check_count(d, limits.MAX_DELAY, "delay", where, ConfigError)
    return np.asarray([ds[p % len(ds)] for p in range(count)], np.int32)


def _tap_group(g: dict, li: int, gi: int, n: int, layers_cfg: list, names: list[str],
               n_in: int, in_shape: tuple[int, ...], rng: np.random.Generator) -> tuple:
    where = f"layer {li} ({names[li]!r}), taps[{gi}]"
    _only(g, TAP_KEYS, where)
    frm = g.get("from")
    if frm is None:
        raise ConfigError(f"{where}: missing 'from' (\"input\", \"self\", \"own\" or a layer name)")
    own = frm == "own"
    if frm == "input":
        s, n_src, shape = INPUT, n_in, in_shape
    elif frm in ("self", "own"):
        s, n_src = li, n
        shape = tuple(layers_cfg[li].get("shape", [n]))  # checked by build_network
    elif frm in names or (isinstance(frm, int) and not isinstance(frm, bool) and 0 <= frm < len(names)):
        s = names.index(frm) if isinstance(frm, str) else frm
        n_src = layers_cfg[s]["nodes"]
        shape = tuple(layers_cfg[s].get("shape", [n_src]))
    else:
        raise ConfigError(f"{where}: from = {frm!r} is not \"input\", \"self\", \"own\" or a layer "
                          f"name ({names})")
    count = _int(g, "count", where, default=1, lo=1)  # the total was checked against k already
    default_delay = 1 if (own or (s != INPUT and s >= li)) else 0
    dly = np.tile(_delays(g.get("delay", default_delay), count, where), (n, 1))
    if "delay_range" in g:  # the delays rewiring may choose in (docs/rewiring.md)
        _delay_range(g["delay_range"], dly[0], s, li, where)
    wiring = g.get("wiring", "random")
    # same_channel: each drawn channel is read at every delay of the list (neighbouring delays of
    # one signal: a node sees its change, e.g. a pulse's edge), so fewer channels are drawn
    # (true: one channel per len(delay) taps; an integer m >= 2: every m consecutive taps)
    same = g.get("same_channel", False)
    delays = g.get("delay")
    if same is True:
        per = len(delays) if isinstance(delays, list) else 1
    elif same is False:
        per = 1
    elif isinstance(same, int) and 2 <= same <= max(2, count):
        per = same  # bounded by the group's taps: np.repeat below makes [n, per] (10**12: OOM)
    else:
        raise ConfigError(f"{where}: same_channel must be true, false or an integer 2 .. "
                          f"{max(2, count)} (taps per channel, at most the group's count = "
                          f"{count}), got {same!r}")
    if same is not False and (per < 2 or own or "index" in g or not isinstance(delays, list)):
        raise ConfigError(f"{where}: same_channel needs a list of delays (at least two per "
                          f"channel) and drawn wiring (not from = \"own\" or index), e.g. "
                          f"delay = [1, 2], same_channel = true")
    drawn = -(-count // per)  # channels to draw; tap p reads channel p // per at delay[p % per]
    if own:
        if any(key in g for key in ("index", "wiring", "window")):
            raise ConfigError(f"{where}: from = \"own\" taps the node's own output; index, wiring "
                              f"and window do not apply")
        idx = np.tile(np.arange(n, dtype=np.int32)[:, None], (1, count))
    elif "index" in g:
        try:
            idx = np.asarray(g["index"])
        except (ValueError, TypeError, OverflowError):
            idx = np.asarray([], object)  # ragged rows: refused just below
        if idx.ndim == 1:
            idx = np.tile(idx[None, :], (n, 1))
        if idx.shape != (n, count) or not np.issubdtype(idx.dtype, np.integer):
            raise ConfigError(f"{where}: index must be {count} integers (or {n} rows of {count}), "
                              f"got {idx.dtype.name if idx.dtype.kind != 'O' else 'ragged rows'} "
                              f"of shape {list(idx.shape)}")
        if idx.size and (idx.min() < 0 or idx.max() >= max(n_src, 1)):
            raise ConfigError(f"{where}: index {int(idx.max() if idx.max() >= n_src else idx.min())}"
                              f" is out of range; the source has {n_src} channels")
    elif wiring not in STRATEGIES:
        raise ConfigError(f"{where}: unknown wiring {wiring!r}; choose one of {', '.join(STRATEGIES)}")
    elif n_src < 1:
        raise ConfigError(f"{where}: the source has no channels to wire to")
    elif wiring == "serial":
        idx = serial(n, drawn, n_src)
    elif wiring == "local":
        window = _int(g, "window", where, default=5, lo=1)
        limits.check_array_bytes((n, min(window * window, n_src)), 8,
                                 f"{where}: local wiring of {n} nodes, window {window}", ConfigError)
        idx = local(rng, n, drawn, shape, window)
    else:
        exclude = None
        if frm == "self" and not g.get("allow_own", False):
            exclude = np.arange(n)
            if n_src < 2:  # random_taps would find no channel: say what to change here
                raise ConfigError(f"{where}: from = \"self\" draws other nodes of the layer, but "
                                  f"it has only {n_src} node; use from = \"own\" (the node's own "
                                  f"output), allow_own = true, or more nodes")
        if drawn < n_src:
            # random_taps sorts one random key per (node, source channel): bound that first
            limits.check_array_bytes((n, n_src), 8, f"{where}: random wiring of {n} nodes over "
                                     f"{n_src} channels (use wiring = \"local\" or \"serial\")",
                                     ConfigError)
        idx = random_taps(rng, n, drawn, n_src, exclude)
    if per > 1:
        idx = np.repeat(idx, per, axis=1)[:, :count]
    return np.full((n, count), s, np.int32), idx.astype(np.int32), dly


def _delay_range(spec: Any, delays: np.ndarray, s: int, li: int, where: str) -> None:
    """Check a tap group's ``delay_range = [lo, hi]`` against its source and its delays."""
    if (not isinstance(spec, list) or len(spec) != 2
            or any(not isinstance(d, int) or isinstance(d, bool) for d in spec)
            or not 0 <= spec[0] <= spec[1] <= limits.MAX_DELAY):
        raise ConfigError(f"{where}: delay_range must be [lo, hi] with 0 <= lo <= hi <= "
                          f"{limits.MAX_DELAY}, got {spec!r}"[:300])
    if s != INPUT and s >= li and spec[1] < 1:
        raise ConfigError(f"{where}: delay_range {spec} has no delay >= 1, which taps to this or a "
                          f"later layer need")
    if delays.min() < spec[0] or delays.max() > spec[1]:
        raise ConfigError(f"{where}: the group's delays {sorted(set(delays.tolist()))} must lie in "
                          f"its delay_range {spec}")


def build_network(cfg: dict, seed: int | None = None) -> Network:
    """Build a network from a parsed config; ``seed`` overrides the config's ``seed``.

    Tables are drawn at random (each entry 1 with probability ``table_p``, default 0.5) unless the
    layer gives ``table``. The same config and seed always give the same network.

    Args:
        cfg: a config dict (:func:`load_config`, :func:`parse_config`, or built in code).
        seed: the random seed (an int >= 0) of the tables and wiring; ``None``: the config's
            ``seed`` (default 0).

    Returns:
        A validated :class:`~spikelut.network.Network`.

    Raises:
        ConfigError: ``cfg`` is not a dict; a bad key or value, one line naming the config file
            (when it was read from one), the layer and the key.
        NetworkError: the network breaks a rule of DESIGN.md section 2.

    Example:
        >>> cfg = parse_config('''inputs = 4
        ... [[layers]]
        ... nodes = 6
        ... k = 3
        ... taps = [{ from = "input", count = 3 }]
        ... [readout]
        ... classes = 2''')
        >>> net = build_network(cfg, seed=1)
        >>> net.sizes, net.layers[0].k, net.readout.class_of.tolist()
        ([6], 3, [0, 0, 0, 1, 1, 1])
    """
    if not isinstance(cfg, dict):  # a str (a path given for the parsed config): AttributeError
        raise ConfigError(f"config must be a dict (load_config(path) or parse_config(text)), got "
                          f"{type(cfg).__name__}")
    try:
        return _build_network(cfg, seed)
    except (ConfigError, NetworkError) as e:
        # name the file as the [train] errors do; a dict config built in code has no _path
        path = cfg.get("_path") if isinstance(cfg, dict) else None
        if path and not str(e).startswith(f"{path}:"):
            raise type(e)(f"{path}: {e}") from None
        raise


def _build_network(cfg: dict, seed: int | None) -> Network:
    seed = cfg.get("seed", 0) if seed is None else seed
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    n_in, in_shape = _inputs(cfg)
    layers_cfg = cfg.get("layers")
    if not isinstance(layers_cfg, list) or not layers_cfg:
        raise ConfigError("config: needs at least one [[layers]] table")
    limits.check_count(len(layers_cfg), limits.MAX_LAYERS, "number of layers", "config", ConfigError)
    names = []
    total = 0
    for li, lc in enumerate(layers_cfg):
        name = lc.get("name", f"L{li}") if isinstance(lc, dict) else f"L{li}"
        if "\x00" in str(name):  # HDF5 cannot store it: save_model's ValueError traceback
            raise ConfigError(f"layer {li}: name {str(name)!r} holds a NUL character; give a "
                              f"name without it"[:300])
        if str(name) in TAP_SOURCES:
            # from = "input" / "self" / "own" name those sources before any layer: a layer of that
            # name could be tapped by index only, and by name silently meant something else
            raise ConfigError(f"layer {li}: name {str(name)!r} is reserved (\"input\", \"self\" "
                              f"and \"own\" are tap sources in from = ...); give the layer "
                              f"another name")
        names.append(str(name))
        where = f"layer {li} ({names[li]!r})"
        _only(lc, LAYER_KEYS, where)
        nodes = _int(lc, "nodes", where, lo=1)
        limits.check_count(nodes, limits.MAX_NODES_PER_LAYER, "nodes", where, ConfigError)
        total += nodes
        limits.check_count(total, limits.MAX_NODES, "total number of nodes", "config", ConfigError)
        if "shape" in lc:
            _shape(lc["shape"], nodes, where, "nodes")
    layers = []
    entries = 0
    for li, lc in enumerate(layers_cfg):
        where = f"layer {li} ({names[li]!r})"
        n = lc["nodes"]
        k = _int(lc, "k", where, default=6)
        if k_range_problem(k):
            raise ConfigError(f"{where}: {k_range_problem(k)}")
        entries += n << k  # checked before any table is drawn (2**12 entries per node at k = 12)
        limits.check_count(entries, limits.MAX_TABLE_ENTRIES, "total number of table entries",
                           where, ConfigError)
        groups = lc.get("taps")
        if not isinstance(groups, list) or not groups:
            raise ConfigError(f"{where}: needs a list of tap groups ([[layers.taps]]) totalling k = {k}")
        # the counts must add up to k (<= 12): checked before any tap is drawn
        total = 0
        for gi, g in enumerate(groups):
            _only(g, TAP_KEYS, f"{where}, taps[{gi}]")
            total += _int(g, "count", f"{where}, taps[{gi}]", default=1, lo=1)
        if total != k:
            raise ConfigError(f"{where}: tap groups give {total} taps but k = {k}; make the counts "
                              f"add up to k")
        parts = [_tap_group(g, li, gi, n, layers_cfg, names, n_in, in_shape, rng)
                 for gi, g in enumerate(groups)]
        src, idx, dly = (np.concatenate([p[t] for p in parts], axis=1) for t in range(3))
        p_one = lc.get("table_p", 0.5)
        if not isinstance(p_one, (int, float)) or not 0 <= p_one <= 1:
            raise ConfigError(f"{where}: table_p must be a probability in [0, 1], got {p_one!r}")
        table = _table(lc.get("table"), n, k, rng, float(p_one), where)
        refr = _int(lc, "refractory", where, default=0, lo=0)
        limits.check_count(refr, limits.MAX_REFRACTORY, "refractory", where, ConfigError)
        layers.append(Layer(table, src, idx, dly, refr, names[li]))
    readout = _readout(cfg.get("readout", {}), layers_cfg, names)
    meta = {"config": cfg.get("name", ""), "seed": seed}
    if any("delay_range" in g for lc in layers_cfg for g in lc["taps"]):
        # per layer, per tap column: [lo, hi] or None (spikelut.train.rewire.tap_slots reads it)
        meta["delay_range"] = [[g.get("delay_range") for g in lc["taps"]
                                for _ in range(g.get("count", 1))] for lc in layers_cfg]
    return Network(n_in, layers, readout, meta)


def _readout(rc: dict, layers_cfg: list, names: list[str]) -> Readout:
    _only(rc, READOUT_KEYS, "[readout]")
    layer = rc.get("layer", len(names) - 1)
    if isinstance(layer, str):
        if layer not in names:
            raise ConfigError(f"[readout]: layer {layer!r} does not exist; layers are {names}")
        layer = names.index(layer)
    elif not isinstance(layer, int) or isinstance(layer, bool) or not 0 <= layer < len(names):
        raise ConfigError(f"[readout]: layer must be a layer name or 0..{len(names) - 1}, got {layer!r}")
    n = layers_cfg[layer]["nodes"]
    classes = _int(rc, "classes", "[readout]", default=1, lo=1)
    limits.check_count(classes, limits.MAX_CLASSES, "classes", "[readout]", ConfigError)
    if "class_of" in rc:
        class_of = rc["class_of"]
        if (not isinstance(class_of, list)
                or not all(isinstance(c, int) and not isinstance(c, bool) for c in class_of)):
            raise ConfigError(f"[readout]: class_of must be a list of integers (-1 = not counted), "
                              f"got {class_of!r}"[:300])
        if any(not -1 <= c < classes for c in class_of):
            bad = next(c for c in class_of if not -1 <= c < classes)
            raise ConfigError(f"[readout]: class_of holds {bad}, expected -1 or 0..{classes - 1}")
        class_of = np.asarray(class_of, np.int32)
    else:
        per = rc.get("nodes_per_class")
        if per is not None:
            per = _int(rc, "nodes_per_class", "[readout]", lo=1)
        try:
            class_of = readout_classes(n, classes, per)
        except NetworkError as e:
            raise ConfigError(f"[readout]: {e}") from None
    start = _int(rc, "start", "[readout]", default=0, lo=0)
    limits.check_count(start, limits.MAX_CYCLES, "start", "[readout]", ConfigError)
    return Readout(layer, class_of, classes, start)
