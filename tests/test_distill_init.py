"""demos/distill_mnist1d.py: the student's structured initial tables (``--init``, ``--init-noise``,
``--init-samples``, as ``[train] init`` of spikelut.train.init) and the teacher cache
(``--teacher-file``)."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install 'spikelut[torch]'")

from helpers import load_demo  # noqa: E402
from spikelut.config import build_network, load_config  # noqa: E402
from spikelut.datasets import encode_dataset  # noqa: E402
from spikelut.io import load_model  # noqa: E402
from spikelut.train.init import data_values, initial_values  # noqa: E402
from test_torch_distill_demo import DEMOS, TINY  # noqa: E402  the tiny student network

LIMIT = 60  # training samples of the tiny runs (the demo's first 60)


def _expected(tmp_path, init, noise, samples=256, std=0.1, seed=0):
    """The starting logits spikelut.train.init gives the tiny network (the native trainer's
    sequence: its generator seeded with the seed, ``initial_values``, then ``data_values`` on the
    training spikes, then the clip to [-1, 1])."""
    net = build_network(load_config(tmp_path / "tiny.toml"), seed=seed)
    thetas = initial_values(net, init, std, noise, np.random.default_rng(seed))
    if init == "data":
        tr = encode_dataset("mnist1d", "thermometer", 40, split="train", levels=32)
        thetas = data_values(net, thetas, tr.spikes[:, :LIMIT], tr.labels[:LIMIT], std, samples, seed)
    return [np.clip(t, -1.0, 1.0) for t in thetas]


def _start(demo, tmp_path, name, *extra, config="tiny.toml"):
    """The student's tables after a run at learning rate 0 (Adam then leaves them as they start)
    and the run's distill.json."""
    out = tmp_path / name
    assert demo.main(["--config", str(tmp_path / config), "--teacher", "cnn", "--teacher-epochs", "1",
                      "--epochs", "1", "--limit", str(LIMIT), "--lr", "0", "--alpha", "0",
                      "--out", str(out), *extra]) == 0
    return ([la.logits for la in load_model(out / "student.h5").layers],
            json.loads((out / "distill.json").read_text()))


@pytest.fixture
def demo(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY)
    return load_demo(DEMOS, "distill_mnist1d")


def test_init_flags_start_the_student_as_spikelut_train_init(demo, tmp_path):
    net = build_network(load_config(tmp_path / "tiny.toml"), seed=0)
    # default: the module's own start, the config's random tables at +-0.1 (every earlier run)
    table, res = _start(demo, tmp_path, "table")
    assert res["init"] == {"init": "table", "noise": None, "samples": None}
    for got, layer in zip(table, net.layers):
        assert np.array_equal(got, ((2.0 * layer.table - 1.0) * 0.1).astype(np.float32))
    # residual with noise: the pass-through values of spikelut.train.init plus its noise
    res_start, _ = _start(demo, tmp_path, "residual", "--init", "residual", "--init-noise", "0.03")
    want = _expected(tmp_path, "residual", 0.03)
    assert all(np.array_equal(g, w) for g, w in zip(res_start, want))
    assert all(np.abs(g - (2.0 * layer.table - 1.0) * 0.1).max() > 0.01
               for g, layer in zip(res_start, net.layers))
    # data on the run's own training spikes, 32 of them, with noise
    data_start, res = _start(demo, tmp_path, "data", "--init", "data", "--init-noise", "0.03",
                             "--init-samples", "32")
    assert res["init"] == {"init": "data", "noise": 0.03, "samples": 32}
    want = _expected(tmp_path, "data", 0.03, samples=32)
    assert all(np.array_equal(g, w) for g, w in zip(data_start, want))
    assert not all(np.array_equal(g, w) for g, w in zip(data_start, _expected(tmp_path, "data", 0.03)))
    # never-observed addresses stay at the noise: data differs from residual and from table
    assert not np.array_equal(data_start[0], res_start[0])


def test_init_config_reads_the_config_train_table(demo, tmp_path):
    (tmp_path / "cfg.toml").write_text(TINY + '[train]\ninit = "residual"\ninit_std = 0.2\n'
                                              'init_noise = 0.05\n')
    got, _ = _start(demo, tmp_path, "config", "--init", "config", config="cfg.toml")
    want = _expected(tmp_path, "residual", 0.05, std=0.2)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    # the flags win over the file
    got, _ = _start(demo, tmp_path, "config0", "--init", "config", "--init-noise", "0",
                    config="cfg.toml")
    assert all(np.array_equal(g, w) for g, w in zip(got, _expected(tmp_path, "residual", 0.0, std=0.2)))


def test_initial_network_equals_the_native_trainers_start(demo, tmp_path):
    from spikelut.train.init import data_init_trainer
    from spikelut.train.trainer import Trainer

    config = load_config(tmp_path / "tiny.toml")
    net = build_network(config, seed=3)
    rng = np.random.default_rng(5)
    x = (rng.random((40, 50, 32)) < 0.3).astype(np.uint8)
    y = rng.integers(0, 10, 50)
    cfg = demo.init_train_config(config, "data", 0.02, 20, 3)
    assert (cfg.init, cfg.init_noise, cfg.init_samples, cfg.seed) == ("data", 0.02, 20, 3)
    got = demo.initial_network(net, cfg, x, y)
    tr = Trainer(net, cfg, progress=False)
    data_init_trainer(tr, x, y)
    for layer, p in zip(got.layers, tr.params):
        assert layer.logits.dtype == np.float32 and np.array_equal(layer.logits, p)
        assert np.array_equal(layer.table, (p > 0).astype(np.uint8))
    assert [la.source.tolist() for la in got.layers] == [la.source.tolist() for la in net.layers]


@pytest.mark.parametrize("argv, message", [
    (["--init", "xavier"], "--init: 'xavier' is not one of table, normal, residual, data, config"),
    (["--init", "data", "--init-noise", "-0.1"], "--init-noise: -0.1 must be a number >= 0"),
    (["--init-noise", "0.03"],
     "--init-noise 0.03 applies to --init residual, data or config, not table"),
    (["--init", "normal", "--init-noise", "0.03"],
     "--init-noise 0.03 applies to --init residual, data or config, not normal"),
    (["--init", "data", "--init-samples", "0"], "--init-samples: 0 must be >= 1"),
])
def test_init_flag_errors(demo, argv, message):
    with pytest.raises(SystemExit) as err:
        demo.main(argv)
    assert str(err.value) == message


def test_init_config_error_is_one_line(demo, tmp_path):
    (tmp_path / "bad.toml").write_text(TINY + '[train]\ninit = "logits"\n')
    with pytest.raises(SystemExit) as err:
        _start(demo, tmp_path, "bad", "--init", "config", config="bad.toml")
    assert str(err.value) == ("--init config: [train]: init = \"logits\" but layer 0 ('a') has no "
                              "logits; use init = \"normal\" or \"table\"")


def test_teacher_file_is_saved_reused_and_checked(demo, tmp_path, capsys):
    pt = tmp_path / "t" / "teacher.pt"
    _, a = _start(demo, tmp_path, "a", "--teacher-file", str(pt))
    assert pt.exists() and "teacher: loaded" not in capsys.readouterr().out
    saved = torch.load(pt, weights_only=True)  # tensors, numbers and strings: no pickle needed
    assert saved["meta"] == {"kind": "cnn", "epochs": 1, "lr": 0.002, "batch": 50, "seed": 0,
                             "train_samples": LIMIT, "channels": 32, "steps": 40}
    _, b = _start(demo, tmp_path, "b", "--teacher-file", str(pt))
    assert f"teacher: loaded from {pt}" in capsys.readouterr().out
    assert b["teacher"] == a["teacher"]  # the same teacher: history, accuracies
    assert b["student_test_acc"] == a["student_test_acc"]
    # every student's train accuracy at its kept epoch; the only one is the chosen one
    assert a["runs"][0]["student_train_acc"] == a["student_train_acc"]
    with pytest.raises(SystemExit) as err:
        _start(demo, tmp_path, "c", "--teacher-file", str(pt), "--teacher-epochs", "2")
    assert str(err.value) == (f"--teacher-file {pt}: trained with other settings: epochs 1 (now 2); "
                              f"delete it or pass another path")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a teacher")
    with pytest.raises(SystemExit) as err:
        _start(demo, tmp_path, "d", "--teacher-file", str(junk))
    assert str(err.value).startswith(f"--teacher-file {junk}: not a teacher file of this demo (")
    assert str(err.value).endswith("); delete it or pass another path")


@pytest.mark.parametrize("steps", [1, 7, 20, 40, 41])
def test_cnn_teacher_fits_any_cycle_count(steps):
    """The head was sized for 40 cycles: 20-cycle data (demos/teacher_features.py --teacher cnn)
    was a shape error inside torch."""
    cnn = load_demo(DEMOS, "distill_mnist1d").CNNTeacher
    assert cnn(3, steps=steps)(torch.zeros(steps, 2, 3)).shape == (2, 10)
