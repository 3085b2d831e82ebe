"""``spikelut rtl`` as one step: write the directory, co-simulate, synthesize, and only then swap.

Everything the command does happens in a temporary directory beside ``DIR``
(:func:`~spikelut.rtl.writer.staged_verilog`); ``DIR`` is replaced only when all of it succeeded.
An interrupt or an error leaves ``DIR`` exactly as it was and removes the temporary (the tools'
process groups are killed: :mod:`spikelut.rtl.launch`). A design whose co-simulation finds
mismatches, or whose build or run fails, does not replace ``DIR`` either: it is kept for
inspection in ``DIR.unverified`` (a directory of ours, replaced by the next such design; a
directory of that name that ``spikelut rtl`` did not write is left alone and the design dropped).
User documentation: ``docs/files-and-outputs.md`` and ``docs/guide/rtl.md``.

Example:
    >>> import tempfile, pathlib
    >>> from spikelut.wiring import random_network
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "rtl"
    >>> files, rep = compile_directory(random_network(0, 4, [6, 2], k=3), d, top="demo")
    >>> files.directory == d, rep is None, files.steps_from
    (True, True, 'default')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError, ToolError
from ..fileutil import atomic_dir
from ..network import Network
from .cosim import (SIMULATORS, CosimReport, find_build_tools, find_iverilog, find_verilator,
                    verify_directory)
from .synth import find_yosys, gate_list, synthesize, synthesize_gates
from .writer import RtlFiles, prepare_directory, staged_verilog

UNVERIFIED = ".unverified"


def unverified_path(out_dir: str | os.PathLike) -> Path:
    """Where a design that failed its co-simulation is kept: ``DIR.unverified`` beside ``DIR``.

    Args:
        out_dir: the RTL output directory ``DIR`` (need not exist).

    Returns:
        The path ``DIR.unverified`` (a trailing ``/`` of ``DIR`` is ignored); nothing is created.

    Raises:
        ValueError: ``out_dir`` has no name (``""``, ``"."``, ``"/"``).

    Example:
        >>> str(unverified_path("out/rtl/"))
        'out/rtl.unverified'
    """
    d = Path(out_dir)
    return d.with_name(d.name + UNVERIFIED)


class _Rejected(Exception):
    """Abort the swap of a design whose co-simulation failed (internal)."""


def _keep_unverified(tmp: Path, out_dir: Path) -> Path | None:
    """Move the finished temporary ``tmp`` to :func:`unverified_path` (atomically, replacing an
    earlier unverified design); ``None`` when a directory of that name is not ours."""
    target = unverified_path(out_dir)
    names = [e.name for e in tmp.iterdir()]
    try:
        keep = prepare_directory(target, force=False, writes=names)
    except ConfigError:
        return None
    with atomic_dir(target, keep=keep) as new:
        for name in names:
            os.rename(tmp / name, new / name)  # same directory: renames, nothing is copied
    return target


def _relocated(message: str, tmp: Path, where: Path | None) -> str:
    """``message`` (a tool's error naming its logs in ``tmp``) with ``tmp`` replaced by where the
    files are now."""
    new = str(where) if where is not None else "(discarded)"
    return message.replace(str(tmp.resolve()), new).replace(str(tmp), new)


def compile_directory(net: Network, out_dir: str | os.PathLike, top: str = "spikelut_core",
                      lut6: bool = False, steps: int | None = None, stimulus: Any = None,
                      verify: str | None = None, force: bool = False, model: str | None = None,
                      jobs: int = 2, synth: bool = False,
                      gates: str | Sequence[str] | None = None,
                      inputs: Sequence[str | os.PathLike] = ()
                      ) -> tuple[RtlFiles, CosimReport | None]:
    """Write ``out_dir`` for ``net`` and, when asked, co-simulate and synthesize it; the new
    directory replaces ``out_dir`` only when all of that succeeded.

    Args:
        net: the network (binary tables).
        out_dir: the output directory (new, empty, or written by ``spikelut rtl``; any with
            ``force``).
        top, lut6, steps, stimulus, force, model: see :func:`~spikelut.rtl.writer.write_verilog`.
        verify: ``"verilator"`` or ``"iverilog"``: co-simulate ``stimulus`` (input spikes
            ``[T, B, n_in]``; without it the testbench's random samples) and compare every
            output bit and prediction.
        jobs: parallel C++ compile jobs for Verilator.
        synth: also run yosys ``synth_xilinx`` (the report is ``files.synth``; its files are in
            ``out_dir/build/synth``).
        gates: also map to 2-input gates with this gate list (``files.gates``; files in
            ``out_dir/build/gates``).
        inputs: the files the caller read (the model, the stimulus file): refused with a
            ConfigError where the new ``out_dir`` would replace one of them.

    Returns:
        ``(files, report)``: ``report`` is the :class:`~spikelut.rtl.cosim.CosimReport` (``None``
        without ``verify``). When ``report.ok`` is False, ``out_dir`` is unchanged and
        ``files.directory`` is ``out_dir.unverified`` where the new design was kept (``None``
        when a directory of that name that is not ours prevented it); synthesis is then skipped.

    Raises:
        ConfigError: a bad top name, ``steps``, gate list or output directory.
        ShapeError: a stimulus that does not fit ``net``.
        ToolError: a tool is missing (checked before any work) or fails; a failed build or run
            of the co-simulation keeps the design and its logs in ``out_dir.unverified``.
        OutputError: the directory cannot be written.
        KeyboardInterrupt: Ctrl-C; ``out_dir`` is left as it was.

    Example:
        >>> import tempfile, pathlib
        >>> from spikelut.wiring import random_network
        >>> d = pathlib.Path(tempfile.mkdtemp()) / "rtl"
        >>> files, rep = compile_directory(random_network(0, 4, [6, 2], k=3), d, steps=8)
        >>> files.directory == d, rep, files.steps
        (True, None, 8)
        >>> files, rep = compile_directory(random_network(0, 4, [6, 2], k=3), d,
        ...                                verify="iverilog")        # doctest: +SKIP
        >>> rep.ok, rep.bits_compared                                # doctest: +SKIP
        (True, 256)
    """
    if verify is not None:
        if verify not in SIMULATORS:
            raise ToolError(f"unknown simulator {verify!r}; choose one of {', '.join(SIMULATORS)}")
        if verify == "verilator":  # missing: before any work
            find_build_tools(find_verilator()[1])
        else:
            find_iverilog()
    library = gate_list(gates) if gates is not None else None
    if synth or library is not None:
        try:
            find_yosys()
        except ToolError:
            # name the option that needs it and the way out: the bare tool message left a
            # user of --gates wondering what a "resource report" was and whether to drop it
            opts = [o for o, on in (("--synth", synth), ("--gates", library is not None)) if on]
            raise ToolError(f"yosys not found on PATH: {' and '.join(opts)} "
                            f"need{'s' if len(opts) == 1 else ''} it; install it (Debian/Ubuntu: "
                            f"apt-get install yosys; or the OSS CAD Suite) or run without "
                            f"{' and '.join(opts)}") from None
    out = Path(out_dir)
    rep = None
    try:
        with staged_verilog(net, out, top, lut6, steps, stimulus, force, model,
                            inputs=inputs) as files:
            tmp = files.directory
            if verify is not None:
                try:
                    rep = verify_directory(files, verify, jobs)
                except ToolError as e:
                    where = _keep_unverified(tmp, out)
                    raise ToolError(_relocated(str(e), tmp, where)) from None
                if not rep.ok:
                    files.directory = _keep_unverified(tmp, out)
                    raise _Rejected()
            if synth:
                files.synth = synthesize(net, top, lut6, work_dir=tmp / "build" / "synth",
                                         plan=files.plan)
            if library is not None:
                files.gates = synthesize_gates(net, top, library, work_dir=tmp / "build" / "gates",
                                               plan=files.plan)
    except _Rejected:
        rep.directory = "" if files.directory is None else str(files.directory)
        return files, rep
    if rep is not None:
        rep.directory = str(files.directory)
    return files, rep


__all__ = ["UNVERIFIED", "compile_directory", "unverified_path"]
