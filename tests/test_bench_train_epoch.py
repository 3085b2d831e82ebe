"""demos/bench_train_epoch.py: PyTorch is optional (one clear line without it), and the table."""

import os
import sys

import pytest

from spikelut.bench_torch import torch_available

from helpers import load_demo


def _load(demos_dir):
    return load_demo(demos_dir, "bench_train_epoch")


def test_without_torch_the_script_stops_with_one_line(demos_dir, capsys, monkeypatch):
    if torch_available():
        monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    mod = _load(demos_dir)
    assert mod.main(["mnist1d"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bench_train_epoch: PyTorch is not installed")


def test_unknown_network_is_refused(demos_dir, capsys):
    mod = _load(demos_dir)
    with pytest.raises(SystemExit):
        mod.main(["--no-torch", "cifar"])
    assert "unknown network 'cifar'; choose from mnist1d, mnist5k" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        mod.main(["mnist1d", "--backward-calls", "-1"])
    assert "--backward-calls must be >= 0, got -1" in capsys.readouterr().err


def test_report_table_and_speedups(demos_dir):
    mod = _load(demos_dir)
    rows = [{"demo": "mnist1d", "luts": 3272, "T": 40, "samples": 4000, "batches": 10, "full": 80,
             "times": {"numba": 10.0, "reference": 20.0, "torch": 60.0},
             "losses": {"numba": 2.0, "reference": 2.0, "torch": 2.01}}]
    text = mod.report(rows, 1, "python demos/bench_train_epoch.py --batches 10")
    assert "| mnist1d | 3272 | 40 | 4000 | 10 of 80 | 10.0 | 20.0 | 60.0 | 6.0x | 3.0x |" in text
    assert "per-sample scaling" in text and "Threads: 1" in text


def test_backward_kernel_times_the_pass_and_hashes_the_same_bits_at_any_thread_count(
        demos_dir, monkeypatch):
    import re

    import numpy as np

    from spikelut.train import TrainConfig
    from spikelut.wiring import random_network

    mod = _load(demos_dir)
    net = random_network(4, 6, [24, 10], k=[4, 3], max_delay=2, refractory=[1, 0], classes=2)
    rng = np.random.default_rng(0)
    x = (rng.random((9, 40, 6)) < 0.4).astype(np.uint8)
    y = rng.integers(0, 2, 40)
    monkeypatch.setattr(mod, "load_demo", lambda name: (net, TrainConfig(seed=3), x, y))
    from spikelut.threads import TRAIN_THREADS_ENV

    monkeypatch.delenv(TRAIN_THREADS_ENV, raising=False)
    lines = [mod.backward_kernel("tiny", 8, 3, 2, n, True) for n in (1, 2)]
    assert TRAIN_THREADS_ENV not in os.environ  # the setting was this call's only
    pat = (r"tiny: backward pass of batch 3 \(batch size 8, (\d) thread\(s\) exactly\): min "
           r"[\d.]+ ms, median [\d.]+ ms over 2 calls; gradients sha256 ([0-9a-f]{12})")
    got = [re.fullmatch(pat, line).groups() for line in lines]
    assert [g[0] for g in got] == ["1", "2"] and got[0][1] == got[1][1]
