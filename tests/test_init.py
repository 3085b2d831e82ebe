"""Structured initialisations (docs/epochs.md, "Initialisation"): ``[train] init = "residual"``
(every table a pass-through of one tap) and ``init = "data"`` (tables from the address statistics
of the training data), their config keys, the trainer, resume, backends, the CLI flag and errors."""

import numpy as np
import pytest

from spikelut.cli import main
from spikelut.errors import ConfigError
from spikelut.io import load_model, save_spikes
from spikelut.train import Trainer, TrainConfig
from spikelut.train.bptt import compile_plan, forward, tables_of
from spikelut.train.init import (HIDDEN_RATE, data_init_trainer, data_values, initial_values,
                                 pass_through_taps, residual_values)
from spikelut.wiring import random_network

from helpers import assert_same_training, chain, layer
from test_train import Interrupt, _setup, first_of_two


# ---------------------------------------------------------------------------- residual
def test_pass_through_tap_rule_latest_feed_forward_source_then_shortest_delay_then_lowest_tap():
    # layer 0 reads the input and itself; layer 1 reads the input, layer 0 and itself
    l0 = layer([[(-1, 0, 2), (0, 1, 1), (-1, 1, 1), (-1, 0, 1)],   # input taps 2, 3 at delay 1
                [(0, 0, 1), (0, 1, 2), (0, 0, 3), (0, 1, 1)]],      # recurrent only: shortest
               [0] * 16)                                            # delay 1, lowest tap (0)
    l1 = layer([[(-1, 0, 0), (0, 1, 3), (0, 0, 2), (1, 0, 1)],     # layer 0 (latest): tap 2
                [(1, 1, 1), (1, 0, 1), (-1, 1, 4), (-1, 0, 4)]],    # input only: d 4, tap 2
               [0] * 16)
    net = chain(2, [l0, l1], classes=2)
    assert [t.tolist() for t in pass_through_taps(net)] == [[2, 0], [2, 2]]


def test_residual_without_noise_is_the_pass_through_on_every_address():
    net = random_network(3, n_in=3, sizes=[6, 5, 4], k=3, refractory=[0, 1, 0], classes=2)
    tr = Trainer(net, TrainConfig.from_dict({"init": "residual", "init_std": 0.25}), progress=False)
    taps = pass_through_taps(net)
    for p, lay, t in zip(tr.params, net.layers, taps):
        a = np.arange(8)[None, :]
        bit = (a >> t[:, None]) & 1
        np.testing.assert_array_equal(p, np.where(bit == 1, 0.25, -0.25).astype(np.float32))
    # the circuit copies: before its refractory gate, each node's table output is its tap's value
    x = np.random.default_rng(0).integers(0, 2, (9, 5, 3)).astype(np.uint8)
    tables = tables_of(tr.tables())
    fwd = forward(compile_plan(net), tables, x)
    for i, (lay, t) in enumerate(zip(net.layers, taps)):
        tap_bits = (fwd.addr[i] >> t[None, :, None]) & 1                  # [T, n, B]
        out = np.take_along_axis(tables[i][None], fwd.addr[i].astype(np.int64), axis=2)
        np.testing.assert_array_equal(out, tap_bits)


def test_residual_noise_is_drawn_from_the_trainer_seed():
    net = random_network(1, n_in=2, sizes=[4, 3], k=2, classes=3)
    cfg = TrainConfig.from_dict({"init": "residual", "init_std": 0.5, "init_noise": 0.1, "seed": 7})
    tr = Trainer(net, cfg, progress=False)
    rng = np.random.default_rng(7)
    for p, lay, t in zip(tr.params, net.layers, pass_through_taps(net)):
        want = rng.normal(0.0, 0.1, lay.table.shape).astype(np.float32) + residual_values(2, t, 0.5)
        np.testing.assert_array_equal(p, want)
    assert residual_values(2, np.array([1]), 0.5).tolist() == [[-0.5, -0.5, 0.5, 0.5]]


# ---------------------------------------------------------------------------- data
def _two_class_net():
    """Input 0 fires in class-0 samples, input 1 in class-1 samples, every cycle. Hidden node h
    (refractory 1) reads inputs 0 and 1; output nodes (classes 0, 1) read h and input 0."""
    h = layer([[(-1, 0, 0), (-1, 1, 0)]], [0, 0, 0, 0], refractory=1, name="h")
    out = layer([[(0, 0, 0), (-1, 0, 0)], [(0, 0, 0), (-1, 0, 0)]], [0, 0, 0, 0], name="out")
    net = chain(2, [h, out], classes=2, class_of=[0, 1])
    x = np.zeros((4, 4, 2), np.uint8)
    x[:, :2, 0] = 1
    x[:, 2:, 1] = 1
    return net, x, np.array([0, 0, 1, 1])


def test_data_init_exact_tables_on_a_tiny_network_with_a_refractory_layer():
    net, x, y = _two_class_net()
    s = 0.25
    # h: address 1 (class 0) and 2 (class 1), each half the cycles; its random class half is
    # {0} or {1}: the address of that class is turned on (0.5 / 2 < HIDDEN_RATE), the other not
    # (0.5 + 0.5 / 2 >= HIDDEN_RATE); addresses 0 and 3 never occur and stay 0. With h = class 0,
    # h fires 1, 0, 1, 0 (refractory 1) in class-0 samples: the outputs see 3, 2, 3, 2 there and
    # 0 in class-1 samples; with h = class 1 they see 1, 0, 1, 0 in class 1 and 2 in class 0
    options = {
        0: [[[0, s, -s, 0]], [[-s, 0, s, s], [s, 0, -s, -s]]],
        1: [[[0, -s, s, 0]], [[-s, -s, s, 0], [s, s, -s, 0]]],
    }
    seen = set()
    for seed in range(8):
        zero = [np.zeros((1, 4), np.float32), np.zeros((2, 4), np.float32)]
        got = [t.tolist() for t in data_values(net, zero, x, y, s, 256, seed)]
        which = [c for c, want in options.items() if got == want]
        assert len(which) == 1, got
        seen.add(which[0])
    assert seen == {0, 1}  # the seed draws the hidden node's class half
    assert HIDDEN_RATE == 0.5


def test_data_init_adds_to_the_noise_and_leaves_unseen_addresses_to_it():
    net, x, y = _two_class_net()
    noise = [np.full((1, 4), 0.01, np.float32), np.full((2, 4), -0.02, np.float32)]
    got = data_values(net, noise, x, y, 0.25, 256, 0)
    assert got[0][0, 0] == np.float32(0.01) and got[0][0, 3] == np.float32(0.01)
    n, s = np.float32(0.01), np.float32(0.25)
    assert (got[0][0, 1], got[0][0, 2]) in ((n + s, n - s), (n - s, n + s))
    assert (noise[0] == n).all()  # not changed in place


def _random_case(seed=0):
    net = random_network(seed, n_in=4, sizes=[10, 8, 6], k=3, refractory=[1, 0, 0], classes=3)
    rng = np.random.default_rng(seed + 100)
    x = rng.integers(0, 2, (7, 40, 4)).astype(np.uint8)
    y = rng.integers(0, 3, 40)
    return net, x, y


def _after_data_init(net, x, y, **kw):
    tr = Trainer(net, TrainConfig.from_dict({"init": "data", "backend": "numba", **kw}),
                 progress=False)
    data_init_trainer(tr, x, y)
    return tr


def test_data_init_is_reproducible_and_changes_with_the_seed_and_the_samples():
    net, x, y = _random_case()
    a = _after_data_init(net, x, y, init_std=0.1, init_samples=30, seed=3)
    b = _after_data_init(net, x, y, init_std=0.1, init_samples=30, seed=3)
    c = _after_data_init(net, x, y, init_std=0.1, init_samples=30, seed=4)
    d = _after_data_init(net, x, y, init_std=0.1, init_samples=5, seed=3)
    for pa, pb in zip(a.params, b.params):
        np.testing.assert_array_equal(pa, pb)
    assert any(not np.array_equal(pa, pc) for pa, pc in zip(a.params, c.params))
    assert any(not np.array_equal(pa, pd) for pa, pd in zip(a.params, d.params))
    for pa, ba in zip(a.params, a.best_params):  # the kept copy starts from it
        np.testing.assert_array_equal(pa, ba)
    # every entry is +-init_std on an address the data reached, else 0 (no noise by default)
    assert all(np.isin(p, np.float32([-0.1, 0.0, 0.1])).all() for p in a.params)
    assert all((p != 0).any() for p in a.params)
    # the same tables as the reference computes outside the trainer, on every backend
    ref = data_values(net, initial_values(net, "data", 0.1, 0.0, np.random.default_rng(3)),
                      x, y, 0.1, 30, 3)
    cpu = _after_data_init(net, x, y, init_std=0.1, init_samples=30, seed=3)
    cpu_np = Trainer(net, TrainConfig.from_dict({"init": "data", "backend": "numpy",
                                                 "init_std": 0.1, "init_samples": 30, "seed": 3}),
                     progress=False)
    data_init_trainer(cpu_np, x, y)
    for r, p, q in zip(ref, cpu.params, cpu_np.params):
        np.testing.assert_array_equal(r, p)
        np.testing.assert_array_equal(r, q)


def test_data_init_balances_hidden_nodes_and_correlates_outputs_with_their_class():
    net, x, y = _random_case(1)
    tr = _after_data_init(net, x, y, init_std=0.1, init_samples=40)
    fwd = forward(compile_plan(net), tables_of(tr.tables()), x)
    for i in range(2):  # hidden layers: no node silent or always on under the data
        rate = fwd.spikes(i).mean(axis=(0, 1))
        assert rate.min() > 0 and rate.max() < 1, (i, rate)
    ro = net.readout
    out = fwd.spikes(ro.layer).sum(axis=0)  # [B, n]
    mine = np.array([out[y == ro.class_of[j], j].mean() - out[y != ro.class_of[j], j].mean()
                     for j in range(out.shape[1])])
    assert (mine > 0).mean() >= 0.5, mine  # output nodes fire more in their own class


def test_fit_runs_the_data_init_and_resume_equals_an_uninterrupted_run(tmp_path):
    x, y = first_of_two()
    net, tc = _setup(epochs=3, init="data", init_std=0.05, init_samples=20, optimizer="sgd",
                     lr=1e-9)
    tr = Trainer(net, tc, progress=False)
    tr.fit((x, y))
    ref = data_values(net, initial_values(net, "data", 0.05, 0.0, np.random.default_rng(0)),
                      x, y, 0.05, 20, 0)
    for r, p in zip(ref, tr.params):  # sgd at lr 1e-9 leaves the initial tables in place
        np.testing.assert_allclose(p, r, atol=1e-6)
        seen = r != 0  # entries never reached start at 0: any step sets their sign
        np.testing.assert_array_equal((p > 0)[seen], (r > 0)[seen])
    net, tc = _setup(epochs=3, init="data", init_std=0.05, init_samples=20, lr=0.05, keep="best")
    full = Trainer(net, tc, progress=False)
    res_full = full.fit((x, y), (x, y))

    def stop_after_1(trainer, record):
        if record["epoch"] == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        Trainer(net, tc, progress=False).fit((x, y), (x, y), checkpoint=tmp_path / "c.h5",
                                             callback=stop_after_1)
    resumed = Trainer(net, tc, progress=False)
    res = resumed.fit((x, y), (x, y), checkpoint=tmp_path / "c.h5", resume=True)
    assert_same_training(full, res_full, resumed, res)


def test_data_init_through_the_bipolar_relaxation():
    net, x, y = _random_case(2)
    tr = _after_data_init(net, x, y, init_std=0.1, relaxation="bipolar")
    ref = data_values(net, [np.tanh(np.arctanh(t)) for t in
                            initial_values(net, "data", 0.1, 0.0, np.random.default_rng(0))],
                      x, y, 0.1, 256, 0)
    for r, u in zip(ref, tr.tables()):
        np.testing.assert_allclose(u, r, atol=1e-6)


# ---------------------------------------------------------------------------- errors, CLI
@pytest.mark.parametrize("train,msg", [
    ({"init": "zeros"}, "[train]: unknown init 'zeros'; choose one of data, logits, normal, "
                        "residual, table"),
    ({"init": "residual", "init_noise": -1}, "[train]: init_noise must be >= 0, got -1"),
    ({"init": "data", "init_samples": 0}, "[train]: init_samples must be an integer >= 1, got 0"),
    ({"init": "data", "init_samples": 2.5}, "[train]: init_samples must be an integer >= 1, got 2.5"),
    ({"init_noise": 0.1}, '[train]: init_noise = 0.1 applies to init = "residual" or "data" only, '
                          'got init = \'normal\'; for init = "normal" the spread is init_std '
                          '(set init_noise = 0, or --init-noise 0 on the command line)'),
    ({"init": "data", "analog_bits": 4}, '[train]: init = "data" counts the binary addresses of '
                                         'the initial network; analog_bits = 4 (analog tables) '
                                         'has none: use another init'),
])
def test_bad_init_settings_are_one_line_config_errors(train, msg):
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict(train)
    assert str(e.value) == msg


@pytest.mark.parametrize("relaxation,msg", [
    ("dlut", "relaxation = \"dlut\" starts from BinaryBrain's N(0.5, 0.01) tables; use init = "
             "\"normal\" (init = \"data\" sets multilinear logits"),
    ("mlp", "relaxation = \"mlp\" draws its own He-initialised weights; use init = \"normal\" "
            "(init = \"residual\" sets multilinear logits)"),
])
def test_relaxations_with_their_own_tables_refuse_the_structured_inits(relaxation, msg):
    net, _, _ = _random_case()
    init = "data" if relaxation == "dlut" else "residual"
    with pytest.raises(ConfigError) as e:
        Trainer(net, TrainConfig.from_dict({"init": init, "relaxation": relaxation}), progress=False)
    assert msg in str(e.value) and "\n" not in str(e.value)


CONFIG = """
seed = 0
inputs = 2
[[layers]]
name = "h"
nodes = 6
k = 2
taps = [{from = "input", count = 2}]
[[layers]]
name = "out"
nodes = 4
k = 2
taps = [{from = "h", count = 2}]
[readout]
classes = 2
[train]
epochs = 1
batch_size = 10
optimizer = "sgd"
lr = 1e-9
"""


def test_cli_init_flag(tmp_path, capsys):
    (tmp_path / "c.toml").write_text(CONFIG)
    x, y = first_of_two()
    save_spikes(tmp_path / "d.h5", x, y)
    args = ["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"), "--no-progress",
            "--backend", "numba"]
    assert main([*args, "-o", str(tmp_path / "m.h5"), "--init", "residual"]) == 0
    net = load_model(tmp_path / "m.h5")
    for lay, t in zip(net.layers, pass_through_taps(net)):
        bit = (np.arange(4)[None, :] >> t[:, None]) & 1
        np.testing.assert_array_equal(lay.table, bit)  # init_std 0.1 outlives a 1e-9 step
    assert main([*args, "-o", str(tmp_path / "m2.h5"), "--init", "data", "--init-std", "0.5"]) == 0
    logits = np.concatenate([lay.logits.ravel() for lay in load_model(tmp_path / "m2.h5").layers])
    assert np.abs(np.abs(logits[logits != 0]) - 0.5).max() < 1e-6
    capsys.readouterr()
    assert main([*args, "-o", str(tmp_path / "m3.h5"), "--init", "bogus"]) == 1
    assert capsys.readouterr().err == (
        "spikelut train: error: --init: unknown init 'bogus'; choose one of data, logits, normal, "
        "residual, table\n")
    # a config with init_noise: --init normal alone is refused, with --init-noise 0 it trains
    (tmp_path / "n.toml").write_text(CONFIG.replace("[train]", '[train]\ninit = "residual"\ninit_noise = 0.03'))
    nargs = [*args[:1], str(tmp_path / "n.toml"), *args[2:]]
    assert main([*nargs, "-o", str(tmp_path / "m4.h5"), "--init", "normal"]) == 1
    assert capsys.readouterr().err.endswith(
        'init_noise = 0.03 applies to init = "residual" or "data" only, got init = \'normal\'; for '
        'init = "normal" the spread is init_std (set init_noise = 0, or --init-noise 0 on the '
        'command line)\n')
    assert main([*nargs, "-o", str(tmp_path / "m4.h5"), "--init", "normal", "--init-noise", "0"]) == 0

