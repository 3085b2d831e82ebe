"""Stage bookkeeping for multi-step jobs: skip what is up to date, redo what changed.

A stage is up to date when its fingerprint (a hash of its settings and of the contents of its
input files) equals the one recorded after its last successful run and all its outputs still
exist with the contents it wrote (their sha256 is recorded too: a truncated or edited output
makes the stage run again). The record lives in ``OUTDIR/state.json``, rewritten atomically after every stage, so a run
that is interrupted resumes at the first stage that did not finish.

Example:
    >>> import tempfile
    >>> book = StageBook(tempfile.mkdtemp())
    >>> fp = book.fingerprint({"lr": 0.01}, [])
    >>> book.is_done("train", fp)
    False
    >>> book.mark_done("train", fp, outputs=[], summary={"acc": 1.0})
    >>> book.is_done("train", fp), book.summary("train")
    (True, {'acc': 1.0})
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

from .fileutil import write_text_atomic

STATE_FILE = "state.json"


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, or of every file below a directory (names and contents)."""
    p = Path(path)
    h = hashlib.sha256()
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    for q in files:
        h.update(str(q.relative_to(p) if p.is_dir() else q.name).encode())
        with open(q, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


class StageBook:
    """The record of which stages of a job in ``outdir`` finished, with what inputs."""

    def __init__(self, outdir: str | os.PathLike) -> None:
        self.outdir = Path(outdir)
        self.path = self.outdir / STATE_FILE
        self.state: dict[str, Any] = {"stages": {}}
        if os.path.isfile(self.path):  # (os.path: an unusable path is checked by the writer)
            try:
                self.state = json.loads(self.path.read_text())
                self.state.setdefault("stages", {})
                # keep only well-formed records (a hand-edited or foreign file must not crash)
                self.state["stages"] = {k: r for k, r in self.state["stages"].items()
                                        if isinstance(r, dict) and isinstance(r.get("outputs", []), list)
                                        and all(isinstance(o, str) for o in r.get("outputs", []))
                                        and isinstance(r.get("summary", {}), dict)}
            except (OSError, ValueError, AttributeError, TypeError, RecursionError):
                # an unreadable record only costs a rerun of every stage
                self.state = {"stages": {}}

    @staticmethod
    def fingerprint(settings: Any, inputs: Iterable[str | os.PathLike]) -> str:
        from . import __version__

        h = hashlib.sha256()
        h.update(json.dumps(settings, sort_keys=True, default=str).encode())
        h.update(__version__.encode())
        for p in inputs:
            h.update(file_digest(p).encode())
        return h.hexdigest()

    def is_done(self, name: str, fingerprint: str) -> bool:
        rec = self.state["stages"].get(name)
        return bool(rec and rec.get("fingerprint") == fingerprint
                    and all((self.outdir / o).exists() for o in rec.get("outputs", []))
                    and not self.changed_outputs(name))

    def changed_outputs(self, name: str) -> list[str]:
        """The recorded outputs of stage ``name`` (relative to the job's directory) that exist
        but no longer hold what the stage wrote (a truncated or edited file).

        A record without digests (written by an older version) reports none.

        Example:
            >>> import tempfile
            >>> d = Path(tempfile.mkdtemp()); book = StageBook(d)
            >>> _ = (d / "a.txt").write_text("spikes")
            >>> book.mark_done("encode", "fp", outputs=[d / "a.txt"], summary={})
            >>> _ = (d / "a.txt").write_text("spi")
            >>> book.changed_outputs("encode"), book.is_done("encode", "fp")
            (['a.txt'], False)
        """
        rec = self.state["stages"].get(name) or {}
        digests = rec.get("digests")
        if not isinstance(digests, dict):
            return []
        changed = []
        base = os.path.abspath(self.outdir)
        for o in rec.get("outputs", []):
            want = digests.get(o)
            q = self.outdir / o
            # only the stage's own outputs, inside the directory (a hand-edited record must not
            # make a rerun read elsewhere)
            if not isinstance(want, str) or \
                    os.path.commonpath([base, os.path.abspath(q)]) != base:
                continue
            try:
                if q.exists() and file_digest(q) != want:
                    changed.append(str(o))
            except OSError:  # unreadable now: as damaged as a truncated file
                changed.append(str(o))
        return changed

    def mark_done(self, name: str, fingerprint: str, outputs: Iterable[str | os.PathLike],
                  summary: dict) -> None:
        # outputs are recorded relative to the job's directory, however both were given
        # (``-o out`` made them ``out/model.h5``, which was then looked for as out/out/model.h5)
        base = os.path.abspath(self.outdir)
        outs = [os.path.relpath(os.path.abspath(o), base) for o in outputs]
        # what each output held when the stage finished: a later rerun redoes the stage when an
        # output was damaged (truncated, edited) even though it still exists
        digests = {o: file_digest(self.outdir / o) for o in outs if (self.outdir / o).exists()}
        self.state["stages"][name] = {"fingerprint": fingerprint, "outputs": outs,
                                      "digests": digests, "summary": summary}
        self.save()

    def forget(self, name: str) -> None:
        self.state["stages"].pop(name, None)
        self.save()

    def summary(self, name: str) -> dict:
        return dict(self.state["stages"].get(name, {}).get("summary", {}))

    def save(self) -> None:
        self.outdir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path, json.dumps(self.state, indent=1, sort_keys=True))
