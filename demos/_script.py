"""What every demo script does with its ``main``: the spikelut command's rules for bad input.

A user's mistake (a file that does not exist, a set name that is not one, a value out of range)
is one line ``SCRIPT: error: MESSAGE`` on stderr and exit status 1, never a traceback; Ctrl-C is
``SCRIPT: interrupted`` and status 130. A bug still shows its traceback. Used as::

    if __name__ == "__main__":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # demos.* as a script
        from demos._script import run_main
        run_main(main)

Example:
    >>> def main(argv=None):
    ...     from spikelut.errors import ConfigError
    ...     raise ConfigError("levels must be >= 1, got 0")
    >>> try:
    ...     run_main(main, [], prog="demo.py")
    ... except SystemExit as e:
    ...     print(e.code)
    1
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, NoReturn, Sequence


def error_line(e: BaseException) -> str | None:
    """The one-line message for an error the user caused, or ``None`` for anything else (a bug).

    Example:
        >>> error_line(FileNotFoundError(2, "No such file or directory", "x.toml"))
        'x.toml: No such file or directory'
        >>> error_line(ZeroDivisionError("division by zero")) is None
        True
    """
    from spikelut.errors import SpikelutError

    if isinstance(e, SpikelutError):
        return str(e)
    if isinstance(e, OSError) and e.errno is not None:  # a path the script met: disk, rights
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror or e}"
    return None


def run_main(main: Callable[..., Any], argv: Sequence[str] | None = None,
             prog: str | None = None) -> NoReturn:
    """Call ``main(argv)`` (``main()`` when ``argv`` is ``None``) and exit with its status;
    errors a user can cause become one line and status 1, Ctrl-C status 130.

    Args:
        main: the script's entry point; returns an exit status or ``None`` (0).
        argv: the arguments (``None``: the script's own, ``sys.argv[1:]``).
        prog: the name in the messages (default: the script's file name).
    """
    from spikelut.escape import terminal

    prog = prog or os.path.basename(sys.argv[0] or "demo")
    try:
        code = main() if argv is None else main(list(argv))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as e:
        line = error_line(e)
        if line is None:
            raise
        # a message names files and values from the command line: escaped for the terminal
        print(f"{prog}: error: {terminal(line)}", file=sys.stderr)
        raise SystemExit(1) from None
    raise SystemExit(code or 0)
