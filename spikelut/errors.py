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

    Example:
        >>> [c.__name__ for c in SpikelutError.__subclasses__()]
        ['NetworkError', 'ConfigError', 'FileFormatError', 'OutputError', 'ShapeError', 'ToolError']
        >>> issubclass(ConfigError, ValueError), issubclass(ToolError, RuntimeError)
        (True, True)
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

    Example:
        >>> import spikelut as sl
        >>> sl.random_spikes(2, steps=3, batch=1, rate=2)
        Traceback (most recent call last):
        ...
        spikelut.errors.ConfigError: rate must be a number in [0, 1], got 2
    """


class FileFormatError(SpikelutError, ValueError):
    """A model, spike or result file that is malformed, truncated or of the wrong kind.

    The message names the file and the field (``/layers/L0/delay``, ``/labels``, ...).

    Example:
        >>> import spikelut as sl
        >>> sl.load_spikes("no-such-spikes.h5")
        Traceback (most recent call last):
        ...
        spikelut.errors.FileFormatError: no-such-spikes.h5: no such file
    """


class OutputError(SpikelutError, RuntimeError):
    """An output that cannot be written: bad path, no permission, disk full, the same file as an
    input, a file of another kind, or in use by another spikelut process.

    Raised before anything is written where it can be known then (an input given as the output);
    an input file is never replaced.

    Example:
        >>> import tempfile, pathlib, numpy as np, spikelut as sl
        >>> from spikelut.wiring import random_network
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.h5"
        >>> sl.save_spikes(p, np.ones((2, 1, 3), np.uint8))
        >>> try:
        ...     sl.simulate_file(random_network(0, n_in=3, sizes=[4, 2], k=2), p, p)
        ... except OutputError as e:
        ...     print(str(e).replace(str(p), "x.h5"))
        x.h5: is also the input spike file (x.h5); choose another output
    """


class ShapeError(SpikelutError, ValueError):
    """Arrays whose shape or dtype does not fit the network.

    For example input spikes that are not ``uint8``-compatible 0/1 values of shape
    ``[T, B, n_in]``.

    Example:
        >>> import numpy as np, spikelut as sl
        >>> from spikelut.wiring import random_network
        >>> net = random_network(0, n_in=3, sizes=[4, 2], k=2)
        >>> sl.simulate(net, np.ones((2, 1, 5), np.uint8), backend="numpy")
        Traceback (most recent call last):
        ...
        spikelut.errors.ShapeError: input spikes have 5 channels but the network has 3 inputs
    """


class ToolError(SpikelutError, RuntimeError):
    """A missing optional tool or package (GPU, verilator, yosys, ...), or a tool that failed.

    The message says what to install (``pip install 'spikelut[rtl]'``, ``apt-get install
    yosys``) or which option avoids the tool.

    Example (skipped as a test: on a machine with a usable GPU nothing is raised):
        >>> from spikelut.backends import get_backend
        >>> get_backend("cuda")                                    # doctest: +SKIP
        Traceback (most recent call last):
        ...
        spikelut.errors.ToolError: backend 'cuda' is not available here: CuPy is not installed ...
    """


def count(n: int, plural: str) -> str:
    """``n`` and the noun, singular for one, for messages: ``count(1, "classes") == "1 class"``.

    Args:
        n: the number.
        plural: the noun's plural; the singular drops its ``s`` (``es`` after ``ss``).

    Returns:
        ``"<n> <noun>"``.

    Example:
        >>> count(1, "classes"), count(2, "classes"), count(1, "channels"), count(0, "samples")
        ('1 class', '2 classes', '1 channel', '0 samples')
    """
    if n != 1:
        return f"{n} {plural}"
    return f"{n} {plural[:-2] if plural.endswith('sses') else plural[:-1]}"

