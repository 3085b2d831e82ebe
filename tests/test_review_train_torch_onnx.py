"""Review of training (checkpoints, resume, ensembles, interrupts), spikelut.torch and the ONNX
export as a new user: every test here failed on the code before the fix it covers.

* A checkpoint is read as untrusted input (docs/threat-model.md): no link followed, attribute
  sizes and JSON nesting bounded, declared array shapes checked before anything is read, and the
  restored state (epoch, history, kept epoch, optimizer step) whole and consistent.
* An ensemble member's reported accuracy is its kept epoch's, and a Ctrl-C of an ensemble names
  the member checkpoints a --resume continues from.
* A SpikeLUT moved to another dtype (m.double()) computes the same circuit; distill_loss and
  distill_alpha refuse labels of the wrong shape and alpha given as text in one line.
* run_onnx_session refuses spikes that are not [T, B, n_in] of 0/1 (a 2 or a 0.6 gave counts
  silently).
"""

import json

import h5py
import numpy as np
import pytest

from spikelut.cli import main
from spikelut.errors import ConfigError, FileFormatError, ShapeError
from spikelut.io import load_model, save_spikes
from spikelut.train import Trainer, TrainConfig
from spikelut.train import trainer as trainer_mod
from spikelut.wiring import random_network

# the two-layer training config, its data and trainer of the resume tests
from test_resume_checks import CONFIG, data, trainer  # noqa: E402


# ---------------------------------------------------------------------------- hostile checkpoints
@pytest.fixture
def ck(tmp_path):
    """A genuine 2-epoch checkpoint of CONFIG on data(0)."""
    path = tmp_path / "c.h5"
    trainer(epochs=2).fit(data(0), checkpoint=path)
    return path


def _resume(path):
    trainer(epochs=4).fit(data(0), checkpoint=path, resume=True)


def _external_link(f, tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as o:
        o["x"] = np.zeros(f["params/L0"].shape, np.float32)
    del f["params/L0"]
    f["params/L0"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "x")


def _external_storage(f, tmp_path):
    shape = f["params/L0"].shape
    (tmp_path / "raw.bin").write_bytes(bytes(4 * shape[0] * shape[1]))
    del f["params/L0"]
    f["params"].create_dataset("L0", shape=shape, dtype="f4",
                               external=[(str(tmp_path / "raw.bin"), 0, 4 * shape[0] * shape[1])])


def _huge(f, tmp_path):
    # 1 PiB declared in unwritten chunks: the old reader allocated it before the shape check
    del f["params/L0"]
    f["params"].create_dataset("L0", shape=(2 ** 24, 2 ** 24), dtype="f4", chunks=(64, 64))


def _attr(name, value):
    def set_it(f, tmp_path):
        f.attrs[name] = value
    return set_it


HOSTILE = {
    "external link": (_external_link, "/params/L0: is an external link; spikelut files hold plain "
                                      "groups and datasets only (links could read other files)"),
    "external storage": (_external_storage, "/params/L0: uses external raw storage (its data "
                                            "would come from another file); store the data in "
                                            "the file"),
    "huge declared shape": (_huge, "/params/L0: shape (16777216, 16777216), expected (8, 8)"),
    "deep history": (_attr("history", "[" * 50_000 + "]" * 50_000),
                     "attribute 'history': JSON nested deeper than 64 levels"),
    "deep rng": (_attr("rng", "{\"a\":" * 50_000 + "1" + "}" * 50_000),
                 "attribute 'rng': JSON nested deeper than 64 levels"),
    "history of numbers": (_attr("history", "[1, 2]"),
                           "attribute 'history': record 1 is not the record of epoch 1; resume "
                           "from another checkpoint, or start without --resume"),
    "history too short": (_attr("history", "[]"),
                          "attribute 'history' must list the 2 finished epochs, got 0 records; "
                          "resume from another checkpoint, or start without --resume"),
    "kept epoch as text": (_attr("best", json.dumps({"epoch": "\x1b[2J", "val_acc": None,
                                                     "val_loss": None})),
                           "attribute 'best' must name a finished epoch 1..2; resume from "
                           "another checkpoint, or start without --resume"),
    "optimizer step inf": (_attr("optimizer", '{"name": "adam", "step": 1e400}'),
                           "attribute 'optimizer': 'step' must be a whole number >= 0, got inf"),
    "negative epoch": (_attr("epoch", -2),
                       "attribute 'epoch' must be a whole number >= 0, got -2"),
    "fractional epoch": (_attr("epoch", 1.5),
                         "attribute 'epoch' must be a whole number >= 0, got 1.5"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_checkpoint_is_refused_in_one_line(ck, tmp_path, case):
    damage, message = HOSTILE[case]
    with h5py.File(ck, "r+") as f:
        damage(f, tmp_path)
    before = ck.read_bytes()
    with pytest.raises(FileFormatError) as e:
        _resume(ck)
    assert str(e.value) == f"{ck}: {message}"
    assert ck.read_bytes() == before  # nothing of the refused run was written


def test_a_hostile_checkpoint_is_one_line_from_the_command(ck, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    save_spikes(tmp_path / "d.h5", *data(0))
    with h5py.File(ck, "r+") as f:
        _external_link(f, tmp_path)
    argv = ["train", str(cfg), "--data", str(tmp_path / "d.h5"), "-o", str(tmp_path / "m.h5"),
            "--checkpoint", str(ck), "--resume", "--no-progress", "--epochs", "4"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err == (f"spikelut train: error: {ck}: /params/L0: is an external link; spikelut "
                   f"files hold plain groups and datasets only (links could read other files)\n")
    assert not (tmp_path / "m.h5").exists()


def test_a_genuine_checkpoint_still_resumes_bit_for_bit(tmp_path):
    full = trainer().fit(data(0), data(1))
    ck = tmp_path / "c.h5"

    class Stop(Exception):
        pass

    def stop(tr, record):
        if record["epoch"] == 2:
            raise Stop

    with pytest.raises(Stop):
        trainer().fit(data(0), data(1), checkpoint=ck, callback=stop)
    res = trainer().fit(data(0), data(1), checkpoint=ck, resume=True)
    assert res.kept_epoch == full.kept_epoch
    for a, b in zip(res.net.layers, full.net.layers):
        assert np.array_equal(a.logits, b.logits)


def test_a_rewiring_checkpoint_with_deep_counts_is_one_line(tmp_path):
    x = (np.random.default_rng(0).random((4, 60, 8)) < 0.5).astype(np.uint8)
    y = x[0, :, 3].astype(np.int64)
    net = random_network(0, n_in=8, sizes=[6, 2], k=2, classes=2)
    cfg = dict(epochs=2, batch_size=20, lr=0.05, backend="numpy", rewire_every=1,
               rewire_fraction=0.5)
    Trainer(net, TrainConfig.from_dict(cfg), progress=False).fit((x, y), checkpoint=tmp_path / "c.h5")
    with h5py.File(tmp_path / "c.h5", "r+") as f:
        f.attrs["rewire_counts"] = "[" * 50_000 + "]" * 50_000
    with pytest.raises(FileFormatError) as e:
        Trainer(net, TrainConfig.from_dict({**cfg, "epochs": 3}), progress=False).fit(
            (x, y), checkpoint=tmp_path / "c.h5", resume=True)
    assert str(e.value) == (f"{tmp_path / 'c.h5'}: attribute 'rewire_counts': JSON nested "
                            f"deeper than 64 levels")


# ---------------------------------------------------------------------------- ensembles
def _ensemble_workspace(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.replace("epochs = 4", "epochs = 5"))
    save_spikes(tmp_path / "d.h5", *data(0, B=80))
    return ["train", str(cfg), "--data", str(tmp_path / "d.h5"), "--val-fraction", "0.25",
            "--ensemble", "2", "--no-progress", "--json"]


def test_ensemble_members_report_their_kept_epoch(tmp_path, capsys):
    argv = _ensemble_workspace(tmp_path)
    assert main(argv + ["-o", str(tmp_path / "e.h5")]) == 0
    out, err = capsys.readouterr()
    runs = json.loads(out)["member_runs"]
    kept = [r["history"][r["kept_epoch"] - 1] for r in runs]
    # the case the fix is about: a member kept an epoch before the last (keep = "best")
    assert any(r["kept_epoch"] < len(r["history"]) for r in runs)
    assert [(r["train_acc"], r["val_acc"]) for r in runs] == [(k["acc"], k["val_acc"]) for k in kept]
    lines = [s for s in err.splitlines() if "train acc" in s]
    assert lines == [f"spikelut train: member {m} ({m + 1}/2): train acc {k['acc']:.4f}, val acc "
                     f"{k['val_acc']:.4f} (kept epoch {r['kept_epoch']})"
                     for m, (r, k) in enumerate(zip(runs, kept))]


def test_an_interrupted_ensemble_names_the_member_checkpoints_and_resumes_exactly(
        tmp_path, capsys, monkeypatch):
    argv = _ensemble_workspace(tmp_path)
    assert main(argv + ["-o", str(tmp_path / "full.h5")]) == 0
    capsys.readouterr()
    ck = tmp_path / "ck.h5"
    save = trainer_mod.Trainer.save_checkpoint
    calls = []

    def interrupted_save(self, path):  # Ctrl-C right after member 1's second epoch is saved
        save(self, path)
        calls.append(path)
        if len(calls) == 7:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer_mod.Trainer, "save_checkpoint", interrupted_save)
    part = argv + ["-o", str(tmp_path / "part.h5"), "--checkpoint", str(ck)]
    assert main(part) == 130
    out, err = capsys.readouterr()
    assert json.loads(out) == {"ok": False, "command": "train", "error": "interrupted"}
    assert err.splitlines()[-1] == (
        f"spikelut train: interrupted; the same command with --resume keeps the finished members "
        f"and continues from the last finished epoch in {tmp_path / 'ck.member<m>.h5'}")
    assert not ck.exists() and (tmp_path / "ck.member1.h5").exists()
    monkeypatch.setattr(trainer_mod.Trainer, "save_checkpoint", save)
    assert main(part + ["--resume"]) == 0
    a, b = load_model(tmp_path / "full.h5"), load_model(tmp_path / "part.h5")
    for la, lb in zip(a.layers, b.layers):
        assert np.array_equal(la.logits, lb.logits)


# ---------------------------------------------------------------------------- spikelut.torch
torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install 'spikelut[torch]'")


def test_a_module_moved_to_float64_computes_the_same_circuit_and_gradients():
    from spikelut.torch import SpikeLUT

    net = random_network(0, n_in=4, sizes=[8, 4], k=3, classes=2, max_delay=2, refractory=1)
    x = torch.from_numpy((np.random.default_rng(0).random((6, 5, 4)) < 0.5).astype(np.float32))
    y = torch.tensor([0, 1, 0, 1, 1])
    m32 = SpikeLUT.from_network(net, backend="numpy")
    m64 = SpikeLUT.from_network(net, backend="numpy").double()  # was a RuntimeError (float != double)
    c32, c64 = m32(x), m64(x)
    assert c64.dtype == torch.float32 and torch.equal(c32, c64)
    for m, c in ((m32, c32), (m64, c64)):
        torch.nn.functional.cross_entropy(c * m.logit_scale(6), y).backward()
    for p32, p64 in zip(m32.logits, m64.logits):
        assert p64.grad.dtype == torch.float64
        assert torch.equal(p64.grad, p32.grad.double())
        assert p32.grad.abs().sum() > 0


def test_distill_loss_refuses_labels_that_do_not_fit_and_alpha_as_text():
    from spikelut.torch import distill_alpha, distill_loss

    z = torch.zeros(5, 2)
    with pytest.raises(ShapeError) as e:  # was torch's ValueError
        distill_loss(z, z, torch.zeros(3, dtype=torch.long), 2.0, 0.3)
    assert str(e.value) == ("distill_loss: labels must be an integer tensor [5] (one class per "
                            "sample of the logits), got (3,) torch.int64")
    with pytest.raises(ShapeError) as e:  # was torch's RuntimeError
        distill_loss(z, z, torch.zeros(5), 2.0, 0.3)
    assert str(e.value) == ("distill_loss: labels must be an integer tensor [5] (one class per "
                            "sample of the logits), got (5,) torch.float32")
    with pytest.raises(ConfigError) as e:  # was a TypeError after the check passed float('0.3')
        distill_loss(z, z, torch.zeros(5, dtype=torch.long), 2.0, "0.3")
    assert str(e.value) == "distill_loss: alpha must be a number in [0, 1], got '0.3'"
    with pytest.raises(ConfigError) as e:  # was a TypeError
        distill_alpha("0.3", 1, 5)
    assert str(e.value) == "alpha must be in [0, 1], got '0.3'"
    # per cycle: labels [B] for logits [T, B, C]
    zt = torch.zeros(4, 5, 2)
    assert float(distill_loss(zt, zt, torch.zeros(5, dtype=torch.long), 2.0, 0.0)) == \
        pytest.approx(float(np.log(2)))


# ---------------------------------------------------------------------------- ONNX
def test_run_onnx_session_refuses_spikes_that_are_not_0_or_1():
    pytest.importorskip("onnx", reason="onnx not installed: pip install 'spikelut[onnx]'")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    from spikelut.engine.reference import simulate
    from spikelut.onnx_export import run_onnx_session, to_onnx

    net = random_network(0, n_in=3, sizes=[6, 4], k=2, classes=2)
    session = ort.InferenceSession(to_onnx(net).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    x = (np.random.default_rng(0).random((5, 4, 3)) < 0.5).astype(np.uint8)
    for bad, message in ((x * 2, "input spikes must be 0 or 1"),
                         (x.astype(np.float32) * 0.6, "input spikes must be 0 or 1"),
                         (x[:, :, :2], "input spikes have 2 channels but the network has 3 inputs")):
        with pytest.raises(ShapeError) as e:  # 2 and 0.6 gave counts silently
            run_onnx_session(session, net, bad)
        assert str(e.value) == message
    out, counts, pred = run_onnx_session(session, net, x.astype(bool))
    ref = simulate(net, x)
    np.testing.assert_array_equal(counts, ref.counts)
    np.testing.assert_array_equal(pred, ref.pred)
