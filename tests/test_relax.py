"""Relaxations ([train] relaxation): gradients against finite differences of each one's own relaxed
model, the default is bit-identical to the plain multilinear loop, each option learns a small task,
checkpoints and model files; snnTorch loss names; the Lion optimizer."""

import json

import h5py
import numpy as np
import pytest

from spikelut.config import build_network, load_config
from spikelut.datasets import load_dataset
from spikelut.errors import ConfigError
from spikelut.io import load_model
from spikelut.train import Trainer, TrainConfig
from spikelut.train.bptt import backward, compile_plan, forward, relaxed_forward, tables_of
from spikelut.train.losses import LOSSES, cross_entropy, get_loss
from spikelut.train.optim import Adam, Lion, clip_, lr_at, make_optimizer
from spikelut.train.relax import (address_histograms, get_relaxation,
                                  relaxation_names)
from spikelut.train.surrogates import get_surrogate
from spikelut.wiring import random_network

from helpers import load_demo, numeric_grad

NAMES = ["multilinear", "bipolar", "walsh", "dlut", "dlut_fixed", "mlp"]


def test_registry_names_and_aliases():
    assert relaxation_names() == sorted(NAMES)
    assert get_relaxation("differentiable_lut").name == "dlut"
    assert get_relaxation("micro_mlp").name == "mlp"
    with pytest.raises(ConfigError, match=r"^unknown relaxation 'gates'; choose one of bipolar, dlut, "
                                          r"dlut_fixed, mlp, multilinear, walsh$"):
        get_relaxation("gates")
    with pytest.raises(ConfigError, match=r"^\[train\]: unknown relaxation 'gates'; choose one of"):
        TrainConfig.from_dict({"relaxation": "gates"})
    assert TrainConfig.from_dict({"relaxation": "stochastic_lut"}).relaxation == "dlut"


def _params(name, net, rng):
    """Random parameters of ``name`` for every layer, float64, away from the variance floor."""
    r = get_relaxation(name)
    out = []
    for layer in net.layers:
        A = 1 << layer.k
        theta = rng.uniform(-1, 1, layer.table.shape).astype(np.float32)
        p = r.init(theta, None, "normal", rng).astype(np.float64)
        if name.startswith("dlut"):
            p[:, :A] = rng.uniform(0, 1, (layer.n, A))
            p[:, A:A + 2] = rng.uniform(0.2, 1.0, (layer.n, 2))
        if name in ("dlut", "dlut_fixed", "mlp"):  # a non-uniform running histogram
            h = rng.uniform(0.1, 1.0, (layer.n, A))
            p[:, -A:] = h / h.sum(axis=1, keepdims=True)
        out.append(p)
    return r, out


def _learned_columns(name, k):
    """Columns the optimizer moves (the running histogram, and dlut_fixed's γ, β, are not)."""
    r = get_relaxation(name)
    A = 1 << k
    cols = np.ones(r.width(k), bool)
    if name in ("dlut", "dlut_fixed", "mlp"):
        cols[-A:] = False
    if name == "dlut_fixed":
        cols[A:A + 2] = False
    return cols


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("ks", [[3, 2], [1, 7]])
def test_gradient_matches_finite_differences_of_the_relaxations_own_relaxed_model(name, ks):
    # recurrence, self taps, delays and refractory periods on a tiny network; k = 1 and 7 too
    sizes = [4, 3] if ks == [3, 2] else [3, 2]
    net = random_network(3, n_in=3, sizes=sizes, k=ks, max_delay=2, refractory=[1, 2], classes=2)
    plan = compile_plan(net)
    rng = np.random.default_rng(11)
    relax, params = _params(name, net, rng)
    sg = get_surrogate("sigmoid", 0.5)  # smooth: the check is of the parameterisation's chain
    T = 5
    x = rng.random((T, 2, net.n_in))
    weights = [rng.normal(size=(T, 2, layer.n)) for layer in net.layers]

    def values(ps):
        return [relax.values(p, layer.k) for p, layer in zip(ps, net.layers)]

    def loss(ps):
        f = relaxed_forward(plan, values(ps), x, sg)
        return sum(float((f.spikes(i) * w).sum()) for i, w in enumerate(weights))

    u = values(params)
    fwd = relaxed_forward(plan, u, x, sg)
    g_u, _ = backward(plan, u, fwd, weights, sg, refractory_grad="full", tap_grad="identity")
    grads = [relax.vjp(p, layer.k, g) for p, layer, g in zip(params, net.layers, g_u)]
    for i, layer in enumerate(net.layers):
        cols = _learned_columns(name, layer.k)
        num = numeric_grad(loss, params, i, cols=cols)
        np.testing.assert_allclose(grads[i][:, cols], num[:, cols], atol=1e-6, rtol=1e-4)
        assert not grads[i][:, ~cols].any()  # buffers and fixed constants get no gradient
    # not vacuous (with k = 1 the batch norm of dlut_fixed leaves W no gradient: two normalised
    # entries are fixed up to their order)
    assert max(np.abs(g).max() for g in grads) > 1e-3


@pytest.mark.parametrize("k", [1, 3])
def test_constant_matrices_are_their_definitions(k):
    from spikelut.train.relax import _const

    a = np.arange(1 << k)
    pc = np.array([[bin(s & b).count("1") for b in a] for s in a])
    np.testing.assert_allclose(_const(np, "walsh", k), (-1.0) ** pc / np.sqrt(1 << k), rtol=1e-6)
    agree = k - np.array([[bin(s ^ b).count("1") for b in a] for s in a])
    np.testing.assert_allclose(_const(np, "smooth", k), 0.75 ** agree * 0.25 ** (k - agree), rtol=1e-6)


def test_walsh_and_bipolar_start_from_the_multilinear_tables():
    theta = np.random.default_rng(0).normal(0, 0.1, (5, 16)).astype(np.float32)
    for name in ("walsh", "bipolar"):
        r = get_relaxation(name)
        u = r.values(r.init(theta.copy(), None, "normal", np.random.default_rng(0)), 4)
        np.testing.assert_allclose(u, theta, atol=1e-6)


def test_dlut_values_are_binarybrains_normalised_stochastic_lut_at_the_unbinarized_point():
    # one node, k = 2: y[a] = sum_b W[b] prod_i (0.75 if bits agree else 0.25), then the batch
    # norm under the histogram and the binarize threshold 0.5
    r = get_relaxation("dlut")
    W = np.array([0.9, 0.1, 0.2, 0.6])
    hist = np.array([0.1, 0.2, 0.3, 0.4])
    p = np.concatenate([W, [0.3, 0.5], hist])[None]
    y = np.array([sum(W[b] * np.prod([0.75 if ((a >> i) & 1) == ((b >> i) & 1) else 0.25
                                      for i in range(2)]) for b in range(4)) for a in range(4)])
    mean = (hist * y).sum()
    std = np.sqrt((hist * y * y).sum() - mean ** 2)
    np.testing.assert_allclose(r.values(p, 2)[0], 0.3 * (y - mean) / std + 0.5 - 0.5, rtol=1e-6)
    # the backward rule comes with it: BinaryBrain's hard-tanh window, tap differences of U
    sg = r.surrogate(get_surrogate("fast_sigmoid"))
    assert sg.grad(np.array([-0.6, -0.4, 0.0, 0.49, 0.5])).tolist() == [0.0, 2.0, 2.0, 2.0, 0.0]
    assert r.tap_grad("tanh") == "identity"


def test_observe_keeps_a_running_histogram_with_momentum_0_9():
    r = get_relaxation("dlut")
    p = np.zeros((1, r.width(1)), np.float32)
    p[0, -2:] = 0.5
    r.observe(p, 1, np.array([[1.0, 0.0]], np.float32))
    np.testing.assert_allclose(p[0, -2:], [0.55, 0.45])


def test_address_histograms_count_every_cycle_and_sample():
    net = random_network(0, n_in=3, sizes=[4], k=2, classes=1)
    plan = compile_plan(net)
    x = (np.random.default_rng(0).random((6, 5, 3)) < 0.5).astype(np.uint8)
    fwd = forward(plan, [layer.table for layer in net.layers], x)
    h = address_histograms(fwd, [(4, 2)])[0]
    want = np.stack([np.bincount(fwd.addr[0][:, j].ravel(), minlength=4) / 30.0 for j in range(4)])
    np.testing.assert_allclose(h, want)


# ---------------------------------------------------------------------------- in training
def _task(n=200):
    cfg = load_config("demos/train_first_of_two.toml")
    net = build_network(cfg)
    tr = load_dataset("first_of_two", "train", seed=0)
    te = load_dataset("first_of_two", "test", seed=0)
    return cfg, net, (tr.x[:, :n], tr.y[:n]), (te.x[:, :200], te.y[:200])


def test_default_multilinear_is_bit_identical_to_the_plain_training_loop():
    """The trainer with relaxation = "multilinear" runs exactly the pre-relaxation algorithm:
    init N(0, 0.1) clipped, per epoch a permutation, forward on theta > 0, backward on theta, Adam,
    clip (written out here by hand)."""
    _, net, (x, y), _ = _task()
    cfg = TrainConfig.from_dict({"epochs": 2, "batch_size": 50, "seed": 3, "backend": "numpy",
                                 "relaxation": "multilinear"})
    tr = Trainer(net, cfg, progress=False)
    tr.fit((x, y))
    rng = np.random.default_rng(3)
    params = [rng.normal(0.0, 0.1, layer.table.shape).astype(np.float32) for layer in net.layers]
    clip_(params, 1.0)
    opt = Adam(params)
    plan = compile_plan(net)
    sg = get_surrogate("fast_sigmoid")
    N, steps = x.shape[1], 4
    for epoch in range(2):
        order = rng.permutation(N)
        for b in range(steps):
            idx = order[b * 50:(b + 1) * 50]
            fwd = forward(plan, tables_of(params), x[:, idx])
            _, g = cross_entropy(fwd.spikes(1), y[idx], net.readout)
            grads, _ = backward(plan, params, fwd, [None, g], sg)
            opt.step(params, grads, lr_at("cosine", 0.01, epoch * steps + b, 2 * steps))
            clip_(params, 1.0)
    for a, b in zip(tr.params, params):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_each_relaxation_learns_first_of_two(name, tmp_path):
    """A recurrent memory task (which channel fired first): chance is 0.5, and 0.65 on the 200
    validation samples is more than four standard errors above it. (The training path depends
    on the CPU's vectorised math: every relaxation passed 0.75 on the AMD EPYC of earlier
    sessions, dlut reached 0.725 on an Intel Xeon with the same seed, so the bound is "learns",
    not a particular accuracy.)"""
    _, net, train, val = _task(1000)
    cfg = TrainConfig.from_dict({"epochs": 8, "batch_size": 25, "lr": 0.03, "seed": 0,
                                 "relaxation": name, "keep": "best", "backend": "numba"})
    res = Trainer(net, cfg, progress=False).fit(train, val)
    best = max(r["val_acc"] for r in res.history)
    assert best >= 0.65, (name, [r["val_acc"] for r in res.history])


@pytest.mark.parametrize("name", ["dlut", "walsh"])
def test_checkpoint_holds_the_parameters_and_resume_is_bit_equal(name, tmp_path):
    _, net, train, val = _task()
    d = {"epochs": 3, "batch_size": 50, "seed": 1, "relaxation": name, "backend": "numpy",
         "schedule": "constant"}  # the cosine schedule depends on the total epochs
    full = Trainer(net, TrainConfig.from_dict(d), progress=False)
    full.fit(train, val)
    ck = tmp_path / "ck.h5"
    part = Trainer(net, TrainConfig.from_dict({**d, "epochs": 2}), progress=False)
    part.fit(train, val, checkpoint=ck)
    with h5py.File(ck) as f:
        k = net.layers[0].k
        assert f["params/L0"].shape == (net.layers[0].n, get_relaxation(name).width(k))
        assert json.loads(f.attrs["config"])["relaxation"] == name
    rest = Trainer(net, TrainConfig.from_dict(d), progress=False)
    rest.fit(train, val, checkpoint=ck, resume=True)
    for a, b in zip(full.params, rest.params):
        np.testing.assert_array_equal(a, b)
    other = Trainer(net, TrainConfig.from_dict({**d, "relaxation": "multilinear"}), progress=False)
    with pytest.raises(ConfigError, match=f"relaxation = '{name}', now 'multilinear'"):
        other.load_checkpoint(ck)


def test_the_model_file_stays_a_plain_table_whose_logits_are_the_table_values(tmp_path):
    from spikelut.io import save_model

    _, net, train, _ = _task()
    tr = Trainer(net, TrainConfig.from_dict({"epochs": 1, "relaxation": "mlp", "seed": 2}),
                 progress=False)
    res = tr.fit(train)
    save_model(res.net, tmp_path / "m.h5")
    m = load_model(tmp_path / "m.h5")
    for layer, u in zip(m.layers, tr.tables()):
        assert layer.logits.shape == layer.table.shape  # [n, 2**k], not the MLP's weights
        np.testing.assert_array_equal(layer.table, (np.asarray(u) > 0).astype(np.uint8))
    assert m.meta["train"]["relaxation"] == "mlp"


def test_models_that_need_their_own_start_refuse_init_from_tables():
    _, net, _, _ = _task()
    with pytest.raises(ConfigError, match=r'^\[train\]: relaxation = "dlut" starts from '
                                          r'BinaryBrain\'s N\(0.5, 0.01\) tables; use init = "normal"'):
        Trainer(net, TrainConfig.from_dict({"relaxation": "dlut", "init": "table"}), progress=False)


def test_cli_flag_reaches_the_config(tmp_path):
    from spikelut.cli import main
    from spikelut.io import save_spikes
    from spikelut.datasets import encode_dataset

    sd = encode_dataset("first_of_two", None, None, split="train", seed=0, limit=60)
    save_spikes(tmp_path / "tr.h5", sd.spikes, sd.labels)
    cfg = tmp_path / "c.toml"
    cfg.write_text(open("demos/train_first_of_two.toml").read().replace("epochs = 30", "epochs = 1"))
    rc = main(["train", str(cfg), "--data", str(tmp_path / "tr.h5"), "-o", str(tmp_path / "m.h5"),
               "--relaxation", "walsh", "--checkpoint", str(tmp_path / "ck.h5"), "--no-progress"])
    assert rc in (0, None)
    with h5py.File(tmp_path / "ck.h5") as f:
        assert json.loads(f.attrs["config"])["relaxation"] == "walsh"


# ---------------------------------------------------------------------------- losses, optimizer
@pytest.mark.parametrize("old,new", [("ce", "ce_count"), ("ttfs", "ce_temporal"),
                                     ("mse", "mse_count"), ("ce_ttfs", "ce_count_temporal")])
def test_loss_names_follow_snntorch_and_the_old_ones_stay_aliases(old, new):
    assert new in LOSSES
    assert get_loss(old) is get_loss(new)
    assert TrainConfig.from_dict({"loss": old}).loss == new


def test_checkpoint_written_with_an_old_loss_name_resumes(tmp_path):
    _, net, train, _ = _task()
    ck = tmp_path / "ck.h5"
    Trainer(net, TrainConfig.from_dict({"epochs": 1, "seed": 0}), progress=False).fit(
        train, checkpoint=ck)
    with h5py.File(ck, "r+") as f:  # as written before the renaming and the relaxation key
        saved = json.loads(f.attrs["config"])
        saved["loss"] = "ce"
        del saved["relaxation"]
        f.attrs["config"] = json.dumps(saved)
    tr = Trainer(net, TrainConfig.from_dict({"epochs": 2, "seed": 0}), progress=False)
    tr.fit(train, checkpoint=ck, resume=True)
    assert tr.epoch == 2


def test_lion_moves_every_entry_by_exactly_lr_and_resumes():
    p = [np.zeros((2, 2), np.float32)]
    opt = make_optimizer("lion", p, betas=(0.9, 0.99))
    assert isinstance(opt, Lion)
    opt.step(p, [np.array([[3.0, -1e-6], [0.0, 2.0]], np.float32)], lr=0.01)
    np.testing.assert_array_equal(p[0], np.array([[-0.01, 0.01], [0.0, -0.01]], np.float32))
    np.testing.assert_allclose(opt.m[0], [[0.03, -1e-8], [0.0, 0.02]], rtol=1e-5)
    # m = 0.03 with a new gradient -1: 0.9 * 0.03 + 0.1 * -1 < 0, the entry moves up
    opt.step(p, [np.array([[-1.0, 0.0], [0.0, 0.0]], np.float32)], lr=0.01)
    assert p[0][0, 0] == np.float32(0.0)
    arrays, scalars = opt.state_arrays()
    other = make_optimizer("lion", [np.zeros((2, 2), np.float32)])
    other.load_state_arrays(arrays, scalars)
    assert other.t == 2 and np.array_equal(other.m[0], opt.m[0])
    assert TrainConfig.from_dict({"optimizer": "lion"}).optimizer == "lion"


def _compare_module(demos_dir):
    return load_demo(demos_dir, "compare_relaxations")


def test_comparison_script_runs_one_row_and_tabulates_seeds(demos_dir):
    mod = _compare_module(demos_dir)
    rec = mod.run_one("first_of_two", "walsh", "adam", epochs=1, lr=0.03, batch=50, seed=1)
    assert (rec["set"], rec["relaxation"], rec["seed"], rec["luts"], rec["params"]) == \
        ("first_of_two", "walsh", 1, 72, 72 * 16)
    assert len(rec["val_curve"]) == 1 and 0.0 <= rec["val_acc"] <= 1.0
    rows = [dict(rec, val_acc=0.5, train_acc=0.25), dict(rec, seed=2, val_acc=0.75, train_acc=0.75)]
    assert mod.table(rows).splitlines()[2].startswith(
        "| first_of_two | walsh | adam | 72 | 1152 | 2 | 0.500 | 0.625 (0.500..0.750) |")
    # the memory columns: the state is the float32 tables and Adam's two moments, exactly
    assert rec["state_mib"] == 3 * 72 * 16 * 4 / 2**20
    assert isinstance(rec["step_peak_mib"], float) and rec["step_peak_mib"] > 0
    assert rec["step_mib"] == rec["state_mib"] + rec["step_peak_mib"]
    cells = mod.table([rec]).splitlines()[2].split(" | ")
    assert cells[-2] == f"{rec['step_mib']:.2f}" and float(cells[-1].rstrip(" |")) > 0
    old = {k: v for k, v in rec.items() if not k.endswith("mib") or k == "peak_rss_mib"}
    assert mod.table([old]).splitlines()[2].split(" | ")[-2] == "-"  # rows of earlier runs
    assert mod.train_options("analog:4:0.05", "lion") == {"analog_bits": 4, "analog_noise": 0.05,
                                                         "backend": "numpy"}


def test_comparison_script_memory_mode_prints_one_row_per_relaxation(demos_dir, capsys):
    mod = _compare_module(demos_dir)
    mod.main(["--memory", "first_of_two", "--relaxations", "multilinear", "mlp"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| set | relaxation | LUTs | batch | state MiB | step peak MiB |")
    rows = [ln.split(" | ") for ln in lines[2:]]
    assert [r[1] for r in rows] == ["multilinear", "mlp"] and {r[2] for r in rows} == {"72"}
    assert float(rows[0][4]) == round(3 * 72 * 16 * 4 / 2**20, 2)
    assert float(rows[1][4]) > float(rows[0][4])  # the per-node MLPs hold more parameters


def test_comparison_script_ucr_row(demos_dir):
    pytest.importorskip("aeon", reason="aeon not installed: pip install 'spikelut[ucr]'")
    mod = _compare_module(demos_dir)
    net, sd = mod.load_set("gunpoint")
    # the TRAIN split in the config's encoding: 4 levels of the values and of their second
    # differences at lag 4 (demos/run_gunpoint.toml)
    assert sd.meta["split"] == "train" and sd.spikes.shape == (150, 50, 8)
    assert sd.meta["differences"]["second_lags"] == [4]
    rec = mod.run_one("gunpoint", "multilinear", "adam", epochs=1, lr=0.03, batch=10, seed=0)
    assert (rec["set"], rec["luts"], rec["params"]) == ("gunpoint", 276, 276 * 64)
    assert len(rec["val_curve"]) == 1
    assert round(rec["val_acc"] * 10, 6) == round(rec["val_acc"] * 10)  # 10 of 50 held out
    assert rec["state_mib"] == 3 * 276 * 64 * 4 / 2**20 and rec["step_peak_mib"] > 0


def test_comparison_script_refuses_a_bad_row_before_training(demos_dir, tmp_path, capsys):
    """A bad name used to surface as a child process's traceback after the other rows ran."""
    mod = _compare_module(demos_dir)
    for args, msg in ((["--relaxations", "multilinear", "bogus"],
                       "[train]: unknown relaxation 'bogus'; choose one of bipolar, dlut, "
                       "dlut_fixed, mlp, multilinear, walsh"),
                      (["--relaxations", "analog:4"],
                       "relaxation 'analog:4': an analog row is analog:BITS:NOISE"),
                      (["--optimizers", "adamw"],
                       "[train]: unknown optimizer 'adamw'; choose one of adam, lion, sgd")):
        with pytest.raises(SystemExit) as e:
            mod.main(args + ["--out", str(tmp_path / "o")])
        assert e.value.code == 2
        assert capsys.readouterr().err.splitlines()[-1].endswith(f"error: {msg}")
    assert not (tmp_path / "o").exists()
