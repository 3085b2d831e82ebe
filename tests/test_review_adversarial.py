"""Adversarial review of the file readers (docs/threat-model.md): crafted files that got past a
check before, each through the reader or command where it was seen."""

import zlib

import h5py
import numpy as np
import pytest

from spikelut.cli import main
from spikelut.datasets import load_dataset
from spikelut.errors import FileFormatError
from spikelut.io import open_spikes


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err


def _one_long_sample(path, T, n):
    """A spike file of ONE sample of ``T x n`` zero bytes, stored in a few KB: one gzip'd chunk of
    zeros written again and again (as a crafted file would)."""
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "spikelut-spikes"
        f.attrs["version"] = 1
        ds = f.create_dataset("spikes", shape=(T, 1, n), dtype=np.uint8, chunks=(1024, 1, n),
                              compression="gzip")
        blob = zlib.compress(bytes(1024 * n), 9)
        for t0 in range(0, T, 1024):
            ds.id.write_direct_chunk((t0, 0, 0), blob)
        f.create_dataset("labels", data=np.zeros(1, np.int64))


# ---------------------------------------------------------------------------- memory bounds
def test_a_spike_file_read_by_ranges_refuses_one_sample_over_the_array_limit(capsys, tmp_path,
                                                                             monkeypatch):
    # one sample of 16 MiB under a 1 MiB limit: read whole it was refused, but encode (and
    # simulate) read it a range of samples at a time and allocated the sample whatever the limit
    # (a 1 MB file declaring a 1 GiB sample took 1.2 GB under a 64 MiB limit)
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(1 << 20))
    p = tmp_path / "long.h5"
    _one_long_sample(p, 1 << 15, 512)
    with pytest.raises(FileFormatError, match=r"long\.h5: one sample of /spikes \[T, 1, n\]: "
                                              r"shape \(32768, 1, 512\) x 1 byte = 16\.0 MiB, more "
                                              r"than the limit of 1\.0 MiB"):
        open_spikes(p)
    rc, out, err = run(capsys, "encode", "--dataset", p, "-o", tmp_path / "o.h5")
    assert rc == 1 and "one sample of /spikes [T, 1, n]" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o.h5").exists()


def test_a_range_of_samples_over_the_array_limit_is_refused_before_it_is_read(tmp_path,
                                                                              monkeypatch):
    p = tmp_path / "s.h5"
    with h5py.File(p, "w") as f:                              # 64 KiB per sample, one per chunk
        f.attrs["format"], f.attrs["version"] = "spikelut-spikes", 1
        f.create_dataset("spikes", data=np.ones((256, 8, 256), np.uint8), chunks=(256, 1, 256),
                         compression="gzip")
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(200 << 10))
    with open_spikes(p) as r:
        assert r.read(5, 8).shape == (256, 3, 256)                    # 192 KiB: fits
        with pytest.raises(FileFormatError, match=r"s\.h5: samples 0 \.\. 3 of /spikes: shape "
                                                  r"\(256, 4, 256\) x 1 byte = 256\.0 KiB, .*; or "
                                                  r"read at most 3 samples at a time \(--chunk 3\)$"):
            r.read(0, 4)


def test_integer_values_of_an_npz_are_bounded_as_floats_before_they_are_made(capsys, tmp_path,
                                                                             monkeypatch):
    # x int8 [4096, 256] = 1 MiB fits a 2 MiB limit, but became float64 = 8 MiB (a 65 KB .npz of
    # int8 zeros took 820 MB under a 64 MiB limit)
    p = tmp_path / "d.npz"
    np.savez_compressed(p, x=np.zeros((4096, 256), np.int8), y=np.zeros(4096, np.int64))
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(2 << 20))
    with pytest.raises(FileFormatError, match=r"d\.npz: x as float64 values: shape \(4096, 256\) "
                                              r"x 8 bytes = 8\.0 MiB, more than the limit of "
                                              r"2\.0 MiB"):
        load_dataset(p)
    rc, out, err = run(capsys, "encode", "--dataset", p, "--steps", 1, "-o", tmp_path / "o.h5")
    assert rc == 1 and "x as float64 values" in err
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(8 << 20))       # allowed: loads as before
    ds = load_dataset(p)
    assert ds.x.dtype == np.float64 and ds.x.shape == (4096, 256)


def test_uint8_images_are_bounded_as_float32(tmp_path, monkeypatch):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.full((1024, 512), 255, np.uint8), y=np.zeros(1024, np.int64))
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(1 << 20))        # 512 KiB stored, 2 MiB float32
    with pytest.raises(FileFormatError, match=r"x as float32 values: shape \(1024, 512\) x 4 bytes"):
        load_dataset(p)
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(2 << 20))
    ds = load_dataset(p)
    assert ds.x.dtype == np.float32 and ds.x.max() == 1.0 and ds.meta["scale"] == "uint8 / 255"


def test_events_are_bounded_as_int64_before_they_are_binned(capsys, tmp_path, monkeypatch):
    # 3 arrays of 2**18 uint8 events = 768 KiB fit a 1 MiB limit; binning made float64 and int64
    # copies (2 MiB each), several at once (48 MiB of uint8 events took 870 MB under 64 MiB)
    E = 1 << 18
    p = tmp_path / "ev.npz"
    np.savez_compressed(p, t=np.zeros(E, np.uint8), channel=np.zeros(E, np.uint8),
                        sample=np.zeros(E, np.uint8), label=np.zeros(1, np.int64))
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(1 << 20))
    with pytest.raises(FileFormatError, match=r"ev\.npz: the 262144 events as int64 / float64: "
                                              r"shape \(262144,\) x 8 bytes = 2\.0 MiB, more than "
                                              r"the limit of 1\.0 MiB"):
        load_dataset(p)
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(2 << 20))
    ds = load_dataset(p)
    assert ds.x.shape == (1, 1, 1) and ds.x[0, 0, 0] == 1


# ---------------------------------------------------------------------------- datasets
@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((5, 0)), "y": np.zeros(5, np.int64)},
     r"image data of shape \(5, 0\) has no features"),
    ({"x": np.zeros((5, 0, 2)), "y": np.zeros(5, np.int64), "kind": np.array("sequence")},
     r"sequence data of shape \(5, 0, 2\) has no steps"),
    ({"x": np.zeros((0, 5, 2), np.uint8), "y": np.zeros(5, np.int64), "kind": np.array("spikes")},
     r"spikes data of shape \(0, 5, 2\) has no cycles"),
    ({"t": np.zeros(0), "channel": np.zeros(0, np.int64), "sample": np.zeros(0, np.int64),
      "label": np.zeros(2, np.int64), "channels": np.array(0)},
     r"spikes data of shape \(1, 2, 0\) has no channels"),
])
def test_an_npz_with_an_empty_axis_is_refused(capsys, tmp_path, arrays, message):
    # encoded into a spike file of 0 channels (or cycles), exit 0, that no model can read
    p = tmp_path / "d.npz"
    np.savez(p, **arrays)
    with pytest.raises(FileFormatError, match=r"d\.npz: " + message + r"; give a dataset with at "
                                              r"least one of each"):
        load_dataset(p)
    rc, out, err = run(capsys, "encode", "--dataset", p, "-o", tmp_path / "o.h5")
    assert rc == 1 and "at least one of each" in err and not (tmp_path / "o.h5").exists()


@pytest.mark.parametrize("shape, what", [((0, 3, 2), "cycles"), ((4, 0, 2), "samples"),
                                         ((4, 3, 0), "channels")])
@pytest.mark.parametrize("lazy", [False, True])
def test_a_spike_file_with_an_empty_axis_is_no_dataset(tmp_path, shape, what, lazy):
    p = tmp_path / "s.h5"
    with h5py.File(p, "w") as f:
        f.attrs["format"], f.attrs["version"] = "spikelut-spikes", 1
        f.create_dataset("spikes", data=np.zeros(shape, np.uint8))
        f.create_dataset("labels", data=np.zeros(shape[1], np.int64))
    with pytest.raises(FileFormatError, match=rf"s\.h5: spikes data of shape \({shape[0]}, "
                                              rf"{shape[1]}, {shape[2]}\) has no {what}"):
        load_dataset(p, lazy=lazy)
    p.unlink()  # the lazy reader was closed: the file can go (and h5py holds no handle)


def test_an_npz_holding_x_y_and_split_arrays_is_ambiguous(capsys, tmp_path):
    # x, y won: --split test encoded x (here the training data) as the test split, exit 0
    p = tmp_path / "d.npz"
    np.savez(p, x=np.zeros((4, 2)), y=np.zeros(4, np.int64), x_test=np.ones((3, 2)),
             y_test=np.ones(3, np.int64))
    msg = (r"d\.npz: holds both x, y \(the whole file, whatever the split\) and x_test, y_test; "
           r"keep one layout: x and y, or x_train, y_train, x_test and y_test")
    for split in ("train", "test"):
        with pytest.raises(FileFormatError, match=msg):
            load_dataset(p, split=split)
    rc, out, err = run(capsys, "encode", "--dataset", p, "--split", "test", "--steps", 2,
                       "-o", tmp_path / "o.h5")
    assert rc == 1 and "keep one layout" in err
    np.savez(p, x_train=np.zeros((4, 2)), y_train=np.zeros(4, np.int64), x_test=np.ones((3, 2)),
             y_test=np.ones(3, np.int64))
    assert load_dataset(p, split="test").x.tolist() == [[1.0, 1.0]] * 3


# ---------------------------------------------------------------------------- VCD reader
_VCD_HEAD = ("$timescale 1ns $end $scope module spikelut $end $var wire 1 ! clk $end $scope module "
             "L0 $end $var wire 1 \" n0 $end $upscope $end $upscope $end $enddefinitions $end\n")


@pytest.mark.parametrize("body, message", [
    # a rise at time 0 was ZeroDivisionError
    ("#0 0! 1! 0\" #10 0!", r"clk rises at time 0; cannot tell the clock period"),
    # 200 bytes asked numpy for 728 TiB (MemoryError)
    ("#0 1! 0\" #5 0! #10 1! #999999999999999 0!",
     r"end time 999999999999999 / clock period 10: number of cycles 99999999999999 is more than "
     r"the limit of 16777216"),
    # n0 is 1 from #10 on: read back as [0, 0] (changes looked up as if sorted)
    ("#0 1! 0\" #5 0! #10 1! 1\" #7 0\" #20 0!", r"timestamp #7 after #10: VCD time must not go back"),
    # 2 became a spike value of 2; 256 wrapped to 0; 100 bits were an OverflowError
    ("#0 1! b10 \" #5 0! #10 1! #20 0!", r"spikelut\.L0\.n0 holds a value other than 0 or 1"),
    ("#0 1! b1" + "0" * 99 + " \" #5 0! #10 1! #20 0!", r"spikelut\.L0\.n0 holds a value other"),
])
def test_crafted_vcd_files_are_refused_in_one_message(tmp_path, body, message):
    from spikelut.vcd import vcd_spike_trains

    p = tmp_path / "w.vcd"
    p.write_text(_VCD_HEAD + body)
    with pytest.raises(FileFormatError, match=r"w\.vcd: " + message):
        vcd_spike_trains(p)


def test_the_vcd_reader_refuses_a_fifo_and_a_file_over_the_array_limit(tmp_path, monkeypatch):
    import os

    from spikelut.vcd import read_vcd, vcd_spike_trains

    fifo = tmp_path / "f.vcd"
    os.mkfifo(fifo)
    with pytest.raises(FileFormatError, match=r"f\.vcd: .*not a regular file"):
        read_vcd(fifo)                                # blocked forever before
    p = tmp_path / "w.vcd"
    p.write_text(_VCD_HEAD + "#0 1! 0\" #5 0! #10 1! 1\" #15 0! #20 1! #25 0!")
    assert vcd_spike_trains(p)["L0"][:, 0].tolist() == [0, 1]
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", "100")
    with pytest.raises(FileFormatError, match=r"w\.vcd: VCD file: shape \(\d+,\) x 1 byte"):
        read_vcd(p)


# ---------------------------------------------------------------------------- IDX
def _idx_bytes(arr, code, dtype):
    import struct

    head = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + np.asarray(arr, dtype).tobytes()


def test_a_gzip_idx_file_is_read_in_pieces_not_one_read_of_the_whole_limit(tmp_path, monkeypatch):
    # read(limit + 1) made Python allocate the limit (4 GiB) before reading a 1 KB file: under a
    # memory cap (ulimit -v 3.5 GB) a 10-image MNIST file failed as 'not enough memory'
    import gzip

    from spikelut.datasets import read_idx

    imgs = np.arange(3 * 5 * 4, dtype=np.int16).reshape(3, 5, 4) - 30
    p = tmp_path / "t-images-idx3-ubyte.gz"
    p.write_bytes(gzip.compress(_idx_bytes(imgs, 0x0B, ">i2")))
    sizes = []
    real = gzip.GzipFile.read

    def spy(self, size=-1):
        sizes.append(size)
        return real(self, size)

    monkeypatch.setattr(gzip.GzipFile, "read", spy)
    x = read_idx(p)
    assert x.dtype == np.int16 and x.dtype.isnative and x.tolist() == imgs.tolist()
    assert sizes and max(sizes) <= 1 << 20 and min(sizes) > 0
    u = tmp_path / "u-images-idx3-ubyte"
    u.write_bytes(_idx_bytes(np.array([[1, 2], [3, 255]]), 0x08, ">u1"))
    assert read_idx(u).tolist() == [[1, 2], [3, 255]]


# ---------------------------------------------------------------------------- spike writers
@pytest.mark.parametrize("labels, shown", [
    ([0.5, 1.7], r"float64 values such as \[0\.5, 1\.7\]"),       # written as 0, 1
    (["1", "0"], r"<U1 values such as \['1', '0'\]"),               # written as 1, 0
    ([float("nan"), 0.0], r"float64 values such as \[nan, 0\.0\]"),  # a huge negative + warning
    ([2**70, 0], r"object values such as \[1180591620717411303424, 0\]"),  # OverflowError
    ([-1, 0], r"int64 values such as \[-1, 0\]"),
])
def test_save_spikes_refuses_labels_a_cast_would_change(tmp_path, labels, shown):
    from spikelut.io import load_spikes, save_spikes

    p = tmp_path / "s.h5"
    with pytest.raises(FileFormatError, match=r"s\.h5: /labels: labels must be whole numbers "
                                              r"0 \.\. 2\*\*63 - 1 \(class indices\), got " + shown):
        save_spikes(p, np.zeros((2, 2, 1), np.uint8), labels=labels)
    assert not p.exists()
    save_spikes(p, np.zeros((2, 3, 1), np.uint8), labels=[1.0, True, np.uint64(2)])
    assert load_spikes(p).labels.tolist() == [1, 1, 2]


@pytest.mark.parametrize("classes, shown", [(2, "got 2$"), ("9", "got '9'$"), (2.0, "got 2.0$")])
def test_a_spike_files_classes_attribute_is_shown_as_what_it_is(tmp_path, classes, shown):
    # the integer 2 was shown as '2', as if the file held a string
    p = tmp_path / "s.h5"
    with h5py.File(p, "w") as f:
        f.attrs["format"], f.attrs["version"], f.attrs["classes"] = "spikelut-spikes", 1, classes
        f.create_dataset("spikes", data=np.zeros((2, 3, 1), np.uint8))
        f.create_dataset("labels", data=np.array([0, 5, 1], np.int64))
    with pytest.raises(FileFormatError, match=r"s\.h5: attribute 'classes' must be an integer "
                                              r">= 6 \(the largest label \+ 1\), " + shown):
        load_dataset(p)


def test_ucr_meta_list_bounds_json_nesting():
    from spikelut.ucr import meta_list

    # '[' * 100000 was a RecursionError traceback
    with pytest.raises(FileFormatError, match=r"metadata lengths: not a JSON list \(nested at most "
                                              r"64 levels\): '\[\[\["):
        meta_list({"lengths": "[" * 100000}, "lengths")
    assert meta_list({"lengths": "[[3], 5]"}, "lengths") == [[3], 5]


def test_npz_spikes_over_the_cycle_limit_are_refused_as_data(capsys, tmp_path):
    # was only '--steps 33554432 is more than the limit ...; give fewer steps' (fewer steps than
    # the data has cycles is refused too): the data is what is too long
    p = tmp_path / "d.npz"
    np.savez_compressed(p, x=np.zeros(((1 << 24) + 1, 1, 1), np.uint8), y=np.zeros(1, np.int64),
                        kind=np.array("spikes"))
    with pytest.raises(FileFormatError, match=r"d\.npz: x: number of cycles T 16777217 is more "
                                              r"than the limit of 16777216"):
        load_dataset(p)


def test_simulate_file_picks_a_chunk_within_the_array_limit(tmp_path, monkeypatch):
    """auto_chunk's floor of 1,024 samples took the default chunk past the array limit, which the
    range reader now refuses: the default chunk is capped so that such a file still simulates."""
    import spikelut as sl
    from spikelut.wiring import random_network

    p = tmp_path / "s.h5"
    x = (np.random.default_rng(0).random((256, 8, 256)) < 0.3).astype(np.uint8)
    with h5py.File(p, "w") as f:                              # one sample per storage chunk
        f.attrs["format"], f.attrs["version"] = "spikelut-spikes", 1
        f.create_dataset("spikes", data=x, chunks=(256, 1, 256), compression="gzip")
    net = random_network(0, n_in=256, sizes=[16, 2], k=3, classes=2)
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(200 << 10))  # 3 samples of 64 KiB fit
    run = sl.simulate_file(net, p, tmp_path / "r.h5", progress=False)
    assert run.chunk == 3
    monkeypatch.delenv("SPIKELUT_MAX_ARRAY_BYTES")  # the result holds the input, read whole
    assert np.array_equal(sl.load_result(tmp_path / "r.h5")[1].layer_spikes[-1],
                          sl.simulate(net, x).layer_spikes[-1])
