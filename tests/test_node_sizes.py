"""Node sizes k = 1..12 (docs/node-sizes.md): random networks on every implementation, training
gradients, the lowered table words, the RTL composition and its reports, the gate view, and the
one-line refusal of k = 0 and k = 13.

The hand-checked k = 1, 7, 8 and 12 trains are cases of tests/test_semantics.py; here random
networks (recurrent, with refractory gates, mixed sizes) must equal the reference bit for bit.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from spikelut.cli import main
from spikelut.config import build_network
from spikelut.errors import ConfigError, FileFormatError, NetworkError
from spikelut.io import load_model, save_model
from spikelut.lowering import lower
from spikelut.network import Layer, Network, Readout
from spikelut.rtl import compose, find_yosys
from spikelut.rtl.netlist import Lut, Mux, from_plan
from spikelut.rtl.plan import plan_network
from spikelut.rtl.synth import gate_list
from spikelut.train import bptt, kernels_cpu, kernels_gpu
from spikelut.train.surrogates import get_surrogate
from spikelut.wiring import random_network

from helpers import cuda_emulation_library, emulated_train_launch, have_tool
from test_semantics import IMPLEMENTATIONS

SIZES = {"k=1": [1, 1], "k=7": [7, 2], "k=8": [8, 1], "k=9,12": [9, 12]}


def _net(ks, seed=3):
    return random_network(seed, n_in=13, sizes=[5] * len(ks), k=ks, max_delay=2,
                          refractory=[1] + [0] * (len(ks) - 1), classes=2)


def _x(T=6, B=70, n=13, seed=0):
    return (np.random.default_rng(seed).random((T, B, n)) < 0.5).astype(np.uint8)


# verilator is covered by the hand-checked cases of test_semantics; one HDL simulator suffices here
ROWS = [n for n in IMPLEMENTATIONS if "verilator" not in n]


@pytest.mark.parametrize("impl", [pytest.param(n, marks=pytest.mark.gpu) if "(GPU)" in n else n
                                  for n in ROWS])
@pytest.mark.parametrize("size", list(SIZES))
def test_random_network_equals_the_reference(size, impl):
    net = _net(SIZES[size])
    x = _x(B=70 if "co-simulation" not in impl else 5)
    want = IMPLEMENTATIONS["reference (numpy)"](net, x)
    got = IMPLEMENTATIONS[impl](net, x)
    assert any(g is not None for g in got)
    for i, (g, w) in enumerate(zip(got, want)):
        if g is not None:
            np.testing.assert_array_equal(np.asarray(g), w, err_msg=f"{impl}, layer {i}")


def _grads(backend, net, x, th, g, **kw):
    plan = bptt.compile_plan(net)
    fwd = backend.forward(plan, bptt.tables_of(th), x)
    grads, g_in = backend.backward(plan, th, fwd, g, get_surrogate("fast_sigmoid"), **kw)
    return fwd, grads, g_in


@pytest.mark.parametrize("ks", [[1, 1], [8, 2], [9, 1]])
@pytest.mark.parametrize("mode", ["block", "full"])
def test_training_gradients_equal_across_numpy_and_numba(ks, mode):
    net = random_network(5, n_in=10, sizes=[6, 3], k=ks, max_delay=2, refractory=[1, 0],
                         classes=3)
    x = _x(T=7, B=40, n=10, seed=1)
    rng = np.random.default_rng(2)
    th = [rng.normal(0, 0.3, lay.table.shape).astype(np.float32) for lay in net.layers]
    g = [rng.normal(0, 1, (7, 40, lay.n)).astype(np.float32) for lay in net.layers]
    fa, ga, ia = _grads(bptt, net, x, th, g, refractory_grad=mode, input_grad=True)
    fb, gb, ib = _grads(kernels_cpu, net, x, th, g, refractory_grad=mode, input_grad=True)
    want_dtype = np.uint16 if max(ks) > 8 else np.uint8
    assert [a.dtype for a in fa.addr] == [want_dtype] * 2 == [b.dtype for b in fb.addr]
    assert all((a == b).all() for a, b in zip(fa.addr, fb.addr)) and (fa.hist == fb.hist).all()
    assert [a.shape for a in ga] == [(6, 1 << ks[0]), (3, 1 << ks[1])]
    assert max(float(np.abs(a).max()) for a in ga) > 0.1  # the gradients are not all zero
    for a, b in zip(ga, gb):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ia, ib, rtol=1e-4, atol=1e-4)


def test_cuda_training_kernels_use_uint16_addresses_beyond_k8(tmp_path):
    # the C++ emulation of kernels/train_bptt.cu, fused and per-(cycle, layer): addr16 = 1
    lib = cuda_emulation_library(tmp_path, "cuda_emulation_train.cpp", "the CUDA training kernels",
                                 kernels_gpu.compile_spec())
    launch = emulated_train_launch(lib)
    net = random_network(5, n_in=10, sizes=[4, 2], k=[10, 1], max_delay=1, refractory=[1, 0])
    x = _x(T=5, B=9, n=10, seed=4)
    rng = np.random.default_rng(3)
    th = [rng.normal(0, 0.3, lay.table.shape).astype(np.float32) for lay in net.layers]
    g = [rng.normal(0, 1, (5, 9, lay.n)).astype(np.float32) for lay in net.layers]
    plan = bptt.compile_plan(net)
    ref = bptt.forward(plan, bptt.tables_of(th), x)
    want, _ = bptt.backward(plan, th, ref, g, get_surrogate("fast_sigmoid"))
    for fused in (True, False):
        fwd = kernels_gpu.forward(plan, bptt.tables_of(th), x, launch=launch, fused=fused)
        assert fwd.addr[0].dtype == np.uint16 and (fwd.addr[0] == ref.addr[0]).all()
        assert int(ref.addr[0].max()) > 255  # addresses above 8 bits were stored and read back
        got, _ = kernels_gpu.backward(plan, th, fwd, g, get_surrogate("fast_sigmoid"),
                                      launch=launch, fused=fused)
        for a, b in zip(want, got):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("ks, backend", [([9, 1], "numba"), ([1, 8], "numpy")])
def test_trainer_learns_with_k1_and_large_tables(ks, backend, tmp_path):
    # the class is input channel 0 at cycle 0; a random network starts near chance
    from spikelut.engine import reference
    from spikelut.train import TrainConfig, Trainer

    rng = np.random.default_rng(0)
    x = (rng.random((4, 400, 8)) < 0.5).astype(np.uint8)
    y = x[0, :, 0].astype(np.int64)
    net = random_network(0, n_in=8, sizes=[40, 20], k=ks, classes=2, max_delay=1)
    res = Trainer(net, TrainConfig(epochs=6, batch_size=50, lr=0.03, backend=backend),
                  progress=False).fit((x, y))
    assert res.history[-1]["loss"] < 0.6 * res.history[0]["loss"]
    assert float((reference.simulate(res.net, x).pred == y).mean()) >= 0.9
    save_model(res.net, tmp_path / "m.h5")
    back = load_model(tmp_path / "m.h5")
    assert [lay.k for lay in back.layers] == ks and (back.layers[0].logits > 0).sum() > 0
    assert all(((lay.logits > 0) == lay.table).all() for lay in back.layers)


def test_lowered_tables_of_large_nodes_are_64_entry_words():
    net = random_network(1, n_in=9, sizes=[3, 2], k=[8, 2])
    low = lower(net)
    assert low.k_max == 8 and low.table.shape == (5, 256) and low.table_words.shape == (5, 4)
    t = net.layers[0].table
    for w in range(4):
        bits = (low.table_words[:, w, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
        assert (bits[:3] == t[:, 64 * w:64 * (w + 1)]).all()
    # the k = 2 layer fills word 0's low four bits only
    assert (low.table_words[3:, 1:] == 0).all() and (low.table_words[3:, 0] < 16).all()
    assert low.addr_dtype == np.uint8 and lower(random_network(1, 9, [2], k=9)).addr_dtype == np.uint16


# ----------------------------------------------------------------------------- bad k
@pytest.mark.parametrize("k", [0, 13])
def test_bad_k_is_refused_in_one_line_by_the_api(k):
    line = (f"k = {k} is out of range; a node has 1 to 12 taps (1..6: one FPGA LUT1..LUT6; "
            f"7..12: a LUT composition, docs/node-sizes.md)")
    z = np.zeros((1, k), np.int32)
    with pytest.raises(NetworkError) as e:
        Network(1, [Layer(np.zeros((1, 1 << k), np.uint8), z - 1, z, z)], Readout(0, [0], 1))
    assert str(e.value) == f"layer 0 ('L0'): {line}"
    cfg = {"inputs": 1, "layers": [{"nodes": 1, "k": k, "taps": [{"from": "input", "count": 1}]}]}
    with pytest.raises(ConfigError) as e:
        build_network(cfg)
    assert str(e.value) == f"layer 0 ('L0'): {line}"


def _model_with_k13(path):
    save_model(random_network(0, 2, [2], k=12), path)
    with h5py.File(path, "a") as f:
        g = f["layers/L0"]
        for name in ("source", "index", "delay"):
            a = g[name][()]
            del g[name]
            g[name] = np.concatenate([a, a[:, :1]], axis=1).astype(np.int32)
        del g["table"]
        g["table"] = np.zeros((2, 1 << 13), np.uint8)


def test_bad_k_is_refused_in_one_line_by_the_file_reader_and_the_cli(tmp_path, capsys):
    model = tmp_path / "k13.h5"
    _model_with_k13(model)
    with pytest.raises(FileFormatError, match=r"/layers/L0/source: k = 13 is out of range; a node "
                                              r"has 1 to 12 taps"):
        load_model(model)
    assert main(["info", str(model)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/layers/L0/source: k = 13 is out of range" in err
    cfg = tmp_path / "k0.toml"
    cfg.write_text('inputs = 1\n[[layers]]\nnodes = 1\nk = 0\ntaps = [{from = "input", count = 1}]\n')
    assert main(["init", str(cfg), "-o", str(tmp_path / "m.h5")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "layer 0 ('L0'): k = 0 is out of range; a node has 1 to 12" in err


def test_table_entries_over_the_limit_are_refused_before_drawing_tables():
    cfg = {"inputs": 1, "layers": [{"nodes": 1 << 21, "k": 12,
                                    "taps": [{"from": "input", "count": 12}]}]}
    with pytest.raises(ConfigError, match=r"^layer 0 \('L0'\): total number of table entries "
                                          r"8589934592 is more than the limit of 4294967296$"):
        build_network(cfg)


def test_k1_and_k12_models_round_trip_through_the_file(tmp_path):
    net = random_network(2, n_in=12, sizes=[3, 2], k=[1, 12])
    save_model(net, tmp_path / "m.h5")
    back = load_model(tmp_path / "m.h5")
    assert [lay.k for lay in back.layers] == [1, 12]
    assert all((a.table == b.table).all() for a, b in zip(net.layers, back.layers))


# ----------------------------------------------------------------------------- RTL
@pytest.mark.parametrize("k", range(1, 13))
def test_composition_cells_match_the_documented_counts(k):
    net = random_network(0, n_in=12, sizes=[2], k=k)
    plan = plan_network(net)
    m = from_plan(plan, "core", lut6=True)
    node = [c for c in m.cells if isinstance(c, (Lut, Mux)) and c.name.startswith("L0_n0")]
    got: dict[str, int] = {}
    for c in node:
        key = f"LUT{c.width}" if isinstance(c, Lut) else c.prim
        got[key] = got.get(key, 0) + 1
    assert got == compose.composition(k)
    assert plan.luts == 2 * sum(v for key, v in got.items() if key.startswith("LUT"))
    assert plan.lut_levels() == compose.lut_levels(k)
    want = {1: {"LUT1": 1}, 6: {"LUT6": 1}, 7: {"LUT6": 2, "MUXF7": 1},
            8: {"LUT6": 4, "MUXF7": 2, "MUXF8": 1},
            9: {"LUT6": 8, "MUXF7": 4, "MUXF8": 2, "LUT3": 1},
            12: {"LUT6": 69, "MUXF7": 32, "MUXF8": 16}}
    if k in want:
        assert compose.composition(k) == want[k]


def test_mux_luts_select_their_data_inputs():
    for n_data, init in ((2, compose.MUX2_INIT), (4, compose.MUX4_INIT)):
        sel_bits = n_data.bit_length() - 1
        for a in range(1 << (n_data + sel_bits)):
            assert (init >> a) & 1 == (a >> (a >> n_data)) & 1


def test_xilinx_form_instantiates_lut1_and_slice_muxes(tmp_path):
    from spikelut.rtl.writer import write_verilog

    net = random_network(1, n_in=9, sizes=[2, 1], k=[8, 1])
    files = write_verilog(net, tmp_path / "rtl", lut6=True, stimulus=_x(T=4, B=2, n=9))
    core = (tmp_path / "rtl" / "spikelut_core.v").read_text()
    assert core.count("MUXF7 ") == 4 and core.count("MUXF8 ") == 2 and core.count("LUT1 #(.INIT(2'h") == 1
    assert core.count("LUT6 #(.INIT(64'h") == 8
    assert sorted(p.name for p in (tmp_path / "rtl" / "sim").iterdir()) == \
        ["LUT1.v", "LUT6.v", "MUXF7.v", "MUXF8.v"]
    assert files.plan.muxes() == {"MUXF7": 4, "MUXF8": 2}


@pytest.mark.skipif(not have_tool(find_yosys), reason="yosys not installed: no synthesis report")
def test_synth_report_counts_the_slice_muxes_synthesis_keeps():
    from spikelut.rtl import synthesize

    net = random_network(1, n_in=9, sizes=[3], k=8, max_delay=1)
    rep = synthesize(net, lut6=True)
    # the primitives are instantiated: synthesis keeps every one of them
    assert rep.muxes == rep.expected_muxes == {"MUXF7": 6, "MUXF8": 3}
    assert rep.luts_by_size == {"LUT6": 12} and rep.lut_levels == 1
    assert "slice muxes                 MUXF7 6, MUXF8 3  (generated: MUXF7 6, MUXF8 3)" in rep.describe()


def _xor_chain(m: int) -> Network:
    """``m`` k = 2 XOR nodes in a delay-0 chain over ``m + 1`` inputs: the parity of the inputs."""
    xor = np.array([[0, 1, 1, 0]], np.uint8)
    layers = [Layer(xor, [[-1, -1]], [[0, 1]], [[0, 0]])]
    layers += [Layer(xor, [[i - 1, -1]], [[0, i + 1]], [[0, 0]]) for i in range(1, m)]
    return Network(m + 1, layers, Readout(m - 1, [0], 1))


@pytest.mark.skipif(not have_tool(find_yosys), reason="yosys not installed: no gate report")
@pytest.mark.parametrize("m", [1, 7, 16])
def test_xor_chain_maps_to_its_known_gate_count(m):
    from spikelut.rtl import synthesize_gates

    rep = synthesize_gates(_xor_chain(m))
    # an m-input-pair XOR chain is m two-input XOR/XNOR gates (ABC may pair XNORs), no flip-flops
    assert rep.gates == m and set(rep.gates_by_type) <= {"XOR", "XNOR"}
    assert rep.flip_flops == 0 and (m + 1).bit_length() - 1 <= rep.depth <= m


@pytest.mark.skipif(not have_tool(find_yosys), reason="yosys not installed: no gate report")
def test_cli_gates_report_in_text_and_json(tmp_path, capsys):
    model = tmp_path / "x.h5"
    save_model(_xor_chain(5), model)
    assert main(["rtl", str(model), "-o", str(tmp_path / "o"), "--gates", "--synth", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["gates"]["gates"] == 5 and data["gates"]["flip_flops"] == 0
    assert data["gates"]["library"] == ["AND", "NAND", "OR", "NOR", "XOR", "XNOR", "ANDNOT", "ORNOT",
                                        "MUX"]
    assert data["synth"]["luts"] >= 1  # the LUT view next to it
    assert main(["rtl", str(model), "-o", str(tmp_path / "t"), "--gates", "--gate-list", "NAND"]) == 0
    out = capsys.readouterr().out
    assert "gates (yosys synth + abc -g NAND)" in out and "gates   " in out


def test_cli_prints_the_slice_muxes_of_large_nodes(tmp_path, capsys):
    model = tmp_path / "k8.h5"
    save_model(random_network(1, n_in=9, sizes=[3, 2], k=[8, 1]), model)
    assert main(["rtl", str(model), "-o", str(tmp_path / "o")]) == 0
    assert "LUTs 14 (LUT1 2, LUT6 12), MUXF7 6, MUXF8 3, flip-flops" in capsys.readouterr().out
    assert main(["rtl", str(model), "-o", str(tmp_path / "o"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["muxes"] == {"MUXF7": 6, "MUXF8": 3} and data["luts_by_size"] == {"LUT1": 2, "LUT6": 12}


def test_cli_refuses_an_unknown_gate_before_writing(tmp_path, capsys):
    model = tmp_path / "x.h5"
    save_model(_xor_chain(2), model)
    assert main(["rtl", str(model), "-o", str(tmp_path / "o"), "--gates", "--gate-list", "AND,FOO"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gate list 'AND,FOO': unknown gate FOO; choose from AND,NAND" in err
    assert not (tmp_path / "o").exists()


def test_gate_list_without_an_and_or_type_gate_is_refused():
    """ABC aborts (status 134) on a list of muxes, XORs or AOI/OAI cells alone: refused first."""
    for bad in ("XOR", "MUX", "AOI3,OAI3,MUX,NMUX,XOR,XNOR"):
        with pytest.raises(ConfigError) as e:
            gate_list(bad)
        assert str(e.value) == (f"gate list {bad!r}: ABC needs one of AND,NAND,OR,NOR,ANDNOT,ORNOT "
                                f"in the list; add one (e.g. AND)")
    assert gate_list("xor,andnot") == ("XOR", "ANDNOT")


def test_cli_gate_list_without_gates_is_refused(tmp_path, capsys):
    model = tmp_path / "x.h5"
    save_model(_xor_chain(2), model)
    assert main(["rtl", str(model), "-o", str(tmp_path / "o"), "--gate-list", "AND,OR"]) == 1
    assert capsys.readouterr().err == ("spikelut rtl: error: --gate-list needs --gates "
                                       "(the gate view it configures)\n")
    assert not (tmp_path / "o").exists()


def test_cli_lut6_names_the_primitive_models_it_wrote(tmp_path, capsys):
    """Without sim/*.v the testbench of a --lut6 core does not compile (MUXF8 unknown): say so."""
    model = tmp_path / "k8.h5"
    save_model(random_network(1, n_in=9, sizes=[3, 2], k=[8, 1]), model)
    assert main(["rtl", str(model), "-o", str(tmp_path / "o"), "--lut6"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith("(4 samples), sim/ (LUT1, LUT6, MUXF7, MUXF8: models of the Xilinx "
                          "primitives; add sim/*.v when simulating)")
    assert sorted(p.name for p in (tmp_path / "o" / "sim").iterdir()) == \
        ["LUT1.v", "LUT6.v", "MUXF7.v", "MUXF8.v"]
    assert main(["rtl", str(model), "-o", str(tmp_path / "p")]) == 0
    assert "sim/" not in capsys.readouterr().out
