"""Bit packing [T, B, n] uint8 <-> [T, n, W] uint64 (bit b % 64 of word b // 64 = sample b)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikelut.engine.bitpack import n_words, pack, unpack
from spikelut.errors import ShapeError


@pytest.mark.parametrize("B, W", [(1, 1), (63, 1), (64, 1), (65, 2), (128, 2), (130, 3)])
def test_n_words(B, W):
    assert n_words(B) == W


def test_pack_puts_sample_b_in_bit_b_mod_64_of_word_b_div_64():
    x = np.zeros((2, 130, 3), np.uint8)
    x[0, 0, 0] = x[0, 63, 0] = x[0, 64, 1] = x[1, 129, 2] = 1
    w = pack(x)
    assert w.shape == (2, 3, 3) and w.dtype == np.uint64
    assert w[0, 0].tolist() == [(1 << 63) | 1, 0, 0]
    assert w[0, 1].tolist() == [0, 1, 0]
    assert w[1, 2].tolist() == [0, 0, 1 << 1]
    assert int(w.sum()) == (1 << 63) + 1 + 1 + 2


def test_padding_samples_are_zero():
    w = pack(np.ones((1, 65, 1), np.uint8))
    assert w[0, 0].tolist() == [2**64 - 1, 1]


@settings(max_examples=30, deadline=None)
@given(T=st.integers(1, 4), B=st.integers(1, 200), n=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_unpack_inverts_pack(T, B, n, seed):
    x = (np.random.default_rng(seed).random((T, B, n)) < 0.5).astype(np.uint8)
    np.testing.assert_array_equal(unpack(pack(x), B), x)


def test_unpack_reads_uint32_view_identically():
    x = (np.random.default_rng(1).random((3, 100, 4)) < 0.5).astype(np.uint8)
    w = pack(x)
    np.testing.assert_array_equal(unpack(w.view(np.uint32), 100), x)


def test_unpack_refuses_more_samples_than_the_words_hold():
    with pytest.raises(ShapeError, match="1 words of 64 bits cannot hold 65 samples"):
        unpack(np.zeros((1, 1, 1), np.uint64), 65)


def test_pack_refuses_wrong_rank():
    with pytest.raises(ShapeError, match=r"pack: spikes must be \[T, B, n\], got shape \(3, 4\)"):
        pack(np.zeros((3, 4), np.uint8))


@pytest.mark.parametrize("B", [1, 63, 65, 130])
def test_generic_array_module_path_equals_numpy_path(B):
    # the path CuPy takes (no packbits), run here on numpy
    x = (np.random.default_rng(B).random((3, B, 5)) < 0.5).astype(np.uint8)
    w = pack(x)
    np.testing.assert_array_equal(pack(x, generic=True), w)
    np.testing.assert_array_equal(unpack(w, B, generic=True), x)
    np.testing.assert_array_equal(unpack(w.view(np.uint32), B, generic=True), x)
