"""Files from others are untrusted (docs/threat-model.md): each attack of issue 21, items 2 and 5,
through the command where it was seen, ends in exit 1 and one line naming the file and field.

A canary file with known bytes stands in for /etc/passwd: its bytes must never appear in any
output, message or written file.
"""

import gzip
import json
import os
import threading

import h5py
import numpy as np
import pytest

from spikelut.cli import main
from spikelut.io import load_model, save_model, save_spikes
from spikelut.stages import StageBook
from spikelut.wiring import random_network

CANARY = b"CANARY-7f3a9c-secret-bytes-that-must-never-leak-0123456789abcdef"


@pytest.fixture
def files(tmp_path):
    """A valid model (3 inputs, layers of 6 and 4 nodes, 2 classes), a labelled spike file and a
    canary file outside both."""
    net = random_network(3, n_in=3, sizes=[6, 4], k=3, classes=2)
    model = tmp_path / "m.h5"
    save_model(net, model)
    x = np.random.default_rng(0).integers(0, 2, (8, 5, 3)).astype(np.uint8)
    spikes = tmp_path / "s.h5"
    save_spikes(spikes, x, labels=[0, 1, 0, 1, 1], meta={"coding": "none"})
    canary = tmp_path / "canary.bin"
    canary.write_bytes(CANARY)
    return model, spikes, canary


def run(capsys, *argv):
    """``spikelut ARGV``: (exit status, stdout, stderr lines)."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err.splitlines()


def refused(capsys, fragment, *argv):
    """The command exits 1 with exactly one stderr line holding ``fragment``, and no traceback."""
    status, out, err = run(capsys, *argv)
    assert status == 1, (out, err)
    assert len(err) == 1, err
    assert fragment in err[0], err[0]
    assert "Traceback" not in out + err[0]
    assert CANARY.decode() not in out + err[0]
    return err[0]


def _edit(path, fn):
    with h5py.File(path, "a") as f:
        fn(f)


# ---------------------------------------------------------------- item 2: files read other files
def test_external_raw_storage_in_a_spike_file_is_refused(capsys, files, tmp_path):
    model, spikes, canary = files

    def external_labels(f):
        del f["labels"]
        f.create_dataset("labels", shape=(5,), dtype=np.int64, external=[(str(canary), 0, 40)])

    _edit(spikes, external_labels)
    out = tmp_path / "r.h5"
    line = refused(capsys, "/labels: uses external raw storage", "simulate", model, spikes, "-o", out)
    assert line.startswith(f"spikelut simulate: error: {spikes}: ")
    refused(capsys, "/labels: uses external raw storage", "eval", model, spikes)
    assert not out.exists()
    # the other file's bytes were copied nowhere
    for p in tmp_path.rglob("*"):
        if p.is_file() and p != canary:
            assert CANARY[:16] not in p.read_bytes(), p


def test_external_storage_on_a_fifo_does_not_hang(capsys, files, tmp_path):
    model, spikes, _ = files
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def external_spikes(f):
        del f["spikes"]
        f.create_dataset("spikes", shape=(8, 5, 3), dtype=np.uint8, external=[(str(fifo), 0, 120)])

    _edit(spikes, external_spikes)
    done = []
    t = threading.Thread(target=lambda: done.append(
        refused(capsys, "/spikes: uses external raw storage", "simulate", model, spikes,
                "-o", tmp_path / "r.h5")), daemon=True)
    t.start()
    t.join(30)
    if not done:  # unblock the reader (EOF) so the test process can end, then fail
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    assert done, "simulate blocked on a FIFO named by external storage"


def test_a_fifo_or_device_given_as_a_file_is_refused_before_opening(capsys, files, tmp_path):
    model, _, _ = files
    fifo = tmp_path / "in.h5"
    os.mkfifo(fifo)
    refused(capsys, f"{fifo}: not a regular file", "simulate", model, fifo, "-o", tmp_path / "r.h5")
    refused(capsys, "/dev/zero: not a regular file", "info", "/dev/zero")


def test_external_link_to_a_layer_of_another_file_is_refused(capsys, files, tmp_path):
    model, spikes, _ = files
    other = tmp_path / "other.h5"
    save_model(random_network(9, n_in=3, sizes=[6, 4], k=3, classes=2), other)

    def link(f):
        del f["layers/L0"]
        f["layers/L0"] = h5py.ExternalLink(str(other), "/layers/L0")

    _edit(model, link)
    refused(capsys, "/layers/L0: is an external link", "info", model)
    refused(capsys, "/layers/L0: is an external link", "simulate", model, spikes, "-o",
            tmp_path / "r.h5")
    refused(capsys, "/layers/L0: is an external link", "rtl", model, "-o", tmp_path / "rtl")
    assert not (tmp_path / "rtl").exists()


def test_virtual_dataset_with_a_missing_source_is_refused(capsys, files, tmp_path):
    model, spikes, _ = files

    def virtual(f):
        del f["labels"]
        layout = h5py.VirtualLayout(shape=(5,), dtype=np.int64)
        layout[:] = h5py.VirtualSource(str(tmp_path / "missing.h5"), "labels", shape=(5,))
        f.create_virtual_dataset("labels", layout, fillvalue=0)

    _edit(spikes, virtual)
    refused(capsys, "/labels: is a virtual dataset", "eval", model, spikes)


def test_soft_links_are_refused_even_inside_the_file(capsys, files):
    model, _, _ = files
    _edit(model, lambda f: f.__setitem__("layers/L0/extra", h5py.SoftLink("/layers/L1/table")))
    refused(capsys, "/layers/L0/extra: is a soft link", "info", model)


def test_unknown_compression_filter_is_refused(capsys, files, tmp_path):
    model, spikes, _ = files

    def scaleoffset(f):
        del f["labels"]
        f.create_dataset("labels", data=np.array([0, 1, 0, 1, 1], np.int64), scaleoffset=0)

    _edit(spikes, scaleoffset)
    refused(capsys, "/labels: compressed with HDF5 filter 6", "eval", model, spikes)


# ---------------------------------------------------------------- item 5: malformed input
def test_dangling_soft_link(capsys, files):
    model, _, _ = files
    _edit(model, lambda f: f.__setitem__("readout/class_of_old", h5py.SoftLink("/nowhere")))
    refused(capsys, "/readout/class_of_old: is a soft link", "info", model)


def test_non_utf8_layer_name(capsys, files):
    model, _, _ = files

    def bad_name(f):
        f["layers/L1"].attrs.create("name", b"L\xff\xfe", dtype=h5py.string_dtype("utf-8"))

    _edit(model, bad_name)
    refused(capsys, "/layers/L1: attribute 'name': not valid UTF-8 text", "info", model)


def test_non_utf8_object_name(capsys, files):
    model, _, _ = files
    _edit(model, lambda f: f["layers"].create_group(b"L\xff"))
    refused(capsys, "object name is not valid UTF-8", "info", model)


def test_deeply_nested_json_meta(capsys, files):
    model, _, _ = files
    _edit(model, lambda f: f.attrs.__setitem__("meta", "[" * 100_000 + "]" * 100_000))
    refused(capsys, "/: attribute 'meta': JSON nested deeper than 64 levels", "info", model)


def test_uint64_refractory(capsys, files, tmp_path):
    model, spikes, _ = files
    _edit(model, lambda f: f["layers/L0"].attrs.__setitem__("refractory", np.uint64(2**64 - 1)))
    refused(capsys, "/layers/L0: attribute 'refractory': refractory period 18446744073709551615 is "
                    "more than the limit of 65535", "simulate", model, spikes, "-o", tmp_path / "r.h5")
    # a small uint64 is an ordinary integer
    _edit(model, lambda f: f["layers/L0"].attrs.__setitem__("refractory", np.uint64(2)))
    assert load_model(model).layers[0].refractory == 2


def test_class_of_with_a_string_in_a_model_file(capsys, files):
    model, _, _ = files

    def strings(f):
        del f["readout/class_of"]
        f["readout/class_of"] = np.array([b"0", b"x", b"1", b"0"])

    _edit(model, strings)
    refused(capsys, "/readout/class_of: dtype |S1, expected int32", "info", model)


def test_ragged_index_in_a_model_file(capsys, files):
    model, _, _ = files

    def ragged(f):
        del f["layers/L0/index"]
        ds = f.create_dataset("layers/L0/index", (6,), dtype=h5py.vlen_dtype(np.int32))
        for j in range(6):
            ds[j] = np.arange(j % 3 + 1, dtype=np.int32)

    _edit(model, ragged)
    refused(capsys, "/layers/L0/index: dtype object, expected int32", "info", model)


CONFIG = """
inputs = 3
[[layers]]
name = "a"
nodes = 4
k = 2
taps = [{from = "input", count = 2}]
[readout]
classes = 2
"""


@pytest.mark.parametrize("edit, fragment", [
    (lambda c: c.replace("classes = 2", 'classes = 2\nclass_of = [0, "x", 1, 0]'),
     "[readout]: class_of must be a list of integers"),
    (lambda c: c.replace('{from = "input", count = 2}', '{from = "input", count = 2, '
                                                        'index = [[0, 1], [0]]}'),
     "index must be 2 integers (or 4 rows of 2), got ragged rows"),
    (lambda c: c.replace("inputs = 3", 'inputs = {channels = 3, shape = "ab"}'),
     "[inputs]: shape must be a list of positive integers, got 'ab'"),
    (lambda c: c.replace("k = 2", 'k = 2\nshape = "ab"'),
     "layer 0 ('a'): shape must be a list of positive integers, got 'ab'"),
])
def test_malformed_configs(capsys, tmp_path, edit, fragment):
    cfg = tmp_path / "c.toml"
    cfg.write_text(edit(CONFIG))
    refused(capsys, fragment, "init", cfg, "-o", tmp_path / "m.h5")


def test_state_json_holding_a_list_only_reruns_stages(capsys, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "state.json").write_text("[]")
    assert StageBook(out).state == {"stages": {}}
    (out / "state.json").write_text('{"stages": {"encode": [], "train": {"outputs": [1]}}}')
    assert StageBook(out).state == {"stages": {}}
    (out / "state.json").write_text("[]")
    cfg = tmp_path / "run.toml"
    cfg.write_text(CONFIG.replace("inputs = 3", 'inputs = 3\n[data]\ndataset = "/nonexistent.npz"'))
    refused(capsys, "unknown dataset '/nonexistent.npz'", "run", cfg, "-o", out, "--no-progress")


ESC = "L\x1b[2J\x1b]0;owned\x07\r"


def test_layer_names_with_escape_sequences_are_escaped_in_info_and_the_text_raster(capsys, tmp_path):
    net = random_network(1, n_in=2, sizes=[3, 2], k=2, classes=2)
    net = net.replace_layer(0, name=ESC)
    model = tmp_path / "m.h5"
    save_model(net, model)
    status, out, err = run(capsys, "info", model)
    assert status == 0 and "\x1b" not in out and "\r" not in out and "\x07" not in out
    assert "L\\x1b[2J\\x1b]0;owned\\x07\\r" in out
    spikes = tmp_path / "s.h5"
    save_spikes(spikes, np.ones((4, 1, 2), np.uint8))
    status, out, err = run(capsys, "simulate", model, spikes, "-o", tmp_path / "r.h5")
    assert status == 0 and "\x1b" not in out and "L\\x1b[2J\\x1b]0;owned\\x07\\r[0]" in out


def test_gzip_idx_bomb_is_refused_while_decompressing(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(1 << 20))
    n = 3 << 20  # 3 MiB of images: over the 1 MiB limit set above, a few KB compressed
    img = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(img, "wb") as g:
        g.write(b"\x00\x00\x08\x03" + np.array([n // 784, 28, 28], ">u4").tobytes())
        for _ in range(n >> 20):
            g.write(bytes(1 << 20))
    lab = tmp_path / "train-labels-idx1-ubyte.gz"
    with gzip.open(lab, "wb") as g:
        g.write(b"\x00\x00\x08\x01" + np.array([n // 784], ">u4").tobytes() + bytes(n // 784))
    assert img.stat().st_size < 20_000
    refused(capsys, "decompressed IDX data is larger than the limit of 1048576 bytes",
            "encode", "--dataset", img, "--steps", "2", "-o", tmp_path / "s.h5")
    assert not (tmp_path / "s.h5").exists()


def test_npz_member_declaring_a_huge_array_is_refused(capsys, tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((4, 3), np.float32), y=np.zeros(4, np.int64))
    import zipfile
    # rewrite x.npy's header to declare 10**12 values while holding 12
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    hdr = members["x.npy"]
    members["x.npy"] = hdr.replace(b"(4, 3)", b"(1000000, 1000000)".ljust(6))
    import io as _io
    buf = _io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    path.write_bytes(buf.getvalue())
    refused(capsys, "x.npy: shape (1000000, 1000000) x 4 bytes", "encode", "--dataset", path,
            "--steps", "2", "-o", tmp_path / "s.h5")


def test_event_file_reaching_3e9_cycles_is_refused(capsys, tmp_path):
    path = tmp_path / "ev.npz"
    np.savez(path, t=np.array([0.0, 3e9]), channel=np.array([0, 1]), sample=np.array([0, 0]),
             label=np.array([1]))
    assert path.stat().st_size < 2000
    refused(capsys, "t: events reach cycle 3000000000, more than the limit of 16777216 cycles",
            "encode", "--dataset", path, "-o", tmp_path / "s.h5")
    assert not (tmp_path / "s.h5").exists()


def test_meta_of_unsupported_type_in_a_spike_file(capsys, files, tmp_path):
    model, spikes, _ = files
    _edit(spikes, lambda f: f.attrs.__setitem__("ref", f["spikes"].ref))
    refused(capsys, "attribute 'ref': type", "simulate", model, spikes, "-o", tmp_path / "r.h5")


def test_a_valid_result_keeps_its_metadata(capsys, files, tmp_path):
    model, spikes, _ = files
    _edit(spikes, lambda f: f.attrs.__setitem__("levels", np.array([1, 2, 3])))
    status, out, err = run(capsys, "simulate", model, spikes, "-o", tmp_path / "r.h5", "--json")
    assert status == 0 and err == []
    assert json.loads(out)["samples"] == 5
    with h5py.File(tmp_path / "r.h5") as f:
        assert f.attrs["levels"] == "[1, 2, 3]" and f.attrs["coding"] == "none"


def test_layer_names_cannot_break_the_png_raster(capsys, tmp_path):
    """A `$` in a layer name used to start matplotlib mathtext, and a bad formula made `raster`
    end in a traceback."""
    net = random_network(1, n_in=2, sizes=[3, 2], k=2, classes=2)
    net = net.replace_layer(0, name="a$\\foo{$x\x1b")
    model = tmp_path / "m$\\bad{.h5"
    save_model(net, model)
    spikes = tmp_path / "s.h5"
    save_spikes(spikes, np.ones((4, 1, 2), np.uint8))
    assert main(["simulate", str(model), str(spikes), "-o", str(tmp_path / "r.h5")]) == 0
    status, out, err = run(capsys, "raster", tmp_path / "r.h5", "-o", tmp_path / "r.png",
                           "--model", model)
    assert status == 0 and err == [] and (tmp_path / "r.png").stat().st_size > 1000


def test_an_engine_out_of_memory_says_so_in_one_line(capsys, files, monkeypatch):
    """A legal but huge model (200,000 nodes with refractory 65,535 asks the reference engine for
    12 GiB of history) ends in one line, not a MemoryError traceback."""
    import spikelut.cli.cmd_eval as cmd_eval

    def huge(*args, **kwargs):
        raise MemoryError("Unable to allocate 12.2 GiB for an array with shape (65539, 1, 200000)")

    model, spikes, _ = files
    monkeypatch.setattr(cmd_eval, "simulate_file", huge)
    line = refused(capsys, "spikelut eval: error: not enough memory (Unable to allocate 12.2 GiB",
                   "eval", model, spikes)
    assert line.endswith("; use a smaller batch, model or file")


def test_encode_prints_no_string_from_a_spike_file(capsys, tmp_path):
    data = tmp_path / "d.h5"
    save_spikes(data, np.zeros((3, 2, 2), np.uint8), labels=[0, 1], meta={"split": "\x1b[2Jtrain"})
    status, out, err = run(capsys, "encode", "--dataset", data, "-o", tmp_path / "s.h5")
    assert status == 0 and "\x1b" not in out and " all, coding none" in out
