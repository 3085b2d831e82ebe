"""Rules that hold everywhere: one accuracy rule for every command that scores, events on a bin
edge, the data's float precision, non-finite training, progress without a terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from spikelut import coding
from spikelut.cli import main
from spikelut.io import load_spikes, save_spikes
from spikelut.metrics import Tally, scoring_problem
from spikelut.network import Readout
from spikelut.progress import Progress
from spikelut.train.config import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
TRAIN_CFG = (ROOT / "demos" / "train_first_of_two.toml").read_text()


# ---------------------------------------------------------------------------- #12.10 one accuracy rule
def _cfg(tmp: Path, start: int = 0, classes: int = 2, extra: str = "") -> Path:
    text = TRAIN_CFG.replace("[readout]\nclasses = 2", f"[readout]\nclasses = {classes}\nstart = {start}")
    text = text.replace("epochs = 30", "epochs = 1") + extra
    p = tmp / f"c{start}_{classes}.toml"
    p.write_text(text)
    return p


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("rules")
    x = (np.random.default_rng(0).random((6, 40, 2)) < 0.3).astype(np.uint8)
    save_spikes(d / "ok.h5", x, np.arange(40) % 2)
    save_spikes(d / "three.h5", x, np.arange(40) % 3)  # label 2 outside 2 classes
    for start in (0, 6):
        assert main(["init", str(_cfg(d, start)), "-o", str(d / f"m{start}.h5")]) == 0
    return d


NO_CYCLE = ("6 cycles, but the readout starts counting at cycle 6 (no cycle is counted, so there is "
            "no accuracy); lower [readout] start or use longer inputs")
BAD_LABEL = ("label 2 is out of range: the readout has 2 classes (labels 0..1); set [readout] classes "
             "to match the data")


@pytest.mark.parametrize("model,data,reason", [("m6.h5", "ok.h5", NO_CYCLE),
                                               ("m0.h5", "three.h5", BAD_LABEL)])
@pytest.mark.parametrize("command", ["simulate", "eval", "train", "rtl"])
def test_one_accuracy_rule_for_every_command(files, tmp_path, capsys, command, model, data, reason):
    d = files
    out = tmp_path / "out.h5"
    if command == "simulate":
        args = ["simulate", str(d / model), str(d / data), "-o", str(out)]
    elif command == "eval":
        args = ["eval", str(d / model), str(d / data)]
    elif command == "rtl":  # --verify reports the circuit's accuracy
        out = tmp_path / "rtl"
        args = ["rtl", str(d / model), "-o", str(out), "--verify", str(d / data)]
    else:
        cfg = _cfg(tmp_path, start=6 if model == "m6.h5" else 0)
        args = ["train", str(cfg), "--data", str(d / data), "-o", str(out), "--no-progress"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"spikelut {command}: error: {d / data}: {reason}"
    assert not out.exists()


def test_simulate_without_labels_needs_no_counted_cycle(files, tmp_path, capsys):
    """No accuracy is reported without labels, so start >= T only leaves counts of 0."""
    x = load_spikes(files / "ok.h5").spikes
    save_spikes(tmp_path / "u.h5", x)
    assert main(["simulate", str(files / "m6.h5"), str(tmp_path / "u.h5"), "-o",
                 str(tmp_path / "r.h5"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert "accuracy" not in info and info["pred"] == [0] * 40


def test_scoring_problem_and_tally():
    r = Readout(0, [0, 1, -1], 3, start=2)
    assert scoring_problem(r, 3, np.array([0, 2])) is None
    assert scoring_problem(r, 2, None).startswith("2 cycles, but the readout starts counting at cycle 2")
    assert scoring_problem(r, 3, np.array([0, -1])).startswith("label -1 is out of range")
    t = Tally(3)
    t.add(np.array([0, 2]), np.array([0, 1]))
    t.add(np.array([1]), np.array([1]))
    assert t.confusion.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]
    assert (t.correct, t.samples, t.describe()) == (2, 3, "accuracy 0.6667 (2/3)")


# ---------------------------------------------------------------------------- #12.11 events on a bin edge
def test_events_on_bin_edges_land_on_their_cycle(tmp_path, capsys):
    np.savez(tmp_path / "ev.npz", t=np.array([0.1, 0.2, 0.3, 0.6, 0.7]), channel=np.zeros(5, np.int64),
             sample=np.zeros(5, np.int64), label=np.array([0]), dt=np.float64(0.1))
    assert main(["encode", "--dataset", str(tmp_path / "ev.npz"), "-o", str(tmp_path / "e.h5")]) == 0
    s = load_spikes(tmp_path / "e.h5")
    assert np.flatnonzero(s.spikes[:, 0, 0]).tolist() == [1, 2, 3, 6, 7]
    assert s.spikes.shape == (8, 1, 1)


def test_events_just_before_an_edge_stay_in_their_cycle(tmp_path):
    from spikelut.datasets import bin_events

    assert bin_events([0.299, 0.3, 0.30000001, 1e6 * 0.1 - 1e-3], 0.1).tolist() == [2, 3, 3, 999_999]
    assert bin_events([2, 3, 4.5], 1.5).tolist() == [1, 2, 3]


# ---------------------------------------------------------------------------- #12.12 float precision
def test_float_data_keeps_its_precision_through_the_cli(tmp_path):
    x = np.array([[0.35], [0.45], [0.65], [0.95]])
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(4))
    assert main(["encode", "--dataset", str(tmp_path / "d.npz"), "--coding", "thermometer",
                 "--steps", "1", "--param", "levels=10", "-o", str(tmp_path / "e.h5")]) == 0
    s = load_spikes(tmp_path / "e.h5").spikes
    assert s[0].sum(axis=1).tolist() == [4, 5, 7, 10]
    assert (s == coding.encode(x, "thermometer", 1, levels=10)).all()


def test_float32_data_stays_float32(tmp_path):
    from spikelut.datasets import load_dataset

    np.savez(tmp_path / "d.npz", x=np.array([[0.35]], np.float32), y=np.array([0]))
    np.savez(tmp_path / "i.npz", x=np.array([[1]], np.int16), y=np.array([0]))
    assert load_dataset(tmp_path / "d.npz").x.dtype == np.float32
    assert load_dataset(tmp_path / "i.npz").x.dtype == np.float64


# ---------------------------------------------------------------------------- #12.13 non-finite training
@pytest.mark.parametrize("key,value,shown", [("lr", "1e39", "1e+39"), ("init_std", "1e-50", "1e-50"),
                                             ("betas", "[0.9, 1e40]", "[0.9, 1e+40]")])
def test_settings_outside_float32_are_refused(tmp_path, capsys, key, value, shown):
    cfg = tmp_path / "c.toml"
    text = TRAIN_CFG.replace("lr = 0.03\n", "" if key == "lr" else "lr = 0.03\n")
    cfg.write_text(text + f"{key} = {value}\n")
    save_spikes(tmp_path / "d.h5", np.zeros((20, 4, 2), np.uint8), [0, 1, 0, 1])
    assert main(["train", str(cfg), "--data", str(tmp_path / "d.h5"), "-o", str(tmp_path / "m.h5")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"spikelut train: error: {cfg}: [train]: {key} must be a number within float32 range "
                   f"(1.4e-45 .. 3.403e+38 in magnitude, or 0), as training computes in float32, "
                   f"got {shown}"]
    with pytest.raises(Exception, match="within float32 range"):
        TrainConfig.from_dict({key: json.loads(value)})


def test_training_that_diverges_stops_with_one_line(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(TRAIN_CFG.replace("lr = 0.03", 'lr = 3e38\noptimizer = "sgd"\nmomentum = 0.0\n'
                                     'clip = 0.0').replace("epochs = 30", "epochs = 2"))
    x = np.zeros((20, 50, 2), np.uint8)
    x[0, ::2, 0] = x[3, ::2, 1] = x[0, 1::2, 1] = x[3, 1::2, 0] = 1
    save_spikes(tmp_path / "d.h5", x, np.arange(50) % 2)
    args = ["train", str(cfg), "--data", str(tmp_path / "d.h5"), "-o", str(tmp_path / "m.h5"),
            "--checkpoint", str(tmp_path / "ck.h5"), "--no-progress"]
    with np.errstate(all="raise"):  # no raw numpy warning escapes either
        assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["spikelut train: error: training diverged in epoch 1: the logits became "
                   "non-finite (lr 3e+38); lower [train] lr; nothing of this epoch was saved"]
    assert not (tmp_path / "m.h5").exists() and not (tmp_path / "ck.h5").exists()


# ---------------------------------------------------------------------------- #12.16 progress
def test_progress_prints_plain_lines_without_a_terminal():
    out = io.StringIO()
    with Progress(3, "simulate", show=None, stream=out, every=0.0) as p:
        p.update(1)
        p.update(2, acc="0.5")
    lines = [line.rsplit(",", 1)[0] if "acc" not in line else line for line in out.getvalue().splitlines()]
    assert [line.split(", ")[0] for line in lines] == ["simulate: 1/3 samples (33.3%)",
                                                        "simulate: 3/3 samples (100.0%)"]
    assert out.getvalue().splitlines()[1].endswith(", acc 0.5")


def test_progress_is_silent_when_asked_or_between_lines():
    out = io.StringIO()
    with Progress(3, "x", show=False, stream=out, every=0.0) as p:
        p.update(3)
    with Progress(3, "x", show=None, stream=out, every=3600.0) as p:
        p.update(3)
    assert out.getvalue() == ""


def test_progress_ends_a_log_at_the_final_count_unless_interrupted():
    """A plain line was printed mid-way: closing prints the final count (a log that ends at
    192/200 reads like 96 %); not when an exception ends the block, nor with nothing printed."""
    out = io.StringIO()
    with Progress(200, "simulate", show=None, stream=out, every=0.0) as p:
        p.update(192)
        p.every = 3600.0
        p.update(8)
    assert [line.split(",")[0] for line in out.getvalue().splitlines()] == [
        "simulate: 192/200 samples (96.0%)", "simulate: 200/200 samples (100.0%)"]
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        with Progress(200, "simulate", show=None, stream=out, every=0.0) as p:
            p.update(100)
            p.every = 3600.0
            p.update(50)
            raise KeyboardInterrupt
    assert [line.split(",")[0] for line in out.getvalue().splitlines()] == [
        "simulate: 100/200 samples (50.0%)"]


def test_training_without_a_terminal_logs_one_line_per_epoch(files, tmp_path, capsys):
    cfg = _cfg(tmp_path, extra="").read_text().replace("epochs = 1", "epochs = 2")
    (tmp_path / "c.toml").write_text(cfg)
    args = ["train", str(tmp_path / "c.toml"), "--data", str(files / "ok.h5"), "-o", str(tmp_path / "m.h5")]
    assert main(args) == 0
    err = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in err] == ["epoch 1", "epoch 2"]
    assert main(args + ["--no-progress"]) == 0
    assert capsys.readouterr().err == ""
