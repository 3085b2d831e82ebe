"""Progress of long steps: a tqdm bar on a terminal, a plain line every few seconds otherwise.

A job whose stderr goes to a log file or a CI console still shows it is alive: without a
terminal, :class:`Progress` prints ``"<what>: 1,024/40,000 samples (2.6%), 5.0 s"`` at most every
:data:`EVERY` seconds (nothing for a step that ends sooner), so logs stay short.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> with Progress(4, "simulate", unit="samples", show=None, stream=out, every=0.0) as p:
    ...     p.update(2)
    >>> out.getvalue().splitlines()[0].split(",")[0]
    'simulate: 2/4 samples (50.0%)'
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import Any, Iterator, TextIO

EVERY = 5.0
"""Seconds between two plain progress lines (without a terminal)."""


class Progress:
    """Count work done out of ``total`` and show it.

    Args:
        total: units of work (samples, batches, ...).
        what: what is being done, the start of every line (``"simulate"``, ``"epoch 3/40"``).
        unit: the unit's name, plural.
        show: ``True``: a tqdm bar; ``False``: nothing; ``None``: a tqdm bar when ``stream`` is a
            terminal, plain lines every ``every`` seconds otherwise.
        stream: where to write (default: stderr, so ``--json`` output on stdout stays clean).
        every: seconds between plain lines.
    """

    def __init__(self, total: int, what: str, unit: str = "samples", show: bool | None = None,
                 stream: TextIO | None = None, every: float = EVERY) -> None:
        self.total = int(total)
        self.what = what
        self.unit = unit
        self.done = 0
        self.stream = stream or sys.stderr
        self.every = every
        self._t0 = self._last = time.monotonic()
        self._bar = None
        self._plain = False
        self._shown = -1  # the count of the last plain line (-1: none printed)
        self.postfix = ""
        terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        if show or (show is None and terminal):
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=what, unit=f" {unit}", leave=False,
                             file=self.stream)
        elif show is None:
            self._plain = True

    def update(self, n: int = 1, **postfix: Any) -> None:
        """Add ``n`` units of work done; ``postfix`` (e.g. ``loss="0.31"``) is shown after it."""
        self.done += int(n)
        if postfix:
            self.postfix = ", ".join(f"{k} {v}" for k, v in postfix.items())
        if self._bar is not None:
            self._bar.update(n)
            if postfix:
                self._bar.set_postfix(postfix)
        elif self._plain:
            now = time.monotonic()
            if now - self._last >= self.every:
                self._last = now
                self._line(now)

    def _line(self, now: float) -> None:
        self._shown = self.done
        pct = f" ({100 * self.done / self.total:.1f}%)" if self.total else ""
        extra = f", {self.postfix}" if self.postfix else ""
        print(f"{self.what}: {self.done:,}/{self.total:,} {self.unit}{pct}, {now - self._t0:.1f} s"
              f"{extra}", file=self.stream, flush=True)

    def close(self, finished: bool = True) -> None:
        """Remove the bar (a terminal); with plain lines, where one was printed and work was
        done since, a last line with the final count (so a log does not end at, say, 96 %),
        unless the work stopped early (``finished=False``: an exception left the block)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._plain and finished and 0 <= self._shown < self.done:
            self._line(time.monotonic())

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close(finished=exc[0] is None)


@contextlib.contextmanager
def heartbeat(what: str, stream: TextIO | None = None, every: float = EVERY) -> Iterator[None]:
    """Around a step that cannot count its progress (an external simulator, a compiler): without
    a terminal, print ``"<what>: running, 5.0 s"`` every ``every`` seconds until it ends.

    Example:
        >>> import io, time
        >>> out = io.StringIO()
        >>> with heartbeat("verilator", stream=out, every=0.01):
        ...     time.sleep(0.05)
        >>> out.getvalue().splitlines()[0].startswith("verilator: running, ")
        True
    """
    stream = stream or sys.stderr
    if bool(getattr(stream, "isatty", lambda: False)()):
        yield
        return
    done = threading.Event()
    t0 = time.monotonic()

    def beat() -> None:
        while not done.wait(every):
            print(f"{what}: running, {time.monotonic() - t0:.1f} s", file=stream, flush=True)

    thread = threading.Thread(target=beat, name="spikelut-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def write(line: str, stream: TextIO | None = None) -> None:
    """Print a line without breaking a tqdm bar that may be on the terminal."""
    from tqdm import tqdm

    tqdm.write(line, file=stream or sys.stderr)


__all__ = ["EVERY", "Progress", "heartbeat", "write"]
