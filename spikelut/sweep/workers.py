"""The objective Optuna calls, and the worker processes that run trials on this machine."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..errors import SpikelutError
from ..escape import terminal
from ..threads import environment
from .deps import require_optuna
from .space import SweepSpace, load_space
from .storage import fail_trial, open_study
from .trial import chance_level, run_trial

if TYPE_CHECKING:
    import optuna


# ---------------------------------------------------------------------------- Ctrl-C
class Interrupts:
    """Ctrl-C (SIGINT) that stops a trial while it trains, never inside a database call.

    Python raises KeyboardInterrupt wherever the main thread is; inside an Optuna storage call
    that can leave a transaction open while the trial's heartbeat thread waits for the same
    database, and the process hangs instead of exiting. With :meth:`install`, SIGINT raises at
    once inside :meth:`allowed` (training) and is held elsewhere until the next
    :meth:`allowed` or :meth:`check`.

    Example:
        >>> irq = Interrupts()
        >>> with irq.allowed():
        ...     pass
        >>> irq.pending
        False
    """

    def __init__(self) -> None:
        self.safe = False
        self.pending = False
        self._old: Any = None

    def install(self) -> "Interrupts":
        try:
            self._old = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread: leave Python's default behaviour
            self._old = None
        return self

    def uninstall(self) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None

    def _handler(self, signum: int, frame: Any) -> None:
        # pending stays set until the KeyboardInterrupt is seen to arrive: one raised inside a
        # C callback (numba, llvmlite, h5py) can be swallowed ("Exception ignored in ..."), and
        # the next check() must still stop the work
        self.pending = True
        if self.safe:
            self.safe = False
            raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was held."""
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    @contextmanager
    def allowed(self) -> Iterator[None]:
        """Ctrl-C raises at once in here."""
        self.check()
        self.safe = True
        try:
            yield
        except KeyboardInterrupt:
            self.pending = False  # delivered
            raise
        finally:
            self.safe = False
        self.check()  # an interrupt swallowed inside the block still stops here

    @contextmanager
    def held(self) -> Iterator[None]:
        """Ctrl-C waits in here (inside :meth:`allowed`: until the block ends)."""
        was, self.safe = self.safe, False
        try:
            yield
        finally:
            self.safe = was
            if was:
                self.check()


# ---------------------------------------------------------------------------- objective
class Objective:
    """What Optuna calls per trial: draw the parameters, build the run config, train it with the
    pruner watching every epoch, and keep the numbers as the trial's user attributes (``val_acc``,
    ``luts``, ``flip_flops``, ``curve``, ..., plus ``pid`` and ``host`` of the worker, so a dead
    worker's trial can be found).

    Args:
        space: the parsed space file.
        outdir: the command's output directory (trial files go to ``trials/NNNNN``).
        slot: this worker's index; ``current[slot]`` holds the running trial's storage id so the
            parent can fail it if the worker dies.
        current: a shared ``multiprocessing`` int array, or None in the command's own process.
        echo: where progress lines go (default stderr).
        interrupts: the installed :class:`Interrupts` of this process, if any.
    """

    def __init__(self, space: SweepSpace, outdir: Path, slot: int = 0, current: Any = None,
                 echo: Callable[[str], None] | None = None,
                 interrupts: Interrupts | None = None) -> None:
        self.space, self.out, self.slot, self.current = space, outdir, slot, current
        self.echo = echo or stderr_line
        self.interrupts = interrupts or Interrupts()  # not installed: Python's default Ctrl-C

    def __call__(self, trial: "optuna.Trial") -> float | tuple[float, ...]:
        optuna = require_optuna()
        if self.current is not None:
            self.current[self.slot] = trial._trial_id
        # host before pid (two database writes): a process killed between them must not leave a
        # trial with a pid and no host, which fail_dead_trials cannot tell from another
        # machine's; with no pid yet, the stale heartbeat fails it
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        values = {p.key: p.suggest(trial) for p in self.space.params}
        earlier = self._same_params(trial)
        if earlier is not None:  # training is seeded: the same parameters give the same result
            return self._repeat(trial, earlier)
        cfg = self.space.config_for(values)
        chance = chance_level(cfg) if self.space.pruner == "chance" else 0.0
        single = len(self.space.objectives) == 1
        curve: list[float] = []

        def on_epoch(epoch: int, acc: float) -> None:
            self.interrupts.check()  # a Ctrl-C swallowed by a C callback stops the trial here
            curve.append(acc)
            if self.space.pruner == "median":
                with self.interrupts.held():  # database calls
                    trial.report(acc, epoch)
                    prune = trial.should_prune()
                if prune:
                    raise optuna.TrialPruned(f"val_acc {acc:.4f} after epoch {epoch} is below the "
                                             f"median of earlier trials")
            elif (self.space.pruner == "chance" and epoch >= self.space.prune_after
                  and acc <= chance + 1e-9):
                raise optuna.TrialPruned(f"val_acc {acc:.4f} after epoch {epoch} is not above "
                                         f"chance ({chance:.4f})")

        try:
            with self.interrupts.allowed():
                r, _net = run_trial(cfg, self.out / "trials" / f"{trial.number:05d}", on_epoch)
        except optuna.TrialPruned as e:
            trial.set_user_attr("curve", curve)
            self.echo(f"trial {trial.number}: pruned: {e}")
            raise
        except KeyboardInterrupt:
            with self.interrupts.held():
                trial.set_user_attr("failure", "interrupted (Ctrl-C)")
            raise
        except SpikelutError as e:
            trial.set_user_attr("failure", str(e))
            self.echo(f"trial {trial.number}: failed: {terminal(str(e))}")
            raise
        for k in ("val_acc", "luts", "flip_flops", "epochs", "kept_epoch", "curve", "seconds"):
            trial.set_user_attr(k, r[k])
        self.echo(f"trial {trial.number}: val_acc {r['val_acc']:.4f}, {r['luts']} LUTs, "
                  f"{r['flip_flops']} flip-flops, {r['epochs']} epochs ({r['seconds']:.1f} s)")
        vals = tuple(float(r[o]) for o in self.space.objectives)
        return vals[0] if single else vals


    def _same_params(self, trial: "optuna.Trial") -> Any:
        optuna = require_optuna()
        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        for t in trial.study.get_trials(deepcopy=False, states=states):
            if t.params == trial.params and t.number != trial.number:
                return t
        return None

    def _repeat(self, trial: "optuna.Trial", earlier: Any) -> float | tuple[float, ...]:
        """Give ``trial`` the result of ``earlier``, a finished trial with the same parameters
        (samplers such as NSGA-II propose repeats in small spaces)."""
        optuna = require_optuna()
        trial.set_user_attr("duplicate_of", earlier.number)
        for k, v in earlier.user_attrs.items():
            if k in ("val_acc", "luts", "flip_flops", "epochs", "kept_epoch", "curve", "seconds"):
                trial.set_user_attr(k, v)
        if earlier.state == optuna.trial.TrialState.PRUNED:
            self.echo(f"trial {trial.number}: pruned: same parameters as trial {earlier.number}, "
                      f"which was pruned")
            raise optuna.TrialPruned(f"same parameters as trial {earlier.number}")
        self.echo(f"trial {trial.number}: same parameters as trial {earlier.number}: its result "
                  f"reused (val_acc {earlier.user_attrs.get('val_acc', float('nan')):.4f})")
        vals = tuple(earlier.values)
        return vals[0] if len(vals) == 1 else vals


def stderr_line(line: str) -> None:
    """Print one progress line on stderr at once (workers' lines interleave by line), escaped
    for the terminal: lines name files, trials' errors and values read from a shared database
    (escaping is idempotent, so parts escaped already stay as they are)."""
    print(terminal(line), file=sys.stderr, flush=True)


def quiet_optuna() -> None:
    """Leave progress to spikelut's lines: Optuna logs errors only, no experimental warnings."""
    optuna = require_optuna()
    # spikelut prints one line per trial; Optuna's own lines (with tracebacks of failed trials)
    # would bury them
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    import warnings

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def run_trials(study: Any, objective: Objective, claim: Callable[[], bool]) -> None:
    """Run one trial at a time while ``claim()`` grants one; a trial failing with a
    :class:`SpikelutError` (a bad config inside the space) is marked failed and the loop goes on."""
    optuna = require_optuna()
    while True:
        objective.interrupts.check()
        if not claim():
            break
        try:
            study.optimize(objective, n_trials=1, catch=(SpikelutError,))
        except optuna.exceptions.UpdateFinishedTrialError:
            # another worker found this trial's heartbeat stale and failed it; its result is lost
            # but the study goes on
            objective.echo("a trial finished after another worker had marked it failed (its "
                           "heartbeat was late); [sweep] heartbeat may be too short for this machine")
        if objective.current is not None:
            objective.current[objective.slot] = -1


def _worker_main(slot: int, space_path: str, outdir: str, url: str, seed: int, threads: int,
                 remaining: Any, current: Any) -> None:
    """Entry point of a spawned worker: claim trials from ``remaining`` until none are left."""
    irq = Interrupts().install()
    try:
        try:
            import numba

            numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        except ImportError:
            pass
        quiet_optuna()
        space = load_space(space_path)
        study = open_study(space, url, seed + slot)

        def claim() -> bool:
            with remaining.get_lock():
                if remaining.value <= 0:
                    return False
                remaining.value -= 1
                return True

        run_trials(study, Objective(space, Path(outdir), slot, current, interrupts=irq), claim)
    except KeyboardInterrupt:
        sys.exit(130)
    except SpikelutError as e:
        stderr_line(f"spikelut sweep: worker {slot}: error: {terminal(str(e))}")
        sys.exit(1)


def _signal_name(code: int) -> str:
    try:
        return f"signal {-code} ({signal.Signals(-code).name})"
    except ValueError:
        return f"signal {-code}"


def run_workers(space: SweepSpace, study: Any, out: Path, url: str, n: int, workers: int,
                seed: int, threads: int, echo: Callable[[str], None]) -> int:
    """Run ``n`` trials on ``workers`` spawned processes; return the number of workers that
    stopped with an error. A worker killed by a signal has its trial failed and is replaced."""
    ctx = mp.get_context("spawn")
    remaining = ctx.Value("i", n)
    current = ctx.Array("i", [-1] * workers)
    procs: dict[int, Any] = {}
    thread_env = {k: str(threads) for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
                                            "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}

    def start(slot: int) -> None:
        current[slot] = -1
        p = ctx.Process(target=_worker_main, name=f"spikelut-sweep-{slot}",
                        args=(slot, str(space.path), str(out), url, seed, threads, remaining, current))
        with environment(**thread_env):  # spawn copies the environment: numba reads it at import
            p.start()
        procs[slot] = p

    errors, respawns = 0, 0
    try:
        for slot in range(workers):
            start(slot)
        while procs:
            for slot, p in list(procs.items()):
                if p.is_alive():
                    continue
                p.join()
                del procs[slot]
                code = p.exitcode
                tid = current[slot]
                if code == 0:
                    continue
                if code is not None and code < 0:
                    why = f"worker {slot} (pid {p.pid}) was killed by {_signal_name(code)}"
                    if tid >= 0 and fail_trial(study, tid, why):
                        echo(f"trial {study._storage.get_trial(tid).number}: {why}; marked failed")
                    else:
                        echo(why)
                    if remaining.value > 0 and respawns < n:
                        respawns += 1
                        start(slot)
                else:
                    errors += 1
                    if tid >= 0:
                        fail_trial(study, tid, f"worker {slot} (pid {p.pid}) stopped with exit "
                                               f"code {code}")
            time.sleep(0.1)
    except KeyboardInterrupt:
        for p in procs.values():
            if p.is_alive():
                try:
                    os.kill(p.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 20
        for slot, p in procs.items():
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.terminate()
                p.join(5)
            if current[slot] >= 0:
                fail_trial(study, current[slot], "interrupted (Ctrl-C)")
        raise
    return errors
