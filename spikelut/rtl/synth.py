"""Resource report: synthesize the core with yosys ``synth_xilinx`` and count what came out.

Counted from yosys' JSON netlist of the flattened core (no I/O buffers, no SRLs, so every
registered bit stays a flip-flop): LUTs by size (``LUT1`` .. ``LUT6``), flip-flops (``FD*``
cells) and the combinational depth in LUT levels (the longest chain of LUTs between ports and
flip-flops; ``MUXF7``/``MUXF8`` add no level). Shown next to what the generator expects: one LUT per
node (plus at most ``ceil(R/5)`` for a refractory gate that could not be folded), flip-flops =
registered bits (:meth:`spikelut.network.Network.flip_flops`).

yosys may need fewer LUTs and flip-flops than expected: it removes logic that cannot reach
``out_spikes`` and nodes whose table is constant or ignores an input.

Example:
    >>> from spikelut.wiring import random_network
    >>> rep = synthesize(random_network(0, 4, [6, 2], k=3))     # doctest: +SKIP
    >>> rep.flip_flops == rep.expected_flip_flops                # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ToolError
from ..network import Network
from .plan import RtlPlan, check_top_name, plan_network
from .verilog import emit_core


def find_yosys() -> str:
    exe = shutil.which("yosys")
    if not exe:
        raise ToolError("yosys not found on PATH; install it for the resource report "
                        "(Debian/Ubuntu: apt-get install yosys; or the OSS CAD Suite)")
    return exe


@dataclass
class SynthReport:
    """What yosys made of the core, next to the generator's expectation."""

    luts: int
    luts_by_size: dict[str, int]
    flip_flops: int
    lut_levels: int
    other_cells: dict[str, int] = field(default_factory=dict)
    expected_luts: int = 0
    expected_max_luts: int = 0
    expected_luts_by_size: dict[str, int] = field(default_factory=dict)
    expected_flip_flops: int = 0
    expected_lut_levels: int = 0
    log: str = ""

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
            f"  flip-flops                  {self.flip_flops:>8}    {self.expected_flip_flops}",
            f"  depth (LUT levels)          {self.lut_levels:>8}    {self.expected_lut_levels}",
        ] + ([f"  other cells                 {self.other_cells}"] if self.other_cells else []))


def _lut_levels(module: dict) -> int:
    """Longest chain of LUT cells through combinational cells of a yosys JSON module."""
    cells = module.get("cells", {})
    driver: dict[int, str] = {}
    for name, c in cells.items():
        dirs = c.get("port_directions", {})
        for port, bits in c.get("connections", {}).items():
            if dirs.get(port) == "output":
                for b in bits:
                    if isinstance(b, int):
                        driver[b] = name

    def comb(t: str) -> bool:
        return t.startswith("LUT") or t.startswith("MUXF") or t in ("INV", "BUF")

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
            level[name] = base + (1 if c["type"].startswith("LUT") else 0)
    return max(level.values(), default=0)


def synthesize(net: Network, top: str = "spikelut_core", lut6: bool = False,
               work_dir: str | os.PathLike | None = None, plan: RtlPlan | None = None,
               family: str = "xc7") -> SynthReport:
    """Run yosys ``synth_xilinx`` on the core of ``net`` and return a :class:`SynthReport`.

    Raises :class:`ToolError` when yosys is missing or fails.
    """
    check_top_name(top)
    exe = find_yosys()
    plan = plan or plan_network(net, lut6)
    with tempfile.TemporaryDirectory(prefix="spikelut-synth-") as tmp:
        d = Path(work_dir) if work_dir else Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        src = d / f"{top}.v"
        src.write_text(emit_core(net, top, lut6, plan))
        netlist = d / f"{top}_synth.json"
        script = (f"read_verilog {src.name}\n"
                  f"synth_xilinx -family {family} -top {top} -flatten -noiopad -nosrl\n"
                  f"write_json {netlist.name}\n"
                  f"stat\n")
        (d / "synth.ys").write_text(script)
        proc = subprocess.run([exe, "-q", "-l", "synth.log", "-s", "synth.ys"], cwd=d,
                              capture_output=True, text=True)
        log = (d / "synth.log").read_text(errors="replace") if (d / "synth.log").exists() else ""
        if proc.returncode != 0:
            errs = [ln for ln in (proc.stderr + log).splitlines() if "ERROR" in ln]
            raise ToolError(f"yosys synth_xilinx failed: {(errs or ['(no message)'])[0].strip()[:300]}")
        data = json.loads(netlist.read_text())
    mod = data["modules"].get(top)
    if mod is None:
        raise ToolError(f"yosys netlist has no module {top!r}")
    by_size: dict[str, int] = {}
    other: dict[str, int] = {}
    ffs = 0
    for c in mod.get("cells", {}).values():
        t = c["type"]
        if t.startswith("LUT"):
            by_size[t] = by_size.get(t, 0) + 1
        elif t.startswith("FD"):
            ffs += 1
        else:
            other[t] = other.get(t, 0) + 1
    return SynthReport(sum(by_size.values()), dict(sorted(by_size.items())), ffs, _lut_levels(mod),
                       other, plan.luts, plan.max_luts, plan.luts_by_size(), plan.flip_flops,
                       plan.lut_levels(), log)
