"""``run_sweep``: the whole command (open or continue the study, run trials, report)."""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

from ..errors import ConfigError, OutputError, SpikelutError
from ..escape import terminal
from ..fileutil import check_output, write_text_atomic
from ..threads import check_thread_count, numba_team, usable_cpus
from .deps import require_optuna
from .report import build_report
from .space import load_space
from .storage import fail_dead_trials, mask_url, open_study
from .workers import Interrupts, Objective, quiet_optuna, run_trials, run_workers, stderr_line


# ---------------------------------------------------------------------------- the directory
#: written in every output directory a sweep uses: a rerun recognises the directory as its own
MARKER = "spikelut-sweep.json"
#: what a sweep writes in its directory (an input there must not be one of them)
SWEEP_OUTPUTS = ("study.db", "study.db-journal", "study.db-wal", "study.db-shm", "trials", "front",
                 "front.png", "report.json", "report.html", MARKER)
_SQLITE_MAGIC = b"SQLite format 3\x00"
#: most trials one command adds (the spawned workers count them down in a shared C int)
MAX_TRIALS = 2**31 - 1
#: worker processes one command may start per CPU it can run on: a worker trains on one core
#: (one numba thread by default), so more than a few per CPU only time-slice while each spawned
#: Python process holds its own memory (500 of them exhausted a machine)
WORKERS_PER_CPU = 4
#: ... but never fewer than this, so the commands of docs/sweep.md (``--workers 8``) run
#: on any machine
MIN_WORKER_BOUND = 8


def max_workers() -> int:
    """Most worker processes one sweep command starts on this machine:
    :data:`WORKERS_PER_CPU` per usable CPU (:func:`spikelut.threads.usable_cpus`), at least
    :data:`MIN_WORKER_BOUND`. More processes belong on more machines sharing one ``--storage``.

    Example:
        >>> max_workers() >= MIN_WORKER_BOUND
        True
    """
    return max(MIN_WORKER_BOUND, WORKERS_PER_CPU * usable_cpus())


def _written_by_sweep(out: Path) -> bool:
    """``out`` holds a sweep: its marker, or (a directory of a spikelut before the marker) the
    study's SQLite file or a report.json with a sweep report's keys."""
    if (out / MARKER).is_file():
        return True
    try:
        with open(out / "study.db", "rb") as f:
            if f.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC:
                return True
    except OSError:
        pass
    try:
        import json

        rep = json.loads((out / "report.json").read_text())
        return isinstance(rep, dict) and {"study", "storage", "front", "trials"} <= set(rep)
    except (OSError, ValueError, RecursionError):
        return False


def _recorded_study(out: Path) -> str | None:
    """The study name an earlier sweep recorded in ``out`` (its marker, else the report of a
    sweep from before the marker); None when neither names one."""
    import json

    for name in (MARKER, "report.json"):
        try:
            rec = json.loads((out / name).read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue
        if isinstance(rec, dict) and isinstance(rec.get("study"), str):
            return rec["study"]
    return None


def check_sweep_dir(out: Path, inputs: list, force: bool, study: str | None = None) -> None:
    """Refuse, before any file is made, an output directory a sweep must not write into: one
    that cannot be written, a non-empty one that no sweep wrote (without ``force``; a rerun on
    the sweep's own directory continues the study), one that holds another study's sweep
    (``study`` differs from the name recorded there: its ``trials/NNNNN`` would be overwritten;
    also with ``force``), or one that holds an input (the space file or its base config) under
    a name the sweep writes (also with ``force``: an input is never overwritten).

    Raises:
        OutputError: one line naming the directory (and the input) and what to do.
    """
    check_output(out, inputs=inputs, kind="dir", force=force, lock=False)
    if out.is_dir() and not force and any(out.iterdir()) and not _written_by_sweep(out):
        raise OutputError(f"{out}: directory exists and was not written by "
                          f"'spikelut sweep' (no {MARKER}); choose a new directory, empty it, "
                          f"or pass --force")
    if not out.is_dir():
        return
    recorded = _recorded_study(out) if study is not None else None
    if recorded is not None and recorded != study:
        raise OutputError(f"{out}: holds the sweep of study {terminal(repr(recorded))}, and "
                          f"study {terminal(repr(study))} would overwrite its trials; choose "
                          f"another output directory (or give [sweep] study = "
                          f"{terminal(repr(recorded))} to continue that study)")
    root = out.resolve()
    for q in inputs:
        r = Path(q).resolve()
        if root in r.parents and r.relative_to(root).parts[0] in SWEEP_OUTPUTS:
            raise OutputError(f"{q}: is an input and lies in the output directory {out}, where "
                              f"the sweep writes {r.relative_to(root).parts[0]}; move it out of "
                              f"{out} or choose another output directory")


# ---------------------------------------------------------------------------- the command
def run_sweep(space_path: str | os.PathLike, outdir: str | os.PathLike, trials: int | None = None,
              workers: int = 1, storage: str | None = None, seed: int | None = None,
              threads: int | None = None, echo: Callable[[str], None] | None = None,
              force: bool = False) -> dict:
    """Run (or continue) the study of a space file, verify its front, write the report.

    Args:
        space_path: the space file (TOML, see the module docstring).
        outdir: output directory: ``study.db`` (default storage), ``trials/NNNNN/`` (config,
            log, model per trial run here), ``front/NNNNN/rtl`` and ``report.html`` / ``.json``.
        trials: trials this command adds (default ``[sweep] trials``); 0 only verifies and reports.
        workers: worker processes on this machine (spawned; 1 = in this process); at most
            :func:`max_workers`.
        storage: an Optuna RDB URL (``postgresql://user:pw@host/db``) shared by many machines;
            default ``sqlite:///OUTDIR/study.db``.
        seed: sampler seed (default ``[sweep] seed``); worker i uses ``seed + i``. Give every
            machine sharing a study its own seed.
        threads: numba threads per worker (default 1 with several workers, else numba's default).
        echo: where progress lines go (default stderr).
        force: write into a non-empty directory that no sweep wrote (the sweep's files are
            written there, the other files are left alone); an input there under a name the
            sweep writes is refused even so.

    Returns:
        The report dict (also ``OUTDIR/report.json``): study, storage (password masked),
        objectives, trial counts by state, ``front`` (trials with params, values, config and the
        verified circuit), ``importances`` and the report path.

    Raises:
        ToolError: Optuna (or the database driver) is not installed.
        ConfigError: a bad space file, run config or storage, or more ``workers`` than
            :func:`max_workers`.
        OutputError: ``outdir`` cannot be written, or is a directory no sweep wrote (without
            ``force``), or holds another study's sweep, or an input under a name the sweep
            writes.
        KeyboardInterrupt: after Ctrl-C, once the workers stopped and their trials are failed.

    Example:
        >>> rep = run_sweep("demos/sweep_mnist1d.toml", "out", trials=4, workers=2)  # doctest: +SKIP
        >>> rep["trials"]["COMPLETE"]                                                  # doctest: +SKIP
        4
    """
    require_optuna()
    echo = echo or stderr_line
    space = load_space(space_path)
    out = Path(outdir)
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers!r}")
    top_workers = max_workers()
    if workers > top_workers:  # before any file or process (500 were started, one per trial)
        cpus = usable_cpus()
        raise ConfigError(f"--workers {workers} is more than this machine can run: at most "
                          f"{top_workers} ({WORKERS_PER_CPU} per CPU, {cpus} CPU"
                          f"{'' if cpus == 1 else 's'}); ask for fewer, or start the command on "
                          f"more machines with one shared --storage (docs/sweep.md)")
    n = space.trials if trials is None else trials
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ConfigError(f"--trials must be >= 0, got {n!r}")
    if n > MAX_TRIALS:  # the workers share the count as a C int: 3e9 wrapped to "none left"
        raise ConfigError(f"{'--trials' if trials is not None else f'{space_path}: [sweep] trials'} "
                          f"must be at most {MAX_TRIALS}, got {n}")
    # checked before any file is made (Optuna's own message named no flag, after study.db)
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ConfigError(f"--seed must be an integer >= 0, got {seed!r}")
    if storage is not None and (not isinstance(storage, str) or not storage.strip()):
        # an empty URL silently meant the default SQLite file in OUTDIR
        raise ConfigError(f"--storage must be a database URL such as "
                          f"postgresql://user@host/db, got {storage!r}; leave it out for "
                          f"OUTDIR/study.db")
    where = "--seed" if seed is not None else f"{space_path}: [sweep] seed"
    seed = space.seed if seed is None else seed
    workers = max(1, min(workers, n))  # no idle processes
    if threads is not None:  # before any file is made (0 ran silently on one thread)
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError(f"--threads must be an integer >= 1, got {threads!r}")
        if workers == 1 and n:  # the trials run in this process, whose numba pool is fixed:
            check_thread_count(threads)  # a larger count silently ran on the pool's size
    top = 2**32 - workers  # worker i samples with seed + i; Optuna takes seeds below 2**32
    if seed > top:
        raise ConfigError(f"{where} must be at most {top} with {workers} worker(s) (worker i "
                          f"samples with seed + i), got {seed}")
    check_sweep_dir(out, [space.path, space.base_path], force, space.study)
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    marker = out / MARKER
    if not marker.exists():  # a rerun recognises the directory by it (check_sweep_dir)
        import json

        write_text_atomic(marker, json.dumps({"written_by": "spikelut sweep",
                                              "space": str(space.path), "study": space.study}) + "\n")
    url = storage or f"sqlite:///{out.resolve() / 'study.db'}"
    quiet_optuna()
    # installed for the whole command, not only around the trials: outside a trial Ctrl-C
    # raises at once (allowed), and one swallowed where Python ignores exceptions ("Exception
    # ignored in ...": a finalizer that runs while the report is built) stays pending and still
    # stops the command at the end of the block
    irq = Interrupts().install()
    try:
        with irq.allowed():  # no trial runs yet (a database that does not answer: stop at once)
            try:
                study = open_study(space, url, seed, create=True)
            except BaseException:
                if made and {e.name for e in out.iterdir()} <= {MARKER}:
                    marker.unlink(missing_ok=True)  # a study that never opened leaves nothing
                    out.rmdir()
                raise
            fail_dead_trials(study, echo)
            done = len(study.get_trials(deepcopy=False))
            echo(f"study {terminal(repr(space.study))} in {terminal(mask_url(url))}: {done} "
                 f"trials so far; running {n} more on {workers} worker(s)")
        errors = 0
        if n and workers == 1:
            left = [n]

            def claim() -> bool:
                left[0] -= 1
                return left[0] >= 0

            # numba's count for the trials, the caller's again afterwards (an API call must not
            # change the thread count of the process that made it)
            with numba_team(threads) if threads is not None else nullcontext():
                run_trials(study, Objective(space, out, echo=echo, interrupts=irq), claim)
        elif n:
            with irq.allowed():  # the parent only waits for its workers: Ctrl-C stops it at once
                errors = run_workers(space, study, out, url, n, workers, seed,
                                     1 if threads is None else threads, echo)
        with irq.allowed():  # verifying the front can take minutes: Ctrl-C stops it at once
            fail_dead_trials(study, echo)
            report = build_report(study, space, out, url, echo)
    finally:
        irq.uninstall()
    if errors:
        raise SpikelutError(f"{errors} worker(s) stopped with an error (see above); the report "
                            f"of the finished trials is in {out / 'report.html'}")
    return report
