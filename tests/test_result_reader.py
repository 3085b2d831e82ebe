"""Reading one sample (or a range of samples) of a result file: raster, vcd and plot rates read
the whole result (every layer's [T, B, n]) to draw one sample or one rate per node, so a result
of many samples could be refused by the array limit, or fill memory, where one sample fits."""

import h5py
import numpy as np
import pytest

import spikelut as sl
from helpers import one_error_line, run
from spikelut.errors import ConfigError, FileFormatError
from spikelut.io import load_result, load_result_sample, open_result, save_model, save_spikes
from spikelut.plot import (_file_address_counts, _file_rates, address_counts, firing_rates,
                           lut_table, rate_histogram, raster)
from spikelut.vcd import write_vcd
from spikelut.wiring import random_network
from test_review_simulate_plot import _edit  # a copy of a file, edited with h5py

B = 200  # more than one storage chunk of 64 samples


@pytest.fixture
def files(tmp_path):
    """A random recurrent 3-layer network simulated on 200 samples: (net, model, result)."""
    net = random_network(5, n_in=4, sizes=[30, 12, 6], k=3, max_delay=2, refractory=[0, 1, 0],
                         classes=3)
    net = net.replace_layer(1, name="hidden two")
    x = sl.random_spikes(4, steps=16, batch=B, rate=0.4, seed=2)
    res = sl.simulate(net, x)
    model, result = tmp_path / "m.h5", tmp_path / "r.h5"
    save_model(net, model)
    save_spikes(result, x, np.arange(B) % 3, {"coding": "none"}, result=res)
    return net, model, result


#: a limit over one storage chunk of the largest layer (16 x 64 x 30 bytes) and one sample, under
#: the whole result (16 x 200 x 30 bytes for layer 0 alone)
LIMIT = 64 << 10


def test_one_sample_is_that_sample_of_the_whole_result(files):
    net, _, result = files
    data, res = load_result(result, net)
    for b in (0, 63, 64, 199):
        one, r1 = load_result_sample(result, b, net)
        assert one.spikes.dtype == np.uint8 and one.spikes.shape == (16, 1, 4)
        np.testing.assert_array_equal(one.spikes, data.spikes[:, b:b + 1])
        assert one.labels.dtype == np.int64 and one.labels.tolist() == [b % 3]
        assert one.meta == data.meta
        assert [s.shape for s in r1.layer_spikes] == [(16, 1, 30), (16, 1, 12), (16, 1, 6)]
        for s1, s in zip(r1.layer_spikes, res.layer_spikes):
            assert s1.dtype == np.uint8
            np.testing.assert_array_equal(s1, s[:, b:b + 1])
        assert r1.counts.dtype == np.int32 and r1.counts.tolist() == res.counts[b:b + 1].tolist()
        assert r1.pred.dtype == np.int32 and r1.pred.tolist() == [int(res.pred[b])]


def test_only_the_sample_is_read(files, monkeypatch):
    """Every dataset is read at sample 7 only (HDF5 reads the chunks that hold it)."""
    *_, result = files
    calls = []
    read = h5py.Dataset.__getitem__

    def spy(self, args, new_dtype=None):
        calls.append((self.name, args))
        return read(self, args, new_dtype)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    load_result_sample(result, 7)
    col = (slice(None), slice(7, 8), slice(None))
    assert calls == [("/spikes", col), ("/labels", slice(7, 8)), ("/layers/L0/spikes", col),
                     ("/layers/L1/spikes", col), ("/layers/L2/spikes", col),
                     ("/readout/counts", slice(7, 8)), ("/readout/pred", slice(7, 8))]


def test_vcd_text_is_that_of_the_whole_result(files, tmp_path):
    """The waveform of a file is byte for byte the one made from the whole result loaded (the
    path of the old code), but for the header's ' of FILE'."""
    net, _, result = files
    pair = load_result(result, net)
    for b in (0, 1, 100, 199):
        new = write_vcd(result, b, tmp_path / f"f{b}.vcd", model=net).read_text()
        old = write_vcd(pair, b, tmp_path / f"p{b}.vcd", model=net).read_text()
        assert new == old.replace(f"$comment sample {b}; ", f"$comment sample {b} of {result}; ")


def test_raster_png_is_that_of_the_whole_result(files, tmp_path):
    net, _, result = files
    pair = load_result(result, net)
    for b in (3, 150):
        new = raster(result, b, tmp_path / "f.png", model=net, size=(500, 400), title="t")
        old = raster(pair, b, tmp_path / "p.png", model=net, size=(500, 400), title="t")
        assert new.read_bytes() == old.read_bytes()


def test_rates_streamed_are_bit_identical(files, tmp_path):
    net, _, result = files
    data, res = load_result(result, net)
    want = [firing_rates(data.spikes)] + [firing_rates(s) for s in res.layer_spikes]
    for chunk in (1, 7, 64, 1000, None):
        x_rates, rates, T, B_ = _file_rates(result, net, chunk)
        assert (T, B_) == (16, B)
        for got, w in zip([x_rates, *rates], want):
            assert got.dtype == np.float64 and got.tobytes() == w.tobytes()
    new = rate_histogram(result, tmp_path / "f.png", model=net, size=(500, 400), title="t")
    old = rate_histogram((data, res), tmp_path / "p.png", model=net, size=(500, 400), title="t")
    assert new.read_bytes() == old.read_bytes()


def test_a_result_over_the_array_limit_is_drawn_sample_by_sample(files, tmp_path, capsys,
                                                                  monkeypatch):
    """Refused before ('/spikes: shape (16, 200, 4) ... more than the limit'): only one sample
    (raster, vcd) or one range of samples (plot rates, plot table) is read, and the output is the
    same."""
    net, model, result = files
    for cmd, ext in ((["raster"], "png"), (["vcd"], "vcd"), (["plot", "rates"], "png"),
                     (["plot", "table"], "png")):
        args = [*cmd, result, "--model", model, "-o"]
        if cmd[0] != "plot":
            args[1:1] = ["--sample", "150"]
        monkeypatch.delenv("SPIKELUT_MAX_ARRAY_BYTES", raising=False)
        assert run(capsys, *args, tmp_path / f"free.{ext}")[0] == 0
        monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(LIMIT))
        with pytest.raises(FileFormatError, match="more than the limit of 64.0 KiB"):
            load_result(result, net)
        code, out, err = run(capsys, *args, tmp_path / f"low.{ext}")
        assert (code, err) == (0, "")
        assert (tmp_path / f"low.{ext}").read_bytes() == (tmp_path / f"free.{ext}").read_bytes()


@pytest.mark.parametrize("command", ["raster", "vcd"])
@pytest.mark.parametrize("sample", ["200", "-1"])
def test_sample_out_of_range_is_one_line_naming_the_range(files, tmp_path, capsys, monkeypatch,
                                                          command, sample):
    """Also when the whole result is over the array limit (it was the limit's message)."""
    *_, result = files
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(LIMIT))
    out = tmp_path / ("o.vcd" if command == "vcd" else "o.png")
    line = one_error_line(capsys, command, command, result, "--sample", sample, "-o", out)
    assert line == (f"spikelut {command}: error: sample {sample} does not exist; the result has "
                    f"samples 0 .. 199")
    assert not out.exists()


@pytest.mark.parametrize("sample", [200, -1, 1.5, True])
def test_load_result_sample_refuses_samples_outside(files, sample):
    *_, result = files
    with pytest.raises(ConfigError) as e:
        load_result_sample(result, sample)
    assert str(e.value) == f"sample {sample} does not exist; the result has samples 0 .. 199"


def _set(name, index, value):
    def how(f):
        f[name][index] = value
    return how


@pytest.mark.parametrize("how, message", [
    (_set("layers/L1/spikes", (3, 5, 0), 2), "/layers/L1/spikes: entries must be 0 or 1"),
    (_set("spikes", (0, 5, 2), 7), "/spikes: entries must be 0 or 1"),
    (_set("readout/counts", (5, 1), -3), "/readout/counts: entries must be >= 0 (spike counts)"),
    (_set("readout/pred", 5, 3), "/readout/pred: entries must be classes 0..2 (the columns of "
                                 "/readout/counts)"),
    (_set("labels", 5, -1), "/labels: labels must be >= 0"),
])
def test_values_of_the_sample_are_checked_as_the_whole_file(files, tmp_path, how, message):
    *_, result = files
    bad = _edit(result, tmp_path / "bad.h5", how)
    for load in (lambda: load_result(bad), lambda: load_result_sample(bad, 5)):
        with pytest.raises(FileFormatError) as e:
            load()
        assert str(e.value) == f"{bad}: {message}"
    load_result_sample(bad, 6)  # another sample: its data is all that is read


def test_links_and_shapes_are_checked_as_the_whole_file(files, tmp_path):
    *_, result = files
    linked = _edit(result, tmp_path / "link.h5",
                   lambda f: f.__setitem__("x", h5py.ExternalLink("/etc/passwd", "/")))
    short = _edit(result, tmp_path / "short.h5",
                  lambda f: (f.__delitem__("readout/pred"), f.create_dataset(
                      "readout/pred", data=np.zeros(B - 1, np.int32))))
    cases = [(linked, None, f"{linked}: /x: is an external link; spikelut files hold plain "
                            f"groups and datasets only (links could read other files)"),
             (short, None, f"{short}: /readout: counts (200, 3) / pred (199,) do not match 200 "
                           f"samples"),
             (result, random_network(1, n_in=4, sizes=[30, 12, 7], k=3, classes=3),
              f"{result}: layer sizes [30, 12, 6] do not match the model's [30, 12, 7]")]
    for path, model, message in cases:
        for load in (load_result, lambda p, m: load_result_sample(p, 0, m)):
            with pytest.raises(FileFormatError) as e:
                load(path, model)
            assert str(e.value) == message


def test_load_result_checks_the_input_count_of_the_model(files):
    """load_result checked only the layer sizes: a model of the same layers reading 5 inputs
    was taken for a result of 4 (raster, vcd and plot checked it each on their own)."""
    net, _, result = files
    wide = random_network(5, n_in=5, sizes=[30, 12, 6], k=3, max_delay=2, classes=3)
    message = (f"{result}: the result has 4 input channels but the model has 5 inputs; give the "
               f"model the result was simulated with")
    for load in (load_result, lambda p, m: load_result_sample(p, 0, m), open_result):
        with pytest.raises(FileFormatError) as e:
            load(result, wide)
        assert str(e.value) == message


def test_one_sample_over_the_array_limit_is_refused_before_reading(files, tmp_path, monkeypatch):
    """Stored contiguously (no chunk to bound it), one sample of 16 x (4 + 48) bytes (no labels:
    /labels is bounded whole, 200 x 8 bytes)."""
    *_, result = files

    def contiguous(f):
        del f["labels"]
        for name in ("spikes", "layers/L0/spikes", "layers/L1/spikes", "layers/L2/spikes"):
            data = f[name][()]
            del f[name]
            f[name] = data
    flat = _edit(result, tmp_path / "flat.h5", contiguous)
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", "800")
    with pytest.raises(FileFormatError) as e:
        load_result_sample(flat, 9)
    assert str(e.value) == (f"{flat}: sample 9 of /spikes and /layers: shape (16, 1, 52) x 1 "
                            f"byte = 832 bytes, more than the limit of 800 bytes (set "
                            f"SPIKELUT_MAX_ARRAY_BYTES to allow larger arrays)")
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", "832")
    assert load_result_sample(flat, 9)[1].layer_spikes[0].shape == (16, 1, 30)


def test_reader_ranges(files):
    net, _, result = files
    data, res = load_result(result, net)
    with open_result(result, net) as r:
        assert (r.shape, r.sizes, r.check_drawable()) == ((16, B, 4), [30, 12, 6], (16, B))
        d, s = r.read(60, 70)
        np.testing.assert_array_equal(d.spikes, data.spikes[:, 60:70])
        np.testing.assert_array_equal(s.layer_spikes[2], res.layer_spikes[2][:, 60:70])
        for b0, b1 in ((5, 5), (-1, 3), (190, 201)):
            with pytest.raises(ConfigError) as e:
                r.read(b0, b1)
            assert str(e.value) == f"samples {b0} .. {b1 - 1} are not in the result's 0 .. 199"


def test_table_counts_streamed_are_those_of_the_whole_result(files, tmp_path):
    """plot table loaded the whole result for one layer's address counts; read by ranges the
    counts are the same integers and the picture the same bytes."""
    net, _, result = files
    data, res = load_result(result, net)
    for layer in range(3):
        want = address_counts(net, data.spikes, res.layer_spikes, layer)
        for chunk in (1, 7, 64, None):
            got = _file_address_counts(result, net, layer, chunk)
            assert got.dtype == np.int64 and got.tolist() == want.tolist()
    new = lut_table(result, net, tmp_path / "f.png", layer=1, size=(500, 400), title="t")
    old = lut_table((data, res), net, tmp_path / "p.png", layer=1, size=(500, 400), title="t")
    assert new.read_bytes() == old.read_bytes()


def test_table_names_the_sample_of_a_spike_the_model_cannot_make(files, tmp_path):
    """A spike on an address whose entry is 0 is named by its sample in the file, not in the
    range read."""
    from spikelut.errors import ShapeError

    net, _, result = files
    data, res = load_result(result, net)
    t, j, b = 5, 0, 150
    x = data.spikes
    lay = net.layers[0]
    # a cycle of sample 150 where node 0 of layer 0 is silent on an address whose entry is 0
    bad = tmp_path / "bad.h5"
    layers = [s.copy() for s in res.layer_spikes]
    for t in range(16):
        addr = 0
        for p in range(lay.k):
            src, idx, d = int(lay.source[j, p]), int(lay.index[j, p]), int(lay.delay[j, p])
            sig = x if src < 0 else layers[src]
            addr |= (int(sig[t - d, b, idx]) if t >= d else 0) << p
        if lay.table[j, addr] == 0 and layers[0][t, b, j] == 0:
            break
    else:
        pytest.skip("no silent zero-entry cycle in this sample")
    layers[0][t, b, j] = 1
    save_spikes(bad, x, data.labels, {"coding": "none"},
                result=type(res)(layers, res.counts, res.pred))
    with pytest.raises(ShapeError) as e:
        _file_address_counts(bad, net, 0, chunk=64)
    assert str(e.value).startswith(f"the result does not come from this model: layer 0 node {j} "
                                   f"spiked at cycle {t} of sample {b} on address")
