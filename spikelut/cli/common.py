"""Small helpers shared by the CLI commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..fileutil import check_output


FORCE_HELP = "overwrite an existing output of another kind"


def check_output_path(path: str | os.PathLike, force: bool = True, *, kind: str = "any",
                      inputs: Sequence[str | os.PathLike | None] = ()) -> Path:
    """Legacy name of :func:`spikelut.fileutil.check_output` (commands call that directly with
    their inputs, the kind of file they write and ``--force``)."""
    return check_output(path, inputs=inputs, kind=kind, force=force)


def table(rows: list[list], header: list[str]) -> str:
    """Left-aligned plain-text table."""
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
