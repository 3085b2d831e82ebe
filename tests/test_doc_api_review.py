"""Bad input to the public API found while documenting it: one ConfigError line each, where
the functions raised TypeError/ValueError tracebacks or read a string as a list of letters."""

import numpy as np
import pytest

from spikelut import api
from spikelut.errors import ConfigError
from spikelut.wiring import random_network


def test_bench_refuses_a_string_of_sizes():
    # "tiny" was iterated as the sizes 't', 'i', 'n', 'y'
    with pytest.raises(ConfigError, match=r"^sizes must be a list of names, got the string "
                                          r"'tiny,small'; write \['tiny', 'small'\]$"):
        api.bench("tiny,small", backends=["numpy"], training=False)
    with pytest.raises(ConfigError, match=r"^backends must be a list of names, got the string "
                                          r"'numba'; write \['numba'\]$"):
        api.bench(["tiny"], backends="numba", training=False)


@pytest.mark.parametrize("repeats", ["a", 0, 1.5, True])
def test_bench_refuses_bad_repeats(repeats):
    # 'a' was a TypeError from the comparison in run_bench
    with pytest.raises(ConfigError, match=rf"^repeats must be a whole number >= 1, got "
                                          rf"{repr(repeats).replace('.', '[.]')}$"):
        api.bench(["tiny"], backends=["numpy"], repeats=repeats, training=False)


def test_run_refuses_a_config_of_another_type(tmp_path):
    with pytest.raises(ConfigError, match=r"^run: config must be a TOML file path, a config dict "
                                          r"or None, got int$"):
        api.run(5, tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("what, call", [
    ("analyze", lambda net, x: api.analyze(net, x)),
    ("tap_importance", lambda net, x: api.tap_importance(net, x)),
    ("prune", lambda net, x: api.prune(net, x)),
])
@pytest.mark.parametrize("net", [None, 5, {"inputs": 3}])
def test_model_or_file_is_checked(what, call, net):
    # each was pathlib's "expected str, bytes or os.PathLike object" TypeError
    x = np.ones((4, 2, 3), np.uint8)
    with pytest.raises(ConfigError, match=rf"^{what}: net must be a spikelut Network or a model "
                                          rf"file path, got {type(net).__name__}$"):
        call(net, x)


def test_model_or_file_checked_before_the_output(tmp_path):
    with pytest.raises(ConfigError, match=r"^prune: net must be a spikelut Network"):
        api.prune(None, output=tmp_path / "p.h5")
    assert not (tmp_path / "p.h5").exists()


def test_networks_still_accepted():
    net = random_network(0, n_in=3, sizes=[4, 2], k=2)
    small, rep = api.prune(net, verify_samples=2)
    assert rep["verified"]["mismatches"] == 0 and small.n_in == 3
