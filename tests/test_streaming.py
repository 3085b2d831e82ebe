"""Streaming: simulate, eval and encode work through a file in chunks of samples, with results
equal bit for bit to the one-shot run, atomically written, in memory set by the chunk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from spikelut.api import auto_chunk, simulate, simulate_file
from spikelut.cli import main
from spikelut.datasets import encode_dataset
from spikelut.engine.reference import simulate as simulate_reference
from spikelut.errors import FileFormatError
from spikelut.io import (load_result, load_spikes, open_spikes, save_model, save_spikes,
                         spike_chunks, spike_writer)
from spikelut.wiring import random_network

ROOT = Path(__file__).resolve().parent.parent
B = 130  # two full engine words and a partial one


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("stream")
    net = random_network(3, n_in=5, sizes=[12, 4], k=4, max_delay=3, refractory=2,
                         classes=4)
    x = (np.random.default_rng(1).random((9, B, 5)) < 0.4).astype(np.uint8)
    y = np.random.default_rng(2).integers(0, 4, B)
    save_model(net, d / "m.h5")
    save_spikes(d / "s.h5", x, y, {"coding": "test"})
    return d, net, x, y, simulate_reference(net, x)


@pytest.mark.parametrize("chunk", [1, 63, 64, 65, B])
def test_simulate_chunks_equal_one_shot(case, tmp_path, chunk):
    d, net, x, y, ref = case
    out = tmp_path / "r.h5"
    run = simulate_file(net, d / "s.h5", out, chunk=chunk, progress=False)
    data, res = load_result(out, net)
    assert (data.spikes == x).all() and (data.labels == y).all()
    assert data.meta["coding"] == "test"
    for a, b in zip(res.layer_spikes, ref.layer_spikes):
        assert a.dtype == np.uint8 and (a == b).all()
    assert (res.counts == ref.counts).all() and (res.pred == ref.pred).all()
    assert run.tally.correct == int((ref.pred == y).sum()) and run.tally.samples == B
    assert run.spikes_per_layer == [int(s.sum()) for s in ref.layer_spikes]
    assert run.chunk == chunk


@pytest.mark.parametrize("chunk", ["1", "63", "64", "65", str(B)])
def test_eval_chunks_equal_one_shot(case, capsys, chunk):
    d, net, x, y, ref = case
    assert main(["eval", str(d / "m.h5"), str(d / "s.h5"), "--chunk", chunk, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    conf = np.zeros((4, 4), np.int64)
    np.add.at(conf, (y, ref.pred), 1)
    assert info["confusion"] == conf.tolist()
    assert info["correct"] == int((ref.pred == y).sum()) and info["samples"] == B
    assert info["backend"] == "numba"  # eval's default is auto, the fastest usable backend here


def test_simulate_cli_chunked_equals_api(case, tmp_path, capsys):
    d, net, x, y, ref = case
    out = tmp_path / "r.h5"
    assert main(["simulate", str(d / "m.h5"), str(d / "s.h5"), "-o", str(out), "--chunk", "64",
                 "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["chunk"] == 64 and info["accuracy"] == float((ref.pred == y).mean())
    _, res = load_result(out, net)
    assert (res.pred == ref.pred).all()


def test_bad_chunk_is_one_line(case, tmp_path, capsys):
    d, *_ = case
    with pytest.raises(SystemExit) as e:  # a usage error: argparse names the option
        main(["simulate", str(d / "m.h5"), str(d / "s.h5"), "-o", str(tmp_path / "r.h5"),
              "--chunk", "0"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == ("spikelut simulate: error: argument --chunk: must be an "
                                            "integer >= 1, got 0")


def test_bad_chunk_late_in_file_leaves_old_result(case, tmp_path):
    """A value of 2 in the last chunk is found after the first chunks were written: the old
    result stays, no temporary is left."""
    d, net, x, y, _ = case
    bad = x.copy()
    bad[0, B - 1, 0] = 2
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f.attrs["format"], f.attrs["version"] = "spikelut-spikes", 1
        f["spikes"] = bad
    out = tmp_path / "r.h5"
    out.write_bytes(b"old")
    with pytest.raises(FileFormatError, match=r"bad\.h5: /spikes: entries must be 0 or 1"):
        simulate_file(net, tmp_path / "bad.h5", out, chunk=64, progress=False)
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.h5", "r.h5"]


def test_writer_refuses_unwritten_samples(tmp_path):
    with pytest.raises(Exception, match="samples 2.. were never written"):
        with spike_writer(tmp_path / "s.h5", (2, 4, 1)) as w:
            w.write(0, np.ones((2, 2, 1), np.uint8))
    assert not (tmp_path / "s.h5").exists()


def test_reader_reads_ranges(case):
    d, net, x, y, _ = case
    with open_spikes(d / "s.h5") as r:
        assert r.shape == x.shape and (r.labels == y).all()
        assert (r.read(60, 70) == x[:, 60:70]).all()


def test_spike_chunks_are_engine_words():
    assert spike_chunks((20, 1000, 2)) == (20, 64, 2)
    assert spike_chunks((4096, 5000, 784)) == (20, 64, 784)
    assert spike_chunks((4, 0, 3)) is None


def test_auto_chunk_fits_the_budget():
    assert auto_chunk(40, 16, [500, 100], 10**6) == 2688  # 64 MB / (40 * 616) = 2723
    assert auto_chunk(40, 16, [500, 100], 10**6, memory=1 << 20) == 1024  # the engine's floor
    assert auto_chunk(10, 10, [], 10**6, memory=64_000, least=64) == 640
    assert auto_chunk(10, 10, [], 100) == 100


@pytest.mark.parametrize("dataset,coding,steps,params", [
    ("mnist5k", "rate", 3, []),
    ("mnist1d", "thermometer", None, []),
    ("first_of_two", None, None, []),
])
def test_encode_chunks_equal_one_shot(tmp_path, capsys, dataset, coding, steps, params):
    args = ["encode", "--dataset", dataset, "--split", "test", "--limit", "600", "--seed", "3",
            "-o", str(tmp_path / "e.h5"), "--chunk", "256"]
    if coding:
        args += ["--coding", coding]
    if steps:
        args += ["--steps", str(steps)]
    assert main(args) == 0
    got = load_spikes(tmp_path / "e.h5")
    want = encode_dataset(dataset, coding, steps, split="test", seed=3, limit=600)
    assert got.spikes.shape == want.spikes.shape
    assert (got.spikes == want.spikes).all() and (got.labels == want.labels).all()


# ---------------------------------------------------------------------------- under a memory limit
T_BIG, N_BIG, B_BIG = 64, 256, 188 * 512  # 1.58 GB of spikes declared, ~70 MB on disk
PATTERNS = 8
LIMIT = 1_000_000_000  # address space of the child: less than the file


def _patterns() -> np.ndarray:
    """Eight 64-sample blocks of sparse spikes; block j of the big file is pattern j % 8."""
    rng = np.random.default_rng(7)
    return (rng.random((PATTERNS, T_BIG, 64, N_BIG)) < 0.04).astype(np.uint8)


def _write_big(path: Path, patterns: np.ndarray) -> None:
    """Write the big file fast: each pattern is compressed once and its bytes written as the
    storage chunk of every block that repeats it (the gzip filter is zlib's format)."""
    blobs = [zlib.compress(np.ascontiguousarray(p).tobytes(), 1) for p in patterns]
    with h5py.File(path, "w") as f:
        f.attrs["format"], f.attrs["version"] = "spikelut-spikes", 1
        ds = f.create_dataset("spikes", (T_BIG, B_BIG, N_BIG), np.uint8,
                              chunks=(T_BIG, 64, N_BIG), compression="gzip")
        for j in range(B_BIG // 64):
            ds.id.write_direct_chunk((0, j * 64, 0), blobs[j % PATTERNS])
        f["labels"] = (np.arange(B_BIG) % 3).astype(np.int64)


_CHILD = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    if sys.argv[1] == "load":
        from spikelut.io import load_spikes
        try:
            load_spikes(sys.argv[2])
        except MemoryError:
            print("MemoryError")
    else:
        from spikelut.cli import main
        sys.exit(main(sys.argv[2:]))
""")


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS address-space limit is Linux's")
def test_simulate_file_larger_than_memory_limit(tmp_path):
    net = random_network(5, n_in=N_BIG, sizes=[16, 3], k=4, max_delay=2, refractory=1,
                         classes=3)
    save_model(net, tmp_path / "m.h5")
    pats = _patterns()
    _write_big(tmp_path / "big.h5", pats)
    declared = T_BIG * B_BIG * N_BIG
    assert declared > LIMIT and (tmp_path / "big.h5").stat().st_size < declared // 10
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = [sys.executable, "-c", _CHILD.format(limit=LIMIT)]
    # the limit binds: reading the file at once fails in the child
    load = subprocess.run(child + ["load", str(tmp_path / "big.h5")], capture_output=True,
                          text=True, env=env, timeout=300)
    assert load.stdout.strip() == "MemoryError", load.stderr[-2000:]
    sim = subprocess.run(child + ["sim", "simulate", str(tmp_path / "m.h5"), str(tmp_path / "big.h5"),
                                  "-o", str(tmp_path / "r.h5"), "--chunk", "2048", "--json"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert sim.returncode == 0, sim.stderr[-3000:]
    info = json.loads(sim.stdout)
    assert info["samples"] == B_BIG and info["steps"] == T_BIG
    # the in-memory result of the eight patterns, tiled, is the whole file's result
    x = pats.transpose(1, 0, 2, 3).reshape(T_BIG, PATTERNS * 64, N_BIG)
    ref = simulate(net, x, backend="numpy")
    reps = B_BIG // (PATTERNS * 64)
    want_pred = np.tile(ref.pred, reps)
    with h5py.File(tmp_path / "r.h5", "r") as f:
        assert (f["readout/pred"][()] == want_pred).all()
        assert (f["readout/counts"][()] == np.tile(ref.counts, (reps, 1))).all()
        for i, s in enumerate(ref.layer_spikes):
            got = f[f"layers/L{i}/spikes"]
            for b0 in range(0, B_BIG, 4 * PATTERNS * 64):
                assert (got[:, b0:b0 + 4 * PATTERNS * 64] == np.tile(s, (1, 4, 1))).all()
        for j in (0, 5, B_BIG // 64 - 1):  # input copied chunk for chunk
            assert (f["spikes"][:, j * 64:(j + 1) * 64] == pats[j % PATTERNS]).all()
    labels = np.arange(B_BIG) % 3
    assert info["accuracy"] == float((want_pred == labels).mean())
    assert info["spikes_per_layer"] == [int(s.sum()) * reps for s in ref.layer_spikes]


def test_random_code_chunks_start_on_its_blocks(tmp_path):
    """A chunk of a random code is rounded up to whole 256-sample blocks, so the stream of every
    sample is the one-shot encoding's."""
    from spikelut.api import encode_file

    run = encode_file(tmp_path / "e.h5", "mnist5k", "rate", 2, split="test", seed=5, limit=700,
                      chunk=100, progress=False)
    assert run.chunk == 256
    want = encode_dataset("mnist5k", "rate", 2, split="test", seed=5, limit=700)
    assert (load_spikes(tmp_path / "e.h5").spikes == want.spikes).all()
    assert run.rate == float(want.spikes.mean())


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS address-space limit is Linux's")
def test_encode_of_a_spike_file_larger_than_memory_limit(tmp_path):
    """`spikelut encode` of a spike-file source streams it too (the source stays on disk)."""
    pats = _patterns()
    _write_big(tmp_path / "big.h5", pats)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = [sys.executable, "-c", _CHILD.format(limit=LIMIT)]
    enc = subprocess.run(child + ["cli", "encode", "--dataset", str(tmp_path / "big.h5"),
                                  "-o", str(tmp_path / "e.h5"), "--chunk", "4096", "--json"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert enc.returncode == 0, enc.stderr[-3000:]
    assert json.loads(enc.stdout)["channels"] == N_BIG
    with h5py.File(tmp_path / "e.h5", "r") as f:
        assert f["spikes"].shape == (T_BIG, B_BIG, N_BIG)
        for j in (0, 7, 8, B_BIG // 64 - 1):
            assert (f["spikes"][:, j * 64:(j + 1) * 64] == pats[j % PATTERNS]).all()
        assert (f["labels"][()] == np.arange(B_BIG) % 3).all()


def test_encode_of_an_event_stream_rasterises_one_chunk_at_a_time(tmp_path, monkeypatch, capsys):
    """An event .npz whose whole raster is over the array limit still encodes, chunk by chunk,
    and equals the raster the events describe; loading it whole is refused."""
    from spikelut.cli import main
    from spikelut.datasets import load_dataset

    rng = np.random.default_rng(3)
    T, n, C, E = 16, 3000, 32, 20000  # a raster of 1.5 MB
    t, smp, ch = rng.integers(0, T, E), rng.integers(0, n, E), rng.integers(0, C, E)
    np.savez(tmp_path / "ev.npz", t=t.astype(np.float64), sample=smp, channel=ch,
             label=np.arange(n) % 4, steps=T, channels=C)
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(1 << 20))  # 1 MiB: less than the raster
    with pytest.raises(Exception, match="spike raster"):
        load_dataset(tmp_path / "ev.npz")
    assert main(["encode", "--dataset", str(tmp_path / "ev.npz"), "-o", str(tmp_path / "e.h5"),
                 "--chunk", "512"]) == 0
    want = np.zeros((T, n, C), np.uint8)
    want[t, smp, ch] = 1
    with h5py.File(tmp_path / "e.h5", "r") as f:
        assert (f["spikes"][()] == want).all()
