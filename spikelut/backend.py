"""Deprecated alias of :mod:`spikelut.xp` (the array-module helper), kept for one release.

"Backend" now means a registered simulation/training backend (:mod:`spikelut.backends`).
Import ``spikelut.xp`` instead.
"""

from __future__ import annotations

import warnings

from .xp import *  # noqa: F401,F403
from .xp import (_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED, _NO_GPU,  # noqa: F401
                 _cupy, _framework_from_dlpack, _is_native)

warnings.warn("spikelut.backend is deprecated; import spikelut.xp (array modules) or "
              "spikelut.backends (the backend registry)", DeprecationWarning, stacklevel=2)
