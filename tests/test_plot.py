"""Figures of spikelut.plot and the `spikelut raster` / `spikelut plot` commands."""

import json
import struct

import numpy as np
import pytest

import spikelut as sl
from spikelut.cli import main
from spikelut.datasets import encode_dataset
from spikelut.engine.result import SimResult
from spikelut.errors import ConfigError, FileFormatError, ShapeError
from spikelut.io import load_result, save_model, save_spikes
from spikelut.network import Layer, Network, Readout
from spikelut.plot import (address_counts, firing_rates, lut_table, rate_histogram, raster,
                           read_training_log, subsample, training_curves)
from spikelut.wiring import random_network


def png_size(path):
    data = open(path, "rb").read(24)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def fot(tmp_path, demos_dir):
    """first_of_two demo simulated on 6 test samples: (model path, result path, net)."""
    net = sl.build(f"{demos_dir}/first_of_two.toml")
    model = tmp_path / "fot.h5"
    save_model(net, model)
    sd = encode_dataset("first_of_two", None, None, split="test", limit=6)
    res = sl.simulate(net, sd.spikes)
    result = tmp_path / "res.h5"
    save_spikes(result, sd.spikes, sd.labels, {**sd.meta, "model": str(model)}, result=res)
    return model, result, net


def test_raster_png_size_and_changes_with_spikes(fot, tmp_path):
    _, result, net = fot
    a = raster(result, 1, tmp_path / "a.png", model=net, size=(800, 600))
    assert png_size(a) == (800, 600)
    data, res = load_result(result)
    res.layer_spikes[0][5, 1, 0] ^= 1  # flip one spike of the shown sample
    b = raster((data, res), 1, tmp_path / "b.png", model=net, size=(800, 600))
    assert png_size(b) == (800, 600)
    assert a.read_bytes() != b.read_bytes()
    c = raster((data, res), 1, tmp_path / "c.png", model=net, size=(800, 600))
    assert b.read_bytes() == c.read_bytes()  # deterministic


def test_raster_panels_and_subsampling():
    net = random_network(0, n_in=5, sizes=[300, 20], k=3, classes=2)
    x = sl.random_spikes(5, steps=12, batch=2, rate=0.5, seed=1)
    res = sl.simulate(net, x)
    fig = raster(res, 1, inputs=x, model=net, max_nodes=64)
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles[0] == f"input: 5 channels, {int(x[:, 1].sum())} spikes"
    assert titles[1].startswith("layer 0 'L0': 300 nodes, ")
    assert titles[1].endswith(", 64 of 300 nodes shown (evenly spaced)")
    assert titles[2].startswith("layer 1 'L1' (readout, coloured by class): 20 nodes")
    assert titles[3].startswith(f"readout class counts: predicted {int(res.pred[1])}")
    with pytest.raises(ConfigError, match=r"sample 2 does not exist; the result has samples 0 .. 1"):
        raster(res, 2, inputs=x)


def test_subsample_even():
    assert subsample(5, 10).tolist() == [0, 1, 2, 3, 4]
    assert subsample(100, 5).tolist() == [0, 25, 50, 74, 99]


def test_rate_histogram(fot, tmp_path):
    _, result, net = fot
    p = rate_histogram(result, tmp_path / "r.png", model=net, size=(640, 480))
    assert png_size(p) == (640, 480)
    s = np.zeros((4, 2, 3), np.uint8)
    s[:, 0, 1] = 1
    s[0, 1, 2] = 1
    np.testing.assert_allclose(firing_rates(s), [0, 0.5, 0.125])


def oscillator():
    osc = Layer(np.array([[0, 1, 0, 0]], np.uint8), np.array([[-1, 0]]), np.array([[0, 0]]),
                np.array([[0, 1]]))
    return Network(1, [osc], Readout(0, [0], 1))


def test_address_counts_exact():
    net = oscillator()
    x = np.array([1, 1, 0, 1, 1], np.uint8)[:, None, None]
    res = sl.simulate(net, x)
    assert res.layer_spikes[0][:, 0, 0].tolist() == [1, 0, 0, 1, 0]
    # address = in + 2 * previous own spike: 1, 3, 0, 1, 3
    assert address_counts(net, x, res.layer_spikes, 0).tolist() == [[1, 2, 0, 2]]


def test_address_counts_cover_every_cycle(fot):
    _, result, net = fot
    data, res = load_result(result)
    counts = address_counts(net, data.spikes, res.layer_spikes, 0, chunk=4)
    assert counts.shape == (2, 8)
    assert counts.sum(axis=1).tolist() == [20 * 6, 20 * 6]


def test_address_counts_refuse_foreign_result():
    net = oscillator()
    x = np.zeros((3, 1, 1), np.uint8)
    fake = [np.array([0, 1, 0], np.uint8)[:, None, None]]  # spike on address 0, whose entry is 0
    with pytest.raises(ShapeError, match="the result does not come from this model: layer 0 node 0 "
                                         "spiked at cycle 1 of sample 0 on address 0"):
        address_counts(net, x, fake, 0)


def test_lut_table_png(fot, tmp_path):
    _, result, net = fot
    p = lut_table(result, net, tmp_path / "t.png", size=(700, 500))
    assert png_size(p) == (700, 500)
    res = SimResult([np.zeros((3, 1, 2), np.uint8)], np.zeros((1, 2), np.int32), np.zeros(1, np.int32))
    with pytest.raises(ConfigError, match="needs the input spikes"):
        lut_table(res, net)


def write_log(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


LOG = [{"epoch": e, "loss": 1.0 / e, "acc": 0.5 + 0.1 * e, "val_loss": None if e == 1 else 1.2 / e,
        "val_acc": None if e == 1 else 0.4 + 0.1 * e, "lr": 0.01 / e, "time": 1.5} for e in (1, 2, 3)]


def test_training_curves(tmp_path):
    write_log(tmp_path / "log.jsonl", LOG)
    p = training_curves(tmp_path / "log.jsonl", tmp_path / "c.png", size=(900, 700))
    assert png_size(p) == (900, 700)
    fig = training_curves(tmp_path / "log.jsonl")
    assert fig._suptitle.get_text() == ("log.jsonl: 3 epochs, best validation accuracy 0.7000 at "
                                        "epoch 3, 4.5 s")
    # epochs are whole numbers: every axis (they share x) ticks 1, 2, 3, not 1.25, 1.5, ...
    for ax in fig.axes:
        ticks = [v for v in ax.get_xticks() if ax.get_xlim()[0] <= v <= ax.get_xlim()[1]]
        assert ticks == [1.0, 2.0, 3.0]
    lr_axis = fig.axes[2].yaxis  # log scale: its minor labels (3e-3) were drawn larger than 7 pt
    fig.canvas.draw()
    assert {t.get_fontsize() for t in lr_axis.get_majorticklabels() + lr_axis.get_minorticklabels()
            if t.get_text()} == {7.0}


@pytest.mark.parametrize("text, message", [
    ('{"epoch": 1, "loss": 1, "acc": 0.5}\nnot json\n', r"log.jsonl: line 2: not valid JSON"),
    ('{"epoch": 1, "acc": 0.5}\n', r"log.jsonl: line 1: missing key 'loss'"),
    ('{"epoch": 1, "loss": "high", "acc": 0.5}\n', r"line 1: loss must be a number or null, got 'high'"),
    ("\n", r"log.jsonl: the training log has no epochs"),
])
def test_training_log_errors(tmp_path, text, message):
    (tmp_path / "log.jsonl").write_text(text)
    with pytest.raises(FileFormatError, match=message):
        read_training_log(tmp_path / "log.jsonl")


# ---------------------------------------------------------------------------- CLI
def test_missing_log_beside_ensemble_member_logs_names_them(tmp_path, capsys):
    """`spikelut train --ensemble 2 --log ens.jsonl` writes ens.member0.jsonl, ens.member1.jsonl:
    plotting ens.jsonl names them (in member order; other files are not listed)."""
    for name in ("ens.member1.jsonl", "ens.member0.jsonl", "ens.member10.jsonl",
                 "ens.memberx.jsonl", "other.member0.jsonl", "ens.member2.json"):
        write_log(tmp_path / name, LOG)
    log, out = tmp_path / "ens.jsonl", tmp_path / "c.png"
    assert main(["plot", "curves", str(log), "-o", str(out)]) == 1
    members = ", ".join(str(tmp_path / f"ens.member{m}.jsonl") for m in (0, 1, 10))
    assert capsys.readouterr().err == (
        f"spikelut plot: error: {log}: cannot read the training log: No such file or directory; "
        f"an ensemble logs each member to its own file: {members} (plot one of them)\n")
    assert not out.exists()
    # without member logs the message stays as it was
    with pytest.raises(FileFormatError) as e:
        read_training_log(tmp_path / "solo.jsonl")
    assert str(e.value) == f"{tmp_path / 'solo.jsonl'}: cannot read the training log: No such file or directory"


def test_cli_raster_names_come_from_model_option_only(fot, tmp_path, capsys):
    model, result, _ = fot
    out = tmp_path / "cli.png"
    assert main(["raster", str(result), "--sample", "2", "-o", str(out), "--size", "640x480",
                 "--model", str(model)]) == 0
    assert png_size(out) == (640, 480)
    assert f"wrote {out} (sample 2, model {model})" in capsys.readouterr().out
    # the model path recorded inside the result file is never opened (threat model)
    assert main(["raster", str(result), "-o", str(out), "--force"]) == 0
    assert capsys.readouterr().out == f"wrote {out} (sample 0)\n"


def test_cli_raster_refuses_a_model_that_does_not_fit(fot, tmp_path, capsys):
    model, result, _ = fot
    other = tmp_path / "other.h5"
    save_model(random_network(0, n_in=2, sizes=[3], k=2), other)
    out = tmp_path / "cli.png"
    assert main(["raster", str(result), "-o", str(out), "--model", str(other)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("spikelut raster: error: ") and "do not match the model's [3]" in err


@pytest.mark.parametrize("argv, message", [
    (["raster", "{result}", "--sample", "6", "-o", "{out}"], "sample 6 does not exist"),
    (["raster", "{missing}", "-o", "{out}"], "no such file"),
    (["raster", "{result}", "-o", "{out}", "--size", "big"], "--size expects WIDTHxHEIGHT"),
    (["plot", "curves", "{missing}", "-o", "{out}"], "cannot read the training log"),
])
def test_cli_errors(fot, tmp_path, capsys, argv, message):
    _, result, _ = fot
    fill = {"result": str(result), "out": str(tmp_path / "o.png"), "missing": str(tmp_path / "nope")}
    rc = main([a.format(**fill) for a in argv])
    err = capsys.readouterr().err
    assert rc == 1 and message in err and err.count("\n") == 1
    assert not (tmp_path / "o.png").exists()


def test_cli_plot_subcommands(fot, tmp_path, capsys):
    model, result, _ = fot
    write_log(tmp_path / "log.jsonl", LOG)
    for argv in (["rates", str(result)], ["table", str(result), "--model", str(model), "--layer", "latch"],
                 ["curves", str(tmp_path / "log.jsonl")]):
        out = tmp_path / f"{argv[0]}.png"
        assert main(["plot", *argv, "-o", str(out), "--size", "500x400", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["png"] == str(out)
        assert png_size(out) == (500, 400)


def test_plot_without_a_figure_is_a_usage_error(capsys):
    """Exit 2 with the usage, as a missing argument of any command (docs: exit status)."""
    with pytest.raises(SystemExit) as e:
        main(["plot"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: spikelut plot") and err.rstrip().endswith(
        "spikelut plot: error: the following arguments are required: {rates,table,curves,wiring}")


def test_plot_table_given_the_model_in_the_results_place_says_so(fot, tmp_path, capsys):
    model = fot[0]
    assert main(["plot", "table", str(model), "-o", str(tmp_path / "t.png")]) == 1
    assert capsys.readouterr().err == (f"spikelut plot: error: {model}: is a model file; plot table "
                                       f"takes the RESULT of spikelut simulate, then --model "
                                       f"MODEL.h5\n")
