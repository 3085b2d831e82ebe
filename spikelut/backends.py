"""The backend registry: one word (``--backend``, ``[run] backend``, ``[train] backend``) selects
where a network is simulated and trained.

============  ======  ===========================================================================
backend       device  simulate / train forward / train backward
============  ======  ===========================================================================
``numpy``     cpu     :mod:`spikelut.semantics` (the reference) / ``train.bptt`` (numpy)
``numba``     cpu     bit-sliced engine, 64 samples per word / ``train.kernels_cpu`` (compiled)
``cuda``      gpu     ``kernels/bitsliced_infer.cu`` through CuPy / ``train.kernels_gpu``
``auto``      any     the fastest usable one: cuda, else numba, else numpy
============  ======  ===========================================================================

Every backend gives bit-identical spikes (the semantic matrix, ``tests/test_semantics.py``,
checks each against the reference). A :class:`Backend` says what it supports and, through
:meth:`Backend.why_unavailable`, why it cannot run on this machine; :func:`get_backend` turns a
name into a usable backend or stops with one line saying why.

Deprecated words map onto backends (:func:`backend_from_legacy`): ``--engine reference`` =
``numpy``, ``bitsliced`` = ``numba``, ``gpu`` = ``cuda``; ``--device cpu`` = the fastest CPU
backend, ``--device gpu`` = ``cuda``; ``[train] kernels = "reference"`` = ``numpy``
(:mod:`spikelut.train.passes`, the training view of this registry).

Example:
    >>> from spikelut.backends import get_backend, list_backends
    >>> [b.name for b in list_backends()]
    ['numpy', 'numba', 'cuda']
    >>> b = get_backend("numba")
    >>> b.device, sorted(b.supports)
    ('cpu', ['simulate', 'train_backward', 'train_forward'])
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Sequence

import numpy as np

from .errors import ConfigError, ShapeError, ToolError
from .lowering import Lowered
from .network import Network
from .xp import from_dlpack, require_gpu, result_converter

NAMES = ("numpy", "numba", "cuda")
CHOICES = ("auto",) + NAMES
NEEDS = ("simulate", "train_forward", "train_backward")
#: ``auto`` tries these in order
FASTEST_FIRST = ("cuda", "numba", "numpy")


def _first_line(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _numba_missing() -> str | None:
    try:
        importlib.import_module("spikelut.train.kernels_cpu")  # numba and the compiled passes
    except Exception as e:  # numba missing, or one that does not match this numpy: say which
        return f"numba does not import ({type(e).__name__}: {_first_line(e)})"
    return None


def _cuda_missing() -> str | None:
    try:
        import cupy
    except Exception:
        return "CuPy is not installed (pip install 'spikelut[gpu]' on a machine with an NVIDIA GPU)"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, no device
        return f"CuPy sees no usable CUDA device ({_first_line(e)})"
    return None if n > 0 else "CuPy sees no CUDA device"


def _simulate_numpy(low: Lowered, spikes: Any, record: Any) -> Any:
    from .engine import reference
    from .xp import to_numpy

    return reference.simulate(low, to_numpy(spikes), record=record)


def _simulate_numba(low: Lowered, spikes: Any, record: Any) -> Any:
    from .engine import bitsliced
    from .xp import to_numpy

    return bitsliced.simulate(low, to_numpy(spikes), record=record)


def _simulate_cuda(low: Lowered, spikes: Any, record: Any) -> Any:
    from .engine import gpu

    return gpu.simulate(low, spikes, record=record)


@dataclass(frozen=True)
class Backend:
    """One way to run networks.

    Attributes:
        name: ``"numpy"``, ``"numba"`` or ``"cuda"``.
        device: ``"cpu"`` or ``"gpu"``.
        supports: what it does, a subset of ``{"simulate", "train_forward", "train_backward"}``.
        summary: one line for listings.
        train_forward: ``forward(plan, tables, x, save=True) -> Forward`` with the signature of
            :func:`spikelut.train.bptt.forward` (imported on first use), or ``None``.
        train_backward: ``backward(plan, thetas, fwd, g_spikes, surrogate, ...)`` as
            :func:`spikelut.train.bptt.backward`, or ``None``.
    """

    name: str
    device: str
    supports: frozenset
    summary: str
    _train_module: str | None  # spikelut.train.<module> holds forward() and backward()
    _missing: Callable[[], str | None]
    _simulate: Callable[[Lowered, Any, Any], Any]

    def _train_pass(self, name: str) -> Callable | None:
        if self._train_module is None:
            return None
        return getattr(importlib.import_module(f"spikelut.train.{self._train_module}"), name)

    @property
    def train_forward(self) -> Callable | None:
        return self._train_pass("forward")

    @property
    def train_backward(self) -> Callable | None:
        return self._train_pass("backward")

    def why_unavailable(self) -> str | None:
        """``None`` when usable on this machine, else one line saying why and what to do."""
        return self._missing()

    def xp(self) -> ModuleType:
        """The array module its arrays live on: numpy, or cupy for ``cuda``.

        Raises:
            ToolError: the backend is not usable here.
        """
        self.require()
        return require_gpu() if self.device == "gpu" else np

    def require(self, need: str = "simulate") -> "Backend":
        """``self`` when usable for ``need``.

        Raises:
            ToolError: not usable on this machine (the line says why).
            ConfigError: it does not do ``need``.
        """
        if need not in NEEDS:
            raise ConfigError(f"unknown backend capability {need!r}; choose one of {', '.join(NEEDS)}")
        if need not in self.supports:
            raise ConfigError(f"backend {self.name!r} does not support {need}")
        why = self.why_unavailable()
        if why is not None:
            other = "numba" if _REGISTRY["numba"].why_unavailable() is None else "numpy"
            raise ToolError(f"backend {self.name!r} is not available here: {why}; use --backend "
                            f"{other} or --backend auto")
        return self

    def simulate(self, net: Network | Lowered, spikes: Any, record: str | int | Sequence[int] = "all"):
        """Simulate ``net`` on input spikes ``[T, B, n_in]`` (0/1; numpy, CuPy or any DLPack
        tensor) from all-zero state.

        Returns:
            :class:`~spikelut.engine.result.SimResult`: every recorded layer's spikes
            ``[T, B, n_i]`` (uint8; ``None`` for layers ``record`` leaves out), readout counts
            ``[B, classes]`` and predictions ``[B]`` (int32), as arrays of the framework of
            ``spikes`` (CuPy for CuPy input, PyTorch for PyTorch input).

        Raises:
            ToolError: the backend is not usable here.
            ShapeError: the spikes are not ``[T, B, n_in]`` of 0/1 (or ragged lists).
            ConfigError: ``net`` is not a network, or ``record`` names no layer.

        Example:
            >>> import numpy as np
            >>> from spikelut.wiring import random_network
            >>> net = random_network(0, n_in=3, sizes=[6, 2], k=3)
            >>> get_backend("numpy").simulate(net, np.ones((5, 4, 3), np.uint8)).pred.shape
            (4,)
        """
        from .engine.result import SimResult
        from .lowering import lower

        self.require("simulate")
        low = net if isinstance(net, Lowered) else lower(net)
        if isinstance(spikes, (list, tuple)):  # nested lists: ragged ones are numpy's ValueError
            try:
                spikes = np.asarray(spikes)
            except (ValueError, TypeError):
                raise ShapeError("input spikes must be a [T, B, n_in] array of 0/1 values; the "
                                 "nested lists given are ragged") from None
        back = result_converter(spikes)
        res = self._simulate(low, from_dlpack(spikes), record)
        return SimResult([None if s is None else back(s) for s in res.layer_spikes],
                         back(res.counts), back(res.pred))

    def info(self) -> dict:
        """JSON-friendly description (what ``spikelut backends --json`` prints)."""
        why = self.why_unavailable()
        return {"name": self.name, "device": self.device, "supports": sorted(self.supports),
                "available": why is None, "why_unavailable": why, "summary": self.summary}


_ALL = frozenset(NEEDS)
_REGISTRY: dict[str, Backend] = {
    "numpy": Backend("numpy", "cpu", _ALL, "reference semantics and training passes in numpy",
                     "bptt", lambda: None, _simulate_numpy),
    "numba": Backend("numba", "cpu", _ALL, "bit-sliced engine and compiled training passes (numba)",
                     "kernels_cpu", _numba_missing, _simulate_numba),
    "cuda": Backend("cuda", "gpu", _ALL, "CUDA kernels through CuPy (inference and training)",
                    "kernels_gpu", _cuda_missing, _simulate_cuda),
}


def list_backends() -> list[Backend]:
    """Every registered backend, usable here or not (see :meth:`Backend.why_unavailable`).

    Example:
        >>> [b.name for b in list_backends()]
        ['numpy', 'numba', 'cuda']
    """
    return [_REGISTRY[n] for n in NAMES]


def get_backend(name: str = "auto", need: str = "simulate") -> Backend:
    """The backend ``name`` (``"auto"``: the fastest usable one that supports ``need``).

    Raises:
        ConfigError: unknown name, or the backend does not support ``need``.
        ToolError: the backend is not usable on this machine (the message says why).

    Example:
        >>> get_backend("auto").name in ("cuda", "numba", "numpy")
        True
        >>> get_backend("tpu")
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: unknown backend 'tpu'; choose one of auto, numpy, numba, cuda
    """
    if not isinstance(need, str) or need not in NEEDS:
        raise ConfigError(f"unknown backend capability {need!r}; choose one of {', '.join(NEEDS)}")
    if not isinstance(name, str):  # a list was "unhashable type" from the registry's dict
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(CHOICES)}")
    if name == "auto":
        for n in FASTEST_FIRST:
            b = _REGISTRY[n]
            if need in b.supports and b.why_unavailable() is None:
                return b
        raise ToolError(f"no backend supporting {need} is usable here")  # pragma: no cover
    if name not in _REGISTRY:
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(CHOICES)}")
    return _REGISTRY[name].require(need)


_ENGINE_WORDS = {"reference": "numpy", "bitsliced": "numba", "gpu": "cuda"}


def backend_from_legacy(backend: str | None, engine: str | None = None,
                        device: str | None = None, flags: tuple[str, str] = ("--engine", "--device")
                        ) -> tuple[str, str | None]:
    """The backend name meant by ``backend`` or by the deprecated ``engine``/``device`` words,
    and a one-line deprecation note when an old word was used (else ``None``).

    ``backend`` wins when given; ``--engine reference|bitsliced|gpu`` = ``numpy|numba|cuda``;
    ``--engine auto`` (or none) with ``--device cpu`` = the fastest CPU backend, with
    ``--device gpu`` = ``cuda``, with ``--device auto`` = ``auto``.

    Raises:
        ConfigError: an unknown backend, engine or device word.

    Example:
        >>> backend_from_legacy(None, "bitsliced")
        ('numba', '--engine is deprecated; use --backend numba')
        >>> backend_from_legacy("numpy", None, None)
        ('numpy', None)
    """
    if backend is not None and (not isinstance(backend, str) or backend not in CHOICES):
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(CHOICES)}")
    if engine is None and device is None:
        return (backend or "auto"), None
    used = " and ".join(f for f, v in zip(flags, (engine, device)) if v is not None)
    if engine is not None and engine not in ("auto",) + tuple(_ENGINE_WORDS):
        raise ConfigError(f"unknown engine {engine!r}; choose one of auto, "
                          f"{', '.join(_ENGINE_WORDS)} (deprecated: use --backend)")
    if device is not None and device not in ("cpu", "gpu", "auto"):
        raise ConfigError(f"unknown device {device!r}; choose one of cpu, gpu, auto "
                          "(deprecated: use --backend)")
    if backend is not None and backend != "auto":
        name = backend
    elif engine in _ENGINE_WORDS:
        name = _ENGINE_WORDS[engine]
    elif device == "gpu":
        name = "cuda"
    elif device == "cpu":
        name = "numba" if _REGISTRY["numba"].why_unavailable() is None else "numpy"
    else:
        name = "auto"
    return name, f"{used} {'is' if ' and ' not in used else 'are'} deprecated; use --backend {name}"


__all__ = ["Backend", "CHOICES", "NAMES", "backend_from_legacy", "get_backend", "list_backends"]
