"""Train a network's LUT tables with surrogate gradients through time (BPTT).

The config's architecture builds the network; its ``[train]`` table sets the hyper-parameters
(epochs, batch_size, optimizer, lr, schedule, loss, surrogate, width, clip, seed, ...). Data,
labels and config are all checked before the first step. The kept model (best validation
accuracy with --val, else the last epoch) is written with its logits; table == logits > 0.

Example:
    spikelut train demos/train_first_of_two.toml --data train.h5 --val val.h5 -o model.h5 \\
    --log train.jsonl --checkpoint ckpt.h5
    spikelut train demos/train_first_of_two.toml --data train.h5 -o model.h5 \\
    --checkpoint ckpt.h5 --resume          # continue an interrupted run, bit for bit
    spikelut train demos/train_mnist1d.toml --data train.h5 --val-fraction 0.125 -o model.h5
    spikelut train demos/train_mnist1d.toml --data train.h5 -o model.h5 --backend cuda   # on the GPU
    spikelut train demos/train_first_of_two.toml --data train.h5 -o model.h5 --relaxation walsh
    spikelut train demos/train_mnist1d.toml --data train.h5 -o model.h5 --teacher-features feats.h5
    spikelut train demos/train_mnist1d.toml --data train.h5 -o model.h5 --epochs 20 \\
    --init-std 0.001 --schedule onecycle --lr 0.03 --batch-schedule 11:50     # docs/epochs.md
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from ..api import train as train_network
from ..config import build_network, load_config
from ..errors import ConfigError, FileFormatError, OutputError, ShapeError
from ..escape import terminal
from ..fileutil import check_output, file_kind, kind_words
from ..io import (encoding_mismatch, encoding_record, load_features, load_spikes,
                  record_encoding, save_model)
from ..train import TrainConfig
from ..train.config import from_config_problem
from ..train.optim import SCHEDULES, parse_batch_schedule
from ..train.passes import BACKENDS, FORWARDS, resolve_backend
from ..train.trainer import check_data, holdout
from . import Output
from .common import FORCE_HELP, count

NAME = "train"
HELP = "train CONFIG.toml on --data TRAIN.h5 and write MODEL.h5"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="architecture + [train] config (TOML)")
    p.add_argument("--data", required=True, help="training spike file with /labels (HDF5)")
    val = p.add_mutually_exclusive_group()
    val.add_argument("--val", default=None, help="validation spike file with /labels (HDF5)")
    val.add_argument("--val-fraction", type=float, default=None, metavar="F",
                     help="hold out a seeded fraction F of --data as the validation set "
                          "(the [train] seed draws it)")
    p.add_argument("--teacher-features", default=None, metavar="F.h5",
                   help="a teacher's features /features [B, F] (one row per sample of --data): "
                        "the initial wiring is guided by their correlation (docs/rewiring.md)")
    p.add_argument("-o", "--output", required=True, help="model file to write (HDF5)")
    p.add_argument("--log", default=None, help="JSON-lines log, one object per epoch")
    p.add_argument("--checkpoint", default=None, help="checkpoint file, written after every epoch")
    p.add_argument("--resume", action="store_true",
                   help="continue from --checkpoint (same config and data; --epochs may grow)")
    p.add_argument("--epochs", type=int, default=None, help="override [train] epochs")
    p.add_argument("--seed", type=int, default=None, help="override [train] seed")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="where training runs (overrides [train] backend): numpy, numba, cuda "
                        "(CuPy on an NVIDIA GPU), or auto = the fastest usable; a checkpoint "
                        "resumes on any backend")
    p.add_argument("--forward", choices=FORWARDS, default=None,
                   help="override [train] forward: the numba backend's forward pass, lookup "
                        "(per sample), bitsliced (64 samples per word) or auto = the one measured "
                        "faster for the batch size (docs/training-speed.md); same results")
    p.add_argument("--relaxation", default=None, metavar="NAME",
                   help="override [train] relaxation: how tables are parameterised for the "
                        "backward pass (multilinear, bipolar, walsh, dlut, dlut_fixed, mlp; "
                        "docs/relaxations.md); the model file stays a plain table")
    p.add_argument("--lr", type=float, default=None, help="override [train] lr (the peak rate)")
    p.add_argument("--schedule", choices=SCHEDULES, default=None,
                   help="override [train] schedule (docs/epochs.md)")
    p.add_argument("--warmup", type=float, default=None, metavar="F",
                   help="override [train] warmup: part of the steps ramping the rate up")
    p.add_argument("--batch-size", type=int, default=None, help="override [train] batch_size")
    p.add_argument("--init-std", type=float, default=None, metavar="STD",
                   help="override [train] init_std: spread of the initial logits (0.001: the "
                        "MNIST-1D demo's accuracy in 20 epochs instead of 40, docs/epochs.md)")
    p.add_argument("--init", default=None, metavar="NAME",
                   help="override [train] init: normal, table, residual (pass-through tables) "
                        "or data (set from the training data), docs/epochs.md (logits: for a model "
                        "loaded from a file and trained again through the Python API)")
    p.add_argument("--init-noise", type=float, default=None, metavar="STD",
                   help="override [train] init_noise: noise on residual/data tables (0: none; "
                        "needed as 0 to try --init normal on a config that sets it)")
    p.add_argument("--label-smoothing", type=float, default=None, metavar="EPS",
                   help="override [train] label_smoothing: cross-entropy targets (1 - EPS) on the "
                        "class, EPS spread over all classes (0: none; docs/epochs.md)")
    p.add_argument("--batch-schedule", default=None, metavar="EPOCH:SIZE,...",
                   help="override [train] batch_schedule, e.g. 11:50,21:100 (batch 50 from "
                        "epoch 11, 100 from epoch 21); 'none' = the constant batch_size")
    p.add_argument("--ensemble", type=int, default=None, metavar="N",
                   help="override [train] ensemble: train N copies of the network (wiring and "
                        "training seeds moved by 0..N-1) and write their merged circuit, whose "
                        "class counts add (docs/ensembles.md); with --checkpoint/--log each member "
                        "gets its own file (--checkpoint ck.h5 --log log.jsonl: ck.member<m>.h5, "
                        "log.member<m>.jsonl)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)


def run(args: argparse.Namespace) -> Output:
    # every output checked (writable, not an input, not another kind, not in use) before training
    inputs = [args.config, args.data, args.val, args.teacher_features]
    out = check_output(args.output, inputs=inputs, kind="model", force=args.force)
    if args.checkpoint is not None and args.resume:
        _check_resume_file(args.checkpoint)
    if args.checkpoint is not None:  # with --resume the checkpoint is also read: same kind, fine
        check_output(args.checkpoint, inputs=inputs, kind="checkpoint", force=args.force,
                     others=[args.output])
        if not (args.resume or args.force):
            _refuse_earlier_checkpoint(args.checkpoint)
    if args.log is not None:
        check_output(args.log, inputs=inputs, kind="log", force=args.force,
                     others=[args.output, args.checkpoint])
    cfg = load_config(args.config)
    tcfg_dict = dict(cfg.get("train") or {})
    # flags named after their [train] key override it; the config check names the flag of a
    # bad value (--lr -1), not the file
    flags: dict[str, str] = {}
    for key in ("epochs", "seed", "relaxation", "lr", "schedule", "warmup", "batch_size",
                "init_std", "forward", "init", "init_noise", "label_smoothing", "ensemble"):
        if getattr(args, key) is not None:
            tcfg_dict[key] = getattr(args, key)
            flags[key] = "--" + key.replace("_", "-")
    if args.batch_schedule is not None:
        tcfg_dict["batch_schedule"] = parse_batch_schedule(args.batch_schedule)
        flags["batch_schedule"] = "--batch-schedule"
    if args.backend is not None:
        tcfg_dict.pop("kernels", None)  # the flag wins over the config's old spelling too
        tcfg_dict["backend"] = args.backend
        flags["backend"] = "--backend"
    tcfg = TrainConfig.from_dict(tcfg_dict, seed=cfg.get("seed", 0), where=f"{args.config}: [train]",
                                 flags=flags)
    if args.resume and args.checkpoint is None:
        raise ConfigError("--resume needs --checkpoint CKPT.h5 (the file to resume from)")
    if tcfg.ensemble > 1 and args.checkpoint is not None:
        # what a Ctrl-C names (spikelut.cli._resume_hint): each member has its own checkpoint,
        # args.checkpoint itself is never written
        args.resume_hint = (f"; the same command with --resume keeps the finished members and "
                            f"continues from the last finished epoch in "
                            f"{terminal(str(_member_path(args.checkpoint, '<m>')))}")
    # before loading data: an unusable backend stops here (analog tables: the numpy reference)
    problem = from_config_problem(tcfg)
    if problem:  # only init = "logits": name the flag or the key that set it
        source = "--init logits" if "init" in flags else f'{args.config}: [train] init = "logits"'
        raise ConfigError(f"{source}: {problem}")
    backend = resolve_backend("numpy" if tcfg.analog_bits else tcfg.backend)
    if args.teacher_features is not None:  # before the data are read
        if tcfg.init_wiring == "mi":
            raise ConfigError(f'{args.config}: init_wiring = "mi" scores taps against the labels; '
                              f'with --teacher-features use "corr" (or leave it unset)')
        if tcfg_dict.get("init_wiring") == "config":
            # teacher features exist to guide the wiring ("corr"): a config that asks to keep
            # its own wiring was re-wired anyway without a word
            raise ConfigError(f'{args.config}: init_wiring = "config" keeps the config\'s wiring, '
                              f'but --teacher-features re-draws it by correlation with the '
                              f'features; leave init_wiring unset (or "corr"), or drop '
                              f'--teacher-features')
    net = build_network(cfg)
    train = load_spikes(args.data)
    check_data(net, train.spikes, _labels(train, args.data), str(args.data))
    encoding = train.meta  # the model records it: new data must be encoded the same way
    teacher = None
    if args.teacher_features is not None:
        teacher = load_features(args.teacher_features, samples=train.spikes.shape[1])
    val = None
    if args.val is not None:
        val = load_spikes(args.val)
        check_data(net, val.spikes, _labels(val, args.val), str(args.val))
        other = encoding_mismatch(encoding_record(encoding), val.meta, "the training data have")
        if other:  # the kept epoch would be chosen on data the model will never read
            raise ShapeError(f"{args.val}: encoded differently from the training data {args.data} "
                             f"({other}); encode both the same way")
        T, Tv = train.spikes.shape[0], val.spikes.shape[0]
        if Tv != T and all(isinstance(encoding_record(m).get("coding"), str)
                           for m in (train.meta, val.meta)):
            # the same coding at another length: the readout counts over another window, so the
            # kept epoch would be chosen on a network the model never is (as simulate/eval refuse)
            raise ShapeError(f"{args.val}: spikes have {Tv} cycles per sample but the training "
                             f"data {args.data} have {T}; encode both with the same --steps")
        if _same_data(args.data, args.val, train, val):
            print(f"spikelut {NAME}: warning: --val {terminal(args.val)} holds the training data "
                  f"({terminal(args.data)}); validation on the training data says nothing about "
                  f"generalisation: use a separate file or --val-fraction", file=sys.stderr)
    elif args.val_fraction is not None:
        B = train.spikes.shape[1]
        train, val = holdout(train.spikes, train.labels, args.val_fraction, tcfg.seed)
        if teacher is not None:  # the same seeded split: the rows stay aligned with the samples
            (_, teacher), _ = holdout(np.zeros((0, B, 0), np.uint8), teacher, args.val_fraction,
                                      tcfg.seed)
    if tcfg.ensemble > 1:
        return _train_ensemble(args, cfg, tcfg_dict, train, val, backend, teacher, out, encoding)
    result = train_network(net, train, tcfg, val=val, progress=False if args.no_progress else None,
                           backend=backend, log=args.log, checkpoint=args.checkpoint,
                           resume=args.resume, teacher=teacher)
    epochs = result.net.meta["train"]["epochs"]
    record_encoding(result.net, encoding)
    save_model(result.net, out)
    last = result.history[-1] if result.history else {}
    kept = next((r for r in result.history if r["epoch"] == result.kept_epoch), last)
    s = result.net.summary()
    data = {"model": str(out), "backend": backend.name, "epochs": epochs,
            "kept_epoch": result.kept_epoch,
            "train_acc": kept.get("acc"), "train_loss": kept.get("loss"),
            "val_acc": kept.get("val_acc"), "val_loss": kept.get("val_loss"),
            "luts": s["luts"], "flip_flops": s["flip_flops"], "history": result.history}
    text = (f"trained {epochs} epoch{'' if epochs == 1 else 's'} -> {terminal(str(out))} (kept epoch {result.kept_epoch}: "
            f"train acc {kept.get('acc', float('nan')):.4f}")
    if kept.get("val_acc") is not None:
        text += f", val acc {kept['val_acc']:.4f}"
    text += (f"; {count(s['luts'], 'LUTs')}, {count(s['flip_flops'], 'flip-flops')}; "
             f"backend {backend.name})")
    return Output(data, text)


def _refuse_earlier_checkpoint(path: str | os.PathLike) -> None:
    """A fresh run (no ``--resume``) would replace an earlier run's checkpoint with its first
    epoch: the earlier run's progress, hours of it perhaps, lost without a word."""
    if os.path.isfile(path) and file_kind(path) == "checkpoint":
        raise OutputError(f"{terminal(str(path))}: holds the checkpoint of an earlier run; "
                          f"--resume continues that run, --force starts over and replaces it")


def _check_resume_file(path: str) -> None:
    """Refuse, before any work, a ``--checkpoint`` to ``--resume`` from that holds something
    else (the model that ``-o`` wrote, say): overwriting it with --force is not what was meant.

    Raises:
        FileFormatError: naming the file, what it is and which file to give.
    """
    if not os.path.isfile(path):  # a missing or unusable path: the output check reports it
        return
    try:
        have = file_kind(path)
    except OSError:
        return
    if have == "hdf5_unreadable":  # a checkpoint cut short, most likely: nothing to continue
        raise FileFormatError(f"{path}: is {kind_words(have)}, not a checkpoint --resume can "
                              f"continue from; resume from another checkpoint, or train from the "
                              f"start without --resume (--force overwrites it)")
    if have not in ("checkpoint", "empty"):  # an empty file: the trainer says it is unreadable
        raise FileFormatError(f"{path}: is {kind_words(have)}, not a training checkpoint; "
                              f"--resume continues from the file that spikelut train "
                              f"--checkpoint wrote: give that file as --checkpoint")


def _member_path(path: str | None, m: int | str, model: bool = False) -> str | None:
    """``ckpt.h5`` -> ``ckpt.member2.h5`` (member 2's checkpoint), ``ckpt.member2.model.h5`` (its
    finished model, read back on --resume); ``log.jsonl`` -> ``log.member2.jsonl``."""
    if path is None:
        return None
    root, dot, ext = str(path).rpartition(".")
    if not dot or "/" in ext or os.sep in ext:
        root, ext = str(path), ""
    tail = f".member{m}" + (".model" if model else "")
    return f"{root}{tail}.{ext}" if ext else f"{root}{tail}"


def _train_ensemble(args, cfg, tcfg_dict, train, val, backend, teacher, out, encoding) -> Output:
    from ..ensemble import kept_record, train_ensemble

    M = int(tcfg_dict.get("ensemble", 1))
    for m in range(M):  # every member's files checked before the first member trains
        for path, kind in ((_member_path(args.checkpoint, m), "checkpoint"),
                           (_member_path(args.checkpoint, m, model=True), "model"),
                           (_member_path(args.log, m), "log")):
            if path is not None:
                check_output(path, inputs=[args.config, args.data, args.val], kind=kind,
                             force=args.force or args.resume, others=[args.output])
                if kind == "checkpoint" and not (args.resume or args.force):
                    _refuse_earlier_checkpoint(path)
    if args.resume and not any(os.path.exists(q) for m in range(M)
                               for q in (_member_path(args.checkpoint, m),
                                         _member_path(args.checkpoint, m, model=True))):
        raise ConfigError(f"{_member_path(args.checkpoint, 0)}: no member checkpoint or finished "
                          f"member to resume from; run without --resume to start training")
    mcfg = dict(cfg)
    mcfg["train"] = tcfg_dict
    res = train_ensemble(
        mcfg, train, val, members=M, progress=False if args.no_progress else None,
        member_file=(lambda m: _member_path(args.checkpoint, m, model=True))
        if args.checkpoint else None,
        checkpoint=(lambda m: _member_path(args.checkpoint, m)) if args.checkpoint else None,
        log=(lambda m: _member_path(args.log, m)) if args.log else None,
        resume=args.resume, backend=backend, teacher=teacher,
        echo=lambda line: print(f"spikelut train: {terminal(line)}", file=sys.stderr, flush=True))
    record_encoding(res.net, encoding)
    save_model(res.net, out)
    train_acc, val_acc = res.train_acc, res.val_acc
    s = res.net.summary()
    members = []
    for m, r in enumerate(res.members):
        kept = kept_record(r) if r is not None else {}  # the kept epoch's, as for one network
        members.append({"member": m, "epochs": len(r.history) if r is not None else None,
                        "kept_epoch": r.kept_epoch if r is not None else None,
                        "train_acc": kept.get("acc"), "val_acc": kept.get("val_acc"),
                        "history": r.history if r is not None else None})
    data_out = {"model": str(out), "backend": backend.name, "members": M, "train_acc": train_acc,
                "val_acc": val_acc, "luts": s["luts"], "flip_flops": s["flip_flops"],
                "member_runs": members}
    text = (f"trained an ensemble of {M} -> {terminal(str(out))} (train acc {train_acc:.4f}"
            + (f", val acc {val_acc:.4f}" if val_acc is not None else "")
            + f"; {count(s['luts'], 'LUTs')}, {count(s['flip_flops'], 'flip-flops')}; "
              f"backend {backend.name})")
    return Output(data_out, text)


def _same_data(path_a, path_b, a, b) -> bool:
    """Whether two spike files are one file or hold the same spikes and labels."""
    try:
        if os.path.samefile(path_a, path_b):
            return True
    except OSError:
        pass
    return (a.spikes.shape == b.spikes.shape and np.array_equal(a.spikes, b.spikes)
            and np.array_equal(a.labels, b.labels))


def _labels(data, path):
    if data.labels is None:
        raise ConfigError(f"{path}: has no /labels; training needs labelled spikes "
                          f"(spikelut encode writes them)")
    return data.labels
