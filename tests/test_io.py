"""Model and spike files: round trips, and every bad file refused with one clear message."""

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikelut.engine.reference import simulate
from spikelut.errors import FileFormatError
from spikelut.io import load_model, load_result, load_spikes, save_model, save_spikes
from spikelut.wiring import random_network


@pytest.fixture
def model(tmp_path):
    net = random_network(3, 4, [6, 3], k=[3, 4], max_delay=2, refractory=[1, 0])
    path = tmp_path / "m.h5"
    save_model(net, path)
    return net, path


def test_model_round_trip_is_exact(model):
    net, path = model
    back = load_model(path)
    assert back.n_in == net.n_in and back.sizes == net.sizes
    for a, b in zip(net.layers, back.layers):
        for f in ("table", "source", "index", "delay"):
            assert np.array_equal(getattr(a, f), getattr(b, f))
            assert getattr(b, f).dtype == getattr(a, f).dtype
        assert (a.name, a.refractory) == (b.name, b.refractory)
    assert np.array_equal(back.readout.class_of, net.readout.class_of)


def test_model_file_layout_follows_design(model):
    _, path = model
    with h5py.File(path) as f:
        assert f.attrs["format"] == "spikelut-model" and f.attrs["version"] == 1
        assert f.attrs["inputs"] == 4
        assert f["layers/L0/table"].dtype == np.uint8 and f["layers/L0/table"].shape == (6, 8)
        assert f["layers/L1/source"].dtype == np.int32
        assert f["layers/L0/table"].compression == "gzip"
        assert f["readout"].attrs["layer"] == 1 and f["readout/class_of"].dtype == np.int32


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 1000), st.integers(0, 3), st.integers(0, 2))
def test_save_load_simulate_is_identical(tmp_path_factory, seed, max_delay, r):
    net = random_network(seed, 3, [5, 4], k=3, max_delay=max_delay, refractory=r)
    path = tmp_path_factory.mktemp("m") / "m.h5"
    save_model(net, path)
    x = np.random.default_rng(seed).integers(0, 2, (7, 2, 3)).astype(np.uint8)
    a, b = simulate(net, x), simulate(load_model(path), x)
    assert all(np.array_equal(s, t) for s, t in zip(a.layer_spikes, b.layer_spikes))


def test_logits_round_trip(tmp_path):
    net = random_network(0, 3, [4], k=2)
    net = net.replace_layer(0, logits=np.where(net.layers[0].table > 0, 0.25, -0.25).astype(np.float32))
    lay = net.layers[0]
    save_model(net, tmp_path / "m.h5")
    assert np.array_equal(load_model(tmp_path / "m.h5").layers[0].logits, lay.logits)


def test_result_round_trip(tmp_path, model):
    net, _ = model
    x = np.random.default_rng(0).integers(0, 2, (5, 3, 4)).astype(np.uint8)
    res = simulate(net, x)
    save_spikes(tmp_path / "r.h5", x, [0, 1, 2], {"coding": "rate", "levels": [1, 2]}, result=res)
    data, back = load_result(tmp_path / "r.h5", net)
    assert data.labels.tolist() == [0, 1, 2] and data.meta["coding"] == "rate"
    assert all(np.array_equal(s, t) for s, t in zip(res.layer_spikes, back.layer_spikes))
    assert np.array_equal(res.pred, back.pred) and np.array_equal(res.counts, back.counts)


def _corrupt(path, edit):
    with h5py.File(path, "a") as f:
        edit(f)


def _replace(name, data):
    def edit(f):
        del f[name]
        f[name] = data
    return edit


BAD_MODELS = [
    (lambda f: f.attrs.__setitem__("format", "other"), "not a spikelut-model file"),
    (lambda f: f.attrs.__setitem__("version", 2), "version 2 is not supported"),
    (lambda f: f.attrs.__delitem__("inputs"), "missing attribute 'inputs'"),
    (lambda f: f.__delitem__("layers/L0/table"), "/layers/L0/table: missing dataset"),
    (_replace("layers/L0/table", np.zeros((6, 8), np.int64)), "/layers/L0/table: dtype int64, expected uint8"),
    (_replace("layers/L0/table", np.zeros(8, np.uint8)), "/layers/L0/table: 1-D"),
    (_replace("layers/L0/table", np.full((6, 8), 3, np.uint8)), "entries must be 0 or 1"),
    (_replace("layers/L0/index", np.full((6, 3), 99, np.int32)), "index out of range"),
    (_replace("layers/L0/delay", np.zeros((6, 2), np.int32)), "delay has shape"),
    (lambda f: f.__delitem__("readout"), "/readout: missing group"),
    (_replace("readout/class_of", np.array([5, 0, 0], np.int32)), "node 0 has class 5"),
    (lambda f: f.move("layers/L1", "layers/L7"), "expected groups L0..L1"),
]


@pytest.mark.parametrize("edit, message", BAD_MODELS)
def test_bad_model_files_are_refused(model, edit, message):
    _, path = model
    _corrupt(path, edit)
    with pytest.raises(FileFormatError, match=str(path).replace(".", r"\.") + ".*" + _re(message)):
        load_model(path)


def _re(s):
    import re
    return re.escape(s)


def test_truncated_and_non_hdf5_files(tmp_path, model):
    _, path = model
    data = path.read_bytes()
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match="trunc.h5: not a readable HDF5 file|trunc.h5: .*truncated"):
        load_model(trunc)
    txt = tmp_path / "x.h5"
    txt.write_text("hello")
    with pytest.raises(FileFormatError, match=r"x.h5: is a text file, not an HDF5 file \(spikelut's "
                                              r"models, spike, result and feature files are HDF5\)$"):
        load_model(txt)
    cfg = tmp_path / "c.h5"  # a config given for a model says how to make one
    cfg.write_text("inputs = 2\n[[layers]]\nnodes = 4\n")
    with pytest.raises(FileFormatError, match=r"c.h5: is a TOML config, not an HDF5 file; build a "
                                              r"model from it with: spikelut init CONFIG.toml -o "
                                              r"MODEL.h5 \(or train it: spikelut train\)$"):
        load_model(cfg)
    empty = tmp_path / "e.h5"
    empty.write_bytes(b"")
    with pytest.raises(FileFormatError, match=r"e.h5: is empty, not an HDF5 file$"):
        load_model(empty)
    with pytest.raises(FileFormatError, match="nope.h5: no such file"):
        load_model(tmp_path / "nope.h5")


def test_spike_file_checks(tmp_path):
    p = tmp_path / "s.h5"
    save_spikes(p, np.zeros((3, 2, 4), np.uint8), [0, 1])
    _corrupt(p, _replace("spikes", np.zeros((3, 2), np.uint8)))
    with pytest.raises(FileFormatError, match="/spikes: 2-D"):
        load_spikes(p)
    save_spikes(p, np.zeros((3, 2, 4), np.uint8), [0, 1])
    _corrupt(p, _replace("labels", np.zeros(5, np.int64)))
    with pytest.raises(FileFormatError, match=r"/labels: shape \(5,\), expected \(2,\)"):
        load_spikes(p)
    save_spikes(p, np.zeros((3, 2, 4), np.uint8))
    _corrupt(p, _replace("spikes", np.full((3, 2, 4), 7, np.uint8)))
    with pytest.raises(FileFormatError, match="entries must be 0 or 1"):
        load_spikes(p)
    model = tmp_path / "m.h5"
    save_model(random_network(0, 2, [2], k=2), model)
    with pytest.raises(FileFormatError, match="not a spikelut-spikes file"):
        load_spikes(model)
    with pytest.raises(FileFormatError, match="not a simulation result"):
        save_spikes(p, np.zeros((3, 2, 4), np.uint8))
        load_result(p)


def test_writes_are_atomic_and_leave_no_temporaries(tmp_path, model):
    net, _ = model
    target = tmp_path / "keep.h5"
    save_model(net, target)
    before = target.read_bytes()

    class Boom(Exception):
        pass

    import h5py  # the writers' own h5py module: File is patched where every writer finds it

    orig = h5py.File

    def failing(path, mode="r", *a, **k):
        f = orig(path, mode, *a, **k)
        if mode == "w":
            f.close()
            raise Boom()
        return f

    h5py.File = failing
    try:
        with pytest.raises(Boom):
            save_model(net, target)
    finally:
        h5py.File = orig
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.h5", "m.h5"]


@pytest.mark.parametrize("path, value, message", [
    ("layers/L0/spikes", 5, "/layers/L0/spikes: entries must be 0 or 1"),
    ("readout/pred", 99, "/readout/pred: entries must be classes 0..1 (the columns of "
                         "/readout/counts)"),
    ("readout/pred", -1, "/readout/pred: entries must be classes 0..1 (the columns of "
                         "/readout/counts)"),
    ("readout/counts", -3, "/readout/counts: entries must be >= 0 (spike counts)"),
])
def test_result_values_are_checked_like_the_input_spikes(tmp_path, path, value, message):
    # a spike of 5 reached plot table as an IndexError traceback (and plot rates as wrong
    # rates); a predicted class 99 reached raster as an IndexError traceback
    from spikelut.cli import main

    net = random_network(0, 2, [4, 2], k=2, classes=2)
    x = (np.random.default_rng(0).random((5, 3, 2)) < 0.5).astype(np.uint8)
    save_spikes(tmp_path / "r.h5", x, result=simulate(net, x))
    with h5py.File(tmp_path / "r.h5", "r+") as f:
        ds = f[path]
        ds[(0,) * ds.ndim] = value
    with pytest.raises(FileFormatError) as e:
        load_result(tmp_path / "r.h5", net)
    assert str(e.value) == f"{tmp_path / 'r.h5'}: {message}"
    assert main(["raster", str(tmp_path / "r.h5"), "--sample", "0", "-o",
                 str(tmp_path / "r.png")]) == 1
    assert not (tmp_path / "r.png").exists()
