"""The check every command makes of each output path before any work (:func:`check_output`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..errors import OutputError
from .atomic import _tmp_prefix, write_error
from .kinds import _REPLACES, _misnamed, file_kind, kind_words
from .locks import _HELD, lock_output, lock_path_for

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


def replaced_input(path: str | os.PathLike, inputs: Iterable[Any]) -> Any:
    """The first of ``inputs`` that writing ``path`` would replace (the same file, through
    symbolic or hard links, or a path such as ``new/../in.h5`` that names it once ``new`` is
    made), else ``None``. The rule behind :func:`check_output`'s "is also an input", for writers
    that check only that (the Python API's).

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp()); _ = (d / "in.h5").write_bytes(b"x")
        >>> replaced_input(d / "new" / ".." / "in.h5", [None, d / "in.h5"]) == d / "in.h5"
        True
        >>> replaced_input(d / "out.h5", [d / "in.h5"]) is None
        True
    """
    p = _effective(Path(path))
    for q in inputs:
        if q is None or not isinstance(q, (str, os.PathLike)) or str(q) == "":
            continue
        if (p.exists() or p.is_symlink()) and Path(q).exists() and _same_file(p, Path(q)):
            return q
    return None


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
    q = replaced_input(p, inputs)
    if q is not None:
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
