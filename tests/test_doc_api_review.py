"""Bad input to the public API found while documenting it: one ConfigError line each, where
the functions raised TypeError/ValueError tracebacks or read a string as a list of letters."""

import re

import numpy as np
import pytest

from spikelut import api, coding
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


# ---------------------------------------------------------------------------- spikelut.coding
_X = np.array([[0.5, 0.25]])


@pytest.mark.parametrize("name", ["rate", "rate_even", "latency", "latency_log", "phase",
                                  "thermometer", "population"])
@pytest.mark.parametrize("steps", [0, -1, 2.5, "a", None])
def test_encoders_called_directly_check_steps(name, steps):
    # 0 and -1 gave empty spike trains [0, B, F] without an error; 2.5 and 'a' numpy TypeErrors
    with pytest.raises(ConfigError, match=rf"^coding '{name}': steps must be a whole number >= 1, "
                                          rf"got {repr(steps).replace('.', '[.]')}$"):
        getattr(coding, name)(_X, steps)


def test_encoders_called_directly_keep_their_output():
    assert coding.rate_even(_X, 4.0)[:, 0, :].T.tolist() == [[1, 0, 1, 0], [0, 1, 0, 0]]
    # a sequence sets T itself: steps is not read there
    assert coding.thermometer(np.array([[0.2, 0.9]]), None, levels=2, sequence=True).shape == (2, 1, 2)


@pytest.mark.parametrize("call, message", [
    (lambda: coding.thermometer(_X, 2, levels="a"),
     "coding 'thermometer': parameter levels must be >= 1, got 'a'"),
    (lambda: coding.thermometer(_X, 2, thresholds=["a"]),
     "coding 'thermometer': thresholds must be a list of finite numbers, got ['a']"),
    (lambda: coding.population(_X, 2, levels=1.5),
     "coding 'population': parameter levels must be >= 1, got 1.5"),
    (lambda: coding.phase(_X, 2, phases="8"),
     "coding 'phase': parameter phases must be 1 .. 30, got '8'"),
    (lambda: coding.latency_log(_X, 2, eps="a"),
     "coding 'latency_log': parameter eps must be in (0, 1), got a"),
    (lambda: coding.delta(_X, 2, threshold="a"),
     "coding 'delta': parameter threshold must be > 0, got a"),
    (lambda: coding.sigma_delta(_X, 2, threshold=float("nan")),
     "coding 'sigma_delta': parameter threshold must be > 0, got nan"),
    (lambda: coding.get_coding(["rate"]),
     "unknown coding ['rate']; choose one of rate, "),
    (lambda: coding.resolve_params("rate", [("sequence", True)]),
     "coding 'rate': parameters must be a dict of name -> value, got list"),
])
def test_parameters_of_direct_calls(call, message):
    # each was a TypeError or ValueError traceback (a comparison with a string, an unhashable
    # list, dict() of a list); nan passed the threshold check and encoded nothing
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        call()


# ---------------------------------------------------------------------------- spikelut.prune
@pytest.mark.parametrize("net", [None, {"layers": []}])
def test_simplify_refuses_what_is_not_a_network(net):
    from spikelut.prune import simplify

    # was an AttributeError on net.layers
    with pytest.raises(ConfigError, match=rf"^simplify needs a Network, got {type(net).__name__}"):
        simplify(net)


# ---------------------------------------------------------------------------- spikelut.ensemble
@pytest.mark.parametrize("call, error, message", [
    (lambda e: e.member_config(None, 1), "ConfigError",
     "an ensemble member's config must be a dict (a parsed config), got NoneType"),
    (lambda e: e.member_config({"seed": "a"}, 1), "ConfigError",
     "seed must be a whole number >= 0, got 'a'"),
    (lambda e: e.member_config({"train": {"seed": 1.5}}, 1), "ConfigError",
     "[train] seed must be a whole number >= 0, got 1.5"),
    (lambda e: e.member_config({"train": "x"}, 1), "ConfigError",
     "[train]: expected a table, got str"),
    (lambda e: e.member_config({"seed": 1}, "a"), "ConfigError",
     "ensemble member index must be a whole number >= 0, got 'a'"),
    (lambda e: e.member_sizes(None), "NetworkError", "member_sizes: expected a Network, got NoneType"),
    (lambda e: e.summary({}), "NetworkError", "summary: expected a Network, got dict"),
    (lambda e: e.member_stamp({}, 5), "ShapeError",
     "member_stamp: data must be SpikeData or (spikes, labels), got int"),
])
def test_ensemble_helpers_refuse_bad_input(call, error, message):
    # each was a TypeError or AttributeError traceback
    import spikelut.ensemble as ens
    from spikelut import errors

    with pytest.raises(getattr(errors, error), match="^" + re.escape(message) + "$"):
        call(ens)


def test_member_config_unchanged_for_good_input():
    from spikelut.ensemble import member_config

    cfg = {"seed": np.int64(3), "layers": [], "train": {"seed": 10}}
    out = member_config(cfg, 2)
    assert (out["seed"], out["train"]["seed"], cfg["train"]["seed"]) == (5, 12, 10)


def test_member_config_takes_a_train_table_of_none():
    from spikelut.ensemble import member_config

    # None (a dict built in Python) was None.get's AttributeError for members after the first
    assert member_config({"seed": 1, "train": None}, 1)["train"] == {"seed": 2}


def test_coding_none_refuses_ragged_spikes():
    # was numpy's "inhomogeneous shape" ValueError
    with pytest.raises(ConfigError, match=r"^coding 'none': values must be an array of numbers; "
                                          r"the nested lists given are ragged"):
        coding.none([[[1, 0]], [[1]]], 2)
    with pytest.raises(ConfigError, match=r"^coding 'none': values must be numbers, got dtype <U1$"):
        coding.none(np.array([[["a"]]]), 1)


def test_prune_network_checks_data_before_the_work(monkeypatch):
    import spikelut.prune as prune

    def no_work(net):  # the pruning itself: must not start for data that cannot be used
        raise AssertionError("pruned before the data were checked")

    monkeypatch.setattr(prune, "simplify", no_work)
    net = random_network(0, n_in=3, sizes=[4, 2], k=2)
    from spikelut.errors import ShapeError

    for data, message in [(np.ones((4, 2, 5), np.uint8), r"input spikes must be \[T, B, 3\], got shape \(4, 2, 5\)"),
                          (np.ones((0, 2, 3), np.uint8), r"input spikes need T >= 1 and B >= 1, got T=0, B=2"),
                          (np.full((4, 2, 3), 2, np.uint8), r"input spikes must be 0 or 1"),
                          ([[[1, 0, 1]], [[1]]], r"input spikes must be \[T, B, 3\] 0/1 values; the nested lists given are ragged")]:
        with pytest.raises(ShapeError, match="^" + message + "$"):
            prune.prune_network(net, data)


def test_verify_equal_checks_its_seed():
    from spikelut.prune import verify_equal

    net = random_network(0, n_in=2, sizes=[3, 2], k=2)
    # 'a' was numpy's SeedSequence TypeError
    with pytest.raises(ConfigError, match=r"^seed must be a whole number >= 0 \(of the check's random "
                                          r"stimuli\), got 'a'$"):
        verify_equal(net, net, [np.ones(3, bool), np.ones(2, bool)], samples=2, seed="a")
