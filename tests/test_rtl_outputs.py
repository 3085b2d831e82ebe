"""What ``spikelut rtl`` leaves in its output directory (the fresh-user trial): an interrupted or
failed ``--verify`` keeps the old directory byte for byte and kills the simulator's processes; a
design that fails its co-simulation is kept in ``DIR.unverified``; a spike file of the wrong width
is named with what to do; the wrapper's cycle count comes from the model's training data."""

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from spikelut.api import random_spikes, train
from spikelut.cli import main
from spikelut.io import SpikeData, load_model, save_model, save_spikes
from spikelut.rtl import compile_directory, model_steps, unverified_path
from spikelut.rtl.launch import run_tool
from spikelut.wiring import random_network

from helpers import available_simulator
from test_train import CONFIG, first_of_two

SIM = available_simulator()
needs_sim = pytest.mark.skipif(SIM is None, reason="no Verilog simulator (verilator/iverilog)")

# a stand-in for iverilog: a tool that starts a child of its own, records both pids, and hangs
FAKE_IVERILOG = """#!/bin/sh
sleep 300 &
echo "$$ $!" > "$SPIKELUT_TEST_PIDS.tmp" && mv "$SPIKELUT_TEST_PIDS.tmp" "$SPIKELUT_TEST_PIDS"
wait
"""
FAILING_IVERILOG = """#!/bin/sh
echo "tb.v:1: error: something the test made up"
exit 2
"""


def tree(d: Path) -> dict:
    """Every entry under ``d``: a file's sha256, a directory's mark."""
    out = {}
    for p in sorted(d.rglob("*")):
        rel = str(p.relative_to(d))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def siblings(d: Path) -> list[str]:
    """Entries beside ``d`` that belong to it (temporaries, locks, DIR.unverified)."""
    return sorted(p.name for p in d.parent.iterdir()
                  if p.name != d.name and (p.name.startswith(f".{d.name}.")
                                           or p.name.startswith(f"{d.name}.")))


def fake_tools(tmp_path: Path, iverilog: str) -> Path:
    """A directory with a fake ``iverilog`` (and a ``vvp`` that does nothing) for PATH."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    for name, text in (("iverilog", iverilog), ("vvp", "#!/bin/sh\nexit 0\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    return bin_dir


def gone(pid: int) -> bool:
    """The process has ended (a zombie waiting for its new parent to reap it counts as ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return True
    return fields[0] in ("Z", "X")


def wait_for(cond, what: str, limit: float = 60.0) -> None:
    end = time.monotonic() + limit
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def ctrl_c_raises():
    """Ctrl-C raises KeyboardInterrupt here whoever started pytest (see test_interrupts.py)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@pytest.fixture
def small(tmp_path):
    net = random_network(8, 4, [8, 4], k=3, classes=2, recurrent=False)
    save_model(net, tmp_path / "m.h5")
    save_spikes(tmp_path / "s.h5", random_spikes(4, 6, 2, seed=2), labels=[0, 1])
    return tmp_path


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# ---------------------------------------------------------------------------- interrupts
def test_an_interrupt_during_verify_keeps_the_old_directory(small, monkeypatch, capsys):
    out = small / "rtl"
    assert main(["rtl", str(small / "m.h5"), "-o", str(out), "--top", "old_core"]) == 0
    (out / "notes.txt").write_text("mine")
    before = tree(out)
    capsys.readouterr()
    import spikelut.rtl.compile as comp

    def interrupted(files, simulator, jobs):
        assert (files.directory / "new_core.v").is_file()  # the new design is complete here ...
        raise KeyboardInterrupt

    monkeypatch.setattr(comp, "verify_directory", interrupted)
    monkeypatch.setattr(comp, "find_iverilog", lambda: ("iverilog", "vvp"))
    code = main(["rtl", str(small / "m.h5"), "-o", str(out), "--top", "new_core", "--verify",
                 str(small / "s.h5"), "--simulator", "iverilog"])
    assert code == 130 and capsys.readouterr().err == "spikelut rtl: interrupted\n"
    assert tree(out) == before  # ... but the old one is still DIR, byte for byte
    assert siblings(out) == []  # no temporary, no lock, no DIR.unverified


def test_run_tool_kills_the_tools_process_group_on_ctrl_c(tmp_path, monkeypatch):
    pids = tmp_path / "pids"
    monkeypatch.setenv("SPIKELUT_TEST_PIDS", str(pids))
    script = fake_tools(tmp_path, FAKE_IVERILOG) / "iverilog"

    def interrupt_when_started():
        wait_for(pids.exists, "the fake tool to start")
        os.kill(os.getpid(), signal.SIGINT)  # lands in the main thread, which waits for the tool

    t = threading.Thread(target=interrupt_when_started, daemon=True)
    t.start()
    with pytest.raises(KeyboardInterrupt):
        run_tool([str(script)])
    t.join()
    tool, child = map(int, pids.read_text().split())
    assert gone(tool)  # reaped by run_tool
    wait_for(lambda: gone(child), "the tool's child to end")  # killed with its group


@pytest.mark.skipif(sys.platform != "linux", reason="/proc")
def test_sigint_to_spikelut_rtl_verify_kills_the_simulator_and_keeps_the_old_directory(small):
    out = small / "rtl"
    assert main(["rtl", str(small / "m.h5"), "-o", str(out), "--top", "old_core"]) == 0
    before = tree(out)
    pids = small / "pids"
    env = dict(os.environ, PYTHONPATH=str(Path.cwd()), SPIKELUT_TEST_PIDS=str(pids),
               PATH=f"{fake_tools(small, FAKE_IVERILOG)}{os.pathsep}{os.environ['PATH']}")
    p = subprocess.Popen([sys.executable, "-m", "spikelut", "rtl", str(small / "m.h5"), "-o",
                          str(out), "--top", "new_core", "--verify", str(small / "s.h5"),
                          "--simulator", "iverilog"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         preexec_fn=_default_sigint)
    try:
        wait_for(lambda: pids.exists() or p.poll() is not None, "the fake iverilog to start")
    finally:
        p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert err.splitlines()[-1] == "spikelut rtl: interrupted"
    tool, child = map(int, pids.read_text().split())
    for pid in (tool, child):
        wait_for(lambda: gone(pid), f"process {pid} to end")
    assert tree(out) == before
    assert siblings(out) == []


# ---------------------------------------------------------------------------- failed verification
def _broken_core(monkeypatch):
    """A generator bug: readout node 0 of the emitted core inverted."""
    import spikelut.rtl.writer as writer

    real = writer.emit_core

    def broken(net, top, lut6, plan, model):
        table = net.layers[1].table.copy()
        table[0] ^= 1
        return real(net.replace_layer(1, table=table), top, lut6, None, model)

    monkeypatch.setattr(writer, "emit_core", broken)


@needs_sim
def test_a_design_that_fails_verification_goes_to_dir_unverified(small, monkeypatch, capsys):
    out = small / "rtl"
    assert main(["rtl", str(small / "m.h5"), "-o", str(out), "--verify", str(small / "s.h5"),
                 "--simulator", SIM]) == 0
    before = tree(out)
    capsys.readouterr()
    _broken_core(monkeypatch)
    code = main(["rtl", str(small / "m.h5"), "-o", str(out), "--top", "bad_core", "--verify",
                 str(small / "s.h5"), "--simulator", SIM])
    lines = capsys.readouterr().out.splitlines()
    bad = unverified_path(out)
    assert code == 1
    assert lines[0].startswith(f"wrote {bad}/: bad_core.v (core)")
    assert lines[3].endswith("-- FAILED")
    assert lines[-1] == (f"{out} was not replaced (it is as it was before this command); the "
                         f"design that failed is in {bad}/")
    assert tree(out) == before
    assert (bad / "bad_core.v").is_file() and (bad / "got_out.txt").is_file()
    assert json.loads((bad / "spikelut-rtl.json").read_text())["top"] == "bad_core"
    assert siblings(out) == [bad.name]
    # a second failure replaces the first; a good design afterwards replaces DIR only
    monkeypatch.undo()
    assert main(["rtl", str(small / "m.h5"), "-o", str(out), "--top", "good_core", "--verify",
                 str(small / "s.h5"), "--simulator", SIM]) == 0
    assert (out / "good_core.v").is_file() and (bad / "bad_core.v").is_file()


@needs_sim
def test_a_failed_design_is_not_kept_over_a_directory_of_the_users(small, monkeypatch, capsys):
    out, theirs = small / "rtl", small / "rtl.unverified"
    theirs.mkdir()
    (theirs / "x.txt").write_text("theirs")
    _broken_core(monkeypatch)
    code = main(["rtl", str(small / "m.h5"), "-o", str(out), "--verify", str(small / "s.h5"),
                 "--simulator", SIM, "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["directory"] is None and data["replaced"] is False
    assert not out.exists() and tree(theirs) == {"x.txt": hashlib.sha256(b"theirs").hexdigest()}


def test_a_failing_simulator_build_keeps_its_log_in_dir_unverified(small, monkeypatch, capsys):
    out = small / "rtl"
    assert main(["rtl", str(small / "m.h5"), "-o", str(out)]) == 0
    before = tree(out)
    monkeypatch.setenv("PATH", f"{fake_tools(small, FAILING_IVERILOG)}{os.pathsep}"
                               f"{os.environ['PATH']}")
    capsys.readouterr()
    code = main(["rtl", str(small / "m.h5"), "-o", str(out), "--verify", str(small / "s.h5"),
                 "--simulator", "iverilog"])
    log = unverified_path(out).resolve() / "build" / "iverilog" / "build.log"
    assert code == 1
    assert capsys.readouterr().err == (
        f"spikelut rtl: error: iverilog build failed (exit 2): tb.v:1: error: something the test "
        f"made up -- full log: {log}\n")
    assert log.read_text() == "tb.v:1: error: something the test made up\n"
    assert tree(out) == before


def test_the_api_keeps_dir_on_an_error_after_writing(small, monkeypatch):
    out = small / "rtl"
    net = load_model(small / "m.h5")
    compile_directory(net, out, top="old_core")
    before = tree(out)
    import spikelut.rtl.compile as comp

    def no_yosys(*a, **k):
        raise comp.ToolError("yosys synth_xilinx failed: made up")

    monkeypatch.setattr(comp, "find_yosys", lambda: "yosys")
    monkeypatch.setattr(comp, "synthesize", no_yosys)
    with pytest.raises(comp.ToolError, match="made up"):
        compile_directory(net, out, top="new_core", synth=True)
    assert tree(out) == before and siblings(out) == []


# ---------------------------------------------------------------------------- spike files
def test_verify_names_a_file_of_the_wrong_width_before_its_labels(small, capsys):
    save_spikes(small / "w3.h5", random_spikes(3, 6, 2, seed=1), labels=[0, 1])
    # 8 channels and labels of 4 classes for a 2-class model: the width is the problem to name
    save_spikes(small / "w8.h5", random_spikes(8, 6, 4, seed=1), labels=[0, 1, 2, 3])
    for name, channels in (("w3.h5", 3), ("w8.h5", 8)):
        f = str(small / name)
        for cmd in (["rtl", str(small / "m.h5"), "-o", str(small / "rtl"), "--verify", f],
                    ["simulate", str(small / "m.h5"), f, "-o", str(small / "r.h5")]):
            assert main(cmd) == 1
            assert capsys.readouterr().err == (
                f"spikelut {cmd[0]}: error: {small / name}: spikes have {channels} channels but "
                f"the network has 4 inputs; encode the data for this network or use another "
                f"model\n")
    assert not (small / "rtl").exists()


def test_verify_names_labels_the_readout_cannot_score(small, capsys):
    save_spikes(small / "l4.h5", random_spikes(4, 6, 2, seed=1), labels=[0, 3])
    assert main(["rtl", str(small / "m.h5"), "-o", str(small / "rtl"), "--verify",
                 str(small / "l4.h5")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"spikelut rtl: error: {small / 'l4.h5'}: ") and "classes" in err
    assert not (small / "rtl").exists()


# ---------------------------------------------------------------------------- cycles per sample
def test_training_records_the_datas_cycles_and_coding(tmp_path, capsys):
    x, y = first_of_two()
    (tmp_path / "c.toml").write_text(CONFIG)
    save_spikes(tmp_path / "d.h5", x, y, meta={"coding": "ttfs"})
    assert main(["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"), "-o",
                 str(tmp_path / "m.h5"), "--epochs", "1", "--no-progress"]) == 0
    assert load_model(tmp_path / "m.h5").meta["data"] == {"steps": x.shape[0], "coding": "ttfs"}
    from spikelut.config import build_network, load_config

    net = build_network(load_config(tmp_path / "c.toml"))
    res = train(net, SpikeData(x, y, {"coding": "ttfs"}), {"epochs": 1})
    assert res.net.meta["data"] == {"steps": x.shape[0], "coding": "ttfs"}
    assert model_steps(res.net) == x.shape[0]


def test_rtl_sizes_the_wrapper_by_the_models_training_data(small, capsys):
    net = load_model(small / "m.h5")
    save_model(net.replace(meta={"data": {"steps": 20, "coding": "rate"}}), small / "m20.h5")
    assert main(["rtl", str(small / "m20.h5"), "-o", str(small / "a")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "(wrapper, 20 cycles per sample: the cycles of the data the model was trained on, " \
           "coding rate; --steps N to change)" in first
    manifest = json.loads((small / "a" / "spikelut-rtl.json").read_text())
    assert manifest["steps"] == 20
    assert "// STEPS = 20" in (small / "a" / "spikelut_core_classifier.v").read_text()

    assert main(["rtl", str(small / "m.h5"), "-o", str(small / "b"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["steps"], data["steps_from"]) == (32, "default")
    assert main(["rtl", str(small / "m.h5"), "-o", str(small / "b")]) == 0
    assert (f"(wrapper, 32 cycles per sample: the default, {small / 'm.h5'} records no cycle "
            f"count; pass --steps N with your data's cycles per sample)"
            in capsys.readouterr().out.splitlines()[0])
    assert main(["rtl", str(small / "m20.h5"), "-o", str(small / "c"), "--steps", "7"]) == 0
    assert "(wrapper, 7 cycles per sample: from --steps)" in capsys.readouterr().out
    # a stimulus's cycles (T of the --verify file) win over the model's record
    files, _ = compile_directory(load_model(small / "m20.h5"), small / "d",
                                 stimulus=random_spikes(4, 6, 2, seed=2))
    assert (files.steps, files.steps_from) == (6, "stimulus")


@pytest.mark.parametrize("meta", [{"data": {"steps": 0}}, {"data": {"steps": True}},
                                  {"data": {"steps": "20"}}, {"data": [20]}, {"data": {}},
                                  {"data": {"steps": (1 << 24) + 1}}])
def test_a_bad_recorded_cycle_count_is_ignored(meta):
    net = random_network(0, 4, [6, 2], k=3)
    assert model_steps(net.replace(meta=meta)) is None


def test_a_recorded_cycle_count_up_to_the_limit_counts():
    # the limit is --steps's own (2**24): a model trained on 2**20 + 1 cycles per sample was said
    # to record "no cycle count"
    net = random_network(0, 4, [6, 2], k=3)
    for steps in ((1 << 20) + 1, 1 << 24):
        assert model_steps(net.replace(meta={"data": {"steps": steps}})) == steps


def test_an_input_inside_the_output_directory_is_never_replaced(tmp_path, capsys):
    # the trial: `rtl d/spikelut_core.v -o d --verify d/stimulus.mem` (a model and a spike file
    # saved under names rtl writes) replaced both inputs; an input elsewhere in d is carried over
    net = random_network(0, 3, [4, 2], k=2, classes=2)
    d = tmp_path / "d"
    save_model(net, tmp_path / "m.h5")
    assert main(["rtl", str(tmp_path / "m.h5"), "-o", str(d)]) == 0
    capsys.readouterr()
    model = d / "spikelut_core.v"
    save_model(net, model)
    before = model.read_bytes()
    for extra in ([], ["--force"]):
        assert main(["rtl", str(model), "-o", str(d)] + extra) == 1
        err = capsys.readouterr().err.strip()
        assert err == (f"spikelut rtl: error: {model}: is an input and lies in the output directory {d}, where "
                       f"the new design replaces it; move it out of {d} or choose another output "
                       f"directory")
        assert model.read_bytes() == before
    kept = d / "notes" / "m.h5"  # not a name the design writes: carried into the new directory
    kept.parent.mkdir()
    save_model(net, kept)
    kept_bytes = kept.read_bytes()
    assert main(["rtl", str(kept), "-o", str(d)]) == 0
    assert kept.read_bytes() == kept_bytes and (d / "spikelut_core.v").read_bytes() != before
