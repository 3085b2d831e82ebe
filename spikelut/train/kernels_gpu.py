"""CUDA forward and backward passes of training (CuPy), drop-in for :mod:`.bptt` on the GPU.

:func:`forward` and :func:`backward` have the signatures and results of
:func:`spikelut.train.bptt.forward` / :func:`spikelut.train.bptt.backward` with CuPy arrays:
identical spike history and LUT addresses, gradients within float32 rounding (the kernels sum
with atomics, in no fixed order). The kernels are ``kernels/train_bptt.cu`` (installed as
``spikelut.kernels``): one launch per (cycle, layer), one thread per (node, sample); the backward
kernel scatters tap gradients into the gradient history at ``t - delay`` and the logit gradients
into a float64 accumulator with ``atomicAdd``. The surrogate derivative and the tap differences
are computed by CuPy once per table entry (``u = theta[addr]`` takes only the table's values), so
any registered surrogate works.

The launch loop and argument marshalling are plain Python over any array module: the tests run
them with numpy arrays against the same ``.cu`` source compiled as C++ (one thread per block,
``tests/cuda_emulation.h``), and compare with ``bptt.py``; the ``gpu``-marked tests do the same
on a GPU.

Example:
    >>> import cupy as cp                                            # doctest: +SKIP
    >>> from spikelut.train import bptt, kernels_gpu                 # doctest: +SKIP
    >>> fwd = kernels_gpu.forward(plan, tables, cp.asarray(x))       # doctest: +SKIP
    >>> grads, _ = kernels_gpu.backward(plan, thetas, fwd, g, sg)    # doctest: +SKIP
"""

from __future__ import annotations

import functools
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from ..engine.kernel_spec import CompileSpec, KernelSpec, cupy_module, defines
from ..engine.result import check_spikes, device_binary
from ..xp import array_module, require_gpu
from ..errors import ShapeError
from ..lowering import Lowered
from ..network import K_MAX
from . import bptt
from .bptt import Forward, NetPlan, tap_differences
from .kernels_cpu import _MODES, table_span, unflatten_grads
from .tasks import node_arrays
from .surrogates import Surrogate

KERNEL_FILE = "train_bptt.cu"
FORWARD = "spikelut_train_forward"
BACKWARD = "spikelut_train_backward"
FORWARD_FUSED = "spikelut_train_forward_fused"
BACKWARD_FUSED = "spikelut_train_backward_fused"
#: block size of the per-(cycle, layer) launches
THREADS = 256
#: largest block of the fused launches (threads split the widest layer's nodes)
FUSED_THREADS = 512
#: CUDA's largest grid (gridDim.x)
MAX_GRID = 2**31 - 1

#: the kernels' parameters in signature order (checked against the source by tests/test_nvrtc.py)
FORWARD_SPEC = KernelSpec(FORWARD, (
    ("unsigned char*", "hist"), ("unsigned char*", "addr"), ("const int*", "gidx"),
    ("const int*", "dly"), ("const unsigned char*", "tabs"), ("const long long*", "tab_off"),
    ("int", "t"), ("int", "D"), ("int", "N"), ("int", "B"), ("int", "Nn"), ("int", "lo"),
    ("int", "hi"), ("int", "k"), ("int", "R"), ("int", "sig0"), ("int", "save"), ("int", "addr16"),
))
BACKWARD_SPEC = KernelSpec(BACKWARD, (
    ("float*", "G"), ("const unsigned char*", "hist"), ("const unsigned char*", "addr"),
    ("const float*", "sg"), ("const float*", "diffs"), ("const long long*", "diff_off"),
    ("const unsigned char*", "tabs"), ("const long long*", "tab_off"), ("const int*", "gidx"),
    ("const int*", "dly"), ("const unsigned char*", "is_in"), ("double*", "acc"),
    ("int", "t"), ("int", "T"), ("int", "D"), ("int", "N"), ("int", "B"), ("int", "Nn"),
    ("int", "lo"), ("int", "hi"), ("int", "k"), ("int", "R"), ("int", "sig0"),
    ("int", "mode"), ("int", "tbptt"), ("int", "input_grad"), ("int", "addr16"),
))
FORWARD_FUSED_SPEC = KernelSpec(FORWARD_FUSED, (
    ("unsigned char*", "hist"), ("unsigned char*", "addr"), ("const int*", "gidx"),
    ("const int*", "dly"), ("const unsigned char*", "tabs"), ("const long long*", "tab_off"),
    ("const int*", "layer"), ("int", "T"), ("int", "D"), ("int", "N"), ("int", "B"),
    ("int", "Nn"), ("int", "m"), ("int", "save"), ("int", "addr16"),
))
BACKWARD_FUSED_SPEC = KernelSpec(BACKWARD_FUSED, (
    ("float*", "G"), ("const unsigned char*", "hist"), ("const unsigned char*", "addr"),
    ("const float*", "sg"), ("const float*", "diffs"), ("const long long*", "diff_off"),
    ("const unsigned char*", "tabs"), ("const long long*", "tab_off"), ("const int*", "gidx"),
    ("const int*", "dly"), ("const unsigned char*", "is_in"), ("double*", "acc"),
    ("const int*", "layer"), ("int", "T"), ("int", "D"), ("int", "N"), ("int", "B"),
    ("int", "Nn"), ("int", "m"), ("int", "mode"), ("int", "tbptt"), ("int", "input_grad"),
    ("int", "addr16"),
))

#: ``launch(kernel_name, grid, block, args)``: the CUDA launch, or the tests' C++ emulation
Launch = Callable[[str, int, int, tuple], None]


def compile_spec() -> CompileSpec:
    """Source, NVRTC options and kernels of ``kernels/train_bptt.cu`` as the trainer compiles it
    (``tests/test_nvrtc.py`` compiles exactly this for sm_80 and sm_90; the C++ emulation of the
    tests is built with the same defines).

    Example:
        >>> compile_spec().options[1:]
        ('-DSPIKELUT_K_MAX=12', '-DSPIKELUT_THREADS=256', '-DSPIKELUT_FUSED_THREADS=512', \
'-DSPIKELUT_GRAD_BLOCK=0', '-DSPIKELUT_GRAD_PASS=1', '-DSPIKELUT_GRAD_FULL=2')
    """
    from ..engine.gpu import kernel_source

    consts = {"SPIKELUT_K_MAX": K_MAX, "SPIKELUT_THREADS": THREADS,
              "SPIKELUT_FUSED_THREADS": FUSED_THREADS}
    consts.update({f"SPIKELUT_GRAD_{mode.upper()}": v for mode, v in _MODES.items()})
    return CompileSpec(KERNEL_FILE, kernel_source(KERNEL_FILE), ("--std=c++14",) + defines(consts),
                       (), (FORWARD_SPEC, BACKWARD_SPEC, FORWARD_FUSED_SPEC, BACKWARD_FUSED_SPEC))


@functools.lru_cache(maxsize=None)
def _module(device_id: int):
    return cupy_module(compile_spec())


def _cupy_launch(name: str, grid: int, block: int, args: tuple) -> None:
    cp = require_gpu()
    _module(cp.cuda.Device().id).get_function(name)((grid,), (block,), args)


# the per-node index arrays on each array module, per lowered network
_DEVICE: "weakref.WeakKeyDictionary[Lowered, dict]" = weakref.WeakKeyDictionary()


def _device(plan: NetPlan, xp) -> dict:
    """The per-node index arrays on ``xp`` in the kernels' dtypes (cached per lowered network);
    ``diff_off`` int64 ``[Nn]`` (node j's ``[k_j, 2**k_j]`` block of tap differences) and
    ``diff_total`` (their sum, an int) from :func:`diff_layout`."""
    per_xp = _DEVICE.setdefault(plan.lowered, {})
    if xp not in per_xp:
        f = node_arrays(plan)
        diff_off, diff_total = diff_layout(f)
        per_xp[xp] = {
            "diff_off": xp.asarray(diff_off, dtype=xp.int64), "diff_total": diff_total,
            "diff_start": [int(diff_off[lo]) if lo < len(diff_off) else diff_total
                           for lo in f["lo"]],  # each layer's, on the host
            "gidx": xp.asarray(f["gidx"], dtype=xp.int32), "dly": xp.asarray(f["dly"], dtype=xp.int32),
            "is_in": xp.asarray(f["is_in"], dtype=xp.uint8),
            "tab_off": xp.asarray(f["tab_off"], dtype=xp.int64),
            "layer": _layer_table(f, xp),
        }
    return per_xp[xp]


def diff_layout(f: dict) -> tuple[np.ndarray, int]:
    """Where each node's tap differences sit in the flat ``diffs`` buffer of the backward
    kernels: node ``j`` (of a layer with ``k`` taps) owns ``k * 2**k`` float32 at
    ``diff_off[j]``, row ``p`` (tap) of ``2**k`` entries (address). Returns ``(diff_off int64
    [Nn], total entries)``; ``f`` is :func:`~spikelut.train.tasks.node_arrays`'s dict.

    Example:
        >>> f = {"lo": np.array([0, 2]), "hi": np.array([2, 3]), "k": np.array([1, 3])}
        >>> off, total = diff_layout(f)
        >>> off.tolist(), total
        ([0, 2, 4], 28)
    """
    n = np.asarray(f["hi"], np.int64) - np.asarray(f["lo"], np.int64)
    k = np.asarray(f["k"], np.int64)
    per_node = np.repeat(k << k, n)  # k * 2**k
    off = np.zeros(len(per_node), np.int64)
    np.cumsum(per_node[:-1], out=off[1:])
    return off, int(per_node.sum())


def _grid(n: int, B: int) -> int:
    """Blocks of :data:`THREADS` for one thread per (node, sample) of an ``n``-node layer.

    Raises:
        ShapeError: more blocks than CUDA's grid allows (the fused kernels need only ``B``).
    """
    grid = -(-(n * B) // THREADS)
    if grid > MAX_GRID:
        raise ShapeError(f"GPU training: a layer of {n} nodes x batch {B} needs {grid} blocks of "
                         f"{THREADS} threads, more than CUDA's {MAX_GRID}; use the fused kernels "
                         f"or a smaller batch")
    return grid


def fused_block(plan: NetPlan, max_threads: int = FUSED_THREADS, warp: int = 32) -> int:
    """Block size of the fused launches: the widest layer rounded up to warps, at most
    ``max_threads`` (a block loops over a layer's nodes in steps of its size).

    Example:
        >>> from spikelut.wiring import random_network
        >>> fused_block(bptt.compile_plan(random_network(0, n_in=4, sizes=[100, 3], k=3)))
        128
    """
    widest = max(lp.n for lp in plan.layers)
    return min(max_threads, max(warp, -(-widest // warp) * warp))


def _layer_table(f: dict, xp: Any) -> Any:
    """``[m, 5]`` int32 rows ``lo, hi, k, R, first signal`` of every layer (the fused kernels')."""
    rows = np.stack([f["lo"], f["hi"], f["k"], f["R"], f["sig"]], axis=1).astype(np.int32)
    return xp.asarray(np.ascontiguousarray(rows))


def _binary_tables(tables: Sequence[Any], xp: Any) -> Any:
    """All ``tables`` (already shape-checked) as one flat uint8 array on ``xp``, after checking
    on the device that every entry is 0 or 1 (:func:`~spikelut.engine.result.device_binary`: a
    cast alone would wrap 256 to 0 and truncate 0.5 to 0).

    Raises:
        ShapeError: ``tables[i] entries must be 0 or 1 (a deployed table is theta > 0)``.
    """
    flat = [xp.asarray(t).ravel() for t in tables]
    for i, a in enumerate(flat):
        if not device_binary(a):
            raise ShapeError(f"tables[{i}] entries must be 0 or 1 (a deployed table is theta > 0)")
    return xp.concatenate([a.astype(xp.uint8, copy=False) for a in flat])


def forward(plan: NetPlan, tables: Sequence[Any], x: Any, save: bool = True,
            launch: Launch | None = None, fused: bool = True) -> Forward:
    """GPU :func:`spikelut.train.bptt.forward`; ``x`` and the results are CuPy arrays.

    ``launch(kernel_name, grid, block, args)`` replaces the CUDA launch (tests emulate it).
    ``fused``: one launch for the whole batch (one block per sample runs every cycle and layer)
    instead of one launch per (cycle, layer); the results are identical.

    Args:
        plan: the compiled network (:func:`spikelut.train.bptt.compile_plan`).
        tables: per layer ``[n_i, 2**k_i]`` of 0/1 (any integer, bool or float dtype).
        x: input spikes ``[T, B, n_in]`` of 0/1, ``T >= 1``, ``B >= 1`` (cast to uint8).

    Raises:
        ShapeError: ``x`` or a table has the wrong shape, ``T`` or ``B`` is 0, or an entry of
            ``x`` or of a table is not 0 or 1 (the kernels index tables with the spikes and
            take a table entry as the spike, so anything else would read out of bounds or
            corrupt the history). Checked on the host before anything is launched.
    """
    if launch is None:
        cp = require_gpu()
        x = cp.asarray(x)
        launch = _cupy_launch
    xp = array_module(x)
    plan = bptt.check_forward_args(plan, tables, x)  # history of T + 1 rows at most
    x = check_spikes(plan.lowered, x)  # 0/1, T >= 1, B >= 1 (a batch of 0 is a grid of 0)
    tabs = _binary_tables(tables, xp)
    T, B, _ = x.shape
    f, dv = node_arrays(plan), _device(plan, xp)
    Nn = f["n_nodes"]
    hist = bptt._input_history(plan, x, xp.uint8)
    # uint8 addresses up to k = 8, uint16 beyond; the kernels take the buffer as bytes (addr16)
    addr = xp.zeros((T, Nn, B) if save else (1, 1, 1), plan.lowered.addr_dtype)
    addr16 = int(addr.dtype == xp.uint16)
    if fused:
        launch(FORWARD_FUSED, B, fused_block(plan), FORWARD_FUSED_SPEC.marshal({
            "hist": hist, "addr": addr.view(xp.uint8), "gidx": dv["gidx"], "dly": dv["dly"],
            "tabs": tabs, "tab_off": dv["tab_off"], "layer": dv["layer"], "T": T, "D": plan.D,
            "N": plan.n_signals, "B": B, "Nn": Nn, "m": len(plan.layers), "save": int(save),
            "addr16": addr16}))
    else:
        args = FORWARD_SPEC.bind({
            "hist": hist, "addr": addr.view(xp.uint8), "gidx": dv["gidx"], "dly": dv["dly"],
            "tabs": tabs, "tab_off": dv["tab_off"], "D": plan.D, "N": plan.n_signals, "B": B,
            "Nn": Nn, "save": int(save), "addr16": addr16})
        for t in range(T):
            for li, lp in enumerate(plan.layers):
                launch(FORWARD, _grid(lp.n, B), THREADS,
                       args(t=t, lo=int(f["lo"][li]), hi=int(f["hi"][li]), k=lp.k,
                            R=lp.refractory, sig0=lp.offset))
    addrs = [xp.ascontiguousarray(addr[:, lo:hi]) for lo, hi in zip(f["lo"], f["hi"])] if save else []
    return Forward(plan, hist, T, B, addrs)


def backward(plan: NetPlan, thetas: Sequence[Any], fwd: Forward, g_spikes: Sequence[Any | None],
             surrogate: Surrogate, refractory_grad: str = "block", tap_grad: str = "tanh",
             tbptt: int = 0, input_grad: bool = False,
             launch: Launch | None = None, fused: bool = True) -> tuple[list[Any], Any | None]:
    """GPU :func:`spikelut.train.bptt.backward`: same arguments, same results (float32, CuPy).

    ``fused`` as in :func:`forward` (gradients equal within float32 rounding either way).
    """
    if fwd.soft:
        return bptt.backward(plan, thetas, fwd, g_spikes, surrogate, refractory_grad, tap_grad,
                             tbptt, input_grad)
    plan = plan.for_steps(fwd.T)  # the plan the forward pass ran
    bptt.check_backward_args(plan, thetas, g_spikes, refractory_grad, tbptt)
    if launch is None:
        require_gpu()
        launch = _cupy_launch
    xp = array_module(fwd.hist)
    T, B, D, N = fwd.T, fwd.B, plan.D, plan.n_signals
    f, dv = node_arrays(plan), _device(plan, xp)
    Nn, total = f["n_nodes"], int(f["tab_off"][-1])
    thetas = [xp.asarray(th, dtype=xp.float32) for th in thetas]
    G = bptt.spike_grad_history(plan, T, B, g_spikes, xp)
    # k * 2**k entries per node (diff_layout), not K_MAX * 2**k: every entry is written below
    diffs = xp.empty(dv["diff_total"], xp.float32)
    sg = xp.empty(total, xp.float32)  # surrogate'(u) per table entry: u = theta[addr]
    tabs = xp.empty(total, xp.uint8)
    for i, (lp, th) in enumerate(zip(plan.layers, thetas)):
        o0, o1 = table_span(f, i)
        d0 = dv["diff_start"][i]
        size = 1 << lp.k  # [k, n * 2**k] -> node-major [n, k, 2**k], on the device
        diffs[d0:d0 + lp.n * lp.k * size].reshape(lp.n, lp.k, size)[...] = \
            tap_differences(th, tap_grad).reshape(lp.k, lp.n, size).transpose(1, 0, 2)
        flat = th.ravel()
        sg[o0:o1] = surrogate.grad(flat)
        tabs[o0:o1] = flat > 0
    acc = xp.zeros(total, xp.float64)
    addr = xp.ascontiguousarray(xp.concatenate(fwd.addr, axis=1), dtype=plan.lowered.addr_dtype)
    addr16 = int(addr.dtype == xp.uint16)
    addr = addr.view(xp.uint8)  # the kernels take the buffer as bytes (addr16: two per address)
    mode, tb, ig = _MODES[refractory_grad], int(tbptt), int(bool(input_grad))
    if fused:
        launch(BACKWARD_FUSED, B, fused_block(plan), BACKWARD_FUSED_SPEC.marshal({
            "G": G, "hist": fwd.hist, "addr": addr, "sg": sg, "diffs": diffs,
            "diff_off": dv["diff_off"], "tabs": tabs,
            "tab_off": dv["tab_off"], "gidx": dv["gidx"], "dly": dv["dly"], "is_in": dv["is_in"],
            "acc": acc, "layer": dv["layer"], "T": T, "D": D, "N": N,
            "B": B, "Nn": Nn, "m": len(plan.layers), "mode": mode, "tbptt": tb, "input_grad": ig,
            "addr16": addr16}))
        return unflatten_grads(plan, f, acc, G, input_grad)
    args = BACKWARD_SPEC.bind({
        "G": G, "hist": fwd.hist, "addr": addr, "sg": sg, "diffs": diffs,
            "diff_off": dv["diff_off"], "tabs": tabs,
        "tab_off": dv["tab_off"], "gidx": dv["gidx"], "dly": dv["dly"], "is_in": dv["is_in"],
        "acc": acc, "T": T, "D": D, "N": N, "B": B, "Nn": Nn,
        "mode": mode, "tbptt": tb, "input_grad": ig, "addr16": addr16})
    for t in range(T - 1, -1, -1):
        for li in range(len(plan.layers) - 1, -1, -1):
            lp = plan.layers[li]
            launch(BACKWARD, _grid(lp.n, B), THREADS,
                   args(t=t, lo=int(f["lo"][li]), hi=int(f["hi"][li]), k=lp.k, R=lp.refractory,
                        sig0=lp.offset))
    return unflatten_grads(plan, f, acc, G, input_grad)
