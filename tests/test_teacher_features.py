"""Teacher-guided wiring from the CLI (docs/rewiring.md): ``spikelut train --teacher-features``,
the features file (``/features`` float32 [B, F]) and its validation as untrusted input, and
:func:`spikelut.torch.teacher_features` that writes a PyTorch teacher's hidden features."""

import h5py
import numpy as np
import pytest

from spikelut.cli import main
from spikelut.config import build_network, parse_config
from spikelut.errors import ConfigError, FileFormatError, ShapeError
from spikelut.io import load_features, load_model, save_features, save_spikes
from spikelut.train import Trainer, TrainConfig

KEY = 3  # the channel the teacher's feature follows

CONFIG = """
seed = 0
inputs = 8
[[layers]]
name = "hid"
nodes = 16
k = 2
taps = [{from = "input", count = 2}]
[[layers]]
name = "out"
nodes = 2
k = 2
taps = [{from = "hid", count = 2}]
[readout]
classes = 2
[train]
epochs = 1
batch_size = 50
backend = "numpy"
"""


def task(B=200):
    """Random spikes on 8 channels, random labels; the teacher's first feature is channel 3's
    spike count (plus noise), its second is noise."""
    rng = np.random.default_rng(0)
    x = (rng.random((4, B, 8)) < 0.5).astype(np.uint8)
    y = rng.integers(0, 2, B)
    f = np.stack([x[:, :, KEY].sum(axis=0) + 0.1 * rng.random(B), rng.random(B)], axis=1)
    return x, y, f.astype(np.float32)


def reads_key(model_path):
    layer = load_model(model_path).layers[0]
    return int((layer.index == KEY).any(axis=1).sum())


def test_train_cli_with_teacher_features_wires_taps_to_the_teachers_channel(tmp_path, capsys):
    x, y, f = task()
    (tmp_path / "c.toml").write_text(CONFIG)
    save_spikes(tmp_path / "d.h5", x, y)
    save_features(tmp_path / "f.h5", f)
    base = ["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"),
            "--val-fraction", "0.25", "--no-progress"]
    assert main(base + ["-o", str(tmp_path / "plain.h5")]) == 0
    assert main(base + ["-o", str(tmp_path / "guided.h5"),
                        "--teacher-features", str(tmp_path / "f.h5")]) == 0
    capsys.readouterr()
    # 16 nodes of 2 taps among 8 channels: the config's random wiring reads channel 3 in a few
    # nodes; guided by the teacher's features (split with the same seeded hold-out as the
    # spikes, so the rows stay aligned) three in four read it
    assert reads_key(tmp_path / "plain.h5") == 5
    assert reads_key(tmp_path / "guided.h5") >= 12
    # the same through the Python API (Trainer.fit / spikelut.api.train: teacher=)
    net = build_network(parse_config(CONFIG))
    res = Trainer(net, TrainConfig.from_dict({"epochs": 1, "backend": "numpy"}),
                  progress=False).fit((x, y), teacher=f)
    assert int((res.net.layers[0].index == KEY).any(axis=1).sum()) >= 12


def _features_file(path, data=None, fmt="spikelut-features", name="features"):
    with h5py.File(path, "w") as h:
        h.attrs["format"], h.attrs["version"] = fmt, 1
        if data is not None:
            h.create_dataset(name, data=data)


@pytest.mark.parametrize("make, message", [
    (lambda p: _features_file(p, np.zeros((200, 2), np.float64)),
     "/features: dtype float64, expected float32"),
    (lambda p: _features_file(p, np.zeros(200, np.float32)),
     "/features: 1-D with shape (200,), expected 2-D"),
    (lambda p: _features_file(p, np.zeros((5, 2), np.float32)),
     "/features: 5 rows for 200 training samples"),
    (lambda p: _features_file(p, np.full((200, 2), np.nan, np.float32)),
     "/features: 400 values are not finite"),
    (lambda p: _features_file(p, np.zeros((200, 0), np.float32)),
     "/features: shape (200, 0), expected [B, F] with B, F >= 1"),
    (lambda p: _features_file(p), "/features: missing dataset"),
    (lambda p: _features_file(p, np.zeros((200, 2), np.float32), fmt="spikelut-spikes"),
     "not a spikelut-features file"),
    (lambda p: p.write_bytes(b"not hdf5"), "is a text file, not an HDF5 file"),
])
def test_bad_teacher_feature_files_are_refused_in_one_line(tmp_path, capsys, make, message):
    x, y, _ = task()
    (tmp_path / "c.toml").write_text(CONFIG)
    save_spikes(tmp_path / "d.h5", x, y)
    make(tmp_path / "f.h5")
    assert main(["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"), "-o",
                 str(tmp_path / "m.h5"), "--teacher-features", str(tmp_path / "f.h5"),
                 "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "f.h5" in err
    assert not (tmp_path / "m.h5").exists()


def test_feature_size_is_checked_before_reading(tmp_path, monkeypatch):
    save_features(tmp_path / "f.h5", np.zeros((200, 2), np.float32))
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", "1000")
    with pytest.raises(FileFormatError, match=r"f.h5: /features: shape \(200, 2\) x 4 bytes = "
                                              r"1.6 KiB, more than the limit"):
        load_features(tmp_path / "f.h5")


def test_teacher_features_need_corr_and_aligned_rows():
    x, y, f = task()
    net = build_network(parse_config(CONFIG))
    with pytest.raises(ConfigError, match='init_wiring = "mi" scores taps against the labels'):
        Trainer(net, TrainConfig.from_dict({"epochs": 1, "backend": "numpy", "init_wiring": "mi"}),
                progress=False).fit((x, y), teacher=f)
    cfg = TrainConfig.from_dict({"epochs": 1, "backend": "numpy"})
    with pytest.raises(ShapeError, match=r"teacher features: 199 rows for 200 training samples"):
        Trainer(net, cfg, progress=False).fit((x, y), teacher=f[1:])
    with pytest.raises(ShapeError, match="teacher features: values must be finite"):
        Trainer(net, cfg, progress=False).fit((x, y), teacher=f * np.inf)
    with pytest.raises(FileFormatError, match="/features: 2 values are not finite"):
        save_features("unused.h5", [[np.nan, np.inf]])


def test_teacher_features_of_a_torch_model_are_its_heads_input(tmp_path):
    torch = pytest.importorskip("torch")
    from spikelut.torch import teacher_features

    torch.manual_seed(0)

    class Counts(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden, self.head = torch.nn.Linear(8, 5), torch.nn.Linear(5, 2)

        def forward(self, s):
            return self.head(torch.relu(self.hidden(s.sum(0))))

    x, _, _ = task(7)
    m = Counts()
    got = teacher_features(m, x, batch=3)  # 3 batches, the last of 1 sample
    with torch.no_grad():
        want = torch.relu(m.hidden(torch.from_numpy(x).float().sum(0))).numpy()
    assert got.dtype == np.float32 and got.shape == (7, 5)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    save_features(tmp_path / "f.h5", got)
    np.testing.assert_array_equal(load_features(tmp_path / "f.h5", samples=7), got)
    with pytest.raises(ConfigError, match="the model has no nn.Linear"):
        teacher_features(torch.nn.Identity(), x)


def test_teacher_features_demo_writes_one_row_per_sample(tmp_path):
    pytest.importorskip("torch")
    from demos.teacher_features import main as demo

    x, y, _ = task(40)
    save_spikes(tmp_path / "d.h5", x, y)
    assert demo([str(tmp_path / "d.h5"), "-o", str(tmp_path / "f.h5"), "--teacher", "gru",
                 "--teacher-epochs", "1"]) == 0
    assert load_features(tmp_path / "f.h5", samples=40).shape == (40, 256)  # the GRU's state


def test_rewire_study_runs_on_a_ucr_set(tmp_path, capsys):
    pytest.importorskip("aeon")
    import json

    from demos.rewire_study import main as study

    assert study(["--dataset", "ItalyPowerDemand", "--sizes", "8", "--epochs", "2", "--variants",
                  "random", "rewired", "--backend", "numpy", "--out", str(tmp_path)]) == 0
    rows = [json.loads(s) for s in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [(r["dataset"], r["variant"], r["luts"]) for r in rows] == [
        ("ItalyPowerDemand", "random", 36), ("ItalyPowerDemand", "rewired", 36)]
    assert [(r["train_samples"], r["val_samples"]) for r in rows] == [(50, 17)] * 2
    assert rows[0]["swapped"] == 0 and rows[1]["swapped"] > 0
    assert "| ItalyPowerDemand | rewired | 36 |" in capsys.readouterr().out


def test_rewire_study_on_mnist1d_with_difference_channels(tmp_path, capsys):
    """--dataset mnist1d_diff feeds the code and its lag-1 differences: 64 input channels."""
    import json

    from demos.rewire_study import main as study

    assert study(["--dataset", "mnist1d_diff", "--sizes", "8", "--epochs", "1", "--limit", "40",
                  "--variants", "random", "--out", str(tmp_path)]) == 0
    (row,) = [json.loads(s) for s in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert (row["dataset"], row["luts"], row["train_samples"], row["val_samples"]) == (
        "mnist1d_diff", 116, 35, 5)
    assert "| mnist1d_diff | random | 116 |" in capsys.readouterr().out
