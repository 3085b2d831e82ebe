"""The ``[train]`` table of a config: parsed and fully validated before any training starts.

Every key, its type, range and default is listed in :data:`FIELDS`; unknown keys and bad values
raise :class:`~spikelut.errors.ConfigError` naming the key and what is allowed.

Example:
    >>> cfg = TrainConfig.from_dict({"epochs": 3, "lr": 0.02, "loss": "ce"})
    >>> cfg.epochs, cfg.lr, cfg.surrogate, cfg.batch_size
    (3, 0.02, 'fast_sigmoid', 50)
    >>> TrainConfig.from_dict({"lr": -1})
    Traceback (most recent call last):
    ...
    spikelut.errors.ConfigError: [train]: lr must be > 0, got -1
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import ConfigError
from ..limits import MAX_CYCLES
from .bptt import REFRACTORY_GRAD, TAP_GRAD
from .losses import ALIASES as LOSS_ALIASES
from .losses import LOSSES
from .optim import OPTIMIZERS, SCHEDULES
from ..analog import MAX_BITS as ANALOG_MAX_BITS
from .passes import BACKENDS, FORWARDS, KERNELS_ALIASES
from .relax import ALIASES as RELAX_ALIASES
from .relax import RELAXATIONS, get_relaxation
from .surrogates import get_surrogate

FLOAT32_MAX = 3.4028234663852886e38
"""Largest finite float32: float settings beyond it overflow in training."""
FLOAT32_TINY = 1.401298464324817e-45
"""Smallest positive float32 (subnormal): nonzero settings below it become 0 in training."""

MAX_EPOCHS = 100_000
"""Most epochs of a run: the run's per-epoch plan and history are built up front, so 10**12
epochs (a typo) would fill the memory before the first step."""

INITS = ("normal", "table", "logits", "residual", "data")
KERNELS = tuple(KERNELS_ALIASES)
KEEP = ("best", "last")


@dataclass
class TrainConfig:
    """Training hyper-parameters (the ``[train]`` table). See the README, section "Training"."""

    epochs: int = 10
    batch_size: int = 50
    optimizer: str = "adam"
    lr: float = 0.01
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "cosine"
    min_lr: float = 0.0
    step_size: int = 10
    gamma: float = 0.1
    loss: str = "ce_count"
    logit_scale: float | None = None
    ttfs_scale: float | None = None
    target_rates: tuple[float, float] = (0.5, 0.05)
    #: label smoothing of the cross-entropy losses (ce_count, ce_temporal, ce_count_temporal):
    #: the target is (1 - eps) onehot + eps / classes, PyTorch's cross_entropy(label_smoothing)
    label_smoothing: float = 0.0
    surrogate: str = "fast_sigmoid"
    width: float | None = None
    clip: float = 1.0
    init: str = "normal"
    init_std: float = 0.1
    #: init = "residual" / "data" (docs/epochs.md, :mod:`spikelut.train.init`): entries are
    #: +-init_std plus N(0, init_noise) noise (0: none); "data" reads init_samples samples
    init_noise: float = 0.0
    init_samples: int = 256
    tap_grad: str = "tanh"
    #: how a table is parameterised for the backward pass (docs/relaxations.md): multilinear
    #: (default), bipolar, walsh, dlut, dlut_fixed, mlp; the forward is always the exact circuit
    relaxation: str = "multilinear"
    #: analog tables (research, docs/relaxations.md): b-bit real table values that readers see
    #: instead of bits, trained and run with the numpy reference; 0 = the binary circuit
    analog_bits: int = 0
    #: read noise of an analog table (standard deviation, full scale 1)
    analog_noise: float = 0.0
    refractory_grad: str = "block"
    #: refractory curriculum (docs/pulse.md): for the first ``refractory_ramp`` epochs the
    #: training forward uses a relaxed gate of strength ``epoch / refractory_ramp`` (0, then
    #: rising), later epochs the exact rule; only exact epochs may be kept. 0 = off (exact always)
    refractory_ramp: int = 0
    tbptt: int = 0
    rate_reg: float = 0.0
    rate_target: float = 0.0
    seed: int = 0
    keep: str = "best"
    eval_batch_size: int = 1000
    #: where training runs: "auto" (cuda, else numba, else numpy: the first usable), "numpy",
    #: "numba" or "cuda"; resolved by :func:`spikelut.train.passes.resolve_backend`
    backend: str = "auto"
    #: deprecated spelling of ``backend`` ("reference" = numpy, "numba", "auto"); folded into
    #: ``backend`` by :meth:`validate` and then ``None``
    kernels: str | None = None
    #: the numba backend's forward pass: "auto" (the one measured faster for each batch),
    #: "lookup" (per-sample table look-ups) or "bitsliced" (64 samples per word); the same
    #: spikes and gradients either way (docs/training-speed.md, "Bit-sliced forward")
    forward: str = "auto"
    #: rewiring during training (docs/rewiring.md, :mod:`spikelut.train.rewire`): every
    #: ``rewire_every`` steps (0 = off) the ``rewire_fraction`` least important taps are regrown
    rewire_every: int = 0
    rewire_fraction: float = 0.1
    rewire_schedule: str = "cosine"
    rewire_candidates: int = 1
    rewire_regrow: str = "sample"
    rewire_score: str = "centered"
    rewire_batch: int = 256
    rewire_sources: str = "group"
    rewire_delays: tuple[int, int] | None = None
    rewire_ff_penalty: float = 0.0
    #: "config" (the config's wiring), or "mi" / "corr": re-drawn towards signals informative
    #: about the labels before training (:mod:`spikelut.guided`)
    init_wiring: str = "config"
    #: epochs to accuracy (docs/epochs.md): ``warmup`` = part of the run's steps spent ramping the
    #: learning rate up from ``lr / div_factor`` (None: 0, or 0.3 with schedule = "onecycle");
    #: ``onecycle`` ends at ``lr / (div_factor * final_div_factor)``; ``batch_schedule`` = a list
    #: of ``[epoch, batch_size]`` pairs (1-based first epoch of each size, ascending; before the
    #: first pair ``batch_size`` holds)
    warmup: float | None = None
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    batch_schedule: tuple[tuple[int, int], ...] = ()
    #: members of a seed ensemble (:mod:`spikelut.ensemble`): ``spikelut run`` / ``spikelut
    #: train`` train this many copies of the config's network (wiring and training seeds moved
    #: by 0, 1, ..) and merge them into one circuit whose class counts add; 1 = one network
    ensemble: int = 1

    # ------------------------------------------------------------------ parsing
    @classmethod
    def from_dict(cls, d: dict | None, seed: int | None = None, where: str = "[train]",
                  flags: dict[str, str] | None = None) -> "TrainConfig":
        """Validate a ``[train]`` table; ``seed`` is the default seed (the config's top level).

        Args:
            d: the table (key -> value).
            seed: the seed when ``d`` has none.
            where: what errors about the table's values name (``"demo.toml: [train]"``).
            flags: keys of ``d`` whose value a command-line flag set, with the flag
                (``{"lr": "--lr"}``): errors about them name the flag instead of ``where``.

        Raises:
            ConfigError: an unknown key or a bad value, one line naming its source.

        Example:
            >>> TrainConfig.from_dict({"epochs": 3, "lr": -1}, where="a.toml: [train]",
            ...                       flags={"lr": "--lr"})
            Traceback (most recent call last):
            ...
            spikelut.errors.ConfigError: --lr must be > 0, got -1
        """
        d = {} if d is None else d
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: expected a table, got {type(d).__name__}")
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - allowed)
        if unknown:
            from ..config import unknown_keys_message

            raise ConfigError(unknown_keys_message(where, unknown, allowed, "docs/guide/training.md"))
        values = dict(d)
        if "seed" not in values and seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                # the value is not in [train]: say where it is, or the user searches [train]
                raise ConfigError(f"{where}: seed must be an integer >= 0, got {seed!r} (the "
                                  f"config's top-level seed; [train] sets none)")
            values["seed"] = seed
        cfg = cls()
        for key, value in values.items():
            setattr(cfg, key, value)
        cfg.validate(where, flags)
        return cfg

    def validate(self, where: str = "[train]", flags: dict[str, str] | None = None) -> None:
        """Check every field; normalise aliases (``fast-sigmoid`` → ``fast_sigmoid``).

        ``where`` and ``flags`` name the source of a bad value as in :meth:`from_dict`.
        """
        flags = flags or {}

        def at(*keys: str) -> str:
            # the source of a check of several keys: the flags among them, with the file when
            # some values come from it (--epochs 2 against the file's refractory_ramp = 3)
            named = [flags[k] for k in keys if k in flags]
            if not named:
                return where
            if len(named) == len(keys):
                return ", ".join(named)
            return f"{where} with {', '.join(named)}"

        def bad(key: str, what: str) -> ConfigError:
            if key in flags:
                return ConfigError(f"{flags[key]} must be {what}, got {getattr(self, key)!r}")
            return ConfigError(f"{where}: {key} must be {what}, got {getattr(self, key)!r}")

        def integer(key: str, lo: int, hi: int | None = None, why: str = "") -> None:
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise bad(key, f"an integer >= {lo}")
            if hi is not None and v > hi:  # bounded before anything of that size is built
                raise bad(key, f"an integer {lo}..{hi:,}{why}")

        def number(key: str, lo: float, strict: bool, optional: bool = False, hi: float | None = None) -> None:
            v = getattr(self, key)
            if v is None and optional:
                return
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise bad(key, "a number")
            float32_range(key, v)
            if (strict and v <= lo) or (not strict and v < lo):
                raise bad(key, f"{'>' if strict else '>='} {lo:g}")
            if hi is not None and v > hi:
                raise bad(key, f"<= {hi:g}")
            setattr(self, key, float(v))

        def float32_range(key: str, v: float) -> None:
            # training runs in float32: 1e39 would become inf (and NaN logits), 1e-50 zero
            if abs(v) > FLOAT32_MAX or (v != 0 and abs(v) < FLOAT32_TINY):
                raise bad(key, f"a number within float32 range ({FLOAT32_TINY:.3g} .. "
                               f"{FLOAT32_MAX:.4g} in magnitude, or 0), as training computes in float32")

        def choice(key: str, options, aliases: dict | None = None) -> None:
            v = getattr(self, key)
            if not isinstance(v, str):
                # a list or table is unhashable: `v in options` of a dict (loss, relaxation)
                # raised TypeError, a traceback instead of this line
                raise ConfigError(f"{at(key)}: {key} must be a name, one of "
                                  f"{', '.join(sorted(options))}; got {v!r}")
            if aliases and v in aliases:
                v = aliases[v]
                setattr(self, key, v)
            if v not in options:
                raise ConfigError(f"{at(key)}: unknown {key} {v!r}; choose one of "
                                  f"{', '.join(sorted(options))}")

        integer("epochs", 1, MAX_EPOCHS)
        integer("batch_size", 1)
        integer("step_size", 1)
        integer("tbptt", 0, MAX_CYCLES, " (cycles; 0 = full BPTT, as is any value >= the "
                                        "data's cycles per sample)")
        integer("refractory_ramp", 0)
        if self.refractory_ramp >= self.epochs:
            raise ConfigError(f"{at('refractory_ramp', 'epochs')}: refractory_ramp "
                              f"({self.refractory_ramp}) must be less than epochs ({self.epochs}): "
                              f"the last epochs must train the exact gate")
        integer("seed", 0)
        integer("eval_batch_size", 1)
        e = self.ensemble  # 1..spikelut.ensemble.MAX_MEMBERS (not imported: no cycle)
        if isinstance(e, bool) or not isinstance(e, int) or not 1 <= e <= 256:
            raise bad("ensemble", "an integer 1..256")
        number("lr", 0.0, strict=True)
        number("momentum", 0.0, strict=False, hi=1.0)
        number("min_lr", 0.0, strict=False)
        number("gamma", 0.0, strict=True)
        number("logit_scale", 0.0, strict=True, optional=True)
        number("ttfs_scale", 0.0, strict=True, optional=True)
        number("width", 0.0, strict=True, optional=True)
        number("clip", 0.0, strict=False)
        number("init_std", 0.0, strict=True)
        number("init_noise", 0.0, strict=False)
        integer("init_samples", 1)
        number("rate_reg", 0.0, strict=False)
        number("rate_target", 0.0, strict=False, hi=1.0)
        choice("optimizer", OPTIMIZERS)
        choice("schedule", SCHEDULES)
        choice("loss", LOSSES, LOSS_ALIASES)
        number("label_smoothing", 0.0, strict=False)
        if self.label_smoothing >= 1.0:
            raise bad("label_smoothing", "in [0, 1): at 1 the target no longer names the class")
        if self.label_smoothing and self.loss == "mse_count":
            raise ConfigError(f"{at('label_smoothing', 'loss')}: label_smoothing = "
                              f"{self.label_smoothing:g} applies to the "
                              f"cross-entropy losses (ce_count, ce_temporal, ce_count_temporal), "
                              f"not to loss = \"mse_count\" (its targets are target_rates)")
        choice("init", INITS)
        if self.init_noise and self.init not in ("residual", "data"):
            raise ConfigError(f"{at('init_noise', 'init')}: init_noise = {self.init_noise} applies "
                              f"to init = \"residual\" or \"data\" only, got init = {self.init!r}; "
                              f"for init = \"normal\" the spread is init_std (set init_noise = 0, "
                              f"or --init-noise 0 on the command line)")
        choice("keep", KEEP)
        choice("backend", BACKENDS)
        if self.kernels is not None:
            choice("kernels", KERNELS)
            meant = KERNELS_ALIASES[self.kernels]
            if meant != "auto" and self.backend not in ("auto", meant):
                raise ConfigError(f"{at('kernels', 'backend')}: kernels = {self.kernels!r} (the old "
                                  f"name of backend) disagrees with backend = {self.backend!r}; "
                                  f"keep only backend")
            self.backend = self.backend if self.backend != "auto" else meant
            self.kernels = None
        choice("tap_grad", TAP_GRAD)
        choice("relaxation", RELAXATIONS, RELAX_ALIASES)
        refusal = get_relaxation(self.relaxation).init_refusal(self.init)
        if refusal:  # else the Trainer refused it, after the data were read, naming no source
            raise ConfigError(f"{at('relaxation', 'init')}: {refusal}")
        integer("analog_bits", 0)
        if self.analog_bits > ANALOG_MAX_BITS:
            raise bad("analog_bits", f"an integer in 0 .. {ANALOG_MAX_BITS}")
        number("analog_noise", 0.0, strict=False)
        if self.analog_bits:
            for key, default in (("relaxation", "multilinear"), ("refractory_ramp", 0)):
                if getattr(self, key) != default:
                    raise ConfigError(f"{at('analog_bits', key)}: analog_bits = {self.analog_bits} "
                                      f"(analog tables) works with {key} = {default!r} only, got "
                                      f"{getattr(self, key)!r}")
            if self.backend not in ("auto", "numpy"):
                raise ConfigError(f"{at('analog_bits', 'backend')}: analog_bits = {self.analog_bits} "
                                  f"(analog tables) runs on the numpy reference only; use "
                                  f"backend = \"numpy\" or \"auto\"")
            if self.init == "data":
                raise ConfigError(f"{at('init', 'analog_bits')}: init = \"data\" counts the binary "
                                  f"addresses of the initial network; analog_bits = "
                                  f"{self.analog_bits} (analog tables) has none: use another init")
            if self.ensemble > 1 and (self.analog_bits > 1 or self.analog_noise):
                # refused here, not after the first member has trained (spikelut.ensemble)
                raise ConfigError(f"{at('ensemble', 'analog_bits')}: ensemble = {self.ensemble} "
                                  f"merges binary circuits, but analog_bits = {self.analog_bits}"
                                  f"{f', analog_noise = {self.analog_noise:g}' if self.analog_noise else ''}"
                                  f" trains analog tables (only 1 bit without noise is saved as a "
                                  f"binary circuit): train the members without analog_bits")
        elif self.analog_noise:
            raise ConfigError(f"{where}: analog_noise = {self.analog_noise} needs analog_bits >= 1")
        choice("refractory_grad", REFRACTORY_GRAD)
        choice("forward", FORWARDS)
        if self.forward != "auto" and (self.backend in ("numpy", "cuda") or self.analog_bits):
            why = "analog_bits" if self.analog_bits else "backend"
            raise ConfigError(f"{at('forward', why)}: forward = {self.forward!r} chooses a pass of "
                              f"the numba backend; this config trains on "
                              f"{'numpy (analog_bits)' if self.analog_bits else repr(self.backend)}: "
                              f"use backend = \"numba\" or forward = \"auto\"")
        if not isinstance(self.surrogate, str):
            raise bad("surrogate", "a name")
        try:
            self.surrogate = get_surrogate(self.surrogate, self.width).name
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
        for key in ("betas", "target_rates"):
            v = getattr(self, key)
            if (not isinstance(v, (list, tuple)) or len(v) != 2
                    or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in v)):
                raise bad(key, "a list of two numbers")
            for x in v:
                float32_range(key, x)
            setattr(self, key, (float(v[0]), float(v[1])))
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise bad("betas", "two numbers in [0, 1)")
        if not all(0.0 <= r <= 1.0 for r in self.target_rates):
            raise bad("target_rates", "two rates in [0, 1]")
        from .rewire import validate_rewire

        validate_rewire(self, where)
        if self.rewire_every and (self.relaxation != "multilinear" or self.analog_bits):
            # rewiring edits per-address logits and their moments in place
            raise ConfigError(f"{at('rewire_every', 'relaxation', 'analog_bits')}: rewire_every "
                              f"works with relaxation = 'multilinear' and binary tables only, got "
                              f"relaxation = {self.relaxation!r}, analog_bits = {self.analog_bits}")
        choice("init_wiring", ("config", "mi", "corr"))
        if self.min_lr > self.lr:
            raise ConfigError(f"{at('min_lr', 'lr')}: min_lr ({self.min_lr}) must not exceed lr "
                              f"({self.lr})")
        # epochs to accuracy (docs/epochs.md): warm-up, one-cycle and batch-size schedules
        number("warmup", 0.0, strict=False, optional=True, hi=1.0)
        if self.warmup == 1.0:
            raise bad("warmup", "a part of the steps in [0, 1)")
        number("div_factor", 1.0, strict=False)
        number("final_div_factor", 1.0, strict=False)
        pairs = self.batch_schedule
        if not isinstance(pairs, (list, tuple)) or any(
                not isinstance(p, (list, tuple)) or len(p) != 2
                or any(isinstance(v, bool) or not isinstance(v, int) for v in p) for p in pairs):
            raise bad("batch_schedule", "a list of [epoch, batch_size] pairs of integers, "
                                        "e.g. [[11, 50], [21, 100]]")
        firsts = [p[0] for p in pairs]
        if any(e < 2 for e in firsts) or firsts != sorted(set(firsts)):
            raise bad("batch_schedule", "pairs with ascending epochs >= 2 (epoch 1 uses batch_size)")
        if any(p[1] < 1 for p in pairs):
            raise bad("batch_schedule", "pairs with batch sizes >= 1")
        self.batch_schedule = tuple((int(e), int(b)) for e, b in pairs)

    def unused(self) -> list[str]:
        """What this run will not read of the settings made: ``rewire_*`` keys away from their
        defaults while ``rewire_every = 0`` (rewiring off), the keys a relaxation brings its own
        rule for (``surrogate``, ``width``, ``tap_grad``: :attr:`Relaxation.ignores`), the keys of
        another schedule, optimizer or loss (``gamma`` with ``schedule = "cosine"``, ``momentum``
        with Adam, ``target_rates`` with a cross-entropy loss), ``rate_target`` without
        ``rate_reg``, ``batch_schedule`` pairs past the last epoch, ``init_samples`` without ``init =
        "data"``; one sentence per cause, for a warning
        (:meth:`Trainer.fit`).

        Example:
            >>> TrainConfig.from_dict({"rewire_delays": [0, 7], "rewire_fraction": 0.2}).unused()
            ['rewire_fraction, rewire_delays change nothing while rewire_every = 0 (rewiring \
off); set rewire_every = N to rewire every N optimizer steps']
        """
        default = TrainConfig()
        out = []
        if not self.rewire_every:
            keys = [f.name for f in fields(self) if f.name.startswith("rewire_")
                    and f.name != "rewire_every" and getattr(self, f.name) != getattr(default, f.name)]
            if keys:
                out.append(f"{', '.join(keys)} change{'s' if len(keys) == 1 else ''} nothing while "
                           f"rewire_every = 0 (rewiring off); set rewire_every = N to rewire "
                           f"every N optimizer steps")
        keys = [k for k in get_relaxation(self.relaxation).ignores
                if getattr(self, k) != getattr(default, k)]
        if keys:
            out.append(f"{', '.join(keys)} change{'s' if len(keys) == 1 else ''} nothing with "
                       f"relaxation = {self.relaxation!r}, which brings its own backward rule "
                       f"(docs/relaxations.md)")
        keys = [k for k in ("surrogate", "width", "tap_grad")
                if self.analog_bits and getattr(self, k) != getattr(default, k)]
        if keys:  # spikelut.analog.AnalogPasses: the read's exact gradient, tap values as they are
            out.append(f"{', '.join(keys)} change{'s' if len(keys) == 1 else ''} nothing with "
                       f"analog_bits = {self.analog_bits}: analog tables train with the exact "
                       f"gradient of their read (docs/relaxations.md)")
        # the schedule's and optimizer's own keys (docs/epochs.md, the [train] keys table)
        used = {"step_size": self.schedule == "step", "gamma": self.schedule == "step",
                "min_lr": self.schedule in ("cosine", "linear"),
                "div_factor": self.schedule == "onecycle" or bool(self.warmup),
                "final_div_factor": self.schedule == "onecycle"}
        keys = [k for k, u in used.items() if not u and getattr(self, k) != getattr(default, k)]
        if keys:
            out.append(f"{', '.join(keys)} change{'s' if len(keys) == 1 else ''} nothing with "
                       f"schedule = {self.schedule!r}"
                       f"{' and no warmup' if 'div_factor' in keys else ''}")
        used = {"momentum": self.optimizer == "sgd", "betas": self.optimizer != "sgd"}
        keys = [k for k, u in used.items() if not u and getattr(self, k) != getattr(default, k)]
        if keys:
            out.append(f"{', '.join(keys)} changes nothing with optimizer = {self.optimizer!r}")
        used = {"logit_scale": self.loss in ("ce_count", "ce_count_temporal"),
                "ttfs_scale": self.loss in ("ce_temporal", "ce_count_temporal"),
                "target_rates": self.loss == "mse_count"}
        keys = [k for k, u in used.items() if not u and getattr(self, k) != getattr(default, k)]
        if keys:
            out.append(f"{', '.join(keys)} change{'s' if len(keys) == 1 else ''} nothing with "
                       f"loss = {self.loss!r}")
        if not self.rate_reg and self.rate_target != default.rate_target:
            out.append(f"rate_target = {self.rate_target:g} changes nothing while rate_reg = 0 "
                       f"(the firing-rate regularizer is off)")
        late = [e for e, _ in self.batch_schedule if e > self.epochs]
        if late:
            out.append(f"batch_schedule pairs from epoch {late[0]} on change nothing: the run has "
                       f"{self.epochs} epochs")
        if self.init != "data" and self.init_samples != default.init_samples:
            out.append(f"init_samples = {self.init_samples} changes nothing: only init = \"data\" "
                       f"reads it (init = {self.init!r})")
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (tuples as lists) that :meth:`from_dict` reads back."""
        d = asdict(self)
        return {k: [list(x) if isinstance(x, tuple) else x for x in v] if isinstance(v, tuple) else v
                for k, v in d.items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def from_config_problem(cfg: TrainConfig) -> str:
    """Why ``cfg`` cannot train a network built from a config (``spikelut train``, ``spikelut
    run``, sweeps), or ``""``: ``init = "logits"`` starts from a model's logits, and a network
    built from a config has none (the Trainer refuses it only once the data are read, naming
    no source). The caller prefixes where the value came from.

    Example:
        >>> from_config_problem(TrainConfig(init="logits")).split(";")[0]
        "starts from a model's logits, and a network built from a config has none"
        >>> from_config_problem(TrainConfig())
        ''
    """
    if cfg.init == "logits":
        return ("starts from a model's logits, and a network built from a config has none; use "
                "normal, table, residual or data (logits is for a model loaded from a file and "
                "trained again through the Python API)")
    return ""

