"""The optional extra ``spikelut[sweep]``: Optuna (and a database driver), imported on demand."""

from __future__ import annotations

from typing import Any

from ..errors import ToolError

INSTALL_HINT = "pip install 'spikelut[sweep]'"


# ---------------------------------------------------------------------------- optional extra
def require_optuna() -> Any:
    """Import Optuna or raise one line saying what to install.

    Raises:
        ToolError: Optuna is not installed.
    """
    try:
        import optuna
    except ImportError:
        raise ToolError(f"spikelut sweep needs Optuna, which is not installed: {INSTALL_HINT}") from None
    return optuna
