"""Outputs: unwritable paths, outputs that are inputs, files of another kind, disk full, locks,
stale temporaries, the rtl directory swap, locked HDF5 inputs, broken pipes (issue 12 items
1, 2, 4, 5; issue 21 deliver 6). Every writing command goes through spikelut.fileutil."""

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spikelut import fileutil
from spikelut.errors import OutputError
from spikelut.fileutil import HOST, OutputLock, atomic_path, check_output, file_kind
from spikelut.io import load_spikes

from helpers import run

TRAIN_TOML = """
name = "tr"
seed = 0
inputs = 2
[[layers]]
name = "h"
nodes = 6
k = 3
taps = [{ from = "input", count = 2 }, { from = "self", count = 1, delay = 1 }]
[readout]
classes = 2
[train]
epochs = 1
batch_size = 8
"""


def digest(p) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


@pytest.fixture
def w(tmp_path, demos_dir, capsys):
    """A small workspace: config, model, stimulus, result, training config and data."""
    d = tmp_path / "w"
    d.mkdir()
    ns = type("W", (), {})()
    ns.dir = d
    ns.cfg = d / "osc.toml"
    shutil.copy(os.path.join(demos_dir, "oscillator.toml"), ns.cfg)
    ns.model, ns.stim, ns.result = d / "osc.h5", d / "stim.h5", d / "result.h5"
    assert run(capsys, "init", ns.cfg, "-o", ns.model)[0] == 0
    assert run(capsys, "stimulus", ns.model, "--steps", 6, "--batch", 2, "-o", ns.stim)[0] == 0
    assert run(capsys, "simulate", ns.model, ns.stim, "-o", ns.result)[0] == 0
    ns.tcfg = d / "tr.toml"
    ns.tcfg.write_text(TRAIN_TOML)
    ns.data = d / "data.h5"
    assert run(capsys, "encode", "--dataset", "first_of_two", "--limit", 16, "-o", ns.data)[0] == 0
    return ns


# every writing command, as a function of the workspace and the output path
WRITERS = {
    "init": lambda w, o: ["init", w.cfg, "-o", o],
    "encode": lambda w, o: ["encode", "--dataset", "first_of_two", "--limit", 4, "-o", o],
    "stimulus": lambda w, o: ["stimulus", w.model, "--steps", 4, "-o", o],
    "simulate": lambda w, o: ["simulate", w.model, w.stim, "-o", o],
    "train": lambda w, o: ["train", w.tcfg, "--data", w.data, "-o", o, "--no-progress"],
    "train --checkpoint": lambda w, o: ["train", w.tcfg, "--data", w.data, "-o", w.dir / "m.h5",
                                        "--checkpoint", o, "--no-progress"],
    "train --log": lambda w, o: ["train", w.tcfg, "--data", w.data, "-o", w.dir / "m.h5",
                                 "--log", o, "--no-progress"],
    "rtl": lambda w, o: ["rtl", w.model, "-o", o],
    "vcd": lambda w, o: ["vcd", w.result, "-o", o],
    "raster": lambda w, o: ["raster", w.result, "-o", o],
    "plot rates": lambda w, o: ["plot", "rates", w.result, "-o", o],
    "bench": lambda w, o: ["bench", "--sizes", "tiny", "--no-training", "-o", o],
    "run": lambda w, o: ["run", "-o", o],
}


def _tmpfs(d: Path, options: str):
    """Mount a tmpfs on ``d`` (root only): yields, then unmounts; skips where refused."""
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(d)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"mounting a tmpfs ({options}) is not permitted here")
    yield d
    subprocess.run(["umount", str(d)], capture_output=True)


@pytest.fixture
def readonly_dir(tmp_path):
    """A directory nobody may write into: chmod 555 for a normal user; for root (who ignores
    permission bits) a read-only tmpfs."""
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        return
    yield from _tmpfs(d, "ro,size=64k")


@pytest.fixture
def full_dir(tmp_path):
    """A 2 MiB tmpfs, filled by the test (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    d = tmp_path / "full"
    d.mkdir()
    yield from _tmpfs(d, "size=2m")


def bad_paths(w, readonly=None):
    (w.dir / "afile.txt").write_text("x")
    (w.dir / "adir").mkdir(exist_ok=True)
    paths = {
        "parent is a file": (w.dir / "afile.txt" / "out.h5", "afile.txt is a file, not a directory"),
        "in /proc": (Path("/proc/out.h5"), "cannot write /proc/out.h5"),
        "name too long": (w.dir / ("x" * 300 + ".h5"), "file name too long"),
    }
    if readonly is not None:
        paths["read-only directory"] = (readonly / "out.h5", "cannot write")
    return paths


# ---------------------------------------------------------------------------- item 1 (+ property)
@pytest.mark.parametrize("command", sorted(WRITERS))
def test_no_command_prints_a_traceback_for_any_path_error(w, capsys, command, readonly_dir):
    """Property: every writing command, every bad output path: one line naming the path and
    the reason, exit 1; with --json one JSON object too; nothing written."""
    for what, (path, reason) in bad_paths(w, readonly_dir).items():
        argv = [str(a) for a in WRITERS[command](w, path)]
        code, out, err = run(capsys, *argv)
        assert code == 1, (command, what, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (command, what, err)
        assert err.startswith(f"spikelut {argv[0]}: error: ") and str(path) in err, err
        assert reason in err, (command, what, err)
        code, out, err = run(capsys, *argv, "--json")
        assert code == 1 and json.loads(out)["ok"] is False and str(path) in json.loads(out)["error"]
    assert not list(readonly_dir.iterdir())


def test_unwritable_checkpoint_is_refused_before_training(w, capsys, readonly_dir, monkeypatch):
    from spikelut.train import Trainer

    def no_training(*a, **k):
        raise AssertionError("training started before the checkpoint path was checked")

    monkeypatch.setattr(Trainer, "fit", no_training)
    code, _, err = run(capsys, "train", w.tcfg, "--data", w.data, "-o", w.dir / "m.h5",
                       "--checkpoint", readonly_dir / "ckpt.h5", "--no-progress")
    assert code == 1
    assert err.strip().startswith(f"spikelut train: error: cannot write {readonly_dir / 'ckpt.h5'}: ")
    assert not (w.dir / "m.h5").exists()


def test_read_only_directory_message(w, capsys, readonly_dir):
    code, _, err = run(capsys, "simulate", w.model, w.stim, "-o", readonly_dir / "r.h5")
    reason = "read-only file system" if os.geteuid() == 0 else "permission denied"
    assert (code, err) == (1, f"spikelut simulate: error: cannot write {readonly_dir / 'r.h5'}: "
                              f"{reason}\n")


def test_output_that_is_a_directory_or_a_device(w, capsys):
    code, _, err = run(capsys, "simulate", w.model, w.stim, "-o", w.dir)
    assert (code, err) == (1, f"spikelut simulate: error: {w.dir}: is a directory; give a file "
                              f"name for the output\n")
    code, _, err = run(capsys, "simulate", w.model, w.stim, "-o", "/dev/null")
    assert code == 1 and "/dev/null: is not a regular file" in err


# ---------------------------------------------------------------------------- item 2
def test_output_that_is_an_input_is_refused(w, capsys):
    before = digest(w.cfg)
    code, _, err = run(capsys, "init", w.cfg, "-o", w.cfg)
    assert (code, err) == (1, f"spikelut init: error: {w.cfg}: is also an input ({w.cfg}); "
                              f"choose another output\n")
    assert digest(w.cfg) == before
    before = digest(w.data)
    code, _, err = run(capsys, "train", w.tcfg, "--data", w.data, "-o", w.data, "--no-progress")
    assert code == 1 and f"{w.data}: is also an input ({w.data})" in err
    assert digest(w.data) == before
    # --force never lets an output replace an input
    code, _, err = run(capsys, "simulate", w.model, w.stim, "-o", w.stim, "--force")
    assert code == 1 and "is also an input" in err


# each writing command and the input files it reads
INPUTS = {"init": ["cfg"], "stimulus": ["model"], "simulate": ["model", "stim"],
          "train": ["tcfg", "data"], "train --checkpoint": ["tcfg", "data"],
          "train --log": ["tcfg", "data"], "vcd": ["result"], "raster": ["result"],
          "plot rates": ["result"], "rtl": ["model"]}


@pytest.mark.parametrize("command", sorted(INPUTS))
def test_no_writer_replaces_an_input(w, capsys, command):
    """Property: whatever the command, an output that is one of its inputs is refused, with or
    without --force, and the input stays byte for byte."""
    for name in INPUTS[command]:
        src = getattr(w, name)
        before = digest(src)
        for extra in ([], ["--force"]):
            code, _, err = run(capsys, *WRITERS[command](w, src), *extra)
            assert code == 1 and err.count("\n") == 1, (command, name, err)
            expect = "exists and is not a directory" if command == "rtl" else \
                f"{src}: is also an input ({src}); choose another output"
            assert expect in err, (command, name, err)
        assert digest(src) == before


def test_hard_and_symbolic_links_to_an_input_are_the_input(w, capsys):
    hard, soft = w.dir / "hard.h5", w.dir / "soft.h5"
    os.link(w.stim, hard)
    os.symlink(w.stim, soft)
    before = digest(w.stim)
    for link in (hard, soft):
        code, _, err = run(capsys, "simulate", w.model, w.stim, "-o", link)
        assert (code, err) == (1, f"spikelut simulate: error: {link}: is also an input ({w.stim}); "
                                  f"choose another output\n")
    via_dots = w.dir / "adir" / ".." / "stim.h5"
    (w.dir / "adir").mkdir()
    assert run(capsys, "simulate", w.model, w.stim, "-o", via_dots)[0] == 1
    assert digest(w.stim) == before


@pytest.mark.parametrize("missing", [["new"], ["new", "deeper", ".."], ["new", "deeper"]])
def test_a_path_through_directories_not_made_yet_is_checked_as_the_file_it_names(w, capsys,
                                                                                 missing):
    """``new/../stim.h5`` names the input once ``new`` exists, though the system cannot resolve
    it before: refused (input and other kind) without making ``new``; a fresh name there is
    written, and ``new`` made."""
    ups = [".."] * sum(1 if m != ".." else -1 for m in missing)
    before = digest(w.stim), digest(w.model)
    for extra in ([], ["--force"]):
        out = w.dir.joinpath(*missing, *ups, "stim.h5")
        code, _, err = run(capsys, "simulate", w.model, w.stim, "-o", out, *extra)
        assert (code, err) == (1, f"spikelut simulate: error: {out}: is also an input ({w.stim}); "
                                  f"choose another output\n")
    out = w.dir.joinpath(*missing, *ups, w.model.name)  # the model, and a file of another kind
    code, _, err = run(capsys, "simulate", w.model, w.stim, "-o", out)
    assert code == 1 and f"{out}: is also an input ({w.model})" in err
    code, _, err = run(capsys, "stimulus", "--channels", 1, "--steps", 3, "-o", out)
    assert (code, err) == (1, f"spikelut stimulus: error: {out}: exists and is a spikelut model, "
                              f"not a spike file; choose another output or pass --force to "
                              f"overwrite it\n")
    assert (digest(w.stim), digest(w.model)) == before
    assert not (w.dir / "new").exists()
    out = w.dir.joinpath(*missing, *ups, "fresh.h5")
    assert run(capsys, "simulate", w.model, w.stim, "-o", out)[0] == 0
    assert (w.dir / "fresh.h5").is_file() and (w.dir / "new").is_dir()


def test_a_file_of_another_kind_is_kept_unless_forced(w, capsys):
    # a checkpoint over a model
    before = digest(w.model)
    code, _, err = run(capsys, "train", w.tcfg, "--data", w.data, "-o", w.dir / "m.h5",
                       "--checkpoint", w.model, "--no-progress")
    assert (code, err) == (1, f"spikelut train: error: {w.model}: exists and is a spikelut model, "
                              f"not a training checkpoint; choose another output or pass --force "
                              f"to overwrite it\n")
    assert digest(w.model) == before
    # spike data over a model, a model over spike data, a model over a config
    code, _, err = run(capsys, "stimulus", "--channels", 1, "--steps", 3, "-o", w.model)
    assert code == 1 and "exists and is a spikelut model, not a spike file" in err
    other = w.dir / "other.toml"
    other.write_text("inputs = 3\n")
    code, _, err = run(capsys, "init", w.cfg, "-o", other)
    assert code == 1 and "exists and is a TOML config, not a spikelut model" in err
    code, _, err = run(capsys, "init", w.cfg, "-o", w.stim)
    assert code == 1 and "exists and is a spike file, not a spikelut model" in err
    assert digest(w.model) == before
    # the same kind is replaced (a rerun); --force replaces another kind
    assert run(capsys, "simulate", w.model, w.stim, "-o", w.result)[0] == 0
    assert run(capsys, "stimulus", "--channels", 1, "--steps", 3, "-o", w.model, "--force")[0] == 0
    assert load_spikes(w.model).spikes.shape == (3, 1, 1)


def test_two_outputs_of_one_command_are_distinct(w, capsys):
    code, _, err = run(capsys, "train", w.tcfg, "--data", w.data, "-o", w.dir / "m.h5",
                       "--checkpoint", w.dir / "m.h5", "--no-progress")
    assert code == 1 and "given for two outputs of this command" in err


def test_file_kinds(w, tmp_path):
    (tmp_path / "e").write_bytes(b"")
    (tmp_path / "l.jsonl").write_text('{"epoch": 1, "loss": 0.5, "acc": 0.5}\n'
                                      '{"epoch": 2, "loss": 0.4, "acc": 0.6}\n')
    (tmp_path / "n.md").write_text("# Benchmarks\n")
    assert [file_kind(p) for p in (w.model, w.stim, w.result, w.cfg, tmp_path / "e",
                                   tmp_path / "l.jsonl", tmp_path / "n.md")] == \
        ["model", "spikes", "spikes", "config", "empty", "log", "text"]


# ---------------------------------------------------------------------------- disk full (21.6)
@pytest.mark.parametrize("command", [c for c in sorted(WRITERS) if c not in ("bench", "run")])
def test_no_writer_leaves_a_target_half_written_when_the_disk_is_full(w, capsys, full_dir, command):
    """Property: every writer, disk full while writing: one line, exit 1, the old target byte
    for byte (a whole directory for rtl), no temporary and no lock left behind."""
    is_dir = command == "rtl"
    target = full_dir / ("rtl" if is_dir else "target")
    argv = [str(a) for a in WRITERS[command](w, target)] + ["--force"]
    assert run(capsys, *argv)[0] == 0

    def snapshot():
        if is_dir:
            return {str(p.relative_to(target)): digest(p) for p in target.rglob("*") if p.is_file()}
        return digest(target)

    old = snapshot()
    with open(full_dir / "filler", "wb", buffering=0) as f:
        with pytest.raises(OSError) as e:
            while True:
                f.write(b"\0" * 4096)
    assert e.value.errno == errno.ENOSPC
    code, _, err = run(capsys, *argv)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.strip().endswith(f"cannot write {target}: no space left on the device"), err
    assert snapshot() == old
    assert sorted(p.name for p in full_dir.iterdir()) == sorted(["filler", target.name])


def test_write_error_while_writing_is_one_line(w, capsys, monkeypatch):
    """ENOSPC raised by the writer itself (not only by HDF5) becomes the same one line."""
    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    out = w.dir / "s.vcd"
    out.write_text("$timescale 1ns $end\n")
    monkeypatch.setattr(Path, "write_text", full)
    code, _, err = run(capsys, "vcd", w.result, "-o", out)
    monkeypatch.undo()
    assert (code, err) == (1, f"spikelut vcd: error: cannot write {out}: no space left on the "
                              f"device\n")
    assert out.read_text() == "$timescale 1ns $end\n"
    assert [p.name for p in w.dir.iterdir() if p.name.startswith(".s.vcd")] == []


# ---------------------------------------------------------------------------- rtl swap (21.6)
def test_rtl_keeps_the_old_directory_until_the_new_one_is_complete(w, capsys, monkeypatch):
    from spikelut.rtl import writer

    d = w.dir / "rtl"
    assert run(capsys, "rtl", w.model, "-o", d)[0] == 0
    (d / "notes.txt").write_text("mine")  # a file of the user's: carried over
    old = {p.name: digest(p) for p in d.iterdir() if p.is_file()}

    def broken(*a, **k):
        raise OutputError(f"cannot write {d}: no space left on the device")

    monkeypatch.setattr(writer, "mem_lines", broken)
    assert run(capsys, "rtl", w.model, "-o", d, "--top", "other")[0] == 1
    assert {p.name: digest(p) for p in d.iterdir() if p.is_file()} == old
    monkeypatch.undo()
    assert run(capsys, "rtl", w.model, "-o", d, "--top", "other")[0] == 0
    names = sorted(p.name for p in d.iterdir())
    assert "other.v" in names and "spikelut_core.v" not in names and "notes.txt" in names
    assert (d / "notes.txt").read_text() == "mine"
    assert [p.name for p in w.dir.iterdir() if p.name.startswith(".rtl.")] == []


def test_rtl_through_a_symbolic_link_replaces_the_linked_directory(w, capsys):
    real, link = w.dir / "real", w.dir / "link"
    assert run(capsys, "rtl", w.model, "-o", real)[0] == 0
    link.symlink_to(real)
    assert run(capsys, "rtl", w.model, "-o", link, "--top", "other")[0] == 0
    assert link.is_symlink() and (real / "other.v").is_file() and not (real / "spikelut_core.v").exists()


def test_rtl_refuses_the_current_directory(w, capsys, monkeypatch):
    d = w.dir / "rtl"
    assert run(capsys, "rtl", w.model, "-o", d)[0] == 0
    monkeypatch.chdir(d)
    code, _, err = run(capsys, "rtl", w.model, "-o", ".")
    assert code == 1 and "is the current directory or holds it" in err


def test_killed_directory_swap_is_rolled_back_or_cleaned(tmp_path):
    d = tmp_path / "rtl"
    stale_new = tmp_path / f".rtl.999999999@{HOST}.abcdefgh.tmp"
    stale_old = tmp_path / f".rtl.999999999@{HOST}.ijklmnop.old"
    stale_new.mkdir()
    (stale_old / "d").mkdir(parents=True)
    (stale_old / "d" / "a.v").write_text("old")
    fileutil.clean_stale_temporaries(d)
    assert (d / "a.v").read_text() == "old" and not stale_new.exists() and not stale_old.exists()


# ---------------------------------------------------------------------------- stale temporaries (12.3)
def test_stale_temporaries_of_the_target_are_removed_on_the_next_write(w, capsys):
    out = w.dir / "r.h5"
    dead = w.dir / f".r.h5.999999999@{HOST}.abcdefgh.tmp"
    alive = w.dir / f".r.h5.{os.getpid()}@{HOST}.ijklmnop.tmp"
    remote = w.dir / ".r.h5.999999999@elsewhere.qrstuvwx.tmp"
    other = w.dir / f".x.h5.999999999@{HOST}.abcdefgh.tmp"
    for p in (dead, alive, remote, other):
        p.write_bytes(b"half")
    assert run(capsys, "simulate", w.model, w.stim, "-o", out)[0] == 0
    assert not dead.exists() and alive.exists() and remote.exists() and other.exists()


def test_temporaries_carry_the_writer_pid(tmp_path):
    seen = []
    with atomic_path(tmp_path / "x.txt") as tmp:
        seen.append(tmp.name)
        tmp.write_text("x")
    assert seen[0].startswith(f".x.txt.{os.getpid()}@{HOST}.") and seen[0].endswith(".tmp")


# ---------------------------------------------------------------------------- locks (21.6)
HOLDER = """
import sys, time
from spikelut.fileutil import lock_output
lock_output(sys.argv[1])
print("locked", flush=True)
time.sleep(60)
"""


def test_concurrent_runs_on_the_same_output_are_refused(w, capsys):
    out = w.dir / "m.h5"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE,
                              text=True, env=dict(os.environ, PYTHONPATH=str(Path.cwd())))
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, _, err = run(capsys, "train", w.tcfg, "--data", w.data, "-o", out, "--no-progress")
        assert code == 1 and err.count("\n") == 1
        assert err.startswith(f"spikelut train: error: {out}: in use by another spikelut process "
                              f"(pid {holder.pid} on {HOST} since ")
        assert err.strip().endswith("; wait for it to finish or choose another output")
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed: its lock is stale and taken over
    assert run(capsys, "train", w.tcfg, "--data", w.data, "-o", out, "--no-progress")[0] == 0
    assert not (w.dir / ".m.h5.lock").exists()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    target = tmp_path / "m.h5"
    lock = tmp_path / ".m.h5.lock"
    lock.write_text(json.dumps({"pid": 999999999, "host": HOST, "command": "spikelut train x"}))
    with OutputLock(target) as held:
        info = json.loads(lock.read_text())
        assert info["pid"] == os.getpid() and info["host"] == HOST
        assert held.fd is not None
    assert not lock.exists()


def test_lock_without_flock_trusts_the_pid(tmp_path, monkeypatch):
    target = tmp_path / "m.h5"
    lock = tmp_path / ".m.h5.lock"

    class NoFlock:
        LOCK_EX = LOCK_NB = 0

        @staticmethod
        def flock(fd, op):
            raise OSError(errno.ENOLCK, "no locks")

    monkeypatch.setattr(fileutil.locks, "fcntl", NoFlock)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(json.dumps({"pid": holder.pid, "host": HOST, "command": "spikelut x"}))
        with pytest.raises(OutputError, match=f"in use by another spikelut process \\(pid {holder.pid}"):
            OutputLock(target).acquire()
    finally:
        holder.kill()
        holder.wait()
    with OutputLock(target):
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_lock_contents_from_the_file_are_escaped(tmp_path):
    msg = str(OutputLock(tmp_path / "m.h5")._busy({"pid": 7, "host": "h\x1b[2Jx", "command": "a\nb"}))
    assert msg == (f"{tmp_path / 'm.h5'}: in use by another spikelut process (pid 7 on h\\x1b[2Jx: "
                   f"a\\nb); wait for it to finish or choose another output")


# ---------------------------------------------------------------------------- locked input (12.4)
def test_a_locked_hdf5_input_is_named_as_locked(w, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import h5py, sys, time; f = h5py.File(sys.argv[1], 'a'); "
                               "print('open', flush=True); time.sleep(60)", str(w.stim)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        code, _, err = run(capsys, "simulate", w.model, w.stim, "-o", w.dir / "r.h5")
    finally:
        holder.kill()
        holder.wait()
    assert (code, err) == (1, f"spikelut simulate: error: {w.stim}: locked by another process that "
                              f"has it open for writing; wait until that process closes it, then "
                              f"run again\n")


# ---------------------------------------------------------------------------- broken pipe (12.5)
def test_broken_pipe_is_quiet(w):
    env = dict(os.environ, PYTHONPATH=str(Path.cwd()))
    p = subprocess.run(f"{sys.executable} -m spikelut info {w.model} | true; "
                       f"{sys.executable} -m spikelut simulate {w.model} {w.stim} -o {w.dir / 'p.h5'}"
                       f" | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}",
                       shell=True, executable="/bin/bash", capture_output=True, text=True, env=env)
    assert p.stderr == ""
    assert p.stdout.strip() in ("0", "141")  # 141 when the reader left before the last write


def test_broken_pipe_exit_status(w, monkeypatch, capsys):
    import spikelut.cli as cli

    def closed(*a, **k):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr(cli, "_main", closed)
    monkeypatch.setattr(os, "dup2", lambda a, b: None)  # keep pytest's stdout
    assert cli.main(["info", str(w.model)]) == cli.EXIT_BROKEN_PIPE == 141


# ---------------------------------------------------------------------------- one helper
def test_check_output_is_used_by_every_writing_command():
    """Every cmd_*.py that writes calls the one shared helper (no private checks)."""
    root = Path(__file__).resolve().parents[1] / "spikelut" / "cli"
    writing = {"cmd_init", "cmd_encode", "cmd_stimulus", "cmd_simulate", "cmd_train", "cmd_rtl",
               "cmd_vcd", "cmd_raster", "cmd_plot", "cmd_bench"}
    for name in writing:
        assert "check_output(" in (root / f"{name}.py").read_text(), name


def test_check_output_docstring_example_and_probe(tmp_path):
    p = check_output(tmp_path / "sub" / "x.h5", kind="model", lock=False)
    assert p == tmp_path / "sub" / "x.h5" and (tmp_path / "sub").is_dir()
    assert list((tmp_path / "sub").iterdir()) == []
    with pytest.raises(OutputError, match="empty output path"):
        check_output("", kind="model", lock=False)
