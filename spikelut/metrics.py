"""Accuracy and confusion: one rule for every command that reports an accuracy.

``simulate``, ``eval``, ``train`` and ``run`` all call :func:`check_scorable` before they score,
so they refuse the same data with the same one-line message:

* a readout with no counted cycle (``start >= T``): every count is 0 and every prediction is
  class 0 by the tie rule, so an "accuracy" would only measure how often the label is 0;
* a label outside the readout's classes ``0 .. classes-1``: no prediction can ever equal it.

:class:`Tally` accumulates correct predictions and the confusion matrix over chunks of samples,
so a streamed file is scored without holding every prediction.

Example:
    >>> import numpy as np
    >>> from spikelut.network import Readout
    >>> check_scorable(Readout(0, [0, 1], 2, start=3), 3, np.array([0, 1]), "t.h5")
    Traceback (most recent call last):
    ...
    spikelut.errors.ShapeError: t.h5: 3 cycles, but the readout starts counting at cycle 3 (no cycle is counted, so there is no accuracy); lower [readout] start or use longer inputs
    >>> tally = Tally(2)
    >>> tally.add(np.array([0, 1, 1]), np.array([0, 1, 0]))
    >>> tally.correct, tally.samples, tally.accuracy
    (2, 3, 0.6666666666666666)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError, ShapeError
from .limits import MAX_CLASSES
from .network import Readout


def scoring_problem(readout: Readout, steps: int, labels: Any) -> str | None:
    """Why an accuracy of ``readout`` over ``steps`` cycles against ``labels`` would mean nothing.

    Args:
        readout: the network's readout (``start``, ``classes``).
        steps: cycles ``T`` of the input.
        labels: integer labels ``[B]`` (any integer dtype; floats must be whole numbers), or
            ``None`` to check ``steps`` only.

    Returns:
        One sentence naming the fault and what to do, or ``None`` when the accuracy is meaningful.
        The labels' shape is not checked here (the callers compare it with the predictions).

    Raises:
        Nothing: every fault is the returned sentence.

    Example:
        >>> scoring_problem(Readout(0, [0, 1], 2), 5, np.array([1, 2]))[:40]
        'label 2 is out of range: the readout has'
    """
    if steps <= readout.start:
        return (f"{steps} cycles, but the readout starts counting at cycle {readout.start} (no cycle "
                f"is counted, so there is no accuracy); lower [readout] start or use longer inputs")
    if labels is None:
        return None
    labels = np.asarray(labels)
    C = readout.classes
    if labels.dtype.kind not in "iubf":
        return (f"labels must be class numbers (integers), got dtype {labels.dtype}; give "
                f"integer labels 0..{max(C - 1, 0)}")
    if labels.dtype.kind == "f" and labels.size:
        whole = np.isfinite(labels) & (np.mod(labels, 1) == 0)
        if not whole.all():  # astype(int64) would make 0.5 class 0 and NaN a huge negative
            return (f"label {float(labels.flat[int(np.argmin(whole))])!r} is not a whole number; "
                    f"labels are class numbers 0..{max(C - 1, 0)}")
    bad = (labels < 0) | (labels >= C)
    if bad.any():
        # a bare Readout (API) may have 0 classes: not "0 classes (labels 0..-1)"
        has = ("no classes" if C == 0 else "1 class (label 0)" if C == 1
               else f"{C} classes (labels 0..{C - 1})")
        # .flat: argmax counts over the flattened array (labels[i] of a 2-D array was a row:
        # a TypeError; of a 0-d one an IndexError)
        return (f"label {int(labels.flat[int(np.argmax(bad))])} is out of range: the readout has {has}; "
                f"set [readout] classes to match the data")
    return None


def check_scorable(readout: Readout, steps: int, labels: Any, name: str) -> None:
    """Raise :class:`ShapeError` ``"{name}: {reason}"`` when :func:`scoring_problem` finds one.

    Args:
        readout, steps, labels: see :func:`scoring_problem`.
        name: what the labels are (a file, ``"labels"``), first in the message.

    Returns:
        ``None`` when the accuracy is meaningful.

    Raises:
        ShapeError: no counted cycle, a label that is not a whole number, or a label outside
            ``0 .. classes-1``.

    Example:
        >>> check_scorable(Readout(0, [0, 1], 2), 5, np.array([0.5]), "y")
        Traceback (most recent call last):
        ...
        spikelut.errors.ShapeError: y: label 0.5 is not a whole number; labels are class numbers 0..1
    """
    problem = scoring_problem(readout, steps, labels)
    if problem is not None:
        raise ShapeError(f"{name}: {problem}")


class Tally:
    """Correct predictions and the confusion matrix (rows = true class), accumulated over chunks.

    Args:
        classes: number of classes ``C``; labels and predictions must lie in ``0 .. C-1``.

    Attributes:
        classes: ``C``.
        confusion: int64 ``[C, C]``: ``confusion[label, pred]`` samples.

    Raises:
        ConfigError: ``classes`` not an integer in ``1 ..`` :data:`~spikelut.limits.MAX_CLASSES`.

    Example:
        >>> t = Tally(2)
        >>> t.add([0, 1, 1], [0, 1, 0])         # predictions, then labels
        >>> t.describe(), t.confusion.tolist()
        ('accuracy 0.6667 (2/3)', [[1, 1], [0, 1]])
    """

    def __init__(self, classes: int) -> None:
        if isinstance(classes, (bool, np.bool_)) or not isinstance(classes, (int, np.integer)):
            raise ConfigError(f"Tally: classes must be an integer, got {classes!r}")
        if not 1 <= classes <= MAX_CLASSES:  # before the [classes, classes] matrix exists
            raise ConfigError(f"Tally: classes must be 1..{MAX_CLASSES}, got {classes}")
        self.classes = int(classes)
        self.confusion = np.zeros((self.classes, self.classes), np.int64)

    def add(self, pred: Any, labels: Any) -> None:
        """Count one chunk: ``pred`` and ``labels`` are integer arrays ``[b]`` of classes
        ``0 .. classes-1``.

        Raises:
            ShapeError: shapes that differ, or a value that is not a whole class number in
                range (a -1 would otherwise count in the last class, a 0.5 as class 0).
        """
        pred, labels = np.asarray(pred), np.asarray(labels)
        if pred.shape != labels.shape:
            raise ShapeError(f"labels have shape {labels.shape}, predictions {pred.shape}")
        for name, a in (("labels", labels), ("predictions", pred)):
            ok = a.dtype.kind in "iub" or (a.dtype.kind == "f" and bool(
                (np.isfinite(a) & (np.mod(a, 1) == 0)).all()))
            if not ok or (a.size and (a.min() < 0 or a.max() >= self.classes)):
                raise ShapeError(f"{name} must be whole class numbers 0..{self.classes - 1}, got "
                                 f"dtype {a.dtype}" + (f", values {a.min()}..{a.max()}"
                                                       if a.size and a.dtype.kind in "iuf" else ""))
        np.add.at(self.confusion, (labels.astype(np.int64), pred.astype(np.int64)), 1)

    @property
    def samples(self) -> int:
        """Samples counted so far."""
        return int(self.confusion.sum())

    @property
    def correct(self) -> int:
        """Samples whose prediction equals the label."""
        return int(np.trace(self.confusion))

    @property
    def accuracy(self) -> float:
        """``correct / samples`` (0.0 before any sample)."""
        return self.correct / self.samples if self.samples else 0.0

    def describe(self) -> str:
        """``"accuracy 0.6667 (2/3)"``."""
        return f"accuracy {self.accuracy:.4f} ({self.correct}/{self.samples})"


__all__ = ["scoring_problem", "check_scorable", "Tally"]
