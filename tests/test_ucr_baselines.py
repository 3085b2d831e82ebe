"""Thermometer thresholds at the training split's quantiles (spikelut.ucr.quantile_thresholds), the
``thresholds`` command of demos/ucr_baselines.py and its ``select`` going on past a failing variant."""

from pathlib import Path

import numpy as np
import pytest

from spikelut import ucr
from spikelut.coding import thermometer
from spikelut.errors import ConfigError

from helpers import load_demo

DEMOS = Path(__file__).resolve().parent.parent / "demos"

try:
    import aeon  # noqa: F401
    HAVE_AEON = True
except ImportError:
    HAVE_AEON = False

needs_aeon = pytest.mark.skipif(not HAVE_AEON, reason="aeon not installed (pip install 'spikelut[ucr]')")


def _fake(monkeypatch, train, test):
    """Make ItalyPowerDemand's raw splits the given [1, L] series (no aeon needed)."""
    raw = {"train": ([np.array([s], np.float64) for s in train], np.array(["1"] * len(train))),
           "test": ([np.array([s], np.float64) for s in test], np.array(["1"] * len(test)))}
    monkeypatch.setattr(ucr, "_raw", lambda name: raw)


def test_thresholds_sit_between_distinct_training_values_at_the_quantiles(monkeypatch):
    # train values 0, 2, 4, 6, 8, 10 scale to 0, .2, .4, .6, .8, 1 (min 0, max 10)
    _fake(monkeypatch, [[0, 2, 4], [6, 8, 10]], [[100, -100]])
    # quantiles (l + 1/2) / 3 = 1/6, 1/2, 5/6 ("higher"): .2, .6, 1.0 -> midpoints .1, .5, .9
    th = ucr.quantile_thresholds("italypowerdemand", 3)
    assert th == pytest.approx([0.1, 0.5, 0.9])
    # the test split's values (far outside) change nothing: only training values are read
    _fake(monkeypatch, [[0, 2, 4], [6, 8, 10]], [[5, 5]])
    assert ucr.quantile_thresholds("ItalyPowerDemand", 3) == th


def test_repeated_values_merge_thresholds_and_the_minimum_gets_none(monkeypatch):
    # scaled: 0 (x5), .5 (x2), 1 (x1): quantiles of 4 levels = 0, 0, .5, 1 -> thresholds .25, .75
    _fake(monkeypatch, [[0, 0, 0, 0, 0, 1, 1, 2]], [[0]])
    assert ucr.quantile_thresholds("ItalyPowerDemand", 4) == [0.25, 0.75]


def test_bad_levels_and_names_are_one_line_errors():
    with pytest.raises(ConfigError, match=r"^quantile thresholds: levels must be an integer >= 1, got 0$"):
        ucr.quantile_thresholds("ItalyPowerDemand", 0)
    with pytest.raises(ConfigError, match=r"^unknown UCR/UEA dataset 'Nope'; choose one of ACSF1, "):
        ucr.quantile_thresholds("Nope", 4)


@needs_aeon
def test_real_thresholds_split_the_training_values_evenly():
    from spikelut.datasets import load_dataset

    th = ucr.quantile_thresholds("ACSF1", 16)
    assert len(th) == 16 and all(a < b for a, b in zip(th, th[1:]))
    x = load_dataset("ACSF1", split="train").x            # [100, 1460], scaled as encoded
    on = thermometer(x, steps=1460, thresholds=tuple(th), sequence=True)   # [T, B, 16]
    frac = on.reshape(-1, 16).mean(axis=0)
    # channel l is on for about 1 - (l + 1/2) / 16 of the values (float32 ties move it a little)
    assert np.abs(frac - (1 - (np.arange(16) + 0.5) / 16)).max() < 0.01
    # uniform thresholds leave most channels nearly constant on this set
    uni = thermometer(x, steps=1460, levels=16, sequence=True).reshape(-1, 16).mean(axis=0)
    assert (uni < 0.01).sum() >= 10


def test_thresholds_command_prints_a_toml_line(monkeypatch, capsys):
    # scaled 0, .25, .5, .75, 1 (exact in float32): quantiles 1/6, 1/2, 5/6 -> .25, .5, 1
    _fake(monkeypatch, [[0, 2, 4], [6, 8]], [[0]])
    load_demo(DEMOS, "ucr_baselines").main(["thresholds", "ItalyPowerDemand", "--levels", "3"])
    assert capsys.readouterr().out == "thresholds = [0.125, 0.375, 0.875]\n"


SMALL = """
name = "small"
seed = 0
inputs = 4
[data]
dataset = "ItalyPowerDemand"
[coding]
name = "thermometer"
levels = 4
[[layers]]
name = "front"
nodes = 16
k = 4
taps = [{ from = "input", count = 4, delay = [0, 4, 8, 12] }]
[readout]
classes = 2
start = 23
[train]
epochs = 2
batch_size = 16
"""


@needs_aeon
def test_select_reports_a_failing_variant_and_goes_on(tmp_path, capsys):
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    rows = load_demo(DEMOS, "ucr_baselines").select(
        str(cfg), ["train.relaxation=nope", "coding.levels=2"], folds=1)
    assert [r["variant"] for r in rows] == ["(config)", "train.relaxation=nope", "coding.levels=2"]
    assert rows[1]["error"] == ("[train]: unknown relaxation 'nope'; choose one of bipolar, dlut, "
                                "dlut_fixed, mlp, multilinear, walsh") and rows[1]["fold"] == 0
    assert "error" not in rows[2] and rows[2]["luts"] == 16 and rows[2]["folds"] == 1
    assert 0 <= rows[2]["val_acc_last"] <= 1 and 0 <= rows[0]["train_acc_last"] <= 1
    assert len(capsys.readouterr().out.splitlines()) == 3          # one JSON line per variant


@needs_aeon
def test_select_scores_an_ensemble_variant_as_its_merged_circuit(tmp_path, capsys):
    from spikelut.api import evaluate
    from spikelut.config import load_config
    from spikelut.datasets import encode_dataset
    from spikelut.ensemble import train_ensemble
    from spikelut.pipeline import RunSettings
    from spikelut.train.trainer import holdout

    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    rows = load_demo(DEMOS, "ucr_baselines").select(str(cfg), ["train.ensemble=2"], folds=1)
    assert rows[1]["luts"] == 2 * rows[0]["luts"]
    # the same numbers by hand: two members (seeds 0 and 1) merged, scored on the holdout
    c = load_config(cfg)
    c["train"]["ensemble"] = 2
    s = RunSettings.from_config(c)
    sd = encode_dataset(s.dataset, s.coding, s.steps, split="train", seed=s.data_seed,
                        **s.coding_params)
    c["inputs"] = int(sd.spikes.shape[2])
    (x, y), (xv, yv) = holdout(sd.spikes, sd.labels, 0.25, 0)
    net = train_ensemble(c, (x, y), (xv, yv)).net  # each member keeps its best epoch on it
    assert rows[1]["val_acc_last"] == round(evaluate(net, xv, yv).accuracy, 4)
    assert rows[1]["train_acc_last"] == round(evaluate(net, x, y).accuracy, 4)
    members = train_ensemble(c, (x, y), (xv, yv)).member_nets
    assert rows[1]["member_val_acc"] == [round(evaluate(n, xv, yv).accuracy, 4) for n in members]
    assert "member_val_acc" not in rows[0]


def test_select_variant_keys_reach_the_seed_layers_and_tables():
    mod = load_demo(DEMOS, "ucr_baselines")
    cfg = {"seed": 0, "layers": [{"name": "front", "nodes": 8}, {"name": "out", "nodes": 4}]}
    for part in ("seed=3", "nodes=16", "out.nodes=6", "train.epochs=40", "coding.levels=null"):
        mod._set(cfg, part)
    assert cfg == {"seed": 3, "layers": [{"name": "front", "nodes": 16}, {"name": "out", "nodes": 6}],
                   "train": {"epochs": 40}, "coding": {}}
    # null removes the key wherever KEY=VALUE would set it: first layer, named layer, table
    cfg["layers"][1]["k"] = 6
    for part in ("nodes=null", "out.k=null", "train.epochs=null"):
        mod._set(cfg, part)
    assert cfg["layers"] == [{"name": "front"}, {"name": "out", "nodes": 6}] and cfg["train"] == {}
    for bad in ("nodes", "rec.nodes=4", "a.b.c=1", "=3"):
        with pytest.raises(SystemExit) as e:
            mod._set(cfg, bad)
        assert str(e.value) == (
            f"ucr_baselines: error: variant part {bad!r}: expected KEY=VALUE with KEY a "
            f"first-layer key, seed, or SECTION.KEY with SECTION a layer name or a table of the "
            f"config")
