"""Exceptions that carry one clear, user-facing message.

Every error a user can cause (bad config, bad file, bad shape, missing tool) is raised as a
subclass of :class:`SpikelutError`; the CLI prints its message on one line and exits non-zero.
Anything else that escapes is a bug in spikelut.

Each message is one line that names the file, field, layer, node or value at fault and says what
to do. The subclasses also derive from the matching built-in exception (``ValueError`` or
``RuntimeError``), so generic handlers keep working.

Example:
    >>> import spikelut as sl
    >>> try:
    ...     sl.load_model("no-such-model.h5")
    ... except sl.SpikelutError as e:
    ...     print(type(e).__name__, "|", e)
    FileFormatError | no-such-model.h5: no such file
"""

from __future__ import annotations


class SpikelutError(Exception):
    """Base class of every user-facing spikelut error.

    Catch this to handle any mistake in input a user can make; ``str(e)`` is the one-line
    message the CLI prints as ``spikelut COMMAND: error: <message>`` (exit status 1).
    """


class NetworkError(SpikelutError, ValueError):
    """An illegal network: bad taps, k out of range, bad readout, ...

    Raised by the :class:`~spikelut.network.Network` constructor (and so by everything that
    builds one); the message names the layer, node and tap that break a rule of the model.

    Example:
        >>> import numpy as np
        >>> from spikelut import Layer, Network, Readout
        >>> taps = np.zeros((1, 2), np.int32)
        >>> layer = Layer(np.zeros((1, 4), np.uint8), taps, taps, taps)   # reads layer 0 at delay 0
        >>> Network(1, [layer], Readout(0, np.zeros(1, np.int32), 1))
        Traceback (most recent call last):
        ...
        spikelut.errors.NetworkError: layer 0 ('L0'), node 0, tap 0 (...): a delay-0 tap may only read ...
    """


class ConfigError(SpikelutError, ValueError):
    """A configuration file or value that cannot be used.

    Unknown keys, values out of range, and bad command-line values (a sample that does not exist,
    an output path that is a directory, ...); the message names the key or option.
    """


class FileFormatError(SpikelutError, ValueError):
    """A model, spike or result file that is malformed, truncated or of the wrong kind.

    The message names the file and the field (``/layers/L0/delay``, ``/labels``, ...).
    """


class OutputError(SpikelutError, RuntimeError):
    """An output that cannot be written: bad path, no permission, disk full, the same file as an
    input, a file of another kind, or in use by another spikelut process."""


class ShapeError(SpikelutError, ValueError):
    """Arrays whose shape or dtype does not fit the network.

    For example input spikes that are not ``uint8``-compatible 0/1 values of shape
    ``[T, B, n_in]``.
    """


class ToolError(SpikelutError, RuntimeError):
    """A missing optional tool or package (GPU, verilator, yosys, ...), or a tool that failed.

    The message says what to install (``pip install 'spikelut[rtl]'``, ``apt-get install
    yosys``) or which option avoids the tool.
    """


def count(n: int, plural: str) -> str:
    """``n`` and the noun, singular for one, for messages: ``count(1, "classes") == "1 class"``.

    Example:
        >>> count(1, "classes"), count(2, "classes"), count(1, "channels"), count(0, "samples")
        ('1 class', '2 classes', '1 channel', '0 samples')
    """
    if n != 1:
        return f"{n} {plural}"
    return f"{n} {plural[:-2] if plural.endswith('sses') else plural[:-1]}"

