"""Writing outputs safely: every writer goes through this package.

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

The parts: :mod:`.atomic` (atomic files and directories, write errors, temporaries,
interrupts), :mod:`.locks` (one writer per output), :mod:`.kinds` (what a file holds, what may
replace it, what it may be named), :mod:`.check` (:func:`check_output`). Their public names are
imported here; callers import them from ``spikelut.fileutil``.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "x.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "x.txt").read_text(), sorted(p.name for p in d.iterdir())
    ('hello', ['x.txt'])
"""

from .atomic import (HOST, atomic_dir, atomic_h5, atomic_path, clean_stale_temporaries,
                     write_bytes_atomic, write_error, write_text_atomic)
from .check import check_output, refuse_inputs_inside
from .kinds import BENCH_TITLE, HDF5_MAGIC, PEERS_TITLE, PNG_MAGIC, file_kind, kind_words
from .locks import OutputLock, lock_output, lock_path_for, release_locks

__all__ = ["BENCH_TITLE", "HDF5_MAGIC", "HOST", "OutputLock", "PEERS_TITLE", "PNG_MAGIC",
           "atomic_dir", "atomic_h5", "atomic_path", "check_output", "clean_stale_temporaries",
           "file_kind", "kind_words", "lock_output", "lock_path_for", "refuse_inputs_inside",
           "release_locks", "write_bytes_atomic", "write_error", "write_text_atomic"]
