"""Third review of ``spikelut rtl``: leftovers of the second.

* the testbench addresses its memories with 32-bit Verilog integers (``b * STEPS + t``): a
  stimulus of more than 2**31 - 1 cycles (samples x cycles per sample) wrapped; it is refused in
  one line before the reference run and before anything is written;
* the ``.mem`` files were built whole as text (4-5 copies of the stimulus in memory at once);
  they are written piece by piece, byte for byte as before;
* a refractory gate that could not be folded was one chain of ``|`` over its R history bits:
  with R = 65,535 Icarus crashed parsing it (a binary tree 65,535 deep) and Verilator refused
  the line at R = 16,000; a gate of more than 12 bits is now a tree of ORs of 12;
* the classifier added a class's readout spikes in one ``+`` chain: a class of 70,000 nodes
  crashed Icarus the same way (and 20,000 took minutes a cycle to simulate); the sum is now a
  tree of partial sums of at most 16 terms;
* a network without input channels failed with a numpy reshape error (a regression of the
  streamed .mem writer, caught before release);
* a missing yosys with ``--gates`` / ``--synth`` named "the resource report"; the line now names
  the option that needs yosys, how to install it, and that running without the option works.
"""

import shutil
import tracemalloc

import numpy as np
import pytest

from spikelut.cli import main
from spikelut.errors import ConfigError
from spikelut.io import save_model
from spikelut.network import Layer, Network, Readout
from spikelut.rtl import synth, write_verilog, writer
from spikelut.rtl.wrapper import mem_lines, pred_width
from spikelut.wiring import random_network


def one_input_network() -> Network:
    """One node copying its single input channel: the smallest stimulus per cycle (1 byte)."""
    copy = Layer(np.array([[0, 1]], np.uint8), np.full((1, 1), -1), np.zeros((1, 1), int),
                 np.zeros((1, 1), int))
    return Network(1, [copy], Readout(0, [0], 1))


# ---------------------------------------------------------------------------- cycle limit
def test_more_cycles_than_the_testbench_can_address_are_refused_before_any_work(tmp_path,
                                                                                monkeypatch):
    # 2**31 cycles of one channel without 2 GiB of memory: a read-only broadcast view
    stim = np.broadcast_to(np.zeros((1, 1, 1), np.uint8), (1 << 16, 1 << 15, 1))

    def no_reference_run(*a, **k):  # the old code ran it (hours) before writing a wrong testbench
        raise AssertionError("the reference engine ran on a stimulus the testbench cannot index")

    monkeypatch.setattr(writer, "simulate", no_reference_run)
    with pytest.raises(ConfigError) as e:
        write_verilog(one_input_network(), tmp_path / "rtl", stimulus=stim)
    assert str(e.value) == (
        "the stimulus is 32,768 samples x 65,536 cycles = 2,147,483,648 cycles, more than the "
        "2,147,483,647 a testbench can address (its memories are indexed with 32-bit Verilog "
        "integers); verify on fewer samples (e.g. spikelut encode --limit N)")
    assert list(tmp_path.iterdir()) == []


def test_the_cycle_limit_is_the_largest_index_of_a_32_bit_integer():
    assert writer.MAX_TESTBENCH_CYCLES == 2**31 - 1
    writer.check_testbench_cycles(2**31 - 1, 1)  # the last one that fits: no error
    with pytest.raises(ConfigError, match=r"^the stimulus is 1 samples x 2,147,483,648 cycles"):
        writer.check_testbench_cycles(2**31, 1)


def test_the_testbench_indexes_with_32_bit_integers():
    # what the limit rests on: if the index becomes wider, the limit can move with it
    tb = writer.emit_testbench(one_input_network(), "c", 4, 3)
    assert "integer b, t, errors, fo, fp;" in tb and "stim[b * STEPS + t]" in tb


# ---------------------------------------------------------------------------- .mem streaming
def old_mem_texts(net, stimulus, expected) -> dict[str, str]:
    """The writer's .mem files as the old code built them: each whole, in memory."""
    T, B, _ = stimulus.shape
    stim_rows = stimulus.transpose(1, 0, 2).reshape(B * T, net.n_in)
    out_rows = expected.layer_spikes[net.readout.layer].transpose(1, 0, 2).reshape(B * T, net.n_out)
    pw = pred_width(net)
    pred_rows = ((expected.pred[:, None] >> np.arange(pw)[None, :]) & 1).astype(np.uint8)
    return {"stimulus.mem": mem_lines(stim_rows), "expected_out.mem": mem_lines(out_rows),
            "expected_pred.mem": mem_lines(pred_rows)}


@pytest.mark.parametrize("chunk", [1, 9, 64, 1000, 4 << 20])
def test_mem_files_written_in_pieces_are_the_old_bytes(tmp_path, monkeypatch, chunk):
    # chunk 1 and 9: a piece is part of one sample's cycles; 64, 1000: several whole samples;
    # the default: one piece. 9 samples x 7 cycles, 5 channels, 5 classes (a 3-bit prediction)
    net = random_network(3, 5, [6, 5], k=2, refractory=1)
    stim = (np.random.default_rng(0).random((7, 9, 5)) < 0.4).astype(np.uint8)
    monkeypatch.setattr(writer, "MEM_CHUNK_BYTES", chunk)
    files = write_verilog(net, tmp_path / "rtl", stimulus=stim)
    for name, text in old_mem_texts(net, stim, files.expected).items():
        assert (tmp_path / "rtl" / name).read_bytes() == text.encode("ascii"), name
    assert files.files[-3:] == ["stimulus.mem", "expected_out.mem", "expected_pred.mem"]


@pytest.mark.parametrize("chunk", [1, 4, 4 << 20])
def test_a_network_without_inputs_writes_one_zero_column(tmp_path, monkeypatch, chunk):
    # n_in = 0: a piece of [rows, 0] could not be reshaped with -1 (numpy cannot infer it)
    net = random_network(4, 0, [3, 2], k=2, recurrent=True)
    monkeypatch.setattr(writer, "MEM_CHUNK_BYTES", chunk)
    write_verilog(net, tmp_path / "rtl", stimulus=np.zeros((3, 2, 0), np.uint8))
    assert (tmp_path / "rtl" / "stimulus.mem").read_bytes() == b"0\n" * 6


def test_mem_files_do_not_hold_copies_of_the_stimulus(tmp_path, monkeypatch):
    net = random_network(0, 256, [16, 4], k=3)
    stim = (np.random.default_rng(1).random((100, 400, 256)) < 0.1).astype(np.uint8)  # 10 MB
    expected = writer.simulate(net, stim)
    monkeypatch.setattr(writer, "simulate", lambda *a, **k: expected)  # the engine's memory aside
    monkeypatch.setattr(writer, "MEM_CHUNK_BYTES", 256 << 10, raising=False)
    tracemalloc.start()
    try:
        write_verilog(net, tmp_path / "rtl", stimulus=stim)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the old writer peaked at 4-5 times the stimulus; pieces of 256 KiB need a few MB
    assert peak < 0.5 * stim.nbytes, peak / stim.nbytes


# ---------------------------------------------------------------------------- yosys missing
@pytest.mark.parametrize("flags, named", [(["--gates"], "--gates needs it"),
                                          (["--synth"], "--synth needs it"),
                                          (["--synth", "--gates"], "--synth and --gates need it")])
def test_a_missing_yosys_is_one_line_naming_the_option_and_the_remedy(tmp_path, monkeypatch,
                                                                      capsys, flags, named):
    save_model(random_network(0, 4, [6, 2], k=3), tmp_path / "m.h5")
    real_which = shutil.which
    monkeypatch.setattr(synth.shutil, "which",
                        lambda name, *a, **k: None if name == "yosys" else real_which(name, *a, **k))
    out = tmp_path / "rtl"
    assert main(["rtl", str(tmp_path / "m.h5"), "-o", str(out)] + flags) == 1
    opts = " and ".join(flags)
    assert capsys.readouterr().err == (
        f"spikelut rtl: error: yosys not found on PATH: {named}; install it (Debian/Ubuntu: "
        f"apt-get install yosys; or the OSS CAD Suite) or run without {opts}\n")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["m.h5"]


# ---------------------------------------------------------------------------- long gates
def gate_network(refractory: int) -> Network:
    """One node reading its input and itself one cycle ago (k = 2) with refractory ``R``: a
    gate over R history bits that cannot be folded into the table for R > 4."""
    node = Layer(np.array([[0, 1, 0, 1]], np.uint8), np.array([[-1, 0]]), np.array([[0, 0]]),
                 np.array([[0, 1]]), refractory=refractory)
    return Network(1, [node], Readout(0, [0], 1))


def test_a_long_refractory_gate_is_a_tree_not_a_chain():
    from spikelut.rtl import emit_core, plan_network

    net = gate_network(300)
    assert plan_network(net).fold_counts()["gate"] == 1
    lines = emit_core(net, "c").splitlines()
    d = lambda lo, hi: " | ".join(f"L0_n0_d{i}" for i in range(lo, hi + 1))  # noqa: E731
    # 300 bits: 25 ORs of 12, then 3 ORs of those (12, 12, 1), then the gate over the 3
    assert f"  wire L0_n0_or0_0 = {d(1, 12)};" in lines
    assert f"  wire L0_n0_or0_24 = {d(289, 300)};" in lines
    assert "  wire L0_n0_or1_2 = L0_n0_or0_24;" in lines
    assert ("  assign L0_n0 = L0_n0_a & ~(L0_n0_or1_0 | L0_n0_or1_1 | L0_n0_or1_2);  // refractory "
            "gate (not foldable)") in lines
    assert max(line.count(" | ") for line in lines) == 11


def test_a_short_gate_keeps_its_chain():
    from spikelut.rtl import emit_core

    assert ("assign L0_n0 = L0_n0_a & ~(L0_n0_d1 | L0_n0_d2 | L0_n0_d3 | L0_n0_d4 | L0_n0_d5 | "
            "L0_n0_d6 | L0_n0_d7 | L0_n0_d8 | L0_n0_d9 | L0_n0_d10 | L0_n0_d11 | L0_n0_d12);"
            in emit_core(gate_network(12), "c"))


@pytest.mark.skipif(shutil.which("iverilog") is None or shutil.which("vvp") is None,
                    reason="Icarus Verilog not installed")
@pytest.mark.parametrize("refractory", [13, 40])
def test_a_long_gate_simulates_bit_exact(tmp_path, refractory):
    from spikelut.api import random_spikes
    from spikelut.rtl import cosimulate

    net = gate_network(refractory)
    rep = cosimulate(net, random_spikes(1, 120, 3, 0.5, 2), simulator="iverilog",
                     work_dir=tmp_path / "rtl")
    assert (rep.ok, rep.bit_mismatches) == (True, 0)
    assert int(rep.bits_compared) == 360


# ---------------------------------------------------------------------------- wide classes
def copy_network(n: int, classes: int = 1) -> Network:
    """``n`` nodes copying the one input channel, class ``j % classes`` each."""
    node = Layer(np.tile(np.array([[0, 1]], np.uint8), (n, 1)), np.full((n, 1), -1),
                 np.zeros((n, 1), int), np.zeros((n, 1), int))
    return Network(1, [node], Readout(0, np.arange(n) % classes, classes))


def test_a_wide_class_is_summed_as_a_tree():
    from spikelut.rtl import emit_wrapper

    lines = emit_wrapper(copy_network(300), "c", steps=4).splitlines()
    bit = lambda j: f"{{{{10{{1'b0}}}}, out_spikes[{j}]}}"  # 11-bit counters: 4 x 300 < 2**11
    # 300 terms: 19 sums of <= 16, then 2 sums of those, then inc0 = the two
    assert f"  wire [10:0] inc0_s0_0 = {' + '.join(bit(j) for j in range(16))};" in lines
    assert f"  wire [10:0] inc0_s0_18 = {' + '.join(bit(j) for j in range(288, 300))};" in lines
    assert ("  wire [10:0] inc0_s1_1 = inc0_s0_16 + inc0_s0_17 + inc0_s0_18;") in lines
    assert "  wire [10:0] inc0 = inc0_s1_0 + inc0_s1_1;" in lines
    assert max(line.count(" + ") for line in lines if "inc0" in line) == 15


def test_a_class_of_sixteen_keeps_one_sum():
    from spikelut.rtl import emit_wrapper

    text = emit_wrapper(copy_network(16), "c", steps=4)
    bit = lambda j: f"{{{{6{{1'b0}}}}, out_spikes[{j}]}}"  # 7-bit counters: 4 x 16 < 2**7
    assert f"  wire [6:0] inc0 = {' + '.join(bit(j) for j in range(16))};" in text.splitlines()
    assert "inc0_s" not in text


@pytest.mark.skipif(shutil.which("iverilog") is None or shutil.which("vvp") is None,
                    reason="Icarus Verilog not installed")
def test_wide_classes_simulate_bit_exact(tmp_path):
    from spikelut.api import random_spikes
    from spikelut.rtl import cosimulate

    net = copy_network(600, classes=3)  # 200 a class: two levels of partial sums
    rep = cosimulate(net, random_spikes(1, 6, 2, 0.5, 3), simulator="iverilog",
                     work_dir=tmp_path / "rtl")
    assert (rep.ok, rep.bit_mismatches, rep.pred_mismatches) == (True, 0, 0)


# ---------------------------------------------------------------------------- SIGTERM
def _wait_for(path, proc, what):
    import time

    for _ in range(600):  # up to a minute: the machine may be busy
        if path.is_file() and path.read_text().strip():
            return int(path.read_text())
        if proc.poll() is not None:
            raise AssertionError(f"{what} ended early: {proc.communicate()}")
        time.sleep(0.1)
    raise AssertionError(f"{what} did not start")


def _gone(pid: int) -> bool:
    import time

    for _ in range(100):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":  # reaped by no one yet: dead
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def _kill_leftover(pid: int | None) -> None:
    import os
    import signal

    if pid is not None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.skipif(not __import__("os").path.isdir("/proc"), reason="needs /proc")
def test_sigterm_during_verify_kills_the_tool_and_leaves_nothing(tmp_path):
    """SIGTERM (timeout, a cancelled CI job) while the simulator builds: the old spikelut died on
    the spot and the build went on, orphaned, beside a half-written temporary directory."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from spikelut.api import random_spikes
    from spikelut.io import save_spikes

    net = random_network(0, 4, [6, 2], k=3)
    save_model(net, tmp_path / "m.h5")
    save_spikes(tmp_path / "s.h5", random_spikes(4, 5, 2, seed=1))
    fake = tmp_path / "bin"
    fake.mkdir()
    pidfile = tmp_path / "tool.pid"
    for tool in ("iverilog", "vvp"):  # a build that never ends, and tells where it runs
        (fake / tool).write_text(f"#!/bin/sh\nsleep 120 &\necho $! > {pidfile}\nwait\n")
        (fake / tool).chmod(0o755)
    env = dict(os.environ, PATH=f"{fake}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-m", "spikelut", "rtl", "m.h5", "-o", "out",
                             "--verify", "s.h5", "--simulator", "iverilog"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tool = None
    try:
        tool = _wait_for(pidfile, proc, "spikelut rtl")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, err.splitlines()[-1:]) == (130, ["spikelut rtl: interrupted"]), err
        assert _gone(tool), "the simulator's build outlived spikelut"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "m.h5", "s.h5", "tool.pid"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        _kill_leftover(tool)


def test_a_sigterm_handler_of_the_callers_is_left_alone():
    import signal

    from spikelut.rtl.launch import run_tool

    seen = []
    mine = lambda signum, frame: seen.append(signum)  # noqa: E731
    old = signal.signal(signal.SIGTERM, mine)
    try:
        run_tool(["sh", "-c", "kill -TERM $PPID; sleep 0.2"])
        assert signal.getsignal(signal.SIGTERM) is mine and seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, old)


# ---------------------------------------------------------------------------- options
def test_simulator_without_verify_is_refused(tmp_path, capsys):
    # it was silently ignored: no co-simulation ran and nothing said so
    save_model(random_network(0, 4, [6, 2], k=3), tmp_path / "m.h5")
    out = tmp_path / "rtl"
    assert main(["rtl", str(tmp_path / "m.h5"), "-o", str(out), "--simulator", "iverilog"]) == 1
    assert capsys.readouterr().err == ("spikelut rtl: error: --simulator needs --verify SPIKES.h5 "
                                       "(the co-simulation it runs)\n")
    assert not out.exists()


def test_steps_that_differ_from_the_verify_file_are_named_as_options(tmp_path, capsys):
    from spikelut.api import random_spikes
    from spikelut.io import save_spikes

    save_model(random_network(0, 4, [6, 2], k=3), tmp_path / "m.h5")
    save_spikes(tmp_path / "s.h5", random_spikes(4, 10, 2, seed=1))
    out = tmp_path / "rtl"
    assert main(["rtl", str(tmp_path / "m.h5"), "-o", str(out), "--verify", str(tmp_path / "s.h5"),
                 "--simulator", "iverilog", "--steps", "5"]) == 1
    assert capsys.readouterr().err == (
        f"spikelut rtl: error: --steps 5 but {tmp_path / 's.h5'} has 10 cycles per sample; leave "
        f"--steps out (the wrapper then counts 10) or verify on a file of 5 cycles\n")
    assert not out.exists()


# ---------------------------------------------------------------------------- reading the output
def test_the_simulators_output_is_read_as_a_byte_grid():
    from spikelut.errors import ToolError
    from spikelut.rtl import cosim

    rng = np.random.default_rng(0)
    rows, width = 4000, 256
    bits = (rng.random((rows, width)) < 0.3).astype(np.int8)
    text = mem_lines(bits.astype(np.uint8))
    lines = text.splitlines()
    lines[5] = lines[5][:3] + "x" + lines[5][4:]      # bit width - 4 of row 5: x
    lines[9] = "z" + lines[9][1:]                      # the top bit of row 9: z
    data = ("\n".join(lines) + "\n").encode()
    want = bits.copy()
    want[5, width - 4] = want[9, width - 1] = -1
    tracemalloc.start()
    try:
        got = cosim._parse_bits(data, rows, width, "got_out.txt")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got.dtype == np.int8 and (got == want).all()
    assert peak < 4 * len(data), peak / len(data)  # was 19 times the file
    crlf = data.replace(b"\n", b"\r\n")                # another line end: the tolerant path
    assert (cosim._parse_bits(crlf, rows, width, "got_out.txt") == want).all()
    with pytest.raises(ToolError, match=r"^got_out.txt: expected 4000 lines of 256 bits from the "
                                        r"simulator, got 3999 lines; the simulation did not "
                                        r"finish$"):
        cosim._parse_bits(data[:-(width + 1)], rows, width, "got_out.txt")
    # bytes that are not 0 or 1 (not even text): read as x, a mismatch, not a UnicodeDecodeError
    junk = cosim._parse_bits(data[:-3] + b"\xff\xfe\n", rows, width, "got_out.txt")
    assert junk[-1, :2].tolist() == [-1, -1] and (junk[:-1] == want[:-1]).all()


def test_junk_from_the_simulator_is_a_mismatch_not_a_traceback(tmp_path):
    from spikelut.rtl import cosim

    net = random_network(0, 4, [6, 2], k=3)
    files = write_verilog(net, tmp_path / "rtl", steps=3)  # 4 random samples of 3 cycles
    d = files.directory
    # what a correct circuit writes for the bits; predictions in bytes that are not UTF-8
    out = files.expected.layer_spikes[net.readout.layer].transpose(1, 0, 2).reshape(12, 2)
    (d / "got_out.txt").write_bytes(mem_lines(out).encode())
    (d / "got_pred.txt").write_bytes(b"1 \xff\x1b[2J\n" * 4)
    rep = cosim.compare(files, "iverilog")
    assert (rep.bit_mismatches, rep.pred_mismatches, rep.ok) == (0, 4, False)
    assert rep.pred_errors[0] == {"sample": 0, "expected": int(files.expected.pred[0]),
                                  "got": "\xff\x1b[2J", "done": "1"}
    assert "\x1b" not in rep.describe() and "got \xff\\x1b[2J (done=1)" in rep.describe()
