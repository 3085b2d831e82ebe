"""Fast engines equal the reference engine exactly; the engine registry and DLPack exchange."""

import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikelut as sl
from spikelut import xp as backend
from spikelut.engine import ENGINES, bitsliced, get_engine, reference, resolve_engine
from spikelut.engine.lutgen import module_source
from spikelut.errors import ConfigError, ToolError
from spikelut.network import Layer, Network, Readout
from spikelut.wiring import random_network

from helpers import chain, layer, simd_env

DEMOS = ("oscillator", "pulse_refractory", "first_of_two")


def assert_same(a, b):
    assert len(a.layer_spikes) == len(b.layer_spikes)
    for i, (p, q) in enumerate(zip(a.layer_spikes, b.layer_spikes)):
        assert p.dtype == q.dtype == np.uint8 and p.shape == q.shape, f"layer {i}"
        np.testing.assert_array_equal(p, q, err_msg=f"layer {i}")
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.pred, b.pred)
    assert a.counts.dtype == b.counts.dtype and a.pred.dtype == b.pred.dtype


def stimulus(seed, T, B, n_in, rate=0.4):
    return (np.random.default_rng(seed).random((T, B, n_in)) < rate).astype(np.uint8)


# ----------------------------------------------------------------------------- equality
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**20), k=st.integers(1, 9), k2=st.integers(1, 9),
       max_delay=st.integers(0, 4), r=st.integers(0, 3), r2=st.integers(0, 3),
       B=st.sampled_from([1, 63, 64, 65, 130]), T=st.integers(1, 9),
       recurrent=st.booleans(), n_in=st.integers(1, 6), fast=st.sampled_from(["1", "0"]))
def test_bitsliced_equals_reference_on_random_networks(seed, k, k2, max_delay, r, r2, B, T,
                                                       recurrent, n_in, fast):
    # fast = "0": the mux trees only; "1": bit-shuffle LUTs for k <= 6 where the CPU has them
    net = random_network(seed, n_in=n_in, sizes=[17, 9, 5], k=[k, k2, k], max_delay=max_delay,
                         refractory=[r, r2, 0], recurrent=recurrent, classes=3)
    x = stimulus(seed, T, B, n_in)
    with simd_env(fast):
        assert_same(reference.simulate(net, x), bitsliced.simulate(net, x))


@pytest.mark.parametrize("k", range(1, 7))
@pytest.mark.parametrize("B", [1, 63, 65, 130])
@pytest.mark.parametrize("fast", ["1", "0"])
def test_every_k_and_batch_size(k, B, fast):
    net = random_network(k * 100 + B, n_in=5, sizes=[30, 6], k=k, max_delay=3, refractory=[1, 2])
    x = stimulus(k, 7, B, 5)
    with simd_env(fast):
        assert_same(reference.simulate(net, x), bitsliced.simulate(net, x))


def test_single_cycle_T1():
    net = random_network(7, n_in=4, sizes=[20, 3], k=6, max_delay=2, refractory=2)
    x = stimulus(7, 1, 65, 4)
    assert_same(reference.simulate(net, x), bitsliced.simulate(net, x))


def test_self_loops_and_recurrent_taps_to_later_layers():
    # L0 node 0 reads its own output (delay 1) and L1 (a later layer, delay 2); L1 reads L0 at delay 0
    l0 = layer([[(-1, 0, 0), (0, 0, 1), (1, 0, 2)]] * 2, [0, 1, 1, 0, 1, 0, 0, 1], refractory=1)
    l1 = layer([[(0, 1, 0), (1, 0, 1)]], [0, 1, 1, 0])
    net = chain(1, [l0, l1])
    x = stimulus(1, 20, 70, 1, rate=0.6)
    ref = reference.simulate(net, x)
    assert ref.layer_spikes[0].any() and ref.layer_spikes[1].any()
    assert_same(ref, bitsliced.simulate(net, x))


def test_constant_tables_and_no_input_channels():
    # a network with zero inputs: all-ones table fires at once, all-zeros never
    ones = Layer(np.array([[1] * 4, [0] * 4], np.uint8), [[0, 0]] * 2, [[0, 1]] * 2, [[1, 1]] * 2,
                 refractory=1)
    net = Network(0, [ones], Readout(0, [0, 1], 2))
    x = np.zeros((5, 3, 0), np.uint8)
    res = bitsliced.simulate(net, x)
    assert res.layer_spikes[0][:, 0].tolist() == [[1, 0], [0, 0], [1, 0], [0, 0], [1, 0]]
    assert_same(reference.simulate(net, x), res)


def test_empty_readout_all_nodes_unclassified():
    net = random_network(3, n_in=3, sizes=[10, 4], k=4, max_delay=1)
    net = net.replace(readout=Readout(1, [-1, -1, -1, -1], 2))
    x = stimulus(3, 6, 65, 3)
    res = bitsliced.simulate(net, x)
    assert res.counts.shape == (65, 2) and not res.counts.any() and not res.pred.any()
    assert_same(reference.simulate(net, x), res)


def test_readout_start_and_ties():
    net = random_network(4, n_in=4, sizes=[12, 6], k=3, max_delay=2, classes=3, start=3)
    x = stimulus(4, 9, 100, 4)
    assert_same(reference.simulate(net, x), bitsliced.simulate(net, x))


@pytest.mark.parametrize("name", DEMOS)
def test_demos(demos_dir, name):
    net = sl.build(os.path.join(demos_dir, f"{name}.toml"))
    x = stimulus(11, 16, 67, net.n_in, rate=0.3)
    assert_same(reference.simulate(net, x), bitsliced.simulate(net, x))


def test_pulse_demo_exact_train(demos_dir):
    net = sl.build(os.path.join(demos_dir, "pulse_refractory.toml"))
    res = bitsliced.simulate(net, np.ones((8, 65, 1), np.uint8))
    assert res.layer_spikes[0][:, 64, 0].tolist() == [1, 0, 0, 1, 0, 0, 1, 0]


def test_one_thread_equals_all_threads():
    net = random_network(9, n_in=8, sizes=[300, 40], k=6, max_delay=2, refractory=[1, 0])
    x = stimulus(9, 6, 200, 8)
    assert_same(bitsliced.simulate(net, x, threads=1), bitsliced.simulate(net, x))


def test_batch_split_into_several_slices():
    # more than MAX_CHUNK_WORDS words: the batch runs as several independent slices
    assert bitsliced.MAX_CHUNK_WORDS == 64
    net = random_network(12, n_in=4, sizes=[12, 3], k=5, max_delay=2, refractory=[1, 0])
    x = stimulus(12, 4, 64 * 64 + 65, 4)
    for threads in (1, 2):
        assert_same(reference.simulate(net, x), bitsliced.simulate(net, x, threads=threads))


def test_record_readout_only_drops_other_layers():
    net = random_network(5, n_in=3, sizes=[10, 7, 4], k=3, max_delay=1)
    x = stimulus(5, 5, 10, 3)
    ref = reference.simulate(net, x)
    for run in (get_engine("bitsliced"), get_engine("reference")):
        res = run(net, x, record="readout")
        assert res.layer_spikes[0] is None and res.layer_spikes[1] is None
        np.testing.assert_array_equal(res.layer_spikes[2], ref.layer_spikes[2])
    res = bitsliced.simulate(net, x, record=["L0"])
    assert res.layer_spikes[1] is None
    np.testing.assert_array_equal(res.layer_spikes[0], ref.layer_spikes[0])
    np.testing.assert_array_equal(res.layer_spikes[2], ref.layer_spikes[2])


def test_record_unknown_layer_is_a_config_error():
    net = random_network(5, n_in=3, sizes=[4, 2], k=3)
    with pytest.raises(ConfigError, match="record: no layer named 'nope'"):
        bitsliced.simulate(net, np.zeros((2, 1, 3), np.uint8), record=["nope"])


def test_bad_input_shape_is_rejected_like_the_reference():
    net = random_network(5, n_in=3, sizes=[4, 2], k=3)
    with pytest.raises(sl.ShapeError, match="input spikes have 2 channels but the network has 3"):
        bitsliced.simulate(net, np.zeros((2, 1, 2), np.uint8))


def test_generated_lut_kernels_are_up_to_date():
    path = os.path.join(os.path.dirname(bitsliced.__file__), "_luts.py")
    with open(path) as f:
        assert f.read() == module_source(), "run: python -m spikelut.engine.lutgen > spikelut/engine/_luts.py"


# ----------------------------------------------------------------------------- registry
def test_engine_names():
    assert ENGINES == ("auto", "reference", "bitsliced", "gpu")


def test_auto_on_cpu_picks_bitsliced():
    assert resolve_engine("auto", "cpu") == ("bitsliced", "cpu")
    run = get_engine("auto", "cpu")
    assert (run.engine, run.device) == ("bitsliced", "cpu")


@pytest.mark.skipif(backend.gpu_available(), reason="this machine has a GPU")
def test_auto_device_without_gpu_falls_back_to_cpu():
    assert resolve_engine("auto", "auto") == ("bitsliced", "cpu")
    assert resolve_engine("reference", "auto") == ("reference", "cpu")


@pytest.mark.skipif(backend.gpu_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("name", ["gpu", "auto", "reference"])
def test_gpu_asked_without_gpu_is_a_tool_error(name):
    with pytest.raises(ToolError, match="a GPU was asked for but none is usable: install CuPy"):
        get_engine(name, "gpu")


def test_engine_device_mismatch():
    with pytest.raises(ConfigError, match="engine 'bitsliced' does not run on the GPU; use --engine "
                                          "gpu or --engine auto with --device gpu"):
        resolve_engine("bitsliced", "gpu")
    with pytest.raises(ConfigError, match="engine 'gpu' does not run on the CPU; use --engine "
                                          "bitsliced or --engine auto with --device cpu"):
        resolve_engine("gpu", "cpu")


def test_unknown_engine_and_device():
    with pytest.raises(ConfigError, match="unknown engine 'fast'; choose one of auto, reference"):
        get_engine("fast")
    with pytest.raises(ToolError, match="unknown device 'tpu'; choose one of cpu, gpu, auto"):
        get_engine("auto", "tpu")


def test_api_simulate_accepts_every_backend_and_old_engine_name():
    net = random_network(1, n_in=2, sizes=[5, 2], k=2)
    x = stimulus(1, 4, 3, 2)
    ref = reference.simulate(net, x)
    for name in ("auto", "numpy", "numba"):
        assert_same(ref, sl.simulate(net, x, backend=name))
    for name, want in (("auto", "numba"), ("reference", "numpy"), ("bitsliced", "numba")):
        with pytest.warns(DeprecationWarning, match=f"deprecated; use backend={want}$"):
            assert_same(ref, sl.simulate(net, x, engine=name, device="cpu"))


# ----------------------------------------------------------------------------- DLPack
class FakeTensor:
    """A stand-in for a third-party tensor: speaks only DLPack (like torch.Tensor)."""

    def __init__(self, a, device=1):
        self.a = a
        self.device = device

    def __dlpack__(self, **kwargs):
        return self.a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return (self.device, 0)


def from_dlpack(x):  # what the fake framework's module offers, as torch.from_dlpack does
    return FakeTensor(np.from_dlpack(x))


def test_fake_tensor_module_is_where_backend_looks():
    assert sys.modules[FakeTensor.__module__].from_dlpack is from_dlpack


def test_dlpack_in_shares_memory_no_copy():
    a = stimulus(2, 3, 5, 2)
    got = backend.from_dlpack(FakeTensor(a))
    assert isinstance(got, np.ndarray) and np.shares_memory(got, a)


def test_dlpack_tensor_in_tensor_out():
    net = random_network(2, n_in=2, sizes=[6, 3], k=3, max_delay=1)
    x = stimulus(2, 5, 70, 2)
    ref = reference.simulate(net, x)
    for name in ("bitsliced", "reference"):
        res = get_engine(name)(net, FakeTensor(x))
        assert all(isinstance(s, FakeTensor) for s in res.layer_spikes)
        assert isinstance(res.counts, FakeTensor) and isinstance(res.pred, FakeTensor)
        np.testing.assert_array_equal(res.pred.a, ref.pred)
        np.testing.assert_array_equal(res.layer_spikes[0].a, ref.layer_spikes[0])


@pytest.mark.skipif(backend.gpu_available(), reason="this machine has a GPU")
def test_cuda_tensor_without_cupy_is_a_tool_error():
    with pytest.raises(ToolError, match="the input lives on a CUDA device but CuPy is not usable"):
        backend.from_dlpack(FakeTensor(np.zeros(3), device=2))


def test_unknown_dlpack_device_is_a_tool_error():
    with pytest.raises(ToolError, match="cannot read an array on DLPack device type 8"):
        backend.from_dlpack(FakeTensor(np.zeros(3), device=8))


def test_torch_cpu_tensor_round_trip():
    torch = pytest.importorskip("torch", reason="PyTorch not installed: real-tensor DLPack test skipped")
    net = random_network(2, n_in=2, sizes=[6, 3], k=3, max_delay=1)
    x = stimulus(2, 5, 70, 2)
    res = get_engine("auto", "cpu")(net, torch.from_numpy(x))
    assert isinstance(res.pred, torch.Tensor)
    np.testing.assert_array_equal(res.pred.numpy(), reference.simulate(net, x).pred)
