"""Write a complete RTL directory: core, classifier wrapper, testbench, stimuli, manifest.

Layout of ``DIR`` (``<top>`` = the core's module name)::

    <top>.v                core module (DESIGN.md section 5)
    <top>_classifier.v     classifier wrapper (start / counters / argmax / done)
    tb_<top>.v             self-checking testbench, any Verilog-2001 simulator
    stimulus.mem           $readmemb: in_spikes per cycle, sample-major
    expected_out.mem       $readmemb: out_spikes per cycle from the reference engine
    expected_pred.mem      $readmemb: the reference engine's prediction per sample
    sim/LUT<w>.v           (with lut6) simulation models of the Xilinx LUT primitives
    sim/MUXF7.v, MUXF8.v   (with lut6, nodes with k = 7..12) models of the slice muxes
    spikelut-rtl.json      manifest: marks the directory as ours, lists the files

A directory is only written when it does not exist, is empty, or holds our manifest (then the
files the old manifest lists are replaced); ``force=True`` writes over any other directory. The
new directory is written beside the old one and swapped in when complete (other files of the
old directory are carried over), so a failed or interrupted write leaves the old one intact.

Example:
    >>> import tempfile, pathlib
    >>> from spikelut.wiring import random_network
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "rtl"
    >>> files = write_verilog(random_network(0, 4, [6, 2], k=3), d, top="demo")
    >>> sorted(p.name for p in d.iterdir())[:3]
    ['demo.v', 'demo_classifier.v', 'expected_out.mem']
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import __version__
from ..engine.reference import simulate
from ..engine.result import SimResult, check_spikes
from ..errors import ConfigError
from ..fileutil import atomic_dir
from ..network import Network
from .plan import RtlPlan, check_top_name, plan_network
from .verilog import emit_core, emit_lut_model, emit_mux_model, lut_widths
from .wrapper import emit_testbench, emit_wrapper, mem_lines, pred_width

MANIFEST = "spikelut-rtl.json"
MANIFEST_FORMAT = "spikelut-rtl"
DEFAULT_STEPS = 32
DEFAULT_SAMPLES = 4


@dataclass
class RtlFiles:
    """What :func:`write_verilog` wrote, the mapping plan, and the reference run of the stimulus."""

    directory: Path
    top: str
    lut6: bool
    plan: RtlPlan
    steps: int
    samples: int
    stimulus: np.ndarray        # [T, B, n_in] uint8
    expected: SimResult         # reference engine on the stimulus (numpy)
    files: list[str]

    @property
    def sources(self) -> list[Path]:
        """Verilog sources of the design and testbench, in compile order."""
        return [self.directory / f for f in self.files if f.endswith(".v")]


def _read_manifest(d: Path) -> dict | None:
    p = d / MANIFEST
    if not p.is_file():
        return None
    try:
        m = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) and m.get("format") == MANIFEST_FORMAT else None


def prepare_directory(out_dir: str | os.PathLike, force: bool = False,
                      writes: Sequence[str] = ()) -> list[str]:
    """Check that ``out_dir`` may be written (see the module docstring); nothing is changed.

    Returns the names of the old directory's entries to carry into the new one: everything but
    the files the old manifest lists, the build directory and the names in ``writes`` (the
    top-level names about to be written).

    Raises:
        ConfigError: ``out_dir`` is a file, holds the current directory, or is a directory that
            ``spikelut rtl`` did not write (without ``force``).
    """
    d = Path(out_dir)
    if d.exists() and not d.is_dir():
        raise ConfigError(f"{d}: exists and is not a directory; give a directory for the RTL output")
    if not d.is_dir():
        return []
    cwd = Path.cwd().resolve()
    if cwd == d.resolve() or d.resolve() in cwd.parents:
        raise ConfigError(f"{d}: is the current directory or holds it; the output directory is "
                          f"replaced as a whole, so give another one")
    old = _read_manifest(d)
    drop = set(writes) | {MANIFEST}
    if old is not None:
        drop |= {"build"} | {Path(n).parts[0] for n in old.get("files", [])
                             if isinstance(n, str) and n and not os.path.isabs(n)}
    elif any(d.iterdir()) and not force:
        raise ConfigError(f"{d}: directory exists and was not written by 'spikelut rtl' (no "
                          f"{MANIFEST}); choose a new directory, empty it, or pass --force")
    return sorted(e.name for e in d.iterdir() if e.name not in drop)


def write_verilog(net: Network, out_dir: str | os.PathLike, top: str = "spikelut_core",
                  lut6: bool = False, steps: int | None = None, stimulus: Any = None,
                  force: bool = False, model: str | None = None, seed: int = 0) -> RtlFiles:
    """Write the core, wrapper, testbench and stimuli for ``net`` into ``out_dir``.

    ``stimulus`` (input spikes ``[T, B, n_in]``) becomes the testbench's stimulus, with the
    reference engine's outputs as the expected values; without it the testbench gets
    ``DEFAULT_SAMPLES`` random samples (``seed``) of ``steps`` cycles (default ``DEFAULT_STEPS``).
    The wrapper counts over ``steps`` cycles (``T`` of the stimulus when given).
    """
    check_top_name(top)
    prepare_directory(out_dir, force)  # refuse a directory that is not ours before any work
    plan = plan_network(net, lut6)
    if stimulus is not None:
        stimulus = np.asarray(check_spikes(net, np.asarray(stimulus)))
        if steps is not None and steps != stimulus.shape[0]:
            raise ConfigError(f"steps = {steps} but the stimulus has {stimulus.shape[0]} cycles; "
                              f"leave steps out or give a stimulus of {steps} cycles")
        steps = int(stimulus.shape[0])
    else:
        steps = DEFAULT_STEPS if steps is None else int(steps)
        if steps < 1:
            raise ConfigError(f"steps must be >= 1, got {steps}")
        rng = np.random.default_rng(seed)
        stimulus = (rng.random((steps, DEFAULT_SAMPLES, net.n_in)) < 0.5).astype(np.uint8)
    T, B, _ = stimulus.shape
    expected = simulate(net, stimulus).to_numpy()

    d = Path(out_dir)
    texts: dict[str, str] = {
        f"{top}.v": emit_core(net, top, lut6, plan, model),
        f"{top}_classifier.v": emit_wrapper(net, top, steps),
    }
    if lut6:
        for w in lut_widths(plan):
            texts[f"sim/LUT{w}.v"] = emit_lut_model(w)
        for prim in plan.muxes():  # nodes with k = 7..12
            texts[f"sim/{prim}.v"] = emit_mux_model(prim)
    texts[f"tb_{top}.v"] = emit_testbench(net, top, steps, B)
    stim_rows = stimulus.transpose(1, 0, 2).reshape(B * T, net.n_in)
    out_rows = expected.layer_spikes[net.readout.layer].transpose(1, 0, 2).reshape(B * T, net.n_out)
    pw = pred_width(net)
    pred_rows = ((expected.pred[:, None] >> np.arange(pw)[None, :]) & 1).astype(np.uint8)
    texts["stimulus.mem"] = mem_lines(stim_rows)
    texts["expected_out.mem"] = mem_lines(out_rows)
    texts["expected_pred.mem"] = mem_lines(pred_rows)
    files = list(texts) + ["got_out.txt", "got_pred.txt", "sim", MANIFEST]
    keep = prepare_directory(d, force, writes={Path(n).parts[0] for n in files})
    # the new directory is written beside the old one and swapped in when complete: an error or
    # an interrupt leaves the old one as it was
    with atomic_dir(d, keep=keep) as tmp:
        for name, text in texts.items():
            (tmp / name).parent.mkdir(exist_ok=True)
            (tmp / name).write_text(text)
        manifest = {
            "format": MANIFEST_FORMAT, "version": 1, "spikelut": __version__, "top": top,
            "lut6": lut6, "model": model, "steps": steps, "samples": B,
            "luts": plan.luts, "luts_by_size": plan.luts_by_size(), "max_luts": plan.max_luts,
            "flip_flops": plan.flip_flops, "lut_levels": plan.lut_levels(),
            "refractory_folding": plan.fold_counts(), "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return RtlFiles(d, top, lut6, plan, steps, B, stimulus, expected, list(texts))
