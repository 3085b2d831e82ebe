"""Ctrl-C and SIGKILL while a large result is being written (issue 12 item 3): exit 130, the old
file byte for byte, no "Exception ignored"; a killed writer's temporary is removed next time."""

import hashlib
import os
import signal
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest

from spikelut.cli import main
from spikelut.fileutil import HOST, atomic_h5, atomic_path
from spikelut.io import save_model, save_spikes
from spikelut.wiring import random_network

# the CLI, announcing on stdout when it starts writing an output (so the signal lands mid-write)
RUNNER = """
import contextlib, sys
import spikelut.fileutil as fu
import spikelut.fileutil.atomic as fa
orig = fu.atomic_path

@contextlib.contextmanager
def announced(path):
    with orig(path) as tmp:
        print("writing", flush=True)
        yield tmp

fu.atomic_path = fa.atomic_path = announced  # atomic_h5 calls its module's atomic_path
from spikelut.cli import run
run()  # the console entry point (SIGTERM as an interrupt), sys.argv[1:] its arguments
"""


def digest(p) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(autouse=True)
def ctrl_c_raises():
    """Ctrl-C as in an interactive run, whoever started pytest: a shell without job control (CI,
    ``cmd &``) starts background jobs with SIGINT ignored, and children inherit that, so the
    interrupts below would never arrive."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A model and a spike file whose result takes seconds to compress and write."""
    d = tmp_path_factory.mktemp("big")
    channels = 100
    save_model(random_network(0, channels, [6, 2], k=3), d / "m.h5")
    rng = np.random.default_rng(0)
    save_spikes(d / "big.h5", (rng.random((40, 12000, channels)) < 0.5).astype(np.uint8))
    save_spikes(d / "small.h5", (rng.random((4, 2, channels)) < 0.5).astype(np.uint8))
    return d


def start_writing(big, out, preexec=_default_sigint):
    p = subprocess.Popen([sys.executable, "-c", RUNNER, "simulate", str(big / "m.h5"),
                          str(big / "big.h5"), "-o", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, PYTHONPATH=str(Path.cwd())), preexec_fn=preexec)
    assert p.stdout.readline().strip() == "writing"
    return p


def leftovers(d: Path, name: str) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith(f".{name}."))


# SIGTERM (kill, timeout, a cancelled CI job) stops a command as Ctrl-C does
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("delay", [0.0, 0.3])
def test_ctrl_c_while_writing_a_large_result_exits_130_and_keeps_the_old_file(big, tmp_path, delay,
                                                                             sig):
    out = tmp_path / "out.h5"
    assert main(["simulate", str(big / "m.h5"), str(big / "small.h5"), "-o", str(out)]) == 0
    before = digest(out)
    p = start_writing(big, out)
    try:
        p.wait(timeout=delay) if delay else None
    except subprocess.TimeoutExpired:
        pass
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert err == "spikelut simulate: interrupted\n"  # no "Exception ignored ... KeyboardInterrupt"
    assert digest(out) == before
    assert leftovers(tmp_path, "out.h5") == []  # no temporary, no lock



def test_sigterm_where_sigint_is_ignored_ends_the_process_as_before(big, tmp_path):
    """A background job of a shell without job control ignores SIGINT: SIGTERM must then keep
    its default action (end the process), not be turned into an interrupt nobody hears."""
    out = tmp_path / "out.h5"
    p = start_writing(big, out, preexec=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=120)
    assert p.returncode == -signal.SIGTERM

def test_sigkill_leaves_a_temporary_that_the_next_write_removes(big, tmp_path, capsys):
    out = tmp_path / "out.h5"
    assert main(["simulate", str(big / "m.h5"), str(big / "small.h5"), "-o", str(out)]) == 0
    before = digest(out)
    p = start_writing(big, out)
    p.kill()
    p.communicate(timeout=60)
    assert digest(out) == before
    left = leftovers(tmp_path, "out.h5")
    assert f".out.h5.{p.pid}@{HOST}." in left[0] and left[0].endswith(".tmp")
    assert left[1:] == [".out.h5.lock"]  # stale: its process is gone
    assert main(["simulate", str(big / "m.h5"), str(big / "small.h5"), "-o", str(out)]) == 0
    assert leftovers(tmp_path, "out.h5") == []
    assert digest(out) == before  # the same inputs again: the same file


def test_an_interrupt_swallowed_by_a_callback_still_aborts_the_write(tmp_path, capfd):
    """The cause of the bug: a SIGINT handled inside a weakref callback (as in h5py's object
    registry) raises there, Python can only print "Exception ignored" and the write goes on.
    The guard remembers it and aborts the write at the end of the block."""
    out = tmp_path / "x.h5"
    save_spikes(out, np.ones((2, 1, 1), np.uint8))
    before = digest(out)

    class Obj:
        pass

    with pytest.raises(KeyboardInterrupt):
        with atomic_h5(out) as f:
            o = Obj()
            keep = weakref.ref(o, lambda r: signal.raise_signal(signal.SIGINT))
            del o  # the callback runs now; its KeyboardInterrupt cannot propagate
            f.attrs["format"] = "spikelut-spikes"  # the write goes on ...
            assert keep() is None
    assert digest(out) == before  # ... but is discarded
    assert "Exception ignored" not in capfd.readouterr().err
    assert leftovers(tmp_path, "x.h5") == []


def test_an_interrupt_in_ordinary_code_stops_at_once(tmp_path):
    out = tmp_path / "x.txt"
    out.write_text("old")
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(out) as tmp:
            tmp.write_text("new")
            signal.raise_signal(signal.SIGINT)
            reached.append(True)
    assert reached == [] and out.read_text() == "old" and leftovers(tmp_path, "x.txt") == []


def test_interrupt_with_json_prints_one_object(monkeypatch, capsys):
    import json

    import spikelut.cli.cmd_info as cmd_info

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cmd_info, "run", interrupted)
    assert main(["info", "m.h5", "--json"]) == 130
    out, err = capsys.readouterr()
    assert json.loads(out) == {"ok": False, "command": "info", "error": "interrupted"}
    assert err == "spikelut info: interrupted\n"


@pytest.mark.parametrize("extra,hint", [
    (["--checkpoint", "ck.h5"], "; the same command with --resume continues from the last "
                                "finished epoch in ck.h5"),
    # interrupted before the first epoch ended: no checkpoint was written (the hint named one)
    (["--checkpoint", "none.h5"], "; no epoch finished, so there is nothing to resume: run the "
                                  "same command again"),
    ([], "; with --checkpoint FILE a run can be resumed (--resume)")])
def test_an_interrupted_train_says_how_to_resume(monkeypatch, capsys, tmp_path, extra, hint):
    import spikelut.cli.cmd_train as cmd_train

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ck.h5").write_bytes(b"")  # a checkpoint of a finished epoch
    monkeypatch.setattr(cmd_train, "run", interrupted)
    assert main(["train", "c.toml", "--data", "d.h5", "-o", "m.h5", *extra]) == 130
    assert capsys.readouterr().err == f"spikelut train: interrupted{hint}\n"


def test_an_interrupted_run_says_the_same_command_continues(monkeypatch, capsys):
    import spikelut.cli.cmd_run as cmd_run

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cmd_run, "run", interrupted)
    assert main(["run", "-o", "out"]) == 130
    assert capsys.readouterr().err == ("spikelut run: interrupted; the same command continues "
                                       "(finished stages are kept)\n")


def test_sigterm_hands_the_sigint_handler_the_frame_it_landed_in():
    """The writers' guard decides from the frame whether raising is safe (not inside a callback
    from HDF5). SIGTERM re-sent as SIGINT with os.kill ran the handler in the SIGTERM handler's
    own frame: the guard raised inside h5py's deallocation (a traceback, now and then a
    segmentation fault, found by a new-user review: 1 run in ~15 around the end of a write)."""
    from spikelut import signals

    seen = []
    old = signal.signal(signal.SIGINT, lambda s, f: seen.append((s, f)))
    try:
        frame = sys._getframe()
        signals.terminated(signal.SIGTERM, frame)
    finally:
        signal.signal(signal.SIGINT, old)
    assert seen == [(signal.SIGINT, frame)]


def test_only_the_console_entry_point_turns_sigterm_into_an_interrupt(monkeypatch):
    """cli.main called in-process (a test runner, a notebook) leaves SIGTERM alone: a runner
    killed by `timeout` must end, not see its current command return 130 and go on."""
    import spikelut.cli.cmd_backends as cmd
    from spikelut import cli, signals

    seen = []
    monkeypatch.setattr(cmd, "run", lambda args: seen.append(signal.getsignal(signal.SIGTERM))
                        or cli.Output({}, ""))
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        pytest.skip("this test runner handles SIGTERM itself")
    assert main(["backends"]) == 0
    monkeypatch.setattr(sys, "argv", ["spikelut", "backends"])
    with pytest.raises(SystemExit) as e:
        cli.run()
    assert e.value.code == 0
    assert seen == [signal.SIG_DFL, signals.terminated]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored after the command
