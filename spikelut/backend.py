"""Deprecated alias of :mod:`spikelut.xp` (the array-module helper), kept for one release.

"Backend" now means a registered simulation/training backend (:mod:`spikelut.backends`).
Import ``spikelut.xp`` instead; every name read from here warns once per use.
"""

from __future__ import annotations

import warnings
from typing import Any

from . import xp as _xp


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    value = getattr(_xp, name)  # AttributeError for names xp does not have either
    warnings.warn(f"spikelut.backend.{name} is deprecated; use spikelut.xp.{name} (array modules) "
                  "or spikelut.backends (the backend registry)", DeprecationWarning, stacklevel=2)
    return value
