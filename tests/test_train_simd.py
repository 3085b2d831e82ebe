"""The AVX-512 tap differences of the compiled backward pass (spikelut/train/simd.py): the same
gradients bit for bit as the scalar loop, on random networks with delays, self-loops, later-layer
taps, refractory periods, every backward option and batches that do not fill a register (k > 6
nodes keep the scalar loop in the same pass). Skipped where the CPU has no AVX-512F."""

import os
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikelut.train import Trainer, TrainConfig, bptt, kernels_cpu, simd
from spikelut.train.surrogates import get_surrogate
from spikelut.wiring import random_network

from test_train_kernels import case

needs_avx512 = pytest.mark.skipif(not simd.AVAILABLE, reason="no AVX-512F in the CPU numba "
                                  "compiles for: the backward pass runs the scalar loop only")


@contextmanager
def simd_env(value):
    old = os.environ.get("SPIKELUT_TRAIN_SIMD")
    os.environ["SPIKELUT_TRAIN_SIMD"] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ["SPIKELUT_TRAIN_SIMD"]
        else:
            os.environ["SPIKELUT_TRAIN_SIMD"] = old


def test_the_switch():
    with simd_env("0"):
        assert simd.enabled() is False
        assert simd.status().endswith("off (SPIKELUT_TRAIN_SIMD=0)" if simd.AVAILABLE else
                                      "off (no AVX-512F in the CPU numba compiles for; the "
                                      "scalar loop gives the same bits)")
    with simd_env("1"):
        assert simd.enabled() is simd.AVAILABLE


@needs_avx512
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**20), k0=st.integers(1, 8), k1=st.integers(1, 6),
       max_delay=st.integers(0, 4), r0=st.integers(0, 3), r1=st.integers(0, 3),
       T=st.integers(1, 9), B=st.sampled_from([1, 5, 16, 17, 25, 33, 70]),
       mode=st.sampled_from(["block", "pass", "full"]), tap_grad=st.sampled_from(["tanh", "identity"]),
       tbptt=st.integers(0, 4), input_grad=st.booleans(), keep_addr=st.booleans())
def test_simd_and_scalar_give_the_same_bits(seed, k0, k1, max_delay, r0, r1, T, B, mode, tap_grad,
                                             tbptt, input_grad, keep_addr):
    net, plan, x, thetas, g = case(seed, (k0, k1, 3), max_delay, (r0, r1, 0), T, B)
    fwd = kernels_cpu.forward(plan, bptt.tables_of(thetas), x, keep_addr=keep_addr)
    sg = get_surrogate("fast_sigmoid")
    out = {}
    for v in ("0", "1"):
        with simd_env(v):
            out[v] = kernels_cpu.backward(plan, thetas, fwd, g, sg, mode, tap_grad, tbptt, input_grad)
    for a, b in zip(out["0"][0], out["1"][0], strict=True):
        np.testing.assert_array_equal(a, b)
    if input_grad:
        np.testing.assert_array_equal(out["0"][1], out["1"][1])


@needs_avx512
def test_training_keeps_the_same_tables_with_and_without_simd():
    net = random_network(3, n_in=6, sizes=[40, 30, 4], k=6, classes=2)
    rng = np.random.default_rng(0)
    x = (rng.random((12, 50, 6)) < 0.4).astype(np.uint8)
    y = (x[:, :, 0].sum(axis=0) > x[:, :, 1].sum(axis=0)).astype(np.int64)
    tables = []
    for v in ("0", "1"):
        with simd_env(v):
            res = Trainer(net, TrainConfig(epochs=2, batch_size=10, backend="numba", seed=1),
                          progress=False).fit((x, y))
        tables.append([layer.logits for layer in res.net.layers])
    for a, b in zip(*tables, strict=True):
        np.testing.assert_array_equal(a, b)


def test_without_avx512_the_intrinsics_compile_to_a_trap(monkeypatch):
    """On a CPU without AVX-512F the kernels still compile (the look-ups become a trap that the
    pass never reaches, since simd.enabled() is False there): compile, do not call."""
    from numba import njit, types

    monkeypatch.setattr(simd, "AVAILABLE", False)
    f32, i32 = types.float32[::1], types.int32[::1]

    @njit(types.void(f32, i32, f32, f32))
    def kernel(tab, idx, g, out):
        simd.tap_diffs16(tab, 0, idx, 0, g, out, 0, 16, 6)
        simd.scale16(tab, 0, idx, 0, g)

    assert kernel.signatures  # compiled eagerly
    assert "llvm.trap" in next(iter(kernel.inspect_llvm().values()))
    assert simd.enabled() is False
