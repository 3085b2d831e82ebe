"""Untrusted names cannot inject code into generated Verilog (threat model, issue: security 1).

A model file's name and its layer names end up in comments of the generated files; a name that
carries a newline and a module used to become live Verilog that the simulator compiled and ran.
"""

import re

import numpy as np
import pytest

from spikelut.cli import main
from spikelut.escape import terminal, vcd_text, verilog_comment, verilog_string
from spikelut.io import load_model, save_model, save_spikes
from spikelut.rtl import emit_core, find_verilator, find_iverilog
from helpers import have_tool
from spikelut.wiring import random_network

EVIL = ("m\nmodule tb_spikelut_core; initial begin $system(\"id > PWNED\"); $finish; end endmodule\n"
        "`define X \u2028 module y; endmodule\r\n")



def _comment_lines_only(text: str, needle: str) -> None:
    """Every line of ``text`` that mentions ``needle`` is a // comment."""
    for line in text.splitlines():
        if needle in line:
            assert line.lstrip().startswith("//"), line


def test_escape_functions_keep_one_line():
    for fn in (verilog_comment, vcd_text, terminal):
        out = fn(EVIL)
        assert "\n" not in out and "\r" not in out and "\u2028" not in out
    assert verilog_comment(EVIL).isascii()
    assert "$end" not in vcd_text("a $end b")
    # a string literal cannot be closed early, and every byte survives a round trip
    s = verilog_string('a"b\\c\n\x00é')
    assert s == 'a\\"b\\\\c\\n\\000\\303\\251'
    assert "\x1b" not in terminal("\x1b[31mred\x1b[0m")


def test_model_path_and_layer_names_stay_comments(tmp_path):
    net = random_network(0, n_in=3, sizes=[4, 2], k=3)
    net = net.replace_layer(0, name=EVIL)
    text = emit_core(net, "spikelut_core", model=str(tmp_path / EVIL))
    assert text.isascii()
    assert len(re.findall(r"^\s*module\b", text, re.M)) == 1
    _comment_lines_only(text, "PWNED")
    _comment_lines_only(text, "`define")


@pytest.mark.rtl
@pytest.mark.skipif(not (have_tool(find_verilator) or have_tool(find_iverilog)),
                    reason="neither verilator nor iverilog installed")
def test_rtl_verify_with_hostile_file_name_runs_no_code(tmp_path, monkeypatch):
    """The attack from the issue: a model whose file name carries a testbench module."""
    monkeypatch.chdir(tmp_path)
    net = random_network(1, n_in=3, sizes=[5, 2], k=3, max_delay=2)
    name = ("m\nmodule tb_spikelut_core; initial begin $system(\"id > PWNED\"); $finish; end "
            "endmodule\n`define Z .h5")
    save_model(net, tmp_path / name)
    assert load_model(tmp_path / name).n_in == 3
    x = (np.random.default_rng(0).random((8, 3, 3)) < 0.5).astype(np.uint8)
    save_spikes(tmp_path / "t.h5", x, labels=np.zeros(3, np.int64))
    sim = "iverilog" if have_tool(find_iverilog) else "verilator"
    rc = main(["rtl", name, "-o", "d", "--verify", "t.h5", "--simulator", sim])
    assert rc == 0
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "d" / "PWNED").exists()
    core = (tmp_path / "d" / "spikelut_core.v").read_text()
    assert len(re.findall(r"^\s*module\b", core, re.M)) == 1
    assert len(re.findall(r"^\s*endmodule\b", core, re.M)) == 1
    _comment_lines_only(core, "PWNED")


def test_vcd_comment_cannot_end_early(tmp_path):
    """A result file named with ``$end`` and a newline stays inside the VCD's $comment."""
    from spikelut.engine import get_engine
    from spikelut.vcd import write_vcd

    net = random_network(0, n_in=2, sizes=[3, 2], k=2)
    x = np.ones((4, 1, 2), np.uint8)
    res = get_engine("reference")(net, x)
    evil = tmp_path / "r $end\n$var wire 1 # evil $end.h5"
    save_spikes(evil, x, result=res)
    out = tmp_path / "w.vcd"
    write_vcd(str(evil), 0, out, model=net)
    head = out.read_text().split("$enddefinitions")[0]
    comment = [ln for ln in head.splitlines() if ln.startswith("$comment")]
    assert len(comment) == 1 and comment[0].count("$end") == 1 and comment[0].endswith("$end")
    assert "evil" not in "".join(ln for ln in head.splitlines() if ln.startswith("$var"))
