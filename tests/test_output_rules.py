"""Outputs replace only the command's own earlier output (docs/files-and-outputs.md): a bench
report, a training log, a PNG under a .png name; anything else is kept and refused in one line
unless --force. A `spikelut run` that fails before its first stage leaves no state.json."""

import json
from pathlib import Path

import numpy as np
import pytest

from spikelut.bench import REPORT_TITLE
from spikelut.cli import main
from spikelut.fileutil import file_kind
from spikelut.io import save_spikes

from helpers import available_simulator

ROOT = Path(__file__).resolve().parents[1]
BENCH = ["bench", "--sizes", "tiny", "--no-training", "--repeats", "1", "--no-progress"]
TRAIN_CONFIG = """
seed = 0
inputs = 2
[[layers]]
name = "out"
nodes = 4
k = 2
taps = [{from = "input", count = 2}]
[readout]
classes = 2
[train]
epochs = 1
batch_size = 10
backend = "numpy"
"""


def refusal(path, found, wanted):
    return (f"{path}: exists and is {found}, not {wanted}; choose another output or pass --force "
            f"to overwrite it")


@pytest.mark.parametrize("name, content, found", [
    ("notes.txt", "call the bank\n", "a text file"),
    ("s.py", "import os\nprint(os.getcwd())\n", "a text file"),
    ("some.json", '{"theme": "dark"}\n', "a JSON file"),
    ("BENCHMARKS.md", None, "a text file"),          # the project's own, as `bench --help` had it
])
def test_bench_keeps_files_that_are_not_its_report(tmp_path, capsys, name, content, found):
    p = tmp_path / name
    if content is None:
        content = "".join((ROOT / "BENCHMARKS.md").read_text().splitlines(True)[:40])
    p.write_text(content)
    assert main([*BENCH, "-o", str(p)]) == 1
    assert capsys.readouterr().err == \
        f"spikelut bench: error: {refusal(p, found, 'a spikelut bench report')}\n"
    assert p.read_text() == content


def test_bench_replaces_its_own_report_and_force_replaces_anything(tmp_path, capsys):
    p = tmp_path / "bench-report.md"
    assert main([*BENCH, "-o", str(p)]) == 0
    first = p.read_text()
    assert first.startswith(REPORT_TITLE + "\n\n- date: ") and "| tiny | 200 | reference |" in first
    assert file_kind(p) == "bench"
    assert main([*BENCH, "-o", str(p)]) == 0            # a rerun replaces its own report
    # a report written before the report had its own title is recognised too
    old = tmp_path / "old.md"
    old.write_text("# Benchmarks\n\n- date: 2026-11-28 10:00:00 UTC\n- command: `spikelut bench`\n"
                   "- machine: x\n")
    assert file_kind(old) == "bench"
    assert main([*BENCH, "-o", str(old)]) == 0
    assert old.read_text().startswith(REPORT_TITLE)
    notes = tmp_path / "notes.txt"
    notes.write_text("mine\n")
    assert main([*BENCH, "-o", str(notes), "--force"]) == 0
    assert notes.read_text().startswith(REPORT_TITLE)
    capsys.readouterr()


def test_bench_help_example_names_a_new_report_file():
    from spikelut.cli import cmd_bench

    examples = [line.strip() for line in cmd_bench.__doc__.splitlines() if " -o " in line]
    assert examples == ["spikelut bench -o bench-report.md     # also a markdown report "
                        "(replaces only an earlier one)"]


def test_train_log_replaces_only_a_training_log(tmp_path, capsys):
    (tmp_path / "c.toml").write_text(TRAIN_CONFIG)
    rng = np.random.default_rng(0)
    x = (rng.random((4, 20, 2)) < 0.5).astype(np.uint8)
    save_spikes(tmp_path / "d.h5", x, (x[:, :, 0].sum(axis=0) > 1).astype(np.int64))
    settings = tmp_path / "settings.json"
    settings.write_text('{"editor": "vim"}\n')
    jsonl = tmp_path / "other.jsonl"                   # JSON lines of another program
    jsonl.write_text('{"step": 1}\n{"step": 2}\n')

    for p, found in ((settings, "a JSON file"), (jsonl, "a text file")):
        before = p.read_text()
        assert main(["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"), "-o",
                     str(tmp_path / "m.h5"), "--log", str(p), "--no-progress"]) == 1
        assert capsys.readouterr().err == \
            f"spikelut train: error: {refusal(p, found, 'a spikelut training log')}\n"
        assert p.read_text() == before and not (tmp_path / "m.h5").exists()
    log = tmp_path / "train.jsonl"
    for _ in range(2):  # written, then replaced by the rerun
        assert main(["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"), "-o",
                     str(tmp_path / "m.h5"), "--log", str(log), "--no-progress"]) == 0
        assert file_kind(log) == "log"
        assert [json.loads(s)["epoch"] for s in log.read_text().splitlines()] == [1]
    capsys.readouterr()


def test_file_kinds_of_reports_and_logs(tmp_path):
    cases = {
        "peers.md": ("# Peer benchmark\n\n| system | acc |\n", "peers"),
        "peers.json": (json.dumps({"date": "d", "command_line": "c", "machine": {},
                                   "settings": {}, "data": {}, "systems": []}, indent=1), "peers"),
        "log.jsonl": ('{"epoch": 1, "loss": 0.7, "acc": 0.5, "val_acc": null}\n', "log"),
        "one.json": ('{"epoch": 1}\n', "json"),
        "BENCHMARKS.md": ("# Benchmarks\n\nEvery number below ...\n", "text"),
        "bench.md": (REPORT_TITLE + "\n\n- date: x\n", "bench"),
    }
    for name, (text, _) in cases.items():
        (tmp_path / name).write_text(text)
    assert {name: file_kind(tmp_path / name) for name in cases} == \
        {name: kind for name, (_, kind) in cases.items()}


@pytest.mark.parametrize("name", ["x.jpg", "x.svg", "x.PDF"])
def test_raster_refuses_a_name_of_another_image_format(tmp_path, capsys, name):
    result = tmp_path / "r.h5"
    assert main(["stimulus", "--channels", "2", "--steps", "3", "-o", str(result)]) == 0
    capsys.readouterr()
    out = tmp_path / name
    assert main(["raster", str(result), "-o", str(out)]) == 1
    suffix = name[1:]
    assert capsys.readouterr().err == (
        f"spikelut raster: error: {out}: the image is written as PNG; give a file name ending "
        f"in .png (not {suffix})\n")
    assert not out.exists()


@pytest.mark.parametrize("command, name, what", [
    (["init", str(ROOT / "demos" / "oscillator.toml")], "m.png", "the model"),
    (["stimulus", "--channels", "2", "--steps", "3"], "s.JSON", "the spike file (or result)"),
    (["stimulus", "--channels", "2", "--steps", "3"], "s.vcd", "the spike file (or result)"),
])
def test_hdf5_outputs_refuse_the_name_of_another_format(tmp_path, capsys, command, name, what):
    # simulate -o r.csv wrote HDF5 under a CSV name: spreadsheets, image viewers and spikelut's
    # own raster (a .png) then failed on it; any other name (m.h5, m.lut, no extension) is kept
    out = tmp_path / name
    assert main([*command, "-o", str(out)]) == 1
    suffix = name[name.index("."):]
    assert capsys.readouterr().err == (
        f"spikelut {command[0]}: error: {out}: {what} is written as HDF5; give a file name "
        f"ending in .h5 (not {suffix})\n")
    assert not out.exists()
    for ok in ("x.h5", "x.hdf5", "x.lut", "x"):
        assert main([*command, "-o", str(tmp_path / ok)]) == 0
        assert file_kind(tmp_path / ok) in ("model", "spikes")


def test_simulate_and_export_refuse_the_name_of_another_format(tmp_path, capsys):
    model, spikes = tmp_path / "m.h5", tmp_path / "s.h5"
    assert main(["init", str(ROOT / "demos" / "oscillator.toml"), "-o", str(model)]) == 0
    assert main(["stimulus", str(model), "--steps", "4", "-o", str(spikes)]) == 0
    capsys.readouterr()
    assert main(["simulate", str(model), str(spikes), "-o", str(tmp_path / "r.csv")]) == 1
    assert capsys.readouterr().err == (
        f"spikelut simulate: error: {tmp_path / 'r.csv'}: the spike file (or result) is written as "
        f"HDF5; give a file name ending in .h5 (not .csv)\n")
    assert main(["export", str(model), "-o", str(tmp_path / "g.h5")]) == 1
    assert capsys.readouterr().err == (
        f"spikelut export: error: {tmp_path / 'g.h5'}: the graph is written as ONNX; give a file "
        f"name ending in .onnx (not .h5)\n")
    assert not (tmp_path / "r.csv").exists() and not (tmp_path / "g.h5").exists()


def test_run_that_fails_before_its_first_stage_leaves_no_state(tmp_path, capsys):
    if available_simulator() is None:
        pytest.skip("spikelut run checks for a Verilog simulator before the first stage")
    text = (ROOT / "demos" / "run_default.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('dataset = "first_of_two"', 'dataset = "nosuchset"'))
    new, empty = tmp_path / "new", tmp_path / "empty"
    empty.mkdir()
    for out in (new, empty):
        assert main(["run", str(bad), "-o", str(out), "--no-progress"]) == 1
        assert capsys.readouterr().err.startswith(
            f"spikelut run: error: {bad}: unknown dataset 'nosuchset'")
    assert not new.exists()
    assert list(empty.iterdir()) == []


def test_export_replaces_only_its_own_onnx_graph(tmp_path, capsys):
    pytest.importorskip("onnx", reason="onnx not installed: pip install 'spikelut[onnx]'")
    cli = main
    model = tmp_path / "m.h5"
    demos = Path(__file__).resolve().parent.parent / "demos"
    assert cli(["init", str(demos / "run_default.toml"), "-o", str(model)]) == 0
    graph = tmp_path / "m.onnx"
    assert cli(["export", str(model), "-o", str(graph)]) == 0
    assert file_kind(graph) == "onnx"
    assert cli(["export", str(model), "-o", str(graph)]) == 0      # its own earlier graph: replaced
    blob = tmp_path / "weights.bin"
    blob.write_bytes(b"\x00\x01\x02" * 10)
    capsys.readouterr()
    assert cli(["export", str(model), "-o", str(blob)]) == 1
    assert capsys.readouterr().err == (f"spikelut export: error: {blob}: exists and is a binary file, "
                                       f"not an ONNX graph written by spikelut export; choose another "
                                       f"output or pass --force to overwrite it\n")
    assert blob.read_bytes() == b"\x00\x01\x02" * 10
    assert cli(["export", str(model), "-o", str(blob), "--force"]) == 0


def test_truncated_checkpoint_is_called_unreadable_not_another_programs(tmp_path, capsys):
    # a spikelut file cut short kept HDF5's signature and was called "an HDF5 file of another
    # program", which sends the user looking for that program
    (tmp_path / "c.toml").write_text(TRAIN_CONFIG)
    rng = np.random.default_rng(0)
    save_spikes(tmp_path / "d.h5", (rng.random((4, 20, 2)) < 0.5).astype(np.uint8),
                labels=rng.integers(0, 2, 20))
    ckpt = tmp_path / "ckpt.h5"
    assert main(["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"), "-o",
                 str(tmp_path / "m.h5"), "--checkpoint", str(ckpt), "--no-progress"]) == 0
    ckpt.write_bytes(ckpt.read_bytes()[:3000])
    before = ckpt.read_bytes()
    capsys.readouterr()
    assert file_kind(ckpt) == "hdf5_unreadable"
    assert main(["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"), "-o",
                 str(tmp_path / "m2.h5"), "--checkpoint", str(ckpt), "--resume",
                 "--no-progress"]) == 1
    # --resume reads it: overwriting it (--force) alone is not the advice; starting over is
    assert capsys.readouterr().err == (
        f"spikelut train: error: {ckpt}: is an unreadable HDF5 file (truncated or corrupt?), not a "
        f"checkpoint --resume can continue from; resume from another checkpoint, or train from "
        f"the start without --resume (--force overwrites it)\n")
    assert ckpt.read_bytes() == before and not (tmp_path / "m2.h5").exists()
    # without --resume it is only an output in the way
    assert main(["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"), "-o",
                 str(tmp_path / "m2.h5"), "--checkpoint", str(ckpt), "--no-progress"]) == 1
    assert capsys.readouterr().err == (
        f"spikelut train: error: "
        f"{refusal(ckpt, 'an unreadable HDF5 file (truncated or corrupt?)', 'a training checkpoint')}\n")
