"""VCD export (spikelut.vcd) and the `spikelut vcd` command: traces parse back to the same trains."""

import numpy as np
import pytest

import spikelut as sl
from spikelut.cli import main
from spikelut.engine.result import SimResult
from spikelut.errors import ConfigError, FileFormatError
from spikelut.io import load_result, save_model, save_spikes
from spikelut.vcd import read_vcd, scope_name, vcd_spike_trains, write_vcd
from spikelut.wiring import random_network


@pytest.fixture
def recurrent(tmp_path):
    """A random recurrent 3-layer network simulated on 3 samples, saved as model + result."""
    net = random_network(5, n_in=4, sizes=[30, 12, 6], k=3, max_delay=2, refractory=[0, 1, 0],
                         classes=3)
    net = net.replace_layer(1, name="hidden two")
    x = sl.random_spikes(4, steps=25, batch=3, rate=0.4, seed=2)
    res = sl.simulate(net, x)
    model, result = tmp_path / "m.h5", tmp_path / "r.h5"
    save_model(net, model)
    save_spikes(result, x, [0, 1, 2], {"model": str(model)}, result=res)
    return net, x, res, model, result


@pytest.mark.parametrize("period", [10, 2])
def test_vcd_roundtrip_every_sample(recurrent, tmp_path, period):
    net, x, res, _, result = recurrent
    for b in range(3):
        p = write_vcd(result, b, tmp_path / f"s{b}.vcd", model=net, period=period)
        tr = vcd_spike_trains(p)
        assert sorted(tr) == ["L0", "L1_hidden_two", "L2", "inputs"]
        np.testing.assert_array_equal(tr["inputs"], x[:, b])
        for i, scope in enumerate(["L0", "L1_hidden_two", "L2"]):
            np.testing.assert_array_equal(tr[scope], res.layer_spikes[i][:, b])


def test_vcd_header_and_clock(recurrent, tmp_path):
    net, *_, result = recurrent
    p = write_vcd(result, 0, tmp_path / "a.vcd", model=net)
    text = p.read_text()
    assert "$timescale 1ns $end" in text
    assert "$scope module spikelut $end\n$var wire 1 ! clk $end\n$scope module inputs $end" in text
    vcd = read_vcd(p)
    assert vcd.timescale == "1ns" and vcd.end_time == 250
    assert len(vcd.signals) == 1 + 4 + 30 + 12 + 6
    assert "spikelut.L2.n5" in vcd.signals and "spikelut.inputs.in_3" in vcd.signals
    clk = vcd.changes[vcd.signals["spikelut.clk"]]
    # high in the first half of each cycle, rising edge at the end of every cycle
    assert clk[:4] == [(0, 1), (5, 0), (10, 1), (15, 0)] and clk[-1] == (250, 1)
    assert len(clk) == 2 * 25 + 1


def test_vcd_only_changes_are_written(tmp_path):
    x = np.array([1, 1, 1, 0, 0, 1], np.uint8)[:, None, None]
    res = SimResult([x.copy()], np.zeros((1, 1), np.int32), np.zeros(1, np.int32))
    vcd = read_vcd(write_vcd(res, 0, tmp_path / "c.vcd", inputs=x))
    assert vcd.changes[vcd.signals["spikelut.L0.n0"]] == [(0, 1), (30, 0), (50, 1)]


def test_scope_names():
    assert scope_name(0, "L0") == "L0"
    assert scope_name(3, "out-layer.1") == "L3_out_layer_1"


def test_vcd_errors(recurrent, tmp_path):
    *_, result = recurrent
    with pytest.raises(ConfigError, match="sample 3 does not exist; the result has samples 0 .. 2"):
        write_vcd(result, 3, tmp_path / "x.vcd")
    with pytest.raises(ConfigError, match="period must be an even number of ns >= 2, got 5"):
        write_vcd(result, 0, tmp_path / "x.vcd", period=5)
    bad = tmp_path / "bad.vcd"
    bad.write_text("$timescale 1ns $end\n$scope module top $end\n$var wire 1 ! a $end\n"
                   "$upscope $end\n$enddefinitions $end\n#0\n1\"\n")
    with pytest.raises(FileFormatError, match="bad.vcd: value change for undeclared identifier"):
        read_vcd(bad)
    bad.write_text("$timescale 1ns $end\n$var wire 1 ! a\n")
    with pytest.raises(FileFormatError, match=r"bad.vcd: \$var without \$end"):
        read_vcd(bad)
    bad.write_text("$timescale 1ns $end\n$enddefinitions $end\n#0\n")
    with pytest.raises(FileFormatError, match="no spikelut.clk signal; not a spikelut VCD"):
        vcd_spike_trains(bad)


def test_cli_vcd(recurrent, tmp_path, capsys):
    net, x, res, model, result = recurrent
    out = tmp_path / "cli.vcd"
    assert main(["vcd", str(result), "--sample", "1", "-o", str(out), "--period", "4",
                 "--model", str(model)]) == 0
    assert "4 ns per cycle" in capsys.readouterr().out
    tr = vcd_spike_trains(out)
    np.testing.assert_array_equal(tr["L1_hidden_two"], res.layer_spikes[1][:, 1])  # names from --model
    rc = main(["vcd", str(result), "--sample", "9", "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and err == "spikelut vcd: error: sample 9 does not exist; the result has " \
                              "samples 0 .. 2\n"


def test_vcd_of_loaded_pair_without_model(recurrent, tmp_path):
    *_, result = recurrent
    data, res = load_result(result)
    tr = vcd_spike_trains(write_vcd((data, res), 2, tmp_path / "p.vcd"))
    assert sorted(tr) == ["L0", "L1", "L2", "inputs"]
    np.testing.assert_array_equal(tr["L1"], res.layer_spikes[1][:, 2])
