"""Resource reports: the core synthesized by yosys, as FPGA LUTs and as 2-input gates.

**LUT view** (:func:`synthesize`, ``spikelut rtl --synth``): yosys ``synth_xilinx``. Counted from
yosys' JSON netlist of the flattened core (no I/O buffers, no SRLs, so every registered bit stays
a flip-flop): LUTs by size (``LUT1`` .. ``LUT6``), the slice muxes ``MUXF7``/``MUXF8``,
flip-flops (``FD*`` cells) and the combinational depth in LUT levels (the longest chain of LUTs
between ports and flip-flops; ``MUXF7``/``MUXF8`` add no level). Shown next to what the generator
expects: one LUT per node up to k = 6, the composition of :mod:`spikelut.rtl.compose` for
k = 7..12 (LUT6 + MUXF7/MUXF8), plus at most ``ceil(R/5)`` LUTs for a refractory gate that could
not be folded; flip-flops = registered bits (:meth:`spikelut.network.Network.flip_flops`).

**Gate view** (:func:`synthesize_gates`, ``spikelut rtl --gates``), for ASIC-like targets and
2-input LUT networks: yosys ``synth`` then ABC mapped to a small gate list
(:data:`DEFAULT_GATES`: ``abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX``; ABC adds ``NOT``
where it needs one). Reported: gates by type, their total, the logic depth in gates (every gate,
``NOT`` included, is one level between ports and flip-flops) and the flip-flops.

yosys may need fewer LUTs, gates and flip-flops than expected: it removes logic that cannot
reach ``out_spikes`` and nodes whose table is constant or ignores an input.

Example:
    >>> from spikelut.wiring import random_network
    >>> rep = synthesize(random_network(0, 4, [6, 2], k=3))     # doctest: +SKIP
    >>> rep.flip_flops == rep.expected_flip_flops                # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..errors import ConfigError, ToolError
from ..network import Network
from ..escape import terminal as escape_text
from .launch import run_tool
from .plan import RtlPlan, check_top_name, plan_network
from .verilog import emit_core


def find_yosys() -> str:
    """The yosys executable on ``PATH``.

    Returns:
        Its path.

    Raises:
        ToolError: yosys is not on ``PATH`` (one line saying how to install it).

    Example:
        >>> Path(find_yosys()).name      # doctest: +SKIP
        'yosys'
    """
    exe = shutil.which("yosys")
    if not exe:
        raise ToolError("yosys not found on PATH; install it for the resource report "
                        "(Debian/Ubuntu: apt-get install yosys; or the OSS CAD Suite)")
    return exe


@dataclass
class SynthReport:
    """What yosys made of the core, next to the generator's expectation (the ``expected_*``
    fields, from the :class:`~spikelut.rtl.plan.RtlPlan`).

    Attributes:
        luts: LUT cells after synthesis.
        luts_by_size: ``{"LUT2": n, ..., "LUT6": n}``, sorted by name.
        flip_flops: ``FD*`` cells.
        lut_levels: combinational depth in LUTs between ports and flip-flops (slice muxes add
            none).
        other_cells: any other cells, by type (e.g. ``{"BUFG": 1}`` for the clock).
        muxes: ``MUXF7``/``MUXF8`` cells.
        expected_muxes, expected_luts, expected_max_luts, expected_luts_by_size,
        expected_flip_flops, expected_lut_levels: the generator's counts
            (:meth:`RtlPlan.muxes`, :attr:`RtlPlan.luts`, :attr:`RtlPlan.max_luts`, ...).
        log: yosys' whole log (left out of :meth:`to_dict`).

    Example:
        >>> rep = SynthReport(6, {"LUT3": 6}, 15, 1, expected_luts=8, expected_max_luts=8,
        ...                   expected_luts_by_size={"LUT3": 8}, expected_flip_flops=18,
        ...                   expected_lut_levels=2)
        >>> print(rep.describe())
        synth (yosys synth_xilinx)        got    expected
          LUTs                               6    8
          LUTs by size                LUT3 6  (generated: LUT3 8)
          flip-flops                        15    18
          depth (LUT levels)                 1    2
    """

    luts: int
    luts_by_size: dict[str, int]
    flip_flops: int
    lut_levels: int
    other_cells: dict[str, int] = field(default_factory=dict)
    muxes: dict[str, int] = field(default_factory=dict)
    expected_muxes: dict[str, int] = field(default_factory=dict)
    expected_luts: int = 0
    expected_max_luts: int = 0
    expected_luts_by_size: dict[str, int] = field(default_factory=dict)
    expected_flip_flops: int = 0
    expected_lut_levels: int = 0
    log: str = field(default="", repr=False)  # yosys's whole output (hundreds of kB)

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d.pop("log")
        return d

    def describe(self) -> str:
        by = ", ".join(f"{k} {v}" for k, v in self.luts_by_size.items()) or "none"
        exp_by = ", ".join(f"{k} {v}" for k, v in self.expected_luts_by_size.items())
        return "\n".join([
            "synth (yosys synth_xilinx)        got    expected",
            f"  LUTs                        {self.luts:>8}    {self.expected_luts}"
            + (f" (<= {self.expected_max_luts} with unfoldable gates)"
               if self.expected_max_luts != self.expected_luts else ""),
            f"  LUTs by size                {by}  (generated: {exp_by})",
        ] + ([f"  slice muxes                 "
              f"{', '.join(f'{k} {v}' for k, v in self.muxes.items()) or 'none'}  (generated: "
              f"{', '.join(f'{k} {v}' for k, v in self.expected_muxes.items()) or 'none'})"]
             if self.muxes or self.expected_muxes else []) + [
            f"  flip-flops                  {self.flip_flops:>8}    {self.expected_flip_flops}",
            f"  depth (LUT levels)          {self.lut_levels:>8}    {self.expected_lut_levels}",
        ] + ([f"  other cells                 {self.other_cells}"] if self.other_cells else []))


def _lut_levels(module: dict) -> int:
    """Longest chain of LUT cells through combinational cells of a yosys JSON module."""
    return _levels(module, lambda t: t.startswith("LUT") or t.startswith("MUXF") or t in ("INV", "BUF"),
                   lambda t: t.startswith("LUT"))


def _levels(module: dict, comb, counts) -> int:
    """Longest chain of cells whose type ``counts`` through cells whose type is ``comb``
    (combinational) of a yosys JSON module, between ports and other cells (flip-flops)."""
    cells = module.get("cells", {})
    driver: dict[int, str] = {}
    for name, c in cells.items():
        dirs = c.get("port_directions", {})
        for port, bits in c.get("connections", {}).items():
            if dirs.get(port) == "output":
                for b in bits:
                    if isinstance(b, int):
                        driver[b] = name

    level: dict[str, int] = {}
    for start in cells:
        if start in level or not comb(cells[start]["type"]):
            continue
        stack = [(start, False)]
        while stack:  # iterative DFS: chains can be long
            name, ready = stack.pop()
            if name in level:
                continue
            c = cells[name]
            dirs = c.get("port_directions", {})
            srcs = {driver[b] for port, bits in c["connections"].items() if dirs.get(port) == "input"
                    for b in bits if isinstance(b, int) and b in driver}
            srcs = [s for s in srcs if comb(cells[s]["type"])]
            if not ready:
                stack.append((name, True))
                stack += [(s, False) for s in srcs if s not in level]
                continue
            base = max((level[s] for s in srcs), default=0)
            level[name] = base + (1 if counts(c["type"]) else 0)
    return max(level.values(), default=0)


def synthesize(net: Network, top: str = "spikelut_core", lut6: bool = False,
               work_dir: str | os.PathLike | None = None, plan: RtlPlan | None = None,
               family: str = "xc7") -> SynthReport:
    """Run yosys ``synth_xilinx`` on the core of ``net`` and return a :class:`SynthReport`.

    The core (:func:`~spikelut.rtl.verilog.emit_core`) is flattened and synthesized without I/O
    buffers and shift-register LUTs (``-flatten -noiopad -nosrl``).

    Args:
        net: the network (binary tables).
        top: core module name (:func:`~spikelut.rtl.plan.check_top_name`).
        lut6: emit the core with ``LUT<k>`` primitives (see
            :func:`~spikelut.rtl.writer.write_verilog`).
        work_dir: keep yosys' files there (``<top>.v``, ``synth.ys``, ``synth.log``,
            ``<top>_synth.json``); default a temporary directory, removed afterwards.
        plan: the RTL plan, if already built (:func:`~spikelut.rtl.plan.plan_network`).
        family: the Xilinx family of ``synth_xilinx -family`` (``xc7``, ``xcu``, ``xcup``, ...).

    Returns:
        A :class:`SynthReport`.

    Raises:
        ConfigError: a bad top name, or a family that is not a plain name (letters, digits,
            ``_``).
        NetworkError: ``k`` outside 1..12 or a circuit over the cell limit.
        ToolError: yosys is missing or fails (its first ``ERROR`` line, e.g. an unknown family).

    Example:
        >>> from spikelut.wiring import random_network
        >>> rep = synthesize(random_network(0, 4, [6, 2], k=3))     # doctest: +SKIP
        >>> rep.luts <= rep.expected_max_luts                       # doctest: +SKIP
        True
    """
    check_top_name(top)
    # the family is spliced into yosys' script: a newline or ';' would start a command of its
    # own (a line starting with '!' runs a shell command)
    if not isinstance(family, str) or not _FAMILY.fullmatch(family):
        raise ConfigError(f"Xilinx family {escape_text(str(family)[:40])!r} is not a plain name; "
                          f"give one such as xc7, xcu or xcup")
    plan = plan or plan_network(net, lut6)
    mod, log = _synth_module(net, top, lut6, plan, work_dir, "synth_xilinx",
                             f"synth_xilinx -family {family} -top {top} -flatten -noiopad -nosrl\n")
    by_size: dict[str, int] = {}
    muxes: dict[str, int] = {}
    other: dict[str, int] = {}
    ffs = 0
    for c in mod.get("cells", {}).values():
        t = c["type"]
        if t.startswith("LUT"):
            by_size[t] = by_size.get(t, 0) + 1
        elif t.startswith("MUXF"):
            muxes[t] = muxes.get(t, 0) + 1
        elif t.startswith("FD"):
            ffs += 1
        else:
            other[t] = other.get(t, 0) + 1
    return SynthReport(sum(by_size.values()), dict(sorted(by_size.items())), ffs, _lut_levels(mod),
                       other, dict(sorted(muxes.items())), plan.muxes(), plan.luts, plan.max_luts,
                       plan.luts_by_size(), plan.flip_flops, plan.lut_levels(), log)


_FAMILY = re.compile(r"[A-Za-z0-9_]+")

#: the gate list of :func:`synthesize_gates` (``abc -g``): 2-input gates and a 2:1 mux
DEFAULT_GATES = ("AND", "NAND", "OR", "NOR", "XOR", "XNOR", "ANDNOT", "ORNOT", "MUX")
#: every gate type ``abc -g`` accepts (yosys 0.23 and later)
ABC_GATES = DEFAULT_GATES + ("NMUX", "AOI3", "OAI3", "AOI4", "OAI4")
#: ABC maps onto a gate list only if it holds one of these (it aborts otherwise: a list of muxes,
#: XORs or AOI/OAI cells alone is refused before yosys runs)
ABC_BASE_GATES = ("AND", "NAND", "OR", "NOR", "ANDNOT", "ORNOT")


def gate_list(text: str | Sequence[str]) -> tuple[str, ...]:
    """A gate list for :func:`synthesize_gates` from ``"AND,XOR"`` or a sequence, checked.

    Raises:
        ConfigError: an empty list, a gate ABC does not know, or a list without one of
            :data:`ABC_BASE_GATES` (ABC cannot map onto it).

    Example:
        >>> gate_list("and, xor")
        ('AND', 'XOR')
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    gates = tuple(dict.fromkeys(str(g).strip().upper() for g in items if str(g).strip()))
    bad = [g for g in gates if g not in ABC_GATES]
    if bad or not gates:
        raise ConfigError(f"gate list {escape_text(','.join(map(str, items)))!r}: "
                          f"{'unknown gate ' + escape_text(bad[0]) if bad else 'empty'}; choose "
                          f"from {','.join(ABC_GATES)}")
    if not set(gates) & set(ABC_BASE_GATES):
        raise ConfigError(f"gate list {escape_text(','.join(gates))!r}: ABC needs one of "
                          f"{','.join(ABC_BASE_GATES)} in the list; add one (e.g. AND)")
    return gates


@dataclass
class GateReport:
    """The core as 2-input gates (ABC with a gate list): the ASIC view next to the LUT view.

    Attributes:
        gates: total gate count (``NOT`` included; flip-flops not).
        gates_by_type: ``{"AND": n, "XOR": n, "NOT": n, ...}`` (yosys' ``$_AND_`` -> ``AND``).
        depth: logic depth in gates (longest gate chain between ports and flip-flops).
        flip_flops: flip-flops after synthesis.
        library: the gate list given to ABC.
        other_cells: cells that are neither gates nor flip-flops (none expected).
        expected_flip_flops: the generator's flip-flops (:attr:`RtlPlan.flip_flops`).
        log: yosys' whole log (left out of :meth:`to_dict`).

    Example:
        >>> rep = GateReport(3, {"AND": 2, "NOT": 1}, 2, 4, expected_flip_flops=4)
        >>> print(rep.describe())
        gates (yosys synth + abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX)
          gates                              3    (AND 2, NOT 1)
          depth (gate levels)                2
          flip-flops                         4    expected 4
    """

    gates: int
    gates_by_type: dict[str, int]
    depth: int
    flip_flops: int
    library: tuple[str, ...] = DEFAULT_GATES
    other_cells: dict[str, int] = field(default_factory=dict)
    expected_flip_flops: int = 0
    log: str = ""

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d.pop("log")
        d["library"] = list(self.library)
        return d

    def describe(self) -> str:
        by = ", ".join(f"{k} {v}" for k, v in self.gates_by_type.items()) or "none"
        return "\n".join([
            f"gates (yosys synth + abc -g {','.join(self.library)})",
            f"  gates                       {self.gates:>8}    ({by})",
            f"  depth (gate levels)         {self.depth:>8}",
            f"  flip-flops                  {self.flip_flops:>8}    expected {self.expected_flip_flops}",
        ] + ([f"  other cells                 {self.other_cells}"] if self.other_cells else []))


def _synth_module(net: Network, top: str, lut6: bool, plan: RtlPlan,
                  work_dir: str | os.PathLike | None, what: str, commands: str) -> tuple[dict, str]:
    """Write the core, run yosys ``read_verilog`` + ``commands`` + ``write_json`` in ``work_dir``
    (default: a temporary directory) and return the top module of the JSON netlist and the log."""
    exe = find_yosys()
    with tempfile.TemporaryDirectory(prefix="spikelut-synth-") as tmp:
        d = Path(work_dir) if work_dir else Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        src = d / f"{top}.v"
        src.write_text(emit_core(net, top, lut6, plan))
        netlist = d / f"{top}_synth.json"
        (d / "synth.ys").write_text(f"read_verilog {src.name}\n{commands}"
                                    f"write_json {netlist.name}\nstat\n")
        proc = run_tool([exe, "-q", "-l", "synth.log", "-s", "synth.ys"], cwd=d, capture=True)
        log = (d / "synth.log").read_text(errors="replace") if (d / "synth.log").exists() else ""
        if proc.returncode != 0:
            errs = [ln for ln in (proc.stderr + log).splitlines() if "ERROR" in ln]
            raise ToolError(f"yosys {what} failed: "
                            f"{escape_text((errs or ['(no message)'])[0].strip()[:300])}")
        data = json.loads(netlist.read_text())
    mod = data["modules"].get(top)
    if mod is None:
        raise ToolError(f"yosys netlist has no module {top!r}")
    return mod, log


def synthesize_gates(net: Network, top: str = "spikelut_core",
                     gates: str | Sequence[str] = DEFAULT_GATES,
                     work_dir: str | os.PathLike | None = None,
                     plan: RtlPlan | None = None) -> GateReport:
    """Map the core of ``net`` to 2-input gates with yosys + ABC and count them (the ASIC view).

    Args:
        net: the network (any k; a k = 2 network is the natural gate circuit).
        top: core module name.
        gates: the gate list for ``abc -g`` (:data:`DEFAULT_GATES`; any of :data:`ABC_GATES`).
        work_dir: keep yosys' files there (default: a temporary directory).
        plan: the RTL plan, if already built.

    Returns:
        A :class:`GateReport`.

    Raises:
        ConfigError: a bad top name or gate list.
        ToolError: yosys is missing or fails.

    Example:
        >>> from spikelut.wiring import random_network
        >>> rep = synthesize_gates(random_network(0, 4, [6, 2], k=2))   # doctest: +SKIP
        >>> sorted(rep.gates_by_type) <= sorted(DEFAULT_GATES + ("NOT",))  # doctest: +SKIP
        True
    """
    check_top_name(top)
    library = gate_list(gates)
    plan = plan or plan_network(net)
    mod, log = _synth_module(net, top, False, plan, work_dir, "synth + abc -g",
                             f"synth -flatten -top {top}\nabc -g {','.join(library)}\nopt_clean\n")
    by_type: dict[str, int] = {}
    other: dict[str, int] = {}
    ffs = 0
    for c in mod.get("cells", {}).values():
        t = c["type"]
        if "DFF" in t:
            ffs += 1
        elif t.startswith("$_") and t.endswith("_"):
            name = t[2:-1]
            by_type[name] = by_type.get(name, 0) + 1
        else:
            other[t] = other.get(t, 0) + 1
    depth = _levels(mod, lambda t: t.startswith("$_") and "DFF" not in t,
                    lambda t: t not in ("$_BUF_",))
    return GateReport(sum(by_type.values()), dict(sorted(by_type.items())), depth, ffs, library,
                      other, plan.flip_flops, log)
