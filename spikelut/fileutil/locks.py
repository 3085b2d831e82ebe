"""Locks on outputs: one spikelut process writes an output at a time (``.NAME.lock`` beside it)."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
import time
from pathlib import Path

from ..errors import OutputError
from .atomic import HOST, _pid_alive, _stem, write_error

try:  # POSIX only; without it locks fall back to the pid written in the lock file
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None


def lock_path_for(path: str | os.PathLike) -> Path:
    """The lock file guarding output ``path``: ``.NAME.lock`` beside it."""
    p = Path(path)
    return p.parent / f".{_stem(p.name)}.lock"


def _command_line() -> str:
    argv = [os.path.basename(sys.argv[0])] + sys.argv[1:] if sys.argv else []
    if argv and argv[0] in ("__main__.py", "-m", "-c"):
        argv[0] = "spikelut"
    return " ".join(argv)[:300]


class OutputLock:
    """An exclusive lock on an output, held until :meth:`release` (or the process ends).

    The lock file holds the owner's pid, host, start time and command line (JSON). The kernel's
    ``flock`` marks ownership, so a lock left by a killed process is free again; where ``flock``
    is unavailable, a lock whose pid is gone on this host is taken over.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "model.h5"
        >>> lock = OutputLock(target).acquire()
        >>> json.loads(lock.path.read_text())["pid"] == os.getpid()
        True
        >>> lock.release(); lock.path.exists()
        False
    """

    def __init__(self, target: str | os.PathLike, path: str | os.PathLike | None = None) -> None:
        self.target = Path(target)
        self.path = Path(path) if path is not None else lock_path_for(target)
        self.fd: int | None = None

    def _busy(self, info: dict) -> OutputError:
        from ..escape import terminal

        started = info.get("started")
        when = time.strftime(" since %H:%M:%S", time.localtime(started)) \
            if isinstance(started, (int, float)) else ""
        return OutputError(
            f"{self.target}: in use by another spikelut process (pid {terminal(info.get('pid', '?'))} "
            f"on {terminal(info.get('host', '?'))}{when}: {terminal(info.get('command', '?'))}); "
            f"wait for it to finish or choose another output")

    @staticmethod
    def _read(fd: int) -> dict:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            info = json.loads(os.read(fd, 1 << 16).decode("utf-8", "replace"))
            return info if isinstance(info, dict) else {}
        except (OSError, ValueError, RecursionError):
            return {}

    def acquire(self) -> "OutputLock":
        """Take the lock.

        Raises:
            OutputError: another live process holds it, or the lock file cannot be created (the
                output's directory is not writable).
        """
        for _ in range(20):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            except OSError as e:
                raise write_error(self.target, e) from None
            try:
                if fcntl is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        raise self._busy(self._read(fd)) from None
                    except OSError:  # no flock on this file system: trust the pid
                        self._check_pid(fd)
                else:  # pragma: no cover
                    self._check_pid(fd)
                # the file may have been removed by its previous owner meanwhile: lock the new one
                st, cur = os.fstat(fd), None
                with contextlib.suppress(FileNotFoundError):
                    cur = os.stat(self.path)
                if cur is None or (cur.st_ino, cur.st_dev) != (st.st_ino, st.st_dev):
                    os.close(fd)
                    continue
                info = {"pid": os.getpid(), "host": HOST, "started": time.time(),
                        "command": _command_line(), "target": str(self.target)}
                with contextlib.suppress(OSError):  # a full disk: the flock still holds
                    os.ftruncate(fd, 0)
                    os.lseek(fd, 0, os.SEEK_SET)
                    os.write(fd, (json.dumps(info) + "\n").encode())
            except BaseException:
                os.close(fd)
                raise
            self.fd = fd
            return self
        raise OutputError(f"{self.target}: could not lock {self.path}; try again")

    def _check_pid(self, fd: int) -> None:
        info = self._read(fd)
        pid = info.get("pid")
        if isinstance(pid, int) and pid != os.getpid() and (info.get("host") != HOST or _pid_alive(pid)):
            raise self._busy(info)

    def release(self) -> None:
        """Remove the lock file (when it is still ours) and free the lock."""
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            st, cur = os.fstat(self.fd), os.stat(self.path)
            if (cur.st_ino, cur.st_dev) == (st.st_ino, st.st_dev):
                os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = None

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


_HELD: dict[str, OutputLock] = {}


def lock_output(target: str | os.PathLike, path: str | os.PathLike | None = None) -> OutputLock:
    """Lock ``target`` for this process until :func:`release_locks` (or exit); idempotent.

    Raises:
        OutputError: another process holds it, or the lock file cannot be created.
    """
    lock = OutputLock(target, path)
    key = os.path.abspath(lock.path)
    if key not in _HELD:
        _HELD[key] = lock.acquire()
    return _HELD[key]


def release_locks() -> None:
    """Release every lock taken by :func:`lock_output` (the CLI calls it when a command ends)."""
    while _HELD:
        _HELD.popitem()[1].release()


atexit.register(release_locks)
