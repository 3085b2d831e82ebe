"""Documented limits (spikelut.limits), checked before anything is allocated: issue 21, items 3
(integers that overflow) and 4 (sizes trusted blindly), through the commands where they were seen.
"""

import h5py
import numpy as np
import pytest

from spikelut import limits
from spikelut.cli import main
from spikelut.errors import ConfigError, FileFormatError, NetworkError
from spikelut.io import load_spikes, save_model, save_spikes
from spikelut.network import Layer, Network, Readout
from spikelut.wiring import random_network


@pytest.fixture
def files(tmp_path):
    net = random_network(3, n_in=3, sizes=[6, 4], k=3, classes=2)
    model = tmp_path / "m.h5"
    save_model(net, model)
    spikes = tmp_path / "s.h5"
    save_spikes(spikes, np.random.default_rng(0).integers(0, 2, (8, 5, 3)).astype(np.uint8),
                labels=[0, 1, 0, 1, 1])
    return model, spikes


def refused(capsys, fragment, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert status == 1 and len(lines) == 1, (status, out, err)
    assert fragment in lines[0], lines[0]
    return lines[0]


def _edit(path, fn):
    with h5py.File(path, "a") as f:
        fn(f)


def _set_attr(obj, name, value):
    def edit(f):
        f[obj].attrs[name] = value
    return edit


# ---------------------------------------------------------------- item 3: integers that overflow
@pytest.mark.parametrize("value", [2**62, 2**31 - 1])
def test_huge_refractory_attribute_is_refused_before_simulating(capsys, files, tmp_path, value):
    model, spikes = files
    _edit(model, _set_attr("layers/L1", "refractory", np.int64(value)))
    out = tmp_path / "r.h5"
    refused(capsys, f"/layers/L1: attribute 'refractory': refractory period {value} is more than the "
                    f"limit of 65535", "simulate", model, spikes, "-o", out)
    assert not out.exists()
    refused(capsys, f"refractory period {value} is more than the limit of 65535", "eval", model, spikes)


def init_refused(capsys, tmp_path, config, fragment):
    """``spikelut init`` on the TOML text ``config`` exits 1 with one line holding ``fragment``."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(config)
    refused(capsys, fragment, "init", cfg, "-o", tmp_path / "m.h5")
    return cfg


def test_huge_refractory_in_a_config_is_refused(capsys, tmp_path):
    init_refused(capsys, tmp_path, f"""inputs = 2
[[layers]]
nodes = 2
k = 2
refractory = {2**62}
taps = [{{from = "input", count = 2}}]
""", "layer 0 ('L0'): refractory 4611686018427387904 is more than the limit of 65535")


def test_delay_of_int32_max_in_a_model_file_is_refused(capsys, files):
    model, _ = files

    def delay(f):
        d = f["layers/L0/delay"][()]
        d[2, 1] = 2**31 - 1
        del f["layers/L0/delay"]
        f["layers/L0/delay"] = d

    _edit(model, delay)
    refused(capsys, "layer 0 ('L0'), node 2, tap 1", "info", model)
    refused(capsys, "delay is more than the limit of 65535", "info", model)


def test_delay_in_a_config_is_bounded(tmp_path, capsys):
    cfg = init_refused(capsys, tmp_path, """inputs = 2
[[layers]]
nodes = 2
k = 2
taps = [{from = "input", count = 1}, {from = "self", count = 1, delay = 65536}]
""", "delay 65536 is more than the limit of 65535")
    cfg.write_text(cfg.read_text().replace("65536", "65535"))
    assert main(["init", str(cfg), "-o", str(tmp_path / "m.h5")]) == 0


def test_api_arrays_outside_int32_do_not_wrap_around():
    with pytest.raises(NetworkError, match="delay holds 4294967297, outside the 32-bit range"):
        Layer(np.zeros((1, 4), np.uint8), [[-1, -1]], [[0, 0]], np.array([[0, 2**32 + 1]]))


# ---------------------------------------------------------------- item 4: sizes trusted blindly
def test_tiny_spike_file_declaring_93_gib_is_refused_before_reading(capsys, files, tmp_path):
    model, _ = files
    big = tmp_path / "big.h5"
    with h5py.File(big, "w") as f:
        f.attrs["format"] = "spikelut-spikes"
        f.attrs["version"] = 1
        f.create_dataset("spikes", shape=(1000, 10**6, 100), dtype=np.uint8, chunks=(1, 1000, 100),
                         compression="gzip")
    assert big.stat().st_size < 10_000
    # simulate and eval stream the file in chunks: its chunks were never written, so refused
    for argv in (["simulate", model, big, "-o", tmp_path / "r.h5"], ["eval", model, big]):
        refused(capsys, "/spikes: declares 100000000000 bytes of data but the file stores only 0; "
                        "its data is missing (unwritten chunks)", *argv)
    # train reads it whole: the array limit refuses it before the data are looked at
    cfg = tmp_path / "c.toml"
    cfg.write_text('inputs = 100\n[[layers]]\nnodes = 2\nk = 2\ntaps = [{from = "input", count = 2}]\n')
    refused(capsys, "/spikes: shape (1000, 1000000, 100) x 1 byte = 93.1 GiB, more than the limit "
                    "of 4.0 GiB", "train", cfg, "--data", big, "-o", tmp_path / "t.h5")


def test_array_limit_can_be_raised_by_the_user(files, monkeypatch):
    _, spikes = files
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", "100")
    with pytest.raises(FileFormatError, match=r"/spikes: shape \(8, 5, 3\) x 1 byte = 120 bytes, "
                                              r"more than the limit of 100 bytes"):
        load_spikes(spikes)
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", "120")
    assert load_spikes(spikes).spikes.shape == (8, 5, 3)
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", "lots")
    with pytest.raises(ConfigError, match="SPIKELUT_MAX_ARRAY_BYTES='lots'"):
        load_spikes(spikes)


def test_classes_of_int32_max_is_refused(capsys, files):
    model, spikes = files
    _edit(model, _set_attr("readout", "classes", np.int64(2**31 - 1)))
    for argv in (["info", model], ["eval", model, spikes]):
        refused(capsys, "/readout: attribute 'classes': number of classes 2147483647 is more than "
                        "the limit of 4096", *argv)


def test_table_declared_with_k_30_is_refused_before_it_is_read(capsys, files):
    model, _ = files

    def k30(f):
        g = f["layers/L0"]
        for name in ("table", "source", "index", "delay"):
            del g[name]
        g.create_dataset("table", shape=(6, 2**30), dtype=np.uint8, chunks=(1, 2**20),
                         compression="gzip")
        for name in ("source", "index", "delay"):
            g[name] = np.zeros((6, 30), np.int32)

    _edit(model, k30)
    refused(capsys, "/layers/L0/source: k = 30 is out of range; a node has 1 to 12 taps", "info", model)


def test_declared_node_count_over_the_limit_is_refused_before_reading(capsys, files):
    model, _ = files

    def many(f):
        g = f["layers/L0"]
        del g["source"]
        g.create_dataset("source", shape=(2**25, 3), dtype=np.int32, chunks=(4096, 3),
                         compression="gzip")

    _edit(model, many)
    refused(capsys, "/layers/L0/source: number of nodes 33554432 is more than the limit of 16777216",
            "info", model)


def test_table_shape_must_match_k_before_reading(capsys, files):
    model, _ = files

    def wide(f):
        g = f["layers/L0"]
        del g["table"]
        g.create_dataset("table", shape=(6, 2**26), dtype=np.uint8, chunks=(1, 2**20),
                         compression="gzip")

    _edit(model, wide)
    refused(capsys, "/layers/L0: table has shape (6, 67108864), expected (6, 8)", "info", model)


def test_config_with_a_tap_count_of_1e9_is_refused_before_drawing(capsys, tmp_path):
    init_refused(capsys, tmp_path, """inputs = 4
[[layers]]
nodes = 100000
taps = [{from = "input", count = 1000000000}]
""", "layer 0 ('L0'): tap groups give 1000000000 taps but k = 6")


def test_config_random_wiring_too_large_to_draw_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(1 << 20))
    init_refused(capsys, tmp_path, """inputs = 1000
[[layers]]
nodes = 1000
k = 2
taps = [{from = "input", count = 2}]
""", "random wiring of 1000 nodes over 1000 channels")


@pytest.mark.parametrize("key, value, fragment", [
    ("nodes", 2**24 + 1, "nodes 16777217 is more than the limit of 16777216"),
    ("inputs", 2**40, "inputs 1099511627776 is more than the limit of 16777216"),
    ("classes", 10**6, "[readout]: classes 1000000 is more than the limit of 4096"),
])
def test_config_sizes_are_bounded(capsys, tmp_path, key, value, fragment):
    text = """inputs = 2
[[layers]]
nodes = 4
k = 2
taps = [{from = "input", count = 2}]
[readout]
classes = 2
"""
    text = {"nodes": text.replace("nodes = 4", f"nodes = {value}"),
            "inputs": text.replace("inputs = 2", f"inputs = {value}"),
            "classes": text.replace("classes = 2", f"classes = {value}")}[key]
    init_refused(capsys, tmp_path, text, fragment)


def test_validation_of_20000_one_node_layers(tmp_path):
    """Validation is linear in the number of layers (it was quadratic: 29 s for `info`); a chain
    of 20,000 one-node layers validates, and a repeated name at the far end is still found."""
    m = 20_000

    def layers(last_name):
        out = []
        for i in range(m):
            src = -1 if i == 0 else i - 1
            out.append(Layer(np.array([[0, 1, 1, 0]], np.uint8), [[src, src]], [[0, 0]], [[1, 1]],
                             0, last_name if i == m - 1 else f"n{i}"))
        return out

    net = Network(1, layers("last"), Readout(m - 1, [0], 1))
    assert net.n_nodes == m and net.max_delay() == 1
    with pytest.raises(NetworkError, match=r"layer names must be unique; repeated: \['n0'\]"):
        Network(1, layers("n0"), Readout(m - 1, [0], 1))


def test_limits_module_constants_are_documented():
    doc = limits.__doc__
    for name in ("MAX_K", "MAX_NODES_PER_LAYER", "MAX_NODES", "MAX_LAYERS", "MAX_INPUTS",
                 "MAX_CLASSES", "MAX_DELAY", "MAX_REFRACTORY", "MAX_CYCLES", "MAX_SAMPLES",
                 "MAX_ARRAY_BYTES", "MAX_ATTR_BYTES", "MAX_OBJECTS", "MAX_JSON_DEPTH"):
        assert f"``{name}``" in doc, name
    assert limits.MAX_DELAY == limits.MAX_REFRACTORY == 65_535 and limits.MAX_CLASSES == 4096
    assert limits.array_bytes((2**40, 2**40), 8) == 2**83  # Python integers: no wrap-around


def test_unwritten_chunks_cannot_expand_a_small_file(capsys, files, tmp_path):
    """A dataset under the array limit whose chunks were never written would read as gigabytes of
    fill value from a few bytes; deflate cannot expand more than ~1032:1, so it is refused."""
    model, _ = files
    fill = tmp_path / "fill.h5"
    with h5py.File(fill, "w") as f:
        f.attrs["format"] = "spikelut-spikes"
        f.attrs["version"] = 1
        f.create_dataset("spikes", shape=(1000, 1000, 3), dtype=np.uint8, chunks=(10, 100, 3),
                         compression="gzip")
    refused(capsys, "/spikes: declares 3000000 bytes of data but the file stores only 0; its data "
                    "is missing (unwritten chunks)", "eval", model, fill)


@pytest.mark.parametrize("label, fragment", [
    (1e300, "label: label 1e+300 is more than the limit of 4095 (at most 4096 classes)"),
    (2**62, "label: label 4611686018427387904 is more than the limit of 4095"),
])
def test_event_file_labels_are_bounded_before_the_cast(capsys, tmp_path, label, fragment):
    path = tmp_path / "ev.npz"
    np.savez(path, t=np.array([0.0]), channel=np.array([0]), sample=np.array([0]),
             label=np.array([label]))
    refused(capsys, fragment, "encode", "--dataset", path, "-o", tmp_path / "s.h5")


def test_absurd_cycles_samples_and_codes_are_refused_before_allocating(capsys, files, tmp_path):
    """Sizes given on the command line are bounded before an array of that size is made: one
    line naming the size and the limit, not a MemoryError."""
    model, _ = files
    out = tmp_path / "x.h5"
    big = 10**12
    refused(capsys, f"steps = {big} is more than the limit of {limits.MAX_CYCLES} cycles; give "
                    f"fewer steps", "encode", "--dataset", "first_of_two", "--coding", "none",
            "--steps", big, "-o", out)
    refused(capsys, f"steps = {big} is more than the limit of {limits.MAX_CYCLES} cycles",
            "rtl", model, "--steps", big, "-o", tmp_path / "rtl")
    refused(capsys, f"random spikes [steps, batch, channels] (float64 draws): shape (10, {big}, "
                    f"3) x 8 bytes", "stimulus", model, "--steps", 10, "--batch", big, "-o", out)
    refused(capsys, f"coding 'thermometer' with {{\"levels\": {big}, ", "encode", "--dataset",
            "mnist1d", "--coding", "thermometer", "--param", f"levels={big}", "-o", out)
    assert not out.exists() and not (tmp_path / "rtl").exists()


def test_encoding_a_long_code_streams_in_small_chunks(tmp_path):
    """Millions of cycles per sample: chunks of fewer than MIN_CHUNK samples keep the memory
    bound (40 samples of 2**20 cycles x 2 channels, 2 MiB each: chunks of 32 = 64 MiB)."""
    from spikelut.api import CHUNK_MEMORY, MIN_CHUNK, encode_file

    r = encode_file(tmp_path / "long.h5", "first_of_two", "none", 1 << 20, limit=40, split="test")
    assert r.shape == (1 << 20, 40, 2) and r.chunk == CHUNK_MEMORY // (2 << 20) < MIN_CHUNK
    x = load_spikes(tmp_path / "long.h5").spikes
    assert x.shape == (1 << 20, 40, 2) and not x[20:].any() and x[:20].any()
