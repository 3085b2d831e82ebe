"""The AVX-512 tap differences of the compiled backward pass (spikelut/train/simd.py): the same
gradients bit for bit as the scalar loop, on random networks with delays, self-loops, later-layer
taps, refractory periods, every backward option and batches that do not fill a register (k > 6
nodes keep the scalar loop in the same pass). Skipped where the CPU has no AVX-512F."""


import ctypes

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from spikelut.engine import bitsimd
from spikelut.train import Trainer, TrainConfig, bptt, kernels_bits, kernels_cpu, simd
from spikelut.train.surrogates import get_surrogate
from spikelut.wiring import random_network

from helpers import simd_env
from test_train_fast import numba_threads
from test_train_kernels import case

needs_avx512 = pytest.mark.skipif(not simd.AVAILABLE, reason="no AVX-512F in the CPU numba "
                                  "compiles for: the backward pass runs the scalar loop only")


def test_the_switch():
    with simd_env("0"):
        assert simd.enabled() is False
        assert simd.status().endswith("off (SPIKELUT_SIMD=0)" if simd.AVAILABLE else
                                      "off (no AVX-512F in the CPU numba compiles for; the "
                                      "scalar loops give the same bits)")
        assert bitsimd.lut_enabled() is False and bitsimd.spread_enabled() is False
    with simd_env("1"):
        assert simd.enabled() is simd.AVAILABLE
        assert bitsimd.lut_enabled() is bitsimd.LUT_AVAILABLE
        assert bitsimd.spread_enabled() is bitsimd.SPREAD_AVAILABLE
        if bitsimd.LUT_AVAILABLE:
            assert simd.status().endswith("on, bit-shuffle LUTs (forward) on; bit-identical to "
                                          "the scalar loops; SPIKELUT_SIMD=0 turns them off")


@needs_avx512
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**20), k0=st.integers(1, 10), k1=st.integers(1, 6),
       max_delay=st.integers(0, 4), r0=st.integers(0, 3), r1=st.integers(0, 3),
       T=st.integers(1, 9), B=st.sampled_from([1, 5, 16, 17, 25, 33, 70]),
       mode=st.sampled_from(["block", "pass", "full"]), tap_grad=st.sampled_from(["tanh", "identity"]),
       tbptt=st.integers(0, 4), input_grad=st.booleans(), keep_addr=st.booleans())
def test_simd_and_scalar_give_the_same_bits(seed, k0, k1, max_delay, r0, r1, T, B, mode, tap_grad,
                                             tbptt, input_grad, keep_addr):
    # k0 > 8 stores uint16 addresses: the 16-lane path copies a node's addresses to bytes
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


def _same_bits_on_every_path(plan, thetas, fwd, g, mode, tbptt=0, input_grad=False):
    """The backward pass with SPIKELUT_SIMD=0 on one thread (the scalar loop, direct adds) and
    with the 16-lane node steps on 1, 2, 3 threads (direct adds; stage buffer and scatter): the
    same float32 bits (compared as uint32, so -0 and NaN payloads count too)."""
    sg = get_surrogate("fast_sigmoid")
    runs = []
    for v, n in (("0", 1), ("1", 1), ("1", 2), ("1", 3)):
        with simd_env(v), numba_threads(n):
            grads, g_in = kernels_cpu.backward(plan, thetas, fwd, g, sg, mode, "tanh", tbptt,
                                               input_grad)
        runs.append(([a.view(np.uint32) for a in grads],
                     None if g_in is None else g_in.view(np.uint32)))
    for grads, g_in in runs[1:]:
        for a, b in zip(runs[0][0], grads, strict=True):
            np.testing.assert_array_equal(a, b)
        if input_grad:
            np.testing.assert_array_equal(runs[0][1], g_in)
    return runs[0]


@needs_avx512
@pytest.mark.parametrize("B", [1, 5, 16, 17, 25, 33])
@pytest.mark.parametrize("forward", ["lookup", "bitsliced"])
def test_the_last_node_of_the_last_cycle_reads_no_byte_past_the_addresses(B, forward):
    """surrogate16 loads 16 address bytes at a time; past the last node of the last cycle the
    pass copies that node's addresses (abuf). Here the stored addresses (of either forward
    pass) end exactly at a page without access, and the gradients are the scalar loop's.
    (The masked lanes of that load compile to a fault-suppressing masked vpmovzxbd on this
    LLVM, so the page catches an unmasked over-read only; the bits are checked either way.)"""
    mmap = pytest.importorskip("mmap")
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "mprotect"):
        pytest.skip("no mprotect")
    # the last node (layer 2) has k = 6: its copied addresses use all 6 bits
    net, plan, x, thetas, g = case(B, (4, 3, 6), 2, (1, 2, 1), 5, B)
    tables = bptt.tables_of(thetas)
    fwd = (kernels_cpu.forward if forward == "lookup" else kernels_bits.forward)(
        plan, tables, x, keep_addr=True)
    a = fwd.stored
    assert a.dtype == np.uint8 and a.shape == (5, net.n_nodes, B)
    page = mmap.PAGESIZE
    pages = -(-a.nbytes // page)
    buf = mmap.mmap(-1, (pages + 1) * page)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    assert libc.mprotect(ctypes.c_void_p(base + pages * page), page, 0) == 0  # PROT_NONE
    guarded = np.frombuffer(buf, np.uint8, a.size, pages * page - a.nbytes).reshape(a.shape)
    guarded[...] = a
    packed = kernels_cpu.PackedForward(plan, fwd.bits, fwd.T, fwd.B, True, guarded)
    want = _same_bits_on_every_path(plan, thetas, fwd, g, "block", input_grad=True)
    got = _same_bits_on_every_path(plan, thetas, packed, g, "block", input_grad=True)
    for p, q in zip(want[0], got[0], strict=True):
        np.testing.assert_array_equal(p, q)
    del guarded, packed
    libc.mprotect(ctypes.c_void_p(base + pages * page), page, 3)  # PROT_READ | PROT_WRITE
    buf.close()


@needs_avx512
@pytest.mark.parametrize("ks", [(9, 6, 3), (10, 4, 2)])
@pytest.mark.parametrize("keep_addr", [True, False])
@pytest.mark.parametrize("mode", ["block", "pass", "full"])
def test_uint16_and_recomputed_addresses_with_16_lane_layers(ks, keep_addr, mode):
    """A k > 8 layer stores every address as uint16 (the 16-lane nodes of the k <= 6 layers copy
    theirs to bytes) or, with keep_addr=False, they are recomputed from the window; batches
    across registers, tbptt and the input gradient; the scalar loop's bits on 1, 2, 3 threads."""
    for B, tbptt in ((1, 0), (17, 3), (33, 2)):
        net, plan, x, thetas, g = case(40 + B, ks, 3, (1, 2, 0), 7, B, sizes=(20, 12, 3))
        fwd = kernels_cpu.forward(plan, bptt.tables_of(thetas), x, keep_addr=keep_addr)
        assert (fwd.stored is not None) == keep_addr
        if keep_addr:
            assert fwd.stored.dtype == np.uint16
        _same_bits_on_every_path(plan, thetas, fwd, g, mode, tbptt, input_grad=True)


@needs_avx512
@pytest.mark.parametrize("B", [5, 16, 25])
def test_the_refractory_gate_in_place_keeps_inf_nan_and_signed_zeros(B):
    """refractory_grad = "block" zeroes a node's dL/ds row in place (G *= 0 where it fired
    within R cycles) after the loss gradient is added, where the loop multiplies by keep (1 or
    0): the same bits also where the loss gradient is inf (inf * 0 = NaN), -inf or -0, with
    long refractory periods, on 1, 2, 3 threads."""
    net, plan, x, thetas, g = case(90 + B, (6, 5, 3), 3, (3, 2, 1), 9, B, sizes=(20, 12, 3))
    rng = np.random.default_rng(B)
    for a in g:
        m = rng.random(a.shape)
        a[m < 0.04] = np.inf
        a[(m >= 0.04) & (m < 0.08)] = -np.inf
        a[(m >= 0.08) & (m < 0.3)] = -0.0
    fwd = kernels_cpu.forward(plan, bptt.tables_of(thetas), x)
    assert 0 < fwd.spikes(0).mean() < 1
    grads, _ = _same_bits_on_every_path(plan, thetas, fwd, g, "block", input_grad=True)
    assert any(np.isnan(a.view(np.float32)).any() for a in grads)  # inf * 0 reached the sums
    finite = [np.where(np.isfinite(a), a, np.float32(0)) for a in g]
    grads, _ = _same_bits_on_every_path(plan, thetas, fwd, finite, "block", tbptt=4)
    assert all(np.isfinite(a.view(np.float32)).all() for a in grads)


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

    @njit(types.void(f32, i32, f32, f32, types.uint8[::1]))
    def kernel(tab, idx, g, out, addr):
        simd.tap_diffs16(tab, 0, idx, 0, g, out, 0, 16, 6)
        simd.scale16(tab, 0, idx, 0, g)
        simd.surrogate16(out, 0, tab, 0, addr, 0, 0, 16, g, idx, 0, tab, -1)

    assert kernel.signatures  # compiled eagerly
    assert "llvm.trap" in next(iter(kernel.inspect_llvm().values()))
    assert simd.enabled() is False


def test_without_bitalg_the_bit_shuffle_compiles_to_a_trap(monkeypatch):
    from numba import types

    monkeypatch.setattr(bitsimd, "LUT_AVAILABLE", False)
    u64, i64 = types.uint64[:, ::1], types.int64[::1]

    @njit(types.uint64(u64, i64, types.uint64, types.uint8[::1]))
    def kernel(words, rows, table, out):
        return bitsimd.lut_word(words, rows, 6, 0, table, out, 0, 64, True)

    assert "llvm.trap" in next(iter(kernel.inspect_llvm().values()))
    assert "vpshufbitqmb" not in next(iter(kernel.inspect_llvm().values()))
    assert bitsimd.lut_enabled() is False


# ---------------------------------------------------------------------------- the forward pass's
# mask moves (spread64: addresses of 64 samples from the tap words) and bit shuffle (lut_word)
needs_spread = pytest.mark.skipif(not bitsimd.SPREAD_AVAILABLE, reason="no AVX-512BW in the CPU "
                                  "numba compiles for: the forward pass unpacks with its loop")
needs_lut = pytest.mark.skipif(not bitsimd.LUT_AVAILABLE, reason="no AVX-512 BITALG in the CPU "
                               "numba compiles for: the forward pass runs the mux tree")


@njit
def _spread(words, rows, k, wb, out, at, nb):
    bitsimd.spread64(words, rows, k, wb, out, at, nb)


@njit
def _lut(words, rows, k, wb, table, out, at, nb, save):
    return bitsimd.lut_word(words, rows, k, wb, table, out, at, nb, save)


def _words_and_rows(seed, k):
    rng = np.random.default_rng(seed)
    words = rng.integers(0, 2**64, (20, 3), dtype=np.uint64)
    return words, rng.choice(20, 12).astype(np.int64)


def _addresses(words, rows, k, wb):
    # sample i's address: bit p = bit i of tap p's word
    bits = (words[rows[:k], wb][:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    return (bits.astype(np.int64) << np.arange(k)[:, None]).sum(axis=0)


@needs_spread
@pytest.mark.parametrize("dtype,k", [(np.uint8, 1), (np.uint8, 6), (np.uint8, 8), (np.uint16, 12)])
@pytest.mark.parametrize("nb", [1, 25, 63, 64])
def test_spread64_writes_the_first_nb_addresses_only(dtype, k, nb):
    words, rows = _words_and_rows(10 * k + nb, k)
    out = np.full(140, 0xAB, dtype)
    _spread(words, rows, k, 1, out, 7, nb)
    np.testing.assert_array_equal(out[7:7 + nb], _addresses(words, rows, k, 1)[:nb])
    assert (out[:7] == 0xAB).all() and (out[7 + nb:] == 0xAB).all()  # a masked store


@needs_lut
@pytest.mark.parametrize("k", range(1, 7))
@pytest.mark.parametrize("dtype,save", [(np.uint8, False), (np.uint8, True), (np.uint16, True)])
def test_lut_word_looks_up_64_samples_in_the_table(k, dtype, save):
    words, rows = _words_and_rows(k, k)
    table = np.random.default_rng(100 + k).integers(0, 2**64, dtype=np.uint64)
    table &= np.uint64((1 << (1 << k)) - 1)  # a k-input table has 2**k entries
    out = np.full(100, 0xAB, dtype)
    word = _lut(words, rows, k, 2, table, out, 3, 25, save)
    a = _addresses(words, rows, k, 2)
    want = sum(((int(table) >> int(ai)) & 1) << i for i, ai in enumerate(a))
    assert int(word) == want
    if save:
        np.testing.assert_array_equal(out[3:28], a[:25])
    assert (out[:3] == 0xAB).all() and (out[28 if save else 3:] == 0xAB).all()


def test_lut_fits_is_the_one_rule_of_every_user():
    # a table of one word (k <= 6), a call narrower than LUT_MAX_WORDS; estimate_ns and both
    # kernels ask it, so the cost model follows what the passes run
    assert [bitsimd.lut_fits(k, 1) for k in (1, 6, 7, 12)] == [True, True, False, False]
    assert [bitsimd.lut_fits(6, w) for w in (1, bitsimd.LUT_MAX_WORDS - 1, bitsimd.LUT_MAX_WORDS)] \
        == [True, True, False]
