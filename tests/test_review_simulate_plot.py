"""Review of simulate / eval / raster / vcd / plot / stimulus / info: each test fails on the code
before the fixes of this review (a traceback, a silently wrong result, a file no reader accepts,
or an unbounded allocation)."""

import json
import shutil
import tracemalloc

import h5py
import numpy as np
import pytest

from spikelut.api import evaluate
from spikelut.engine.result import SimResult
from spikelut.io import load_model, load_spikes, save_model, save_spikes
from spikelut.wiring import random_network

from helpers import one_error_line, run

FREE = """
name = "free"
seed = 0
inputs = 0
[[layers]]
name = "osc"
nodes = 2
k = 1
table = [1, 0]
taps = [ { from = "own", delay = 1 } ]
[readout]
classes = 2
"""


@pytest.fixture
def free_result(tmp_path, capsys):
    """The result of a network without inputs (``inputs = 0``, legal): an oscillator pair."""
    (tmp_path / "free.toml").write_text(FREE)
    model, stim, res = tmp_path / "free.h5", tmp_path / "stim.h5", tmp_path / "res.h5"
    assert run(capsys, "init", tmp_path / "free.toml", "-o", model)[0] == 0
    assert run(capsys, "stimulus", "--channels", 0, "--steps", 8, "--batch", 2, "-o", stim)[0] == 0
    assert run(capsys, "simulate", model, stim, "-o", res)[0] == 0
    return model, res


def test_raster_and_rates_of_a_network_without_inputs(tmp_path, free_result, capsys):
    """An empty input panel was a numpy ValueError traceback in raster ('zero-size array to
    reduction operation minimum') and in plot rates ('cannot reshape array of size 0')."""
    from PIL import Image

    model, res = free_result
    code, out, err = run(capsys, "raster", res, "--model", model, "-o", tmp_path / "r.png",
                         "--size", "400x300")
    assert (code, err) == (0, "") and out == f"wrote {tmp_path / 'r.png'} (sample 0, model {model})\n"
    assert Image.open(tmp_path / "r.png").size == (400, 300)
    code, out, err = run(capsys, "plot", "rates", res, "-o", tmp_path / "p.png")
    assert (code, err) == (0, "") and out == f"wrote {tmp_path / 'p.png'}\n"
    # the layer's nodes toggle every cycle: a rate of 0.5 each
    from spikelut.plot import firing_rates

    assert firing_rates(np.zeros((3, 2, 0), np.uint8)).shape == (0,)


def _edit(src, dst, how):
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        how(f)
    return dst


def _replace(f, name, data):
    del f[name]
    f[name] = data


def _no_layers(f):
    del f["layers/L0"]


def _no_cycles(f):
    for name in ("spikes", "layers/L0/spikes"):
        _replace(f, name, f[name][:0])


def _no_samples(f):
    for name in ("spikes", "layers/L0/spikes"):
        _replace(f, name, f[name][:, :0])
    for name in ("readout/counts", "readout/pred"):
        _replace(f, name, f[name][:0])


def _no_nodes(f):
    _replace(f, "layers/L0/spikes", f["layers/L0/spikes"][:, :, :0])


@pytest.mark.parametrize("how, message", [
    (_no_layers, "the result holds no layer; make one with 'spikelut simulate'"),
    (_no_cycles, "the result has 0 cycles and 2 samples; there is nothing to show (spikelut "
                 "simulate writes at least one of each)"),
    (_no_samples, "the result has 8 cycles and 0 samples; there is nothing to show (spikelut "
                  "simulate writes at least one of each)"),
    (_no_nodes, "layer 0 has no nodes; a layer has at least one"),
])
@pytest.mark.parametrize("command", [["raster"], ["vcd"], ["plot", "rates"]])
def test_hand_edited_empty_results_are_one_line(tmp_path, free_result, capsys, how, message,
                                                command):
    """No layer: an IndexError traceback in raster, vcd and plot rates; no cycles: a numpy
    traceback in raster, a VCD of no cycle, a figure of NaN rates with RuntimeWarnings (exit 0);
    no samples: 'samples 0 .. -1', or that NaN figure."""
    bad = _edit(free_result[1], tmp_path / "bad.h5", how)
    out = tmp_path / ("x.vcd" if command == ["vcd"] else "x.png")
    line = one_error_line(capsys, command[0], *command, bad, "-o", out)
    assert line == f"spikelut {command[0]}: error: {bad}: {message}"
    assert not out.exists()


def test_rate_histogram_bins_are_bounded_before_allocation(tmp_path, free_result, capsys):
    """--bins 10**11 asked numpy for 745 GiB ('not enough memory'); 2.5 was accepted by the API."""
    line = one_error_line(capsys, "plot", "plot", "rates", free_result[1], "--bins", 10**11,
                          "-o", tmp_path / "p.png")
    assert line == "spikelut plot: error: bins must be a whole number 1 .. 10000, got 100000000000"
    from spikelut.errors import ConfigError
    from spikelut.plot import rate_histogram

    with pytest.raises(ConfigError, match=r"^bins must be a whole number 1 \.\. 10000, got 2\.5$"):
        rate_histogram(free_result[1], bins=2.5)
    assert not (tmp_path / "p.png").exists()


def test_api_figures_of_an_empty_simresult_are_one_error():
    from spikelut.errors import ShapeError
    from spikelut.plot import raster
    from spikelut.vcd import write_vcd

    empty = SimResult([], np.zeros((0, 1), np.int32), np.zeros(0, np.int32))
    with pytest.raises(ShapeError, match="^the result: the result holds no layer"):
        raster(empty, 0)
    with pytest.raises(ShapeError, match="^the result: the result holds no layer"):
        write_vcd(empty, 0, "never.vcd")


# ---------------------------------------------------------------------------- stimulus
@pytest.mark.parametrize("argv, message", [
    (["--seed", 2**80], "--seed must be at most 9223372036854775807 (it is stored as a 64-bit "
                        "integer), got 1208925819614629174706176"),
    (["--steps", 2**24 + 1], "steps = 16777217 is more than the limit of 16777216 cycles; give "
                             "fewer steps"),
    (["--batch", 2**24 + 1], "--batch 16777217 is more than the limit of 16777216 (a spike file "
                             "over it is refused by every reader)"),
    (["--channels", 2**24 + 1], "--channels 16777217 is more than the limit of 16777216 (a spike "
                                "file over it is refused by every reader)"),
])
def test_stimulus_refuses_what_no_reader_accepts(tmp_path, capsys, argv, message):
    """A seed past int64 was h5py's TypeError traceback (after the spikes were drawn); 2**24 + 1
    cycles (or zero channels and 2**24 + 1 samples) wrote a file that simulate, eval and encode
    refuse ('number of cycles T ... is more than the limit')."""
    base = {"--steps": 2, "--channels": 0}
    args = [a for k, v in base.items() if k not in argv for a in (k, v)] + argv
    line = one_error_line(capsys, "stimulus", "stimulus", *args, "-o", tmp_path / "s.h5")
    assert line == f"spikelut stimulus: error: {message}"
    assert not (tmp_path / "s.h5").exists()


def test_stimulus_largest_seed_is_written(tmp_path, capsys):
    assert run(capsys, "stimulus", "--channels", 1, "--steps", 2, "--seed", 2**63 - 1,
               "-o", tmp_path / "s.h5")[0] == 0
    assert load_spikes(tmp_path / "s.h5").meta["seed"] == 2**63 - 1


# ---------------------------------------------------------------------------- analog models
def _analog_model(path, noise=0.0, bits=4, data=None):
    net = random_network(0, n_in=2, sizes=[6, 2], k=3, classes=2)
    rng = np.random.default_rng(1)
    layers = []
    for l in net.layers:
        logits = rng.normal(0, 1, l.table.shape).astype(np.float32)
        layers.append(l.replace(logits=logits, table=(logits > 0).astype(np.uint8)))
    meta = {"analog": {"bits": bits, "noise": noise}}
    if data:
        meta["data"] = data
    save_model(net.replace(layers=layers, meta=meta), path)
    return path


def _labelled(path, B=1300, coding=None):
    rng = np.random.default_rng(2)
    x = (rng.random((12, B, 2)) < 0.4).astype(np.uint8)
    meta = {} if coding is None else {"coding": coding, "dataset": "first_of_two", "steps": 12,
                                      "channels_per_value": 1, "params": "{}"}
    save_spikes(path, x, labels=np.arange(B) % 2, meta=meta)
    return path


DATA = {"steps": 12, "coding": "none", "dataset": "first_of_two", "params": {}}


def test_eval_analog_refuses_another_encoding(tmp_path, capsys):
    """The binary path refused a file encoded otherwise; the analog path scored it silently."""
    model = _analog_model(tmp_path / "a.h5", data=DATA)
    spikes = _labelled(tmp_path / "s.h5", B=10, coding="rate")
    line = one_error_line(capsys, "eval", "eval", model, spikes)
    assert line.startswith(f"spikelut eval: error: {spikes}: encoded differently from the model's "
                           f"training data (the file has coding rate, the model was trained on "
                           f"none); encode it with: spikelut encode ")


def test_eval_analog_label_error_names_the_file(tmp_path, capsys):
    model = _analog_model(tmp_path / "a.h5")
    spikes = tmp_path / "s.h5"
    save_spikes(spikes, np.zeros((4, 3, 2), np.uint8), labels=[0, 1, 7])
    line = one_error_line(capsys, "eval", "eval", model, spikes)
    assert line == (f"spikelut eval: error: {spikes}: label 7 is out of range: the readout has 2 "
                    f"classes (labels 0..1); set [readout] classes to match the data")


@pytest.mark.parametrize("chunk", [[], ["--chunk", 7], ["--chunk", 1000], ["--chunk", 10**6]])
def test_eval_analog_streams_and_equals_the_api(tmp_path, capsys, chunk):
    """The analog path read the whole file and ignored --chunk; now it streams in whole read-noise
    batches, so the accuracy (with noise) equals api.evaluate's for every --chunk."""
    model = _analog_model(tmp_path / "a.h5", noise=0.3, bits=2)
    spikes = _labelled(tmp_path / "s.h5")
    d = load_spikes(spikes)
    want = evaluate(load_model(model), d.spikes, d.labels)
    code, out, err = run(capsys, "eval", model, spikes, *chunk, "--json")
    assert (code, err) == (0, "")
    got = json.loads(out)
    assert got["confusion"] == want.confusion.tolist() and got["correct"] == want.correct
    assert got["analog"] == {"bits": 2, "noise": 0.3}


def test_eval_analog_says_backend_is_not_used(tmp_path, capsys):
    model = _analog_model(tmp_path / "a.h5")
    code, out, err = run(capsys, "eval", model, _labelled(tmp_path / "s.h5", B=5), "--backend",
                         "numba")
    assert code == 0 and out.endswith("; analog model, 4-bit tables\n")
    assert err == ("spikelut eval: note: an analog model runs its own numpy simulation; "
                   "--backend numba is not used\n")


def test_malformed_analog_meta_names_the_file(tmp_path, capsys):
    """'analog bits must be an integer in 1 .. 16, got 99' did not say which file."""
    model = _analog_model(tmp_path / "a.h5", bits=1)
    with h5py.File(model, "r+") as f:
        f.attrs["meta"] = json.dumps({"analog": {"bits": 99, "noise": 0.0}})
    spikes = _labelled(tmp_path / "s.h5", B=3)
    msg = f"{model}: model meta 'analog': analog bits must be an integer in 1 .. 16, got 99"
    assert one_error_line(capsys, "eval", "eval", model, spikes) == f"spikelut eval: error: {msg}"
    assert one_error_line(capsys, "simulate", "simulate", model, spikes, "-o",
                          tmp_path / "r.h5") == f"spikelut simulate: error: {msg}"
    code, out, _ = run(capsys, "info", model)  # info describes it instead of refusing
    assert code == 0 and ("model meta 'analog': analog bits must be an integer in 1 .. 16, got 99; "
                          "simulate, eval and rtl refuse this model") in out.splitlines()


def test_info_says_a_model_is_analog(tmp_path, capsys):
    """info printed an analog model as any binary one; simulate and rtl then refused it."""
    model = _analog_model(tmp_path / "a.h5", bits=4, noise=0.05)
    code, out, _ = run(capsys, "info", model)
    assert code == 0 and ("analog model: 4-bit tables, read noise 0.05; spikelut eval runs it, "
                          "simulate, rtl and export need a binary model") in out.splitlines()
    code, out, _ = run(capsys, "info", model, "--json")
    assert json.loads(out)["analog"] == {"bits": 4, "noise": 0.05}


# ---------------------------------------------------------------------------- vcd memory
def test_vcd_is_written_cycle_by_cycle(tmp_path):
    """write_vcd built a list of every line of the trace before writing (a 16 M-cycle sample held
    gigabytes of Python strings); now its memory is the sample's bits plus one cycle's text."""
    from spikelut.vcd import vcd_spike_trains, write_vcd

    T, n = 20000, 64
    s = np.zeros((T, 1, n), np.uint8)
    s[::2] = 1  # every wire changes every cycle: n value lines per cycle
    res = SimResult([s], np.zeros((1, 1), np.int32), np.zeros(1, np.int32))
    tracemalloc.start()
    try:
        write_vcd(res, 0, tmp_path / "w.vcd")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak  # the old list: about 90 MB of strings
    assert np.array_equal(vcd_spike_trains(tmp_path / "w.vcd")["L0"], s[:, 0])


# ---------------------------------------------------------------------------- plot table memory
def test_address_counts_bound_their_working_memory():
    """64 samples at once whatever T and n: int64 addresses [T, n, 64] were 8x the layer's spikes
    (151 MB here); now at most plot.ADDRESS_BYTES of them, with the same counts."""
    from spikelut.api import simulate
    from spikelut.plot import address_counts

    net = random_network(0, n_in=4, sizes=[128, 2], k=3, classes=2)
    x = (np.random.default_rng(0).random((1000, 64, 4)) < 0.3).astype(np.uint8)
    res = simulate(net, x, backend="numpy")
    tracemalloc.start()
    try:
        got = address_counts(net, x, res.layer_spikes, 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 60 << 20, peak
    assert np.array_equal(got, address_counts(net, x, res.layer_spikes, 0, chunk=64))
    assert int(got.sum()) == 1000 * 64 * 128  # one address per node, sample and cycle


# ---------------------------------------------------------------------------- training logs
@pytest.mark.parametrize("figure", ["curves", "wiring"])
def test_a_training_log_that_is_a_fifo_is_refused_not_waited_on(tmp_path, figure):
    """plot curves/wiring opened a FIFO and waited for a writer forever (and read /dev/zero until
    memory ran out): a training log must be a regular file, as every other input."""
    import os
    import subprocess
    import sys

    fifo = tmp_path / "log.jsonl"
    os.mkfifo(fifo)
    try:
        p = subprocess.run([sys.executable, "-m", "spikelut", "plot", figure, str(fifo), "-o",
                            str(tmp_path / "c.png")], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("plot blocked on the FIFO")
    assert (p.returncode, p.stdout) == (1, "")
    assert p.stderr == (f"spikelut plot: error: {fifo}: not a regular file (a device, FIFO or "
                        f"socket); expected a training log (JSON lines)\n")


def test_a_training_log_that_is_a_directory_is_named_so(tmp_path, capsys):
    line = one_error_line(capsys, "plot", "plot", "curves", tmp_path, "-o", tmp_path / "c.png")
    assert line == (f"spikelut plot: error: {tmp_path}: is a directory, expected a training log "
                    f"(JSON lines)")
