"""The training loop: seeded batches, BPTT steps, validation, best model, log, checkpoints, resume.

One epoch shuffles the training set with the trainer's own ``numpy`` generator (seeded by
``[train] seed``), runs :func:`~spikelut.train.bptt.forward` / :func:`~spikelut.train.bptt.backward`
per batch, updates the logits, clips them, and evaluates the validation set. After every epoch the
JSON-lines log is rewritten and the checkpoint saved, both atomically. A checkpoint holds the
logits, the kept (best) logits, the optimizer's arrays, the generator's state and the history, so
``resume`` continues exactly where the run stopped: the result is bit-equal to an uninterrupted run.

Where it runs: ``[train] backend`` (:func:`~spikelut.train.passes.resolve_backend`: numpy, numba
or cuda). The parameters, the optimizer's moments, the training and validation sets and the BPTT
history live on the backend's array module ``xp``; a step moves nothing between host and device
(the shuffled order goes up once per epoch, the summed loss and accuracy come down once per
epoch, and once per step only when the progress bar shows them). Checkpoints hold host numpy
arrays only and do not record the backend, so a run checkpointed on one backend resumes on
another (on the same backend the result stays bit-equal to an uninterrupted run).

Log format: one JSON object per epoch, ``{"epoch", "loss", "acc", "val_loss", "val_acc", "lr",
"time", "flips", "mean_abs_logit", "near_zero"}`` (``val_*`` are ``null`` without validation data;
``lr`` is the rate of the epoch's first step; ``time`` the epoch's wall time in seconds; the last
three are lists with one value per layer: table entries that changed sign during the epoch, mean
``|theta|`` and the fraction of ``|theta| < 0.05`` at its end, see
:func:`spikelut.analysis.table_dynamics`). With ``[train] batch_schedule`` every record also
holds the epoch's ``batch_size`` (docs/epochs.md). With ``[train] refractory_ramp`` every record
also holds ``gate``, the refractory gate's strength that epoch trained with (1.0 = exact).
With ``[train] rewire_every`` (:mod:`spikelut.train.rewire`, docs/rewiring.md) records also
hold ``rewired``, ``delay_moves``, ``flip_flops`` and ``delays``, and the checkpoint the rewiring
generator's state and the ``/wiring`` and ``/best_wiring`` groups.

Checkpoints (what they hold, how they are checked): :mod:`spikelut.train.checkpoint`.

Example:
    >>> import numpy as np
    >>> from spikelut.wiring import random_network
    >>> from spikelut.train import Trainer, TrainConfig
    >>> net = random_network(0, n_in=4, sizes=[16, 4], k=3, classes=2)
    >>> x = (np.random.default_rng(0).random((6, 20, 4)) < 0.5).astype(np.uint8)
    >>> y = x[:, :, 0].sum(axis=0) > 3                       # a toy rule
    >>> tr = Trainer(net, TrainConfig(epochs=2, batch_size=10, seed=1), progress=False)
    >>> result = tr.fit((x, y.astype(np.int64)))
    >>> [sorted(r) for r in result.history][0]
    ['acc', 'epoch', 'flips', 'loss', 'lr', 'mean_abs_logit', 'near_zero', 'time', 'val_acc', 'val_loss']
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from tqdm import tqdm

from ..engine.result import readout
from ..errors import ConfigError, ShapeError, count
from ..fileutil import write_text_atomic
from ..io import SpikeData
from ..metrics import check_scorable
from ..network import Network, all_binary
from ..progress import Progress
from ..analysis import table_dynamics
from ..analog import AnalogPasses, AnalogSpec, class_values
from . import bptt
from . import checkpoint as _checkpoint  # (fit has an argument named checkpoint)
from .bptt import compile_plan, tables_of
from .config import TrainConfig
from .losses import get_loss, rate_regularizer
from .optim import epoch_steps, lr_at, make_optimizer
from .passes import TrainBackend, resolve_backend, to_host
from .relax import address_histograms, get_relaxation
from .surrogates import get_surrogate


# ---------------------------------------------------------------------------- data checks
def _as_data(data: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(data, SpikeData):
        spikes, labels = data.spikes, data.labels
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        spikes, labels = data
    else:
        raise ShapeError(f"{name}: expected SpikeData or (spikes, labels)")
    if labels is None:
        raise ShapeError(f"{name}: has no labels; training and evaluation need /labels in the spike file")
    return np.asarray(spikes), np.asarray(labels)


def holdout(spikes: np.ndarray, labels: np.ndarray, fraction: float, seed: int
            ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split labelled data into ``(train, val)``: a seeded draw of ``round(fraction * B)`` samples
    (at least one) is held out for validation; both parts keep the file's sample order.

    Choosing the kept epoch or a config on this split, never on the test set, keeps the test
    accuracy honest.

    Example:
        >>> x, y = np.zeros((4, 10, 2), np.uint8), np.arange(10) % 2
        >>> (xt, yt), (xv, yv) = holdout(x, y, 0.2, seed=0)
        >>> xt.shape, xv.shape
        ((4, 8, 2), (4, 2, 2))
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ConfigError(f"validation fraction must be in (0, 1), got {fraction!r}")
    B = spikes.shape[1]
    n_val = max(1, int(round(fraction * B)))
    if n_val >= B:
        raise ConfigError(f"validation fraction {fraction} of {B} samples leaves none to train on; "
                          f"lower it or use more data")
    order = np.random.default_rng(seed).permutation(B)
    vi, ti = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (spikes[:, ti], labels[ti]), (spikes[:, vi], labels[vi])


def check_data(net: Network, spikes: np.ndarray, labels: np.ndarray, name: str = "data") -> None:
    """Refuse data that does not fit ``net``: channels, 0/1 values, T vs readout start, labels.

    What :meth:`Trainer.fit` checks on the training and validation data before any work.

    Args:
        net: the network to be trained.
        spikes: input spikes ``[T, B, n_in]``, 0/1 of any numeric or bool dtype.
        labels: classes ``[B]``, whole numbers ``0 .. classes - 1`` (an integer or a float
            dtype).
        name: names the data in the messages (``"training data"``, ``"validation data"``).

    Returns:
        ``None`` when the data fit; the first problem raises.

    Raises:
        ShapeError: spikes not 3-D, another channel count than ``net.n_in``, no samples,
            values other than 0 and 1, no cycle at or after the readout's ``start``, labels not
            ``[B]``, not whole numbers (0.5, NaN) or outside ``0 .. classes - 1``.

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=3, sizes=[4, 2], k=2, classes=2)
        >>> check_data(net, np.zeros((5, 2, 3), np.uint8), np.array([0, 2]), "training data")
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        spikelut.errors.ShapeError: training data: label 2 is out of range: the readout has 2 classes ...
    """
    try:
        spikes = np.asarray(spikes)
        labels = np.asarray(labels)
    except (ValueError, TypeError):  # ragged nested lists: numpy's ValueError
        raise ShapeError(f"{name}: spikes and labels must be arrays (ragged lists given)") from None
    if spikes.ndim != 3:
        raise ShapeError(f"{name}: spikes must be [T, B, channels], got shape {spikes.shape}")
    T, B, n_in = spikes.shape
    if n_in != net.n_in:
        raise ShapeError(f"{name}: spikes have {count(n_in, 'channels')} but the network has "
                         f"{count(net.n_in, 'inputs')}; "
                         f"encode the data for this network or change 'inputs' in the config")
    if B < 1:
        raise ShapeError(f"{name}: has no samples")
    if not all_binary(spikes):  # no temporaries the size of the data (np.isin made several)
        raise ShapeError(f"{name}: spikes must be 0 or 1")
    check_scorable(net.readout, T, None, name)
    if labels.shape != (B,):
        raise ShapeError(f"{name}: {labels.shape} labels for {B} samples")
    if not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)
            or labels.dtype == np.bool_):  # strings and objects: np.mod's TypeError
        what = {"U": "strings", "S": "bytes", "O": "objects"}.get(labels.dtype.kind, str(labels.dtype))
        raise ShapeError(f"{name}: labels must be integers, got {what}")
    if not np.issubdtype(labels.dtype, np.integer) and not np.all(np.mod(labels, 1) == 0):
        raise ShapeError(f"{name}: labels must be integers")
    check_scorable(net.readout, T, labels, name)  # the one accuracy rule (spikelut.metrics)


def data_digest(data: Any, val: Any = None) -> bytes:
    """SHA-256 of training and validation arrays: the dtype, shape and bytes of each.

    Args:
        data: :class:`~spikelut.io.spikes.SpikeData` (spikes and labels), a tuple of arrays such as
            ``(spikes [T, B, n_in] uint8, labels [B] int64)``, or ``None``.
        val: the same for the validation data, or ``None``.

    Returns:
        32 bytes. A checkpoint records the training data's, the validation data's and the teacher
        features' (:meth:`Trainer.save_checkpoint`); an ensemble's member stamp hashes both
        (:func:`spikelut.ensemble.member_stamp`).

    Example:
        >>> x, y = np.zeros((2, 3, 1), np.uint8), np.array([0, 1, 1])
        >>> data_digest((x, y)) == data_digest((x, y), None), data_digest((x, y)) == data_digest(
        ...     (x, y[::-1]))
        (True, False)
    """
    h = hashlib.sha256()
    for part in (data, val):
        if part is None:
            h.update(b"none")
            continue
        arrays = (part.spikes, part.labels) if isinstance(part, SpikeData) else part
        for a in arrays:
            a = np.ascontiguousarray(np.asarray(a))
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
    return h.digest()


# ---------------------------------------------------------------------------- results
@dataclass
class Evaluation:
    """Predictions ``pred [B]``, class ``counts [B, C]``, mean ``loss`` and ``acc`` (None without labels)."""

    pred: np.ndarray
    counts: np.ndarray
    loss: float | None
    acc: float | None

    @property
    def accuracy(self) -> float | None:
        """``acc`` by the name :func:`spikelut.api.evaluate`'s result uses."""
        return self.acc


@dataclass
class TrainResult:
    """The kept network (with ``logits``), the per-epoch history, and the kept epoch (1-based)."""

    net: Network
    history: list[dict]
    kept_epoch: int


# ---------------------------------------------------------------------------- trainer
class Trainer:
    """Trains the tables of ``net`` as logits with surrogate-gradient BPTT.

    Args:
        net: a validated network (its structure is kept; tables are learned).
        cfg: the ``[train]`` settings.
        progress: show a tqdm bar per epoch; ``None`` = only when stderr is a terminal.
        backend: run here instead of ``cfg.backend`` (any array module with numpy's API and the
            two passes; the tests use it to run the GPU logic on an emulated device).

    Raises:
        ConfigError: ``cfg.backend`` cannot run on this machine (one line saying why).
    """

    #: whether :meth:`fit` warns about [train] settings that change nothing in this run (an
    #: ensemble's later members, trained with the same settings, do not repeat it)
    warn_settings: bool = True

    def __init__(self, net: Network, cfg: TrainConfig, progress: bool | None = None,
                 backend: TrainBackend | None = None) -> None:
        if not isinstance(cfg, TrainConfig):  # a dict was "'dict' object has no attribute ..."
            raise ConfigError(f"cfg must be a TrainConfig, got {type(cfg).__name__}; build one "
                              f"from a [train] table with TrainConfig.from_dict(table)")
        cfg.validate()
        if cfg.ensemble != 1:  # silently training one network of the N asked would be wrong
            raise ConfigError(f"[train] ensemble = {cfg.ensemble}: a Trainer trains the one "
                              f"network it is given; an ensemble builds its members from the "
                              f"config: use spikelut.ensemble.train_ensemble(config, data) (or "
                              f"spikelut run / spikelut train)")
        self.net = net
        self.cfg = cfg
        self.net0 = net  # the wiring the run started from (rewiring changes self.net)
        #: the training data's cycles per sample (and coding), recorded in the model's
        #: ``meta["data"]`` by :meth:`network` (``spikelut rtl`` sizes its wrapper by it)
        self.data_record: dict = {}
        self.progress = sys.stderr.isatty() if progress is None else bool(progress)
        self._quiet = progress is False  # None without a terminal: plain progress lines
        self.plan = compile_plan(net)
        #: where training runs: its name, array module and passes (``[train] backend`` resolved)
        #: [train] analog_bits > 0: tables of real values (spikelut.analog), numpy reference only
        self.analog = AnalogSpec(cfg.analog_bits, cfg.analog_noise) if cfg.analog_bits else None
        if self.analog is not None:
            backend = resolve_backend("numpy")
        self.backend = resolve_backend(cfg.backend) if backend is None else backend
        self.xp = self.backend.xp
        self._forward, self._backward = self.backend.forward, self.backend.backward
        if self.analog is not None:
            passes = AnalogPasses(self.analog, cfg.seed)
            self._forward, self._backward = passes.forward, passes.backward
        self._select_forward(cfg.forward)
        #: the table parameterisation ([train] relaxation, :mod:`~spikelut.train.relax`)
        self.relax = get_relaxation(cfg.relaxation)
        self.surrogate = self.relax.surrogate(get_surrogate(cfg.surrogate, cfg.width))
        self.tap_grad = self.relax.tap_grad(cfg.tap_grad)
        self._hist: list[Any] | None = None  # the last batch's address frequencies (relax)
        self.loss_fn = get_loss(cfg.loss)
        ls = cfg.label_smoothing
        self.loss_kw = {"ce_count": {"logit_scale": cfg.logit_scale, "label_smoothing": ls},
                        "ce_temporal": {"ttfs_scale": cfg.ttfs_scale, "label_smoothing": ls},
                        "mse_count": {"target_rates": cfg.target_rates},
                        "ce_count_temporal": {"logit_scale": cfg.logit_scale,
                                              "ttfs_scale": cfg.ttfs_scale, "label_smoothing": ls}
                        }[cfg.loss]
        self.rng = np.random.default_rng(cfg.seed)
        self.params = self._init_params()
        self.opt = make_optimizer(cfg.optimizer, self.params, cfg.momentum, cfg.betas, xp=self.xp)
        self.epoch = 0
        self.history: list[dict] = []
        self.best: dict | None = None
        self.best_params = [p.copy() for p in self.params]
        self.best_net = net
        #: SHA-256 (hex) of the training data, validation data and teacher features of the
        #: current fit (``None`` for absent ones), written to and checked against a checkpoint;
        #: ``None`` outside a fit with a checkpoint
        self.digests: dict | None = None
        from .rewire import Rewirer
        self.rewirer = Rewirer(self) if cfg.rewire_every else None

    def _select_forward(self, name: str) -> None:
        """``[train] forward``: the numba backend's forward pass (lookup, bitsliced or auto,
        :mod:`~spikelut.train.kernels_bits`); other backends and other passes handed in keep
        theirs. The choice changes only the time, never the spikes or the gradients."""
        if self.analog is not None or self.backend.name != "numba":
            if name != "auto":
                raise ConfigError(f"[train] forward = {name!r} chooses a pass of the numba backend; "
                                  f"this run trains on {self.backend.name!r}: use backend = "
                                  f"\"numba\" or forward = \"auto\"")
            return
        from . import kernels_bits, kernels_cpu

        if self._forward is kernels_cpu.forward:  # the registry's numba pass, not one handed in
            self._forward = kernels_bits.select_forward(name)
            self._backward = kernels_bits.backward  # kernels_cpu's, told what it will not read

    def _host(self, a: Any) -> np.ndarray:
        """``a`` copied to host memory (the only way arrays leave the backend's module)."""
        return to_host(self.xp, a)

    def _init_params(self) -> list[Any]:
        cfg = self.cfg
        params = []
        if cfg.init in ("residual", "data"):  # spikelut.train.init; "data" completes it in fit
            from .init import initial_values
            start = initial_values(self.net, cfg.init, cfg.init_std, cfg.init_noise, self.rng)
        for i, layer in enumerate(self.net.layers):
            shape = layer.table.shape
            if cfg.init in ("residual", "data"):
                p = start[i]
            elif cfg.init == "normal":
                p = self.rng.normal(0.0, cfg.init_std, shape)
            elif cfg.init == "table":
                p = (2.0 * layer.table - 1.0) * cfg.init_std
            else:
                if layer.logits is None:
                    raise ConfigError(f"[train]: init = \"logits\" but layer {i} ({layer.name!r}) has no "
                                      f"logits; use init = \"normal\" or \"table\"")
                p = layer.logits
            params.append(self.relax.init(np.asarray(p, np.float32).copy(), layer.logits,
                                          cfg.init, self.rng))
        self._clip(params)
        return [self.xp.asarray(p) for p in params]

    def _clip(self, params: Sequence[Any]) -> None:
        for p, layer in zip(params, self.net.layers):
            self.relax.clip(p, layer.k, self.cfg.clip)

    def tables(self, params: Sequence[Any] | None = None) -> list[Any]:
        """Per layer, the table values ``U [n, 2**k]`` of ``params`` (default: current) under the
        relaxation; the deployed table is ``U > 0`` (multilinear: ``U`` is ``params`` itself)."""
        params = self.params if params is None else params
        return [self.relax.values(p, layer.k) for p, layer in zip(params, self.net.layers)]  # drawn on the host: the same on every backend

    # ------------------------------------------------------------------ one batch
    def gate_at(self, epoch: int) -> float:
        """Strength of the refractory gate in 0-based ``epoch``: ``epoch / refractory_ramp`` during
        the curriculum (``[train] refractory_ramp``), else 1.0 (the exact circuit).

        Example:
            >>> from spikelut.wiring import random_network
            >>> net = random_network(0, n_in=2, sizes=[4, 2], k=2, refractory=1)
            >>> tr = Trainer(net, TrainConfig(epochs=5, refractory_ramp=2), progress=False)
            >>> [tr.gate_at(e) for e in range(5)]
            [0.0, 0.5, 1.0, 1.0, 1.0]
        """
        ramp = self.cfg.refractory_ramp
        return 1.0 if epoch >= ramp else epoch / ramp

    def loss_and_grad(self, x: Any, y: Any, params: Sequence[Any] | None = None,
                      gate: float = 1.0, rng: np.random.Generator | None = None
                      ) -> tuple[Any, Any, list[Any]]:
        """Loss, predictions and logit gradients on one batch ``x [T, B, n_in]``, ``y [B]``.

        Everything stays on the backend's array module: the loss is a 0-d value there (a
        ``numpy.float64`` on the CPU), ``pred [B]`` int32 and the gradients like ``params``.
        ``gate < 1`` trains through the relaxed refractory gate of the curriculum (the reference
        passes of :mod:`~spikelut.train.bptt`, on any backend's array module), drawn from ``rng``.
        """
        params = self.params if params is None else params
        values = self.tables(params)
        x, y = self.xp.asarray(x), self.xp.asarray(y)
        relaxed = gate < 1.0
        if relaxed:
            fwd = bptt.forward(self.plan, tables_of(values), x, gate=gate, rng=rng)
        else:
            fwd = self._forward(self.plan, self._fwd_tables(values), x)
        loss, g_spikes, out = self.spike_grads(fwd, y)
        kw = {"gate": gate} if relaxed else {}
        grads, _ = (bptt.backward if relaxed else self._backward)(
            self.plan, values, fwd, g_spikes, self.surrogate,
            refractory_grad=self.cfg.refractory_grad, tap_grad=self.tap_grad,
            tbptt=self.cfg.tbptt, **kw)
        grads = [self.relax.vjp(p, layer.k, g) for p, layer, g in zip(params, self.net.layers, grads)]
        if self.relax.needs_histogram:
            self._hist = address_histograms(fwd, [(lp.n, lp.k) for lp in self.plan.layers])
        _, pred = self._readout(out)
        return loss, pred, grads

    def spike_grads(self, fwd: Any, y: Any) -> tuple[Any, list[Any], Any]:
        """The loss of a forward pass ``fwd`` on labels ``y [B]`` and what the backward pass
        starts from: ``(loss, g_spikes, out)``, ``g_spikes[i]`` = ``dL/ds [T, B, n]`` of layer
        ``i`` or ``None`` (the loss's readout term plus the rate regulariser's),
        ``out [T, B, n]`` the readout layer's spikes."""
        ro = self.net.readout
        out = fwd.spikes(ro.layer)
        loss, g_out = self.loss_fn(out, y, ro, **self.loss_kw)
        g_spikes: list[Any] = [None] * len(self.plan.layers)
        g_spikes[ro.layer] = g_out
        if self.cfg.rate_reg > 0:
            spikes = [fwd.spikes(i) for i in range(len(self.plan.layers))]
            reg, g_reg = rate_regularizer(spikes, self.cfg.rate_reg, self.cfg.rate_target)
            loss += reg
            g_spikes = [g if g_spikes[i] is None else g_spikes[i] + g for i, g in enumerate(g_reg)]
        return loss, g_spikes, out

    def _fwd_tables(self, values: list[Any]) -> list[Any]:
        """What the forward pass reads: the 0/1 tables, or an analog model's parameters."""
        return values if self.analog is not None else tables_of(values)

    def _readout(self, out: Any) -> tuple[Any, Any]:
        return class_values(self.net, out) if self.analog is not None else readout(self.net, out)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, spikes: Any, labels: Any | None = None,
                 params: Sequence[Any] | None = None) -> Evaluation:
        """Hard-forward evaluation in batches: predictions by the readout rule, loss, accuracy.

        ``spikes`` / ``labels`` may be host arrays or already on the backend's module; the
        result holds host numpy arrays (copied once, at the end).
        """
        xp = self.xp
        tables = self._fwd_tables(self.tables(params))
        ro = self.net.readout
        spikes = xp.asarray(spikes)
        labels = None if labels is None else xp.asarray(labels)
        B = spikes.shape[1]
        preds, counts, loss_sum = [], [], 0.0
        for b0 in range(0, B, self.cfg.eval_batch_size):
            x = spikes[:, b0:b0 + self.cfg.eval_batch_size]
            fwd = self._forward(self.plan, tables, x, save=False)
            out = fwd.spikes(ro.layer)
            c, p = self._readout(out)
            preds.append(p)
            counts.append(c)
            if labels is not None:
                y = labels[b0:b0 + self.cfg.eval_batch_size]
                loss_sum = loss_sum + self.loss_fn(out, y, ro, **self.loss_kw)[0] * x.shape[1]
        pred = xp.concatenate(preds)
        count = self._host(xp.concatenate(counts))
        if labels is None:
            return Evaluation(self._host(pred), count, None, None)
        acc = (pred == labels).mean()
        return Evaluation(self._host(pred), count, float(self._host(loss_sum)) / B,
                          float(self._host(acc)))

    # ------------------------------------------------------------------ the loop
    def fit(self, train: Any, val: Any = None, log: str | os.PathLike | None = None,
            checkpoint: str | os.PathLike | None = None, resume: bool = False,
            callback: Callable[["Trainer", dict], None] | None = None,
            teacher: Any = None) -> TrainResult:
        """Train for ``cfg.epochs`` epochs (continuing from ``checkpoint`` with ``resume``).

        ``train`` / ``val`` are :class:`~spikelut.io.spikes.SpikeData` with labels or ``(spikes, labels)``.
        ``callback(trainer, record)`` runs after each epoch's log and checkpoint are written.
        ``teacher``: float ``[N, F]`` features of a teacher, one row per training sample: the
        initial wiring is guided by them (``init_wiring = "corr"``, :mod:`spikelut.guided`).
        """
        x, y = _as_data(train, "training data")
        check_data(self.net, x, y, "training data")
        coding = train.meta.get("coding") if isinstance(train, SpikeData) else None
        self.data_record = {"steps": int(x.shape[0]),
                            **({"coding": coding} if isinstance(coding, str) else {})}
        if not resume and self.warn_settings:  # settings that do nothing: said once, at the start
            unused = self.cfg.unused()
            gated = any(la.refractory for la in self.net.layers)
            if self.cfg.refractory_ramp and not gated:
                unused.append(f"refractory_ramp = {self.cfg.refractory_ramp} changes nothing: no "
                              f"layer of the network has a refractory period (R = 0 everywhere), "
                              f"so its relaxed epochs only run slower (on the numpy reference)")
            if self.cfg.refractory_grad != "block" and not gated:
                unused.append(f"refractory_grad = {self.cfg.refractory_grad!r} changes nothing: no "
                              f"layer of the network has a refractory period (R = 0 everywhere), "
                              f"so there is no gate to pass gradient through")
            for why in unused:
                print(f"spikelut: warning: [train] {why}", file=sys.stderr, flush=True)
        if self.rewirer is not None and self.rewirer.max_delay() >= x.shape[0]:
            T, D = int(x.shape[0]), self.rewirer.max_delay()
            print(f"spikelut: warning: rewiring may move taps to delays up to {D}, but the "
                  f"training data has {T} cycles per sample: a tap at delay >= {T} reads only "
                  f"the reset state (a constant) and costs a shift register that deep; keep "
                  f"rewire_delays (or the tap groups' delay_range) below {T}",
                  file=sys.stderr, flush=True)
        xp = self.xp
        x, y = x.astype(np.uint8, copy=False), y.astype(np.int64)
        if val is not None:
            xv, yv = _as_data(val, "validation data")
            check_data(self.net, xv, yv, "validation data")
            xv, yv = xv.astype(np.uint8, copy=False), yv.astype(np.int64)
        if checkpoint is not None:  # what the run trains on, recorded and checked on resume
            self.digests = {"data": data_digest((x, y)).hex(),
                            "val": None if val is None else data_digest((xv, yv)).hex(),
                            "teacher": None}
        # the data sets go to the backend's module once; batches are gathered there
        x, y = xp.asarray(x), xp.asarray(y)
        if val is not None:
            xv, yv = xp.asarray(xv), xp.asarray(yv)
        guided = self.cfg.init_wiring != "config" or teacher is not None
        if guided and self.net is self.net0:  # deterministic: a resume draws it again
            from ..guided import guide_trainer
            guide_trainer(self, x, y, teacher)
        if checkpoint is not None and teacher is not None:  # (checked by guide_trainer)
            self.digests["teacher"] = data_digest((np.asarray(teacher, np.float64),)).hex()
        if self.cfg.init == "data" and not resume and self.epoch == 0:  # on the (guided) wiring
            from .init import data_init_trainer
            data_init_trainer(self, x, y)
        if resume:
            if checkpoint is None:
                raise ConfigError("resume needs a checkpoint file (--checkpoint CKPT.h5)")
            if not Path(checkpoint).exists():
                raise ConfigError(f"{checkpoint}: no checkpoint to resume from; run without --resume "
                                  f"to start training")
            self.load_checkpoint(checkpoint)
        cfg = self.cfg
        N = x.shape[1]
        # per epoch (batch size, steps, first global step): [train] batch_schedule may change
        # the batch size, and the learning rate follows the step counted over the whole run
        plan = epoch_steps(N, cfg.epochs, cfg.batch_size, cfg.batch_schedule)
        #: optimizer steps of the whole run (the schedules' and rewiring's horizon)
        self.total_steps = total = sum(p[1] for p in plan)
        before_last = sum(p[1] for p in plan[:-1])  # rewiring stops before the last epoch
        if self.rewirer is not None and self.epoch == 0 and before_last < cfg.rewire_every:
            print(f"spikelut: warning: rewire_every = {cfg.rewire_every} optimizer steps, but the "
                  f"run has {before_last} before its last epoch (rewiring stops there): the "
                  f"wiring will not change; lower rewire_every or train more epochs",
                  file=sys.stderr, flush=True)
        for epoch in range(self.epoch, cfg.epochs):
            batch, steps, first = plan[epoch]
            t0 = time.perf_counter()
            order = xp.asarray(self.rng.permutation(N))  # drawn on the host: same on every backend
            gate = self.gate_at(epoch)
            # the relaxed gate's draws: their own generator per epoch, so resume stays bit-equal
            gate_rng = np.random.default_rng([cfg.seed, epoch, 0x6A7E]) if gate < 1.0 else None
            loss_sum, correct = 0.0, 0  # become 0-d arrays of xp: summed without a sync
            lr0 = None
            before = [u.copy() for u in self.tables()]  # for the table flips of this epoch
            # a bar on a terminal, a line every few seconds in a log; nothing with progress=False
            bar = Progress(steps, f"epoch {epoch + 1}/{cfg.epochs}", "batches",
                           show=True if self.progress else (False if self._quiet else None))
            for b in range(steps):
                idx = order[b * batch:(b + 1) * batch]
                lr = lr_at(cfg.schedule, cfg.lr, first + b, total, epoch, cfg.min_lr,
                           cfg.step_size, cfg.gamma, cfg.warmup, cfg.div_factor,
                           cfg.final_div_factor)
                lr0 = lr if lr0 is None else lr0
                yb = y[idx]
                with np.errstate(over="ignore", invalid="ignore"):  # checked after the epoch
                    loss, pred, grads = self.loss_and_grad(x[:, idx], yb, gate=gate, rng=gate_rng)
                    self.opt.step(self.params, grads, lr)
                if self._hist is not None:  # after the step: the next batch's tables use it
                    for p, layer, h in zip(self.params, self.net.layers, self._hist):
                        self.relax.observe(p, layer.k, h)
                self._clip(self.params)
                if self.rewirer is not None:
                    self.rewirer.step(epoch, first + b + 1, x, y)
                loss_sum = loss_sum + loss * len(idx)
                correct = correct + (pred == yb).sum()
                if self.progress:  # the only per-step copy to the host, and only for the bar
                    seen = b * batch + len(idx)
                    bar.update(1, loss=f"{float(self._host(loss_sum)) / seen:.4f}",
                               acc=f"{int(self._host(correct)) / seen:.4f}")
                else:
                    bar.update(1)
            bar.close()
            bad = [what for what, ok in (("loss", math.isfinite(float(self._host(loss_sum)))),
                                         ("logits", all(bool(xp.isfinite(p).all()) for p in self.params)))
                   if not ok]
            if bad:  # before anything of this epoch is kept, logged or saved
                raise ConfigError(f"training diverged in epoch {epoch + 1}: the {' and '.join(bad)} "
                                  f"became non-finite (lr {lr0:.3g}); lower [train] lr; nothing of "
                                  f"this epoch was saved")
            record = {"epoch": epoch + 1, "loss": float(self._host(loss_sum)) / N,
                      "acc": int(self._host(correct)) / N, "val_loss": None, "val_acc": None,
                      "lr": lr0}
            if cfg.batch_schedule:  # the epoch's batch size (docs/epochs.md)
                record["batch_size"] = batch
            if cfg.refractory_ramp:  # train acc/loss of a relaxed epoch are not the circuit's
                record["gate"] = gate
            if val is not None:
                ev = self.evaluate(xv, yv)
                record["val_loss"], record["val_acc"] = ev.loss, ev.acc
            record["time"] = time.perf_counter() - t0
            record.update(table_dynamics(before, self.tables(), xp))
            if self.rewirer is not None:
                record.update(self.rewirer.epoch_record(epoch))
            self._keep(record)
            self.history.append(record)
            self.epoch = epoch + 1
            if log is not None:
                write_text_atomic(log, "".join(json.dumps(r) + "\n" for r in self.history))
            if checkpoint is not None:
                self.save_checkpoint(checkpoint)
            if not self._quiet:  # one line per epoch in a log too
                tqdm.write(_describe(record), file=sys.stderr)
            if callback is not None:
                callback(self, record)
        kept = self.best_params if cfg.keep == "best" and self.best is not None else self.params
        kept_epoch = self.best["epoch"] if cfg.keep == "best" and self.best is not None else self.epoch
        wiring = self.best_net if cfg.keep == "best" and self.best is not None else self.net
        net = self.network(kept, wiring)
        if self.rewirer is not None:  # the importance rewiring ranked by, saved with the model
            net = self.rewirer.importance(net, x, y)
        return TrainResult(net, list(self.history), kept_epoch)

    def _keep(self, record: dict) -> None:
        """Keep the best validation model (accuracy, then loss); without validation, the last.

        Epochs trained through a relaxed refractory gate (``record["gate"] < 1``) are never kept:
        the kept model is always one the exact circuit was trained as."""
        if record.get("gate", 1.0) < 1.0:
            return
        if record["val_acc"] is None:
            self.best = {"epoch": record["epoch"], "val_acc": None, "val_loss": None}
            self.best_params = [p.copy() for p in self.params]
            self.best_net = self.net
            return
        key = (record["val_acc"], -record["val_loss"])
        if self.best is None or self.best["val_acc"] is None or \
                key > (self.best["val_acc"], -self.best["val_loss"]):
            self.best = {"epoch": record["epoch"], "val_acc": record["val_acc"],
                         "val_loss": record["val_loss"]}
            self.best_params = [p.copy() for p in self.params]
            self.best_net = self.net

    def network(self, params: Sequence[Any] | None = None, wiring: Network | None = None) -> Network:
        """The network with the table values of ``params`` (default: current) as logits and
        ``table = logits > 0``, on the taps of ``wiring`` (default: the current ones; rewiring
        changes them)."""
        wiring = self.net if wiring is None else wiring
        layers = []
        for layer, p in zip(wiring.layers, self.tables(params)):
            logits = np.array(self._host(p), np.float32)
            # a tap importance the layer carried was measured on other tables: dropped
            layers.append(layer.replace(logits=logits, table=(logits > 0).astype(np.uint8),
                                        tap_influence=None, tap_gradient=None))
        meta = dict(self.net.meta)
        meta["train"] = {"epochs": self.epoch, "loss": self.cfg.loss,
                         "surrogate": self.cfg.surrogate, "seed": self.cfg.seed}
        if self.cfg.relaxation != "multilinear":  # the logits written are its table values U
            meta["train"]["relaxation"] = self.cfg.relaxation
        if self.analog is not None and not self.analog.is_binary:  # logits: analog parameters
            meta["analog"] = self.analog.to_meta()
        if self.data_record:
            meta["data"] = dict(self.data_record)
        return wiring.replace(layers=layers, meta=meta)  # validated, immutable

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write the whole training state to an HDF5 checkpoint, atomically
        (:func:`spikelut.train.checkpoint.save_checkpoint`, whose docstring has the format)."""
        _checkpoint.save_checkpoint(self, path)

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Restore the state saved by :meth:`save_checkpoint`; the network and config must match
        (``epochs`` may grow, to extend a run; ``backend`` may differ, to move a run between
        the CPU and the GPU), and in a fit the data too (:attr:`digests`). The file is read as
        untrusted input (:func:`spikelut.train.checkpoint.load_checkpoint`).

        Raises:
            FileFormatError: not a readable spikelut checkpoint, or arrays of the wrong shape.
            ConfigError: made for another network, with another ``[train]`` config, on other
                training or validation data or teacher features, or past ``cfg.epochs``.
        """
        _checkpoint.load_checkpoint(self, path)

def _describe(r: dict) -> str:
    s = f"epoch {r['epoch']}: loss {r['loss']:.4f} acc {r['acc']:.4f}"
    if r["val_acc"] is not None:
        s += f" | val_loss {r['val_loss']:.4f} val_acc {r['val_acc']:.4f}"
    return s + f" | lr {r['lr']:.3g} | {r['time']:.1f}s"


def train(net: Network, cfg: TrainConfig, train_data: Any, val_data: Any = None,
          **kwargs: Any) -> TrainResult:
    """Shorthand for ``Trainer(net, cfg).fit(train_data, val_data, **kwargs)``.

    Surrogate-gradient backpropagation through time on the table logits (DESIGN.md section 3;
    the loop: this module's docstring). :func:`spikelut.api.train` takes the ``[train]`` table as
    a dict instead.

    Args:
        net: the network; its structure is kept, its tables are learned.
        cfg: a :class:`~spikelut.train.TrainConfig` (not a dict: build one with
            ``TrainConfig.from_dict(table)``).
        train_data: :class:`~spikelut.io.spikes.SpikeData` with labels, or ``(spikes [T, N,
            n_in] 0/1, labels [N] int)``.
        val_data: validation data in the same form, or ``None`` (the last epoch is kept).
        **kwargs: ``progress`` (of :class:`Trainer`) and ``log``, ``checkpoint``, ``resume``,
            ``callback``, ``teacher`` (of :meth:`Trainer.fit`).

    Returns:
        A :class:`TrainResult`: the kept network (float32 ``logits [n, 2**k]`` per layer, tables
        ``logits > 0``), one history record per epoch (keys: this module's log format) and
        the kept epoch (1-based).

    Raises:
        ConfigError: a ``cfg`` that does not validate, a ``[train] backend`` not usable here,
            ``[train] ensemble`` other than 1, or a checkpoint that does not match the run.
        ShapeError: data that are not labelled SpikeData or ``(spikes, labels)``, or do not
            fit ``net`` (:func:`check_data`).
        FileFormatError: a checkpoint that cannot be read.
        OutputError: a log or checkpoint that cannot be written.

    Example:
        >>> from spikelut.wiring import random_network
        >>> from spikelut.train import TrainConfig
        >>> x = (np.random.default_rng(0).random((6, 20, 4)) < 0.5).astype(np.uint8)
        >>> res = train(random_network(0, n_in=4, sizes=[8, 2], k=3, classes=2),
        ...             TrainConfig(epochs=2, batch_size=10), (x, x[:, :, 0].sum(axis=0) % 2))
        >>> len(res.history), res.kept_epoch, res.net.layers[1].logits.dtype
        (2, 2, dtype('float32'))
    """
    progress = kwargs.pop("progress", None)
    return Trainer(net, cfg, progress=progress).fit(train_data, val_data, **kwargs)
