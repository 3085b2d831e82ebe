"""What a resumed training run checks (docs/guide/training.md): the checkpoint records a digest of
its training data, validation data and teacher features, and a resume with other data, without
the validation data it had, or with fewer epochs than the checkpoint already holds is refused in
one line; an older checkpoint without that record resumes with a warning. A correct resume stays
bit for bit equal to an uninterrupted run."""

import json

import h5py
import numpy as np
import pytest

from spikelut.cli import main
from spikelut.config import build_network, parse_config
from spikelut.ensemble import member_stamp
from spikelut.errors import ConfigError, FileFormatError
from spikelut.io import save_spikes
from spikelut.train import Trainer, TrainConfig
from spikelut.train.trainer import data_digest

from helpers import assert_same_training

CONFIG = """
seed = 0
inputs = 2
[[layers]]
name = "h"
nodes = 8
k = 3
taps = [{from = "input", count = 2}, {from = "self", count = 1, delay = 1}]
[[layers]]
name = "out"
nodes = 4
k = 3
taps = [{from = "h", count = 3}]
[readout]
classes = 2
[train]
epochs = 4
batch_size = 10
lr = 0.05
keep = "best"
backend = "numpy"
"""


def data(seed, B=40, T=6):
    rng = np.random.default_rng(seed)
    x = (rng.random((T, B, 2)) < 0.3).astype(np.uint8)
    return x, (x[:, :, 0].sum(axis=0) > x[:, :, 1].sum(axis=0)).astype(np.int64)


def trainer(**overrides):
    cfg = parse_config(CONFIG)
    tc = TrainConfig.from_dict({**cfg["train"], **overrides}, seed=cfg["seed"])
    return Trainer(build_network(cfg), tc, progress=False)


class Stop(Exception):
    pass


def stop_after(n):
    def cb(tr, record):
        if record["epoch"] == n:
            raise Stop
    return cb


def checkpoint(tmp_path, train, val=None, epochs=4, **fit):
    ck = tmp_path / "c.h5"
    trainer(epochs=epochs).fit(train, val, checkpoint=ck, **fit)
    return ck


def refused(ck, train, val=None, epochs=4, **fit):
    before = ck.read_bytes()
    with pytest.raises(ConfigError) as e:
        trainer(epochs=epochs).fit(train, val, checkpoint=ck, resume=True, **fit)
    assert ck.read_bytes() == before  # nothing of the refused run was written
    return str(e.value)


def test_digest_is_the_one_ensemble_member_stamps_use():
    x = np.zeros((2, 3, 1), np.uint8)
    x[1, 2, 0] = 1
    y = np.array([0, 1, 0], np.int64)
    # pinned: member files stamped before the digest moved to the trainer stay valid
    assert data_digest((x, y)).hex() == \
        "2c118ae78c245a86e9f12c8ae776f7584fb51b427d5507f074abf6d80ee00c41"
    assert data_digest((x, y), (x, y)).hex() == \
        "cfaf5bedd62d26e41fd1c58741944993f6859543b6ded13726f39bd928c220e0"
    assert member_stamp({"seed": 0, "layers": []}, (x, y)) == \
        "05c7e2a3ba6a235221b1b6829bd978418ce48a34ed977538cf1ad31ef5ae1563"


def test_checkpoint_records_the_digests_and_resume_stays_bit_for_bit(tmp_path):
    train, val = data(0), data(1)
    full = trainer()
    res_full = full.fit(train, val, log=tmp_path / "full.jsonl")
    ck, log = tmp_path / "c.h5", tmp_path / "part.jsonl"
    with pytest.raises(Stop):
        trainer().fit(train, val, log=log, checkpoint=ck, callback=stop_after(2))
    with h5py.File(ck) as f:
        assert json.loads(f.attrs["digests"]) == {
            "data": data_digest(train).hex(), "val": data_digest(val).hex(), "teacher": None}
    # labels of another integer dtype are the same data
    resumed = trainer()
    res = resumed.fit(train, (val[0], val[1].astype(np.int32)), log=log, checkpoint=ck,
                      resume=True)
    assert_same_training(full, res_full, resumed, res)
    strip = [{k: v for k, v in json.loads(s).items() if k != "time"}
             for s in log.read_text().splitlines()]
    assert strip == [{k: v for k, v in r.items() if k != "time"} for r in res_full.history]


def test_resume_past_the_epochs_asked_for_is_refused(tmp_path):
    train = data(0)
    ck = checkpoint(tmp_path, train, epochs=4)
    assert refused(ck, train, epochs=3) == (
        f"{ck}: the checkpoint is at epoch 4, past the 3 epochs asked for; give --epochs 4 or "
        f"more to continue it, or start without --resume")
    assert refused(ck, train, epochs=1).startswith(f"{ck}: the checkpoint is at epoch 4, past "
                                                   f"the 1 epoch asked for;")
    # as many as the checkpoint holds: nothing left to train, the same result
    tr = trainer(epochs=4)
    tr.fit(train, checkpoint=ck, resume=True)
    assert tr.epoch == 4 and len(tr.history) == 4


@pytest.mark.parametrize("damage, message", [
    (lambda f: f.attrs.__delitem__("network"),
     "a damaged checkpoint (KeyError: \"Unable to synchronously open attribute (can't locate "
     "attribute: 'network')\"); resume from another one, or start without --resume"),
    (lambda f: f.attrs.__setitem__("config", "{not json"),
     "a damaged checkpoint (JSONDecodeError: Expecting property name enclosed in double quotes: "
     "line 1 column 2 (char 1)); resume from another one, or start without --resume"),
    (lambda f: f.__delitem__("params"),
     "a damaged checkpoint (KeyError: \"Unable to synchronously open object (object 'params' "
     "doesn't exist)\"); resume from another one, or start without --resume"),
    (lambda f: f.attrs.__setitem__("version", "abc"),  # int("abc") raised ValueError
     "not a spikelut checkpoint (format 'spikelut-checkpoint', version 'abc'; expected "
     "'spikelut-checkpoint' v1)"),
])
def test_a_damaged_checkpoint_is_one_line_not_a_traceback(tmp_path, damage, message):
    train = data(0)
    ck = checkpoint(tmp_path, train, epochs=2)
    with h5py.File(ck, "r+") as f:
        damage(f)
    before = ck.read_bytes()
    with pytest.raises(FileFormatError) as e:
        trainer(epochs=4).fit(train, checkpoint=ck, resume=True)
    assert str(e.value) == f"{ck}: {message}"
    assert ck.read_bytes() == before


def test_a_model_given_as_checkpoint_names_its_version_plainly(tmp_path):
    # the version was printed as numpy's repr: "version np.int64(1)"
    train = data(0)
    ck = checkpoint(tmp_path, train, epochs=2)
    with h5py.File(ck, "r+") as f:
        f.attrs["format"] = "spikelut-model"
    with pytest.raises(FileFormatError) as e:
        trainer(epochs=4).fit(train, checkpoint=ck, resume=True)
    assert str(e.value) == (f"{ck}: not a spikelut checkpoint (format 'spikelut-model', version 1; "
                            f"expected 'spikelut-checkpoint' v1)")


def test_resume_on_other_training_data_is_refused(tmp_path):
    ck = checkpoint(tmp_path, data(0), epochs=2)
    assert refused(ck, data(5)) == (
        f"{ck}: the checkpoint was made with other training data than given now; resume with the "
        f"same --data (and --val-fraction), or start without --resume")
    x, y = data(0)
    assert refused(ck, (x, 1 - y)).startswith(f"{ck}: the checkpoint was made with other "
                                              f"training data")


def test_resume_with_missing_other_or_added_validation_data_is_refused(tmp_path):
    train, val = data(0), data(1)
    ck = checkpoint(tmp_path, train, val, epochs=2)
    assert refused(ck, train) == (
        f"{ck}: the checkpoint was made with validation data and none is given now; resume "
        f"with the same --val (or --val-fraction), or start without --resume")
    assert refused(ck, train, data(2)) == (
        f"{ck}: the checkpoint was made with other validation data than given now; resume "
        f"with the same --val (or --val-fraction), or start without --resume")
    ck2 = tmp_path / "plain.h5"
    trainer(epochs=2).fit(train, checkpoint=ck2)
    assert refused(ck2, train, val) == (
        f"{ck2}: the checkpoint was made without validation data and validation data is given "
        f"now; resume without --val and --val-fraction, or start without --resume")


def test_resume_with_other_teacher_features_is_refused(tmp_path):
    train = data(0)
    f = np.random.default_rng(0).random((40, 2)).astype(np.float32)
    ck = tmp_path / "c.h5"
    trainer(epochs=2).fit(train, checkpoint=ck, teacher=f)
    assert refused(ck, train, teacher=f[::-1].copy()) == (
        f"{ck}: the checkpoint was made with other teacher features than given now; resume "
        f"with the same --teacher-features, or start without --resume")
    assert refused(ck, train) == (
        f"{ck}: the checkpoint was made with teacher features and none is given now; resume "
        f"with the same --teacher-features, or start without --resume")
    tr = trainer(epochs=3)
    tr.fit(train, checkpoint=ck, resume=True, teacher=f)
    assert tr.epoch == 3


def test_an_older_checkpoint_without_digests_resumes_with_a_warning(tmp_path, capsys):
    train, val = data(0), data(1)
    ck = checkpoint(tmp_path, train, val, epochs=2)
    with h5py.File(ck, "r+") as f:  # as written before checkpoints recorded their data
        del f.attrs["digests"]
    capsys.readouterr()
    # its history still says it had validation data
    assert refused(ck, train) == (
        f"{ck}: the checkpoint was made with validation data and none is given now; resume "
        f"with the same --val (or --val-fraction), or start without --resume")
    capsys.readouterr()
    tr = trainer(epochs=3)
    tr.fit(train, val, checkpoint=ck, resume=True)
    assert tr.epoch == 3
    assert capsys.readouterr().err == (
        f"spikelut: warning: {ck}: an older checkpoint that does not record its data; resuming "
        f"without checking that the training data is the same\n")
    with h5py.File(ck) as f:  # written again by the resumed run: now with its record
        assert json.loads(f.attrs["digests"])["data"] == data_digest(train).hex()


def _cli_files(tmp_path):
    (tmp_path / "c.toml").write_text(CONFIG)
    for name, seed in (("tr.h5", 0), ("va.h5", 1), ("other.h5", 7)):
        save_spikes(tmp_path / name, *data(seed))
    return lambda *more: ["train", str(tmp_path / "c.toml"), "--no-progress", *more]


def test_train_command_refuses_a_resume_that_does_not_match(tmp_path, capsys):
    args = _cli_files(tmp_path)
    d = {n: str(tmp_path / n) for n in ("tr.h5", "va.h5", "other.h5", "m5.h5", "m3.h5", "c5.h5")}
    assert main(args("--data", d["tr.h5"], "--val", d["va.h5"], "-o", d["m5.h5"],
                     "--checkpoint", d["c5.h5"], "--epochs", "5")) == 0
    capsys.readouterr()
    cases = [
        (["--data", d["tr.h5"], "--val", d["va.h5"], "--epochs", "3"],
         f"{d['c5.h5']}: the checkpoint is at epoch 5, past the 3 epochs asked for; give "
         f"--epochs 5 or more to continue it, or start without --resume"),
        (["--data", d["other.h5"], "--val", d["va.h5"], "--epochs", "5"],
         f"{d['c5.h5']}: the checkpoint was made with other training data than given now; "
         f"resume with the same --data (and --val-fraction), or start without --resume"),
        (["--data", d["tr.h5"], "--epochs", "5"],
         f"{d['c5.h5']}: the checkpoint was made with validation data and none is given now; "
         f"resume with the same --val (or --val-fraction), or start without --resume"),
        (["--data", d["tr.h5"], "--val", d["other.h5"], "--epochs", "5"],
         f"{d['c5.h5']}: the checkpoint was made with other validation data than given now; "
         f"resume with the same --val (or --val-fraction), or start without --resume"),
        (["--data", d["tr.h5"], "--val-fraction", "0.25", "--epochs", "5"],
         f"{d['c5.h5']}: the checkpoint was made with other training data than given now; "
         f"resume with the same --data (and --val-fraction), or start without --resume"),
    ]
    for more, message in cases:
        assert main(args(*more, "-o", d["m3.h5"], "--checkpoint", d["c5.h5"], "--resume")) == 1
        assert capsys.readouterr().err == f"spikelut train: error: {message}\n"
        assert not (tmp_path / "m3.h5").exists()
    # the matching resume goes on to 6 epochs
    assert main(args("--data", d["tr.h5"], "--val", d["va.h5"], "-o", d["m3.h5"],
                     "--checkpoint", d["c5.h5"], "--epochs", "6", "--resume")) == 0
    assert capsys.readouterr().out.startswith(f"trained 6 epochs -> {d['m3.h5']}")


def test_train_command_warns_when_validating_on_the_training_data(tmp_path, capsys):
    args = _cli_files(tmp_path)
    tr, same = tmp_path / "tr.h5", tmp_path / "copy.h5"
    same.write_bytes(tr.read_bytes())
    for val in (tr, same):
        assert main(args("--data", str(tr), "--val", str(val), "-o", str(tmp_path / "m.h5"),
                         "--epochs", "1", "--force")) == 0
        assert capsys.readouterr().err == (
            f"spikelut train: warning: --val {val} holds the training data ({tr}); validation "
            f"on the training data says nothing about generalisation: use a separate file or "
            f"--val-fraction\n")
    assert main(args("--data", str(tr), "--val", str(tmp_path / "va.h5"), "-o",
                     str(tmp_path / "m.h5"), "--epochs", "1")) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("ensemble", [1, 2])
def test_a_fresh_train_does_not_replace_an_earlier_runs_checkpoint(tmp_path, capsys, ensemble):
    """train --checkpoint ck.h5 without --resume replaced a 168-epoch checkpoint with its first
    epoch, without a word (found by the new-user review): refused unless --resume or --force."""
    (tmp_path / "c.toml").write_text(CONFIG.replace("epochs = 4", "epochs = 2")
                                     + f"ensemble = {ensemble}\n")
    x, y = data(0)
    save_spikes(tmp_path / "d.h5", x, labels=y)
    argv = ["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"), "-o",
            str(tmp_path / "m.h5"), "--checkpoint", str(tmp_path / "ck.h5"), "--no-progress"]
    assert main(argv) == 0
    ck = tmp_path / ("ck.h5" if ensemble == 1 else "ck.member0.h5")
    before = ck.read_bytes()
    capsys.readouterr()
    assert main(argv + ["--epochs", "3"]) == 1
    assert capsys.readouterr().err == (f"spikelut train: error: {ck}: holds the checkpoint of an "
                                       f"earlier run; --resume continues that run, --force starts "
                                       f"over and replaces it\n")
    assert ck.read_bytes() == before
    assert main(argv + ["--epochs", "3", "--resume"]) == 0  # continues it
    assert main(argv + ["--force"]) == 0                     # starts over
