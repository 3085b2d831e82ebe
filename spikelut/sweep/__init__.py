"""`spikelut sweep`: search run configs with Optuna, one laptop or many machines sharing one study.

A *space file* (TOML) names a base run config (the file ``spikelut run`` reads), fixed overrides,
the keys to search and the objectives::

    base = "run_patterns.toml"           # relative to the space file
    [sweep]
    objectives = ["val_acc", "luts"]     # val_acc (maximize), luts, flip_flops (minimize)
    trials = 8                           # default of --trials
    seed = 0
    [set]                                # dotted keys set in every trial
    "train.epochs" = 3
    [params]                             # dotted keys searched
    "train.lr" = { low = 0.003, high = 0.1, log = true }
    "layers.0.nodes" = { low = 16, high = 128, step = 16 }
    "layers.0.k" = { choices = [4, 5, 6] }

Each trial builds the run config, encodes the training split, holds out ``[data] val_fraction``
of it (never the test split), trains with a per-epoch report to the pruner, and scores the kept
model on the validation samples with the simulator. At the end of every command the front (the
Pareto front, or the best trial for one objective) is compiled to Verilog and co-simulated, and
``DIR/report.html`` / ``DIR/report.json`` are written. The study lives in ``DIR/study.db``
(SQLite) unless ``storage`` names another database, so a rerun continues it.

Example:
    >>> from spikelut.sweep import run_sweep
    >>> rep = run_sweep("demos/sweep_mnist1d.toml", "sweep-out", trials=8, workers=2)  # doctest: +SKIP
    >>> [(t["number"], t["val_acc"], t["luts"]) for t in rep["front"]]                   # doctest: +SKIP

Modules: :mod:`.space` (space files), :mod:`.trial` (one trial), :mod:`.storage` (Optuna
storages, dead trials), :mod:`.workers` (objective, worker processes), :mod:`.report` (front
verification, report), :mod:`.run` (:func:`run_sweep`).
"""

from .deps import INSTALL_HINT, require_optuna
from .run import run_sweep
from .space import OBJECTIVES, Param, SweepSpace, load_space, set_dotted
from .storage import mask_url
from .tomlwrite import dump_toml
from .trial import run_trial

__all__ = ["INSTALL_HINT", "OBJECTIVES", "Param", "SweepSpace", "dump_toml", "load_space",
           "mask_url", "require_optuna", "run_sweep", "run_trial", "set_dotted"]
