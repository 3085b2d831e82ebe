"""Review: a spike file of another cycle count than the model's training data. A model trained
on 4-cycle spikes scored 6-cycle spikes of the same coding without a word (the readout counts
over the whole window, so the result is wrong); simulate, eval, analyze, prune --data,
ensemble --data and rtl --verify now refuse such a file in one line that names both counts and
the encode command, where both the model (its training data's encoding and steps) and the file
(spikelut encode) record how they were encoded. Random stimuli and models without a record are
left alone."""

import numpy as np
import pytest

from helpers import one_error_line, run
from spikelut.cli import main
from spikelut.io import load_model, save_model

# one layer read by the readout: trains one epoch in well under a second
CONFIG = ('seed = {seed}\ninputs = {n}\n[readout]\nclasses = 10\n[[layers]]\nname = "out"\n'
          'nodes = 10\nk = 2\ntaps = [{{ from = "input", count = 2 }}]\n'
          '[train]\nepochs = 1\nbatch_size = 10\nbackend = "numpy"\n')

STATIC = "--dataset mnist1d --coding rate --steps 4 --param sequence=false"
SEQUENCE = "--dataset mnist1d --coding thermometer --param levels=2 --param sequence=true"


def _encode(d, name, *argv):
    assert main(["encode", *argv, "--limit", "20", "-o", str(d / name)]) == 0, name


def _train(d, name, data, n_in, seed=0):
    cfg = d / f"{name}.toml"
    cfg.write_text(CONFIG.format(n=n_in, seed=seed))
    assert main(["train", str(cfg), "--data", str(d / data), "-o", str(d / name),
                 "--no-progress"]) == 0


def _save_without(d, source, name, *keys):
    """``source`` with ``keys`` left out of its ``meta["data"]``."""
    net = load_model(d / source)
    rec = {k: v for k, v in net.meta["data"].items() if k not in keys}
    save_model(net.replace(meta={**net.meta, "data": rec}), d / name)


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    """Models trained by ``spikelut train`` on real encodings (mnist1d, 20 samples):

    * ``static.h5``: rate code, 4 cycles (``s4.h5``); ``t4.h5`` its test split, ``t6.h5`` the
      test split at 6 cycles, ``stim6.h5`` random 6-cycle stimuli (no encoding record);
    * ``seq.h5``: thermometer fed one value per cycle (40 cycles: the series' length);
      ``q40.h5`` its test split, ``q30.h5`` series of 30 values in that encoding (a user file);
    * ``nosteps.h5`` (``static.h5`` without ``steps``: a model file from before it was recorded),
      ``arrays.h5`` (``steps`` but no encoding: a model trained on arrays);
    * ``static2.h5``, ``seq2.h5``, ``nosteps2.h5``, ``arrays2.h5``: the same trained with another
      seed, the second ensemble member.
    """
    d = tmp_path_factory.mktemp("cycles")
    _encode(d, "s4.h5", *STATIC.split())
    _encode(d, "t4.h5", *STATIC.split(), "--split", "test")
    _encode(d, "t6.h5", *STATIC.replace("--steps 4", "--steps 6").split(), "--split", "test")
    _encode(d, "q40.h5", *SEQUENCE.split())
    _encode(d, "q40t.h5", *SEQUENCE.split(), "--split", "test")
    rng = np.random.default_rng(0)
    np.savez(d / "short.npz", x=rng.random((20, 30)).astype(np.float32),
             y=np.arange(20) % 10, kind="sequence", classes=10)
    _encode(d, "q30.h5", *SEQUENCE.replace("mnist1d", str(d / "short.npz")).split())
    _encode(d, "fot.h5", "--dataset", "first_of_two", "--split", "test")
    for seed, suffix in ((0, ""), (1, "2")):  # the second: another ensemble member
        _train(d, f"static{suffix}.h5", "s4.h5", 40, seed)
        _train(d, f"seq{suffix}.h5", "q40.h5", 2, seed)
        _save_without(d, f"static{suffix}.h5", f"nosteps{suffix}.h5", "steps")
        _save_without(d, f"static{suffix}.h5", f"arrays{suffix}.h5", "dataset", "coding",
                      "params", "differences")
    assert main(["stimulus", str(d / "static.h5"), "--steps", "6", "--batch", "3", "-o",
                 str(d / "stim6.h5")]) == 0
    return d


def _argv(command, d, model, spikes, out):
    """The command line of ``command`` for ``model`` on ``spikes``, writing under ``out``."""
    m, s = d / model, d / spikes
    return {"simulate": ["simulate", m, s, "-o", out / "r.h5"],
            "eval": ["eval", m, s],
            "analyze": ["analyze", m, s],
            "prune": ["prune", m, "--data", s, "-o", out / "p.h5"],
            "ensemble": ["ensemble", m, d / model.replace(".h5", "2.h5"), "--data", s, "-o",
                         out / "e.h5"],
            "rtl": ["rtl", m, "--verify", s, "-o", out / "rtl"]}[command]


COMMANDS = ["simulate", "eval", "analyze", "prune", "ensemble", "rtl"]
SCORING = COMMANDS[:-1]  # rtl --verify of a right file needs a Verilog simulator


def test_the_models_record_their_training_data(d):
    assert load_model(d / "static.h5").meta["data"]["steps"] == 4
    rec = load_model(d / "seq.h5").meta["data"]
    assert (rec["steps"], rec["params"]["sequence"]) == (40, True)
    assert "steps" not in load_model(d / "nosteps.h5").meta["data"]
    assert load_model(d / "arrays.h5").meta["data"] == {"steps": 4}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_file_of_another_cycle_count_is_refused(d, tmp_path, capsys, command):
    line = one_error_line(capsys, command, *_argv(command, d, "static.h5", "t6.h5", tmp_path))
    assert line == (f"spikelut {command}: error: {d / 't6.h5'}: spikes have 6 cycles per sample "
                    f"but the model was trained on 4; encode it with: spikelut encode {STATIC}")
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("command", COMMANDS)
def test_a_sequence_of_another_length_is_refused(d, tmp_path, capsys, command):
    """The same coding, parameters and lags (no 'encoded differently'), series of 30 values
    where the model read 40: the message says why --steps does not appear in the command."""
    line = one_error_line(capsys, command, *_argv(command, d, "seq.h5", "q30.h5", tmp_path))
    assert line == (f"spikelut {command}: error: {d / 'q30.h5'}: spikes have 30 cycles per "
                    f"sample but the model was trained on 40 (its coding feeds one value per "
                    f"cycle: the series must be 40 values long); encode it with: spikelut "
                    f"encode {SEQUENCE}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("model, spikes", [("static.h5", "t4.h5"), ("seq.h5", "q40t.h5")])
@pytest.mark.parametrize("command", SCORING)
def test_a_file_of_the_same_encoding_still_works(d, tmp_path, capsys, command, model, spikes):
    """The test split encoded like the training data (a sequence coding takes its length from
    the series: the same dataset has the same length) is never refused."""
    code, out, err = run(capsys, *_argv(command, d, model, spikes, tmp_path))
    assert (code, err) == (0, ""), err


@pytest.mark.parametrize("model", ["nosteps.h5", "arrays.h5"])
@pytest.mark.parametrize("command", SCORING)
def test_a_model_that_records_no_steps_or_no_encoding_takes_any_length(d, tmp_path, capsys,
                                                                      command, model):
    code, out, err = run(capsys, *_argv(command, d, model, "t6.h5", tmp_path))
    assert (code, err) == (0, ""), err


def test_random_stimuli_of_another_length_still_simulate(d, tmp_path, capsys):
    """spikelut stimulus writes no encoding record: a network is explored on any length."""
    code, out, err = run(capsys, "simulate", d / "static.h5", d / "stim6.h5", "-o",
                         tmp_path / "r.h5")
    assert (code, err) == (0, "") and "simulated 3 samples x 6 cycles" in out


def test_another_encoding_is_named_before_the_cycle_count(d, capsys):
    """A file of the right width in another coding and of another length (first_of_two: 2
    channels, 20 cycles): the coding is the difference named."""
    line = one_error_line(capsys, "eval", "eval", d / "seq.h5", d / "fot.h5")
    assert line == (f"spikelut eval: error: {d / 'fot.h5'}: encoded differently from the model's "
                    f"training data (the file has coding none, the model was trained on "
                    f"thermometer); encode it with: spikelut encode {SEQUENCE}")


def test_the_api_checks_a_spike_data_object_too(d):
    """api.analyze / prune / tap_importance take SpikeData: its meta is checked as a file's."""
    import spikelut as sl
    from spikelut.errors import ShapeError

    data = sl.load_spikes(d / "t6.h5")
    for call in (lambda: sl.api.analyze(d / "static.h5", data),
                 lambda: sl.api.prune(d / "static.h5", data),
                 lambda: sl.api.tap_importance(d / "static.h5", data)):
        with pytest.raises(ShapeError, match="^the data: spikes have 6 cycles per sample but "
                                             "the model was trained on 4; "):
            call()
    # the bare array records no encoding: taken as it is
    assert sl.api.tap_importance(d / "static.h5", data.spikes).n_in == 40


def test_train_refuses_a_validation_file_of_another_cycle_count(d, tmp_path, capsys):
    """The kept epoch would be chosen on 6-cycle spikes for a model that reads 4 (train --val
    compared the encodings only); the same length in the same coding still validates."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.format(n=40, seed=0))
    argv = ["train", cfg, "--data", d / "s4.h5", "-o", tmp_path / "m.h5", "--no-progress"]
    line = one_error_line(capsys, "train", *argv, "--val", d / "t6.h5")
    assert line == (f"spikelut train: error: {d / 't6.h5'}: spikes have 6 cycles per sample but "
                    f"the training data {d / 's4.h5'} have 4; encode both with the same --steps")
    assert not (tmp_path / "m.h5").exists()
    code, out, err = run(capsys, *argv, "--val", d / "t4.h5")
    assert (code, err) == (0, ""), err


def test_ensemble_refuses_members_trained_on_other_cycle_counts(d, tmp_path, capsys):
    """Members of the same shape trained on 4- and 6-cycle spikes: every member reads the same
    file, so one of them reads data it was never trained on, and the merged model (whose
    records differ) kept no record to check new data against."""
    _train(tmp_path, "m6.h5", d / "t6.h5", 40)
    line = one_error_line(capsys, "ensemble", "ensemble", d / "static.h5", tmp_path / "m6.h5",
                          "-o", tmp_path / "e.h5")
    assert line == (f"spikelut ensemble: error: ensemble member 1 ({tmp_path / 'm6.h5'}) was "
                    f"trained on data encoded otherwise than member 0 ({d / 'static.h5'}) "
                    f"(cycles per sample 6 vs 4); every member must be trained on data encoded "
                    f"the same way")
    assert not (tmp_path / "e.h5").exists()
    # members without a record (trained on arrays) or with the same one still merge
    code, out, err = run(capsys, "ensemble", d / "static.h5", d / "arrays2.h5", "-o",
                         tmp_path / "e.h5")
    assert (code, err) == (0, ""), err
