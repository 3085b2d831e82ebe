"""Kinds of files: what an existing file holds (read from its content, not its name), which kinds
an output may replace without ``--force``, and which names an output of each kind may not have."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# which existing kinds each output kind may replace without --force
_REPLACES = {
    "model": {"model"},
    "checkpoint": {"checkpoint"},
    "spikes": {"spikes"},                 # spike files and simulation results
    "png": {"png"},
    "vcd": {"vcd"},
    "log": {"log"},                       # training logs: records with the trainer's keys
    "bench": {"bench"},                   # spikelut bench -o: only its own earlier report
    "peers": {"peers"},                   # spikelut peers -o
    "onnx": {"onnx"},                     # spikelut export -o: only a graph it wrote
    "text": {"text", "log"},
}
_KIND_WORDS = {
    "model": "a spikelut model", "checkpoint": "a training checkpoint", "spikes": "a spike file",
    "png": "a PNG image", "vcd": "a VCD waveform", "log": "a spikelut training log",
    "bench": "a spikelut bench report", "peers": "a spikelut peers report", "text": "a text file",
    "config": "a TOML config", "hdf5": "an HDF5 file of another program", "binary": "a binary file",
    "zip": "a zip archive (a NumPy .npz?)",
    "hdf5_unreadable": "an unreadable HDF5 file (truncated or corrupt?)",
    "json": "a JSON file", "onnx": "an ONNX graph written by spikelut export",
}
# outputs that must carry their format's own extension (or none), with how the message says so
_OWN_SUFFIX = {"png": (".png", "the image is written as PNG"),
               "vcd": (".vcd", "the waveform is written as VCD text")}
_HDF5_KINDS = {"model": "the model", "checkpoint": "the checkpoint",
               "spikes": "the spike file (or result)"}
# extensions of formats that programs (and spikelut's own readers) recognise by name: an HDF5 or
# ONNX output named so would be opened as that format
_OTHER_FORMATS = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".pdf", ".eps", ".tif", ".tiff",
                  ".bmp", ".webp", ".vcd", ".txt", ".md", ".csv", ".tsv", ".json", ".jsonl",
                  ".toml", ".yaml", ".yml", ".ini", ".html", ".htm", ".xml", ".v", ".sv",
                  ".vhd", ".py", ".sh", ".npz", ".npy", ".pkl", ".pickle", ".pt", ".pth",
                  ".onnx", ".zip", ".gz", ".tar", ".h5", ".hdf5", ".hdf", ".he5", ".log"}
#: the first line of ``spikelut bench -o``'s markdown report (spikelut.bench.format_markdown)
BENCH_TITLE = "# Engine benchmark (spikelut bench)"
#: the first line of ``spikelut peers -o``'s markdown report
PEERS_TITLE = "# Peer benchmark"
# a report is recognised by its first line, so a file that merely ends in .md is not replaced
_REPORT_TITLES = {BENCH_TITLE: "bench", PEERS_TITLE: "peers"}
# an ONNX ModelProto spikelut export wrote: field 1 (ir_version, a varint) first, then field 2
# (producer_name) = "spikelut" (spikelut.onnx_export sets it); another program's graph or any
# other binary file is not replaced without --force
_ONNX_PRODUCER = b"\x12\x08spikelut"
# keys every record of a training log has (spikelut.train.trainer's log format)
_LOG_KEYS = {"epoch", "loss", "acc"}
# keys of the JSON report of spikelut peers (spikelut.peers.run_peers)
_PEERS_KEYS = {"date", "command_line", "machine", "settings", "systems"}


def kind_words(kind: str) -> str:
    """A kind of :func:`file_kind` in words, for messages.

    Example:
        >>> kind_words("model"), kind_words("hdf5")
        ('a spikelut model', 'an HDF5 file of another program')
    """
    return _KIND_WORDS.get(kind, kind)


def file_kind(path: str | os.PathLike) -> str:
    """What an existing file holds: ``model``, ``checkpoint``, ``spikes`` (spikes or a result),
    ``hdf5`` (another HDF5 file), ``hdf5_unreadable`` (HDF5's signature, but h5py cannot open
    it: truncated or corrupt), ``png``, ``vcd``, ``config`` (TOML), ``json``, ``log`` (a
    training log: JSON lines whose records have the trainer's ``epoch``, ``loss`` and ``acc``),
    ``bench`` / ``peers`` (a report of ``spikelut bench`` / ``spikelut peers``, by its first
    line or, for peers' JSON, its keys), ``onnx`` (a graph of ``spikelut export``, by its
    producer name), ``zip`` (a zip archive, as ``numpy.savez`` writes), ``text``, ``binary`` or
    ``empty``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.toml"
        >>> _ = p.write_text('inputs = 2\\n[[layers]]\\nnodes = 4\\n')
        >>> file_kind(p)
        'config'
    """
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(1 << 16)
    if not head:
        return "empty"
    if head.startswith(HDF5_MAGIC):
        return _hdf5_kind(p)
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(b"PK\x03\x04"):  # what numpy.savez writes
        return "zip"
    if head[:1] == b"\x08" and _ONNX_PRODUCER in head[:16]:
        return "onnx"
    if b"\0" in head:
        return "binary"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary"
    stripped = text.lstrip()
    if stripped.startswith("$") and any(k in text for k in ("$timescale", "$scope", "$enddefinitions")):
        return "vcd"
    lines = text.splitlines()
    if lines and lines[0].rstrip() in _REPORT_TITLES:
        return _REPORT_TITLES[lines[0].rstrip()]
    if lines[:1] == ["# Benchmarks"] and len(lines) > 3 and lines[1] == "" and \
            lines[2].startswith("- date: ") and lines[3].startswith("- command: "):
        return "bench"  # spikelut bench's report before it had a title of its own
    if stripped.startswith("{") or stripped.startswith("["):
        first = stripped.splitlines()[0]
        with contextlib.suppress(ValueError, RecursionError):
            record = json.loads(first)
            if isinstance(record, dict) and _LOG_KEYS <= set(record):
                return "log"
        with contextlib.suppress(ValueError, RecursionError):
            whole = json.loads(text)
            return "peers" if isinstance(whole, dict) and _PEERS_KEYS <= set(whole) else "json"
    if len(head) < (1 << 16):
        from ..config import tomllib  # tomli on Python 3.10

        with contextlib.suppress(ValueError, RecursionError):
            if tomllib.loads(text):
                return "config"
    return "text"


def _hdf5_kind(p: Path) -> str:
    import h5py

    try:
        with h5py.File(p, "r", locking=False) as f:
            fmt = f.attrs.get("format")
    except (OSError, ValueError, TypeError):
        # not "another program's": a truncated spikelut file lands here too
        return "hdf5_unreadable"
    if isinstance(fmt, bytes):
        fmt = fmt.decode("utf-8", "replace")
    return {"spikelut-model": "model", "spikelut-spikes": "spikes",
            "spikelut-checkpoint": "checkpoint"}.get(fmt, "hdf5")


def _misnamed(kind: str, suffix: str) -> str:
    """Why an output of ``kind`` must not be named with ``suffix`` (``""`` when it may).

    A PNG or VCD output must end in its own extension (or have none): the bytes are PNG or VCD
    whatever the name says, and a ``.jpg`` holding PNG misleads viewers. An HDF5 output (model,
    checkpoint, spikes) or an ONNX graph may have any name except the extension of another
    format that tools recognise by name (``-o result.png`` wrote HDF5 that image viewers, and
    spikelut's own ``raster``, then failed on). Case is ignored.

    Example:
        >>> _misnamed("spikes", ".h5"), _misnamed("model", ".lut"), _misnamed("spikes", "")
        ('', '', '')
        >>> _misnamed("spikes", ".PNG")
        'the spike file (or result) is written as HDF5; give a file name ending in .h5 (not .PNG)'
    """
    low = suffix.lower()
    if not low:
        return ""
    if kind in _OWN_SUFFIX:
        own, words = _OWN_SUFFIX[kind]
        return "" if low == own else f"{words}; give a file name ending in {own} (not {suffix})"
    if kind in _HDF5_KINDS and low in _OTHER_FORMATS - {".h5", ".hdf5", ".hdf", ".he5"}:
        return f"{_HDF5_KINDS[kind]} is written as HDF5; give a file name ending in .h5 (not {suffix})"
    if kind == "onnx" and low in _OTHER_FORMATS - {".onnx"}:
        return f"the graph is written as ONNX; give a file name ending in .onnx (not {suffix})"
    return ""
