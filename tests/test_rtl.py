"""RTL generation without external tools: mapping plan, refractory folding, emitted text, files,
manifest and every error a user can cause. (Simulation and synthesis: test_rtl_sim.py.)"""

import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikelut.api import build, random_spikes
from spikelut.engine.reference import simulate
from spikelut.errors import ConfigError, NetworkError
from spikelut.io import save_model, save_spikes
from spikelut.network import Layer, Network, Readout
from spikelut.rtl import (MANIFEST, check_top_name, emit_core, emit_wrapper, plan_network,
                          write_verilog)
from spikelut.rtl.netlist import simulate_network_layers
from spikelut.rtl.verilog import init_literal
from spikelut.rtl.wrapper import mem_lines
from spikelut.wiring import random_network

from rtl_nets import arbitrary_network

from helpers import run


def one_node(table, taps, R=0, n_in=1):
    taps = np.asarray(taps, np.int32)[None]
    lay = Layer(np.asarray([table], np.uint8), taps[..., 0], taps[..., 1], taps[..., 2], R)
    return Network(n_in, [lay], Readout(0, [0], 1))


# ---------------------------------------------------------------------------- folding
def test_fold_into_table_when_history_is_already_a_tap():
    # copies input, R = 1, taps its own output at delay 1: the gate clears entries with tap 1 set
    net = one_node([0, 1, 0, 1], [(-1, 0, 0), (0, 0, 1)], R=1)
    node = plan_network(net).nodes[0][0]
    assert node.fold == "taps" and node.gate == []
    assert node.inputs == ["in_spikes[0]", "L0_n0_d1"]
    assert node.table.tolist() == [0, 1, 0, 0]


def test_fold_widens_the_lut_with_missing_history_bits():
    # R = 2 and no self taps: k = 2 becomes a LUT4 with L0_n0_d1, L0_n0_d2 as inputs 2 and 3
    net = one_node([0, 1, 0, 1], [(-1, 0, 0), (-1, 0, 1)], R=2)
    p = plan_network(net)
    node = p.nodes[0][0]
    assert node.fold == "widened" and node.width == 4
    assert node.inputs == ["in_spikes[0]", "in0_d1", "L0_n0_d1", "L0_n0_d2"]
    assert node.table.tolist() == [0, 1, 0, 1] + [0] * 12
    assert p.luts_by_size() == {"LUT4": 1} and p.max_luts == 1


def test_fold_uses_existing_taps_and_widens_only_by_what_is_missing():
    net = one_node([0, 1, 1, 1, 0, 0, 0, 0], [(-1, 0, 0), (-1, 0, 1), (0, 0, 2)], R=2)
    node = plan_network(net).nodes[0][0]
    assert node.fold == "widened"
    assert node.inputs == ["in_spikes[0]", "in0_d1", "L0_n0_d2", "L0_n0_d1"]
    # input 2 (d2) and input 3 (d1) both clear the output
    assert node.table.tolist() == [0, 1, 1, 1] + [0] * 12


def test_gate_stays_extra_logic_when_the_lut_is_full():
    net = one_node([1] * 64, [(-1, 0, d) for d in range(6)], R=3)
    p = plan_network(net)
    node = p.nodes[0][0]
    assert node.fold == "gate" and node.width == 6
    assert node.gate == ["L0_n0_d1", "L0_n0_d2", "L0_n0_d3"]
    assert p.max_luts == 2 and p.flip_flops == 5 + 3
    text = emit_core(net, "g")
    assert "assign L0_n0 = L0_n0_a & ~(L0_n0_d1 | L0_n0_d2 | L0_n0_d3);" in text


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 10), batch=st.integers(1, 3))
def test_netlist_evaluates_exactly_like_the_reference_engine(seed, steps, batch):
    net = arbitrary_network(seed)
    spikes = random_spikes(net.n_in, steps, batch, rate=0.6, seed=seed % 1000)
    got = simulate_network_layers(net, spikes)
    want = simulate(net, spikes).layer_spikes
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_plan_resources_match_the_network(seed):
    net = arbitrary_network(seed)
    p = plan_network(net)
    # one LUT per node up to k = 6; a k = 7..9 node is its composition (2, 4 or 9 LUTs)
    extra = {7: 1, 8: 3, 9: 8}
    assert p.luts == net.n_nodes + sum(layer.n * extra.get(layer.k, 0) for layer in net.layers)
    assert p.flip_flops == net.flip_flops()
    assert all(1 <= n.width <= 6 or n.width == lay.k for lay, layer in zip(net.layers, p.nodes)
               for n in layer)
    # every register stage is declared and reset exactly once in the emitted core
    text = emit_core(net, "core")
    assert text.count(" <= 1'b0;") == net.flip_flops()


# ---------------------------------------------------------------------------- emitted text
def test_init_literal_bit_order():
    assert init_literal(np.array([0, 1, 1, 0])) == "4'h6"
    assert init_literal(np.array([1] + [0] * 63)) == "64'h0000000000000001"
    assert init_literal(np.array([0] * 63 + [1])) == "64'h8000000000000000"


def test_core_ports_names_and_header(demos_dir):
    net = build(os.path.join(demos_dir, "first_of_two.toml"))
    text = emit_core(net, "fot")
    assert ("module fot (\n  input clk,\n  input rst,\n  input [1:0] in_spikes,\n"
            "  output [1:0] out_spikes\n);") in text
    assert "// inputs 2, layers 1, nodes 2, LUTs 2 (LUT3 2), flip-flops 2" in text
    assert "localparam [7:0] L0_n0_INIT = 8'hCE;" in text
    assert "assign L0_n0 = L0_n0_INIT[{L0_n1_d1, L0_n0_d1, in_spikes[0]}];" in text
    assert "assign out_spikes = {L0_n1, L0_n0};" in text
    assert "if (rst) begin" in text and "L0_n0_d1 <= L0_n0;" in text


def test_lut6_primitives():
    net = random_network(2, 3, [4, 2], k=[6, 3])
    text = emit_core(net, "core", lut6=True)
    init = init_literal(net.layers[0].table[0])
    assert f"LUT6 #(.INIT({init})) L0_n0_lut (.O(L0_n0), .I0(" in text
    assert text.count("LUT6 #(") == 4 and text.count("LUT3 #(") == 2
    assert "_INIT" not in text


def test_network_without_inputs_gets_a_one_bit_unused_port():
    lay = Layer(np.array([[1, 0, 0, 0]], np.uint8), [[0, 0]], [[0, 0]], [[1, 2]])
    net = Network(0, [lay], Readout(0, [0], 1))
    text = emit_core(net, "free")
    assert "input [0:0] in_spikes," in text
    assert "wire unused_sink = &{1'b0, in_spikes, 1'b0};" in text


def test_wrapper_counts_from_start_and_breaks_ties_low():
    net = random_network(0, 3, [6], k=2, classes=3, start=2)
    text = emit_wrapper(net, "c", steps=10)
    assert "localparam [3:0] LAST = 4'd9;" in text
    assert "wire counting = busy && (t >= START);" in text
    assert "wire take1 = next1 > best_v0;" in text  # strict: a tie keeps the lower class
    assert "c core (.clk(clk), .rst(rst | start)" in text


def test_mem_lines_bit_order():
    assert mem_lines(np.array([[1, 0, 0], [0, 1, 1]], np.uint8)) == "001\n110\n"


# ---------------------------------------------------------------------------- files and errors
def test_write_verilog_files_and_manifest(tmp_path):
    net = random_network(1, 4, [5, 3], k=3, refractory=1, classes=2)
    spikes = random_spikes(4, 7, 3, seed=3)
    files = write_verilog(net, tmp_path / "rtl", top="dut", stimulus=spikes, model="m.h5")
    d = tmp_path / "rtl"
    assert sorted(p.name for p in d.iterdir()) == sorted(
        ["dut.v", "dut_classifier.v", "tb_dut.v", "stimulus.mem", "expected_out.mem",
         "expected_pred.mem", MANIFEST])
    m = json.loads((d / MANIFEST).read_text())
    assert m["format"] == "spikelut-rtl" and m["luts"] == 8 and m["flip_flops"] == net.flip_flops()
    assert m["steps"] == 7 and m["samples"] == 3
    stim = (d / "stimulus.mem").read_text().split()
    assert len(stim) == 21 and stim[1] == "".join(str(b) for b in spikes[1, 0, ::-1])
    want = simulate(net, spikes)
    out = (d / "expected_out.mem").read_text().split()
    assert out[7 * 2 + 4] == "".join(str(b) for b in want.layer_spikes[1][4, 2, ::-1])
    assert files.expected.pred.tolist() == want.pred.tolist()
    # ours: written again without --force, old files replaced
    write_verilog(net, d, top="other", stimulus=spikes)
    assert not (d / "dut.v").exists() and (d / "other.v").exists()


def test_refuses_a_directory_that_is_not_ours(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("keep me")
    net = random_network(0, 2, [2], k=2)
    with pytest.raises(ConfigError, match=r"mine: directory exists and was not written by "
                                          r"'spikelut rtl' \(no spikelut-rtl.json\)"):
        write_verilog(net, d)
    write_verilog(net, d, force=True)
    assert (d / "notes.txt").read_text() == "keep me" and (d / MANIFEST).exists()
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a directory"):
        write_verilog(net, f)


@pytest.mark.parametrize("top, msg", [
    ("9lives", "is not a legal Verilog identifier"),
    ("my-core", "is not a legal Verilog identifier"),
    ("", "is not a legal Verilog identifier"),
    ("module", "is a Verilog keyword"),
    ("logic", "is a Verilog keyword"),
    ("LUT6", "clashes with a module the generator writes"),
])
def test_bad_top_names(top, msg):
    with pytest.raises(ConfigError, match=msg):
        check_top_name(top)


def test_k_above_twelve_cannot_map():
    net = random_network(0, 3, [2], k=12)
    lay = net.layers[0]  # forced past validation (immutability): the only way k > 12 gets here
    for name in ("source", "index", "delay"):
        a = getattr(lay, name)
        object.__setattr__(lay, name, np.concatenate([a, a[:, :1]], axis=1))
    object.__setattr__(lay, "table", np.zeros((2, 1 << 13), np.uint8))
    with pytest.raises(NetworkError, match=r"^layer 0 \('L0'\): k = 13 is out of range; a node has "
                                           r"1 to 12 taps"):
        plan_network(net, lut6=True)


def test_steps_must_match_the_stimulus(tmp_path):
    net = random_network(0, 2, [2], k=2)
    with pytest.raises(ConfigError, match="steps = 5 but the stimulus has 4 cycles"):
        write_verilog(net, tmp_path / "x", steps=5, stimulus=np.zeros((4, 1, 2), np.uint8))


def test_cli_errors_are_one_line(tmp_path, capsys):
    net = random_network(0, 2, [3], k=2)
    model = tmp_path / "m.h5"
    save_model(net, model)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "a.v").write_text("")
    code, out, err = run(capsys, "rtl", model, "-o", tmp_path / "busy")
    assert code == 1 and err.count("\n") == 1 and "was not written by 'spikelut rtl'" in err
    code, _, err = run(capsys, "rtl", model, "-o", tmp_path / "o", "--top", "begin")
    assert code == 1 and "top name 'begin' is a Verilog keyword" in err
    assert not (tmp_path / "o").exists()
    spikes = tmp_path / "s.h5"
    save_spikes(spikes, np.zeros((4, 1, 3), np.uint8))
    code, _, err = run(capsys, "rtl", model, "-o", tmp_path / "o", "--verify", spikes)
    assert code == 1 and err == (f"spikelut rtl: error: {spikes}: spikes have 3 channels but the "
                                 f"network has 2 inputs; encode the data for this network or use "
                                 f"another model\n")


def test_cli_model_with_k13_is_refused_by_the_reader(tmp_path, capsys):
    from test_node_sizes import _model_with_k13

    model = tmp_path / "k13.h5"
    _model_with_k13(model)
    code, _, err = run(capsys, "rtl", model, "-o", tmp_path / "o", "--lut6")
    assert code == 1 and "k = 13 is out of range" in err and err.count("\n") == 1 and not (tmp_path / "o").exists()


def test_cli_writes_and_prints_counts(tmp_path, capsys):
    net = random_network(4, 3, [6, 2], k=[6, 2], refractory=[1, 0])
    model = tmp_path / "m.h5"
    save_model(net, model)
    code, out, _ = run(capsys, "rtl", model, "-o", tmp_path / "o", "--steps", 9, "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] and data["luts"] == 8
    assert data["flip_flops"] == net.flip_flops() and data["steps"] == 9
    code, out, _ = run(capsys, "rtl", model, "-o", tmp_path / "o")
    assert code == 0 and f"LUTs 8 (LUT2 2, LUT6 6), flip-flops {net.flip_flops()}" in out


# ---------------------------------------------------------------------------- vendor cell names
@pytest.mark.parametrize("top, msg", [
    ("FDRE", "top name 'FDRE' is a cell of the Xilinx library that synthesis loads (yosys "
             "synth_xilinx would fail: re-definition of module); choose another name "
             "(e.g. 'FDRE_core')"),
    ("CARRY4", "top name 'CARRY4' is a cell of the Xilinx library that synthesis loads"),
    ("DSP48E1", "top name 'DSP48E1' is a cell of the Xilinx library that synthesis loads"),
    ("LUT6", "top name 'LUT6' clashes with a module the generator writes (LUT1..LUT6, tb_*)"),
])
def test_cli_refuses_vendor_cell_names_before_writing(tmp_path, capsys, top, msg):
    model = tmp_path / "m.h5"
    save_model(random_network(0, 2, [3], k=2), model)
    code, out, err = run(capsys, "rtl", model, "-o", tmp_path / "o", "--top", top, "--synth")
    assert code == 1 and out == "" and err.count("\n") == 1 and msg in err
    assert not (tmp_path / "o").exists()
    code, out, _ = run(capsys, "rtl", model, "-o", tmp_path / "o", "--top", top, "--json")
    assert code == 1 and msg in json.loads(out)["error"]


def test_vendor_cell_names_are_case_sensitive_and_cover_the_common_primitives():
    from spikelut.rtl.cells import XILINX_CELLS

    for name in ("FDRE", "FDCE", "LUT6_2", "CARRY4", "CARRY8", "MUXF7", "DSP48E1", "DSP48E2",
                 "RAMB36E1", "SRL16E", "IBUF", "OBUF", "BUFG", "VCC", "GND"):
        assert name in XILINX_CELLS
        with pytest.raises(ConfigError, match="is a cell of the Xilinx library"):
            check_top_name(name)
    assert check_top_name("fdre") == "fdre" and check_top_name("Carry4") == "Carry4"


def test_cell_names_are_read_from_the_installed_yosys(tmp_path, monkeypatch):
    import shutil as sh

    from spikelut.rtl import cells

    (tmp_path / "xilinx").mkdir()
    (tmp_path / "xilinx" / "cells_sim.v").write_text(
        "module NEWCELL (output O);\n  assign O = 1'b0;\nendmodule\n  module \\$__internal (); "
        "endmodule\n")
    (tmp_path / "xilinx" / "cells_xtra.v").write_text("(* blackbox *)\nmodule NEWER_E2 #(\n);\n")
    assert cells.installed_cell_names(tmp_path) == {"NEWCELL", "NEWER_E2"}
    # without yosys: the shipped list alone
    monkeypatch.setattr(sh, "which", lambda name: None)
    assert cells.yosys_datdir() is None and cells.installed_cell_names() == frozenset()
    monkeypatch.undo()
    real = cells.yosys_datdir()
    if real is None:
        pytest.skip("yosys not installed: no cell library to compare with")
    assert cells.installed_cell_names(real) <= cells.vendor_cell_names()
    assert {"FDRE", "LUT6", "CARRY4", "DSP48E1"} <= cells.installed_cell_names(real)


def test_synth_report_repr_leaves_out_the_yosys_log():
    from spikelut.rtl.synth import SynthReport

    r = SynthReport(3, {"LUT6": 3}, 2, 1, log="yosys output line\n" * 20000)
    assert "yosys output" not in repr(r) and "luts=3" in repr(r) and "log" not in r.to_dict()
    assert r.log.count("\n") == 20000
