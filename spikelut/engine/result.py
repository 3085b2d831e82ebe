"""What every engine returns, and the readout rule they all share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..xp import array_module, to_numpy
from ..errors import ShapeError, count
from ..network import Network, all_binary

if TYPE_CHECKING:  # pragma: no cover
    from ..lowering import Lowered


@dataclass
class SimResult:
    """Spikes of every layer ``[T, B, n_i]`` (uint8), readout ``counts [B, classes]`` (int32)
    and ``pred [B]`` (int32). Arrays live on the engine's device.

    Attributes:
        layer_spikes: per layer, uint8 ``[T, B, n_i]``; ``None`` for a layer the run's
            ``record`` left out.
        counts: int32 ``[B, classes]``: readout spikes per class (:func:`readout`).
        pred: int32 ``[B]``: the predicted class (argmax, ties to the lowest).

    Example:
        >>> from spikelut.engine import get_engine
        >>> from spikelut.wiring import random_network
        >>> x = np.random.default_rng(0).integers(0, 2, (5, 4, 3)).astype(np.uint8)
        >>> res = get_engine("reference")(random_network(0, 3, [6, 2], k=3), x)
        >>> [s.shape for s in res.layer_spikes], res.counts.tolist(), res.pred.tolist()
        ([(5, 4, 6), (5, 4, 2)], [[3, 4], [3, 4], [5, 4], [3, 4]], [1, 1, 0, 1])
    """

    layer_spikes: list[Any]
    counts: Any
    pred: Any

    def to_numpy(self) -> "SimResult":
        return SimResult([None if s is None else to_numpy(s) for s in self.layer_spikes],
                         to_numpy(self.counts),
                         to_numpy(self.pred))

    def accuracy(self, labels: Any) -> float:
        """Fraction of samples whose prediction equals the label.

        Args:
            labels: class numbers ``[B]`` (integers, or floats that are whole numbers).

        Raises:
            ShapeError: labels of another shape than the predictions, or labels that are not
                whole class numbers (strings counted as all wrong, a 0.5 as wrong: 0.0 and
                0.5 came back as if they were accuracies).

        Example:
            >>> SimResult([], np.zeros((2, 2), np.int32), np.array([0, 1], np.int32)).accuracy([0, 0])
            0.5
        """
        pred = to_numpy(self.pred)
        labels = np.asarray(to_numpy(labels))
        if labels.shape != pred.shape:
            raise ShapeError(f"labels have shape {labels.shape}, predictions {pred.shape}")
        whole = labels.dtype.kind in "iub" or (labels.dtype.kind == "f" and bool(
            (np.isfinite(labels) & (np.mod(labels, 1) == 0)).all()))
        if not whole:
            raise ShapeError(f"labels must be whole class numbers, got dtype {labels.dtype}"
                             + ("" if labels.dtype.kind != "f" else " with fractions or NaN"))
        return float((pred == labels).mean()) if pred.size else 0.0


def check_drawable(res: SimResult, where: str) -> tuple[int, int]:
    """``(T, B)`` of a result that a figure or waveform can show: at least one layer, cycle and
    sample, every layer ``[T, B, n >= 1]`` with the same ``T`` and ``B``. ``spikelut simulate``
    never writes anything else; a hand-made result file was an ``IndexError`` or numpy traceback
    in ``raster``, ``vcd`` and ``plot rates``, or a figure of NaN rates.

    Args:
        res: the result (host arrays).
        where: the file (or ``"the result"``), named first in the message.

    Raises:
        ShapeError: naming ``where`` and what is missing.

    Example:
        >>> check_drawable(SimResult([], np.zeros((0, 1), np.int32), np.zeros(0, np.int32)), "r.h5")
        Traceback (most recent call last):
        ...
        spikelut.errors.ShapeError: r.h5: the result holds no layer; make one with 'spikelut simulate'
    """
    if not res.layer_spikes:
        raise ShapeError(f"{where}: the result holds no layer; make one with 'spikelut simulate'")
    shapes = [tuple(np.shape(s)) for s in res.layer_spikes]
    T, B = shapes[0][:2] if len(shapes[0]) == 3 else (0, 0)
    for i, shape in enumerate(shapes):
        if len(shape) != 3 or shape[:2] != (T, B):
            raise ShapeError(f"{where}: layer {i} spikes have shape {shape}, expected [T, B, n] "
                             f"like layer 0 ({T}, {B}, n)")
        if shape[2] < 1:
            raise ShapeError(f"{where}: layer {i} has no nodes; a layer has at least one")
    if T < 1 or B < 1:
        raise ShapeError(f"{where}: the result has {T} cycles and {B} samples; there is nothing to "
                         f"show (spikelut simulate writes at least one of each)")
    return int(T), int(B)


def readout(net: "Network | Lowered", out_spikes: Any) -> tuple[Any, Any]:
    """Class counts ``[B, classes]`` and predictions ``[B]`` from the readout layer's spikes.

    ``count[c]`` = spikes of class-``c`` nodes over cycles ``t >= start``; prediction = argmax,
    ties to the lowest class (``argmax`` returns the first maximum).

    Args:
        net: the network (or its lowered form); its ``readout`` is read.
        out_spikes: the readout layer's 0/1 spikes ``[T, B, n]`` (``n`` its nodes), numpy or
            CuPy; not copied.

    Returns:
        ``(counts, pred)``: int32 ``[B, classes]`` and int32 ``[B]``, on the array module of
        ``out_spikes``. With ``T <= start`` every count is 0 and every prediction class 0.

    Raises:
        ShapeError: ``out_spikes`` is not 3-D with one channel per readout node (numpy's
            matmul ValueError before).

    Example:
        >>> from spikelut.wiring import random_network
        >>> counts, pred = readout(random_network(0, 3, [6, 2], k=3), np.ones((5, 4, 2), np.uint8))
        >>> counts.tolist()[0], pred.tolist()
        ([5, 5], [0, 0, 0, 0])
    """
    xp = array_module(out_spikes)
    r = net.readout
    shape = tuple(getattr(out_spikes, "shape", ()))
    if len(shape) != 3 or shape[2] != len(r.class_of):
        raise ShapeError(f"readout spikes must be [T, B, {len(r.class_of)}] (one channel per node "
                         f"of the readout layer), got shape {shape}")
    onehot = np.zeros((len(r.class_of), r.classes), np.int32)
    counted = np.flatnonzero(r.class_of >= 0)
    onehot[counted, r.class_of[counted]] = 1
    # summed in int32 without an int32 copy of the spikes (4 bytes per spike bit of the layer)
    per_node = out_spikes[r.start:].sum(axis=0, dtype=xp.int32)  # [B, n]
    counts = (per_node @ xp.asarray(onehot)).astype(xp.int32)
    pred = xp.argmax(counts, axis=1).astype(xp.int32)
    return counts, pred


def check_spikes(net: "Network | Lowered", spikes: Any, work: "tuple[int, int] | None" = None) -> Any:
    """Validate input spikes ``[T, B, n_in]`` of 0/1 values; return them as uint8.

    ``work = (extra_cycles, bytes)``: the engine's working memory is about
    ``(T + extra_cycles) * B * bytes`` (bytes per sample and cycle); over
    :func:`spikelut.limits.max_array_bytes` it is refused before anything is allocated (and
    before the 0/1 check reads the spikes), not a MemoryError.

    Raises:
        ShapeError: not ``[T >= 1, B >= 1, n_in]`` of 0/1, or more working memory than the limit.
    """
    from .. import limits

    xp = array_module(spikes)
    spikes = xp.asarray(spikes)
    if spikes.ndim != 3:
        raise ShapeError(f"input spikes must be 3-D [T, B, n_in], got shape {tuple(spikes.shape)}")
    T, B, n_in = spikes.shape
    if n_in != net.n_in:
        raise ShapeError(f"input spikes have {count(n_in, 'channels')} but the network has "
                         f"{count(net.n_in, 'inputs')}")
    if T < 1 or B < 1:
        raise ShapeError(f"input spikes need T >= 1 and B >= 1, got T={T}, B={B}")
    if work is not None:
        limits.check_array_bytes(
            (T + work[0], B, work[1]), 1,
            f"simulate: {T} cycles x {B} samples need [cycles, samples, signals] bytes of spikes "
            f"(simulate fewer samples at a time, e.g. evaluate(batch_size=...) or simulate_file, "
            f"or record='readout')", ShapeError)
    if not device_binary(spikes):
        raise ShapeError("input spikes must be 0 or 1")
    return spikes.astype(xp.uint8, copy=False)


def device_binary(a: Any) -> bool:
    """Whether every entry of ``a`` (a NumPy or CuPy array) is 0 or 1, computed where ``a``
    lives (no host copy of a device array). A NumPy array goes to
    :func:`spikelut.network.all_binary` (no temporaries the size of the array); on the device:
    nothing for bool, one ``any`` for uint8, an element-wise comparison otherwise (NaN is not 0
    or 1).

    Example:
        >>> device_binary(np.array([0, 1], np.uint8)), device_binary(np.array([0.0, 0.5]))
        (True, False)
    """
    xp = array_module(a)
    if xp is np:
        return all_binary(a)
    if a.dtype == xp.bool_:
        return True
    if a.dtype == xp.uint8:
        return not bool((a > 1).any())
    return bool(((a == 0) | (a == 1)).all())
