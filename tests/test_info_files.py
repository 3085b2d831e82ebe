"""``spikelut info`` on spike and result files: shape, labels per class, encoding and the encode
options that reproduce the file, recorded layers; no spike data read."""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from spikelut import cli
from spikelut.fileinfo import describe_spike_file
from spikelut.io import load_spikes, save_spikes

CONFIG = Path(__file__).resolve().parents[1] / "demos" / "train_first_of_two.toml"


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("info")
    assert cli.main(["encode", "--dataset", "first_of_two", "--coding", "none", "--split", "test",
                     "-o", str(d / "test.h5")]) == 0
    assert cli.main(["init", str(CONFIG), "-o", str(d / "m.h5")]) == 0
    assert cli.main(["simulate", str(d / "m.h5"), str(d / "test.h5"), "-o", str(d / "r.h5")]) == 0
    return d


def test_spike_file_is_described_and_its_encode_options_reproduce_it(files, capsys):
    code, out, err = run(capsys, "info", files / "test.h5")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"{files / 'test.h5'}: spike file, 20 cycles x 200 samples x 2 channels"
    assert lines[1] == "labels: 2 classes present (samples per class 0: 100, 1: 100)"
    opts = lines[-1].removeprefix("encoded with: spikelut encode ").split()
    assert lines[-1].startswith("encoded with: ") and "--split" in opts and "test" in opts
    # the advice is a command that makes the same file
    assert cli.main(["encode", *opts, "-o", str(files / "again.h5")]) == 0
    a, b = load_spikes(files / "test.h5"), load_spikes(files / "again.h5")
    assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.labels, b.labels)


def test_result_file_lists_its_layers_and_json_has_the_fields(files, capsys):
    code, out, err = run(capsys, "info", files / "r.h5", "--json")
    d = json.loads(out)
    assert (code, err) == (0, "")
    assert (d["kind"], d["cycles"], d["samples"], d["channels"], d["layers"]) == (
        "result", 20, 200, 2, [64, 8])
    assert d["labels"] == {"classes": [0, 1], "counts": [100, 100]}
    code, out, err = run(capsys, "info", files / "r.h5")
    assert "layers recorded: 2 (nodes 64, 8)" in out.splitlines()


def test_unlabelled_stimulus_and_hostile_metadata(tmp_path, capsys):
    p = tmp_path / "s.h5"
    save_spikes(p, np.zeros((3, 2, 1), np.uint8), meta={"dataset": "x\x1b[2Jy", "seed": 1})
    code, out, err = run(capsys, "info", p)
    assert code == 0 and "\x1b" not in out
    assert "labels: none (simulate runs it; eval and train need labels)" in out
    assert "origin: dataset x\\x1b[2Jy; seed 1" in out


def test_huge_label_values_do_not_size_an_array(tmp_path):
    p = tmp_path / "s.h5"
    save_spikes(p, np.zeros((3, 2, 1), np.uint8), labels=[2**62, 0])
    assert describe_spike_file(p)["labels"] == {"classes": [0, 2**62], "counts": [1, 1]}


def test_other_files_keep_the_model_readers_message(tmp_path, capsys):
    p = tmp_path / "x.h5"
    with h5py.File(p, "w") as f:
        f.attrs["format"] = "something-else"
    code, out, err = run(capsys, "info", p)
    assert code == 1 and err.startswith(f"spikelut info: error: {p}: ") and len(err.splitlines()) == 1
    code, out, err = run(capsys, "info", tmp_path / "missing.h5")
    assert (code, err.strip()) == (1, f"spikelut info: error: {tmp_path / 'missing.h5'}: no such file")


def test_encode_options_of_a_limited_file_make_the_same_samples(tmp_path, capsys):
    """--limit is not recorded; the options carry the file's own sample count."""
    assert cli.main(["encode", "--dataset", "first_of_two", "--coding", "none", "--limit", "30",
                     "-o", str(tmp_path / "a.h5")]) == 0
    capsys.readouterr()
    opts = describe_spike_file(tmp_path / "a.h5")["encode_options"]
    assert opts.endswith("--limit 30")
    assert cli.main(["encode", *opts.split(), "-o", str(tmp_path / "b.h5")]) == 0
    a, b = load_spikes(tmp_path / "a.h5"), load_spikes(tmp_path / "b.h5")
    assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.labels, b.labels)


def test_origin_does_not_repeat_a_seed_its_source_names(files, capsys):
    run(capsys, "info", files / "test.h5")
    code, out, _ = run(capsys, "info", files / "test.h5")
    origin = next(line for line in out.splitlines() if line.startswith("origin: "))
    assert origin.count("seed 0") == 1
