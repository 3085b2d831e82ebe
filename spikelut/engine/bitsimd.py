"""AVX-512 operations on bit-sliced words: LUT addresses and look-ups of 64 samples at once.

The bit-sliced layout keeps one signal of 64 samples in a ``uint64`` word (bit ``i`` = sample
``i``; :mod:`spikelut.engine.bitpack`). A LUT of ``k <= 6`` inputs has at most 64 entries, one
word as well. Two AVX-512 instructions then do in one step what the word engine does with a
tree of 63 word multiplexers (:mod:`spikelut.engine._luts`):

* a 64-bit mask register loaded from a tap word selects the bytes of the samples where the tap
  is 1 (``kmovq`` and a masked byte move, AVX-512BW): ``k`` of them, ORed, give the 64
  samples' addresses in one 512-bit register (:func:`spread64` stores them);
* the bit shuffle ``vpshufbitqmb`` (AVX-512 BITALG) picks, for every byte, the bit of its
  quadword that the byte names: with the table broadcast to all eight quadwords and the
  addresses as the bytes, the 64 result bits are the LUT's output word (:func:`lut_word`).

The results are the mux tree's bit for bit (a table look-up is exact). Used where numba compiles
for a CPU with those extensions (:data:`SPREAD_AVAILABLE`, :data:`LUT_AVAILABLE`) unless the
environment variable ``SPIKELUT_SIMD`` is ``0`` (:func:`simd_allowed`: measuring, or ruling the
paths out; the older name ``SPIKELUT_TRAIN_SIMD`` works too); elsewhere the kernels keep their
loops. Users: the bit-sliced training forward (:mod:`spikelut.train.kernels_bits`) and the
inference engine (:mod:`spikelut.engine.bitsliced`).

Example:
    >>> import numpy as np
    >>> from numba import njit
    >>> from spikelut.engine import bitsimd
    >>> @njit
    ... def lut(words, rows, table, out):
    ...     return bitsimd.lut_word(words, rows, 2, 0, table, out, 0, 64, True)
    >>> words = np.array([[0b0101], [0b0011]], np.uint64)   # two taps, samples 0..3
    >>> rows, out = np.array([0, 1]), np.zeros(64, np.uint8)
    >>> table = np.uint64(0b1000)                            # AND: only address 3 is 1
    >>> if bitsimd.LUT_AVAILABLE:
    ...     word = int(lut(words, rows, table, out))
    ... else:                                                # what the instructions compute
    ...     word, out[:4] = 0b0001, [3, 2, 1, 0]
    >>> bin(word), out[:4].tolist()                          # sample 0 reads 1 on both taps
    ('0b1', [3, 2, 1, 0])
"""

from __future__ import annotations

import os

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

#: the switch (``0`` turns every AVX-512 path of spikelut off), and its older name
SIMD_ENV, _OLD_ENV = "SPIKELUT_SIMD", "SPIKELUT_TRAIN_SIMD"


def host_has(feature: str, cpu_name: str | None = None, cpu_features: str | None = None) -> bool:
    """Whether numba compiles for a CPU with ``feature`` (an LLVM feature name such as
    ``avx512f``): the host's features, unless numba is told to compile for another CPU
    (``NUMBA_CPU_NAME``, e.g. ``generic`` for portable caches): then only if
    ``NUMBA_CPU_FEATURES`` names ``+feature``. ``cpu_name`` / ``cpu_features`` stand in for
    numba's settings (tests).

    Example:
        >>> host_has("avx512f", "generic", None), host_has("avx512f", "generic", "+avx2,+avx512f")
        (False, True)
    """
    import numba

    name = numba.config.CPU_NAME if cpu_name is None else cpu_name
    if name not in (None, "host"):  # another target than this CPU: its features only
        feats = numba.config.CPU_FEATURES if cpu_features is None else cpu_features
        return f"+{feature}" in (feats or "").split(",")
    try:
        from llvmlite import binding

        return bool(binding.get_host_cpu_features().get(feature, False))
    except Exception:  # pragma: no cover - an LLVM without the query: take the loops
        return False


def simd_allowed() -> bool:
    """``False`` where the environment sets ``SPIKELUT_SIMD`` (or ``SPIKELUT_TRAIN_SIMD``) to
    ``0``: every AVX-512 path then takes its plain loop (the same bits).

    Example:
        >>> os.environ["SPIKELUT_SIMD"] = "0"
        >>> simd_allowed()
        False
        >>> del os.environ["SPIKELUT_SIMD"]
    """
    return all(os.environ.get(v, "1").strip() != "0" for v in (SIMD_ENV, _OLD_ENV))


def trap(builder) -> None:
    """Emit ``llvm.trap``: the body of an intrinsic compiled for a CPU without its instructions
    (the kernels ask the ``*_enabled`` functions first and never reach it)."""
    fn = builder.module.declare_intrinsic("llvm.trap", fnty=ir.FunctionType(ir.VoidType(), []))
    builder.call(fn, [])


#: the host CPU has AVX-512BW: :func:`spread64` becomes a mask move and an OR per tap (it is
#: plain LLVM vector code that compiles anywhere, but without byte masks LLVM expands the
#: 64-lane select into many instructions, so the kernels keep their loop there)
SPREAD_AVAILABLE = host_has("avx512bw")

_WORD_LANES = 64


def _spread(context, builder, signature, words_v, rows_v, k_v, wb_v, elt):
    """The addresses of 64 samples as a ``<64 x elt>`` vector: per tap ``p < k`` the word
    ``words[rows[p], wb]`` as a 64-lane mask selecting ``1 << p`` (argument 0 of the intrinsic
    is ``words``, 1 is ``rows``)."""
    i64 = ir.IntType(64)
    vec = ir.VectorType(elt, _WORD_LANES)
    bits = ir.VectorType(ir.IntType(1), _WORD_LANES)
    wa = context.make_array(signature.args[0])(context, builder, words_v)
    ra = context.make_array(signature.args[1])(context, builder, rows_v)
    n_words = builder.extract_value(wa.shape, 1)
    acc = builder.alloca(vec)
    builder.store(ir.Constant(vec, [0] * _WORD_LANES), acc)
    zero = ir.Constant(vec, [0] * _WORD_LANES)
    for p in range(min(elt.width, 12)):  # 12: the largest k a network has (network.K_MAX)
        with builder.if_then(builder.icmp_signed(">", k_v, ir.Constant(k_v.type, p))):
            r = builder.load(builder.gep(ra.data, [ir.Constant(i64, p)]))
            x = builder.load(builder.gep(wa.data, [builder.add(builder.mul(r, n_words), wb_v)]))
            on = builder.select(builder.bitcast(x, bits), ir.Constant(vec, [1 << p] * _WORD_LANES),
                                zero)
            builder.store(builder.or_(builder.load(acc), on), acc)
    return builder.load(acc)


def _store_lanes(context, builder, signature, i, out_v, at_v, nb_v, value):
    """``out[at + lane] = value[lane]`` for the lanes ``< nb`` (a masked store; argument ``i``
    of the intrinsic is ``out``, a 1-D array of ``value``'s element type or wider)."""
    i64 = ir.IntType(64)
    elt = context.get_value_type(signature.args[i].dtype)
    vec = ir.VectorType(elt, _WORD_LANES)
    bits = ir.VectorType(ir.IntType(1), _WORD_LANES)
    if value.type.element.width < elt.width:
        value = builder.zext(value, vec)
    lane = ir.Constant(ir.VectorType(i64, _WORD_LANES), list(range(_WORD_LANES)))
    n = builder.insert_element(ir.Constant(ir.VectorType(i64, _WORD_LANES), None),
                               builder.sext(nb_v, i64) if nb_v.type.width < 64 else nb_v,
                               ir.Constant(ir.IntType(32), 0))
    n = builder.shuffle_vector(n, n, ir.Constant(ir.VectorType(ir.IntType(32), _WORD_LANES),
                                                 [0] * _WORD_LANES))
    oa = context.make_array(signature.args[i])(context, builder, out_v)
    dst = builder.gep(oa.data, [at_v])
    name = f"llvm.masked.store.v{_WORD_LANES}i{elt.width}.p0"
    try:
        store = builder.module.get_global(name)
    except KeyError:
        store = ir.Function(builder.module, ir.FunctionType(
            ir.VoidType(), [vec, dst.type, ir.IntType(32), bits]), name=name)
    builder.call(store, [value, dst, ir.Constant(ir.IntType(32), 1),
                         builder.icmp_signed("<", lane, n)])


@intrinsic
def spread64(typingctx, words, rows, k, wb, out, at, nb):  # pragma: no cover
    """LUT addresses of 64 samples from a node's tap words: ``out[at + i] = sum over p < k of
    ((words[rows[p], wb] >> i) & 1) << p`` for the lanes ``i < nb`` (``nb <= 64``); the other
    elements of ``out`` are not written (a masked store).

    ``words`` uint64 ``[rows, Wb]`` C-contiguous (bit ``i`` of a word = sample ``i``, the
    bit-sliced layout), ``rows`` int64 (the node's tap rows), ``out`` a 1-D uint8 or uint16 array
    (``k`` at most its bit width). With AVX-512BW each tap is one mask load (``kmovq``), one
    masked byte move and one OR: 64 samples at once. No bounds checks: the caller sizes the arrays.
    """
    sig = types.void(words, rows, k, wb, out, at, nb)

    def codegen(context, builder, signature, args):
        words_v, rows_v, k_v, wb_v, out_v, at_v, nb_v = args
        elt = context.get_value_type(signature.args[4].dtype)
        acc = _spread(context, builder, signature, words_v, rows_v, k_v, wb_v, elt)
        _store_lanes(context, builder, signature, 4, out_v, at_v, nb_v, acc)
        return context.get_dummy_value()

    return sig, codegen


#: the bit shuffle is used for fewer words than this per node and call: the mux tree runs over
#: contiguous words in 8-word registers, so from about 32 words (2,048 samples) on it is as fast
#: (measured on a 10,000-node LUT6 network, one thread, 32 cycles: the shuffle 1.5x faster at 8
#: words, 1.2x at 16, even at 32, 0.87x at 64)
LUT_MAX_WORDS = 32
#: the largest ``k`` whose table is one 64-bit word
LUT_MAX_K = 6


@njit(cache=True, nogil=True, inline="always")
def lut_fits(k, words):  # pragma: no cover - compiled (also callable from Python)
    """Whether a node of ``k`` inputs on ``words`` words per call takes :func:`lut_word` (where
    :func:`lut_enabled`): its table is one word and the call narrower than :data:`LUT_MAX_WORDS`.
    The one rule of the engine, the training forward and its cost model.

    Example:
        >>> lut_fits(6, 1), lut_fits(7, 1), lut_fits(6, 32)
        (True, False, False)
    """
    return k <= LUT_MAX_K and words < LUT_MAX_WORDS


#: the host CPU has AVX-512BW and BITALG: :func:`lut_word` evaluates a LUT of ``k <= 6`` for
#: 64 samples with one bit shuffle
LUT_AVAILABLE = SPREAD_AVAILABLE and host_has("avx512bitalg")
_SHUFBIT = "llvm.x86.avx512.vpshufbitqmb.512"


@intrinsic
def lut_word(typingctx, words, rows, k, wb, table, out, at, nb, save):  # pragma: no cover
    """A LUT of ``k <= 6`` inputs on 64 samples: returns the uint64 output word, bit ``i`` =
    ``(table >> a_i) & 1`` with ``a_i = sum over p < k of ((words[rows[p], wb] >> i) & 1) << p``;
    with ``save``, also ``out[at + i] = a_i`` for ``i < nb`` (as :func:`spread64`).

    ``table`` uint64: the node's ``2**k`` entries, entry ``a`` in bit ``a``. The addresses are
    built as in :func:`spread64` (64 bytes in one register), and AVX-512 BITALG's bit shuffle
    (``vpshufbitqmb``: for each byte, the bit of its quadword that the byte selects) on the
    table broadcast to every quadword looks all 64 up at once: the mux tree of the bit-sliced
    engine (63 word muxes) in one instruction. Compiles to a trap without BITALG
    (:data:`LUT_AVAILABLE`; the kernels ask first)."""
    sig = types.uint64(words, rows, k, wb, table, out, at, nb, save)

    def codegen(context, builder, signature, args):
        words_v, rows_v, k_v, wb_v, tab_v, out_v, at_v, nb_v, save_v = args
        if not LUT_AVAILABLE:
            trap(builder)
            return ir.Constant(ir.IntType(64), 0)
        b8 = ir.VectorType(ir.IntType(8), _WORD_LANES)
        q8 = ir.VectorType(ir.IntType(64), 8)
        acc = _spread(context, builder, signature, words_v, rows_v, k_v, wb_v, ir.IntType(8))
        with builder.if_then(builder.icmp_unsigned("!=", save_v, ir.Constant(save_v.type, 0))):
            _store_lanes(context, builder, signature, 5, out_v, at_v, nb_v, acc)
        t = builder.insert_element(ir.Constant(q8, None), tab_v, ir.Constant(ir.IntType(32), 0))
        t = builder.shuffle_vector(t, t, ir.Constant(ir.VectorType(ir.IntType(32), 8), [0] * 8))
        try:
            shuf = builder.module.get_global(_SHUFBIT)
        except KeyError:
            shuf = ir.Function(builder.module, ir.FunctionType(
                ir.VectorType(ir.IntType(1), _WORD_LANES), [b8, b8]), name=_SHUFBIT)
        hit = builder.call(shuf, [builder.bitcast(t, b8), acc])
        return builder.bitcast(hit, ir.IntType(64))

    return sig, codegen


def spread_enabled() -> bool:
    """Whether the kernels unpack addresses with :func:`spread64`: :data:`SPREAD_AVAILABLE`
    and :func:`simd_allowed`.

    Example:
        >>> os.environ["SPIKELUT_SIMD"] = "0"
        >>> spread_enabled()
        False
        >>> del os.environ["SPIKELUT_SIMD"]
    """
    return SPREAD_AVAILABLE and simd_allowed()


def lut_enabled() -> bool:
    """Whether the kernels evaluate ``k <= 6`` nodes with :func:`lut_word`:
    :data:`LUT_AVAILABLE` and :func:`simd_allowed`.

    Example:
        >>> os.environ["SPIKELUT_SIMD"] = "0"
        >>> lut_enabled()
        False
        >>> del os.environ["SPIKELUT_SIMD"]
    """
    return LUT_AVAILABLE and simd_allowed()


__all__ = ["LUT_AVAILABLE", "LUT_MAX_K", "LUT_MAX_WORDS", "SIMD_ENV", "SPREAD_AVAILABLE",
           "host_has", "lut_enabled", "lut_fits", "lut_word", "simd_allowed", "spread64",
           "spread_enabled", "trap"]
