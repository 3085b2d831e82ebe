"""Label smoothing of the cross-entropy losses (``[train] label_smoothing``, docs/epochs.md):
the loss and gradient against PyTorch's ``cross_entropy(label_smoothing=...)`` and against finite
differences, the plain loss unchanged at 0, every cross-entropy loss taking it, the config's
checks, and the trainer and CLI flag using it."""

import numpy as np
import pytest

from spikelut.cli import main
from spikelut.config import build_network, load_config
from spikelut.errors import ConfigError
from spikelut.io import load_model, save_spikes
from spikelut.network import Readout
from spikelut.train import Trainer, TrainConfig, losses

from test_init import CONFIG
from test_train import first_of_two


def _logits(B=7, C=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 3, (B, C)), rng.integers(0, C, B)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5, 0.9])
def test_softmax_ce_equals_pytorch_cross_entropy_with_label_smoothing(eps):
    torch = pytest.importorskip("torch")
    z, y = _logits()
    loss, g = losses._softmax_ce(z.copy(), y, eps)
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(zt, torch.tensor(y), label_smoothing=eps)
    ref.backward()
    assert loss == pytest.approx(float(ref.detach()), rel=1e-12)
    np.testing.assert_allclose(g, zt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_smoothed_gradient_matches_finite_differences():
    z, y = _logits(B=3, C=4, seed=1)
    _, g = losses._softmax_ce(z.copy(), y, 0.2)
    h = 1e-6
    num = np.zeros_like(z)
    for idx in np.ndindex(*z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        num[idx] = (losses._softmax_ce(zp, y, 0.2)[0] - losses._softmax_ce(zm, y, 0.2)[0]) / (2 * h)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-9)


def test_zero_smoothing_is_the_plain_cross_entropy_bit_for_bit():
    z, y = _logits()
    zs = z - z.max(axis=1, keepdims=True)
    e = np.exp(zs)
    plain = np.mean(np.log(e.sum(axis=1)) - zs[np.arange(len(y)), y])
    g = e / e.sum(axis=1, keepdims=True)
    g[np.arange(len(y)), y] -= 1.0
    loss, grad = losses._softmax_ce(z.copy(), y)
    assert loss == plain
    assert (grad == g / len(y)).all()


def _spikes(T=6, B=5, n=6, seed=2):
    rng = np.random.default_rng(seed)
    return (rng.random((T, B, n)) < 0.4).astype(np.uint8), rng.integers(0, 3, B)


RO = Readout(layer=0, class_of=[0, 0, 1, 1, 2, 2], classes=3)


def test_count_loss_smooths_the_targets_of_its_class_counts():
    s, y = _spikes()
    counts = s.sum(axis=0) @ np.kron(np.eye(3), np.ones((2, 1)))  # [B, 3]
    loss, g = losses.cross_entropy(s, y, RO, logit_scale=0.5, label_smoothing=0.3)
    ref, gz = losses._softmax_ce(counts * 0.5, y, 0.3)
    assert loss == pytest.approx(ref, rel=1e-12)
    # every counted cycle of a class-c node gets dL/dcount[c] = 0.5 * dL/dz[c]
    np.testing.assert_allclose(g[2, :, 4], (0.5 * gz[:, 2]).astype(np.float32))
    # (1 - eps) * the plain loss + eps * the loss against uniform targets
    z = counts * 0.5
    lse = np.log(np.exp(z).sum(axis=1))
    plain = losses.cross_entropy(s, y, RO, logit_scale=0.5)[0]
    assert loss == pytest.approx(0.7 * plain + 0.3 * np.mean(lse - z.mean(axis=1)), rel=1e-12)


def test_every_cross_entropy_loss_takes_the_smoothing():
    s, y = _spikes()
    a, ga = losses.cross_entropy(s, y, RO, 1.0, label_smoothing=0.2)
    b, gb = losses.time_to_first_spike(s, y, RO, label_smoothing=0.2)
    c, gc = losses.count_and_first_spike(s, y, RO, 1.0, label_smoothing=0.2)
    assert c == pytest.approx(a + b, rel=1e-12)
    np.testing.assert_array_equal(gc, ga + gb)
    assert b != losses.time_to_first_spike(s, y, RO)[0]


@pytest.mark.parametrize("value, loss, msg", [
    (1.0, "ce", "[train]: label_smoothing must be in [0, 1): at 1 the target no longer names "
                "the class, got 1.0"),
    (-0.1, "ce", "[train]: label_smoothing must be >= 0, got -0.1"),
    ("0.1", "ce", "[train]: label_smoothing must be a number, got '0.1'"),
    (0.1, "mse", '[train]: label_smoothing = 0.1 applies to the cross-entropy losses (ce_count, '
                 'ce_temporal, ce_count_temporal), not to loss = "mse_count" (its targets are '
                 'target_rates)'),
])
def test_config_refuses_bad_smoothing(value, loss, msg):
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict({"label_smoothing": value, "loss": loss})
    assert str(e.value) == msg


def _train(tmp_path, smoothing):
    (tmp_path / "c.toml").write_text(CONFIG.replace("lr = 1e-9", "lr = 0.05"))
    net = build_network(load_config(tmp_path / "c.toml"))
    x, y = first_of_two()
    cfg = TrainConfig.from_dict({**load_config(tmp_path / "c.toml")["train"], "backend": "numba",
                                 "label_smoothing": smoothing}, seed=0)
    return Trainer(net, cfg, progress=False).fit((x, y)).net, (x, y)


def test_trainer_and_cli_flag_train_with_the_smoothing(tmp_path):
    plain, (x, y) = _train(tmp_path, 0.0)
    smooth, _ = _train(tmp_path, 0.4)
    # the same seed and batches: only the loss differs, so the logits do
    assert any(not np.array_equal(a.logits, b.logits) for a, b in zip(plain.layers, smooth.layers))
    save_spikes(tmp_path / "d.h5", x, y)
    args = ["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"), "--no-progress",
            "--backend", "numba"]
    assert main([*args, "-o", str(tmp_path / "m.h5"), "--label-smoothing", "0.4"]) == 0
    cli = load_model(tmp_path / "m.h5")
    for a, b in zip(cli.layers, smooth.layers):
        np.testing.assert_array_equal(a.logits, b.logits)


def test_cli_refuses_a_bad_smoothing_in_one_line(tmp_path, capsys):
    (tmp_path / "c.toml").write_text(CONFIG)
    x, y = first_of_two()
    save_spikes(tmp_path / "d.h5", x, y)
    assert main(["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"),
                 "--no-progress", "-o", str(tmp_path / "m.h5"), "--label-smoothing", "1.5"]) == 1
    assert capsys.readouterr().err == ("spikelut train: error: --label-smoothing must be in "
                                       "[0, 1): at 1 the target no longer names the class, got 1.5\n")


def test_cli_names_the_flag_and_the_file_when_they_clash(tmp_path, capsys):
    (tmp_path / "c.toml").write_text(CONFIG.replace("[train]", '[train]\nloss = "mse"'))
    x, y = first_of_two()
    save_spikes(tmp_path / "d.h5", x, y)
    assert main(["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"),
                 "--no-progress", "-o", str(tmp_path / "m.h5"), "--label-smoothing", "0.1"]) == 1
    assert capsys.readouterr().err == (
        f"spikelut train: error: {tmp_path / 'c.toml'}: [train] with --label-smoothing: "
        f"label_smoothing = 0.1 applies to the cross-entropy losses (ce_count, ce_temporal, "
        f"ce_count_temporal), not to loss = \"mse_count\" (its targets are target_rates)\n")

