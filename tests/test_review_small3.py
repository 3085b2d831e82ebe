"""Leftovers of the reviews: peers' test file cut from the training file, stale raster figures of
`spikelut run`, layer names that `from = ...` reserves."""

import re

import numpy as np
import pytest
from helpers import one_error_line, run
from test_pipeline import TINY, needs_sim  # the tiny run of tests/test_pipeline.py

from spikelut import peers
from spikelut.config import build_network, parse_config
from spikelut.datasets import make_first_of_two
from spikelut.errors import ConfigError
from spikelut.io import save_spikes
from spikelut.report import render_html


# ------------------------------------------------------------- peers: test samples of the training file
def _spikes(seed, n):
    rng = np.random.default_rng(seed)
    return (rng.random((40, n, 32)) < 0.3).astype(np.uint8), np.arange(n) % 10


@pytest.mark.parametrize("cut", ["prefix", "shuffled subset"])
def test_peers_refuses_a_test_file_cut_from_the_training_file(tmp_path, capsys, cut):
    # only a test file equal to the whole training file was refused: its first 10 samples (spikelut
    # encode --split train --limit 10), or any 10 of them, scored the systems on what they trained on
    x, y = _spikes(0, 20)
    idx = np.arange(10) if cut == "prefix" else np.random.default_rng(1).permutation(20)[:10]
    save_spikes(tmp_path / "train.h5", x, y)
    save_spikes(tmp_path / "test.h5", x[:, idx], y[idx])
    line = one_error_line(capsys, "peers", "peers", "--systems", "spikelut", "--data",
                          tmp_path / "train.h5", "--test", tmp_path / "test.h5", "--epochs", "1",
                          "--no-progress")
    assert line == (f"spikelut peers: error: --test {tmp_path / 'test.h5'}: 10 of its 10 samples "
                    f"equal training samples of --data {tmp_path / 'train.h5'} bit for bit "
                    f"(samples drawn apart would repeat about 0); give a test file encoded from "
                    f"the test split (spikelut encode ... --split test)")


def test_peers_counts_overlap_after_limit_and_allows_one_coincidence(tmp_path):
    x, y = _spikes(0, 20)
    xt, yt = _spikes(2, 10)
    save_spikes(tmp_path / "train.h5", x, y)
    one = xt.copy()
    one[:, 3] = x[:, 7]  # one repeat in real-valued data: a coincidence, not a leak
    save_spikes(tmp_path / "one.h5", one, yt)
    split = peers.load_split(tmp_path / "train.h5", tmp_path / "one.h5", val_fraction=0.25)
    assert split.sizes()["test"] == 10
    two = one.copy()
    two[:, 4] = x[:, 1]
    save_spikes(tmp_path / "two.h5", two, yt)
    with pytest.raises(ConfigError, match=r": 2 of its 10 samples equal training samples of "):
        peers.load_split(tmp_path / "train.h5", tmp_path / "two.h5", val_fraction=0.25)
    # --limit 4 keeps the first 4 samples of each file: the check counts those (test sample 3,
    # x[:, 7], no longer meets its twin; sample 4 is cut)
    assert peers.load_split(tmp_path / "train.h5", tmp_path / "two.h5", val_fraction=0.25,
                            limit=4).sizes()["test"] == 4


def test_peers_accepts_repeats_that_the_task_itself_makes():
    # first_of_two has 108 distinct spike trains: every test sample equals training samples, and
    # so does every training sample; the rule must not refuse the task's real test split
    x, _ = make_first_of_two(1000, seed=[0, 0])
    xt, _ = make_first_of_two(200, seed=[0, 1])
    assert peers.overlap_with_training(x, xt) == (200, 200.0, 201)


def test_overlap_with_training_counts_exactly():
    x = np.zeros((3, 6, 2), np.uint8)
    x[0, :, 0] = [0, 1, 1, 0, 0, 0]
    x[1, :, 1] = [0, 0, 1, 1, 0, 0]  # samples 0, 4, 5 are one spike train: 3 repeats of 6
    t = np.stack([x[:, 0], x[:, 1], 1 - x[:, 2]], axis=1)
    # expected 3/6 of 3 test samples; sd sqrt(3 * 0.5 * 0.5) = 0.87; allowed int(1.5 + 3.46) + 1
    assert peers.overlap_with_training(x, t) == (2, 1.5, 5)


# ------------------------------------------------------------- run: rasters of this run only
@pytest.mark.rtl
@needs_sim
def test_rerun_with_fewer_raster_samples_removes_the_old_figures(tmp_path, capsys):
    cfg = tmp_path / "tiny.toml"
    out = tmp_path / "out"
    cfg.write_text(TINY.replace("raster_samples = 2", "raster_samples = 3"))
    assert run(capsys, "run", cfg, "-o", out, "--no-progress")[0] == 0
    (out / "plots" / "raster_notes.png").write_bytes(b"the user's")  # not a raster of the run
    assert sorted(p.name for p in (out / "plots").glob("raster_*")) == [
        "raster_0.png", "raster_1.png", "raster_2.png", "raster_notes.png"]
    cfg.write_text(TINY.replace("raster_samples = 2", "raster_samples = 1"))
    assert run(capsys, "run", cfg, "-o", out, "--no-progress")[0] == 0
    assert sorted(p.name for p in (out / "plots").glob("raster_*")) == [
        "raster_0.png", "raster_notes.png"]
    page = (out / "report.html").read_text()
    assert re.findall(r'alt="(raster_[^"]*)"', page) == ["raster_0"]


def test_report_lists_rasters_in_sample_order(tmp_path):
    # sorted by name, raster_10 came before raster_2
    plots = tmp_path / "plots"
    plots.mkdir()
    for i in (0, 1, 2, 10, 11):
        (plots / f"raster_{i}.png").write_bytes(b"\x89PNG")
    (plots / "raster_old.png").write_bytes(b"\x89PNG")
    page = render_html({}, tmp_path)
    assert re.findall(r'alt="(raster_[^"]*)"', page) == [
        "raster_0", "raster_1", "raster_2", "raster_10", "raster_11"]


# ------------------------------------------------------------- config: names from = ... reserves
LAYERS = """
inputs = 2
[[layers]]
name = "{name}"
nodes = 2
k = 2
taps = [{{from = "input", count = 2}}]
[[layers]]
name = "out"
nodes = 2
k = 1
taps = [{{from = "input", count = 1}}]
[readout]
classes = 2
"""


@pytest.mark.parametrize("name", ["input", "self", "own"])
def test_layer_names_that_from_reserves_are_refused(tmp_path, capsys, name):
    # a layer named "input" could not be tapped by name: from = "input" in the next layer read
    # the network's inputs instead, silently
    message = (f"layer 0: name '{name}' is reserved (\"input\", \"self\" and \"own\" are tap "
               f"sources in from = ...); give the layer another name")
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        build_network(parse_config(LAYERS.format(name=name)))
    cfg = tmp_path / "c.toml"
    cfg.write_text(LAYERS.format(name=name))
    line = one_error_line(capsys, "init", "init", cfg, "-o", tmp_path / "m.h5")
    assert line == f"spikelut init: error: {cfg}: {message}"
    assert not (tmp_path / "m.h5").exists()


def test_other_layer_names_still_build():
    net = build_network(parse_config(LAYERS.format(name="Input")))  # names are case-sensitive
    assert [layer.name for layer in net.layers] == ["Input", "out"]
