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
:func:`staged_verilog` runs a caller's block (co-simulation, synthesis: ``spikelut rtl``) on the
new directory before the swap, so that an interrupt or a failure there keeps the old one too.

Example:
    >>> import tempfile, pathlib
    >>> from spikelut.wiring import random_network
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "rtl"
    >>> files = write_verilog(random_network(0, 4, [6, 2], k=3), d, top="demo")
    >>> sorted(p.name for p in d.iterdir())[:3]
    ['demo.v', 'demo_classifier.v', 'expected_out.mem']
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from .. import __version__, limits
from ..engine.reference import simulate
from ..engine.result import SimResult, check_spikes
from ..errors import ConfigError
from ..fileutil import atomic_dir, refuse_inputs_inside
from ..network import Network
from .plan import RtlPlan, check_top_name, plan_network
from .verilog import emit_core, emit_lut_model, emit_mux_model, lut_widths
from .wrapper import emit_testbench, emit_wrapper, mem_lines, pred_width

MANIFEST = "spikelut-rtl.json"
MANIFEST_FORMAT = "spikelut-rtl"
DEFAULT_STEPS = 32
DEFAULT_SAMPLES = 4
#: the most cycles (samples x cycles per sample) a testbench runs: it addresses its stimulus and
#: expected memories with 32-bit Verilog ``integer`` arithmetic (``b * STEPS + t``), which wraps
#: past this, and neither Icarus nor Verilator can hold a memory of more words anyway
MAX_TESTBENCH_CYCLES = (1 << 31) - 1
#: bytes of ``$readmemb`` text formatted at a time: a .mem file is written in pieces of about
#: this size, not built whole in memory (several copies of a large stimulus)
MEM_CHUNK_BYTES = 4 << 20


@dataclass
class RtlFiles:
    """What :func:`write_verilog` wrote, the mapping plan, and the reference run of the stimulus.

    Attributes:
        directory: the RTL directory (the staged temporary inside :func:`staged_verilog`;
            ``DIR.unverified`` or ``None`` for a design :func:`~spikelut.rtl.compile.compile_directory`
            rejected).
        top: the core's module name.
        lut6: whether LUTs are instantiated as Xilinx ``LUT<k>`` primitives.
        plan: the :class:`~spikelut.rtl.plan.RtlPlan` the core was emitted from.
        steps: cycles per sample ``T`` the wrapper and testbench count.
        samples: samples ``B`` in the testbench.
        stimulus: uint8 input spikes ``[T, B, n_in]`` (``stimulus.mem``).
        expected: the reference engine's :class:`~spikelut.engine.result.SimResult` on it (numpy).
        files: the names written, relative to ``directory`` (``.v`` sources in compile order).
        steps_from: where ``steps`` came from: ``"stimulus"``, ``"given"``, ``"model"`` or
            ``"default"``.
        synth: the :class:`~spikelut.rtl.synth.SynthReport` of ``compile_directory(synth=True)``.
        gates: the :class:`~spikelut.rtl.synth.GateReport` of ``compile_directory(gates=...)``.

    Example:
        >>> import tempfile
        >>> from spikelut.wiring import random_network
        >>> f = write_verilog(random_network(0, 4, [6, 2], k=3), tempfile.mkdtemp(), top="demo")
        >>> f.steps, f.samples, f.stimulus.shape, [p.name for p in f.sources]
        (32, 4, (32, 4, 4), ['demo.v', 'demo_classifier.v', 'tb_demo.v'])
    """

    directory: Path             # None: a rejected design that could not be kept
    top: str
    lut6: bool
    plan: RtlPlan
    steps: int
    samples: int
    stimulus: np.ndarray        # [T, B, n_in] uint8
    expected: SimResult         # reference engine on the stimulus (numpy)
    files: list[str]
    steps_from: str = "stimulus"  # where ``steps`` came from: stimulus, given, model or default
    synth: Any = None           # SynthReport of spikelut.rtl.compile.compile_directory(synth=True)
    gates: Any = None           # GateReport of compile_directory(gates=...)

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
                      writes: Sequence[str] = (),
                      inputs: Sequence[str | os.PathLike] = ()) -> list[str]:
    """Check that ``out_dir`` may be written (see the module docstring); nothing is changed.

    Returns the names of the old directory's entries to carry into the new one: everything but
    the files the old manifest lists, the build directory and the names in ``writes`` (the
    top-level names about to be written).

    Raises:
        ConfigError: ``out_dir`` is a file, holds the current directory, or is a directory that
            ``spikelut rtl`` did not write (without ``force``); or one of ``inputs`` (the files
            the caller reads) lies in ``out_dir`` under a name the new directory replaces
            (also with ``force``: an input is never overwritten).
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
    keep = sorted(e.name for e in d.iterdir() if e.name not in drop)
    refuse_inputs_inside(d, inputs, lambda n: n not in keep, "where the new design replaces it",
                         ConfigError)
    return keep


def model_steps(net: Network) -> int | None:
    """The cycles per sample of the data ``net`` was trained on, when its model file records them
    (``meta["data"]["steps"]``, written by training), else ``None``.

    Args:
        net: the network; only its ``meta`` is read.

    Returns:
        The recorded cycles per sample, an int in ``1 .. MAX_CYCLES``; ``None`` when the model
        records none or a value that is not such an int (the record comes from a file).

    Raises:
        Nothing: a missing or malformed record is ``None``.

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, 4, [6, 2], k=3)
        >>> model_steps(net), model_steps(net.replace(meta={"data": {"steps": 20}}))
        (None, 20)
    """
    rec = net.meta.get("data") if isinstance(net.meta, dict) else None
    steps = rec.get("steps") if isinstance(rec, dict) else None
    # the meta is read from a file: only a sane positive integer counts
    if isinstance(steps, int) and not isinstance(steps, bool) and 1 <= steps <= limits.MAX_CYCLES:
        return steps
    return None


def check_testbench_cycles(steps: int, samples: int) -> None:
    """Refuse a stimulus of more cycles than the testbench can address.

    Raises:
        ConfigError: ``samples * steps`` is more than :data:`MAX_TESTBENCH_CYCLES`.

    Example:
        >>> check_testbench_cycles(1 << 16, 1 << 15)
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: the stimulus is 32,768 samples x 65,536 cycles = 2,147,483,648 cycles, more than the 2,147,483,647 a testbench can address (its memories are indexed with 32-bit Verilog integers); verify on fewer samples (e.g. spikelut encode --limit N)
    """
    if steps * samples > MAX_TESTBENCH_CYCLES:
        raise ConfigError(f"the stimulus is {samples:,} samples x {steps:,} cycles = "
                          f"{samples * steps:,} cycles, more than the {MAX_TESTBENCH_CYCLES:,} a "
                          f"testbench can address (its memories are indexed with 32-bit Verilog "
                          f"integers); verify on fewer samples (e.g. spikelut encode --limit N)")


def _sample_major_rows(spikes: np.ndarray, chunk_bytes: int) -> Iterator[np.ndarray]:
    """The rows ``[rows, n]`` of ``spikes [T, B, n]`` in the testbench's order (sample-major:
    sample 0's cycles, then sample 1's, ...), a few at a time: whole samples when one sample's
    text is under ``chunk_bytes``, else a run of one sample's cycles. Only one piece is copied at
    a time."""
    T, B, n = spikes.shape
    line = max(n, 1) + 1  # a line of $readmemb text: the bits and a newline
    if T * line <= chunk_bytes:
        per = max(1, chunk_bytes // (T * line))
        for b0 in range(0, B, per):
            block = spikes[:, b0:b0 + per]
            # the row count spelled out: numpy cannot infer -1 with n = 0 (no input channels)
            yield block.transpose(1, 0, 2).reshape(block.shape[1] * T, n)
    else:
        per = max(1, chunk_bytes // line)
        for b in range(B):
            for t0 in range(0, T, per):
                yield spikes[t0:t0 + per, b]


def _pred_rows(pred: np.ndarray, width: int, chunk_bytes: int) -> Iterator[np.ndarray]:
    """The bits ``[rows, width]`` of the predictions ``pred [B]``, bit 0 first, a few at a time."""
    per = max(1, chunk_bytes // ((width + 1) * 8))  # the int64 shifts are 8 bytes a bit
    for b0 in range(0, len(pred), per):
        p = pred[b0:b0 + per].astype(np.int64)
        yield ((p[:, None] >> np.arange(width)[None, :]) & 1).astype(np.uint8)


def _write_mem(path: Path, pieces: Iterator[np.ndarray]) -> None:
    """Write ``$readmemb`` text (:func:`~spikelut.rtl.wrapper.mem_lines`) piece by piece."""
    with open(path, "wb") as fh:
        fh.writelines(mem_lines(rows).encode("ascii") for rows in pieces)


def _choose_steps(net: Network, steps: int | None, stimulus: Any) -> tuple[int, str]:
    """The wrapper's cycles per sample and where they came from: ``"stimulus"`` (T of the
    stimulus), ``"given"`` (``steps``), ``"model"`` (:func:`model_steps`) or ``"default"``
    (:data:`DEFAULT_STEPS`)."""
    if stimulus is not None:
        if steps is not None and steps != stimulus.shape[0]:
            raise ConfigError(f"steps = {steps} but the stimulus has {stimulus.shape[0]} cycles; "
                              f"leave steps out or give a stimulus of {steps} cycles")
        return int(stimulus.shape[0]), "stimulus"
    if steps is not None:
        if isinstance(steps, bool) or int(steps) != steps or steps < 1:
            raise ConfigError(f"steps must be >= 1, got {steps}")
        return int(steps), "given"
    recorded = model_steps(net)
    return (recorded, "model") if recorded is not None else (DEFAULT_STEPS, "default")


def write_verilog(net: Network, out_dir: str | os.PathLike, top: str = "spikelut_core",
                  lut6: bool = False, steps: int | None = None, stimulus: Any = None,
                  force: bool = False, model: str | None = None, seed: int = 0) -> RtlFiles:
    """Write the core, wrapper, testbench and stimuli for ``net`` into ``out_dir``.

    ``stimulus`` (input spikes ``[T, B, n_in]``) becomes the testbench's stimulus, with the
    reference engine's outputs as the expected values; without it the testbench gets
    ``DEFAULT_SAMPLES`` random samples (``seed``) of ``steps`` cycles. The wrapper counts over
    ``steps`` cycles: ``T`` of the stimulus when given, else ``steps``, else the cycles of the
    training data the model records (:func:`model_steps`), else :data:`DEFAULT_STEPS`
    (``RtlFiles.steps_from`` says which).

    Args:
        net: the network (binary tables, ``k`` 1..12).
        out_dir: the directory to write: new, empty, or written by ``spikelut rtl`` (its
            manifest's files are replaced, other files kept); any directory with ``force``.
        top: the core's module name (:func:`~spikelut.rtl.plan.check_top_name`).
        lut6: instantiate each LUT as a Xilinx ``LUT<k>`` primitive (simulation models in
            ``sim/``) instead of a ``case`` table.
        steps: cycles per sample of the wrapper and testbench (see above).
        stimulus: uint8 (0/1) input spikes ``[T, B, n_in]``, numpy or CuPy; ``None``: random.
        force: write over a directory that ``spikelut rtl`` did not write.
        model: the model file's name, recorded in a comment of the core and in the manifest.
        seed: seed of the random stimulus.

    Returns:
        :class:`RtlFiles` with ``directory == Path(out_dir)``.

    Raises:
        ConfigError: a bad top name, ``steps`` (not a whole number >= 1, or not the stimulus'
            ``T``) or output directory (a file, the current directory, not ours without
            ``force``), or more than :data:`MAX_TESTBENCH_CYCLES` stimulus cycles.
        ShapeError: a stimulus that does not fit ``net`` (not 3-D, not ``n_in`` wide, not 0/1).
        NetworkError: ``k`` outside 1..12 or a circuit over
            :func:`~spikelut.rtl.plan.max_rtl_cells` cells.
        OutputError: the directory cannot be written; ``out_dir`` is left as it was.

    Example:
        >>> import tempfile
        >>> from spikelut.wiring import random_network
        >>> files = write_verilog(random_network(0, 4, [6, 2], k=3), tempfile.mkdtemp(),
        ...                       top="demo", steps=10)
        >>> files.files[:4], files.steps_from
        (['demo.v', 'demo_classifier.v', 'tb_demo.v', 'stimulus.mem'], 'given')
        >>> (files.directory / "stimulus.mem").read_text().splitlines()[0]  # cycle 0 of sample 0
        '1110'
    """
    with staged_verilog(net, out_dir, top, lut6, steps, stimulus, force, model, seed) as files:
        pass
    return files


@contextlib.contextmanager
def staged_verilog(net: Network, out_dir: str | os.PathLike, top: str = "spikelut_core",
                   lut6: bool = False, steps: int | None = None, stimulus: Any = None,
                   force: bool = False, model: str | None = None, seed: int = 0,
                   inputs: Sequence[str | os.PathLike] = ()) -> Iterator[RtlFiles]:
    """:func:`write_verilog` with a step before the swap: the files are written into a new
    temporary directory beside ``out_dir`` and yielded (``files.directory`` is that temporary);
    when the block ends normally the temporary replaces ``out_dir`` and ``files.directory``
    becomes ``out_dir``. When the block raises (an interrupt, a failed co-simulation), the
    temporary is removed and ``out_dir`` is left exactly as it was. ``inputs``: the files the
    caller read (model, stimulus file), refused where the new directory would replace one.

    Args:
        net, out_dir, top, lut6, steps, stimulus, force, model, seed: see :func:`write_verilog`.
        inputs: paths the caller read; refused (ConfigError) where the new ``out_dir`` would
            replace one of them, also with ``force``.

    Returns:
        A context manager yielding the :class:`RtlFiles` of the staged directory.

    Raises:
        ConfigError: a bad top name, ``steps`` or output directory.
        ShapeError: a stimulus that does not fit ``net``.

    Example:
        >>> import tempfile, pathlib
        >>> from spikelut.wiring import random_network
        >>> d = pathlib.Path(tempfile.mkdtemp()) / "rtl"
        >>> with staged_verilog(random_network(0, 4, [6, 2], k=3), d, top="demo") as files:
        ...     print(files.directory != d, d.exists())
        True False
        >>> files.directory == d, (d / "demo.v").is_file()
        (True, True)
    """
    check_top_name(top)
    # refuse a directory that is not ours, or an input it would replace, before any work
    prepare_directory(out_dir, force, inputs=inputs)
    plan = plan_network(net, lut6)
    if stimulus is not None:
        stimulus = np.asarray(check_spikes(net, np.asarray(stimulus)))
        # before the reference run: it would take hours, and the testbench could not index it
        check_testbench_cycles(stimulus.shape[0], stimulus.shape[1])
    steps, steps_from = _choose_steps(net, steps, stimulus)
    if stimulus is None:
        from ..api import random_spikes  # (bounds its draws before making them)

        stimulus = random_spikes(net.n_in, limits.check_steps(steps, ConfigError),
                                 DEFAULT_SAMPLES, 0.5, seed)
    B = stimulus.shape[1]
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
    # the .mem files are written piece by piece in the new directory (a whole one as text was
    # several copies of the stimulus in memory at once)
    chunk = MEM_CHUNK_BYTES
    mems = {
        "stimulus.mem": lambda: _sample_major_rows(stimulus, chunk),
        "expected_out.mem": lambda: _sample_major_rows(
            expected.layer_spikes[net.readout.layer], chunk),
        "expected_pred.mem": lambda: _pred_rows(expected.pred, pred_width(net), chunk),
    }
    written = list(texts) + list(mems)
    files = written + ["got_out.txt", "got_pred.txt", "sim", MANIFEST]
    keep = prepare_directory(d, force, writes={Path(n).parts[0] for n in files}, inputs=inputs)
    # the new directory is written beside the old one and swapped in when complete: an error or
    # an interrupt (here or in the caller's block) leaves the old one as it was
    with atomic_dir(d, keep=keep) as tmp:
        for name, text in texts.items():
            (tmp / name).parent.mkdir(exist_ok=True)
            (tmp / name).write_text(text)
        for name, pieces in mems.items():
            _write_mem(tmp / name, pieces())
        manifest = {
            "format": MANIFEST_FORMAT, "version": 1, "spikelut": __version__, "top": top,
            "lut6": lut6, "model": model, "steps": steps, "samples": B,
            "luts": plan.luts, "luts_by_size": plan.luts_by_size(), "max_luts": plan.max_luts,
            "flip_flops": plan.flip_flops, "lut_levels": plan.lut_levels(),
            "refractory_folding": plan.fold_counts(), "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        staged = RtlFiles(tmp, top, lut6, plan, steps, B, stimulus, expected, written,
                          steps_from)
        yield staged
    staged.directory = d
