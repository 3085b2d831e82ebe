"""The peer benchmark (spikelut peers) in a tiny form: a few samples, one or two epochs, 8 hidden
units; a peer whose library is missing is skipped with the reason. No timing assertions."""

import json

import numpy as np
import pytest

from spikelut import peers
from spikelut.cli import main
from spikelut.errors import ConfigError, ToolError
from spikelut.io import save_spikes

TINY = dict(epochs=2, batch_size=8, limit=24, val_fraction=0.25, hidden=8)
# weights of the peers at 8 hidden units, 32 inputs, 10 classes (counted by hand):
# spikingjelly: Linear(32, 8) 264 + recurrent Linear(16, 8) 136 + readout Linear(8, 10) 90
# snntorch: 264 + recurrent Linear(8, 8) 72 + 90; gru: 3 * (32*8 + 8*8 + 2*8) + 90
SIZES_8 = {"spikingjelly": 490, "snntorch": 426, "gru": 1098}
# at 256 hidden units: the sizes of the table (142k, 77k, 225k weights)
SIZES_256 = {"spikingjelly": 142_346, "snntorch": 76_810, "gru": 225_290}


def _need(system):
    why = peers.missing(system)
    if why is not None:
        pytest.skip(f"{system} skipped: {why}")


def _check_entry(r, epochs, target):
    assert r["available"] is True and r["reason"] is None
    assert [e["epoch"] for e in r["epochs"]] == list(range(1, epochs + 1))
    for e in r["epochs"]:
        assert set(e) == {"epoch", "seconds", "train_acc", "val_acc", "test_acc"}
        assert e["seconds"] > 0
        for key in ("train_acc", "val_acc", "test_acc"):
            assert 0.0 <= e[key] <= 1.0
    assert r["final_test_acc"] == r["epochs"][-1]["test_acc"]
    assert r["best_test_acc"] == max(e["test_acc"] for e in r["epochs"])
    assert r["seconds_per_epoch"] == float(np.median([e["seconds"] for e in r["epochs"]]))
    assert (r["time_to_target"], r["epochs_to_target"]) == peers.time_to_target(r["epochs"], target)


@pytest.mark.parametrize("system", peers.SYSTEMS)
def test_each_system_trains_tiny(system):
    _need(system)
    rep = peers.run_peers([system], target=1.0, **TINY)
    assert rep["data"] == {"source": rep["data"]["source"], "train": 18, "val": 6, "test": 24,
                           "cycles": 40, "channels": 32}
    assert rep["settings"]["systems"] == [system] and rep["settings"]["threads"] == 1
    (r,) = rep["systems"]
    _check_entry(r, 2, 1.0)
    if system == "spikelut":
        assert (r["size"], r["size_unit"], r["lr"]) == (4296, "LUT6", 0.01)  # the demo network
    else:
        assert (r["size"], r["size_unit"], r["lr"]) == (SIZES_8[system], "weights", peers.PEER_LR[system])
    if r["best_test_acc"] < 1.0:  # 100% of 24 test samples is never reached in two epochs
        assert r["time_to_target"] is None and r["epochs_to_target"] is None


@pytest.mark.parametrize("system", ["spikingjelly", "snntorch", "gru"])
def test_peer_sizes_at_256_hidden(system):
    _need(system)
    m = peers.build_peer(system, n_in=32, classes=10)
    assert sum(p.numel() for p in m.parameters()) == SIZES_256[system]


@pytest.mark.parametrize("system", ["spikelut", "gru"])
def test_same_seed_same_curve(system):
    _need(system)
    a = peers.run_peers([system], **TINY)["systems"][0]["epochs"]
    b = peers.run_peers([system], **TINY)["systems"][0]["epochs"]
    assert [(e["train_acc"], e["val_acc"], e["test_acc"]) for e in a] == \
        [(e["train_acc"], e["val_acc"], e["test_acc"]) for e in b]


def test_target_zero_is_reached_after_the_first_epoch():
    rep = peers.run_peers(["spikelut"], target=0.0, **TINY)
    r = rep["systems"][0]
    assert r["epochs_to_target"] == 1 and r["time_to_target"] == r["epochs"][0]["seconds"]


def test_time_to_target_sums_the_epochs_up_to_the_first_hit():
    ep = [{"seconds": 1.5, "test_acc": 0.7}, {"seconds": 2.0, "test_acc": 0.9},
          {"seconds": 4.0, "test_acc": 0.95}]
    assert peers.time_to_target(ep, 0.88) == (3.5, 2)
    assert peers.time_to_target(ep, 0.96) == (None, None)
    assert peers.time_to_target([], 0.5) == (None, None)


def test_missing_library_is_skipped_with_the_reason(monkeypatch):
    real = peers.importlib.import_module

    def fake(name, *a):
        if name == "snntorch":
            raise ImportError("No module named 'snntorch'")
        return real(name, *a)

    monkeypatch.setattr(peers.importlib, "import_module", fake)
    # torch is imported first: where it is missing too (README's test command installs [dev]
    # only), the reason names torch
    import importlib.util

    why = ("snntorch does not import (ImportError: No module named 'snntorch')"
           if importlib.util.find_spec("torch") else
           "torch does not import (ModuleNotFoundError: No module named 'torch')")
    reason = (f"{why}; install it with: pip install 'spikelut[peers]' && pip install --no-deps "
              f"spikingjelly==2.0.0")
    assert peers.missing("snntorch") == reason
    rep = peers.run_peers(["snntorch", "spikelut"], epochs=1, batch_size=8, limit=16,
                          val_fraction=0.25)
    ran, skipped = rep["systems"]  # report order: spikelut first
    assert skipped == {"system": "snntorch", "available": False, "reason": reason, "library": None,
                       "model": peers.describe("snntorch"), "size": None, "size_unit": None,
                       "lr": None, "epochs": [], "seconds_per_epoch": None, "final_test_acc": None,
                       "best_test_acc": None, "time_to_target": None, "epochs_to_target": None}
    assert ran["system"] == "spikelut" and ran["available"]
    text = peers.format_report(rep)
    assert f"snntorch: skipped: {reason}" in text.splitlines()
    assert "| snntorch | - | skipped | - | - | - | - | - | - |" in peers.format_report(rep, markdown=True)
    with pytest.raises(ToolError, match=f"^snntorch: {why.split(' (')[0]}"):
        peers.build_peer("snntorch", 32, 10)


def test_spike_files_and_markdown_table(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = (rng.random((40, 20, 32)) < 0.3).astype(np.uint8)
    y = np.arange(20) % 10
    save_spikes(tmp_path / "train.h5", x, y)
    # test samples drawn apart from the training ones (a prefix of x is refused: test accuracy
    # on training samples)
    xt = (rng.random((40, 10, 32)) < 0.3).astype(np.uint8)
    save_spikes(tmp_path / "test.h5", xt, y[:10])
    md = tmp_path / "peers.md"
    code = main(["peers", "--systems", "spikelut", "--data", str(tmp_path / "train.h5"),
                 "--test", str(tmp_path / "test.h5"), "--epochs", "1", "--batch-size", "5",
                 "--val-fraction", "0.2", "--target", "0", "--json", "-o", str(md)])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["ok"] is True and data["command"] == "peers"
    assert data["data"]["train"] == 16 and data["data"]["val"] == 4 and data["data"]["test"] == 10
    assert data["data"]["source"] == f"{tmp_path / 'train.h5'} and {tmp_path / 'test.h5'}"
    r = data["systems"][0]
    _check_entry(r, 1, 0.0)
    assert r["epochs_to_target"] == 1
    text = md.read_text()
    assert text.startswith("# Peer benchmark\n\n- date: ")
    assert ("| system | size | s/epoch (batch 5) | epochs | train acc | val acc | test acc (last) | "
            "test acc (best) | time to 0.0% test |") in text
    assert "| spikelut | 4,296 LUT6 | " in text


def test_cli_text_and_json_file(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["peers", "--systems", "spikelut", "--epochs", "1", "--limit", "16",
                 "--batch-size", "8", "--val-fraction", "0.25", "--no-progress", "-o", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "threads: 1 (numba and PyTorch); batch 8; 1 epoch; seed 0" in text
    assert text.rstrip().endswith(f"wrote {out}")
    rep = json.loads(out.read_text())
    assert rep["settings"]["epochs"] == 1 and rep["systems"][0]["system"] == "spikelut"
    load = rep["machine"]["load_average"]  # the timings depend on what else runs
    assert len(load) == 2 and all(v is None or v >= 0 for v in load)
    assert f"load average (1 min) {load[0]} at the start, {load[1]} at the end" in text


@pytest.mark.parametrize("argv, message", [
    (["--systems", "spikelut,caffe"],
     "--systems: unknown system(s) ['caffe']; choose from spikelut, spikingjelly, snntorch, gru or all"),
    (["--data", "a.h5"], "--data and --test go together (a training and a test spike file); give "
                         "both, or neither for the MNIST-1D demo's encoding"),
    (["--lr", "gru"], "--lr 'gru': expected PEER=RATE, e.g. gru=0.003"),
    (["--lr", "spikelut=0.1"], "--lr: 'spikelut' is not a peer; choose from spikingjelly, snntorch, "
                               "gru (spikelut's rate is its config's [train] lr)"),
    (["--lr", "gru=-1"], "--lr gru: must be a number > 0, got -1.0"),
    (["--epochs", "0"], "--epochs must be an integer >= 1, got 0"),
    (["--target", "1.5"], "--target must be an accuracy in [0, 1], got 1.5"),
    (["--threads", "0"], "--threads must be an integer >= 1, got 0"),
    (["--limit", "0"], "--limit must be >= 1, got 0"),
    (["--seed", "-1"], "--seed must be an integer >= 0, got -1"),
    (["--val-fraction", "2"], "validation fraction must be in (0, 1), got 2.0"),
    (["--config", "/nonexistent/c.toml", "--limit", "4"], "/nonexistent/c.toml: no such config file"),
    (["--differences", "1,x"], "--differences: give lags in cycles as a comma list, e.g. 1 or 1,4; got '1,x'"),
    (["--differences", "1", "--data", "a.h5", "--test", "b.h5"],
     "--differences encodes the built-in MNIST-1D; spike files given with --data carry their own "
     "encoding: drop --differences, or encode the files with spikelut encode --differences"),
    (["--differences", "0", "--limit", "8"], "differences: lags must be integers >= 1 (cycles), got [0]"),
    (["--seeds", "0,x"], "--seeds: give seeds as a comma list, e.g. 0,1,2; got '0,x'"),
    (["--seeds", "0,1", "--seed", "2"], "give --seed or --seeds, not both"),
    (["--seeds", "3"], "--seeds needs two or more seeds (one seed: --seed), got [3]"),
    (["--seeds", "1,1"], "--seeds repeats a seed: [1, 1]; give distinct seeds"),
    (["--seeds", "0,-1"], "--seeds must be integers >= 0, got [0, -1]"),
    (["--second-differences", "4", "--data", "a.h5", "--test", "b.h5"],
     "--second-differences encodes the built-in MNIST-1D; spike files given with --data carry "
     "their own encoding: drop --second-differences, or encode the files with spikelut encode "
     "--second-differences"),
])
def test_cli_errors_are_one_line(argv, message, capsys):
    code = main(["peers", *argv])
    cap = capsys.readouterr()
    assert code == 1
    assert cap.err == f"spikelut peers: error: {message}\n"
    code = main(["peers", "--json", *argv])
    assert code == 1
    assert json.loads(capsys.readouterr().out) == {"ok": False, "command": "peers", "error": message}


def test_more_threads_than_numba_has():
    import numba

    top = numba.config.NUMBA_NUM_THREADS
    threads = "thread" if top == 1 else "threads"
    with pytest.raises(ConfigError, match=rf"^--threads {top + 1} is more than numba's {top} {threads}; "
                                          rf"start with NUMBA_NUM_THREADS={top + 1} or ask for fewer$"):
        peers.set_threads(top + 1)


def test_differences_encode_the_demo_data_with_difference_channels(tmp_path):
    """--differences 1 feeds the demo's code plus its lag-1 differences (64 channels), the same
    spikes as spikelut encode --differences 1 of each split; a 32-input config is refused."""
    from spikelut.config import demo_path
    from spikelut.datasets import encode_dataset
    from spikelut.errors import ShapeError

    split = peers.load_split(limit=24, val_fraction=0.25, differences=(1,))
    assert split.sizes() == {"train": 18, "val": 6, "test": 24, "cycles": 40, "channels": 64}
    assert "difference channels (lags 1)" in split.source and "--differences 1)" in split.source
    test = encode_dataset("mnist1d", "thermometer", 40, split="test", seed=0, limit=24,
                          differences=[1], levels=32)
    assert np.array_equal(split.test[0], test.spikes)
    plain = peers.load_split(limit=24, val_fraction=0.25)
    assert np.array_equal(split.test[0][:, :, :32], plain.test[0])  # the code, then the differences
    assert split.test[0][:, :, 32:].any()
    both = peers.load_split(limit=24, val_fraction=0.25, differences=(1,), second_differences=(4,))
    assert both.sizes()["channels"] == 96 and both.source.endswith(
        "--seed 0 --differences 1 --second-differences 4)")
    assert np.array_equal(both.test[0][:, :, :64], split.test[0])
    rep = peers.run_peers(["spikelut"], target=1.0, differences=[1],
                          config=demo_path("train_mnist1d_fast.toml"), **TINY)
    assert rep["settings"]["differences"] == [1] and rep["data"]["channels"] == 64
    _check_entry(rep["systems"][0], 2, 1.0)
    with pytest.raises(ShapeError, match=r"train_mnist1d.toml: the network reads 32 input channels "
                                         r"but the data have 64: drop --differences / "
                                         r"--second-differences, or give a config with inputs = 64 "
                                         r"\(demos/train_mnist1d_fast.toml reads the code and its "
                                         r"lag-1 differences\)$"):
        peers.run_peers(["spikelut"], differences=[1], **TINY)


@pytest.mark.parametrize("inputs, channels, builtin, message", [
    (64, 32, True, "the network reads 64 input channels but the data have 32: add --differences 1 "
                   "(the built-in code has 32 channels, each lag 32 more), or give a config with "
                   "inputs = 32"),
    (96, 32, True, "the network reads 96 input channels but the data have 32: add 2 more lags with "
                   "--differences / --second-differences (the built-in code has 32 channels, each "
                   "lag 32 more), or give a config with inputs = 32"),
    (64, 96, True, "the network reads 64 input channels but the data have 96: use fewer difference "
                   "lags, or give a config with inputs = 96"),
    (64, 20, False, "the network reads 64 input channels but the data have 20; give a config with "
                    "inputs = 20"),
])
def test_inputs_that_do_not_match_the_data_say_what_to_change(tmp_path, inputs, channels, builtin,
                                                              message):
    from spikelut.errors import ShapeError

    cfg = tmp_path / "c.toml"
    cfg.write_text(f"inputs = {inputs}\n")
    with pytest.raises(ShapeError) as e:
        peers.check_inputs(cfg, channels, builtin)
    assert str(e.value) == f"{cfg}: {message}"
    peers.check_inputs(cfg, inputs, builtin)  # a match passes


def test_lags_given_as_a_number_are_refused_in_one_line():
    for kw in ({"differences": 1}, {"second_differences": "4"}):
        name, value = next(iter(kw.items()))
        with pytest.raises(ConfigError) as e:
            peers.load_split(limit=4, **kw)
        assert str(e.value) == f"{name} must be a list of lags in cycles, e.g. [1]; got {value!r}"


def test_seeds_one_run_each_and_a_summary(tmp_path, capsys):
    """--seeds runs the benchmark once per seed (the same run as --seed S alone) and summarises
    per system: median s/epoch, time to the target per seed and its median, last test accuracy."""
    kw = dict(TINY, epochs=1)
    rep = peers.run_peers_seeds([0, 1], systems=["spikelut"], target=0.0, **kw)
    assert rep["seeds"] == [0, 1] and [r["settings"]["seed"] for r in rep["runs"]] == [0, 1]
    alone = peers.run_peers(["spikelut"], target=0.0, seed=1, **kw)
    assert [e["test_acc"] for e in rep["runs"][1]["systems"][0]["epochs"]] == \
        [e["test_acc"] for e in alone["systems"][0]["epochs"]]
    (sm,) = rep["summary"]
    runs = [r["systems"][0] for r in rep["runs"]]
    assert sm["seeds"] == [0, 1] and sm["reached"] == 2 and sm["epochs_to_target"] == [1, 1]
    assert sm["time_to_target"] == [r["time_to_target"] for r in runs]
    assert sm["median_time_to_target"] == peers.median_or_none(sm["time_to_target"])
    assert sm["final_test_acc"] == [r["final_test_acc"] for r in runs]
    assert sm["median_seconds_per_epoch"] == float(np.median([r["seconds_per_epoch"] for r in runs]))
    text = peers.format_seeds_report(rep)
    assert text.startswith("seeds 0, 1: one run per seed") and "--- seed 1 ---" in text
    assert "(2/2 reached)" in text
    assert "median: over the seeds, a seed that did not reach the target counting as later" in text
    assert peers.format_report(rep) == text  # the one formatter takes either report
    md = tmp_path / "s.md"
    code = main(["peers", "--systems", "spikelut", "--seeds", "0,1", "--epochs", "1", "--limit",
                 "24", "--batch-size", "8", "--val-fraction", "0.25", "--target", "1", "--json",
                 "-o", str(md)])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["seeds"] == [0, 1] and len(data["runs"]) == 2
    assert data["summary"][0]["reached"] == 0 and data["summary"][0]["median_time_to_target"] is None
    text = md.read_text()
    assert "## Seed 0" in text and "## Seed 1" in text and "not reached (0/2 reached)" in text


def test_seeds_summary_of_a_skipped_system():
    rep = {"runs": [{"settings": {"seed": s}, "systems": [
        {"system": "snntorch", "available": False, "reason": "snntorch does not import"}]}
        for s in (0, 1)]}
    assert peers.summarize_seeds(rep["runs"]) == [
        {"system": "snntorch", "available": False, "reason": "snntorch does not import"}]
