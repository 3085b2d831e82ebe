"""Atomic file writing: a reader never sees a half-written file, a crash never loses the old one.

Every file spikelut writes (models, spike files, checkpoints, logs, reports, Verilog) goes
through :func:`atomic_path`: the data is written to a temporary file in the same directory,
which is then renamed onto the final name.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> write_text_atomic(p, "old")
    >>> try:
    ...     with atomic_path(p) as tmp:
    ...         _ = tmp.write_text("half of the new")
    ...         raise KeyboardInterrupt
    ... except KeyboardInterrupt:
    ...     pass
    >>> p.read_text(), [f.name for f in p.parent.iterdir()]
    ('old', ['log.jsonl'])
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The parent directory is created if missing. The temporary file is a hidden
    ``.<name>.*.tmp`` in the same directory (so the rename is atomic on POSIX and Windows) and
    gets the permissions a plain ``open()`` would give. If the ``with`` body raises, the
    temporary file is removed and ``path`` keeps its old content.

    Args:
        path: the final file.

    Yields:
        The temporary :class:`~pathlib.Path` to write (it exists, empty).

    Raises:
        OSError: the directory cannot be created or written, or the rename fails.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> with atomic_path(d / "x.txt") as tmp:
        ...     _ = tmp.write_text("hello")
        >>> (d / "x.txt").read_text()
        'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the file the permissions a plain open() would have
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`).

    Args:
        path: the file to write (its directory is created if missing).
        text: the content, encoded with the platform's default encoding.

    Raises:
        OSError: the file cannot be written.

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
        OSError: the file cannot be written.
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
