"""The training entry points called from Python with wrong arguments: one ConfigError or
ShapeError line each, not a TypeError/AttributeError from deep inside (found by the docstring
review of session t)."""

import numpy as np
import pytest

from spikelut.errors import ConfigError, ShapeError
from spikelut.train import (check_data, get_loss, get_relaxation, get_surrogate,
                            register_relaxation, register_surrogate, train)
from spikelut.train.relax import RELAXATIONS
from spikelut.train.surrogates import SURROGATES
from spikelut.wiring import random_network

NET = random_network(0, n_in=4, sizes=[8, 2], k=3, classes=2)
X = np.zeros((6, 3, 4), np.uint8)


@pytest.mark.parametrize("spikes, labels, message", [
    (X, np.array(["a", "b", "a"]), "data: labels must be integers, got strings"),  # np.mod's TypeError
    (X, np.array([0, None, 1], dtype=object), "data: labels must be integers, got objects"),
    ([[[1, 0], [1]]], [0], r"data: spikes and labels must be arrays \(ragged lists given\)"),
])
def test_check_data_refuses_in_one_line(spikes, labels, message):
    with pytest.raises(ShapeError, match="^" + message + "$"):
        check_data(NET, spikes, labels)


def test_check_data_still_takes_whole_float_and_bool_labels():
    check_data(NET, X, np.array([0.0, 1.0, 1.0]))
    check_data(NET, X, np.array([True, False, True]))


def test_train_with_a_dict_says_how_to_build_the_config():
    with pytest.raises(ConfigError, match=r"^cfg must be a TrainConfig, got dict; build one from a "
                                          r"\[train\] table with TrainConfig.from_dict\(table\)$"):
        train(NET, {"epochs": 1}, (X, [0, 1, 0]))


@pytest.mark.parametrize("get, what", [(get_loss, "loss"), (get_surrogate, "surrogate"),
                                       (get_relaxation, "relaxation")])
def test_registry_lookups_refuse_a_non_string_name(get, what):
    with pytest.raises(ConfigError, match=rf"^unknown {what} \['x'\]; choose one of "):
        get(["x"])  # was "unhashable type: 'list'"


def test_register_surrogate_checks_its_arguments():
    ok = (lambda u, w: u, lambda u, w: u)
    for width, shown in (("a", "'a'"), (float("nan"), "nan"), (0, "0"), (True, "True")):
        with pytest.raises(ConfigError, match=rf"^surrogate 'z': default width must be a number "
                                              rf"> 0, got {shown}$"):
            register_surrogate("z", *ok, width)
    with pytest.raises(ConfigError, match=r"^surrogate 'z': fn and grad must be functions"):
        register_surrogate("z", 1, ok[1], 1.0)
    with pytest.raises(ConfigError, match=r"^a surrogate's name must be a non-empty string, got ''$"):
        register_surrogate("", *ok, 1.0)
    assert "z" not in SURROGATES and "" not in SURROGATES


def test_register_relaxation_refuses_what_cannot_be_called():
    # was accepted, then "'int' object is not callable" when a config named it
    with pytest.raises(ConfigError, match=r"^relaxation 'r': factory must be callable \(a "
                                          r"Relaxation subclass or a function returning one\), "
                                          r"got int$"):
        register_relaxation("r", 5)
    with pytest.raises(ConfigError, match=r"^a relaxation's name must be a non-empty string, got None$"):
        register_relaxation(None, dict)
    assert "r" not in RELAXATIONS
