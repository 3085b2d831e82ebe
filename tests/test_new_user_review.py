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
