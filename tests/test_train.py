"""The trainer: learning a tiny temporal task, saved model == trainer predictions, resume,
determinism, data checks, and the train / eval commands."""

import json

import numpy as np
import pytest

from spikelut.cli import main
from spikelut.config import build_network, parse_config
from spikelut.engine.reference import simulate
from spikelut.errors import ConfigError, ShapeError
from spikelut.io import load_model, save_model, save_spikes
from spikelut.train import Trainer, TrainConfig
from spikelut.train.trainer import holdout

from helpers import assert_same_training

T = 5
CONFIG = """
seed = 0
inputs = 2
[[layers]]
name = "h"
nodes = 12
k = 4
taps = [{from = "input", count = 2}, {from = "self", count = 2, delay = 1}]
[[layers]]
name = "out"
nodes = 4
k = 4
taps = [{from = "h", count = 4}]
[readout]
classes = 2
[train]
epochs = 40
batch_size = 10
lr = 0.05
keep = "last"
"""


def first_of_two(T=T):
    """Every ordered pair of distinct firing times of two channels; label = which fired first."""
    pairs = [(a, b) for a in range(T) for b in range(T) if a != b]
    x = np.zeros((T, len(pairs), 2), np.uint8)
    for j, (a, b) in enumerate(pairs):
        x[a, j, 0] = 1
        x[b, j, 1] = 1
    return x, np.array([int(b < a) for a, b in pairs], np.int64)


def _setup(**overrides):
    if "backend" not in overrides and "kernels" not in overrides:
        # not "auto": on a GPU machine that is cuda, whose atomics make runs equal only within
        # float32 rounding, and these tests compare runs bit for bit (tests/test_train_backends.py
        # covers the backends)
        overrides["backend"] = "numba"
    cfg = parse_config(CONFIG)
    tc = TrainConfig.from_dict({**cfg["train"], **overrides}, seed=cfg["seed"])
    return build_network(cfg), tc


def test_short_run_lowers_the_loss_and_reaches_100_percent():
    net, tc = _setup()
    x, y = first_of_two()
    tr = Trainer(net, tc, progress=False)
    before = tr.evaluate(x, y)
    res = tr.fit((x, y))
    after = tr.evaluate(x, y)
    assert after.loss < before.loss / 5
    assert after.acc == 1.0
    assert res.history[-1]["loss"] < res.history[0]["loss"]


def test_saved_model_simulated_by_the_reference_engine_gives_the_trainer_predictions(tmp_path):
    net, tc = _setup(epochs=6, keep="best")
    x, y = first_of_two()
    tr = Trainer(net, tc, progress=False)
    res = tr.fit((x, y), (x, y))
    path = tmp_path / "m.h5"
    save_model(res.net, path)
    loaded = load_model(path)
    for layer, p in zip(loaded.layers, tr.best_params):
        np.testing.assert_array_equal(layer.logits, p)
        np.testing.assert_array_equal(layer.table, (p > 0).astype(np.uint8))
    sim = simulate(loaded, x)
    ev = tr.evaluate(x, y, params=tr.best_params)
    np.testing.assert_array_equal(sim.pred, ev.pred)
    np.testing.assert_array_equal(sim.counts, ev.counts)
    assert ev.accuracy == ev.acc == float((sim.pred == y).mean())  # api.evaluate's name too
    best = max(res.history, key=lambda r: (r["val_acc"], -r["val_loss"]))
    assert res.kept_epoch == best["epoch"]
    assert sim.accuracy(y) == best["val_acc"]


def test_same_seed_same_result_and_other_seed_differs():
    x, y = first_of_two()
    runs = []
    for seed in (1, 1, 2):
        net, tc = _setup(epochs=3, seed=seed)
        tr = Trainer(net, tc, progress=False)
        tr.fit((x, y))
        runs.append(tr.params)
    for a, b in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(runs[0], runs[2]))


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_resume_after_interruption_equals_an_uninterrupted_run(tmp_path, optimizer):
    x, y = first_of_two()
    overrides = dict(epochs=5, optimizer=optimizer, keep="best", lr=0.05 if optimizer == "adam" else 0.5)
    net, tc = _setup(**overrides)
    full = Trainer(net, tc, progress=False)
    res_full = full.fit((x, y), (x, y), log=tmp_path / "full.jsonl")

    def stop_after_2(trainer, record):
        if record["epoch"] == 2:
            raise Interrupt

    ckpt, log = tmp_path / "ckpt.h5", tmp_path / "part.jsonl"
    net, tc = _setup(**overrides)
    with pytest.raises(Interrupt):
        Trainer(net, tc, progress=False).fit((x, y), (x, y), log=log, checkpoint=ckpt,
                                             callback=stop_after_2)
    assert len(log.read_text().splitlines()) == 2
    net, tc = _setup(**overrides)
    resumed = Trainer(net, tc, progress=False)
    res = resumed.fit((x, y), (x, y), log=log, checkpoint=ckpt, resume=True)
    assert resumed.epoch == 5
    assert_same_training(full, res_full, resumed, res)
    lines = [json.loads(s) for s in log.read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3, 4, 5]
    assert set(lines[0]) == {"epoch", "loss", "acc", "val_loss", "val_acc", "lr", "time",
                             "flips", "mean_abs_logit", "near_zero"}


def test_resume_refuses_a_different_config(tmp_path):
    x, y = first_of_two()
    net, tc = _setup(epochs=1)
    Trainer(net, tc, progress=False).fit((x, y), checkpoint=tmp_path / "c.h5")
    net, tc = _setup(epochs=2, lr=0.2)
    with pytest.raises(ConfigError, match=r"different \[train\] config \(lr = 0.05, now 0.2\)"):
        Trainer(net, tc, progress=False).fit((x, y), checkpoint=tmp_path / "c.h5", resume=True)
    other = build_network(parse_config(CONFIG), seed=5)   # other random wiring
    with pytest.raises(ConfigError, match="the checkpoint was made for a different network"):
        Trainer(other, _setup(epochs=2)[1], progress=False).fit((x, y), checkpoint=tmp_path / "c.h5",
                                                                 resume=True)
    with pytest.raises(ConfigError, match="no checkpoint to resume from"):
        Trainer(net, tc, progress=False).fit((x, y), checkpoint=tmp_path / "none.h5", resume=True)


def test_data_checks_before_training():
    net, tc = _setup()
    x, y = first_of_two()
    tr = Trainer(net, tc, progress=False)
    with pytest.raises(ShapeError, match=r"training data: label 2 is out of range: the readout has 2 "
                                         r"classes \(labels 0..1\)"):
        tr.fit((x, np.where(y == 1, 2, 0)))
    with pytest.raises(ShapeError, match="training data: spikes have 3 channels but the network has 2 inputs"):
        tr.fit((np.zeros((T, 4, 3), np.uint8), y[:4]))
    with pytest.raises(ShapeError, match="validation data: has no labels"):
        tr.fit((x, y), (x, None))
    assert tr.epoch == 0 and tr.history == []


def test_holdout_draws_a_seeded_disjoint_validation_set_in_file_order():
    x = np.arange(3 * 40 * 2, dtype=np.int64).reshape(3, 40, 2)
    y = np.arange(40)
    (xt, yt), (xv, yv) = holdout(x, y, 0.25, seed=3)
    assert len(yv) == 10 and len(yt) == 30
    assert sorted(np.concatenate([yt, yv]).tolist()) == list(range(40))
    assert (np.diff(yt) > 0).all() and (np.diff(yv) > 0).all()
    np.testing.assert_array_equal(xv, x[:, yv])  # spikes travel with their labels
    np.testing.assert_array_equal(holdout(x, y, 0.25, seed=3)[1][1], yv)
    assert holdout(x, y, 0.25, seed=4)[1][1].tolist() != yv.tolist()
    assert len(holdout(x, y, 0.001, seed=0)[1][1]) == 1  # at least one validation sample


@pytest.mark.parametrize("fraction,message", [
    (0.0, "validation fraction must be in (0, 1), got 0.0"),
    (1.0, "validation fraction must be in (0, 1), got 1.0"),
    (True, "validation fraction must be in (0, 1), got True"),
    (0.9, "validation fraction 0.9 of 2 samples leaves none to train on"),
])
def test_holdout_refuses_fractions_that_leave_nothing(fraction, message):
    with pytest.raises(ConfigError) as e:
        holdout(np.zeros((1, 2, 1), np.uint8), np.zeros(2, np.int64), fraction, seed=0)
    assert message in str(e.value)


# ---------------------------------------------------------------------------- CLI
@pytest.fixture
def files(tmp_path):
    x, y = first_of_two()
    save_spikes(tmp_path / "train.h5", x, y)
    cfg = tmp_path / "net.toml"
    cfg.write_text(CONFIG)
    return tmp_path, cfg


def test_cli_train_then_eval(files, capsys):
    d, cfg = files
    rc = main(["train", str(cfg), "--data", str(d / "train.h5"), "--val", str(d / "train.h5"),
               "-o", str(d / "m.h5"), "--log", str(d / "log.jsonl"), "--checkpoint", str(d / "c.h5"),
               "--json", "--no-progress"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["epochs"] == 40 and out["luts"] == 16
    assert len((d / "log.jsonl").read_text().splitlines()) == 40
    rc = main(["eval", str(d / "m.h5"), str(d / "train.h5"), "--json"])
    ev = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert ev["accuracy"] == out["val_acc"] == 1.0
    assert ev["confusion"] == [[10, 0], [0, 10]]
    rc = main(["eval", str(d / "m.h5"), str(d / "train.h5")])
    assert capsys.readouterr().out.strip() == "accuracy 1.0000 (20/20)"



def test_cli_train_text_counts_one_epoch_in_the_singular(files, capsys):
    d, cfg = files
    assert main(["train", str(cfg), "--data", str(d / "train.h5"), "--epochs", "1", "-o",
                 str(d / "one.h5"), "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith(f"trained 1 epoch -> {d / 'one.h5'} (kept epoch 1")

@pytest.mark.parametrize("change,message", [
    ({"config": "loss = \"hinge\""}, "unknown loss 'hinge'; choose one of ce_count, ce_count_temporal, ce_temporal, mse_count"),
    ({"config": "surrogate = \"relu\""}, "unknown surrogate 'relu'"),
    ({"config": "lr = -0.5"}, "[train]: lr must be > 0, got -0.5"),
    ({"labels": 3}, "label 3 is out of range: the readout has 2 classes"),
    ({"channels": 5}, "spikes have 5 channels but the network has 2 inputs"),
])
def test_cli_train_stops_with_one_clear_line_before_training(files, capsys, change, message):
    d, cfg = files
    x, y = first_of_two()
    if "config" in change:
        cfg.write_text(CONFIG.replace("lr = 0.05", change["config"]))
    if "labels" in change:
        y = y.copy()
        y[0] = change["labels"]
    if "channels" in change:
        x = np.zeros((T, len(y), change["channels"]), np.uint8)
    save_spikes(d / "bad.h5", x, y)
    rc = main(["train", str(cfg), "--data", str(d / "bad.h5"), "-o", str(d / "m.h5"),
               "--log", str(d / "log.jsonl")])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.count("\n") == 1 and err.startswith("spikelut train: error: ")
    assert message in err
    assert not (d / "m.h5").exists() and not (d / "log.jsonl").exists()


def test_cli_train_val_fraction_holds_out_part_of_the_training_file(files, capsys):
    d, cfg = files
    rc = main(["train", str(cfg), "--data", str(d / "train.h5"), "--val-fraction", "0.25",
               "-o", str(d / "m.h5"), "--log", str(d / "log.jsonl"), "--epochs", "3", "--json",
               "--no-progress"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    log = [json.loads(line) for line in (d / "log.jsonl").read_text().splitlines()]
    assert [r["val_acc"] for r in log] == [r["val_acc"] for r in out["history"]]
    # accuracies over the 5 held-out samples and the 15 left to train on
    assert all(r["val_acc"] * 5 == round(r["val_acc"] * 5) for r in log)
    assert all(r["acc"] * 15 == pytest.approx(round(r["acc"] * 15)) for r in log)


def test_cli_train_refuses_bad_val_fraction(files, capsys):
    d, cfg = files
    base = ["train", str(cfg), "--data", str(d / "train.h5"), "-o", str(d / "m.h5")]
    assert main(base + ["--val-fraction", "1.5"]) == 1
    assert capsys.readouterr().err == ("spikelut train: error: validation fraction must be in "
                                       "(0, 1), got 1.5\n")
    with pytest.raises(SystemExit) as e:  # argparse: usage line, then the error, status 2
        main(base + ["--val-fraction", "0.5", "--val", "x.h5"])
    assert e.value.code == 2
    assert "argument --val: not allowed with argument --val-fraction" in capsys.readouterr().err
    assert not (d / "m.h5").exists()


def test_cli_eval_refuses_unlabelled_spikes(files, capsys):
    d, cfg = files
    main(["train", str(cfg), "--data", str(d / "train.h5"), "-o", str(d / "m.h5"), "--epochs", "1"])
    capsys.readouterr()
    save_spikes(d / "nolab.h5", np.zeros((T, 3, 2), np.uint8))
    assert main(["eval", str(d / "m.h5"), str(d / "nolab.h5")]) == 1
    assert "has no /labels; eval needs labelled spikes" in capsys.readouterr().err


@pytest.mark.parametrize("overrides", [
    {"loss": "ttfs"}, {"loss": "mse", "lr": 0.05, "target_rates": [0.8, 0.0]}, {"surrogate": "arctan"},
    {"surrogate": "triangular"}, {"surrogate": "boxcar", "optimizer": "sgd", "lr": 0.5, "epochs": 30},
    {"schedule": "step", "step_size": 5, "gamma": 0.5}, {"tbptt": 2}, {"refractory_grad": "full"},
])
def test_every_loss_surrogate_and_option_trains(overrides):
    net, tc = _setup(**{"epochs": 15, **overrides})
    x, y = first_of_two()
    tr = Trainer(net, tc, progress=False)
    before = tr.evaluate(x, y)
    tr.fit((x, y))
    after = tr.evaluate(x, y)
    assert after.loss < before.loss
    assert after.acc > 0.75


def test_rate_regularizer_makes_activity_sparser():
    x, y = first_of_two()
    spikes = []
    for reg in (0.0, 5.0):
        net, tc = _setup(epochs=15, rate_reg=reg)
        tr = Trainer(net, tc, progress=False)
        res = tr.fit((x, y))
        spikes.append(int(simulate(res.net, x).layer_spikes[0].sum()))
    assert spikes[1] < spikes[0] / 2


def test_training_demo_configs_build_and_respect_the_lut_budget(demos_dir):
    import os

    from spikelut.config import load_config
    budgets = {"first_of_two": None, "first_of_two_norec": None, "mnist1d": None, "mnist5k": 5000}
    for name, budget in budgets.items():
        cfg = load_config(os.path.join(demos_dir, f"train_{name}.toml"))
        TrainConfig.from_dict(cfg["train"], seed=cfg["seed"])
        net = build_network(cfg)
        if budget is not None:
            assert net.n_nodes <= budget
    rec = build_network(load_config(os.path.join(demos_dir, "train_first_of_two.toml")))
    norec = build_network(load_config(os.path.join(demos_dir, "train_first_of_two_norec.toml")))
    assert rec.sizes == norec.sizes and rec.summary()["layers"][0]["taps_recurrent"] == 128
    assert norec.summary()["layers"][0]["taps_recurrent"] == 0 and norec.flip_flops() == 0
