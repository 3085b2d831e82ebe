"""demos/epochs_study.py's initialisation preset (docs/epochs.md, "Initialisation"): every variant
is a valid [train] table of the MNIST-1D demo, the baseline is in it, and bad arguments stop with
one line."""

import os

import pytest

from spikelut.config import load_config
from spikelut.train import TrainConfig

from helpers import load_demo


def test_init_preset_variants_are_valid_demo_configs(demos_dir):
    study = load_demo(demos_dir, "epochs_study")
    cfg = load_config(os.path.join(demos_dir, "train_mnist1d.toml"))
    names = [name for name, _ in study.PRESETS["init"]]
    assert len(set(names)) == len(names) and "std0001" in names
    inits = set()
    for name, upd in study.PRESETS["init"]:
        tc = TrainConfig.from_dict({**cfg["train"], **upd}, seed=cfg["seed"])
        assert tc.epochs == 8, name  # the screening budget of the schedules' study
        inits.add(tc.init)
    assert inits == {"normal", "residual", "data"}


def test_study_arguments(demos_dir, capsys):
    study = load_demo(demos_dir, "epochs_study")
    assert study.parse_variant('a={"init": "data"}') == ("a", {"init": "data"})
    with pytest.raises(SystemExit) as e:
        study.parse_variant("a=[1]")
    assert str(e.value) == "epochs_study: error: variant 'a': expected a JSON object"
    with pytest.raises(SystemExit):
        study.main([])
    assert "give variants (NAME=JSON) or --preset" in capsys.readouterr().err
