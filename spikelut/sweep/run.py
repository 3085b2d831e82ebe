"""``run_sweep``: the whole command (open or continue the study, run trials, report)."""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

from ..errors import ConfigError, SpikelutError
from ..escape import terminal
from ..threads import numba_team
from .deps import require_optuna
from .report import build_report
from .space import load_space
from .storage import fail_dead_trials, mask_url, open_study
from .workers import Interrupts, Objective, quiet_optuna, run_trials, run_workers, stderr_line


# ---------------------------------------------------------------------------- the command
def run_sweep(space_path: str | os.PathLike, outdir: str | os.PathLike, trials: int | None = None,
              workers: int = 1, storage: str | None = None, seed: int | None = None,
              threads: int | None = None, echo: Callable[[str], None] | None = None) -> dict:
    """Run (or continue) the study of a space file, verify its front, write the report.

    Args:
        space_path: the space file (TOML, see the module docstring).
        outdir: output directory: ``study.db`` (default storage), ``trials/NNNNN/`` (config,
            log, model per trial run here), ``front/NNNNN/rtl`` and ``report.html`` / ``.json``.
        trials: trials this command adds (default ``[sweep] trials``); 0 only verifies and reports.
        workers: worker processes on this machine (spawned; 1 = in this process).
        storage: an Optuna RDB URL (``postgresql://user:pw@host/db``) shared by many machines;
            default ``sqlite:///OUTDIR/study.db``.
        seed: sampler seed (default ``[sweep] seed``); worker i uses ``seed + i``. Give every
            machine sharing a study its own seed.
        threads: numba threads per worker (default 1 with several workers, else numba's default).
        echo: where progress lines go (default stderr).

    Returns:
        The report dict (also ``OUTDIR/report.json``): study, storage (password masked),
        objectives, trial counts by state, ``front`` (trials with params, values, config and the
        verified circuit), ``importances`` and the report path.

    Raises:
        ToolError: Optuna (or the database driver) is not installed.
        ConfigError: a bad space file, run config, output directory or storage.
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
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory")
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers!r}")
    n = space.trials if trials is None else trials
    if not isinstance(n, int) or n < 0:
        raise ConfigError(f"--trials must be >= 0, got {n!r}")
    # checked before any file is made (Optuna's own message named no flag, after study.db)
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ConfigError(f"--seed must be an integer >= 0, got {seed!r}")
    where = "--seed" if seed is not None else f"{space_path}: [sweep] seed"
    seed = space.seed if seed is None else seed
    workers = max(1, min(workers, n))  # no idle processes
    top = 2**32 - workers  # worker i samples with seed + i; Optuna takes seeds below 2**32
    if seed > top:
        raise ConfigError(f"{where} must be at most {top} with {workers} worker(s) (worker i "
                          f"samples with seed + i), got {seed}")
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
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
                if made and not any(out.iterdir()):  # a study that never opened leaves nothing
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
