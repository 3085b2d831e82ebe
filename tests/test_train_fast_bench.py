"""demos/bench_train_epoch.py's speed and memory modes (docs/training-speed.md): another
revision's passes as a baseline in the same run, the variants table, one memory point on ACSF1."""

import json
from pathlib import Path

import numpy as np
import pytest

from spikelut.train import bptt, kernels_cpu
from spikelut.wiring import random_network

from test_bench_train_epoch import _load

try:
    import aeon  # noqa: F401

    HAVE_AEON = True
except ImportError:
    HAVE_AEON = False


def test_baseline_kernels_load_as_their_own_module(demos_dir):
    mod = _load(demos_dir)
    base = mod.load_kernels(kernels_cpu.__file__)
    assert base is not kernels_cpu and base.__name__ == "spikelut.train._baseline_kernels"
    net = random_network(0, n_in=3, sizes=[6, 2], k=3, classes=2, refractory=1)
    plan = bptt.compile_plan(net)
    x = (np.random.default_rng(1).random((7, 5, 3)) < 0.5).astype(np.uint8)
    tables = [layer.table for layer in net.layers]
    np.testing.assert_array_equal(base.forward(plan, tables, x).hist,
                                  bptt.forward(plan, tables, x).hist)


def test_variants_table(demos_dir):
    mod = _load(demos_dir)
    rows = [{"demo": "mnist1d", "luts": 4296, "T": 40, "samples": 4000, "batches": 40, "full": 160,
             "times": {"numba": 5.0, "baseline": 9.0}, "losses": {"numba": 2.5, "baseline": 2.5},
             "profile": {"numba": [("kernels_cpu.py:_backward", 20.04)]}}]
    text = mod.report(rows, 2, "python demos/bench_train_epoch.py --threads 2", 25, load=True)
    assert "| network | LUTs | cycles | batches timed | numba s/epoch | baseline s/epoch | " \
           "baseline / numba |" in text
    assert "| mnist1d | 4296 | 40 | 40 of 160 | 5.00 | 9.00 | 1.80x |" in text
    assert "Threads: 2 (at most: the default rule uses no more than the idle CPUs). " in text
    assert "Under load: one other busy process ran throughout." in text
    exact = mod.report(rows, 2, "cmd", 25, load=False, exact=True, loadavg=(3.5, 4.25))
    assert "Threads: 2 (exactly, SPIKELUT_TRAIN_THREADS). " in exact
    assert "Load average (1 min) before / after: 3.50 / 4.25." in exact
    assert "Batch size 25;" in text
    assert "Profile of mnist1d, numba (cProfile own time, ms per batch): " \
           "kernels_cpu.py:_backward 20.0" in text


def test_bad_cycles_are_refused(demos_dir, capsys):
    mod = _load(demos_dir)
    with pytest.raises(SystemExit):
        mod.main(["--memory", "--cycles", "100,lots"])
    assert "--cycles must be integers separated by commas, got '100,lots'" in capsys.readouterr().err
    for bad in ("100,5000", "0"):  # 5000 was measured at 1,460 cycles without a word
        with pytest.raises(SystemExit):
            mod.main(["--memory", "--cycles", bad])
        assert (f"--cycles: {bad.split(',')[-1]} is outside 1..1460 (the cycles of an ACSF1 "
                f"series)") in capsys.readouterr().err


def test_missing_baseline_kernels_file_is_refused(demos_dir, capsys, tmp_path):
    mod = _load(demos_dir)
    missing = str(tmp_path / "kernels_main.py")
    with pytest.raises(SystemExit) as e:  # was a FileNotFoundError traceback
        mod.main(["mnist1d", "--no-torch", "--baseline-kernels", missing])
    assert e.value.code == 2
    assert f"--baseline-kernels: {missing!r} is not a file" in capsys.readouterr().err


@pytest.mark.skipif(not HAVE_AEON, reason="aeon not installed (pip install 'spikelut[ucr]')")
def test_memory_point_on_acsf1(demos_dir, capsys):
    mod = _load(demos_dir)
    assert mod.memory_point(30, "numba", 4, 1) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (r["cycles"], r["backend"], r["batch"], r["batches"]) == (30, "numba", 4, 1)
    assert r["peak_rss"] >= r["rss_before"] > 0
    # 16 inputs + 484 LUTs (demos/run_acsf1.toml since session c; was 356), 4 samples, 1 word
    assert r["estimate"]["spike_bits"] == 500 * 4 * 1 * 8
    assert Path(demos_dir, "run_acsf1.toml").exists()
