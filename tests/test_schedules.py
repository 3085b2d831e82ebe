"""Learning-rate and batch-size schedules (docs/epochs.md): every schedule's rate per step, the
batch size and steps per epoch, what the trainer does with them, resume in the middle of a
schedule, config and CLI errors, and the peer benchmark's ``--train`` overrides."""

import json
import math

import numpy as np
import pytest

from spikelut import peers
from spikelut.cli import main
from spikelut.errors import ConfigError
from spikelut.io import load_model, save_spikes
from spikelut.train import Trainer, TrainConfig
from spikelut.train.optim import (ONECYCLE_WARMUP, batch_size_at, epoch_steps, lr_at,
                                  parse_batch_schedule)

from helpers import assert_same_training
from test_train import CONFIG, Interrupt, _setup, first_of_two


def _rates(schedule, lr, total, **kw):
    return [lr_at(schedule, lr, s, total, **kw) for s in range(total)]


# ---------------------------------------------------------------------------- rates per step
def test_linear_decays_to_min_lr_on_a_straight_line():
    assert _rates("linear", 0.1, 4) == [0.1, 0.1 * 0.75, 0.1 * 0.5, 0.1 * 0.25]
    assert _rates("linear", 0.1, 4, min_lr=0.02) == [0.1, 0.02 + 0.08 * 0.75, 0.02 + 0.08 * 0.5,
                                                      0.02 + 0.08 * 0.25]
    assert lr_at("linear", 0.1, 4, 4, min_lr=0.02) == 0.02


def test_warmup_ramps_linearly_from_lr_over_div_factor_then_the_schedule_decays():
    # 10 steps, warmup 0.2 = 2 steps from 0.1 / 10 = 0.01 up; the decay spans steps 2..10
    assert _rates("constant", 0.1, 10, warmup=0.2, div_factor=10) == \
        [0.01, 0.01 + (0.1 - 0.01) * 1 / 2] + [0.1] * 8
    cos = _rates("cosine", 0.1, 10, warmup=0.2, div_factor=10)
    assert cos[:2] == [0.01, 0.01 + (0.1 - 0.01) * 1 / 2]
    assert cos[2:] == [0.5 * 0.1 * (1 + math.cos(math.pi * (s - 2) / 8)) for s in range(2, 10)]
    assert cos[6] == pytest.approx(0.05, abs=1e-15)
    lin = _rates("linear", 0.1, 10, warmup=0.2, div_factor=10)
    assert lin[2:] == [0.1 * (1 - (s - 2) / 8) for s in range(2, 10)]
    # step: the warm-up factor times gamma ** (epoch // step_size)
    assert lr_at("step", 0.1, 1, 10, epoch=3, step_size=2, gamma=0.5, warmup=0.2,
                 div_factor=10) == (0.01 + (0.1 - 0.01) * 1 / 2) * 0.5
    assert lr_at("step", 0.1, 5, 10, epoch=3, step_size=2, gamma=0.5, warmup=0.2) == 0.05


def test_without_warmup_the_old_schedules_are_unchanged():
    for w in (None, 0.0):
        assert _rates("cosine", 0.01, 7, warmup=w, min_lr=0.001) == \
            [0.001 + 0.5 * (0.01 - 0.001) * (1 + math.cos(math.pi * s / 7)) for s in range(7)]
        assert _rates("constant", 0.01, 3, warmup=w) == [0.01] * 3


def test_onecycle_values():
    # PyTorch's OneCycleLR: from lr / 25 up (cosine) over 30 % of the steps, then down to
    # lr / 25 / 1e4; phase 1 ends at step 0.3 * 10 - 1 = 2
    r = _rates("onecycle", 0.1, 10)
    assert ONECYCLE_WARMUP == 0.3
    assert r[0] == pytest.approx(0.1 / 25, abs=1e-15)  # exact equality: against PyTorch below
    assert r[1] == pytest.approx((0.004 + 0.1) / 2, abs=1e-15)  # half-way up the cosine
    assert r[2] == pytest.approx(0.1, abs=1e-15)
    final = 0.1 / 25 / 1e4
    assert r[2:] == pytest.approx([final + (0.1 - final) / 2 * (math.cos(math.pi * (s - 2) / 7) + 1)
                                   for s in range(2, 10)], abs=1e-15)
    assert r[9] == pytest.approx(final, rel=1e-12)
    assert lr_at("onecycle", 0.1, 25, 10) == r[9]  # past the end: the final rate
    assert _rates("onecycle", 0.2, 4, warmup=0.5, div_factor=4, final_div_factor=2) == \
        pytest.approx([0.05, 0.2, (0.2 + 0.025) / 2, 0.025], abs=1e-15)


@pytest.mark.parametrize("total, pct, div, final_div", [(100, 0.3, 25.0, 1e4), (7, 0.3, 25.0, 1e4),
                                                        (33, 0.5, 5.0, 1e3), (160, 0.25, 10.0, 100.0)])
def test_onecycle_equals_pytorch(total, pct, div, final_div):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.03, total_steps=total, pct_start=pct,
                                                div_factor=div, final_div_factor=final_div)
    theirs = []
    for s in range(total):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        if s < total - 1:
            sched.step()
    assert _rates("onecycle", 0.03, total, warmup=pct, div_factor=div,
                  final_div_factor=final_div) == theirs


def test_unknown_schedule():
    with pytest.raises(ConfigError, match=r"^unknown schedule 'cos'; choose one of constant, cosine, "
                                          r"linear, step, onecycle$"):
        lr_at("cos", 0.1, 0, 10)


# ---------------------------------------------------------------------------- batch sizes
def test_batch_size_and_steps_per_epoch():
    assert [batch_size_at(e, 10, ((2, 5), (4, 20))) for e in range(5)] == [10, 5, 5, 20, 20]
    assert [batch_size_at(e, 10) for e in range(3)] == [10, 10, 10]
    assert epoch_steps(20, 4, 10, ((2, 5), (4, 20))) == [(10, 2, 0), (5, 4, 2), (5, 4, 6), (20, 1, 10)]
    assert epoch_steps(21, 2, 10) == [(10, 3, 0), (10, 3, 3)]
    assert parse_batch_schedule("2:5, 4:20") == [[2, 5], [4, 20]]
    assert parse_batch_schedule("none") == []
    with pytest.raises(ConfigError, match=r"^--batch-schedule: '4-20' is not EPOCH:SIZE \(two "
                                          r"integers, e.g. 11:50,21:100\)$"):
        parse_batch_schedule("2:5,4-20")


def _recording_trainer(net, tc):
    """A trainer that records every batch's size and learning rate."""
    tr = Trainer(net, tc, progress=False)
    seen, rates = [], []
    step = tr.opt.step

    def loss_and_grad(x, y, *a, **kw):
        seen.append(int(x.shape[1]))
        return Trainer.loss_and_grad(tr, x, y, *a, **kw)

    def opt_step(params, grads, lr):
        rates.append(lr)
        step(params, grads, lr)

    tr.loss_and_grad = loss_and_grad
    tr.opt.step = opt_step
    return tr, seen, rates


def test_trainer_follows_the_batch_schedule_and_the_rate_per_step():
    x, y = first_of_two()  # 20 samples
    net, tc = _setup(epochs=4, batch_size=10, batch_schedule=[[2, 5], [4, 20]],
                     schedule="onecycle", lr=0.1, warmup=0.25)
    tr, seen, rates = _recording_trainer(net, tc)
    res = tr.fit((x, y))
    assert seen == [10, 10] + [5] * 8 + [20]
    assert tr.total_steps == 11 and tr.opt.t == 11
    assert rates == [lr_at("onecycle", 0.1, s, 11, warmup=0.25) for s in range(11)]
    assert [r["batch_size"] for r in res.history] == [10, 5, 5, 20]
    assert [r["lr"] for r in res.history] == [rates[0], rates[2], rates[6], rates[10]]


def test_without_a_batch_schedule_the_record_has_no_batch_size_and_cosine_spans_the_run():
    x, y = first_of_two()
    net, tc = _setup(epochs=2, batch_size=8)  # 3 steps per epoch, the last of 4 samples
    tr, seen, rates = _recording_trainer(net, tc)
    res = tr.fit((x, y))
    assert seen == [8, 8, 4] * 2
    assert rates == [0.05 * 0.5 * (1 + math.cos(math.pi * s / 6)) for s in range(6)]
    assert "batch_size" not in res.history[0]


def test_resume_in_the_middle_of_a_schedule_continues_bit_for_bit(tmp_path):
    x, y = first_of_two()
    overrides = dict(epochs=5, batch_size=10, batch_schedule=[[3, 4]], schedule="onecycle",
                     lr=0.1, warmup=0.4, keep="best")
    net, tc = _setup(**overrides)
    full = Trainer(net, tc, progress=False)
    res_full = full.fit((x, y), (x, y))

    def stop_after_3(trainer, record):
        if record["epoch"] == 3:
            raise Interrupt

    ckpt = tmp_path / "ckpt.h5"
    net, tc = _setup(**overrides)
    with pytest.raises(Interrupt):
        Trainer(net, tc, progress=False).fit((x, y), (x, y), checkpoint=ckpt, callback=stop_after_3)
    net, tc = _setup(**overrides)
    resumed = Trainer(net, tc, progress=False)
    res = resumed.fit((x, y), (x, y), checkpoint=ckpt, resume=True)
    assert resumed.opt.t == full.opt.t == 2 + 2 + 5 + 5 + 5
    assert_same_training(full, res_full, resumed, res)
    # another batch schedule is another run: refused
    net, tc = _setup(**{**overrides, "batch_schedule": [[3, 5]]})
    with pytest.raises(ConfigError, match=r"different \[train\] config \(batch_schedule = \[\[3, 4\]\], "
                                          r"now \[\[3, 5\]\]\)"):
        Trainer(net, tc, progress=False).fit((x, y), checkpoint=ckpt, resume=True)


def test_onecycle_with_a_batch_schedule_learns_the_task():
    # the first_of_two task of tests/test_train.py: 100 % after 40 epochs, as the default cosine
    net, tc = _setup(schedule="onecycle", lr=0.05, warmup=0.2, batch_schedule=[[21, 20]])
    x, y = first_of_two()
    tr = Trainer(net, tc, progress=False)
    before = tr.evaluate(x, y)
    res = tr.fit((x, y))
    after = tr.evaluate(x, y)
    assert after.acc == 1.0
    assert after.loss < before.loss / 5
    assert res.history[-1]["batch_size"] == 20 and res.history[0]["lr"] == pytest.approx(0.05 / 25)


# ---------------------------------------------------------------------------- config errors
@pytest.mark.parametrize("table, message", [
    ({"schedule": "cyclic"}, "[train]: unknown schedule 'cyclic'; choose one of constant, cosine, "
                             "linear, onecycle, step"),
    ({"warmup": 1.0}, "[train]: warmup must be a part of the steps in [0, 1), got 1.0"),
    ({"warmup": -0.1}, "[train]: warmup must be >= 0, got -0.1"),
    ({"warmup": "10%"}, "[train]: warmup must be a number, got '10%'"),
    ({"div_factor": 0.5}, "[train]: div_factor must be >= 1, got 0.5"),
    ({"final_div_factor": 0}, "[train]: final_div_factor must be >= 1, got 0"),
    ({"batch_schedule": 50}, "[train]: batch_schedule must be a list of [epoch, batch_size] pairs "
                             "of integers, e.g. [[11, 50], [21, 100]], got 50"),
    ({"batch_schedule": [[11, 50.0]]}, "[train]: batch_schedule must be a list of [epoch, "
                                       "batch_size] pairs of integers, e.g. [[11, 50], [21, 100]], "
                                       "got [[11, 50.0]]"),
    ({"batch_schedule": [[1, 50]]}, "[train]: batch_schedule must be pairs with ascending epochs "
                                    ">= 2 (epoch 1 uses batch_size), got [[1, 50]]"),
    ({"batch_schedule": [[5, 50], [5, 100]]}, "[train]: batch_schedule must be pairs with "
                                              "ascending epochs >= 2 (epoch 1 uses batch_size), "
                                              "got [[5, 50], [5, 100]]"),
    ({"batch_schedule": [[5, 0]]}, "[train]: batch_schedule must be pairs with batch sizes >= 1, "
                                   "got [[5, 0]]"),
])
def test_config_errors_are_one_line(table, message):
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict(table)
    assert str(e.value) == message


def test_config_round_trip_and_defaults():
    cfg = TrainConfig.from_dict({"schedule": "onecycle", "batch_schedule": [[11, 50], [21, 100]],
                                 "warmup": 0.25})
    assert cfg.batch_schedule == ((11, 50), (21, 100))
    d = cfg.to_dict()
    assert d["batch_schedule"] == [[11, 50], [21, 100]] and d["warmup"] == 0.25
    assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg
    base = TrainConfig()
    assert (base.schedule, base.warmup, base.div_factor, base.final_div_factor,
            base.batch_schedule) == ("cosine", None, 25.0, 1e4, ())


# ---------------------------------------------------------------------------- CLI
def test_cli_schedule_flags(tmp_path, capsys):
    (tmp_path / "c.toml").write_text(CONFIG)
    x, y = first_of_two()
    save_spikes(tmp_path / "d.h5", x, y)
    code = main(["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"), "-o",
                 str(tmp_path / "m.h5"), "--log", str(tmp_path / "log.jsonl"), "--epochs", "3",
                 "--backend", "numba", "--lr", "0.2", "--schedule", "linear", "--warmup", "0.5",
                 "--batch-size", "5", "--batch-schedule", "3:20", "--init-std", "0.001",
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    log = [json.loads(s) for s in (tmp_path / "log.jsonl").read_text().splitlines()]
    # 4 + 4 + 1 = 9 steps, warm-up over 4.5 of them from 0.2 / 25
    assert [r["batch_size"] for r in log] == [5, 5, 20]
    assert [r["lr"] for r in log] == [0.008, 0.008 + (0.2 - 0.008) * 4 / 4.5, 0.2 * (1 - 3.5 / 4.5)]
    # --init-std reaches the trainer: at a rate of 1e-9 the logits stay at their N(0, 0.001) draws
    code = main(["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"), "-o",
                 str(tmp_path / "m1.h5"), "--epochs", "1", "--backend", "numba", "--lr", "1e-9",
                 "--init-std", "0.001", "--no-progress"])
    assert code == 0
    top = max(float(np.abs(layer.logits).max()) for layer in load_model(tmp_path / "m1.h5").layers)
    assert 0 < top < 0.006  # the config's init_std of 0.1 gives about 0.3
    capsys.readouterr()
    code = main(["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"), "-o",
                 str(tmp_path / "m2.h5"), "--batch-schedule", "1:20"])
    assert code == 1
    assert capsys.readouterr().err == (
        "spikelut train: error: --batch-schedule must be pairs "
        "with ascending epochs >= 2 (epoch 1 uses batch_size), got [[1, 20]]\n")


# ---------------------------------------------------------------------------- peers --train
def test_peer_benchmark_runs_a_train_variant(tmp_path):
    assert peers.parse_train_overrides(["lr=0.02", "schedule=onecycle", "batch_schedule=[[2, 4]]"]) \
        == {"lr": 0.02, "schedule": "onecycle", "batch_schedule": [[2, 4]]}
    rep = peers.run_peers(["spikelut"], epochs=2, batch_size=8, limit=16, val_fraction=0.25,
                          target=1.0, train={"schedule": "onecycle", "lr": 0.02,
                                             "batch_schedule": [[2, 4]]})
    assert rep["settings"]["train"] == {"schedule": "onecycle", "lr": 0.02, "batch_schedule": [[2, 4]]}
    (r,) = rep["systems"]
    assert r["lr"] == 0.02 and [e["epoch"] for e in r["epochs"]] == [1, 2]
    assert r["train"] == {"batch_schedule": [[2, 4]], "lr": 0.02, "schedule": "onecycle"}
    assert "; [train] batch_schedule = [[2, 4]], lr = 0.02, schedule = \"onecycle\"" in \
        peers.format_report(rep)


@pytest.mark.parametrize("argv, message", [
    (["--train", "epochs=3"], "--train epochs: the benchmark sets it (--epochs, --batch-size, "
                              "--seed; the numba passes); set it there instead"),
    (["--train", "lr"], "--train 'lr': expected KEY=VALUE, e.g. schedule=onecycle"),
    (["--train", "schedule=cyclic", "--systems", "spikelut", "--limit", "4"],
     "{config} (with --train): [train]: unknown schedule 'cyclic'; choose one of constant, "
     "cosine, linear, onecycle, step"),
])
def test_peer_train_errors_are_one_line(argv, message, capsys):
    code = main(["peers", *argv])
    assert code == 1
    message = message.format(config=peers.default_config())
    assert capsys.readouterr().err == f"spikelut peers: error: {message}\n"
