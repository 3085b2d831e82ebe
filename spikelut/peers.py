"""The peer benchmark: spikelut's MNIST-1D demo network trained next to the spiking-network
libraries people use today and a GRU, on the same spike trains, split and threads, in one run.

Systems (:data:`SYSTEMS`):

* ``spikelut``: the network of ``demos/train_mnist1d.toml`` (4,296 LUT6) trained through the public
  API (:func:`spikelut.api.train`, the compiled ``numba`` passes, the config's ``[train]`` table
  with ``epochs`` / ``batch_size`` / ``seed`` from the benchmark);
* ``spikingjelly``: SpikingJelly 2.0 ``activation_based``: ``Linear(32, 256)`` into a LIF layer,
  then a recurrent LIF layer (``layer.LinearRecurrentContainer``: input and its own spikes one
  cycle ago through ``Linear(512, 256)``), and a linear readout of the mean spike rate
  (142,346 weights);
* ``snntorch``: snnTorch 1.0 ``RLeaky`` (all-to-all recurrent ``Linear(256, 256)``) fed by
  ``Linear(32, 256)``, with the same readout (76,810 weights);
* ``gru``: ``torch.nn.GRU(32, 256)`` and a linear readout of its last state (225,290 weights; not
  spiking: the reference of what a float recurrent network reaches).

Every system gets the same spike trains: the MNIST-1D demo's own encoding (``spikelut encode
--dataset mnist1d --coding thermometer --steps 40 --param levels=32``, ``demos/train_demos.py``) or
the spike files given, the same seeded validation part held out of the training split (for
choosing hyper-parameters, never the test set) and the same number of threads (numba's and
PyTorch's). The peers are trained with Adam on the cross-entropy of their readout at a constant
learning rate (:data:`PEER_LR`, chosen on the validation part), their batches drawn in the same
seeded order scheme as spikelut's trainer.

Timing: ``seconds`` of an epoch is the training loop alone (batches, forward, backward, update);
the validation and test accuracies are measured after it, outside the clock. A warm-up step
before each system's first epoch keeps one-time compilation (numba's cache load) out of it.
``time_to_target`` is the summed training seconds up to the end of the first epoch whose test
accuracy reaches ``target`` (``None`` when no epoch does).

PyTorch, SpikingJelly and snnTorch are optional (``pip install 'spikelut[peers]'`` then
``pip install --no-deps spikingjelly==2.0.0``, docs/peers.md); a system whose library is missing
is skipped and the report says why.

Example:
    >>> from spikelut.peers import SYSTEMS, missing
    >>> SYSTEMS
    ('spikelut', 'spikingjelly', 'snntorch', 'gru')
    >>> missing("spikelut") is None
    True
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .errors import ConfigError, ShapeError, count

SYSTEMS = ("spikelut", "spikingjelly", "snntorch", "gru")
"""Every system the benchmark knows, in report order."""

DEFAULT_CONFIG = "train_mnist1d.toml"
"""The spikelut network's config, shipped in ``spikelut.demos``."""

ENCODING = {"dataset": "mnist1d", "coding": "thermometer", "steps": 40, "params": {"levels": 32}}
"""The MNIST-1D demo's encoding (``demos/train_demos.py``), used when no spike files are given."""

HIDDEN = 256
"""Hidden units of the peers."""

PEER_LR = {"spikingjelly": 1e-2, "snntorch": 1e-3, "gru": 3e-3}
"""Adam learning rates of the peers (chosen on the validation part, docs/peers.md)."""

EVAL_BATCH = 500
"""Samples per forward pass when a peer is evaluated."""

INSTALL_HINT = "pip install 'spikelut[peers]' && pip install --no-deps spikingjelly==2.0.0"

_NEEDS = {"spikelut": (), "spikingjelly": ("torch", "spikingjelly.activation_based.neuron"),
          "snntorch": ("torch", "snntorch"), "gru": ("torch",)}


def missing(system: str) -> str | None:
    """Why ``system`` cannot run here (a library it needs does not import), or ``None``.

    Raises:
        ConfigError: ``system`` is not one of :data:`SYSTEMS`.

    Example:
        >>> missing("spikelut") is None
        True
    """
    if system not in _NEEDS:
        raise ConfigError(f"unknown system {system!r}; choose from {', '.join(SYSTEMS)}")
    if system == "spikingjelly":
        # its custom ops ask torch for Triton kernels; a CPU build of torch logs a warning per op
        # ("Triton not available") that says nothing about the benchmark
        logging.getLogger("torch._library.triton").setLevel(logging.ERROR)
    for mod in _NEEDS[system]:
        try:
            importlib.import_module(mod)
        except Exception as e:  # an ImportError, or a broken install of a dependency
            top = mod.split(".")[0]
            return f"{top} does not import ({type(e).__name__}: {e}); install it with: {INSTALL_HINT}"
    return None


def parse_systems(text: str) -> list[str]:
    """Systems named in a comma-separated list (``"all"`` = every one), in report order.

    Raises:
        ConfigError: an unknown name, or none.

    Example:
        >>> parse_systems("gru,spikelut")
        ['spikelut', 'gru']
    """
    names = [s.strip() for s in text.split(",") if s.strip()]
    if names == ["all"]:
        return list(SYSTEMS)
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown or not names:
        raise ConfigError(f"--systems: unknown system(s) {unknown or names}; choose from "
                          f"{', '.join(SYSTEMS)} or all")
    return [s for s in SYSTEMS if s in names]


# ---------------------------------------------------------------------------- data
@dataclass
class Split:
    """The benchmark's data: ``(spikes [T, N, channels] uint8, labels [N] int64)`` per part."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    source: str

    def sizes(self) -> dict:
        """Samples per part, cycles and channels."""
        T, _, C = self.train[0].shape
        return {"train": int(self.train[1].size), "val": int(self.val[1].size),
                "test": int(self.test[1].size), "cycles": int(T), "channels": int(C)}


def load_split(data: str | os.PathLike | None = None, test: str | os.PathLike | None = None,
               val_fraction: float = 0.125, seed: int = 0, limit: int | None = None,
               differences: Sequence[int] = (), second_differences: Sequence[int] = ()) -> Split:
    """The training, validation and test data of the benchmark.

    Args:
        data, test: labelled spike files (``spikelut encode``); both or neither. Default: the
            MNIST-1D demo's encoding (:data:`ENCODING`) of the built-in train and test splits.
        val_fraction: part of the training split held out for validation
            (:func:`spikelut.train.trainer.holdout`, seeded by ``seed``); 0.125 = the demo's 500 of
            4,000.
        seed: seed of the hold-out draw.
        limit: keep only the first ``limit`` samples of the training and the test split.
        differences: lags of difference channels added to the demo's encoding (``spikelut
            encode --differences``, :mod:`spikelut.differences`; scaled by the training
            split's constants on both splits); only without ``data``.
        second_differences: lags of second-difference channels added after them (``spikelut
            encode --second-differences``); only without ``data``.

    Raises:
        ConfigError: only one of ``data`` / ``test``, ``limit < 1``, a bad ``val_fraction``,
            differences with spike files, lags the encoder refuses, or a test file that holds
            the training samples (a copy, or more of them than chance explains:
            :func:`overlap_with_training`).
        ShapeError: files without labels, or with different cycles / channels.
        FileFormatError: a file that is not a spike file.

    Example:
        >>> s = load_split(limit=16, val_fraction=0.25)
        >>> s.sizes()
        {'train': 12, 'val': 4, 'test': 16, 'cycles': 40, 'channels': 32}
    """
    from .train.trainer import holdout

    if (data is None) != (test is None):
        raise ConfigError("--data and --test go together (a training and a test spike file); give "
                          "both, or neither for the MNIST-1D demo's encoding")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {limit}")
    for name, lags in (("differences", differences), ("second_differences", second_differences)):
        if isinstance(lags, (str, bytes)) or not isinstance(lags, Sequence):
            raise ConfigError(f"{name} must be a list of lags in cycles, e.g. [1]; got {lags!r}")
    differences, second_differences = tuple(differences), tuple(second_differences)
    for flag, lags in (("--differences", differences), ("--second-differences", second_differences)):
        if lags and data is not None:
            raise ConfigError(f"{flag} encodes the built-in MNIST-1D; spike files given with "
                              f"--data carry their own encoding: drop {flag}, or encode the files "
                              f"with spikelut encode {flag}")
    parts = []
    if data is None:
        from .datasets import encode_dataset

        for split in ("train", "test"):
            sd = encode_dataset(ENCODING["dataset"], ENCODING["coding"], ENCODING["steps"],
                                split=split, seed=0, limit=limit, differences=differences,
                                second_differences=second_differences, **ENCODING["params"])
            parts.append((sd.spikes, sd.labels))
        extra, flags = "", ""
        for what, flag, lags in (("difference", "--differences", differences),
                                 ("second-difference", "--second-differences", second_differences)):
            if lags:
                text = ",".join(str(v) for v in lags)
                extra += f", {what} channels (lags {text})"
                flags += f" {flag} {text}"
        source = (f"mnist1d, thermometer 32 levels, 40 cycles{extra} (spikelut encode --dataset "
                  f"mnist1d --coding thermometer --steps 40 --param levels=32 --seed 0{flags})")
    else:
        from .io import load_spikes

        for path in (data, test):
            sd = load_spikes(path)
            if sd.labels is None:
                raise ShapeError(f"{path}: has no /labels; the benchmark needs labelled spikes "
                                 f"(spikelut encode writes them)")
            x, y = sd.spikes, sd.labels
            if limit is not None:
                x, y = x[:, :limit], y[:limit]
            parts.append((np.ascontiguousarray(x), y))
        source = f"{data} and {test}"
        if parts[0][0].shape[0] != parts[1][0].shape[0] or parts[0][0].shape[2] != parts[1][0].shape[2]:
            raise ShapeError(f"{test}: spikes of shape {parts[1][0].shape}, but {data} has "
                             f"{parts[0][0].shape} (cycles and channels must match)")
        (xa, ya), (xb, yb) = parts
        hint = "give a test file encoded from the test split (spikelut encode ... --split test)"
        if np.array_equal(ya, yb) and np.array_equal(xa, xb):
            # the same file (or a copy): every test accuracy of the report would have scored
            # samples the systems trained on
            raise ConfigError(f"--test {test}: its samples are the training samples of --data "
                              f"{data}; {hint}")
        shared, expected, allowed = overlap_with_training(xa, xb)
        if shared > allowed:
            # a prefix or any other part of the training file (spikelut encode --split train
            # --limit N): those test samples scored what the systems trained on
            raise ConfigError(f"--test {test}: {shared} of its {count(yb.size, 'samples')} "
                              f"equal training samples of --data {data} bit for bit (samples "
                              f"drawn apart would repeat about {expected:.0f}); {hint}")
    (xt, yt), (xv, yv) = holdout(parts[0][0], parts[0][1], val_fraction, seed)
    as_int = np.int64
    return Split((xt, yt.astype(as_int)), (xv, yv.astype(as_int)),
                 (parts[1][0], parts[1][1].astype(as_int)), source)


def _sample_digests(x: np.ndarray) -> Iterator[bytes]:
    """A 128-bit hash of each sample's spike train ``x[:, i]`` (one sample's bytes at a time:
    no copy of the whole array)."""
    return (hashlib.blake2b(x[:, i].tobytes(), digest_size=16).digest() for i in range(x.shape[1]))


def overlap_with_training(train: np.ndarray, test: np.ndarray) -> tuple[int, float, int]:
    """How many test samples equal a training sample bit for bit, against what chance explains.

    Where the inputs take few values (``first_of_two``: 108 spike trains in all) independent
    samples repeat each other, so a test sample equal to a training one is not a leak by itself.
    The training file's own repeats measure that: the share of its samples equal to another of
    them is the chance that a sample drawn apart equals one of them. ``allowed`` is that
    expectation plus four standard deviations plus one coincidence; real data (MNIST-1D's 4,000
    training samples repeat none) allows one, while a test file cut from the training file (a
    prefix, a subset, a shuffle) is far above it.

    Args:
        train, test: spikes ``[T, N, channels]`` of the training and the test file.

    Returns:
        ``(shared, expected, allowed)``: test samples equal to a training sample, the number
        chance explains, and the most the benchmark accepts.

    Example:
        >>> x = np.eye(8, dtype=np.uint8)[:, :, None]                     # 8 distinct samples
        >>> overlap_with_training(x, x[:, :3]), overlap_with_training(x[:, :4], x[:, 4:])
        ((3, 0.0, 1), (0, 0.0, 1))
        >>> overlap_with_training(np.zeros((2, 6, 1), np.uint8), np.zeros((2, 3, 1), np.uint8))
        (3, 3.0, 4)
    """
    seen: dict[bytes, int] = {}
    for d in _sample_digests(train):
        seen[d] = seen.get(d, 0) + 1
    n_train, n_test = train.shape[1], test.shape[1]
    repeats = sum(c for c in seen.values() if c > 1)  # training samples equal to another one
    p = repeats / n_train if n_train else 0.0
    shared = sum(d in seen for d in _sample_digests(test))
    expected = p * n_test
    return shared, expected, int(expected + 4 * math.sqrt(n_test * p * (1 - p))) + 1


def default_config() -> Path:
    """``demos/train_mnist1d.toml`` of a checkout, or of the installed ``spikelut.demos``."""
    from .config import demo_path

    return demo_path(DEFAULT_CONFIG)


# ---------------------------------------------------------------------------- threads
def set_threads(threads: int) -> Callable[[], None]:
    """Run numba's and PyTorch's parallel code on ``threads`` threads; returns the undo.

    Raises:
        ConfigError: ``threads < 1``, or more than numba was started with (``NUMBA_NUM_THREADS``).
    """
    import numba

    from .threads import check_thread_count

    check_thread_count(threads)
    old = numba.get_num_threads()
    numba.set_num_threads(threads)
    undo_torch: Callable[[], None] = lambda: None
    if missing("gru") is None:
        import torch

        old_t = torch.get_num_threads()
        torch.set_num_threads(threads)
        undo_torch = lambda: torch.set_num_threads(old_t)  # noqa: E731

    def undo() -> None:
        numba.set_num_threads(old)
        undo_torch()

    return undo


# ---------------------------------------------------------------------------- peers (PyTorch)
def build_peer(system: str, n_in: int, classes: int, hidden: int = HIDDEN, seed: int = 0):
    """The ``torch.nn.Module`` of a peer: spikes ``[T, B, n_in]`` float32 in, logits ``[B, classes]``
    out; weights drawn from ``torch.manual_seed(seed)``.

    Raises:
        ToolError: the peer's library is missing (the message says which and how to install it).

    Example:
        >>> m = build_peer("gru", n_in=32, classes=10)                  # doctest: +SKIP
        >>> sum(p.numel() for p in m.parameters())                      # doctest: +SKIP
        225290
    """
    from .errors import ToolError

    why = missing(system)
    if why is not None:
        raise ToolError(f"{system}: {why}")
    if system == "spikelut":
        raise ConfigError("spikelut is not a PyTorch peer; see run_peers")
    import torch
    from torch import nn

    torch.manual_seed(seed)
    if system == "gru":
        class GRUNet(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.gru = nn.GRU(n_in, hidden)
                self.out = nn.Linear(hidden, classes)

            def forward(self, x):
                _, h = self.gru(x)
                return self.out(h[-1])

        return GRUNet()
    if system == "spikingjelly":
        from spikingjelly.activation_based import functional, layer, neuron, surrogate

        def lif(mode: str):
            # the library's defaults (tau 2, threshold 1, hard reset to 0), the ATan surrogate and
            # a detached reset, as in its tutorials
            return neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan(), detach_reset=True,
                                  step_mode=mode)

        class SJNet(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.fc_in = nn.Linear(n_in, hidden)
                self.lif_in = lif("m")
                self.rec = layer.LinearRecurrentContainer(lif("s"), hidden, hidden)
                self.out = nn.Linear(hidden, classes)

            def forward(self, x):
                functional.reset_net(self)  # membrane and recurrent state start at 0 per batch
                s = self.lif_in(self.fc_in(x))
                r = torch.stack([self.rec(s[t]) for t in range(x.shape[0])])
                return self.out(r.mean(0))

        return SJNet()
    import snntorch as snn
    from snntorch import surrogate as snn_surrogate

    class SnnNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc_in = nn.Linear(n_in, hidden)
            self.rlif = snn.RLeaky(beta=0.9, linear_features=hidden,
                                   spike_grad=snn_surrogate.fast_sigmoid(slope=25))
            self.out = nn.Linear(hidden, classes)

        def forward(self, x):
            spk, mem = self.rlif.init_rleaky()
            cur = self.fc_in(x)
            rec = []
            for t in range(x.shape[0]):
                spk, mem = self.rlif(cur[t], spk, mem)
                rec.append(spk)
            return self.out(torch.stack(rec).mean(0))

    return SnnNet()


def _peer_accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for b0 in range(0, x.shape[1], EVAL_BATCH):
            xb = torch.as_tensor(x[:, b0:b0 + EVAL_BATCH], dtype=torch.float32)
            correct += int((model(xb).argmax(1).numpy() == y[b0:b0 + EVAL_BATCH]).sum())
    model.train()
    return correct / len(y)


def _train_peer(system: str, split: Split, classes: int, epochs: int, batch_size: int, lr: float,
                seed: int, hidden: int, on_epoch: Callable[[dict], None]) -> dict:
    import torch
    import torch.nn.functional as F

    x, y = split.train
    n_in, N = x.shape[2], x.shape[1]
    # warm-up on a throw-away model: one-time costs (allocator, kernels) out of the clock
    warm = build_peer(system, n_in, classes, hidden, seed)
    F.cross_entropy(warm(torch.as_tensor(x[:, :batch_size], dtype=torch.float32)),
                    torch.as_tensor(y[:batch_size])).backward()
    model = build_peer(system, n_in, classes, hidden, seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        order = torch.as_tensor(rng.permutation(N))
        correct = 0
        for b0 in range(0, N, batch_size):
            idx = order[b0:b0 + batch_size]
            logits = model(xt[:, idx])
            loss = F.cross_entropy(logits, yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            correct += int((logits.argmax(1) == yt[idx]).sum())
        seconds = time.perf_counter() - t0
        on_epoch({"epoch": epoch + 1, "seconds": seconds, "train_acc": correct / N,
                  "val_acc": _peer_accuracy(model, *split.val),
                  "test_acc": _peer_accuracy(model, *split.test)})
    return {"size": int(sum(p.numel() for p in model.parameters())), "size_unit": "weights",
            "lr": lr}


# ---------------------------------------------------------------------------- spikelut
TRAIN_FIXED = ("epochs", "batch_size", "seed", "backend", "kernels")
"""``[train]`` keys the benchmark sets itself (``--epochs``, ``--batch-size``, ``--seed``, the numba
passes): ``train`` overrides may not name them."""


def _refuse_fixed(keys) -> None:
    """ConfigError for the first (sorted) key of ``keys`` that is in :data:`TRAIN_FIXED`."""
    fixed = sorted(set(keys) & set(TRAIN_FIXED))
    if fixed:
        raise ConfigError(f"--train {fixed[0]}: the benchmark sets it (--epochs, --batch-size, "
                          f"--seed; the numba passes); set it there instead")


def parse_train_overrides(items: Sequence[str]) -> dict:
    """``["lr=0.03", "schedule=onecycle", "batch_schedule=[[11, 50]]"]`` -> a dict of ``[train]``
    keys; each value is read as JSON when it parses, else kept as a string.

    Raises:
        ConfigError: an item without ``=``, or a key the benchmark sets itself (:data:`TRAIN_FIXED`).

    Example:
        >>> parse_train_overrides(["lr=0.03", "schedule=onecycle", "batch_schedule=[[11, 50]]"])
        {'lr': 0.03, 'schedule': 'onecycle', 'batch_schedule': [[11, 50]]}
    """
    import json

    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--train {item!r}: expected KEY=VALUE, e.g. schedule=onecycle")
        _refuse_fixed([key])
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text.strip()
    return out


def check_inputs(config: str | os.PathLike, channels: int, builtin: bool) -> None:
    """Refuse a spikelut config whose ``inputs`` differ from the data's channels, before any
    system trains, saying what to change.

    Args:
        config: spikelut's config file.
        channels: the data's channels.
        builtin: the data are the built-in MNIST-1D encoding (:data:`ENCODING`: 32 channels, and
            32 more per difference or second-difference lag), not spike files.

    Raises:
        ShapeError: the mismatch, in one line.
        ConfigError: a config that cannot be read.

    Example:
        >>> check_inputs(default_config(), 64, builtin=True)
        Traceback (most recent call last):
        ...
        spikelut.errors.ShapeError: ...reads 32 input channels but the data have 64: drop --differences / --second-differences, or give a config with inputs = 64 (demos/train_mnist1d_fast.toml reads the code and its lag-1 differences)
    """
    from .config import load_config

    n_in = load_config(config).get("inputs")
    if not isinstance(n_in, int) or isinstance(n_in, bool) or n_in == channels:
        return  # a bad value is the config check's to report, with the rest of the config
    head = f"{config}: the network reads {n_in} input channels but the data have {channels}"
    per = ENCODING["params"]["levels"]  # channels of the code; each lag adds as many
    if not builtin:
        raise ShapeError(f"{head}; give a config with inputs = {channels}")
    if n_in > channels and n_in % per == 0:
        more = (n_in - channels) // per
        add = ("add --differences 1" if more == 1 and channels == per
               else f"add {more} more lag{'s' if more > 1 else ''} with --differences / "
                    f"--second-differences")
        raise ShapeError(f"{head}: {add} (the built-in code has {per} channels, each lag {per} "
                         f"more), or give a config with inputs = {channels}")
    what = ("drop --differences / --second-differences" if n_in == per
            else "use fewer difference lags")
    fast = (" (demos/train_mnist1d_fast.toml reads the code and its lag-1 differences)"
            if channels == 2 * per else "")
    raise ShapeError(f"{head}: {what}, or give a config with inputs = {channels}{fast}")


def _train_spikelut(config: str | os.PathLike, split: Split, epochs: int, batch_size: int,
                    seed: int, on_epoch: Callable[[dict], None],
                    overrides: dict | None = None) -> dict:
    from .api import train
    from .config import build_network, load_config
    from .train import Trainer, TrainConfig

    cfg = load_config(config)
    tdict = dict(cfg.get("train") or {})
    tdict.pop("kernels", None)
    tdict.update(overrides or {})  # --train KEY=VALUE (docs/epochs.md): a variant of the config
    # the CPU passes: the peers run on the CPU too ("auto" would take a GPU where there is one)
    tdict.update(epochs=epochs, batch_size=batch_size, seed=seed, backend="numba")
    try:
        tcfg = TrainConfig.from_dict(tdict, seed=seed)
    except ConfigError as e:
        via = " (with --train)" if overrides else ""
        raise ConfigError(f"{config}{via}: {e}") from None
    net = build_network(cfg, seed=seed)
    x, y = split.train
    # warm-up: one batch through a throw-away trainer loads the compiled kernels
    warm = TrainConfig.from_dict({**tdict, "epochs": 1}, seed=seed)
    Trainer(net, warm, progress=False).fit((x[:, :batch_size], y[:batch_size]))

    def callback(trainer: Any, record: dict) -> None:
        # the record's time is the epoch's training alone: no validation set was given to fit
        on_epoch({"epoch": record["epoch"], "seconds": record["time"], "train_acc": record["acc"],
                  "val_acc": trainer.evaluate(*split.val).acc,
                  "test_acc": trainer.evaluate(*split.test).acc})

    result = train(net, (x, y), tcfg, progress=False, callback=callback)
    s = result.net.summary()
    return {"size": int(s["luts"]), "size_unit": f"LUT{max(lay.k for lay in net.layers)}",
            "lr": tcfg.lr, "flip_flops": int(s["flip_flops"]),
            "train": {k: tcfg.to_dict()[k] for k in sorted(overrides or {})}}


def describe(system: str, hidden: int = HIDDEN, config: str | None = None) -> str:
    """One line saying what ``system`` is.

    Example:
        >>> describe("gru")
        'torch.nn.GRU, 256 hidden, linear readout of the last state (not spiking)'
    """
    return {
        "spikelut": f"LUT network of {config or 'demos/' + DEFAULT_CONFIG} (spikelut.api.train, numba)",
        "spikingjelly": f"SpikingJelly LIF layer + recurrent LIF layer (LinearRecurrentContainer), "
                        f"{hidden} hidden, readout of the mean spike rate",
        "snntorch": f"snnTorch RLeaky (all-to-all recurrent), {hidden} hidden, readout of the mean "
                    f"spike rate",
        "gru": f"torch.nn.GRU, {hidden} hidden, linear readout of the last state (not spiking)",
    }[system]


def _library(system: str) -> str:
    from . import __version__

    name = {"spikelut": "spikelut", "spikingjelly": "spikingjelly", "snntorch": "snntorch",
            "gru": "torch"}[system]
    if name == "spikelut":
        return f"spikelut {__version__}"
    try:
        from importlib.metadata import version

        return f"{name} {version(name)}"
    except Exception:
        return name


def _load_average() -> float | None:
    """The 1-minute load average (other processes share the cores: timings depend on it)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):  # not on every system
        return None


def time_to_target(epochs: Sequence[dict], target: float) -> tuple[float | None, int | None]:
    """Summed training seconds and epochs up to the first epoch whose ``test_acc >= target``;
    ``(None, None)`` when none reaches it.

    Example:
        >>> time_to_target([{"seconds": 2.0, "test_acc": 0.5}, {"seconds": 3.0, "test_acc": 0.9}], 0.88)
        (5.0, 2)
        >>> time_to_target([{"seconds": 2.0, "test_acc": 0.5}], 0.88)
        (None, None)
    """
    total = 0.0
    for i, e in enumerate(epochs):
        total += e["seconds"]
        if e["test_acc"] >= target:
            return total, i + 1
    return None, None


MAX_EPOCHS = 1_000_000
"""The most epochs a benchmark runs (the trainers plan every epoch up front: 10**12 epochs ran
out of memory before the first)."""

MAX_SEED = 2**63 - 1
"""The largest seed (torch.manual_seed takes a 64-bit integer; the report is JSON)."""


def check_sizes(epochs: int, seed: int, hidden: int) -> None:
    """Refuse, before any data are loaded, an ``epochs`` over :data:`MAX_EPOCHS`, a negative or
    too large ``seed``, and a ``hidden`` whose peer weights (``3 * hidden x hidden`` float32 of
    the GRU's recurrent gates) are over the array limit (``--hidden 10**11`` was torch's
    allocation traceback). The other values are checked by :func:`run_peers`."""
    from . import limits

    if epochs > MAX_EPOCHS:
        raise ConfigError(f"--epochs must be at most {MAX_EPOCHS}, got {epochs}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"--seed must be an integer >= 0, got {seed!r}")
    if seed > MAX_SEED:
        raise ConfigError(f"--seed must be at most {MAX_SEED} (2**63 - 1), got {seed}")
    limits.check_array_bytes((3 * hidden, hidden), 4, f"--hidden {hidden}: a peer's recurrent "
                             f"weights", ConfigError)


def run_peers(systems: Sequence[str] = SYSTEMS, epochs: int = 3, batch_size: int = 25,
              threads: int = 1, target: float = 0.88, seed: int = 0,
              data: str | os.PathLike | None = None, test: str | os.PathLike | None = None,
              val_fraction: float = 0.125, limit: int | None = None,
              config: str | os.PathLike | None = None, hidden: int = HIDDEN,
              lr: dict | None = None, command: str | None = None, progress: bool = False,
              train: dict | None = None, differences: Sequence[int] = (),
              second_differences: Sequence[int] = ()) -> dict:
    """Train every system in ``systems`` on the same data, split and threads; the report.

    Args:
        systems: names from :data:`SYSTEMS`.
        epochs, batch_size: the same for every system.
        threads: numba's and PyTorch's threads (:func:`set_threads`).
        target: test accuracy whose time to reach is reported.
        seed: seeds the hold-out draw, spikelut's network and trainer, the peers' weights and the
            order of every system's batches.
        data, test, val_fraction, limit, differences, second_differences: the data
            (:func:`load_split`).
        config: spikelut's network and ``[train]`` table (default: ``demos/train_mnist1d.toml``).
        hidden: hidden units of the peers.
        lr: learning rate per peer, overriding :data:`PEER_LR` (``{"gru": 0.01}``).
        command: the command line, recorded in the report.
        progress: print one line per system and epoch on stderr (:func:`spikelut.progress.write`).
        train: ``[train]`` keys that override spikelut's config (a schedule variant, e.g.
            ``{"schedule": "onecycle", "lr": 0.03}``; not :data:`TRAIN_FIXED`).

    Returns:
        ``{"date", "command_line", "machine", "settings", "data", "systems": [...]}`` (``machine``
        holds the 1-minute ``load_average`` at the start and the end); each system
        ``{"system", "available", "reason", "library", "model", "size", "size_unit", "lr",
        "epochs": [{"epoch", "seconds", "train_acc", "val_acc", "test_acc"}], "seconds_per_epoch"
        (median), "final_test_acc", "best_test_acc", "time_to_target", "epochs_to_target"}``;
        a skipped system has ``available = False``, the ``reason``, and ``None`` / ``[]``
        elsewhere.

    Raises:
        ConfigError: ``epochs``, ``batch_size``, ``threads``, ``hidden`` < 1, ``seed`` < 0,
            a ``train`` key of :data:`TRAIN_FIXED` or a ``[train]`` value the config refuses,
            ``target`` outside [0, 1], an unknown system or an ``lr`` that is not a positive
            number for a peer.
        ShapeError, FileFormatError: data that cannot be used, or a spikelut config whose
            ``inputs`` differ from the data's channels (:func:`check_inputs`; with
            ``differences``, 32 more per lag).
    """
    from .bench import machine_info
    from .progress import write

    systems = parse_systems(",".join(systems))
    for name, value in (("epochs", epochs), ("batch-size", batch_size), ("threads", threads),
                        ("hidden", hidden)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"--{name} must be an integer >= 1, got {value!r}")
    check_sizes(epochs, seed, hidden)
    if not 0.0 <= target <= 1.0:
        raise ConfigError(f"--target must be an accuracy in [0, 1], got {target}")
    rates = dict(PEER_LR)
    for name, value in (lr or {}).items():
        if name not in PEER_LR:
            raise ConfigError(f"--lr: {name!r} is not a peer; choose from {', '.join(PEER_LR)} "
                              f"(spikelut's rate is its config's [train] lr)")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"--lr {name}: must be a number > 0, got {value!r}")
        if not math.isfinite(value):  # inf trained every weight into NaN, silently
            raise ConfigError(f"--lr {name}: must be a finite number, got {value!r}")
        rates[name] = float(value)
    _refuse_fixed(train or {})
    if config is None:
        config = default_config()
    load_start = _load_average()
    split = load_split(data, test, val_fraction, seed, limit, differences, second_differences)
    if "spikelut" in systems:
        check_inputs(config, split.sizes()["channels"], builtin=data is None)
    classes = int(max(split.train[1].max(), split.test[1].max())) + 1
    undo = set_threads(threads)
    out = []
    try:
        for system in systems:
            entry = {"system": system, "available": True, "reason": missing(system),
                     "library": None, "model": describe(system, hidden, str(config)),
                     "size": None, "size_unit": None, "lr": None, "epochs": [],
                     "seconds_per_epoch": None, "final_test_acc": None, "best_test_acc": None,
                     "time_to_target": None, "epochs_to_target": None}
            out.append(entry)
            if entry["reason"] is not None:
                entry["available"] = False
                if progress:
                    write(f"peers: {system} skipped: {entry['reason']}")
                continue
            entry["library"] = _library(system)

            def on_epoch(rec: dict, system: str = system, entry: dict = entry) -> None:
                entry["epochs"].append(rec)
                if progress:
                    write(f"peers: {system} epoch {rec['epoch']}/{epochs}: {rec['seconds']:.1f} s, "
                          f"train {rec['train_acc']:.4f}, val {rec['val_acc']:.4f}, "
                          f"test {rec['test_acc']:.4f}")

            if system == "spikelut":
                info = _train_spikelut(config, split, epochs, batch_size, seed, on_epoch, train)
            else:
                info = _train_peer(system, split, classes, epochs, batch_size, rates[system], seed,
                                   hidden, on_epoch)
            entry.update(info)
            ep = entry["epochs"]
            entry["seconds_per_epoch"] = float(np.median([e["seconds"] for e in ep]))
            entry["final_test_acc"] = ep[-1]["test_acc"]
            entry["best_test_acc"] = max(e["test_acc"] for e in ep)
            entry["time_to_target"], entry["epochs_to_target"] = time_to_target(ep, target)
    finally:
        undo()
    return {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command_line": command,
            "machine": {**machine_info(), "load_average": [load_start, _load_average()]},
            "settings": {"systems": systems, "epochs": epochs, "batch_size": batch_size,
                         "threads": threads, "target": target, "seed": seed,
                         "val_fraction": val_fraction, "limit": limit, "hidden": hidden,
                         "config": str(config), "train": dict(train or {}),
                         "differences": list(differences),
                         "second_differences": list(second_differences)},
            "data": {"source": split.source, **split.sizes()},
            "systems": out}


def median_or_none(values: Sequence[float | None]) -> float | None:
    """The median of ``values`` where ``None`` (a target not reached) counts as later than any
    time; ``None`` when the median itself is not reached.

    Example:
        >>> median_or_none([7.1, None, 6.5]), median_or_none([7.1, None, None]), median_or_none([])
        (7.1, None, None)
        >>> median_or_none([4.0, 6.0])
        5.0
    """
    v = sorted(math.inf if x is None else float(x) for x in values)
    if not v:
        return None
    mid = len(v) // 2
    m = v[mid] if len(v) % 2 else 0.5 * (v[mid - 1] + v[mid])
    return None if math.isinf(m) else m


def summarize_seeds(reports: Sequence[dict]) -> list[dict]:
    """Per system, its results over the runs of :func:`run_peers_seeds` (one report per seed).

    Returns:
        one dict per system, in report order: ``{"system", "available", "reason", "seeds",
        "seconds_per_epoch": [per seed], "median_seconds_per_epoch", "time_to_target": [per seed,
        None = not reached], "epochs_to_target": [...], "reached": seeds that reached the target,
        "median_time_to_target"`` (:func:`median_or_none`)``, "final_test_acc": [...],
        "mean_final_test_acc"}``; a system skipped in every run has ``available = False``, its
        ``reason`` and no numbers.
    """
    out = []
    for idx, first in enumerate(reports[0]["systems"]):
        rows = [rep["systems"][idx] for rep in reports]
        done = [(rep["settings"]["seed"], r) for rep, r in zip(reports, rows) if r["available"]]
        entry: dict[str, Any] = {"system": first["system"], "available": bool(done),
                                 "reason": None if done else first["reason"]}
        if done:
            spe = [r["seconds_per_epoch"] for _, r in done]
            ttt = [r["time_to_target"] for _, r in done]
            acc = [r["final_test_acc"] for _, r in done]
            entry.update(seeds=[sd for sd, _ in done], seconds_per_epoch=spe,
                         median_seconds_per_epoch=float(np.median(spe)), time_to_target=ttt,
                         epochs_to_target=[r["epochs_to_target"] for _, r in done],
                         reached=sum(t is not None for t in ttt),
                         median_time_to_target=median_or_none(ttt), final_test_acc=acc,
                         mean_final_test_acc=float(np.mean(acc)))
        out.append(entry)
    return out


def run_peers_seeds(seeds: Sequence[int], **kwargs: Any) -> dict:
    """:func:`run_peers` once per seed (each draws its own split, networks and batch order), and
    the per-system summary over the seeds; time-to-target comparisons need more than one seed
    (on MNIST-1D the first epoch's test accuracy moves by 2-4 points between seeds).

    Args:
        seeds: two or more distinct seeds >= 0.
        kwargs: the other arguments of :func:`run_peers` (not ``seed``).

    Returns:
        ``{"seeds", "runs": [one run_peers report per seed], "summary": summarize_seeds(runs)}``.

    Raises:
        ConfigError: fewer than two seeds, a repeated or negative seed, ``seed`` in ``kwargs``;
            whatever :func:`run_peers` raises.
    """
    seeds = list(seeds)
    if "seed" in kwargs:
        raise ConfigError("give --seed or --seeds, not both")
    if len(seeds) < 2:
        raise ConfigError(f"--seeds needs two or more seeds (one seed: --seed), got {seeds}")
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in seeds):
        raise ConfigError(f"--seeds must be integers >= 0, got {seeds}")
    if max(seeds) > MAX_SEED:  # before the first run, not after it
        raise ConfigError(f"--seeds must be at most {MAX_SEED} (2**63 - 1), got {max(seeds)}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds repeats a seed: {seeds}; give distinct seeds")
    runs = [run_peers(seed=sd, **kwargs) for sd in seeds]
    return {"seeds": seeds, "runs": runs, "summary": summarize_seeds(runs)}


# ---------------------------------------------------------------------------- formatting
def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _time_to(seconds: float | None, epochs: int | None) -> str:
    return "not reached" if seconds is None else f"{seconds:.1f} s ({epochs} ep)"


def format_table(rep: dict, markdown: bool = False) -> str:
    """One row per system: size, seconds per epoch, accuracies, time to the target."""
    from .bench import _render

    s = rep["settings"]
    header = ["system", "size", f"s/epoch (batch {s['batch_size']})", "epochs", "train acc",
              "val acc", "test acc (last)", "test acc (best)", f"time to {_pct(s['target'])} test"]
    rows = []
    for r in rep["systems"]:
        if not r["available"]:
            rows.append([r["system"], "-", "skipped", "-", "-", "-", "-", "-", "-"])
            continue
        last = r["epochs"][-1]
        ttt = _time_to(r["time_to_target"], r["epochs_to_target"])
        rows.append([r["system"], f"{r['size']:,} {r['size_unit']}", f"{r['seconds_per_epoch']:.2f}",
                     len(r["epochs"]), _pct(last["train_acc"]), _pct(last["val_acc"]),
                     _pct(r["final_test_acc"]), _pct(r["best_test_acc"]), ttt])
    return _render(rows, header, markdown)


def format_curves(rep: dict, markdown: bool = False) -> str:
    """Every system's epochs: seconds and train / validation / test accuracy."""
    from .bench import _render

    rows = [[r["system"], e["epoch"], f"{e['seconds']:.2f}", _pct(e["train_acc"]), _pct(e["val_acc"]),
             _pct(e["test_acc"])] for r in rep["systems"] for e in r["epochs"]]
    return _render(rows, ["system", "epoch", "seconds", "train acc", "val acc", "test acc"], markdown)


def _overrides(train: dict) -> str:
    """``--train`` overrides as ``key = value`` (JSON values), for the report's model line."""
    import json

    return ", ".join(f"{k} = {json.dumps(v)}" for k, v in train.items())


def format_report(rep: dict, markdown: bool = False) -> str:
    """The whole report: settings, machine, the table, each system's model (or why it was
    skipped), the per-epoch curves. Plain text goes through :func:`spikelut.escape.terminal`
    (file names and library messages reach the terminal)."""
    from .escape import terminal

    if "runs" in rep:  # a run_peers_seeds report
        return format_seeds_report(rep, markdown)
    m, s, d = rep["machine"], rep["settings"], rep["data"]
    head = [f"date: {rep['date']}", f"command: {rep['command_line'] or '-'}",
            f"machine: {m['cpu']}, {m['cores']} cores; python {m['python']}, numpy {m['numpy']}, "
            f"numba {m['numba']}; load average (1 min) {m['load_average'][0]} at the start, "
            f"{m['load_average'][1]} at the end",
            f"threads: {s['threads']} (numba and PyTorch); batch {s['batch_size']}; "
            f"{s['epochs']} epoch{'' if s['epochs'] == 1 else 's'}; seed {s['seed']}",
            f"data: {d['source']}; {d['train']} train / {d['val']} validation / {d['test']} test "
            f"samples, {d['cycles']} cycles x {d['channels']} channels"]
    models = [f"{r['system']}: {r['model']}; {r['library']}; lr {r['lr']:g}"
              + (f"; [train] {_overrides(r['train'])}" if r.get("train") else "")
              if r["available"] else f"{r['system']}: skipped: {r['reason']}"
              for r in rep["systems"]]
    if markdown:
        head, models = [f"- {x}" for x in head], [f"- {x}" for x in models]
    else:
        head, models = [terminal(x) for x in head], [terminal(x) for x in models]
    return "\n".join(head + ["", format_table(rep, markdown), ""] + models
                     + ["", format_curves(rep, markdown)])


def format_seeds_report(rep: dict, markdown: bool = False) -> str:
    """A :func:`run_peers_seeds` report: the summary over the seeds (per system the median
    seconds per epoch, the time to the target per seed and its median, the last test accuracy per
    seed), then each seed's whole report (:func:`format_report`)."""
    from .bench import _render

    first = rep["runs"][0]
    s = first["settings"]
    seeds = ", ".join(str(v) for v in rep["seeds"])
    header = ["system", "seeds", f"s/epoch (median, batch {s['batch_size']})",
              f"time to {_pct(s['target'])} test, per seed", "median", "test acc (last), per seed"]

    rows = []
    for r in rep["summary"]:
        if not r["available"]:
            rows.append([r["system"], "-", "skipped", "-", "-", "-"])
            continue
        rows.append([r["system"], ", ".join(str(v) for v in r["seeds"]),
                     f"{r['median_seconds_per_epoch']:.2f}",
                     "; ".join(_time_to(v, e) for v, e in zip(r["time_to_target"],
                                                              r["epochs_to_target"])),
                     ("not reached" if r["median_time_to_target"] is None
                      else f"{r['median_time_to_target']:.1f} s")
                     + f" ({r['reached']}/{len(r['seeds'])} reached)",
                     ", ".join(_pct(v) for v in r["final_test_acc"])])
    intro = f"seeds {seeds}: one run per seed (its own split, networks and batch order)"
    note = ("median: over the seeds, a seed that did not reach the target counting as later than "
            "any time")
    parts = [f"- {intro}" if markdown else intro, "", _render(rows, header, markdown), "",
             f"- {note}" if markdown else note]
    for sd, run in zip(rep["seeds"], rep["runs"]):
        parts += ["", f"## Seed {sd}" if markdown else f"--- seed {sd} ---", "",
                  format_report(run, markdown)]
    return "\n".join(parts)


__all__ = ["SYSTEMS", "PEER_LR", "ENCODING", "TRAIN_FIXED", "Split", "build_peer", "check_inputs",
           "describe", "format_curves", "format_report", "format_seeds_report", "format_table",
           "load_split",
           "median_or_none", "missing", "overlap_with_training", "parse_systems",
           "parse_train_overrides", "run_peers",
           "run_peers_seeds", "set_threads", "summarize_seeds", "time_to_target"]
