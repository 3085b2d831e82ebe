"""Datasets: built-in files (shapes, splits, balance, checksums), synthetic tasks, user files,
encode_dataset and the `spikelut encode` command."""

import gzip
import hashlib
import json
import re
import shutil

import h5py
import numpy as np
import pytest

import spikelut as sl
from spikelut import datasets
from spikelut.cli import main
from spikelut.datasets import (DATASETS, encode_dataset, load_dataset, make_first_of_two,
                               make_patterns, mnist5k_split, read_idx)
from spikelut.errors import ConfigError, FileFormatError
from spikelut.io import load_spikes

# sha256 of the C-contiguous array bytes in data/*.h5 (also listed in data/README.md)
CHECKSUMS = {
    ("mnist5k", "x"): "2913c6b6527114b7307e1086335a7665e3f94c74aba3d67525e6f116bf5ae20f",
    ("mnist5k", "y"): "c3556f4a243d7dc7c1fb41d5302fb5050146cd15b4b1e72e41d57339c79a1367",
    ("mnist1d", "train/x"): "d53506bddd12d3b72c7153b1ae7f34807724b1dd078a7273809bf9d0792319f6",
    ("mnist1d", "train/y"): "d97dc7aecec8ad6b5d8f143ba3e9c4bd7e25c420d7dfc2eb990591cfc0ed3e15",
    ("mnist1d", "test/x"): "30addc43827c82aafa5db8bc97cea63349ca687e87db2f201cc4f5415d9a4ebd",
    ("mnist1d", "test/y"): "8de99be3ff9dab15ae0dc072c3d6ced7cf6b33d365888ce4a386fc944489452c",
}


# ---------------------------------------------------------------------------- built-in files
@pytest.mark.parametrize("name, key", sorted(CHECKSUMS))
def test_built_file_checksums(name, key):
    path = datasets.data_dir() / f"{name}.h5"
    assert path.stat().st_size < 10e6
    with h5py.File(path, "r") as f:
        a = f[key][()]
    assert hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest() == CHECKSUMS[(name, key)]


def test_mnist5k_splits():
    tr, te = load_dataset("mnist5k", "train"), load_dataset("mnist5k", "test")
    assert (tr.x.shape, te.x.shape) == ((4000, 784), (1000, 784))
    assert tr.x.dtype == np.float32 and tr.y.dtype == np.int64
    assert (tr.kind, tr.shape, tr.classes) == ("image", (28, 28), 10)
    assert tr.x.min() == 0.0 and tr.x.max() == 1.0
    assert np.bincount(tr.y).tolist() == [400] * 10
    assert np.bincount(te.y).tolist() == [100] * 10
    # test = the last 100 images of each class in file order
    with h5py.File(datasets.data_dir() / "mnist5k.h5", "r") as f:
        raw_x, raw_y = f["x"][()], f["y"][()]
    last = np.sort(np.concatenate([np.flatnonzero(raw_y == c)[-100:] for c in range(10)]))
    np.testing.assert_array_equal(te.x, raw_x[last] / np.float32(255))
    np.testing.assert_array_equal(te.y, raw_y[last])


def test_mnist5k_split_rule_small():
    tr, te = mnist5k_split(np.array([2, 0, 2, 1, 0, 2, 1]), per_class=1)
    assert tr.tolist() == [0, 1, 2, 3] and te.tolist() == [4, 5, 6]


def test_mnist1d_splits_and_scaling():
    tr, te = load_dataset("mnist1d", "train"), load_dataset("mnist1d", "test")
    assert (tr.x.shape, te.x.shape) == ((4000, 40), (1000, 40))
    assert (tr.kind, tr.shape, tr.classes) == ("sequence", (40,), 10)
    assert tr.x.min() == 0.0 and tr.x.max() == 1.0  # scaled by the train min and max
    assert 0.0 <= te.x.min() and te.x.max() <= 1.0
    assert np.bincount(tr.y).tolist() == [398, 396, 411, 394, 394, 402, 401, 404, 402, 398]
    assert "min and max of the train split" in tr.meta["scale"]


def test_unknown_dataset_and_split():
    with pytest.raises(ConfigError, match="unknown dataset 'mnist6k': not a built-in "
                                          r"\(mnist5k, mnist1d, first_of_two, patterns\)"):
        load_dataset("mnist6k")
    with pytest.raises(ConfigError, match="unknown split 'val'; choose train or test"):
        load_dataset("mnist5k", split="val")
    with pytest.raises(ConfigError, match="seed must be an integer >= 0, got -1"):
        load_dataset("first_of_two", seed=-1)


def test_corrupt_builtin_file(tmp_path, monkeypatch):
    shutil.copy(datasets.data_dir() / "mnist1d.h5", tmp_path / "mnist1d.h5")
    with h5py.File(tmp_path / "mnist1d.h5", "r+") as f:
        f["test/x"][0, 0] += 1.0  # the stored checksum no longer matches
    monkeypatch.setattr(datasets.builtin, "data_dir", lambda: tmp_path)  # what _read_builtin calls
    with pytest.raises(FileFormatError, match=r"mnist1d.h5: /test/x: checksum mismatch \(corrupt file\)"):
        load_dataset("mnist1d", "test")
    (tmp_path / "mnist5k.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(FileFormatError, match="mnist5k.h5: not a readable HDF5 file"):
        load_dataset("mnist5k")
    (tmp_path / "mnist1d.h5").unlink()
    with pytest.raises(FileFormatError, match="built-in dataset file missing; rebuild it"):
        load_dataset("mnist1d")


# ---------------------------------------------------------------------------- synthetic tasks
def test_first_of_two_task():
    ds = load_dataset("first_of_two", "train", seed=0)
    assert ds.x.shape == (20, 1000, 2) and ds.x.dtype == np.uint8
    assert (ds.kind, ds.classes, ds.shape) == ("spikes", 2, (20, 2))
    assert np.bincount(ds.y).tolist() == [500, 500]
    assert (ds.x.sum(axis=0) == 1).all()  # each channel fires exactly once
    t = np.argmax(ds.x, axis=0)  # [N, 2] spike times
    np.testing.assert_array_equal(np.argmin(t, axis=1), ds.y)  # label = channel that fired first
    gap = np.abs(t[:, 0] - t[:, 1])
    assert gap.min() == 2 and gap.max() == 10


def test_first_of_two_seeds_and_splits():
    a = load_dataset("first_of_two", "test", seed=3)
    np.testing.assert_array_equal(a.x, load_dataset("first_of_two", "test", seed=3).x)
    assert not np.array_equal(a.x, load_dataset("first_of_two", "test", seed=4).x)
    assert not np.array_equal(a.x[:, :200], load_dataset("first_of_two", "train", seed=3).x[:, :200])


def test_first_of_two_small_exact():
    x, y = make_first_of_two(4, steps=8, min_gap=1, max_gap=1, seed=0)
    for b in range(4):
        t = np.argmax(x[:, b], axis=0)
        assert t[1 - y[b]] == t[y[b]] + 1
    with pytest.raises(ConfigError, match="first_of_two: need 1 <= min_gap <= max_gap"):
        make_first_of_two(4, steps=8, min_gap=3, max_gap=9)


def test_first_of_two_solved_by_demo_latch(demos_dir):
    net = sl.build(f"{demos_dir}/first_of_two.toml")
    ds = load_dataset("first_of_two", "test")
    assert sl.simulate(net, ds.x).accuracy(ds.y) == 1.0


def test_patterns_task():
    tr, te = load_dataset("patterns", "train", seed=1), load_dataset("patterns", "test", seed=1)
    assert tr.x.shape == (20, 1000, 8) and te.x.shape == (20, 200, 8)
    assert np.bincount(tr.y).tolist() == [250] * 4
    assert (tr.x.sum(axis=0) == 1).all()  # counts carry no class information
    # templates are shared between splits: per-class mean spike times agree within the jitter
    for c in range(4):
        mt = np.argmax(tr.x[:, tr.y == c], axis=0).mean(axis=0)
        me = np.argmax(te.x[:, te.y == c], axis=0).mean(axis=0)
        assert np.abs(mt - me).max() < 0.5
    assert not np.array_equal(load_dataset("patterns", "train", seed=2).x, tr.x)


def test_patterns_jitter_bound():
    x, y = make_patterns(300, classes=3, channels=5, steps=12, jitter=2, seed=5, template_seed=9)
    # documented rule: template times uniform in jitter .. steps-1-jitter drawn from template_seed
    templates = np.random.default_rng(9).integers(2, 10, (3, 5))
    shift = np.argmax(x, axis=0) - templates[y]
    assert shift.min() == -2 and shift.max() == 2


# ---------------------------------------------------------------------------- user files
def write_idx(path, a, gz=False):
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[a.dtype]
    raw = bytes([0, 0, code, a.ndim]) + np.array(a.shape, ">u4").tobytes() + a.tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files(tmp_path, gz):
    sfx = ".gz" if gz else ""
    imgs = np.arange(3 * 2 * 4, dtype=np.uint8).reshape(3, 2, 4) * 10
    write_idx(tmp_path / f"train-images-idx3-ubyte{sfx}", imgs, gz)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{sfx}", np.array([1, 0, 2], np.uint8), gz)
    np.testing.assert_array_equal(read_idx(tmp_path / f"train-images-idx3-ubyte{sfx}"), imgs)
    for src in (tmp_path, tmp_path / f"train-images-idx3-ubyte{sfx}"):
        ds = load_dataset(src, "train")
        assert ds.x.shape == (3, 8) and ds.shape == (2, 4) and ds.kind == "image"
        np.testing.assert_allclose(ds.x, imgs.reshape(3, 8) / 255, rtol=1e-6)
        assert ds.y.tolist() == [1, 0, 2] and ds.classes == 3
    with pytest.raises(ConfigError, match="folder without MNIST-style IDX files for split 'test'"):
        load_dataset(tmp_path, "test")


def test_idx_corrupt(tmp_path):
    p = tmp_path / "a-images-idx3-ubyte"
    write_idx(p, np.zeros((2, 3, 3), np.uint8))
    write_idx(tmp_path / "a-labels-idx1-ubyte", np.zeros(2, np.uint8))
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(FileFormatError, match=r"a-images-idx3-ubyte: IDX data has 17 bytes, the header "
                                              r"\(2, 3, 3\) says 18 \(truncated or corrupt file\)"):
        load_dataset(p)
    p.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(FileFormatError, match="not an IDX file"):
        load_dataset(p)


def test_npz_arrays(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.array([[0, 255], [51, 102]], np.uint8), y=np.array([1, 0]))
    ds = load_dataset(p, "test")
    np.testing.assert_allclose(ds.x, [[0, 1], [0.2, 0.4]], rtol=1e-6)
    assert (ds.kind, ds.split, ds.classes) == ("image", "all", 2)
    q = tmp_path / "split.npz"
    np.savez(q, x_train=np.zeros((3, 4)), y_train=[0, 1, 2], x_test=np.ones((2, 4)), y_test=[2, 2],
             classes=5)
    te = load_dataset(q, "test")
    assert te.x.shape == (2, 4) and te.classes == 5 and te.split == "test"
    s = tmp_path / "seq.npz"
    np.savez(s, x=np.full((2, 6), 0.5, np.float32), y=[0, 1], kind="sequence")
    sd = encode_dataset(s, "thermometer", 6, levels=2)
    assert sd.spikes.shape == (6, 2, 2) and sd.spikes[:, :, 0].all() and not sd.spikes[:, :, 1].any()


def test_npz_errors(tmp_path):
    p = tmp_path / "bad.npz"
    p.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(FileFormatError, match="bad.npz: not a readable .npz file"):
        load_dataset(p)
    np.savez(p, a=np.zeros(3))
    with pytest.raises(FileFormatError, match=r"bad.npz: expected arrays x and y"):
        load_dataset(p)
    np.savez(p, x=np.zeros((3, 2)), y=[0, 1])
    with pytest.raises(FileFormatError, match=r"bad.npz: y: shape \(2,\), expected \(3,\)"):
        load_dataset(p)
    np.savez(p, x=np.zeros((2, 2)), y=[0, -1])
    with pytest.raises(FileFormatError, match="labels must be integers >= 0"):
        load_dataset(p)
    # no samples: values, spikes, an event stream without labels (one without events is fine)
    for arrays in ({"x": np.zeros((0, 16)), "y": np.zeros(0, int)},
                   {"x": np.zeros((5, 0, 3), np.uint8), "y": np.zeros(0, int), "kind": "spikes"},
                   {"t": np.zeros(0), "channel": np.zeros(0, int), "sample": np.zeros(0, int),
                    "label": np.zeros(0, int)}):
        np.savez(p, **arrays)
        field = "label" if "label" in arrays else "y"
        with pytest.raises(FileFormatError, match=rf"^{re.escape(str(p))}: no samples \({field} is empty\); give "
                                                  rf"a dataset with at least one sample$"):
            load_dataset(p)
    np.savez(p, t=np.zeros(0), channel=np.zeros(0, int), sample=np.zeros(0, int), label=[0, 1])
    assert load_dataset(p).x.shape == (1, 2, 1)
    np.savez(p, x=np.array([{"a": 1}], dtype=object), y=[0])
    with pytest.raises(FileFormatError, match=r"bad.npz: holds an object array \(pickled Python "
                                              r"objects\), which spikelut does not load"):
        load_dataset(p)
    with pytest.raises(ConfigError, match=r"unknown dataset 'first_of_too': .* or a file; did you "
                                          r"mean 'first_of_two'\?$"):
        load_dataset("first_of_too")
    q = tmp_path / "data.csv"
    q.write_text("1,2\n")
    with pytest.raises(ConfigError, match=r"data.csv: unknown dataset file type '.csv'"):
        load_dataset(q)


def test_event_stream_binning(tmp_path):
    p = tmp_path / "ev.npz"
    np.savez(p, t=np.array([0.0, 0.4, 1.5, 2.9, 1.0]), channel=[0, 0, 2, 1, 1], sample=[0, 0, 0, 1, 1],
             label=[1, 0], dt=0.5)
    ds = load_dataset(p)
    assert (ds.kind, ds.x.shape, ds.classes) == ("spikes", (6, 2, 3), 2)
    expect = np.zeros((6, 2, 3), np.uint8)
    expect[0, 0, 0] = 1  # t = 0.0 and 0.4 share cycle 0: one spike
    expect[3, 0, 2] = expect[5, 1, 1] = expect[2, 1, 1] = 1
    np.testing.assert_array_equal(ds.x, expect)
    np.savez(p, t=[0.0, 9.0], channel=[0, 0], sample=[0, 0], label=[0], steps=5)
    with pytest.raises(FileFormatError, match="events reach cycle 9 but steps = 5"):
        load_dataset(p)
    np.savez(p, t=[0.0], channel=[0], sample=[3], label=[0])
    with pytest.raises(FileFormatError, match="sample: index 3 but only 1 labels"):
        load_dataset(p)


def test_spike_file_as_dataset(tmp_path):
    p = tmp_path / "s.h5"
    sl.save_spikes(p, np.ones((3, 2, 4), np.uint8), labels=[0, 1])
    ds = load_dataset(p)
    assert (ds.kind, ds.x.shape, ds.classes) == ("spikes", (3, 2, 4), 2)
    sl.save_spikes(p, np.ones((3, 2, 4), np.uint8))
    with pytest.raises(FileFormatError, match="/labels: missing"):
        load_dataset(p)


# ---------------------------------------------------------------------------- encode_dataset
def test_encode_mnist1d_thermometer():
    sd = encode_dataset("mnist1d", "thermometer", 40, split="test")
    assert sd.spikes.shape == (40, 1000, 16) and sd.spikes.dtype == np.uint8
    ds = load_dataset("mnist1d", "test")
    np.testing.assert_array_equal(sd.labels, ds.y)
    # cycle t carries value t as 16 levels: on-count = round(16 x)
    np.testing.assert_array_equal(sd.spikes.sum(axis=2).T, np.floor(ds.x.astype(np.float64) * 16 + 0.5))
    m = sd.meta
    assert (m["dataset"], m["split"], m["coding"], m["steps"], m["classes"]) == \
        ("mnist1d", "test", "thermometer", 40, 10)
    assert m["params"] == {"levels": 16, "thresholds": None, "sequence": True}


def test_encode_sequence_rules():
    with pytest.raises(ConfigError, match=r"dataset mnist1d is fed one value per cycle: steps must be "
                                          r"40 \(its sequence length\), got 30"):
        encode_dataset("mnist1d", "thermometer", 30)
    with pytest.raises(ConfigError, match="or set sequence=false to treat the sequence as a vector"):
        encode_dataset("mnist1d", "latency", 8)
    sd = encode_dataset("mnist1d", "latency", 8, split="test", limit=5, sequence="false")
    assert sd.spikes.shape == (8, 5, 40)
    assert encode_dataset("mnist1d", None, None, split="test", limit=3).spikes.shape == (40, 3, 16)
    with pytest.raises(ConfigError, match="coding 'delta' feeds one value per cycle, but dataset "
                                          "mnist5k is images"):
        encode_dataset("mnist5k", "delta", 8)
    with pytest.raises(ConfigError, match="coding 'rate' spreads each value over many cycles: give steps"):
        encode_dataset("mnist5k", "rate", None)


def test_encode_mnist5k_rate_reproducible():
    a = encode_dataset("mnist5k", "rate", 4, split="test", seed=1, limit=20)
    assert a.spikes.shape == (4, 20, 784) and a.labels.shape == (20,)
    np.testing.assert_array_equal(a.spikes, encode_dataset("mnist5k", "rate", 4, split="test", seed=1,
                                                           limit=20).spikes)
    b = encode_dataset("mnist5k", "rate", 4, split="test", seed=1)
    np.testing.assert_array_equal(b.spikes[:, :20], a.spikes)  # limit keeps a prefix


def test_encode_spike_dataset_pads_and_ignores_coding():
    sd = encode_dataset("first_of_two", "thermometer", 25, split="test")
    assert sd.spikes.shape == (25, 200, 2) and not sd.spikes[20:].any()
    assert sd.meta["coding"] == "none" and sd.meta["coding_ignored"] == "thermometer"
    with pytest.raises(ConfigError, match="dataset first_of_two is spikes of 20 cycles: steps must be "
                                          "20 or more"):
        encode_dataset("first_of_two", None, 10)
    # ignored, but not unchecked: a typo in the coding's name ran silently ([coding] name = "rat")
    with pytest.raises(ConfigError, match=r"^unknown coding 'rat'; choose one of rate, "):
        encode_dataset("first_of_two", "rat", None)


# ---------------------------------------------------------------------------- CLI
def test_cli_encode_writes_spike_file(tmp_path, capsys):
    out = tmp_path / "m1d.h5"
    rc = main(["encode", "--dataset", "mnist1d", "--coding", "thermometer", "--steps", "40",
               "--split", "test", "--param", "levels=8", "-o", str(out)])
    assert rc == 0
    assert "40 cycles x 1000 samples x 8 channels" in capsys.readouterr().out
    d = load_spikes(out)
    assert d.spikes.shape == (40, 1000, 8) and d.labels.shape == (1000,)
    assert d.meta["coding"] == "thermometer" and d.meta["dataset"] == "mnist1d"
    assert '"levels": 8' in d.meta["params"]



def test_cli_encode_json_shape_is_the_spike_files(tmp_path, capsys):
    # the dataset's own per-sample shape must not overwrite the spike file's [T, B, C]
    rc = main(["encode", "--dataset", "mnist1d", "--coding", "thermometer", "--steps", "40",
               "--split", "test", "--limit", "7", "--param", "levels=4", "-o",
               str(tmp_path / "m.h5"), "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["shape"] == [40, 7, 4] and d["sample_shape"] == [40] and d["channels"] == 4

@pytest.mark.parametrize("argv, message", [
    (["--dataset", "nope", "--coding", "rate", "--steps", "4"], "unknown dataset 'nope'"),
    (["--dataset", "mnist1d", "--coding", "thermometer", "--steps", "30"], "steps must be 40"),
    (["--dataset", "mnist5k", "--coding", "rate", "--steps", "4", "--param", "levels"],
     "--param expects KEY=VALUE, got 'levels'"),
    (["--dataset", "mnist5k", "--coding", "rate", "--steps", "4", "--param", "bins=3"],
     "coding 'rate': unknown parameter 'bins'"),
])
def test_cli_encode_errors(tmp_path, capsys, argv, message):
    rc = main(["encode", *argv, "-o", str(tmp_path / "x.h5")])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith("spikelut encode: error: ") and message in err
    assert err.count("\n") == 1 and not (tmp_path / "x.h5").exists()


def test_cli_encode_list(capsys):
    assert main(["encode", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in DATASETS) and "sigma_delta" in out
