"""The ``spikelut`` command line: thin argument parsing over the Python API.

Each subcommand lives in its own module ``spikelut/cli/cmd_<name>.py`` defining ``NAME``,
``HELP``, ``add_arguments(parser)`` and ``run(args) -> Output``; they are discovered here, so
adding a command touches no shared file. Errors a user can cause (:class:`SpikelutError`) print
one line on stderr and exit 1; with ``--json`` an ``{"ok": false, "error": ...}`` object is also
printed on stdout. An ``OSError`` about a path (a file system that fails under a command) is
reported the same way. A usage error (a missing argument, an unknown option, a bad choice) prints
argparse's usage and ``spikelut COMMAND: error: ...`` on stderr and exits 2; with ``--json``
anywhere on the command line the same ``{"ok": false, ...}`` object is printed on stdout.

Exit status: 0 success; 1 an error the user can fix (one line); 2 bad command-line usage;
130 interrupted (Ctrl-C; outputs being written are left as they were); 141 the reader of stdout
went away (``spikelut info m.h5 | head -1``): the command stops quietly, like other Unix tools
killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import pkgutil
import sys
from dataclasses import dataclass, field
from typing import Sequence

from ..errors import SpikelutError
from ..escape import terminal
from ..fileutil import release_locks
from ..signals import sigterm_as_interrupt


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


class UsageError(Exception):
    """A command line argparse rejects: ``parser`` is the (sub)command's parser."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are raised (:class:`UsageError`), so that ``main``
    can also answer them with one JSON object under ``--json``; subparsers are of this class
    too (argparse creates them with the parent's class)."""

    #: the subcommands' parsers by name (the top-level parser's; empty on a subparser)
    subcommands: dict = {}

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(self, message)


def build_parser() -> _Parser:
    from .. import __version__

    parser = _Parser(
        prog="spikelut",
        description="Simulate, train and compile to FPGA circuits networks of self-referencing "
                    "spiking lookup tables.")
    parser.add_argument("--version", action="version", version=f"spikelut {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.subcommands = sub.choices
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


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a C tool killed by the signal reports


def _resume_hint(args: argparse.Namespace) -> str:
    """What continues an interrupted ``train`` (its checkpoint holds the last finished epoch) or
    ``run`` (its finished stages are kept)."""
    command = getattr(args, "command", None)
    if command == "run":
        return "; the same command continues (finished stages are kept)"
    if command != "train":
        return ""
    hint = getattr(args, "resume_hint", None)  # set by the command (an ensemble's members)
    if hint:
        return hint
    ckpt = getattr(args, "checkpoint", None)
    if ckpt and os.path.isfile(ckpt):
        return (f"; the same command with --resume continues from the last finished epoch in "
                f"{terminal(str(ckpt))}")
    if ckpt:  # interrupted before the first epoch ended: there is nothing to resume from
        return "; no epoch finished, so there is nothing to resume: run the same command again"
    return "; with --checkpoint FILE a run can be resumed (--resume)"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # the reader of stdout is gone: stop quietly; devnull over stdout keeps the interpreter's
        # final flush from raising again ("Exception ignored ... BrokenPipeError")
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    finally:
        release_locks()


def _fail(args: argparse.Namespace, message: str) -> int:
    msg = terminal(message)  # a newline (in a file name, say) shown as a backslash escape
    print(f"spikelut {args.command}: error: {msg}", file=sys.stderr)
    if args.json:
        print(json.dumps({"ok": False, "command": args.command, "error": msg}))
    return 1


def _usage_error(err: UsageError, argv: Sequence[str]) -> None:
    """Print a usage error as argparse does (usage, then ``PROG: error: MESSAGE``), the JSON
    object too under ``--json``, and exit 2."""
    msg = terminal(err.message)
    err.parser.print_usage(sys.stderr)
    print(f"{err.parser.prog}: error: {msg}", file=sys.stderr)
    if "--json" in argv:
        # the command, as the command's own errors name it ("plot" for ``plot curves`` too)
        command = err.parser.prog.partition(" ")[2].partition(" ")[0] or None
        print(json.dumps({"ok": False, "command": command, "error": msg}))
    sys.stdout.flush()
    raise SystemExit(2)


def _parse(parser: _Parser, argv: Sequence[str]) -> argparse.Namespace:
    """``parser.parse_args(argv)``, with unknown options reported against the subcommand that
    was given them (``spikelut encode: error: unrecognized arguments: --levels 4``)."""
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            target = parser.subcommands.get(getattr(args, "command", None), parser)
            target.error(f"unrecognized arguments: {' '.join(extra)}")
    except UsageError as e:
        _usage_error(e, argv)
    return args


def _command_word(argv: Sequence[str]) -> str | None:
    """The subcommand a command line names (its first word that is not an option), when a
    command module of that name exists; found without importing the commands."""
    word = next((a for a in argv if not a.startswith("-")), None)
    names = {info.name[4:] for info in pkgutil.iter_modules(__path__) if info.name.startswith("cmd_")}
    return word if word in names else None


def _main(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        # building the parser imports every command module and what they import (matplotlib,
        # ...): most of the first second of a run, where a Ctrl-C used to print a traceback
        parser = build_parser()
        args = _parse(parser, argv)
    except KeyboardInterrupt:
        command = _command_word(argv)
        print(f"spikelut{'' if command is None else ' ' + command}: interrupted", file=sys.stderr)
        if "--json" in argv:
            print(json.dumps({"ok": False, "command": command, "error": "interrupted"}))
        return 130
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        out = args._run(args)
    except SpikelutError as e:
        return _fail(args, str(e))
    except OSError as e:
        if isinstance(e, BrokenPipeError) or e.errno is None:
            raise
        # a path the command met while working (a file system failing under it): one line
        where = f"{e.filename}: " if e.filename else ""
        return _fail(args, f"{where}{e.strerror or e}")
    except MemoryError as e:
        # a valid but huge model or data set (engine history, a large batch): one line
        why = f" ({e})" if str(e) else ""  # numpy's MemoryError often has no text: no "()"
        return _fail(args, f"not enough memory{why}; use a smaller batch, model or file")
    except KeyboardInterrupt:
        print(f"spikelut {args.command}: interrupted{_resume_hint(args)}", file=sys.stderr)
        if args.json:
            print(json.dumps({"ok": False, "command": args.command, "error": "interrupted"}))
        return 130
    if args.json:
        print(json.dumps({"ok": out.status == 0, "command": args.command, **out.data},
                         default=_default))
    elif out.text:
        print(out.text)
    sys.stdout.flush()  # a closed pipe shows here, inside main, not at interpreter exit
    return out.status


def run() -> None:
    """Console-script entry point (``spikelut``, ``python -m spikelut``). Only here is SIGTERM
    turned into an interrupt (:mod:`spikelut.signals`): a program that calls :func:`main` itself
    (a test runner, a notebook) keeps its own SIGTERM behaviour."""
    with sigterm_as_interrupt():
        code = main()
    sys.exit(code)
