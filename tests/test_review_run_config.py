"""A new user's review of run, init, encode, peers and the config file: each test failed before
its fix."""

import json
import os
from pathlib import Path

import pytest

from helpers import one_error_line, run

ROOT = Path(__file__).resolve().parent.parent
BASE = """\
name = "t"
seed = 0
inputs = 2

[data]
dataset = "first_of_two"
limit_train = 50
limit_test = 10

[coding]
steps = 20

[[layers]]
name = "mem"
nodes = 4
k = 3
taps = [{ from = "input", count = 2 }, { from = "own", delay = 1 }]

[readout]
classes = 2

[train]
epochs = 1
batch_size = 25

[rtl]
synth = false
"""


def _config(tmp_path, text=BASE, name="c.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


# ------------------------------------------------------------- the config file itself
@pytest.mark.parametrize("command", ["run", "init", "train"])
def test_a_config_that_is_a_fifo_is_refused_instead_of_blocking_forever(tmp_path, capsys, command):
    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)
    extra = {"run": ["-o", tmp_path / "out"], "init": ["-o", tmp_path / "m.h5"],
             "train": ["--data", tmp_path / "d.h5", "-o", tmp_path / "m.h5"]}[command]
    line = one_error_line(capsys, command, command, fifo, *extra)
    assert line.endswith(f"{fifo}: not a regular file (a device, FIFO or socket); give the .toml "
                         f"config file")


def test_a_config_that_is_a_device_is_refused_before_it_is_read(tmp_path, capsys):
    line = one_error_line(capsys, "run", "run", "/dev/zero", "-o", tmp_path / "out", "--json")
    assert line.endswith("/dev/zero: not a regular file (a device, FIFO or socket); give the "
                         ".toml config file")
    assert not (tmp_path / "out").exists()


def test_a_config_over_the_size_limit_is_refused_before_it_is_read(tmp_path, capsys, monkeypatch):
    from spikelut import config

    monkeypatch.setattr(config, "MAX_CONFIG_BYTES", 1 << 20)
    big = _config(tmp_path, "seed = 0\n" + "#" * (2 << 20) + "\n")
    line = one_error_line(capsys, "init", "init", big, "-o", tmp_path / "m.h5")
    assert line.endswith(f"{big}: {big.stat().st_size} bytes, more than the 1 MiB a config may "
                         f"have; a config is a short TOML text file")


# ------------------------------------------------------------- encode
def test_encode_refuses_a_seed_past_int64_in_one_line_not_an_h5py_traceback(tmp_path, capsys):
    out = tmp_path / "e.h5"
    line = one_error_line(capsys, "encode", "encode", "--dataset", "first_of_two", "--seed",
                          str(10**23), "-o", out)
    assert line == (f"spikelut encode: error: seed must be at most {2**63 - 1} (2**63 - 1), "
                    f"got {10**23}")
    assert not out.exists()
    # the largest seed still encodes
    code, _, _ = run(capsys, "encode", "--dataset", "first_of_two", "--seed", str(2**63 - 1),
                     "-o", out)
    assert code == 0 and out.exists()


# ------------------------------------------------------------- run: the encode stage
def test_run_refuses_an_encoding_over_the_array_limit_before_making_it(tmp_path, capsys,
                                                                       monkeypatch):
    # 20 cycles x 50 samples x 2 channels = 2000 bytes; [coding] steps = 2000 on mnist5k made
    # 5.8 GiB of spikes (and several times that in the code's floats) before anything said no
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", "1000")
    cfg = _config(tmp_path)
    line = one_error_line(capsys, "run", "run", cfg, "-o", tmp_path / "out", "--no-progress")
    assert line == (f"spikelut run: error: {cfg}: the train split of first_of_two encoded as 20 "
                    f"cycles x 50 samples x 2 channels ([coding] steps, [data] limit_train): "
                    f"shape (20, 50, 2) x 1 byte = 2.0 KiB, more than the limit of 1000 bytes "
                    f"(set SPIKELUT_MAX_ARRAY_BYTES to allow larger arrays)")
    assert not (tmp_path / "out" / "data" / "train.h5").exists()


def test_run_encodes_in_chunks_the_same_bits_as_at_once(tmp_path, monkeypatch):
    import numpy as np

    import spikelut.api
    from spikelut.datasets import encode_dataset
    from spikelut.pipeline import Pipeline

    text = (BASE.replace('"first_of_two"', '"mnist5k"').replace("inputs = 2", "inputs = 784")
            .replace("steps = 20", 'steps = 3\nname = "rate"').replace("limit_train = 50", "limit_train = 600"))
    pipe = Pipeline(str(_config(tmp_path, text)), tmp_path / "out")
    monkeypatch.setattr(spikelut.api, "auto_chunk", lambda *a, **k: 100)  # 3 random blocks
    got = pipe._encode_split("train", 600)
    want = encode_dataset("mnist5k", "rate", 3, split="train", seed=0, limit=600)
    assert got.spikes.shape == (3, 600, 784)
    assert np.array_equal(got.spikes, want.spikes) and np.array_equal(got.labels, want.labels)
    assert got.meta == want.meta


def _npz_config(tmp_path, **arrays):
    import numpy as np

    np.savez(tmp_path / "mine.npz", **arrays)
    text = (BASE.replace('"first_of_two"', f'"{tmp_path / "mine.npz"}"')
            .replace("inputs = 2", "inputs = 8").replace("steps = 20", 'steps = 4\nname = "rate"'))
    return _config(tmp_path, text)


@pytest.mark.parametrize("limits", [("limit_train = 50", "limit_test = 10"), ("", "")])
def test_run_refuses_a_file_whose_test_split_is_its_training_data(tmp_path, capsys, limits):
    # an .npz of x and y is the whole file for either split: the evaluate stage scored the
    # training samples and the report called it the test accuracy
    import numpy as np

    rng = np.random.default_rng(0)
    cfg = _npz_config(tmp_path, x=rng.random((60, 8)).astype(np.float32), y=rng.integers(0, 2, 60))
    cfg.write_text(cfg.read_text().replace("limit_train = 50", limits[0])
                   .replace("limit_test = 10", limits[1]))
    out = tmp_path / "out"
    line = one_error_line(capsys, "run", "run", cfg, "-o", out, "--no-progress")
    assert line == (f"spikelut run: error: {cfg}: [data] dataset {tmp_path / 'mine.npz'}: its test "
                    f"split is its training data (the file has no separate train and test "
                    f"splits), so the test accuracy would score samples the model trained on; give "
                    f"an .npz with x_train, y_train, x_test and y_test, or an IDX folder with "
                    f"train-* and t10k-* files")
    assert not out.exists()


def test_run_encodes_a_file_with_its_own_test_split(tmp_path):
    import numpy as np

    from spikelut.io import load_spikes
    from spikelut.pipeline import Pipeline

    rng = np.random.default_rng(0)
    cfg = _npz_config(tmp_path, x_train=rng.random((60, 8)).astype(np.float32),
                      y_train=rng.integers(0, 2, 60), x_test=rng.random((30, 8)).astype(np.float32),
                      y_test=rng.integers(0, 2, 30))
    pipe = Pipeline(str(cfg), tmp_path / "out")
    pipe._encode()
    assert load_spikes(tmp_path / "out" / "data" / "train.h5").spikes.shape == (4, 50, 8)
    assert load_spikes(tmp_path / "out" / "data" / "test.h5").spikes.shape == (4, 10, 8)


def test_run_with_an_empty_dataset_name_says_so(tmp_path, capsys):
    # "" became Path(""), the working directory, and the error spoke of IDX files in '.'
    cfg = _config(tmp_path, BASE.replace('dataset = "first_of_two"', 'dataset = ""'))
    line = one_error_line(capsys, "run", "run", cfg, "-o", tmp_path / "out", "--no-progress")
    assert line == (f"spikelut run: error: {cfg}: the dataset name is empty; give a built-in "
                    f"(mnist5k, mnist1d, first_of_two, patterns), a UCR/UEA set (spikelut encode "
                    f"--list) or a file")


def test_a_missing_dataset_file_is_called_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = one_error_line(capsys, "encode", "encode", "--dataset", "mine.npz", "-o", "e.h5")
    assert line == (f"spikelut encode: error: unknown dataset 'mine.npz': no such file (a relative "
                    f"path is read from the working directory {str(tmp_path)!r})")


@pytest.mark.parametrize("value", ['"1"', "-1", "true"])
def test_run_names_the_top_level_seed_not_a_data_seed_the_config_lacks(tmp_path, capsys, value):
    cfg = _config(tmp_path, BASE.replace("seed = 0", f"seed = {value}"))
    line = one_error_line(capsys, "run", "run", cfg, "-o", tmp_path / "out", "--json")
    shown = {'"1"': "'1'", "-1": "-1", "true": "True"}[value]
    assert line == f"spikelut run: error: {cfg}: seed must be a non-negative integer, got {shown}"


# ------------------------------------------------------------- peers
@pytest.mark.parametrize("argv, message", [
    # the trainers plan every epoch first: MemoryError tracebacks before the first epoch
    (["--epochs", str(10**12)], f"--epochs must be at most 1000000, got {10**12}"),
    # torch.manual_seed: 'Overflow when unpacking long long' traceback
    (["--seed", str(10**23)], f"--seed must be at most {2**63 - 1} (2**63 - 1), got {10**23}"),
    # refused before the first seed's whole benchmark, not after it
    (["--seeds", f"0,{10**23}"], f"--seeds must be at most {2**63 - 1} (2**63 - 1), got {10**23}"),
    # torch's allocation traceback (12.8 TB)
    (["--hidden", str(10**11)], f"--hidden {10**11}: a peer's recurrent weights: shape "
                                f"({3 * 10**11}, {10**11}) x 4 bytes = 111758708953857.4 GiB, more "
                                f"than the limit of 4.0 GiB (set SPIKELUT_MAX_ARRAY_BYTES to allow "
                                f"larger arrays)"),
])
def test_peers_refuses_sizes_that_were_tracebacks_before_any_work(capsys, argv, message):
    line = one_error_line(capsys, "peers", "peers", *argv, "--no-progress", "--systems", "gru")
    assert line == f"spikelut peers: error: {message}"


# ------------------------------------------------------------- run: the train stage's checks
@pytest.mark.parametrize("old, new, message", [
    ("inputs = 2", "inputs = 3", "inputs = 3, but the data (first_of_two, coding none) have 2 "
                                 "channels per cycle; set inputs = 2"),
    ("inputs = 2", "[inputs]\nchannels = 1",
     "[inputs] channels = 1, but the data (first_of_two, coding none) have 2 channels per cycle; "
     "set [inputs] channels = 2"),
    ("classes = 2", "classes = 1", "[readout] classes = 1, but the data (first_of_two) have "
                                   "labels up to 1; set classes = 2"),
])
def test_run_says_which_config_key_does_not_fit_the_data(tmp_path, capsys, old, new, message):
    # the trainer's words named neither the config nor its key ('spikes have 2 channels but the
    # network has 1 inputs; encode the data for this network', 'the readout has 1 classes')
    text = BASE.replace(old, new)
    if old == "inputs = 2":  # a table must come after the top-level keys
        text = text.replace(new + "\n", "").replace("[data]", new + "\n\n[data]", 1)
    cfg = _config(tmp_path, text)
    code, out, err = run(capsys, "run", cfg, "-o", tmp_path / "out", "--no-progress", "--json")
    assert code == 1
    assert json.loads(out) == {"ok": False, "command": "run", "error": f"{cfg}: {message}"}
    assert err.splitlines()[-1] == f"spikelut run: error: {cfg}: {message}"


# ------------------------------------------------------------- run: a replaced dataset file
def test_run_encodes_again_when_the_dataset_file_was_replaced(tmp_path):
    # the encode stage's fingerprint held the config's [data] and [coding] only: a dataset file
    # replaced under the same name was 'up to date', and training and test used the old data
    import numpy as np

    from spikelut.pipeline import Pipeline

    rng = np.random.default_rng(0)

    def arrays(n):
        return dict(x_train=rng.random((n, 8)).astype(np.float32), y_train=rng.integers(0, 2, n),
                    x_test=rng.random((30, 8)).astype(np.float32), y_test=rng.integers(0, 2, 30))

    cfg = _npz_config(tmp_path, **arrays(60))
    out = tmp_path / "out"
    pipe = Pipeline(str(cfg), out)
    outputs, summary = pipe._encode()
    pipe.book.mark_done("encode", pipe._encode_fp(), outputs, summary)
    assert Pipeline(str(cfg), out).book.is_done("encode", Pipeline(str(cfg), out)._encode_fp())
    np.savez(tmp_path / "mine.npz", **arrays(55))  # same name, other samples
    again = Pipeline(str(cfg), out)
    assert not again.book.is_done("encode", again._encode_fp())


def test_dataset_files_are_the_files_the_loader_reads(tmp_path):
    from spikelut.datasets import dataset_files

    assert dataset_files("mnist1d") == [] and dataset_files("GunPoint") == []
    img, lab = tmp_path / "a-images-idx3-ubyte", tmp_path / "a-labels-idx1-ubyte"
    img.write_bytes(b"1")
    lab.write_bytes(b"2")
    (tmp_path / "notes.txt").write_text("not read")
    assert dataset_files(img) == [img, lab]
    assert dataset_files(tmp_path) == [img, lab]
    assert dataset_files(tmp_path / "missing.npz") == []
    fifo = tmp_path / "f.npz"
    os.mkfifo(fifo)
    assert dataset_files(fifo) == []  # never opened (the loader refuses it)


# ------------------------------------------------------------- init: the network's keys
@pytest.mark.parametrize("value, shown", [("2.0", "2.0"), ('"2"', "'2'"), ("true", "True")])
def test_inputs_of_the_wrong_type_is_not_called_a_missing_table(tmp_path, capsys, value, shown):
    # '[inputs]: expected a table, got float' for inputs = 2.0
    cfg = _config(tmp_path, BASE.replace("inputs = 2", f"inputs = {value}"))
    line = one_error_line(capsys, "init", "init", cfg, "-o", tmp_path / "m.h5")
    assert line == (f"spikelut init: error: {cfg}: inputs must be an integer >= 0 (the number of "
                    f"input channels) or an [inputs] table, got {shown}")


def _idx(path, array):
    import struct

    import numpy as np

    a = np.asarray(array, np.uint8)
    path.write_bytes(struct.pack(">HBB", 0, 8, a.ndim) + struct.pack(">" + "I" * a.ndim, *a.shape)
                     + a.tobytes())


@pytest.mark.parametrize("given", ["file", "folder"])
def test_encode_force_never_replaces_the_idx_labels_file_it_reads(tmp_path, capsys, given):
    import numpy as np

    img, lab = tmp_path / "train-images-idx3-ubyte", tmp_path / "train-labels-idx1-ubyte"
    _idx(img, np.arange(20).reshape(5, 2, 2))
    _idx(lab, [0, 1, 0, 1, 1])
    before = lab.read_bytes()
    dataset = img if given == "file" else tmp_path
    line = one_error_line(capsys, "encode", "encode", "--dataset", dataset, "--steps", "2",
                          "-o", lab, "--force")
    assert line == f"spikelut encode: error: {lab}: is also an input ({lab}); choose another output"
    assert lab.read_bytes() == before


def test_run_names_val_fraction_when_it_leaves_no_training_samples(tmp_path, capsys):
    cfg = _config(tmp_path, BASE.replace("limit_train = 50", "limit_train = 50\nval_fraction = 0.99"))
    code, out, err = run(capsys, "run", cfg, "-o", tmp_path / "out", "--no-progress")
    assert code == 1
    assert err.splitlines()[-1] == (f"spikelut run: error: {cfg}: [data] val_fraction: validation "
                                    f"fraction 0.99 of 50 samples leaves none to train on; lower it "
                                    f"or use more data")


def test_peers_refuses_a_test_file_that_holds_the_training_samples(tmp_path, capsys):
    # --test equal to --data (or a copy) scored every system on its training samples
    import shutil

    train = tmp_path / "train.h5"
    assert run(capsys, "encode", "--dataset", "first_of_two", "-o", train)[0] == 0
    shutil.copy(train, tmp_path / "copy.h5")
    for test in (train, tmp_path / "copy.h5"):
        line = one_error_line(capsys, "peers", "peers", "--systems", "gru", "--data", train,
                              "--test", test, "--epochs", "1", "--no-progress")
        assert line == (f"spikelut peers: error: --test {test}: its samples are the training "
                        f"samples of --data {train}; give a test file encoded from the test split "
                        f"(spikelut encode ... --split test)")


# ------------------------------------------------------------- encode arguments given as parameters
@pytest.mark.parametrize("key, message", [
    ("seed = 1", "[coding] seed: not a parameter of a coding; set [data] seed"),
    ('split = "test"', "[coding] split: not a parameter of a coding; a run encodes both splits"),
    ("limit = 3", "[coding] limit: not a parameter of a coding; set [data] limit_train and limit_test"),
    ("differences = [1]", "[coding] differences: not a parameter of a coding; set [data] differences"),
    ('coding = "rate"', "[coding] coding: not a parameter of a coding; set [coding] name"),
    ("name_or_path = 1", "[coding] name_or_path: not a parameter of a coding"),
])
def test_run_refuses_encode_arguments_in_coding_instead_of_a_type_error(tmp_path, capsys, key,
                                                                        message):
    # 'plan_encoding() got multiple values for keyword argument 'seed'': a Python traceback
    cfg = _config(tmp_path, BASE.replace("steps = 20", f"steps = 20\n{key}"))
    line = one_error_line(capsys, "run", "run", cfg, "-o", tmp_path / "out", "--no-progress")
    assert line == f"spikelut run: error: {cfg}: {message}"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("param, message", [
    ("seed=3", "--param seed: not a coding parameter; use --seed"),
    ("coding=rate", "--param coding: not a coding parameter; use --coding"),
    ("split=test", "--param split: not a coding parameter; use --split"),
    ("second_differences=1", "--param second_differences: not a coding parameter; use "
                             "--second-differences"),
    ("first_sample=2", "--param first_sample: not a coding parameter"),
])
def test_encode_refuses_encode_arguments_as_params_instead_of_a_type_error(tmp_path, capsys, param,
                                                                           message):
    line = one_error_line(capsys, "encode", "encode", "--dataset", "mnist1d", "--limit", "3",
                          "--param", param, "-o", tmp_path / "e.h5")
    assert line == f"spikelut encode: error: {message}"


def test_peers_refuses_an_infinite_learning_rate(capsys):
    # 1e400 is inf: the GRU trained with it to 11% (chance) and the report said so, silently
    line = one_error_line(capsys, "peers", "peers", "--systems", "gru", "--lr", "gru=1e400",
                          "--epochs", "1", "--no-progress")
    assert line == "spikelut peers: error: --lr gru: must be a finite number, got inf"


def test_init_refuses_a_layer_name_with_a_nul_character(tmp_path, capsys):
    # TOML allows "\u0000"; save_model then failed with h5py's 'VLEN strings do not support
    # embedded NULLs' traceback (after the whole training, in spikelut run)
    cfg = _config(tmp_path, BASE.replace('name = "mem"', 'name = "m\\u0000em"'))
    out = tmp_path / "m.h5"
    line = one_error_line(capsys, "init", "init", cfg, "-o", out)
    assert line == (f"spikelut init: error: {cfg}: layer 0: name 'm\\x00em' holds a NUL "
                    f"character; give a name without it")
    assert not out.exists()


def test_run_refuses_init_logits_before_any_stage(tmp_path, capsys):
    """A network built from a config has no logits: the Trainer refused init = "logits" in the
    train stage, after encoding, naming no file."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "demos" / "run_default.toml").read_text()
    cfg = tmp_path / "r.toml"
    cfg.write_text(text.replace("[train]\n", '[train]\ninit = "logits"\n', 1))
    line = one_error_line(capsys, "run", "run", cfg, "-o", tmp_path / "out", "--no-progress")
    assert line == (f'spikelut run: error: {cfg}: [train] init = "logits": starts from a model\'s '
                    f"logits, and a network built from a config has none; use normal, table, "
                    f"residual or data (logits is for a model loaded from a file and trained "
                    f"again through the Python API)")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("key", ["backend", "engine"])
def test_run_backend_errors_name_the_table(tmp_path, capsys, key):
    """'r.toml: unknown backend ...' did not say the name was [run] backend (or engine)."""
    text = (ROOT / "demos" / "run_default.toml").read_text()
    cfg = tmp_path / "r.toml"
    cfg.write_text(text.replace("[run]\n", f'[run]\n{key} = "gpuu"\n', 1))
    line = one_error_line(capsys, "run", "run", cfg, "-o", tmp_path / "out", "--no-progress")
    assert line.startswith(f"spikelut run: error: {cfg}: [run] {key}: ")
    assert "'gpuu'" in line


def test_a_thresholds_list_of_non_numbers_is_called_a_list():
    """A TOML list was told to be 'a comma-separated list of numbers'."""
    from spikelut.coding import resolve_params
    from spikelut.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^coding 'thermometer': parameter thresholds must be a "
                                          r"list of numbers \(or a comma-separated string of "
                                          r"them\), got \['a'\]$"):
        resolve_params("thermometer", {"thresholds": ["a"]})
