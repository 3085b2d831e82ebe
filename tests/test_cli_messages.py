"""Messages of the fresh-user trial: usage errors under --json, files given in the wrong place,
config typos (a suggestion, the file and the layer named), and what to encode instead."""

import json
import re
import os

import numpy as np
import pytest

from spikelut.cli import main
from spikelut.config import unknown_keys_message
from spikelut.errors import ConfigError
from spikelut.io import coding_hint
from spikelut.train.config import TrainConfig
from spikelut.wiring import random_taps

from helpers import run


def usage(capsys, *argv):
    """Exit status, stdout and the last stderr line of a command line argparse rejects."""
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert err.startswith("usage: ")  # argparse's usage line comes first, as always
    return e.value.code, out, err.strip().splitlines()[-1]


@pytest.fixture
def osc(tmp_path, demos_dir, capsys):
    m = tmp_path / "osc.h5"
    assert run(capsys, "init", os.path.join(demos_dir, "oscillator.toml"), "-o", m)[0] == 0
    return m


@pytest.fixture
def stim(tmp_path, osc, capsys):
    s = tmp_path / "s.h5"
    assert run(capsys, "stimulus", osc, "--steps", "4", "-o", s)[0] == 0
    return s


# ------------------------------------------------------------------ usage errors, --json
@pytest.mark.parametrize("argv, command, error", [
    (["encode", "--dataset", "first_of_two", "--levels", "4", "-o", "x.h5"], "encode",
     "unrecognized arguments: --levels 4"),
    (["simulate"], "simulate", "the following arguments are required: model, spikes, -o/--output"),
    (["train", "a.toml", "--data"], "train", "argument --data: expected one argument"),
    (["encode", "--split", "val"], "encode",
     "argument --split: invalid choice: 'val' (choose from 'train', 'test')"),
    (["bogus"], None, "argument COMMAND: invalid choice: 'bogus' (choose from 'analyze', "
                      "'backends', 'bench', 'encode', 'ensemble', 'eval', 'export', 'info', 'init', "
                      "'peers', 'plot', 'prune', 'raster', 'rtl', 'run', 'simulate', 'stimulus', "
                      "'sweep', 'train', 'vcd')"),
])
def test_usage_error_with_json_prints_one_object_and_exits_2(capsys, argv, command, error):
    code, out, last = usage(capsys, *argv, "--json")
    assert code == 2
    assert json.loads(out) == {"ok": False, "command": command, "error": error}
    assert out.count("\n") == 1
    prog = f"spikelut {command}" if command else "spikelut"
    assert last == f"{prog}: error: {error}"


@pytest.mark.parametrize("argv, command, error", [
    # counts of samples or cycles: the option is named (the trial: "chunk must be a positive
    # number of samples, got 0" named no option, "need steps >= 1, ...; got 0, 1, 2" not the one)
    (["simulate", "m.h5", "s.h5", "-o", "r.h5", "--chunk", "0"], "simulate",
     "argument --chunk: must be an integer >= 1, got 0"),
    (["eval", "m.h5", "s.h5", "--chunk", "-3"], "eval", "argument --chunk: must be an integer >= 1, got -3"),
    (["encode", "--dataset", "mnist1d", "--steps", "0", "-o", "x.h5"], "encode",
     "argument --steps: must be an integer >= 1, got 0"),
    (["stimulus", "--channels", "2", "--steps", "0", "-o", "x.h5"], "stimulus",
     "argument --steps: must be an integer >= 1, got 0"),
    (["stimulus", "--channels", "2", "--steps", "4", "--batch", "two", "-o", "x.h5"], "stimulus",
     "argument --batch: must be an integer >= 1, got 'two'"),
    (["rtl", "m.h5", "-o", "d", "--steps", "0"], "rtl", "argument --steps: must be an integer >= 1, got 0"),
    (["peers", "--batch-size", "0"], "peers", "argument --batch-size: must be an integer >= 1, got 0"),
])
def test_a_count_below_one_names_its_option(capsys, argv, command, error):
    code, out, last = usage(capsys, *argv, "--json")
    assert code == 2 and json.loads(out) == {"ok": False, "command": command, "error": error}


def test_unknown_option_is_reported_against_the_subcommand(capsys):
    code, out, last = usage(capsys, "encode", "--dataset", "first_of_two", "--levels", "4")
    assert (code, out) == (2, "")
    assert last == "spikelut encode: error: unrecognized arguments: --levels 4"


def test_unknown_option_anywhere_is_reported_against_the_command(capsys):
    code, out, last = usage(capsys, "--bogus", "info", "m.h5")
    assert (code, out, last) == (2, "", "spikelut info: error: unrecognized arguments: --bogus")
    code, out, last = usage(capsys, "--json")  # no command: the top-level parser's
    assert code == 2 and json.loads(out) == {"ok": False, "command": None,
                                             "error": "unrecognized arguments: --json"}
    assert last == "spikelut: error: unrecognized arguments: --json"


# ------------------------------------------------------------------ files in the wrong place
def test_model_given_as_config(capsys, osc, stim):
    code, _, err = run(capsys, "init", osc, "-o", osc.parent / "m2.h5")
    assert code == 1
    assert err == (f"spikelut init: error: {osc}: this is a spikelut model (HDF5), not a TOML "
                   f"config; give the .toml config here (e.g. demos/run_default.toml)\n")
    code, _, err = run(capsys, "run", stim, "-o", osc.parent / "out")
    assert err == (f"spikelut run: error: {stim}: this is a spike file (HDF5), not a TOML "
                   f"config; give the .toml config here (e.g. demos/run_default.toml)\n")


def test_binary_config_that_is_not_hdf5(capsys, tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_bytes(b"\xff\xfe inputs = 1")
    code, _, err = run(capsys, "init", bad, "-o", tmp_path / "m.h5")
    assert code == 1
    assert err == (f"spikelut init: error: {bad}: cannot read config: not UTF-8 text ('utf-8' codec "
                   f"can't decode byte 0xff in position 0: invalid start byte); a config is a "
                   f"TOML text file\n")


def test_a_directory_given_as_the_config(capsys, tmp_path):
    d = tmp_path / "adir.toml"
    d.mkdir()
    for cmd in (["init", d, "-o", tmp_path / "m.h5"], ["train", d, "--data", d, "-o", tmp_path / "t.h5"]):
        code, _, err = run(capsys, *cmd)
        assert (code, err) == (1, f"spikelut {cmd[0]}: error: {d}: is a directory; give the .toml "
                                  f"config file\n")


def test_swapped_model_and_spikes(capsys, osc, stim, tmp_path):
    code, _, err = run(capsys, "simulate", stim, osc, "-o", tmp_path / "r.h5")
    assert code == 1
    hint = ("did you mix up the files? (simulate, eval and analyze take MODEL, then SPIKES; "
            "raster, vcd and plot take RESULT, then --model MODEL; rtl takes MODEL, then --verify "
            "SPIKES)")
    assert err == (f"spikelut simulate: error: {stim}: not a spikelut-model file (root attribute "
                   f"format = 'spikelut-spikes'): it is a spike (or result) file; {hint}\n")
    code, out, _ = run(capsys, "eval", osc, osc, "--json")
    assert code == 1 and json.loads(out)["error"] == (
        f"{osc}: not a spikelut-spikes file (root attribute format = 'spikelut-model'): it is a "
        f"model file; {hint}")


def test_checkpoint_given_as_model_says_which_file_to_give(capsys, tmp_path, demos_dir):
    data = tmp_path / "d.h5"
    assert run(capsys, "encode", "--dataset", "first_of_two", "--split", "test", "-o", data)[0] == 0
    ckpt = tmp_path / "ck.h5"
    assert run(capsys, "train", os.path.join(demos_dir, "train_first_of_two.toml"), "--data", data,
               "--epochs", "1", "-o", tmp_path / "m.h5", "--checkpoint", ckpt,
               "--no-progress")[0] == 0
    code, _, err = run(capsys, "simulate", ckpt, data, "-o", tmp_path / "r.h5")
    assert code == 1
    assert err == (f"spikelut simulate: error: {ckpt}: not a spikelut-model file (root attribute "
                   f"format = 'spikelut-checkpoint'): it is a training checkpoint (spikelut train "
                   f"--checkpoint); give the model that spikelut train -o writes (the same "
                   f"command with --resume finishes an interrupted run and writes it)\n")
    # info describes it instead (where a user looks at a file)
    code, out, err = run(capsys, "info", ckpt)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"{ckpt}: training checkpoint at epoch 1 of 1 (kept epoch 1)",
        out.splitlines()[1],  # the numbers of a trained epoch
        "layers: 64 x 16, 8 x 16 (nodes x table entries)",
        f"continue it: spikelut train CONFIG --data DATA --checkpoint {ckpt} --resume (the same "
        f"config and data; --epochs may grow)"]
    assert re.fullmatch(r"last epoch: loss \d+\.\d{4}, train acc [01]\.\d{4}, val acc -", out.splitlines()[1])
    code, out, _ = run(capsys, "info", ckpt, "--json")
    d = json.loads(out)
    assert (d["kind"], d["epoch"], d["epochs"], d["layers"], d["data_recorded"]) == (
        "checkpoint", 1, 1, [[64, 16], [8, 16]], True)


def test_encode_notes_coding_parameters_a_spike_dataset_ignores(capsys, tmp_path):
    """--coding got a note on a dataset that is spikes already; --param was ignored silently."""
    out = tmp_path / "fot.h5"
    code, text, err = run(capsys, "encode", "--dataset", "first_of_two", "--split", "test",
                          "--param", "levels=4", "-o", out)
    assert (code, err) == (0, "")
    assert text == (f"wrote {out}: 20 cycles x 200 samples x 2 channels (first_of_two test, coding "
                    f"none, 2 classes, mean rate 0.0500)\n"
                    f"note: first_of_two already is spikes; --param levels=4 was ignored\n")
    code, text, _ = run(capsys, "encode", "--dataset", "first_of_two", "--split", "test",
                        "--coding", "rate", "--param", "levels=4", "--param", "thresholds=0.2,0.5",
                        "-o", out, "--force")
    assert code == 0 and text.splitlines()[1:] == [
        "note: first_of_two already is spikes; --coding rate was ignored",
        "note: first_of_two already is spikes; --param levels=4 --param thresholds=0.2,0.5 were "
        "ignored"]
    code, text, _ = run(capsys, "encode", "--dataset", "first_of_two", "--split", "test",
                        "--param", "levels=4", "-o", out, "--force", "--json")
    assert code == 0 and json.loads(text)["params_ignored"] == {"levels": "4"}


def test_resume_from_a_model_says_to_give_the_checkpoint(capsys, tmp_path, demos_dir):
    """--checkpoint MODEL.h5 --resume: the file is read, so 'pass --force to overwrite it' was
    the wrong advice."""
    data = tmp_path / "d.h5"
    assert run(capsys, "encode", "--dataset", "first_of_two", "--split", "test", "-o", data)[0] == 0
    cfg, model = os.path.join(demos_dir, "train_first_of_two.toml"), tmp_path / "m.h5"
    assert run(capsys, "train", cfg, "--data", data, "--epochs", "1", "-o", model,
               "--no-progress")[0] == 0
    before = model.read_bytes()
    code, _, err = run(capsys, "train", cfg, "--data", data, "--epochs", "2", "-o",
                       tmp_path / "m2.h5", "--checkpoint", model, "--resume", "--no-progress")
    assert code == 1
    assert err == (f"spikelut train: error: {model}: is a spikelut model, not a training "
                   f"checkpoint; --resume continues from the file that spikelut train "
                   f"--checkpoint wrote: give that file as --checkpoint\n")
    assert model.read_bytes() == before and not (tmp_path / "m2.h5").exists()
    # without --resume the checkpoint is only written: overwriting it is the question
    code, _, err = run(capsys, "train", cfg, "--data", data, "--epochs", "1", "-o",
                       tmp_path / "m2.h5", "--checkpoint", model, "--no-progress")
    assert code == 1 and err == (f"spikelut train: error: {model}: exists and is a spikelut "
                                 f"model, not a training checkpoint; choose another output or "
                                 f"pass --force to overwrite it\n")


def test_init_and_info_print_what_the_networks_page_shows(capsys, tmp_path, demos_dir):
    # docs/guide/networks.md showed "1 layers" for info, which prints "1 layer"; init printed
    # "1 layers"
    m = tmp_path / "fot.h5"
    code, out, _ = run(capsys, "init", os.path.join(demos_dir, "first_of_two.toml"), "-o", m)
    assert (code, out) == (0, f"wrote {m}: 1 layer, 2 LUT nodes, 2 flip-flops, 2 inputs\n")
    code, out, _ = run(capsys, "info", m)
    assert code == 0 and out.startswith(f"{m}: 2 inputs, 1 layer, 2 LUTs, 2 flip-flops\n")
    doc = open(os.path.join(os.path.dirname(demos_dir), "docs", "guide", "networks.md")).read()
    assert "wrote fot.h5: 1 layer, 2 LUT nodes, 2 flip-flops, 2 inputs\n" in doc
    assert "fot.h5: 2 inputs, 1 layer, 2 LUTs, 2 flip-flops\n" in doc


def test_model_given_as_raster_result_names_the_right_order(capsys, osc, tmp_path):
    # raster takes RESULT first: "the model file comes first" used to send the user the wrong way
    code, _, err = run(capsys, "raster", osc, "--model", osc, "--sample", "0",
                       "-o", tmp_path / "r.png")
    assert code == 1
    assert err == (f"spikelut raster: error: {osc}: not a spikelut-spikes file (root attribute "
                   f"format = 'spikelut-model'): it is a model file; did you mix up the files? "
                   f"(simulate, eval and analyze take MODEL, then SPIKES; raster, vcd and plot "
                   f"take RESULT, then --model MODEL; rtl takes MODEL, then --verify SPIKES)\n")
    assert not (tmp_path / "r.png").exists()


@pytest.mark.parametrize("argv", [
    ["stimulus", "--channels", "2", "--steps", "4", "-o", "{tmp}/s.h5"],
    ["prune", "{osc}", "-o", "{tmp}/p.h5"],
    ["bench", "--sizes", "tiny", "--no-training", "--repeats", "1"],
])
def test_negative_seed_is_one_line_not_a_traceback(capsys, tmp_path, osc, argv):
    # numpy's default_rng(-1) raised a ValueError that reached the user as a traceback
    argv = [a.format(tmp=tmp_path, osc=osc) for a in argv]
    code, out, err = run(capsys, *argv, "--seed", "-1")
    assert (code, out) == (1, "")
    assert err == f"spikelut {argv[0]}: error: --seed must be an integer >= 0, got -1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["osc.h5"]  # nothing written


# ------------------------------------------------------------------ config typos
def test_bad_top_level_seed_is_named_as_top_level(capsys, tmp_path, demos_dir):
    # the [train] check ran first and named "[train]: seed", a key the [train] table lacks
    cfg = tmp_path / "c.toml"
    cfg.write_text(open(os.path.join(demos_dir, "train_first_of_two.toml")).read()
                   .replace("seed = 0", "seed = -1"))
    code, _, err = run(capsys, "train", cfg, "--data", tmp_path / "none.h5",
                       "-o", tmp_path / "m.h5")
    assert code == 1
    assert err == (f"spikelut train: error: {cfg}: [train]: seed must be an integer >= 0, got -1 "
                   f"(the config's top-level seed; [train] sets none)\n")
    assert TrainConfig.from_dict({"seed": 3}, seed=-1).seed == 3  # [train]'s own seed wins


def test_unknown_train_key_suggests_the_close_one():
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict({"epoch": 3}, where="a.toml: [train]")
    assert str(e.value) == "a.toml: [train]: unknown key(s) ['epoch']; did you mean 'epochs'?"


def test_unknown_key_message_shapes():
    allowed = {f"key{i}" for i in range(20)} | {"epochs"}
    assert unknown_keys_message("[t]", ["epoch", "zzz"], allowed, "docs/x.md") == (
        "[t]: unknown key(s) ['epoch', 'zzz']; did you mean 'epochs' for 'epoch'?; the 21 allowed "
        "keys are listed in docs/x.md")
    assert unknown_keys_message("[t]", ["zzz"], {"a", "b"}, "docs/x.md") == (
        "[t]: unknown key(s) ['zzz']; allowed: a, b")


def test_unknown_short_key_suggests_the_one_a_typo_away():
    """difflib's 0.75 cutoff missed 'rnu' for 'run' (ratio 0.67): one swap, missing, extra or
    wrong letter finds it; two edits, or a tie, suggest nothing."""
    top = {"coding", "data", "description", "inputs", "layers", "name", "readout", "rtl", "run",
           "seed", "train"}
    allowed = ", ".join(sorted(top))
    for typo, key in (("rnu", "run"), ("sed", "seed"), ("nmae", "name"), ("RUN", "run"),
                      ("dta", "data"), ("runn", "run")):
        assert unknown_keys_message("c.toml: config", [typo], top) == (
            f"c.toml: config: unknown key(s) [{typo!r}]; did you mean {key!r}?")
    for far in ("abc", "xyz", "rxx", "nrt", "sx"):  # 2 edits from run/rtl, or too short
        assert unknown_keys_message("c.toml: config", [far], top) == (
            f"c.toml: config: unknown key(s) [{far!r}]; allowed: {allowed}")
    # one edit from two keys: no guess
    assert unknown_keys_message("[t]", ["rul"], {"run", "rtl"}) == (
        "[t]: unknown key(s) ['rul']; allowed: rtl, run")


def test_unknown_run_table_in_a_run_config_suggests_run(capsys, tmp_path, demos_dir):
    text = open(os.path.join(demos_dir, "run_default.toml")).read()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("[run]", "[rnu]"))
    code, _, err = run(capsys, "run", bad, "-o", tmp_path / "out")
    assert (code, err) == (1, f"spikelut run: error: {bad}: config: unknown key(s) ['rnu']; did "
                              f"you mean 'run'?\n")
    assert not (tmp_path / "out").exists()


def test_layer_errors_name_the_file_and_the_layer(capsys, tmp_path, demos_dir):
    text = open(os.path.join(demos_dir, "run_default.toml")).read()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("nodes = 64", "nodse = 64"))
    code, _, err = run(capsys, "init", bad, "-o", tmp_path / "m.h5")
    assert code == 1
    assert err == (f"spikelut init: error: {bad}: layer 0 ('mem'): unknown key(s) ['nodse']; "
                   f"did you mean 'nodes'?\n")


@pytest.mark.parametrize("old, new, message", [
    ("epochs = 30", "epoch = 30", "[train]: unknown key(s) ['epoch']; did you mean 'epochs'?"),
    ("raster_samples = 3", "raster_sample = 3",
     "[run]: unknown key(s) ['raster_sample']; did you mean 'raster_samples'?"),
    ("raster_samples = 3", "colour = 3", "[run]: unknown key(s) ['colour']; allowed: backend, "
                                         "engine, raster_samples"),
])
def test_run_config_errors_name_the_file(capsys, tmp_path, demos_dir, old, new, message):
    text = open(os.path.join(demos_dir, "run_default.toml")).read()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(old, new))
    code, _, err = run(capsys, "run", bad, "-o", tmp_path / "out")
    assert (code, err) == (1, f"spikelut run: error: {bad}: {message}\n")
    assert not (tmp_path / "out").exists()


def test_one_node_self_layer_says_what_to_change(capsys, tmp_path):
    cfg = tmp_path / "solo.toml"
    cfg.write_text('inputs = 1\n[[layers]]\nname = "solo"\nnodes = 1\nk = 2\n'
                   'taps = [{ from = "input" }, { from = "self" }]\n')
    code, _, err = run(capsys, "init", cfg, "-o", tmp_path / "m.h5")
    assert code == 1
    assert err == (f"spikelut init: error: {cfg}: layer 0 ('solo'), taps[1]: from = \"self\" draws "
                   f"other nodes of the layer, but it has only 1 node; use from = \"own\" (the "
                   f"node's own output), allow_own = true, or more nodes\n")


def test_random_taps_with_nothing_to_draw():
    with pytest.raises(ConfigError) as e:
        random_taps(np.random.default_rng(0), 1, 1, 1, exclude=np.arange(1))
    assert str(e.value) == ("random wiring: the source has no channel to draw from (n_src = 1, "
                            "minus the node itself); give the tap group a source with more channels")


# ------------------------------------------------------------------ what to encode instead
def test_channel_mismatch_says_which_levels_fit(capsys, tmp_path, demos_dir):
    data = tmp_path / "m1d.h5"
    assert run(capsys, "encode", "--dataset", "mnist1d", "--coding", "thermometer", "--param",
               "levels=4", "--param", "sequence=true", "--steps", "40", "--limit", "4",
               "-o", data)[0] == 0
    model = tmp_path / "fot.h5"
    assert run(capsys, "init", os.path.join(demos_dir, "train_first_of_two.toml"), "-o", model)[0] == 0
    hint = (f"{data}: spikes have 4 channels but the network has 2 inputs; encode the data for "
            f"this network or use another model; the file is thermometer-coded at 4 channels per "
            f"value, 1 value per cycle: encode it with --coding thermometer --param levels=2\n")
    code, _, err = run(capsys, "eval", model, data)
    assert code == 1
    assert err == f"spikelut eval: error: {hint}"
    # rtl --verify makes the same check (api.check_spike_file), before anything is written
    code, _, err = run(capsys, "rtl", model, "-o", tmp_path / "rtl", "--verify", data)
    assert code == 1
    assert err == f"spikelut rtl: error: {hint}"
    assert not (tmp_path / "rtl").exists()


@pytest.mark.parametrize("meta, channels, inputs", [
    ({"coding": "none", "channels_per_value": 1, "params": "{}"}, 2, 4),         # no levels
    ({"coding": "thermometer", "channels_per_value": 4,
      "params": '{"thresholds": [0.1, 0.2, 0.3, 0.4]}'}, 4, 2),                 # explicit thresholds
    ({"coding": "thermometer", "channels_per_value": 4, "params": "{}"}, 8, 3),  # 2 values, 3 inputs
    ({}, 4, 2),                                                                  # not from encode
])
def test_coding_hint_is_silent_when_it_cannot_say(meta, channels, inputs):
    assert coding_hint(meta, channels, inputs) == ""


def test_a_newline_in_a_file_name_is_shown_escaped_on_one_line(capsys, tmp_path):
    """Not as a space (which names another file): as the raster and every other output
    shows it, a backslash escape."""
    name = tmp_path / "miss\ning.h5"
    code, _, err = run(capsys, "info", name)
    shown = str(name).replace("\n", "\\n")
    assert (code, err) == (1, f"spikelut info: error: {shown}: no such file\n")
