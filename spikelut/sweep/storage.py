"""Optuna storages (SQLite in the output directory, or a shared database) and dead trials."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import ConfigError, ToolError
from .deps import INSTALL_HINT, require_optuna
from .space import SweepSpace

if TYPE_CHECKING:
    import optuna


# ---------------------------------------------------------------------------- storage
def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs and reports).

    Args:
        url: a storage URL (``sqlite:///...``, ``postgresql://user:password@host/db``).

    Returns:
        The URL with the text between ``user:`` and ``@`` masked; unchanged without a password.

    Example:
        >>> mask_url("postgresql://ann:secret@db.lab:5432/sweeps")
        'postgresql://ann:***@db.lab:5432/sweeps'
    """
    return re.sub(r"^([a-zA-Z0-9+.-]+://[^:/@]*):[^@]*@", r"\1:***@", url)


def _with_driver(url: str) -> str:
    """``postgresql://`` with the PostgreSQL driver that is installed (psycopg 3, else psycopg2):
    SQLAlchemy's default driver changed between versions, the user's URL should not have to."""
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    for module, dialect in (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return dialect + url[len("postgresql"):]
    return url


def open_storage(url: str, heartbeat: int) -> "optuna.storages.RDBStorage":
    """An Optuna RDB storage with heartbeats (a dead worker's trial is failed after 6 missed beats).

    Raises:
        ToolError: the database driver is not installed.
        ConfigError: the URL is malformed or the database cannot be reached.
    """
    optuna = require_optuna()
    from sqlalchemy.exc import SQLAlchemyError  # installed with optuna

    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": 120}}  # workers take turns writing the file
    try:
        return optuna.storages.RDBStorage(_with_driver(url), engine_kwargs=kwargs,
                                          heartbeat_interval=heartbeat, grace_period=6 * heartbeat)
    except ImportError as e:
        cause = e.__cause__ if isinstance(e.__cause__, ImportError) else e
        raise ToolError(f"storage {mask_url(url)}: the database driver "
                        f"{getattr(cause, 'name', None) or 'for this URL'} is not installed: "
                        f"{INSTALL_HINT} (PostgreSQL: psycopg)") from None
    except (SQLAlchemyError, ValueError) as e:  # bad URL, unreachable server, bad password
        raise ConfigError(f"storage {mask_url(url)}: cannot open: {_first_line(e, url)}") from None


def _first_line(e: BaseException, url: str) -> str:
    """The first line of an error's message, with the URL's password (if any) masked."""
    text = str(e).strip()
    line = text.splitlines()[0] if text else type(e).__name__
    m = re.match(r"^[a-zA-Z0-9+.-]+://[^:/@]*:([^@]*)@", url)
    return line.replace(m.group(1), "***") if m and m.group(1) else line


def _sampler(space: SweepSpace, seed: int) -> Any:
    optuna = require_optuna()
    if len(space.objectives) > 1:
        return optuna.samplers.NSGAIISampler(population_size=space.population, seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _pruner(space: SweepSpace) -> Any:
    optuna = require_optuna()
    if space.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=space.prune_after - 1)
    return optuna.pruners.NopPruner()


def open_study(space: SweepSpace, url: str, seed: int, create: bool = False) -> Any:
    """Load the space's study from ``url`` with a seeded sampler and the space's pruner;
    ``create`` makes it when missing (load_if_exists) and checks that an existing one has the
    space's objectives.

    Raises:
        ConfigError: the storage cannot be opened, or the study optimizes other objectives.
    """
    optuna = require_optuna()
    from sqlalchemy.exc import SQLAlchemyError
    storage = open_storage(url, space.heartbeat)
    if create:
        try:
            study = optuna.create_study(storage=storage, study_name=space.study,
                                        directions=space.directions, load_if_exists=True,
                                        sampler=_sampler(space, seed), pruner=_pruner(space))
        except (SQLAlchemyError, ValueError) as e:
            raise ConfigError(f"storage {mask_url(url)}: cannot create study {space.study!r}: "
                              f"{_first_line(e, url)}") from None
        have = [d.name.lower() for d in study.directions]
        if have != space.directions:
            raise ConfigError(f"study {space.study!r} in {mask_url(url)} has directions {have}, but "
                              f"{space.path} asks for {space.objectives} ({space.directions}); "
                              f"use another [sweep] study name or output directory")
        objs = study.user_attrs.get("objectives")
        if objs is None:
            study.set_user_attr("objectives", space.objectives)
        elif objs != space.objectives:
            raise ConfigError(f"study {space.study!r} in {mask_url(url)} optimizes {objs}, but "
                              f"{space.path} asks for {space.objectives}; use another [sweep] study")
        # a trial's config is base + [set] + its parameters: with either changed, the study's
        # earlier results (reused for repeated parameters, reported with today's configs,
        # retrained with them to verify the front) would belong to other configs
        have_fp = study.user_attrs.get("config_fingerprints")
        want_fp = space.fingerprints()
        if not isinstance(have_fp, dict):  # a new study (or one from before the fingerprint)
            study.set_user_attr("config_fingerprints", want_fp)
        else:
            changed = [what for key, what in (("base", f"the base config ({space.base_path})"),
                                              ("set", "the [set] table"))
                       if have_fp.get(key) != want_fp[key]]
            if changed:
                raise ConfigError(f"study {space.study!r} in {mask_url(url)} was run with other "
                                  f"trial configs: {' and '.join(changed)} of {space.path} "
                                  f"changed since, and its earlier results would be reused and "
                                  f"reported for the new configs; undo the change, or give "
                                  f"[sweep] study a new name (and a new output directory)")
        return study
    return optuna.load_study(study_name=space.study, storage=storage,
                             sampler=_sampler(space, seed), pruner=_pruner(space))


def fail_trial(study: Any, trial_id: int, reason: str) -> bool:
    """Mark a RUNNING trial FAIL with ``reason`` (False when it already finished)."""
    optuna = require_optuna()
    storage = study._storage
    try:
        if storage.get_trial(trial_id).state != optuna.trial.TrialState.RUNNING:
            return False
        storage.set_trial_user_attr(trial_id, "failure", reason)
        return bool(storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def fail_dead_trials(study: Any, echo: Callable[[str], None]) -> list[int]:
    """Fail RUNNING trials whose worker is gone: stale heartbeats (any machine) and, on this host,
    trials whose worker process no longer exists. Returns the failed trial numbers."""
    optuna = require_optuna()
    host = socket.gethostname()
    failed = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        pid = t.user_attrs.get("pid")
        if t.user_attrs.get("host") == host and isinstance(pid, int) and not _alive(pid):
            if fail_trial(study, t._trial_id, f"worker process {pid} on {host} is gone"):
                failed.append(t.number)
    before = {t.number for t in study.get_trials(deepcopy=False,
                                                 states=(optuna.trial.TrialState.FAIL,))}
    optuna.storages.fail_stale_trials(study)
    after = {t.number for t in study.get_trials(deepcopy=False,
                                                states=(optuna.trial.TrialState.FAIL,))}
    failed += sorted(after - before)
    for n in failed:
        echo(f"trial {n}: its worker died; marked failed")
    return failed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited child not yet reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return True
