"""UCR/UEA sets shipped in aeon: archive facts, training-only scaling, streaming codes, variable
length ("no data" padding changes no count), the missing-aeon message and one small run."""

import json
import sys

import numpy as np
import pytest

from helpers import available_simulator

from spikelut import ucr
from spikelut.cli import main
from spikelut.datasets import encode_dataset, load_dataset
from spikelut.errors import ToolError
from spikelut.io import load_spikes, save_spikes

try:
    import aeon  # noqa: F401
    HAVE_AEON = True
except ImportError:
    HAVE_AEON = False

needs_aeon = pytest.mark.skipif(not HAVE_AEON, reason="aeon not installed (pip install 'spikelut[ucr]')")


def _raw(name, split):
    """The split exactly as aeon's own loader reads it: list of [channels, L], labels."""
    from aeon.datasets import load_from_ts_file

    f = ucr.SETS[name]
    X, y = load_from_ts_file(str(ucr.aeon_data_dir() / f.folder / f"{f.file}_{split.upper()}.ts"))
    return [np.asarray(s, np.float64) for s in X], np.asarray(y).astype(str)


# ---------------------------------------------------------------------------- without aeon
def test_names_are_case_insensitive_and_listed_with_their_shapes(capsys):
    assert ucr.canonical("GUNPOINT") == "GunPoint" and ucr.canonical("japanesevowels_EQ") == "JapaneseVowels_eq"
    assert main(["encode", "--list", "--json"]) == 0
    rows = {d["name"]: d for d in json.loads(capsys.readouterr().out)["datasets"]}
    assert rows["JapaneseVowels"] == {"name": "JapaneseVowels", "kind": "sequence", "classes": 9,
                                      "shape": [29, 12], "train": 270, "test": 370, "length": "7-29",
                                      "channels": 12, "archive": "UEA", "needs": "spikelut[ucr]"}
    assert rows["GunPoint"]["shape"] == [150] and rows["GunPoint"]["length"] == "150"
    assert set(ucr.NAMES) <= set(rows)


def test_missing_aeon_is_one_line_naming_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "aeon", None)        # import aeon -> ImportError
    monkeypatch.setitem(sys.modules, "aeon.datasets", None)
    ucr._raw.cache_clear()
    try:
        with pytest.raises(ToolError) as e:
            load_dataset("italypowerdemand")
        assert str(e.value) == "dataset 'ItalyPowerDemand' needs aeon: pip install 'spikelut[ucr]'"
        assert main(["encode", "--dataset", "GunPoint", "-o", "x.h5"]) == 1
        err = capsys.readouterr().err
        assert err == "spikelut encode: error: dataset 'GunPoint' needs aeon: pip install 'spikelut[ucr]'\n"
    finally:
        ucr._raw.cache_clear()


def test_own_cycle_counts_count_only_each_samples_window():
    s = np.zeros((5, 2, 3), np.uint8)
    s[:, :, 0] = 1            # class 0 every cycle
    s[3:, :, 1] = 1           # class 1 from cycle 3 on
    s[:, :, 2] = 1            # not counted
    class_of = np.array([0, 1, -1])
    assert ucr.own_cycle_counts(s, class_of, 2, 1, [3, 5]).tolist() == [[2, 0], [4, 2]]
    assert ucr.own_cycle_counts(s, class_of, 2, 0, None).tolist() == [[5, 2], [5, 2]]


# ---------------------------------------------------------------------------- archive facts
@needs_aeon
@pytest.mark.parametrize("name", ucr.NAMES)
def test_splits_classes_lengths_and_channels_equal_the_archive(name):
    f = ucr.SETS[name]
    lengths = []
    for split, n in (("train", f.train), ("test", f.test)):
        ds = load_dataset(name.lower(), split=split)
        assert ds.name == name and ds.kind == "sequence" and ds.classes == f.classes
        assert len(ds) == n and ds.x.dtype == np.float32
        assert ds.x.shape == ((n, f.max_len) if f.channels == 1 else (n, f.max_len, f.channels))
        assert np.unique(ds.y).tolist() == list(range(f.classes))
        raw, labels = _raw(name, split)
        assert {s.shape[0] for s in raw} == {f.channels}
        assert [ds.meta["class_names"][c] for c in ds.y] == labels.tolist()
        lengths += ds.meta.get("lengths", [f.max_len] * n)
        assert lengths[-n:] == [s.shape[1] for s in raw]
    assert (min(lengths), max(lengths)) == (f.min_len, f.max_len)
    assert ("lengths" in ds.meta) == f.variable


@needs_aeon
def test_labels_are_ordered_numerically_or_alphabetically():
    assert load_dataset("PickupGestureWiimoteZ").meta["class_names"] == [str(i) for i in range(1, 11)]
    assert load_dataset("BasicMotions").meta["class_names"] == ["badminton", "running", "standing",
                                                                "walking"]


# ---------------------------------------------------------------------------- scaling
@needs_aeon
@pytest.mark.parametrize("name", ["ItalyPowerDemand", "BasicMotions", "JapaneseVowels"])
def test_scaling_uses_only_the_training_split(name, tmp_path):
    train_raw, _ = _raw(name, "train")
    test_raw, _ = _raw(name, "test")
    cat = np.concatenate(train_raw, axis=1)
    lo, hi = cat.min(axis=1), cat.max(axis=1)
    test_cat = np.concatenate(test_raw, axis=1)
    # the test split reaches outside the train range: its own statistics would give other constants
    assert (test_cat.min(axis=1) < lo).any() or (test_cat.max(axis=1) > hi).any()
    for split, raw in (("train", train_raw), ("test", test_raw)):
        ds = load_dataset(name, split=split)
        assert ds.meta["scale_lo"] == lo.tolist() and ds.meta["scale_hi"] == hi.tolist()
        x = ds.x.reshape(len(ds), ds.x.shape[1], -1)
        for i in (0, len(raw) - 1):
            L = raw[i].shape[1]
            want = np.clip((raw[i].T - lo) / (hi - lo), 0, 1).astype(np.float32)
            np.testing.assert_array_equal(x[i, :L], want)
            assert not x[i, L:].any()
    tr = load_dataset(name, split="train")
    xr = tr.x.reshape(len(tr), tr.x.shape[1], -1)
    assert xr.min(axis=(0, 1)).tolist() == [0.0] * len(lo) and xr.max(axis=(0, 1)).tolist() == [1.0] * len(lo)
    # the constants travel in the spike file's metadata
    sd = encode_dataset(name, "thermometer", None, split="test", limit=5, levels=4)
    save_spikes(tmp_path / "t.h5", sd.spikes, sd.labels, sd.meta)
    meta = load_spikes(tmp_path / "t.h5").meta
    assert ucr.meta_list(meta, "scale_lo") == lo.tolist() and ucr.meta_list(meta, "scale_hi") == hi.tolist()
    assert meta["dataset"] == name and meta["split"] == "test" and "min, max of the train split" in meta["scale"]


# ---------------------------------------------------------------------------- streaming
@needs_aeon
@pytest.mark.parametrize("coding,params", [("thermometer", {"levels": 4}), ("population", {"levels": 3}),
                                           ("delta", {"threshold": 0.05}),
                                           ("sigma_delta", {"threshold": 0.5})])
def test_multivariate_stream_one_step_per_cycle_channels_side_by_side(coding, params):
    from spikelut.coding import encode

    ds = load_dataset("BasicMotions", split="test")
    sd = encode_dataset("BasicMotions", coding, None, split="test", **params)
    m = sd.meta["channels_per_value"]
    T, B, C = sd.spikes.shape
    assert (T, B, C) == (100, 40, 6 * m) and sd.meta["steps"] == 100
    for c in range(6):        # channel c of the series owns spike channels c*m .. c*m+m-1
        alone = encode(ds.x[:, :, c], coding, None, sequence=True, **params)
        np.testing.assert_array_equal(sd.spikes[:, :, c * m:(c + 1) * m], alone)
    # a stream: the first t cycles of spikes come from the first t values only
    head = encode(ds.x[:, :37], coding, None, sequence=True, **params)
    np.testing.assert_array_equal(sd.spikes[:37], head)


# ---------------------------------------------------------------------------- variable length
def _random_recurrent_net(n_in, seed):
    from spikelut.api import build

    cfg = {"seed": seed, "inputs": n_in,
           "layers": [{"name": "mem", "nodes": 24, "k": 4,
                       "taps": [{"from": "input", "count": 2}, {"from": "self", "count": 2, "delay": 1}]},
                      {"name": "out", "nodes": 9, "k": 3, "taps": [{"from": "mem", "count": 3}]}],
           "readout": {"classes": 9}}
    return build(cfg)


@needs_aeon
def test_padding_is_no_data_and_padded_cycles_change_no_count():
    from spikelut.api import simulate

    sd = encode_dataset("JapaneseVowels", "thermometer", None, split="test", limit=60, levels=4)
    lengths = np.array(sd.meta["lengths"])
    assert len(lengths) == 60 and lengths.min() < 29 and sd.spikes.shape == (29, 60, 48)
    t = np.arange(29)[:, None]
    assert not sd.spikes[t >= lengths].any()                 # "no data": every channel 0
    assert sd.spikes[t < lengths].any(axis=-1).mean() > 0.5   # real cycles carry the series
    net = _random_recurrent_net(48, seed=3)
    ro = net.readout

    def counts(x):
        out = simulate(net, x, record="readout").to_numpy().layer_spikes[ro.layer]
        return ucr.own_cycle_counts(out, ro.class_of, ro.classes, ro.start, lengths), out

    ref, out = counts(sd.spikes)
    # garbage instead of "no data" in the padded cycles, and 7 extra padded cycles
    noisy = np.concatenate([sd.spikes, np.zeros((7, 60, 48), np.uint8)])
    rng = np.random.default_rng(0)
    pad = np.arange(36)[:, None] >= lengths
    noisy[pad] = rng.integers(0, 2, (int(pad.sum()), 48), dtype=np.uint8)
    got, out2 = counts(noisy)
    np.testing.assert_array_equal(got, ref)
    # the plain readout (every cycle) does see the padded cycles: the window is what protects
    plain = lambda o: ucr.own_cycle_counts(o, ro.class_of, ro.classes, ro.start, None)  # noqa: E731
    assert (plain(out) != plain(out2)).any()
    assert ucr.own_cycle_accuracy(net, noisy, sd.labels, lengths) == ucr.own_cycle_accuracy(
        net, sd.spikes, sd.labels, lengths)


@needs_aeon
def test_chunked_encoding_blanks_each_chunk_with_its_own_lengths():
    from spikelut.coding import encode
    from spikelut.datasets import load_dataset, plan_encoding

    plan = plan_encoding("JapaneseVowels", "delta", None, split="test", limit=50, threshold=0.05)
    lengths = np.array(plan.meta["lengths"])
    assert len(lengths) == 50 and lengths.min() < 29
    whole = plan.encode(0, 50)
    np.testing.assert_array_equal(np.concatenate([plan.encode(0, 20), plan.encode(20, 50)], axis=1), whole)
    pad = np.arange(29)[:, None] >= lengths
    assert not whole[pad].any()
    # without the rule, delta would spike in the padding (the value drops to 0 after the end)
    raw = encode(load_dataset("JapaneseVowels", split="test").x[:50], "delta", None, sequence=True,
                 threshold=0.05)
    assert raw[pad].any() and np.array_equal(raw[~pad], whole[~pad])


@needs_aeon
def test_equal_length_variants_and_static_codes_keep_every_cycle():
    sd = encode_dataset("PickupGestureWiimoteZ_eq", "delta", None, split="train", limit=4)
    assert sd.spikes.shape[0] == 361 and "lengths" not in sd.meta
    st = encode_dataset("JapaneseVowels", "rate_even", 3, split="train", limit=4, sequence=False)
    assert st.spikes.shape == (3, 4, 29 * 12) and st.meta["lengths"] == [20, 26, 22, 20]


# ---------------------------------------------------------------------------- end to end
RUN = """
name = "ipd_tiny"
seed = 0
inputs = 8
[data]
dataset = "ItalyPowerDemand"
limit_test = 200
val_fraction = 0.25
[coding]
name = "thermometer"
levels = 8
[[layers]]
name = "mem"
nodes = 48
k = 4
taps = [{{from = "input", count = 2}}, {{from = "self", count = 2, delay = 1}}]
[[layers]]
name = "out"
nodes = 8
k = 4
taps = [{{from = "mem", count = 4}}]
[readout]
classes = 2
[train]
epochs = 20
batch_size = 10
lr = 0.03
keep = "best"
[rtl]
top = "ipd_core"
simulator = "{sim}"
synth = false
verify_samples = 40
[run]
raster_samples = 0
"""


@needs_aeon
@pytest.mark.rtl
def test_small_italy_power_demand_run_trains_simulates_and_verifies(tmp_path):
    from spikelut.io import load_model
    from spikelut.pipeline import run_pipeline

    sim = available_simulator()
    cfg = tmp_path / "ipd.toml"
    cfg.write_text(RUN.format(sim=sim or "iverilog"))
    out = tmp_path / "out"
    lines = []
    if sim is None:
        with pytest.raises(ToolError):
            run_pipeline(cfg, out, progress=False, echo=lines.append)
        pytest.skip("no Verilog simulator: trained and simulated, RTL not verified")
    rep = run_pipeline(cfg, out, progress=False, echo=lines.append)
    assert rep["cosim"]["ok"] is True and rep["cosim"]["bit_mismatches"] == 0
    assert rep["stages"]["encode"]["train_samples"] == 67 and rep["test_samples"] == 200
    assert rep["cycles"] == 24 and rep["luts"] == 56
    data = load_spikes(out / "data" / "test.h5")
    net = load_model(out / "model.h5")
    assert data.meta["dataset"] == "ItalyPowerDemand" and data.spikes.shape == (24, 200, 8)
    # the pipeline's test accuracy is the readout over every cycle: own_cycle_accuracy agrees
    assert ucr.own_cycle_accuracy(net, data.spikes, data.labels) == rep["accuracy"]
    assert rep["accuracy"] > 0.6        # two classes; 20 epochs of 56 LUTs get well above chance
