"""Describe a model file (layers, nodes, k, taps, refractory periods, flip-flops, readout), or
a spike or result file (cycles, samples, channels, labels per class, encoding, recorded layers),
or a training checkpoint (epoch, last accuracy, how to continue it).

Example:
    spikelut info osc.h5
    spikelut info train.h5        # a spike file: shape, labels, how it was encoded
"""

from __future__ import annotations

import argparse

from ..analog import spec_of
from ..ensemble import summary
from ..errors import ConfigError
from ..escape import terminal
from ..fileinfo import describe_spike_file
from ..fileutil.kinds import file_kind
from ..io import encode_options, load_model
from . import Output
from .common import count, table

NAME = "info"
HELP = ("describe a model file (layers, k, taps, flip-flops, readout), a spike or result file "
        "(shape, labels, encoding) or a training checkpoint")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="FILE",
                   help="model, spike, result or checkpoint file (HDF5)")


def run(args: argparse.Namespace) -> Output:
    kind = _kind(args.model)
    if kind == "spikes":
        return _describe_spikes(args.model)
    if kind == "checkpoint":
        return _describe_checkpoint(args.model)
    net = load_model(args.model)
    s = summary(net)  # with an ensemble's members
    # layer names come from the file: escaped so they cannot move the cursor or clear the screen
    rows = [[l["index"], terminal(l["name"]), l["nodes"], l["k"], l["refractory"], l["taps_from_input"],
             l["taps_feedforward"], l["taps_recurrent"], l["taps_self"], l["max_delay"]]
            for l in s["layers"]]
    r = s["readout"]
    text = "\n".join([
        f"{terminal(args.model)}: {count(s['inputs'], 'inputs')}, "
        f"{count(len(s['layers']), 'layers')}, {count(s['nodes'], 'LUTs')}, "
        f"{count(s['flip_flops'], 'flip-flops')}",
        "",
        table(rows, ["#", "name", "nodes", "k", "R", "in-taps", "ff-taps", "rec-taps", "self",
                     "max-delay"]),
        "",
        f"readout: layer {r['layer']} ({terminal(r['layer_name'])}), {count(r['classes'], 'classes')}, "
        f"{count(r['counted_nodes'], 'counted nodes')}, counting from cycle {r['start']}",
    ])
    if "ensemble" in s:  # a seed ensemble (docs/ensembles.md): its members' layer sizes
        members = s["ensemble"]["sizes"]
        text += (f"\nensemble of {len(members)} members side by side (class counts add); "
                 f"member sizes: {'; '.join('-'.join(map(str, m)) for m in members[:8])}"
                 + (f"; ... ({len(members) - 8} more)" if len(members) > 8 else ""))
    try:
        spec, bad = spec_of(net), None
    except ConfigError as e:  # described, not refused: info is where one looks at a bad file
        spec, bad = None, str(e)
    if bad:
        text += f"\n{terminal(bad)}; simulate, eval and rtl refuse this model"
    if spec is not None:  # said: simulate, rtl and export refuse such a model (docs/relaxations.md)
        text += (f"\nanalog model: {spec.bits}-bit tables, read noise {spec.noise:g}; "
                 f"spikelut eval runs it, simulate, rtl and export need a binary model")
    options = encode_options(net.meta.get("data"))
    if options:  # models of `spikelut run` / `train` record how their data were encoded
        text += f"\ntrained on data encoded with: spikelut encode {options}"
    return Output({"model": str(args.model), **s,
                   **({"analog": spec.to_meta()} if spec is not None else {}),
                   **({"analog_error": bad} if bad else {}),
                   **({"encode_options": options} if options else {})}, text)


def _kind(path: str) -> str | None:
    """The file's kind by its format attribute (spike, result, checkpoint); anything else goes
    to the model reader, whose message says what the file is instead (missing, another HDF5
    file, a config, ...)."""
    try:
        return file_kind(path)
    except OSError:
        return None


def _describe_checkpoint(path: str) -> Output:
    from ..train.checkpoint import describe_checkpoint

    d = describe_checkpoint(path)

    def num(v: object) -> str:
        return "-" if v is None else f"{v:.4f}"

    last = d["last"]
    of = f" of {d['epochs']}" if d["epochs"] is not None else ""
    kept = f" (kept epoch {d['best_epoch']})" if d["best_epoch"] is not None else ""
    lines = [f"{terminal(path)}: training checkpoint at epoch {d['epoch']}{of}{kept}",
             f"last epoch: loss {num(last['loss'])}, train acc {num(last['acc'])}, val acc "
             f"{num(last['val_acc'])}",
             f"layers: {', '.join(f'{n} x {e}' for n, e in d['layers'][:20])}"
             f"{', ...' if len(d['layers']) > 20 else ''} (nodes x table entries)",
             f"continue it: spikelut train CONFIG --data DATA --checkpoint {terminal(path)} "
             f"--resume (the same config and data; --epochs "
             f"may grow)"]
    return Output({"file": str(path), **d}, "\n".join(lines))


def _describe_spikes(path: str) -> Output:
    d = describe_spike_file(path)
    what = "result file" if d["kind"] == "result" else "spike file"
    lines = [f"{terminal(path)}: {what}, {count(d['cycles'], 'cycles')} x "
             f"{count(d['samples'], 'samples')} x {count(d['channels'], 'channels')}"]
    lab = d["labels"]
    if lab is None:
        lines.append("labels: none (simulate runs it; eval and train need labels)")
    else:
        shown = ", ".join(f"{c}: {n}" for c, n in zip(lab["classes"][:20], lab["counts"][:20]))
        more = f", ... ({len(lab['classes']) - 20} more)" if len(lab["classes"]) > 20 else ""
        lines.append(f"labels: {count(len(lab['classes']), 'classes')} present (samples per class "
                     f"{shown}{more})")
    if "layers" in d:
        lines.append(f"layers recorded: {len(d['layers'])} (nodes {', '.join(map(str, d['layers'][:20]))}"
                     f"{', ...' if len(d['layers']) > 20 else ''})")
    if d["source"]:
        lines.append("origin: " + "; ".join(f"{k} {terminal(str(v))[:200]}"
                                            for k, v in d["source"].items()))
    if d["encode_options"]:
        lines.append(f"encoded with: spikelut encode {d['encode_options']}")
    return Output({"file": str(path), **d}, "\n".join(lines))
