"""Findings of session t's reader review fixed outside the readers: a readout's class_of message,
the MemoryError line, control characters in CSV cells, a model's recorded steps in the encode
advice."""

import pytest

from spikelut import cli
from spikelut.errors import NetworkError
from spikelut.escape import csv_cell
from spikelut.io import encode_options
from spikelut.network import Readout


def test_class_of_out_of_range_names_the_entry_not_the_type():
    # said "class_of must hold integers ... got int32 values" of [0, -5]
    with pytest.raises(NetworkError, match=r"^readout: class_of\[1\] = -5: must be -1 \(not "
                                           r"counted\) or a class number 0 \.\. classes - 1$"):
        Readout(0, [0, -5], 2)
    with pytest.raises(NetworkError, match=r"^readout: class_of must hold integers -1 \(not "
                                           r"counted\) or class numbers, got float64 values$"):
        Readout(0, [0.0, 1.5], 2)


def test_memory_error_without_text_has_no_empty_parentheses(monkeypatch, capsys):
    def boom(args):
        raise MemoryError()

    import spikelut.cli.cmd_backends as cmd

    monkeypatch.setattr(cmd, "run", boom)
    assert cli.main(["backends"]) == 1
    assert capsys.readouterr().err.strip() == ("spikelut backends: error: not enough memory; use a "
                                               "smaller batch, model or file")


@pytest.mark.parametrize("cell, shown", [
    ("L0\x1b[31m", "L0\\x1b[31m"),          # an escape sequence would colour `cat nodes.csv`
    ("a\u202eb", "a\\u202eb"),                # right-to-left override
    ("=cmd\nx", "'=cmd\\nx"),                 # the formula guard still applies
    (3, 3),
])
def test_csv_cells_are_safe_to_print(cell, shown):
    assert csv_cell(cell) == shown


@pytest.mark.parametrize("steps", [-5, 0, 1 << 40, True, "8"])
def test_encode_advice_leaves_out_a_recorded_step_count_that_cannot_be(steps):
    rec = {"dataset": "mnist1d", "coding": "rate", "steps": steps}
    assert encode_options(rec) == "--dataset mnist1d --coding rate"
    assert encode_options({**rec, "steps": 40}) == "--dataset mnist1d --coding rate --steps 40"


def test_readers_refuse_sample_bounds_that_are_not_whole_numbers(tmp_path):
    """SpikeReader.read / ResultReader.read with 1.5, 'a' or True were TypeErrors of the slicing."""
    import numpy as np

    import spikelut as sl
    from spikelut.errors import ConfigError
    from spikelut.io import open_result, open_spikes
    from spikelut.wiring import random_network

    net = random_network(0, n_in=2, sizes=[3], k=2)
    x = np.ones((4, 3, 2), np.uint8)
    sl.save_spikes(tmp_path / "s.h5", x)
    sl.simulate_file(net, tmp_path / "s.h5", tmp_path / "r.h5", progress=False)
    for opener, name in ((open_spikes, "s.h5"), (open_result, "r.h5")):
        with opener(tmp_path / name) as r:
            for bad in ((0, 1.5), ("a", 2), (True, 2), (None, 2)):
                with pytest.raises(ConfigError, match=r"^sample bounds must be whole numbers, got "):
                    r.read(*bad)
            got = r.read(np.int64(0), np.int32(2))  # numpy integers are whole numbers
            assert (got if name == "s.h5" else got[0].spikes).shape == (4, 2, 2)


def test_run_pipeline_refuses_a_config_of_the_wrong_type(tmp_path):
    """api.run checked it; run_pipeline (its implementation, public too) gave pathlib's TypeError."""
    from spikelut.errors import ConfigError
    from spikelut.pipeline import run_pipeline

    with pytest.raises(ConfigError, match=r"^run: config must be a TOML file path, a config dict or "
                                          r"None, got int$"):
        run_pipeline(5, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_non_spikelut_files_say_what_they_are(tmp_path):
    """A plain HDF5 file said '(root attribute format = None)'; an .npz 'not a readable HDF5
    file (truncated or corrupt?)' (new-user review)."""
    import h5py
    import numpy as np

    from spikelut.errors import FileFormatError
    from spikelut.io import load_model

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("a", data=[1])
    with pytest.raises(FileFormatError, match=r"other\.h5: an HDF5 file of another program, not a "
                                              r"spikelut-model file \(it has no root attribute "
                                              r"'format'\); spikelut reads"):
        load_model(other)
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 3)))
    from spikelut.fileutil import file_kind

    assert file_kind(tmp_path / "d.npz") == "zip"
    with pytest.raises(FileFormatError, match=r"d\.npz: is a zip archive \(a NumPy \.npz\?\), not "
                                              r"an HDF5 file; a dataset file is encoded into spikes "
                                              r"with: spikelut encode --dataset FILE"):
        load_model(tmp_path / "d.npz")


def test_info_of_a_damaged_checkpoint_is_one_line(tmp_path, capsys):
    import h5py

    p = tmp_path / "ck.h5"
    with h5py.File(p, "w") as f:
        f.attrs["format"], f.attrs["version"], f.attrs["epoch"] = "spikelut-checkpoint", 1, 2
        f.attrs["history"], f.attrs["best"] = "[" * 100 + "]" * 100, "null"
    assert cli.main(["info", str(p)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"spikelut info: error: {p}: attribute 'history': JSON nested deeper") \
        and len(err.splitlines()) == 1
    with h5py.File(p, "a") as f:
        f.attrs["history"] = '[{"epoch": 1}]'
    assert cli.main(["info", str(p)]) == 1
    assert "'history' must list the 2 finished epochs" in capsys.readouterr().err


def test_influences_weights_and_live_nodes_arguments():
    import numpy as np

    from spikelut.analysis import influences, live_nodes
    from spikelut.errors import ConfigError, ShapeError
    from spikelut.wiring import random_network

    t = np.array([[0, 0, 0, 1]])
    with pytest.raises(ShapeError, match=r"^weights must be finite and >= 0"):
        influences(t, np.array([[1.0, -1.0, 1.0, 1.0]]))  # gave a "probability" of 2.0
    with pytest.raises(ShapeError, match=r"^weights must be finite and >= 0"):
        influences(t, np.array([[1.0, np.nan, 1.0, 1.0]]))
    with pytest.raises(ConfigError, match=r"^expected a spikelut Network, got str"):
        live_nodes("m.h5")  # was an AttributeError
    net = random_network(0, n_in=2, sizes=[3, 2], k=2)
    with pytest.raises(ShapeError, match=r"^relevant must hold one bool \[n_i, k_i\] array per layer$"):
        live_nodes(net, [np.ones((3, 2), bool)])
