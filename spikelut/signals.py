"""SIGTERM as an interrupt: ``kill``, ``timeout`` or a cancelled CI job stop spikelut as Ctrl-C
does (temporaries removed, a tool's process group killed, exit 130) instead of ending the process
mid-write.

The console entry point (:func:`spikelut.cli.run`) installs it for the whole command; the RTL
flow's tool runner (:func:`spikelut.rtl.launch.run_tool`) for the time a tool runs, so that API
callers get it there too. Either leaves a SIGTERM handler someone else installed alone, and only
the main thread can install one.

Example:
    >>> import signal
    >>> with sigterm_as_interrupt():
    ...     signal.getsignal(signal.SIGTERM) is terminated
    True
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_tools = 0  # external tools running (rtl.launch): no h5py callback can be on the stack then


def terminated(signum: int, frame: object) -> None:
    """The SIGTERM handler: call the SIGINT handler in place with the frame SIGTERM landed in, as
    if Ctrl-C had landed there (the writers' guard, spikelut.fileutil.atomic, looks at that frame
    to tell a callback from HDF5, where raising is unsafe, and then delivers it later; re-sending
    SIGINT with ``os.kill`` ran the handler in this function's frame, so the guard raised inside
    h5py's deallocation: a traceback and now and then a segmentation fault).

    Where SIGINT is ignored (a background job of a shell without job control): while a tool runs,
    :class:`KeyboardInterrupt` is raised, so its process group (a session of its own) is killed;
    otherwise SIGTERM keeps its default and ends the process (a KeyboardInterrupt raised in an
    HDF5 callback would be swallowed, and the process would not end at all)."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    elif _tools:
        raise KeyboardInterrupt(f"terminated by signal {signum}")
    else:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Install :func:`terminated` for the block where SIGTERM has its default action (in the main
    thread only), and restore the default afterwards."""
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def tool_running() -> Iterator[None]:
    """:func:`sigterm_as_interrupt` while an external tool runs, which also makes a SIGTERM
    raise where SIGINT is ignored (the tool's group must be killed)."""
    global _tools
    _tools += 1
    try:
        with sigterm_as_interrupt():
            yield
    finally:
        _tools -= 1


__all__ = ["sigterm_as_interrupt", "terminated", "tool_running"]
