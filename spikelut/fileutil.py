"""Writing outputs safely: every writer goes through this module.

The rules (user documentation: ``docs/files-and-outputs.md``):

* **Atomic.** A file is written to a hidden temporary beside it, ``.NAME.PID@HOST.XXXXXXXX.tmp``,
  and renamed over the target only when complete; a directory (``spikelut rtl``) is written beside
  the old one and swapped in. A reader never sees a half-written output; a failed or interrupted
  write leaves the old one as it was.
* **Write errors are one line.** Disk full, read-only file system, no permission, a parent that
  is a file: :class:`~spikelut.errors.OutputError` naming the path and the reason.
* **Interrupts stop.** Ctrl-C during a write raises :class:`KeyboardInterrupt` after the temporary
  is removed, even when the signal lands in a callback that Python cannot propagate from (h5py's
  weakref callbacks: without this guard the write went on and the command exited 0).
* **Stale temporaries** of a target (left by a process that was killed) are removed by the next
  write of that target, when their process (the PID in the name, on this host) is gone.
* **Checked up front.** :func:`check_output` refuses, before any long work, an output that cannot
  be created, is the same file as an input, would overwrite a file of another kind (without
  ``force``), or is in use by another spikelut process (a lock file ``.NAME.lock`` beside it holds
  the other process's pid, host and command; a lock whose process is gone is taken over).

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "x.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "x.txt").read_text(), sorted(p.name for p in d.iterdir())
    ('hello', ['x.txt'])
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import io
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from .errors import OutputError

try:  # POSIX only; without it locks fall back to the pid written in the lock file
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

HOST = socket.gethostname()
# errnos that mean "this output cannot be written here": mapped to one-line OutputErrors
_WRITE_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EIO: "input/output error",
    errno.EFBIG: "file too large for the file system",
    errno.ENOTDIR: "a parent is not a directory",
    errno.EISDIR: "is a directory",
    errno.ENOENT: "the directory does not allow creating files there",
    errno.ENAMETOOLONG: "file name too long",
    errno.ELOOP: "too many levels of symbolic links",
    errno.EEXIST: "already exists",
    errno.ETXTBSY: "file busy",
    errno.EBUSY: "device or resource busy",
}


def write_error(path: str | os.PathLike, e: OSError) -> OutputError:
    """One-line :class:`OutputError` for an ``OSError`` met while writing ``path``.

    Example:
        >>> str(write_error("out/x.h5", OSError(28, "No space left on device")))
        'cannot write out/x.h5: no space left on the device'
    """
    reason = _WRITE_ERRNOS.get(e.errno or -1) or (e.strerror or str(e)).strip().splitlines()[0]
    return OutputError(f"cannot write {path}: {reason}")


# errnos that, raised while the temporary is being written, can only come from that writing
# (a missing or unreadable *input* read meanwhile keeps its own error)
_WRITING_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO}


def _is_write_error(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in _WRITING_ERRNOS


# ---------------------------------------------------------------------------- temporaries
def _stem(name: str) -> str:
    """``name`` for the hidden files beside it; a long name is shortened (with a hash to keep it
    unique) so that the temporary's and the lock's names stay within the system's limit."""
    if len(name.encode()) <= 120:
        return name
    import hashlib

    return name[:100] + "~" + hashlib.sha256(name.encode()).hexdigest()[:12]


def _tmp_prefix(name: str) -> str:
    # the pid (and host) tell a later write whether the writer of a leftover is still running
    return f".{_stem(name)}.{os.getpid()}@{HOST}."


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def clean_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove temporaries of ``path`` whose writing process (on this host) is gone.

    Returns the removed paths. A stale ``.old`` directory (a directory swap that was killed
    half-way, leaving no ``path``) is renamed back to ``path`` instead of being removed.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / f".x.h5.999999999@{HOST}.abcdefgh.tmp").write_text("half")
        >>> [p.name for p in clean_stale_temporaries(d / "x.h5")] == [f".x.h5.999999999@{HOST}.abcdefgh.tmp"]
        True
    """
    p = Path(path)
    pat = re.compile(r"^\." + re.escape(_stem(p.name)) + r"\.(\d+)@(.*)\.[A-Za-z0-9_]+\.(tmp|old)$")
    removed = []
    try:
        entries = list(p.parent.iterdir())
    except OSError:
        return removed
    for q in sorted(entries):
        m = pat.match(q.name)
        if not m or m.group(2) != HOST or _pid_alive(int(m.group(1))):
            continue
        try:
            if m.group(3) == "old" and (q / "d").is_dir() and not p.exists() and not p.is_symlink():
                os.rename(q / "d", p)  # the old output of an interrupted swap: bring it back
                q.rmdir()
                continue
            if q.is_dir() and not q.is_symlink():
                shutil.rmtree(q)
            else:
                q.unlink()
            removed.append(q)
        except OSError:
            pass  # another cleaner got there first, or we may not: harmless
    return removed


# ---------------------------------------------------------------------------- interrupts
_GUARDS: list[dict] = []          # one state per active _interrupt_guard, innermost last
_H5PY_DIR: str | None = None
_RESEND_S = 0.05


def _interrupted() -> bool:
    return any(g["hit"] for g in _GUARDS)


def _unsafe_frame(frame) -> bool:
    """True where raising KeyboardInterrupt would be lost or would corrupt a write: Python code
    that HDF5 calls back from C (h5py's file-object driver, weakref callbacks of h5py objects):
    an exception there is swallowed ("Exception ignored") or turns into an HDF5 write error."""
    global _H5PY_DIR
    if frame is None:
        return False
    if _H5PY_DIR is None:
        h5 = sys.modules.get("h5py")
        _H5PY_DIR = os.path.dirname(h5.__file__) if h5 is not None else ""
    name = frame.f_code.co_filename
    return (frame.f_code in _SOFTFILE_CODES or name.endswith("weakref.py")
            or bool(_H5PY_DIR) and name.startswith(_H5PY_DIR))


@contextlib.contextmanager
def _interrupt_guard() -> Iterator[dict]:
    """While writing, make Ctrl-C abort the write for sure.

    Without it, a SIGINT that lands in a callback from C (h5py's weakref callbacks) is printed as
    "Exception ignored ... KeyboardInterrupt" and lost: the write went on and the command exited
    0. Here the interrupt is remembered; where raising is unsafe it is re-sent to this process
    every 50 ms until it lands in ordinary code, and the block end raises it in any case (the
    temporary is then removed). Only the main thread can own signal handlers."""
    state = {"hit": False, "active": True}
    old = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() \
        else None
    if not callable(old):  # SIG_IGN / SIG_DFL / not the main thread: leave it alone
        yield state
        return
    lock = threading.Lock()

    def resend() -> None:
        with lock:
            if state["active"]:
                os.kill(os.getpid(), signal.SIGINT)

    def later() -> None:
        t = threading.Timer(_RESEND_S, resend)
        t.daemon = True
        t.start()

    def handler(signum, frame):
        state["hit"] = True
        if _unsafe_frame(frame):
            later()
            return
        old(signum, frame)

    old_hook = sys.unraisablehook

    def hook(unraisable):
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            state["hit"] = True
            later()  # swallowed where it landed: deliver it again
            return
        old_hook(unraisable)

    signal.signal(signal.SIGINT, handler)
    sys.unraisablehook = hook
    _GUARDS.append(state)
    try:
        yield state
    finally:
        with lock:
            state["active"] = False
        _GUARDS.remove(state)
        signal.signal(signal.SIGINT, old)
        sys.unraisablehook = old_hook


@contextlib.contextmanager
def _producing(path: Path) -> Iterator[None]:
    """The block that fills a temporary of ``path``: write errors become one-line
    :class:`OutputError`, and an interrupt remembered during it is raised when it ends."""
    with _interrupt_guard() as guard:
        try:
            yield
        except OSError as e:
            if _is_write_error(e):
                raise write_error(path, e) from None
            raise
        if guard["hit"]:
            raise KeyboardInterrupt


# ---------------------------------------------------------------------------- atomic files
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The parent directory is created if missing. The temporary file is a hidden
    ``.<name>.<pid>@<host>.*.tmp`` in the same directory (so the rename is atomic on POSIX and Windows) and
    gets the permissions a plain ``open()`` would give. If the ``with`` body raises, the
    temporary file is removed and ``path`` keeps its old content.

    Args:
        path: the final file.

    Yields:
        The temporary :class:`~pathlib.Path` to write (it exists, empty).

    On an error or an interrupt the temporary is removed and ``path`` is left as it was; write
    errors (disk full, permissions, ...) become one-line :class:`OutputError`. Stale temporaries
    of ``path`` from killed processes are removed first.

    Raises:
        OutputError: the file cannot be written.
        KeyboardInterrupt: Ctrl-C during the write (after the temporary is removed).

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> with atomic_path(d / "x.txt") as tmp:
        ...     _ = tmp.write_text("hello")
        >>> (d / "x.txt").read_text()
        'hello'
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path.name), suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise write_error(path, e) from None
    tmp_path = Path(tmp)
    try:
        with _producing(path):
            yield tmp_path
        try:
            # mkstemp creates 0600; give the file the permissions a plain open() would have
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, path)
        except OSError as e:
            raise write_error(path, e) from None
    finally:
        with contextlib.suppress(OSError):
            if tmp_path.exists():
                tmp_path.unlink()


class _SoftFile(io.RawIOBase):
    """A file object for h5py's ``fileobj`` driver that never reports a write error to HDF5.

    HDF5 2.0 segfaults when closing a file after a failed write (disk full), so the first error
    is kept in ``error`` and later writes are dropped (reads of dropped ranges give zeros); the
    caller raises ``error`` after h5py has closed the file cleanly."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._f = open(path, "r+b", buffering=0)
        self.error: OSError | None = None
        self._pos = 0
        self._size = 0

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def write(self, b) -> int:
        n = len(memoryview(b).cast("B"))
        if self.error is None and not _interrupted():  # interrupted: the file is discarded
            try:
                self._f.seek(self._pos)
                mv, done = memoryview(b).cast("B"), 0
                while done < n:
                    done += self._f.write(mv[done:])
            except OSError as e:
                self.error = e
        self._pos += n
        self._size = max(self._size, self._pos)
        return n

    def readinto(self, b) -> int:
        mv = memoryview(b).cast("B")
        want = max(0, min(len(mv), self._size - self._pos))
        got = 0
        with contextlib.suppress(OSError):
            self._f.seek(self._pos)
            got = self._f.readinto(mv[:want]) or 0
        if got < want:
            mv[got:want] = bytes(want - got)
        self._pos += want
        return want

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        if self.error is None:
            try:
                self._f.truncate(size)
            except OSError as e:
                self.error = e
        self._size = size
        return size

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self._f.close()
        super().close()


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike) -> Iterator:
    """Yield a new ``h5py.File`` that becomes ``path`` atomically when the block succeeds.

    Like :func:`atomic_path`; in addition a write error inside HDF5 (disk full) is reported as one
    :class:`OutputError` instead of tracebacks and a crash.

    Raises:
        OutputError: the file cannot be written.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.h5"
        >>> with atomic_h5(p) as f:
        ...     f.attrs["x"] = 1
        >>> import h5py; int(h5py.File(p, "r").attrs["x"])
        1
    """
    import h5py

    with atomic_path(path) as tmp:
        try:
            soft = _SoftFile(tmp)
        except OSError as e:
            raise write_error(path, e) from None
        try:
            with h5py.File(soft, "w") as f:
                yield f
        finally:
            soft.close()
        if soft.error is not None:
            raise write_error(path, soft.error)


_SOFTFILE_CODES = {f.__code__ for f in vars(_SoftFile).values() if hasattr(f, "__code__")}


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`).

    Args:
        path: the file to write (its directory is created if missing).
        text: the content, encoded with the platform's default encoding.

    Raises:
        OutputError: the file cannot be written (one line naming the path and the reason).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "sub" / "a.txt"
        >>> write_text_atomic(p, "x")
        >>> p.read_text()
        'x'
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`).

    Args:
        path: the file to write (its directory is created if missing).
        data: the content.

    Raises:
        OutputError: the file cannot be written (one line naming the path and the reason).
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


# ---------------------------------------------------------------------------- atomic directories
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False when unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    AT_FDCWD = -100
    if fn(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, keep: Iterable[str] = ()) -> Iterator[Path]:
    """Yield a new empty directory beside ``path``; on success it replaces ``path``.

    The old directory stays untouched until the new one is complete; then the two are swapped
    (in one step where the system allows) and the old one is removed. Entries of the old
    directory named in ``keep`` are carried into the new one (hard links where possible).

    Raises:
        OutputError: the directory cannot be written.
        KeyboardInterrupt: Ctrl-C during the write (after the new directory is removed).

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp()) / "out"
        >>> with atomic_dir(d) as tmp:
        ...     _ = (tmp / "a.v").write_text("module a; endmodule")
        >>> sorted(p.name for p in d.iterdir())
        ['a.v']
    """
    path = Path(path)
    keep = tuple(keep)
    if path.is_symlink() and path.is_dir():  # a link to the real output: replace that one
        path = path.resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(path)
        tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(path.name), suffix=".tmp", dir=path.parent))
    except OSError as e:
        raise write_error(path, e) from None
    old = None
    try:
        with _producing(path):
            yield tmp
            for name in keep:
                src = path / name
                if src.is_dir() and not src.is_symlink():
                    shutil.copytree(src, tmp / name, symlinks=True, copy_function=_link_or_copy)
                elif src.exists() or src.is_symlink():
                    _link_or_copy(src, tmp / name)
            os.chmod(tmp, 0o777 & ~_umask())
        try:
            if path.is_dir() and not path.is_symlink():
                if _exchange(tmp, path):
                    old = tmp  # tmp now holds the old directory
                else:
                    old = Path(tempfile.mkdtemp(prefix=_tmp_prefix(path.name), suffix=".old",
                                                dir=path.parent))
                    os.rename(path, old / "d")  # keeps the old one if the next step fails
                    os.rename(tmp, path)
            else:
                os.rename(tmp, path)
        except OSError as e:
            raise write_error(path, e) from None
    finally:
        for q in (tmp, old):
            if q is not None and q.exists():
                shutil.rmtree(q, ignore_errors=True)


def _link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


# ---------------------------------------------------------------------------- locks
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
        from .escape import terminal

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


# ---------------------------------------------------------------------------- kinds of files
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# which existing kinds each output kind may replace without --force
_REPLACES = {
    "model": {"model"},
    "checkpoint": {"checkpoint"},
    "spikes": {"spikes"},                 # spike files and simulation results
    "png": {"png"},
    "vcd": {"vcd"},
    "log": {"log"},                       # training logs: records with the trainer's keys
    "bench": {"bench"},                   # spikelut bench -o: only its own earlier report
    "peers": {"peers"},                   # spikelut peers -o
    "onnx": {"onnx"},                     # spikelut export -o: only a graph it wrote
    "text": {"text", "log"},
}
_KIND_WORDS = {
    "model": "a spikelut model", "checkpoint": "a training checkpoint", "spikes": "a spike file",
    "png": "a PNG image", "vcd": "a VCD waveform", "log": "a spikelut training log",
    "bench": "a spikelut bench report", "peers": "a spikelut peers report", "text": "a text file",
    "config": "a TOML config", "hdf5": "an HDF5 file of another program", "binary": "a binary file",
    "hdf5_unreadable": "an unreadable HDF5 file (truncated or corrupt?)",
    "json": "a JSON file", "onnx": "an ONNX graph written by spikelut export",
}
# outputs that must carry their format's own extension (or none), with how the message says so
_OWN_SUFFIX = {"png": (".png", "the image is written as PNG"),
               "vcd": (".vcd", "the waveform is written as VCD text")}
_HDF5_KINDS = {"model": "the model", "checkpoint": "the checkpoint",
               "spikes": "the spike file (or result)"}
# extensions of formats that programs (and spikelut's own readers) recognise by name: an HDF5 or
# ONNX output named so would be opened as that format
_OTHER_FORMATS = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".pdf", ".eps", ".tif", ".tiff",
                  ".bmp", ".webp", ".vcd", ".txt", ".md", ".csv", ".tsv", ".json", ".jsonl",
                  ".toml", ".yaml", ".yml", ".ini", ".html", ".htm", ".xml", ".v", ".sv",
                  ".vhd", ".py", ".sh", ".npz", ".npy", ".pkl", ".pickle", ".pt", ".pth",
                  ".onnx", ".zip", ".gz", ".tar", ".h5", ".hdf5", ".hdf", ".he5", ".log"}
#: the first line of ``spikelut bench -o``'s markdown report (spikelut.bench.format_markdown)
BENCH_TITLE = "# Engine benchmark (spikelut bench)"
#: the first line of ``spikelut peers -o``'s markdown report
PEERS_TITLE = "# Peer benchmark"
# a report is recognised by its first line, so a file that merely ends in .md is not replaced
_REPORT_TITLES = {BENCH_TITLE: "bench", PEERS_TITLE: "peers"}
# an ONNX ModelProto spikelut export wrote: field 1 (ir_version, a varint) first, then field 2
# (producer_name) = "spikelut" (spikelut.onnx_export sets it); another program's graph or any
# other binary file is not replaced without --force
_ONNX_PRODUCER = b"\x12\x08spikelut"
# keys every record of a training log has (spikelut.train.trainer's log format)
_LOG_KEYS = {"epoch", "loss", "acc"}
# keys of the JSON report of spikelut peers (spikelut.peers.run_peers)
_PEERS_KEYS = {"date", "command_line", "machine", "settings", "systems"}


def kind_words(kind: str) -> str:
    """A kind of :func:`file_kind` in words, for messages.

    Example:
        >>> kind_words("model"), kind_words("hdf5")
        ('a spikelut model', 'an HDF5 file of another program')
    """
    return _KIND_WORDS.get(kind, kind)


def file_kind(path: str | os.PathLike) -> str:
    """What an existing file holds: ``model``, ``checkpoint``, ``spikes`` (spikes or a result),
    ``hdf5`` (another HDF5 file), ``hdf5_unreadable`` (HDF5's signature, but h5py cannot open
    it: truncated or corrupt), ``png``, ``vcd``, ``config`` (TOML), ``json``, ``log`` (a
    training log: JSON lines whose records have the trainer's ``epoch``, ``loss`` and ``acc``),
    ``bench`` / ``peers`` (a report of ``spikelut bench`` / ``spikelut peers``, by its first
    line or, for peers' JSON, its keys), ``onnx`` (a graph of ``spikelut export``, by its
    producer name), ``text``, ``binary`` or ``empty``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.toml"
        >>> _ = p.write_text('inputs = 2\\n[[layers]]\\nnodes = 4\\n')
        >>> file_kind(p)
        'config'
    """
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(1 << 16)
    if not head:
        return "empty"
    if head.startswith(HDF5_MAGIC):
        return _hdf5_kind(p)
    if head.startswith(PNG_MAGIC):
        return "png"
    if head[:1] == b"\x08" and _ONNX_PRODUCER in head[:16]:
        return "onnx"
    if b"\0" in head:
        return "binary"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary"
    stripped = text.lstrip()
    if stripped.startswith("$") and any(k in text for k in ("$timescale", "$scope", "$enddefinitions")):
        return "vcd"
    lines = text.splitlines()
    if lines and lines[0].rstrip() in _REPORT_TITLES:
        return _REPORT_TITLES[lines[0].rstrip()]
    if lines[:1] == ["# Benchmarks"] and len(lines) > 3 and lines[1] == "" and \
            lines[2].startswith("- date: ") and lines[3].startswith("- command: "):
        return "bench"  # spikelut bench's report before it had a title of its own
    if stripped.startswith("{") or stripped.startswith("["):
        first = stripped.splitlines()[0]
        with contextlib.suppress(ValueError, RecursionError):
            record = json.loads(first)
            if isinstance(record, dict) and _LOG_KEYS <= set(record):
                return "log"
        with contextlib.suppress(ValueError, RecursionError):
            whole = json.loads(text)
            return "peers" if isinstance(whole, dict) and _PEERS_KEYS <= set(whole) else "json"
    if len(head) < (1 << 16):
        import tomllib

        with contextlib.suppress(ValueError, RecursionError):
            if tomllib.loads(text):
                return "config"
    return "text"


def _hdf5_kind(p: Path) -> str:
    import h5py

    try:
        with h5py.File(p, "r", locking=False) as f:
            fmt = f.attrs.get("format")
    except (OSError, ValueError, TypeError):
        # not "another program's": a truncated spikelut file lands here too
        return "hdf5_unreadable"
    if isinstance(fmt, bytes):
        fmt = fmt.decode("utf-8", "replace")
    return {"spikelut-model": "model", "spikelut-spikes": "spikes",
            "spikelut-checkpoint": "checkpoint"}.get(fmt, "hdf5")


# ---------------------------------------------------------------------------- the shared check
def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def refuse_inputs_inside(directory: str | os.PathLike, inputs: Iterable[Any],
                         replaced: Callable[[str], bool], what: str,
                         error: type[Exception] = OutputError) -> None:
    """Refuse an input file that lies in ``directory`` under an entry the writer replaces.

    ``inputs``: the command's input paths (entries that are not paths, such as ``None`` or an
    in-memory network, are skipped); ``replaced(name)``: whether the writer replaces the
    top-level entry ``name`` of ``directory``; ``what``: the end of the message ("where the
    analysis replaces it"). Used by the writers that replace a whole directory (analyze, rtl),
    so that an input is never overwritten, even with ``--force``.

    Raises:
        error: ``"<input>: is an input and lies in the output directory <dir>, <what>; move it
            out of <dir> or choose another output directory"``.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> refuse_inputs_inside(d, [d / "model.h5", None], lambda n: n == "report.json",
        ...                      "where the report goes")   # model.h5 is not replaced: fine
    """
    root = Path(directory).resolve()
    for p in inputs:
        if not isinstance(p, (str, os.PathLike)):
            continue
        q = Path(p).resolve()
        if root in q.parents and replaced(q.relative_to(root).parts[0]):
            raise error(f"{p}: is an input and lies in the output directory {directory}, "
                        f"{what}; move it out of {directory} or choose another output directory")


def check_output(path: str | os.PathLike, *, inputs: Sequence[str | os.PathLike | None] = (),
                 kind: str, force: bool = False, others: Sequence[str | os.PathLike | None] = (),
                 lock: bool = True) -> Path:
    """Check, before any work, that output ``path`` may be written; lock it for this process.

    Refused: an empty path; a path that is an existing directory (for a file) or file (for a
    directory) or device; a parent that is a file or cannot be created or written; the same
    file as one of ``inputs`` (symlinks and hard links included) or of ``others`` (the command's
    other outputs); an existing file of another kind than ``kind`` unless ``force``; an output
    in use by another spikelut process. ``kind`` is one of ``model``, ``checkpoint``, ``spikes``,
    ``png``, ``vcd``, ``log``, ``bench``, ``peers``, ``onnx``, ``text``, ``binary`` or ``dir`` (checked by
    the directory's writer); see :func:`file_kind` for how an existing file's kind is read.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OutputError: naming the path and the reason (one line).

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> cfg = d / "c.toml"; _ = cfg.write_text("inputs = 2\\n")
        >>> try:
        ...     check_output(cfg, inputs=[cfg], kind="model", lock=False)
        ... except OutputError as e:
        ...     print(str(e) == f"{cfg}: is also an input ({cfg}); choose another output")
        True
        >>> check_output(d / "m.h5", inputs=[cfg], kind="model", lock=False) == d / "m.h5"
        True
    """
    if path is None or str(path) == "":
        raise OutputError("empty output path; give a file name")
    p = Path(path)
    try:
        return _check_output(p, inputs, kind, force, others, lock)
    except OSError as e:  # the path itself is unusable (too long a name, a loop of links, ...)
        raise write_error(p, e) from None


def _effective(p: Path) -> Path:
    """The file that ``p`` names once its missing directories are made: the part of the path
    that exists as the system resolves it, the rest normalised (a ``..`` after a directory that
    does not exist yet undoes it once that directory is made). ``p`` itself where every
    directory exists. The system cannot resolve ``new/../x`` before ``new`` exists, so without
    this a check of ``new/../input.h5`` would see no file there.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> _effective(d / "new" / ".." / "x.h5") == Path(os.path.realpath(d)) / "x.h5"
        True
        >>> _effective(d / "x.h5") == d / "x.h5"
        True
    """
    parts = p.parts
    cur = Path(parts[0]) if p.is_absolute() else Path(".")
    for i in range(1 if p.is_absolute() else 0, len(parts) - 1):
        nxt = cur / parts[i]
        if not os.path.lexists(nxt):
            return Path(os.path.normpath(os.path.join(os.path.realpath(cur), *parts[i:])))
        cur = nxt
    return p


def _check_output(p: Path, inputs: Sequence, kind: str, force: bool, others: Sequence,
                  lock: bool) -> Path:
    want_dir = kind == "dir"
    shown, p = p, _effective(p)  # checked as the file it will be; named as the user wrote it
    # the first existing ancestor must be a directory we can write into
    anc = p.parent
    while not anc.exists() and anc != anc.parent:
        if anc.is_symlink():
            raise OutputError(f"cannot write {shown}: {anc} is a dangling symbolic link")
        anc = anc.parent
    if not anc.is_dir():
        raise OutputError(f"cannot write {shown}: {anc} is a file, not a directory")
    if p.exists():
        if p.is_dir() and not want_dir:
            raise OutputError(f"{shown}: is a directory; give a file name for the output")
        if not p.is_dir() and want_dir:
            raise OutputError(f"{shown}: exists and is not a directory; give a directory for the output")
        if not p.is_dir() and not p.is_file():
            raise OutputError(f"{shown}: is not a regular file (a device, pipe or socket); give a file "
                              f"name for the output")
    for q in inputs:
        if q is not None and str(q) != "" and (p.exists() or p.is_symlink()) and Path(q).exists() \
                and _same_file(p, Path(q)):
            raise OutputError(f"{shown}: is also an input ({q}); choose another output")
    for q in others:
        if q is not None and str(q) != "" and (os.path.abspath(q) == os.path.abspath(p)
                                               or (p.exists() and _same_file(p, Path(q)))):
            raise OutputError(f"{shown}: given for two outputs of this command; give each its own file")
    if p.is_file() and not force and not want_dir:
        try:
            have = file_kind(p)
        except OSError as e:
            raise OutputError(f"{shown}: exists and cannot be read to see what it is ({e.strerror}); "
                              f"pass --force to overwrite it") from None
        if have != "empty" and have not in _REPLACES.get(kind, {kind}):
            raise OutputError(f"{shown}: exists and is {kind_words(have)}, not "
                              f"{kind_words(kind)}; choose another output or pass "
                              f"--force to overwrite it")
    try:  # the directories as written (then the path as given resolves to p), after the checks
        shown.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(shown, e) from None
    if lock:
        lock_output(p)  # creating the lock file beside the output also proves we can write there
    else:
        where = p if want_dir and p.is_dir() else p.parent
        try:
            fd, probe = tempfile.mkstemp(prefix=_tmp_prefix(p.name), suffix=".tmp", dir=where)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise write_error(shown, e) from None
    misnamed = _misnamed(kind, p.suffix)
    if misnamed:
        # checked last: a path that cannot be written at all is reported as such first
        held = _HELD.pop(os.path.abspath(lock_path_for(p)), None)
        if held is not None:
            held.release()
        raise OutputError(f"{shown}: {misnamed}")
    return shown


def _misnamed(kind: str, suffix: str) -> str:
    """Why an output of ``kind`` must not be named with ``suffix`` (``""`` when it may).

    A PNG or VCD output must end in its own extension (or have none): the bytes are PNG or VCD
    whatever the name says, and a ``.jpg`` holding PNG misleads viewers. An HDF5 output (model,
    checkpoint, spikes) or an ONNX graph may have any name except the extension of another
    format that tools recognise by name (``-o result.png`` wrote HDF5 that image viewers, and
    spikelut's own ``raster``, then failed on). Case is ignored.

    Example:
        >>> _misnamed("spikes", ".h5"), _misnamed("model", ".lut"), _misnamed("spikes", "")
        ('', '', '')
        >>> _misnamed("spikes", ".PNG")
        'the spike file (or result) is written as HDF5; give a file name ending in .h5 (not .PNG)'
    """
    low = suffix.lower()
    if not low:
        return ""
    if kind in _OWN_SUFFIX:
        own, words = _OWN_SUFFIX[kind]
        return "" if low == own else f"{words}; give a file name ending in {own} (not {suffix})"
    if kind in _HDF5_KINDS and low in _OTHER_FORMATS - {".h5", ".hdf5", ".hdf", ".he5"}:
        return f"{_HDF5_KINDS[kind]} is written as HDF5; give a file name ending in .h5 (not {suffix})"
    if kind == "onnx" and low in _OTHER_FORMATS - {".onnx"}:
        return f"the graph is written as ONNX; give a file name ending in .onnx (not {suffix})"
    return ""


__all__ = ["OutputLock", "atomic_dir", "atomic_h5", "atomic_path", "check_output",
           "clean_stale_temporaries", "file_kind", "lock_output", "lock_path_for",
           "release_locks", "write_bytes_atomic", "write_error", "write_text_atomic"]
