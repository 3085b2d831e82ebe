"""Small helpers shared by the CLI commands."""

from __future__ import annotations

import argparse


from ..errors import ConfigError, count  # noqa: F401  (count: the commands' summaries)
from ..io import load_model


FORCE_HELP = "overwrite an existing output of another kind"


def table(rows: list[list], header: list[str]) -> str:
    """Left-aligned plain-text table."""
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def add_backend_arguments(p, deprecated_engine: bool = True) -> None:
    """``--backend`` (one of :data:`spikelut.backends.CHOICES`) and the deprecated
    ``--engine``/``--device`` words that map onto it."""
    from ..backends import CHOICES

    p.add_argument("--backend", default=None, choices=CHOICES,
                   help="numpy, numba, cuda, or auto: the fastest usable (default); "
                        "see 'spikelut backends'")
    if deprecated_engine:
        p.add_argument("--engine", default=None, choices=("auto", "reference", "bitsliced", "gpu"),
                       help="deprecated: use --backend (reference = numpy, bitsliced = numba, "
                            "gpu = cuda)")
    p.add_argument("--device", default=None, choices=("cpu", "gpu", "auto"),
                   help="deprecated: use --backend (cpu = numba, gpu = cuda)")


def backend_name(args, command: str) -> str:
    """The backend that ``--backend`` (or a deprecated ``--engine``/``--device``) names; prints
    the one-line deprecation note on stderr when an old word was used."""
    import sys

    from ..backends import backend_from_legacy

    name, note = backend_from_legacy(args.backend, getattr(args, "engine", None), args.device)
    if note:
        print(f"spikelut {command}: note: {note}", file=sys.stderr)
    return name


def positive_int(text: str) -> int:
    """argparse type of a count: an integer >= 1 (argparse's message then names the option).

    Example:
        >>> positive_int("64")
        64
        >>> positive_int("0")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: must be an integer >= 1, got 0
    """
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {v}")
    return v


def add_chunk_argument(p) -> None:
    """``--chunk N``: samples per chunk of a streamed file (simulate and eval)."""
    from ..api import CHUNK_MEMORY

    p.add_argument("--chunk", type=positive_int, default=None, metavar="N",
                   help=f"samples simulated at once (default: what fits {CHUNK_MEMORY >> 20} MB of "
                        f"spikes, a multiple of 64); memory is set by the chunk, not the file")


def parse_size(text: str) -> tuple[int, int]:
    """``"1200x900"`` -> ``(1200, 900)``."""
    w, sep, h = text.lower().partition("x")
    try:
        if not sep:
            raise ValueError
        return int(w), int(h)
    except ValueError:
        raise ConfigError(f"--size expects WIDTHxHEIGHT in pixels, e.g. 1200x900, got {text!r}") from None


def parse_int_list(text: str, flag: str, what: str, example: str) -> list[int]:
    """A comma list of integers given to ``flag`` (``"1,4"`` -> ``[1, 4]``); the range is the
    caller's to check.

    Raises:
        ConfigError: ``"{flag}: give {what} as a comma list, e.g. {example}; got ..."``.

    Example:
        >>> parse_int_list("0,1,2", "--seeds", "seeds", "0,1,2")
        [0, 1, 2]
    """
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise ConfigError(f"{flag}: give {what} as a comma list, e.g. {example}; got {text!r}") from None


def model_for(result: str, model: str | None):
    """The network of ``--model`` (for layer names and readout classes); ``None`` without it.

    The commands pass it to the library (``plot``, ``vcd``), whose ``load_result(result, net)``
    checks the layer sizes against the result. A model path recorded inside the result file is
    deliberately not followed: a file from elsewhere must not make spikelut open another file
    (docs/threat-model.md).

    Raises:
        FileFormatError: the model cannot be read.
    """
    return load_model(model) if model else None
