"""Difference channels (spikelut.differences, [data] differences, encode --differences) and second
differences ([data] second_differences, encode --second-differences): the rules on small arrays,
training-only scaling, variable-length padding, the channel order, the stored record, and the
refusals."""

import numpy as np
import pytest

from spikelut.cli import main
from spikelut.datasets import encode_dataset, load_dataset
from spikelut.differences import (add_differences, check_lags, difference_range, raw_differences,
                                  read_record)
from spikelut.errors import ConfigError, FileFormatError, ShapeError
from spikelut.pipeline import RunSettings

try:
    import aeon  # noqa: F401
    HAVE_AEON = True
except ImportError:  # pragma: no cover - the ucr extra is installed in CI
    HAVE_AEON = False

needs_aeon = pytest.mark.skipif(not HAVE_AEON, reason="aeon not installed (pip install 'spikelut[ucr]')")


def test_rule_lag_major_on_two_channels():
    x = np.zeros((1, 5, 2), np.float32)
    x[0, :, 0] = [0.0, 0.25, 0.5, 0.5, 1.0]
    x[0, :, 1] = [1.0, 0.0, 1.0, 0.0, 1.0]
    d = raw_differences(x, [1, 2])
    assert d.shape == (1, 5, 4)
    assert d[0, :, 0].tolist() == [0.0, 0.25, 0.25, 0.0, 0.5]     # lag 1, channel 0
    assert d[0, :, 1].tolist() == [0.0, -1.0, 1.0, -1.0, 1.0]     # lag 1, channel 1
    assert d[0, :, 2].tolist() == [0.0, 0.25, 0.5, 0.25, 0.5]     # lag 2, channel 0: x[t] - x[max(t-2, 0)]
    assert d[0, :, 3].tolist() == [0.0, -1.0, 0.0, 0.0, 0.0]      # lag 2, channel 1
    out = add_differences(x, [1, 2], lo=[0.0, -1.0, 0.0, -1.0], hi=[0.5, 1.0, 0.5, 1.0])
    assert out.shape == (1, 5, 6)
    assert np.array_equal(out[..., :2], x)                        # the values come first, unchanged
    assert out[0, :, 2].tolist() == [0.0, 0.5, 0.5, 0.0, 1.0]     # (d - lo) / (hi - lo)
    assert out[0, :, 3].tolist() == [0.5, 0.0, 1.0, 0.0, 1.0]
    # clipped to [0, 1]; a constant channel (hi == lo) divides by 1
    assert add_differences(x[..., :1], [1], lo=[0.1], hi=[0.2])[0, :, 1].tolist() == [0.0, 1.0, 1.0, 0.0, 1.0]
    assert add_differences(x[..., :1], [1], lo=[0.0], hi=[0.0])[0, :, 1].tolist() == [0.0, 0.25, 0.25, 0.0, 0.5]


def test_range_counts_own_cycles_only():
    # sample 1 ends after 2 cycles: its padding (a fall to 0, then zeros) must not move the range
    x = np.array([[0.0, 0.5, 1.0, 1.0], [0.5, 1.0, 0.0, 0.0]], np.float32)
    lo_all, _ = difference_range(x, [1])
    lo_own, hi_own = difference_range(x, [1], lengths=[4, 2])
    own = np.array([0.0, 0.5, 0.5, 0.0, 0.0, 0.5])
    assert lo_own.tolist() == [np.quantile(own, 0.02)] and hi_own.tolist() == [np.quantile(own, 0.98)]
    assert lo_all[0] < lo_own[0]                                  # the padded fall of -1.0 counted


@pytest.mark.parametrize("lags, length, msg", [
    ([0], None, "differences: lags must be integers >= 1 (cycles), got [0]"),
    ([1, 1], None, "differences: lags repeat: [1, 1]; give each lag once"),
    ("1", None, "differences: give a list of lags in cycles, e.g. [1], got '1'"),
    ([1.5], None, "differences: give a list of lags in cycles, e.g. [1], got [1.5]"),
    ([True], None, "differences: give a list of lags in cycles, e.g. [1], got [True]"),
    (list(range(1, 10)), None, "differences: at most 8 lags, got 9"),
    ([3], 3, "differences: lag 3 is not shorter than the sequences (3 cycles); use lags below 3"),
    ([100000], 40, "differences: lag 100000 is not shorter than the sequences (40 cycles); use "
                   "lags below 40"),
    ([65536], None, "differences: lag 65536 reaches 65536 cycles back, more than the limit of "
                    "65535; use smaller lags"),
    # a one-cycle sequence has no lag to suggest (was "use lags below 1")
    ([1], 1, "differences: the sequences have 1 cycle, too short for differences (a lag of 1 "
             "needs at least 2 cycles); leave differences out"),
])
def test_bad_lags(lags, length, msg):
    with pytest.raises(ConfigError) as e:
        check_lags(lags, length)
    assert str(e.value) == msg


def test_mnist1d_values_unchanged_differences_appended():
    plain = encode_dataset("mnist1d", "thermometer", None, split="test", limit=6, levels=4)
    both = encode_dataset("mnist1d", "thermometer", None, split="test", limit=6, levels=4,
                          differences=[1, 3])
    assert plain.spikes.shape == (40, 6, 4) and both.spikes.shape == (40, 6, 12)
    assert np.array_equal(both.spikes[:, :, :4], plain.spikes)
    # the constants are the TRAIN split's, whatever split or limit is encoded
    lo, hi = difference_range(load_dataset("mnist1d", "train").x, [1, 3])
    rec = both.meta["differences"]
    assert rec["lags"] == [1, 3] and rec["lo"] == lo.tolist() and rec["hi"] == hi.tolist()
    x = load_dataset("mnist1d", "test").x[:6]
    from spikelut.coding import thermometer
    diff = add_differences(x, [1, 3], lo, hi)[:, :, 1:]
    expect = np.asarray(thermometer(diff, 40, levels=4, sequence=True))
    assert np.array_equal(both.spikes[:, :, 4:], expect)


@needs_aeon
def test_ucr_test_split_uses_training_constants():
    tr = encode_dataset("ItalyPowerDemand", "thermometer", None, split="train", levels=4, differences=[1])
    te = encode_dataset("ItalyPowerDemand", "thermometer", None, split="test", levels=4, differences=[1])
    assert tr.spikes.shape == (24, 67, 8) and te.spikes.shape == (24, 1029, 8)
    assert te.meta["differences"] == tr.meta["differences"]
    lo, hi = difference_range(load_dataset("ItalyPowerDemand", "train").x, [1])
    assert tr.meta["differences"]["lo"] == lo.tolist() and tr.meta["differences"]["hi"] == hi.tolist()


@needs_aeon
def test_variable_length_padding_stays_blank():
    sd = encode_dataset("JapaneseVowels", "thermometer", None, split="train", limit=20, levels=2,
                        differences=[1])
    lengths = load_dataset("JapaneseVowels", "train").meta["lengths"][:20]
    T, B, C = sd.spikes.shape
    assert C == 12 * 2 * 2                                        # 12 channels + 12 differences, 2 levels
    for b, n in enumerate(lengths):
        assert not sd.spikes[n:, b].any()                         # "no data" after the end, every channel


def test_run_settings_and_cli(tmp_path, capsys):
    cfg = {"data": {"dataset": "mnist1d", "differences": [1, 2]}}
    s = RunSettings.from_config(cfg)
    assert s.differences == (1, 2) and s.encode_args()["differences"] == (1, 2)
    with pytest.raises(ConfigError) as e:
        RunSettings.from_config({"data": {"dataset": "mnist1d", "differences": [0]}})
    assert str(e.value) == "[data] differences: lags must be integers >= 1 (cycles), got [0]"
    out = tmp_path / "m.h5"
    assert main(["encode", "--dataset", "mnist1d", "--coding", "thermometer", "--param", "levels=2",
                 "--limit", "3", "--differences", "1,2", "-o", str(out)]) == 0
    assert "40 cycles x 3 samples x 6 channels" in capsys.readouterr().out
    assert main(["encode", "--dataset", "mnist1d", "--differences", "x", "-o", str(tmp_path / "n.h5")]) == 1
    assert capsys.readouterr().err == ("spikelut encode: error: --differences: give lags in cycles as a "
                                       "comma list, e.g. 1 or 1,4; got 'x'\n")
    assert main(["encode", "--dataset", "mnist5k", "--coding", "rate", "--steps", "2", "--limit", "2",
                 "--differences", "1", "-o", str(tmp_path / "n.h5")]) == 1
    assert capsys.readouterr().err == (
        "spikelut encode: error: differences: dataset mnist5k is images, not sequences; differences "
        "need a sequence dataset fed one value per cycle; drop differences\n")
    # fed one value per cycle, an image is still no sequence (the message said "set sequence=true")
    assert main(["encode", "--dataset", "mnist5k", "--param", "sequence=true", "--limit", "2",
                 "--differences", "1", "-o", str(tmp_path / "n.h5")]) == 1
    assert capsys.readouterr().err == (
        "spikelut encode: error: differences: dataset mnist5k is images, not sequences; differences "
        "need a sequence dataset fed one value per cycle; drop differences\n")


def test_spike_datasets_refuse_differences():
    with pytest.raises(ConfigError) as e:
        encode_dataset("first_of_two", None, None, limit=2, differences=[1])
    assert str(e.value) == ("differences: dataset first_of_two is spikes already (no values to take "
                            "differences of); drop differences")


def _run_config(inputs: int) -> dict:
    return {"seed": 0, "inputs": inputs,
            "data": {"dataset": "mnist1d", "limit_train": 30, "limit_test": 10, "differences": [1]},
            "coding": {"name": "thermometer", "levels": 2},
            "layers": [{"name": "out", "nodes": 10, "k": 2, "taps": [{"from": "input", "count": 2}]}],
            "readout": {"classes": 10}, "train": {"epochs": 1, "batch_size": 10}}


def test_run_records_the_encoding_and_names_a_width_mismatch(tmp_path):
    from spikelut.io import load_model
    from spikelut.pipeline import Pipeline

    p = Pipeline(_run_config(4), tmp_path / "run", progress=False, echo=lambda line: None)
    p.out.mkdir(parents=True)
    p._encode()
    p._train()
    rec = load_model(tmp_path / "run" / "model.h5").meta["data"]
    test = load_spikes_meta(tmp_path / "run" / "data" / "test.h5")
    assert rec["dataset"] == "mnist1d" and rec["coding"] == "thermometer" and rec["steps"] == 40
    assert rec["params"]["levels"] == 2
    assert rec["differences"]["lags"] == [1] and rec["differences"]["lo"] == test["lo"]
    bad = Pipeline(_run_config(2), tmp_path / "bad", progress=False, echo=lambda line: None)
    bad.out.mkdir(parents=True)
    bad._encode()
    with pytest.raises(ConfigError) as e:
        bad._train()
    assert str(e.value) == ("inputs = 2, but the data have 4 channels: 2 for the values and 2 for "
                            "[data] differences [1]; set inputs = 4")


def load_spikes_meta(path) -> dict:
    import json

    from spikelut.io import load_spikes
    meta = load_spikes(path).meta["differences"]
    return json.loads(meta) if isinstance(meta, str) else meta


# ----------------------------------------------------------------------------- second differences

def test_second_difference_rule_and_edge_clamping():
    x = np.array([[0.0, 1.0, 4.0, 9.0, 16.0]], np.float32)       # t ** 2: a constant bend of 2
    assert raw_differences(x, [], second=[1])[0, :, 0].tolist() == [0.0, 1.0, 2.0, 2.0, 2.0]
    # L = 2: t < 2 reads x[0] twice (x[t] - x[0]); t < 4 reads x[0] as x[t - 4]: 9 - 2 * 1 + 0
    assert raw_differences(x, [], second=[2])[0, :, 0].tolist() == [0.0, 1.0, 4.0, 7.0, 8.0]
    # first then second differences, each lag-major, on two channels
    x2 = np.stack([x[0], 16.0 - x[0]], axis=1)[None]              # [1, 5, 2]
    d = raw_differences(x2, [1], second=[1, 2])
    assert d.shape == (1, 5, 6)
    assert d[0, :, 0].tolist() == [0.0, 1.0, 3.0, 5.0, 7.0]       # lag 1, channel 0
    assert d[0, :, 1].tolist() == [0.0, -1.0, -3.0, -5.0, -7.0]   # lag 1, channel 1
    assert d[0, :, 2].tolist() == [0.0, 1.0, 2.0, 2.0, 2.0]       # second, lag 1, channel 0
    assert d[0, :, 3].tolist() == [0.0, -1.0, -2.0, -2.0, -2.0]   # second, lag 1, channel 1
    assert d[0, :, 4].tolist() == [0.0, 1.0, 4.0, 7.0, 8.0]       # second, lag 2, channel 0
    assert d[0, :, 5].tolist() == [0.0, -1.0, -4.0, -7.0, -8.0]   # second, lag 2, channel 1
    # without second lags every function gives what it gave before
    assert np.array_equal(raw_differences(x2, [1, 2], second=()), raw_differences(x2, [1, 2]))
    lo, hi = difference_range(x2, [1], second=[1, 2])
    assert lo.shape == hi.shape == (6,)
    assert hi.tolist() == np.quantile(d[0].astype(np.float64), 0.98, axis=0).tolist()
    out = add_differences(x2, [1], lo=[0, -8, 0, -2, 0, -8], hi=[8, 0, 2, 0, 8, 0], second=[1, 2])
    assert out.shape == (1, 5, 8)
    assert np.array_equal(out[..., :2], x2)                       # values | first | second
    assert out[0, :, 2].tolist() == [0.0, 0.125, 0.375, 0.625, 0.875]
    assert out[0, :, 4].tolist() == [0.0, 0.5, 1.0, 1.0, 1.0]
    assert out[0, :, 7].tolist() == [1.0, 0.875, 0.5, 0.125, 0.0]
    with pytest.raises(ConfigError) as e:
        add_differences(x2, [1], lo=[0, 0], hi=[1, 1], second=[1])
    assert str(e.value) == ("differences: lo and hi need 4 values (channels x (lags + second lags), "
                            "first then second differences, each lag-major), got 2 and 2")


@pytest.mark.parametrize("lags, length, msg", [
    ([0], None, "second_differences: lags must be integers >= 1 (cycles), got [0]"),
    ([8, 8], None, "second_differences: lags repeat: [8, 8]; give each lag once"),
    ([5], 10, "second_differences: lag 5 reaches 2 x 5 = 10 cycles back, not shorter than the "
              "sequences (10 cycles); use lags below 5"),
    ([2, 6], 11, "second_differences: lag 6 reaches 2 x 6 = 12 cycles back, not shorter than the "
                 "sequences (11 cycles); use lags below 6"),
    ([40000], None, "second_differences: lag 40000 reaches 80000 cycles back, more than the limit "
                    "of 65535; use smaller lags"),
    ([3], 2, "second_differences: the sequences have 2 cycles, too short for second differences "
             "(a lag of 1 needs at least 3 cycles); leave second_differences out"),
])
def test_bad_second_lags(lags, length, msg):
    with pytest.raises(ConfigError) as e:
        check_lags(lags, length, "second_differences", order=2)
    assert str(e.value) == msg
    assert check_lags([4], 9, "second_differences", order=2) == (4,)   # 2 x 4 = 8 < 9


def test_mnist1d_second_differences_after_first_with_train_constants():
    both = encode_dataset("mnist1d", "thermometer", None, split="test", limit=6, levels=4,
                          differences=[1], second_differences=[8, 2])
    only = encode_dataset("mnist1d", "thermometer", None, split="test", limit=6, levels=4,
                          second_differences=[8, 2])
    first = encode_dataset("mnist1d", "thermometer", None, split="test", limit=6, levels=4,
                           differences=[1])
    assert both.spikes.shape == (40, 6, 16) and only.spikes.shape == (40, 6, 12)
    assert np.array_equal(both.spikes[:, :, :8], first.spikes)    # values | first | second
    assert np.array_equal(both.spikes[:, :, 8:], only.spikes[:, :, 4:])
    # the constants are the TRAIN split's: first then second difference channels
    lo, hi = difference_range(load_dataset("mnist1d", "train").x, [1], second=[8, 2])
    rec = both.meta["differences"]
    assert rec["lags"] == [1] and rec["second_lags"] == [8, 2]
    assert rec["lo"] == lo.tolist() and rec["hi"] == hi.tolist()
    assert first.meta["differences"]["second_lags"] == [] and only.meta["differences"]["lags"] == []
    x = load_dataset("mnist1d", "test").x[:6]
    from spikelut.coding import thermometer
    chans = add_differences(x, [1], lo, hi, second=[8, 2])[:, :, 2:]   # the second differences
    expect = np.asarray(thermometer(chans, 40, levels=4, sequence=True))
    assert np.array_equal(both.spikes[:, :, 8:], expect)
    with pytest.raises(ConfigError) as e:
        encode_dataset("mnist1d", "thermometer", None, split="test", limit=2, second_differences=[20])
    assert str(e.value) == ("second_differences: lag 20 reaches 2 x 20 = 40 cycles back, not shorter "
                            "than the sequences (40 cycles); use lags below 20")


@needs_aeon
def test_ucr_test_split_uses_training_constants_for_second_differences():
    tr = encode_dataset("ItalyPowerDemand", "thermometer", None, split="train", levels=4,
                        second_differences=[3])
    te = encode_dataset("ItalyPowerDemand", "thermometer", None, split="test", levels=4,
                        second_differences=[3])
    assert tr.spikes.shape == (24, 67, 8) and te.spikes.shape == (24, 1029, 8)
    assert te.meta["differences"] == tr.meta["differences"]
    lo, hi = difference_range(load_dataset("ItalyPowerDemand", "train").x, [], second=[3])
    assert tr.meta["differences"]["lo"] == lo.tolist() and tr.meta["differences"]["hi"] == hi.tolist()


def test_second_differences_refused_where_differences_are(tmp_path, capsys):
    with pytest.raises(ConfigError) as e:
        encode_dataset("first_of_two", None, None, limit=2, second_differences=[1])
    assert str(e.value) == ("second_differences: dataset first_of_two is spikes already (no values "
                            "to take differences of); drop second_differences")
    with pytest.raises(ConfigError) as e:
        encode_dataset("mnist1d", "thermometer", 40, limit=2, sequence=False, second_differences=[1])
    assert str(e.value) == ("second_differences: dataset mnist1d is sequences fed as static values; "
                            "second_differences need a sequence fed one value per cycle (coding "
                            "sequence=true); drop second_differences or set sequence=true")
    assert main(["encode", "--dataset", "mnist5k", "--coding", "rate", "--steps", "2", "--limit", "2",
                 "--second-differences", "1", "-o", str(tmp_path / "n.h5")]) == 1
    assert capsys.readouterr().err == (
        "spikelut encode: error: second_differences: dataset mnist5k is images, not sequences; "
        "second_differences need a sequence dataset fed one value per cycle; drop "
        "second_differences\n")


def test_cli_second_differences(tmp_path, capsys):
    from spikelut.io import load_spikes, meta_json

    out = tmp_path / "m.h5"
    assert main(["encode", "--dataset", "mnist1d", "--coding", "thermometer", "--param", "levels=2",
                 "--limit", "3", "--differences", "1", "--second-differences", "8,4", "-o", str(out)]) == 0
    assert "40 cycles x 3 samples x 8 channels" in capsys.readouterr().out
    sd = load_spikes(out)
    rec = meta_json(sd.meta, "differences")
    assert rec["lags"] == [1] and rec["second_lags"] == [8, 4] and len(rec["lo"]) == 3
    api = encode_dataset("mnist1d", "thermometer", None, limit=3, levels=2, differences=[1],
                         second_differences=[8, 4])
    assert np.array_equal(sd.spikes, api.spikes)
    assert main(["encode", "--dataset", "mnist1d", "--second-differences", "8,x",
                 "-o", str(tmp_path / "n.h5")]) == 1
    assert capsys.readouterr().err == ("spikelut encode: error: --second-differences: give lags in "
                                       "cycles as a comma list, e.g. 8 or 8,16; got '8,x'\n")
    assert main(["encode", "--dataset", "mnist1d", "--second-differences", "0",
                 "-o", str(tmp_path / "n.h5")]) == 1
    assert capsys.readouterr().err == ("spikelut encode: error: second_differences: lags must be "
                                       "integers >= 1 (cycles), got [0]\n")


def test_run_settings_carry_second_differences():
    s = RunSettings.from_config({"data": {"dataset": "mnist1d", "second_differences": [8]}})
    assert s.second_differences == (8,) and s.differences == ()
    assert s.encode_args()["second_differences"] == (8,)
    for bad, msg in (([0], "lags must be integers >= 1 (cycles), got [0]"),
                     ([8, 8], "lags repeat: [8, 8]; give each lag once")):
        with pytest.raises(ConfigError) as e:
            RunSettings.from_config({"data": {"dataset": "mnist1d", "second_differences": bad}})
        assert str(e.value) == f"[data] second_differences: {msg}"


def _encoded_run(cfg: dict, outdir):
    """A Pipeline over ``cfg`` in ``outdir`` with its data encoded, ready for ``_train``."""
    from spikelut.pipeline import Pipeline

    p = Pipeline(cfg, outdir, progress=False, echo=lambda line: None)
    p.out.mkdir(parents=True)
    p._encode()
    return p


def test_run_with_both_records_them_and_names_the_channels(tmp_path):
    from spikelut.io import load_model

    cfg = _run_config(6)
    cfg["data"]["second_differences"] = [8]
    _encoded_run(cfg, tmp_path / "run")._train()
    rec = load_model(tmp_path / "run" / "model.h5").meta["data"]["differences"]
    test = load_spikes_meta(tmp_path / "run" / "data" / "test.h5")
    assert rec["lags"] == [1] and rec["second_lags"] == [8]
    assert rec["lo"] == test["lo"] and len(rec["lo"]) == 2
    cfg["inputs"] = 2
    for name, msg in (
            ("both", "6 channels: 2 for the values, 2 for [data] differences [1] and 2 for [data] "
                     "second_differences [8]; set inputs = 6"),
            ("only", "4 channels: 2 for the values and 2 for [data] second_differences [8]; "
                     "set inputs = 4")):
        if name == "only":
            del cfg["data"]["differences"]
        with pytest.raises(ConfigError) as e:
            _encoded_run(cfg, tmp_path / name)._train()
        assert str(e.value) == f"inputs = 2, but the data have {msg}"


def test_old_record_without_second_lags_reads_as_none(tmp_path):
    import json

    from spikelut.io import load_spikes, save_spikes
    from spikelut.config import build_network
    from spikelut.io import record_encoding

    old = {"lags": [1], "lo": [-0.1], "hi": [0.2], "rule": "d[t] = x[t] - x[max(t - L, 0)] ..."}
    path = tmp_path / "old.h5"                      # as written before second differences existed
    save_spikes(path, np.zeros((4, 2, 2), np.uint8), np.zeros(2, np.int64),
                {"coding": "thermometer", "differences": json.dumps(old)})
    meta = load_spikes(path).meta
    assert read_record(json.loads(meta["differences"])) == {**old, "second_lags": []}
    net = build_network({"seed": 0, "inputs": 2, "readout": {"classes": 2}, "layers": [
        {"name": "out", "nodes": 2, "k": 1, "taps": [{"from": "input", "count": 1}]}]})
    record_encoding(net, meta)
    assert net.meta["data"]["differences"] == {**old, "second_lags": []}
    for bad in ({"lags": [1], "second_lags": "8", "lo": [0.0], "hi": [1.0]},
                {"lags": [1], "second_lags": [8], "lo": [0.0], "hi": [1.0]},
                [1]):
        with pytest.raises(FileFormatError):
            read_record(bad)


def _recorded_net(n_in: int):
    """A small network carrying the encoding record `spikelut run` writes (GunPoint's)."""
    from spikelut.wiring import random_network

    net = random_network(0, n_in, [4, 2], k=2)
    net.meta["data"] = {"dataset": "GunPoint", "coding": "thermometer", "steps": 150,
                        "params": {"levels": 4, "thresholds": None, "sequence": True},
                        "differences": {"lags": [], "second_lags": [4], "lo": [0.0], "hi": [1.0]}}
    return net


def test_a_file_in_another_encoding_is_refused_by_the_models_record():
    """Found by a fresh-user trial: 8 levels without differences has the width of 4 levels with
    second differences, so the file scored 0.500 without a word; and the width hint, read from the
    file alone, suggested exactly that file."""
    from spikelut.api import check_spike_file
    from spikelut.io import encode_options

    net = _recorded_net(8)
    options = ("spikelut encode --dataset GunPoint --coding thermometer --param levels=4 "
               "--param sequence=true --second-differences 4")
    file8 = {"coding": "thermometer", "channels_per_value": 8,
             "params": '{"levels": 8, "thresholds": null, "sequence": true}'}
    file4 = {"coding": "thermometer", "channels_per_value": 4,
             "params": '{"levels": 4, "thresholds": null, "sequence": true}'}
    for name, channels, meta, msg in (
            ("gp8.h5", 8, file8, 'encoded differently from the model\'s training data (the file has '
                                 'params {"levels": 8, "sequence": true}, the model was trained on '
                                 '{"levels": 4, "sequence": true}); encode it with: '),
            ("gp4.h5", 4, file4, "spikes have 4 channels but the network has 8 inputs; encode the "
                                 "data for this network or use another model; the model was "
                                 "trained on data encoded with: ")):
        with pytest.raises(ShapeError) as e:
            check_spike_file(net, name, (150, 3, channels), meta=meta)
        assert str(e.value) == f"{name}: {msg}{options}"
    first = dict(file4, differences='{"lags": [4], "second_lags": [], "lo": [0], "hi": [1]}')
    with pytest.raises(ShapeError, match=r"\(the file has differences \[4\] and second_differences "
                                         r"\[\], the model was trained on differences \[\] and "
                                         r"second_differences \[4\]\)"):  # both kinds named
        check_spike_file(net, "d.h5", (150, 3, 8), meta=first)
    same = dict(file4, differences='{"lags": [], "second_lags": [4], "lo": [0], "hi": [1]}')
    check_spike_file(net, "ok.h5", (150, 3, 8), meta=same)       # the model's own encoding passes
    check_spike_file(net, "bare.h5", (150, 3, 8), meta={})        # a file that records nothing
    # records are untrusted: a differences record that does not parse is read as none, no crash
    broken = dict(file4, differences='{"lags": 5}')
    with pytest.raises(ShapeError, match=r"the file has second_differences \[\], the model was trained on \[4\]"):
        check_spike_file(net, "broken.h5", (150, 3, 8), meta=broken)
    net.meta["data"]["differences"] = {"lags": 5}     # the model's own record broken: no hint from it
    assert encode_options(net.meta["data"]) == ""
    check_spike_file(net, "ok.h5", (150, 3, 8), meta=same)


def test_width_hint_from_the_file_counts_its_difference_channels():
    from spikelut.io import coding_hint

    meta = {"coding": "thermometer", "channels_per_value": 4, "params": '{"levels": 4}',
            "differences": '{"lags": [1], "second_lags": [4], "lo": [0, 0], "hi": [1, 1]}'}
    # 12 channels = 4 levels x (values, lag 1, second lag 4); the network reads 24: 8 levels
    assert coding_hint(meta, 12, 24) == (
        "; the file is thermometer-coded at 4 channels per value, 3 values per cycle: encode it "
        "with --coding thermometer --param levels=8 --differences 1 --second-differences 4")


def test_info_shows_how_the_models_data_were_encoded(tmp_path, capsys):
    import json

    from spikelut.io import save_model

    save_model(_recorded_net(8), tmp_path / "m.h5")
    assert main(["info", str(tmp_path / "m.h5")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "trained on data encoded with: spikelut encode --dataset GunPoint --coding thermometer "
        "--param levels=4 --param sequence=true --second-differences 4")
    assert main(["info", "--json", str(tmp_path / "m.h5")]) == 0
    assert json.loads(capsys.readouterr().out)["encode_options"].endswith("--second-differences 4")


def test_run_names_the_config_table_of_a_lag_too_long_for_the_series(tmp_path):
    from spikelut.pipeline import Pipeline

    cfg = _run_config(4)
    cfg["data"]["second_differences"] = [20]          # mnist1d has 40 cycles: 2 x 20 reaches 40
    p = Pipeline(cfg, tmp_path / "run", progress=False, echo=lambda line: None)
    p.out.mkdir(parents=True)
    with pytest.raises(ConfigError) as e:
        p._encode()
    assert str(e.value) == ("[data] second_differences: lag 20 reaches 2 x 20 = 40 cycles back, not "
                            "shorter than the sequences (40 cycles); use lags below 20")


def test_spikelut_train_records_the_training_files_encoding(tmp_path, capsys):
    """Found by a fresh-user trial: a model from `spikelut train` recorded no encoding, so eval
    scored a file with other difference lags (same width) without a word, and the width hint
    guessed levels=64 for the plain code. Now the model records the training file's encoding."""
    import json

    from spikelut.cli import main
    from spikelut.io import load_model

    def enc(name, *extra):
        assert main(["encode", "--dataset", "mnist1d", "--param", "levels=4", "--limit", "30",
                     *extra, "-o", str(tmp_path / name)]) == 0

    enc("d1.h5", "--differences", "1")
    enc("d2.h5", "--differences", "2", "--split", "test")
    enc("plain.h5", "--split", "test")
    cfg = tmp_path / "c.toml"
    cfg.write_text('seed = 0\ninputs = 8\n[readout]\nclasses = 10\n[[layers]]\nname = "out"\n'
                   'nodes = 10\nk = 2\ntaps = [{ from = "input", count = 2 }]\n'
                   '[train]\nepochs = 1\nbatch_size = 10\nbackend = "numpy"\n')
    capsys.readouterr()
    assert main(["train", str(cfg), "--data", str(tmp_path / "d1.h5"), "-o",
                 str(tmp_path / "m.h5"), "--no-progress"]) == 0
    rec = load_model(tmp_path / "m.h5").meta["data"]
    assert (rec["dataset"], rec["coding"], rec["params"]["levels"]) == ("mnist1d", "thermometer", 4)
    assert rec["differences"]["lags"] == [1] and rec["differences"]["second_lags"] == []
    options = ("spikelut encode --dataset mnist1d --coding thermometer --param levels=4 "
               "--param sequence=true --differences 1")
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "m.h5"), str(tmp_path / "d2.h5"), "--json"]) == 1
    err = json.loads(capsys.readouterr().out)["error"]
    assert err == (f"{tmp_path / 'd2.h5'}: encoded differently from the model's training data "
                   f"(the file has differences [2], the model was trained on [1]); encode it "
                   f"with: {options}")
    # a validation file in another encoding would choose the kept epoch on the wrong data
    assert main(["train", str(cfg), "--data", str(tmp_path / "d1.h5"), "--val", str(tmp_path / "d2.h5"),
                 "-o", str(tmp_path / "m2.h5"), "--json"]) == 1
    err = json.loads(capsys.readouterr().out)["error"]
    assert err == (f"{tmp_path / 'd2.h5'}: encoded differently from the training data "
                   f"{tmp_path / 'd1.h5'} (the file has differences [2], the training data have "
                   f"[1]); encode both the same way")
    assert not (tmp_path / "m2.h5").exists()
    assert main(["eval", str(tmp_path / "m.h5"), str(tmp_path / "plain.h5"), "--json"]) == 1
    err = json.loads(capsys.readouterr().out)["error"]
    assert err.endswith(f"spikes have 4 channels but the network has 8 inputs; encode the data "
                        f"for this network or use another model; the model was trained on data "
                        f"encoded with: {options}")
