"""Findings of the security review of hostile inputs: model sizes checked before any data is read,
0/1 checks without big temporaries, file names escaped in every success line, npz scalars, model
metadata records, hostile training logs, deep TOML, oversized HDF5 chunks, event rasters, npz
headers, and analyze on analog models / the sign of its occlusion summary. Every test builds its
hostile file in tmp_path and asserts the exact refusal (or behaviour)."""

import io
import json
import shutil
import struct
import tracemalloc
import zipfile

import h5py
import numpy as np
import pytest

from spikelut import io as sio
from spikelut.io import models as sio_models  # load_model reads through its module's _read
from spikelut import limits
from spikelut.errors import ConfigError, FileFormatError
from spikelut.io import load_model, load_spikes, save_model, save_spikes
from spikelut.network import Layer, Network, Readout
from spikelut.wiring import random_network

from helpers import one_error_line, run

ESC = "\x1b[2J"  # "clear the screen": must reach the terminal as the text \x1b[2J


# ---------------------------------------------------------------------------- 1. model sizes
def test_load_model_checks_the_sum_of_table_entries_before_reading_any_data(tmp_path, monkeypatch):
    """Three layers each under the limit, together over it: refused from the declared shapes,
    before a single dataset is read (the review's 9.5 MB file declared 3 x 2 GiB of tables and
    was an OOM kill: layer 0 was read before layer 2's size was known)."""
    net = random_network(0, n_in=2, sizes=[64, 64, 64], k=4)  # 3 x 64 x 16 = 3072 entries
    p = tmp_path / "big.h5"
    save_model(net, p)
    monkeypatch.setattr(limits, "MAX_TABLE_ENTRIES", 2048)
    reads = []
    real = sio_models._read
    monkeypatch.setattr(sio_models, "_read", lambda ds, path: reads.append(ds.name) or real(ds, path))
    with pytest.raises(FileFormatError, match=rf"^{p}: /layers: total number of table entries "
                                              rf"\(sum of nodes x 2\*\*k\) 3072 is more than the "
                                              rf"limit of 2048$"):
        load_model(p)
    assert reads == []


def test_load_model_checks_attributes_and_chunks_of_every_layer_before_reading(tmp_path, monkeypatch):
    net = random_network(0, n_in=2, sizes=[4, 3], k=2)
    p = tmp_path / "m.h5"
    save_model(net, p)
    with h5py.File(p, "a") as f:
        f["layers/L1"].attrs["refractory"] = 2 ** 40
    reads = []
    real = sio_models._read
    monkeypatch.setattr(sio_models, "_read", lambda ds, path: reads.append(ds.name) or real(ds, path))
    with pytest.raises(FileFormatError, match=r"/layers/L1: attribute 'refractory': refractory "
                                              r"period 1099511627776 is more than the limit"):
        load_model(p)
    assert reads == []


def test_all_binary_makes_no_copy_of_integers_and_only_chunks_of_floats():
    from spikelut.network import all_binary

    big = np.zeros((1 << 12, 1 << 11), np.uint8)  # 8 MiB
    big[5, 7] = 1
    tracemalloc.start()
    try:
        assert all_binary(big)
        _, peak_u8 = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        f = big.astype(np.float32)  # 32 MiB
        tracemalloc.reset_peak()
        assert all_binary(f)
        _, peak_f = tracemalloc.get_traced_memory()
        f[-1, -1] = 0.5
        assert not all_binary(f)
        tracemalloc.reset_peak()
        assert not all_binary(np.isin(big, (0, 1)) * 0 - 1)  # int64 -1: refused by its min
    finally:
        tracemalloc.stop()
    assert peak_u8 < 64 << 10  # np.isin: int64 and bool temporaries of 80 MiB and more
    assert peak_f - f.nbytes < 8 << 20
    assert not all_binary(np.array([np.nan, 1.0])) and not all_binary(np.array(["0", "1"]))
    assert all_binary(np.ones((3, 0, 2))) and all_binary(np.array([True, False]))
    assert all_binary(np.ones((2, 3 << 20), np.float64))  # rows over one chunk: split further


def test_load_model_checks_table_values_without_temporaries_the_size_of_the_tables(tmp_path):
    n, k = 1 << 11, 12  # one table of 8 MiB
    rng = np.random.default_rng(0)
    layer = Layer(rng.integers(0, 2, (n, 1 << k), dtype=np.uint8),
                  np.full((n, k), -1), np.zeros((n, k), int), np.zeros((n, k), int))
    net = Network(1, [layer], Readout(0, np.zeros(n, np.int32), 1))
    p = tmp_path / "m.h5"
    save_model(net, p)
    del net, layer
    tracemalloc.start()
    try:
        load_model(p)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the table read (8 MiB) and its frozen copy: with np.isin the peak was 8 + 64 + 8 + ... MiB
    assert peak < 3 * (8 << 20)


# ---------------------------------------------------------------------------- 2. escaped names
from test_writers import w as _writers_workspace  # noqa: F401  (the fixture below builds on it)


@pytest.fixture
def ws(_writers_workspace):  # noqa: F811  (the imported fixture, requested by name)
    """The writer tests' workspace (config, model, stimulus, result, training config, data) and
    a training log."""
    ns = _writers_workspace
    ns.log = ns.dir / "log.jsonl"
    ns.log.write_text(json.dumps({"epoch": 1, "loss": 0.5, "acc": 0.5, "val_loss": None,
                                  "val_acc": None, "lr": 0.01, "time": 1.0}) + "\n")
    return ns


ESCAPED_WRITERS = {
    "init": (".h5", lambda w, o: ["init", w.cfg, "-o", o]),
    "stimulus": (".h5", lambda w, o: ["stimulus", w.model, "--steps", 4, "-o", o]),
    "simulate": (".h5", lambda w, o: ["simulate", w.model, w.stim, "-o", o]),
    "train": (".h5", lambda w, o: ["train", w.tcfg, "--data", w.data, "-o", o, "--no-progress"]),
    "vcd": (".vcd", lambda w, o: ["vcd", w.result, "-o", o]),
    "plot rates": (".png", lambda w, o: ["plot", "rates", w.result, "-o", o]),
    "plot curves": (".png", lambda w, o: ["plot", "curves", w.log, "-o", o]),
    "encode": (".h5", lambda w, o: ["encode", "--dataset", "first_of_two", "--limit", 4, "-o", o]),
}


@pytest.mark.parametrize("name", sorted(ESCAPED_WRITERS))
def test_success_lines_escape_the_output_path(ws, capsys, name):
    suffix, argv = ESCAPED_WRITERS[name]
    out_path = ws.dir / f"o{ESC}ut{suffix}"
    code, out, err = run(capsys, *argv(ws, out_path))
    assert code == 0, err
    assert out_path.exists()
    assert "\x1b" not in out and "\x1b" not in err
    assert "o\\x1b[2Jut" in out


def test_encode_escapes_the_dataset_file_name(tmp_path, capsys):
    src = tmp_path / f"d{ESC}.npz"
    np.savez(src, x=np.random.default_rng(0).random((4, 3)), y=[0, 1, 0, 1])
    code, out, err = run(capsys, "encode", "--dataset", src, "--coding", "rate", "--steps", 2,
                         "-o", tmp_path / "e.h5")
    assert code == 0, err
    assert "\x1b" not in out
    assert "(d\\x1b[2J.npz all, coding rate, 2 classes" in out.replace(str(tmp_path) + "/", "")
    spikes = tmp_path / "s.h5"
    save_spikes(spikes, np.zeros((3, 2, 2), np.uint8), labels=[0, 1])
    src2 = tmp_path / f"sp{ESC}.h5"
    shutil.copy(spikes, src2)
    code, out, err = run(capsys, "encode", "--dataset", src2, "--coding", "rate", "-o",
                         tmp_path / "e2.h5")
    assert code == 0, err
    assert "\x1b" not in out and "sp\\x1b[2J.h5 already is spikes" in out


# ---------------------------------------------------------------------------- 3. npz scalars
@pytest.mark.parametrize("key, value, shown", [
    ("steps", np.inf, "inf"), ("channels", -np.inf, "-inf"), ("classes", np.inf, "inf"),
    ("steps", np.nan, "nan"), ("channels", 2.5, "2.5"), ("classes", True, "True"),
])
def test_npz_event_scalars_must_be_whole_numbers(tmp_path, capsys, key, value, shown):
    p = tmp_path / "ev.npz"
    np.savez(p, t=np.array([0.0, 1.0]), channel=[0, 1], sample=[0, 0], label=[1],
             **{key: np.array(value)})
    from spikelut.datasets import load_dataset

    with pytest.raises(FileFormatError, match=rf"^{p}: {key}: expected a whole number, got "
                                              rf"{shown}$"):
        load_dataset(p)
    line = one_error_line(capsys, "encode", "encode", "--dataset", p, "-o", tmp_path / "o.h5")
    assert line.endswith(f"{key}: expected a whole number, got {shown}")


def test_npz_classes_of_a_value_dataset_is_not_truncated(tmp_path):
    from spikelut.datasets import load_dataset

    p = tmp_path / "v.npz"
    np.savez(p, x=np.zeros((2, 3)), y=[0, 1], classes=np.array(3.7))
    with pytest.raises(FileFormatError, match=r"classes: expected a whole number, got 3.7$"):
        load_dataset(p)  # was int(3.7) = 3 classes, silently


# ---------------------------------------------------------------------------- 4. model meta
@pytest.mark.parametrize("meta, message", [
    ({"train": ["not", "a", "dict"]}, r"'train' \(the training record\) must be a JSON object, "
                                      r"got list"),
    ({"train": "ce_count"}, r"'train' \(the training record\) must be a JSON object, got str"),
    ({"data": [1, 2]}, r"'data' \(the data record\) must be a JSON object, got list"),
    ({"train": {"epochs": float("inf")}}, r"train.epochs must be an integer 0..2147483648, got inf"),
    ({"train": {"epochs": "3"}}, r"train.epochs must be an integer 0..2147483648, got 3"),
    ({"train": {"surrogate": ["fast_sigmoid"]}}, r"train.surrogate must be a surrogate's name "
                                                r"\(a string\), got list"),
])
def test_model_meta_records_are_checked_on_load(tmp_path, capsys, meta, message):
    p = tmp_path / "m.h5"
    save_model(random_network(0, n_in=2, sizes=[4, 2], k=2).replace(meta=meta), p)
    with pytest.raises(FileFormatError, match=rf"^{p}: /: attribute 'meta': {message}; a model "
                                              rf"written by spikelut train has an object there; "
                                              rf"rewrite the file$"):
        load_model(p)
    s = tmp_path / "s.h5"
    save_spikes(s, np.zeros((3, 2, 2), np.uint8), labels=[0, 1])
    # analyze read meta["train"] with .get (AttributeError); rtl and run read meta["data"]
    one_error_line(capsys, "analyze", "analyze", p, s)
    one_error_line(capsys, "rtl", "rtl", p, "-o", tmp_path / "rtl")


# ---------------------------------------------------------------------------- 5. training logs
def _log(path, *rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


REC = {"epoch": 1, "loss": 0.5, "acc": 0.5, "val_loss": None, "val_acc": None, "lr": 0.01,
       "time": 1.0}
WIRE = dict(REC, rewired=[3, 1], flip_flops=9, delays={"0": 4, "1": 6},
            delays_before={"0": 5, "1": 5})


@pytest.mark.parametrize("figure, line, message", [
    ("curves", json.dumps(REC).replace('"epoch": 1', '"epoch": Infinity'),
     r"line 1: epoch must be a whole number 0..2147483648, got inf"),
    ("curves", json.dumps(REC).replace('"epoch": 1', '"epoch": NaN'),
     r"line 1: epoch must be a whole number 0..2147483648, got nan"),
    ("curves", json.dumps(REC).replace('"epoch": 1', '"epoch": 1.5'),
     r"line 1: epoch must be a whole number 0..2147483648, got 1.5"),
    ("curves", json.dumps(REC)[:-1] + ', "x": ' + "[" * 100000 + "]" * 100000 + "}",
     r"line 1: JSON nested too deep \(a log line is one flat object of numbers and short lists\)"),
    ("wiring", json.dumps(dict(WIRE, rewired=[1e308, 1e308])).replace("1e+308", "Infinity"),
     r"rewired must be a list of whole numbers \(taps swapped per layer\) 0..4294967296 in "
     r"every record"),
    ("wiring", json.dumps(dict(WIRE, rewired=[1e300, 1e300])),
     r"rewired must be a list of whole numbers \(taps swapped per layer\) 0..4294967296 in "
     r"every record"),
    ("wiring", json.dumps(dict(WIRE, flip_flops=-1)),
     r"flip_flops must be a whole number 0..4294967296 in every record"),
    ("wiring", json.dumps(dict(WIRE, delays={"1" + "0" * 300: 1})),
     r"delays must map tap delays 0..65535 \(as strings\) to whole numbers of taps 0..4294967296"),
    ("wiring", json.dumps(dict(WIRE, delays_before={"3": float("inf")})).replace("Infinity", "1e999"),
     r"delays_before must map tap delays 0..65535 \(as strings\) to whole numbers of taps "
     r"0..4294967296"),
], ids=["inf-epoch", "nan-epoch", "fractional-epoch", "deep-json", "inf-rewired", "huge-rewired",
        "negative-flip-flops", "huge-delay-key", "inf-delay-count"])
def test_hostile_training_logs_give_one_line(tmp_path, capsys, figure, line, message):
    from spikelut.plot import training_curves, wiring_changes

    p = _log(tmp_path / "log.jsonl", line)
    draw = training_curves if figure == "curves" else wiring_changes
    with pytest.raises(FileFormatError, match=rf"^{p}: {message}$"):
        draw(p, size=(300, 200))
    err = one_error_line(capsys, "plot", "plot", figure, p, "-o", tmp_path / "f.png")
    assert not (tmp_path / "f.png").exists() and "Traceback" not in err


def test_non_finite_losses_are_gaps_not_errors(tmp_path):
    """A diverged run logs NaN (or Infinity) losses: still drawn, as gaps."""
    from spikelut.plot import training_curves

    p = _log(tmp_path / "log.jsonl", dict(REC, loss=float("nan")), dict(REC, epoch=2, loss=float("inf"),
                                                                         time=1e308),
             dict(REC, epoch=3, time=1e308))
    fig = training_curves(p, size=(300, 200))
    assert "3 epochs" in fig._suptitle.get_text() and "inf s" in fig._suptitle.get_text()


# ---------------------------------------------------------------------------- 6. deep TOML
def test_a_deeply_nested_toml_config_is_one_line(tmp_path, capsys):
    from spikelut.config import load_config, parse_config

    deep = "seed = " + "{a = " * 340 + "1" + "}" * 340 + "\n"  # tomllib's recursion ends here
    for text in (deep, "seed = " + "[" * 1000 + "]" * 1000):
        with pytest.raises(ConfigError, match=r"^invalid TOML: nested too deep \(more than 64 "
                                              r"levels of arrays or tables; a config needs a few\)$"):
            parse_config(text)  # was a RecursionError traceback
    from spikelut.config import loads_toml  # the helper other TOML readers call

    # below the parser's recursion limit, but deeper than any config: refused the same way
    with pytest.raises(ConfigError, match=r"nested too deep"):
        loads_toml("x = " + "[" * 300 + "]" * 300)
    with pytest.raises(ConfigError, match=r"nested too deep"):
        loads_toml("a" + ".a" * 200 + " = 1")
    assert loads_toml("x = " + "[" * 64 + "]" * 64)["x"]  # 64 levels are fine
    p = tmp_path / "deep.toml"
    p.write_text(deep)
    with pytest.raises(ConfigError, match=rf"^{p}: invalid TOML: nested too deep"):
        load_config(p)
    line = one_error_line(capsys, "init", "init", p, "-o", tmp_path / "m.h5")
    assert "nested too deep" in line
    with pytest.raises(ValueError, match="nested too deep"):  # the caller's error class
        loads_toml(deep, error=ValueError)


# ---------------------------------------------------------------------------- 7. HDF5 chunks
def _spike_file_with_chunks(p, shape, chunks, maxshape=None):
    save_spikes(p, np.zeros(shape, np.uint8), labels=np.zeros(shape[1], int))
    with h5py.File(p, "a") as f:
        del f["spikes"]
        f.create_dataset("spikes", data=np.ones(shape, np.uint8), chunks=chunks,
                         maxshape=maxshape, compression="gzip")


def test_a_tiny_dataset_in_a_huge_chunk_is_refused(tmp_path, capsys):
    p = tmp_path / "s.h5"
    _spike_file_with_chunks(p, (2, 2, 2), (64, 64, 1024), maxshape=(None, None, None))  # 4 MiB
    with pytest.raises(FileFormatError, match=rf"^{p}: /spikes: stored in chunks of shape "
                                              rf"\(64, 64, 1024\) = 4194304 bytes each, for data "
                                              rf"of shape \(2, 2, 2\) \(8 bytes per chunk\); every "
                                              rf"read would decompress a whole chunk; rewrite the "
                                              rf"file with smaller chunks \(h5py: chunks=True\)$"):
        load_spikes(p)
    with pytest.raises(FileFormatError, match="stored in chunks of shape"):
        sio.open_spikes(p)  # the chunked reader too
    m = tmp_path / "m.h5"
    save_model(random_network(0, n_in=2, sizes=[4, 2], k=2), m)
    assert "stored in chunks of shape (64, 64, 1024)" in one_error_line(capsys, "eval", "eval", m, p)
    with h5py.File(m, "a") as f:
        del f["layers/L0/table"]
        f["layers/L0"].create_dataset("table", data=np.zeros((4, 4), np.uint8),
                                      chunks=(2048, 1024), maxshape=(None, None),
                                      compression="gzip")
    with pytest.raises(FileFormatError, match=r"/layers/L0/table: stored in chunks of shape "
                                              r"\(2048, 1024\)"):
        load_model(m)


def test_chunks_over_the_absolute_limit_are_refused(tmp_path, monkeypatch):
    p = tmp_path / "s.h5"
    _spike_file_with_chunks(p, (4, 64, 1024), (4, 64, 1024))  # 256 KiB, all of it data
    assert load_spikes(p).spikes.shape == (4, 64, 1024)  # a chunk the size of its data is fine
    monkeypatch.setattr(limits, "MAX_CHUNK_BYTES", 128 << 10, raising=False)
    with pytest.raises(FileFormatError, match=r"= 262144 bytes each, more than the limit of 0 MiB"):
        load_spikes(p)


def test_h5py_default_chunks_pass(tmp_path):
    p = tmp_path / "s.h5"
    _spike_file_with_chunks(p, (3, 500, 70), True)
    assert load_spikes(p).spikes.shape == (3, 500, 70)


# ---------------------------------------------------------------------------- 8. events, npz
def test_one_sample_of_an_event_raster_is_bounded_on_the_lazy_path(tmp_path):
    from spikelut.datasets import load_dataset, plan_encoding

    p = tmp_path / "ev.npz"
    np.savez(p, t=np.array([0.0]), channel=[0], sample=[0], label=[0], steps=1 << 24,
             channels=1 << 24)  # 256 TiB per sample
    msg = (rf"^{p}: one sample's spike raster \[steps, 1, channels\]: shape \(16777216, 1, "
           rf"16777216\) x 1 byte = 262144.0 GiB, more than the limit of 4.0 GiB")
    for lazy in (True, False):
        with pytest.raises(FileFormatError, match=msg):
            load_dataset(p, lazy=lazy)
    with pytest.raises(FileFormatError, match=msg):
        plan_encoding(p, None, None)


def test_a_range_of_an_event_raster_is_bounded_before_it_is_made(tmp_path, monkeypatch):
    from spikelut.datasets import load_dataset

    p = tmp_path / "ev.npz"
    np.savez(p, t=np.array([0.0]), channel=[0], sample=[0], label=np.zeros(64, int), steps=1000,
             channels=1000)
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(1 << 20))
    x = load_dataset(p, lazy=True).x
    assert x[:, 0:1].shape == (1000, 1, 1000)  # 1 MB: fits
    with pytest.raises(FileFormatError, match=rf"^{p}: the spike raster of samples 0..63 "
                                              r"\[steps, samples, channels\]: shape \(1000, 64, "
                                              r"1000\) x 1 byte = 61.0 MiB, more than the limit "
                                              r"of 1.0 MiB"):
        x[:, 0:64]


def _npz_with_member(p, name, raw):
    """An .npz holding ``raw`` as member ``name`` and labels ``y = [0, 1]``."""
    b = io.BytesIO()
    np.save(b, np.array([0, 1]))
    with zipfile.ZipFile(p, "w") as z:
        z.writestr(name, raw)
        z.writestr("y.npy", b.getvalue())


def test_a_huge_npy_header_is_not_called_an_object_array(tmp_path, capsys):
    from spikelut.datasets import load_dataset

    header = ("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }" + " " * 20000 + "\n")
    raw = b"\x93NUMPY" + bytes([2, 0]) + struct.pack("<I", len(header)) + header.encode("latin1")
    p = tmp_path / "big.npz"
    _npz_with_member(p, "x.npy", raw + np.zeros(6).tobytes())
    with pytest.raises(FileFormatError, match=rf"^{p}: x.npy: its .npy header is longer than "
                                              rf"numpy's safety limit of 10000 bytes \(a numeric "
                                              rf"array's header takes about 100\); save the arrays "
                                              rf"again with numpy.savez$"):
        load_dataset(p)
    line = one_error_line(capsys, "encode", "encode", "--dataset", p, "-o", tmp_path / "o.h5")
    assert "object array" not in line
    # a header that is not one: said in one bounded line
    bad = b"\x93NUMPY" + bytes([1, 0]) + struct.pack("<H", 20) + b"{'descr': 5}        \n"
    _npz_with_member(p, "x.npy", bad)
    with pytest.raises(FileFormatError, match=rf"^{p}: x.npy: not a valid .npy array header "):
        load_dataset(p)
    # a real object array is still called one, naming the member
    np.savez(p, x=np.array([{"a": 1}], dtype=object), y=[0])
    with pytest.raises(FileFormatError, match=r"holds an object array \(pickled Python objects\).* "
                                              r"\(member x.npy\)$"):
        load_dataset(p)


# ---------------------------------------------------------------------------- 9. analyze
def _analog(net):
    return net.replace(meta={"analog": {"bits": 4, "noise": 0.0}})


ANALOG_MSG = (r"analyze needs a binary circuit, but this is an analog model \(4-bit tables, "
              r"docs/relaxations.md\); evaluate it with spikelut eval, or retrain with \[train\] "
              r"analog_bits = 0$")


def test_analyze_refuses_analog_models(tmp_path, capsys):
    from spikelut import analysis
    from spikelut.api import analyze

    net = _analog(random_network(0, n_in=3, sizes=[4, 2], k=2))
    x = np.ones((5, 2, 3), np.uint8)
    for call in (lambda: analysis.table_stats(net), lambda: analysis.data_stats(net, x),
                 lambda: analysis.analyze_network(net, x),
                 lambda: analysis.gradient_map(net, x[:, 0]),
                 lambda: analysis.occlusion_map(net, x[:, 0]),
                 lambda: analysis.run_analysis(net, x)):
        with pytest.raises(ConfigError, match=rf"^{ANALOG_MSG}"):
            call()
    p, s = tmp_path / "analog.h5", tmp_path / "s.h5"
    save_model(net, p)
    save_spikes(s, x, labels=[0, 1])
    with pytest.raises(ConfigError, match=rf"^{p}: {ANALOG_MSG}"):
        analyze(p, s)
    line = one_error_line(capsys, "analyze", "analyze", p, s)
    assert line == (f"spikelut analyze: error: {p}: analyze needs a binary circuit, but this is an "
                    f"analog model (4-bit tables, docs/relaxations.md); evaluate it with spikelut "
                    f"eval, or retrain with [train] analog_bits = 0")


def test_the_summary_reports_the_occlusion_effect_of_the_docs():
    """``effect`` = the predicted count with a spike there minus without (docs/analyze.md); the
    summary labelled ``delta_pred`` (the change a flip makes) so: the opposite sign where x = 1."""
    from spikelut.analysis import occlusion_map, run_analysis, summary_text

    copy = Layer(np.array([[0, 1, 0, 1]]), [[-1, -1]], [[0, 0]], [[0, 0]])
    net = Network(1, [copy], Readout(0, [0], 1))  # the node copies input 0: one spike, one count
    x = np.array([[1], [0]], np.uint8)
    occ = occlusion_map(net, x, backend="numpy")
    assert occ.delta_pred[:, 0].tolist() == [-1, 1] and occ.effect[:, 0].tolist() == [1, 1]
    rep = run_analysis(net, x[:, None, :], backend="numpy")
    top = rep["attribution"][0]["occlusion_top"]
    assert sorted((c["cycle"], c["value"]) for c in top) == [(0, 1), (1, 1)]
    text = summary_text(rep)
    assert ("largest occlusion effects (predicted count with a spike there minus without): "
            "ch 0 @ t=0 (+1), ch 0 @ t=1 (+1)") in text
