"""Compiled training kernels (spikelut/train/kernels_cpu.py, kernels_gpu.py + kernels/train_bptt.cu)
against the reference bptt.py: spikes and addresses exactly equal, gradients equal within float32
rounding, for every option. The CUDA kernels are also run on the CPU through a C++ emulation."""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikelut.xp import gpu_available
from spikelut.engine.reference import simulate
from spikelut.errors import ConfigError, ShapeError
from spikelut.train import bptt, kernels_cpu, kernels_gpu
from spikelut.train.surrogates import get_surrogate
from spikelut.wiring import random_network

from helpers import cuda_emulation_library, emulated_train_launch


def case(seed, ks=(6, 3, 2), max_delay=2, refractory=(1, 2, 0), T=6, B=40, n_in=4, sizes=(12, 6, 3)):
    rng = np.random.default_rng(seed)
    net = random_network(seed, n_in=n_in, sizes=list(sizes), k=list(ks), max_delay=max_delay,
                         refractory=list(refractory), classes=3)
    plan = bptt.compile_plan(net)
    x = (rng.random((T, B, n_in)) < 0.5).astype(np.uint8)
    thetas = [rng.normal(0, 0.3, layer.table.shape).astype(np.float32) for layer in net.layers]
    g = [rng.normal(0, 1, (T, B, layer.n)).astype(np.float32) for layer in net.layers]
    return net, plan, x, thetas, g


def assert_grads_close(a, b):
    for i, (p, q) in enumerate(zip(a, b)):
        assert p.shape == q.shape and p.dtype == q.dtype == np.float32, f"layer {i}"
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-5, err_msg=f"layer {i}")


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**20), k0=st.integers(1, 9), k1=st.integers(1, 9),
       max_delay=st.integers(0, 3), r0=st.integers(0, 3), r1=st.integers(0, 2),
       T=st.integers(1, 7), B=st.sampled_from([1, 17, 40]))
def test_forward_equals_reference_exactly(seed, k0, k1, max_delay, r0, r1, T, B):
    net, plan, x, thetas, _ = case(seed, (k0, k1, 3), max_delay, (r0, r1, 0), T, B)
    tables = bptt.tables_of(thetas)
    a, b = bptt.forward(plan, tables, x), kernels_cpu.forward(plan, tables, x)
    np.testing.assert_array_equal(a.hist, b.hist)
    assert len(a.addr) == len(b.addr)
    for p, q in zip(a.addr, b.addr):
        assert p.dtype == q.dtype == (np.uint16 if max(k0, k1) > 8 else np.uint8)
        np.testing.assert_array_equal(p, q)


def test_forward_spikes_are_the_circuits():
    net, plan, x, thetas, _ = case(3)
    net = net.replace(layers=[layer.replace(table=(th > 0).astype(np.uint8))
                              for layer, th in zip(net.layers, thetas)])
    fwd = kernels_cpu.forward(plan, bptt.tables_of(thetas), x, save=False)
    ref = simulate(net, x)
    assert fwd.addr == []
    for i, s in enumerate(ref.layer_spikes):
        np.testing.assert_array_equal(fwd.spikes(i), s)


@pytest.mark.parametrize("mode", ["block", "pass", "full"])
@pytest.mark.parametrize("tap_grad", ["tanh", "identity"])
@pytest.mark.parametrize("tbptt", [0, 2, 3])
def test_backward_equals_reference(mode, tap_grad, tbptt):
    net, plan, x, thetas, g = case(11 + tbptt, refractory=(2, 1, 1))
    sg = get_surrogate("fast_sigmoid")
    fa = bptt.forward(plan, bptt.tables_of(thetas), x)
    fb = kernels_cpu.forward(plan, bptt.tables_of(thetas), x)
    ra, ia = bptt.backward(plan, thetas, fa, g, sg, mode, tap_grad, tbptt, input_grad=True)
    rb, ib = kernels_cpu.backward(plan, thetas, fb, g, sg, mode, tap_grad, tbptt, input_grad=True)
    assert_grads_close(ra, rb)
    np.testing.assert_allclose(ia, ib, rtol=1e-4, atol=1e-5)
    assert any(np.abs(r).max() > 1e-3 for r in ra)  # the case really has gradient


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**20), k0=st.integers(1, 9), max_delay=st.integers(0, 3),
       r0=st.integers(0, 3), T=st.integers(1, 6), B=st.sampled_from([1, 33]),
       surrogate=st.sampled_from(["fast_sigmoid", "sigmoid", "triangular", "rectangular"]),
       mode=st.sampled_from(["block", "pass", "full"]), only_readout=st.booleans())
def test_backward_random_networks(seed, k0, max_delay, r0, T, B, surrogate, mode, only_readout):
    net, plan, x, thetas, g = case(seed, (k0, 4, 2), max_delay, (r0, 1, 0), T, B)
    if only_readout:
        g = [None, None, g[2]]
    sg = get_surrogate(surrogate)
    fa = bptt.forward(plan, bptt.tables_of(thetas), x)
    ra, _ = bptt.backward(plan, thetas, fa, g, sg, mode)
    rb, ib = kernels_cpu.backward(plan, thetas, kernels_cpu.forward(plan, bptt.tables_of(thetas), x),
                                  g, sg, mode)
    assert ib is None
    assert_grads_close(ra, rb)


def test_soft_forward_is_handed_to_the_reference():
    net, plan, x, thetas, g = case(5, T=3, B=2)
    sg = get_surrogate("fast_sigmoid")
    fwd = bptt.relaxed_forward(plan, thetas, x, sg)
    ra, _ = bptt.backward(plan, thetas, fwd, g, sg, "full", "identity")
    rb, _ = kernels_cpu.backward(plan, thetas, fwd, g, sg, "full", "identity")
    for p, q in zip(ra, rb):
        np.testing.assert_array_equal(p, q)


def test_errors_match_the_reference():
    net, plan, x, thetas, g = case(1)
    sg = get_surrogate("fast_sigmoid")
    fwd = kernels_cpu.forward(plan, bptt.tables_of(thetas), x)
    with pytest.raises(ConfigError, match="unknown refractory_grad 'soft'; choose one of block"):
        kernels_cpu.backward(plan, thetas, fwd, g, sg, "soft")
    with pytest.raises(ConfigError, match="tbptt must be an integer >= 0, got -1"):
        kernels_cpu.backward(plan, thetas, fwd, g, sg, tbptt=-1)
    with pytest.raises(ShapeError, match=r"input spikes must be \[T, B, 4\], got shape \(2, 3, 5\)"):
        kernels_cpu.forward(plan, bptt.tables_of(thetas), np.zeros((2, 3, 5), np.uint8))
    with pytest.raises(ShapeError, match="g_spikes entry has shape"):
        kernels_cpu.backward(plan, thetas, fwd, [None, None, g[2][:, :1]], sg)


# ----------------------------------------------------------------------------- GPU kernels
# kernels/train_bptt.cu, run on the CPU as C++ (one thread per block) through the same launch
# loop and argument marshalling as on the GPU, then on a real GPU where there is one.


@pytest.fixture(scope="module")
def emulated_launch(tmp_path_factory):
    return emulated_train_launch(cuda_emulation_library(
        tmp_path_factory.mktemp("emu"), "cuda_emulation_train.cpp", "the CUDA training kernels",
        kernels_gpu.compile_spec()))


def test_gpu_kernel_source_ships_in_package():
    from spikelut.engine.gpu import kernel_source

    src = kernel_source(kernels_gpu.KERNEL_FILE)
    assert 'spikelut_train_forward(' in src
    assert 'spikelut_train_backward(' in src


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("mode", ["block", "pass", "full"])
@pytest.mark.parametrize("seed", [0, 1])
def test_emulated_gpu_kernels_equal_reference(emulated_launch, mode, seed, fused):
    net, plan, x, thetas, g = case(20 + seed, ks=(5, 6, 2), refractory=(2, 1, 1), B=9)
    sg = get_surrogate("fast_sigmoid")
    tables = bptt.tables_of(thetas)
    fa = bptt.forward(plan, tables, x)
    fb = kernels_gpu.forward(plan, tables, x, launch=emulated_launch, fused=fused)
    np.testing.assert_array_equal(fa.hist, fb.hist)
    for p, q in zip(fa.addr, fb.addr):
        np.testing.assert_array_equal(p, q)
    for tbptt, tap_grad in ((0, "tanh"), (2, "identity")):
        ra, ia = bptt.backward(plan, thetas, fa, g, sg, mode, tap_grad, tbptt, input_grad=True)
        rb, ib = kernels_gpu.backward(plan, thetas, fb, g, sg, mode, tap_grad, tbptt,
                                      input_grad=True, launch=emulated_launch, fused=fused)
        assert_grads_close(ra, rb)
        np.testing.assert_allclose(ia, ib, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fused", [True, False])
def test_emulated_gpu_forward_without_save(emulated_launch, fused):
    net, plan, x, thetas, _ = case(7)
    tables = bptt.tables_of(thetas)
    fwd = kernels_gpu.forward(plan, tables, x, save=False, launch=emulated_launch, fused=fused)
    assert fwd.addr == []
    np.testing.assert_array_equal(fwd.hist, bptt.forward(plan, tables, x, save=False).hist)


needs_gpu = pytest.mark.skipif(not gpu_available(),
                               reason="no usable GPU: CuPy is not installed or sees no CUDA device")


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("mode", ["block", "full"])
def test_gpu_training_kernels_equal_reference(mode, fused):
    import cupy as cp

    net, plan, x, thetas, g = case(30, refractory=(2, 1, 0), B=70, T=8)
    sg = get_surrogate("fast_sigmoid")
    tables = bptt.tables_of(thetas)
    fa = bptt.forward(plan, tables, x)
    fb = kernels_gpu.forward(plan, [cp.asarray(t) for t in tables], cp.asarray(x), fused=fused)
    np.testing.assert_array_equal(fa.hist, fb.hist.get())
    for p, q in zip(fa.addr, fb.addr):
        np.testing.assert_array_equal(p, q.get())
    ra, ia = bptt.backward(plan, thetas, fa, g, sg, mode, tbptt=3, input_grad=True)
    rb, ib = kernels_gpu.backward(plan, [cp.asarray(t) for t in thetas], fb,
                                  [cp.asarray(a) for a in g], sg, mode, tbptt=3, input_grad=True,
                                  fused=fused)
    assert_grads_close(ra, [r.get() for r in rb])
    np.testing.assert_allclose(ia, ib.get(), rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
@needs_gpu
def test_gpu_fused_kernels_on_a_wide_layer_and_a_large_batch():
    # more nodes than a block has threads (the node loop wraps), more samples than SMs
    import cupy as cp

    net, plan, x, thetas, g = case(31, ks=(6, 5, 4), refractory=(1, 0, 2), T=10, B=300, n_in=6,
                                   sizes=(1500, 700, 10))
    sg = get_surrogate("fast_sigmoid")
    tables = bptt.tables_of(thetas)
    fa = bptt.forward(plan, tables, x)
    fb = kernels_gpu.forward(plan, [cp.asarray(t) for t in tables], cp.asarray(x))
    np.testing.assert_array_equal(fa.hist, fb.hist.get())
    ra, _ = bptt.backward(plan, thetas, fa, g, sg, "full")
    rb, _ = kernels_gpu.backward(plan, [cp.asarray(t) for t in thetas], fb,
                                 [cp.asarray(a) for a in g], sg, "full")
    for i, (p, q) in enumerate(zip(ra, rb)):
        np.testing.assert_allclose(p, q.get(), rtol=1e-4, atol=1e-4 * float(np.abs(p).max()),
                                   err_msg=f"layer {i}")
