"""A new user's review: analyze and sweep refuse foreign output directories and never delete an
input, prune and spikelut.torch refuse analog models, distill_loss checks alpha and tau, Ctrl-C
while the command line is being built, demo scripts answer bad input in one line, a misspelt
sweep key names the space file. Every test here fails on the code before the fixes."""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spikelut.cli import main
from spikelut.errors import ConfigError, ShapeError
from spikelut.io import save_model, save_spikes
from spikelut.wiring import random_network

REPO = Path(__file__).resolve().parent.parent
ANALOG_TAIL = ("needs a binary circuit, but this is an analog model (4-bit tables, "
               "docs/relaxations.md); evaluate it with spikelut eval, or retrain with [train] "
               "analog_bits = 0")


def _analog(net):
    return net.replace(meta={"analog": {"bits": 4, "noise": 0.0}})


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))


# ---------------------------------------------------------------------------- prune: analog
def test_prune_refuses_an_analog_model_naming_the_file(tmp_path, capsys):
    net = _analog(random_network(0, n_in=3, sizes=[4, 2], k=2))
    save_model(net, tmp_path / "a.h5")
    assert main(["prune", str(tmp_path / "a.h5"), "-o", str(tmp_path / "p.h5")]) == 1
    out, err = capsys.readouterr()
    assert err == f"spikelut prune: error: {tmp_path / 'a.h5'}: prune {ANALOG_TAIL}\n"
    assert out == "" and not (tmp_path / "p.h5").exists()


def test_prune_network_refuses_an_analog_network():
    from spikelut.prune import prune_network

    with pytest.raises(ConfigError) as e:
        prune_network(_analog(random_network(0, n_in=3, sizes=[4, 2], k=2)))
    assert str(e.value) == f"prune {ANALOG_TAIL}"


# ---------------------------------------------------------------------------- spikelut.torch
torch_missing = pytest.mark.skipif(
    __import__("importlib").util.find_spec("torch") is None,
    reason="PyTorch not installed: pip install 'spikelut[torch]'")


@torch_missing
def test_spikelut_module_refuses_an_analog_network():
    from spikelut.torch import SpikeLUT

    net = _analog(random_network(0, n_in=3, sizes=[4, 2], k=2))
    with pytest.raises(ConfigError) as e:
        SpikeLUT.from_network(net, backend="numpy")
    assert str(e.value) == f"spikelut.torch.SpikeLUT {ANALOG_TAIL}"
    with pytest.raises(ConfigError):
        SpikeLUT(net, backend="numpy")


@torch_missing
def test_to_network_refuses_a_module_whose_network_became_analog():
    from spikelut.torch import SpikeLUT

    m = SpikeLUT.from_network(random_network(0, n_in=3, sizes=[4, 2], k=2), backend="numpy")
    assert m.to_network().sizes == [4, 2]  # binary: fine
    m.net = _analog(m.net)
    with pytest.raises(ConfigError) as e:
        m.to_network()
    assert str(e.value) == f"spikelut.torch.SpikeLUT.to_network {ANALOG_TAIL}"


@torch_missing
def test_spikelut_module_names_the_type_of_a_numpy_input():
    from spikelut.torch import SpikeLUT

    m = SpikeLUT.from_network(random_network(0, n_in=3, sizes=[4, 2], k=2), backend="numpy")
    with pytest.raises(ShapeError) as e:
        m(np.zeros((5, 2, 3), np.float32))  # the right shape: only the type is wrong
    assert str(e.value) == ("input spikes: expected a torch.Tensor, got numpy.ndarray; convert "
                            "with torch.from_numpy")
    with pytest.raises(ShapeError) as e:
        m([[[0, 1, 0]]])
    assert str(e.value) == "input spikes: expected a torch.Tensor, got list"


@torch_missing
@pytest.mark.parametrize("tau,alpha,message", [
    (2.0, 1.5, "distill_loss: alpha must be a number in [0, 1], got 1.5"),
    (2.0, -0.1, "distill_loss: alpha must be a number in [0, 1], got -0.1"),
    (2.0, float("nan"), "distill_loss: alpha must be a number in [0, 1], got nan"),
    (0.0, 0.5, "distill_loss: tau must be a finite number > 0, got 0.0"),
    (-1.0, 0.5, "distill_loss: tau must be a finite number > 0, got -1.0"),
    (float("nan"), 0.5, "distill_loss: tau must be a finite number > 0, got nan"),
    (float("inf"), 0.5, "distill_loss: tau must be a finite number > 0, got inf"),
])
def test_distill_loss_refuses_bad_alpha_and_tau(tau, alpha, message):
    import torch

    from spikelut.torch import distill_loss

    z = torch.tensor([[2.0, 0.0]])
    with pytest.raises(ConfigError) as e:
        distill_loss(z, z.flip(1), torch.tensor([0]), tau, alpha)
    assert str(e.value) == message
    # the edges are allowed
    assert math.isfinite(float(distill_loss(z, z.flip(1), torch.tensor([0]), 1.0, 0.0)))
    assert math.isfinite(float(distill_loss(z, z.flip(1), torch.tensor([0]), 0.5, 1.0)))


# ---------------------------------------------------------------------------- sweep space files
BASE = REPO / "demos" / "run_default.toml"


def _space(tmp_path, body: str) -> Path:
    p = tmp_path / "space.toml"
    p.write_text(f'base = {json.dumps(str(BASE))}\n[set]\n"data.val_fraction" = 0.2\n' + body)
    return p


@pytest.mark.parametrize("body,message", [
    ('[params]\n"layers.0.nodez" = { choices = [4, 8] }\n',
     "[params]: 'layers.0.nodez': unknown key(s) ['nodez']; did you mean 'nodes'?"),
    ('"train.epohcs" = 3\n', "[set]: 'train.epohcs': unknown key(s) ['epohcs']; did you mean "
                             "'epochs'?"),
    ('"layers.0.taps.0.cuont" = 2\n', "[set]: 'layers.0.taps.0.cuont': unknown key(s) ['cuont']; "
                                      "did you mean 'count'?"),
])
def test_a_misspelt_space_key_names_the_space_file_not_the_base(tmp_path, body, message):
    from spikelut.sweep import load_space

    p = _space(tmp_path, body)
    with pytest.raises(ConfigError) as e:
        load_space(p)
    assert str(e.value) == f"{p}: {message}"
    assert str(BASE) not in str(e.value)


def test_space_keys_new_to_the_base_but_valid_are_still_set(tmp_path):
    from spikelut.sweep import load_space

    sp = load_space(_space(tmp_path, '"train.lr" = 0.05\n"rtl.top" = "core"\n'))
    cfg = sp.config_for({})
    assert cfg["train"]["lr"] == 0.05 and cfg["rtl"]["top"] == "core"


def test_a_space_file_nested_too_deep_is_one_line(tmp_path, capsys):
    # without the sweep extra the command says so first (README's test command installs [dev])
    pytest.importorskip("optuna", reason="optuna not installed: pip install 'spikelut[sweep]'")
    p = _space(tmp_path, "x = " + "[" * 400 + "]" * 400 + "\n")
    assert main(["sweep", str(p), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err == (f"spikelut sweep: error: {p}: invalid TOML: nested too deep (more than 64 "
                   f"levels of arrays or tables; a config needs a few)\n")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- sweep -o DIR
SWEEP_FOREIGN = ("directory exists and was not written by 'spikelut sweep' (no "
                 "spikelut-sweep.json); choose a new directory, empty it, or pass --force")


def _sweep(space: Path, out: Path, *extra: str) -> int:
    pytest.importorskip("optuna", reason="pip install 'spikelut[sweep]'")
    return main(["sweep", str(space), "-o", str(out), "--trials", "0", *extra])


def test_sweep_refuses_a_foreign_directory_and_leaves_it_alone(tmp_path, capsys):
    space = _space(tmp_path, "")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "report.html").write_text("my notes")  # a name the sweep writes
    assert _sweep(space, out, "--json") == 1
    stdout, err = capsys.readouterr()
    assert err == f"spikelut sweep: error: {out}: {SWEEP_FOREIGN}\n"
    assert json.loads(stdout) == {"ok": False, "command": "sweep",
                                  "error": f"{out}: {SWEEP_FOREIGN}"}
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]
    assert (out / "report.html").read_text() == "my notes"


def test_sweep_force_writes_beside_other_files_and_a_rerun_continues(tmp_path, capsys):
    space = _space(tmp_path, "")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert _sweep(space, out, "--force") == 0
    assert (out / "notes.txt").read_text() == "keep me"
    assert {"spikelut-sweep.json", "study.db", "report.json"} <= {p.name for p in out.iterdir()}
    capsys.readouterr()
    assert _sweep(space, out) == 0  # its own directory: continued without --force
    assert "study 'space' in sqlite:" in capsys.readouterr().err


def test_sweep_continues_a_directory_written_before_the_marker(tmp_path, capsys):
    space = _space(tmp_path, "")
    out = tmp_path / "old"
    assert _sweep(space, out) == 0
    (out / "spikelut-sweep.json").unlink()  # as an older spikelut left it: study.db, reports
    capsys.readouterr()
    assert _sweep(space, out) == 0, capsys.readouterr().err


def test_sweep_refuses_a_second_study_in_the_same_directory(tmp_path, capsys):
    # its trials/NNNNN would have overwritten the first study's, trial number for trial number
    out = tmp_path / "out"
    assert _sweep(_space(tmp_path, ""), out) == 0
    before = sorted(p.name for p in out.iterdir())
    other = tmp_path / "other"
    other.mkdir()
    second = _space(other, '[sweep]\nstudy = "wide"\n')
    capsys.readouterr()
    for extra in ((), ("--force",)):
        assert _sweep(second, out, *extra) == 1
        assert capsys.readouterr().err == (
            f"spikelut sweep: error: {out}: holds the sweep of study 'space', and study 'wide' "
            f"would overwrite its trials; choose another output directory (or give [sweep] "
            f"study = 'space' to continue that study)\n")
    assert sorted(p.name for p in out.iterdir()) == before
    # the same for a directory of a sweep from before the marker (its report names the study)
    (out / "spikelut-sweep.json").unlink()
    assert _sweep(second, out) == 1
    assert "holds the sweep of study 'space'" in capsys.readouterr().err


def test_sweep_never_overwrites_an_input_even_with_force(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    space = out / "report.json"  # the space file where the report goes
    space.write_text(_space(tmp_path, "").read_text())
    before = space.read_text()
    assert _sweep(space, out, "--force") == 1
    assert capsys.readouterr().err == (
        f"spikelut sweep: error: {space}: is an input and lies in the output directory {out}, "
        f"where the sweep writes report.json; move it out of {out} or choose another output "
        f"directory\n")
    assert space.read_text() == before and sorted(p.name for p in out.iterdir()) == ["report.json"]
    # an input under another name is carried along untouched
    (out / "report.json").rename(out / "space.toml")
    assert _sweep(out / "space.toml", out, "--force") == 0
    assert (out / "space.toml").read_text() == before


def test_sweep_progress_lines_are_escaped(tmp_path):
    from spikelut.sweep.workers import stderr_line

    import io
    import contextlib

    buf = io.StringIO()
    with contextlib.redirect_stderr(buf):
        stderr_line("trial 3: retraining here (not trained in out\x1b[2J)")
    assert buf.getvalue() == "trial 3: retraining here (not trained in out\\x1b[2J)\n"


def test_sweep_summary_escapes_every_cell(monkeypatch, capsys):
    import spikelut.cli.cmd_sweep as cmd_sweep

    rep = {"study": "s\x1b]0;t\x07", "total_trials": 1, "trials": {"COMPLETE": 1},
           "report": "out\n/report.html",
           "front": [{"number": 0, "val_acc": 0.5, "luts": "8\x1b[2J", "flip_flops": 3,
                      "params": {"train.lr": 0.1},
                      "circuit": {"luts": "\x1b[31m9", "flip_flops": 4, "cosim": {"ok": True}}}]}
    monkeypatch.setattr(cmd_sweep, "run_sweep", lambda *a, **k: rep)
    assert main(["sweep", "space.toml", "-o", "out"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "8\\x1b[2J" in out and "\\x1b[31m9" in out and "report: out\\n/report.html" in out


# ---------------------------------------------------------------------------- analyze -o DIR
ANALYZE_FOREIGN = ("directory exists and was not written by 'spikelut analyze' (no nodes.csv of "
                   "its own); choose a new directory, empty it, or pass --force")


@pytest.fixture
def model_and_data(tmp_path):
    save_model(random_network(0, n_in=3, sizes=[4, 2], k=2), tmp_path / "m.h5")
    rng = np.random.default_rng(0)
    save_spikes(tmp_path / "d.h5", (rng.random((6, 4, 3)) < 0.5).astype(np.uint8))
    return tmp_path / "m.h5", tmp_path / "d.h5"


def test_analyze_refuses_a_foreign_directory_holding_its_model(tmp_path, model_and_data, capsys):
    _, data = model_and_data
    out = tmp_path / "work"
    out.mkdir()
    model = out / "m.h5"
    model.write_bytes((tmp_path / "m.h5").read_bytes())
    (out / "notes.txt").write_text("mine")
    assert main(["analyze", str(model), str(data), "-o", str(out), "--json"]) == 1
    stdout, err = capsys.readouterr()
    assert err == f"spikelut analyze: error: {out}: {ANALYZE_FOREIGN}\n"
    assert json.loads(stdout)["error"] == f"{out}: {ANALYZE_FOREIGN}"
    assert sorted(p.name for p in out.iterdir()) == ["m.h5", "notes.txt"]


def test_analyze_force_keeps_the_other_files_and_a_rerun_replaces_its_own(tmp_path,
                                                                          model_and_data, capsys):
    _, data = model_and_data
    out = tmp_path / "work"
    out.mkdir()
    model = out / "m.h5"
    model.write_bytes((tmp_path / "m.h5").read_bytes())
    before = model.read_bytes()
    (out / "notes.txt").write_text("mine")
    assert main(["analyze", str(model), str(data), "-o", str(out), "--force"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "attribution_0.png", "m.h5", "nodes.csv", "notes.txt", "summary.txt"]
    assert model.read_bytes() == before and (out / "notes.txt").read_text() == "mine"
    # its own directory now (nodes.csv): no --force needed; the old figure goes, the rest stays
    assert main(["analyze", str(model), str(data), "-o", str(out), "--samples", "1"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "attribution_1.png", "m.h5", "nodes.csv", "notes.txt", "summary.txt"]
    assert model.read_bytes() == before


def test_analyze_never_replaces_an_input_even_with_force(tmp_path, model_and_data, capsys):
    model, data = model_and_data
    out = tmp_path / "work"
    out.mkdir()
    log = out / "summary.txt"  # a training log where the analysis writes its summary
    log.write_text('{"epoch": 1, "loss": 1.0, "acc": 0.5}\n')
    assert main(["analyze", str(model), str(data), "-o", str(out), "--log", str(log),
                 "--force"]) == 1
    assert capsys.readouterr().err == (
        f"spikelut analyze: error: {log}: is an input and lies in the output directory {out}, "
        f"where the analysis replaces it; move it out of {out} or choose another output "
        f"directory\n")
    assert log.read_text() == '{"epoch": 1, "loss": 1.0, "acc": 0.5}\n'


def test_analyze_refuses_the_current_directory(tmp_path, model_and_data, capsys, monkeypatch):
    model, data = model_and_data
    monkeypatch.chdir(tmp_path)
    assert main(["analyze", str(model), str(data), "-o", ".", "--force"]) == 1
    assert capsys.readouterr().err == (
        "spikelut analyze: error: .: is the current directory or holds it; the analysis "
        "replaces its directory as a whole, so give another one\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5", "m.h5"]


def test_the_library_call_keeps_the_users_files_as_the_command_does(tmp_path, model_and_data):
    # api.analyze(outdir=...) used to replace the directory wholesale (only the command checked)
    import spikelut as sl
    from spikelut.errors import OutputError

    model, data = model_and_data
    out = tmp_path / "work"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputError) as e:
        sl.api.analyze(str(model), str(data), out)
    assert str(e.value) == f"{out}: {ANALYZE_FOREIGN}"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    rep = sl.api.analyze(str(model), str(data), out, force=True)
    assert sorted(p.name for p in out.iterdir()) == [
        "attribution_0.png", "nodes.csv", "notes.txt", "summary.txt"]
    assert (out / "notes.txt").read_text() == "mine" and len(rep["files"]) == 3
    # a data file inside under a name the analysis writes is never replaced, even with force
    inside = out / "summary.txt"
    inside.write_bytes(data.read_bytes())
    with pytest.raises(OutputError, match=r"is an input and lies in the output directory"):
        sl.api.analyze(str(model), str(inside), out, force=True)
    assert inside.read_bytes() == data.read_bytes()


# ---------------------------------------------------------------------------- Ctrl-C at start
def test_ctrl_c_while_the_parser_is_built_is_one_line_and_json(monkeypatch, capsys):
    import spikelut.cli as cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    try:
        code = main(["info", "m.h5", "--json"])
        code2 = main(["--version"])
    except KeyboardInterrupt:  # a failure of this test, not an interrupt of the test session
        pytest.fail("KeyboardInterrupt escaped main(): the user sees a traceback")
    assert code == 130
    out, err = capsys.readouterr()
    assert json.loads(out) == {"ok": False, "command": "info", "error": "interrupted"}
    assert err == "spikelut info: interrupted\nspikelut: interrupted\n"
    assert code2 == 130


# the CLI, announcing when it starts importing the commands, which then take a while
SLOW_START = """
import sys, time
import spikelut.cli as cli
real = cli._commands
def slow():
    print("building", flush=True)
    time.sleep(30)
    return real()
cli._commands = slow
sys.exit(cli.main(sys.argv[1:]))
"""


def test_a_real_ctrl_c_while_the_commands_are_imported(tmp_path):
    import signal

    p = subprocess.Popen([sys.executable, "-c", SLOW_START, "info", "m.h5", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert p.stdout.readline() == "building\n"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert err == "spikelut info: interrupted\n"
    assert json.loads(out) == {"ok": False, "command": "info", "error": "interrupted"}


def test_the_command_starts_without_the_heavy_imports():
    # `spikelut` imports spikelut.cli before main() can catch a Ctrl-C: with the package's names
    # loaded on first use that is stdlib only, so the uncaught window is a few milliseconds
    # (it was the whole of numpy, numba and h5py, about a second)
    code = ("import sys, spikelut.cli; print(sorted(m for m in ('numpy', 'numba', 'h5py', "
            "'matplotlib', 'scipy') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env())
    assert r.stdout == "[]\n", r.stderr


def test_the_package_names_load_on_first_use():
    import spikelut as sl
    from spikelut import Network, simulate

    assert Network is sl.network.Network and simulate is sl.api.simulate
    assert set(sl.__all__) <= set(dir(sl))
    with pytest.raises(AttributeError, match="has no attribute 'nonexistent'"):
        sl.nonexistent


# ---------------------------------------------------------------------------- demo scripts
def _demo(tmp_path, script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "demos" / script), *args], cwd=tmp_path,
                          capture_output=True, text=True, env=_env(), timeout=300)


@pytest.mark.parametrize("script,args,line", [
    ("ucr_baselines.py", ["thresholds", "NotASet"],
     "ucr_baselines.py: error: unknown UCR/UEA dataset 'NotASet'; choose one of ACSF1, "),
    ("ucr_baselines.py", ["thresholds", "GunPoint", "--levels", "0"],
     "ucr_baselines.py: error: quantile thresholds: levels must be an integer >= 1, got 0\n"),
    ("ucr_baselines.py", ["select", "nonexist.toml"],
     "ucr_baselines.py: error: nonexist.toml: no such config file\n"),
    ("epochs_study.py", ["--score-test", "nonexist.h5"],
     "epochs_study.py: error: nonexist.h5: no such file\n"),
])
def test_demo_scripts_answer_bad_input_in_one_line(tmp_path, script, args, line):
    r = _demo(tmp_path, script, *args)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and r.stderr.startswith(line), r.stderr
    assert "Traceback" not in r.stderr


@torch_missing
@pytest.mark.parametrize("script,args,line", [
    ("distill_mnist1d.py", ["--config", "nonexist.toml"],
     "--config: nonexist.toml: no such config file\n"),
    ("teacher_features.py", ["nonexist.h5", "-o", "f.h5"],
     "teacher_features.py: error: nonexist.h5: no such file\n"),
])
def test_torch_demo_scripts_answer_a_missing_file_in_one_line(tmp_path, script, args, line):
    r = _demo(tmp_path, script, *args)
    assert (r.returncode, r.stderr, r.stdout) == (1, line, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_run_main_keeps_the_traceback_of_a_bug_and_maps_ctrl_c():
    from demos._script import run_main

    def bug(argv):
        raise ZeroDivisionError("a bug, not bad input")

    with pytest.raises(ZeroDivisionError):
        run_main(bug, [], prog="demo.py")

    def interrupted(argv):
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as e:
        run_main(interrupted, [], prog="demo.py")
    assert e.value.code == 130


@torch_missing
def test_distill_json_records_a_shell_quoted_command(tmp_path):
    from helpers import load_demo

    demo = load_demo(str(REPO / "demos"), "distill_mnist1d")
    (tmp_path / "tiny config.toml").write_text(
        'seed = 0\ninputs = 32\n[[layers]]\nname = "a"\nnodes = 10\nk = 2\n'
        'taps = [{ from = "input", count = 2 }]\n[[layers]]\nname = "out"\nnodes = 10\nk = 2\n'
        'taps = [{ from = "a", count = 2 }]\n[readout]\nclasses = 10\n')
    out = tmp_path / "my run; rm -rf x"
    argv = ["--config", str(tmp_path / "tiny config.toml"), "--teacher", "cnn",
            "--teacher-epochs", "1", "--epochs", "1", "--limit", "100", "--out", str(out)]
    assert demo.main(argv) == 0
    command = json.loads((out / "distill.json").read_text())["command"]
    words = shlex.split(command)
    assert words[1:] == argv and words[0].endswith("distill_mnist1d.py")
