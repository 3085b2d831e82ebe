"""Pulse-only networks (issue 14, docs/pulse.md): the refractory curriculum, ``same_channel`` tap
groups, the count + first-spike loss, existing configs training as before, and pulse-only
networks (R >= 1 in every layer) that learn ``first_of_two`` with each option."""

import hashlib
import os

import numpy as np
import pytest

from demos import pulse_study
from spikelut.coding import delta, latency, sigma_delta
from spikelut.config import build_network, load_config, parse_config
from spikelut.datasets import encode_dataset
from spikelut.engine.reference import simulate
from spikelut.errors import ConfigError
from spikelut.train import Trainer, TrainConfig
from spikelut.train.bptt import backward, compile_plan, forward
from spikelut.train.losses import cross_entropy
from spikelut.train.surrogates import get_surrogate
from spikelut.train.trainer import holdout
from spikelut.wiring import random_network


@pytest.fixture(scope="module")
def fot():
    """first_of_two's training split as (train, val): the study's validation split."""
    sd = encode_dataset("first_of_two", None, 20, split="train", seed=0)
    return holdout(sd.spikes, sd.labels, 0.2, seed=0)


def reference_accuracy(net, x, y) -> float:
    """Accuracy of ``net`` on the reference engine (the semantics of DESIGN.md section 2)."""
    return float((simulate(net, x).pred == y).mean())


# ---------------------------------------------------------------------------- the relaxed gate
def test_relaxed_gate_at_strength_0_is_no_gate_and_at_1_the_exact_rule():
    pulse = random_network(3, n_in=3, sizes=[12, 4], k=3, refractory=[1, 2])
    free = random_network(3, n_in=3, sizes=[12, 4], k=3, refractory=0)   # same taps and tables
    x = (np.random.default_rng(0).random((15, 6, 3)) < 0.4).astype(np.uint8)
    tables = [layer.table for layer in pulse.layers]
    plan = compile_plan(pulse)
    exact = forward(plan, tables, x)
    assert all(np.array_equal(forward(plan, tables, x, gate=1.0).spikes(i), exact.spikes(i))
               for i in range(2))
    relaxed = forward(plan, tables, x, gate=0.0, rng=np.random.default_rng(1))
    unrefractory = forward(compile_plan(free), tables, x)
    for i in range(2):
        assert np.array_equal(relaxed.spikes(i), unrefractory.spikes(i))
        assert np.array_equal(exact.spikes(i), simulate(pulse, x).layer_spikes[i])
    assert int(relaxed.spikes(0).sum()) > int(exact.spikes(0).sum())  # the gate did silence spikes


@pytest.mark.parametrize("mode", ["block", "full"])
def test_relaxed_gate_gradient_at_strength_0_is_that_of_no_gate(mode):
    pulse = random_network(5, n_in=3, sizes=[10, 4], k=3, refractory=1)
    free = random_network(5, n_in=3, sizes=[10, 4], k=3, refractory=0)
    x = (np.random.default_rng(2).random((12, 5, 3)) < 0.5).astype(np.uint8)
    thetas = [np.random.default_rng(i).normal(0, 0.3, l.table.shape).astype(np.float32)
              for i, l in enumerate(pulse.layers)]
    tables = [(t > 0).astype(np.uint8) for t in thetas]
    y = np.arange(5) % 2
    fp = forward(compile_plan(pulse), tables, x, gate=0.0, rng=np.random.default_rng(0))
    ff = forward(compile_plan(free), tables, x)
    sur = get_surrogate("fast_sigmoid")
    g_out = cross_entropy(fp.spikes(1), y, pulse.readout)[1]
    gp, _ = backward(fp.plan, thetas, fp, [None, g_out], sur, refractory_grad=mode, gate=0.0)
    gf, _ = backward(ff.plan, thetas, ff, [None, g_out], sur, refractory_grad=mode)
    assert all(np.array_equal(a, b) for a, b in zip(gp, gf))
    g1, _ = backward(fp.plan, thetas, fp, [None, g_out], sur, refractory_grad=mode)
    assert not all(np.array_equal(a, b) for a, b in zip(g1, gf))  # the exact gate does differ


def test_relaxed_gate_needs_a_generator():
    net = random_network(0, n_in=2, sizes=[4, 2], k=2, refractory=1)
    with pytest.raises(ConfigError, match=r"^forward: a relaxed gate \(gate < 1\) needs a random "
                                          r"generator \(rng\)$"):
        forward(compile_plan(net), [l.table for l in net.layers], np.zeros((3, 1, 2), np.uint8), gate=0.5)


# ---------------------------------------------------------------------------- the curriculum
def test_refractory_ramp_must_leave_exact_epochs():
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict({"epochs": 4, "refractory_ramp": 4})
    assert str(e.value) == ("[train]: refractory_ramp (4) must be less than epochs (4): the last "
                            "epochs must train the exact gate")
    with pytest.raises(ConfigError, match=r"refractory_ramp must be an integer >= 0, got -1"):
        TrainConfig.from_dict({"refractory_ramp": -1})
    assert TrainConfig.from_dict({}).refractory_ramp == 0


def test_curriculum_ramps_then_trains_and_keeps_only_exact_epochs(fot):
    (xt, yt), (xv, yv) = fot
    cfg = pulse_study.task_config("first_of_two", "r1_own2_ramp")
    cfg["train"].update(epochs=8, refractory_ramp=3, keep="best")
    net = build_network(cfg)
    tr = Trainer(net, TrainConfig.from_dict(cfg["train"], seed=cfg["seed"]), progress=False)
    res = tr.fit((xt, yt), (xv, yv))
    assert [r["gate"] for r in res.history] == [0.0, 1 / 3, 2 / 3, 1.0, 1.0, 1.0, 1.0, 1.0]
    kept = res.history[res.kept_epoch - 1]
    assert kept["gate"] == 1.0 and res.kept_epoch >= 4
    assert kept["val_acc"] == max(r["val_acc"] for r in res.history[3:])
    # the kept model is the circuit: the reference engine scores it as the trainer reported
    assert reference_accuracy(res.net, xv, yv) == kept["val_acc"]
    assert all(layer.refractory == 1 for layer in res.net.layers)


def test_a_relaxed_epoch_is_never_kept_even_when_it_scores_best():
    net = random_network(0, n_in=2, sizes=[4, 2], k=2, refractory=1)
    tr = Trainer(net, TrainConfig(epochs=3, refractory_ramp=1), progress=False)
    tr._keep({"epoch": 1, "gate": 0.0, "val_acc": 1.0, "val_loss": 0.0})
    assert tr.best is None
    tr._keep({"epoch": 2, "gate": 1.0, "val_acc": 0.5, "val_loss": 1.0})
    assert tr.best == {"epoch": 2, "val_acc": 0.5, "val_loss": 1.0}


def test_curriculum_last_model_is_exact_with_keep_last(fot):
    (xt, yt), (xv, yv) = fot
    cfg = pulse_study.task_config("first_of_two", "r1_own2_ramp")
    cfg["train"].update(epochs=4, refractory_ramp=2, keep="last")
    tr = Trainer(build_network(cfg), TrainConfig.from_dict(cfg["train"], seed=0), progress=False)
    res = tr.fit((xt[:, :200], yt[:200]), (xv, yv))
    assert res.kept_epoch == 4 and res.history[-1]["gate"] == 1.0
    assert reference_accuracy(res.net, xv, yv) == res.history[-1]["val_acc"]


# ---------------------------------------------------------------------------- existing configs
#: measured on main before this branch (numpy backend, 240 train / 60 val samples, 2 epochs)
PINNED = {
    "train_first_of_two": ([1.491517, 0.83027], [25 / 60, 35 / 60], "69df78aad27d220e"),
    "run_patterns": ([0.768139, 0.551997], [46 / 60, 47 / 60], "d2bc1099cf7cffd9"),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_existing_configs_train_exactly_as_before(demos_dir, name):
    sd = encode_dataset("first_of_two", None, 20, split="train", seed=0)
    (xt, yt), (xv, yv) = holdout(sd.spikes[:, :300], sd.labels[:300], 0.2, seed=0)
    cfg = load_config(os.path.join(demos_dir, f"{name}.toml"))
    cfg["train"].update(epochs=2, backend="numpy")
    if name == "run_patterns":  # an R = 1 network reading two channels: the gate's old path
        cfg["layers"][0]["refractory"] = 1
        cfg["inputs"] = 2
    tr = Trainer(build_network(cfg), TrainConfig.from_dict(cfg["train"], seed=cfg["seed"]),
                 progress=False)
    res = tr.fit((xt, yt), (xv, yv))
    losses, val, table_hash = PINNED[name]
    assert [round(r["loss"], 6) for r in res.history] == losses
    assert [r["val_acc"] for r in res.history] == pytest.approx(val, abs=1e-12)
    assert hashlib.sha256(b"".join(np.ascontiguousarray(l.table).tobytes()
                                   for l in res.net.layers)).hexdigest()[:16] == table_hash
    assert sorted(res.history[0]) == ["acc", "epoch", "flips", "loss", "lr", "mean_abs_logit",
                                      "near_zero", "time", "val_acc", "val_loss"]


# ---------------------------------------------------------------------------- same_channel
NET = """
inputs = 2
seed = 4
[[layers]]
nodes = 4
k = 5
refractory = 1
taps = [{{from = "input", count = 1}}, {{from = "self", count = {count}, delay = {delay}{same}}}]
[readout]
classes = 2
"""


def test_same_channel_reads_one_drawn_node_at_each_listed_delay():
    net = build_network(parse_config(NET.format(count=4, delay="[1, 2]", same=", same_channel = true")))
    idx, dly = net.layers[0].index[:, 1:], net.layers[0].delay[:, 1:]
    assert dly.tolist() == [[1, 2, 1, 2]] * 4
    assert (idx[:, 0] == idx[:, 1]).all() and (idx[:, 2] == idx[:, 3]).all()
    assert (idx[:, 0] != idx[:, 2]).all()                        # two distinct drawn nodes
    assert (idx != np.arange(4)[:, None]).all()                  # "self" still excludes the own output
    net = build_network(parse_config(NET.format(count=4, delay="[0, 1, 2, 3]", same=", same_channel = 2")
                                     .replace('"self"', '"input"')))
    idx, dly = net.layers[0].index[:, 1:], net.layers[0].delay[:, 1:]
    assert dly.tolist() == [[0, 1, 2, 3]] * 4 and (idx[:, 0] == idx[:, 1]).all() and (idx[:, 2] == idx[:, 3]).all()


def test_without_same_channel_the_wiring_is_drawn_as_before():
    a = build_network(parse_config(NET.format(count=4, delay="[1, 2]", same="")))
    b = build_network(parse_config(NET.format(count=4, delay="[1, 2]", same=", same_channel = false")))
    assert a.layers[0].index.tolist() == b.layers[0].index.tolist()


@pytest.mark.parametrize("same, delay, message", [
    ("true", "1", "same_channel needs a list of delays"),
    ('"yes"', "[1, 2]", "same_channel must be true, false or an integer 2 .. 4 (taps per channel, "
                        "at most the group's count = 4), got 'yes'"),
    ("1", "[1, 2]", "same_channel must be true, false or an integer 2 .. 4"),
    # np.repeat made [n, same_channel] indices: 10**12 ran out of memory after the attempt
    ("1000000000000", "[1, 2]", "same_channel must be true, false or an integer 2 .. 4 (taps per "
                                "channel, at most the group's count = 4), got 1000000000000"),
    ("5", "[1, 2]", "same_channel must be true, false or an integer 2 .. 4"),
])
def test_same_channel_errors_name_the_tap_group(same, delay, message):
    with pytest.raises(ConfigError) as e:
        build_network(parse_config(NET.format(count=4, delay=delay, same=f", same_channel = {same}")))
    assert str(e.value).startswith("layer 0 ('L0'), taps[1]: ") and message in str(e.value)
    assert "\n" not in str(e.value)


def test_same_channel_does_not_apply_to_own_output():
    text = NET.format(count=4, delay="[1, 2]", same="").replace(
        '{from = "self", count = 4, delay = [1, 2]}', '{from = "own", count = 4, delay = [1, 2], same_channel = true}')
    with pytest.raises(ConfigError, match=r"not from = \"own\" or index"):
        build_network(parse_config(text))


# ---------------------------------------------------------------------------- learning
#: option -> the study variant that uses it; each is a pulse-only network (R = 1 in every layer)
LEARNS = {
    "own-output loop at delay 2": "r1_own2",
    "refractory_grad full": "r1_full",
    "two neighbouring delays (same_channel)": "r1_pairs",
    "refractory curriculum": "r1_own2_ramp",
    "count + first-spike loss": "r1_own2_cettfs",
}


def assert_learns_to_100(cfg: dict, train, val) -> None:
    """The pulse-only network of ``cfg`` (R >= 1 in every layer), trained keeping its best epoch,
    is 100% right on ``val``, in training and on the reference engine."""
    (xt, yt), (xv, yv) = train, val
    cfg["train"]["keep"] = "best"
    net = build_network(cfg)
    assert all(layer.refractory >= 1 for layer in net.layers)
    tr = Trainer(net, TrainConfig.from_dict(cfg["train"], seed=cfg["seed"]), progress=False)
    res = tr.fit((xt, yt), (xv, yv))
    assert res.history[res.kept_epoch - 1]["val_acc"] == 1.0
    assert reference_accuracy(res.net, xv, yv) == 1.0


@pytest.mark.parametrize("option", sorted(LEARNS))
def test_pulse_only_network_learns_first_of_two(fot, option):
    (xt, yt), (xv, yv) = fot
    variant = LEARNS[option]
    assert_learns_to_100(pulse_study.task_config("first_of_two", variant), (xt, yt), (xv, yv))


def test_the_run_demo_is_pulse_only_and_learns(demos_dir, fot):
    (xt, yt), (xv, yv) = fot
    cfg = load_config(os.path.join(demos_dir, "run_default.toml"))
    net = build_network(cfg)
    assert [layer.refractory for layer in net.layers] == [1, 1]
    tr = Trainer(net, TrainConfig.from_dict(cfg["train"], seed=cfg["seed"]), progress=False)
    res = tr.fit((xt, yt), (xv, yv))
    assert res.history[-1]["val_acc"] == 1.0 and reference_accuracy(res.net, xv, yv) == 1.0


def test_the_mnist1d_pulse_demo_is_the_studied_network(demos_dir):
    """demos/train_mnist1d_pulse.toml is the study's best pulse-only variant: triples of
    neighbouring delays, a 600-node readout, twice the readout's default logit scale, one-cycle
    to lr 0.03, residual (pass-through) initial tables."""
    cfg = load_config(os.path.join(demos_dir, "train_mnist1d_pulse.toml"))
    studied_cfg = pulse_study.task_config("mnist1d", "r1_triples_out600_scale2_onecycle_residual")
    net, studied = build_network(cfg), build_network(studied_cfg)
    assert [layer.refractory for layer in net.layers] == [1, 1, 1, 1]
    for a, b in zip(net.layers, studied.layers, strict=True):
        for field in ("source", "index", "delay", "table"):
            assert np.array_equal(getattr(a, field), getattr(b, field))
    assert cfg["train"]["logit_scale"] == pytest.approx(studied_cfg["train"]["logit_scale"])
    assert cfg["train"]["lr"] == studied_cfg["train"]["lr"] == 0.03
    assert cfg["train"]["schedule"] == studied_cfg["train"]["schedule"] == "onecycle"
    assert cfg["train"]["init"] == studied_cfg["train"]["init"] == "residual"
    assert cfg["train"]["init_noise"] == studied_cfg["train"]["init_noise"] == 0.03
    assert cfg["train"]["logit_scale"] == pytest.approx(2 * 4 / (60 * np.sqrt(40)))
    front2 = net.layers[1]
    assert front2.delay[0].tolist() == [0, 1, 2, 3, 4, 5]
    assert (front2.index[:, [0, 3]] == front2.index[:, [1, 4]]).all()   # one node at d .. d + 2
    assert (front2.index[:, [0, 3]] == front2.index[:, [2, 5]]).all()
    assert net.layers[2].delay[0].tolist() == [0, 1, 2, 1, 2, 3]
    assert [layer.n for layer in net.layers] == [1024, 1024, 1648, 600]
    assert net.n_nodes == 4296


def test_mnist1d_readout_variants_keep_the_lut_count():
    """The study's MNIST-1D levers at the same LUT count: a wider readout (more ``out`` nodes,
    as many fewer ``rec`` nodes) and a logit scale that is a multiple of the readout's default."""
    from spikelut.train.losses import default_logit_scale

    base = build_network(pulse_study.task_config("mnist1d", "r1_triples"))
    cfg = pulse_study.task_config("mnist1d", "r1_triples_out400_scale2")
    wide = build_network(cfg)
    assert wide.n_nodes == base.n_nodes == 4296
    assert [layer.n for layer in wide.layers] == [1024, 1024, 1848, 400]
    assert np.bincount(wide.readout.class_of).tolist() == [40] * 10
    # twice the default of the 400-node readout: 2 * 4 / (40 * sqrt(40))
    assert cfg["train"]["logit_scale"] == pytest.approx(2 * default_logit_scale(wide.readout, 40))
    assert cfg["train"]["logit_scale"] == pytest.approx(0.1 / np.sqrt(10))
    assert "logit_scale" not in pulse_study.task_config("mnist1d", "r1_triples_out400")["train"]
    mix = build_network(pulse_study.task_config("mnist1d", "r1_mix"))
    assert mix.n_nodes == 4296
    assert mix.layers[1].delay[0].tolist() == [0, 1, 2, 3, 4, 5]       # triples into front2
    assert mix.layers[3].delay[0].tolist() == [0, 1, 0, 1, 0, 1]       # pairs into out
    assert (mix.layers[3].index[:, 0::2] == mix.layers[3].index[:, 1::2]).all()


def test_curriculum_resumes_bit_for_bit(fot, tmp_path):
    (xt, yt), _ = fot
    cfg = pulse_study.task_config("first_of_two", "r1_own2_ramp")
    cfg["train"].update(epochs=4, refractory_ramp=3, keep="last", backend="numpy")
    data = (xt[:, :100], yt[:100])

    def trainer(epochs):
        c = TrainConfig.from_dict({**cfg["train"], "epochs": epochs}, seed=0)
        return Trainer(build_network(cfg), c, progress=False)

    full = trainer(4)
    full.fit(data)
    ck = tmp_path / "ckpt.h5"

    class Stop(Exception):
        pass

    def stop(tr, record):
        if record["epoch"] == 2:                      # interrupted inside the ramp
            raise Stop

    with pytest.raises(Stop):
        trainer(4).fit(data, checkpoint=ck, callback=stop)
    resumed = trainer(4)
    resumed.fit(data, checkpoint=ck, resume=True)
    assert [r["gate"] for r in resumed.history] == [0.0, 1 / 3, 2 / 3, 1.0]
    for a, b in zip(full.params, resumed.params):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("task", pulse_study.UCR)
def test_ucr_tasks_build_every_variant_at_the_same_lut_count(task):
    """Every study variant of a UCR/UEA task's demo network has the demo's LUT count (nodes and
    inputs per LUT), does what its name says, and a variant written for another network's layers
    is refused with an error naming it (never a silent no-op)."""
    base = build_network(load_config(pulse_study.HERE / pulse_study.TASKS[task]))
    for name in pulse_study.VARIANTS:
        if name in pulse_study.MNIST1D_ONLY:
            with pytest.raises(pulse_study.VariantError, match=name):
                pulse_study.task_config(task, name)
            continue
        net = build_network(pulse_study.task_config(task, name))
        assert net.n_nodes == base.n_nodes, name
        assert [(layer.n, layer.k) for layer in net.layers] == \
            [(layer.n, layer.k) for layer in base.layers], name
    for name, r in (("r0", 0), ("r1", 1), ("r1_triples", 1), ("r2", 2), ("r2_triples", 2)):
        cfg = pulse_study.task_config(task, name)
        assert [layer.get("refractory", 0) for layer in cfg["layers"]] == [r] * len(cfg["layers"])
    # triples: every layer-to-layer group reads each drawn node at three neighbouring delays
    net = build_network(pulse_study.task_config(task, "r2_triples"))
    out = net.layers[-1]
    assert out.delay[0].tolist() == [0, 1, 2, 0, 1, 2]
    assert (out.index[:, 0::3] == out.index[:, 1::3]).all()
    assert (out.index[:, 0::3] == out.index[:, 2::3]).all()
    rec = net.layers[-2]
    assert rec.delay[0].tolist()[-3:] == [1, 2, 3]                      # own layer at 1, 2, 3
    assert (rec.index[:, -3] == rec.index[:, -1]).all()


def test_pulse_study_refuses_a_variant_that_does_not_apply(capsys):
    assert pulse_study.main(["basicmotions", "r1", "r1_triples_out400"]) == 1
    assert "does not apply to 'basicmotions'" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["italypowerdemand", "basicmotions"])
def test_ucr_validation_is_a_holdout_of_the_training_split_only(task, monkeypatch):
    """The UCR validation split is a seeded 25% holdout of the TRAINING split: the test split is
    never loaded, and train + validation are exactly the training split's samples, disjoint."""
    pytest.importorskip("aeon")
    import spikelut.datasets as datasets

    splits = []
    real = datasets.encode_dataset

    def recording(name, coding, steps, split="train", *a, **kw):
        splits.append(split)
        return real(name, coding, steps, split, *a, **kw)

    monkeypatch.setattr(datasets, "encode_dataset", recording)
    (xt, yt), (xv, yv) = pulse_study.task_data(task, "thermometer", 0)
    assert splits == ["train"]
    monkeypatch.undo()
    cfg = load_config(pulse_study.HERE / pulse_study.TASKS[task])
    params = {k: v for k, v in cfg["coding"].items() if k != "name"}
    full = encode_dataset(cfg["data"]["dataset"], cfg["coding"]["name"], None, split="train", **params)
    n = full.labels.shape[0]
    assert xv.shape[1] == round(0.25 * n) and xt.shape[1] + xv.shape[1] == n
    # train + validation are the training split's (coded sample, label) pairs, each once (a
    # multiset: some coded samples repeat); a test sample would show up as an extra pair
    from collections import Counter

    def pairs(x, y):
        return Counter((x[:, i].tobytes(), int(y[i])) for i in range(x.shape[1]))

    assert pairs(xt, yt) + pairs(xv, yv) == pairs(full.spikes, full.labels)


# ---------------------------------------------------------------------------- event codes
def _event_task(code: str, n: int, seed: int):
    """Two-class event-coded inputs for the first_of_two network (2 input channels):
    ``latency``: two values, the larger fires first (class 0 when it is channel 0);
    ``delta``: one series with a +1 (class 0) or -1 (class 1) step up and back, on/off events;
    ``sigma_delta``: the same series, the on (class 0) or off (class 1) channel fires during it."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    T = 20
    if code == "latency":
        hi = rng.uniform(0.55, 1.0, n)
        lo = hi - rng.uniform(0.15, 0.5, n)
        x = np.where(y[:, None] == 0, np.stack([hi, lo], 1), np.stack([lo, hi], 1))
        return latency(x, T), y
    t1 = rng.integers(1, 8, n)
    t2 = t1 + rng.integers(2, 8, n)
    t = np.arange(T)[None, :]
    x = ((t >= t1[:, None]) & (t < t2[:, None])) * np.where(y == 0, 1.0, -1.0)[:, None]
    return (delta(x, T, threshold=1.0) if code == "delta" else sigma_delta(x, T)), y


@pytest.mark.parametrize("code", ["latency", "delta", "sigma_delta"])
def test_pulse_only_network_learns_event_coded_inputs(code):
    """Event codes on the input (docs/pulse.md, options table): the pulse-only first_of_two
    network (R = 1 everywhere, own-output loop at delay 2) learns each event-coded two-class task
    to 100% on its validation part, on the reference engine too."""
    xt, yt = _event_task(code, 200, 0)
    xv, yv = _event_task(code, 60, 1)
    assert xt.shape == (20, 200, 2) and set(np.unique(xt)) == {0, 1}
    assert_learns_to_100(pulse_study.task_config("first_of_two", "r1_own2"), (xt, yt), (xv, yv))
