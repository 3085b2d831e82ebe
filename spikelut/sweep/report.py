"""The end of a command: verify the front trials' circuits, write report.json and report.html."""

from __future__ import annotations

import base64
import json
import math
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import ToolError
from ..escape import html_text, terminal
from ..fileutil import atomic_path, write_text_atomic
from .deps import require_optuna
from .space import OBJECTIVES, SweepSpace
from .storage import mask_url
from .tomlwrite import dump_toml
from .trial import run_trial, validation_split


# ---------------------------------------------------------------------------- front and report
def trial_number(t: Any, key: str) -> int | float | None:
    """A trial's numeric user attribute (``val_acc``, ``luts``, ...), or None when it is missing
    or not a finite number: the database is shared with other machines and other versions, and
    one odd value must not end the report in a traceback.

    Example:
        >>> from types import SimpleNamespace
        >>> t = SimpleNamespace(user_attrs={"val_acc": 0.5, "luts": "<b>", "seconds": True})
        >>> trial_number(t, "val_acc"), trial_number(t, "luts"), trial_number(t, "seconds")
        (0.5, None, None)
    """
    v = t.user_attrs.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return v if isinstance(v, int) or math.isfinite(v) else None


def front_trials(study: Any) -> list:
    """The Pareto front (several objectives) or the best trial (one), best accuracy first; of
    trials with equal parameters only the first."""
    optuna = require_optuna()
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not done:
        return []
    front, seen = [], set()
    for t in sorted(study.best_trials, key=lambda t: t.number):
        key = repr(sorted(t.params.items()))
        if key not in seen:  # a repeat of an earlier trial (same parameters) adds nothing
            seen.add(key)
            front.append(t)
    return sorted(front, key=lambda t: (-(trial_number(t, "val_acc") or 0.0),
                                        trial_number(t, "luts") or 0, t.number))


def verify_trial(space: SweepSpace, trial: Any, out: Path, echo: Callable[[str], None]) -> dict:
    """Compile one finished trial to Verilog and co-simulate it on its validation samples.

    The model trained here is reused; a trial trained on another machine is retrained (training
    is seeded, so the tables are the same). Returns LUTs, flip-flops, LUT levels and the cosim
    result (``{"skipped": reason}`` when no simulator is installed).
    """
    from ..io import load_model
    from ..pipeline import RunSettings
    from ..rtl.cosim import verify_directory
    from ..rtl.writer import write_verilog

    cfg = space.config_for(trial.params)
    s = RunSettings.from_config(cfg)
    trial_dir = out / "trials" / f"{trial.number:05d}"
    model = trial_dir / "model.h5"
    saved = trial_dir / "config.toml"
    text = dump_toml({k: v for k, v in cfg.items() if not k.startswith("_")})
    if model.exists() and saved.exists() and saved.read_text() == text:
        net = load_model(model)
    else:  # trained on another machine (or this directory held another study's trial)
        echo(f"trial {trial.number}: retraining here to verify it (not trained in "
             f"{terminal(str(out))})")
        net = run_trial(cfg, trial_dir)[1]
    _, (xv, _yv), _ = validation_split(cfg)
    stim = xv if not s.verify_samples else xv[:, :s.verify_samples]
    rtl_dir = out / "front" / f"{trial.number:05d}" / "rtl"
    files = write_verilog(net, rtl_dir, top=s.top, lut6=s.lut6, stimulus=stim, force=True,
                          model=str(model.name))
    plan = files.plan
    circuit: dict[str, Any] = {"luts": int(plan.luts), "flip_flops": int(plan.flip_flops),
                               "lut_levels": int(plan.lut_levels()), "rtl": str(rtl_dir)}
    try:
        rep = verify_directory(files, s.simulator, build_dir=rtl_dir / "build")
        circuit["cosim"] = {k: v for k, v in rep.to_dict().items()
                            if k in ("ok", "simulator", "samples", "steps", "bits_compared",
                                     "bit_mismatches", "pred_mismatches")}
    except ToolError as e:
        circuit["cosim"] = {"skipped": str(e), "simulator": s.simulator}
    return circuit


def _cosim_words(c: dict) -> str:
    cos = c.get("cosim") or {}
    if "skipped" in cos:
        return f"skipped: {cos['skipped']}"
    if cos.get("ok"):
        return f"bit-exact ({cos.get('simulator')}, {cos.get('samples')} validation samples)"
    return (f"MISMATCH ({cos.get('simulator')}: {cos.get('bit_mismatches')} bits, "
            f"{cos.get('pred_mismatches')} predictions)")


#: finished trials from which Optuna's importance evaluator is used (below: rank correlation)
MIN_TRIALS_IMPORTANCE = 10


def importances(study: Any, objectives: list[str]) -> dict:
    """How much each searched parameter matters, per objective.

    With at least :data:`MIN_TRIALS_IMPORTANCE` finished trials: Optuna's PED-ANOVA evaluator
    (importances of one objective sum to 1). With fewer, its estimates are noise, so the
    fallback is the absolute Spearman rank correlation between the parameter and the objective
    over the finished trials (choices ranked in their listed order; 0 when either is constant).

    Returns:
        ``{"method": str, "values": {objective: {param: number}}}``, or ``{"unavailable": reason}``
        with fewer than 3 finished trials or no searched parameter.

    Example:
        >>> import optuna                                                    # doctest: +SKIP
        >>> importances(optuna.create_study(), ["val_acc"])                  # doctest: +SKIP
        {'unavailable': '0 finished trial(s); importances need at least 3'}
    """
    optuna = require_optuna()
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    keys = sorted({k for t in done for k in t.params})
    if len(done) < 3 or not keys:
        return {"unavailable": f"{len(done)} finished trial(s)"
                               + ("; importances need at least 3" if keys or not done
                                  else "; no parameter is searched")}
    values: dict[str, dict[str, float]] = {}
    if len(done) >= MIN_TRIALS_IMPORTANCE:
        import warnings

        method = "PED-ANOVA (optuna.importance)"
        for i, name in enumerate(objectives):
            # PED-ANOVA rates what it takes to reach *low* values: negate what is maximized
            sign = -1.0 if OBJECTIVES[name] == "maximize" else 1.0
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # its note about low values
                    imp = optuna.importance.get_param_importances(
                        study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(),
                        target=lambda t, i=i, sign=sign: sign * t.values[i])
            except (ValueError, RuntimeError, ZeroDivisionError):
                break  # too little variation for the evaluator: use the fallback
            values[name] = {k: round(float(v), 4) for k, v in imp.items()}
        else:
            return {"method": method, "values": values}
    from scipy.stats import spearmanr

    def rank(t: Any, k: str) -> float:
        v = t.params.get(k)
        choices = getattr(t.distributions.get(k), "choices", None)
        return float(choices.index(v)) if choices is not None else float(v)

    values = {}
    for i, name in enumerate(objectives):
        y = [t.values[i] for t in done]
        row = {}
        for k in keys:
            x = [rank(t, k) for t in done if k in t.params]
            yk = [yy for t, yy in zip(done, y) if k in t.params]
            const = len(set(x)) < 2 or len(set(yk)) < 2
            row[k] = 0.0 if const else round(abs(float(spearmanr(x, yk)[0])), 4)
        values[name] = row
    return {"method": f"|Spearman rank correlation| (fewer than {MIN_TRIALS_IMPORTANCE} finished "
                      f"trials)", "values": values}


def _plot(points: list[dict], front: list[dict], path: Path) -> bool:
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend alone

    if not points:
        return False
    fig = Figure(figsize=(7, 4.5), dpi=100)
    ax = fig.subplots()
    ax.scatter([p["luts"] for p in points], [p["val_acc"] for p in points], s=18, c="#999",
               label="finished trials")
    fr = sorted((t for t in front if t["luts"] is not None and t["val_acc"] is not None),
                key=lambda t: t["luts"])
    ax.plot([t["luts"] for t in fr], [t["val_acc"] for t in fr], "o-", c="#cf222e", ms=6,
            drawstyle="steps-post", label="front")
    for t in fr:
        ax.annotate(str(t["number"]), (t["luts"], t["val_acc"]), textcoords="offset points",
                    xytext=(4, 4), fontsize=8)
    ax.set_xlabel("LUTs")
    ax.set_ylabel("validation accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:  # a Ctrl-C while it is drawn leaves the old picture whole
        fig.savefig(tmp, format="png")
    return True


def build_report(study: Any, space: SweepSpace, out: Path, url: str,
                 echo: Callable[[str], None]) -> dict:
    """Verify the front trials not yet verified, and write ``report.json`` and ``report.html``."""
    optuna = require_optuna()
    from .. import __version__

    trials = study.get_trials(deepcopy=False)
    counts = {s.name: 0 for s in optuna.trial.TrialState}
    for t in trials:
        counts[t.state.name] += 1
    front = front_trials(study)
    circuits = {k: v for k, v in study.user_attrs.items() if k.startswith("circuit:")}
    rows = []
    for i, t in enumerate(front):
        key = f"circuit:{t.number}"
        if key not in circuits and i < space.verify:
            echo(f"trial {t.number}: verifying its circuit (Verilog + co-simulation)")
            circuits[key] = verify_trial(space, t, out, echo)
            study.set_user_attr(key, circuits[key])  # shared: other machines skip it
        cfg = {k: v for k, v in space.config_for(t.params).items() if not k.startswith("_")}
        rows.append({"number": t.number, "values": list(t.values), "params": dict(t.params),
                     **{k: trial_number(t, k) for k in ("val_acc", "luts", "flip_flops",
                                                        "epochs", "seconds")},
                     "circuit": circuits.get(key), "config_toml": dump_toml(cfg)})
    points = [{"number": t.number, "val_acc": trial_number(t, "val_acc"),
               "luts": trial_number(t, "luts")}
              for t in trials if t.state.name == "COMPLETE"
              and None not in (trial_number(t, "val_acc"), trial_number(t, "luts"))]
    png = out / "front.png"
    has_plot = _plot(points, rows, png)
    report = {
        "spikelut": __version__, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "study": space.study, "storage": mask_url(url), "space": str(space.path),
        "base": str(space.base_path), "objectives": space.objectives,
        "directions": space.directions, "trials": counts, "total_trials": len(trials),
        "front": rows, "importances": importances(study, space.objectives),
        "all": [{"number": t.number, "state": t.state.name, "params": dict(t.params),
                 "values": list(t.values) if t.values else None,
                 "failure": t.user_attrs.get("failure")} for t in trials],
        "plot": str(png) if has_plot else None, "report": str(out / "report.html"),
    }

    write_text_atomic(out / "report.json", json.dumps(report, indent=1, default=str))
    write_text_atomic(out / "report.html", render_html(report, png if has_plot else None))
    return report


CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f6f8fa}img{max-width:100%;border:1px solid #eee}.ok{color:#1a7f37}.bad{color:#cf222e}
pre{background:#f6f8fa;padding:1em;overflow-x:auto;font-size:.85em}.sub{color:#666}
"""


def describe_params(params: dict[str, Any], eq: str = "=") -> str:
    """Parameters on one line, floats to 4 significant digits.

    Example:
        >>> describe_params({"train.lr": 0.023425112449960254, "layers.0.nodes": 128})
        'train.lr=0.02343, layers.0.nodes=128'
    """
    return ", ".join(f"{k}{eq}{v:.4g}" if isinstance(v, float) else f"{k}{eq}{v}"
                     for k, v in params.items())


def _table(rows: list[list[Any]], header: list[str]) -> str:
    head = "".join(f"<th>{html_text(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(report: dict, png: Path | None) -> str:
    """The sweep report as one self-contained HTML page (every string escaped)."""
    e = html_text
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>spikelut sweep "
             f"{e(report['study'])}</title><style>{CSS}</style></head><body>",
             f"<h1>Sweep {e(report['study'])}</h1>",
             f"<p class='sub'>{e(report['date'])}, spikelut {e(report['spikelut'])}; space "
             f"{e(report['space'])} on {e(report['base'])}; storage {e(report['storage'])}</p>",
             f"<p>Objectives: {e(', '.join(f'{o} ({d})' for o, d in zip(report['objectives'], report['directions'])))}. "
             f"Trials scored on the validation split ([data] val_fraction), never on the test set.</p>",
             _table([[k, v] for k, v in report["trials"].items() if v], ["state", "trials"])]
    parts.append("<h2>Front: validation accuracy vs LUTs</h2>")
    if png is not None and png.exists():
        data = base64.b64encode(png.read_bytes()).decode()
        parts.append(f"<img alt='validation accuracy against LUTs' src='data:image/png;base64,{data}'>")
    else:
        parts.append("<p><i>no finished trial yet</i></p>")
    rows = []
    for t in report["front"]:
        c = t.get("circuit") or {}
        rows.append([t["number"], f"{t['val_acc']:.4f}" if t.get("val_acc") is not None else "",
                     t.get("luts"), t.get("flip_flops"), c.get("luts", "not verified"),
                     c.get("flip_flops", ""), c.get("lut_levels", ""),
                     _cosim_words(c) if c else "not verified ([sweep] verify)"])
    parts.append(_table(rows, ["trial", "val acc", "LUTs", "flip-flops", "verified LUTs",
                               "verified FFs", "LUT levels", "co-simulation"]))
    parts.append("<h2>Parameter importances</h2>")
    imp = report["importances"]
    if "unavailable" in imp:
        parts.append(f"<p><i>{e(imp['unavailable'])}</i></p>")
    else:
        vals = imp["values"]
        keys = sorted({k for v in vals.values() for k in v})
        parts.append(f"<p>{e(imp['method'])}</p>")
        parts.append(_table([[k] + [vals[o].get(k, "") for o in vals] for k in keys],
                            ["parameter"] + list(vals)))
    parts.append("<h2>Front trials' configs</h2>")
    for t in report["front"]:
        params = describe_params(t["params"], " = ")
        parts.append(f"<h3>trial {e(t['number'])}</h3><p>{e(params)}</p>"
                     f"<details><summary>run config (spikelut run)</summary>"
                     f"<pre>{e(t['config_toml'])}</pre></details>")
    parts.append("<h2>All trials</h2>")
    parts.append(_table([[t["number"], t["state"], describe_params(t["params"]),
                          ", ".join(f"{v:.4g}" for v in t["values"]) if t["values"] else "",
                          t.get("failure") or ""] for t in report["all"]],
                        ["trial", "state", "params", "values", "failure"]))
    parts.append("</body></html>")
    return "\n".join(parts)
