"""demos/distill_mnist1d.py on a tiny budget: tau/alpha chosen on validation, the hybrid student."""

import json
import os

import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install 'spikelut[torch]'")

from helpers import load_demo  # noqa: E402
from spikelut.engine.reference import simulate  # noqa: E402
from spikelut.io import load_model, load_spikes  # noqa: E402

DEMOS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "demos")
TINY = """
name = "tiny"
seed = 0
inputs = 32
[[layers]]
name = "a"
nodes = 40
k = 4
taps = [{ from = "input", count = 4, delay = [0, 1, 2, 3] }]
[[layers]]
name = "out"
nodes = 20
k = 4
taps = [{ from = "a", count = 4 }]
[readout]
classes = 10
"""


@pytest.mark.parametrize("student", ["lut", "hybrid"])
def test_demo_chooses_the_pair_on_validation_and_saves_the_circuit(tmp_path, student):
    demo = load_demo(DEMOS, "distill_mnist1d")
    (tmp_path / "tiny.toml").write_text(TINY)
    out = tmp_path / "run"
    assert demo.main(["--config", str(tmp_path / "tiny.toml"), "--teacher", "cnn",
                      "--teacher-epochs", "1", "--epochs", "2", "--limit", "100",
                      "--pairs", "1:0,2:0.5", "--student", student, "--out", str(out)]) == 0
    res = json.loads((out / "distill.json").read_text())
    assert [(r["tau"], r["alpha"]) for r in res["runs"]] == [(1.0, 0.0), (2.0, 0.5)]
    assert [len(r["student_history"]) for r in res["runs"]] == [2, 2]
    best = max(res["runs"], key=lambda r: r["student_val_acc"])
    assert (res["tau"], res["alpha"]) == (best["tau"], best["alpha"])
    assert res["student_val_acc"] == best["student_val_acc"]
    # the saved circuit on the saved test spikes has the reported test accuracy
    data = load_spikes(out / "test.h5")
    acc = float((simulate(load_model(out / "student.h5"), data.spikes).pred == data.labels).mean())
    assert acc == pytest.approx(res["student_test_acc"], abs=1e-6)
    assert data.spikes.shape == (40, 1000, 32)
    if student == "hybrid":
        assert res["front"]["init"] == "thermometer"
        assert 0.0 < res["front"]["test_rate"] < 1.0
    else:
        assert res["luts"] == 60


def test_demo_pairs_errors():
    demo = load_demo(DEMOS, "distill_mnist1d")
    assert demo.parse_pairs("1:0,4:0.5") == [(1.0, 0.0), (4.0, 0.5)]
    with pytest.raises(SystemExit, match=r"^--pairs: '2' is not TAU:ALPHA \(e.g. 2:0.3\)$"):
        demo.parse_pairs("2")
    with pytest.raises(SystemExit, match=r"^--pairs: '0:0.5' needs tau > 0 and 0 <= alpha <= 1$"):
        demo.parse_pairs("1:0,0:0.5")


def test_demo_student_reads_difference_channels(tmp_path):
    demo = load_demo(DEMOS, "distill_mnist1d")
    (tmp_path / "tiny64.toml").write_text(TINY.replace("inputs = 32", "inputs = 64"))
    out = tmp_path / "run"
    assert demo.main(["--config", str(tmp_path / "tiny64.toml"), "--teacher", "cnn",
                      "--teacher-epochs", "1", "--epochs", "1", "--limit", "100", "--pairs", "1:0",
                      "--differences", "1", "--out", str(out)]) == 0
    res = json.loads((out / "distill.json").read_text())
    assert res["differences"] == [1]
    data = load_spikes(out / "test.h5")                 # the circuit's input: code + differences
    assert data.spikes.shape == (40, 1000, 64)
    acc = float((simulate(load_model(out / "student.h5"), data.spikes).pred == data.labels).mean())
    assert acc == pytest.approx(res["student_test_acc"], abs=1e-6)
    with pytest.raises(SystemExit, match=r"^--differences: only with --student lut and without "):
        demo.main(["--differences", "1", "--student", "hybrid", "--out", str(out)])
    with pytest.raises(SystemExit, match=r"^--differences: give lags in cycles as a comma list"):
        demo.main(["--differences", "x", "--out", str(out)])


def test_demo_refuses_a_student_of_the_wrong_width_before_training(tmp_path):
    demo = load_demo(DEMOS, "distill_mnist1d")
    (tmp_path / "tiny.toml").write_text(TINY)
    with pytest.raises(SystemExit) as e:
        demo.main(["--config", str(tmp_path / "tiny.toml"), "--teacher", "cnn", "--limit", "50",
                   "--differences", "1", "--out", str(tmp_path / "run")])
    assert str(e.value) == (f"--config {tmp_path / 'tiny.toml'}: inputs = 32, but the student reads "
                            f"64 channels (32 for the code, 32 for --differences); set inputs = 64")
    assert not (tmp_path / "run" / "distill.json").exists()
