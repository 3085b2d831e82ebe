"""Analog tables ([train] analog_bits): values, the 1-bit identity with the circuit, the exact
gradient, training, the model file, and the one-line refusals of the binary-circuit commands."""

import json

import numpy as np
import pytest

from spikelut import api
from spikelut.analog import (AnalogPasses, AnalogSpec, require_binary, simulate, spec_of,
                             table_values)
from spikelut.cli import main
from spikelut.config import build_network, load_config
from spikelut.datasets import load_dataset
from spikelut.engine.reference import simulate as binary_simulate
from spikelut.errors import ConfigError
from spikelut.io import load_model, save_model, save_spikes
from spikelut.train import Trainer, TrainConfig
from spikelut.train.bptt import compile_plan
from spikelut.wiring import random_network

from helpers import numeric_grad


def _net(seed=0):
    net = random_network(seed, n_in=3, sizes=[6, 4, 2], k=[3, 2, 3], max_delay=2,
                         refractory=[0, 1, 2], classes=2)
    rng = np.random.default_rng(seed)
    layers = []
    for layer in net.layers:
        logits = rng.uniform(-1, 1, layer.table.shape).astype(np.float32)
        layers.append(layer.replace(logits=logits, table=(logits > 0).astype(np.uint8)))
    return net.replace(layers=layers)


def test_table_values_are_b_bit_levels_of_the_clipped_logit():
    v = table_values(np.array([-3.0, -1.0, -0.5, 0.0, 0.26, 1.0, 7.0]), bits=2)
    np.testing.assert_allclose(v, [0, 0, 1 / 3, 2 / 3, 2 / 3, 1, 1])  # 1.5 rounds half to even
    assert sorted(set(table_values(np.linspace(-1, 1, 101), 3).round(6))) == \
        [round(i / 7, 6) for i in range(8)]


def test_one_bit_noiseless_tables_are_exactly_the_binary_circuit():
    net = _net(1)
    x = (np.random.default_rng(2).random((9, 5, 3)) < 0.5).astype(np.uint8)
    r = simulate(net, x, spec=AnalogSpec(1))
    ref = binary_simulate(net, x)
    for i in range(3):
        np.testing.assert_array_equal(r.layer_values[i], ref.layer_spikes[i])
    np.testing.assert_array_equal(r.pred, ref.pred)


def test_noise_is_seeded_and_clipped():
    net = _net(0)
    x = (np.random.default_rng(0).random((6, 4, 3)) < 0.5).astype(np.uint8)
    a = simulate(net, x, seed=1, spec=AnalogSpec(4, 0.3))
    b = simulate(net, x, seed=1, spec=AnalogSpec(4, 0.3))
    c = simulate(net, x, seed=2, spec=AnalogSpec(4, 0.3))
    np.testing.assert_array_equal(a.layer_values[2], b.layer_values[2])
    assert not np.array_equal(a.layer_values[2], c.layer_values[2])
    assert all(v.min() >= 0 and v.max() <= 1 for v in a.layer_values)


def test_gradient_matches_finite_differences_of_the_analog_model():
    # between quantisation steps (many bits) and without noise the model is smooth in the values:
    # the passes' gradient w.r.t. v, times dv/dtheta = 1/2, is checked against the model in v
    net = _net(3)
    plan = compile_plan(net)
    spec = AnalogSpec(16)
    rng = np.random.default_rng(4)
    thetas = [np.asarray(layer.logits, np.float64) * 0.9 for layer in net.layers]
    x = (rng.random((5, 2, 3)) < 0.5).astype(np.uint8)
    weights = [rng.normal(size=(5, 2, layer.n)) for layer in net.layers]
    passes = AnalogPasses(spec, seed=0)
    fwd = passes.forward(plan, thetas, x)
    grads, _ = passes.backward(plan, thetas, fwd, weights, None, refractory_grad="full")
    from spikelut.train.bptt import relaxed_forward
    from spikelut.analog import _reader

    def loss(values):
        f = relaxed_forward(plan, values, x.astype(np.float64), _reader(0.0, None))
        return sum(float((f.spikes(i) * w).sum()) for i, w in enumerate(weights))

    values = [table_values(th, 16) for th in thetas]
    for i in range(len(values)):
        np.testing.assert_allclose(grads[i], 0.5 * numeric_grad(loss, values, i), atol=1e-5, rtol=1e-4)
    assert np.abs(grads[0]).max() > 1e-3


def _first_of_two(n=600):
    cfg = load_config("demos/train_first_of_two.toml")
    tr = load_dataset("first_of_two", "train", seed=0)
    te = load_dataset("first_of_two", "test", seed=0)
    return build_network(cfg), (tr.x[:, :n], tr.y[:n]), (te.x[:, :200], te.y[:200])


def test_analog_tables_learn_first_of_two_and_the_model_file_records_them(tmp_path):
    net, train, val = _first_of_two(1000)
    cfg = TrainConfig.from_dict({"epochs": 4, "batch_size": 25, "lr": 0.03, "seed": 0,
                                 "analog_bits": 4, "analog_noise": 0.05})
    tr = Trainer(net, cfg, progress=False)
    res = tr.fit(train, val)
    assert max(r["val_acc"] for r in res.history) >= 0.8, [r["val_acc"] for r in res.history]
    save_model(res.net, tmp_path / "m.h5")
    m = load_model(tmp_path / "m.h5")
    assert spec_of(m) == AnalogSpec(4, 0.05)
    # the kept model evaluates the same through the API as in training (noise seeded alike)
    ev = api.evaluate(m, val[0], val[1])
    assert ev.backend == "analog"
    kept = next(r for r in res.history if r["epoch"] == res.kept_epoch)
    assert ev.accuracy == pytest.approx(kept["val_acc"])


def test_one_bit_training_saves_a_plain_binary_model():
    net, train, val = _first_of_two(200)
    cfg = TrainConfig.from_dict({"epochs": 1, "seed": 0, "analog_bits": 1})
    res = Trainer(net, cfg, progress=False).fit(train, val)
    assert spec_of(res.net) is None
    require_binary(res.net, "rtl")  # passes: it is the circuit


@pytest.mark.parametrize("d,msg", [
    ({"analog_bits": 17}, r"^\[train\]: analog_bits must be an integer in 0 \.\. 16, got 17$"),
    ({"analog_noise": 0.1}, r"^\[train\]: analog_noise = 0.1 needs analog_bits >= 1$"),
    ({"analog_bits": 4, "relaxation": "walsh"},
     r"^\[train\]: analog_bits = 4 \(analog tables\) works with relaxation = 'multilinear' only, "
     r"got 'walsh'$"),
    ({"analog_bits": 4, "backend": "numba"},
     r'^\[train\]: analog_bits = 4 \(analog tables\) runs on the numpy reference only; use '
     r'backend = "numpy" or "auto"$'),
])
def test_config_errors(d, msg):
    with pytest.raises(ConfigError, match=msg):
        TrainConfig.from_dict(d)


@pytest.fixture
def analog_model(tmp_path):
    net = _net(0).replace(meta={"analog": {"bits": 4, "noise": 0.0}})
    path = tmp_path / "analog.h5"
    save_model(net, path)
    x = (np.random.default_rng(0).random((6, 8, 3)) < 0.5).astype(np.uint8)
    save_spikes(tmp_path / "x.h5", x, labels=np.arange(8) % 2)
    return path, tmp_path / "x.h5", net, x


@pytest.mark.parametrize("cmd", ["simulate", "rtl", "export"])
def test_binary_circuit_commands_refuse_an_analog_model_in_one_line(cmd, analog_model, capsys, tmp_path):
    path, spikes, _, _ = analog_model
    argv = {"simulate": ["simulate", str(path), str(spikes), "-o", str(tmp_path / "o.h5")],
            "rtl": ["rtl", str(path), "-o", str(tmp_path / "rtl")],
            "export": ["export", str(path), "-o", str(tmp_path / "m.onnx")]}[cmd]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err == (f"spikelut {cmd}: error: {path}: {cmd} needs a binary circuit, but this is an analog model "
                        f"(4-bit tables, docs/relaxations.md); evaluate it with spikelut eval, or "
                        f"retrain with [train] analog_bits = 0")


def test_api_refuses_and_eval_runs_the_analog_model(analog_model, capsys):
    path, spikes, net, x = analog_model
    with pytest.raises(ConfigError, match=r"^simulate needs a binary circuit"):
        api.simulate(net, x, backend="numpy")
    with pytest.raises(ConfigError, match=r"^rtl needs a binary circuit"):
        api.compile_rtl(net, "unused_dir")
    assert main(["eval", str(path), str(spikes), "--json"]) in (0, None)
    out = json.loads(capsys.readouterr().out)
    want = simulate(net, x).pred
    assert out["backend"] == "analog"
    assert out["correct"] == int((want == np.arange(8) % 2).sum())
