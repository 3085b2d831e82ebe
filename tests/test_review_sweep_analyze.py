"""Review of sweep, analyze, prune, ensemble and export as a new user: every test here failed on
the code before the fix it covers.

* sweep: a study continued after its base config or [set] changed reused the old trials' results
  for repeated parameters and reported them with the new configs (silently wrong numbers): now
  refused in one line; ``--storage ""`` silently meant the default SQLite file; a trial's
  config.toml and front.png were written in place (a Ctrl-C left half a file).
* analyze: ``--log`` without ``-o`` was ignored (even a log that does not exist); a bad log was
  refused only after the whole analysis had run; a sample given twice was attributed twice.
* prune: a huge ``--verify-samples`` allocated before anything refused it (a MemoryError at best),
  and the random-stimulus check held every stimulus at once however long the network's delays.
* ensemble: a copy of a member's model file (not the same path) doubled its votes silently.
* export: ``--name ""`` ended in onnx's traceback; a name with control characters was written.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from spikelut.errors import ConfigError
from spikelut.io import load_model, save_model, save_spikes
from spikelut.wiring import random_network

from helpers import one_error_line, run

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def files(tmp_path):
    save_model(random_network(0, n_in=2, sizes=[3, 2], k=2, classes=2), tmp_path / "m.h5")
    save_model(random_network(1, n_in=2, sizes=[3, 2], k=2, classes=2), tmp_path / "m1.h5")
    x = (np.random.default_rng(0).random((8, 6, 2)) < 0.5).astype(np.uint8)
    save_spikes(tmp_path / "d.h5", x, labels=np.array([0, 1, 0, 1, 0, 1], np.int64))
    return tmp_path


def training_log(path: Path, epochs: int = 3) -> Path:
    rows = [{"epoch": e, "loss": 1.0 / e, "acc": 0.5, "val_loss": None, "val_acc": None,
             "lr": 0.01, "time": 0.1, "flips": [10 - e, 5 - e], "mean_abs_logit": [0.1 * e, 0.2],
             "near_zero": [0.5, 0.4]} for e in range(1, epochs + 1)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ---------------------------------------------------------------------------- analyze
def test_analyze_log_without_output_dir_is_refused(files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    line = one_error_line(capsys, "analyze", "analyze", "m.h5", "d.h5", "--log", "nope.jsonl")
    assert line == ("spikelut analyze: error: the training log nope.jsonl is drawn into "
                    "dynamics.png, which needs an output directory: give -o DIR (outdir) or "
                    "leave --log out")
    from spikelut.api import analyze

    with pytest.raises(ConfigError, match=r"^the training log nope\.jsonl is drawn into "):
        analyze(files / "m.h5", files / "d.h5", log="nope.jsonl")


def test_analyze_refuses_a_bad_log_before_the_analysis(files, capsys, monkeypatch):
    import spikelut.analysis as analysis

    def not_yet(*args, **kwargs):
        raise AssertionError("the analysis ran before the log was read")

    monkeypatch.setattr(analysis, "analyze_network", not_yet)
    (files / "bad.jsonl").write_text('{"epoch": 1}\n')
    monkeypatch.chdir(files)
    line = one_error_line(capsys, "analyze", "analyze", "m.h5", "d.h5", "-o", "an", "--log",
                          "bad.jsonl")
    assert line == ("spikelut analyze: error: bad.jsonl: line 1: missing key 'loss' (a log line "
                    "has epoch, loss, acc, val_loss, val_acc, lr, time)")
    assert not (files / "an").exists()


def test_analyze_dynamics_figure_and_each_sample_once(files, capsys, monkeypatch):
    from spikelut.plot import learning_dynamics

    monkeypatch.chdir(files)
    log = training_log(files / "log.jsonl")
    code, out, err = run(capsys, "analyze", "m.h5", "d.h5", "-o", "an", "--log", log.name,
                         "--samples", 1, 1, 0, "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert [a["sample"] for a in rep["attribution"]] == [1, 0]
    assert rep["files"] == [str(Path("an") / n) for n in ("nodes.csv", "summary.txt",
                            "attribution_1.png", "attribution_0.png", "dynamics.png")]
    assert sorted(p.name for p in (files / "an").iterdir()) == [
        "attribution_0.png", "attribution_1.png", "dynamics.png", "nodes.csv", "summary.txt"]
    # the same picture as the plotting function draws on its own
    learning_dynamics(log, files / "alone.png")
    assert (files / "an" / "dynamics.png").read_bytes() == (files / "alone.png").read_bytes()


# ---------------------------------------------------------------------------- prune
@pytest.mark.parametrize("value", ["100000000000", "16777217", "0", "-3"])
def test_prune_bounds_verify_samples_before_any_allocation(files, capsys, monkeypatch, value):
    monkeypatch.chdir(files)
    line = one_error_line(capsys, "prune", "prune", "m.h5", "-o", "p.h5", "--verify-samples", value)
    assert line == (f"spikelut prune: error: --verify-samples must be >= 1 and <= 16777216 "
                    f"(random stimuli per spike rate), got {value}")
    assert not (files / "p.h5").exists()


def test_prune_network_refuses_a_huge_check_in_the_api():
    from spikelut.prune import prune_network

    net = random_network(0, n_in=2, sizes=[3, 2], k=2)
    with pytest.raises(ConfigError, match=r"^--verify-samples must be >= 1 and <= 16777216 "
                                          r"\(random stimuli per spike rate\), got 100000000000$"):
        prune_network(net, verify_samples=10**11)
    assert prune_network(net, verify_samples=0)[1]["luts"]["before"] == 5  # 0: no check, as before


def test_prune_check_runs_in_batches_of_the_working_memory(monkeypatch):
    import copy

    import spikelut.analysis as analysis
    from spikelut.backends import get_backend
    from spikelut.prune import verify_equal

    net = random_network(0, n_in=2, sizes=[3, 2], k=2, max_delay=40)
    keep = [np.ones(layer.n, bool) for layer in net.layers]
    backend = copy.copy(get_backend("numpy"))
    real, batches = backend.simulate, []

    def simulate(n, x):
        batches.append(x.shape[1])
        return real(n, x)

    object.__setattr__(backend, "simulate", simulate)
    T = 4 * net.max_delay() + 4  # 4 x the deepest delay + 4 (over 16)
    per_sample = T * (9 * net.n_in + 4 * 2 * net.n_nodes)  # stimuli and both networks' spikes
    monkeypatch.setattr(analysis, "WORK_BYTES", 10 * per_sample)
    got = verify_equal(net, net, keep, samples=25, seed=3, backend=backend)
    # per spike rate three batches for each network (not one batch of 25 samples)
    assert batches == [10, 10, 10, 10, 5, 5] * 3
    assert got == {"samples": 75, "steps": T, "bits_compared": 3 * 25 * T * net.n_nodes,
                   "mismatches": 0}
    # with the whole budget: one batch per rate, the stimuli (and so the report) of before
    monkeypatch.setattr(analysis, "WORK_BYTES", 512 << 20)
    batches.clear()
    assert verify_equal(net, net, keep, samples=25, seed=3, backend=backend) == got
    assert batches == [25, 25] * 3


# ---------------------------------------------------------------------------- ensemble
def test_ensemble_refuses_a_copy_of_a_member_file(files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    shutil.copy(files / "m.h5", files / "copy.h5")
    line = one_error_line(capsys, "ensemble", "ensemble", "m.h5", "m1.h5", "copy.h5", "-o", "e.h5")
    assert line == ("spikelut ensemble: error: ensemble member 2 (copy.h5) is the same network as "
                    "member 0 (m.h5) (a copy of one model file?); it would only double that "
                    "member's votes: give each member once")
    assert not (files / "e.h5").exists()
    code, out, err = run(capsys, "ensemble", "m.h5", "m1.h5", "-o", "e.h5", "--json")
    assert code == 0 and json.loads(out)["luts"] == 10
    # networks passed as objects may repeat on purpose (weights), as before
    from spikelut.ensemble import ensemble

    net = load_model(files / "m.h5")
    assert ensemble([net, net]).sizes == [6, 4]


# ---------------------------------------------------------------------------- export
@pytest.mark.parametrize("name, shown", [("", "''"), ("a\nb", "'a\\nb'"),
                                         ("x\x1b[31m", "'x\\x1b[31m'")])
def test_export_refuses_an_empty_or_unprintable_graph_name(files, capsys, monkeypatch, name, shown):
    pytest.importorskip("onnx")
    monkeypatch.chdir(files)
    line = one_error_line(capsys, "export", "export", "m.h5", "-o", "m.onnx", "--name", name)
    assert line == (f"spikelut export: error: the ONNX graph's name (--name) must be a non-empty "
                    f"name of printable characters, got {shown}")
    assert not (files / "m.onnx").exists()
    code, out, err = run(capsys, "export", "m.h5", "-o", "m.onnx", "--name", "my graph", "--json")
    assert code == 0, err
    import onnx

    assert onnx.load(str(files / "m.onnx")).graph.name == "my graph"


# ---------------------------------------------------------------------------- sweep
SPACE = """
base = {base}
[sweep]
objectives = ["val_acc", "luts"]
pruner = "none"
population = 2
verify = 0
study = "s"
[set]
"data.val_fraction" = 0.2
"data.limit_train" = 200
"train.epochs" = {epochs}
"layers.1.nodes" = 4
[params]
"layers.0.nodes" = {{ low = 4, high = 8, step = 4 }}
"""


def write_space(path: Path, base: Path, epochs: int = 1) -> Path:
    path.write_text(SPACE.format(base=json.dumps(str(base)), epochs=epochs))
    return path


def trial_count(out: Path) -> int:
    import optuna

    return len(optuna.load_study(study_name="s", storage=f"sqlite:///{out / 'study.db'}").trials)


def test_sweep_continued_with_another_set_or_base_is_refused(tmp_path, capsys):
    pytest.importorskip("optuna")
    base = tmp_path / "base.toml"
    shutil.copy(REPO / "demos" / "run_default.toml", base)
    space = write_space(tmp_path / "s.toml", base)
    out = tmp_path / "o"
    code, _, err = run(capsys, "sweep", space, "-o", out, "--trials", 1)
    assert code == 0, err
    write_space(space, base, epochs=2)  # the old trials trained 1 epoch: not results of this
    line = one_error_line(capsys, "sweep", "sweep", space, "-o", out, "--trials", 1)
    assert line == (f"spikelut sweep: error: study 's' in sqlite:///{out.resolve() / 'study.db'} "
                    f"was run with other trial configs: the [set] table of {space} changed "
                    f"since, and its earlier results would be reused and reported for the new "
                    f"configs; undo the change, or give [sweep] study a new name (and a new "
                    f"output directory)")
    write_space(space, base)
    base.write_text(base.read_text().replace("lr = 0.03", "lr = 0.05"))
    line = one_error_line(capsys, "sweep", "sweep", space, "-o", out, "--trials", 1)
    assert line == (f"spikelut sweep: error: study 's' in sqlite:///{out.resolve() / 'study.db'} "
                    f"was run with other trial configs: the base config ({base}) of {space} "
                    f"changed since, and its earlier results would be reused and reported for "
                    f"the new configs; undo the change, or give [sweep] study a new name (and a "
                    f"new output directory)")
    assert trial_count(out) == 1
    # comments and layout do not count: the same tables continue the study
    base.write_text("# a comment\n" + base.read_text().replace("lr = 0.05", "lr = 0.03"))
    code, _, err = run(capsys, "sweep", space, "-o", out, "--trials", 1)
    assert code == 0, err
    assert trial_count(out) == 2


def test_sweep_refuses_an_empty_storage_url(tmp_path, capsys):
    pytest.importorskip("optuna")
    space = write_space(tmp_path / "s.toml", REPO / "demos" / "run_default.toml")
    line = one_error_line(capsys, "sweep", "sweep", space, "-o", tmp_path / "o", "--storage", "")
    assert line == ("spikelut sweep: error: --storage must be a database URL such as "
                    "postgresql://user@host/db, got ''; leave it out for OUTDIR/study.db")
    assert not (tmp_path / "o").exists()


def _half_then_interrupt(monkeypatch):
    """Path.write_text that writes half of the text, then is interrupted (Ctrl-C)."""
    real = Path.write_text

    def write_text(self, data, *args, **kwargs):
        real(self, data[:len(data) // 2], *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", write_text)


def test_sweep_trial_config_is_written_atomically(tmp_path, monkeypatch):
    from spikelut.config import load_config
    from spikelut.sweep.trial import run_trial

    cfg = load_config(REPO / "demos" / "run_default.toml")
    cfg["data"]["val_fraction"] = 0.2
    d = tmp_path / "trial"
    d.mkdir()
    (d / "config.toml").write_text("old\n")
    _half_then_interrupt(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        run_trial(cfg, d)
    assert (d / "config.toml").read_text() == "old\n"
    assert sorted(p.name for p in d.iterdir()) == ["config.toml"]


def test_sweep_front_png_is_written_atomically(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    from matplotlib.figure import Figure

    from spikelut.sweep.report import _plot

    png = tmp_path / "front.png"
    png.write_bytes(b"old picture")

    def savefig(self, fname, *args, **kwargs):
        Path(fname).write_bytes(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", savefig)
    with pytest.raises(KeyboardInterrupt):
        _plot([{"number": 0, "val_acc": 0.5, "luts": 3}], [{"number": 0, "val_acc": 0.5, "luts": 3}],
              png)
    assert png.read_bytes() == b"old picture"
    assert [p.name for p in tmp_path.iterdir()] == ["front.png"]


def test_sweep_refuses_more_trials_than_the_workers_can_count(tmp_path, capsys):
    pytest.importorskip("optuna")
    space = write_space(tmp_path / "s.toml", REPO / "demos" / "run_default.toml")
    # 3e9 wrapped in the workers' shared C int: 0 trials run, exit status 0
    line = one_error_line(capsys, "sweep", "sweep", space, "-o", tmp_path / "o", "--trials",
                          3_000_000_000, "--workers", 2)
    assert line == "spikelut sweep: error: --trials must be at most 2147483647, got 3000000000"
    space.write_text(space.read_text().replace('study = "s"', 'study = "s"\ntrials = 3000000000'))
    line = one_error_line(capsys, "sweep", "sweep", space, "-o", tmp_path / "o")
    assert line == (f"spikelut sweep: error: {space}: [sweep] trials must be at most 2147483647, "
                    f"got 3000000000")
    assert not (tmp_path / "o").exists()


def test_sweep_report_survives_odd_values_in_the_shared_database(tmp_path, capsys):
    optuna = pytest.importorskip("optuna")
    space = write_space(tmp_path / "s.toml", REPO / "demos" / "run_default.toml")
    out = tmp_path / "o"
    code, _, err = run(capsys, "sweep", space, "-o", out, "--trials", 1)
    assert code == 0, err
    # another machine (another version, or a hand) stored a trial whose numbers are not numbers
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{out / 'study.db'}")
    t = study.ask({"layers.0.nodes": optuna.distributions.IntDistribution(4, 8, step=4)})
    t.set_user_attr("val_acc", "<b>\x1b[31m")
    t.set_user_attr("luts", 2)
    study.tell(t, [1.0, 2])
    code, out_text, err = run(capsys, "sweep", space, "-o", out, "--trials", 0, "--json")
    assert code == 0, err
    rep = json.loads(out_text)
    assert [(r["number"], r["val_acc"], r["luts"], r["flip_flops"]) for r in rep["front"]][0] == (
        1, None, 2, None)
    code, out_text, err = run(capsys, "sweep", space, "-o", out, "--trials", 0)
    assert code == 0, err
    row = [line for line in out_text.splitlines() if line.startswith("1 ")]
    assert len(row) == 1 and row[0].split()[:5] == ["1", "-", "2", "-", "-"]
    html = (out / "report.html").read_text()
    assert "\x1b" not in html and "<b>" not in html
