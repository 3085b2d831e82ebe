"""AVX-512 table look-ups for the compiled backward pass (:mod:`spikelut.train.kernels_cpu`).

The backward pass spends most of its time on the tap differences of every node, sample and tap
(docs/training-speed.md, "Where the time goes"):

```
S[p, b] = (f[a_b | 1 << p] - f[a_b & ~(1 << p)]) * g[b]      f: the node's 2**k table values
```

two look-ups into the node's own table per value. Compilers do not vectorise them (a gather per
look-up; LLVM's cost model keeps them scalar on this CPU). But a node's table has at most 64
entries for ``k <= 6``: it fits in four 512-bit registers, and AVX-512's two-table permute
(``vpermi2ps``) looks up 16 samples' entries among 32 values in one instruction, so two permutes
and a blend give 16 look-ups at once. :func:`tap_diffs16` does that for 16 samples and every tap
of a node; the float32 subtraction and product are the scalar loop's own, so the values are
**bit-identical** (the tests compare both paths).

Used when the host has AVX-512F (:data:`AVAILABLE`, read from LLVM's host CPU features) and
``SPIKELUT_SIMD`` is not ``0`` (:func:`enabled`: measuring, or ruling the path out); nodes
with ``k > 6`` keep the scalar loop.

Example:
    >>> import numpy as np
    >>> from numba import njit
    >>> from spikelut.train import simd
    >>> @njit
    ... def one_node(tab, idx, g, out):
    ...     simd.tap_diffs16(tab, 0, idx, 0, g, out, 0, 16, 2)
    >>> tab = np.arange(64, dtype=np.float32)            # f[a] = a
    >>> idx = np.zeros(16, np.int32); idx[1] = 3           # samples 0, 1 at addresses 0 and 3
    >>> g = np.ones(16, np.float32)
    >>> out = np.zeros(32, np.float32)
    >>> if simd.AVAILABLE:
    ...     one_node(tab, idx, g, out)
    ... else:                                              # what the permutes compute
    ...     out[[0, 1, 16, 17]] = 1, 1, 2, 2
    >>> out[[0, 1, 16, 17]].tolist()                       # tap 0: f[1]-f[0], f[3]-f[2]; tap 1
    [1.0, 1.0, 2.0, 2.0]
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ..engine.bitsimd import host_has, lut_enabled, simd_allowed, trap

#: samples per call of :func:`tap_diffs16` (one 512-bit register of float32)
LANES = 16
#: the largest ``k`` whose table (``2**k`` float32) fits the four registers
MAX_K = 6


#: the host CPU has AVX-512F (the permutes are compiled in; else the intrinsic compiles to a trap
#: that the kernels never reach, since they ask :func:`enabled` first)
AVAILABLE = host_has("avx512f")


def enabled() -> bool:
    """Whether the backward pass uses :func:`tap_diffs16`: :data:`AVAILABLE`, unless the
    environment variable ``SPIKELUT_SIMD`` (or its older name ``SPIKELUT_TRAIN_SIMD``) is ``0``
    (:func:`spikelut.engine.bitsimd.simd_allowed`).

    Example:
        >>> import os
        >>> os.environ["SPIKELUT_SIMD"] = "0"
        >>> enabled()
        False
        >>> del os.environ["SPIKELUT_SIMD"]
    """
    return AVAILABLE and simd_allowed()


def status() -> str:
    """One line for ``spikelut backends``: whether the numba backend's training passes use the
    AVX-512 paths here (the backward pass's table look-ups, the bit-sliced forward pass's
    bit-shuffle LUTs), and why not.

    Example:
        >>> status().startswith("numba training passes: AVX-512 table look-ups (backward) ")
        True
    """
    head = "numba training passes: AVX-512 table look-ups (backward) "
    if not AVAILABLE:
        return head + ("off (no AVX-512F in the CPU numba compiles for; the scalar loops give the "
                       "same bits)")
    if not enabled():
        return head + "off (SPIKELUT_SIMD=0)"
    fwd = ("on" if lut_enabled() else
           "off (no AVX-512 BITALG: the mux tree gives the same bits)")
    return head + (f"on, bit-shuffle LUTs (forward) {fwd}; bit-identical to the scalar loops; "
                   "SPIKELUT_SIMD=0 turns them off")



_F16 = ir.VectorType(ir.FloatType(), LANES)
_I16 = ir.VectorType(ir.IntType(32), LANES)
_PERMUTE = "llvm.x86.avx512.vpermi2var.ps.512"


def _node_table(context, builder, signature, tab_v, off_v, idx_v, b0_v, g_v):
    """The node's 64 table values as four registers, the 16 addresses, a pointer to the 16
    gradients (arguments 0, 2 and 4 of the intrinsic are the arrays)."""
    def data(i, value):
        return context.make_array(signature.args[i])(context, builder, value).data

    vptr = _F16.as_pointer()
    base = builder.gep(data(0, tab_v), [off_v])
    t = [builder.load(builder.bitcast(builder.gep(base, [ir.Constant(ir.IntType(64), LANES * q)]),
                                      vptr), align=4) for q in range(4)]
    x = builder.load(builder.bitcast(builder.gep(data(2, idx_v), [b0_v]), _I16.as_pointer()),
                     align=4)
    return t, x, builder.bitcast(builder.gep(data(4, g_v), [b0_v]), vptr)


def _lookup(builder, t, i):
    """``table[i]`` for 16 addresses in 0..63: two two-table permutes (entries 0..31, 32..63)
    and a blend on bit 5 of the address."""
    try:
        permute = builder.module.get_global(_PERMUTE)
    except KeyError:
        permute = ir.Function(builder.module, ir.FunctionType(_F16, [_F16, _I16, _F16]),
                              name=_PERMUTE)
    lo = builder.call(permute, [t[0], i, t[1]])
    hi = builder.call(permute, [t[2], i, t[3]])
    high = builder.and_(i, ir.Constant(_I16, [32] * LANES))
    return builder.select(builder.icmp_unsigned("!=", high, ir.Constant(_I16, [0] * LANES)), hi, lo)


@intrinsic
def tap_diffs16(typingctx, tab, off, idx, b0, g, out, o0, stride, k):  # pragma: no cover
    """For 16 samples ``b0 .. b0 + 15`` of one node and each tap ``p < k`` (``k <= 6``):
    ``out[o0 + p * stride + lane] = (tab[off + (i | 1 << p)] - tab[off + (i & ~(1 << p))]) *
    g[b0 + lane]`` with ``i = idx[b0 + lane]``.

    ``tab`` float32 (the node's ``2**k`` values at ``off``; 64 values are loaded, so the array
    must extend 64 past the last node's start), ``idx`` int32 node-local addresses and ``g``
    float32 gradients (both at least ``b0 + 16`` long: pad with zeros), ``out`` float32 (16
    values written per tap). No bounds checks: the caller sizes the arrays."""
    sig = types.void(tab, off, idx, b0, g, out, o0, stride, k)

    def codegen(context, builder, signature, args):
        tab_v, off_v, idx_v, b0_v, g_v, out_v, o0_v, stride_v, k_v = args
        if not AVAILABLE:  # never called (the kernels check enabled()); no AVX-512 to emit
            trap(builder)
            return context.get_dummy_value()
        t, x, gp = _node_table(context, builder, signature, tab_v, off_v, idx_v, b0_v, g_v)
        gv = builder.load(gp, align=4)
        dst = context.make_array(signature.args[5])(context, builder, out_v).data
        for p in range(MAX_K):
            with builder.if_then(builder.icmp_signed(">", k_v, ir.Constant(k_v.type, p))):
                v = _tap_diff(builder, t, x, gv, p)
                at = builder.add(o0_v, builder.mul(stride_v, ir.Constant(stride_v.type, p)))
                builder.store(v, builder.bitcast(builder.gep(dst, [at]), _F16.as_pointer()), align=4)
        return context.get_dummy_value()

    return sig, codegen


def _tap_diff(builder, t, x, gv, p):
    """``(f[x | 1 << p] - f[x & ~(1 << p)]) * g`` for 16 lanes (the scalar loop's float32 ops)."""
    one = builder.or_(x, ir.Constant(_I16, [1 << p] * LANES))
    nil = builder.and_(x, ir.Constant(_I16, [~(1 << p) & 0xFFFFFFFF] * LANES))
    return builder.fmul(builder.fsub(_lookup(builder, t, one), _lookup(builder, t, nil)), gv)


@intrinsic
def tap_add16(typingctx, tab, off, idx, b0, g, out, dst, k):  # pragma: no cover
    """:func:`tap_diffs16`, added where the values go instead of stored: for each tap ``p < k``
    with ``dst[p] >= 0``, ``out[dst[p] + b0 + lane] += (tab[off + (i | 1 << p)] -
    tab[off + (i & ~(1 << p))]) * g[b0 + lane]`` (one float32 add per value, in the order of
    the taps); ``dst`` int64 ``[k]``, ``-1`` for a tap that carries no gradient. The backward
    pass on one thread adds its tap gradients into ``dL/ds`` this way (no stage buffer). Array
    sizes as for :func:`tap_diffs16`; ``out`` must hold 16 values at every ``dst[p] + b0``."""
    sig = types.void(tab, off, idx, b0, g, out, dst, k)

    def codegen(context, builder, signature, args):
        tab_v, off_v, idx_v, b0_v, g_v, out_v, dst_v, k_v = args
        if not AVAILABLE:
            trap(builder)
            return context.get_dummy_value()
        t, x, gp = _node_table(context, builder, signature, tab_v, off_v, idx_v, b0_v, g_v)
        gv = builder.load(gp, align=4)
        data = context.make_array(signature.args[5])(context, builder, out_v).data
        rows = context.make_array(signature.args[6])(context, builder, dst_v).data
        for p in range(MAX_K):
            with builder.if_then(builder.icmp_signed(">", k_v, ir.Constant(k_v.type, p))):
                at = builder.load(builder.gep(rows, [ir.Constant(ir.IntType(64), p)]))
                with builder.if_then(builder.icmp_signed(">=", at, ir.Constant(at.type, 0))):
                    ptr = builder.bitcast(builder.gep(data, [builder.add(at, b0_v)]),
                                          _F16.as_pointer())
                    builder.store(builder.fadd(builder.load(ptr, align=4),
                                               _tap_diff(builder, t, x, gv, p)), ptr, align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def scale16(typingctx, tab, off, idx, b0, g):  # pragma: no cover
    """``g[b0 + lane] *= tab[off + idx[b0 + lane]]`` for 16 samples of one node (its surrogate
    derivatives: the scalar loop's float32 product). Array sizes as for :func:`tap_diffs16`."""
    sig = types.void(tab, off, idx, b0, g)

    def codegen(context, builder, signature, args):
        tab_v, off_v, idx_v, b0_v, g_v = args
        if not AVAILABLE:
            trap(builder)
            return context.get_dummy_value()
        t, x, gp = _node_table(context, builder, signature, tab_v, off_v, idx_v, b0_v, g_v)
        gv = builder.load(gp, align=4)
        builder.store(builder.fmul(gv, _lookup(builder, t, x)), gp, align=4)
        return context.get_dummy_value()

    return sig, codegen



def _splat(builder, value):
    """A 16-lane int32 vector of the int64 ``value``."""
    v = builder.insert_element(ir.Constant(_I16, ir.Undefined),
                               builder.trunc(value, ir.IntType(32)), ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(v, ir.Constant(_I16, ir.Undefined), ir.Constant(_I16, [0] * LANES))


@intrinsic
def surrogate16(typingctx, G, own, sg, off, addr, a0, b0, nb, gu, ax, fired, gext,
                ge):  # pragma: no cover
    """The start of one node's backward step for 16 samples ``b0 .. b0 + 15``: its ``dL/ds``
    ``v = G[own + b0 + lane]`` (float32; those 16 values are then set to 0), its addresses
    ``x = addr[a0 + b0 + lane]`` (uint8; lanes ``>= nb`` read as 0, though 16 bytes are loaded);
    where ``ge >= 0``, ``v += gext[ge + b0 + lane]`` (the loss's gradient); then ``v`` of the
    lanes whose bit is set in ``fired`` (the refractory gate) becomes ``v * 0``;
    ``ax[b0 + lane] = x`` (int32) and ``gu[b0 + lane] = v * sg[off + x]`` (the surrogate
    derivative: :func:`scale16`'s product). No bounds checks: ``G`` holds 16 values from
    ``own + b0``, ``ax`` and ``gu`` from ``b0``, ``addr`` 16 bytes from ``a0 + b0``."""
    sig = types.void(G, own, sg, off, addr, a0, b0, nb, gu, ax, fired, gext, ge)

    def codegen(context, builder, signature, args):
        G_v, own_v, sg_v, off_v, addr_v, a0_v, b0_v, nb_v, gu_v, ax_v, fired_v, gext_v, ge_v = args
        if not AVAILABLE:
            trap(builder)
            return context.get_dummy_value()

        def data(i, value):
            return context.make_array(signature.args[i])(context, builder, value).data

        vptr = _F16.as_pointer()
        gp = builder.bitcast(builder.gep(data(0, G_v), [builder.add(own_v, b0_v)]), vptr)
        v = builder.load(gp, align=4)
        builder.store(ir.Constant(_F16, [0.0] * LANES), gp, align=4)
        slot = cgutils.alloca_once_value(builder, v)
        with builder.if_then(builder.icmp_signed(">=", ge_v, ir.Constant(ge_v.type, 0))):
            xp = builder.bitcast(builder.gep(data(11, gext_v), [builder.add(ge_v, b0_v)]), vptr)
            builder.store(builder.fadd(v, builder.load(xp, align=4)), slot)
        v = builder.load(slot)
        # the gate in the register (scalar stores into the row would stall the vector load)
        bit = builder.and_(_splat(builder, fired_v), ir.Constant(_I16, [1 << i for i in range(LANES)]))
        gated = builder.icmp_unsigned("!=", bit, ir.Constant(_I16, [0] * LANES))
        v = builder.select(gated, builder.fmul(v, ir.Constant(_F16, [0.0] * LANES)), v)
        i8x16 = ir.VectorType(ir.IntType(8), LANES)
        bp = builder.bitcast(builder.gep(data(4, addr_v), [builder.add(a0_v, b0_v)]),
                             i8x16.as_pointer())
        x = builder.zext(builder.load(bp, align=1), _I16)
        lane = ir.Constant(_I16, list(range(LANES)))
        x = builder.select(builder.icmp_signed("<", lane, _splat(builder, nb_v)), x,
                           ir.Constant(_I16, [0] * LANES))
        builder.store(x, builder.bitcast(builder.gep(data(9, ax_v), [b0_v]), _I16.as_pointer()),
                      align=4)
        base = builder.gep(data(2, sg_v), [off_v])
        t = [builder.load(builder.bitcast(builder.gep(base, [ir.Constant(ir.IntType(64), LANES * q)]),
                                          vptr), align=4) for q in range(4)]
        builder.store(builder.fmul(v, _lookup(builder, t, x)),
                      builder.bitcast(builder.gep(data(8, gu_v), [b0_v]), vptr), align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def entry_sums16(typingctx, acc, off, idx, b0, g, nb):  # pragma: no cover
    """``acc[off + idx[b0 + lane]] += float64(g[b0 + lane])`` for the lanes ``0 .. nb - 1`` (at
    most 16), one after the other: a node's table-entry gradient sums, in the order of the
    scalar loop (so the float64 sums are its own bit for bit), unrolled and without the
    wraparound checks of an indexed numba store. ``acc`` float64, ``idx`` int32, ``g`` float32.
    No bounds checks."""
    sig = types.void(acc, off, idx, b0, g, nb)

    def codegen(context, builder, signature, args):
        acc_v, off_v, idx_v, b0_v, g_v, nb_v = args

        def data(i, value):
            return context.make_array(signature.args[i])(context, builder, value).data

        i64 = ir.IntType(64)
        base = builder.gep(data(0, acc_v), [off_v])
        ip = builder.gep(data(2, idx_v), [b0_v])
        gp = builder.gep(data(4, g_v), [b0_v])
        for lane in range(LANES):
            with builder.if_then(builder.icmp_signed(">", nb_v, ir.Constant(nb_v.type, lane))):
                c = ir.Constant(i64, lane)
                at = builder.sext(builder.load(builder.gep(ip, [c])), i64)
                v = builder.fpext(builder.load(builder.gep(gp, [c])), ir.DoubleType())
                ptr = builder.gep(base, [at])
                builder.store(builder.fadd(builder.load(ptr), v), ptr)
        return context.get_dummy_value()

    return sig, codegen


__all__ = ["AVAILABLE", "LANES", "MAX_K", "enabled", "entry_sums16", "scale16", "status",
           "surrogate16", "tap_add16", "tap_diffs16"]
