"""The command line: init, info, stimulus, simulate; --json; errors are one line and exit 1."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from spikelut.cli import main
from spikelut.io import load_result

from helpers import run


@pytest.fixture
def osc(tmp_path, demos_dir, capsys):
    m = tmp_path / "osc.h5"
    assert run(capsys, "init", os.path.join(demos_dir, "oscillator.toml"), "-o", m)[0] == 0
    return m


def test_init_info_stimulus_simulate(tmp_path, osc, capsys):
    code, out, _ = run(capsys, "info", osc)
    assert code == 0 and "1 LUT, 1 flip-flop" in out
    stim = tmp_path / "s.h5"
    assert run(capsys, "stimulus", osc, "--steps", 6, "--rate", 1.0, "-o", stim)[0] == 0
    res = tmp_path / "r.h5"
    code, out, _ = run(capsys, "simulate", osc, stim, "-o", res)
    assert code == 0 and "simulated 1 sample x 6 cycles" in out
    _, result = load_result(res)
    assert result.layer_spikes[0][:, 0, 0].tolist() == [1, 0, 1, 0, 1, 0]


def test_a_stimulus_for_a_model_that_records_its_encoding_simulates(tmp_path, osc, capsys):
    """stimulus MODEL writes random spikes, not encoded data: simulate accepts them for a model
    that records the encoding of its training data, which refuses another encoding."""
    from spikelut.io import load_model, save_model, save_spikes

    net = load_model(osc)
    net.meta["data"] = {"dataset": "first_of_two", "coding": "none", "params": {}}
    model = tmp_path / "m.h5"
    save_model(net, model)
    stim = tmp_path / "s.h5"
    assert run(capsys, "stimulus", model, "--steps", 5, "--batch", 2, "-o", stim)[0] == 0
    code, out, err = run(capsys, "simulate", model, stim, "-o", tmp_path / "r.h5")
    assert (code, err) == (0, "") and "simulated 2 samples x 5 cycles" in out
    other = tmp_path / "o.h5"
    save_spikes(other, np.ones((5, 2, 1), np.uint8), meta={"coding": "rate"})
    code, _, err = run(capsys, "simulate", model, other, "-o", tmp_path / "r2.h5")
    assert code == 1 and "encoded differently from the model's training data (the file has " \
                         "coding rate, the model was trained on none)" in err


def test_simulate_prints_accuracy_with_labels(tmp_path, osc, capsys):
    from spikelut.io import save_spikes
    stim = tmp_path / "s.h5"
    save_spikes(stim, np.ones((4, 3, 1), np.uint8), labels=[0, 0, 0])
    code, out, _ = run(capsys, "simulate", osc, stim, "-o", tmp_path / "r.h5", "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] and data["accuracy"] == 1.0 and data["samples"] == 3


def test_json_info(osc, capsys):
    code, out, _ = run(capsys, "info", osc, "--json")
    data = json.loads(out)
    assert data["flip_flops"] == 1 and data["layers"][0]["taps_self"] == 1 and data["command"] == "info"


@pytest.mark.parametrize("argv, message", [
    (["info", "{tmp}/nope.h5"], "nope.h5: no such file"),
    (["init", "{tmp}/nope.toml", "-o", "{tmp}/m.h5"], "nope.toml: no such config file"),
    (["simulate", "{osc}", "{osc}", "-o", "{tmp}/r.h5"], "not a spikelut-spikes file"),
    (["init", "{bad}", "-o", "{tmp}/m.h5"], "k = 13 is out of range"),
    (["stimulus", "--steps", "3", "-o", "{tmp}/s.h5"], "give either a MODEL file or --channels N"),
    (["simulate", "{osc}", "{wide}", "-o", "{tmp}/r.h5"], "3 channels but the network has 1 input;"),
    (["init", "{bad}", "-o", "{tmp}"], "is a directory"),
])
def test_errors_are_one_line_and_exit_1(tmp_path, osc, capsys, argv, message):
    bad = tmp_path / "bad.toml"
    bad.write_text('inputs = 1\n[[layers]]\nnodes = 1\nk = 13\ntaps = [{from = "input", count = 13}]\n')
    wide = tmp_path / "wide.h5"
    from spikelut.io import save_spikes
    save_spikes(wide, np.zeros((2, 1, 3), np.uint8))
    argv = [a.format(tmp=tmp_path, osc=osc, bad=bad, wide=wide) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    code, out, err = run(capsys, *argv, "--json")
    assert code == 1 and json.loads(out) == {"ok": False, "command": argv[0], "error": err.split("error: ", 1)[1].strip()}


def test_truncated_model_via_cli(tmp_path, osc, capsys):
    data = osc.read_bytes()
    (tmp_path / "t.h5").write_bytes(data[:300])
    code, _, err = run(capsys, "info", tmp_path / "t.h5")
    assert code == 1 and "t.h5: not a readable HDF5 file" in err


def test_console_script_entry_point_runs(osc):
    p = subprocess.run([sys.executable, "-m", "spikelut", "info", str(osc), "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and json.loads(p.stdout)["nodes"] == 1
    p = subprocess.run([sys.executable, "-m", "spikelut", "info", "/nonexistent.h5"],
                       capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr.strip() == "spikelut info: error: /nonexistent.h5: no such file"


def test_unknown_option_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["info", "x.h5", "--bogus"])
    assert e.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


@pytest.mark.parametrize("argv, usage, message", [
    (["plot", "curves", "--json"], "spikelut plot curves",
     "the following arguments are required: log, -o/--output"),
    (["plot", "--json", "wiring", "log.jsonl"], "spikelut plot wiring",
     "the following arguments are required: -o/--output"),
    (["plot", "--json", "bogus"], "spikelut plot",
     "argument {rates,table,curves,wiring}: invalid choice: 'bogus' (choose from 'rates', "
     "'table', 'curves', 'wiring')"),
])
def test_plot_usage_errors_name_the_command_plot_in_json(capsys, argv, usage, message):
    """A subcommand of plot is named "plot" in the JSON object, as plot's other errors are."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    out, err = capsys.readouterr()
    assert e.value.code == 2
    assert err.splitlines()[-1] == f"{usage}: error: {message}"
    assert json.loads(out) == {"ok": False, "command": "plot", "error": message}


def _bad_model_cases():
    from test_io import BAD_MODELS
    return BAD_MODELS


@pytest.mark.parametrize("edit, message", _bad_model_cases())
def test_every_bad_model_file_exits_1_with_its_message(tmp_path, capsys, edit, message):
    from spikelut.io import save_model
    from spikelut.wiring import random_network
    import h5py

    path = tmp_path / "m.h5"
    save_model(random_network(3, 4, [6, 3], k=[3, 4], max_delay=2, refractory=[1, 0]), path)
    with h5py.File(path, "a") as f:
        edit(f)
    code, _, err = run(capsys, "info", path)
    assert code == 1 and message in err and err.count("\n") == 1 and str(path) in err


def _bad_config_cases():
    from test_config import BAD_CONFIGS
    return BAD_CONFIGS


@pytest.mark.parametrize("mutate, message", _bad_config_cases())
def test_every_bad_config_exits_1_with_its_message(tmp_path, capsys, mutate, message):
    import re

    from spikelut.config import tomllib
    from test_config import cfg

    c = cfg()
    mutate(c)

    def toml(v):
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {toml(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(toml(x) for x in v) + "]"
        return json.dumps(v)

    lines = [f"{k} = {toml(v)}" for k, v in c.items() if not isinstance(v, (dict, list))]
    lines += [f"inputs = {toml(c['inputs'])}"] if isinstance(c.get("inputs"), dict) else []
    for layer in c["layers"]:
        lines.append("[[layers]]")
        lines += [f"{k} = {toml(v)}" for k, v in layer.items()]
    lines.append("[readout]")
    lines += [f"{k} = {toml(v)}" for k, v in c["readout"].items()]
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)
    p = tmp_path / "bad.toml"
    p.write_text(text)
    code, _, err = run(capsys, "init", p, "-o", tmp_path / "m.h5")
    assert code == 1 and re.search(message, err) and err.count("\n") == 1
