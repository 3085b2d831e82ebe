"""ONNX export: onnxruntime runs the one-cycle graph bit-exactly against the reference engine."""

import json
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx not installed: pip install 'spikelut[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed: pip install 'spikelut[onnx]'")

from spikelut import onnx_export  # noqa: E402
from spikelut.api import export_onnx  # noqa: E402
from spikelut.engine.reference import simulate  # noqa: E402
from spikelut.errors import OutputError, ToolError  # noqa: E402
from spikelut.io import save_model  # noqa: E402
from spikelut.network import Layer, Network, Readout  # noqa: E402
from spikelut.onnx_export import run_onnx_session, to_onnx  # noqa: E402
from spikelut.wiring import random_network  # noqa: E402


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _check(net, x):
    out, counts, pred = run_onnx_session(_session(to_onnx(net)), net, x)
    ref = simulate(net, x)
    assert out.mean() > 0.05  # the comparison sees spikes, not an all-silent network
    np.testing.assert_array_equal(out, ref.layer_spikes[net.readout.layer])
    np.testing.assert_array_equal(counts, ref.counts)
    np.testing.assert_array_equal(pred, ref.pred)


def _with_self_loops(net):
    """``net`` with tap 0 of node 0 of every layer reading that node itself one cycle ago
    (new objects: a validated network is never edited)."""
    layers = []
    for i, layer in enumerate(net.layers):
        src, idx, dly = layer.source.copy(), layer.index.copy(), layer.delay.copy()
        src[0, 0], idx[0, 0], dly[0, 0] = i, 0, 1
        layers.append(Layer(layer.table, src, idx, dly, layer.refractory, layer.name))
    return Network(net.n_in, layers, net.readout)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6, 7, 9])  # 1..6: one LUT; 7, 9: larger tables
def test_onnxruntime_equals_the_reference_engine(k):
    net = _with_self_loops(random_network(10 + k, n_in=5, sizes=[16, 9, 6], k=k,
                                          refractory=[0, 2, 1], max_delay=3, classes=3, start=2))
    self_loops = sum(int(((layer.source == i) & (layer.index == np.arange(layer.n)[:, None])).sum())
                     for i, layer in enumerate(net.layers))
    assert self_loops > 0 and net.max_delay() == 3
    x = (np.random.default_rng(k).random((14, 7, 5)) < 0.5).astype(np.uint8)
    _check(net, x)


def test_readout_from_a_middle_layer_and_no_state():
    # a feed-forward network without delays or refractory still has one state row (D = 1)
    rng = np.random.default_rng(0)
    l0 = Layer(rng.integers(0, 2, (6, 8)), np.full((6, 3), -1), rng.integers(0, 4, (6, 3)),
               np.zeros((6, 3)), 0, "a")
    l1 = Layer(rng.integers(0, 2, (3, 4)), np.zeros((3, 2)), rng.integers(0, 6, (3, 2)),
               np.zeros((3, 2)), 0, "b")
    net = Network(4, [l0, l1], Readout(0, np.array([0, 1, -1, 0, 1, 1]), 2, 1))
    assert onnx_export.state_depth(net) == 1
    _check(net, (rng.random((6, 5, 4)) < 0.5).astype(np.uint8))


def test_cli_export_writes_a_checked_graph(tmp_path):
    net = random_network(3, n_in=4, sizes=[10, 4], k=4, refractory=1, classes=2)
    save_model(net, tmp_path / "m.h5")
    r = subprocess.run([sys.executable, "-m", "spikelut", "export", str(tmp_path / "m.h5"), "-o",
                        str(tmp_path / "m.onnx"), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["state_depth"] == 2 and info["signals"] == 18 and info["opset"] == 17
    model = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(model)
    assert [o.name for o in model.graph.output] == list(onnx_export.OUTPUTS)
    used = {name for node in model.graph.node for name in node.input}
    assert [i.name for i in model.graph.initializer if i.name not in used] == []
    x = (np.random.default_rng(1).random((8, 5, 4)) < 0.5).astype(np.uint8)
    out, _, _ = run_onnx_session(_session(model), net, x)
    np.testing.assert_array_equal(out, simulate(net, x).layer_spikes[-1])


def test_export_errors_are_one_line(tmp_path, monkeypatch):
    net = random_network(3, n_in=4, sizes=[10, 4], k=4)
    save_model(net, tmp_path / "m.h5")
    with pytest.raises(OutputError, match=r"is also an input .*; choose another output$"):
        export_onnx(tmp_path / "m.h5", tmp_path / "m.h5")
    with pytest.raises(OutputError, match=r"exists and is a spikelut model, not an ONNX graph written by spikelut export"):
        export_onnx(net, tmp_path / "m.h5")
    missing = r"^ONNX export needs the 'onnx' package, which does not import here; install it " \
              r"with pip install 'spikelut\[onnx\]'$"
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ToolError, match=missing):
        export_onnx(net, tmp_path / "x.onnx")
    monkeypatch.setitem(sys.modules, "spikelut.onnx_export", None)  # as on a machine without onnx
    with pytest.raises(ToolError, match=missing):
        export_onnx(net, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
