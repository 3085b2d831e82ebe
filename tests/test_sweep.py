"""`spikelut sweep`: space files, trials in SQLite and PostgreSQL, continuing, killed workers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from spikelut.cli import main
from spikelut.config import parse_config
from spikelut.errors import ConfigError
from spikelut.sweep import dump_toml, load_space, mask_url, set_dotted

REPO = Path(__file__).resolve().parent.parent
BASE = REPO / "demos" / "run_default.toml"

# first_of_two, 200 samples (40 held out), a tiny network, one epoch: a trial takes well under 1 s
SPACE = f"""
base = {json.dumps(str(BASE))}
[sweep]
objectives = ["val_acc", "luts"]
pruner = "none"
population = 2
verify = {{verify}}
[set]
"data.val_fraction" = 0.2
"data.limit_train" = 200
"train.epochs" = {{epochs}}
"layers.1.nodes" = 4
"rtl.simulator" = "iverilog"
"rtl.verify_samples" = 8
[params]
"train.lr" = {{{{ low = 0.003, high = 0.1, log = true }}}}
"layers.0.nodes" = {{{{ low = 4, high = 16, step = 4 }}}}
"""


def write_space(path: Path, epochs: int = 1, extra: str = "", verify: int = 1) -> Path:
    path.write_text(SPACE.format(epochs=epochs, verify=verify) + extra)
    return path


def env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))


# ---------------------------------------------------------------------------- no optuna needed
def test_set_dotted_paths_and_errors():
    cfg = {"layers": [{"nodes": 8, "taps": [{"count": 2}]}], "data": {}}
    set_dotted(cfg, "layers.0.taps.0.count", 3)
    set_dotted(cfg, "train.lr", 0.5)  # a table the base leaves out is created
    assert cfg == {"layers": [{"nodes": 8, "taps": [{"count": 3}]}], "data": {}, "train": {"lr": 0.5}}
    with pytest.raises(ConfigError, match=r"^s: 'layers\.2\.nodes': the base config has no item 2 in layers$"):
        set_dotted(cfg, "layers.2.nodes", 1, "s")
    with pytest.raises(ConfigError, match=r"^s: 'network\.x' is not a run-config key"):
        set_dotted(cfg, "network.x", 1, "s")


def test_dump_toml_round_trips_a_demo_config():
    from spikelut.config import load_config

    cfg = {k: v for k, v in load_config(REPO / "demos" / "run_patterns.toml").items() if k != "_path"}
    assert parse_config(dump_toml(cfg)) == cfg


def test_mask_url_hides_the_password():
    assert mask_url("postgresql://u:p%40ss@h:5/db") == "postgresql://u:***@h:5/db"
    assert mask_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_space_errors_name_the_field(tmp_path):
    p = write_space(tmp_path / "s.toml", extra='"train.momentum" = { low = 1, high = 1 }\n')
    with pytest.raises(ConfigError, match=r"s\.toml: \[params\]: 'train\.momentum': needs numbers "
                                          r"low < high, got low = 1, high = 1$"):
        load_space(p)
    p.write_text(SPACE.format(epochs=1, verify=1).replace('"data.val_fraction" = 0.2', ""))
    with pytest.raises(ConfigError, match=r"\[data\] val_fraction is 0; a sweep scores trials on a "
                                          r"validation split, never on the test set"):
        load_space(p)
    p.write_text(SPACE.format(epochs=1, verify=1).replace('pruner = "none"', 'pruner = "median"'))
    with pytest.raises(ConfigError, match=r'pruner "median" needs the single objective val_acc'):
        load_space(p)


def test_a_trial_refuses_an_ensemble_config():
    from spikelut.config import load_config
    from spikelut.sweep.trial import run_trial

    cfg = {k: v for k, v in load_config(REPO / "demos" / "run_patterns.toml").items() if k != "_path"}
    cfg.setdefault("data", {})["val_fraction"] = 0.2
    cfg.setdefault("train", {})["ensemble"] = 3
    with pytest.raises(ConfigError, match=r"^\[train\] ensemble = 3: a sweep trial trains one "
                                          r"network; sweep the members' architecture"):
        run_trial(cfg)


def test_demo_spaces_load():
    for p in sorted((REPO / "demos").glob("sweep_*.toml")):
        space = load_space(p)  # builds the run configs at every corner of the space
        assert space.params and space.objectives


def test_report_html_escapes_every_string():
    from spikelut.sweep.report import render_html

    bad = "<script>alert('x')</script>"
    rep = {"study": bad, "date": "d", "spikelut": "0", "space": bad, "base": bad, "storage": bad,
           "objectives": ["val_acc"], "directions": ["maximize"], "trials": {"COMPLETE": 1},
           "front": [{"number": 0, "val_acc": 0.5, "luts": 3, "flip_flops": 2,
                      "params": {"layers.0.name": bad}, "config_toml": bad,
                      "circuit": {"luts": 3, "flip_flops": 2, "lut_levels": 1,
                                  "cosim": {"skipped": bad}}}],
           "importances": {"unavailable": bad},
           "all": [{"number": 0, "state": "FAIL", "params": {"k": bad}, "values": None,
                    "failure": bad}]}
    html = render_html(rep, None)
    assert "<script>" not in html and "alert(&#x27;x&#x27;)" in html


def test_missing_extra_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna -> ImportError
    rc = main(["sweep", str(write_space(tmp_path / "s.toml")), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 1
    assert err == ("spikelut sweep: error: spikelut sweep needs Optuna, which is not installed: "
                   "pip install 'spikelut[sweep]'\n")


# ---------------------------------------------------------------------------- with optuna
optuna = pytest.importorskip("optuna", reason="optuna not installed (pip install 'spikelut[sweep]')")


def test_bad_storage_is_one_line_with_the_password_masked(tmp_path, capsys):
    space = write_space(tmp_path / "s.toml")
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
    assert main(["sweep", str(space), "-o", str(tmp_path / "o"), "--storage", url, "--trials", "0"]) == 1
    assert capsys.readouterr().err == (f"spikelut sweep: error: storage {url}: cannot open: "
                                       f"(sqlite3.OperationalError) unable to open database file\n")
    assert main(["sweep", str(space), "-o", str(tmp_path / "o"), "--storage",
                 "postgresql://ann:sekret@127.0.0.1:1/db", "--trials", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("spikelut sweep: error: storage postgresql://ann:***@127.0.0.1:1/db: ")
    assert "sekret" not in err and err.count("\n") == 1
    # a study that never opened leaves no output directory behind (one that existed stays)
    (tmp_path / "kept").mkdir()
    for out in ("new", "kept"):
        assert main(["sweep", str(space), "-o", str(tmp_path / out), "--storage", "bogus://x",
                     "--trials", "0"]) == 1
        assert capsys.readouterr().err.startswith("spikelut sweep: error: storage bogus://x: "
                                                  "cannot open: ")
    assert not (tmp_path / "new").exists() and not (tmp_path / "o").exists()
    assert (tmp_path / "kept").is_dir()


def test_a_missing_base_names_the_space_file(tmp_path, capsys):
    space = tmp_path / "s.toml"
    space.write_text(SPACE.format(epochs=1, verify=0).replace(json.dumps(str(BASE)), '"nope.toml"'))
    assert main(["sweep", str(space), "-o", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err == (f"spikelut sweep: error: {space}: base = 'nope.toml': "
                                       f"{tmp_path / 'nope.toml'}: no such config file\n")


@pytest.mark.parametrize("argv, message", [
    (["--seed", "-1"], "--seed must be an integer >= 0, got -1"),
    (["--seed", str(2**32 - 1), "--workers", "2", "--trials", "2"],
     "--seed must be at most 4294967294 with 2 worker(s) (worker i samples with seed + i), got "
     "4294967295"),
    # --threads: 0 ran on one thread and a count above numba's pool on the pool's size, silently
    (["--threads", "0"], "--threads must be an integer >= 1, got 0"),
    (["--threads", "-2", "--workers", "2"], "--threads must be an integer >= 1, got -2"),
    (["--threads", "99", "--trials", "1"],
     "--threads 99 is more than numba's {pool} threads; start with NUMBA_NUM_THREADS=99 or ask "
     "for fewer"),
])
def test_bad_seed_or_threads_is_refused_before_any_file(tmp_path, capsys, argv, message):
    import numba

    message = message.format(pool=numba.config.NUMBA_NUM_THREADS)
    space = write_space(tmp_path / "s.toml")
    out = tmp_path / "o"
    assert main(["sweep", str(space), "-o", str(out), *argv]) == 1
    assert capsys.readouterr().err == f"spikelut sweep: error: {message}\n"
    assert not out.exists()  # no study.db left behind


def states(url: str, study: str = "s") -> list[str]:
    s = optuna.load_study(study_name=study, storage=url)
    return [t.state.name for t in sorted(s.get_trials(), key=lambda t: t.number)]


@pytest.fixture(scope="module")
def sqlite_sweep(tmp_path_factory):
    """4 trials on 2 spawned workers, SQLite in the output directory."""
    d = tmp_path_factory.mktemp("sweep")
    space = write_space(d / "s.toml")
    out = d / "out"
    r = subprocess.run([sys.executable, "-m", "spikelut", "sweep", str(space), "-o", str(out),
                        "--trials", "4", "--workers", "2", "--json"],
                       capture_output=True, text=True, env=env(), timeout=300)
    assert r.returncode == 0, r.stderr
    return space, out, json.loads(r.stdout)


def test_tiny_sweep_two_workers_sqlite(sqlite_sweep):
    space, out, rep = sqlite_sweep
    assert states(f"sqlite:///{out / 'study.db'}") == ["COMPLETE"] * 4
    assert rep["ok"] and rep["trials"]["COMPLETE"] == 4 and rep["total_trials"] == 4
    assert {t["number"] for t in rep["front"]} <= {0, 1, 2, 3}
    best = rep["front"][0]
    c = best["circuit"]
    assert (c["luts"], c["flip_flops"]) == (best["luts"], best["flip_flops"])
    cos = c["cosim"]
    assert cos.get("ok") is True or "skipped" in cos
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and f"trial {best['number']}" in html
    assert json.loads((out / "report.json").read_text())["total_trials"] == 4
    # every trial trained here keeps its config, log and model (a repeat of earlier parameters
    # reuses that trial's result and trains nothing)
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{out / 'study.db'}")
    trained = [f"{t.number:05d}" for t in study.trials if "duplicate_of" not in t.user_attrs]
    assert sorted(p.name for p in (out / "trials").iterdir()) == trained
    assert parse_config((out / "trials" / "00000" / "config.toml").read_text())["data"]["val_fraction"] == 0.2


def test_rerun_continues_the_study(sqlite_sweep, capsys):
    space, out, _ = sqlite_sweep
    rc = main(["sweep", str(space), "-o", str(out), "--trials", "2", "--json"])
    rep = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert states(f"sqlite:///{out / 'study.db'}") == ["COMPLETE"] * 6
    assert rep["total_trials"] == 6 and [t["number"] for t in rep["all"]] == [0, 1, 2, 3, 4, 5]
    # few trials: the importances fall back to rank correlation; LUTs rise with layer 0's nodes
    imp = rep["importances"]
    assert imp["method"] == "|Spearman rank correlation| (fewer than 10 finished trials)"
    varied = len({t["params"]["layers.0.nodes"] for t in rep["all"]}) > 1
    assert imp["values"]["luts"]["layers.0.nodes"] == (1.0 if varied else 0.0)


def test_seeded_sampler_repeats_its_trials(tmp_path, capsys):
    space = write_space(tmp_path / "s.toml", verify=0)
    params = []
    for run in ("a", "b"):
        assert main(["sweep", str(space), "-o", str(tmp_path / run), "--trials", "2", "--seed", "3",
                     "--json"]) == 0
        params.append([t["params"] for t in json.loads(capsys.readouterr().out)["all"]])
    assert params[0] == params[1] and params[0][0] != params[0][1]


def test_a_sweep_in_this_process_leaves_numba_s_thread_count(tmp_path, capsys):
    import numba

    before = numba.get_num_threads()
    space = write_space(tmp_path / "s.toml", verify=0)
    assert main(["sweep", str(space), "-o", str(tmp_path / "o"), "--trials", "1", "--threads",
                 "1", "--json"]) == 0
    assert numba.get_num_threads() == before  # the trials ran with 1; the caller keeps its own


def test_repeated_parameters_reuse_the_earlier_result(tmp_path, capsys):
    space = tmp_path / "s.toml"
    text = SPACE.format(epochs=1, verify=0)
    space.write_text(text[:text.index("[params]")] + '[params]\n"train.lr" = { choices = [0.03] }\n')
    assert main(["sweep", str(space), "-o", str(tmp_path / "o"), "--trials", "3", "--json"]) == 0
    captured = capsys.readouterr()
    rep = json.loads(captured.out)
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'o' / 'study.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert [t.user_attrs.get("duplicate_of") for t in study.trials] == [None, 0, 0]
    assert study.trials[1].values == study.trials[2].values == study.trials[0].values
    assert "trial 2: same parameters as trial 0: its result reused" in captured.err
    assert [t["number"] for t in rep["front"]] == [0]
    assert sorted(p.name for p in (tmp_path / "o" / "trials").iterdir()) == ["00000"]


def test_single_objective_reports_every_epoch_to_the_median_pruner(tmp_path):
    space = tmp_path / "s.toml"
    space.write_text(SPACE.format(epochs=2, verify=0).replace('["val_acc", "luts"]', '["val_acc"]')
                     .replace('pruner = "none"', 'pruner = "median"'))
    assert main(["sweep", str(space), "-o", str(tmp_path / "o"), "--trials", "3"]) == 0
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'o' / 'study.db'}")
    for t in study.trials:
        assert t.state.name in ("COMPLETE", "PRUNED")
        if "duplicate_of" not in t.user_attrs:
            assert list(t.intermediate_values) == [1, 2][:len(t.user_attrs["curve"])]
            assert list(t.intermediate_values.values()) == t.user_attrs["curve"]


def test_a_trial_whose_heartbeat_stopped_elsewhere_is_failed(tmp_path, capsys):
    space = tmp_path / "s.toml"
    space.write_text(SPACE.format(epochs=1, verify=0).replace("verify = ", "heartbeat = 1\nverify = "))
    out = tmp_path / "o"
    assert main(["sweep", str(space), "-o", str(out), "--trials", "0"]) == 0
    url = f"sqlite:///{out / 'study.db'}"
    storage = optuna.storages.RDBStorage(url, heartbeat_interval=1)
    study = optuna.load_study(study_name="s", storage=storage)
    with pytest.warns(UserWarning, match="Heartbeat of storage"):
        trial = study.ask()  # a worker on another machine took it ...
    trial.set_user_attr("host", "another-machine")
    trial.set_user_attr("pid", 1)
    storage.record_heartbeat(trial._trial_id)  # ... and went silent
    time.sleep(7.5)  # the grace period is 6 heartbeats; SQLite's clock counts whole seconds
    capsys.readouterr()
    assert main(["sweep", str(space), "-o", str(out), "--trials", "0"]) == 0
    assert "trial 0: its worker died; marked failed" in capsys.readouterr().err
    assert states(url) == ["FAIL"]


def _running_pid(db: Path, number: int) -> int | None:
    """The pid that RUNNING trial ``number`` recorded (None: not yet, or the file is locked)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            row = con.execute("SELECT a.value_json FROM trials t JOIN trial_user_attributes a "
                              "ON a.trial_id = t.trial_id WHERE t.state = 'RUNNING' AND a.key = 'pid' "
                              "AND t.number = ?", (number,)).fetchone()
    except sqlite3.Error:  # not created yet, or locked by a writer
        return None
    return None if row is None else int(row[0])


# `spikelut sweep` whose first trial to finish an epoch waits there until a signal ends its
# process; the others train on. A trial of the test space trains in a few milliseconds: a test
# that sees it RUNNING and then signals can signal after it finished (the test process waits for
# a CPU on a busy machine), and then another trial, or nothing, gets the signal. Held, the trial
# is still training when the signal arrives, on any machine. A file, not `python -c`: spawned
# workers import the main script (as __mp_main__), so they hold too.
HELD_SWEEP = """
import os, sys, time
from pathlib import Path

import spikelut.sweep.workers as workers
from spikelut.cli import main

ready = Path(os.environ["SPIKELUT_TEST_HOLD"])
run_trial = workers.run_trial


def held_trial(cfg, trial_dir, on_epoch):
    def hold(epoch, acc):
        on_epoch(epoch, acc)
        try:  # the first trial here holds
            os.close(os.open(f"{ready}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        tmp = ready.with_suffix(".tmp")
        tmp.write_text(Path(trial_dir).name)
        tmp.replace(ready)  # the test reads a whole trial number or nothing
        while True:
            time.sleep(3600)  # inside the training loop: only a signal ends this
    return run_trial(cfg, trial_dir, hold)


workers.run_trial = held_trial
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
"""


def _start_held_sweep(space: Path, out: Path, *args: str) -> tuple[subprocess.Popen, int, int]:
    """Start ``spikelut sweep SPACE -o OUT ARGS`` with its first trial held in training; return it
    once the trial is held, with the trial's number and the pid the study recorded for it."""
    script, ready = out.parent / "held_sweep.py", out.parent / "trial-held"
    script.write_text(HELD_SWEEP)
    for f in (ready, Path(f"{ready}.claim")):
        f.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, str(script), "sweep", str(space), "-o", str(out), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(env(), SPIKELUT_TEST_HOLD=str(ready)))
    deadline = time.monotonic() + 300  # only a bound on a hang; nothing waits this long
    number, pid = -1, None
    while pid is None and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if ready.exists():  # None again while a heartbeat write locks the file
            number = int(ready.read_text())
            pid = _running_pid(out / "study.db", number)
    if pid is None:
        proc.kill()
        pytest.fail(f"no held trial: {proc.communicate()[1]}")
    return proc, number, pid


def test_killed_worker_trial_fails_and_study_continues(tmp_path):
    space = write_space(tmp_path / "s.toml", epochs=3, verify=0)
    out = tmp_path / "out"
    proc, number, pid = _start_held_sweep(space, out, "--trials", "3", "--workers", "2")
    try:
        assert pid != proc.pid  # a worker's trial
        os.kill(pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{out / 'study.db'}")
    trials = sorted(study.get_trials(), key=lambda t: t.number)
    assert sorted(t.state.name for t in trials) == ["COMPLETE", "COMPLETE", "FAIL"]
    assert trials[number].state.name == "FAIL"
    assert trials[number].user_attrs["failure"].endswith(f"(pid {pid}) was killed by signal 9 (SIGKILL)")
    assert f"trial {number}: worker " in stderr and "marked failed" in stderr


def test_ctrl_c_and_a_killed_command_then_the_study_continues(tmp_path, capsys):
    space = write_space(tmp_path / "s.toml", epochs=3, verify=0)
    out = tmp_path / "out"
    url = f"sqlite:///{out / 'study.db'}"
    # Ctrl-C: exit 130, the running trial failed
    proc, number, pid = _start_held_sweep(space, out, "--trials", "3")
    assert pid == proc.pid
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert stderr.endswith("spikelut sweep: interrupted\n")
    study = optuna.load_study(study_name="s", storage=url)
    assert study.trials[number].state.name == "FAIL"
    assert study.trials[number].user_attrs["failure"] == "interrupted (Ctrl-C)"
    # kill -9 of the whole command: nobody is left to fail its trial now...
    proc, number, pid = _start_held_sweep(space, out, "--trials", "3")
    proc.kill()
    proc.communicate(timeout=60)
    assert states(url)[number] == "RUNNING"
    # ... so the next command does, because the trial's process is gone, and the study goes on
    n = len(states(url))
    assert main(["sweep", str(space), "-o", str(out), "--trials", "1"]) == 0
    assert f"trial {number}: its worker died; marked failed" in capsys.readouterr().err
    study = optuna.load_study(study_name="s", storage=url)
    assert study.trials[number].user_attrs["failure"] == f"worker process {pid} on {socket.gethostname()} is gone"
    assert states(url)[number] == "FAIL" and states(url)[n:] == ["COMPLETE"]


# `spikelut sweep` that kills itself (SIGKILL) the moment its trial's pid is in the study: the
# earliest a test (or the next command) can see whose trial it is
KILLED_AT_PID = """
import os, signal, sys
import optuna
from spikelut.cli import main

set_user_attr = optuna.trial.Trial.set_user_attr

def set_then_die(self, key, value):
    set_user_attr(self, key, value)
    if key == "pid":
        os.kill(os.getpid(), signal.SIGKILL)

optuna.trial.Trial.set_user_attr = set_then_die
sys.exit(main(sys.argv[1:]))
"""


def test_a_command_killed_as_its_trial_gets_a_pid_is_found_by_the_next(tmp_path, capsys):
    # seen under load: kill -9 between the trial's "pid" and "host" attributes (two database
    # writes) left a RUNNING trial with a pid and no host, which the next command could not tell
    # from another machine's trial: it stayed RUNNING
    space = write_space(tmp_path / "s.toml", verify=0)
    out = tmp_path / "out"
    url = f"sqlite:///{out / 'study.db'}"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_AT_PID, "sweep", str(space), "-o",
                             str(out), "--trials", "1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env())
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, stderr
    assert states(url) == ["RUNNING"]
    assert main(["sweep", str(space), "-o", str(out), "--trials", "0"]) == 0
    assert "trial 0: its worker died; marked failed" in capsys.readouterr().err
    study = optuna.load_study(study_name="s", storage=url)
    assert study.trials[0].user_attrs["failure"] == (f"worker process {proc.pid} on "
                                                     f"{socket.gethostname()} is gone")
    assert states(url) == ["FAIL"]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the point
def test_a_ctrl_c_python_swallows_while_the_report_is_built_still_stops_the_command(
        tmp_path, capsys, monkeypatch):
    # seen under load: Ctrl-C after the last trial landed in a weakref callback while the report
    # was built, Python printed "Exception ignored in ... KeyboardInterrupt" and the command
    # went on and exited 0. Here it lands in a finalizer, where Python ignores it the same way.
    import spikelut.sweep.run as sweep_run

    build_report = sweep_run.build_report

    class CtrlCWhenCollected:
        def __del__(self) -> None:
            signal.raise_signal(signal.SIGINT)  # the handler runs here, inside the finalizer

    def report_with_a_ctrl_c(*args, **kwargs):
        CtrlCWhenCollected()  # collected at once
        return build_report(*args, **kwargs)

    monkeypatch.setattr(sweep_run, "build_report", report_with_a_ctrl_c)
    space = write_space(tmp_path / "s.toml")
    handler = signal.getsignal(signal.SIGINT)
    assert main(["sweep", str(space), "-o", str(tmp_path / "out"), "--trials", "0"]) == 130
    assert capsys.readouterr().err.endswith("spikelut sweep: interrupted\n")
    assert signal.getsignal(signal.SIGINT) is handler  # the command's own handler is gone again


# ---------------------------------------------------------------------------- PostgreSQL
def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    cands = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return cands[-1].parent if cands else None


@pytest.fixture(scope="module")
def postgres():
    """A throw-away PostgreSQL server on a free loopback port; yields its URL."""
    import importlib.util

    if not any(importlib.util.find_spec(m) for m in ("psycopg", "psycopg2")):
        pytest.skip("no PostgreSQL driver (psycopg) installed: pip install 'spikelut[sweep]'")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    # not under pytest's tmp root: that is private to root, and the server may run as postgres
    d = Path(tempfile.mkdtemp(prefix="spikelut-pg-"))
    data = d / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root and no runuser to start PostgreSQL as user postgres")
        run_as = [runuser, "-u", "postgres", "--"]
        shutil.chown(d, "postgres")
        os.chmod(d, 0o700)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = subprocess.run(run_as + [str(bindir / "initdb"), "-D", str(data), "-U", "sweep", "-A", "trust"],
                       capture_output=True, text=True)
    if r.returncode:
        shutil.rmtree(d, ignore_errors=True)
        pytest.skip(f"initdb failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    r = subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(d / "log"), "-w",
                                 "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {d}", "start"],
                       capture_output=True, text=True)
    if r.returncode:
        log = (d / "log").read_text() if (d / "log").exists() else r.stderr
        shutil.rmtree(d, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start: {log.strip().splitlines()[-1] if log.strip() else r.returncode}")
    try:
        yield f"postgresql://sweep@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def test_sweep_on_postgresql_two_commands_share_one_study(postgres, tmp_path, capsys):
    space = write_space(tmp_path / "s.toml", verify=0)
    # two "machines": two output directories, one database
    r = subprocess.run([sys.executable, "-m", "spikelut", "sweep", str(space), "-o", str(tmp_path / "a"),
                        "--trials", "2", "--workers", "2", "--storage", postgres, "--json"],
                       capture_output=True, text=True, env=env(), timeout=300)
    assert r.returncode == 0, r.stderr
    assert states(postgres) == ["COMPLETE"] * 2
    assert main(["sweep", str(space), "-o", str(tmp_path / "b"), "--trials", "1", "--storage",
                 postgres, "--seed", "7", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert states(postgres) == ["COMPLETE"] * 3
    assert rep["storage"] == postgres and rep["total_trials"] == 3
    third = optuna.load_study(study_name="s", storage=postgres).trials[2]
    trained_here = [] if "duplicate_of" in third.user_attrs else ["00002"]
    assert sorted(p.name for p in (tmp_path / "b" / "trials").glob("*")) == trained_here
    assert (tmp_path / "b" / "report.html").exists()
    # a third machine only reports: it retrains the front trials to compile and co-simulate them
    write_space(space, verify=5)
    assert main(["sweep", str(space), "-o", str(tmp_path / "c"), "--trials", "0", "--storage",
                 postgres, "--json"]) == 0
    captured = capsys.readouterr()
    rep = json.loads(captured.out)
    assert rep["total_trials"] == 3 and rep["front"]
    for t in rep["front"]:
        assert f"trial {t['number']}: retraining here to verify it" in captured.err
        assert (t["circuit"]["luts"], t["circuit"]["flip_flops"]) == (t["luts"], t["flip_flops"])


def test_an_interrupt_swallowed_inside_training_still_stops():
    """A KeyboardInterrupt raised in a C callback can be swallowed; the held flag still stops."""
    import os as _os

    from spikelut.sweep.workers import Interrupts

    irq = Interrupts().install()
    try:
        with pytest.raises(KeyboardInterrupt):
            with irq.allowed():
                try:
                    _os.kill(_os.getpid(), signal.SIGINT)
                    time.sleep(0.5)
                except KeyboardInterrupt:
                    pass  # swallowed, as a C callback would
        assert irq.pending is False
        with irq.allowed():  # a delivered interrupt is not raised twice
            pass
    finally:
        irq.uninstall()
