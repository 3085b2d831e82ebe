"""spikelut.analysis and spikelut.prune: Boolean-function measures, data statistics, attribution,
exact pruning, the trainer's table dynamics, and the analyze / prune commands."""

import dataclasses
import json

import numpy as np
import pytest

from helpers import chain, layer
from spikelut.analysis import (analyze_network, data_stats, degree, gradient_map, influences,
                               occlusion_map, table_dynamics, walsh)
from spikelut.cli import main
from spikelut import backends
from spikelut.backends import get_backend
from spikelut.errors import FileFormatError
from spikelut.io import load_model, save_model, save_spikes
from spikelut.network import Layer, Network, Readout
from spikelut.prune import prune_network
from spikelut.wiring import random_network

IN = -1


def parity(k):
    a = np.arange(1 << k)
    return np.array([[bin(v).count("1") & 1 for v in a]], np.uint8)


# ---------------------------------------------------------------------------- Boolean measures
@pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
def test_parity_taps_have_influence_one_and_degree_k(k):
    assert influences(parity(k)).tolist() == [[1.0] * k]
    assert degree(parity(k)).tolist() == [k]
    w = walsh(parity(k))[0]
    assert w[(1 << k) - 1] == 1 << k and not w[:-1].any()   # all weight on the full set


def test_ignored_tap_has_influence_zero():
    a = np.arange(8)
    f = ((a & 1) & ((a >> 2) & 1)).astype(np.uint8)[None]      # x0 AND x2, ignores x1
    assert influences(f).tolist() == [[0.5, 0.0, 0.5]]
    assert degree(f).tolist() == [2]
    # weighted: on addresses 5 (x0 = x2 = 1) and 0 only, x0 and x2 are pivotal at 5 only
    w = np.zeros((1, 8)); w[0, 5], w[0, 0] = 3, 1
    assert influences(f, w).tolist() == [[0.75, 0.0, 0.75]]


def test_degree_of_small_functions():
    tables = np.array([[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 1], [0, 0, 0, 1], [0, 1, 1, 1]], np.uint8)
    assert degree(tables).tolist() == [0, 0, 1, 2, 2]


def test_total_influence_equals_fourier_formula():
    # O'Donnell section 2.3, Fourier formula for total influence: I[f] = sum_S |S| hat f(S)^2
    rng = np.random.default_rng(0)
    t = rng.integers(0, 2, (50, 32)).astype(np.uint8)
    hat = walsh(t) / 32.0
    pop = np.array([bin(s).count("1") for s in range(32)])
    np.testing.assert_allclose(influences(t).sum(axis=1), (pop * hat ** 2).sum(axis=1))
    np.testing.assert_allclose((hat ** 2).sum(axis=1), 1.0)               # Parseval


# ---------------------------------------------------------------------------- data statistics
def test_refractory_gate_activity_and_data_entropy():
    # copies input 0 with R = 1: a = 1 on every cycle, the gate removes every second spike
    net = chain(1, [layer([(IN, 0, 0), (IN, 0, 0)], [0, 0, 0, 1], refractory=1)])
    d = data_stats(net, np.ones((4, 2, 1), np.uint8))[0]
    assert d.a_ones.tolist() == [8] and d.spikes.tolist() == [4]
    assert d.gate_suppressed.tolist() == [4]
    assert d.address_counts.tolist() == [[0, 0, 0, 8]]
    assert d.data_entropy.tolist() == [0.0] and d.stuck.tolist() == [False]
    row = analyze_network(net, np.ones((4, 2, 1), np.uint8)).rows()[0]
    assert (row["gate_suppressed"], row["gate_suppressed_fraction"], row["spike_rate"]) == (4, 0.5, 0.5)
    assert row["unused_taps"] == "" and row["data_unused_taps"] == ""


def test_constant_and_dead_nodes_are_found():
    hid = layer([[(IN, 0, 0), (IN, 1, 0)], [(IN, 0, 0), (IN, 1, 0)], [(IN, 0, 0), (IN, 1, 0)]],
                [[0, 1, 1, 0], [0, 0, 0, 0], [0, 1, 1, 1]])
    out = layer([(0, 0, 0), (0, 1, 1)], [0, 1, 0, 1])             # reads node 0; node 1 ignored
    an = analyze_network(chain(2, [hid, out]))
    assert an.exact[0].constant.tolist() == [False, True, False]
    assert an.exact[0].dead.tolist() == [False, True, True]
    assert an.exact[0].removable.tolist() == [False, True, True]
    assert an.exact[1].removable.tolist() == [False]             # readout nodes are outputs
    assert an.exact[1].influence.tolist() == [[1.0, 0.0]]


# ---------------------------------------------------------------------------- attribution
def hand_net():
    """Class 0 node copies input 0 one cycle late, class 1 node copies input 1 now."""
    return chain(2, [layer([[(IN, 0, 1), (IN, 1, 0)], [(IN, 0, 1), (IN, 1, 0)]],
                           [[0, 1, 0, 1], [0, 0, 1, 1]])], classes=2, class_of=[0, 1])


def test_occlusion_on_a_hand_built_network():
    x = np.array([[1, 0], [1, 0], [0, 1]], np.uint8)            # counts [2, 1] -> class 0
    for backend in ("numpy", "numba"):
        occ = occlusion_map(hand_net(), x, backend=backend, chunk=4)  # two calls of 4 flips
        assert occ.counts.tolist() == [2, 1] and occ.pred == 0
        assert occ.delta_pred.T.tolist() == [[-1, -1, 0], [0, 0, 0]]
        assert occ.votes_changed.T.tolist() == [[1, 1, 0], [1, 1, 1]]
        # flipping input 1 at cycle 0 or 1 ties the counts [2, 2]: ties go to class 0
        assert occ.pred_changed.T.tolist() == [[False, False, False], [False, False, False]]
        assert occ.effect.T.tolist() == [[1, 1, 0], [0, 0, 0]]


def test_occlusion_finds_the_deciding_spike():
    x = np.array([[1, 0], [0, 1], [0, 1]], np.uint8)            # counts [1, 2] -> class 1
    occ = occlusion_map(hand_net(), x)
    assert occ.pred == 1
    # removing either input-1 spike, or adding an input-0 spike at cycle 1, makes it a tie -> 0
    assert occ.pred_changed.T.tolist() == [[False, True, False], [False, True, True]]


def _stats_arrays(stats):
    return [{f.name: getattr(d, f.name) for f in dataclasses.fields(d)} for d in stats]


def _assert_same_stats(got, want):
    for g, w in zip(_stats_arrays(got), _stats_arrays(want)):
        assert g.keys() == w.keys()
        for key in w:
            # exact: integer counts, and floats computed from identical integers
            np.testing.assert_array_equal(g[key], w[key], err_msg=key)


@pytest.mark.parametrize("seed", [0, 1])
def test_data_stats_in_chunks_equal_one_batch(seed, monkeypatch):
    import spikelut.analysis as analysis
    from spikelut.engine import reference

    net = random_network(seed, n_in=3, sizes=[6, 5, 4], k=[2, 3, 4], refractory=[0, 1, 2])
    x = np.random.default_rng(seed).integers(0, 2, (17, 7, 3), dtype=np.uint8)
    whole = data_stats(net, x, chunk=7)                 # one batch: the unchunked computation
    spikes = reference.simulate(net, x).layer_spikes    # an independent engine
    assert [d.spikes.tolist() for d in whole] == [s.sum(axis=(0, 1)).tolist() for s in spikes]
    assert all(d.address_counts.sum() == 17 * 7 * len(d.spikes) for d in whole)
    for chunk in (1, 3, 4, 100):                        # 3 and 4: several and a partial last one
        _assert_same_stats(data_stats(net, x, chunk=chunk), whole)
    # small working budgets: 1 B = one sample per batch, one cycle per bincount slice;
    # 40 kB = 7-11 cycles per slice of the 17, the last one partial
    for budget in (1, 40_000):
        monkeypatch.setattr(analysis, "WORK_BYTES", budget)
        _assert_same_stats(data_stats(net, x), whole)


def test_occlusion_in_chunks_equals_one_call(monkeypatch):
    import spikelut.analysis as analysis

    net = random_network(3, n_in=4, sizes=[8, 6], k=3, refractory=1, classes=3)
    x = np.random.default_rng(3).integers(0, 2, (40, 4), dtype=np.uint8)   # 160 flips
    whole = occlusion_map(net, x, backend="numba", chunk=160)
    assert whole.pred_changed.any() or whole.votes_changed.any()      # the flips do something
    monkeypatch.setattr(analysis, "WORK_BYTES", 1)                    # default: 64 flips a call
    for chunk in (None, 7, 64, 159):
        occ = occlusion_map(net, x, backend="numba", chunk=chunk)
        for f in dataclasses.fields(occ):
            np.testing.assert_array_equal(getattr(occ, f.name), getattr(whole, f.name),
                                          err_msg=f"{f.name}, chunk {chunk}")


def test_bad_chunks_are_refused():
    from spikelut.errors import ConfigError

    net = random_network(0, n_in=2, sizes=[3, 2], k=2)
    with pytest.raises(ConfigError, match=r"^chunk must be a positive number of samples, got 0$"):
        data_stats(net, np.zeros((3, 2, 2), np.uint8), chunk=0)
    with pytest.raises(ConfigError, match=r"^chunk must be a positive number of flips, got -1$"):
        occlusion_map(net, np.zeros((3, 2), np.uint8), chunk=-1)


def test_gradient_map_follows_the_taps():
    g, target = gradient_map(hand_net(), np.array([[1, 0], [1, 0], [0, 1]], np.uint8))
    assert target == 0 and g.shape == (3, 2)
    # class 0's count reads input 0 at cycles 0 and 1 (delay 1) and never input 1
    assert (g[:2, 0] > 0).all() and g[2, 0] == 0 and not g[:, 1].any()
    g1, _ = gradient_map(hand_net(), np.array([[1, 0], [1, 0], [0, 1]], np.uint8), target=1)
    assert (g1[:, 1] > 0).all() and not g1[:, 0].any()


# ---------------------------------------------------------------------------- pruning
def known_dead():
    """Node 1 of layer 0 is constant 0, node 2 is read by nobody; the output ignores tap 2."""
    hid = layer([[(IN, 0, 0), (IN, 1, 1)], [(IN, 0, 0), (IN, 1, 0)], [(IN, 1, 0), (IN, 0, 1)]],
                [[0, 1, 1, 0], [0, 0, 0, 0], [1, 0, 0, 1]], refractory=1)
    a = np.arange(8)
    # out = L0.n0 (delay 1) OR L0.n1 (delay 2); tap 2 (input 0) ignored
    out = layer([(0, 0, 1), (0, 1, 2), (IN, 0, 0)], ((a & 1) | ((a >> 1) & 1)).astype(np.uint8))
    return chain(2, [hid, out])


def assert_same_outputs(a, b, seed=0, T=20, B=200):
    x = (np.random.default_rng(seed).random((T, B, a.n_in)) < 0.5).astype(np.uint8)
    ref = get_backend("numpy").simulate
    ra, rb = ref(a, x), ref(b, x)
    ia, ib = a.readout.layer, b.readout.layer
    np.testing.assert_array_equal(ra.layer_spikes[ia], rb.layer_spikes[ib])
    np.testing.assert_array_equal(ra.counts, rb.counts)


def test_prune_removes_a_known_dead_node_and_keeps_every_output_bit():
    net = known_dead()
    small, rep = prune_network(net, verify_samples=16)
    assert small.sizes == [1, 1] and [la.k for la in small.layers] == [2, 1]  # the copy: a LUT1
    assert rep["luts"] == {"before": 4, "after": 2, "saved": 2}
    # before: L0 nodes 0, 1 (R=1) and 2 hold 1 + 2 + 1 flip-flops, input 1 one; after: L0.n0
    assert rep["flip_flops"] == {"before": net.flip_flops(), "after": 2,
                                 "saved": net.flip_flops() - 2}
    assert rep["constant_nodes"] == 1 and rep["dead_nodes"] == 2 and rep["fixed_taps"] == 1
    assert rep["verified"]["mismatches"] == 0
    out = small.layers[1]
    assert (out.source.tolist(), out.index.tolist(), out.delay.tolist()) == ([[0]], [[0]], [[1]])
    assert out.table.tolist() == [[0, 1]]                        # OR with a constant 0 = copy (LUT1)
    assert_same_outputs(net, small)
    assert small.layers[0].name == "L0" and net.sizes == [3, 1]  # the original is untouched


def test_prune_drops_a_layer_left_empty_and_keeps_logits_consistent():
    hid = Layer(np.array([[0, 1, 1, 0]], np.uint8), [[IN, IN]], [[0, 1]], [[0, 0]],
                logits=np.array([[-1, 1, 1, -1]], np.float32))
    out = Layer(np.array([[0, 1, 0, 1]], np.uint8), [[IN, 0]], [[0, 0]], [[0, 1]],
                logits=np.array([[-0.5, 0.5, -0.2, 0.7]], np.float32))
    net = Network(2, [hid, out], Readout(1, [0], 1))
    small, rep = prune_network(net)
    assert small.sizes == [1] and small.readout.layer == 0
    assert small.layers[0].k == 1 and small.layers[0].logits.tolist() == [[-0.5, 0.5]]  # a LUT1
    assert_same_outputs(net, small)


def test_cli_prune_names_a_removed_layer(tmp_path, capsys):
    hid = Layer(np.array([[0, 1, 1, 0]], np.uint8), [[IN, IN]], [[0, 1]], [[0, 0]])
    out = Layer(np.array([[0, 1, 0, 1]], np.uint8), [[IN, 0]], [[0, 0]], [[0, 1]])
    save_model(Network(2, [hid, out], Readout(1, [0], 1)), tmp_path / "m.h5")
    code, text, _ = cli(capsys, "prune", tmp_path / "m.h5", "-o", tmp_path / "p.h5")
    assert code == 0 and "  layer 0 'L0': nodes 1 -> 0, k 2 -> (layer removed)" in text.splitlines()


@pytest.mark.parametrize("seed", range(8))
def test_prune_is_exact_on_random_degenerate_networks(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 5))
    base = random_network(seed, n_in=3, sizes=[8, 6, 4], k=k, refractory=int(rng.integers(0, 3)),
                          max_delay=3)
    layers = []
    for la in base.layers:
        t = la.table.copy()
        for j in range(la.n):
            kind = rng.integers(0, 3)
            if kind == 0:
                t[j] = rng.integers(0, 2)                       # constant
            elif kind == 1:
                t[j] = (np.arange(1 << la.k) >> rng.integers(0, la.k)) & 1   # one tap matters
        layers.append(Layer(t, la.source, la.index, la.delay, la.refractory, la.name))
    net = Network(base.n_in, layers, base.readout)
    small, rep = prune_network(net, verify_samples=8, seed=seed)
    assert rep["luts"]["after"] <= rep["luts"]["before"]
    assert_same_outputs(net, small, seed=seed + 100)


def test_constant_on_the_data_is_reported_not_pruned():
    # the node fires only when both inputs spike together, which the data never does
    hid = layer([(IN, 0, 0), (IN, 1, 0)], [0, 0, 0, 1])
    out = layer([(0, 0, 0), (IN, 0, 0)], [0, 1, 1, 1])
    net = chain(2, [hid, out])
    x = np.zeros((6, 3, 2), np.uint8); x[::2, :, 0] = 1       # input 1 never spikes
    small, rep = prune_network(net, data=x)
    assert rep["luts"]["saved"] == 0
    assert rep["data_only"]["stuck_nodes"] == 1
    assert rep["data_only"]["stuck"] == [{"layer": 0, "node": 0, "value": 0}]


# ---------------------------------------------------------------------------- learning dynamics
def test_table_dynamics_counts_sign_changes():
    d = table_dynamics([np.array([[0.2, -0.1, 0.01]])], [np.array([[-0.2, -0.3, 0.02]])])
    assert d == {"flips": [1], "mean_abs_logit": [0.173333], "near_zero": [pytest.approx(1 / 3)]}


def test_trainer_logs_table_flips_per_layer():
    from spikelut.train import TrainConfig, Trainer

    net = random_network(0, n_in=4, sizes=[16, 4], k=3, classes=2)
    x = (np.random.default_rng(0).random((6, 20, 4)) < 0.5).astype(np.uint8)
    y = (x[:, :, 0].sum(axis=0) > 3).astype(np.int64)
    tr = Trainer(net, TrainConfig(epochs=1, batch_size=10, seed=1, lr=0.05), progress=False)
    init = [p.copy() for p in tr.params]
    rec = tr.fit((x, y)).history[0]
    assert rec["flips"] == [int(((a > 0) != (b > 0)).sum()) for a, b in zip(init, tr.params)]
    assert rec["mean_abs_logit"] == [round(float(np.abs(p).mean()), 6) for p in tr.params]
    assert len(rec["near_zero"]) == 2


def test_learning_dynamics_needs_the_new_log_keys(tmp_path):
    from spikelut.plot import learning_dynamics

    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps({"epoch": 1, "loss": 1.0, "acc": 0.5}) + "\n")
    with pytest.raises(FileFormatError, match="has no table dynamics"):
        learning_dynamics(log)
    log.write_text(json.dumps({"epoch": 1, "loss": 1.0, "acc": 0.5, "flips": [3, 1],
                               "mean_abs_logit": [0.1, 0.2], "near_zero": [0.5, 0.1]}) + "\n")
    assert learning_dynamics(log, tmp_path / "d.png", size=(300, 300)).stat().st_size > 0


# ---------------------------------------------------------------------------- commands
def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path):
    net = known_dead()
    save_model(net, tmp_path / "m.h5")
    x = (np.random.default_rng(0).random((8, 6, 2)) < 0.5).astype(np.uint8)
    save_spikes(tmp_path / "d.h5", x, labels=np.zeros(6, np.int64))
    save_spikes(tmp_path / "d3.h5", np.zeros((8, 6, 3), np.uint8))
    save_spikes(tmp_path / "d9.h5", x, labels=np.full(6, 9, np.int64))  # beyond the readout's
    return tmp_path


def test_cli_analyze_json_and_files(files, capsys):
    code, out, _ = cli(capsys, "analyze", files / "m.h5", files / "d.h5", "-o", files / "an",
                       "--samples", 0, 2, "--json")
    assert code == 0
    rep = json.loads(out)
    assert rep["ok"] and rep["network"] == {"nodes": 4, "flip_flops": 6, "layers": 2, "inputs": 2}
    assert [(s["dead"], s["constant"], s["removable"]) for s in rep["layers"]] == [(1, 1, 2), (0, 0, 0)]
    assert rep["prunable"]["luts"]["saved"] == 2
    assert [a["sample"] for a in rep["attribution"]] == [0, 2]
    names = sorted(p.name for p in (files / "an").iterdir())
    assert names == ["attribution_0.png", "attribution_2.png", "nodes.csv", "summary.txt"]
    csv = (files / "an" / "nodes.csv").read_text().splitlines()
    assert len(csv) == 1 + 4 and csv[0].startswith("layer,layer_name,node,k,")
    assert "exact pruning would save 2 of 4 LUTs" in (files / "an" / "summary.txt").read_text()


def test_cli_prune_writes_an_equivalent_model(files, capsys):
    code, out, _ = cli(capsys, "prune", files / "m.h5", "--data", files / "d.h5",
                       "-o", files / "p.h5", "--json")
    rep = json.loads(out)
    assert code == 0 and rep["luts"]["saved"] == 2 and rep["verified"]["mismatches"] == 0
    assert "data_only" in rep
    assert_same_outputs(load_model(files / "m.h5"), load_model(files / "p.h5"))
    code, out, _ = cli(capsys, "prune", files / "m.h5", "-o", files / "p2.h5")
    assert code == 0 and "LUTs 4 -> 2 (saved 2)" in out


@pytest.mark.parametrize("argv, message", [
    (["analyze", "m.h5", "missing.h5"], "missing.h5"),
    (["analyze", "m.h5", "d.h5", "--samples", "9"], "sample 9 out of range: the data has 6 samples"),
    (["analyze", "d.h5", "d.h5"], "d.h5"),
    (["analyze", "m.h5", "d3.h5"], "d3.h5: spikes of shape (8, 6, 3) do not fit the model, which needs "
                                   "[T, B >= 1, 2]"),
    (["prune", "m.h5", "--data", "d3.h5", "-o", "p.h5"], "d3.h5: spikes of shape (8, 6, 3)"),
    (["analyze", "m.h5", "d9.h5"], "d9.h5: label 9 is out of range"),
    (["analyze", "m.h5", "d.h5", "--limit", "0"], "limit must be a positive number of samples"),
    (["prune", "m.h5", "-o", "m.h5"], "is also an input"),
    (["prune", "m.h5", "-o", "p.h5", "--verify-samples", "0"], "--verify-samples must be >= 1"),
])
def test_cli_bad_input_is_one_line_and_exit_1(files, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(files)
    for extra in ([], ["--json"]):
        code, out, err = cli(capsys, *argv, *extra)
        assert code == 1
        assert len(err.strip().splitlines()) == 1 and message in err
        if extra:
            obj = json.loads(out)
            assert obj["ok"] is False and message in obj["error"]


def test_cli_analyze_and_prune_take_backend_and_the_old_engine_word(files, capsys, monkeypatch):
    code, out, err = cli(capsys, "analyze", files / "m.h5", files / "d.h5", "--backend", "numpy",
                         "--json")
    assert code == 0 and err == ""
    want = json.loads(out)["attribution"]
    code, out, err = cli(capsys, "analyze", files / "m.h5", files / "d.h5", "--engine", "bitsliced",
                         "--json")
    assert code == 0 and json.loads(out)["attribution"] == want
    assert err == "spikelut analyze: note: --engine is deprecated; use --backend numba\n"
    code, out, err = cli(capsys, "prune", files / "m.h5", "-o", files / "p.h5", "--backend", "numba")
    assert code == 0 and "LUTs 4 -> 2 (saved 2)" in out and err == ""
    monkeypatch.setitem(backends._REGISTRY, "cuda", dataclasses.replace(
        backends._REGISTRY["cuda"], _missing=lambda: "CuPy is not installed"))
    code, out, err = cli(capsys, "prune", files / "m.h5", "-o", files / "p3.h5", "--backend", "cuda")
    assert (code, out) == (1, "")
    assert err == ("spikelut prune: error: backend 'cuda' is not available here: CuPy is not "
                   "installed; use --backend numba or --backend auto\n")
    assert not (files / "p3.h5").exists()
