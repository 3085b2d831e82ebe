"""`spikelut train` flags that override a [train] value: a bad value names the flag, not the file."""

from __future__ import annotations

import json

import pytest

from spikelut.cli import main
from spikelut.errors import ConfigError
from spikelut.io import save_spikes
from spikelut.train import TrainConfig

from test_train import CONFIG, first_of_two  # lr = 0.05


@pytest.fixture
def train_args(tmp_path):
    """``spikelut train`` of a small config on first_of_two, without the flags under test."""
    (tmp_path / "c.toml").write_text(CONFIG)
    save_spikes(tmp_path / "d.h5", *first_of_two())
    return ["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"), "-o",
            str(tmp_path / "m.h5"), "--no-progress"]


@pytest.mark.parametrize("flags,message", [
    (["--lr", "-1"], "--lr must be > 0, got -1.0"),
    (["--lr", "nan"], "--lr must be a number, got nan"),
    (["--lr", "1e39"], "--lr must be a number within float32 range (1.4e-45 .. 3.403e+38 in "
                       "magnitude, or 0), as training computes in float32, got 1e+39"),
    (["--epochs", "0"], "--epochs must be an integer >= 1, got 0"),
    (["--batch-size", "0"], "--batch-size must be an integer >= 1, got 0"),
    (["--seed", "-1"], "--seed must be an integer >= 0, got -1"),
    (["--warmup", "1"], "--warmup must be a part of the steps in [0, 1), got 1.0"),
    (["--init-std", "0"], "--init-std must be > 0, got 0.0"),
    (["--init", "residual", "--init-noise", "-0.5"], "--init-noise must be >= 0, got -0.5"),
    (["--init", "zeros"], "--init: unknown init 'zeros'; choose one of data, logits, normal, "
                          "residual, table"),
    (["--relaxation", "cubic"], "--relaxation: unknown relaxation 'cubic'; choose one of bipolar, "
                                "dlut, dlut_fixed, mlp, multilinear, walsh"),
    (["--batch-schedule", "1:20"], "--batch-schedule must be pairs with ascending epochs >= 2 "
                                   "(epoch 1 uses batch_size), got [[1, 20]]"),
    (["--backend", "numpy", "--forward", "lookup"],
     "--forward, --backend: forward = 'lookup' chooses a pass of the numba backend; this config "
     "trains on 'numpy': use backend = \"numba\" or forward = \"auto\""),
])
def test_a_bad_flag_value_names_the_flag(train_args, capsys, flags, message):
    assert main([*train_args, *flags]) == 1
    assert capsys.readouterr().err == f"spikelut train: error: {message}\n"
    assert main([*train_args, *flags, "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {"ok": False, "command": "train", "error": message}
    assert out.count("\n") == 1 and err == f"spikelut train: error: {message}\n"


def test_a_bad_value_in_the_file_still_names_the_file(train_args, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.replace("lr = 0.05", "lr = -1"))
    assert main(train_args) == 1
    assert capsys.readouterr().err == f"spikelut train: error: {cfg}: [train]: lr must be > 0, got -1\n"
    # another flag leaves the file's value to blame
    assert main([*train_args, "--epochs", "2"]) == 1
    assert capsys.readouterr().err == f"spikelut train: error: {cfg}: [train]: lr must be > 0, got -1\n"
    # the flag replaces the bad value: training runs
    assert main([*train_args, "--lr", "0.02", "--epochs", "1"]) == 0


def test_a_flag_against_a_file_value_names_both(train_args, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.replace("lr = 0.05", "lr = 0.05\nmin_lr = 0.001"))
    assert main([*train_args, "--lr", "0.0001"]) == 1
    assert capsys.readouterr().err == (f"spikelut train: error: {cfg}: [train] with --lr: min_lr "
                                       f"(0.001) must not exceed lr (0.0001)\n")
    assert main([*train_args, "--init-noise", "0.1"]) == 1
    assert capsys.readouterr().err == (
        f"spikelut train: error: {cfg}: [train] with --init-noise: init_noise = 0.1 applies to "
        f"init = \"residual\" or \"data\" only, got init = 'normal'; for init = \"normal\" the "
        f"spread is init_std (set init_noise = 0, or --init-noise 0 on the command line)\n")


def test_from_dict_names_the_source_it_is_given():
    with pytest.raises(ConfigError, match=r"^--batch-size must be an integer >= 1, got 0$"):
        TrainConfig.from_dict({"lr": -1, "batch_size": 0}, where="a.toml: [train]",
                              flags={"batch_size": "--batch-size"})  # batch_size is checked before lr
    with pytest.raises(ConfigError, match=r"^a\.toml: \[train\]: lr must be > 0, got -1$"):
        TrainConfig.from_dict({"lr": -1, "batch_size": 5}, where="a.toml: [train]",
                              flags={"batch_size": "--batch-size"})
    with pytest.raises(ConfigError, match=r"^\[train\]: lr must be > 0, got -1$"):
        TrainConfig.from_dict({"lr": -1})  # the API's default source
