"""Tap importance and rewiring during training (docs/rewiring.md): importance values and their
model-file round trip, table re-mapping, legal wiring after every rewiring, seeded and resumable
runs, and a needle-in-a-haystack task that random wiring cannot solve and rewiring does."""

import json

import h5py
import numpy as np
import pytest

from spikelut.analysis import influences
from spikelut.cli import main
from spikelut.config import build_network, parse_config
from spikelut.errors import ConfigError, FileFormatError, ShapeError
from spikelut.importance import importance_score, tap_gradient_from, tap_importance
from spikelut.io import load_model, save_model, save_spikes
from spikelut.network import INPUT, Layer, Network, Readout
from spikelut.train import Trainer, TrainConfig
from spikelut.train.rewire import remap_theta, tap_slots
from spikelut.wiring import random_network, random_taps

N_IN, KEY = 32, 21


class Interrupt(Exception):
    pass


def needle_data(B=400, seed=0):
    """T = 1, 32 random input bits; the label is input channel 21."""
    x = (np.random.default_rng(seed).random((1, B, N_IN)) < 0.5).astype(np.uint8)
    return x, x[0, :, KEY].astype(np.int64)


def needle_net(seed):
    """Two readout nodes (class 0, class 1) of two randomly drawn input taps each."""
    idx = random_taps(np.random.default_rng(seed), 2, 2, N_IN)
    layer = Layer(np.zeros((2, 4), np.uint8), np.full((2, 2), INPUT), idx, np.zeros((2, 2)),
                  name="out")
    return Network(N_IN, [layer], Readout(0, [0, 1], 2))


def rewire_cfg(**kw):
    d = dict(epochs=30, batch_size=50, lr=0.05, backend="numpy", rewire_every=2,
             rewire_fraction=0.5)
    d.update(kw)
    return TrainConfig.from_dict(d)


# ---------------------------------------------------------------------------- importance
def test_tap_gradient_from_sums_the_tap_gradient_over_addresses():
    th = np.array([[-1.0, 1.0, -1.0, 1.0]])  # f = tap 0: diff_0 = 2 everywhere, diff_1 = 0
    g = np.array([[0.5, 0.0, 0.0, 2.0]])
    assert tap_gradient_from(th, g, "identity").tolist() == [[5.0, 0.0]]
    assert tap_gradient_from(th, -g, "identity").tolist() == [[5.0, 0.0]]
    t = np.tanh(1.0)
    np.testing.assert_allclose(tap_gradient_from(th, g, "tanh"), [[2.5 * 2 * t, 0.0]])


def test_tap_importance_of_a_copy_node_on_data_and_the_model_file_round_trip(tmp_path):
    # node 0 copies input 0 (tap 1 reads input 1 and never matters); node 1 = AND of both
    lay = Layer(np.array([[0, 1, 0, 1], [0, 0, 0, 1]], np.uint8), [[-1, -1], [-1, -1]],
                [[0, 1], [0, 1]], [[0, 0], [0, 0]], name="out")
    net = Network(2, [lay], Readout(0, [0, 1], 2))
    x = np.array([[[0, 0], [1, 0], [1, 1], [1, 1]]], np.uint8)  # addresses 0, 1, 3, 3
    imp = tap_importance(net, x, np.array([0, 0, 1, 1]))
    np.testing.assert_array_equal(imp.layers[0].tap_influence, [[1.0, 0.0], [0.5, 0.75]])
    np.testing.assert_array_equal(imp.layers[0].tap_influence,
                                  influences(lay.table, [[1, 1, 0, 2], [1, 1, 0, 2]]))
    assert imp.layers[0].tap_gradient.shape == (2, 2)
    assert imp.layers[0].tap_gradient[0, 1] == 0.0  # the table ignores tap 1: no gradient
    save_model(imp, tmp_path / "m.h5")
    back = load_model(tmp_path / "m.h5")
    np.testing.assert_array_equal(back.layers[0].tap_influence, imp.layers[0].tap_influence)
    np.testing.assert_array_equal(back.layers[0].tap_gradient, imp.layers[0].tap_gradient)
    save_model(net, tmp_path / "old.h5")  # a model without importance stays loadable
    assert load_model(tmp_path / "old.h5").layers[0].tap_influence is None
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        del f["layers/L0/tap_gradient"]
        f["layers/L0"].create_dataset("tap_gradient", data=np.zeros((2, 3), np.float32))
    with pytest.raises(FileFormatError, match=r"m.h5: /layers/L0: tap_gradient has shape "
                                              r"\(2, 3\), expected \(2, 2\)"):
        load_model(tmp_path / "m.h5")


def test_importance_score_and_bad_importance_refused():
    np.testing.assert_array_equal(importance_score(np.array([[0.5, 0.0]]), np.array([[1.0, 2.0]])),
                                  [[1.0, 1.0]])
    np.testing.assert_array_equal(importance_score(np.array([[0.5, np.nan]]), None), [[0.5, 0.0]])
    from spikelut.errors import NetworkError
    with pytest.raises(NetworkError, match=r"tap_influence must be \(1, 2\) finite values >= 0"):
        Network(2, [Layer(np.zeros((1, 4)), [[-1, -1]], [[0, 1]], [[0, 0]],
                          tap_influence=[[-1.0, 0.0]])], Readout(0, [0], 1))
    # the shape was right: the message named it instead of the bad value
    for bad, shown in (([[0.0, -1.0]], "-1.0 at node 0 tap 1"), ([[np.nan, 0.0]], "nan at node 0 tap 0")):
        with pytest.raises(NetworkError) as e:
            Network(2, [Layer(np.zeros((1, 4)), [[-1, -1]], [[0, 1]], [[0, 0]],
                              tap_gradient=bad)], Readout(0, [0], 1))
        assert str(e.value).endswith(f"tap_gradient must be (1, 2) finite values >= 0, got {shown}")
    with pytest.raises(NetworkError, match=r"tap_influence must be \(1, 2\) finite values >= 0, "
                                           r"got shape \(1, 3\)$"):
        Network(2, [Layer(np.zeros((1, 4)), [[-1, -1]], [[0, 1]], [[0, 0]],
                          tap_influence=[[0.0, 0.0, 0.0]])], Readout(0, [0], 1))


def test_analyze_shows_the_stored_importance(tmp_path, capsys):
    x, y = needle_data(40)
    net = tap_importance(needle_net(1), x, y)
    save_model(net, tmp_path / "m.h5")
    save_spikes(tmp_path / "d.h5", x, y)
    assert main(["analyze", str(tmp_path / "m.h5"), str(tmp_path / "d.h5"), "--json",
                 "--backend", "numpy"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["importance"]["source"] == "model"
    lay = rep["importance"]["layers"][0]
    assert lay["mean_influence"] == pytest.approx(float(net.layers[0].tap_influence.mean()))
    assert len(lay["lowest"]) == 4


# ---------------------------------------------------------------------------- re-mapping
@pytest.mark.parametrize("k", [2, 4, 6])
def test_remapped_table_preserves_the_function_where_the_old_tap_had_its_fixed_value(k):
    rng = np.random.default_rng(k)
    theta = rng.normal(size=(5, 1 << k)).astype(np.float32)
    a = np.arange(1 << k)
    for p in range(k):
        v = rng.integers(0, 2, 5)
        new = remap_theta(theta, p, v)
        for j in range(5):
            same = ((a >> p) & 1) == v[j]  # addresses on which the old tap carried v
            np.testing.assert_array_equal(new[j, same], theta[j, same])
            # the new input at bit p has no influence: both halves are equal
            np.testing.assert_array_equal(new[j, a ^ (1 << p)], new[j])
        assert influences((new > 0).astype(np.uint8))[:, p].tolist() == [0.0] * 5


def test_a_rewiring_keeps_each_swapped_nodes_function_on_the_fixed_value():
    net = random_network(3, n_in=6, sizes=[8, 4], k=3, classes=2, max_delay=2)
    x = (np.random.default_rng(0).random((6, 60, 6)) < 0.5).astype(np.uint8)
    y = (x[:, :, 0].sum(axis=0) > 3).astype(np.int64)
    tr = Trainer(net, rewire_cfg(epochs=3, rewire_fraction=0.25), progress=False)
    before_net = tr.net
    before = [p.copy() for p in tr.params]
    tr.rewirer.rewire(x, y)
    a = np.arange(8)
    changed = 0
    single = 0
    for i, (old, new) in enumerate(zip(before_net.layers, tr.net.layers)):
        moved = ((old.source != new.source) | (old.index != new.index) | (old.delay != new.delay))
        changed += int(moved.sum())
        for j in np.flatnonzero(moved.sum(axis=1) == 1):  # nodes with one swapped tap
            p = int(np.flatnonzero(moved[j])[0])
            row, new_row = before[i][j], tr.params[i][j]
            # one of the old tap's values was kept: on it the node computes as before
            kept = [v for v in (0, 1) if np.array_equal(new_row[((a >> p) & 1) == v],
                                                        row[((a >> p) & 1) == v])]
            assert kept, (i, j, p)
            single += 1
            np.testing.assert_array_equal(new_row[a ^ (1 << p)], new_row)
    assert changed == sum(max(1, round(0.25 * l.n * l.k)) for l in net.layers)
    assert single >= 4


# ---------------------------------------------------------------------------- legality
@pytest.mark.parametrize("sources,delays", [("group", None), ("free", (0, 3)), ("group", (0, 2))])
def test_every_rewired_network_is_legal(sources, delays):
    net = random_network(7, n_in=5, sizes=[10, 8, 4], k=3, classes=2, max_delay=2)
    x = (np.random.default_rng(1).random((5, 40, 5)) < 0.5).astype(np.uint8)
    y = (x[:, :, 1].sum(axis=0) > 2).astype(np.int64)
    cfg = rewire_cfg(epochs=2, rewire_fraction=0.3, rewire_sources=sources, rewire_delays=delays,
                     rewire_candidates=2)
    tr = Trainer(net, cfg, progress=False)
    slots = tap_slots(net, sources, delays)
    for _ in range(6):
        tr.rewirer.rewire(x, y)
        for i, layer in enumerate(tr.net.layers):
            # delay-0 taps read only the input or an earlier layer (DESIGN.md section 2)
            assert not ((layer.delay == 0) & (layer.source >= i)).any()
            assert ((layer.index >= 0) & (layer.index < np.where(
                layer.source == INPUT, 5, np.asarray(tr.net.sizes)[layer.source]))).all()
            for p in range(layer.k):
                if delays is not None:
                    assert set(layer.delay[:, p].tolist()) <= set(range(delays[0], delays[1] + 1)) \
                        | set(net.layers[i].delay[:, p].tolist())
                if sources == "group":
                    assert set(layer.source[:, p].tolist()) <= {s for s, _ in slots[i][p].options}
        Network(tr.net.n_in, [l.copy() for l in tr.net.layers], tr.net.readout)  # re-validates


def test_own_taps_are_not_rewired():
    cfg = parse_config("""
inputs = 4
[[layers]]
nodes = 6
k = 3
taps = [{from = "input", count = 2}, {from = "own", delay = 1}]
[readout]
classes = 2
""")
    slots = tap_slots(build_network(cfg))
    assert slots[0][2] is None and slots[0][0].options == ((-1, (0,)),)
    free = tap_slots(build_network(cfg), "free", (0, 2))
    assert free[0][0].options == ((-1, (0, 1, 2)), (0, (1, 2)))


def test_rewire_config_errors():
    with pytest.raises(ConfigError, match=r"\[train\]: rewire_fraction must be a number >= 0 "
                                          r"and <= 1, got 2"):
        TrainConfig.from_dict({"rewire_fraction": 2})
    with pytest.raises(ConfigError, match=r"\[train\]: rewire_delays must be two integers "
                                          r"\[lo, hi\] with 0 <= lo <= hi <= 4096, got \[3, 1\]"):
        TrainConfig.from_dict({"rewire_delays": [3, 1]})
    with pytest.raises(ConfigError, match=r"unknown rewire_sources 'any'; choose one of group, free"):
        TrainConfig.from_dict({"rewire_sources": "any"})
    with pytest.raises(ConfigError, match=r"unknown rewire_schedule 'linear'; choose one of "
                                          r"cosine, constant"):
        TrainConfig.from_dict({"rewire_schedule": "linear"})
    with pytest.raises(ConfigError, match=r"rewire_every must be an integer >= 0, got -1"):
        TrainConfig.from_dict({"rewire_every": -1})
    with pytest.raises(ConfigError, match=r"unknown rewire_regrow 'best'; choose one of sample, "
                                          r"gradient"):
        TrainConfig.from_dict({"rewire_regrow": "best"})
    with pytest.raises(ConfigError, match=r"rewire_regrow = 'gradient' scores every candidate of "
                                          r"the slot; leave rewire_candidates at 1 \(got 4\)"):
        TrainConfig.from_dict({"rewire_regrow": "gradient", "rewire_candidates": 4})
    with pytest.raises(ConfigError, match=r"unknown rewire_score 'mean'; choose one of split, "
                                          r"centered"):
        TrainConfig.from_dict({"rewire_regrow": "gradient", "rewire_score": "mean"})
    with pytest.raises(ConfigError, match=r"rewire_score = 'split' scores gradient regrowth; "
                                          r"it needs rewire_regrow = 'gradient'"):
        TrainConfig.from_dict({"rewire_score": "split"})


# ---------------------------------------------------------------------------- learning
def test_rewiring_solves_a_task_random_wiring_cannot():
    x, y = needle_data()
    net = needle_net(1)  # taps [[9, 31], [29, 4]]: channel 21 is not among them
    assert KEY not in net.layers[0].index
    fixed = Trainer(net, rewire_cfg(rewire_every=0), progress=False).fit((x, y))
    assert fixed.history[-1]["acc"] < 0.6
    for c in (1, 4):
        res = Trainer(net, rewire_cfg(rewire_candidates=c, seed=1), progress=False).fit((x, y))
        assert res.history[-1]["acc"] == 1.0
        assert KEY in res.net.layers[0].index[1]  # the class-1 node found the needle
        assert sum(sum(r["rewired"]) for r in res.history) > 0
        assert res.net.layers[0].tap_influence is not None  # the importance rides along


def test_gradient_regrowth_finds_the_needle_in_one_rewiring():
    x, y = needle_data()
    net = needle_net(1)
    tr = Trainer(net, rewire_cfg(rewire_regrow="gradient", rewire_fraction=0.25), progress=False)
    swapped = tr.rewirer.rewire(x, y)
    assert swapped == [1]
    assert KEY in tr.net.layers[0].index  # of 31 other channels, the one the label is
    res = Trainer(net, rewire_cfg(rewire_regrow="gradient", seed=1), progress=False).fit((x, y))
    assert res.history[-1]["acc"] == 1.0


def test_gradient_regrowth_keeps_a_pruned_tap_whose_own_signal_scores_best():
    x, y = needle_data()
    idx = np.array([[3, 9], [KEY, 4]])  # the class-1 node reads the needle (and channel 4)
    layer = Layer(np.zeros((2, 4), np.uint8), np.full((2, 2), INPUT), idx, np.zeros((2, 2)))
    net = Network(N_IN, [layer], Readout(0, [0, 1], 2))
    trained = Trainer(net, rewire_cfg(rewire_every=0, epochs=10), progress=False).fit((x, y)).net
    tr = Trainer(trained, rewire_cfg(rewire_regrow="gradient"), progress=False)
    swapped = tr.rewirer.rewire(x, y, fraction=1.0)  # every tap pruned and regrown
    after = tr.net.layers[0]
    assert after.index[1, 0] == KEY  # the needle won its own slot back: not swapped
    assert swapped == [3]
    assert after.index[1, 1] != 4   # the useless channel of that node was replaced
    rec = tr.rewirer.epoch_record(0)  # the log: 4 taps pruned, 3 of them swapped
    assert (rec["pruned"], rec["rewired"]) == ([4], [3])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_gradient_scores_equal_one_probe_pass_per_candidate(backend):
    """The one-pass split score of every candidate equals the probe pass with it wired in."""
    net = random_network(7, n_in=5, sizes=[6, 5, 3], k=3, classes=3, max_delay=2, refractory=1)
    x = (np.random.default_rng(5).random((7, 40, 5)) < 0.4).astype(np.uint8)
    y = np.arange(40) % 3
    tr = Trainer(net, rewire_cfg(rewire_regrow="gradient", rewire_sources="free", backend=backend),
                 progress=False)
    rw = tr.rewirer
    params = [np.array(p, np.float32) for p in tr.params]
    plan = [(i, np.array([0, 2, 1]), np.array([1, 0, 1]), np.array([1, 0, 0]))
            for i in range(len(net.layers))]
    grad = rw.gradient_scores(plan, params, x, y)
    picks = [0, 3, 7]  # three candidates of each column, compared with probe passes
    cands = {i: [[grad[i][int(p)][0][c] for c in picks] for p in taps]
             for i, _, taps, _ in plan}
    probe = rw.probe_scores(plan, cands, params, x, y)
    for i, _, taps, _ in plan:
        rows = {p: 0 for p in set(taps.tolist())}
        for r, p in enumerate(taps.tolist()):
            want = grad[i][p][1][rows[p], picks]
            rows[p] += 1
            np.testing.assert_allclose(probe[i][r], want, rtol=1e-4, atol=1e-6)
    assert all(probe[i].max() > 0 for i in (1, 2))  # not a comparison of zeros


def test_centered_scores_give_a_constant_candidate_nothing():
    """A signal that never changes cannot help a table split its addresses; the probe pass's
    plain score gives it |sum of the gradient| per address, more than an informative bit."""
    from spikelut.train.rewire import split_scores

    rng = np.random.default_rng(0)
    E = 2000
    info = (rng.random(E) < 0.5).astype(np.uint8)
    g = (0.3 + rng.normal(0, 1, E) + 0.5 * (2 * info.astype(float) - 1))[None, :]
    y = np.stack([np.ones(E, np.uint8), (rng.random(E) < 0.5).astype(np.uint8), info], axis=1)
    bins = np.zeros((1, E), np.int64)
    plain, centered = np.empty((1, 3)), np.empty((1, 3))
    split_scores(g, bins, y, 1, False, plain)
    split_scores(g, bins, y, 1, True, centered)
    assert plain[0, 0] > plain[0, 1]                          # the flaw: constant beats noise
    assert centered[0, 0] == 0.0
    assert centered[0, 2] > 5 * centered[0, 1]                # informative >> random bit


def test_rewiring_is_reproducible_and_seeded():
    x, y = needle_data(100)
    net = needle_net(2)
    runs = [Trainer(net, rewire_cfg(epochs=4, seed=s), progress=False).fit((x, y)) for s in (3, 3, 4)]
    np.testing.assert_array_equal(runs[0].net.layers[0].index, runs[1].net.layers[0].index)
    np.testing.assert_array_equal(runs[0].net.layers[0].logits, runs[1].net.layers[0].logits)
    assert [r["rewired"] for r in runs[0].history] == [r["rewired"] for r in runs[1].history]
    assert not np.array_equal(runs[0].net.layers[0].index, runs[2].net.layers[0].index)


def test_a_delay_range_reaching_past_the_datas_cycles_is_warned_about(capsys):
    """A tap at delay >= T reads only the reset state: rewire_delays = [0, 1000] on 1-cycle data
    trains, with one warning naming the range's top and the data's cycles; [0, 0] does not."""
    x, y = needle_data(100)
    for delays, warned in (((0, 1000), True), ((0, 0), False)):
        Trainer(needle_net(2), rewire_cfg(epochs=2, rewire_delays=delays),
                progress=False).fit((x, y))
        err = capsys.readouterr().err
        assert ("warning: rewiring may move taps to delays up to 1000" in err) == warned, err
        assert ("1 cycles per sample" in err) == warned


@pytest.mark.parametrize("backend,regrow", [("numpy", "sample"), ("numba", "sample"),
                                           ("numba", "gradient")])
def test_resume_gives_the_same_wiring_as_an_uninterrupted_run(tmp_path, backend, regrow):
    net = random_network(5, n_in=6, sizes=[12, 4], k=3, classes=2, max_delay=2)
    x = (np.random.default_rng(2).random((5, 80, 6)) < 0.5).astype(np.uint8)
    y = (x[:, :, 0].sum(axis=0) > 2).astype(np.int64)
    kw = dict(epochs=5, batch_size=20, backend=backend, rewire_every=3, rewire_fraction=0.2,
              rewire_candidates=2 if regrow == "sample" else 1, rewire_regrow=regrow,
              rewire_delays=[0, 3], keep="best")
    full = Trainer(net, rewire_cfg(**kw), progress=False)
    res_full = full.fit((x, y), (x, y))

    def stop_after_2(trainer, record):
        if record["epoch"] == 2:
            raise Interrupt

    ckpt = tmp_path / "ckpt.h5"
    with pytest.raises(Interrupt):
        Trainer(net, rewire_cfg(**kw), progress=False).fit((x, y), (x, y), checkpoint=ckpt,
                                                           callback=stop_after_2)
    resumed = Trainer(net, rewire_cfg(**kw), progress=False)
    res = resumed.fit((x, y), (x, y), checkpoint=ckpt, resume=True)
    for a, b in zip(full.net.layers, resumed.net.layers):
        for name in ("source", "index", "delay"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for a, b in zip(full.params, resumed.params):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(res_full.net.layers, res.net.layers):
        np.testing.assert_array_equal(a.index, b.index)
        np.testing.assert_array_equal(a.logits, b.logits)
    strip = [{k: v for k, v in r.items() if k != "time"} for r in res.history]
    assert strip == [{k: v for k, v in r.items() if k != "time"} for r in res_full.history]
    assert sum(sum(r["rewired"]) for r in res.history) > 0


def test_train_cli_logs_rewiring_and_plot_draws_it(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("""
seed = 1
inputs = 32
[[layers]]
name = "out"
nodes = 2
k = 2
taps = [{from = "input", count = 2}]
[readout]
classes = 2
[train]
epochs = 6
batch_size = 50
lr = 0.05
backend = "numpy"
rewire_every = 2
rewire_fraction = 0.5
rewire_delays = [0, 2]
""")
    x, y = needle_data(200)
    save_spikes(tmp_path / "d.h5", x, y)
    assert main(["train", str(cfg), "--data", str(tmp_path / "d.h5"), "-o", str(tmp_path / "m.h5"),
                 "--log", str(tmp_path / "log.jsonl"), "--no-progress"]) == 0
    capsys.readouterr()
    recs = [json.loads(s) for s in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [len(r["rewired"]) for r in recs] == [1] * 6
    assert recs[-1]["rewired"] == [0]  # the last epoch keeps its wiring
    assert sum(recs[0]["delays_before"].values()) == 4 and "flip_flops" in recs[0]
    assert load_model(tmp_path / "m.h5").layers[0].tap_influence is not None
    assert main(["plot", "wiring", str(tmp_path / "log.jsonl"), "-o", str(tmp_path / "w.png")]) == 0
    assert (tmp_path / "w.png").stat().st_size > 1000
    save_spikes(tmp_path / "d2.h5", x, y)
    (tmp_path / "plain.jsonl").write_text(json.dumps(
        {"epoch": 1, "loss": 1.0, "acc": 0.5, "val_loss": None, "val_acc": None, "lr": 0.1,
         "time": 1.0}) + "\n")
    assert main(["plot", "wiring", str(tmp_path / "plain.jsonl"), "-o",
                 str(tmp_path / "w2.png")]) == 1
    assert "has no rewiring records" in capsys.readouterr().err


# ---------------------------------------------------------------------------- guided wiring
def test_signal_scores_mutual_information_and_correlation():
    from spikelut.guided import signal_scores

    f = np.array([[0, 5, 1], [0, 5, 0], [3, 5, 1], [3, 5, 0]])
    y = np.array([0, 0, 1, 1])
    assert signal_scores(f, y, "mi").tolist() == [1.0, 0.0, 0.0]
    np.testing.assert_allclose(signal_scores(f, y, "corr"), [1.0, 0.0, 0.0])
    teacher = np.array([[1.0], [0.0], [1.0], [0.0]])  # a teacher feature that follows column 2
    np.testing.assert_allclose(signal_scores(f, teacher, "corr"), [0.0, 0.0, 1.0])
    with pytest.raises(ConfigError, match="unknown guided wiring method 'x'; choose one of mi, corr"):
        signal_scores(f, y, "x")


def test_guided_wiring_draws_the_informative_input_and_keeps_sources_and_delays():
    from spikelut.guided import guided_wiring

    x, y = needle_data(300)
    net = needle_net(1)
    g = guided_wiring(net, x, y, "mi", seed=0)
    assert (g.layers[0].index == KEY).sum() >= 1 and KEY not in net.layers[0].index
    np.testing.assert_array_equal(g.layers[0].source, net.layers[0].source)
    np.testing.assert_array_equal(g.layers[0].delay, net.layers[0].delay)
    with pytest.raises(ShapeError) as e:  # said "10 rows for 40 samples" (the samples used)
        guided_wiring(net, x, y[:10], "mi", seed=0, samples=40)
    assert str(e.value) == (f"targets: 10 rows for the {x.shape[1]} samples of the spikes; give "
                            f"one row per sample")
    with pytest.raises(ShapeError, match=r"input spikes must be \[T, B, "):
        guided_wiring(net, x[0], y, "mi")  # 2-D: was an IndexError of the slicing
    again = guided_wiring(net, x, y, "mi", seed=0)
    np.testing.assert_array_equal(again.layers[0].index, g.layers[0].index)
    res = Trainer(net, rewire_cfg(rewire_every=0, init_wiring="mi"), progress=False).fit((x, y))
    np.testing.assert_array_equal(res.net.layers[0].index, g.layers[0].index)


def test_analyze_saves_the_importance_measured_on_labelled_data(tmp_path, capsys):
    x, y = needle_data(40)
    save_model(needle_net(1), tmp_path / "m.h5")
    save_spikes(tmp_path / "d.h5", x, y)
    assert main(["analyze", str(tmp_path / "m.h5"), str(tmp_path / "d.h5"), "--backend", "numpy",
                 "--save-importance", str(tmp_path / "imp.h5")]) == 0
    out = capsys.readouterr().out
    assert "tap importance (data) layer 0: mean influence" in out and "wrote " in out
    assert "mean gradient" not in out  # measured on the data: influence only
    net = load_model(tmp_path / "imp.h5")
    expect = tap_importance(needle_net(1), x, y)
    np.testing.assert_array_equal(net.layers[0].tap_influence, expect.layers[0].tap_influence)
    np.testing.assert_array_equal(net.layers[0].tap_gradient, expect.layers[0].tap_gradient)
    assert f"wrote {tmp_path / 'imp.h5'} (tap influence and gradient signal)" in out


def test_analyze_says_when_the_saved_importance_has_no_gradient(tmp_path, capsys):
    """Unlabelled data: the file holds the influence only (any stored gradient is replaced)."""
    x, _ = needle_data(40)
    save_model(needle_net(1), tmp_path / "m.h5")
    save_spikes(tmp_path / "d.h5", x)
    args = ["analyze", str(tmp_path / "m.h5"), str(tmp_path / "d.h5"), "--backend", "numpy",
            "--save-importance", str(tmp_path / "imp.h5")]
    assert main(args) == 0
    assert (f"wrote {tmp_path / 'imp.h5'} (tap influence only: {tmp_path / 'd.h5'} has no labels, "
            f"so no gradient signal)") in capsys.readouterr().out
    assert load_model(tmp_path / "imp.h5").layers[0].tap_gradient is None
    assert main(args + ["--json", "--force"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["saved_importance"] == {"file": str(tmp_path / "imp.h5"), "influence": True,
                                       "gradient": False}


def test_flip_flop_penalty_prefers_candidates_without_new_registers():
    with pytest.raises(ConfigError, match=r"rewire_ff_penalty scores candidates; it needs "
                                          r"rewire_candidates >= 2 or rewire_regrow = "
                                          r"'gradient', got rewire_candidates = 1"):
        TrainConfig.from_dict({"rewire_ff_penalty": 0.5})
    net = random_network(4, n_in=6, sizes=[10, 4], k=3, classes=2, max_delay=1)
    x = (np.random.default_rng(3).random((6, 60, 6)) < 0.5).astype(np.uint8)
    y = (x[:, :, 2].sum(axis=0) > 3).astype(np.int64)
    ffs = []
    for lam in (0.0, 100.0):
        tr = Trainer(net, rewire_cfg(epochs=3, rewire_candidates=4, rewire_delays=[0, 6],
                                     rewire_ff_penalty=lam, rewire_fraction=0.3), progress=False)
        for _ in range(4):
            tr.rewirer.rewire(x, y)
        ffs.append(tr.net.flip_flops())
    assert ffs[1] < ffs[0]


def test_gradient_regrowth_normalises_by_the_best_candidate_a_tap_may_take(monkeypatch):
    """rewire_ff_penalty = 0.2 trades one flip-flop for 20 % of the best *legal* candidate's
    score: a repeat of one of the node's taps (never taken) must not set the scale."""
    idx = np.array([[0, 1], [4, 5]])
    layer = Layer(np.zeros((2, 4), np.uint8), np.full((2, 2), INPUT), idx, np.zeros((2, 2)))
    net = Network(6, [layer], Readout(0, [0, 1], 2))
    tr = Trainer(net, rewire_cfg(rewire_regrow="gradient", rewire_delays=[0, 1],
                                 rewire_ff_penalty=0.2), progress=False)
    rw = tr.rewirer
    cand = [(INPUT, c, d) for c in range(6) for d in (0, 1)]
    score = {(INPUT, 1, 0): 10.0,   # node 0's other tap: splits every address, never taken
             (INPUT, 2, 1): 1.0,    # the best legal candidate, one new flip-flop
             (INPUT, 3, 0): 0.7}    # no flip-flop
    sc = np.array([[score.get(c, 0.0) for c in cand]])
    monkeypatch.setattr(rw, "gradient_scores", lambda *a, **kw: {0: {0: (cand, sc)}})
    plan = [(0, np.array([0]), np.array([0]), np.array([0]))]
    picks = rw._regrow_gradient(plan, None, None, None, tr.net.register_depths())
    assert picks[0] == [[(INPUT, 2, 1)]]   # 1 - 0.2 > 0.7 (against 10: 0.1 - 0.2 < 0.07)


def test_a_tap_groups_delay_range_is_what_rewiring_chooses_in(tmp_path):
    text = """
inputs = 6
[[layers]]
name = "h"
nodes = 10
k = 4
taps = [{from = "input", count = 2, delay = [0, 1], delay_range = [0, 5]},
        {from = "self", count = 2, delay = 1}]
[[layers]]
name = "out"
nodes = 4
k = 3
taps = [{from = "h", count = 3, delay = 1, delay_range = [1, 3]}]
[readout]
classes = 2
"""
    net = build_network(parse_config(text))
    assert net.meta["delay_range"] == [[[0, 5], [0, 5], None, None], [[1, 3]] * 3]
    slots = tap_slots(net)
    assert slots[0][0].options == ((-1, (0, 1, 2, 3, 4, 5)),) and slots[0][0].ranged
    assert slots[0][2].options == ((0, (1,)),) and not slots[0][2].ranged
    assert slots[1][0].options == ((0, (1, 2, 3)),)
    x = (np.random.default_rng(0).random((6, 60, 6)) < 0.5).astype(np.uint8)
    y = (x[:, :, 2].sum(axis=0) > 3).astype(np.int64)
    tr = Trainer(net, rewire_cfg(epochs=3, rewire_fraction=0.5), progress=False)
    for _ in range(5):
        tr.rewirer.rewire(x, y)
    h, out = tr.net.layers
    assert set(h.delay[:, :2].ravel().tolist()) <= set(range(6))
    assert len(set(h.delay[:, :2].ravel().tolist())) > 2
    assert (h.delay[:, 2:] == 1).all() and set(out.delay.ravel().tolist()) <= {1, 2, 3}
    # the self group never read a node's own output; rewired, it still does not
    assert not (h.index[:, 2:] == np.arange(10)[:, None]).any()
    assert tr.rewirer.delay_moves > 0
    save_model(net, tmp_path / "m.h5")  # the ranges ride in the model's metadata
    assert tap_slots(load_model(tmp_path / "m.h5"))[1][0].options == ((0, (1, 2, 3)),)
    bad = text.replace("delay_range = [1, 3]", "delay_range = [2, 3]")
    with pytest.raises(ConfigError, match=r"layer 1 \('out'\), taps\[0\]: the group's delays \[1\] "
                                          r"must lie in its delay_range \[2, 3\]"):
        build_network(parse_config(bad))
    with pytest.raises(ConfigError, match=r"delay_range must be \[lo, hi\] with 0 <= lo <= hi"):
        build_network(parse_config(text.replace("[0, 5]", "[5, 0]")))


def test_a_checkpoint_without_the_rewire_keys_still_resumes(tmp_path):
    x, y = needle_data(100)
    net = needle_net(1)
    plain = dict(batch_size=50, lr=0.05, backend="numpy")
    Trainer(net, TrainConfig.from_dict({"epochs": 1, **plain}), progress=False).fit(
        (x, y), checkpoint=tmp_path / "c.h5")
    with h5py.File(tmp_path / "c.h5", "r+") as f:  # as written before these keys existed
        saved = json.loads(f.attrs["config"])
        for key in [k for k in saved if k.startswith("rewire_")] + ["init_wiring"]:
            del saved[key]
        f.attrs["config"] = json.dumps(saved)
    tr = Trainer(net, TrainConfig.from_dict({"epochs": 2, **plain}), progress=False)
    tr.fit((x, y), checkpoint=tmp_path / "c.h5", resume=True)
    assert tr.epoch == 2
    with pytest.raises(ConfigError, match=r"different \[train\] config \(rewire_every = 0, now 2\)"):
        Trainer(net, TrainConfig.from_dict({"epochs": 2, "rewire_every": 2, **plain}),
                progress=False).fit(
            (x, y), checkpoint=tmp_path / "c.h5", resume=True)


def test_a_damaged_rewiring_checkpoint_is_refused_in_one_line(tmp_path):
    x, y = needle_data(100)
    net = needle_net(2)
    Trainer(net, rewire_cfg(epochs=1), progress=False).fit((x, y), checkpoint=tmp_path / "c.h5")
    with h5py.File(tmp_path / "c.h5", "r+") as f:
        del f["wiring/L0/index"]
        f["wiring/L0"].create_dataset("index", data=np.zeros((3, 2), np.int32))
    with pytest.raises(FileFormatError, match=r"c.h5: /wiring/L0/index: missing or not an integer "
                                              r"array of shape \(2, 2\)"):
        Trainer(net, rewire_cfg(epochs=2), progress=False).fit(
            (x, y), checkpoint=tmp_path / "c.h5", resume=True)
    with h5py.File(tmp_path / "c.h5", "r+") as f:
        del f["wiring/L0/index"]
        f["wiring/L0"].create_dataset("index", data=np.full((2, 2), 99, np.int32))
    with pytest.raises(FileFormatError, match=r"c.h5: /wiring: layer 0 \('out'\), node 0, tap 0 "
                                              r"\(source -1, index 99, delay 0\): index out of range"):
        Trainer(net, rewire_cfg(epochs=2), progress=False).fit(
            (x, y), checkpoint=tmp_path / "c.h5", resume=True)


def test_rewiring_on_an_emulated_device_equals_the_numpy_run():
    from test_train_backends import emulated_numpy

    net = random_network(6, n_in=6, sizes=[10, 4], k=3, classes=2, max_delay=2)
    x = (np.random.default_rng(4).random((5, 60, 6)) < 0.5).astype(np.uint8)
    y = (x[:, :, 3].sum(axis=0) > 2).astype(np.int64)
    kw = dict(epochs=3, batch_size=20, rewire_every=2, rewire_fraction=0.2, rewire_candidates=2,
              rewire_delays=[0, 3], init_wiring="mi")
    ref = Trainer(net, rewire_cfg(**kw), progress=False)
    res_ref = ref.fit((x, y), (x, y))
    dev, backend = emulated_numpy()
    emu = Trainer(net, rewire_cfg(**kw), progress=False, backend=backend)
    res = emu.fit((x, y), (x, y))
    assert type(emu.params[0]).__name__ == "DeviceArray"
    for a, b in zip(res_ref.net.layers, res.net.layers):
        for name in ("source", "index", "delay", "logits", "tap_influence", "tap_gradient"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


# ---------------------------------------------------------------------------- the study and demo
@pytest.mark.parametrize("demo,variant", [("train_mnist1d_rewire", "grad_f10"),
                                          ("train_mnist1d_rewire_delays", "grad_delays")])
def test_the_rewire_demo_config_is_the_studied_variant(demos_dir, demo, variant):
    """The rewiring presets are demos/rewire_study.py's variants at size 64, seed 0."""
    from demos.rewire_study import DATASETS, TEMPLATE, VARIANTS
    from spikelut.config import load_config

    spec = DATASETS["mnist1d"]
    wiring, over = VARIANTS[variant]
    over = {k: (spec["delay_range"] if v == "dataset" else v) for k, v in over.items()}
    study = build_network(parse_config(TEMPLATE.format(
        seed=0, front=64, rec=64, wiring=wiring, inputs=spec["inputs"], delays=spec["delays"],
        out=spec["out"], classes=spec["classes"])))
    cfg = load_config(f"{demos_dir}/{demo}.toml")
    demo = build_network(cfg)
    assert demo.n_nodes == study.n_nodes == 228
    for a, b in zip(demo.layers, study.layers):
        for f in ("table", "source", "index", "delay"):
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    train = TrainConfig.from_dict(cfg["train"])
    want = TrainConfig.from_dict({"epochs": 15, "batch_size": spec["batch"], "lr": spec["lr"],
                                  "keep": "best", "seed": 0, **over})
    for key in ("epochs", "batch_size", "lr", "keep", "rewire_every", "rewire_fraction",
                "rewire_schedule", "rewire_candidates", "rewire_regrow", "rewire_batch",
                "rewire_sources", "rewire_delays", "rewire_ff_penalty"):
        assert getattr(train, key) == getattr(want, key), key
    assert (train.rewire_every, train.rewire_fraction, train.rewire_regrow) == (35, 0.1, "gradient")


def test_study_summary_pairs_seeds_and_interpolates_the_luts_random_needs():
    from demos.rewire_study import luts_to_match, summary

    rows = [dict(variant=v, luts=n, seed=s, val_acc=a, train_acc=t) for v, n, s, a, t in [
        ("random", 136, 0, 0.60, 0.61), ("random", 136, 1, 0.62, 0.63),
        ("random", 228, 0, 0.70, 0.70), ("random", 228, 1, 0.72, 0.74),
        ("random", 356, 0, 0.69, 0.75), ("random", 356, 1, 0.71, 0.75),
        ("rewired", 136, 0, 0.66, 0.70), ("rewired", 136, 1, 0.64, 0.66),
        ("rewired", 228, 0, 0.75, 0.80), ("rewired", 228, 1, 0.75, 0.78)]]
    assert summary(rows).splitlines()[2:] == [
        "| random | 136 | 2 | 61.0 ± 1.4 | 62.0 ± 1.4 |  |",
        "| random | 228 | 2 | 71.0 ± 1.4 | 72.0 ± 2.8 |  |",
        "| random | 356 | 2 | 70.0 ± 1.4 | 75.0 ± 0.0 |  |",
        "| rewired | 136 | 2 | 65.0 ± 1.4 | 68.0 ± 2.8 | +4.0 (+2.0 .. +6.0) |",
        "| rewired | 228 | 2 | 75.0 ± 0.0 | 79.0 ± 1.4 | +4.0 (+3.0 .. +5.0) |"]
    # random's curve 61 / 71 / 70 % is taken as 61 / 71 / 71 (the fewest LUTs reaching it):
    # 65 % lies 4/10 of the way from 136 to 228 LUTs; 75 % is beyond the largest random network
    assert luts_to_match(rows, "rewired").splitlines()[2:] == [
        "| rewired | 136 | 65.0 | 173 | 79% |",
        "| rewired | 228 | 75.0 | > 356 | < 64% |"]


def test_study_defines_variants_and_refuses_bad_ones(tmp_path, capsys):
    pytest.importorskip("aeon")
    from demos.rewire_study import main as study

    assert study(["--dataset", "ItalyPowerDemand", "--sizes", "8", "--epochs", "2", "--seeds",
                  "0", "1", "--variants", "random", "--define", "often", "serial",
                  '{"rewire_every": 1, "rewire_fraction": 0.5}', "--backend", "numpy",
                  "--out", str(tmp_path)]) == 0
    rows = [json.loads(s) for s in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [(r["seed"], r["variant"]) for r in rows] == [
        (0, "random"), (0, "often"), (1, "random"), (1, "often")]
    assert rows[0]["swapped"] == 0 and rows[1]["swapped"] > 0
    out = capsys.readouterr().out
    assert "| often | 36 | 2 |" in out  # the summary over the two seeds
    with pytest.raises(SystemExit) as e:
        study(["--define", "x", "random", "{rewire_every: 1}", "--out", str(tmp_path)])
    assert e.value.code == 2
    assert "--define x: '{rewire_every: 1}' is not a JSON object" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        study(["--variants", "nope", "--out", str(tmp_path)])
    assert "unknown variant(s) nope" in capsys.readouterr().err


def test_a_run_too_short_to_rewire_says_so(capsys):
    x, y = needle_data(100)  # batch 50: 2 steps per epoch, 2 before the last of 2 epochs
    res = Trainer(needle_net(1), rewire_cfg(epochs=2, rewire_every=5), progress=False).fit((x, y))
    assert sum(sum(r["rewired"]) for r in res.history) == 0
    assert capsys.readouterr().err == (
        "spikelut: warning: rewire_every = 5 optimizer steps, but the run has 2 before its last "
        "epoch (rewiring stops there): the wiring will not change; lower rewire_every or train "
        "more epochs\n")
