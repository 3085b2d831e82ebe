"""Small helpers shared by the CLI commands."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError


def check_output_path(path: str | os.PathLike, force: bool = True) -> Path:
    """Refuse an output path that is a directory or whose parent cannot be created."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory; give a file name for the output")
    if p.exists() and not force:
        raise ConfigError(f"{p}: already exists; pass --force to overwrite it")
    return p


def table(rows: list[list], header: list[str]) -> str:
    """Left-aligned plain-text table."""
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
