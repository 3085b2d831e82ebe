"""Atomic files and directories: a temporary beside the target, renamed over it when complete.

Also the one-line write errors, the removal of stale temporaries of killed processes and the
interrupt guard that makes Ctrl-C abort a write for sure (see the package's docstring).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import OutputError

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
