"""What a dataset is (:class:`Dataset`): its splits, kinds and the built-in names."""


from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np



SPLITS = ("train", "test")
KINDS = ("image", "sequence", "spikes")
DATASETS = ("mnist5k", "mnist1d", "first_of_two", "patterns")
DATASET_FORMAT = "spikelut-dataset"


@dataclass
class Dataset:
    """A labelled dataset split.

    Attributes:
        name: built-in name or file path.
        x: ``image``: float ``[N, features]`` (flattened; ``shape`` says the layout);
           ``sequence``: float ``[N, L]`` or ``[N, L, F]``; ``spikes``: uint8 ``[T, N, C]``.
           Floats are float32 for the built-ins and uint8 pixels / 255, else the file's own
           float32 or float64 (never cast down).
        y: int64 ``[N]`` labels in ``0 .. classes-1``.
        classes: number of classes.
        kind: ``"image"``, ``"sequence"`` or ``"spikes"``.
        shape: one sample's shape: ``(28, 28)``, ``(40,)``, ``(T, C)``, ...
        split: ``"train"`` or ``"test"`` (``"all"`` for a single-split user file).
        meta: where it came from and how it was scaled.

    ``len(ds)`` is ``N``; :attr:`n_values` the values per sample the encoder reads.

    Example:
        >>> ds = Dataset("toy", np.zeros((3, 2, 4), np.uint8), np.array([0, 1]), 2, "spikes",
        ...              (3, 4), "test")
        >>> len(ds), ds.n_values, ds.meta
        (2, 4, {})
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    classes: int
    kind: str
    shape: tuple
    split: str = "train"
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_values(self) -> int:
        """Values per sample fed to the encoder: features (image), features per cycle (sequence),
        channels (spikes)."""
        if self.kind == "image":
            return int(self.x.shape[1])
        if self.kind == "sequence":
            return 1 if self.x.ndim == 2 else int(self.x.shape[2])
        return int(self.x.shape[2])
