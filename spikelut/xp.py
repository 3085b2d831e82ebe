"""Array-module selection (numpy on the CPU, CuPy on the GPU) and DLPack exchange.

This is the one place that decides which array library runs (``--device cpu|gpu|auto`` and the
``device=`` argument of the API); engines receive the module as ``xp`` or call
:func:`require_gpu`, and never import cupy themselves.

Arrays of other frameworks (PyTorch, JAX, ...) come in and go out through DLPack without a copy
through numpy: :func:`from_dlpack` turns any DLPack producer into a numpy (CPU) or CuPy (CUDA)
array sharing its memory, :func:`to_dlpack` hands a result back as the framework it came from.

Example:
    >>> from spikelut.xp import get_xp
    >>> xp = get_xp("cpu")
    >>> xp.__name__
    'numpy'
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np

from .errors import ToolError

DEVICES = ("cpu", "gpu", "auto")


def _cupy() -> ModuleType | None:
    try:
        import cupy  # noqa: F401

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        return cupy
    except Exception:  # ImportError, CUDA driver errors, no device: all mean "no usable GPU"
        return None


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    return _cupy() is not None


_NO_GPU = ("a GPU was asked for but none is usable: install CuPy for your CUDA version "
           "(pip install 'spikelut[gpu]') on a machine with an NVIDIA GPU, or use --device cpu")


def require_gpu() -> ModuleType:
    """Return cupy, or raise :class:`ToolError` saying how to get a usable GPU."""
    cp = _cupy()
    if cp is None:
        raise ToolError(_NO_GPU)
    return cp


def resolve_device(device: str = "auto") -> str:
    """``"cpu"`` or ``"gpu"`` for a ``--device`` value; ``"auto"`` is the GPU when usable.

    Example:
        >>> resolve_device("cpu")
        'cpu'
    """
    if device not in DEVICES:
        raise ToolError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "gpu":
        require_gpu()
    if device == "auto":
        return "gpu" if gpu_available() else "cpu"
    return device


def get_xp(device: str = "cpu") -> ModuleType:
    """Return numpy for ``"cpu"``, cupy for ``"gpu"``, and the GPU if usable for ``"auto"``."""
    if device not in DEVICES:
        raise ToolError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "cpu":
        return np
    cp = _cupy()
    if cp is None:
        if device == "gpu":
            raise ToolError(_NO_GPU)
        return np
    return cp


def array_module(x: Any) -> ModuleType:
    """The array module (numpy or cupy) that owns ``x``."""
    if type(x).__module__.startswith("cupy"):
        import cupy

        return cupy
    return np


def to_numpy(x: Any) -> np.ndarray:
    """Copy ``x`` to host memory if it lives on the GPU."""
    if type(x).__module__.startswith("cupy"):
        return x.get()
    return np.asarray(x)


# DLPack device types (dlpack.h): CPU, CUDA, CUDA pinned host memory, CUDA managed memory
_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED = 1, 2, 3, 13


def _is_native(x: Any) -> bool:
    return isinstance(x, np.ndarray) or type(x).__module__.startswith("cupy")


def from_dlpack(x: Any) -> Any:
    """``x`` as a numpy or CuPy array, sharing memory with a DLPack producer (no numpy copy).

    numpy and CuPy arrays pass through; a CPU tensor (PyTorch, JAX, ...) becomes a numpy array,
    a CUDA tensor a CuPy array (:class:`ToolError` without a usable GPU); anything else goes
    through ``numpy.asarray``.

    Example:
        >>> from_dlpack([1, 0, 1]).tolist()
        [1, 0, 1]
    """
    if _is_native(x):
        return x
    if hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__"):
        kind = int(x.__dlpack_device__()[0])
        if kind in (_DL_CUDA, _DL_CUDA_MANAGED):
            cp = _cupy()
            if cp is None:
                raise ToolError("the input lives on a CUDA device but CuPy is not usable here: "
                                "install CuPy (pip install 'spikelut[gpu]') or move the input "
                                "to the CPU first")
            return cp.from_dlpack(x)
        if kind in (_DL_CPU, _DL_CUDA_HOST):
            return np.from_dlpack(x)
        raise ToolError(f"cannot read an array on DLPack device type {kind}; "
                        "move it to the CPU or a CUDA GPU first")
    return np.asarray(x)


def _framework_from_dlpack(like: Any):
    """The ``from_dlpack`` of the framework that made ``like`` (``None`` for numpy/CuPy/lists)."""
    if _is_native(like) or not hasattr(like, "__dlpack__"):
        return None
    name = type(like).__module__
    extra = ("jax.numpy",) if name.startswith("jax") else ()  # jax arrays live in jaxlib
    for mod_name in (name, name.split(".")[0]) + extra:
        fn = getattr(sys.modules.get(mod_name), "from_dlpack", None)
        if callable(fn):
            return fn
    raise ToolError(f"cannot hand results back as {type(like).__name__}: its module {name!r} has "
                    "no from_dlpack; pass a numpy array (or a PyTorch tensor) instead")


def to_dlpack(arr: Any, like: Any) -> Any:
    """Hand ``arr`` (numpy/CuPy) back as the kind of array ``like`` is, without a copy.

    A PyTorch tensor ``like`` gives a PyTorch tensor on ``arr``'s device; numpy/CuPy arrays and
    other inputs give ``arr`` unchanged.

    Example:
        >>> import numpy as np
        >>> to_dlpack(np.arange(3), [0, 1, 2]).tolist()
        [0, 1, 2]
    """
    fn = _framework_from_dlpack(like)
    if fn is None or arr is None:
        return arr
    if isinstance(arr, np.ndarray) and not arr.flags.writeable:
        arr = arr.copy()  # numpy refuses to export read-only buffers
    return fn(arr)


def result_converter(like: Any):
    """A function mapping result arrays back to ``like``'s framework (identity for numpy/CuPy)."""
    fn = _framework_from_dlpack(like)
    if fn is None:
        return lambda a: a
    return lambda a: to_dlpack(a, like)
