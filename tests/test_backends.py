"""The backend registry: names, what each supports, one-line refusals, the --backend flag and the
deprecated --engine/--device words, `spikelut backends`, and the API's evaluate."""

import json

import numpy as np
import pytest

import spikelut as sl
from spikelut import api
from spikelut.backends import backend_from_legacy, get_backend, list_backends
from spikelut.cli import main
from spikelut.errors import ConfigError, ToolError
from spikelut.io import load_result, save_model, save_spikes
from spikelut.pipeline import RunSettings
from spikelut.train import bptt
from spikelut.train.surrogates import get_surrogate
from spikelut.wiring import random_network
from spikelut.xp import gpu_available

NO_GPU = pytest.mark.skipif(gpu_available(), reason="this machine has a GPU")


def test_registry():
    assert [(b.name, b.device) for b in list_backends()] == [("numpy", "cpu"), ("numba", "cpu"),
                                                             ("cuda", "gpu")]
    for b in list_backends():
        assert b.supports == {"simulate", "train_forward", "train_backward"}
        assert callable(b.train_forward) and callable(b.train_backward)
    assert get_backend("numpy").why_unavailable() is None and get_backend("numpy").xp() is np
    assert get_backend("auto").name == ("cuda" if gpu_available() else "numba")


def test_unknown_backend_and_capability():
    with pytest.raises(ConfigError, match=r"^unknown backend 'tpu'; choose one of auto, numpy, "
                                          r"numba, cuda$"):
        get_backend("tpu")
    with pytest.raises(ConfigError, match=r"^unknown backend capability 'fly'; choose one of "
                                          r"simulate, train_forward, train_backward$"):
        get_backend("numpy", "fly")


@NO_GPU
def test_unavailable_backend_is_one_line():
    why = get_backend("numpy").why_unavailable()
    assert why is None
    with pytest.raises(ToolError) as e:
        get_backend("cuda", "train_backward")
    msg = str(e.value)
    why = list_backends()[2].why_unavailable()
    assert why.startswith("CuPy ") and "\n" not in msg
    assert msg == f"backend 'cuda' is not available here: {why}; use --backend numba or --backend auto"


def test_legacy_words_map_onto_backends():
    m = backend_from_legacy
    assert m(None) == ("auto", None) and m("numba") == ("numba", None)
    assert m(None, "reference") == ("numpy", "--engine is deprecated; use --backend numpy")
    assert m(None, "bitsliced", "cpu") == ("numba", "--engine and --device are deprecated; "
                                                    "use --backend numba")
    assert m(None, "gpu")[0] == "cuda" and m(None, None, "gpu")[0] == "cuda"
    assert m(None, "auto", "cpu")[0] == "numba" and m(None, "auto", "auto")[0] == "auto"
    assert m("numpy", "bitsliced")[0] == "numpy"  # the new word wins
    with pytest.raises(ConfigError, match="unknown engine 'fast'"):
        m(None, "fast")
    with pytest.raises(ConfigError, match="unknown backend 'fast'"):
        m("fast")


def test_every_backend_simulates_alike():
    net = random_network(2, n_in=4, sizes=[9, 5], k=[3, 4], max_delay=2, refractory=[1, 0])
    x = sl.random_spikes(4, steps=7, batch=70, rate=0.4, seed=1)
    ref = get_backend("numpy").simulate(net, x)
    res = get_backend("numba").simulate(net, x, record="readout")
    assert res.layer_spikes[0] is None
    np.testing.assert_array_equal(res.layer_spikes[1], ref.layer_spikes[1])
    np.testing.assert_array_equal(res.counts, ref.counts)
    np.testing.assert_array_equal(api.simulate(net, x, backend="numpy").pred, ref.pred)


def test_training_passes_through_the_registry():
    net = random_network(3, n_in=3, sizes=[6, 2], k=3, refractory=1, classes=2)
    plan = bptt.compile_plan(net)
    rng = np.random.default_rng(0)
    x = (rng.random((5, 20, 3)) < 0.5).astype(np.uint8)
    thetas = [rng.normal(0, 0.3, layer.table.shape).astype(np.float32) for layer in net.layers]
    g = [None, rng.normal(0, 1, (5, 20, 2)).astype(np.float32)]
    sg = get_surrogate("fast_sigmoid")
    out = {}
    for name in ("numpy", "numba"):
        b = get_backend(name, "train_backward")
        fwd = b.train_forward(plan, bptt.tables_of(thetas), x)
        out[name] = (fwd, b.train_backward(plan, thetas, fwd, g, sg)[0])
    np.testing.assert_array_equal(out["numpy"][0].hist, out["numba"][0].hist)
    for a, b in zip(out["numpy"][1], out["numba"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_evaluate_confusion_matrix():
    net = random_network(5, n_in=3, sizes=[8, 3], k=3, classes=3)
    x = sl.random_spikes(3, steps=6, batch=40, rate=0.5, seed=3)
    labels = np.arange(40) % 3
    pred = get_backend("numpy").simulate(net, x).pred
    ev = api.evaluate(net, x, labels, backend="numba", batch_size=7)
    assert ev.backend == "numba" and ev.samples == 40 and ev.pred.tolist() == pred.tolist()
    expect = np.zeros((3, 3), np.int64)
    for t, p in zip(labels, pred):
        expect[t, p] += 1
    assert ev.confusion.tolist() == expect.tolist()
    assert ev.correct == int(np.trace(expect)) and ev.accuracy == ev.correct / 40
    with pytest.raises(ConfigError, match="batch_size must be >= 1, got 0"):
        api.evaluate(net, x, labels, batch_size=0)


@pytest.fixture
def files(tmp_path):
    net = random_network(1, n_in=3, sizes=[6, 2], k=3, classes=2)
    save_model(net, tmp_path / "m.h5")
    x = sl.random_spikes(3, steps=5, batch=4, rate=0.5, seed=0)
    save_spikes(tmp_path / "s.h5", x, labels=[0, 1, 1, 0])
    return net, x, tmp_path


def test_cli_backend_flag_and_deprecated_words(files, capsys):
    net, x, tmp = files
    ref = get_backend("numpy").simulate(net, x)
    for argv, note in ((["--backend", "numpy"], ""),
                       (["--engine", "bitsliced"],
                        "spikelut simulate: note: --engine is deprecated; use --backend numba\n")):
        code = main(["simulate", str(tmp / "m.h5"), str(tmp / "s.h5"), "-o", str(tmp / "r.h5"),
                     "--json"] + argv)
        out, err = capsys.readouterr()
        assert code == 0 and err == note
        assert json.loads(out)["backend"] == ("numpy" if not note else "numba")
        _, res = load_result(tmp / "r.h5")
        np.testing.assert_array_equal(res.layer_spikes[1], ref.layer_spikes[1])
    code = main(["eval", str(tmp / "m.h5"), str(tmp / "s.h5"), "--json", "--device", "cpu"])
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert code == 0 and err == "spikelut eval: note: --device is deprecated; use --backend numba\n"
    assert data["backend"] == "numba" and sum(map(sum, data["confusion"])) == 4


@NO_GPU
@pytest.mark.parametrize("command", ["simulate", "eval", "bench"])
def test_cli_unavailable_backend_exits_1_with_one_line(files, capsys, command):
    _, _, tmp = files
    argv = {"simulate": ["simulate", tmp / "m.h5", tmp / "s.h5", "-o", tmp / "r.h5"],
            "eval": ["eval", tmp / "m.h5", tmp / "s.h5"],
            "bench": ["bench", "--sizes", "tiny"]}[command]
    code = main([str(a) for a in argv] + ["--backend", "cuda"])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith(f"spikelut {command}: error: backend 'cuda' is not available here: "
                          "CuPy ")


def test_cli_backends_listing(capsys):
    assert main(["backends", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [b["name"] for b in data["backends"]] == ["numpy", "numba", "cuda"]
    assert data["backends"][0] == {"name": "numpy", "device": "cpu", "available": True,
                                   "why_unavailable": None,
                                   "supports": ["simulate", "train_backward", "train_forward"],
                                   "summary": "reference semantics and training passes in numpy"}
    assert data["auto"] == get_backend("auto").name
    assert main(["backends"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["backend", "device", "supports", "usable", "here"]
    assert lines[2].split()[:2] == ["numpy", "cpu"] and lines[2].endswith("yes")
    assert lines[-2] == f"auto = {data['auto']}"
    from spikelut.engine import bitsimd
    from spikelut.train import simd

    assert data["train_simd"] == {"available": simd.AVAILABLE, "enabled": simd.enabled(),
                                  "forward_lut": {"available": bitsimd.LUT_AVAILABLE,
                                                  "enabled": bitsimd.lut_enabled()}}
    assert lines[-1] == simd.status()


def test_run_config_backend_key():
    cfg = {"data": {"dataset": "mnist1d"}}
    assert RunSettings.from_config({**cfg, "run": {"backend": "numpy"}}).backend == "numpy"
    assert RunSettings.from_config({**cfg, "run": {"engine": "reference"}}).backend == "numpy"
    assert RunSettings.from_config(cfg).backend == "auto"
    with pytest.raises(ConfigError, match="unknown backend 'fast'"):
        RunSettings.from_config({**cfg, "run": {"backend": "fast"}})


def test_old_array_module_name_still_imports_with_a_warning():
    import spikelut.backend as old
    import spikelut.xp as xp

    with pytest.warns(DeprecationWarning, match=r"spikelut\.backend\.get_xp is deprecated; use "
                                                r"spikelut\.xp\.get_xp"):
        assert old.get_xp is xp.get_xp
