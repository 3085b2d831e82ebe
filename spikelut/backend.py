"""Array-module selection: numpy on the CPU, CuPy on the GPU.

This is the one place that decides which array library runs; engines receive the module as
``xp`` and never import cupy themselves.

Example:
    >>> from spikelut.backend import get_xp
    >>> xp = get_xp("cpu")
    >>> xp.__name__
    'numpy'
"""

from __future__ import annotations

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


def get_xp(device: str = "cpu") -> ModuleType:
    """Return numpy for ``"cpu"``, cupy for ``"gpu"``, and the GPU if usable for ``"auto"``."""
    if device not in DEVICES:
        raise ToolError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "cpu":
        return np
    cp = _cupy()
    if cp is None:
        if device == "gpu":
            raise ToolError("a GPU was asked for but none is usable: install CuPy for your CUDA "
                            "version (pip install 'spikelut[gpu]') on a machine with an NVIDIA GPU, "
                            "or use --device cpu")
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
