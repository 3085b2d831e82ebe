"""Numba's threads: the one place where spikelut sets how they wait, before numba starts them.

Numba runs ``parallel=True`` code on its OpenMP threading layer here (``omp``; ``tbb`` when that
package is installed, ``workqueue`` otherwise). After each parallel region GNU OpenMP lets its
worker threads *spin* for a while (``OMP_WAIT_POLICY`` unset: about 300,000 polls) in case another
region follows. Training launches two short regions per batch with numpy work in between, so the
spinning threads take the cores the main thread needs; with one other busy process on a 2-core
machine, ``spikelut train demos/train_first_of_two.toml`` took 19-21 s with the default 2 threads
against 3.1 s with one thread. Passive waiting (threads sleep on a futex between regions) removes
that; the measurements are in ``docs/threads.md``.

:func:`configure` runs when :mod:`spikelut` is imported, before any module imports numba, so it
is in effect before numba loads its OpenMP runtime (which reads the variable once, at load).
A value the user set in the environment is kept.

Example:
    >>> import os, spikelut
    >>> os.environ["OMP_WAIT_POLICY"] in ("passive", "PASSIVE", "active", "ACTIVE")
    True
"""

from __future__ import annotations

import os

WAIT_POLICY = "passive"
"""OpenMP wait policy spikelut asks for unless ``OMP_WAIT_POLICY`` is already set."""


def configure() -> None:
    """Set ``OMP_WAIT_POLICY`` (and Intel OpenMP's ``KMP_BLOCKTIME``) for numba's threads.

    Must run before numba's OpenMP runtime loads (the first parallel call); user settings win.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)
    if os.environ["OMP_WAIT_POLICY"].lower() == "passive":
        # Intel's OpenMP (numba's omp layer on some installs) spins for KMP_BLOCKTIME ms
        os.environ.setdefault("KMP_BLOCKTIME", "0")


__all__ = ["WAIT_POLICY", "configure"]
