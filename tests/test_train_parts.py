"""Surrogates, losses, optimizers and the [train] config."""

import numpy as np
import pytest

from spikelut.errors import ConfigError
from spikelut.network import Readout
from spikelut.train.config import TrainConfig
from spikelut.train.losses import (cross_entropy, first_spike_times, get_loss, mse_rates,
                                   rate_regularizer, time_to_first_spike)
from spikelut.train.optim import SGD, Adam, clip_, lr_at
from spikelut.train.surrogates import get_surrogate, surrogate_names


@pytest.mark.parametrize("name", ["sigmoid", "fast_sigmoid", "arctan", "triangular", "rectangular"])
def test_surrogate_grad_is_the_derivative_of_fn_and_peaks_at_one(name):
    sg = get_surrogate(name)
    u = np.array([-0.9, -0.37, -0.1, 0.13, 0.41, 0.77])  # away from kinks
    eps = 1e-6
    num = (sg.fn(u + eps) - sg.fn(u - eps)) / (2 * eps)
    np.testing.assert_allclose(sg.grad(u), num, rtol=1e-5, atol=1e-8)
    assert sg.grad(np.array([0.0]))[0] == pytest.approx(1.0)
    assert sg.fn(np.array([-50.0]))[0] == pytest.approx(0.0, abs=0.02)
    assert sg.fn(np.array([50.0]))[0] == pytest.approx(1.0, abs=0.02)
    wide = get_surrogate(name, width=2 * sg.width)
    assert wide.grad(np.array([0.0]))[0] == pytest.approx(0.5)


def test_surrogate_registry_and_errors():
    assert surrogate_names() == ["arctan", "fast_sigmoid", "rectangular", "sigmoid", "triangular"]
    assert get_surrogate("boxcar").name == "rectangular"
    assert get_surrogate("fast-sigmoid").grad(np.array([0.5], np.float32)).dtype == np.float32
    with pytest.raises(ConfigError, match="unknown surrogate 'relu'; choose one of arctan, fast_sigmoid"):
        get_surrogate("relu")
    with pytest.raises(ConfigError, match="surrogate width must be a number > 0, got -1"):
        get_surrogate("sigmoid", width=-1)


RO = Readout(0, [0, 0, 1, 1, 2, -1], 3, start=1)


@pytest.mark.parametrize("fn", [cross_entropy, time_to_first_spike, mse_rates])
def test_loss_gradients_match_finite_differences(fn):
    rng = np.random.default_rng(0)
    s = rng.random((5, 4, 6))
    y = np.array([0, 2, 1, 1])
    loss, g = fn(s, y, RO)
    assert g.shape == s.shape and g.dtype == np.float64
    assert np.all(g[0] == 0) and np.all(g[:, :, 5] == 0)  # before start / uncounted node
    num = np.zeros_like(s)
    for idx in np.ndindex(s.shape):
        sp, sm = s.copy(), s.copy()
        sp[idx] += 1e-6
        sm[idx] -= 1e-6
        num[idx] = (fn(sp, y, RO)[0] - fn(sm, y, RO)[0]) / 2e-6
    np.testing.assert_allclose(g, num, atol=1e-8, rtol=1e-5)


def test_rate_regularizer_value_and_gradient():
    s = np.zeros((4, 2, 3), np.uint8)
    s[:, 0, 0] = 1                      # one node fires every cycle in sample 0
    loss, (g,) = rate_regularizer([s], weight=0.5, target=0.25)
    # rates - target: 0.75 once, -0.25 five times; 0.5 * (0.5625 + 5 * 0.0625) / 6
    assert loss == pytest.approx(0.5 * (0.5625 + 5 * 0.0625) / 6)
    assert g.dtype == np.float32
    assert g[0, 0, 0] == pytest.approx(2 * 0.5 * 0.75 / (2 * 3 * 4))


def test_first_spike_times_and_ttfs_prefers_the_earliest_correct_class():
    ro = Readout(0, [0, 1], 2)
    s = np.zeros((5, 2, 2), np.uint8)
    s[1, 0, 0] = 1
    s[3, 0, 1] = 1                      # sample 0: class 0 first (1), class 1 at 3
    s[4, 1, 1] = 1                      # sample 1: class 0 never (5), class 1 at 4
    assert first_spike_times(s, ro).tolist() == [[1.0, 3.0], [5.0, 4.0]]
    good, _ = time_to_first_spike(s, np.array([0, 1]), ro)
    bad, _ = time_to_first_spike(s, np.array([1, 0]), ro)
    assert good < bad


def test_cross_entropy_default_scale_and_uint8_input():
    ro = Readout(0, [0, 1], 2)
    s = np.zeros((4, 1, 2), np.uint8)
    s[:, 0, 0] = 1
    loss, g = cross_entropy(s, np.array([0]), ro)
    z = 4 * 4.0 / (1 * np.sqrt(4))      # counts * 4 / (P sqrt(T))
    assert loss == pytest.approx(np.log1p(np.exp(-z)))
    assert g.dtype == np.float32
    with pytest.raises(ConfigError, match="unknown loss 'hinge'; choose one of ce_count, ce_count_temporal, ce_temporal, mse_count"):
        get_loss("hinge")


def test_adam_and_sgd_steps_by_hand():
    p = [np.array([1.0, -2.0], np.float32)]
    opt = Adam(p)
    opt.step(p, [np.array([0.5, -4.0], np.float32)], lr=0.1)
    # first Adam step moves every entry by lr * sign(g) (bias-corrected m / sqrt(v) = g / |g|)
    np.testing.assert_allclose(p[0], [0.9, -1.9], rtol=1e-6)
    q = [np.array([1.0], np.float32)]
    sgd = SGD(q, momentum=0.5)
    sgd.step(q, [np.array([1.0], np.float32)], lr=0.1)
    sgd.step(q, [np.array([1.0], np.float32)], lr=0.1)
    np.testing.assert_allclose(q[0], [1.0 - 0.1 - 0.15], rtol=1e-6)
    arrays, scalars = sgd.state_arrays()
    assert scalars == {"step": 2} and arrays["buf"][0].tolist() == [1.5]
    clip_(q, 0.5)
    assert q[0].tolist() == [0.5]


def test_schedules():
    assert lr_at("constant", 0.1, 7, 10) == 0.1
    assert lr_at("cosine", 0.1, 0, 10) == pytest.approx(0.1)
    assert lr_at("cosine", 0.1, 5, 10) == pytest.approx(0.05)
    assert lr_at("cosine", 0.1, 10, 10, min_lr=0.01) == pytest.approx(0.01)
    assert lr_at("step", 0.1, 0, 10, epoch=25, step_size=10, gamma=0.5) == pytest.approx(0.025)


def test_train_config_defaults_and_round_trip():
    cfg = TrainConfig.from_dict({"surrogate": "fast-sigmoid", "loss": "cross_entropy"}, seed=9)
    assert (cfg.surrogate, cfg.loss, cfg.seed, cfg.lr, cfg.schedule) == ("fast_sigmoid", "ce_count", 9, 0.01, "cosine")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_dict({"seed": 3}, seed=9).seed == 3


@pytest.mark.parametrize("table,message", [
    ({"lr": -0.1}, r"\[train\]: lr must be > 0, got -0.1"),
    ({"lr": "fast"}, r"\[train\]: lr must be a number, got 'fast'"),
    ({"loss": "hinge"}, r"\[train\]: unknown loss 'hinge'; choose one of ce_count, ce_count_temporal, ce_temporal, mse_count"),
    ({"surrogate": "relu"}, r"\[train\]: unknown surrogate 'relu'; choose one of arctan"),
    ({"optimizer": "lbfgs"}, r"\[train\]: unknown optimizer 'lbfgs'; choose one of adam, lion, sgd"),
    ({"epochs": 0}, r"\[train\]: epochs must be an integer >= 1, got 0"),
    ({"batch_size": 2.5}, r"\[train\]: batch_size must be an integer >= 1, got 2.5"),
    ({"width": 0}, r"\[train\]: width must be > 0, got 0"),
    ({"refractory_grad": "soft"}, r"\[train\]: unknown refractory_grad 'soft'; choose one of block"),
    ({"betas": [0.9]}, r"\[train\]: betas must be a list of two numbers"),
    ({"learning_rate": 0.1}, r"^\[train\]: unknown key\(s\) \['learning_rate'\]; the \d+ allowed "
                             r"keys are listed in docs/guide/training.md$"),
    ({"epoch": 3}, r"^\[train\]: unknown key\(s\) \['epoch'\]; did you mean 'epochs'\?$"),
    ({"lr": 0.01, "min_lr": 0.1}, r"\[train\]: min_lr \(0.1\) must not exceed lr \(0.01\)"),
])
def test_train_config_errors(table, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(table)
