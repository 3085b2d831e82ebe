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

from .errors import ShapeError
from .network import Readout


def scoring_problem(readout: Readout, steps: int, labels: Any) -> str | None:
    """Why an accuracy of ``readout`` over ``steps`` cycles against ``labels`` would mean nothing.

    Args:
        readout: the network's readout (``start``, ``classes``).
        steps: cycles ``T`` of the input.
        labels: integer labels ``[B]`` (any integer dtype), or ``None`` to check ``steps`` only.

    Returns:
        One sentence naming the fault and what to do, or ``None`` when the accuracy is meaningful.

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
    bad = (labels < 0) | (labels >= C)
    if bad.any():
        # a bare Readout (API) may have 0 classes: not "0 classes (labels 0..-1)"
        has = ("no classes" if C == 0 else "1 class (label 0)" if C == 1
               else f"{C} classes (labels 0..{C - 1})")
        return (f"label {int(labels[np.argmax(bad)])} is out of range: the readout has {has}; "
                f"set [readout] classes to match the data")
    return None


def check_scorable(readout: Readout, steps: int, labels: Any, name: str) -> None:
    """Raise :class:`ShapeError` ``"{name}: {reason}"`` when :func:`scoring_problem` finds one.

    Raises:
        ShapeError: no counted cycle, or a label outside ``0 .. classes-1``.
    """
    problem = scoring_problem(readout, steps, labels)
    if problem is not None:
        raise ShapeError(f"{name}: {problem}")


class Tally:
    """Correct predictions and the confusion matrix (rows = true class), accumulated over chunks.

    Args:
        classes: number of classes ``C``; labels and predictions must lie in ``0 .. C-1``.
    """

    def __init__(self, classes: int) -> None:
        self.classes = int(classes)
        self.confusion = np.zeros((self.classes, self.classes), np.int64)

    def add(self, pred: Any, labels: Any) -> None:
        """Count one chunk: ``pred`` and ``labels`` are integer arrays ``[b]``."""
        pred = np.asarray(pred, np.int64)
        labels = np.asarray(labels, np.int64)
        if pred.shape != labels.shape:
            raise ShapeError(f"labels have shape {labels.shape}, predictions {pred.shape}")
        np.add.at(self.confusion, (labels, pred), 1)

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
