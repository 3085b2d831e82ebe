"""Bit packing for the bit-sliced engines: 64 samples per ``uint64`` word.

Spikes ``[T, B, n]`` (uint8, 0/1, sample-major like every spike array of spikelut) become
``[T, n, W]`` words, ``W = ceil(B / 64)``: bit ``b % 64`` of word ``b // 64`` holds sample ``b``.
Padding samples (``B`` up to ``64 * W``) are zero on the way in and dropped on the way out.

Because the words are little-endian, the same buffer viewed as ``uint32`` holds sample ``b`` in
bit ``b % 32`` of word ``b // 32``; the GPU engine uses that view (32-bit words are native there).

Both functions are written against the array module of their argument, so they run on numpy and
CuPy arrays alike (numpy uses ``packbits``; ``generic=True`` forces the any-module path, which
is how the tests check the CuPy code path without a GPU).

Example:
    >>> import numpy as np
    >>> x = np.zeros((1, 70, 2), np.uint8); x[0, 3, 1] = 1; x[0, 65, 0] = 1
    >>> w = pack(x)
    >>> w.shape, hex(int(w[0, 1, 0])), hex(int(w[0, 0, 1]))
    ((1, 2, 2), '0x8', '0x2')
    >>> bool((unpack(w, 70) == x).all())
    True
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from numba import njit

from ..xp import array_module
from ..errors import ShapeError

WORD_BITS = 64

if sys.byteorder != "little":  # pragma: no cover - every supported platform is little-endian
    raise ImportError("spikelut's bit-sliced engines need a little-endian machine")


def n_words(batch: int, bits: int = WORD_BITS) -> int:
    """Words of ``bits`` bits needed for ``batch`` samples."""
    return -(-int(batch) // bits)


def pack(spikes: Any, generic: bool = False) -> Any:
    """Pack ``[T, B, n]`` 0/1 uint8 spikes into ``[T, n, ceil(B/64)]`` uint64 words.

    Example:
        >>> import numpy as np
        >>> pack(np.ones((1, 3, 1), np.uint8)).tolist()
        [[[7]]]
    """
    xp = array_module(spikes)
    if spikes.ndim != 3:
        raise ShapeError(f"pack: spikes must be [T, B, n], got shape {tuple(spikes.shape)}")
    T, B, n = spikes.shape
    W = n_words(B)
    if xp is np and not generic:
        out = np.zeros((T, n, W), np.uint64)
        if T and n:
            _pack_cpu(np.ascontiguousarray(spikes, dtype=np.uint8), out.view(np.uint8))
        return out
    bits = xp.zeros((T, n, W * WORD_BITS), xp.uint8)
    bits[:, :, :B] = spikes.transpose(0, 2, 1)
    # any array module (CuPy): bit i of a byte has weight 2**i
    weights = xp.asarray([1, 2, 4, 8, 16, 32, 64, 128], dtype=xp.uint8)
    packed8 = (bits.reshape(T, n, W * 8, 8) * weights).sum(axis=-1, dtype=xp.uint8)
    return xp.ascontiguousarray(packed8).view(xp.uint64).reshape(T, n, W)


def unpack(words: Any, batch: int, generic: bool = False) -> Any:
    """Unpack ``[T, n, W]`` uint64 (or ``[T, n, 2W]`` uint32) words into ``[T, batch, n]`` uint8.

    Example:
        >>> import numpy as np
        >>> unpack(np.array([[[5]]], np.uint64), 3)[0, :, 0].tolist()
        [1, 0, 1]
    """
    xp = array_module(words)
    if words.ndim != 3:
        raise ShapeError(f"unpack: words must be [T, n, W], got shape {tuple(words.shape)}")
    T, n, W = words.shape
    bits_per_word = words.dtype.itemsize * 8
    if batch < 0 or batch > W * bits_per_word:
        raise ShapeError(f"unpack: {W} words of {bits_per_word} bits cannot hold {batch} samples")
    if xp is np and not generic:
        out = np.empty((T, batch, n), np.uint8)
        if T and n and batch:
            _unpack_cpu(np.ascontiguousarray(words).view(np.uint8).reshape(T, n, -1), out)
        return out
    b8 = xp.ascontiguousarray(words).view(xp.uint8)  # [T, n, W * itemsize], little-endian
    shifts = xp.arange(8, dtype=xp.uint8)
    bits = ((b8[..., None] >> shifts) & 1).reshape(T, n, -1)[:, :, :batch]
    return xp.ascontiguousarray(bits.transpose(0, 2, 1))


@njit(cache=True, nogil=True)
def _unpack_cpu(b8, out):  # pragma: no cover - compiled; covered through unpack()
    # one byte = 8 samples; the 8 x n output rows of a byte column stay in L1 while filled,
    # which is what a numpy transpose of [T, n, B] -> [T, B, n] does not manage
    T, n, nb = b8.shape
    B = out.shape[1]
    for t in range(T):
        for c in range(nb):
            b0 = c * 8
            m = min(8, B - b0)
            if m <= 0:
                break
            for j in range(n):
                v = b8[t, j, c]
                for i in range(m):
                    out[t, b0 + i, j] = (v >> i) & 1


@njit(cache=True, nogil=True)
def _pack_cpu(spikes, out8):  # pragma: no cover - compiled; covered through pack()
    # out8 is the little-endian byte view [T, n, 8 W] of the words: byte c = samples 8c .. 8c+7
    T, B, n = spikes.shape
    for t in range(T):
        for c in range((B + 7) // 8):
            b0 = c * 8
            m = min(8, B - b0)
            for j in range(n):
                v = 0
                for i in range(m):
                    v |= (spikes[t, b0 + i, j] & 1) << i
                out8[t, j, c] = v
