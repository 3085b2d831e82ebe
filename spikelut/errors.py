"""Exceptions that carry one clear, user-facing message.

Every error a user can cause (bad config, bad file, bad shape, missing tool) is raised as a
subclass of :class:`SpikelutError`; the CLI prints its message on one line and exits non-zero.
Anything else that escapes is a bug in spikelut.
"""

from __future__ import annotations


class SpikelutError(Exception):
    """Base class of every user-facing spikelut error."""


class NetworkError(SpikelutError, ValueError):
    """An illegal network: bad taps, k out of range, bad readout, ..."""


class ConfigError(SpikelutError, ValueError):
    """A configuration file or value that cannot be used."""


class FileFormatError(SpikelutError, ValueError):
    """A model, spike or result file that is malformed, truncated or of the wrong kind."""


class OutputError(SpikelutError, RuntimeError):
    """An output that cannot be written: bad path, no permission, disk full, the same file as an
    input, a file of another kind, or in use by another spikelut process."""


class ShapeError(SpikelutError, ValueError):
    """Arrays whose shape or dtype does not fit the network."""


class ToolError(SpikelutError, RuntimeError):
    """A missing optional tool or package (GPU, verilator, yosys, ...)."""
