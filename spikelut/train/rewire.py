"""Rewiring during training: prune the least important taps, regrow them from allowed candidates.

Every ``[train] rewire_every`` optimizer steps (never in the last epoch, so the last tables
settle on a fixed wiring), for every layer with rewirable taps:

1. a probe batch of ``rewire_batch`` training samples is drawn (from the rewiring's own seeded
   generator) and the importance of every tap measured on it (:mod:`spikelut.importance`:
   influence on the data's addresses + the gradient signal);
2. the ``rewire_fraction`` of the layer's rewirable taps with the lowest score are pruned
   (``rewire_schedule = "cosine"``, the default, anneals the fraction as RigL does:
   ``fraction * (1 + cos(pi * step / steps)) / 2`` over the run's steps; ``"constant"`` keeps it);
3. each gets a candidate ``(source, index, delay)`` from its *slot*: the sources and delays its
   column of taps was drawn with (``rewire_sources = "group"``), or any legal source
   (``"free"``: the input or an earlier layer at any delay of the range, any layer at delay >= 1);
   the delays are the column's own, the tap group's ``delay_range = [lo, hi]`` or the run's
   ``rewire_delays = [lo, hi]`` (learnable delays: with random candidates half of them keep
   the tap's signal and move only its delay; gradient regrowth scores every signal and delay).
   With ``rewire_candidates = C > 1`` each of C candidates is scored by a probe gradient and
   the best taken, less
   ``rewire_ff_penalty`` times the flip-flops it would add; with ``rewire_regrow = "gradient"``
   every candidate of the slot is scored from one backward pass (RigL's regrowth by gradient,
   :meth:`Rewirer.gradient_scores`);
4. the table is re-mapped so that the node's function changes as little as possible: the old
   tap's input is fixed at the value it carried most often on the probe batch, ``theta'[a] =
   theta[a with bit p set to v]`` (logits and optimizer moments alike), so the node computes on
   every address exactly what it computed when the old tap carried ``v``; the new tap starts with
   no influence and training gives it one.

The probe gradient of a candidate is the RigL-style gradient of the split it would allow: with
the re-mapped table the candidate has no influence; ``sum_{a: bit p = 0} |g[a | 1<<p] - g[a]|``
of the logit gradient ``g`` measures how much the loss wants the table to tell the candidate's
two values apart.

Every new wiring is a new validated :class:`~spikelut.network.Network` (so every backend's
cached lowered form follows) and keeps DESIGN.md section 2: a delay-0 tap reads only the input or
an earlier layer. The generator's state and the wiring (current and kept) are saved in the
checkpoint; a resumed run rewires exactly as an uninterrupted one.

Example:
    >>> import numpy as np
    >>> from spikelut.train.rewire import remap_theta
    >>> th = np.array([[-1.0, 1.0, 2.0, -2.0]])       # XOR-like over taps 0, 1
    >>> remap_theta(th, tap=1, value=np.array([0])).tolist()   # tap 1 fixed at 0: f = tap 0
    [[-1.0, 1.0, -1.0, 1.0]]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit, prange

from ..errors import ConfigError, FileFormatError, NetworkError
from ..importance import importance_score, tap_gradient_from
from ..network import INPUT, Network

SOURCES = ("group", "free")
SCHEDULES = ("cosine", "constant")
#: ``[train] rewire_regrow``: ``"sample"`` draws ``rewire_candidates`` candidates at random (the
#: best by probe gradient when more than one); ``"gradient"`` scores every legal candidate of the
#: slot from one backward pass and takes the best (RigL's regrowth by gradient)
REGROW = ("sample", "gradient")
#: ``[train] rewire_score`` of gradient regrowth: ``"centered"`` (default: the split score less
#: each address's mean, so a constant signal scores nothing) or ``"split"`` (the probe pass's
#: split score); :func:`split_scores`
SCORES = ("split", "centered")
#: candidates scored per tap column with ``rewire_regrow = "gradient"``; a larger slot is
#: subsampled (seeded) to this many
MAX_SCORED = 1024
#: entries of one chunk of candidate values ``[T * B, chunk]`` (uint8: 16 MB)
SCORE_ENTRIES = 1 << 24


# ---------------------------------------------------------------------------- config
def validate_rewire(cfg: Any, where: str = "[train]") -> None:
    """Check the ``rewire_*`` keys of a :class:`~spikelut.train.config.TrainConfig`.

    Raises:
        ConfigError: one line naming the key, the value and what is allowed.

    Example:
        >>> from spikelut.train import TrainConfig
        >>> TrainConfig.from_dict({"rewire_every": 10, "rewire_delays": [1, 4]}).rewire_delays
        (1, 4)
    """
    def bad(key: str, what: str) -> ConfigError:
        return ConfigError(f"{where}: {key} must be {what}, got {getattr(cfg, key)!r}")

    for key, lo in (("rewire_every", 0), ("rewire_candidates", 1), ("rewire_batch", 1)):
        v = getattr(cfg, key)
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise bad(key, f"an integer >= {lo}")
    if cfg.rewire_candidates > MAX_SCORED:
        # each candidate rank costs a probe pass and a list entry per pruned tap: 10**12 hung
        raise bad("rewire_candidates", f"an integer 1..{MAX_SCORED} (each candidate rank is one "
                                       f"probe forward and backward pass per rewiring; "
                                       f"rewire_regrow = 'gradient' scores a whole slot at once)")
    for key, hi in (("rewire_fraction", 1.0), ("rewire_ff_penalty", None)):
        v = getattr(cfg, key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0 \
                or (hi is not None and v > hi):
            raise bad(key, "a number >= 0" + ("" if hi is None else f" and <= {hi:g}"))
        setattr(cfg, key, float(v))
    if cfg.rewire_regrow not in REGROW:
        raise ConfigError(f"{where}: unknown rewire_regrow {cfg.rewire_regrow!r}; choose one of "
                          f"{', '.join(REGROW)}")
    if cfg.rewire_regrow == "gradient" and cfg.rewire_candidates != 1:
        raise ConfigError(f"{where}: rewire_regrow = 'gradient' scores every candidate of the "
                          f"slot; leave rewire_candidates at 1 (got {cfg.rewire_candidates})")
    if cfg.rewire_score not in SCORES:
        raise ConfigError(f"{where}: unknown rewire_score {cfg.rewire_score!r}; choose one of "
                          f"{', '.join(SCORES)}")
    if cfg.rewire_score != "centered" and cfg.rewire_regrow != "gradient":
        raise ConfigError(f"{where}: rewire_score = {cfg.rewire_score!r} scores gradient "
                          f"regrowth; it needs rewire_regrow = 'gradient'")
    if cfg.rewire_ff_penalty > 0 and cfg.rewire_candidates < 2 \
            and cfg.rewire_regrow != "gradient":
        raise ConfigError(f"{where}: rewire_ff_penalty scores candidates; it needs "
                          f"rewire_candidates >= 2 or rewire_regrow = 'gradient', got "
                          f"rewire_candidates = {cfg.rewire_candidates}")
    if cfg.rewire_schedule not in SCHEDULES:
        raise ConfigError(f"{where}: unknown rewire_schedule {cfg.rewire_schedule!r}; choose one "
                          f"of {', '.join(SCHEDULES)}")
    if cfg.rewire_sources not in SOURCES:
        raise ConfigError(f"{where}: unknown rewire_sources {cfg.rewire_sources!r}; choose one of "
                          f"{', '.join(SOURCES)}")
    d = cfg.rewire_delays
    if d is not None:
        if (not isinstance(d, (list, tuple)) or len(d) != 2
                or any(isinstance(v, bool) or not isinstance(v, int) for v in d)
                or not 0 <= d[0] <= d[1] <= 4096):
            raise bad("rewire_delays", "two integers [lo, hi] with 0 <= lo <= hi <= 4096")
        cfg.rewire_delays = (int(d[0]), int(d[1]))


# ---------------------------------------------------------------------------- pieces
def remap_theta(theta: np.ndarray, tap: int, value: np.ndarray) -> np.ndarray:
    """Rows of ``theta [n, 2**k]`` with input ``tap`` fixed at ``value[j]`` (0 or 1) for row ``j``.

    ``out[j, a] = theta[j, (a & ~(1 << tap)) | (value[j] << tap)]``: the node's function on every
    address equals its old function with the old tap carrying ``value[j]``, and the new tap has no
    influence.

    Example:
        >>> remap_theta(np.array([[0.0, 1.0, 2.0, 3.0]]), 0, np.array([1])).tolist()
        [[1.0, 1.0, 3.0, 3.0]]
    """
    size = theta.shape[1]
    a = np.arange(size)
    src = (a[None, :] & ~(1 << tap)) | (np.asarray(value, np.int64)[:, None] << tap)
    return np.take_along_axis(theta, src, axis=1)


@dataclass(frozen=True)
class Slot:
    """Where a rewired tap of one column may read: ``options`` = ``(source, delays)`` pairs."""

    options: tuple[tuple[int, tuple[int, ...]], ...]
    ranged: bool = False  # the delays come from a range: candidates may move only the delay
    avoid_own: bool = False  # no tap of the column reads its node's own output: keep it so


def tap_slots(net: Network, sources: str = "group",
              delays: tuple[int, int] | None = None) -> list[list[Slot | None]]:
    """Per layer and tap column, the :class:`Slot` rewiring draws from (``None``: not rewired).

    A column whose every tap reads the node's own output (``from = "own"``) is not rewired. In
    ``"group"`` mode a column keeps the sources its taps have; ``"free"`` allows the input and
    every layer. Delays are ``delays = (lo, hi)`` when given, else the tap group's
    ``delay_range`` (kept by :func:`spikelut.config.build_network` in ``net.meta``), else the
    column's own; a source in this or a later layer gets only delays >= 1 (DESIGN.md section 2).

    Example:
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=2, sizes=[3], k=2, recurrent=False, max_delay=0)
        >>> tap_slots(net)[0][0].options
        ((-1, (0,)),)
    """
    out = []
    m = len(net.layers)
    ranges = _group_ranges(net)
    for i, layer in enumerate(net.layers):
        own = (layer.source == i) & (layer.index == np.arange(layer.n)[:, None])
        cols: list[Slot | None] = []
        for p in range(layer.k):
            if own[:, p].all():
                cols.append(None)
                continue
            col_d = tuple(sorted(set(layer.delay[:, p].tolist())))
            rng_p = delays if delays is not None else ranges[i][p]
            ds = col_d if rng_p is None else tuple(range(rng_p[0], rng_p[1] + 1))
            if sources == "free":
                srcs = ([INPUT] if net.n_in else []) + list(range(m))
            else:
                srcs = sorted(set(layer.source[:, p].tolist()))
            opts = []
            for s in srcs:
                legal = tuple(d for d in ds if d >= 1 or s < i)  # s = -1 (input) < i too
                if legal:
                    opts.append((s, legal))
            # a "self" group draws other nodes only (unless allow_own): rewiring keeps to that
            cols.append(Slot(tuple(opts), rng_p is not None, not own[:, p].any()) if opts else None)
        out.append(cols)
    return out


def _group_ranges(net: Network) -> list[list[tuple[int, int] | None]]:
    """Per layer and tap column, the tap group's ``delay_range`` from ``net.meta`` (or None)."""
    meta = net.meta.get("delay_range")
    out = []
    for i, layer in enumerate(net.layers):
        row = meta[i] if isinstance(meta, list) and i < len(meta) else None
        ok = isinstance(row, list) and len(row) == layer.k
        out.append([_range(r) for r in (row if ok else [None] * layer.k)])
    return out


def _range(r: Any) -> tuple[int, int] | None:
    """A stored ``[lo, hi]`` (free metadata of a model file: checked, else ignored)."""
    from .. import limits

    if (isinstance(r, list) and len(r) == 2 and all(type(v) is int for v in r)
            and 0 <= r[0] <= r[1] <= limits.MAX_DELAY):
        return (r[0], r[1])
    return None


def _split_score(g: np.ndarray, tap: int) -> np.ndarray:
    """``sum_{a: bit tap = 0} |g[a | 1<<tap] - g[a]|`` per row of ``g [n, 2**k]``."""
    a = np.arange(g.shape[1])
    lo = a[(a >> tap) & 1 == 0]
    return np.abs(g[:, lo | (1 << tap)] - g[:, lo]).sum(axis=1)


def _added_flip_flops(cands: list[tuple[int, int, int]], depth: dict[tuple[int, int], int]
                      ) -> np.ndarray:
    """Flip-flops each candidate ``(source, index, delay)`` would add to the circuit: a tap at
    delay ``d >= 1`` needs the signal's shift register ``d`` deep, of which ``depth`` (from
    ``Network.register_depths()``) already exist. float64 ``[C]``: what
    ``rewire_ff_penalty`` charges."""
    return np.array([max(0, d - depth.get((s, c), 0)) if d >= 1 else 0 for s, c, d in cands],
                    np.float64)


def _candidate_values(hist: np.ndarray, D: int, T: int, sig: np.ndarray, dly: np.ndarray
                      ) -> np.ndarray:
    """Values ``[T, B, C]`` (uint8) of signals ``sig`` read at delays ``dly`` at cycles
    ``0..T-1`` from a forward history ``hist [D + T, n_signals, B]`` (row ``D + t`` = cycle
    ``t``; reads before the history are 0). One slice per distinct delay."""
    out = np.zeros((T, len(sig), hist.shape[2]), np.uint8)
    for d in np.unique(dly).tolist():
        cols = np.flatnonzero(dly == d)
        t0 = max(0, d - D)  # cycles whose read lands before the first row stay 0
        if t0 < T:
            out[t0:, cols] = hist[D - d + t0:D - d + T][:, sig[cols]]
    return np.ascontiguousarray(out.transpose(0, 2, 1))


@njit(cache=True, parallel=True, nogil=True)
def split_scores(g, bins, y, n_bins, centered, out):  # pragma: no cover - compiled
    """Probe split scores of candidates for pruned taps (:meth:`Rewirer.gradient_scores`).

    For pruned tap ``r`` (``g`` float64 ``[R, E]``: its gradient at each of the ``E = T * B``
    evaluations, ``bins`` int64 ``[R, E]``: the node's address without the pruned tap, ``<
    n_bins``) and candidate ``c`` (``y`` uint8 ``[E, C]``: its value at each evaluation):

    * ``centered=False``: ``out[r, c] = sum_a |sum_{e at a} g[r, e] * (2 y[e, c] - 1)|``, the
      probe pass's split score (the logit gradient's difference between the two halves the
      candidate would open);
    * ``centered=True``: ``out[r, c] = sum_a 2 |sum_{e at a} g[r, e] * (y[e, c] - ybar[a, c])|``
      with ``ybar`` the candidate's mean in address ``a``: the same where the candidate is 1 in
      half of the evaluations, but 0 for a candidate that is constant within each address (a
      table cannot use a signal that never changes; the plain score gives it
      ``sum_a |sum_{e at a} g|``, which can beat every informative candidate).

    Taps in parallel; each sums in evaluation order, so any thread count gives the same bits.

    Example:
        >>> g, bins = np.array([[1.0, 2.0, -1.0]]), np.array([[0, 0, 1]])
        >>> y = np.array([[1, 1], [0, 1], [1, 1]], np.uint8)   # c1 is constant
        >>> out = np.empty((1, 2))
        >>> split_scores(g, bins, y, 2, False, out); out.tolist()
        [[2.0, 4.0]]
        >>> split_scores(g, bins, y, 2, True, out); out.tolist()
        [[1.0, 0.0]]
    """
    R, E = g.shape
    C = y.shape[1]
    for r in prange(R):
        s1 = np.zeros((n_bins, C))
        n1 = np.zeros((n_bins, C))
        s0 = np.zeros(n_bins)
        n0 = np.zeros(n_bins)
        for e in range(E):
            a = bins[r, e]
            n0[a] += 1.0
            gv = g[r, e]
            if centered:
                for c in range(C):
                    n1[a, c] += y[e, c]
            if gv == 0.0:
                continue
            s0[a] += gv
            for c in range(C):
                s1[a, c] += gv * y[e, c]
        for c in range(C):
            tot = 0.0
            for a in range(n_bins):
                if centered:
                    if n0[a] > 0.0:
                        tot += 2.0 * abs(s1[a, c] - s0[a] * (n1[a, c] / n0[a]))
                else:
                    tot += abs(2.0 * s1[a, c] - s0[a])
            out[r, c] = tot


# ---------------------------------------------------------------------------- the rewirer
class Rewirer:
    """The rewiring state of one :class:`~spikelut.train.trainer.Trainer` (its hooks call it).

    Args:
        trainer: the trainer whose ``net``, ``plan``, ``params`` and optimizer it changes.

    Example:
        >>> from spikelut.wiring import random_network
        >>> from spikelut.train import Trainer, TrainConfig
        >>> net = random_network(0, n_in=6, sizes=[8, 2], k=3, classes=2)
        >>> tr = Trainer(net, TrainConfig(epochs=2, rewire_every=5, rewire_fraction=0.25,
        ...                               backend="numpy"), progress=False)
        >>> x = (np.random.default_rng(0).random((4, 20, 6)) < 0.5).astype(np.uint8)
        >>> tr.rewirer.rewire(x, np.arange(20) % 2)       # taps swapped per layer
        [6, 2]
    """

    def __init__(self, trainer: Any) -> None:
        cfg = trainer.cfg
        self.tr = trainer
        self.cfg = cfg
        self.rng = np.random.default_rng([cfg.seed, 0x5E7E])
        self.slots = tap_slots(trainer.net, cfg.rewire_sources, cfg.rewire_delays)
        self.swaps = [0] * len(trainer.net.layers)
        self.pruned = [0] * len(trainer.net.layers)
        self.delay_moves = 0
        self.start_delays = _delay_histogram(trainer.net)

    # ------------------------------------------------------------------ hooks
    def step(self, epoch: int, step: int, x: Any, y: Any) -> None:
        """After optimizer step ``step`` (1-based, counted over the run) of 0-based ``epoch``:
        rewire when it is due (``x [T, N, n_in]``, ``y [N]``: the training set)."""
        cfg = self.cfg
        if step % cfg.rewire_every or epoch >= cfg.epochs - 1:
            return
        N = x.shape[1]
        fraction = cfg.rewire_fraction
        if cfg.rewire_schedule == "cosine":
            total = self.tr.total_steps  # the run's steps ([train] batch_schedule included)
            fraction *= 0.5 * (1.0 + math.cos(math.pi * step / total))
        pick = np.sort(self.rng.choice(N, size=min(cfg.rewire_batch, N), replace=False))
        xp = self.tr.xp
        idx = xp.asarray(pick)
        self.rewire(x[:, idx], y[idx], fraction)

    def max_delay(self) -> int:
        """The largest delay a rewired tap may take (-1 when no column is rewired)."""
        return max((d for cols in self.slots for slot in cols if slot is not None
                    for _, ds in slot.options for d in ds), default=-1)

    def epoch_record(self, epoch: int) -> dict:
        """What the epoch's log record gets: ``pruned`` (taps pruned per layer), ``rewired``
        (of them, taps swapped to another signal or delay: with gradient regrowth a pruned tap
        whose own signal wins stays), ``delay_moves`` (of the swaps, those that kept the signal
        and moved the delay), ``flip_flops`` and ``delays`` (histogram ``{delay: taps}``); the
        first record also ``delays_before``."""
        rec = {"pruned": list(self.pruned), "rewired": list(self.swaps),
               "delay_moves": self.delay_moves,
               "flip_flops": self.tr.net.flip_flops(), "delays": _delay_histogram(self.tr.net)}
        if epoch == 0:
            rec["delays_before"] = self.start_delays
        self.swaps = [0] * len(self.swaps)
        self.pruned = [0] * len(self.pruned)
        self.delay_moves = 0
        return rec

    # ------------------------------------------------------------------ one rewiring
    def rewire(self, xb: Any, yb: Any, fraction: float | None = None) -> list[int]:
        """Prune and regrow ``fraction`` (default ``rewire_fraction``) of every layer's rewirable
        taps on the probe batch ``xb [T, B, n_in]``, ``yb [B]``; returns the taps swapped per
        layer."""
        from ..analysis import data_stats
        from .passes import to_host

        tr, cfg = self.tr, self.cfg
        fraction = cfg.rewire_fraction if fraction is None else fraction
        xp = tr.xp
        net = tr.network()
        stats = data_stats(net, to_host(xp, xb))
        _, _, grads = tr.loss_and_grad(xb, yb)
        params = [np.array(to_host(xp, p), np.float32) for p in tr.params]
        layers = list(tr.net.layers)
        plan: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []  # (layer, nodes, taps, v)
        cands: dict[int, list] = {}
        depth = tr.net.register_depths()
        for i, layer in enumerate(layers):
            slots = self.slots[i]
            free = np.array([s is not None for s in slots])
            if not free.any():
                continue
            g = tap_gradient_from(params[i], to_host(xp, grads[i]), cfg.tap_grad)
            score = importance_score(stats[i].data_influence, g)
            score[:, ~free] = np.inf
            n_free = int(free.sum()) * layer.n
            m = max(1, int(round(fraction * n_free))) if fraction > 0 else 0
            if m == 0:
                continue
            # lowest scores first; ties broken by the seeded generator, not by position
            keys = np.lexsort((self.rng.random(score.size), score.ravel()))[:m]
            nodes, taps = keys // layer.k, keys % layer.k
            counts = stats[i].address_counts  # [n, 2**k]
            a = np.arange(1 << layer.k)
            ones = np.array([counts[j, (a >> p) & 1 == 1].sum() for j, p in zip(nodes, taps)])
            v = (2 * ones > counts[nodes].sum(axis=1)).astype(np.int64)
            plan.append((i, nodes, taps, v))
            if cfg.rewire_regrow == "sample":
                cands[i] = [[self._candidate(i, int(j), int(p))
                             for _ in range(cfg.rewire_candidates)] for j, p in zip(nodes, taps)]
        if not plan:
            return [0] * len(layers)
        if cfg.rewire_regrow == "gradient":
            cands = self._regrow_gradient(plan, params, xb, yb, depth)
        choice = {i: np.zeros(len(c), np.int64) for i, c in cands.items()}
        if cfg.rewire_candidates > 1:
            choice = self._score(plan, cands, params, xb, yb, depth)
        new_params = [p.copy() for p in params]
        swapped = [0] * len(layers)
        for i, nodes, taps, v in plan:
            layer = layers[i]
            src, idx, dly = layer.source.copy(), layer.index.copy(), layer.delay.copy()
            th = new_params[i]
            kept = 0
            for r, (j, p) in enumerate(zip(nodes.tolist(), taps.tolist())):
                s, c, d = cands[i][r][choice[i][r]]
                if (s, c, d) == (int(src[j, p]), int(idx[j, p]), int(dly[j, p])):
                    kept += 1  # the tap's own signal won (gradient regrowth): node unchanged
                    continue
                if (s, c) == (int(src[j, p]), int(idx[j, p])):
                    self.delay_moves += 1
                src[j, p], idx[j, p], dly[j, p] = s, c, d
                th[j:j + 1] = remap_theta(th[j:j + 1], p, v[r:r + 1])
                self._remap_optimizer(i, j, p, int(v[r]))
            layers[i] = layer.replace(source=src, index=idx, delay=dly, logits=None,
                                      table=(th > 0).astype(np.uint8), tap_influence=None,
                                      tap_gradient=None)
            swapped[i] = len(nodes) - kept
            self.swaps[i] += len(nodes) - kept
            self.pruned[i] += len(nodes)
        self._install(tr.net.replace(layers=layers), new_params)
        return swapped

    def _candidate(self, i: int, j: int, p: int) -> tuple[int, int, int]:
        """A legal ``(source, index, delay)`` for tap ``p`` of node ``j`` of layer ``i``, not a
        copy of one of the node's taps (unless the source has nothing else)."""
        net, rng = self.tr.net, self.rng
        layer = net.layers[i]
        slot = self.slots[i][p]
        have = set(zip(layer.source[j].tolist(), layer.index[j].tolist(), layer.delay[j].tolist()))
        cur = (int(layer.source[j, p]), int(layer.index[j, p]), int(layer.delay[j, p]))
        sizes = net.sizes
        move = slot.ranged and rng.random() < 0.5
        pick = cur
        for _ in range(16):
            if move:  # learnable delay: the same signal, another delay of the range
                s, c = cur[0], cur[1]
                legal = next((ds for src, ds in slot.options if src == s), ())
                if not legal:
                    move = False
                    continue
                d = int(legal[rng.integers(len(legal))])
            else:
                s, ds = slot.options[rng.integers(len(slot.options))]
                n_src = net.n_in if s == INPUT else sizes[s]
                c = int(rng.integers(n_src))
                d = int(ds[rng.integers(len(ds))])
            pick = (int(s), c, d)
            if pick not in have and not (slot.avoid_own and s == i and c == j):
                return pick
        return pick

    def _regrow_gradient(self, plan: list, params: list[np.ndarray], xb: Any, yb: Any,
                         depth: dict) -> dict[int, list[list[tuple[int, int, int]]]]:
        """The best candidate of the whole slot for every pruned tap, by the split score of one
        backward pass (``rewire_regrow = "gradient"``).

        With the pruned taps' tables re-mapped (the old tap no longer matters), the reference
        passes run once on the probe batch and give ``g_u [T, n, B]``, the gradient at every
        table evaluation. A candidate ``c`` would split each address ``a'`` of the node's other
        taps into ``c = 0`` and ``c = 1``; its score is the probe gradient of
        :meth:`_score` for every candidate at once, ``sum_a' |sum_{(t, b) at a'} g_u *
        (2 c[t, b] - 1)|``, the same quantity as a probe pass with ``c`` wired in (the table
        ignores that input, so ``g_u`` does not depend on which candidate it is); with
        ``rewire_score = "centered"`` (the default) less each address's mean, so that a
        candidate constant within an address scores nothing there (:func:`split_scores`: the
        plain score gives a signal that never changes ``|sum g|``, and a fresh-user trial found
        taps reading stuck nodes; on MNIST-1D the centered score was 1.5-3.2 points more
        accurate without learnable delays and as accurate with them, docs/rewiring.md). The
        slot's
        candidates (at most :data:`MAX_SCORED` per column, a seeded subsample beyond) that
        would repeat another of the node's taps (or read its own output in a column that never
        does) are skipped; the best score, normalised per layer and less ``rewire_ff_penalty``
        times the flip-flops a candidate adds, is taken (ties broken by the generator). The
        pruned tap's own signal competes too: when it wins, :meth:`rewire` leaves the tap and
        its table as they were.
        """
        net, lam = self.tr.net, self.cfg.rewire_ff_penalty
        all_scores = self.gradient_scores(plan, params, xb, yb,
                                          centered=self.cfg.rewire_score == "centered")
        out: dict[int, list[list[tuple[int, int, int]]]] = {}
        for i, nodes, taps, _ in plan:
            layer = net.layers[i]
            scores = all_scores[i]
            have = {int(j): set(zip(layer.source[j].tolist(), layer.index[j].tolist(),
                                    layer.delay[j].tolist())) for j in np.unique(nodes)}
            # the candidates each pruned tap may take: the tap's own signal competes (when it
            # scores best the tap stays as it was, table not re-mapped); another of the node's
            # taps is never repeated, nor its own output read in a column that never does
            legal: dict[int, np.ndarray] = {}
            cur: dict[int, tuple[int, int, int]] = {}  # each pruned tap's own (s, c, d)
            for p, (cand, _) in scores.items():
                avoid = self.slots[i][p].avoid_own
                for r in np.flatnonzero(taps == p).tolist():
                    j = int(nodes[r])
                    cur[r] = (int(layer.source[j, p]), int(layer.index[j, p]),
                              int(layer.delay[j, p]))
                    legal[r] = np.array([(c not in have[j] or c == cur[r])
                                         and not (avoid and c[0] == i and c[1] == j)
                                         for c in cand], bool)
            # normalised by the best candidate a pruned tap may take: a repeat of one of the
            # node's taps scores high (it splits every address) but is never taken
            top = max((sc[q][legal[r]].max() for p, (_, sc) in scores.items()
                       for q, r in enumerate(np.flatnonzero(taps == p).tolist())
                       if legal[r].any()), default=0.0)
            picks: list[list[tuple[int, int, int]]] = [[] for _ in range(len(nodes))]
            taken: dict[int, set] = {j: set() for j in have}
            for p, (cand, sc) in scores.items():
                sc = sc / top if top > 0 else sc
                if lam:
                    sc = sc - lam * _added_flip_flops(cand, depth)[None, :]
                for q, r in enumerate(np.flatnonzero(taps == p).tolist()):
                    j = int(nodes[r])
                    # nor what another pruned tap of the node took in this rewiring
                    ok = legal[r] & np.array([c not in taken[j] for c in cand], bool)
                    if not ok.any():  # nothing else to read (tiny slot): the tap stays as it was
                        picks[r] = [cur[r]]
                        continue
                    order = np.lexsort((self.rng.random(len(cand)),
                                        -np.where(ok, sc[q], -np.inf)))
                    picks[r] = [cand[int(order[0])]]
                    taken[j].add(picks[r][0])
            out[i] = picks
        return out

    def gradient_scores(self, plan: list, params: list[np.ndarray], xb: Any, yb: Any,
                        centered: bool = False
                        ) -> dict[int, dict[int, tuple[list[tuple[int, int, int]], np.ndarray]]]:
        """Per layer and pruned tap column ``p``: ``(candidates, scores [R_p, C])``, the slot's
        candidates ``(source, index, delay)`` and the split score of each for the column's
        pruned taps (in ``plan`` order), from one reference forward and backward pass with the
        pruned taps' tables re-mapped (see :meth:`_regrow_gradient`): the probe pass's own score
        (:meth:`probe_scores`), or with ``centered`` (``rewire_score = "centered"``) the score
        of :func:`split_scores` that gives a signal constant within each address nothing."""
        from .bptt import backward, forward, tables_of
        from .passes import to_host

        tr, cfg, net = self.tr, self.cfg, self.tr.net
        x = np.ascontiguousarray(to_host(tr.xp, xb))
        y = np.asarray(to_host(tr.xp, yb))
        probe = [p.copy() for p in params]
        for i, nodes, taps, v in plan:
            for r, (j, p) in enumerate(zip(nodes.tolist(), taps.tolist())):
                probe[i][j:j + 1] = remap_theta(probe[i][j:j + 1], p, v[r:r + 1])
        fwd = forward(tr.plan, tables_of(probe), x)
        _, g_spikes, _ = tr.spike_grads(fwd, y)
        g_u: list[np.ndarray] = []
        backward(tr.plan, probe, fwd, g_spikes, tr.surrogate, refractory_grad=cfg.refractory_grad,
                 tap_grad=tr.tap_grad, tbptt=cfg.tbptt, g_u_out=g_u)
        fplan = tr.plan.for_steps(fwd.T)
        T, B, D = fwd.T, fwd.B, fplan.D
        TB = T * B
        out: dict[int, dict[int, tuple[list[tuple[int, int, int]], np.ndarray]]] = {}
        for i, nodes, taps, _ in plan:
            layer = net.layers[i]
            scores: dict[int, tuple[list[tuple[int, int, int]], np.ndarray]] = {}
            for p in np.unique(taps).tolist():
                slot = self.slots[i][p]
                cand = [(s, c, d) for s, ds in slot.options
                        for c in range(net.n_in if s == INPUT else net.sizes[s]) for d in ds]
                if len(cand) > MAX_SCORED:
                    keep = np.sort(self.rng.choice(len(cand), MAX_SCORED, replace=False))
                    cand = [cand[q] for q in keep.tolist()]
                sig = np.array([c if s == INPUT else fplan.offsets[s] + c for s, c, _ in cand])
                dly = np.array([d for _, _, d in cand])
                sel = np.flatnonzero(taps == p)
                # per pruned tap: its evaluations' gradients and the other taps' address
                g = np.ascontiguousarray(g_u[i][:, nodes[sel], :].transpose(1, 0, 2),
                                         np.float64).reshape(len(sel), TB)
                bins = ((fwd.addr[i][:, nodes[sel], :].astype(np.int64).transpose(1, 0, 2)
                         & ~(np.int64(1) << taps[sel][:, None, None])).reshape(len(sel), TB))
                sc = np.empty((len(sel), len(cand)))
                step = max(1, SCORE_ENTRIES // TB)  # candidates per chunk: bounded memory
                for c0 in range(0, len(cand), step):
                    Y = _candidate_values(fwd.hist, D, T, sig[c0:c0 + step], dly[c0:c0 + step])
                    part = np.empty((len(sel), Y.shape[2]))
                    split_scores(g, np.ascontiguousarray(bins), Y.reshape(TB, -1),
                                 1 << layer.k, centered, part)
                    sc[:, c0:c0 + step] = part
                scores[p] = (cand, sc)
            out[i] = scores
        return out

    def _score(self, plan: list, cands: dict, params: list[np.ndarray], xb: Any, yb: Any,
               depth: dict) -> dict[int, np.ndarray]:
        """Index of the best of the ``C`` candidates of every pruned tap (probe gradient, less the
        flip-flop penalty), one probe forward and backward per candidate rank."""
        scores = self.probe_scores(plan, cands, params, xb, yb)
        out = {}
        lam = self.cfg.rewire_ff_penalty
        for i, nodes, _, _ in plan:
            sc = scores[i]
            top = sc.max()
            sc = sc / top if top > 0 else sc
            if lam:
                sc = sc - lam * np.array([_added_flip_flops(row, depth) for row in cands[i]])
            out[i] = np.argmax(sc, axis=1)
        return out

    def probe_scores(self, plan: list, cands: dict, params: list[np.ndarray], xb: Any,
                     yb: Any) -> dict[int, np.ndarray]:
        """Raw probe scores ``[R, C]`` per layer: row ``r`` = pruned tap ``r`` of the layer's
        ``plan`` entry ``(layer, nodes, taps, values)``, column ``c`` = its candidate
        ``cands[layer][r][c]``, each wired in with the re-mapped table for one probe forward and
        backward pass on ``xb [T, B, n_in]``, ``yb [B]`` (the trainer's own backend)."""
        from .bptt import compile_plan
        from .passes import to_host

        tr = self.tr
        C = len(next(iter(cands.values()))[0])
        scores = {i: np.zeros((len(nodes), C)) for i, nodes, _, _ in plan}
        for c in range(C):
            layers = list(tr.net.layers)
            probe = [p.copy() for p in params]
            for i, nodes, taps, v in plan:
                src, idx, dly = (a.copy() for a in (layers[i].source, layers[i].index,
                                                    layers[i].delay))
                for r, (j, p) in enumerate(zip(nodes.tolist(), taps.tolist())):
                    src[j, p], idx[j, p], dly[j, p] = cands[i][r][c]
                    probe[i][j:j + 1] = remap_theta(probe[i][j:j + 1], p, v[r:r + 1])
                layers[i] = layers[i].replace(source=src, index=idx, delay=dly, logits=None,
                                              table=(probe[i] > 0).astype(np.uint8))
            pnet = tr.net.replace(layers=layers)
            saved = tr.plan, tr.net
            try:  # the trainer's own passes on the probe wiring
                tr.plan, tr.net = compile_plan(pnet), pnet
                _, _, grads = tr.loss_and_grad(xb, yb, params=[tr.xp.asarray(p) for p in probe])
            finally:
                tr.plan, tr.net = saved
            for i, nodes, taps, _ in plan:
                g = np.asarray(to_host(tr.xp, grads[i]), np.float64)
                for r, (j, p) in enumerate(zip(nodes.tolist(), taps.tolist())):
                    scores[i][r, c] = _split_score(g[j:j + 1], p)[0]
        return scores

    def _remap_optimizer(self, i: int, j: int, p: int, v: int) -> None:
        """Apply the table's re-mapping to the optimizer's per-entry arrays (Adam's moments)."""
        tr = self.tr
        arrays, scalars = tr.opt.state_arrays()
        for name, arrs in arrays.items():
            a = arrs[i]
            row = np.asarray(tr._host(a[j:j + 1]), np.float32)
            a[j:j + 1] = tr.xp.asarray(remap_theta(row, p, np.array([v])))

    def _install(self, net: Network, params: list[np.ndarray]) -> None:
        from .bptt import compile_plan

        tr = self.tr
        tr.net = net
        tr.plan = compile_plan(net)
        tr.params = [tr.xp.asarray(p) for p in params]

    def importance(self, net: Network, x: Any, y: Any) -> Network:
        """``net`` with the tap importance measured on ``rewire_batch`` training samples (a draw
        of its own, so the rewiring generator is left as it was)."""
        from ..importance import tap_importance
        from .passes import to_host

        cfg = self.cfg
        N = x.shape[1]
        pick = np.sort(np.random.default_rng([cfg.seed, 0x1A9]).choice(
            N, size=min(cfg.rewire_batch, N), replace=False))
        idx = self.tr.xp.asarray(pick)
        return tap_importance(net, to_host(self.tr.xp, x[:, idx]), to_host(self.tr.xp, y[idx]),
                              loss=cfg.loss, surrogate=cfg.surrogate, tap_grad=cfg.tap_grad)

    # ------------------------------------------------------------------ checkpoints
    def save(self, f: Any, best_net: Network) -> None:
        """Write the generator state and the current and kept wiring into checkpoint ``f``."""
        f.attrs["rewire_rng"] = json.dumps(self.rng.bit_generator.state)
        f.attrs["rewire_counts"] = json.dumps({"swaps": self.swaps, "pruned": self.pruned,
                                               "delay_moves": self.delay_moves,
                                               "start_delays": self.start_delays})
        for group, net in (("wiring", self.tr.net), ("best_wiring", best_net)):
            g = f.create_group(group)
            for i, layer in enumerate(net.layers):
                lg = g.create_group(f"L{i}")
                for name in ("source", "index", "delay"):
                    lg.create_dataset(name, data=getattr(layer, name))

    def load(self, f: Any, path: Any) -> Network:
        """Restore what :meth:`save` wrote; returns the kept (best) wiring's network.

        Raises:
            FileFormatError: the checkpoint has no rewiring state or a wiring that does not fit.
        """
        if "rewire_rng" not in f.attrs or "wiring" not in f:
            raise FileFormatError(f"{path}: the checkpoint has no rewiring state (it was made "
                                  f"without [train] rewire_every); resume with the same config")
        import h5py

        from ..io.hdf5 import _declared, _read
        from .checkpoint import json_attr

        tr = self.tr
        nets = []
        for group in ("wiring", "best_wiring"):
            layers = []
            for i, layer in enumerate(tr.net0.layers):
                arrs = {}
                for n in ("source", "index", "delay"):
                    ds = f.get(f"{group}/L{i}/{n}")
                    # the shape is checked before anything is read
                    if not isinstance(ds, h5py.Dataset) or ds.shape != layer.source.shape \
                            or ds.dtype.kind not in "iu":
                        raise FileFormatError(f"{path}: /{group}/L{i}/{n}: missing or not an "
                                              f"integer array of shape {layer.source.shape}")
                    # stored in the file (no external or virtual storage), not a chunk bomb
                    ds = _declared(ds.parent, n, (ds.dtype.name,), ds.ndim, path)
                    arrs[n] = np.asarray(_read(ds, path), np.int32)
                layers.append(layer.replace(**arrs))
            try:
                nets.append(tr.net0.replace(layers=layers))
            except NetworkError as e:  # the stored wiring is not legal
                raise FileFormatError(f"{path}: /{group}: {e}") from None
        rng, counts = json_attr(f, "rewire_rng", path), json_attr(f, "rewire_counts", path)
        try:
            self.rng.bit_generator.state = rng
            self.swaps, self.delay_moves = list(counts["swaps"]), int(counts["delay_moves"])
            # checkpoints written before the count existed: the swaps (every pruned tap swapped)
            self.pruned = list(counts.get("pruned", self.swaps))
            self.start_delays = dict(counts["start_delays"])
        except (KeyError, TypeError, ValueError) as e:
            raise FileFormatError(f"{path}: the rewiring state (rewire_rng, rewire_counts) "
                                  f"cannot be read: {type(e).__name__}") from None
        tr.net = nets[0]
        from .bptt import compile_plan
        tr.plan = compile_plan(nets[0])
        return nets[1]


def _delay_histogram(net: Network) -> dict[str, int]:
    """``{"delay": number of taps}`` over every tap of ``net`` (JSON keys are strings)."""
    d = np.concatenate([layer.delay.ravel() for layer in net.layers])
    vals, counts = np.unique(d, return_counts=True)
    return {str(int(v)): int(c) for v, c in zip(vals, counts)}
