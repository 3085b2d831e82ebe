"""The run report: ``report.json`` (numbers) and ``report.html`` (one self-contained page).

The page embeds its figures as base64 PNGs, so it can be mailed or archived alone.

Example:
    >>> import json, tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> write_report({"accuracy": 0.75, "luts": 72, "cosim": {"ok": True}}, out)
    >>> json.loads((out / "report.json").read_text())["luts"]
    72
    >>> "bit-exact" in (out / "report.html").read_text()
    True
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from pathlib import Path
from typing import Any

from .fileutil import write_text_atomic

CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}
h1{margin-bottom:0}.sub{color:#666;margin-top:.2em}
.cards{display:flex;gap:1em;flex-wrap:wrap;margin:1.5em 0}
.card{border:1px solid #ddd;border-radius:8px;padding:.8em 1.2em;min-width:150px}
.card b{display:block;font-size:1.6em}.ok{color:#1a7f37}.bad{color:#cf222e}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f6f8fa}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
pre{background:#f6f8fa;padding:1em;overflow-x:auto;font-size:.85em}
"""


def raster_files(plots: str | os.PathLike) -> list[Path]:
    """The ``raster_<i>.png`` figures in ``plots``, in sample order (``raster_2`` before
    ``raster_10``); other names that start with ``raster_`` are not the run's.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> for n in ("raster_10.png", "raster_2.png", "raster_x.png", "raster_3.png.bak"):
        ...     _ = (d / n).write_bytes(b"")
        >>> [f.name for f in raster_files(d)]
        ['raster_2.png', 'raster_10.png']
        >>> import shutil; shutil.rmtree(d)
    """
    found = [(int(m.group(1)), f) for f in Path(plots).glob("raster_*.png")
             if (m := _RASTER.fullmatch(f.name))]
    return [f for _, f in sorted(found)]


_RASTER = re.compile(r"raster_([0-9]+)\.png")


def _img(path: Path, alt: str) -> str:
    if not path.exists():
        return f"<p><i>{html.escape(alt)}: not available</i></p>"
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(rows: list[list[Any]], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _confusion(conf: list[list[int]] | None) -> str:
    if not conf:
        return "<p><i>no confusion matrix</i></p>"
    C = len(conf)
    rows = [[f"true {i}"] + conf[i] for i in range(C)]
    return _table(rows, [""] + [f"pred {j}" for j in range(C)])


def _analysis(an: dict | None, out: Path) -> str:
    """Per-layer node statistics, exact pruning potential and the attribution figure
    (``spikelut analyze``, docs/analyze.md)."""
    if not an:
        return "<p><i>not available</i></p>"
    rows = [[s.get("name"), s.get("nodes"), s.get("constant"), s.get("dead"), s.get("unused_taps"),
             f"{s.get('mean_total_influence', 0):.3f}", s.get("degree_histogram"),
             s.get("stuck_on_data"), s.get("never_pivotal_taps_on_data"),
             f"{100 * s.get('gate_suppressed_fraction', 0):.1f}%"] for s in an.get("layers", [])]
    p = an.get("prunable") or {}
    lut, ff = p.get("luts") or {}, p.get("flip_flops") or {}
    return "".join([
        _table(rows, ["layer", "nodes", "constant", "dead", "unused taps", "mean total influence",
                      "degree histogram", "stuck on data", "taps never pivotal on data",
                      "refractory suppressed"]),
        f"<p>Exact pruning (spikelut prune) would save {html.escape(str(lut.get('saved')))} of "
        f"{html.escape(str(lut.get('before')))} LUTs and {html.escape(str(ff.get('saved')))} of "
        f"{html.escape(str(ff.get('before')))} flip-flops.</p>",
        _img(out / "analysis" / "attribution_0.png", "attribution of test sample 0"),
        _img(out / "analysis" / "dynamics.png", "table dynamics")])


def render_html(report: dict, outdir: str | os.PathLike, config: dict | None = None) -> str:
    """The report page as one HTML string with its figures embedded (base64 PNGs).

    Every value taken from ``report`` or ``config`` is HTML-escaped; a missing key shows as
    ``n/a`` / ``None`` and a missing figure as "not available", so a partial report renders.

    Args:
        report: the run's numbers, as in ``report.json`` (keys ``accuracy``, ``confusion``,
            ``luts``, ``flip_flops``, ``cycles``, ``cosim``, ``synth``, ``network``, ``timings``,
            ...; see the file-formats page of the documentation).
        outdir: the run directory; figures are read from ``outdir/plots/`` (``curves.png``,
            ``rates.png``, ``raster_*.png``).
        config: the run config, shown on the page (keys starting with ``_`` are left out).

    Returns:
        A complete HTML document.

    Raises:
        OSError: a figure exists but cannot be read.
    """
    out = Path(outdir)
    cos = report.get("cosim") or {}
    syn = report.get("synth") or {}
    acc = report.get("accuracy")
    ok = cos.get("ok")
    cards = [
        ("test accuracy", f"{acc:.2%}" if acc is not None else "n/a", ""),
        ("LUTs", report.get("luts"), ""),
        ("flip-flops", report.get("flip_flops"), ""),
        ("cycles per sample", report.get("cycles"), ""),
        ("co-simulation", "bit-exact" if ok else "MISMATCH" if ok is False else "n/a",
         "ok" if ok else "bad"),
    ]
    card_html = "".join(f'<div class="card">{html.escape(t)}<b class="{c}">{html.escape(str(v))}</b></div>'
                        for t, v, c in cards)
    layers = report.get("network", {}).get("layers", [])
    layer_rows = [[l["name"], l["nodes"], l["k"], l["refractory"], l["taps_from_input"],
                   l["taps_feedforward"], l["taps_recurrent"], l["taps_self"], l["max_delay"]]
                  for l in layers]
    timing_rows = [[k, f"{v:.1f}" if isinstance(v, (int, float)) else "skipped (up to date)"]
                   for k, v in (report.get("timings") or {}).items()]
    if syn.get("skipped"):
        synth_html = f"<p>Synthesis skipped: {html.escape(str(syn['skipped']))}</p>"
    else:
        synth_html = _table([
            ["LUTs", syn.get("luts"), syn.get("expected_luts")],
            ["LUTs by size", syn.get("luts_by_size"), syn.get("expected_luts_by_size")],
            ["flip-flops", syn.get("flip_flops"), syn.get("expected_flip_flops")],
            ["depth (LUT levels)", syn.get("lut_levels"), syn.get("expected_lut_levels")],
        ], ["yosys synth_xilinx", "got", "generator expects"])
    cos_line = (f"{cos.get('simulator')}: {cos.get('bit_mismatches')} mismatching output bits of "
                f"{cos.get('bits_compared')}, {cos.get('pred_mismatches')} of {cos.get('samples')} "
                f"predictions differ") if cos else "not run"
    rasters = raster_files(out / "plots")
    cfg_text = json.dumps({k: v for k, v in (config or {}).items() if not k.startswith("_")},
                          indent=1, default=str)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>spikelut run report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>spikelut run report</h1>",
        f"<p class='sub'>{html.escape(str(report.get('dataset')))} · coding "
        f"{html.escape(str(report.get('coding')))} · {html.escape(str(report.get('date')))} · "
        f"spikelut {html.escape(str(report.get('spikelut')))}</p>",
        (f"<p class='sub'>data encoded with <code>spikelut encode "
         f"{html.escape(str(report['encode_options']))}</code></p>"
         if report.get("encode_options") else ""),
        f"<div class='cards'>{card_html}</div>",
        "<h2>Accuracy</h2>",
        f"<p>{report.get('test_samples')} test samples. Rows: true class, columns: prediction.</p>",
        _confusion(report.get("confusion")),
        "<h2>Training</h2>", _img(out / "plots" / "curves.png", "training curves"),
        "<h2>Spike rasters (test samples)</h2>",
        "".join(_img(p, p.stem) for p in rasters) or "<p><i>none</i></p>",
        _img(out / "plots" / "rates.png", "firing rates"),
        "<h2>Network</h2>",
        _table(layer_rows, ["layer", "nodes", "k", "R", "in-taps", "ff-taps", "rec-taps", "self",
                            "max delay"]),
        "<h2>Analysis</h2>", _analysis(report.get("analysis"), out),
        "<h2>Circuit</h2>",
        f"<p class='{'ok' if ok else 'bad'}'>Co-simulation — {html.escape(cos_line)}</p>",
        synth_html,
        "<h2>Timings (seconds)</h2>", _table(timing_rows, ["stage", "seconds"]),
        "<h2>Configuration</h2>", f"<pre>{html.escape(cfg_text)}</pre>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(report: dict, outdir: str | os.PathLike, config: dict | None = None) -> None:
    """Write ``report.json`` and ``report.html`` into ``outdir`` (each atomically).

    Args:
        report: the run's numbers (JSON-serialisable; other values are written with ``str``).
        outdir: the run directory (created if missing); figures come from ``outdir/plots/``.
        config: the run config shown on the page.

    Raises:
        OSError: ``outdir`` cannot be written.
    """
    out = Path(outdir)
    write_text_atomic(out / "report.json", json.dumps(report, indent=1, default=str))
    write_text_atomic(out / "report.html", render_html(report, out, config))
