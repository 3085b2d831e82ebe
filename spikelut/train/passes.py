"""Which array module and which forward / backward passes a training run uses (``[train] backend``).

=========  ===============  ==========================================================
backend    array module     passes
=========  ===============  ==========================================================
``numpy``  numpy            :mod:`spikelut.train.bptt` (the reference)
``numba``  numpy            :mod:`spikelut.train.kernels_cpu` (compiled, multi-threaded)
``cuda``   CuPy             :mod:`spikelut.train.kernels_gpu` (``kernels/train_bptt.cu``)
``auto``   numpy or CuPy    the first of cuda, numba, numpy that is usable on this machine
=========  ===============  ==========================================================

All three give the same spikes; gradients agree within float32 rounding. The parameters, the
optimizer state, the batches and the BPTT history live on the backend's array module;
checkpoints hold host numpy arrays only, so a run may resume on another backend.

Asking for a backend this machine cannot run is a :class:`~spikelut.errors.ConfigError` whose
one line says why and what to do. This is the training view of the backend registry,
:mod:`spikelut.backends` (which probes the machine and holds the passes).

Example:
    >>> resolve_backend("numpy").name, resolve_backend("numpy").xp.__name__
    ('numpy', 'numpy')
    >>> resolve_backend("reference").name          # the deprecated [train] kernels spelling
    'numpy'
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError

BACKENDS = ("auto", "numpy", "numba", "cuda")
#: ``[train] forward``: which forward pass the numba backend runs (``docs/training-speed.md``,
#: "Bit-sliced forward"): ``lookup`` (per-sample table look-ups, :mod:`.kernels_cpu`),
#: ``bitsliced`` (64 samples per word, :mod:`.kernels_bits`) or ``auto`` (the one measured faster
#: for the batch, :func:`spikelut.train.kernels_bits.choose_forward`); the same spikes and
#: gradients either way
FORWARDS = ("auto", "lookup", "bitsliced")
#: the deprecated ``[train] kernels`` values and the backend each means
KERNELS_ALIASES = {"auto": "auto", "reference": "numpy", "numba": "numba"}


@dataclass(frozen=True)
class TrainBackend:
    """A resolved training backend: its ``name``, array module ``xp`` and the two passes (the
    signatures of :func:`spikelut.train.bptt.forward` / :func:`~spikelut.train.bptt.backward`)."""

    name: str
    xp: Any
    forward: Callable[..., Any]
    backward: Callable[..., Any]


def why_unavailable(name: str) -> str | None:
    """Why backend ``name`` cannot run on this machine (one clause), or ``None`` when it can
    (:meth:`spikelut.backends.Backend.why_unavailable`).

    Example:
        >>> why_unavailable("numpy") is None
        True
    """
    from ..backends import NAMES, list_backends

    if name not in NAMES:
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return list_backends()[NAMES.index(name)].why_unavailable()


def resolve_backend(name: str = "auto") -> TrainBackend:
    """The backend ``name`` (``auto``, ``numpy``, ``numba``, ``cuda``; the deprecated ``kernels``
    values ``reference`` and ``numba`` are accepted) with its array module and passes, from the
    registry of :mod:`spikelut.backends`.

    ``auto`` picks the fastest usable one: cuda, then numba, then numpy.

    Raises:
        ConfigError: an unknown name, or a backend that cannot run here (the message says why
            and which backend to use instead).
    """
    from ..backends import FASTEST_FIRST, NAMES, list_backends

    key = KERNELS_ALIASES.get(name, name)
    if key not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if key == "auto":
        key = next(b for b in FASTEST_FIRST if why_unavailable(b) is None)
    why = why_unavailable(key)
    if why is not None:
        other = "numba" if why_unavailable("numba") is None else "numpy"
        raise ConfigError(f"backend {key!r} is not available here: {why}; use --backend {other} "
                          f"or --backend auto")
    b = list_backends()[NAMES.index(key)]
    return TrainBackend(b.name, b.xp(), b.train_forward, b.train_backward)


def to_host(xp: ModuleType | Any, a: Any) -> np.ndarray:
    """``a`` as a host numpy array: ``xp.asnumpy`` where the module has one (CuPy), else numpy.

    Example:
        >>> to_host(np, [1, 2]).tolist()
        [1, 2]
    """
    fn = getattr(xp, "asnumpy", None)
    return np.asarray(fn(a) if fn is not None else a)
