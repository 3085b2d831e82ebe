"""Numba's threads: how they wait (set before numba starts them) and how many are worth starting.

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

:func:`spare_cpus` is the load half of the bit-sliced engine's default thread count
(:func:`spikelut.engine.bitsliced.choose_threads`): the CPUs this process may use that are not
running another task *right now*. On Linux CPU time is shared between sessions, not threads
(autogroup scheduling), so while another session's process is busy a second thread gets no more
CPU and only adds the wait for the slower slice (measured in ``docs/threads.md``).

Example:
    >>> import os, spikelut
    >>> os.environ["OMP_WAIT_POLICY"] in ("passive", "PASSIVE", "active", "ACTIVE")
    True
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from contextlib import contextmanager
from typing import Iterator

WAIT_POLICY = "passive"
"""OpenMP wait policy spikelut asks for unless ``OMP_WAIT_POLICY`` is already set."""


def configure() -> None:
    """Set ``OMP_WAIT_POLICY`` (and Intel OpenMP's ``KMP_BLOCKTIME``) for numba's threads.

    Must run before numba's OpenMP runtime loads (the first parallel call); user settings win.

    Returns:
        ``None``; ``os.environ`` is changed only where a variable is unset.

    Raises:
        Nothing.

    Example:
        >>> configure(); os.environ["OMP_WAIT_POLICY"] != ""
        True
    """
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)
    if os.environ["OMP_WAIT_POLICY"].lower() == "passive":
        # Intel's OpenMP (numba's omp layer on some installs) spins for KMP_BLOCKTIME ms
        os.environ.setdefault("KMP_BLOCKTIME", "0")


def usable_cpus() -> int:
    """CPUs this process may run on (``os.sched_getaffinity``, so ``taskset`` and container CPU
    sets count), or ``os.cpu_count()`` where affinity is not available.

    Returns:
        The count, at least 1.

    Raises:
        Nothing: an unreadable affinity falls back to the CPU count, and that to 1.

    Example:
        >>> usable_cpus() >= 1
        True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def others_running(loadavg: str | None = None, own: int | None = None) -> int | None:
    """Tasks of other processes that are runnable right now.

    Reads the fourth field of ``/proc/loadavg`` (``running/total`` scheduling entities, an
    instantaneous count that includes the calling thread) and subtracts this process's own
    runnable threads (``own``; where ``loadavg`` is read from the file and shows more than the
    caller, read from ``/proc/self/task``; else 1, the caller): a worker of our own thread team
    that has just finished a parallel region may still be runnable when the next pass asks, and
    counting it made the passes after a two-thread pass drop to one thread. The price: a busy
    thread of this process that is not ours to schedule (a data loader, another library's
    pool) does not count either.

    Args:
        loadavg: the text of ``/proc/loadavg`` (read from the file when ``None``).
        own: this process's runnable threads, the caller included.

    Returns:
        ``running - own`` (>= 0), or ``None`` where the file is missing or unreadable (not Linux).

    Raises:
        Nothing: a malformed ``loadavg`` is ``None``.

    Example:
        >>> others_running("0.52 0.58 0.59 3/467 12345")
        2
        >>> others_running("0.52 0.58 0.59 3/467 12345", own=2)   # one of ours is a worker
        1
    """
    from_file = loadavg is None
    if loadavg is None:
        try:
            with open("/proc/loadavg") as f:
                loadavg = f.read()
        except OSError:
            return None
    try:
        running = int(loadavg.split()[3].split("/")[0])
    except (IndexError, ValueError):
        return None
    if own is None:  # the scan reads a file per thread: only where someone else seems to run
        own = _own_running() if from_file and running > 1 else 1
    return max(0, running - own)


def _own_running() -> int:
    """This process's threads in state R (runnable), at least 1 (the caller), from
    ``/proc/self/task/*/stat``; 1 where it cannot be read."""
    n = 0
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # the thread ended
        n += stat[stat.rfind(")") + 2:stat.rfind(")") + 3] == "R"  # the state follows the name
    return max(1, n)


def spare_cpus(loadavg: str | None = None) -> int:
    """Usable CPUs minus the other tasks runnable right now (at least 1).

    Where the load cannot be read, all usable CPUs count as spare (numba's own default). A
    reading of the file is reused for :data:`SPARE_TTL` seconds.

    Args:
        loadavg: the text of ``/proc/loadavg`` (read from the file when ``None``; a given text
            is neither cached nor read from the cache).

    Returns:
        The count, ``1 ..`` :func:`usable_cpus`.

    Raises:
        Nothing: an unreadable load counts every usable CPU as spare.

    Example:
        >>> spare_cpus("4.0 3.0 2.0 1/300 99") == usable_cpus()   # only the caller runs
        True
        >>> spare_cpus(f"4.0 3.0 2.0 {usable_cpus() + 1}/300 99")  # every CPU is taken
        1
    """
    if loadavg is None:
        now = time.monotonic()
        at, value = _SPARE
        if now - at < SPARE_TTL:
            return value
    cpus = usable_cpus()
    busy = others_running(loadavg)
    spare = cpus if busy is None else max(1, cpus - busy)
    if loadavg is None:
        _SPARE[:] = [now, spare]
    return spare


#: seconds :func:`spare_cpus` reuses its last reading of the load: two passes a training batch
#: asked every few milliseconds, and a reading that scans this process's threads costs about
#: 0.1 ms (35 ms an epoch of the MNIST-1D demo on two threads); the load it follows changes
#: more slowly
SPARE_TTL = 0.1
_SPARE: list = [-1e9, 1]


TRAIN_THREADS_ENV = "SPIKELUT_TRAIN_THREADS"
"""Environment variable: run the compiled training passes on exactly this many threads."""


def forced_train_threads(value: str | None = None) -> int | None:
    """The thread count ``SPIKELUT_TRAIN_THREADS`` forces on the compiled training passes
    (:func:`spikelut.train.kernels_cpu.pass_threads`), or ``None`` when it is unset or empty
    (the default rule, which follows the load, decides).

    Meant for measuring (two threads under load) and for machines whose ``/proc/loadavg``
    counts tasks that do not compete for these CPUs. numba's pool still caps the threads that
    actually run (``NUMBA_NUM_THREADS``); any count gives the same results.

    Args:
        value: the variable's text (read from the environment when ``None``).

    Returns:
        The forced count (an int >= 1), or ``None``.

    Raises:
        ConfigError: the value is not an integer >= 1.

    Example:
        >>> forced_train_threads("2"), forced_train_threads("")
        (2, None)
    """
    if value is None:
        value = os.environ.get(TRAIN_THREADS_ENV, "")
    if not value.strip():
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        from .errors import ConfigError

        raise ConfigError(f"{TRAIN_THREADS_ENV}={value!r} must be an integer >= 1 (threads of "
                          f"the compiled training passes), or unset for the default rule")
    return n


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """The environment variables ``values`` set inside the block, restored (or removed) after:
    for what reads them at the time (a spawned process copies the environment; the training
    passes read ``SPIKELUT_TRAIN_THREADS`` at each call).

    Args:
        **values: variable names and their values (strings).

    Returns:
        A context manager; the block's environment has ``values`` set.

    Raises:
        TypeError: a value that is not a string (``os.environ``'s), before anything is set.

    Example:
        >>> import os
        >>> with environment(SPIKELUT_TRAIN_THREADS="2"):
        ...     os.environ["SPIKELUT_TRAIN_THREADS"]
        '2'
        >>> "SPIKELUT_TRAIN_THREADS" in os.environ
        False
    """
    bad = [k for k, v in values.items() if not isinstance(v, str)]
    if bad:  # os.environ.update would have set the variables before this one
        raise TypeError(f"environment: {bad[0]} must be a string, got {values[bad[0]]!r}")
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_thread_count(threads: int, flag: str = "--threads") -> None:
    """Refuse a thread count below 1 or above numba's pool (``NUMBA_NUM_THREADS``, fixed when
    numba starts): a larger count would silently run with the pool's size.

    Args:
        threads: the count asked for (an int).
        flag: the option or key named in the message.

    Returns:
        ``None`` when the count can run.

    Raises:
        ConfigError: one line naming ``flag`` and what to do: not an integer (1.5 passed and
            reached numba; "2" was a TypeError), below 1, or above the pool.

    Example:
        >>> check_thread_count(0)
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: --threads must be >= 1, got 0
    """
    import numba
    import numpy as np

    from .errors import ConfigError

    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise ConfigError(f"{flag} must be an integer >= 1, got {threads!r}")
    if threads < 1:
        raise ConfigError(f"{flag} must be >= 1, got {threads}")
    top = numba.config.NUMBA_NUM_THREADS
    if threads > top:
        raise ConfigError(f"{flag} {threads} is more than numba's {top} thread"
                          f"{'' if top == 1 else 's'}; start with "
                          f"NUMBA_NUM_THREADS={threads} or ask for fewer")


@contextmanager
def numba_team(n: int) -> Iterator[None]:
    """numba's parallel regions run with ``n`` threads inside the block (at most numba's pool).

    A region's team waits at its end for every member, also one that got no work; on a busy
    machine such a member may wait a whole scheduler slice for a CPU. So a call that splits its
    work into fewer pieces than numba's count runs with a team of that size. The setting is
    numba's thread-local one (cheap) and is restored on the way out.

    Args:
        n: the team's size; clipped to ``1 .. NUMBA_NUM_THREADS``.

    Returns:
        A context manager.

    Raises:
        ValueError, TypeError: ``n`` is not a number (``int(n)``'s).

    Example:
        >>> import numba
        >>> before = numba.get_num_threads()
        >>> with numba_team(1):
        ...     numba.get_num_threads()
        1
        >>> numba.get_num_threads() == before
        True
    """
    import numba

    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(old)


class ThreadTuner:
    """Chooses by measurement between one thread and more for a compiled pass whose result is
    the same bits with any count (the training passes of :mod:`spikelut.train.kernels_cpu`).

    A fixed rule cannot say where a second thread starts to pay: on the AMD machine of earlier
    sessions the MNIST-1D demo's backward pass ran 1.5x faster on two threads, on the Intel
    machine that replaced it 0.75x (docs/threads.md). So each kind of pass (``key``: e.g. the
    pass, its network and batch size) is timed ``trials`` times with each candidate count,
    alternating in runs of ``run`` passes of which only the last is timed (a pass right after a
    switch finds its data in another core's cache, which a run on one count never does: with
    single passes the MNIST-1D demo's forward pass measured 3.4 ms on two threads against 2.0
    in a run), and then runs with the faster (lower median) until ``reprobe`` more passes have
    run, when it is measured again (the load may have changed). Where the rule allows one
    thread only, nothing is measured.

    Args:
        trials: timed passes per candidate count before choosing (>= 1).
        reprobe: passes run with the choice before measuring again (>= 0).
        run: passes in a row on one count, the last of them timed (>= 1).

    Raises:
        ValueError: an argument out of range (or not a number).

    ``choose(key, threads)`` returns the count for the next pass (1 or ``threads``);
    ``record(key, used, threads, seconds)`` reports how long it took.

    Example:
        >>> tuner = ThreadTuner(trials=2, reprobe=100)
        >>> for _ in range(4):                       # measuring: one thread 1 s, two 2 s
        ...     q = tuner.choose("pass", 2)
        ...     tuner.record("pass", q, 2, 1.0 if q == 1 else 2.0)
        >>> tuner.choose("pass", 2), tuner.choose("pass", 1)
        (1, 1)
    """

    def __init__(self, trials: int = 3, reprobe: int = 400, run: int = 1) -> None:
        self.trials, self.reprobe, self.run = int(trials), int(reprobe), int(run)
        if self.trials < 1:
            raise ValueError(f"ThreadTuner: trials = {trials} must be >= 1 (passes timed per count)")
        if self.run < 1:
            raise ValueError(f"ThreadTuner: run = {run} must be >= 1 (passes in a row per count)")
        if self.reprobe < 0:
            raise ValueError(f"ThreadTuner: reprobe = {reprobe} must be >= 0 (passes between "
                             f"measurements)")
        #: ``False``: :meth:`choose` gives the rule's count, unmeasured (tests of thread counts)
        self.enabled = True
        self._state: dict = {}
        # Python threads that train at once share the tuner: a choose that read "chosen" must
        # not return the None another thread's re-measurement has just put there
        self._lock = threading.Lock()

    def choose(self, key: object, threads: int) -> int:
        """The count to run the next pass of ``key`` with: ``1`` or ``threads`` (the rule's)."""
        if threads <= 1 or not self.enabled:
            return max(1, threads)
        with self._lock:
            return self._choose(key, threads)

    def _choose(self, key: object, threads: int) -> int:
        st = self._state.setdefault((key, threads), {1: [], threads: [], "best": None, "runs": 0,
                                                     "handed": 0, "n": {1: 0, threads: 0}})
        if st["best"] is not None:
            if st["runs"] < self.reprobe:
                st["runs"] += 1
                return st["best"]
            # measure again
            st["best"], st[1], st[threads], st["handed"] = None, [], [], 0
            st["n"] = {1: 0, threads: 0}
        h = st["handed"]
        st["handed"] = h + 1
        return 1 if (h // self.run) % 2 == 0 else threads

    def record(self, key: object, used: int, threads: int, seconds: float) -> None:
        """The pass of ``key`` for which :meth:`choose` was asked about ``threads`` ran on
        ``used`` threads and took ``seconds``."""
        with self._lock:
            self._record(key, used, threads, seconds)

    def _record(self, key: object, used: int, threads: int, seconds: float) -> None:
        st = self._state.get((key, threads))
        if st is None or st["best"] is not None or used not in st:
            return
        st["n"][used] += 1
        if st["n"][used] % self.run:
            return  # not the last of its run: the first passes after a switch are not timed
        st[used].append(float(seconds))
        if min(len(st[1]), len(st[threads])) >= self.trials:
            m1, mq = statistics.median(st[1]), statistics.median(st[threads])
            st["best"], st["runs"] = (1 if m1 <= mq else threads), 0


__all__ = ["TRAIN_THREADS_ENV", "ThreadTuner", "WAIT_POLICY", "configure", "environment",
           "check_thread_count", "forced_train_threads", "numba_team",
           "others_running", "spare_cpus", "usable_cpus"]
