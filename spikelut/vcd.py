"""Waveforms: export one sample of a result file as a VCD file (GTKWave, Surfer) and read it back.

Layout of the written file:

* ``$timescale 1ns``; one cycle is one clock period ``P`` (default 10 ns): cycle ``t`` spans
  ``[t P, (t + 1) P)``. ``clk`` is 1 in the first half of each cycle and rises at ``(t + 1) P``,
  the edge that ends cycle ``t`` (the RTL contract, ``docs/guide/rtl.md``), so the trace lines up with an RTL
  simulation in which inputs and spikes change right after each rising edge.
* scope ``spikelut`` holds ``clk`` and one scope per signal group: ``inputs`` (wires ``in_0`` ..)
  and one per layer, ``L<i>`` or ``L<i>_<name>`` (wires ``n0`` .. ``n<n-1>``, one per node).
* the last timestamp is ``T P``, so a reader knows the trace has ``T`` cycles.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> from spikelut.engine.result import SimResult
    >>> from spikelut.vcd import write_vcd, vcd_spike_trains
    >>> x = np.array([[[1]], [[0]], [[1]]], np.uint8)                  # T=3, B=1, one input
    >>> res = SimResult([x.copy()], np.zeros((1, 1), np.int32), np.zeros(1, np.int32))
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.vcd"
    >>> _ = write_vcd(res, 0, p, inputs=x)
    >>> vcd_spike_trains(p)["L0"][:, 0].tolist()
    [1, 0, 1]
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .engine.result import SimResult, check_drawable
from .errors import ConfigError, FileFormatError, ShapeError
from . import limits
from .escape import terminal, vcd_text
from .fileutil import atomic_path
from .io import SpikeData, check_sample, load_model, load_result_sample
from .network import Network

TOP = "spikelut"


def _ident(i: int) -> str:
    """Short VCD identifier: base 94 over the printable characters ``!`` .. ``~``."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 94)
        out = chr(33 + r) + out
    return out


def scope_name(i: int, name: str) -> str:
    """VCD scope of layer ``i``: ``L<i>`` or ``L<i>_<name>`` with non-identifier characters as ``_``.

    Args:
        i: the layer's index.
        name: the layer's name (untrusted: it comes from a model file).

    Returns:
        A name of ASCII letters, digits and ``_``; ``L<i>`` when ``name`` is empty or the default.
        Never raises.

    Example:
        >>> scope_name(0, "L0"), scope_name(2, "hidden layer")
        ('L0', 'L2_hidden_layer')
    """
    if name == f"L{i}" or not name:
        return f"L{i}"
    return f"L{i}_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def write_vcd(result: Any, sample: int, path: str | os.PathLike, *,
              model: Network | str | os.PathLike | None = None, inputs: Any = None,
              period: int = 10) -> Path:
    """Write one sample of a simulation result as a VCD file (written atomically).

    Args:
        result: a result file path (from ``spikelut simulate``; only ``sample`` is read from
            it, :func:`spikelut.io.results.load_result_sample`), a ``(SpikeData, SimResult)`` pair, or a
            :class:`~spikelut.engine.result.SimResult` (then the input scope comes from
            ``inputs``, or is left out).
        sample: index of the sample in the batch.
        path: the VCD file to write.
        model: the network (or its model file); its layer names name the layer scopes
            (``L<i>_<name>``). Without it the scopes are ``L<i>``.
        inputs: input spikes ``uint8 [T, B, n_in]`` when ``result`` is a bare ``SimResult``.
        period: clock period in ns, even and >= 2 (one cycle = one period).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: an odd or too small ``period``, a ``sample`` outside the batch, a ``result``
            of another type, or ``path`` is a directory.
        ShapeError: ``inputs`` is not ``[T, B, n_in]`` with the result's ``T`` and ``B``.
        FileFormatError: a result or model file that cannot be read.

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> from spikelut.engine.result import SimResult
        >>> s = np.array([[[1, 0]], [[0, 1]]], np.uint8)                  # T=2, B=1, 2 nodes
        >>> res = SimResult([s], np.zeros((1, 1), np.int32), np.zeros(1, np.int32))
        >>> p = write_vcd(res, 0, pathlib.Path(tempfile.mkdtemp()) / "s.vcd", period=4)
        >>> [line for line in p.read_text().splitlines() if line.startswith("#")]
        ['#0', '#2', '#4', '#6', '#8']
    """
    from . import __version__

    try:  # NaN or text were int()'s ValueError traceback
        whole = not isinstance(period, bool) and int(period) == period
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole or period < 2 or period % 2:
        raise ConfigError(f"period must be an even number of ns >= 2, got {period}")
    period = int(period)
    net = model if model is None or isinstance(model, Network) else load_model(model)
    source = ""
    col = None  # the column of ``sample`` in the arrays (0 when only that sample was read)
    if isinstance(result, (str, os.PathLike)):
        # only that sample is read (checked against the model's layer sizes and inputs, and the
        # sample against the result's range): a result of 10,000 samples was read whole
        data, res = load_result_sample(result, sample, net)
        x, source, col = data.spikes, str(result), 0
    elif isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], SpikeData):
        x, res = result[0].spikes, result[1]
    elif isinstance(result, SimResult):
        x, res = inputs, result
    else:
        raise ConfigError("expected a result file path, a (SpikeData, SimResult) pair or a SimResult")
    res = res.to_numpy()
    T, B = check_drawable(res, source or "the result")  # no layer, cycle or sample: one line
    if col is None:
        sample = col = check_sample(sample, B)
    sample = int(sample)
    names = ([layer.name for layer in net.layers]
             if net is not None and len(net.layers) == len(res.layer_spikes)
             else [f"L{i}" for i in range(len(res.layer_spikes))])
    groups: list[tuple[str, str, np.ndarray]] = []  # (scope, wire prefix, spikes [T, n])
    if x is not None:
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[:2] != (T, B):
            raise ShapeError(f"inputs have shape {x.shape}, expected [{T}, {B}, n_in]")
        groups.append(("inputs", "in_", x[:, col]))
    for i, s in enumerate(res.layer_spikes):
        groups.append((scope_name(i, names[i]), "n", np.asarray(s)[:, col]))

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; give a file name for the VCD")
    header = [f"$version spikelut {__version__} $end",
             f"$comment sample {sample}{' of ' + vcd_text(source) if source else ''}; {T} cycles; one cycle = "
             f"one clock period of {period} ns; cycle t spans [{period} t, {period} (t+1)) $end",
             "$timescale 1ns $end", f"$scope module {TOP} $end", "$var wire 1 ! clk $end"]
    ids: list[str] = []
    code = 1
    for scope, prefix, s in groups:
        header.append(f"$scope module {scope} $end")
        for j in range(s.shape[1]):
            ids.append(_ident(code))
            header.append(f"$var wire 1 {ids[-1]} {prefix}{j} $end")
            code += 1
        header.append("$upscope $end")
    header += ["$upscope $end", "$enddefinitions $end"]
    trace = np.concatenate([s for _, _, s in groups], axis=1).astype(np.uint8) if groups else \
        np.zeros((T, 0), np.uint8)
    # written cycle by cycle: the text of a long trace is many times the size of its bits (a list
    # of every line of a 16 M-cycle trace held gigabytes of Python strings)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(header) + "\n")
        with open(tmp, "a") as out:
            _write_trace(out, trace, ids, period)
    return path


def _write_trace(out: Any, trace: np.ndarray, ids: list[str], period: int) -> None:
    """The value changes of ``trace [T, wires]`` (VCD identifiers ``ids``), one cycle at a time."""
    T = trace.shape[0]
    idarr = np.array(ids, dtype=object)
    half = period // 2
    prev = None
    for t in range(T):
        lines = [f"#{t * period}"]
        if prev is None:
            lines += ["$dumpvars", "1!"]
            lines += [f"{v}{i}" for v, i in zip(trace[0].tolist(), ids)]
            lines.append("$end")
        else:
            lines.append("1!")
            changed = np.flatnonzero(trace[t] != prev)
            lines += [f"{trace[t, c]}{idarr[c]}" for c in changed.tolist()]
        lines += [f"#{t * period + half}", "0!"]
        out.write("\n".join(lines) + "\n")
        prev = trace[t]
    out.write(f"#{T * period}\n1!\n")


# ---------------------------------------------------------------------------- reader
@dataclass
class VcdData:
    """A parsed VCD file (from :func:`read_vcd`).

    Attributes:
        timescale: the ``$timescale`` text, e.g. ``"1ns"``.
        signals: dotted signal name (``spikelut.L0.n3``) -> VCD identifier.
        widths: identifier -> width in bits.
        changes: identifier -> ``(time, value)`` list in file order; ``value`` is an int, ``-1``
            for x/z.
        end_time: the last timestamp in the file (in ``timescale`` units).

    Example:
        >>> v = VcdData("1ns", {"top.clk": "!"}, {"!": 1}, {"!": [(0, 1), (5, 0)]}, 10)
        >>> v.changes[v.signals["top.clk"]][-1]
        (5, 0)
    """

    timescale: str = ""
    signals: dict[str, str] = field(default_factory=dict)
    widths: dict[str, int] = field(default_factory=dict)
    changes: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    end_time: int = 0


def read_vcd(path: str | os.PathLike) -> VcdData:
    """Parse a VCD file: header, scopes, scalar and vector value changes.

    Args:
        path: the VCD file (any writer; not only :func:`write_vcd`).

    Returns:
        A :class:`VcdData`: signals by dotted scope path, each identifier's ``(time, value)``
        changes (times in ``timescale`` units; ``-1`` for x/z; real values skipped).

    Raises:
        FileFormatError: the file cannot be read, is not a regular file, is over the array limit,
            or is malformed (timestamps that go back, ...; the message names the file and what
            is wrong).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.vcd"
        >>> _ = p.write_text("$timescale 1ns $end $scope module top $end $var wire 1 ! a $end "
        ...                  "$var wire 4 # v $end $upscope $end $enddefinitions $end "
        ...                  "#0 1! b1010 # #5 x! #7")
        >>> v = read_vcd(p)
        >>> v.timescale, v.signals, v.changes["!"], v.changes["#"], v.end_time
        ('1ns', {'top.a': '!', 'top.v': '#'}, [(0, 1), (5, -1)], [(0, 10)], 7)
        >>> _ = p.write_text("$enddefinitions $end #5 #3")
        >>> try:
        ...     read_vcd(p)
        ... except FileFormatError as e:
        ...     print(str(e).split(": ", 1)[1])
        timestamp #3 after #5: VCD time must not go back
    """
    path = limits.check_regular_file(path, "a VCD file")
    # read whole: a FIFO blocked forever and /dev/zero was read until memory ran out
    limits.check_array_bytes((path.stat().st_size,), 1, f"{path}: VCD file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise FileFormatError(f"{path}: cannot read the VCD file: {e}") from None
    out = VcdData()
    scopes: list[str] = []
    tokens = text.split()
    i = 0
    time = 0
    in_defs = True
    n = len(tokens)

    def bad(msg: str) -> FileFormatError:
        return FileFormatError(f"{path}: {msg}")

    def until_end(j: int) -> tuple[list[str], int]:
        k = j
        while k < n and tokens[k] != "$end":
            k += 1
        if k == n:
            raise bad(f"{tokens[j - 1]} without $end")
        return tokens[j:k], k + 1

    while i < n:
        tok = tokens[i]
        if in_defs:
            if tok == "$timescale":
                body, i = until_end(i + 1)
                out.timescale = "".join(body)
            elif tok == "$scope":
                body, i = until_end(i + 1)
                if len(body) < 2:
                    raise bad("$scope needs a type and a name")
                scopes.append(body[1])
            elif tok == "$upscope":
                _, i = until_end(i + 1)
                if not scopes:
                    raise bad("$upscope without $scope")
                scopes.pop()
            elif tok == "$var":
                body, i = until_end(i + 1)
                if len(body) < 4:
                    raise bad(f"$var needs type, width, id and name: {' '.join(body)}")
                try:
                    width = int(body[1])
                except ValueError:
                    raise bad(f"$var width {body[1]!r} is not an integer") from None
                name = ".".join(scopes + [body[3]])
                out.signals[name] = body[2]
                out.widths[body[2]] = width
                out.changes.setdefault(body[2], [])
            elif tok == "$enddefinitions":
                _, i = until_end(i + 1)
                in_defs = False
            elif tok.startswith("$"):
                _, i = until_end(i + 1)
            else:
                raise bad(f"unexpected {tok!r} in the header")
            continue
        if tok.startswith("#"):
            try:
                stamp = int(tok[1:])
            except ValueError:
                raise bad(f"bad timestamp {terminal(tok[:40])!r}") from None
            if stamp < time:
                # VCD time only moves forward; a value looked up at a time assumes sorted
                # changes, so an earlier timestamp later in the file gave silently wrong spikes
                raise bad(f"timestamp #{stamp} after #{time}: VCD time must not go back")
            time = stamp
            out.end_time = max(out.end_time, time)
            i += 1
        elif tok in ("$dumpvars", "$dumpall", "$dumpon", "$dumpoff", "$end"):
            i += 1
        elif tok[0] in "01xXzZ":
            ident = tok[1:]
            if ident not in out.changes:
                raise bad(f"value change for undeclared identifier {ident!r} at time {time}")
            out.changes[ident].append((time, int(tok[0]) if tok[0] in "01" else -1))
            i += 1
        elif tok[0] in "bB":
            if i + 1 >= n or tokens[i + 1] not in out.changes:
                raise bad(f"vector value {tok!r} without a declared identifier at time {time}")
            bits = tok[1:]
            if not bits:  # int('', 2) was a ValueError traceback
                raise bad(f"vector value {tok!r} without bits at time {time}")
            out.changes[tokens[i + 1]].append((time, int(bits, 2) if set(bits) <= {"0", "1"} else -1))
            i += 2
        elif tok[0] in "rR":
            i += 2  # real values: not used by spikelut
        else:
            raise bad(f"unexpected {tok!r} at time {time}")
    if in_defs:
        raise bad("no $enddefinitions")
    return out


def _value_at(changes: list[tuple[int, int]], times: np.ndarray) -> np.ndarray:
    """Value of a signal at each of ``times`` (after the changes at that very time); 0 before any."""
    if not changes:
        return np.zeros(len(times), np.int64)
    ct = np.array([c[0] for c in changes], np.int64)
    cv = np.array([c[1] for c in changes], np.int64)
    pos = np.searchsorted(ct, times, side="right") - 1
    return np.where(pos >= 0, cv[np.maximum(pos, 0)], 0)


def vcd_spike_trains(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a VCD written by :func:`write_vcd` back into spike trains.

    The clock period ``P`` is the time of ``clk``'s first rising edge; cycle ``t`` is sampled at
    ``t P``; ``T = end time / P``.

    Args:
        path: the VCD file.

    Returns:
        Scope name (``inputs``, ``L0``, ``L1_hidden``, ...) -> spikes ``uint8 [T, n]`` of that
        scope's wires ``in_<j>`` / ``n<j>`` in order.

    Raises:
        FileFormatError: no ``spikelut.clk``, a clock that never rises, x/z values, node numbers
            with gaps, or a malformed file.

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> from spikelut.engine.result import SimResult
        >>> s = np.array([[[1, 0]], [[1, 1]], [[0, 1]]], np.uint8)
        >>> res = SimResult([s], np.zeros((1, 1), np.int32), np.zeros(1, np.int32))
        >>> p = write_vcd(res, 0, pathlib.Path(tempfile.mkdtemp()) / "s.vcd")
        >>> vcd_spike_trains(p)["L0"].tolist()
        [[1, 0], [1, 1], [0, 1]]
    """
    vcd = read_vcd(path)
    clk = vcd.signals.get(f"{TOP}.clk")
    if clk is None:
        raise FileFormatError(f"{path}: no {TOP}.clk signal; not a spikelut VCD")
    ch = vcd.changes[clk]
    rises = [t for (t, v), (_, pv) in zip(ch[1:], ch[:-1]) if v == 1 and pv == 0]
    if not rises:
        raise FileFormatError(f"{path}: clk never rises; cannot tell the clock period")
    P = rises[0]
    if P <= 0:  # a rise at time 0 was a ZeroDivisionError
        raise FileFormatError(f"{path}: clk rises at time {P}; cannot tell the clock period "
                              f"(the first rising edge ends cycle 0)")
    T = vcd.end_time // P
    wires = []
    for name, ident in vcd.signals.items():
        parts = name.split(".")
        m = re.fullmatch(r"(?:in_|n)(\d+)", parts[-1])
        if len(parts) == 3 and parts[0] == TOP and m is not None:
            wires.append((name, ident, parts[1], int(m.group(1))))
    # the cycles come from the last timestamp: '#999999999999999' in a 200-byte file asked for
    # 728 TiB; bounded like a spike file's cycles, and every wire's values like one array
    limits.check_count(T, limits.MAX_CYCLES, "number of cycles",
                       f"{path}: end time {vcd.end_time} / clock period {P}")
    limits.check_array_bytes((T, max(len(wires), 1)), 8, f"{path}: {len(wires)} wires over {T} "
                                                         f"cycles")
    times = np.arange(T, dtype=np.int64) * P
    groups: dict[str, dict[int, np.ndarray]] = {}
    for name, ident, scope, j in wires:
        # a value over 1 (a vector) counts as 2: int64 cannot hold 100 bits, and uint8 below
        # wrapped 256 to a silent 0
        vals = _value_at([(t, min(v, 2)) for t, v in vcd.changes[ident]], times)
        if np.any(vals < 0):
            raise FileFormatError(f"{path}: {terminal(name)} is x or z inside the trace")
        if np.any(vals > 1):
            raise FileFormatError(f"{path}: {terminal(name)} holds a value other than 0 or 1 "
                                  f"inside the trace; spike wires are 1 bit")
        groups.setdefault(scope, {})[j] = vals
    out: dict[str, np.ndarray] = {}
    for scope, cols in groups.items():
        if sorted(cols) != list(range(len(cols))):
            raise FileFormatError(f"{path}: scope {terminal(scope)}: node numbers are not "
                                  f"0 .. {len(cols) - 1}")
        out[scope] = np.stack([cols[j] for j in range(len(cols))], axis=1).astype(np.uint8)
    return out


__all__ = ["write_vcd", "read_vcd", "vcd_spike_trains", "VcdData", "scope_name"]
