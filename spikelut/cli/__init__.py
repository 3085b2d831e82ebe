"""The ``spikelut`` command line: thin argument parsing over the Python API.

Each subcommand lives in its own module ``spikelut/cli/cmd_<name>.py`` defining ``NAME``,
``HELP``, ``add_arguments(parser)`` and ``run(args) -> Output``; they are discovered here, so
adding a command touches no shared file. Errors a user can cause (:class:`SpikelutError`) print
one line on stderr and exit 1; with ``--json`` an ``{"ok": false, "error": ...}`` object is also
printed on stdout.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from dataclasses import dataclass, field
from typing import Sequence

from ..errors import SpikelutError
from ..escape import terminal


@dataclass
class Output:
    """What a command returns: ``data`` for ``--json``, ``text`` for people."""

    data: dict = field(default_factory=dict)
    text: str = ""
    status: int = 0


def _commands() -> list:
    mods = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("cmd_"):
            mods.append(importlib.import_module(f"{__name__}.{info.name}"))
    return sorted(mods, key=lambda m: m.NAME)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="spikelut",
        description="Simulate, train and compile to FPGA circuits networks of self-referencing "
                    "spiking lookup tables.")
    parser.add_argument("--version", action="version", version=f"spikelut {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _commands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=(mod.__doc__ or mod.HELP).strip(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        out = args._run(args)
    except (SpikelutError, MemoryError) as e:
        msg = terminal(str(e).replace("\n", " "))  # names from files: no escape sequences
        if isinstance(e, MemoryError):  # a valid but huge model or data set: one line, not a traceback
            msg = f"not enough memory ({msg or 'MemoryError'}); use a smaller batch, model or file"
        print(f"spikelut {args.command}: error: {msg}", file=sys.stderr)
        if args.json:
            print(json.dumps({"ok": False, "command": args.command, "error": msg}))
        return 1
    except KeyboardInterrupt:
        print(f"spikelut {args.command}: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps({"ok": out.status == 0, "command": args.command, **out.data},
                         default=_default))
    elif out.text:
        print(out.text)
    return out.status


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
