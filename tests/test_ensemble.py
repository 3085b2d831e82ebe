"""Seed ensembles (spikelut.ensemble): members side by side, counts add, bit for bit."""

import json
import re

import h5py
import numpy as np
import pytest

from helpers import available_simulator

from spikelut.api import ensemble_files, simulate
from spikelut.cli import main
from spikelut.config import build_network, load_config
from spikelut.engine import reference
from spikelut.ensemble import ensemble, member_config, member_sizes, train_ensemble
from spikelut.errors import ConfigError, NetworkError
from spikelut.io import load_model, save_model, save_spikes
from spikelut.train import TrainConfig, Trainer
from spikelut.wiring import random_network


def _members():
    # different widths, every k, delays up to 3, self-loops and refractory periods
    return [random_network(s, n_in=4, sizes=[w, 3 + s, 4], k=[3, 2, 4], max_delay=3,
                           refractory=[1, 0, 2], classes=2, start=1)
            for s, w in ((0, 5), (1, 7), (2, 6))]


def _x(T=12, B=9, n_in=4, seed=0):
    return np.random.default_rng(seed).integers(0, 2, (T, B, n_in), dtype=np.uint8)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_each_members_spikes_are_unchanged_and_counts_add(backend):
    nets = _members()
    e = ensemble(nets)
    x = _x()
    got = simulate(e, x, backend=backend)
    want = [reference.simulate(n, x) for n in nets]
    for i in range(3):
        lo = 0
        for m, n in enumerate(nets):
            hi = lo + n.sizes[i]
            np.testing.assert_array_equal(np.asarray(got.layer_spikes[i])[:, :, lo:hi], want[m].layer_spikes[i])
            lo = hi
    np.testing.assert_array_equal(np.asarray(got.counts), sum(w.counts for w in want))
    np.testing.assert_array_equal(np.asarray(got.pred), np.argmax(sum(w.counts for w in want), 1))


def test_taps_are_reindexed_and_inputs_shared():
    a, b, _ = _members()
    e = ensemble([a, b])
    assert e.sizes == [12, 7, 8]
    L = e.layers[1]
    # member b's taps into layer 0 move by a's 5 nodes there; input taps stay
    sb = b.layers[1].source
    ib = b.layers[1].index
    expect = np.where(sb == 0, ib + 5, np.where(sb == 1, ib + 3, np.where(sb == 2, ib + 4, ib)))
    np.testing.assert_array_equal(L.index[3:], expect)
    np.testing.assert_array_equal(L.source[3:], sb)
    np.testing.assert_array_equal(L.table[3:], b.layers[1].table)
    np.testing.assert_array_equal(e.readout.class_of, np.r_[a.readout.class_of, b.readout.class_of])
    assert e.meta == {"ensemble": {"members": 2, "sizes": [[5, 3, 4], [7, 4, 4]]}}
    assert member_sizes(e) == [[5, 3, 4], [7, 4, 4]]
    # node registers add up; the input channels' delay lines are shared (the deeper one stays)
    da, db = a.register_depths(), b.register_depths()
    nodes = sum(v for (src, _), v in [*da.items(), *db.items()] if src >= 0)
    inputs = sum(max(da.get((-1, c), 0), db.get((-1, c), 0)) for c in range(4))
    assert e.flip_flops() == nodes + inputs < a.flip_flops() + b.flip_flops()


def test_model_file_round_trip_keeps_the_record(tmp_path):
    e = ensemble(_members())
    save_model(e, tmp_path / "e.h5")
    back = load_model(tmp_path / "e.h5")
    assert member_sizes(back) == member_sizes(e)
    x = _x(seed=3)
    np.testing.assert_array_equal(reference.simulate(back, x).counts, reference.simulate(e, x).counts)


def test_metadata_the_members_agree_on_is_kept():
    a, b, _ = _members()
    a = a.replace(meta={"train": {"epochs": 3, "loss": "ce_count"}, "note": "a"})
    b = b.replace(meta={"train": {"epochs": 3, "loss": "ce_count"}, "note": "b"})
    assert ensemble([a, b]).meta == {"train": {"epochs": 3, "loss": "ce_count"},
                                     "ensemble": {"members": 2, "sizes": [[5, 3, 4], [7, 4, 4]]}}
    inner = ensemble([a, b])  # an ensemble of ensembles records its own members only
    assert ensemble([inner, inner]).meta["ensemble"]["members"] == 2


def test_a_record_that_does_not_fit_the_layers_is_ignored():
    a = _members()[0]
    assert member_sizes(a.replace(meta={"ensemble": {"sizes": [[1, 1, 1]]}})) is None
    assert member_sizes(a.replace(meta={"ensemble": {"sizes": [[5, 3, True]]}})) is None


@pytest.mark.parametrize("change, message", [
    (lambda n: random_network(9, n_in=5, sizes=[5, 3, 4], k=[3, 2, 4], refractory=[1, 0, 2],
                              classes=2, start=1), "inputs 5 vs 4"),
    (lambda n: random_network(9, n_in=4, sizes=[5, 4], k=[3, 4], classes=2, start=1),
     "number of layers 2 vs 3"),
    (lambda n: random_network(9, n_in=4, sizes=[5, 3, 4], k=[3, 3, 4], refractory=[1, 0, 2],
                              classes=2, start=1), "layer 1 k 3 vs 2"),
    (lambda n: random_network(9, n_in=4, sizes=[5, 3, 4], k=[3, 2, 4], refractory=[0, 0, 2],
                              classes=2, start=1), "layer 0 refractory 0 vs 1"),
    (lambda n: random_network(9, n_in=4, sizes=[5, 3, 4], k=[3, 2, 4], refractory=[1, 0, 2],
                              classes=2, start=0), "readout start 0 vs 1"),
    (lambda n: random_network(9, n_in=4, sizes=[5, 3, 4], k=[3, 2, 4], refractory=[1, 0, 2],
                              classes=4, start=1), "readout classes 4 vs 2"),
])
def test_members_that_do_not_fit_are_refused_naming_the_field(change, message):
    a = _members()[0]
    with pytest.raises(NetworkError) as e:
        ensemble([a, a, change(a)])
    assert str(e.value) == (f"ensemble member 2 does not fit member 0: {message}; every member "
                            f"needs the same inputs, layers (k, refractory), readout layer, "
                            f"classes and start")


def test_members_that_do_not_fit_are_named_by_their_files(tmp_path, capsys):
    """spikelut ensemble a.h5 b.h5: the mismatch names both model files, not only indices."""
    a = _members()[0]
    b = random_network(9, n_in=4, sizes=[5, 3, 4], k=[3, 2, 4], refractory=[0, 0, 2], classes=2,
                       start=1)
    fa, fb, out = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "e.h5"
    save_model(a, fa)
    save_model(b, fb)
    assert main(["ensemble", str(fa), str(fb), "-o", str(out)]) == 1
    assert capsys.readouterr().err == (
        f"spikelut ensemble: error: ensemble member 1 ({fb}) does not fit member 0 ({fa}): layer 0 "
        f"refractory 0 vs 1; every member needs the same inputs, layers (k, refractory), readout "
        f"layer, classes and start\n")
    assert not out.exists()
    # networks given directly (no file) keep their index only
    with pytest.raises(NetworkError) as e:
        ensemble_files([fa, b])
    assert str(e.value).startswith(f"ensemble member 1 does not fit member 0 ({fa}): layer 0 "
                                   f"refractory 0 vs 1; ")


def test_no_members_and_analog_members_are_refused():
    with pytest.raises(NetworkError, match=r"needs 1 to 256 member networks, got 0"):
        ensemble([])
    a = _members()[0]
    analog = a.replace(meta={"analog": {"bits": 4, "noise": 0.0}})
    with pytest.raises(NetworkError, match=r"member 1 is an analog model"):
        ensemble([a, analog])


def test_member_config_moves_both_seeds_and_leaves_member_0_alone():
    cfg = {"seed": 4, "layers": [], "train": {"epochs": 2}}
    assert member_config(cfg, 0) == cfg
    m3 = member_config(cfg, 3)
    assert (m3["seed"], m3["train"]["seed"], m3["train"]["epochs"]) == (7, 7, 2)
    assert cfg == {"seed": 4, "layers": [], "train": {"epochs": 2}}  # not changed in place
    assert member_config({"seed": 1, "train": {"seed": 20}}, 2)["train"]["seed"] == 22


CFG = {
    "seed": 5, "inputs": 2,
    "layers": [{"name": "mem", "nodes": 10, "k": 3,
                "taps": [{"from": "input", "count": 2}, {"from": "self", "count": 1, "delay": 1}]},
               {"name": "out", "nodes": 4, "k": 3, "taps": [{"from": "mem", "count": 3}]}],
    "readout": {"classes": 2},
    "train": {"epochs": 2, "batch_size": 16, "backend": "numpy"},
}


def _data(B=48, T=10, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, (T, B, 2), dtype=np.uint8)
    return x, (x[0, :, 0] ^ x[1, :, 1]).astype(np.int64)


def test_member_0_is_the_single_network_run_and_the_ensemble_merges_the_members():
    x, y = _data()
    res = train_ensemble(dict(CFG, train=dict(CFG["train"], ensemble=3)), (x, y))
    single = Trainer(build_network(CFG), TrainConfig.from_dict(CFG["train"], seed=5)).fit((x, y))
    for a, b in zip(res.member_nets[0].layers, single.net.layers):
        np.testing.assert_array_equal(a.logits, b.logits)
    m1 = Trainer(build_network(member_config(CFG, 1)),
                 TrainConfig.from_dict(member_config(CFG, 1)["train"], seed=6)).fit((x, y))
    for a, b in zip(res.member_nets[1].layers, m1.net.layers):
        np.testing.assert_array_equal(a.logits, b.logits)
    assert len(res.member_nets) == 3 and res.net.sizes == [30, 12]
    assert res.net.meta["ensemble"]["seeds"] == [[5, 5], [6, 6], [7, 7]]
    counts = sum(reference.simulate(n, x).counts for n in res.member_nets)
    assert res.train_acc == float((np.argmax(counts, 1) == y).mean()) and res.val_acc is None
    assert member_sizes(res.net) == [[10, 4]] * 3
    np.testing.assert_array_equal(reference.simulate(res.net, x).counts,
                                  sum(reference.simulate(n, x).counts for n in res.member_nets))


def test_finished_members_are_read_back_and_resume_false_retrains(tmp_path):
    x, y = _data()
    files = lambda m: tmp_path / f"m{m}.h5"  # noqa: E731
    first = train_ensemble(CFG, (x, y), members=2, member_file=files)
    assert files(0).exists() and files(1).exists()
    again = train_ensemble(CFG, (x, y), members=2, member_file=files)
    assert again.members == [None, None]
    for a, b in zip(again.net.layers, first.net.layers):
        np.testing.assert_array_equal(a.table, b.table)
    fresh = train_ensemble(CFG, (x, y), members=2, member_file=files, resume=False)
    assert all(r is not None for r in fresh.members)


def test_a_member_file_of_another_config_or_data_is_not_reused(tmp_path):
    x, y = _data()
    files = lambda m: tmp_path / f"m{m}.h5"  # noqa: E731
    train_ensemble(CFG, (x, y), members=2, member_file=files)
    lr = dict(CFG, train=dict(CFG["train"], lr=0.05))
    with pytest.raises(ConfigError) as e:
        train_ensemble(lr, (x, y), members=2, member_file=files)
    assert str(e.value) == (f"{files(0)}: member 0 was trained with another config or other "
                            f"data; run without --resume to train it again")
    with pytest.raises(ConfigError, match="member 0 was trained with another config"):
        train_ensemble(CFG, (x[:, :40], y[:40]), members=2, member_file=files)
    lines = []
    again = train_ensemble(CFG, (x, y), members=2, member_file=files, echo=lines.append)
    assert lines == [f"member 0 (1/2): up to date ({files(0)})",
                     f"member 1 (2/2): up to date ({files(1)})"]
    assert again.net.meta["ensemble"]["members"] == 2 and "ensemble_member" not in again.net.meta


def test_a_trainer_refuses_an_ensemble_config():
    with pytest.raises(ConfigError) as e:
        Trainer(build_network(CFG), TrainConfig.from_dict({"ensemble": 3}))
    assert str(e.value).startswith("[train] ensemble = 3: a Trainer trains the one network it is "
                                   "given; an ensemble builds its members from the config")
    with pytest.raises(ConfigError, match=r"\[train\]: ensemble must be an integer 1..256, got 0"):
        TrainConfig.from_dict({"ensemble": 0})
    with pytest.raises(ConfigError, match=r"ensemble members must be an integer 1..256, got 0"):
        train_ensemble(CFG, _data(), members=0)


def test_ensemble_files_scores_members_and_the_ensemble(tmp_path):
    nets = _members()
    for i, n in enumerate(nets):
        save_model(n, tmp_path / f"m{i}.h5")
    x = _x(B=20, seed=4)
    y = np.arange(20) % 2
    save_spikes(tmp_path / "d.h5", x, y)
    rep = ensemble_files([tmp_path / f"m{i}.h5" for i in range(3)], tmp_path / "e.h5",
                         data=tmp_path / "d.h5", backend="numpy")
    counts = sum(reference.simulate(n, x).counts for n in nets)
    assert rep["accuracy"] == float((np.argmax(counts, 1) == y).mean())
    assert [m["accuracy"] for m in rep["member_reports"]] == [
        float((reference.simulate(n, x).pred == y).mean()) for n in nets]
    assert rep["luts"] == sum(n.n_nodes for n in nets) and rep["samples"] == 20
    assert member_sizes(load_model(tmp_path / "e.h5")) == [n.sizes for n in nets]


def test_data_for_another_network_is_named_by_its_width_not_a_label(tmp_path, capsys):
    # 6 channels and labels 0..4 for members with 4 inputs and 2 classes: the message named
    # "labels: label 2 is out of range" (no file) from the first member's evaluation
    nets = _members()
    for i, n in enumerate(nets[:2]):
        save_model(n, tmp_path / f"m{i}.h5")
    save_spikes(tmp_path / "d.h5", _x(B=10, n_in=6), np.arange(10) % 5)
    assert main(["ensemble", str(tmp_path / "m0.h5"), str(tmp_path / "m1.h5"), "-o",
                 str(tmp_path / "e.h5"), "--data", str(tmp_path / "d.h5")]) == 1
    assert capsys.readouterr().err == (
        f"spikelut ensemble: error: {tmp_path / 'd.h5'}: spikes have 6 channels but the network "
        f"has 4 inputs; encode the data for this network or use another model\n")
    assert not (tmp_path / "e.h5").exists()


def test_cli_merges_prints_json_and_refuses_bad_members(tmp_path, capsys):
    nets = _members()
    for i, n in enumerate(nets):
        save_model(n, tmp_path / f"m{i}.h5")
    save_spikes(tmp_path / "d.h5", _x(B=6), np.arange(6) % 2)
    args = ["ensemble", str(tmp_path / "m0.h5"), str(tmp_path / "m1.h5"), "-o",
            str(tmp_path / "e.h5"), "--data", str(tmp_path / "d.h5"), "--backend", "numpy"]
    assert main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["members"], out["luts"], out["samples"]) == (2, nets[0].n_nodes + nets[1].n_nodes, 6)
    assert main(args + ["--force"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"2 members, {out['luts']} LUTs") and "ensemble accuracy" in text
    # one member only; members that do not fit; the output is an input
    assert main(["ensemble", str(tmp_path / "m0.h5"), "-o", str(tmp_path / "x.h5")]) == 1
    assert capsys.readouterr().err.strip() == ("spikelut ensemble: error: an ensemble needs two or "
                                               "more member models, got 1")
    other = random_network(0, n_in=3, sizes=[4, 4], k=2, classes=2)
    save_model(other, tmp_path / "o.h5")
    assert main(["ensemble", str(tmp_path / "m0.h5"), str(tmp_path / "o.h5"), "-o",
                 str(tmp_path / "y.h5")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"spikelut ensemble: error: ensemble member 1 ({tmp_path / 'o.h5'}) "
                          f"does not fit member 0 ({tmp_path / 'm0.h5'}): inputs 3 vs 4") \
        and "\n" not in err
    assert not (tmp_path / "y.h5").exists()
    assert main(["ensemble", str(tmp_path / "m0.h5"), str(tmp_path / "m1.h5"), "-o",
                 str(tmp_path / "m1.h5")]) == 1
    assert "is also an input" in capsys.readouterr().err
    assert main(["ensemble", str(tmp_path / "m0.h5"), str(tmp_path / "m1.h5"),
                 str(tmp_path / "." / "m0.h5"), "-o", str(tmp_path / "w.h5")]) == 1
    assert capsys.readouterr().err.strip() == (
        f"spikelut ensemble: error: {tmp_path / '.' / 'm0.h5'}: given twice (as "
        f"{tmp_path / 'm0.h5'} too); each member model once")


def test_train_command_ensemble_writes_member_files_and_resumes(tmp_path, capsys):
    x, y = _data(B=40)
    save_spikes(tmp_path / "tr.h5", x, y)
    cfg = tmp_path / "c.toml"
    cfg.write_text("""seed = 5
inputs = 2
[[layers]]
name = "mem"
nodes = 10
k = 3
taps = [{from = "input", count = 2}, {from = "self", count = 1, delay = 1}]
[[layers]]
name = "out"
nodes = 4
k = 3
taps = [{from = "mem", count = 3}]
[readout]
classes = 2
[train]
epochs = 2
batch_size = 16
backend = "numpy"
""")
    ck, log, out = tmp_path / "ck.h5", tmp_path / "log.jsonl", tmp_path / "e.h5"
    args = ["train", str(cfg), "--data", str(tmp_path / "tr.h5"), "-o", str(out), "--ensemble",
            "2", "--checkpoint", str(ck), "--log", str(log), "--no-progress", "--json"]
    assert main(args) == 0
    rep = json.loads(capsys.readouterr().out)
    assert (rep["members"], rep["luts"]) == (2, 28)
    for name in ("ck.member0.h5", "ck.member1.h5", "ck.member0.model.h5", "ck.member1.model.h5",
                 "log.member0.jsonl", "log.member1.jsonl"):
        assert (tmp_path / name).exists(), name
    e = load_model(out)
    assert member_sizes(e) == [[10, 4], [10, 4]]
    want = train_ensemble(load_config(cfg), (x, y), members=2)
    for a, b in zip(e.layers, want.net.layers):
        np.testing.assert_array_equal(a.table, b.table)
    # --resume reads both finished members back: the same model, no member retrained
    assert main(args + ["--resume", "--force"]) == 0
    cap = capsys.readouterr()
    rep2 = json.loads(cap.out)
    assert cap.err.splitlines() == [
        f"spikelut train: member 0 (1/2): up to date ({tmp_path / 'ck.member0.model.h5'})",
        f"spikelut train: member 1 (2/2): up to date ({tmp_path / 'ck.member1.model.h5'})"]
    assert [m["epochs"] for m in rep2["member_runs"]] == [None, None]
    with h5py.File(out) as f:
        assert json.loads(f.attrs["meta"])["ensemble"]["members"] == 2
    assert main(["train", str(cfg), "--data", str(tmp_path / "tr.h5"), "-o",
                 str(tmp_path / "n.h5"), "--ensemble", "2", "--checkpoint",
                 str(tmp_path / "none.h5"), "--resume"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"spikelut train: error: {tmp_path / 'none.member0.h5'}: no member checkpoint or finished "
        f"member to resume from; run without --resume to start training")
    assert main(["train", str(cfg), "--data", str(tmp_path / "tr.h5"), "-o",
                 str(tmp_path / "z.h5"), "--ensemble", "0"]) == 1
    assert capsys.readouterr().err.strip() == ("spikelut train: error: --ensemble must be an "
                                               "integer 1..256, got 0")


@pytest.mark.rtl
@pytest.mark.skipif(available_simulator() is None, reason="no Verilog simulator (verilator/iverilog)")
def test_run_trains_an_ensemble_verifies_its_circuit_and_grows_it(tmp_path):
    from spikelut.pipeline import run_pipeline

    cfg = {"name": "tiny", "seed": 1, "inputs": 2,
           "data": {"dataset": "first_of_two", "limit_train": 80, "limit_test": 10,
                    "val_fraction": 0.25},
           "coding": {"steps": 20},
           "layers": CFG["layers"], "readout": {"classes": 2},
           "train": {"epochs": 2, "batch_size": 20, "ensemble": 2},
           "rtl": {"top": "ens_core", "simulator": available_simulator(), "synth": False,
                   "verify_samples": 0},
           "run": {"raster_samples": 1}}
    out = tmp_path / "out"
    lines = []
    rep = run_pipeline(cfg, out, progress=False, echo=lines.append)
    assert [l.strip() for l in lines[1:5]] == [
        "member 0 (1/2): training (wiring seed 1, [train] seed 1)",
        lines[2].strip(), "member 1 (2/2): training (wiring seed 2, [train] seed 2)",
        lines[4].strip()]
    assert lines[2].strip().startswith("member 0 (1/2): train acc")
    assert lines[4].strip().startswith("member 1 (2/2): train acc")
    js = json.loads((out / "report.json").read_text())
    assert js["cosim"]["ok"] is True and js["cosim"]["bit_mismatches"] == 0
    net = load_model(out / "model.h5")
    assert member_sizes(net) == [[10, 4], [10, 4]] and js["luts"] == 28
    assert js["network"]["ensemble"] == {"members": 2, "sizes": [[10, 4], [10, 4]]}
    assert "ensemble of 2: train acc" in lines[5] and rep["accuracy"] == js["accuracy"]
    for name in ("train/log.jsonl", "train/log-member1.jsonl"):
        assert (out / name).exists(), name
    # growing to 3 members trains only the new one: members 0 and 1 are read back
    cfg["train"]["ensemble"] = 3
    lines = []
    run_pipeline(cfg, out, progress=False, echo=lines.append)
    member_lines = [l.strip() for l in lines if l.strip().startswith("member ")]
    assert member_lines[0].startswith("member 0 (1/3): up to date")
    assert member_lines[1].startswith("member 1 (2/3): up to date")
    assert member_lines[2] == "member 2 (3/3): training (wiring seed 3, [train] seed 3)"
    assert member_lines[3].startswith("member 2 (3/3): train acc")
    assert member_sizes(load_model(out / "model.h5")) == [[10, 4]] * 3
    js = json.loads((out / "report.json").read_text())
    assert js["stages"]["train"]["epochs"] == 2 and js["stages"]["train"]["members"] == 3


def test_info_names_the_members(tmp_path, capsys):
    save_model(ensemble(_members()), tmp_path / "e.h5")
    assert main(["info", str(tmp_path / "e.h5")]) == 0
    assert capsys.readouterr().out.strip().endswith(
        "ensemble of 3 members side by side (class counts add); member sizes: 5-3-4; 7-4-4; 6-5-4")
    assert main(["info", str(tmp_path / "e.h5"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ensemble"] == {
        "members": 3, "sizes": [[5, 3, 4], [7, 4, 4], [6, 5, 4]]}


@pytest.mark.parametrize("other, said", [
    ({"coding": "rate"}, "coding rate vs thermometer"),
    ({"coding": "thermometer", "params": {"levels": 8}}, 'params {"levels": 8} vs {"levels": 4}'),
    # both lag kinds differ: naming only one would send the user to fix half of it
    ({"coding": "thermometer", "params": {"levels": 4},
      "differences": {"lags": [2], "second_lags": [], "lo": [-1.0], "hi": [1.0]}},
     "differences [2] and second_differences [] vs differences [] and second_differences [3]"),
])
def test_members_trained_on_other_encodings_are_refused_naming_the_difference(other, said):
    """The member check and the spike-file check share one comparison (io.encoding_difference)."""
    a, b, _ = _members()
    a.meta["data"] = {"coding": "thermometer", "params": {"levels": 4},
                      "differences": {"lags": [], "second_lags": [3], "lo": [-1.0], "hi": [1.0]}}
    b.meta["data"] = other
    with pytest.raises(NetworkError, match=r"^ensemble member 1 was trained on data encoded "
                                           r"otherwise than member 0 \(" + re.escape(said) + r"\); "):
        ensemble([a, b])
    b.meta["data"] = json.loads(json.dumps(a.meta["data"]))  # the same record merges
    assert ensemble([a, b]).n_nodes == a.n_nodes + b.n_nodes
