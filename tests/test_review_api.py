"""A new user's review of the Python API: bad arguments give one spikelut error line, never a
numpy/numba traceback, a MemoryError or a silently wrong result."""

from __future__ import annotations

import numpy as np
import pytest

import spikelut as sl
from spikelut.errors import ConfigError, NetworkError, ShapeError
from spikelut.metrics import Tally, scoring_problem
from spikelut.network import Readout
from spikelut.wiring import random_network


@pytest.fixture(scope="module")
def net():
    return random_network(0, n_in=3, sizes=[6, 2], k=3, classes=2)


X = np.ones((4, 5, 3), np.uint8)


# ------------------------------------------------------------------ labels and the tally
@pytest.mark.parametrize("bad, phrase", [
    ([0.5, 1, 0, 1, 1], "label 0.5 is not a whole number; labels are class numbers 0..1"),
    ([np.nan, 1, 0, 1, 1], "label nan is not a whole number"),
    (["a", "b", "c", "d", "e"], "labels must be class numbers (integers), got dtype <U1"),
])
def test_evaluate_refuses_labels_that_are_not_class_numbers(net, bad, phrase):
    # a label 0.5 was counted as class 0 (accuracy 0.6 instead of an error); NaN was reported
    # as "label -9223372036854775808"; strings were a numpy ValueError
    with pytest.raises(ShapeError) as e:
        sl.api.evaluate(net, X, bad, backend="numpy")
    assert str(e.value).startswith("labels: ") and phrase in str(e.value)


def test_evaluate_whole_float_labels_still_score(net):
    a = sl.api.evaluate(net, X, [0, 1, 0, 1, 1], backend="numpy")
    b = sl.api.evaluate(net, X, [0.0, 1.0, 0.0, 1.0, 1.0], backend="numpy")
    assert a.accuracy == b.accuracy and (a.confusion == b.confusion).all()


def test_scoring_problem_names_fractional_label():
    assert scoring_problem(Readout(0, [0, 1], 2), 5, np.array([0.5, 1.0])) == (
        "label 0.5 is not a whole number; labels are class numbers 0..1")


def test_tally_refuses_out_of_range_and_bounds_classes():
    t = Tally(2)
    with pytest.raises(ShapeError, match=r"^labels must be whole class numbers 0\.\.1, got dtype "
                                         r"int64, values -1\.\.-1$"):
        t.add(np.array([0]), np.array([-1]))  # was counted silently in the last row
    with pytest.raises(ShapeError, match=r"^predictions must be whole class numbers 0\.\.1"):
        t.add(np.array([3]), np.array([0]))  # was a numpy IndexError
    assert t.samples == 0
    with pytest.raises(ConfigError, match=r"^Tally: classes must be 1\.\.4096, got 1000000$"):
        Tally(10**6)  # was a MemoryError (a [classes, classes] matrix)
    with pytest.raises(ConfigError, match=r"^Tally: classes must be 1\.\.4096, got -1$"):
        Tally(-1)


# ------------------------------------------------------------------ evaluate's other arguments
def test_evaluate_spikes_and_batch_size(net):
    lab = [0, 1, 0, 1, 1]
    assert sl.api.evaluate(net, X.tolist(), lab, backend="numpy").samples == 5  # was AttributeError
    with pytest.raises(ShapeError, match=r"^input spikes need T >= 1 and B >= 1, got T=4, B=0$"):
        sl.api.evaluate(net, X[:, :0], [], backend="numpy")  # was "batch_size ... got None"
    with pytest.raises(ShapeError, match=r"^input spikes must be 3-D \[T, B, n_in\], got shape \(5, 3\)$"):
        sl.api.evaluate(net, X[0], lab, backend="numpy")
    for bad in (2.5, "a", 0, True):
        with pytest.raises(ConfigError) as e:
            sl.api.evaluate(net, X, lab, backend="numpy", batch_size=bad)
        assert str(e.value) == (f"batch_size must be >= 1, got {bad!r} (a whole number of "
                                f"samples, or None: all at once)")


@pytest.mark.parametrize("bad", ["demos/oscillator.toml", None])
def test_simulate_and_evaluate_refuse_a_non_network(bad):
    # was AttributeError: 'str' object has no attribute 'meta'
    with pytest.raises(ConfigError, match=r"^simulate: net must be a spikelut Network, got "):
        sl.simulate(bad, np.ones((4, 1, 1), np.uint8))
    with pytest.raises(ConfigError, match=r"^evaluate: net must be a spikelut Network, got "):
        sl.api.evaluate(bad, np.ones((4, 1, 1), np.uint8), [0])


# ------------------------------------------------------------------ spikelut.coding.encode
from spikelut.coding import encode  # noqa: E402


@pytest.mark.parametrize("coding", ["rate", "rate_even", "latency", "latency_log", "phase",
                                    "thermometer", "population"])
def test_encode_bounds_steps_before_allocating(coding):
    # steps = 10**12 was a MemoryError ("Unable to allocate 7.28 TiB") from numpy
    with pytest.raises(ConfigError, match=r"^steps = 1000000000000 is more than the limit of "
                                          r"16777216 cycles; give fewer steps$"):
        encode(np.array([[0.2, 0.9]]), coding, 10**12)


def test_encode_bounds_the_spike_array(monkeypatch):
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(1 << 20))
    with pytest.raises(ConfigError, match=r"^coding 'thermometer': spikes \[steps, samples, "
                                          r"channels\]: shape \(10, 1, 2000000\) x 1 byte"):
        encode(np.array([[0.2, 0.9]]), "thermometer", 10, levels=10**6)


@pytest.mark.parametrize("coding, steps", [("rate", 5), ("latency", 5), ("thermometer", 5),
                                           ("delta", 3), ("sigma_delta", 3)])
def test_encode_empty_batch_gives_empty_spikes(coding, steps):
    # an empty batch was numpy's "cannot reshape array of size 0 into shape (0,newaxis)"
    x = np.zeros((0, 3))
    s = encode(x, coding, steps)
    per = 8 if coding == "thermometer" else 2 if "delta" in coding else 1
    assert s.dtype == np.uint8 and s.shape == ((3, 0, 2) if "delta" in coding else (steps, 0, 3 * per))


@pytest.mark.parametrize("call, message", [
    (lambda: encode(np.array([[0.5]]), "rate", "a"), "steps must be a positive integer, got 'a'"),
    (lambda: encode(np.array([[0.5]]), "delta", "a"), "steps must be a positive integer, got 'a'"),
    (lambda: encode(np.array([[0.5]]), "rate", 3, seed="a"), "seed must be an integer >= 0, got 'a'"),
    (lambda: encode(np.array([[0.5]]), "rate", 3, first_sample=-256),
     r"first_sample must be an integer >= 0 \(a multiple of 256\), got -256"),
    (lambda: encode(np.array([["a"]]), "rate", 3), "coding 'rate': values must be numbers, got dtype <U1"),
    (lambda: encode(np.array([[0.5, "x"]], object), "latency", 3),
     "coding 'latency': values must be numbers, got an object array holding non-numbers"),
    (lambda: encode([[0.5], [0.1, 0.2]], "rate", 3),
     "coding 'rate': values must be an array of numbers; the nested lists given are ragged"),
])
def test_encode_argument_errors_are_one_line(call, message):
    # each was a ValueError/TypeError from int(), numpy or SeedSequence
    with pytest.raises(ConfigError, match="^" + message):
        call()


# ------------------------------------------------------------------ random_spikes, prune's seed
@pytest.mark.parametrize("kwargs, message", [
    ({"rate": "0.5"}, "rate must be a number in [0, 1], got '0.5'"),
    ({"rate": None}, "rate must be a number in [0, 1], got None"),
    ({"rate": float("nan")}, "rate must be a number in [0, 1], got nan"),
    ({"steps": 2.5}, "steps must be a whole number, got 2.5"),
    ({"steps": "3"}, "steps must be a whole number, got '3'"),
    ({"steps": None}, "steps must be a whole number, got None"),
    ({"batch": True}, "batch must be a whole number, got True"),
    ({"seed": "a"}, "seed must be a whole number >= 0 (or None), got 'a'"),
    ({"seed": 1.5}, "seed must be a whole number >= 0 (or None), got 1.5"),
    ({"seed": -1}, "seed must be a whole number >= 0 (or None), got -1"),
])
def test_random_spikes_argument_errors(kwargs, message):
    # each was a TypeError/ValueError from a comparison, numpy's random module or SeedSequence
    args = {"channels": 2, "steps": 3, "batch": 1, **kwargs}
    with pytest.raises(ConfigError) as e:
        sl.random_spikes(**args)
    assert str(e.value) == message


def test_random_spikes_whole_floats_and_numpy_ints_still_work():
    a = sl.random_spikes(2, np.int64(3), 1.0, seed=np.int64(4))
    assert a.shape == (3, 1, 2) and (a == sl.random_spikes(2, 3, 1, seed=4)).all()


@pytest.mark.parametrize("seed", ["a", -1, 1.5])
def test_prune_refuses_a_bad_seed_first(net, seed):
    from spikelut.prune import prune_network

    with pytest.raises(ConfigError) as e:  # was SeedSequence's TypeError/ValueError
        prune_network(net, seed=seed)
    assert str(e.value) == (f"seed must be a whole number >= 0 (of the check's random stimuli), "
                            f"got {seed!r}")


# ------------------------------------------------------------------ simulate's record and lists
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_simulate_record_of_another_type_and_ragged_lists(net, backend):
    x = np.ones((4, 2, 3), np.uint8)
    for bad in (1.5, None, {"L0": 1}):  # 1.5 was "TypeError: 'float' object is not iterable"
        with pytest.raises(ConfigError) as e:
            sl.simulate(net, x, backend=backend, record=bad)
        assert str(e.value) == ("record must be 'all', 'readout', a layer name or index, or a "
                                f"list of them; got {bad!r}")
    res = sl.simulate(net, x, backend=backend, record=np.array([0]))
    assert res.layer_spikes[0] is not None
    with pytest.raises(ShapeError, match=r"^input spikes must be a \[T, B, n_in\] array of 0/1 "
                                         r"values; the nested lists given are ragged$"):
        sl.simulate(net, [[[1, 0, 1]], [[1, 0]]], backend=backend)  # was numpy's ValueError


def test_lower_and_signal_refuse_what_does_not_exist(net):
    from spikelut.lowering import lower

    with pytest.raises(ConfigError, match=r"^lower: expected a spikelut Network, got str$"):
        lower("net.h5")  # was AttributeError: 'str' object has no attribute '__dict__'
    low = lower(net)
    assert low.signal(0, 5) == 3 + 5 and low.signal(-1, 2) == 2
    with pytest.raises(ConfigError, match=r"^signal: no layer 5; layers are -1 \(the input\) \.\. 1$"):
        low.signal(5, 0)  # was a numpy IndexError
    with pytest.raises(ConfigError, match=r"^signal: layer 0 has 6 nodes, no 6$"):
        low.signal(0, 6)  # was 9: the number of layer 1's node 0, silently


# ------------------------------------------------------------------ hand-built networks
from spikelut.network import Layer, Network  # noqa: E402


def _layer(**kw):
    args = dict(table=np.zeros((1, 4), np.uint8), source=np.full((1, 2), -1),
                index=np.zeros((1, 2), int), delay=np.ones((1, 2), int))
    return Layer(**{**args, **kw})


@pytest.mark.parametrize("kw, message", [
    ({"table": [[0, 1], [0]]}, "layer: table must be a 2-D array of 0/1 [nodes, 2**k] (ragged rows given)"),
    ({"logits": [[1, 2], [3]]}, "layer: logits must be a 2-D array of numbers (ragged or non-numeric values given)"),
    ({"logits": np.full((1, 4), "a")}, "layer: logits must be a 2-D array of numbers (ragged or non-numeric values given)"),
    ({"tap_influence": [[1, 2], [3]]},
     "layer: tap_influence must be a 2-D array of numbers (ragged or non-numeric values given)"),
    ({"name": 3}, "layer: name must be a string, got 3"),
])
def test_layer_refuses_ragged_and_non_numeric_fields(kw, message):
    with pytest.raises(NetworkError) as e:  # each was numpy's ValueError (or accepted: name 3)
        _layer(**kw)
    assert str(e.value) == message


def test_network_layers_meta_and_replace_errors(net):
    ro = Readout(0, [0], 1)
    for bad, what in ((_layer(), "Layer"), (None, "NoneType")):  # was "'Layer' object is not iterable"
        with pytest.raises(NetworkError) as e:
            Network(1, bad, ro)
        assert str(e.value) == f"layers must be a list of Layer objects, got {what}"
    with pytest.raises(NetworkError, match=r"^meta must be a dict, got list$"):
        Network(1, [_layer()], ro, meta=[1])
    assert Network(1, [_layer(name=None)], ro).layers[0].name == "L0"
    with pytest.raises(NetworkError, match=r"^no layer 5; the network has 2 layers$"):
        net.replace_layer(5, name="x")  # was an IndexError
    assert net.replace_layer("L1", name="x").layers[1].name == "x"  # was a TypeError
    assert net.replace_layer(-1, name="x").layers[1].name == "x"
    with pytest.raises(NetworkError, match=r"^replace_layer: Layer has no field 'foo'; its fields "
                                           r"are table, source, index, delay, refractory, name, "):
        net.replace_layer(0, foo=1)  # was dataclasses' TypeError about __init__
    with pytest.raises(NetworkError, match=r"^Network.replace: Network has no field 'foo'; its "
                                           r"fields are n_in, layers, readout, meta$"):
        net.replace(foo=1)


# ------------------------------------------------------------------ spikelut.analysis
def test_analysis_argument_types(net):
    from spikelut import analysis

    x = np.ones((5, 2, 3), np.uint8)
    for bad in (1.5, "a", True):  # 1.5 ran as chunk 1; 'a' was int()'s ValueError
        with pytest.raises(ConfigError) as e:
            analysis.data_stats(net, x, chunk=bad)
        assert str(e.value) == f"chunk must be a positive number of samples, got {bad!r}"
        with pytest.raises(ConfigError) as e:
            analysis.occlusion_map(net, x[:, 0], chunk=bad)
        assert str(e.value) == f"chunk must be a positive number of flips, got {bad!r}"
    with pytest.raises(ConfigError) as e:  # was silently class 1
        analysis.gradient_map(net, x[:, 0], target=1.5)
    assert str(e.value) == "target class 1.5 out of range 0..1 (a whole class number)"
    assert analysis.gradient_map(net, x[:, 0], target=np.int64(1))[1] == 1
    with pytest.raises(ConfigError, match=r"^expected a spikelut Network, got str \(load a model "
                                          r"file with spikelut.load_model\)$"):
        analysis.table_stats("m.h5")  # was AttributeError: 'str' object has no attribute 'meta'


# ------------------------------------------------------------------ spikelut.coding.decode
from spikelut.coding import decode  # noqa: E402


@pytest.mark.parametrize("call, message", [
    (lambda: decode(np.ones((0, 1, 2), np.uint8), "latency"),  # numpy's argmax ValueError
     "spikes have 0 cycles; decoding needs at least one"),
    (lambda: decode(np.ones((0, 1, 2), np.uint8), "rate"),  # was [[nan, nan]]
     "spikes have 0 cycles; decoding needs at least one"),
    (lambda: decode(np.full((5, 1, 2), 0.5), "rate"),  # was 0.5, a value from no spike train
     r"spikes must be 0 or 1 \(uint8 or bool spike trains \[T, B, channels\]\)"),
    (lambda: decode(np.ones((8, 1, 2), np.uint8), "phase", phases=0),  # was [[nan, nan]]
     r"coding 'phase': parameter phases must be 1 \.\. 30, got 0"),
    (lambda: decode(np.ones((8, 1, 2), np.uint8), "latency_log", eps=2),
     r"coding 'latency_log': parameter eps must be in \(0, 1\), got 2.0"),
    (lambda: decode(np.ones((5, 1, 2), np.uint8), "sigma_delta", window="a"),  # int()'s ValueError
     "coding 'sigma_delta': window must be a whole number >= 1, got 'a'"),
])
def test_decode_argument_errors(call, message):
    with pytest.raises(ConfigError, match="^" + message + "$"):
        call()


def test_decode_round_trip_unchanged():
    s = encode(np.array([[1.0, 0.5, 0.0]]), "latency", steps=5)
    assert decode(s, "latency").tolist() == [[1.0, 0.5, 0.0]]
    assert decode(s.astype(bool), "latency").tolist() == [[1.0, 0.5, 0.0]]


# ------------------------------------------------------------------ files, build, SimResult
def test_simulate_file_refuses_its_input_as_output(net, tmp_path):
    from spikelut.errors import OutputError

    f = tmp_path / "x.h5"
    sl.save_spikes(f, np.ones((4, 5, 3), np.uint8), labels=[0, 1, 0, 1, 1])
    before = f.read_bytes()
    with pytest.raises(OutputError) as e:  # the input spike file was replaced by the result
        sl.simulate_file(net, f, f, progress=False)
    assert str(e.value) == f"{f}: is also the input spike file ({f}); choose another output"
    assert f.read_bytes() == before
    with pytest.raises(ConfigError, match=r"^simulate_file: net must be a spikelut Network, got str"):
        sl.simulate_file("m.h5", f, None, progress=False)  # was an AttributeError
    with pytest.raises(ConfigError, match=r"^chunk must be a positive number of samples, got 'a'$"):
        sl.simulate_file(net, f, None, chunk="a", progress=False)  # was int()'s ValueError



def test_simulate_file_refuses_its_input_through_a_directory_not_yet_made(net, tmp_path):
    """``new/../x.h5`` is ``x.h5`` once the writer makes ``new``: the API's check now uses the
    CLI's rule (fileutil.check.replaced_input), which resolves such paths."""
    from spikelut.errors import OutputError

    f = tmp_path / "x.h5"
    sl.save_spikes(f, np.ones((4, 5, 3), np.uint8), labels=[0, 1, 0, 1, 1])
    before = f.read_bytes()
    out = tmp_path / "new" / ".." / "x.h5"
    with pytest.raises(OutputError) as e:
        sl.simulate_file(net, f, out, progress=False)
    assert str(e.value) == f"{out}: is also the input spike file ({f}); choose another output"
    assert f.read_bytes() == before

def test_encode_file_and_build_argument_types(tmp_path):
    with pytest.raises(ConfigError, match=r"^seed must be an integer >= 0, got 'a'$"):
        sl.encode_file(tmp_path / "e.h5", "first_of_two", None, None, seed="a", progress=False)
    with pytest.raises(ConfigError, match=r"^dataset must be a dataset name or a file path, got "
                                          r"NoneType$"):
        sl.encode_file(tmp_path / "e.h5", None, None, None, progress=False)
    for bad in (None, 3, ["inputs"]):  # was pathlib's TypeError
        with pytest.raises(ConfigError) as e:
            sl.build(bad)
        assert str(e.value) == (f"build: config must be a TOML file path or a config dict, got "
                                f"{type(bad).__name__}")


def test_tap_importance_limit_and_ragged_data(net):
    x = np.ones((4, 2, 3), np.uint8)
    for bad in (-1, 0, "a", 1.5):  # -1 silently dropped the last sample
        with pytest.raises(ConfigError) as e:
            sl.api.tap_importance(net, x, limit=bad)
        assert str(e.value) == f"limit must be a positive number of samples, got {bad!r}"
    with pytest.raises(ShapeError, match=r"^the data: spikes must be a \[T, B, 3\] array of 0/1 "
                                         r"values; the nested lists given are ragged$"):
        sl.api.prune(net, [[[1, 0, 1]], [[1]]])  # was numpy's ValueError


def test_simresult_accuracy_refuses_labels_that_are_not_classes(net):
    res = sl.simulate(net, np.ones((4, 2, 3), np.uint8), backend="numpy")
    with pytest.raises(ShapeError, match=r"^labels must be whole class numbers, got dtype <U1$"):
        res.accuracy(["a", "b"])  # was 0.0
    with pytest.raises(ShapeError, match=r"^labels must be whole class numbers, got dtype float64 "
                                         r"with fractions or NaN$"):
        res.accuracy([0.5, 1])  # was 0.5
    assert res.accuracy(res.pred.astype(np.float64)) == 1.0


# ------------------------------------------------------------------ engines: memory bounded first
@pytest.mark.parametrize("backend, shape", [("numpy", "(13, 64, 13)"), ("numba", "(10, 64, 6)")])
def test_simulate_bounds_working_memory_before_allocating(net, monkeypatch, backend, shape):
    # a batch too large for memory was numpy's MemoryError ("Unable to allocate 624. GiB")
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", "1000")
    x = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (10, 64, 3))
    with pytest.raises(ShapeError) as e:
        sl.simulate(net, x, backend=backend, record="readout")
    assert str(e.value).startswith(
        "simulate: 10 cycles x 64 samples need [cycles, samples, signals] bytes of spikes "
        "(simulate fewer samples at a time, e.g. evaluate(batch_size=...) or simulate_file, or "
        f"record='readout'): shape {shape} x 1 byte = ")
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", str(1 << 20))
    ref = sl.simulate(net, x, backend="numpy")
    got = sl.simulate(net, x, backend=backend)
    assert all((a == b).all() for a, b in zip(ref.layer_spikes, got.layer_spikes))


def test_fold_refractory_and_table_dynamics_arguments():
    from spikelut.analysis import table_dynamics
    from spikelut.transforms import fold_refractory

    with pytest.raises(ConfigError, match=r"^fold_refractory: expected a spikelut Network, got str$"):
        fold_refractory("m.h5")  # was an AttributeError
    with pytest.raises(ShapeError, match=r"^table_dynamics: 1 layers of logits before but 2 after; "
                                         r"give both of the same network$"):
        table_dynamics([np.zeros((2, 4))], [np.zeros((2, 4)), np.zeros((1, 4))])  # zip dropped one
    with pytest.raises(ShapeError, match=r"^table_dynamics: layer 0 logits have shape \(2, 4\) "
                                         r"before but \(1, 4\) after$"):
        table_dynamics([np.zeros((2, 4))], [np.zeros((1, 4))])  # numpy broadcast it silently


def test_replace_layer_table_of_a_trained_layer_says_what_to_do(net):
    n = net.layers[0]
    trained = net.replace_layer(0, logits=np.where(n.table > 0, 1.0, -1.0).astype(np.float32))
    with pytest.raises(NetworkError) as e:
        trained.replace_layer(0, table=1 - n.table)
    assert str(e.value) == ("layer 0 ('L0'): table must equal (logits > 0); with a new table pass "
                            "logits=None (or logits of that sign), e.g. "
                            "net.replace_layer(i, table=t, logits=None)")
    assert (trained.replace_layer(0, table=1 - n.table, logits=None).layers[0].table
            == 1 - n.table).all()


@pytest.mark.parametrize("shape", [(0, 2, 3), (4, 0, 3)])
def test_data_stats_refuses_empty_spikes(net, shape):
    from spikelut import analysis

    # analyze_network(...).summary() of these was a ZeroDivisionError
    with pytest.raises(ShapeError) as e:
        analysis.analyze_network(net, np.ones(shape, np.uint8))
    assert str(e.value) == f"input spikes need T >= 1 and B >= 1, got T={shape[0]}, B={shape[1]}"


def test_unhashable_backend_names_are_config_errors(net):
    from spikelut.backends import get_backend

    # each was "TypeError: unhashable type: 'list'" from the registry's dict
    with pytest.raises(ConfigError, match=r"^unknown backend \['numpy'\]; choose one of auto, "
                                          r"numpy, numba, cuda$"):
        get_backend(["numpy"])
    with pytest.raises(ConfigError, match=r"^unknown backend \['numpy'\]; choose one of "):
        sl.simulate(net, np.ones((2, 1, 3), np.uint8), backend=["numpy"])
    with pytest.raises(ConfigError, match=r"^unknown backend capability \['x'\]; choose one of "
                                          r"simulate, train_forward, train_backward$"):
        get_backend("numpy", ["x"])


@pytest.mark.parametrize("coding, kw, message", [
    ("thermometer", {"levels": -5}, "coding 'thermometer': parameter levels must be >= 1, got -5"),
    ("population", {"levels": 0}, "coding 'population': parameter levels must be >= 1, got 0"),
    ("phase", {"phases": 0}, r"coding 'phase': parameter phases must be 1 \.\. 30, got 0"),
    ("latency_log", {"eps": 5}, r"coding 'latency_log': parameter eps must be in \(0, 1\), got 5.0"),
    ("delta", {"threshold": -1}, "coding 'delta': parameter threshold must be > 0, got -1.0"),
])
def test_channels_per_value_and_resolve_params_check_ranges(coding, kw, message):
    from spikelut.coding import channels_per_value, resolve_params

    with pytest.raises(ConfigError, match="^" + message + "$"):
        channels_per_value(coding, **kw)  # thermometer levels=-5 gave -5 channels
    with pytest.raises(ConfigError, match="^" + message + "$"):
        resolve_params(coding, kw)


def test_analyze_samples_and_limit_types(net):
    x = np.ones((4, 3, 3), np.uint8)
    for bad in ([1.5], ["a"], "0", [True]):  # 1.5 was sample 1, 'a' int()'s ValueError
        with pytest.raises(ConfigError) as e:
            sl.api.analyze(net, x, samples=bad)
        assert str(e.value) == f"samples must be a list of sample numbers (whole numbers), got {bad!r}"
    rep = sl.api.analyze(net, x, samples=1)  # one sample: was "'int' object is not iterable"
    assert [a["sample"] for a in rep["attribution"]] == [1]
    for bad in (1.5, "a"):
        with pytest.raises(ConfigError) as e:
            sl.api.analyze(net, x, limit=bad)
        assert str(e.value) == f"limit must be a positive number of samples, got {bad!r}"


def test_encode_values_per_cycle_bound_only_where_made(monkeypatch):
    # rate works per block of samples: only its uint8 spikes count against the limit
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", "4000")
    x = np.full((100, 4), 0.5)
    assert encode(x, "rate", 10).shape == (10, 100, 4)  # 4,000 bytes of spikes
    with pytest.raises(ConfigError, match=r"^coding 'rate_even': values per cycle \[steps, "
                                          r"samples, features\] \(float64\): shape \(10, 100, 4\) "
                                          r"x 8 bytes"):
        encode(x, "rate_even", 10)


def test_numba_bound_does_not_count_a_uint8_input_twice(net, monkeypatch):
    # the caller's C-contiguous uint8 input is not copied: only the recorded spikes and the
    # packed words count (10 x 64 x (2 + 1) = 1,920 bytes here, under a 2,000-byte limit)
    monkeypatch.setenv("SPIKELUT_MAX_ARRAY_BYTES", "2000")
    x = np.zeros((10, 64, 3), np.uint8)
    assert sl.simulate(net, x, backend="numba", record="readout").pred.shape == (64,)


def test_ensemble_files_argument_types():
    a = random_network(0, n_in=2, sizes=[3, 2], k=2, classes=2)
    b = random_network(1, n_in=2, sizes=[3, 2], k=2, classes=2)
    with pytest.raises(NetworkError, match=r"^models must be a list of member networks or model "
                                           r"files, got NoneType$"):
        sl.api.ensemble_files(None)  # was "object of type 'NoneType' has no len()"
    assert sl.api.ensemble_files(iter([a, b]))["members"] == 2  # a generator: was a TypeError
    with pytest.raises(NetworkError, match=r"^member 1: expected a Network or a model file, got int$"):
        sl.api.ensemble_files([a, 3])  # was pathlib's TypeError
    with pytest.raises(ShapeError, match=r"^data must be a labelled spike file, SpikeData or "
                                         r"\(spikes, labels\), got ndarray$"):
        sl.api.ensemble_files([a, b], data=np.ones((4, 2, 2), np.uint8))  # was AttributeError
    d = sl.api.encode("first_of_two", split="test", limit=4)
    assert (sl.api.ensemble_files([a, b], data=(d.spikes, d.labels))["accuracy"]
            == sl.api.ensemble_files([a, b], data=d)["accuracy"])


def test_prune_and_tap_importance_never_replace_their_inputs(tmp_path):
    from spikelut.errors import OutputError

    net2 = random_network(0, n_in=2, sizes=[3, 2], k=2, classes=2)
    m, x = tmp_path / "m.h5", tmp_path / "x.h5"
    sl.save_model(net2, m)
    sl.save_spikes(x, np.ones((4, 2, 2), np.uint8))
    before = (m.read_bytes(), x.read_bytes())
    # prune(m, data=x, output=x) turned the spike file into a model file
    with pytest.raises(OutputError, match=rf"^{x}: is also the data file \({x}\); choose another output$"):
        sl.api.prune(m, data=x, output=x)
    with pytest.raises(OutputError, match=rf"^{m}: is also the model file \({m}\); choose another output$"):
        sl.api.prune(m, output=m)
    with pytest.raises(OutputError, match=rf"^{x}: is also the data file"):
        sl.api.tap_importance(m, x, output=x)
    assert (m.read_bytes(), x.read_bytes()) == before


def test_ensemble_files_never_replaces_a_member(tmp_path):
    from spikelut.errors import OutputError

    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    sl.save_model(random_network(0, n_in=2, sizes=[3, 2], k=2, classes=2), a)
    sl.save_model(random_network(1, n_in=2, sizes=[3, 2], k=2, classes=2), b)
    before = a.read_bytes()
    with pytest.raises(OutputError, match=rf"^{a}: is also a member model file \({a}\); choose "
                                          rf"another output$"):
        sl.api.ensemble_files([a, b], output=a)  # member a was replaced by the ensemble
    assert a.read_bytes() == before


@pytest.mark.parametrize("seed", ["a", None, 1.5, float("nan"), float("inf"), "3"])
def test_load_dataset_refuses_a_seed_that_is_not_a_whole_number(seed):
    """Callers past the API's own check (encode_dataset, plan_encoding) met int()'s ValueError
    or TypeError for a string or None."""
    from spikelut.datasets import load_dataset

    with pytest.raises(ConfigError, match=r"^seed must be an integer >= 0, got "):
        load_dataset("first_of_two", seed=seed)


def test_require_binary_of_something_else_than_a_network_is_one_line():
    from spikelut.analog import require_binary

    with pytest.raises(ConfigError, match=r"^rtl needs a Network, got NoneType$"):
        require_binary(None, "rtl")
